"""PillarScatter's example models.

`pykit demo` starts from a real export (issue #11 item 7): ``demo/model.onnx`` is seed 003's
PointPillars middle feature extractor (``canvas.scatter(1, idx.unsqueeze(0).expand(C, -1), voxels.t())``)
between a pillar feature net and a small detection head, written by torch.onnx.export at opset 10,
where the scatter is the ``Scatter`` op TensorRT 7.1 had no importer for
(``scripts/export_corpus.py``; provenance in demo/PROVENANCE.md, torch's outputs in demo/data.npz).
TensorRT 8.5 imports it, slower than PillarScatter, so the demo forces the rewrite (``FORCE``) and
proves it on the stored inputs.

:func:`pointpillars_like` builds a PointPillars-like graph in code (ScatterND form, reductions,
batch column on/off): the surgery tests' fixture for shapes the export does not cover.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pykit.surgeon.models import finish, initializer

DEMO = Path(__file__).resolve().parent / "demo"


def demos(seed: int = 0) -> dict:
    """The models `pykit demo` inspects, patches and proves, by file name."""
    import json

    import onnx
    from onnx import helper

    from pykit.surgeon.models import INPUT_SPECS_KEY

    model = onnx.load(str(DEMO / "model.onnx"))
    model.doc_string = ("seed 003's PointPillars (pillar feature net, canvas.scatter at opset 10, SECOND block, "
                        "Anchor3DHead convs), exported by torch.onnx.export: demo/PROVENANCE.md")
    # how pykit draws valid random inputs for it (validate --model): unique (y, x) cells in the canvas
    ny, nx = model.graph.output[0].type.tensor_type.shape.dim[2].dim_value, model.graph.output[0].type.tensor_type.shape.dim[3].dim_value
    helper.set_model_props(model, {INPUT_SPECS_KEY: json.dumps({
        "pillars": {"kind": "normal"},
        "coords": {"kind": "int", "low": [0, 0, 0, 0], "high": [1, 1, ny, nx], "unique_rows": True}})})
    return {"pointpillars_seed003": model}


# What `pykit demo` rewrites although TensorRT imports it (patch_model's ``force``: op types or node
# names), by demo model: TensorRT 8.5 imports Scatter correctly, but slower than PillarScatter.
FORCE = {"pointpillars_seed003": ["Scatter"]}

# Stored inputs and expected outputs (torch's) the demo compares on, by demo model.
DATA = {"pointpillars_seed003": DEMO / "data.npz"}


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
    inits = [initializer("pfn.linear.weight", W), initializer("pfn.norm.weight", gamma), initializer("pfn.norm.bias", beta),
             initializer("pfn.norm.running_mean", mean), initializer("pfn.norm.running_var", var),
             initializer("head.conv.weight", w1), initializer("head.conv.bias", b1),
             initializer("head.cls.weight", w_cls), initializer("head.box.weight", w_box),
             initializer("col_b", np.array(0, np.int64)), initializer("col_y", np.array(2, np.int64)),
             initializer("col_x", np.array(3, np.int64)), initializer("nx_i64", np.array(nx, np.int64)),
             initializer("nynx_i64", np.array(ny * nx, np.int64)), initializer("unsq_axes", np.array([1], np.int64)),
             initializer("bev_shape", np.array([1, ny, nx, C], np.int64))]
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
        inits.append(initializer("bev_zeros", np.zeros((ny * nx, C), np.float32)))
    else:
        inits.append(initializer("canvas_shape", np.array([ny * nx, C], np.int64)))
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
    return finish(graph, 17, 8, specs, "PointPillars-like: pillar feature net, ScatterND to BEV, conv head")
