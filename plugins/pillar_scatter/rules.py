"""Rewrite rule: the PointPillars scatter subgraph -> one PillarScatter node.

Pattern (what PyTorch exports for ``canvas[:, idx] = feats`` / OpenPCDet-style scatters):

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


@register("pillar_scatter", plugin="PillarScatter", ops=["ScatterND"])
def pillar_scatter(ctx, node, forced):
    """ScatterND of pillar features into a zero BEV canvas + Reshape/Transpose to NCHW -> PillarScatter."""
    reduction = node.attrs.get("reduction", "none")
    if reduction not in ("none", "add"):
        return f"reduction '{reduction}' into a zero canvas is not an assignment"
    canvas, index, feats = node.inputs[:3]
    value = ctx.const_value(canvas)
    if value is None or np.any(value) or value.ndim != 2:
        return "data is not an all-zero [cells, C] canvas"
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
    spec = ctx.spec("PillarScatter")
    # (b, 0, y, x) from the linear cell index itself: exact wherever the original is defined, including
    # coords whose x >= nx (the index wraps into the next row) and columns the index ignores
    cell = ctx.as_int32(flat, "for PillarScatter coords")
    P0 = src.shape[0] if src.shape else "P"

    def op(kind, a, b, name):
        return ctx.add_node(kind, [a, ctx.constant(name + "_k", np.array(b, np.int32))], np.int32, [P0], name=name)
    b_ = op("Div", cell, ny * nx, "cell_b")
    y_ = op("Mod", op("Div", cell, nx, "cell_row"), ny, "cell_y")
    x_ = op("Mod", cell, nx, "cell_x")
    z_ = op("Mul", cell, 0, "cell_z")
    axis1 = ctx.constant("ax1", np.array([1], np.int64))
    cols = [ctx.add_node("Unsqueeze", [t, axis1], np.int32, [P0, 1]) for t in (b_, z_, y_, x_)]
    coords = ctx.add_node("Concat", cols, np.int32, [P0, 4], attrs={"axis": 1}, name="coords_bzyx")
    P = feats.shape[0] if feats.shape is not None else None
    if isinstance(P, (int, np.integer)):
        num_valid = ctx.constant("num_valid", np.array([P], np.int32))
    else:
        shape = ctx.add_node("Shape", [feats], np.int64, [2], name="num_pillars_shape")
        first = ctx.add_node("Gather", [shape, ctx.constant("zero", np.array([0], np.int64))], np.int64, [1], attrs={"axis": 0})
        num_valid = ctx.add_node("Cast", [first], np.int32, [1], attrs={"to": 6}, name="num_valid")
    # [1, P, C]: the rank every precision takes (TensorRT 8.5 has no INT8 format for [P, C]; spec.toml)
    feats_1pc = ctx.add_node("Unsqueeze", [feats, ctx.constant("axis0", np.array([0], np.int64))],
                             feats.dtype or np.float32, [1, P if P is not None else "P", C], name="features_1pc")
    replaced = [node] + tail_nodes
    names = [n.name for n in replaced]
    ctx.detach(*replaced)
    name = f"{node.name}/PillarScatter" if node.name else ctx.unique("PillarScatter")
    ctx.plugin_node(spec, [feats_1pc, coords, num_valid], [out], {"nx": nx, "ny": ny, "batch_size": B}, name)
    index = " + ".join(f"{m}*{src.name}[:, {col}]" if m != 1 else f"{src.name}[:, {col}]"
                       for col, m in reversed(by_mult))
    layout = f"(b, 0, y, x) from the cell index {index}" + \
        ("" if bcol is not None else ", batch 0: the index has no batch term")
    return Change(ctx.rule.name, "fused", ctx.path, names,
                  f"PillarScatter v{spec.version} ({spec.namespace}) nx={nx} ny={ny} batch_size={B}, num_valid=P, coords {layout}"
                  + ("; reduction add into zeros == assignment for unique cells (one pillar per cell)" if reduction == "add" else ""),
                  plugin_node=name)
