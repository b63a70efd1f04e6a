"""Loading pykit's compiled parts: the host backend `_host`, the TensorRT layer `_trt`; and
cuda-python's runtime module (cuda_runtime), whichever of its two import paths is installed.

``PYKIT_BUILD_DIR=<cmake build dir>`` takes them (and libpykit_plugins.so, see registry) from a
plain CMake build instead of the installed package: for plugin work without reinstalling, and for
machines where pip cannot build (the GPU machine has no network).
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from functools import lru_cache
from pathlib import Path


def build_dir() -> Path | None:
    value = os.environ.get("PYKIT_BUILD_DIR")
    return Path(value) if value else None


@lru_cache(maxsize=None)
def load(name: str):
    """Import pykit.<name> from PYKIT_BUILD_DIR if set, else from the package."""
    folder = build_dir()
    if folder is None:
        return importlib.import_module(f"pykit.{name}")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / f"{name}{suffix}"
        if path.is_file():
            spec = importlib.util.spec_from_file_location(f"pykit.{name}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules[f"pykit.{name}"] = module
            return module
    raise ImportError(f"PYKIT_BUILD_DIR={folder} holds no {name} extension module")


def cuda_runtime():
    """cuda-python's CUDA runtime module (``cuda.bindings.runtime``; ``cuda.cudart`` in older
    releases), or None when cuda-python is not installed."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        try:
            from cuda import cudart as runtime
        except ImportError:
            return None
    return runtime
