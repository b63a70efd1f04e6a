"""Explicit quantization: insert QuantizeLinear/DequantizeLinear pairs with given scales.

TensorRT 10 deprecates implicit INT8 calibration and 11 removes it; a strongly typed network
states its INT8 tensors with Q/DQ pairs instead.  :func:`insert_qdq` puts a pair
``x -> Q(scale, 0) -> DQ(scale, 0) -> x'`` on each chosen tensor and rewires every consumer of
``x`` (plugin nodes included) to ``x'``.  A quantized graph output keeps its name: the producer's
tensor is renamed ``<name>_fp32`` and the DequantizeLinear writes ``<name>``.

Optionally the weights of Conv/ConvTranspose/Gemm/MatMul nodes whose data input is quantized get
their own Q/DQ, per output channel (TensorRT's recommendation) or per tensor, with
``scale = max|w| / 127``.

onnxruntime's QuantizeLinear rounds half to even and saturates to [-128, 127] as TensorRT's Q layer
does; :func:`pykit.precision.numerics.fake_quantize_int8` clamps to [-127, 127], which differs only
for ``x < -127.5*scale`` (see numerics.py).
"""
from __future__ import annotations

from pykit.precision._graph import load_model, name_allocator, replace_in

from typing import Iterable

import numpy as np

from .numerics import INT8_MAX

__all__ = ["fake_quant_session", "insert_qdq", "node_io_tensors", "plugin_int8_tensors", "unfuse_plugin_qdq",
           "WEIGHT_OPS"]

#: op type -> (weight input index, output-channel axis of the weight, or a callable(node) -> axis)
WEIGHT_OPS = {
    "Conv": (1, 0),
    "ConvTranspose": (1, 1),
    "Gemm": (1, lambda node: 0 if node.attrs.get("transB", 0) else 1),
    "MatMul": (1, -1),
}




def _opset(model) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 0


