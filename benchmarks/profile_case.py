#!/usr/bin/env python3
"""One `pykit bench` case's launcher, run a few times, for a profiler to look at (Nsight Compute on
the GPU machine: what limits a kernel that misses its target; docs/benchmarks/README.md):

    PYKIT_BUILD_DIR=build/gpu ncu --section SpeedOfLight --section Occupancy --section WarpStateStats \
        --section MemoryWorkloadAnalysis -k regex:rows --launch-skip 2 --launch-count 1 \
        python3 benchmarks/profile_case.py LayerNorm 16384x4096 int8

PLUGIN, a substring of the case's shape, PRECISION pick exactly one case of the plugin's bench.py.
The case is set up and checked as `pykit bench` does (exit 1 if its output is wrong), then run
--runs times (the first runs are warm-ups for the profiler's --launch-skip).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("plugin")
    ap.add_argument("shape", help="a substring of the case's shape, e.g. 16384x4096 or B=1")
    ap.add_argument("precision")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    from pykit import registry
    from pykit.bench import bench_module
    from pykit.bench.run import BenchUnavailable, require_kernels, require_torch

    try:
        torch, kernels = require_torch(), require_kernels()
    except BenchUnavailable as exc:
        print(f"profile_case: {exc}", file=sys.stderr)
        return 2
    spec = registry.get(args.plugin)
    cases = list(bench_module(spec).cases([args.precision]))
    matches = [c for c in cases if args.shape in c.shape]
    if len(matches) != 1:
        shapes = [c.shape for c in cases]
        print(f"{args.plugin} {args.precision}: '{args.shape}' matches {len(matches)} of the cases {shapes}",
              file=sys.stderr)
        return 2
    case = matches[0]
    case.setup(torch, getattr(kernels, args.plugin), torch.cuda.current_stream().cuda_stream)
    try:
        check = case.check()
        print(f"{args.plugin} {case.shape} {args.precision}: check {'OK' if check['ok'] else 'FAILED'} {check['detail']}")
        if not check["ok"]:
            return 1
        for _ in range(args.runs):
            case.ours()
        torch.cuda.synchronize()
    finally:
        case.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
