"""`pykit bench`: the plugins' CUDA launchers timed on their own and in TensorRT engines, against
PyTorch's CUDA ops in the same process and the device-to-device copy bandwidth of the same run.

A plugin takes part through two files in its folder (found like reference.py, by name):
``bench.py`` defines ``cases(precisions) -> list[BenchCase]`` (shapes, the bytes the op must move,
the target) and ``launch_case(torch, launcher, stream, precision, inputs, attrs, input_scales,
output_scales)`` (one spec validation case through the launcher); ``bench.cpp`` binds the launcher
into ``pykit._kernels.<PluginName>`` (PYKIT_REGISTER_BENCH_LAUNCHER, bench_api.h), which is the
``launcher`` the cases receive. torch is imported lazily: everything here except ``run`` works
without it (CI has no GPU).
"""
from __future__ import annotations

from types import ModuleType

BENCH_FILES = ("bench.py", "bench.cpp")
REQUIRED = ("cases", "launch_case")


def benched_plugins(specs=None) -> list:
    """The discovered plugins whose folder has a bench.py, sorted by name."""
    from pykit import registry

    specs = registry.discover() if specs is None else specs
    return [s for s in specs if (s.folder / "bench.py").is_file()]


def bench_module(spec) -> ModuleType:
    """The plugin's bench.py, checked to define what `pykit bench` calls."""
    from pykit import registry

    path = spec.folder / "bench.py"
    if not path.is_file():
        raise registry.RegistryError(f"{spec.name}: no bench case ({path} does not exist)")
    module = registry.load_module(spec, "bench")
    missing = [name for name in REQUIRED if not callable(getattr(module, name, None))]
    if missing:
        raise registry.RegistryError(f"{spec.name}: {path} does not define {', '.join(missing)}")
    return module
