"""Rewrite rule: the PointPillars scatter subgraph -> one PillarScatter node.

Every PointPillars export of the corpus (docs/corpus.md, "What pykit takes"): the row form below; the
[C, cells] canvas written per element (mmdet3d's legacy ScatterND with (channel, cell) indices, seed
003's Scatter/ScatterElements with the cell index expanded over the channels; forced at 8.5, which
imports those two natively); and the batch form (per-sample Equal mask -> NonZero -> GatherND, one
scatter per sample, stacked), fused into one node with batch_size. The new forms are found by what
they compute (a zero canvas, a linear cell index somewhere above the indices, a Reshape to
[B, C, ny, nx]); patch's proof (pykit.surgeon.proof) rules out look-alikes.

Row form (what PyTorch exports for ``canvas[:, idx] = feats`` / OpenPCDet-style scatters):

    canvas  = zeros [B*ny*nx, C]              (initializer, Constant or ConstantOfShape of 0)
    cell    = (b*ny + y)*nx + x  or  y*nx + x  (Add/Mul of Gather(coords, column, axis=1); coords int32
                                                or Cast to int64)
    index   = Unsqueeze(cell, [1]) | Reshape(cell, [-1, 1])
    bev     = ScatterND(canvas, index, feats [P, C])          (reduction none, or add: index_put_ with
                                                               accumulate=True)
    out     = Transpose(Reshape(bev, [B, ny, nx, C]), [0, 3, 1, 2])     -> [B, C, ny, nx]
         or = Reshape(Transpose(bev, [1, 0]), [1, C, ny, nx])            (B = 1)

becomes ``out = PillarScatter(Unsqueeze(feats, [0]), coords32, num_valid=P; nx, ny, batch_size=B)``. coords32
is (b, 0, y, x) recomputed from the int32 cell index itself: b = cell // (ny*nx), y = (cell // nx) % ny,
x = cell % nx. So the plugin writes exactly the cell the original writes, also where the coords do not
say it directly: a coords column the index ignores (the batch column when B = 1, z) and x >= nx (the
index wraps into the next row; PillarScatter would skip such a pillar if fed the coords as they are).

Semantics: equal on every input the original accepts (cells inside the canvas) whose cells are
unique, which pillar voxelization guarantees (one pillar per cell). Out of range cells make
ScatterND fail; PillarScatter skips them. With duplicate cells, reduction none leaves the winner
undefined in ONNX (PillarScatter keeps the last pillar, as onnxruntime's sequential ScatterND does)
and reduction add sums them (PillarScatter does not): "add" into a zero canvas equals assignment
only for unique cells, and the change line says so.
"""
from __future__ import annotations

import numpy as np

from pykit.surgeon.rules import Change, register


def _producer(t):
    return t.inputs[0] if len(t.inputs) == 1 else None


def _scalar(ctx, t):
    v = ctx.const_value(t)
    if v is None or v.size != 1 or v.dtype.kind not in "iu":
        return None
    return int(v.reshape(-1)[0])


def _linear(ctx, t, depth=0):
    """t as sum(mult[col] * src[:, col]): (src, {col: mult}) or None."""
    if depth > 8:
        return None
    p = _producer(t)
    if p is None:
        return None
    if p.op == "Cast":
        return _linear(ctx, p.inputs[0], depth + 1)
    if p.op == "Gather" and len(p.inputs) == 2:
        col = _scalar(ctx, p.inputs[1])
        if col is None or p.attrs.get("axis", 0) != 1:
            return None
        return p.inputs[0], {col: 1}
    if p.op == "Mul":
        for a, b in ((0, 1), (1, 0)):
            c = _scalar(ctx, p.inputs[b])
            if c is not None:
                inner = _linear(ctx, p.inputs[a], depth + 1)
                if inner is None:
                    return None
                return inner[0], {k: v * c for k, v in inner[1].items()}
        return None
    if p.op == "Add":
        left, right = _linear(ctx, p.inputs[0], depth + 1), _linear(ctx, p.inputs[1], depth + 1)
        if left is None or right is None or left[0] is not right[0] or set(left[1]) & set(right[1]):
            return None
        return left[0], {**left[1], **right[1]}
    return None


