"""PillarScatter numpy reference and validation cases."""
from __future__ import annotations

import numpy as np

from pykit.case import Case


def pillar_scatter(inputs: dict[str, np.ndarray], attrs: dict) -> dict[str, np.ndarray]:
    """Sequential scatter in pillar order (float64): a later pillar overwrites an earlier one."""
    features = np.asarray(inputs["pillar_features"], dtype=np.float64)
    features = features.reshape(features.shape[-2:])
    coords = np.asarray(inputs["coords"]).reshape(-1, 4)
    pillars, channels = features.shape
    valid = int(np.clip(np.asarray(inputs["num_valid"]).reshape(-1)[0], 0, pillars))
    nx, ny, batch = attrs["nx"], attrs["ny"], attrs["batch_size"]
    canvas = np.zeros((batch, channels, ny, nx), dtype=np.float64)
    b, y, x = (coords[:valid, k].astype(np.int64) for k in (0, 2, 3))
    keep = (b >= 0) & (b < batch) & (y >= 0) & (y < ny) & (x >= 0) & (x < nx)
    idx = np.nonzero(keep)[0]
    # duplicates: the last pillar in order wins, as a sequential scatter leaves it
    cell = (b[idx] * ny + y[idx]) * nx + x[idx]
    _, last_from_end = np.unique(cell[::-1], return_index=True)
    idx = idx[len(idx) - 1 - last_from_end]
    canvas[b[idx], :, y[idx], x[idx]] = features[idx]
    return {"canvas": canvas}


def _unique_coords(rng, count, batch, ny, nx):
    cells = rng.choice(batch * ny * nx, size=count, replace=False)
    b, rest = np.divmod(cells, ny * nx)
    y, x = np.divmod(rest, nx)
    return np.stack([b, np.zeros_like(b), y, x], axis=1).astype(np.int32)


def _case(name, rng, pillars, channels, nx, ny, batch=1, valid=None, coords=None, rank3=False, scalar=False):
    feats = rng.standard_normal((pillars, channels)).astype(np.float32)
    if coords is None:
        coords = _unique_coords(rng, pillars, batch, ny, nx)
    valid = pillars if valid is None else valid
    return Case(
        name,
        {
            "pillar_features": feats[None] if rank3 else feats,
            "coords": coords.astype(np.int32),
            "num_valid": np.array(valid if scalar else [valid], dtype=np.int32),
        },
        {"nx": nx, "ny": ny, "batch_size": batch},
    )


def cases(rng: np.random.Generator):
    yield _case("random", rng, 300, 16, nx=40, ny=30, batch=2, valid=250)
    # same canvas as "random", other pillar counts: one engine profile spans them (lifecycle checks)
    yield _case("random_fewer_pillars", rng, 37, 16, nx=40, ny=30, batch=2)
    yield _case("random_no_pillars", rng, 0, 16, nx=40, ny=30, batch=2)
    yield _case("rank3_features_scalar_count", rng, 64, 8, nx=16, ny=12, rank3=True, scalar=True)
    dup = _unique_coords(rng, 50, 1, 10, 10)
    dup[25:] = dup[:25]  # every cell claimed twice: the later pillar must win
    yield _case("duplicate_coords", rng, 50, 4, nx=10, ny=10, coords=dup)
    bad = _unique_coords(rng, 40, 2, 8, 9)
    bad[0::5, 0] = -1        # negative batch
    bad[1::5, 0] = 2         # batch == B
    bad[2::5, 2] = 8         # y == ny
    bad[3::5, 3] = -3        # negative x
    bad[4::10, 3] = 2**31 - 1  # huge x
    yield _case("out_of_range_coords", rng, 40, 4, nx=9, ny=8, batch=2, coords=bad)
    yield _case("zero_valid_pillars", rng, 20, 4, nx=8, ny=8, valid=0)
    yield _case("num_valid_above_P", rng, 20, 4, nx=8, ny=8, valid=1000)
    yield _case("num_valid_negative", rng, 20, 4, nx=8, ny=8, valid=-7)
    yield _case("no_pillars", rng, 0, 4, nx=5, ny=3)
    yield _case("large_canvas_pointpillars", rng, 12000, 64, nx=432, ny=496, valid=11000)
