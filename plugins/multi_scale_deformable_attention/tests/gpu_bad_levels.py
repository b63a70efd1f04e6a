"""GPU check: the CUDA launcher skips levels that do not lie inside value, and reads nothing outside it.

The host backend refuses such levels; TensorRT's glue cannot see them (they are device data), so the
kernel must skip them: this runs the launcher (pykit._kernels, built with nvcc) on level tables with
a level past the end of value, a negative start, H = 0 and W < 0, and compares with the numpy
reference of the valid levels alone. Run under compute-sanitizer to check for out-of-bounds reads:

    PYKIT_BUILD_DIR=$PWD/build/bench PYTHONPATH=$PWD compute-sanitizer --tool memcheck --error-exitcode 1 \\
        python3 plugins/multi_scale_deformable_attention/tests/gpu_bad_levels.py

Exits non-zero on any mismatch.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import torch  # noqa: E402

from pykit import extensions, registry  # noqa: E402

launcher = extensions.load("_kernels").MultiScaleDeformableAttention  # PYKIT_BUILD_DIR's, else the package's

SPEC = registry.get("MultiScaleDeformableAttention")
REF = registry.load_module(SPEC, "reference")

GOOD = [(6, 5, 0), (3, 4, 30)]  # (H, W, start): 42 keys
BAD = {"past_the_end": (4, 4, 40), "negative_start": (2, 2, -3), "zero_height": (0, 7, 0), "negative_width": (3, -2, 0)}


def main() -> int:
    rng = np.random.default_rng(0)
    failures = 0
    for name, bad in BAD.items():
        for precision, dt in (("fp32", np.float32), ("fp16", np.float16)):
            levels = GOOD[:1] + [bad] + GOOD[1:]
            inputs = REF.make_inputs(rng, 2, [(h if h > 0 else 1, w if w > 0 else 1) for h, w, _ in levels], 2, 8, 37, 3,
                                     loc_range=(-0.25, 1.25))
            value = rng.uniform(-1, 1, size=(2, 42, 2, 8)).astype(dt)  # 42 keys: the good levels only
            shapes = np.array([(h, w) for h, w, _ in levels], np.int32)
            starts = np.array([s for _, _, s in levels], np.int32)
            loc = inputs["sampling_locations"].astype(dt)
            weights = (inputs["attention_weights"] * (1 - 2**-10)).astype(dt)  # the spec's premise: sum <= 1
            bench = registry.load_module(SPEC, "bench")
            (out,) = bench.launch_case(torch, launcher, torch.cuda.current_stream().cuda_stream, precision,
                                       [value, shapes, starts, loc, weights], {}, [], [])
            keep = [0, 2]  # the reference of the valid levels alone
            want = REF.multi_scale_deformable_attention({
                "value": value, "value_spatial_shapes": shapes[keep], "value_level_start_index": starts[keep],
                "sampling_locations": loc[:, :, :, keep], "attention_weights": weights[:, :, :, keep]}, {})["output"]
            tol = SPEC.tolerances[precision]
            excess = np.abs(out.astype(np.float64) - want) - tol.bound(np.abs(want))
            ok = out.shape == want.shape and float(excess.max()) <= 0
            failures += not ok
            print(f"{'PASS' if ok else 'FAIL'} {name} {precision}: max |diff| "
                  f"{float(np.abs(out.astype(np.float64) - want).max()):.3g}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
