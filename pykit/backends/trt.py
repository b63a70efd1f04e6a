"""The TensorRT backend: each call builds a one-plugin engine at the precision asked for (through
pykit._trt), serializes it, deserializes it, runs it, and reads from the plugin library what the
plugin really ran with at enqueue.

Network inputs: float32 for fp32/fp16 float tensors (fp16 values convert exactly), INT8 for int8
ones, fed the exact q with the dynamic range 127*s_in (so the plugin sees scale s_in). Outputs are
float32 network outputs after an identity layer; int8 ones get the range 127*s_out on the plugin
output and the identity, and are requantized here exactly (TensorRT returns q*s_out).
"""
from __future__ import annotations

import ctypes
import json
import os
from functools import lru_cache

import numpy as np

from pykit import extensions, registry
from pykit.backends import Run
from pykit.precision import numerics

FLOAT_DTYPES = ("float32", "float16", "int8")


def trt_module():
    return extensions.load("_trt")  # built with TensorRT: see README, "GPU path"


@lru_cache(maxsize=None)
def builder():
    return trt_module().Builder(verbose=bool(os.environ.get("PYKIT_TRT_VERBOSE")))


def plugin_library(spec=None) -> ctypes.CDLL:
    """The plugin library of the spec's project (default: pykit's own), loaded with every other
    project's built library: TensorRT finds all their creators in the one process registry."""
    project = registry.project_of(spec) if spec is not None else registry.own_project()
    path = registry.find_library(project)
    if path is None:
        raise registry.RegistryError(f"{project.library_name} was not built (TensorRT not found at build time)")
    for other in registry.project_libraries().values():
        if other is not None:
            registry.load_library(str(other))
    return plugin_library_at(path)


def _libraries(spec) -> list[ctypes.CDLL]:
    """The spec's project's library; without a spec every loaded project's (a whole model's plugins)."""
    if spec is not None:
        return [plugin_library(spec)]
    plugin_library()
    return [plugin_library_at(path) for path in registry.project_libraries().values() if path is not None]


def plugin_library_at(path) -> ctypes.CDLL:
    lib = registry.load_library(str(path))
    lib.pykit_enqueue_record.restype = ctypes.c_char_p
    return lib


def enqueue_record(spec=None) -> dict[str, list[str]]:
    """What each plugin saw at enqueue, from its library (several projects' libraries: merged)."""
    merged: dict[str, list[str]] = {}
    for lib in _libraries(spec):
        for name, seen in json.loads(lib.pykit_enqueue_record().decode()).items():
            merged.setdefault(name, []).extend(seen)
    return merged


def clear_enqueue_record(spec=None) -> None:
    for lib in _libraries(spec):
        lib.pykit_enqueue_record_clear()


def fields_for(spec, attrs: dict) -> list[tuple[str, str, object]]:
    return [(a.name, a.scalar_type, attrs[a.name]) for a in spec.attributes]


SHORT = {"float32": "fp32", "float16": "fp16", "int8": "int8", "int32": "int32", "int64": "int64", "bool": "bool"}


def actual_precision(spec, precision: str, seen: list[str]) -> str:
    """`precision` when every tensor of the plugin had, at enqueue, the type the spec gives it at
    that precision (an fp32 weight of an int8 plugin stays fp32); else 'mixed(...)' with the types
    its float tensors had. `seen` holds entries like 'int8,int32,int32->int8' from the plugin library."""
    if not seen:
        return "not run"
    kinds, mismatch = set(), False
    tensors = list(spec.inputs) + list(spec.outputs)
    for entry in seen:
        ins, outs = entry.split("->")
        for tensor, t in zip(tensors, ins.split(",") + outs.split(",")):
            mismatch |= t != SHORT.get(tensor.dtype(precision), tensor.dtype(precision))
            if tensor.dtype(precision) in FLOAT_DTYPES:
                kinds.add(t)
    return precision if not mismatch else f"mixed({','.join(sorted(kinds))})"