def _index_source(ctx, t):
    """The [P] cell tensor under Unsqueeze(axes=[1]/[-1]) or Reshape([-1, 1]/[P, 1])."""
    p = _producer(t)
    if p is None:
        return None
    if p.op == "Unsqueeze":
        axes = p.attrs.get("axes")
        if axes is None and len(p.inputs) > 1:
            v = ctx.const_value(p.inputs[1])
            axes = None if v is None else v.reshape(-1).tolist()
        return p.inputs[0] if axes in ([1], [-1]) else None
    if p.op == "Reshape":
        v = ctx.const_value(p.inputs[1])
        return p.inputs[0] if v is not None and v.size == 2 and int(v.reshape(-1)[1]) == 1 else None
    return None


def _only_consumer(t, op):
    if len(t.outputs) != 1 or t.outputs[0].op != op:
        return None
    return t.outputs[0]


def _tail(ctx, bev, graph_outputs, B, ny, nx, C):
    """(nodes of the tail, NCHW output tensor) or a reason string."""
    if id(bev) in graph_outputs:
        return "the scattered canvas is a graph output"
    r = _only_consumer(bev, "Reshape")
    if r is not None:
        shape = ctx.const_value(r.inputs[1])
        tr = _only_consumer(r.outputs[0], "Transpose") if id(r.outputs[0]) not in graph_outputs else None
        if shape is None or tr is None or list(tr.attrs.get("perm", [])) != [0, 3, 1, 2]:
            return "not followed by Reshape [B, ny, nx, C] + Transpose [0, 3, 1, 2]"
        want = [B, ny, nx, C]
        got = shape.reshape(-1).tolist()
        if len(got) != 4 or any(g not in (w, -1) for g, w in zip(got, want)) or got.count(-1) > 1:
            return f"Reshape to {got}, not [B={B}, ny={ny}, nx={nx}, C={C}]"
        return [r, tr], tr.outputs[0]
    t = _only_consumer(bev, "Transpose")
    if t is not None and list(t.attrs.get("perm", [])) == [1, 0] and id(t.outputs[0]) not in graph_outputs:
        r = _only_consumer(t.outputs[0], "Reshape")
        shape = None if r is None else ctx.const_value(r.inputs[1])
        if shape is not None and B == 1 and shape.reshape(-1).tolist() in ([1, C, ny, nx], [1, -1, ny, nx], [1, C, ny, -1]):
            return [t, r], r.outputs[0]
    return "not followed by Reshape/Transpose to NCHW [B, C, ny, nx]"


