"""Convert an ONNX graph to FP16, keeping chosen ops/nodes (e.g. plugins) in FP32 behind Casts.

What :func:`convert_to_fp16` does:

* every node computes in float16 unless its op type is in ``keep_fp32_ops``, its name is in
  ``keep_fp32_nodes``, or it has a subgraph (If/Loop/Scan are left as they are);
* float32 initializers (and Constant nodes) read by float16 nodes get a float16 copy, values
  clipped to the float16 range (+-65504) rather than overflowing to inf; float32 values read by
  float32 nodes are kept;
* a Cast is inserted wherever a tensor's type differs from what its consumer computes in
  (one Cast per tensor and direction, shared by all such consumers);
* graph inputs and outputs stay float32 (Casts at the boundary) unless ``keep_io_types=False``;
* ``Cast(to=FLOAT)`` nodes inside the float16 region become ``Cast(to=FLOAT16)``;
* outputs of float32-kept nodes whose type shape inference cannot tell (custom plugin ops
  without value_info) are taken to be float32;
* inputs that the ONNX spec requires to be float32 whatever the data type (Resize's roi and
  scales, ...) are never converted; QuantizeLinear/DequantizeLinear stay float32.

The result passes ``onnx.checker`` and strict shape inference.  The numeric effect is one
binary16 rounding (relative 2^-11) per converted tensor; see docs/precision.md.
"""
from __future__ import annotations

from pykit.precision._graph import load_model, name_allocator, replace_in

from typing import Iterable

import numpy as np

__all__ = ["convert_to_fp16", "FP32_ONLY_INPUTS"]

FP16_MAX = float(np.finfo(np.float16).max)

#: (op type, input index) pairs whose float inputs keep float32 in an FP16 graph
FP32_ONLY_INPUTS = {
    ("Resize", 1), ("Resize", 2), ("Upsample", 1),
    ("RandomNormalLike", 0), ("RandomUniformLike", 0),
}

_SUBGRAPH_OPS = {"If", "Loop", "Scan"}
#: ops kept in float32 always (QuantizeLinear/DequantizeLinear scales are float32 before opset 19)
ALWAYS_FP32_OPS = {"QuantizeLinear", "DequantizeLinear"}