def node_io_tensors(model, name: str | None = None, op_type: str | None = None) -> list[str]:
    """Names of the non-constant input and output tensors of the node called ``name`` (or of every
    node of ``op_type``, e.g. a plugin's op), in order, without repeats: what to quantize around it."""
    model = load_model(model)
    inits = {i.name for i in model.graph.initializer}
    constants = {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    nodes = [n for n in model.graph.node if (name is not None and n.name == name)
             or (op_type is not None and n.op_type == op_type)]
    if not nodes:
        raise KeyError(f"no node with {'name ' + repr(name) if name is not None else 'op_type ' + repr(op_type)}")
    out: list[str] = []
    for n in nodes:
        for t in list(n.input) + list(n.output):
            if t and t not in inits and t not in constants and t not in out:
                out.append(t)
    return out


def _weight_scales(w: np.ndarray, axis: int | None) -> np.ndarray:
    a = np.abs(w.astype(np.float32))
    if axis is None:
        amax = np.asarray(a.max() if a.size else 0.0, dtype=np.float32)
    else:
        axis = axis % w.ndim
        amax = a.max(axis=tuple(d for d in range(w.ndim) if d != axis))
    scale = np.where(amax > 0, amax / np.float32(INT8_MAX), np.float32(1.0 / INT8_MAX))
    return scale.astype(np.float32)


def plugin_int8_tensors(node) -> tuple[list[int], list[int]]:
    """(input indices, output indices) of a plugin node that are int8 when its plugin runs int8, from
    its spec; ([], []) for a plugin whose spec offers no int8 (it runs fp16/fp32 in an int8 engine).
    Inputs then outputs, in spec order: the order of the spec's ``int8_scales`` attribute
    (``PluginSpec.int8_tensors``) when the node has all of the spec's tensors."""
    from pykit import registry

    spec = registry.get(node.op)
    if "int8" not in spec.precisions:
        return [], []
    return ([i for i, t in enumerate(spec.inputs) if t.dtype("int8") == "int8" and i < len(node.inputs)],
            [j for j, t in enumerate(spec.outputs) if t.dtype("int8") == "int8" and j < len(node.outputs)])


def compute_tensors(model) -> list[str]:
    """The tensors an explicitly quantized engine needs in int8 to compute in int8: the int8 inputs
    and outputs of plugin nodes (their specs') and the data inputs of Conv/ConvTranspose/Gemm/MatMul.
    Index arithmetic, shapes and the rest stay float (a Q/DQ pair on a float-computed index would
    round it)."""
    import onnx_graphsurgeon as gs

    from pykit.surgeon.model import PLUGIN_DOMAIN

    graph = gs.import_onnx(load_model(model))
    out: list[str] = []
    for node in graph.nodes:
        names = []
        if node.domain == PLUGIN_DOMAIN:
            ins, outs = plugin_int8_tensors(node)
            names = [node.inputs[i].name for i in ins] + [node.outputs[j].name for j in outs]
        elif node.op in WEIGHT_OPS and node.inputs:
            names = [node.inputs[0].name]
        out += [n for n in names if n not in out]
    return out


def insert_qdq(model, scales: dict, *, weights: str | None = None,
               weight_ops: Iterable[str] = tuple(WEIGHT_OPS), plugins: str = "fused"):
    """A copy of ``model`` with a Q/DQ pair (int8, zero point 0) on each tensor of ``scales``.

    ``scales``: ``{tensor name: float scale}`` (``amax/127``, e.g. from a calibration cache).
    ``weights``: ``None`` (leave weights float), ``"per_channel"`` or ``"per_tensor"``: also
    quantize the constant weights of ``weight_ops`` nodes whose data input (input 0) is in ``scales``.
    ``plugins``: how plugin nodes (domain ``trt.plugins``) whose spec offers int8 are quantized:
    ``"fused"``: ``Q -> plugin -> DQ``, the plugin reading the Q's int8 output and writing int8 that
    a DequantizeLinear (writing the original tensor name) reads: the form TensorRT needs to keep a
    plugin in int8. Every int8 tensor of the plugin (its spec's) needs a scale: from ``scales``, or
    ``max|w|/127`` for a constant (a LayerNorm's scale/bias initializers). ``"pairs"``: plugin nodes
    are consumers like any other (``x -> Q -> DQ -> plugin -> y -> Q -> DQ``), left to TensorRT's
    Q/DQ fusion.

    In the fused form each such plugin node also gets the attribute ``int8_scales``: the scales of its
    Q and DQ nodes, in ``PluginSpec.int8_tensors`` order (its int8 inputs, then its int8 outputs).
    TensorRT 8.5 hands a plugin between Q and DQ the scale 1.0 for every int8 tensor (measured on the
    H200; TensorRT 10/11 strongly typed networks lose scales across plugins the same way); pykit's
    TensorRT bases compute with the attribute's scales instead (plugins/common/trt/plugin_base.h).
    """
    import onnx
    import onnx_graphsurgeon as gs

    model = load_model(model)
    opset = _opset(model)
    if opset < 10:
        raise ValueError(f"QuantizeLinear needs opset >= 10; model has opset {opset}")
    if weights not in (None, "per_channel", "per_tensor"):
        raise ValueError(f"weights must be None, 'per_channel' or 'per_tensor', got {weights!r}")
    if weights == "per_channel" and opset < 13:
        # per-channel QuantizeLinear (its axis) came with opset 13: the model goes up to 13 first,
        # which every TensorRT pykit targets parses (plugin nodes are in their own domain: untouched)
        from onnx import version_converter

        try:
            model = version_converter.convert_version(model, 13)
        except Exception as exc:  # noqa: BLE001 - the converter's own message names the op
            raise ValueError(f"per-channel Q/DQ needs opset >= 13; model has opset {opset} and onnx's "
                             f"version converter cannot take it to 13: {str(exc).strip().splitlines()[-1]}") from None
        opset = 13
    if plugins not in ("fused", "pairs"):
        raise ValueError(f"plugins must be 'fused' or 'pairs', got {plugins!r}")
    graph = gs.import_onnx(model)
    tensors = graph.tensors()
    fresh = name_allocator(set(tensors))

    def qdq_nodes(src, dst, scale: np.ndarray, axis: int | None, base: str):
        sc = gs.Constant(fresh(f"{base}_scale"), np.asarray(scale, dtype=np.float32))
        zp = gs.Constant(fresh(f"{base}_zero_point"), np.zeros(np.shape(scale), dtype=np.int8))
        q_out = gs.Variable(fresh(f"{base}_int8"), dtype=np.int8, shape=src.shape)
        attrs = {} if axis is None else {"axis": int(axis)}
        q = gs.Node("QuantizeLinear", name=fresh(f"{base}_QuantizeLinear"), attrs=dict(attrs),
                    inputs=[src, sc, zp], outputs=[q_out])
        dq = gs.Node("DequantizeLinear", name=fresh(f"{base}_DequantizeLinear"), attrs=dict(attrs),
                     inputs=[q_out, sc, zp], outputs=[dst])
        graph.nodes.extend([q, dq])

    def checked(name, scale) -> np.float32:
        s = np.float32(scale)
        if not (np.isfinite(s) and s > 0):
            raise ValueError(f"tensor {name!r}: scale must be finite and positive, got {scale}")
        return s

    fused_outputs: set[str] = set()  # plugin outputs already dequantized by the fused form
    if plugins == "fused":
        from pykit.surgeon.model import PLUGIN_DOMAIN

        from pykit import registry
        from pykit.spec import INT8_SCALES

        quantized_inputs: dict[str, object] = {}  # tensor name -> the int8 tensor its Q writes
        input_scale: dict[str, np.float32] = {}  # tensor name -> its Q's scale
        for node in [n for n in graph.nodes if n.domain == PLUGIN_DOMAIN]:
            ins, outs = plugin_int8_tensors(node)
            carried: list[float] = []  # int8_scales: the Q scales of its int8 inputs, then the DQ scales
            for i in ins:
                t = node.inputs[i]
                if t.name not in quantized_inputs:
                    if t.name in scales:
                        s = checked(t.name, scales[t.name])
                    elif isinstance(t, gs.Constant):
                        s = np.float32(_weight_scales(np.asarray(t.values), None))
                    else:
                        raise KeyError(f"plugin node {node.name!r} ({node.op}): input {t.name!r} runs int8 "
                                       "but has no scale")
                    q_out = gs.Variable(fresh(f"{t.name}_int8"), dtype=np.int8, shape=t.shape)
                    graph.nodes.append(gs.Node(
                        "QuantizeLinear", name=fresh(f"{t.name}_QuantizeLinear"), inputs=[
                            t, gs.Constant(fresh(f"{t.name}_scale"), np.asarray(s, dtype=np.float32)),
                            gs.Constant(fresh(f"{t.name}_zero_point"), np.zeros((), dtype=np.int8))],
                        outputs=[q_out]))
                    quantized_inputs[t.name] = q_out
                    input_scale[t.name] = s
                carried.append(float(input_scale[t.name]))
                node.inputs[i] = quantized_inputs[t.name]
            for j in outs:
                t = node.outputs[j]
                if t.name not in scales:
                    raise KeyError(f"plugin node {node.name!r} ({node.op}): output {t.name!r} runs int8 "
                                   "but has no scale")
                s = checked(t.name, scales[t.name])
                carried.append(float(s))
                raw = gs.Variable(fresh(f"{t.name}_int8"), dtype=np.int8, shape=t.shape)
                replace_in(node.outputs, t, raw)
                graph.nodes.append(gs.Node(
                    "DequantizeLinear", name=fresh(f"{t.name}_DequantizeLinear"), inputs=[
                        raw, gs.Constant(fresh(f"{t.name}_scale"), np.asarray(s, dtype=np.float32)),
                        gs.Constant(fresh(f"{t.name}_zero_point"), np.zeros((), dtype=np.int8))],
                    outputs=[t]))
                fused_outputs.add(t.name)
            if carried and len(carried) == len(registry.get(node.op).int8_tensors):
                node.attrs[INT8_SCALES] = carried

    quantized: dict[str, object] = {}  # original name -> tensor consumers now read
    for name, scale in scales.items():
        if name in fused_outputs:
            quantized[name] = tensors[name]
            continue
        if name not in tensors:
            raise KeyError(f"tensor {name!r} (from the scales) is not in the graph")
        t = tensors[name]
        s = checked(name, scale)
        if isinstance(t, gs.Constant):
            dst = gs.Variable(fresh(f"{name}_dq"), dtype=np.float32, shape=t.shape)
            for consumer in list(t.outputs):
                replace_in(consumer.inputs, t, dst)
            qdq_nodes(t, dst, s, None, name)
            quantized[name] = dst
            continue
        if t.dtype is not None and np.dtype(t.dtype) != np.float32:
            raise TypeError(f"tensor {name!r} has dtype {np.dtype(t.dtype)}; Q/DQ is inserted on float32 tensors")
        if t in graph.outputs:
            producer = t.inputs[0] if t.inputs else None
            if producer is None:
                raise ValueError(f"tensor {name!r} is both a graph input and a graph output; nothing to quantize")
            raw = gs.Variable(fresh(f"{name}_fp32"), dtype=t.dtype, shape=t.shape)
            replace_in(producer.outputs, t, raw)
            qdq_nodes(raw, t, s, None, name)
            quantized[name] = t
        else:
            dst = gs.Variable(fresh(f"{name}_dq"), dtype=t.dtype or np.float32, shape=t.shape)
            for consumer in list(t.outputs):
                replace_in(consumer.inputs, t, dst)
            qdq_nodes(t, dst, s, None, name)
            quantized[name] = dst

    if weights is not None:
        weight_ops = set(weight_ops)
        dq_outputs = {id(v) for v in quantized.values()}
        for node in list(graph.nodes):
            if node.op not in weight_ops or node.op not in WEIGHT_OPS or not node.inputs:
                continue
            if id(node.inputs[0]) not in dq_outputs:
                continue
            idx, axis = WEIGHT_OPS[node.op]
            if len(node.inputs) <= idx or not isinstance(node.inputs[idx], gs.Constant):
                continue
            w = node.inputs[idx]
            values = np.asarray(w.values)
            if values.dtype != np.float32:
                continue
            if callable(axis):
                axis = axis(node)
            axis = axis % values.ndim
            if weights == "per_tensor" or values.ndim < 2:
                axis = None
            dst = gs.Variable(fresh(f"{w.name}_dq"), dtype=np.float32, shape=list(values.shape))
            node.inputs[idx] = dst
            qdq_nodes(w, dst, _weight_scales(values, axis), axis, w.name)

    graph.cleanup().toposort()
    out = gs.export_onnx(graph)
    out.ir_version = model.ir_version
    del out.metadata_props[:]
    out.metadata_props.extend(model.metadata_props)
    onnx.checker.check_model(out)
    return out


def unfuse_plugin_qdq(model):
    """The fused form's meaning as float pairs, for CPU evaluation: each plugin input read from a
    QuantizeLinear gets a DequantizeLinear (same scale) before the plugin, and each plugin output
    read by a DequantizeLinear is written in float and quantized by a QuantizeLinear (same scale)
    first. An int8 plugin computes exactly that (int8 in at the Q's scale, int8 out at the DQ's),
    so the result runs with plugin references at fp32 (pykit.surgeon.equiv.plugin_ops)."""
    import onnx
    from onnx import helper

    from pykit.surgeon.model import PLUGIN_DOMAIN

    model = load_model(model)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    fresh = name_allocator({t for n in graph.node for t in list(n.input) + list(n.output)}
                           | {i.name for i in graph.initializer} | {i.name for i in graph.input})
    nodes = []
    for n in graph.node:
        if n.domain != PLUGIN_DOMAIN:
            nodes.append(n)
            continue
        after = []
        for k, name in enumerate(n.input):
            q = producer.get(name)
            if q is not None and q.op_type == "QuantizeLinear":
                f = fresh(f"{name}_dequantized")
                nodes.append(helper.make_node("DequantizeLinear", [name, *q.input[1:]], [f], name=fresh(f"{f}_DQ")))
                n.input[k] = f
        for k, name in enumerate(n.output):
            dqs = [c for c in consumers.get(name, []) if c.op_type == "DequantizeLinear"]
            if dqs and len(dqs) == len(consumers[name]):
                f = fresh(f"{name}_float")
                after.append(helper.make_node("QuantizeLinear", [f, *dqs[0].input[1:]], [name], name=fresh(f"{f}_Q")))
                n.output[k] = f
        nodes.append(n)
        nodes.extend(after)
    del graph.node[:]
    graph.node.extend(nodes)
    return out


def qdq_ops():
    """QuantizeLinear / DequantizeLinear for onnx.reference's evaluator at any opset (its own start at
    19), int8 with zero point, per tensor or per ``axis``; round half to even and saturation to
    [-128, 127] as ONNX and TensorRT define them. With plugin references: ``new_ops=plugin_ops(...) +
    qdq_ops()``."""
    from onnx.reference.op_run import OpRun

    def along(scale, x, axis):
        scale = np.asarray(scale)
        if scale.ndim == 0 or x.ndim == 0:
            return scale
        shape = [1] * x.ndim
        shape[axis % x.ndim] = -1
        return scale.reshape(shape)

    class QuantizeLinear(OpRun):
        op_domain = ""

        def _run(self, x, scale, zero_point=None, axis=1, **_):
            zp = np.int32(0) if zero_point is None else along(zero_point, x, axis).astype(np.int32)
            q = np.rint(np.asarray(x, np.float32) / along(scale, x, axis).astype(np.float32)) + zp
            return (np.clip(q, -128, 127).astype(np.int8),)

    class DequantizeLinear(OpRun):
        op_domain = ""

        def _run(self, x, scale, zero_point=None, axis=1, **_):
            zp = np.int32(0) if zero_point is None else along(zero_point, x, axis).astype(np.int32)
            return (((np.asarray(x).astype(np.int32) - zp) * along(scale, x, axis).astype(np.float32)).astype(np.float32),)

    return [QuantizeLinear, DequantizeLinear]


def fake_quant_session(model, threads: int | None = None):
    """An onnxruntime CPU session that runs a Q/DQ model as fake quantization.

    The pairs run as separate float QuantizeLinear/DequantizeLinear ops
    (``session.disable_quant_qdq=1``): onnxruntime's fused int8 kernels (QGemm, QLinearConv)
    do not emulate TensorRT's int8 arithmetic -- on a toy MLP on an x86 CPU they were off by 13
    where fake quantization agreed with numpy to one output step.
    """
    import onnxruntime as ort

    model = load_model(model)
    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.disable_quant_qdq", "1")
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
