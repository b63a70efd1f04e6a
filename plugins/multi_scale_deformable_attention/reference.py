"""MultiScaleDeformableAttention numpy reference (float64) and validation cases.

Two formulations of the same op, written independently:

* :func:`multi_scale_deformable_attention`, the reference the kernels are validated against: mmcv's
  CUDA op written directly: per sampling point, pixel position x = loc_x * W - 0.5, y = loc_y * H - 0.5,
  the four bilinear taps gathered from value at level_start_index[l] + y*W + x (zeros outside the
  level), weighted by the attention weight;
* :func:`pytorch_formulation`, mmcv's published pure-PyTorch ``multi_scale_deformable_attn_pytorch``
  transcribed to numpy: value split per level by H*W (level_start_index unused), grids 2*loc - 1,
  ``F.grid_sample(mode='bilinear', padding_mode='zeros', align_corners=False)`` per level on
  (bs*heads, D, H, W) maps, then stacked and weighted-summed. rules.py's proofs run the original
  node with it (the custom op has no onnxruntime kernel), and the tests hold the two to each other.
"""
from __future__ import annotations

import numpy as np

from pykit.case import Case

# The error model's premises (spec.toml): every case below keeps to them (_check asserts it).
MAX_ABS_VALUE = 1.0
MAX_ABS_WEIGHT_SUM = 1.0
MAX_LEVEL_SIZE = 64
MAX_ABS_LOCATION = 1.25
MAX_TERMS = 32  # levels * points


