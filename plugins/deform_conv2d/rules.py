"""Rewrite rules -> DeformConv2d (the plugin is not named DeformConv: an ONNX op of that name is
imported natively by TensorRT >= 10 whatever the node's domain, so a plugin node of that name would never
reach the plugin there; `pykit lint` calls that a builtin-collision).

1. ``deform_conv``: ONNX DeformConv (opset 19; TensorRT's parser has no importer before 10.0) ->
   DeformConv2d(X, W, offset, B | zeros(oC), mask | [[[[1]]]]) with dilations, group, offset_group,
   pads, strides. 2-D only: a DeformConv of another rank is left with the reason. kernel_shape,
   when given, must equal W's dims 2..3 (the plugin reads the kernel size from W).
2. ``mmcv_modulated_deform_conv``: mmcv's custom node ``mmcv::MMCVModulatedDeformConv2d``
   (ModulatedDeformConv2dFunction.symbolic: inputs input, offset, mask, weight[, bias]; attributes
   stride, padding, dilation (an int or a pair), groups, deform_groups) and mmdeploy's same-named
   node in domain ``mmdeploy`` -> DeformConv2d(input, weight, offset, bias | zeros, mask) with
   pads (pH, pW, pH, pW). mmcv's offsets are interleaved (y, x) per tap, as ONNX's (mmcv's
   modulated_deformable_im2col_gpu_kernel reads offset channel 2*(i*kW + j) as y, + 1 as x).

Absent B: zeros of oC elements (W's first dim must be static); absent mask (DCNv1): one element 1,
which the plugin applies to every tap. Both constants take X's dtype.
"""
from __future__ import annotations

import numpy as np

from pykit.surgeon.rules import Change, register, register_semantics

MMCV_DOMAINS = ("mmcv", "mmdeploy")


def _np_dtype(t, default=np.float32):
    try:
        return np.dtype(t.dtype) if t.dtype is not None else np.dtype(default)
    except TypeError:
        return np.dtype(default)


def _present(node, k):
    return len(node.inputs) > k and node.inputs[k].name


def _static_dim(t, k):
    if t.shape is None or len(t.shape) <= k or not isinstance(t.shape[k], (int, np.integer)):
        return None
    return int(t.shape[k])


def _pair(v, what):
    v = [int(a) for a in (v if isinstance(v, (list, tuple, np.ndarray)) else [v])]
    if len(v) == 1:
        v = v * 2
    if len(v) != 2:
        raise ValueError(f"attribute '{what}' = {v}: 2-D only (one value or two)")
    return v


def _plugin(ctx, node, x, weight, offset, bias, mask, attrs, detail):
    """The plugin node in place of `node` (B/mask None: zeros / a single 1)."""
    spec = ctx.spec("DeformConv2d")
    dtype = _np_dtype(x)
    if weight.shape is not None and len(weight.shape) != 4:
        return f"weight has rank {len(weight.shape)}: 2-D only (DeformConv of rank 4 inputs)"
    if x.shape is not None and len(x.shape) != 4:
        return f"X has rank {len(x.shape)}: 2-D only (DeformConv of rank 4 inputs)"
    absent = []
    if bias is None:
        oc = _static_dim(weight, 0)
        if oc is None:
            return "B is absent and W's output channels are not static: cannot build the zero bias"
        bias = ctx.constant("deform_conv_bias", np.zeros(oc, dtype))
        absent.append("B absent: zeros")
    if mask is None:
        mask = ctx.constant("deform_conv_mask", np.ones((1, 1, 1, 1), dtype))
        absent.append("mask absent (DCNv1): a single 1")
    try:
        resolved = spec.resolve_attributes(attrs)
    except Exception as exc:  # SpecError: a value the plugin refuses
        return f"attributes do not fit the spec: {exc}"
    name = node.name or ctx.unique("DeformConv2d")
    outs = list(node.outputs)
    ctx.detach(node)
    ctx.plugin_node(spec, [x, weight, offset, bias, mask], outs, resolved, name)
    shown = ", ".join(f"{k}={v}" for k, v in resolved.items())
    return Change(ctx.rule.name, "replaced", ctx.path, [name],
                  f"{detail} -> {spec.name} v{spec.version} ({spec.namespace}) {{{shown}}}" +
                  (f"; {', '.join(absent)}" if absent else ""), plugin_node=name)


