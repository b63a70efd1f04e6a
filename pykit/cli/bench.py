"""Time the plugins' CUDA launchers against PyTorch and the copy bandwidth (needs torch and a GPU).

Writes results.json, report.md and bench.png to --out. Benchmarks, not tests: nothing fails on a
time; the exit status is 1 only if a launcher's output was wrong or a case broke."""
from __future__ import annotations

import sys

PRECISIONS = ("fp32", "fp16", "int8")


def add_arguments(parser) -> None:
    parser.add_argument("--plugin", action="append",
                        help="plugin to benchmark (repeatable; default: every plugin folder with a bench.py)")
    parser.add_argument("--precision", default=",".join(PRECISIONS), help="comma-separated: fp32,fp16,int8")
    parser.add_argument("--iterations", type=int, default=100, help="timed runs per measurement (median, p10, p90)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", default="docs/benchmarks", help="folder for results.json, report.md, bench.png")
    parser.add_argument("--no-trt", action="store_true", help="skip TensorRT engine latencies")
    parser.add_argument("--no-validate", action="store_true",
                        help="skip running every spec validation case through the launchers")


def run(args) -> int:
    from pykit.bench import benched_plugins, report
    from pykit.bench import run as bench

    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        print(f"pykit bench: unknown precision(s) {unknown}; choose from {list(PRECISIONS)}", file=sys.stderr)
        return 2
    if args.iterations < 1:
        print("pykit bench: --iterations must be >= 1", file=sys.stderr)
        return 2
    known = [s.name for s in benched_plugins()]
    if not known:
        print("pykit bench: no plugin folder has a bench.py (nothing to benchmark)", file=sys.stderr)
        return 2
    unknown = [p for p in args.plugin or [] if p not in known]
    if unknown:
        print(f"pykit bench: no bench case for {unknown}; plugins with a bench.py: {known}", file=sys.stderr)
        return 2
    plugins = args.plugin or known
    try:
        data = bench.run(plugins, precisions, args.iterations, args.warmup, trt=not args.no_trt,
                         validate=not args.no_validate, log=lambda s: print(s, flush=True))
    except bench.BenchUnavailable as exc:
        print(f"pykit bench: {exc}", file=sys.stderr)
        return 2
    data["command"] = bench.command_line(sys.argv[1:] if sys.argv[1:2] == ["bench"] else ["bench"] + sys.argv[1:])
    written = report.write(args.out, data)
    print(report.markdown_table(report.HEADERS, report.summary_rows(data["results"])))
    print("wrote " + ", ".join(str(p) for p in written))
    broken = [r for r in data["results"] if "error" in r or not r["check"]["ok"]]
    broken += [v for v in data["launcher_validation"] if v["failures"]]
    return 1 if broken else 0
