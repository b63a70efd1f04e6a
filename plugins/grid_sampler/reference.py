"""GridSample numpy reference (ONNX GridSample-16/20, as onnx.reference computes it) and validation cases.

Coordinates are computed as ONNX's reference computes them, in float32 (denormalization; the
reflection in float64 stored back to float32), so that nearest's ties and every tap index are the
definition's; the interpolation itself is float64. tests/ checks this function against
onnx.reference's GridSample and onnxruntime on every mode, padding and align_corners.
"""
from __future__ import annotations

import numpy as np

from pykit.case import Case

MAX_ABS_X = 2.0  # what the spec's error model assumes of the cases' x (asserted below)
MODES = {"bilinear": "linear", "bicubic": "cubic", "linear": "linear", "nearest": "nearest", "cubic": "cubic"}
F32 = np.float32


def denormalize(g: np.ndarray, length: int, align_corners: bool) -> np.ndarray:
    """Normalized -> pixel coordinates in float32, in ONNX's (and torch's) operation order."""
    g = np.asarray(g, F32)
    if align_corners:
        return ((g + F32(1)) * F32(0.5)) * F32(length - 1)
    return ((g + F32(1)) * F32(length) - F32(1)) * F32(0.5)


def reflect(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """onnx.reference's _gs_reflect, elementwise, in float64 (a zero range reads lo, as torch)."""
    v = np.asarray(v, np.float64)
    rng = hi - lo
    if rng <= 0:
        return np.where(np.isnan(v), v, lo)
    out = v.copy()
    below, above = v < lo, v > hi
    m = np.fmod(lo - v[below], 2 * rng)
    out[below] = np.where(m <= rng, lo + m, hi - (m - rng))
    m = np.fmod(v[above] - hi, 2 * rng)
    out[above] = np.where(m <= rng, hi - m, lo + (m - rng))
    return out


def pad_coordinate(c: np.ndarray, length: int, padding: str, align_corners: bool) -> np.ndarray:
    lo, hi = (0.0, length - 1.0) if align_corners else (-0.5, length - 0.5)
    outside = (c < lo) | (c > hi)
    if padding == "border":
        return np.where(outside, np.clip(c, F32(0), F32(length - 1)), c).astype(F32)
    if padding == "reflection":
        return np.where(outside, reflect(c, lo, hi).astype(F32), c).astype(F32)
    return c


def pad_index(i: np.ndarray, length: int, padding: str, align_corners: bool) -> tuple[np.ndarray, np.ndarray]:
    """(index in [0, length), valid); invalid taps (zeros padding) read 0."""
    valid = (i >= 0) & (i < length)
    if padding == "zeros":
        return np.where(valid, i, 0), valid
    if padding == "border":
        return np.clip(i, 0, length - 1), np.ones_like(valid)
    lo, hi = (0.0, length - 1.0) if align_corners else (-0.5, length - 0.5)
    return reflect(i.astype(np.float64), lo, hi).astype(np.int64), np.ones_like(valid)


def cubic_coefficients(t: np.ndarray) -> list[np.ndarray]:
    """Keys' cubic convolution kernel, A = -0.75, for taps at -1, 0, 1, 2 (t in [0, 1))."""
    a = -0.75
    x = [t + 1, t, 1 - t, 2 - t]
    near = lambda z: ((a + 2) * z - (a + 3)) * z * z + 1  # noqa: E731   |z| <= 1
    far = lambda z: ((a * z - 5 * a) * z + 8 * a) * z - 4 * a  # noqa: E731   1 < |z| < 2
    return [far(x[0]), near(x[1]), near(x[2]), far(x[3])]


def axis_taps(gv: np.ndarray, length: int, mode: str, padding: str, align_corners: bool):
    """Per tap: (index array, weight array float64) along one axis for grid values gv."""
    c = denormalize(gv, length, align_corners)
    if mode == "nearest":
        c = np.rint(c)  # half to even, as onnx.reference and torch
    c = pad_coordinate(c, length, padding, align_corners)
    nan = np.isnan(c)
    c = np.where(nan, F32(0), c)
    if mode == "nearest":
        first, weights = np.trunc(c).astype(np.int64), [np.ones(c.shape)]
    else:
        f = np.floor(c)
        t = c.astype(np.float64) - f
        first = f.astype(np.int64) - (1 if mode == "cubic" else 0)
        weights = [1 - t, t] if mode == "linear" else cubic_coefficients(t)
    taps = []
    for j, w in enumerate(weights):
        idx, valid = pad_index(first + j, length, padding, align_corners)
        taps.append((idx, np.where(nan, np.nan, np.where(valid, w, 0.0))))
    return taps


def grid_sampler(inputs: dict[str, np.ndarray], attrs: dict) -> dict[str, np.ndarray]:
    """y[n, c, o] = x[n, c] interpolated at grid[n, o] (ONNX GridSample-16/20)."""
    x = np.asarray(inputs["x"], np.float64)
    grid = np.asarray(inputs["grid"], F32)
    mode = MODES[str(attrs.get("mode", "linear"))]
    padding = str(attrs.get("padding_mode", "zeros"))
    ac = bool(int(attrs.get("align_corners", 0)))
    axes = x.ndim - 2
    if x.ndim not in (4, 5) or grid.ndim != x.ndim or grid.shape[-1] != axes or grid.shape[0] != x.shape[0]:
        raise ValueError(f"GridSample: x {x.shape} and grid {grid.shape}: need x (N, C, *spatial) of rank 4 or 5 "
                         f"and grid (N, *out, {axes})")
    if mode == "cubic" and axes != 2:
        raise ValueError("GridSample: mode 'cubic' only supports 4-D x (ONNX), got 5-D")
    n, c = x.shape[:2]
    out_spatial = grid.shape[1:-1]
    y = np.zeros((n, c) + tuple(out_spatial), np.float64)
    if y.size == 0:
        return {"y": y}
    if min(x.shape[2:]) == 0:
        raise ValueError(f"GridSample: x {x.shape} has an empty spatial axis and the output is not empty")
    # per axis (outermost first): its taps; grid's last axis lists x (innermost) first
    per_axis = [axis_taps(grid[..., axes - 1 - a], x.shape[2 + a], mode, padding, ac) for a in range(axes)]
    flat = x.reshape(n, c, -1)
    strides = np.cumprod((1,) + x.shape[:1:-1])[:axes][::-1]
    batch = np.arange(n).reshape((n,) + (1,) * len(out_spatial))
    for combo in np.ndindex(*[len(t) for t in per_axis]):
        offset = sum(per_axis[a][combo[a]][0] * strides[a] for a in range(axes))
        weight = np.prod([per_axis[a][combo[a]][1] for a in range(axes)], axis=0)
        values = flat[batch, :, offset]  # (n, *out, c)
        y += np.moveaxis(weight[..., None] * values, -1, 1)
    return {"y": y}


def _grid(rng, shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def _case(name: str, rng: np.random.Generator, x_shape, grid=None, out=None, x=None, **attrs) -> Case:
    """x ~ U(-2, 2) of x_shape; grid ~ U(-1.2, 1.2) of (N, *out, axes) unless given."""
    axes = len(x_shape) - 2
    out = tuple(x_shape[2:]) if out is None else tuple(out)
    if grid is None:
        grid = _grid(rng, (x_shape[0],) + out + (axes,), -1.2, 1.2)
    x = rng.uniform(-MAX_ABS_X, MAX_ABS_X, x_shape) if x is None else np.broadcast_to(x, x_shape)
    case = Case(name, {"x": np.asarray(x, np.float32), "grid": np.asarray(grid, np.float32)},
                {"mode": "linear", "padding_mode": "zeros", "align_corners": 0, **attrs})
    assert case.inputs["x"].size == 0 or np.abs(case.inputs["x"]).max() <= MAX_ABS_X, name
    return case


def _on_borders(n, out, axes, ac_values=(-1.0, 1.0)):
    """A grid whose points all lie exactly on the image's borders (or its centre)."""
    pts = np.array(list(ac_values) + [0.0], np.float32)
    idx = np.indices(out).reshape(len(out), -1).T
    g = np.stack([pts[(idx.sum(axis=1) + k) % len(pts)] for k in range(axes)], axis=-1)
    return np.broadcast_to(g.reshape(out + (axes,)), (n,) + out + (axes,)).copy()


def cases(rng: np.random.Generator):
    modes = ("linear", "nearest", "cubic")
    paddings = ("zeros", "border", "reflection")
    # every mode x padding x align_corners on a 4-D odd-sized image, grid reaching outside the image
    for mode in modes:
        for padding in paddings:
            for ac in (0, 1):
                yield _case(f"2d_{mode}_{padding}_ac{ac}", rng, (2, 3, 7, 9), out=(5, 6), mode=mode,
                            padding_mode=padding, align_corners=ac)
    for mode in ("linear", "nearest"):  # 5-D: cubic is 4-D only
        for padding in paddings:
            for ac in (0, 1):
                yield _case(f"3d_{mode}_{padding}_ac{ac}", rng, (2, 3, 5, 6, 7), out=(3, 4, 5), mode=mode,
                            padding_mode=padding, align_corners=ac)
    # samples far outside the image (several periods of the reflection), each padding
    for padding in paddings:
        yield _case(f"far_outside_{padding}", rng, (1, 2, 6, 5), grid=_grid(rng, (1, 4, 8, 2), -7.0, 7.0),
                    padding_mode=padding)
        yield _case(f"far_outside_{padding}_3d_ac1", rng, (1, 2, 4, 5, 3), grid=_grid(rng, (1, 2, 3, 4, 3), -5.0, 5.0),
                    padding_mode=padding, align_corners=1)
    # grid exactly on the borders and the centre: -1, 1, 0 (nearest's ties: half to even)
    for mode in modes:
        for ac in (0, 1):
            yield _case(f"on_borders_{mode}_ac{ac}", rng, (1, 2, 4, 6), grid=_on_borders(1, (3, 5), 2), mode=mode,
                        padding_mode="border" if mode == "cubic" else "zeros", align_corners=ac)
    yield _case("on_borders_3d_nearest_reflection", rng, (1, 2, 4, 4, 6), grid=_on_borders(1, (2, 3, 4), 3),
                mode="nearest", padding_mode="reflection")
    # nearest's ties: grid points at pixel boundaries (c = k + 0.5) with align_corners 0 and 1
    w = 6
    ties = ((np.arange(-1, w + 1) + 0.5) * 2 + 1) / w - 1  # align_corners=0: c = k + 0.5
    g = np.stack(np.meshgrid(ties, ties[:5]), axis=-1)[None].astype(np.float32)
    yield _case("nearest_ties_ac0", rng, (1, 2, 5, w), grid=g, mode="nearest")
    ties1 = 2 * (np.arange(-1, w) + 0.5) / (w - 1) - 1  # align_corners=1: c = k + 0.5
    g = np.stack(np.meshgrid(ties1, ties1[:5]), axis=-1)[None].astype(np.float32)
    yield _case("nearest_ties_ac1_reflection", rng, (1, 2, 5, w), grid=g, mode="nearest", padding_mode="reflection",
                align_corners=1)
    # length-1 axes (align_corners=1 maps every point to 0; reflection's zero range)
    yield _case("length_one_axes_reflection_ac1", rng, (2, 2, 1, 1), out=(3, 4), padding_mode="reflection",
                align_corners=1)
    yield _case("length_one_cubic_border", rng, (1, 3, 1, 5), out=(2, 7), mode="cubic", padding_mode="border")
    # upsampling and downsampling, many channels (the channel loop), identity-like warps
    yield _case("upsample_many_channels", rng, (1, 40, 6, 8), out=(13, 17))
    yield _case("downsample_cubic_reflection", rng, (2, 4, 33, 31), out=(7, 5), mode="cubic",
                padding_mode="reflection", align_corners=1)
    yield _case("3d_linear_odd_volume", rng, (1, 5, 9, 7, 11), out=(4, 5, 6))
    # zero-size: an empty batch, no channels, an empty output plane (TensorRT runs zero-sized tensors)
    yield _case("empty_batch", rng, (0, 3, 5, 5), grid=np.zeros((0, 4, 4, 2), np.float32))
    yield _case("no_channels", rng, (2, 0, 5, 5), out=(3, 3))
    yield _case("empty_output", rng, (1, 3, 5, 5), grid=np.zeros((1, 0, 4, 2), np.float32))
    yield _case("empty_output_3d", rng, (1, 2, 3, 3, 3), grid=np.zeros((1, 2, 0, 2, 3), np.float32))
