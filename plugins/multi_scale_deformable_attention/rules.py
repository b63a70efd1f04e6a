"""Rewrite rule: the custom-domain MMCVMultiScaleDeformableAttention node -> MultiScaleDeformableAttention.

Who writes the node: mmcv's MultiScaleDeformableAttnFunction has no ``symbolic`` (mmcv 1.x and 2.x,
mmcv/ops/multi_scale_deform_attn.py); mmdeploy's SYMBOLIC_REWRITER gives it one
(mmdeploy/mmcv/ops/multi_scale_deform_attn.py), ``g.op('mmdeploy::MMCVMultiScaleDeformableAttention',
value, value_spatial_shapes, value_level_start_index, sampling_locations, attention_weights,
im2col_step_i=im2col_step)``. Forks that register the same symbolic under ``mmcv::`` exist; both
domains are taken. No TensorRT ONNX parser has an importer for it.

The rewrite: inputs in the same order; value_spatial_shapes and value_level_start_index as int32
(TensorRT 8.x has no int64 tensors): a constant (an initializer, or a Constant node's output, what
an export with a fixed pyramid holds) becomes an int32 initializer, exactly (refused if a value does
not fit int32); a computed tensor (dynamic image sizes) gets a Cast(to=INT32) before the plugin; ``im2col_step`` is dropped: it is mmcv's batching step for its im2col buffer
and does not change the result.

Proof: the original node has no onnxruntime kernel and no ONNX definition, so the proof
(pykit/surgeon/proof.py) runs it with the semantics registered below: mmcv's published pure-PyTorch
formulation ``multi_scale_deformable_attn_pytorch`` transcribed to numpy (reference.py
``pytorch_formulation``: per-level grid_sample on (bs*heads, D, H, W) maps, value split by H*W),
an implementation independent of the plugin's reference (direct taps at level_start_index). It
is float64 on both sides, so the proof tests the formulation, not rounding. It refuses level
starts other than the exclusive cumulative sum of H*W (the pure-PyTorch formulation ignores them:
the two would define different ops there).
"""
from __future__ import annotations

import numpy as np

from pykit.surgeon.rules import Change, register, register_semantics

OP = "MMCVMultiScaleDeformableAttention"
DOMAINS = ("mmdeploy", "mmcv")
RANKS = (4, 2, 1, 6, 5)  # value, value_spatial_shapes, value_level_start_index, sampling_locations, attention_weights


def _original(inputs, attrs):
    """The custom op, by mmcv's pure-PyTorch formulation (numpy float64, cast back to value's dtype)."""
    from pykit import registry

    reference = registry.load_module(registry.get("MultiScaleDeformableAttention"), "reference")
    value, shapes, starts, loc, weights = inputs
    shapes = np.asarray(shapes).astype(np.int64)
    sizes = shapes[:, 0] * shapes[:, 1] if shapes.ndim == 2 else None
    if sizes is None or not np.array_equal(np.asarray(starts).astype(np.int64),
                                           np.concatenate([[0], np.cumsum(sizes)[:-1]])):
        raise ValueError("value_level_start_index is not the exclusive cumulative sum of H*W")
    if int(sizes.sum()) != np.shape(value)[1]:
        raise ValueError("the levels' H*W do not sum to value's num_keys")
    out = reference.pytorch_formulation(value, shapes, loc, weights)
    return [out.astype(np.asarray(value).dtype)]


def _unprovable(node):
    """Random integer probes never draw a valid pyramid (starts = cumulative H*W, summing to num_keys):
    the level layout must be constant for the proof to run."""
    from pykit.surgeon.rules import RuleContext

    computed = [t.name for t in node.inputs[1:3] if RuleContext.const_value(t) is None]
    if computed:
        return (f"{' and '.join(computed)} computed at run time: random probes would not draw a valid level "
                "layout, so the original cannot be run on them")
    return None


for _domain in DOMAINS:
    register_semantics(_domain, OP, _original, "mmcv's pure-PyTorch multi_scale_deformable_attn_pytorch in numpy",
                       _unprovable)


@register("multi_scale_deformable_attention", plugin="MultiScaleDeformableAttention", ops=[OP])
def mmcv_msda(ctx, node, forced):
    """mmdeploy/mmcv MMCVMultiScaleDeformableAttention -> MultiScaleDeformableAttention."""
    if node.domain not in DOMAINS:
        return None  # another op of that name: not the mmcv one
    spec = ctx.spec()
    if len(node.inputs) != 5 or len(node.outputs) != 1:
        return f"expects 5 inputs and 1 output, has {len(node.inputs)} and {len(node.outputs)}"
    unknown = set(node.attrs) - {"im2col_step"}
    if unknown:
        return f"attribute(s) {sorted(unknown)} are not mmcv's (im2col_step only)"
    for t, rank, want in zip(node.inputs, RANKS, spec.inputs):
        if t.shape is not None and len(t.shape) != rank:
            return f"input '{t.name}' ({want.name}) has rank {len(t.shape)}, the op's is {rank}"
    ints = []
    for t, want in zip(node.inputs[1:3], spec.inputs[1:3]):
        value = ctx.const_value(t)
        if value is not None and value.size and (value.min() < -(2**31) or value.max() > 2**31 - 1):
            return f"input '{t.name}' ({want.name}) holds values outside int32"
        # a constant (initializer or Constant node, what exporters write for a fixed pyramid): int32 in place
        ints.append(ctx.constant(t.name + "_i32", value.astype(np.int32)) if value is not None else
                    ctx.as_int32(t, f"for {spec.name} input '{want.name}'"))
    ins = [node.inputs[0], *ints, node.inputs[3], node.inputs[4]]
    outs = list(node.outputs)
    name = node.name or ctx.unique(spec.name)
    domain, step = node.domain, node.attrs.get("im2col_step")
    ctx.detach(node)
    ctx.plugin_node(spec, ins, outs, {}, name)
    dropped = f", im2col_step={step} dropped (no effect on the result)" if step is not None else ""
    return Change(ctx.rule.name, "replaced", ctx.path, [name],
                  f"{domain}::{OP} -> {spec.name} v{spec.version} ({spec.namespace}){dropped}"
                  f"{' (forced)' if forced else ''}", plugin_node=name)
