"""Validate plugins against their numpy references at each precision on a backend.

With --backend trt: every case in a one-plugin TensorRT engine, then the lifecycle checks
(pykit/lifecycle.py); with --typed, the precision asked the strongly typed way instead (fp16 by
tensor types/casts, int8 by Q/DQ layers: pykit/validate_typed.py). With --model PATCHED --against
ORIGINAL (trt only): the whole patched model's engines at each precision vs the original on
onnxruntime (pykit/validate_model.py); --data: on stored inputs, also against their stored outputs;
--native: the original's own TensorRT import too; --explicit: a Q/DQ model, explicitly quantized."""
from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("--backend", default="host", help="host (CPU kernel cores); default host")
    parser.add_argument("--plugin", action="append", help="plugin name (repeatable; default: all)")
    parser.add_argument("--precision", default="fp32,fp16,int8", help="comma-separated subset of fp32,fp16,int8")
    parser.add_argument("--seed", type=_seed, default=0, help="seed for the random cases (default 0)")
    parser.add_argument("--json", metavar="FILE", help="also write every case's result as JSON")
    parser.add_argument("--cases", action="store_true", help="print one row per case, not per precision")
    parser.add_argument("--report", metavar="DIR", help="write report.md, results.json and error histograms to DIR")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-lifecycle", action="store_true", help="trt: skip the lifecycle checks")
    parser.add_argument("--model", metavar="PATCHED", help="trt: validate this patched ONNX model's engines")
    parser.add_argument("--against", metavar="ORIGINAL", help="with --model: the original model, run on onnxruntime")
    parser.add_argument("--inputs", type=int, default=3, help="with --model: seeded inputs to compare on (default 3)")
    parser.add_argument("--calibration-batches", type=int, default=16,
                        help="with --model, int8: seeded calibration inputs (default 16)")
    parser.add_argument("--data", action="append", metavar="DIR_OR_NPZ",
                        help="with --model: evaluate (and calibrate) on these stored inputs (an ONNX test_data_set_N "
                             "folder or a .npz with input:/output: keys; repeatable) and compare with their stored outputs")
    parser.add_argument("--native", action="store_true",
                        help="with --model: also build the original as TensorRT imports it (no plugins), compared and timed")
    parser.add_argument("--explicit", action="store_true",
                        help="with --model: the patched model is explicitly quantized (Q/DQ, `pykit calibrate --qdq`): "
                             "build it with no calibrator and no ranges, without and with the kINT8 flag")
    parser.add_argument("--typed", action="store_true",
                        help="trt: ask each plugin's precision the strongly typed way (TensorRT 11: fp16 by tensor "
                             "types or casts, int8 by Q/DQ layers, builder flags only where 8.5 needs them); "
                             "every form and flag set is one row (pykit/validate_typed.py)")
    parser.add_argument("--compare", metavar="RESULTS_JSON",
                        help="with --typed --report: today's mode's results.json (from `pykit validate --backend trt "
                             "--report`), shown next to each row")
    parser.add_argument("--max-cases", type=int, default=None,
                        help="with --typed: at most N cases per plugin (the first N of its cases)")


def _seed(text: str) -> int:
    """A numpy seed: a non-negative integer (argparse turns the ValueError into one line, exit 2)."""
    seed = int(text)
    if seed < 0:
        raise ValueError(text)
    return seed


_seed.__name__ = "seed (a non-negative integer)"


def command_line() -> str:
    """This invocation as a reproduce line for a report."""
    return "pykit validate " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["validate"] else "pykit validate"


def environment(backend: str) -> dict:
    """Machine, GPU and library versions for a report."""
    import platform
    import subprocess
    from importlib import metadata

    env = {"python": platform.python_version(), "numpy": metadata.version("numpy"), "machine": platform.node()}
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        if smi.returncode == 0:
            env["gpu"] = smi.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    if backend == "trt":
        from pykit.backends.trt import trt_module
        from pykit.cli.doctor import _nvcc

        v = trt_module().version()
        env["tensorrt"] = f"{v // 1000}.{v // 100 % 10}.{v % 100} (library), headers {trt_module().header_version()}"
        env["nvcc"] = _nvcc()
    return env