@register("pillar_scatter", plugin="PillarScatter", ops=["ScatterND"], forced_only=["ScatterElements", "Scatter"])
def pillar_scatter(ctx, node, forced):
    """A scatter of pillar features into a zero BEV canvas ([cells, C] or [C, cells], one per sample
    stacked) reshaped to NCHW -> PillarScatter."""
    reduction = node.attrs.get("reduction", "none")
    if reduction not in ("none", "add"):
        return f"reduction '{reduction}' into a zero canvas is not an assignment"
    if node.op != "ScatterND":
        # TensorRT 8.5 imports Scatter/ScatterElements (pykit/data/trt_8.5.json): rewritten for speed only
        return _channel_major(ctx, node) if forced else None
    canvas, index, feats = node.inputs[:3]
    value = ctx.const_value(canvas)
    if value is None or np.any(value) or value.ndim != 2:
        return "data is not an all-zero [cells, C] canvas"
    batch = _batch(ctx, node)
    if batch is not None:
        return batch
    if _index_source(ctx, index) is None:
        return _channel_major(ctx, node)
    cells, C = value.shape
    if feats.shape is not None and (len(feats.shape) != 2 or feats.shape[1] != C):
        return f"updates {feats.shape} are not [P, C={C}] pillar features"
    flat = _index_source(ctx, index)
    lin = _linear(ctx, flat) if flat is not None else None
    if lin is None:
        return "indices are not a linear cell index built from Gather(coords, column, axis=1)"
    src, mult = lin
    by_mult = sorted(mult.items(), key=lambda kv: kv[1])
    if len(by_mult) not in (2, 3) or by_mult[0][1] != 1:
        return f"cell index {mult} is not y*nx + x (+ b*ny*nx)"
    nx = by_mult[1][1]  # by_mult: (x column, 1), (y column, nx)[, (b column, ny*nx)]
    bcol = by_mult[2][0] if len(by_mult) == 3 else None
    if bcol is not None:
        if by_mult[2][1] % nx:
            return f"batch multiplier {by_mult[2][1]} is not a multiple of nx={nx}"
        ny = by_mult[2][1] // nx
        if cells % (ny * nx):
            return f"canvas of {cells} cells is not B*ny*nx with ny={ny}, nx={nx}"
        B = cells // (ny * nx)
    else:
        if cells % nx:
            return f"canvas of {cells} cells is not ny*nx with nx={nx}"
        ny, B = cells // nx, 1
    graph_outputs = {id(t) for t in ctx.graph.outputs}
    tail = _tail(ctx, node.outputs[0], graph_outputs, B, ny, nx, C)
    if isinstance(tail, str):
        return tail
    tail_nodes, out = tail
    if src.shape is not None and len(src.shape) != 2:
        return f"coords {src.name} has shape {src.shape}, not [P, K]"

    if cells > np.iinfo(np.int32).max:
        return f"canvas of {cells} cells: the cell index does not fit PillarScatter's int32 coords"
    # (b, 0, y, x) from the linear cell index itself: exact wherever the original is defined, including
    # coords whose x >= nx (the index wraps into the next row) and columns the index ignores
    cell = ctx.as_int32(flat, "for PillarScatter coords")
    P0 = src.shape[0] if src.shape else "P"

    b_ = ctx.add_node("Div", [cell, ctx.constant("cell_b_k", np.array(ny * nx, np.int32))], np.int32, [P0], name="cell_b")
    coords = _coords_from_cell(ctx, cell, nx, ny, P0, b=b_)
    index = " + ".join(f"{m}*{src.name}[:, {col}]" if m != 1 else f"{src.name}[:, {col}]"
                       for col, m in reversed(by_mult))
    layout = f"(b, 0, y, x) from the cell index {index}" + \
        ("" if bcol is not None else ", batch 0: the index has no batch term")
    return _emit(ctx, [node] + tail_nodes, feats, coords, out, nx, ny, B, C, f"coords {layout}"
                 + ("; reduction add into zeros == assignment for unique cells (one pillar per cell)" if reduction == "add" else ""))


# ---- the forms other exporters write (docs/corpus.md): found by what they compute, proven by patch ----

def _upstream(t, accept, limit=64):
    """The first tensor above ``t`` (breadth first, ``t`` included) for which ``accept`` returns a value."""
    todo, seen = [t], set()
    while todo and len(seen) < limit:
        t = todo.pop(0)
        if id(t) in seen:
            continue
        seen.add(id(t))
        got = accept(t)
        if got is not None:
            return got
        if len(t.inputs) == 1:
            todo.extend(x for x in t.inputs[0].inputs if x.name)
    return None


def _cell(ctx, index):
    """(cell tensor, coords-like source, {column: multiplier}): the linear cell index the scatter's
    indices are built from (at least two coords columns)."""
    def accept(t):
        lin = _linear(ctx, t)
        return (t, *lin) if lin is not None and len(lin[1]) >= 2 else None
    return _upstream(index, accept)


def _features(updates, C):
    """The [P, C] pillar features a [C, cells] canvas's updates are built from: the input of a
    Transpose [1, 0] above them."""
    def accept(t):
        if t.shape is None or len(t.shape) != 2 or t.shape[1] != C:
            return None
        transposed = any(n.op == "Transpose" and list(n.attrs.get("perm", [])) == [1, 0] for n in t.outputs)
        return t if transposed else None
    return _upstream(updates, accept)


