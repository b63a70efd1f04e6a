"""Rewrite rules -> LayerNorm.

1. ``layer_norm``: ONNX LayerNormalization (opset 17; TensorRT 8.5's parser has no importer) ->
   LayerNorm(x, scale, bias) with axis, epsilon, stash_type. An absent bias becomes zeros. Where the
   optional Mean/InvStdDev outputs are used, standard ops compute them beside the plugin (float32,
   as stash_type 1 says). Skipped (with the reason) when stash_type is not 1.
2. ``layer_norm_decomposed``: what older exporters emit,
       mean = ReduceMean(x, axes) ; d = Sub(x, mean) ; var = ReduceMean(Pow(d, 2), axes)
       y = Add(Mul(Div(d, Sqrt(Add(var, eps))), gamma), beta)      (Mul and Add optional)
   with axes the trailing dims [a, r) of x -> LayerNorm(x, gamma | ones, beta | zeros; axis=a).

Constant scale/bias are reshaped to x's rank with leading 1s (TensorRT 8.5 has no INT8 format for
plugin tensors of rank < 3) and given x's dtype.
"""
from __future__ import annotations

import numpy as np

from pykit.surgeon.rules import Change, register


def _only_user(t, op, graph_outputs):
    if id(t) in graph_outputs or len(t.outputs) != 1 or t.outputs[0].op != op:
        return None
    return t.outputs[0]


def _np_dtype(t, default=np.float32):
    try:
        return np.dtype(t.dtype) if t.dtype is not None else np.dtype(default)
    except TypeError:
        return np.dtype(default)


def _affine(ctx, value, x, axis, what, source=None):
    """A constant scale/bias as x's dtype with leading 1s up to x's rank (when the rank is known).
    It keeps the name of the `source` constant it replaces when nothing else reads that one, so
    that `pykit equiv` finds it in the original model (and rounds it there as the plugin sees it)."""
    rank = len(x.shape) if x.shape is not None else None
    v = np.asarray(value, dtype=_np_dtype(x))
    if rank is not None:
        norm = [int(d) if isinstance(d, (int, np.integer)) else None for d in x.shape[axis:]]
        if None not in norm:
            if v.size != int(np.prod(norm)):
                raise ValueError(f"{what} has {v.size} elements, x.shape[axis:] = {norm}")
            v = v.reshape([1] * axis + norm)
    if source is not None and len(source.outputs) == 1 and id(source) not in {id(t) for t in ctx.graph.outputs}:
        import onnx_graphsurgeon as gs

        return gs.Constant(source.name, v)
    return ctx.constant(what, v)


def _plugin(ctx, x, scale, bias, out, axis, eps, replaced, detail):
    spec = ctx.spec("LayerNorm")
    names = [n.name for n in replaced]
    ctx.detach(*replaced)
    name = f"{replaced[0].name}/LayerNorm" if replaced[0].name else ctx.unique("LayerNorm")
    ctx.plugin_node(spec, [x, scale, bias], [out], {"axis": axis, "epsilon": float(eps), "stash_type": 1}, name)
    return Change(ctx.rule.name, "fused" if len(replaced) > 1 else "replaced", ctx.path, names,
                  f"LayerNorm v{spec.version} ({spec.namespace}) axis={axis} epsilon={float(eps):g}; {detail}",
                  plugin_node=name)


