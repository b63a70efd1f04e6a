"""`pykit bench`: the plugins' CUDA launchers timed on their own and in TensorRT engines, against
PyTorch's CUDA ops in the same process and the device-to-device copy bandwidth of the same run.

One module per plugin (SUITES) defines ``cases(precisions) -> list[BenchCase]`` (shapes, the
bytes the op must move, the target) and, for the correctness check, ``launch(...)`` through the
plugin's launcher in ``pykit._kernels``. Adding a plugin is one module and one SUITES entry.
torch is imported lazily: everything here except ``run`` works without it (CI has no GPU).
"""
from __future__ import annotations

SUITES = {
    "PillarScatter": "pykit.bench.pillar_scatter",
    "ScatterElementsReduce": "pykit.bench.scatter_elements_reduce",
    "LayerNorm": "pykit.bench.layer_norm",
}
