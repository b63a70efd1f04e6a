"""MultiScaleDeformableAttention bench: the Deformable-DETR encoder's self-attention on an 800x1333
image (stride 8..64 levels (100, 167), (50, 84), (25, 42), (13, 21): 22223 queries = keys, batch 1,
8 heads x 32 channels, 4 levels, 4 points). Queries sample around their own reference point (the
encoder's: every pixel centre of every level) with offsets ~ N(0, 2 pixels) per level, softmax
attention weights, as the module computes them.

PyTorch baseline: mmcv's pure-PyTorch ``multi_scale_deformable_attn_pytorch`` (per-level
F.grid_sample(bilinear, zeros, align_corners=False), stack, weighted sum) on CUDA tensors of the
precision's dtype. torch is passed in, never imported here: the tests load this module on machines
without a GPU.
"""
from __future__ import annotations

import numpy as np

from pykit.bench.case import BenchCase, Traffic

ITEMSIZE = {"fp32": 4, "fp16": 2}
ENCODER_LEVELS = ((100, 167), (50, 84), (25, 42), (13, 21))


def encoder_inputs(rng, levels=ENCODER_LEVELS, heads=8, channels=32, points=4, batch=1, offset_pixels=2.0):
    """Numpy inputs (float32, int32) of the encoder's self-attention in spec order."""
    shapes = np.asarray(levels, np.int64)
    sizes = shapes[:, 0] * shapes[:, 1]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    keys = int(sizes.sum())
    refs = []  # (keys, 2): every pixel centre of every level, normalized (x, y)
    for h, w in shapes:
        ys, xs = np.meshgrid((np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w, indexing="ij")
        refs.append(np.stack([xs.reshape(-1), ys.reshape(-1)], -1))
    ref = np.concatenate(refs)
    nl = len(shapes)
    norm = np.stack([shapes[:, 1], shapes[:, 0]], -1).astype(np.float64)  # (W, H) per level
    offsets = rng.normal(0, offset_pixels, size=(batch, keys, heads, nl, points, 2)) / norm[None, None, None, :, None]
    loc = ref[None, :, None, None, None, :] + offsets
    logits = rng.normal(0, 1, size=(batch, keys, heads, nl * points))
    e = np.exp(logits - logits.max(-1, keepdims=True))
    weights = (e / e.sum(-1, keepdims=True)).reshape(batch, keys, heads, nl, points)
    value = rng.uniform(-1, 1, size=(batch, keys, heads, channels))
    return [value.astype(np.float32), shapes.astype(np.int32), starts.astype(np.int32), loc.astype(np.float32),
            weights.astype(np.float32)]


def torch_msda(torch, value, value_spatial_shapes, sampling_locations, attention_weights):
    """mmcv.ops.multi_scale_deform_attn.multi_scale_deformable_attn_pytorch (upstream, unchanged but
    for taking torch as an argument and the shapes as a Python list)."""
    F = torch.nn.functional
    bs, _, num_heads, embed_dims = value.shape
    _, num_queries, num_heads, num_levels, num_points, _ = sampling_locations.shape
    value_list = value.split([H_ * W_ for H_, W_ in value_spatial_shapes], dim=1)
    sampling_grids = 2 * sampling_locations - 1
    sampling_value_list = []
    for level, (H_, W_) in enumerate(value_spatial_shapes):
        value_l_ = value_list[level].flatten(2).transpose(1, 2).reshape(bs * num_heads, embed_dims, H_, W_)
        sampling_grid_l_ = sampling_grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
        sampling_value_l_ = F.grid_sample(value_l_, sampling_grid_l_, mode="bilinear", padding_mode="zeros",
                                          align_corners=False)
        sampling_value_list.append(sampling_value_l_)
    attention_weights = attention_weights.transpose(1, 2).reshape(bs * num_heads, 1, num_queries,
                                                                  num_levels * num_points)
    output = (torch.stack(sampling_value_list, dim=-2).flatten(-2) * attention_weights).sum(-1).view(
        bs, num_heads * embed_dims, num_queries)
    return output.transpose(1, 2).contiguous()


class EncoderCase(BenchCase):
    plugin = "MultiScaleDeformableAttention"
    baseline_name = "mmcv multi_scale_deformable_attn_pytorch (F.grid_sample per level)"

    def __init__(self, precision: str, levels=ENCODER_LEVELS, heads=8, channels=32, points=4, seed=0):
        self.precision, self.levels, self.heads, self.channels, self.points, self.seed = (
            precision, tuple(levels), heads, channels, points, seed)
        self.keys = int(sum(h * w for h, w in levels))
        self.queries = self.keys
        self.shape = (f"bs1 q=k={self.keys} levels={'+'.join(f'{h}x{w}' for h, w in levels)} "
                      f"heads={heads} D={channels} points={points}")
        self.note = ("floor: every value byte read once; the gathers re-read value rows from L2 "
                     f"({4 * len(levels) * points} taps per (query, head))")

    def traffic(self) -> Traffic:
        s = ITEMSIZE[self.precision]
        samples = self.queries * self.heads * len(self.levels) * self.points
        total = samples * 2 * s + samples * s + 2 * self.queries * self.heads * self.channels * s + 12 * len(self.levels)
        return Traffic(total, "Q*M*L*P*(2+1)*s (sampling_locations, attention_weights read) + Q*M*D*s (output "
                              "written) + K*M*D*s (value's unique bytes, read once) + 12*L (int32 shapes, starts); "
                              "s = bytes per element")

    def _numpy(self):
        return encoder_inputs(np.random.default_rng(self.seed), self.levels, self.heads, self.channels, self.points)

    def setup(self, torch, launcher, stream):
        self.torch, self.launcher, self.stream = torch, launcher, stream
        dt = {"fp32": torch.float32, "fp16": torch.float16}[self.precision]
        value, shapes, starts, loc, weights = self._numpy()
        self.t_value = torch.from_numpy(value).cuda().to(dt)
        self.t_shapes = torch.from_numpy(shapes).cuda()
        self.t_starts = torch.from_numpy(starts).cuda()
        self.t_loc = torch.from_numpy(loc).cuda().to(dt)
        self.t_weights = torch.from_numpy(weights).cuda().to(dt)
        self.t_out = torch.empty((1, self.queries, self.heads * self.channels), dtype=dt, device="cuda")

    def ours(self):
        self.launcher.launch(self.precision, self.t_value.data_ptr(), self.t_shapes.data_ptr(),
                             self.t_starts.data_ptr(), self.t_loc.data_ptr(), self.t_weights.data_ptr(),
                             self.t_out.data_ptr(), 1, self.keys, self.heads, self.channels, self.queries,
                             len(self.levels), self.points, self.stream)

    def baseline(self):
        return torch_msda(self.torch, self.t_value, list(self.levels), self.t_loc, self.t_weights)

    def check(self):
        torch = self.torch
        self.t_out.view(torch.uint8).fill_(0x7F)  # poison: every element must be written
        self.ours()
        torch.cuda.synchronize()
        ref = torch_msda(torch, self.t_value.double(), list(self.levels), self.t_loc.double(),
                         self.t_weights.double())
        got = self.t_out.double()
        if not bool(torch.isfinite(got).all()):
            return {"ok": False, "detail": "non-finite outputs (unwritten elements?)"}
        worst = float((got - ref).abs().max())
        # spec.toml's error model at these sizes (|value| <= 1, softmax weights): positions round by
        # u*(max|loc|*max(H, W) + 0.5) each, 2-Lipschitz per unit in x and y; tap weights 4u; 4*L*P fma roundings
        u = 2.0**-24
        reach = float(self.t_loc.double().abs().max()) * max(max(lv) for lv in self.levels) + 0.5
        limit = (4 * reach + 4 + 4 * len(self.levels) * self.points) * u
        if self.precision == "fp16":
            limit = limit * (1 + 2**-11) + 2**-11 * float(ref.abs().max())
        return {"ok": worst <= limit, "detail": f"max |out - ref| = {worst:.3g} vs the pure-PyTorch formulation in "
                                                f"float64 on the same inputs (limit {limit:.3g})"}

    def trt_call(self):
        value, shapes, starts, loc, weights = self._numpy()
        if self.precision == "fp16":
            value, loc, weights = (a.astype(np.float16) for a in (value, loc, weights))
        return [value, shapes, starts, loc, weights], {}, [], []


def cases(precisions):
    return [EncoderCase(p) for p in ("fp32", "fp16") if p in precisions]


def launch_case(torch, launcher, stream, precision, inputs, attrs, input_scales, output_scales):
    """One validation case through the launcher (inputs in spec order)."""
    value, shapes, starts, loc, weights = (np.ascontiguousarray(a) for a in inputs)
    bs, keys, heads, channels = value.shape
    _, queries, _, levels, points, _ = loc.shape
    t = [torch.from_numpy(a).cuda() for a in (value, shapes.astype(np.int32), starts.astype(np.int32), loc, weights)]
    out = torch.empty((bs, queries, heads * channels), dtype=t[0].dtype, device="cuda")
    if out.numel():
        out.view(torch.uint8).fill_(0x7F)  # poison: every element must be written
    launcher.launch(precision, *(x.data_ptr() for x in t), out.data_ptr(), bs, keys, heads, channels, queries,
                    levels, points, stream)
    torch.cuda.synchronize()
    return [out.cpu().numpy()]
