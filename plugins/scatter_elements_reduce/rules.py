"""Rewrite rule: ONNX ScatterElements with a reduction -> ScatterElementsReduce.

TensorRT 8.5/8.6 import ScatterElements but ignore ``reduction`` (silently wrong); this rule
replaces every ScatterElements whose reduction is not "none" (and, when forced with
``pykit patch --node``, any ScatterElements) by the plugin: inputs data, indices (Cast to int32
when int64), updates; attributes axis (ONNX default 0) and reduction (ONNX default "none").

Row indices: when the indices are an Expand (or a Tile) of a tensor of the same rank, as exporters
write ``scatter_add(0, idx.unsqueeze(-1).expand_as(src))`` (Reshape/Unsqueeze -> Expand(Shape(src))),
the plugin takes the tensor before the Expand with ``broadcast_indices = 1``: the kernel reads one
index per row instead of one per update element (67 MB of int32 at 1M x 16 updates). Expand's
broadcast of a same-rank tensor is dim by dim "extent 1 repeats, else equal", exactly what
broadcast_indices computes; Tile is taken where every repeated dim has extent 1 (then it is that
broadcast too). The Expand/Tile is left to its other consumers, or removed with its last one.
"""
from __future__ import annotations

import numpy as np

from pykit.surgeon.rules import Attr, Change, Input, Replacement, register, register_replacement


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


def _static_dim(d) -> bool:
    return isinstance(d, (int, np.integer)) and d >= 0


def row_index_source(node):
    """The tensor whose Expand/Tile is ScatterElements ``node``'s indices, when broadcasting it dim by
    dim gives those indices (so the plugin can take it with broadcast_indices = 1); else None."""
    from pykit.surgeon.rules import RuleContext

    indices, updates = node.inputs[1], node.inputs[2]
    if len(indices.inputs) != 1 or indices.inputs[0].op not in ("Expand", "Tile"):
        return None
    producer = indices.inputs[0]
    src = producer.inputs[0]
    if src.shape is None or updates.shape is None or len(src.shape) != len(updates.shape):
        return None  # a rank-raising Expand prepends dims: not taken
    if src.dtype is None or np.dtype(src.dtype) not in (np.dtype(np.int32), np.dtype(np.int64)):
        return None
    if producer.op == "Tile":
        repeats = RuleContext.const_value(producer.inputs[1])
        if repeats is None or repeats.size != len(src.shape):
            return None
        for r, d in zip(repeats.reshape(-1).tolist(), src.shape):
            if r != 1 and not (_static_dim(d) and d == 1):
                return None  # Tile of an extent > 1 repeats the block, which no broadcast does
    if not any(_static_dim(d) and d == 1 and not (_static_dim(u) and u == 1) for d, u in zip(src.shape, updates.shape)):
        return None  # nothing is broadcast: the indices are read as they are
    return src


class _ScatterReplacement(Replacement):
    def __call__(self, ctx, node, forced: bool):
        if node.op == self.op:
            reason = _axis_outside_rank(node)
            if reason:
                return reason
            # reduction 'none' (taken only when forced) keeps the ONNX form: with duplicate rows its
            # result is undefined, and the proof can only say so for the indices as ONNX has them
            src = row_index_source(node) if node.attrs.get("reduction", "none") != "none" else None
            if src is not None:
                return self._row_index(ctx, node, src, forced)
        return super().__call__(ctx, node, forced)

    def _row_index(self, ctx, node, src, forced):
        spec = ctx.spec(self.plugin)
        unknown = set(node.attrs) - {"axis", "reduction"}
        if unknown:
            return f"ONNX attribute(s) {sorted(unknown)} have no plugin counterpart"
        attrs = {"axis": int(node.attrs.get("axis", 0)), "reduction": node.attrs.get("reduction", "none"),
                 "broadcast_indices": 1}
        try:
            spec.resolve_attributes(attrs)
        except Exception as exc:
            return f"attributes do not fit the spec: {exc}"
        data, _, updates = node.inputs[:3]
        producer = node.inputs[1].inputs[0].op
        idx = ctx.as_int32(src, f"for {spec.name} input 'indices'")
        outs = list(node.outputs)
        name = node.name or ctx.unique(spec.name)
        ctx.detach(node)
        ctx.plugin_node(spec, [data, idx, updates], outs, attrs, name)
        shown = ", ".join(f"{k}={v!r}" for k, v in spec.resolve_attributes(attrs).items())
        return Change(ctx.rule.name, "replaced", ctx.path, [name],
                      f"{self.op} of {producer}('{src.name}' {list(src.shape)}) -> {spec.name} v{spec.version} "
                      f"({spec.namespace}) {{{shown}}}: one index per row, not one per element"
                      f"{' (forced)' if forced else ''}", plugin_node=name)


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


