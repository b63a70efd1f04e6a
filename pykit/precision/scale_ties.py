"""Scales TensorRT ties across a node: the output of a scale-preserving op takes its input's amax.

What this relies on (measured, not documented by NVIDIA as far as we found): in TensorRT 8.5.3's
implicit INT8 calibration on the H200 (docs/calibration/calib-experiments.json, digits CNN), the
calibration cache gives MaxPool's output exactly its input's scale (amax 9.31307 for both), while
per-tensor entropy calibration of the output gives 9.5509, 52.8 histogram bins away.  The other
ops measured there keep scales of their own: Relu (the graph rule "a Relu output takes its input's
amax" matches fewer tensors, docs/calibration/calib-experiments.md) and Flatten (a Shuffle; its
cache entry, 9.5509, is its own calibration although its values are MaxPool's).  So only MaxPool
is listed; an op joins the list when a TensorRT run shows it.

Why it is safe: max pooling selects input values, so once its input is on the INT8 grid of scale
``s``, every output value is on that grid too and quantizing the output at ``s`` changes nothing.
"""
from __future__ import annotations

__all__ = ["SCALE_PRESERVING_OPS", "tie_amax", "tied_inputs"]

#: ONNX ops whose first output TensorRT 8.5 gives its first input's scale (see the module doc)
SCALE_PRESERVING_OPS = frozenset({"MaxPool"})


def tied_inputs(model) -> dict:
    """``{output: tensor whose amax it takes}`` for the scale-preserving nodes of ``model`` (an
    onnx.ModelProto), chains followed back to the first tensor that is not so tied."""
    source: dict = {}
    for node in model.graph.node:  # ONNX graphs are topologically sorted
        if node.op_type in SCALE_PRESERVING_OPS and node.input and node.output and node.output[0]:
            src = node.input[0]
            source[node.output[0]] = source.get(src, src)
    return source


def tie_amax(model, amax: dict) -> dict:
    """``amax`` (tensor -> value) with each scale-preserving op's output given its input's value,
    where the input has one (an output whose input was not calibrated keeps its own)."""
    out = dict(amax)
    for tensor, src in tied_inputs(model).items():
        if tensor in out and src in amax:
            out[tensor] = amax[src]
    return out