def run_model(args, precisions) -> int:
    from pykit.validate_model import ModelValidationError, markdown, validate_model

    if not args.against:
        print("pykit validate: --model needs --against ORIGINAL.onnx", file=sys.stderr)
        return 2
    if args.backend != "trt":
        print("pykit validate: --model runs TensorRT engines: use --backend trt", file=sys.stderr)
        return 2
    try:
        from pykit.backends import get_backend

        get_backend("trt")
        feeds = expected = None
        if args.data:
            from pykit.surgeon.equiv import load_stored
            from pykit.surgeon.model import load_model

            original = load_model(args.against, check=False)
            stored = [load_stored(original, path) for path in args.data]
            feeds, expected = [f for f, _ in stored], [e for _, e in stored]
            if not all(expected):
                expected = None  # some data set stores no outputs: compare with onnxruntime only
        report = validate_model(args.model, args.against, precisions, seed=args.seed, inputs=args.inputs,
                                calibration_batches=args.calibration_batches, feeds=feeds, expected=expected,
                                native=args.native, explicit=args.explicit)
    except Exception as exc:  # noqa: BLE001 - one line naming what failed
        from pykit.backends import BackendUnavailable

        from pykit.surgeon.model import SurgeryError

        if isinstance(exc, (ModelValidationError, BackendUnavailable, SurgeryError)):
            print(f"pykit validate: {exc}", file=sys.stderr)
            return 2
        raise
    if args.report:
        import json
        from pathlib import Path

        from pykit.files import write_atomic

        out = Path(args.report)
        out.mkdir(parents=True, exist_ok=True)
        command = command_line()
        env = environment("trt")
        write_atomic(out / "results.json", json.dumps({"environment": env, "command": command, **report}, indent=1).encode())
        write_atomic(out / "report.md", markdown(report, env, command).encode())
        print(f"wrote {out / 'report.md'} and {out / 'results.json'}")
    print(f"whole model: {'PASS' if report['passed'] else 'FAIL'}")
    return 0 if report["passed"] else 1


def run_typed(args, precisions) -> int:
    from pykit import registry
    from pykit.backends import BackendUnavailable, get_backend
    from pykit.report import text_table
    from pykit.validate_typed import markdown, run_typed_validation

    if args.backend != "trt":
        print("pykit validate: --typed builds TensorRT engines: use --backend trt", file=sys.stderr)
        return 2
    try:
        get_backend("trt")
        specs = [registry.get(name) for name in args.plugin] if args.plugin else registry.discover()
    except (BackendUnavailable, registry.RegistryError) as exc:
        print(f"pykit validate: {exc}", file=sys.stderr)
        return 2
    command, env = command_line(), environment("trt")

    def write(rows):  # after every row: what ran is on disk even if the run is cut short
        import json
        from pathlib import Path

        from pykit.files import write_atomic

        out = Path(args.report)
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "typed.json", json.dumps({"environment": env, "command": command, "rows": rows},
                                                    indent=1, default=str).encode())
        write_atomic(out / "typed.md", markdown(rows, env, command, args.compare).encode())

    rows = run_typed_validation(specs, precisions, seed=args.seed, max_cases=args.max_cases,
                                on_row=write if args.report else None)
    print(text_table(["plugin", "precision", "form", "builder flags", "cases", "ran", "max abs err", "result", "detail"],
                     [[r["plugin"], r["precision"], r["form"], r["flags"], r["cases"], r["ran"], r["max_abs_err"],
                       r["result"], r["detail"][:120]] for r in rows]))
    if args.report:
        print(f"wrote {args.report}/typed.md and {args.report}/typed.json")
    # a measurement: a form 8.5 refuses is a result, not a failure; only a wrong answer fails
    wrong = [r for r in rows if r["result"] == "FAIL"]
    return 1 if wrong else 0


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
    if args.model:
        return run_model(args, precisions)
    if args.typed:
        return run_typed(args, precisions)
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
    lifecycle = []
    if args.backend == "trt" and not args.no_lifecycle:
        from pykit.lifecycle import run_lifecycle

        lifecycle = run_lifecycle(specs, backend, seed=args.seed)
        print(text_table(["plugin", "lifecycle check", "result", "detail"],
                         [[c.plugin, c.check, "PASS" if c.passed else "FAIL", c.detail[:100]] for c in lifecycle]))
    failures = [r for r in results if not r.passed]
    for c in lifecycle:
        if not c.passed:
            print(f"FAIL lifecycle {c.plugin} {c.check}: {c.detail}", file=sys.stderr)
    for r in failures:
        print(f"FAIL {r.plugin} {r.precision} {r.case}: {r.message}", file=sys.stderr)
    if args.report:
        from pykit.report import write_validation_report

        command = command_line()
        for path in write_validation_report(args.report, results, summarize(results),
                                            f"pykit validation, backend {args.backend}", environment(args.backend),
                                            command, lifecycle):
            print(f"wrote {path}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": args.backend, "seed": args.seed, "results": to_json(results)}, f, indent=1)
    bad_checks = [c for c in lifecycle if not c.passed]
    print(f"{len(results) - len(failures)} passed, {len(failures)} failed (backend {args.backend}, seed {args.seed})"
          + (f"; lifecycle {len(lifecycle) - len(bad_checks)} passed, {len(bad_checks)} failed" if lifecycle else ""))
    return 1 if failures or bad_checks else 0