# ---- ScatterND with a reduction ----------------------------------------------------------------
#
# ScatterND(data, indices [..., k], updates, reduction) combines each update slice
# updates[i] (shape data.shape[k:]) into the slice data[indices[i]]. Viewed as
#     data2    = Reshape(data, [-1, S])                       S = prod(data.shape[k:])
#     row      = sum_j indices[..., j] * stride_j             stride_j = prod(data.shape[j+1:k])
#     indices2 = Reshape(row, [-1, 1])                        one index per row (broadcast_indices = 1)
#     updates2 = Reshape(updates, [-1, S])
#     out      = Reshape(ScatterElementsReduce(data2, indices2, updates2, axis=0, broadcast_indices=1), Shape(data))
# it is ScatterElements along axis 0 with the same reduction, in the same update order: exact for
# every in-range index (negative ones are outside ScatterND's domain).


def _static(dims):
    return all(isinstance(d, (int, np.integer)) and d >= 0 for d in dims)


@register("scatter_nd_reduce", plugin="ScatterElementsReduce", ops=["ScatterND"])
def scatter_nd_reduce(ctx, node, forced):
    """ScatterND with reduction add/mul/max/min -> row-wise ScatterElementsReduce over reshaped data."""
    import onnx_graphsurgeon as gs

    reduction = node.attrs.get("reduction", "none")
    if reduction == "none":
        return None  # the parser's plain ScatterND is right (and PillarScatter's rule takes canvases)
    data, indices, updates = node.inputs[:3]
    if data.shape is None or indices.shape is None:
        return "data or indices has no known shape (run shape inference)"
    rank = len(data.shape)
    k = indices.shape[-1] if len(indices.shape) else None
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= rank:
        return f"the last dim of indices ({k}) is not static in [1, {rank}] (data rank {rank})"
    k = int(k)
    if not _static(data.shape[1:]):
        return f"data.shape[1:] = {list(data.shape[1:])} is not static: the row strides cannot be built"
    dims = [int(d) for d in data.shape[1:]]
    slice_size = int(np.prod(dims[k - 1:], dtype=np.int64))
    strides = [int(np.prod(dims[j:k - 1], dtype=np.int64)) for j in range(k)]
    rows = int(np.prod(data.shape, dtype=np.int64)) // slice_size if _static(data.shape) and slice_size else None
    if rows is not None and rows > 2**31 - 1:
        return f"data has {rows} rows of {slice_size}: the row index does not fit in int32"
    spec = ctx.spec()
    i32 = np.int32
    idx = ctx.as_int32(indices, f"for {spec.name} input 'indices'")
    lead = list(indices.shape[:-1])
    row = None
    for j in range(k):
        col = ctx.add_node("Gather", [idx, ctx.constant("col", np.asarray(j, np.int64))], i32, lead,
                           {"axis": len(indices.shape) - 1}, "nd_col")
        if strides[j] != 1:
            col = ctx.add_node("Mul", [col, ctx.constant("stride", np.asarray(strides[j], i32))], i32, lead, name="nd_stride")
        row = col if row is None else ctx.add_node("Add", [row, col], i32, lead, name="nd_row")
    n = int(np.prod(lead, dtype=np.int64)) if _static(lead) else None
    idx2 = ctx.add_node("Reshape", [row, ctx.constant("shape", np.asarray([-1, 1], np.int64))], i32, [n, 1], name="nd_rows")
    flat = ctx.constant("shape", np.asarray([-1, slice_size], np.int64))
    data2 = ctx.add_node("Reshape", [data, flat], data.dtype, [rows, slice_size], name="nd_data")
    upd2 = ctx.add_node("Reshape", [updates, flat], updates.dtype, [n, slice_size], name="nd_updates")
    out2 = gs.Variable(ctx.unique("nd_scattered"), dtype=data.dtype, shape=[rows, slice_size])
    name = f"{node.name}/ScatterElementsReduce" if node.name else ctx.unique("ScatterElementsReduce")
    out = node.outputs[0]
    shape_of = ctx.add_node("Shape", [data], np.int64, [rank], name="nd_shape")
    ctx.detach(node)
    ctx.plugin_node(spec, [data2, idx2, upd2], [out2], {"axis": 0, "reduction": reduction, "broadcast_indices": 1}, name)
    ctx.graph.nodes.append(gs.Node("Reshape", ctx.unique("nd_out"), inputs=[out2, shape_of], outputs=[out]))
    return Change(ctx.rule.name, "replaced", ctx.path, [node.name or "ScatterND"],
                  f"ScatterND(reduction={reduction!r}, k={k}) -> ScatterElementsReduce v{spec.version} ({spec.namespace}) "
                  f"{{axis=0, reduction={reduction!r}, broadcast_indices=1}} over data as [rows, {slice_size}], row index "
                  f"= indices . {strides}{' (forced)' if forced else ''}", plugin_node=name)