def convert_to_fp16(model, keep_fp32_ops: Iterable[str] = (), keep_fp32_nodes: Iterable[str] = (),
                    keep_io_types: bool = True):
    """A float16 copy of ``model``; see the module docstring."""
    import onnx
    import onnx_graphsurgeon as gs

    model = load_model(model)
    try:
        typed = onnx.shape_inference.infer_shapes(model)
    except Exception:
        typed = model
    graph = gs.import_onnx(typed)
    keep_ops = set(keep_fp32_ops)
    keep_nodes = set(keep_fp32_nodes)
    known = {n.name for n in graph.nodes}
    unknown = keep_nodes - known
    if unknown:
        raise KeyError(f"keep_fp32_nodes names no node of the graph: {sorted(unknown)}")

    f32 = np.dtype(np.float32)
    f16 = np.dtype(np.float16)

    def dtype_of(t):
        if isinstance(t, gs.Constant):
            return np.asarray(t.values).dtype
        try:
            return np.dtype(t.dtype) if t.dtype is not None else None
        except TypeError:
            return None

    fresh = name_allocator(set(graph.tensors()))

    def half(node) -> bool:
        return not (node.op in keep_ops or node.op in ALWAYS_FP32_OPS or node.name in keep_nodes or node.op in _SUBGRAPH_OPS
                    or any(isinstance(a, gs.Graph) for a in node.attrs.values()))

    original_types = {id(t): dtype_of(t) for t in graph.tensors().values()}
    # outputs of float32-kept nodes (plugins) whose type onnx cannot infer are taken as float32
    for node in graph.nodes:
        if not half(node):
            for t in node.outputs:
                if original_types.get(id(t)) is None:
                    original_types[id(t)] = f32
                    t.dtype = np.float32
    # tensors that become float16: float32 outputs of half nodes (graph inputs too, if not kept)
    if not keep_io_types:
        for t in graph.inputs:
            if dtype_of(t) == f32:
                t.dtype = np.float16
    nodes = list(graph.nodes)
    for node in nodes:
        if not half(node):
            continue
        if node.op == "Cast" and node.attrs.get("to") == onnx.TensorProto.FLOAT:
            node.attrs["to"] = onnx.TensorProto.FLOAT16
        if node.op == "Constant":
            for key in ("value",):
                v = node.attrs.get(key)
                if isinstance(v, gs.Constant) and np.asarray(v.values).dtype == f32:
                    node.attrs[key] = gs.Constant(v.name, np.clip(v.values, -FP16_MAX, FP16_MAX).astype(np.float16))
        if node.op == "ConstantOfShape":
            v = node.attrs.get("value")
            if isinstance(v, gs.Constant) and np.asarray(v.values).dtype == f32:
                node.attrs["value"] = gs.Constant(v.name, np.clip(v.values, -FP16_MAX, FP16_MAX).astype(np.float16))
        for out in node.outputs:
            if original_types.get(id(out)) == f32:
                out.dtype = np.float16

    casts: dict = {}  # (tensor id, target) -> tensor
    half_consts: dict = {}

    def cast(t, target):
        key = (id(t), np.dtype(target).name)
        if key not in casts:
            out = gs.Variable(fresh(f"{t.name}_to_{np.dtype(target).name}"), dtype=target, shape=t.shape)
            to = onnx.TensorProto.FLOAT16 if np.dtype(target) == f16 else onnx.TensorProto.FLOAT
            graph.nodes.append(gs.Node("Cast", name=fresh(f"{t.name}_Cast_{np.dtype(target).name}"),
                                       attrs={"to": to}, inputs=[t], outputs=[out]))
            casts[key] = out
        return casts[key]

    for node in nodes:
        want_half = half(node)
        for i, t in enumerate(list(node.inputs)):
            if t is None or (isinstance(t, gs.Variable) and not t.name):
                continue
            now = dtype_of(t)
            if now not in (f32, f16):
                continue
            orig = original_types.get(id(t))
            if orig is None and isinstance(t, gs.Constant):
                orig = now
            if orig != f32:  # float16 in the original model: leave as is
                continue
            if (node.op, i) in FP32_ONLY_INPUTS:
                target = f32
            else:
                target = f16 if want_half else f32
            if now == target:
                continue
            if isinstance(t, gs.Constant):
                if id(t) not in half_consts:
                    vals = np.clip(np.asarray(t.values), -FP16_MAX, FP16_MAX).astype(np.float16)
                    half_consts[id(t)] = gs.Constant(fresh(f"{t.name}_fp16"), vals)
                node.inputs[i] = half_consts[id(t)] if target == f16 else t
            else:
                node.inputs[i] = cast(t, target)

    if keep_io_types:
        for k, t in enumerate(list(graph.outputs)):
            if dtype_of(t) == f16 and original_types.get(id(t)) == f32:
                producer = t.inputs[0] if t.inputs else None
                raw = gs.Variable(fresh(f"{t.name}_fp16"), dtype=np.float16, shape=t.shape)
                if producer is not None:
                    replace_in(producer.outputs, t, raw)
                for consumer in list(t.outputs):
                    replace_in(consumer.inputs, t, raw)
                t.dtype = np.float32
                graph.nodes.append(gs.Node("Cast", name=fresh(f"{t.name}_Cast_float32"),
                                           attrs={"to": onnx.TensorProto.FLOAT}, inputs=[raw], outputs=[t]))
    else:
        for t in graph.outputs:
            if original_types.get(id(t)) == f32 and dtype_of(t) == f32 and t.inputs and half(t.inputs[0]):
                t.dtype = np.float16

    graph.cleanup().toposort()
    out = gs.export_onnx(graph)
    out.ir_version = model.ir_version
    del out.graph.value_info[:]  # stale after retyping; recomputed below
    out = onnx.shape_inference.infer_shapes(out)
    onnx.checker.check_model(out)
    return out
