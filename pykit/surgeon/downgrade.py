"""Opset conversion past the ops onnx's version converter has no down-adapter for.

``onnx.version_converter.convert_version`` refuses a whole model when one op changed between the
model's opset and the target and has no adapter for that step down (onnx 1.17 to 1.23: Split 18 -> 17,
which every dynamo export of torch.chunk holds). For such ops DOWNGRADES rewrites the node into its
older form, where that form can express it; while the converter runs those nodes sit in a private
domain (it passes other domains through, as it does plugin nodes), and afterwards they return to the
ONNX domain. Ops a rule rewrites into a plugin (DeformConv, ...) are gone before the conversion and
need no entry.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

from pykit.surgeon.model import SurgeryError, iter_graphs, opset_of, tensor_dims, unpark

HIDDEN_DOMAIN = "pykit.downgrade"


def _split_18(graph, node, dims) -> str:
    """Split-18 -> Split-13: only `num_outputs` is new; it becomes explicit `split` sizes (ONNX: parts of
    ceil(d / n), the last one smaller), which needs the dim along `axis` to be static."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if "num_outputs" not in attrs:
        return "as is"
    n = int(attrs["num_outputs"])
    shape = dims.get(node.input[0])
    axis = int(attrs.get("axis", 0))
    d = None
    if shape is not None and -len(shape) <= axis < len(shape):
        d = shape[axis]
    if d is None:
        raise SurgeryError(f"Split node '{node.name}' (opset 18, num_outputs={n}) splits a dimension that is not static: "
                           "no opset-17 form (Split-13 needs the sizes)")
    chunk = math.ceil(d / n)
    sizes = [chunk] * (n - 1) + [d - chunk * (n - 1)]
    name = f"{node.output[0] or node.name}_split_sizes"
    graph.initializer.append(numpy_helper.from_array(np.asarray(sizes, dtype=np.int64), name))
    del node.input[1:]
    node.input.append(name)
    kept = [a for a in node.attribute if a.name != "num_outputs"]
    del node.attribute[:]
    node.attribute.extend(kept)
    return f"num_outputs={n} -> split {sizes}"


# (op, the opset version whose form the converter cannot step down from) -> rewrite into the previous form
DOWNGRADES = {("Split", 18): _split_18}


def hide_unadapted(model, target: int) -> list[str]:
    """Rewrite, in place, the nodes DOWNGRADES covers that the conversion to `target` would step
    down, and move them into HIDDEN_DOMAIN; returns what was done, one line per node."""
    opset = opset_of(model)
    if opset <= target:
        return []
    dims = None
    done = []
    for _, g in iter_graphs(model.graph):
        for node in g.node:
            if node.domain not in ("", "ai.onnx"):
                continue
            try:
                since = onnx.defs.get_schema(node.op_type, opset).since_version
            except Exception:
                continue
            fn = DOWNGRADES.get((node.op_type, since))
            if fn is None or since <= target:
                continue
            if dims is None:
                dims = tensor_dims(model)
            what = fn(g, node, dims)
            node.domain = HIDDEN_DOMAIN
            done.append(f"{node.op_type}-{since} '{node.name}' to its opset-{target} form ({what})")
    if done:
        model.opset_import.append(helper.make_opsetid(HIDDEN_DOMAIN, 1))
    return done


def restore_hidden(model) -> None:
    """Back into the ONNX domain (after the conversion)."""
    unpark(model, HIDDEN_DOMAIN)