def _chain(t, graph_outputs, ops=("Reshape", "Transpose", "Unsqueeze", "Squeeze")):
    """Follow single consumers of the layout ops ``ops`` from ``t``: (nodes, last tensor)."""
    nodes = []
    while id(t) not in graph_outputs and len(t.outputs) == 1 and t.outputs[0].op in ops:
        nodes.append(t.outputs[0])
        t = t.outputs[0].outputs[0]
    return nodes, t


def _nchw(ctx, nodes, B, C, cells):
    """(ny, nx) from the last Reshape of ``nodes`` to [B, C, ny, nx], or None."""
    r = next((n for n in reversed(nodes) if n.op == "Reshape"), None)
    shape = None if r is None else ctx.const_value(r.inputs[1])
    if shape is None or shape.size != 4:
        return None
    got = [int(v) for v in shape.reshape(-1)]
    if got.count(-1) == 1:
        known = int(np.prod([g for g in got if g != -1]))
        got[got.index(-1)] = B * C * cells // known if known else 0
    if got[:2] != [B, C] or got[2] * got[3] != cells or 0 in got:
        return None
    return got[2], got[3]


def _unsqueeze(ctx, t, axis, dtype, shape, name=""):
    """Unsqueeze in the graph's opset: axes an attribute before opset 13, an input from 13 on."""
    if (ctx.graph.opset or 13) < 13:
        return ctx.add_node("Unsqueeze", [t], dtype, shape, attrs={"axes": [axis]}, name=name)
    return ctx.add_node("Unsqueeze", [t, ctx.constant("axes", np.array([axis], np.int64))], dtype, shape, name=name)


def _coords_from_cell(ctx, cell, nx, ny, P0, b=None):
    """[P, 4] int32 (b, 0, y, x) with y, x from the cell index taken modulo ny*nx (a negative index
    counts from the end, as ScatterElements and onnxruntime's ScatterND read it); b 0 when not given."""
    def op(kind, a, k, name):
        return ctx.add_node(kind, [a, ctx.constant(name + "_k", np.array(k, np.int32))], np.int32, [P0], name=name)
    cell = op("Mod", cell, ny * nx, "cell_in_canvas")  # ONNX integer Mod (fmod=0) takes the divisor's sign
    b_ = op("Mul", cell, 0, "cell_b") if b is None else b
    y_ = op("Mod", op("Div", cell, nx, "cell_row"), ny, "cell_y")
    x_ = op("Mod", cell, nx, "cell_x")
    z_ = op("Mul", cell, 0, "cell_z")
    cols = [_unsqueeze(ctx, t, 1, np.int32, [P0, 1]) for t in (b_, z_, y_, x_)]
    return ctx.add_node("Concat", cols, np.int32, [P0, 4], attrs={"axis": 1}, name="coords_bzyx")


def _emit(ctx, replaced, feats, coords, out, nx, ny, B, C, detail):
    spec = ctx.spec("PillarScatter")
    P = feats.shape[0] if feats.shape is not None else None
    if isinstance(P, (int, np.integer)):
        num_valid = ctx.constant("num_valid", np.array([P], np.int32))
    else:
        shape = ctx.add_node("Shape", [feats], np.int64, [2], name="num_pillars_shape")
        first = ctx.add_node("Gather", [shape, ctx.constant("zero", np.array([0], np.int64))], np.int64, [1], attrs={"axis": 0})
        num_valid = ctx.add_node("Cast", [first], np.int32, [1], attrs={"to": 6}, name="num_valid")
    feats_1pc = _unsqueeze(ctx, feats, 0, feats.dtype or np.float32, [1, P if P is not None else "P", C], "features_1pc")
    node = replaced[0]
    names = [n.name for n in replaced]
    ctx.detach(*replaced)
    name = f"{node.name}/PillarScatter" if node.name else ctx.unique("PillarScatter")
    ctx.plugin_node(spec, [feats_1pc, coords, num_valid], [out], {"nx": nx, "ny": ny, "batch_size": B}, name)
    return Change(ctx.rule.name, "fused", ctx.path, names,
                  f"PillarScatter v{spec.version} ({spec.namespace}) nx={nx} ny={ny} batch_size={B}, num_valid=P, {detail}",
                  plugin_node=name)