@register("layer_norm", plugin="LayerNorm", ops=["LayerNormalization"])
def layer_norm(ctx, node, forced):
    """LayerNormalization -> LayerNorm (bias zeros when absent)."""
    stash = int(node.attrs.get("stash_type", 1))
    if stash != 1:
        return f"stash_type={stash}: LayerNorm keeps fp32 statistics (stash_type 1) only"
    x, scale = node.inputs[0], node.inputs[1]
    node_x = x  # _plugin detaches the node: its inputs are read before
    bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2].name else None
    rank = len(x.shape) if x.shape is not None else None
    axis = int(node.attrs.get("axis", -1))
    if rank is not None:
        if not -rank <= axis < rank:
            return f"axis {axis} is outside [-{rank}, {rank})"
        axis = axis + rank if axis < 0 else axis
    elif axis < 0:
        return "x has no known rank, so a negative axis cannot be made the plugin's"
    try:
        sv = ctx.const_value(scale)
        if sv is not None:
            scale = _affine(ctx, sv, x, axis, "scale", scale)
        if bias is None:
            n = int(np.prod(x.shape[axis:])) if rank is not None and all(isinstance(d, (int, np.integer)) for d in x.shape[axis:]) else None
            if n is None:
                return "B is absent and x.shape[axis:] is not static: cannot build the zero bias"
            bias = _affine(ctx, np.zeros(n), x, axis, "bias")
        else:
            bv = ctx.const_value(bias)
            if bv is not None:
                bias = _affine(ctx, bv, x, axis, "bias", bias)
    except ValueError as exc:
        return str(exc)
    eps = node.attrs.get("epsilon", 1e-5)
    graph_outputs = {id(t) for t in ctx.graph.outputs}
    stats = [o for o in node.outputs[1:3] if o.name and (o.outputs or id(o) in graph_outputs)]
    if stats and rank is None:
        return "its Mean/InvStdDev outputs are used and x has no known rank: the reduced axes cannot be named"
    used = {id(o) for o in stats}
    mean_out, inv_out = ([o if id(o) in used else None for o in node.outputs[1:3]] + [None, None])[:2]
    change = _plugin(ctx, x, scale, bias, node.outputs[0], axis, eps, [node],
                     "LayerNormalization-17 as is" + ("" if len(node.inputs) > 2 and node.inputs[2].name else ", B absent: zeros"))
    if stats:
        _statistics(ctx, node_x, axis, rank, eps, mean_out, inv_out)
        change.detail += "; Mean/InvStdDev by ReduceMean, Sub, Mul, ReduceMean, Add, Sqrt, Reciprocal in float32"
    return change


def _statistics(ctx, x, axis, rank, eps, mean_out, inv_out):
    """LayerNormalization's optional outputs from standard ops, as ONNX defines them (stash_type 1:
    float32): Mean = ReduceMean(x) and InvStdDev = 1 / sqrt(ReduceMean((x - Mean)^2) + epsilon) over
    the axes [axis, rank), keepdims (shape x.shape[:axis] + [1] * (rank - axis))."""
    f32 = np.float32
    axes = list(range(axis, rank))
    shape = None if x.shape is None else list(x.shape[:axis]) + [1] * (rank - axis)
    opset = int(getattr(ctx.graph, "opset", 17) or 17)

    def reduce_mean(t, name):
        if opset >= 18:  # axes became an input
            return ctx.add_node("ReduceMean", [t, ctx.constant("axes", np.asarray(axes, np.int64))], f32, shape,
                                {"keepdims": 1}, name)
        return ctx.add_node("ReduceMean", [t], f32, shape, {"axes": axes, "keepdims": 1}, name)

    def into(made, out):  # a statistic the graph reads is written into the node's own output tensor
        if out is None:
            return made
        producer = made.inputs[0]
        producer.outputs.clear()
        producer.outputs.append(out)
        return out

    xf = x if _np_dtype(x) == np.float32 else ctx.add_node("Cast", [x], f32, x.shape, {"to": 1}, "ln_stash")
    mean = into(reduce_mean(xf, "ln_mean"), mean_out)
    if inv_out is None:
        return
    d = ctx.add_node("Sub", [xf, mean], f32, x.shape, name="ln_dev")
    var = reduce_mean(ctx.add_node("Mul", [d, d], f32, x.shape, name="ln_sq"), "ln_var")
    std = ctx.add_node("Sqrt", [ctx.add_node("Add", [var, ctx.constant("eps", np.asarray(eps, f32))], f32, shape,
                                              name="ln_var_eps")], f32, shape, name="ln_std")
    into(ctx.add_node("Reciprocal", [std], f32, shape, name="ln_inv_std"), inv_out)


def _axes(ctx, node):
    if "axes" in node.attrs:
        return [int(a) for a in node.attrs["axes"]]
    if len(node.inputs) > 1:
        v = ctx.const_value(node.inputs[1])
        return None if v is None else [int(a) for a in v.reshape(-1)]
    return None


