"""DeformConv2d numpy reference (ONNX DeformConv-19, 2-D, in float64) and validation cases.

Sampling rule (onnx.reference's DeformConv: GridSample bilinear, zeros padding, align_corners=1, on
pixel coordinates; torchvision's and mmcv's bilinear_interpolate are the same rule): the sample at
(py, px) = (oy*sh - pad_top + i*dh + offset_y, ox*sw - pad_left + j*dw + offset_x) is the bilinear
blend of its four neighbours (floor(py) + {0,1}, floor(px) + {0,1}), each neighbour outside the
image contributing zero. One divergence: onnx.reference normalizes by (H - 1) and (W - 1), so for
an image of height or width 1 it divides by zero and returns NaN; this reference (and the plugin,
torchvision, mmcv) samples such images like any other.

Offsets are interleaved (y, x) per kernel tap: channel ((g*kH + i)*kW + j)*2 + {0: y, 1: x} for
offset group g, the layout of ONNX, torchvision and mmcv alike. The mask (DCNv2) has channel
(g*kH + i)*kW + j; a mask of one element is a scalar applied to every tap (the rules feed a single
1 for ONNX's absent mask, DCNv1).
"""
from __future__ import annotations

import numpy as np

from pykit.case import Case

# What the spec's error model assumes of the cases (asserted below for every case).
MAX_X = 4.0          # |x|
MAX_W_L1 = 2.0       # per output channel: sum |weight| over its C/group*kH*kW taps
MAX_BIAS = 1.0       # |bias|
MAX_MASK = 1.0       # |mask|
MAX_POSITION = 32.0  # |py|, |px| of every sample position
MAX_TAPS = 576       # K = C/group*kH*kW (the dot product length)


def geometry(x_shape, w_shape, attrs: dict):
    """(oH, oW) and the attributes as ints, or ValueError naming what does not fit."""
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"DeformConv2d: 2-D only: x must be (N, C, H, W) and weight (oC, C/group, kH, kW), "
                         f"got ranks {len(x_shape)} and {len(w_shape)}")
    dil, pads, strides = list(attrs["dilations"]), list(attrs["pads"]), list(attrs["strides"])
    group, og = int(attrs["group"]), int(attrs["offset_group"])
    if len(dil) != 2 or len(strides) != 2 or len(pads) != 4:
        raise ValueError(f"DeformConv2d: 2-D only: dilations and strides need 2 values, pads 4; got {dil}, {strides}, {pads}")
    if min(dil) < 1 or min(strides) < 1 or min(pads) < 0 or group < 1 or og < 1:
        raise ValueError("DeformConv: dilations, strides, group, offset_group must be >= 1 and pads >= 0")
    n, c, h, w = x_shape
    oc, cg, kh, kw = w_shape
    if c != cg * group or oc % group:
        raise ValueError(f"DeformConv2d: x has {c} channels, weight {w_shape} with group {group}")
    if c % og:
        raise ValueError(f"DeformConv2d: {c} channels are not divisible by offset_group {og}")
    oh = (h + pads[0] + pads[2] - ((kh - 1) * dil[0] + 1)) // strides[0] + 1
    ow = (w + pads[1] + pads[3] - ((kw - 1) * dil[1] + 1)) // strides[1] + 1
    return oh, ow, dil, pads, strides, group, og


def sample_positions(n, oh, ow, kh, kw, og, offset, dil, pads, strides):
    """(py, px), each (N, og, kH, kW, oH, oW) in float64."""
    off = np.asarray(offset, np.float64).reshape(n, og, kh, kw, 2, oh, ow)
    base_y = (np.arange(oh) * strides[0] - pads[0])[None, :] + (np.arange(kh) * dil[0])[:, None]  # (kH, oH)
    base_x = (np.arange(ow) * strides[1] - pads[1])[None, :] + (np.arange(kw) * dil[1])[:, None]  # (kW, oW)
    py = base_y[None, None, :, None, :, None] + off[:, :, :, :, 0]
    px = base_x[None, None, None, :, None, :] + off[:, :, :, :, 1]
    return py, px