def _index_text(src, mult):
    return " + ".join(f"{m}*{src.name}[:, {c}]" if m != 1 else f"{src.name}[:, {c}]"
                      for c, m in sorted(mult.items(), key=lambda kv: -kv[1]))


def _channel_major(ctx, node):
    """A [C, cells] zero canvas written per element: ScatterND with [C, P, 2] (channel, cell) indices
    (mmdet3d's legacy export) or Scatter/ScatterElements on axis 1 with the cell index expanded over
    the channels (seed 003's ``canvas.scatter(1, idx.unsqueeze(0).expand(C, -1), voxels.t())``); then
    Reshape to [1, C, ny, nx]."""
    canvas, index, updates = node.inputs[:3]
    value = ctx.const_value(canvas)
    if value is None or np.any(value) or value.ndim != 2:
        return "data is not an all-zero [C, cells] canvas"
    C, cells = value.shape
    if node.op != "ScatterND" and int(node.attrs.get("axis", 0)) not in (1, -1):
        return f"{node.op} on axis {node.attrs.get('axis', 0)}, not the cells axis of a [C, cells] canvas"
    if node.op == "ScatterND" and index.shape is not None and (len(index.shape) != 3 or index.shape[-1] != 2):
        return f"indices {index.shape} are neither [P, 1] cells nor [C, P, 2] (channel, cell) pairs"
    found = _cell(ctx, index)
    if found is None:
        return "indices are not built from a linear cell index over Gather(coords, column, axis=1)"
    cell, src, mult = found
    feats = _features(updates, C)
    if feats is None:
        return f"updates are not [P, C={C}] pillar features (transposed)"
    graph_outputs = {id(t) for t in ctx.graph.outputs}
    tail, out = _chain(node.outputs[0], graph_outputs, ops=("Reshape",))
    size = _nchw(ctx, tail, 1, C, cells) if tail else None
    if size is None:
        return f"not followed by Reshape to [1, C={C}, ny, nx] with ny*nx = {cells}"
    ny, nx = size
    P0 = src.shape[0] if src.shape else "P"
    coords = _coords_from_cell(ctx, ctx.as_int32(cell, "for PillarScatter coords"), nx, ny, P0)
    return _emit(ctx, [node] + tail, feats, coords, out, nx, ny, 1, C,
                 f"[C, cells] canvas, coords (b, 0, y, x) from the cell index {_index_text(src, mult)}, batch 0")


def _mask(ctx, t, coords):
    """(column, sample) where ``t``'s rows are coords rows with coords[:, column] == sample (an Equal
    above a NonZero), else None."""
    def accept(x):
        if len(x.inputs) != 1 or x.inputs[0].op != "Equal":
            return None
        eq = x.inputs[0]
        for a, k in ((0, 1), (1, 0)):
            g, v = eq.inputs[a], _scalar(ctx, eq.inputs[k])
            if v is None or len(g.inputs) != 1 or g.inputs[0].op != "Gather" or g.inputs[0].attrs.get("axis", 0) != 1:
                continue
            if g.inputs[0].inputs[0] is coords and _scalar(ctx, g.inputs[0].inputs[1]) is not None:
                return _scalar(ctx, g.inputs[0].inputs[1]), v
        return None
    return _upstream(t, accept)


def _sample(ctx, scatter):
    """What one per-sample scatter of the batch form reads: (coords, voxels, column, sample, mult, C)."""
    if scatter.op != "ScatterND" or scatter.attrs.get("reduction", "none") not in ("none", "add"):
        return None
    value = ctx.const_value(scatter.inputs[0])
    if value is None or np.any(value) or value.ndim != 2:
        return None
    found = _cell(ctx, scatter.inputs[1])
    if found is None:
        return None
    _, src, mult = found
    if len(src.inputs) != 1 or src.inputs[0].op != "GatherND":
        return None
    coords, rows = src.inputs[0].inputs[:2]
    masked = _mask(ctx, rows, coords)
    if masked is None:
        return None
    row_form = _index_source(ctx, scatter.inputs[1]) is not None
    C = value.shape[1] if row_form else value.shape[0]
    g = _upstream(scatter.inputs[2], lambda t: t.inputs[0] if len(t.inputs) == 1 and t.inputs[0].op == "GatherND" else None)
    if g is None:
        return None
    voxels = g.inputs[0]
    if voxels.shape is not None and (len(voxels.shape) != 2 or voxels.shape[1] != C):
        return None
    return coords, voxels, masked[0], masked[1], mult, C, value.size // C


