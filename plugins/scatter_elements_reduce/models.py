"""ScatterElementsReduce's example model, built in code: :func:`scatter_reduce_model`,
ScatterElements(reduction="add") with int64 indices, plus a Relu after it (opset 16, where
reduction add/mul first appear).
"""
from __future__ import annotations

import numpy as np

from pykit.surgeon.models import finish


def demos(seed: int = 0) -> dict:
    """The models `pykit demo` inspects, patches and proves, by file name."""
    return {"scatter_elements_add": scatter_reduce_model()}


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
    return finish(graph, opset, 8, specs, f"ScatterElements(reduction={reduction}) -> Relu")
