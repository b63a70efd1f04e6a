"""Rewrite rule: ONNX ScatterElements with a reduction -> ScatterElementsReduce.

TensorRT 8.5/8.6 import ScatterElements but ignore ``reduction`` (silently wrong); this rule
replaces every ScatterElements whose reduction is not "none" (and, when forced with
``pykit patch --node``, any ScatterElements) by the plugin: inputs data, indices (Cast to int32
when int64), updates; attributes axis (ONNX default 0) and reduction (ONNX default "none").
"""
from __future__ import annotations

from pykit.surgeon.rules import Attr, Input, Replacement, register_replacement


def _plain(node):
    r = node.attrs.get("reduction", "none")
    return "reduction='none': the parser's plain scatter is right" if r == "none" else None


def _axis_outside_rank(node):
    """Why the node cannot be rewritten (forced or not): an axis outside data's rank has no
    meaning in ONNX, and the plugin would index out of bounds."""
    shape = node.inputs[0].shape if node.inputs else None
    if shape is None:
        return None
    axis, rank = int(node.attrs.get("axis", 0)), len(shape)
    if not -rank <= axis < rank:
        return f"axis={axis} is outside data '{node.inputs[0].name}' of rank {rank} (ONNX allows [-{rank}, {rank - 1}])"
    return None


class _ScatterReplacement(Replacement):
    def __call__(self, ctx, node, forced: bool):
        if node.op == self.op:
            reason = _axis_outside_rank(node)
            if reason:
                return reason
        return super().__call__(ctx, node, forced)


register_replacement(
    "scatter_elements_reduce",
    _ScatterReplacement(
        plugin="ScatterElementsReduce",
        op="ScatterElements",
        inputs=[Input(0), Input(1, int32=True), Input(2)],
        attrs={"axis": Attr("axis", int, 0), "reduction": Attr("reduction", str, "none")},
        when=_plain,
    ),
)