@register("layer_norm_decomposed", plugin="LayerNorm", ops=["ReduceMean"])
def layer_norm_decomposed(ctx, node, forced):
    """ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div[, Mul][, Add] -> LayerNorm."""
    outs = {id(t) for t in ctx.graph.outputs}
    x = node.inputs[0]
    mean = node.outputs[0]
    sub = next((u for u in mean.outputs if u.op == "Sub" and u.inputs[0] is x and u.inputs[1] is mean), None)
    if sub is None or len(mean.outputs) != 1 or id(mean) in outs:
        return None  # an ordinary ReduceMean: not this pattern
    if x.shape is None:
        return "x has no known shape (run shape inference)"
    rank = len(x.shape)
    axes = _axes(ctx, node)
    if axes is None or int(node.attrs.get("keepdims", 1)) != 1:
        return "ReduceMean without constant axes or with keepdims=0"
    axes = sorted(a + rank if a < 0 else a for a in axes)
    if not axes or axes != list(range(axes[0], rank)):
        return f"ReduceMean over axes {axes}: not the trailing dims of x"
    axis = axes[0]
    d = sub.outputs[0]
    if id(d) in outs or len(d.outputs) != 2 or {u.op for u in d.outputs} != {"Pow", "Div"}:
        return "x - mean does not feed exactly one Pow and one Div"
    pow_, div = sorted(d.outputs, key=lambda u: u.op != "Pow")
    e = ctx.const_value(pow_.inputs[1])
    if pow_.inputs[0] is not d or e is None or e.size != 1 or float(e.reshape(-1)[0]) != 2.0:
        return "Pow exponent is not the constant 2"
    red = _only_user(pow_.outputs[0], "ReduceMean", outs)
    if red is None or sorted(a + rank if a < 0 else a for a in (_axes(ctx, red) or [])) != axes \
            or int(red.attrs.get("keepdims", 1)) != 1:
        return "the variance is not ReduceMean over the same axes"
    add_eps = _only_user(red.outputs[0], "Add", outs)
    eps_t = None if add_eps is None else next((t for t in add_eps.inputs if t is not red.outputs[0]), None)
    eps = None if eps_t is None else ctx.const_value(eps_t)
    if eps is None or eps.size != 1:
        return "variance + epsilon: epsilon is not a constant scalar"
    sqrt = _only_user(add_eps.outputs[0], "Sqrt", outs)
    if sqrt is None or div.inputs[0] is not d or div.inputs[1] is not sqrt.outputs[0] or len(sqrt.outputs[0].outputs) != 1:
        return "not Div(x - mean, Sqrt(var + eps))"
    replaced = [node, sub, pow_, red, add_eps, sqrt, div]
    out = div.outputs[0]
    norm_shape = [int(s) for s in x.shape[axis:]] if all(isinstance(s, (int, np.integer)) for s in x.shape[axis:]) else None
    if norm_shape is None:
        return "x.shape[axis:] is not static"
    gamma, beta = np.ones(norm_shape), np.zeros(norm_shape)
    gamma_src = beta_src = None
    mul = _only_user(out, "Mul", outs)
    if mul is not None:
        other = next(t for t in mul.inputs if t is not out) if len(mul.inputs) == 2 else None
        v = None if other is None else ctx.const_value(other)
        if v is not None and v.size == gamma.size:
            gamma, gamma_src, out = v, other, mul.outputs[0]
            replaced.append(mul)
    add = _only_user(out, "Add", outs)
    if add is not None:
        other = next(t for t in add.inputs if t is not out) if len(add.inputs) == 2 else None
        v = None if other is None else ctx.const_value(other)
        if v is not None and v.size == beta.size:
            beta, beta_src, out = v, other, add.outputs[0]
            replaced.append(add)
    try:
        scale = _affine(ctx, gamma, x, axis, "scale", gamma_src)
        bias = _affine(ctx, beta, x, axis, "bias", beta_src)
    except ValueError as exc:
        return str(exc)
    return _plugin(ctx, x, scale, bias, out, axis, float(eps.reshape(-1)[0]), replaced,
                   f"decomposed pattern of {len(replaced)} nodes" + ("" if len(replaced) == 9 else " (no Mul/Add: ones/zeros)"))
