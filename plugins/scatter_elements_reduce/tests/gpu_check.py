"""Validate the ScatterElementsReduce CUDA launcher against the spec on a GPU, without TensorRT.

Run from the repository root on a machine with nvcc and a GPU:
    nvcc -O2 -std=c++17 -arch=sm_90 -shared -Xcompiler -fPIC -Iplugins -Iplugins/scatter_elements_reduce \
        plugins/scatter_elements_reduce/scatter_elements_reduce_kernel.cu \
        plugins/scatter_elements_reduce/tests/gpu_harness.cu -o /tmp/libser.so
    python3 plugins/scatter_elements_reduce/tests/gpu_check.py /tmp/libser.so [--quick]
It runs every validation case at fp32/fp16 through pykit.validate (int32 indices, then int64), then
checks determinism: max/min bitwise identical over repeated runs, add within tolerance of itself.
Exits non-zero on any failure.
"""
from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from pykit import registry  # noqa: E402
from pykit.backends import Run  # noqa: E402
from pykit.validate import validate_case  # noqa: E402

SPEC = registry.get("ScatterElementsReduce")
REDUCTIONS = {"none": 0, "add": 1, "mul": 2, "max": 3, "min": 4}


class CudaLauncher:
    name = "cuda-launcher"

    def __init__(self, lib: str, int64: bool = False):
        self.lib = ctypes.CDLL(lib)
        self.lib.ser_launch.restype = ctypes.c_int
        self.int64 = int64

    def run(self, spec, precision, inputs, attrs, input_scales, output_scales) -> Run:
        data, idx, upd = (np.ascontiguousarray(x) for x in inputs)
        idx = np.ascontiguousarray(idx.astype(np.int64 if self.int64 else np.int32))
        out = np.empty_like(data)
        rank = data.ndim
        dd = (ctypes.c_longlong * rank)(*data.shape)
        di = (ctypes.c_longlong * rank)(*idx.shape)
        du = (ctypes.c_longlong * rank)(*upd.shape)  # != indices' shape only with broadcast_indices
        p = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
        status = self.lib.ser_launch(1 if precision == "fp16" else 0, 1 if self.int64 else 0,
                                     REDUCTIONS[attrs["reduction"]], p(data), p(idx), p(upd), p(out), rank,
                                     attrs["axis"] % rank, dd, di, du)
        if status:
            raise RuntimeError(f"CUDA error {status}")
        return Run([out], precision)


def main(argv):
    lib, quick = argv[0], "--quick" in argv
    cases = list(registry.entry_point(SPEC, "cases")(np.random.default_rng(0)))
    if quick:
        cases = [c for c in cases if "large" not in c.name]
    reference = registry.entry_point(SPEC, "reference")
    failures = 0
    for int64 in (False, True):
        backend = CudaLauncher(lib, int64)
        for precision in SPEC.precisions:
            worst, worst_case = 0.0, ""
            for case in cases:
                r = validate_case(SPEC, backend, precision, case, reference)
                if not r.passed:
                    failures += 1
                    print(f"FAIL {precision} int64={int64} {case.name}: {r.message}")
                if r.worst_fraction > worst:
                    worst, worst_case = r.worst_fraction, case.name
            print(f"{precision} indices={'int64' if int64 else 'int32'}: {len(cases)} cases, "
                  f"max abs err/tolerance {worst:.3g} ({worst_case})")
    backend = CudaLauncher(lib)
    for name in [c for c in ("max_large_axis1", "min_duplicates_k8", "add_large_262144x16") if not quick or "large" not in c]:
        case = next(c for c in cases if c.name == name)
        for precision in SPEC.precisions:
            dt = np.float32 if precision == "fp32" else np.float16
            inputs = [case.inputs["data"].astype(dt), case.inputs["indices"], case.inputs["updates"].astype(dt)]
            runs = [backend.run(SPEC, precision, inputs, SPEC.resolve_attributes(case.attrs), [], []).outputs[0]
                    for _ in range(5)]
            same = all(np.array_equal(runs[0].view(np.uint8), r.view(np.uint8)) for r in runs[1:])
            spread = max(float(np.abs(r.astype(np.float64) - runs[0]).max()) for r in runs[1:])
            print(f"repeat {name} {precision}: bitwise identical={same}, max spread {spread:.3g}")
            if case.attrs["reduction"] in ("max", "min") and not same:
                failures += 1
                print("FAIL: max/min must be bitwise deterministic")
    print("OK" if not failures else f"{failures} FAILURES")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
