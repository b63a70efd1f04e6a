"""Interchangeable runners of plugins. Each backend runs one plugin call on typed numpy inputs and
says which precision really ran; the validator compares what they return with the reference.

A backend module defines a class with ``name``, ``available() -> str | None`` (None when usable,
else the reason it is not) and ``run(spec, precision, inputs, attrs, input_scales, output_scales)
-> Run``. Backends are imported lazily by name.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np

BACKENDS = {
    "host": "pykit.backends.host:HostBackend",
    "trt": "pykit.backends.trt:TensorRTBackend",
}


@dataclass
class Run:
    outputs: list[np.ndarray]
    actual_precision: str  # what ran, as the backend can prove it ("fp16", ...)


class BackendUnavailable(RuntimeError):
    pass


def get_backend(name: str):
    if name not in BACKENDS:
        raise BackendUnavailable(f"unknown backend '{name}'; available: {sorted(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    backend = getattr(importlib.import_module(module), cls)()
    reason = backend.available()
    if reason:
        raise BackendUnavailable(f"backend '{name}' is not available: {reason}")
    return backend
