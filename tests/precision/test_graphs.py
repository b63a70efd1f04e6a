"""Q/DQ insertion and FP16 conversion: valid ONNX, and onnxruntime outputs within the error model
of docs/precision.md (worst-case bounds propagated layer by layer, computed here in float64)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from precision_helpers import numpy_mlp, ort_run, random_mlp
from pykit.precision.calibrators import MinMaxCalibrator
from pykit.precision.fp16 import convert_to_fp16
from pykit.precision.numerics import fake_quantize_int8
from pykit.precision.qdq import insert_qdq, node_io_tensors

U16 = 2.0 ** -11  # binary16 unit roundoff
U32 = 2.0 ** -24


def _valid(model):
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, strict_mode=True)


@pytest.fixture(scope="module")
def mlp():
    model, ws, bs = random_mlp(seed=0, sizes=(8, 32, 16, 4))
    x = np.random.default_rng(1).standard_normal((256, 8)).astype(np.float32)
    ref = numpy_mlp(x, ws, bs)
    return model, ws, bs, x, ref


def _minmax_scales(ref, names):
    out = {}
    for n in names:
        c = MinMaxCalibrator()
        c.collect(ref[n].astype(np.float32))
        out[n] = c.scale()
    return out


def int8_bound(ref, ws, scales, n_layers):
    """Worst-case |y_int8 - y| per element: each Q adds half a step of its tensor (no clipping with
    min-max scales); a Gemm propagates |W| e_in + (half a weight step) * sum(|x| + e_in)."""
    e = np.full_like(ref["x"], 0.5 * scales["x"])
    cur = "x"
    for k, w in enumerate(ws):
        w = np.asarray(w, np.float64)
        s_w = np.abs(w).max(axis=1) / 127.0
        mag = np.abs(ref[cur]) + e
        acc = e @ np.abs(w).T + 0.5 * mag.sum(axis=1, keepdims=True) * s_w[None, :]
        out = "y" if k == n_layers - 1 else f"h{k}"
        e = acc + 0.5 * scales[out]
        if out != "y":
            cur = f"r{k}"
            e = e + 0.5 * scales[cur]  # Relu is 1-Lipschitz, then its own Q
    return e + 1e-5 * (np.abs(ref["y"]) + 1)  # float32 arithmetic


def test_qdq_graph_valid_and_within_int8_error_model(mlp):
    model, ws, bs, x, ref = mlp
    names = ["x", "h0", "r0", "h1", "r1", "y"]
    scales = _minmax_scales(ref, names)
    q = insert_qdq(model, scales, weights="per_channel")
    _valid(q)
    ops = [n.op_type for n in q.graph.node]
    assert ops.count("QuantizeLinear") == len(names) + len(ws)
    assert [o.name for o in q.graph.output] == ["y"] and [i.name for i in q.graph.input] == ["x"]
    (y_q,) = ort_run(q, {"x": x}, fake_quant=True)
    err = np.abs(y_q.astype(np.float64) - ref["y"])
    bound = int8_bound(ref, ws, scales, len(ws))
    assert np.all(err <= bound), float((err / bound).max())
    assert err.max() > 0  # it really is quantized
    # and the same as numerics.fake_quantize_int8 applied by hand, but for rare one-step rounding flips
    cur = fake_quantize_int8(x, scales["x"])
    for k, (w, b) in enumerate(zip(ws, bs)):
        s_w = np.abs(w).max(axis=1) / np.float32(127)
        wq = (np.clip(np.rint(w / s_w[:, None]), -127, 127) * s_w[:, None]).astype(np.float32)
        out = "y" if k == len(ws) - 1 else f"h{k}"
        cur = fake_quantize_int8(cur @ wq.T + b, scales[out])
        if out != "y":
            cur = fake_quantize_int8(np.maximum(cur, 0), scales[f"r{k}"])
    diff = np.abs(y_q - cur)
    assert np.mean(diff > 1e-5 * (1 + np.abs(cur))) < 0.02
    assert diff.max() <= 3 * scales["y"]


def test_qdq_per_channel_takes_an_old_opset_model_to_13(mlp):
    # seed 003's demo exports at opset 10, before per-channel QuantizeLinear (axis, opset 13): the
    # model is converted up first and quantizes exactly as its opset-17 form does
    model, ws, bs, x, ref = mlp
    old = onnx.ModelProto()
    old.CopyFrom(model)
    old.opset_import[0].version = 10  # the MLP's ops mean the same at 10
    onnx.checker.check_model(old, full_check=True)
    scales = _minmax_scales(ref, ["x", "h0", "r0", "h1", "r1", "y"])
    q_old, q_new = insert_qdq(old, scales, weights="per_channel"), insert_qdq(model, scales, weights="per_channel")
    _valid(q_old)
    assert {o.version for o in q_old.opset_import if o.domain in ("", "ai.onnx")} == {13}
    assert any(a.name == "axis" for n in q_old.graph.node if n.op_type == "QuantizeLinear" for a in n.attribute)
    (y_old,), (y_new,) = ort_run(q_old, {"x": x}, fake_quant=True), ort_run(q_new, {"x": x}, fake_quant=True)
    np.testing.assert_array_equal(y_old, y_new)


def test_qdq_per_tensor_and_activation_only(mlp):
    model, ws, bs, x, ref = mlp
    scales = _minmax_scales(ref, ["x", "r0"])
    for weights, n_q in ((None, 2), ("per_tensor", 4)):
        q = insert_qdq(model, scales, weights=weights)
        _valid(q)
        assert [n.op_type for n in q.graph.node].count("QuantizeLinear") == n_q
        (y_q,) = ort_run(q, {"x": x}, fake_quant=True)
        assert np.abs(y_q - ref["y"]).max() < 0.1 * np.abs(ref["y"]).max()
    with pytest.raises(KeyError, match="not in the graph"):
        insert_qdq(model, {"nope": 0.1})
    with pytest.raises(ValueError, match="positive"):
        insert_qdq(model, {"x": 0.0})


def _plugin_model():
    """x -> Relu -> pykit.ScaleShift (custom plugin op) -> Sigmoid -> y."""
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="pre"),
        helper.make_node("ScaleShift", ["a", "gain"], ["p"], name="plugin", domain="pykit.plugins", alpha=2.0),
        helper.make_node("Sigmoid", ["p"], ["y"], name="post"),
    ]
    graph = helper.make_graph(
        nodes, "plugged",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.ones(3, np.float32), "gain")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("pykit.plugins", 1)],
                             ir_version=9)


def test_qdq_around_plugin_node():
    model = _plugin_model()
    io = node_io_tensors(model, name="plugin")
    assert io == ["a", "p"]  # the initializer 'gain' is a weight, not an activation
    q = insert_qdq(model, {t: 0.05 for t in io})
    onnx.checker.check_model(q)
    nodes = {n.name: n for n in q.graph.node}
    plugin = nodes["plugin"]
    feeding = [n for n in q.graph.node if plugin.input[0] in n.output][0]
    assert feeding.op_type == "DequantizeLinear"
    consumer = nodes["post"]
    assert [n for n in q.graph.node if consumer.input[0] in n.output][0].op_type == "DequantizeLinear"
    assert list(plugin.output) == ["p"]  # the plugin still writes its own tensor


def test_fp16_graph_valid_and_within_fp16_error_model(mlp):
    model, ws, bs, x, ref = mlp
    h = convert_to_fp16(model)
    _valid(h)
    assert all(i.data_type == TensorProto.FLOAT16 for i in h.graph.initializer)
    assert h.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert h.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    (y16,) = ort_run(h, {"x": x})
    assert y16.dtype == np.float32
    # error model: every float16 tensor carries one rounding (relative U16): inputs, weights,
    # biases, each layer output; products accumulate in float32.
    e = np.abs(ref["x"]) * U16
    cur = "x"
    for k, (w, b) in enumerate(zip(ws, bs)):
        w = np.abs(np.asarray(w, np.float64))
        mag = np.abs(ref[cur]) + e
        acc = e @ w.T + U16 * (mag @ w.T) + U16 * np.abs(b) + w.shape[1] * U32 * (mag @ w.T)
        out = "y" if k == len(ws) - 1 else f"h{k}"
        e = acc + U16 * (np.abs(ref[out]) + acc)
        if out != "y":
            cur = f"r{k}"
    err = np.abs(y16.astype(np.float64) - ref["y"])
    assert np.all(err <= e), float((err / e).max())
    assert err.max() > 0


def test_fp16_keep_ops_and_io_types(mlp):
    model, ws, bs, x, ref = mlp
    h = convert_to_fp16(model, keep_fp32_ops=["Relu"])
    _valid(h)
    relu_inputs = {n.input[0] for n in h.graph.node if n.op_type == "Relu"}
    casts = {n.output[0]: n for n in h.graph.node if n.op_type == "Cast"}
    assert relu_inputs <= set(casts) and all(casts[t].attribute[0].i == TensorProto.FLOAT for t in relu_inputs)
    (y,) = ort_run(h, {"x": x})
    assert np.allclose(y, ref["y"], rtol=1e-2, atol=1e-2)
    h2 = convert_to_fp16(model, keep_fp32_nodes=["fc0"], keep_io_types=False)
    _valid(h2)
    assert h2.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT16
    assert h2.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT16
    (y2,) = ort_run(h2, {"x": x.astype(np.float16)})
    assert y2.dtype == np.float16 and np.allclose(y2, ref["y"], rtol=1e-2, atol=1e-2)
    with pytest.raises(KeyError):
        convert_to_fp16(model, keep_fp32_nodes=["no_such_node"])


def test_fp16_keeps_plugin_fp32_and_clips_large_constants():
    model = _plugin_model()
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.array([1e6, -1e6, 1.0], np.float32), "gain"))
    h = convert_to_fp16(model, keep_fp32_ops=["ScaleShift"])
    onnx.checker.check_model(h)
    nodes = {n.name: n for n in h.graph.node}
    producers = {o: n for n in h.graph.node for o in n.output}
    assert producers[nodes["plugin"].input[0]].op_type == "Cast"  # fp16 Relu -> Cast to float32
    assert list(nodes["plugin"].input[1:]) == ["gain"]  # its weight stays float32, unclipped
    assert numpy_helper.to_array(h.graph.initializer[0])[0] == np.float32(1e6)
    assert producers[nodes["post"].input[0]].op_type == "Cast"  # back to float16 after the plugin
    # a float16 copy of a large constant is clipped to the float16 range, not inf
    m2 = _plugin_model()
    m2.graph.node[1].CopyFrom(helper.make_node("Mul", ["a", "gain"], ["p"], name="plugin"))
    m2.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.array([1e6, -1e6, 1.0], np.float32), "gain"))
    del m2.opset_import[1]
    h2 = convert_to_fp16(m2)
    vals = numpy_helper.to_array(h2.graph.initializer[0])
    assert vals.dtype == np.float16 and np.isfinite(vals).all() and vals[0] == np.float16(65504)
