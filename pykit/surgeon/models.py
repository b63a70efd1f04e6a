"""Example models built in code (no downloads).

* :func:`pointpillars_like`: pillar feature net (MatMul "linear" -> BatchNormalization -> ReLU ->
  ReduceMax over the points of a pillar) -> ScatterND of the pillar features into a zero BEV canvas
  (linear cell index (b*ny + y)*nx + x computed from int32 coords via Cast/Gather/Mul/Add, as
  PyTorch exports ``canvas.index_put_(idx, feats, accumulate=True)``: reduction "add") -> Reshape/Transpose to NCHW -> a small conv head
  with two outputs (class scores, boxes). Opset 17, IR 8: TensorRT 8.5's limits.
* :func:`scatter_reduce_model`: ScatterElements(reduction="add") with int64 indices, plus a Relu
  after it (opset 16, where reduction add/mul first appear).

Each model carries ``pykit.input_specs`` metadata (JSON): how to draw valid random inputs (the
pillar coords are unique cells inside the canvas; scatter indices lie inside the axis).
"""
from __future__ import annotations

import json

import numpy as np

INPUT_SPECS_KEY = "pykit.input_specs"


def _init(name, array):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(array), name)


def _finish(graph, opset: int, ir: int, specs: dict, name: str):
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="pykit.surgeon.models")
    model.ir_version = ir
    model.doc_string = name
    helper.set_model_props(model, {INPUT_SPECS_KEY: json.dumps(specs)})
    onnx.checker.check_model(model, full_check=True)
    return model


