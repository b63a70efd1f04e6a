"""Rewrite rule: ONNX GridSample (opset 16, 20, 22) -> GridSampler (pykit's plugin).

Which nodes: every 5-D GridSample (TensorRT's native GridSample is 4-D only before 11.2), and every
GridSample of a model at opset >= 20 (TensorRT 8.x parsers stop at opset 17 and onnx's version
converter has no adapter down from GridSample-20, so such a node can neither be imported nor
converted; the plugin node converts, being of pykit's domain). A 4-D GridSample-16 is left to
TensorRT's importer unless forced (`pykit patch --node GridSample`).
Attributes: opset 16's mode names become opset 20's (bilinear -> linear, bicubic -> cubic; an
absent mode is linear in both); padding_mode and align_corners as they are.
Refused (with the reason): cubic on 5-D x (ONNX defines cubic for 4-D only; onnxruntime refuses it).
Not proven, so not rewritten: cubic with border padding where points fall within a pixel of the
image's edge: onnx.reference (this plugin's definition) clamps the coordinate, onnxruntime (the
proof's runtime, like torch) clamps each tap, and the two differ there.
"""
from __future__ import annotations

from pykit.surgeon.rules import Attr, Input, Replacement, register

OPSET16_MODES = {"bilinear": "linear", "bicubic": "cubic"}


def _mode(value) -> str:
    v = value.decode() if isinstance(value, bytes) else str(value)
    return OPSET16_MODES.get(v, v)


_REPLACEMENT = Replacement(
    plugin="GridSampler",
    op="GridSample",
    inputs=[Input(0), Input(1)],
    attrs={
        "mode": Attr("mode", convert=_mode, onnx_default="linear"),
        "padding_mode": Attr("padding_mode", onnx_default="zeros"),
        "align_corners": Attr("align_corners", convert=int, onnx_default=0),
    },
)


@register("grid_sampler", plugin="GridSampler", ops=["GridSample"])
def grid_sampler(ctx, node, forced):
    """GridSample (5-D, or any at opset >= 20) -> GridSampler; opset 16's mode names renamed."""
    x = node.inputs[0]
    rank = len(x.shape) if x.shape is not None else None
    mode = _mode(node.attrs.get("mode", "linear"))
    if rank == 5 and mode == "cubic":
        return "mode cubic on 5-D x: ONNX defines cubic for 4-D only (onnxruntime refuses it too)"
    opset = int(getattr(ctx.graph, "opset", 0) or 0)
    if rank == 4 and opset < 20 and not forced:
        return None  # 4-D GridSample-16: TensorRT imports it natively (8.5 and later)
    return _REPLACEMENT(ctx, node, forced)