def deform_conv2d(inputs: dict[str, np.ndarray], attrs: dict) -> dict[str, np.ndarray]:
    """y[n, o, oy, ox] = bias[o] + sum over the group's channels c and taps (i, j) of
    weight[o, c, i, j] * mask * bilinear(x[n, c], py, px)."""
    x = np.asarray(inputs["x"], np.float64)
    wt = np.asarray(inputs["weight"], np.float64)
    offset = np.asarray(inputs["offset"], np.float64)
    bias = np.asarray(inputs["bias"], np.float64).reshape(-1)
    mask = np.asarray(inputs["mask"], np.float64)
    oh, ow, dil, pads, strides, group, og = geometry(x.shape, wt.shape, attrs)
    n, c, h, w = x.shape
    oc, cg, kh, kw = wt.shape
    if offset.shape != (n, og * 2 * kh * kw, oh, ow):
        raise ValueError(f"DeformConv2d: offset has shape {list(offset.shape)}, expected {[n, og * 2 * kh * kw, oh, ow]}")
    if bias.size != oc:
        raise ValueError(f"DeformConv2d: bias has {bias.size} elements, expected {oc}")
    if mask.size == 1:
        mask = np.full((n, og, kh, kw, oh, ow), float(mask.reshape(-1)[0]))
    elif mask.shape != (n, og * kh * kw, oh, ow):
        raise ValueError(f"DeformConv2d: mask has shape {list(mask.shape)}, expected {[n, og * kh * kw, oh, ow]} or one element")
    mask = mask.reshape(n, og, kh, kw, oh, ow)
    py, px = sample_positions(n, oh, ow, kh, kw, og, offset, dil, pads, strides)
    y0, x0 = np.floor(py), np.floor(px)
    ly, lx = py - y0, px - x0
    xg = x.reshape(n, og, c // og, h, w)
    nn = np.arange(n)[:, None, None, None, None, None]
    gg = np.arange(og)[None, :, None, None, None, None]
    cols = np.zeros((n, og, kh, kw, oh, ow, c // og))
    for dy, wy in ((0, 1 - ly), (1, ly)):
        for dx, wx in ((0, 1 - lx), (1, lx)):
            yy, xx = (y0 + dy).astype(np.int64), (x0 + dx).astype(np.int64)
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            v = xg[nn, gg, :, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]  # (..., C/og)
            cols += np.where(inside, wy * wx, 0.0)[..., None] * v
    cols *= mask[..., None]
    # (n, og, kH, kW, oH, oW, C/og) -> (n, C, kH, kW, oH*oW) -> per group (n, group, C/group*kH*kW, P)
    cols = cols.transpose(0, 1, 6, 2, 3, 4, 5).reshape(n, group, cg * kh * kw, oh * ow)
    wg = wt.reshape(group, oc // group, cg * kh * kw)
    y = np.einsum("gmk,ngkp->ngmp", wg, cols).reshape(n, oc, oh, ow) + bias[None, :, None, None]
    return {"y": y}


# ---- validation cases ---------------------------------------------------------------------------------


def _case(name, rng, n, c, hw, oc, k, *, group=1, offset_group=1, pads=(0, 0, 0, 0), strides=(1, 1),
          dilations=(1, 1), offset_scale=1.5, offset=None, mask="random", bias=True) -> Case:
    h, w = hw
    kh, kw = k
    attrs = {"dilations": list(dilations), "group": group, "offset_group": offset_group, "pads": list(pads),
             "strides": list(strides)}
    cg = c // group
    oh, ow, *_ = geometry((n, c, h, w), (oc, cg, kh, kw), attrs)
    x = np.clip(rng.standard_normal((n, c, h, w)), -MAX_X, MAX_X)
    taps = cg * kh * kw
    weight = rng.uniform(-1.0, 1.0, (oc, cg, kh, kw)) * (MAX_W_L1 / taps)
    if offset is None:
        # clipped: tap origins lie within 16 px of the image here, so |position| <= MAX_POSITION for every seed
        offset = np.clip(offset_scale * rng.standard_normal((n, offset_group * 2 * kh * kw, oh, ow)), -16.0, 16.0)
    offset = np.broadcast_to(offset, (n, offset_group * 2 * kh * kw, oh, ow))
    if isinstance(mask, str):
        mask = rng.uniform(0.0, 1.0, (n, offset_group * kh * kw, oh, ow)) if mask == "random" else np.ones((1, 1, 1, 1))
    b = rng.uniform(-MAX_BIAS, MAX_BIAS, oc) if bias else np.zeros(oc)
    case = Case(name, {"x": x.astype(np.float32), "weight": weight.astype(np.float32),
                       "offset": np.ascontiguousarray(offset, np.float32), "bias": b.astype(np.float32),
                       "mask": np.asarray(mask, np.float32)}, attrs)
    _assert_contract(case, name)
    return case


def _assert_contract(case: Case, name: str) -> None:
    """The magnitudes the spec's error model assumes."""
    i = case.inputs
    x, wt = i["x"], i["weight"]
    oh, ow, dil, pads, strides, group, og = geometry(x.shape, wt.shape, case.attrs)
    assert wt.shape[1] * wt.shape[2] * wt.shape[3] <= MAX_TAPS, name
    assert x.size == 0 or np.abs(x).max() <= MAX_X, name
    assert wt.size == 0 or np.abs(wt).reshape(wt.shape[0], -1).sum(axis=1).max() <= MAX_W_L1 * (1 + 1e-6), name
    assert np.abs(i["bias"]).max(initial=0) <= MAX_BIAS and np.abs(i["mask"]).max(initial=0) <= MAX_MASK, name
    if x.shape[0] and oh * ow:
        py, px = sample_positions(x.shape[0], oh, ow, wt.shape[2], wt.shape[3], og, i["offset"], dil, pads, strides)
        assert max(np.abs(py).max(), np.abs(px).max()) <= MAX_POSITION, name


def cases(rng: np.random.Generator):
    yield _case("dcnv2_3x3_pad1", rng, 2, 8, (9, 11), 6, (3, 3), pads=(1, 1, 1, 1))
    yield _case("dcnv1_no_mask", rng, 2, 4, (8, 8), 5, (3, 3), pads=(1, 1, 1, 1), mask="ones")
    yield _case("zero_offsets_is_conv", rng, 1, 6, (7, 7), 4, (3, 3), offset=0.0)
    # integer offsets: samples on pixels (fraction 0), including rows -1 and H whose weight-0 neighbours are outside
    yield _case("integer_offsets", rng, 1, 3, (6, 6), 3, (3, 3), pads=(1, 1, 1, 1),
                offset=rng.integers(-2, 3, (1, 18, 6, 6)).astype(np.float64))
    # offsets of about +-(H+3): most samples fully outside (zero), some straddling the border
    yield _case("offsets_outside_image", rng, 2, 4, (6, 7), 4, (3, 3), offset_scale=7.0)
    yield _case("border_straddle", rng, 1, 2, (5, 5), 2, (2, 2),
                offset=rng.choice([-1.0, -0.5, -0.25, 4.25, 4.5, 5.0], (1, 8, 4, 4)))
    yield _case("stride2_dilation2_asym_pads", rng, 2, 4, (13, 10), 6, (3, 2), pads=(2, 0, 1, 1), strides=(2, 1),
                dilations=(2, 3))
    yield _case("group2_offset_group2", rng, 2, 8, (7, 9), 6, (3, 3), group=2, offset_group=2, pads=(1, 1, 1, 1))
    yield _case("group4_offset_group1", rng, 1, 8, (6, 6), 8, (3, 3), group=4, pads=(1, 1, 1, 1))
    yield _case("group1_offset_group4", rng, 1, 8, (6, 5), 3, (3, 3), offset_group=4)
    yield _case("kernel_1x1", rng, 2, 5, (4, 6), 7, (1, 1))
    yield _case("odd_sizes_batch1", rng, 1, 3, (5, 9), 5, (3, 5), pads=(1, 2, 1, 2), bias=False)
    yield _case("height_1", rng, 2, 3, (1, 9), 4, (1, 3), pads=(0, 1, 0, 1))  # onnx.reference: NaN (see above)
    yield _case("gemm_tiles_k576", rng, 1, 64, (14, 14), 70, (3, 3), pads=(1, 1, 1, 1))  # K = 576: split-K 4, partial M tiles
    # K = 288 over 8 tiles: the CUDA GEMM splits K in 2 (split-K partials), with groups and 3 images
    yield _case("split_k_group2_offset_group4", rng, 3, 64, (5, 6), 8, (3, 3), group=2, offset_group=4, pads=(1, 1, 1, 1))
    yield _case("batch_3_tiles", rng, 3, 16, (17, 15), 33, (3, 3), pads=(1, 1, 1, 1), strides=(2, 2))
    yield _case("empty_batch", rng, 0, 4, (6, 6), 4, (3, 3), pads=(1, 1, 1, 1))
