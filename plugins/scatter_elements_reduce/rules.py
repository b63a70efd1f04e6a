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


register_replacement(
    "scatter_elements_reduce",
    Replacement(
        plugin="ScatterElementsReduce",
        op="ScatterElements",
        inputs=[Input(0), Input(1, int32=True), Input(2)],
        attrs={"axis": Attr("axis", int, 0), "reduction": Attr("reduction", str, "none")},
        when=_plain,
    ),
)