class TensorRTBackend:
    name = "trt"

    def available(self) -> str | None:
        try:
            trt_module()
        except ImportError as exc:
            return f"pykit._trt is not built ({exc}): build with TensorRT (TENSORRT_ROOT) on a GPU machine"
        try:
            plugin_library()
        except registry.RegistryError as exc:
            return str(exc)
        return None

    def build(self, spec, precision, attrs, profiles, input_scales, output_scales) -> bytes:
        """A one-plugin engine, serialized. profiles: one list per optimization profile of
        (min, opt, max) shapes, one per spec input; int8 ranges are 127*scale per tensor."""
        _trt = trt_module()
        ranges = {}
        for tensor, s in zip(spec.inputs, input_scales):
            ranges[tensor.name] = float(np.float32(s) * np.float32(127))
        for tensor, s in zip(spec.outputs, output_scales):
            ranges[tensor.name] = float(np.float32(s) * np.float32(127))
        specs = []
        for profile in profiles:
            specs.append([])
            for tensor, (lo, opt, hi) in zip(spec.inputs, profile):
                kind = tensor.dtype(precision)
                dtype = "float32" if kind in ("float32", "float16") else kind  # fp16 values convert exactly
                specs[-1].append(_trt.InputSpec(tensor.name, dtype, list(lo), list(opt), list(hi)))
        return builder().build_plugin(spec.name, spec.version, spec.namespace, fields_for(spec, attrs), specs,
                                      [t.name for t in spec.outputs], precision, ranges)

    def engine(self, spec, precision, inputs, attrs, input_scales, output_scales) -> bytes:
        """A one-plugin engine whose one profile is exactly these inputs' shapes."""
        shapes = [tuple(np.shape(x)) for x in inputs]
        return self.build(spec, precision, attrs, [[(s, s, s) for s in shapes]], input_scales, output_scales)

    def feeds(self, spec, precision, inputs, input_scales) -> dict:
        feeds = {}
        for tensor, x, s in zip(spec.inputs, inputs, input_scales):
            kind = tensor.dtype(precision)
            if kind == "float16":
                feeds[tensor.name] = np.asarray(x, dtype=np.float32)
            else:
                feeds[tensor.name] = np.asarray(x, order="C")  # ascontiguousarray would make 0-d arrays 1-d
        return feeds

    def outputs(self, spec, precision, results: dict, output_scales) -> list[np.ndarray]:
        out = []
        for tensor, s in zip(spec.outputs, output_scales):
            y = results[tensor.name]
            kind = tensor.dtype(precision)
            if kind == "int8":
                y = numerics.quantize_int8(y, s)
            elif kind == "float16":
                y = y.astype(np.float16)  # exact: the plugin wrote binary16 values
            out.append(y)
        return out

    def run_engine(self, engine, spec, precision, inputs, input_scales, output_scales, profile: int = 0) -> Run:
        """Run a deserialized engine on one case; the precision is what the plugin recorded."""
        clear_enqueue_record(spec)
        results = engine.run(self.feeds(spec, precision, inputs, input_scales), profile)
        seen = enqueue_record(spec).get(spec.name, [])
        return Run(self.outputs(spec, precision, results, output_scales), actual_precision(spec, precision, seen))

    def run(self, spec, precision, inputs, attrs, input_scales, output_scales) -> Run:
        plan = self.engine(spec, precision, inputs, attrs, input_scales, output_scales)
        engine = trt_module().Engine(plan)  # serialize -> deserialize: every run goes through the plugin's deserializer
        return self.run_engine(engine, spec, precision, inputs, input_scales, output_scales)


def parse_onnx(model) -> dict:
    """The installed TensorRT's ONNX parser on `model` (a ModelProto or its bytes), every plugin
    library loaded first (as build_onnx): {'parsed': bool, 'layers': int, 'log': [str], 'errors':
    [{'node', 'node_name', 'op_type', 'code', 'code_name', 'description', 'file', 'line', 'function'}]}.
    TensorRT 8.5's errors carry only the node's index; its name and op type are filled in here from
    the model's top-level graph (an index outside it is left None)."""
    import onnx

    if isinstance(model, (bytes, bytearray)):
        data, proto = bytes(model), onnx.load_from_string(bytes(model))
    else:
        data, proto = model.SerializeToString(), model
    plugin_library()
    result = trt_module().parse_onnx(data)
    nodes = proto.graph.node
    for error in result["errors"]:
        i = error["node"]
        if 0 <= i < len(nodes):
            if error["node_name"] is None:
                error["node_name"] = nodes[i].name
            if error["op_type"] is None:
                error["op_type"] = nodes[i].op_type
    return result
