"""Scale-preserving ops (MaxPool) take their input's amax, as TensorRT 8.5's calibration does."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pykit.precision.scale_ties import SCALE_PRESERVING_OPS, tie_amax, tied_inputs

ROOT = Path(__file__).resolve().parents[2]


def _pool_model():
    """Relu -> MaxPool -> MaxPool -> Flatten, and a MaxPool straight off the graph input."""
    from onnx import TensorProto, helper

    pool = dict(kernel_shape=[2, 2], strides=[1, 1])
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p1"], **pool),
             helper.make_node("MaxPool", ["p1"], ["p2"], **pool),
             helper.make_node("Flatten", ["p2"], ["f"]),
             helper.make_node("MaxPool", ["x"], ["px"], **pool)]
    graph = helper.make_graph(nodes, "pools", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 6, 6])],
                              [helper.make_tensor_value_info("f", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("px", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def test_maxpool_outputs_take_their_inputs_amax_through_chains():
    model = _pool_model()
    assert SCALE_PRESERVING_OPS == {"MaxPool"}
    assert tied_inputs(model) == {"p1": "r", "p2": "r", "px": "x"}
    amax = {"x": 4.0, "r": 3.0, "p1": 2.5, "p2": 2.0, "f": 1.9, "px": 3.9}
    tied = tie_amax(model, amax)
    assert tied == {"x": 4.0, "r": 3.0, "p1": 3.0, "p2": 3.0, "f": 1.9, "px": 4.0}  # Flatten keeps its own
    assert amax["p1"] == 2.5  # the argument is not changed
    # an output whose source was not calibrated keeps its own value
    assert tie_amax(model, {"p1": 2.5, "p2": 2.0}) == {"p1": 2.5, "p2": 2.0}


def test_maxpool_of_quantized_input_is_on_the_same_grid():
    """Why the tie loses nothing: max pooling picks input values, so an input on the INT8 grid of
    scale s gives an output that quantizing at s leaves unchanged (checked with onnxruntime)."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    s = np.float32(np.abs(x).max() / 127)
    xq = (np.clip(np.rint(x / s), -127, 127) * s).astype(np.float32)
    session = ort.InferenceSession(_pool_model().SerializeToString(), providers=["CPUExecutionProvider"])
    f, px = session.run(["f", "px"], {"x": xq})
    for y in (f, px):
        assert np.array_equal(np.clip(np.rint(y / s), -127, 127) * s, y)


def test_recorded_tensorrt_cache_ties_maxpool_and_nothing_else_there():
    """What the tie relies on, in the H200 run's recorded numbers (digits CNN): TensorRT's amax of
    MaxPool's output is its input's; Flatten's, on the same values, is not."""
    import onnx

    recorded = json.loads((ROOT / "docs/calibration/calib-experiments.json").read_text())
    trt = recorded["sections"]["digits"]["trt_amax"]
    model = onnx.load(str(ROOT / "tests/fixtures/digits/digits_cnn.onnx"))
    (pool,) = [n for n in model.graph.node if n.op_type == "MaxPool"]
    (flat,) = [n for n in model.graph.node if n.op_type == "Flatten"]
    assert trt[pool.output[0]] == trt[pool.input[0]]
    assert trt[flat.output[0]] != pytest.approx(trt[flat.input[0]], rel=1e-3)
    for relu in (n for n in model.graph.node if n.op_type == "Relu"):
        assert trt[relu.output[0]] != pytest.approx(trt[relu.input[0]], rel=1e-3)
    assert tie_amax(model, trt) == trt


def test_sweep_ties_maxpool_for_every_algorithm():
    from pykit.precision.calibrators import EntropyCalibrator
    from pykit.precision.collect import calibrate
    from pykit.precision.sweep import amax_by_algorithm

    model = _pool_model()
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32)
    result = calibrate(model, [x], make=EntropyCalibrator, progress=False)
    untied = amax_by_algorithm(result)
    for algo, amax in amax_by_algorithm(result, model=model).items():
        assert amax["p1"] == amax["p2"] == amax["r"] == untied[algo]["r"], algo
        assert amax["px"] == amax["x"] and amax["f"] == untied[algo]["f"], algo