def _batch(ctx, node):
    """mmdet3d forward_batch / OpenPCDet: per sample a mask coords[:, b_col] == k, GatherND of coords and
    features, one ScatterND into a zero canvas; the canvases unsqueezed and Concat'ed on axis 0, then
    Reshape to [B, C, ny, nx]. Fused into one PillarScatter over all pillars (None: not this form)."""
    graph_outputs = {id(t) for t in ctx.graph.outputs}
    nodes, t = _chain(node.outputs[0], graph_outputs)
    if id(t) in graph_outputs or len(t.outputs) != 1 or t.outputs[0].op != "Concat" or t.outputs[0].attrs.get("axis") != 0:
        return None
    concat = t.outputs[0]
    mine = _sample(ctx, node)
    if mine is None:
        return None
    coords, voxels, bcol, _, mult, C, cells = mine
    replaced, samples = [], []
    for x in concat.inputs:
        up = []
        while len(x.inputs) == 1 and x.inputs[0].op in ("Reshape", "Transpose", "Unsqueeze", "Squeeze"):
            if len(x.outputs) != 1 or id(x) in graph_outputs:
                return f"'{x.name}' between a scatter and the stack is read elsewhere too"
            up.append(x.inputs[0])
            x = x.inputs[0].inputs[0]
        if len(x.inputs) != 1 or len(x.outputs) != 1 or id(x) in graph_outputs:
            return "a stacked canvas is not one scatter's alone"
        s = _sample(ctx, x.inputs[0])
        if s is None or s[0] is not coords or s[1] is not voxels or s[2] != bcol or s[4] != mult or s[5:] != (C, cells):
            return "the stacked canvases are not one masked scatter per sample of the same coords and features"
        samples.append(s[3])
        replaced += [x.inputs[0]] + up
    B = len(samples)
    if samples != list(range(B)):
        return f"the stacked samples are {samples}, not 0..{B - 1} in order"
    tail, out = _chain(concat.outputs[0], graph_outputs, ops=("Reshape",))
    size = _nchw(ctx, tail, B, C, cells) if tail else None
    if size is None:
        return f"the stack is not followed by Reshape to [B={B}, C={C}, ny, nx] with ny*nx = {cells}"
    ny, nx = size
    P0 = coords.shape[0] if coords.shape else "P"

    def column(c):
        return ctx.add_node("Gather", [coords, ctx.constant(f"col{c}", np.array(c, np.int64))], coords.dtype, [P0],
                            attrs={"axis": 1}, name=f"coords_col{c}")
    cell = None
    for c, m in sorted(mult.items()):
        term = column(c) if m == 1 else ctx.add_node(
            "Mul", [column(c), ctx.constant(f"mul{c}", np.array(m, coords.dtype))], coords.dtype, [P0], name=f"cell_term{c}")
        cell = term if cell is None else ctx.add_node("Add", [cell, term], coords.dtype, [P0], name="cell")
    cast = lambda t: ctx.add_node("Cast", [t], np.int32, [P0], attrs={"to": 6}, name="to_i32")  # noqa: E731
    b = cast(column(bcol))
    coords32 = _coords_from_cell(ctx, cast(cell), nx, ny, P0, b=b)
    # the anchor first: the change is named after it; its sample's nodes are in ``replaced`` already
    replaced = [node] + [n for n in replaced if n is not node] + [concat] + tail
    return _emit(ctx, replaced, voxels, coords32, out, nx, ny, B, C,
                 f"{B} masked per-sample scatters and their stack fused, coords ({coords.name}[:, {bcol}], 0, y, x) "
                 f"with y, x from the cell index {_index_text(coords, mult)}")