def pointpillars_like(pillars: int = 256, points: int = 8, point_features: int = 9, channels: int = 16,
                      nx: int = 32, ny: int = 24, batch_column: bool = True, canvas: str = "constant_of_shape",
                      reduction: str = "add", seed: int = 0):
    """The PointPillars-like model; ``batch_column=False`` computes the cell index from (y, x) only;
    ``canvas``: "constant_of_shape" (as exporters emit) or "initializer" (an all-zero initializer);
    ``reduction``: "add" is what ``canvas.index_put_(idx, feats, accumulate=True)`` exports (TensorRT
    8.5/8.6 ignore it, 10.x rejects it), "none" what ``canvas[:, idx] = feats`` exports."""
    from onnx import TensorProto as T
    from onnx import helper as h

    rng = np.random.default_rng(seed)
    P, N, F, C = pillars, points, point_features, channels
    W = (rng.standard_normal((F, C)) / np.sqrt(F)).astype(np.float32)
    gamma = rng.uniform(0.5, 1.5, C).astype(np.float32)
    beta = (0.1 * rng.standard_normal(C)).astype(np.float32)
    mean = (0.1 * rng.standard_normal(C)).astype(np.float32)
    var = rng.uniform(0.5, 2.0, C).astype(np.float32)
    w1 = (rng.standard_normal((C, C, 3, 3)) / np.sqrt(9 * C)).astype(np.float32)
    b1 = (0.05 * rng.standard_normal(C)).astype(np.float32)
    w_cls = (rng.standard_normal((2, C, 1, 1)) / np.sqrt(C)).astype(np.float32)
    w_box = (rng.standard_normal((7, C, 1, 1)) / np.sqrt(C)).astype(np.float32)
    inits = [_init("pfn.linear.weight", W), _init("pfn.norm.weight", gamma), _init("pfn.norm.bias", beta),
             _init("pfn.norm.running_mean", mean), _init("pfn.norm.running_var", var),
             _init("head.conv.weight", w1), _init("head.conv.bias", b1),
             _init("head.cls.weight", w_cls), _init("head.box.weight", w_box),
             _init("col_b", np.array(0, np.int64)), _init("col_y", np.array(2, np.int64)),
             _init("col_x", np.array(3, np.int64)), _init("nx_i64", np.array(nx, np.int64)),
             _init("nynx_i64", np.array(ny * nx, np.int64)), _init("unsq_axes", np.array([1], np.int64)),
             _init("bev_shape", np.array([1, ny, nx, C], np.int64))]
    nodes = [
        h.make_node("MatMul", ["pillars", "pfn.linear.weight"], ["pfn_lin"], name="pfn/linear"),
        h.make_node("Transpose", ["pfn_lin"], ["pfn_lin_t"], perm=[0, 2, 1], name="pfn/to_pcn"),
        h.make_node("BatchNormalization", ["pfn_lin_t", "pfn.norm.weight", "pfn.norm.bias", "pfn.norm.running_mean",
                                           "pfn.norm.running_var"], ["pfn_bn"], epsilon=1e-3, name="pfn/norm"),
        h.make_node("Relu", ["pfn_bn"], ["pfn_relu"], name="pfn/relu"),
        h.make_node("ReduceMax", ["pfn_relu"], ["pillar_features"], axes=[2], keepdims=0, name="pfn/max"),
        h.make_node("Cast", ["coords"], ["coords_i64"], to=T.INT64, name="scatter/coords_i64"),
        h.make_node("Gather", ["coords_i64", "col_y"], ["cy"], axis=1, name="scatter/y"),
        h.make_node("Gather", ["coords_i64", "col_x"], ["cx"], axis=1, name="scatter/x"),
        h.make_node("Mul", ["cy", "nx_i64"], ["cy_nx"], name="scatter/y_times_nx"),
        h.make_node("Add", ["cy_nx", "cx"], ["cell_yx"], name="scatter/add_x"),
    ]
    cell = "cell_yx"
    if batch_column:
        nodes += [h.make_node("Gather", ["coords_i64", "col_b"], ["cb"], axis=1, name="scatter/b"),
                  h.make_node("Mul", ["cb", "nynx_i64"], ["cb_off"], name="scatter/b_times_nynx"),
                  h.make_node("Add", ["cb_off", "cell_yx"], ["cell"], name="scatter/add_b")]
        cell = "cell"
    nodes.append(h.make_node("Unsqueeze", [cell, "unsq_axes"], ["cell_idx"], name="scatter/index"))
    if canvas == "initializer":
        inits.append(_init("bev_zeros", np.zeros((ny * nx, C), np.float32)))
    else:
        inits.append(_init("canvas_shape", np.array([ny * nx, C], np.int64)))
        nodes.append(h.make_node("ConstantOfShape", ["canvas_shape"], ["bev_zeros"],
                                 value=h.make_tensor("zero", T.FLOAT, [1], [0.0]), name="scatter/canvas"))
    nodes += [
        h.make_node("ScatterND", ["bev_zeros", "cell_idx", "pillar_features"], ["bev_flat"], name="scatter/scatter_nd",
                    **({} if reduction == "none" else {"reduction": reduction})),
        h.make_node("Reshape", ["bev_flat", "bev_shape"], ["bev_nhwc"], name="scatter/reshape"),
        h.make_node("Transpose", ["bev_nhwc"], ["bev"], perm=[0, 3, 1, 2], name="scatter/to_nchw"),
        h.make_node("Conv", ["bev", "head.conv.weight", "head.conv.bias"], ["head_c"], pads=[1, 1, 1, 1],
                    kernel_shape=[3, 3], name="head/conv"),
        h.make_node("Relu", ["head_c"], ["head_r"], name="head/relu"),
        h.make_node("Conv", ["head_r", "head.cls.weight"], ["cls"], kernel_shape=[1, 1], name="head/cls"),
        h.make_node("Conv", ["head_r", "head.box.weight"], ["box"], kernel_shape=[1, 1], name="head/box"),
    ]
    graph = h.make_graph(
        nodes, "pointpillars_like",
        [h.make_tensor_value_info("pillars", T.FLOAT, [P, N, F]), h.make_tensor_value_info("coords", T.INT32, [P, 4])],
        [h.make_tensor_value_info("cls", T.FLOAT, [1, 2, ny, nx]), h.make_tensor_value_info("box", T.FLOAT, [1, 7, ny, nx])],
        inits)
    specs = {"pillars": {"kind": "normal"},
             "coords": {"kind": "int", "low": [0, 0, 0, 0], "high": [1, 1, ny, nx], "unique_rows": True}}
    return _finish(graph, 17, 8, specs, "PointPillars-like: pillar feature net, ScatterND to BEV, conv head")


def scatter_reduce_model(shape=(6, 5), updates_shape=(8, 5), axis: int = 0, reduction: str = "add",
                         opset: int = 16, index_dtype=np.int64):
    """ScatterElements(data, indices, updates, axis, reduction) -> Relu."""
    from onnx import TensorProto as T
    from onnx import helper as h

    itype = T.INT64 if np.dtype(index_dtype) == np.int64 else T.INT32
    graph = h.make_graph(
        [h.make_node("ScatterElements", ["data", "indices", "updates"], ["scattered"], axis=axis,
                     reduction=reduction, name="scatter_reduce"),
         h.make_node("Relu", ["scattered"], ["out"], name="relu")],
        "scatter_reduce",
        [h.make_tensor_value_info("data", T.FLOAT, list(shape)), h.make_tensor_value_info("indices", itype, list(updates_shape)),
         h.make_tensor_value_info("updates", T.FLOAT, list(updates_shape))],
        [h.make_tensor_value_info("out", T.FLOAT, list(shape))])
    dim = shape[axis]
    # values in [-1, 1]: the domain ScatterElementsReduce's error model (spec.toml) is derived for
    specs = {"indices": {"kind": "int", "low": -dim, "high": dim}, "data": {"kind": "uniform", "low": -1, "high": 1},
             "updates": {"kind": "uniform", "low": -1, "high": 1}}
    return _finish(graph, opset, 8, specs, f"ScatterElements(reduction={reduction}) -> Relu")
