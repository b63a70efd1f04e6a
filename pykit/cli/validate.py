"""Validate plugins against their numpy references at each precision on a backend."""
from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("--backend", default="host", help="host (CPU kernel cores); default host")
    parser.add_argument("--plugin", action="append", help="plugin name (repeatable; default: all)")
    parser.add_argument("--precision", default="fp32,fp16,int8", help="comma-separated subset of fp32,fp16,int8")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random cases (default 0)")
    parser.add_argument("--json", metavar="FILE", help="also write every case's result as JSON")
    parser.add_argument("--cases", action="store_true", help="print one row per case, not per precision")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    import json

    from pykit import registry
    from pykit.backends import BackendUnavailable, get_backend
    from pykit.report import text_table
    from pykit.validate import run_validation, summarize, to_json

    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    bad = [p for p in precisions if p not in ("fp32", "fp16", "int8")]
    if bad:
        print(f"pykit validate: unknown precision(s) {bad}; choose from fp32, fp16, int8", file=sys.stderr)
        return 2
    try:
        backend = get_backend(args.backend)
        specs = registry.discover()
        if args.plugin:
            specs = [registry.get(name) for name in args.plugin]
    except (BackendUnavailable, registry.RegistryError) as exc:
        print(f"pykit validate: {exc}", file=sys.stderr)
        return 2

    results = run_validation(specs, backend, precisions, seed=args.seed, progress=not args.no_progress)
    if not results:
        print("pykit validate: nothing to validate (no plugin supports the precisions asked for)", file=sys.stderr)
        return 2
    if args.cases:
        rows = [[r.plugin, r.precision, r.case, r.actual_precision, r.max_abs_err, r.max_rel_err, r.tolerance,
                 "PASS" if r.passed else "FAIL"] for r in results]
        print(text_table(["plugin", "precision", "case", "ran", "max abs err", "max rel err", "tolerance", "result"], rows))
    else:
        rows = [[s.plugin, s.precision, s.cases, s.actual_precision, s.max_abs_err, s.max_rel_err, s.tolerance,
                 s.verdict] for s in summarize(results)]
        print(text_table(["plugin", "precision", "cases", "ran", "max abs err", "max rel err", "tolerance", "result"], rows))
    failures = [r for r in results if not r.passed]
    for r in failures:
        print(f"FAIL {r.plugin} {r.precision} {r.case}: {r.message}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": args.backend, "seed": args.seed, "results": to_json(results)}, f, indent=1)
    print(f"{len(results) - len(failures)} passed, {len(failures)} failed (backend {args.backend}, seed {args.seed})")
    return 1 if failures else 0