def _shapes(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """(bs, keys, heads, D, queries, levels, points), or ValueError naming the tensor that does not fit."""
    if value.ndim != 4:
        raise ValueError(f"value must be (bs, num_keys, num_heads, D), got shape {value.shape}")
    bs, keys, heads, dims = value.shape
    if sampling_locations.ndim != 6 or sampling_locations.shape[-1] != 2:
        raise ValueError("sampling_locations must be (bs, num_queries, num_heads, num_levels, num_points, 2), "
                         f"got shape {sampling_locations.shape}")
    _, queries, _, levels, points, _ = sampling_locations.shape
    if sampling_locations.shape[0] != bs or sampling_locations.shape[2] != heads:
        raise ValueError(f"sampling_locations {sampling_locations.shape} does not match value {value.shape} "
                         "in bs or num_heads")
    if spatial_shapes.shape != (levels, 2):
        raise ValueError(f"value_spatial_shapes must be ({levels}, 2), got shape {spatial_shapes.shape}")
    if level_start_index.shape != (levels,):
        raise ValueError(f"value_level_start_index must be ({levels},), got shape {level_start_index.shape}")
    if attention_weights.shape != sampling_locations.shape[:-1]:
        raise ValueError(f"attention_weights must be {sampling_locations.shape[:-1]}, got shape "
                         f"{attention_weights.shape}")
    for lvl, ((h, w), start) in enumerate(zip(spatial_shapes.tolist(), level_start_index.tolist())):
        if h < 1 or w < 1 or start < 0 or start + h * w > keys:
            raise ValueError(f"level {lvl}: (H, W) = ({h}, {w}) at start {start} does not lie inside value's "
                             f"{keys} keys")
    return bs, keys, heads, dims, queries, levels, points


def multi_scale_deformable_attention(inputs: dict[str, np.ndarray], attrs: dict) -> dict[str, np.ndarray]:
    value = np.asarray(inputs["value"], dtype=np.float64)
    shapes = np.asarray(inputs["value_spatial_shapes"]).astype(np.int64)
    starts = np.asarray(inputs["value_level_start_index"]).astype(np.int64)
    loc = np.asarray(inputs["sampling_locations"], dtype=np.float64)
    weights = np.asarray(inputs["attention_weights"], dtype=np.float64)
    bs, keys, heads, dims, queries, levels, points = _shapes(value, shapes, starts, loc, weights)
    out = np.zeros((bs, queries, heads, dims))
    b = np.arange(bs).reshape(bs, 1, 1, 1)
    m = np.arange(heads).reshape(1, 1, heads, 1)
    with np.errstate(invalid="ignore"):
        for lvl in range(levels):
            h, w = (int(s) for s in shapes[lvl])
            start = int(starts[lvl])
            x = loc[:, :, :, lvl, :, 0] * w - 0.5  # (bs, queries, heads, points)
            y = loc[:, :, :, lvl, :, 1] * h - 0.5
            inside = (x > -1) & (y > -1) & (x < w) & (y < h)  # False for NaN too
            x = np.where(inside, x, 0.0)
            y = np.where(inside, y, 0.0)
            x0, y0 = np.floor(x), np.floor(y)
            lx, ly = x - x0, y - y0
            a = np.where(inside, weights[:, :, :, lvl, :], 0.0)
            for dy, wy in ((0, 1 - ly), (1, ly)):
                for dx, wx in ((0, 1 - lx), (1, lx)):
                    xi, yi = x0.astype(np.int64) + dx, y0.astype(np.int64) + dy
                    ok = inside & (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
                    key = np.where(ok, start + yi * w + xi, 0)
                    tap = value[b, key, m]  # (bs, queries, heads, points, D)
                    out += np.sum((np.where(ok, a * wy * wx, 0.0))[..., None] * tap, axis=3)
    return {"output": out.reshape(bs, queries, heads * dims)}


# ---- mmcv's pure-PyTorch formulation, in numpy -----------------------------------------------------


def _grid_sample_bilinear_zeros(inp: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """F.grid_sample(inp (N, C, H, W), grid (N, Ho, Wo, 2), 'bilinear', 'zeros', align_corners=False)."""
    n, c, h, w = inp.shape
    ix = ((grid[..., 0] + 1) * w - 1) / 2  # (N, Ho, Wo): torch's unnormalize for align_corners=False
    iy = ((grid[..., 1] + 1) * h - 1) / 2
    with np.errstate(invalid="ignore"):
        ix0, iy0 = np.floor(ix), np.floor(iy)
    out = np.zeros((n, c) + grid.shape[1:3])
    nn = np.arange(n).reshape(n, 1, 1)
    for cy, cx, wt in ((iy0, ix0, (iy0 + 1 - iy) * (ix0 + 1 - ix)), (iy0, ix0 + 1, (iy0 + 1 - iy) * (ix - ix0)),
                       (iy0 + 1, ix0, (iy - iy0) * (ix0 + 1 - ix)), (iy0 + 1, ix0 + 1, (iy - iy0) * (ix - ix0))):
        ok = (cx >= 0) & (cx <= w - 1) & (cy >= 0) & (cy <= h - 1)  # False for NaN
        xs = np.where(ok, cx, 0).astype(np.int64)
        ys = np.where(ok, cy, 0).astype(np.int64)
        picked = inp[nn, :, ys, xs]  # (N, Ho, Wo, C)
        out += np.moveaxis(np.where(ok, wt, 0.0)[..., None] * picked, -1, 1)
    return out


def pytorch_formulation(value, value_spatial_shapes, sampling_locations, attention_weights) -> np.ndarray:
    """mmcv.ops.multi_scale_deform_attn.multi_scale_deformable_attn_pytorch in numpy float64, step by step."""
    value = np.asarray(value, np.float64)
    loc = np.asarray(sampling_locations, np.float64)
    attn = np.asarray(attention_weights, np.float64)
    bs, _, num_heads, embed_dims = value.shape
    _, num_queries, num_heads, num_levels, num_points, _ = loc.shape
    sizes = [int(h) * int(w) for h, w in np.asarray(value_spatial_shapes).tolist()]
    value_list = np.split(value, np.cumsum(sizes)[:-1], axis=1)
    sampling_grids = 2 * loc - 1
    sampling_value_list = []
    for level, (h, w) in enumerate(np.asarray(value_spatial_shapes).tolist()):
        # bs, H*W, heads, D -> bs*heads, D, H, W
        value_l = value_list[level].reshape(bs, h * w, num_heads * embed_dims).transpose(0, 2, 1).reshape(
            bs * num_heads, embed_dims, h, w)
        # bs, queries, heads, points, 2 -> bs*heads, queries, points, 2
        grid_l = sampling_grids[:, :, :, level].transpose(0, 2, 1, 3, 4).reshape(bs * num_heads, num_queries,
                                                                                 num_points, 2)
        sampling_value_list.append(_grid_sample_bilinear_zeros(value_l, grid_l))  # bs*heads, D, queries, points
    attn = attn.transpose(0, 2, 1, 3, 4).reshape(bs * num_heads, 1, num_queries, num_levels * num_points)
    stacked = np.stack(sampling_value_list, axis=-2).reshape(bs * num_heads, embed_dims, num_queries,
                                                             num_levels * num_points)
    output = (stacked * attn).sum(-1).reshape(bs, num_heads * embed_dims, num_queries)
    return output.transpose(0, 2, 1)


# ---- cases ------------------------------------------------------------------------------------------


def make_inputs(rng, bs, levels, heads, dims, queries, points, loc_range=(0.0, 1.0), loc=None):
    """Inputs of one case: value ~ U(-1, 1), softmax attention weights over levels*points (as the
    module computes them), locations ~ U(loc_range)."""
    shapes = np.asarray(levels, np.int64).reshape(-1, 2)
    sizes = shapes[:, 0] * shapes[:, 1]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    keys = int(sizes.sum())
    nl = len(shapes)
    logits = rng.normal(0, 2, size=(bs, queries, heads, nl * points))
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    weights = (e / e.sum(axis=-1, keepdims=True)).reshape(bs, queries, heads, nl, points)
    if loc is None:
        loc = rng.uniform(*loc_range, size=(bs, queries, heads, nl, points, 2))
    return {
        "value": rng.uniform(-1, 1, size=(bs, keys, heads, dims)).astype(np.float32),
        "value_spatial_shapes": shapes.astype(np.int32),
        "value_level_start_index": starts.astype(np.int32),
        "sampling_locations": np.asarray(loc).astype(np.float32),
        "attention_weights": weights.astype(np.float32),
    }


def _check(case: Case) -> Case:
    """The error model's premises (spec.toml), at fp32 and at fp16 (binary16 rounding of the weights
    can raise their sum by 2^-11 relative: the softmax weights are scaled by 1 - 2^-10 below)."""
    i = case.inputs
    assert np.abs(i["value"]).max(initial=0) <= MAX_ABS_VALUE, case.name
    for dt in (np.float32, np.float16):
        w = np.abs(i["attention_weights"].astype(dt).astype(np.float64))
        sums = w.sum(axis=(3, 4))
        assert sums.max(initial=0) <= MAX_ABS_WEIGHT_SUM, (case.name, dt)
        assert np.abs(i["sampling_locations"].astype(dt)).max(initial=0) <= MAX_ABS_LOCATION, case.name
    assert i["value_spatial_shapes"].max(initial=1) <= MAX_LEVEL_SIZE, case.name
    assert i["attention_weights"].shape[3] * i["attention_weights"].shape[4] <= MAX_TERMS, case.name
    return case


def _case(name, rng, bs, levels, heads, dims, queries, points, **kw) -> Case:
    inputs = make_inputs(rng, bs, levels, heads, dims, queries, points, **kw)
    inputs["attention_weights"] = (inputs["attention_weights"].astype(np.float64) * (1 - 2**-10)).astype(np.float32)
    return _check(Case(name, inputs, {}))


def cases(rng: np.random.Generator):
    pyramid = [(12, 16), (6, 8), (3, 4), (2, 2)]
    yield _case("pyramid_4_levels", rng, 2, pyramid, 4, 8, 50, 4)
    yield _case("batch1_one_level", rng, 1, [(16, 20)], 2, 16, 33, 4)
    yield _case("one_point", rng, 2, [(9, 7), (5, 4)], 3, 8, 21, 1)
    yield _case("one_level_one_point", rng, 1, [(5, 6)], 1, 4, 7, 1)
    yield _case("levels_1xW_Hx1_1x1", rng, 2, [(1, 17), (13, 1), (1, 1)], 2, 8, 19, 3)
    # locations outside [0, 1]: taps in the zeros padding, points wholly outside, the rim (x in (-1, 0))
    yield _case("locations_outside", rng, 2, [(8, 8), (4, 5)], 2, 8, 40, 4, loc_range=(-0.25, 1.25))
    edge = np.array([0.0, 1.0, -0.0625, 1.0625, 0.5, 1 / 16, 15 / 16, -0.25, 1.25, 0.03125])
    yield _case("locations_on_edges_and_pixel_centres", rng, 1, [(8, 8)], 2, 4, 25, 4,
                loc=rng.choice(edge, size=(1, 25, 2, 1, 4, 2)))
    # num_queries not a multiple of the CUDA block (256 threads) nor of the warp
    yield _case("queries_257", rng, 1, [(6, 10), (3, 5)], 2, 8, 257, 2)
    yield _case("query_1", rng, 2, [(4, 4), (2, 2)], 8, 32, 1, 4)
    # channel counts that pick each vector width: D % 8 == 0, D % 4 == 0, D % 2 == 0, odd
    yield _case("channels_odd_3", rng, 1, [(7, 9), (3, 3)], 3, 3, 31, 2)
    yield _case("channels_6", rng, 2, [(7, 9), (3, 3)], 2, 6, 17, 2)
    yield _case("channels_4", rng, 1, [(7, 9), (3, 3)], 4, 4, 23, 3)
    yield _case("channels_1", rng, 1, [(5, 5)], 5, 1, 13, 4)
    # the Deformable-DETR encoder's structure (8 heads, 32 channels, 4 levels, 4 points), scaled down
    yield _case("detr_like", rng, 1, [(32, 48), (16, 24), (8, 12), (4, 6)], 8, 32, 600, 4)
    yield _case("largest_levels_64x64", rng, 1, [(64, 64), (64, 33)], 2, 16, 300, 8, loc_range=(-0.25, 1.25))
    # zero-size tensors: no queries; no batch
    yield _case("empty_queries", rng, 2, [(4, 4)], 2, 8, 0, 4)
    yield _case("empty_batch", rng, 0, [(4, 4), (2, 2)], 2, 8, 5, 2)