@register("deform_conv", plugin="DeformConv2d", ops=["DeformConv"])
def deform_conv(ctx, node, forced):
    """ONNX DeformConv (2-D) -> DeformConv2d (zeros for an absent B, a single 1 for an absent mask)."""
    if (node.domain or "") not in ("", "ai.onnx"):
        return None
    a = node.attrs
    kernel = a.get("kernel_shape")
    spatial = len(kernel) if kernel is not None else None
    w = node.inputs[1]
    if spatial is None and w.shape is not None:
        spatial = len(w.shape) - 2
    if spatial is not None and spatial != 2:
        return f"{spatial}-D DeformConv: the plugin is 2-D only"
    if kernel is not None and w.shape is not None and all(isinstance(d, (int, np.integer)) for d in w.shape[2:]) \
            and [int(d) for d in w.shape[2:]] != [int(k) for k in kernel]:
        return f"kernel_shape {list(kernel)} differs from W's kernel {list(w.shape[2:])}"
    attrs = {"dilations": [int(v) for v in a.get("dilations", [1, 1])], "group": int(a.get("group", 1)),
             "offset_group": int(a.get("offset_group", 1)), "pads": [int(v) for v in a.get("pads", [0, 0, 0, 0])],
             "strides": [int(v) for v in a.get("strides", [1, 1])]}
    if len(attrs["dilations"]) != 2 or len(attrs["strides"]) != 2 or len(attrs["pads"]) != 4:
        return f"dilations {attrs['dilations']}, strides {attrs['strides']}, pads {attrs['pads']}: 2-D only"
    bias = node.inputs[3] if _present(node, 3) else None
    mask = node.inputs[4] if _present(node, 4) else None
    return _plugin(ctx, node, node.inputs[0], w, node.inputs[2], bias, mask, attrs,
                   "DeformConv-19" + (" (DCNv2)" if mask is not None else " (DCNv1)"))


def _mmcv_original(inputs, attrs):
    """mmcv's ModulatedDeformConv2d as ONNX defines deformable convolution (onnx.reference's
    DeformConv in float64, not the plugin's reference): mmcv's symbolic passes input, offset, mask,
    weight[, bias] with stride/padding/dilation (int or pair: the same both ways), groups and
    deform_groups; its padding pads both sides of each axis."""
    from onnx.reference.ops.op_deform_conv import _deform_conv_implementation

    x, offset, mask, weight = (np.asarray(v, np.float64) for v in inputs[:4])
    bias = np.asarray(inputs[4], np.float64) if len(inputs) > 4 and inputs[4] is not None else None

    def two(v):
        v = [int(t) for t in np.atleast_1d(v)]
        return v * 2 if len(v) == 1 else v
    pad = two(attrs.get("padding", 0))
    y = _deform_conv_implementation(x, weight, offset, bias, mask, two(attrs.get("dilation", 1)),
                                    int(attrs.get("groups", 1)), list(weight.shape[2:]),
                                    int(attrs.get("deform_groups", 1)), pad + pad, two(attrs.get("stride", 1)))
    return [y.astype(inputs[0].dtype)]


for _domain in MMCV_DOMAINS:
    register_semantics(_domain, "MMCVModulatedDeformConv2d", _mmcv_original,
                       "ONNX DeformConv semantics (onnx.reference, float64) with mmcv's attributes")


@register("mmcv_modulated_deform_conv", plugin="DeformConv2d", ops=["MMCVModulatedDeformConv2d"])
def mmcv_modulated_deform_conv(ctx, node, forced):
    """mmcv::MMCVModulatedDeformConv2d (input, offset, mask, weight[, bias]) -> DeformConv2d."""
    if (node.domain or "") not in MMCV_DOMAINS:
        return None
    if len(node.inputs) < 4:
        return f"{len(node.inputs)} inputs: mmcv's node has input, offset, mask, weight[, bias]"
    a = node.attrs
    try:
        stride = _pair(a.get("stride", 1), "stride")
        pad = _pair(a.get("padding", 0), "padding")
        dilation = _pair(a.get("dilation", 1), "dilation")
    except ValueError as exc:
        return str(exc)
    unknown = set(a) - {"stride", "padding", "dilation", "groups", "deform_groups"}
    if unknown:
        return f"attribute(s) {sorted(unknown)} have no DeformConv2d counterpart"
    attrs = {"dilations": dilation, "group": int(a.get("groups", 1)), "offset_group": int(a.get("deform_groups", 1)),
             "pads": [pad[0], pad[1], pad[0], pad[1]], "strides": stride}
    x, offset, mask, weight = node.inputs[:4]
    bias = node.inputs[4] if _present(node, 4) else None
    return _plugin(ctx, node, x, weight, offset, bias, mask if mask.name else None, attrs,
                   f"{node.domain}::MMCVModulatedDeformConv2d")
