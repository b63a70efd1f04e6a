"""Time the plugins' CUDA launchers against PyTorch and the copy bandwidth (needs torch and a GPU);
with --model/--against, time a patched model's TensorRT engines against the original's as TensorRT
imports it (needs TensorRT).

Writes results.json, report.md and bench.png to --out (with --model: model-bench.json and
model-bench.md). Benchmarks, not tests: nothing fails on a time; the exit status is 1 only if a
launcher's output was wrong or a case broke (with --model: if neither side built at any precision)."""
from __future__ import annotations

import sys

PRECISIONS = ("fp32", "fp16", "int8")


def add_arguments(parser) -> None:
    parser.add_argument("--plugin", action="append",
                        help="plugin to benchmark (repeatable; default: every plugin folder with a bench.py)")
    parser.add_argument("--precision", default=",".join(PRECISIONS), help="comma-separated: fp32,fp16,int8")
    parser.add_argument("--iterations", type=int, default=100, help="timed runs per measurement (median, p10, p90)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", default=None,
                        help="folder for results.json, report.md, bench.png (default docs/benchmarks); with --model: "
                             "model-bench.json and model-bench.md (default: print only)")
    parser.add_argument("--model", metavar="PATCHED", help="time this patched model's TensorRT engines ...")
    parser.add_argument("--against", metavar="ORIGINAL", help="... against the original as TensorRT imports it")
    parser.add_argument("--data", metavar="DIR_OR_NPZ",
                        help="with --model: stored inputs (ONNX test_data_set_N or .npz input:NAME); default seeded draws")
    parser.add_argument("--no-trt", action="store_true", help="skip TensorRT engine latencies")
    parser.add_argument("--no-validate", action="store_true",
                        help="skip running every spec validation case through the launchers")


def run_model(args, precisions) -> int:
    import json
    from pathlib import Path

    from pykit.backends import trt
    from pykit.bench.model import bench_model, markdown
    from pykit.surgeon.equiv import load_stored
    from pykit.surgeon.model import SurgeryError, load_model

    if not args.against:
        print("pykit bench: --model needs --against ORIGINAL (the model as TensorRT imports it)", file=sys.stderr)
        return 2
    why = trt.TensorRTBackend().available()  # pykit._trt built, plugin library found
    if why:
        print(f"pykit bench --model: needs TensorRT: {why}", file=sys.stderr)
        return 2
    try:
        original = load_model(args.against)
        load_model(args.model)
        feeds = load_stored(original, args.data)[0] if args.data else None
    except SurgeryError as exc:
        print(f"pykit bench: {exc}", file=sys.stderr)
        return 2
    result = bench_model(args.model, args.against, precisions, feeds=feeds, iterations=args.iterations,
                         warmup=args.warmup, log=lambda s: print(s, flush=True))
    command = "pykit bench " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["bench"] else sys.argv[1:])
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "model-bench.json").write_text(json.dumps({**result, "command": command}, indent=1) + "\n")
        (out / "model-bench.md").write_text(markdown(result, command))
        print(f"wrote {out / 'model-bench.json'}, {out / 'model-bench.md'}")
    built = any("gpu_ms" in r[side] for r in result["rows"] for side in ("native", "patched"))
    return 0 if built else 1


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
    if args.model or args.against:
        if not args.model:
            print("pykit bench: --against needs --model PATCHED", file=sys.stderr)
            return 2
        return run_model(args, precisions)
    args.out = args.out or "docs/benchmarks"
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
