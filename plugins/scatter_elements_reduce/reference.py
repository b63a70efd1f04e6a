"""ScatterElementsReduce numpy reference and validation cases.

The reference applies the updates in float64, sequentially in index order (row-major over the
indices tensor), with numpy's unbuffered ``ufunc.at``: repeated destinations accumulate, as ONNX
ScatterElements with a reduction defines. Negative indices wrap once; indices still out of range
are skipped, as the plugin skips them (ONNX calls them an error). broadcast_indices = 1: indices
are first broadcast to updates' shape (numpy's rule, dims of extent 1), which is what the ONNX
Expand the surgery rule folds in computes.
"""
from __future__ import annotations

import numpy as np

from pykit.case import Case

REDUCTIONS = ("none", "add", "mul", "max", "min")
# What the spec's tolerances were derived for (spec.toml, error model): every case below keeps to it.
MAX_UPDATES_PER_ELEMENT = 8
ADD_MAX_ABS = 1.0

_UFUNCS = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def destinations(data_shape, indices: np.ndarray, axis: int):
    """(flat destination per index element, mask of the elements that are applied)."""
    rank = len(data_shape)
    if indices.ndim != rank:
        raise ValueError(f"indices has rank {indices.ndim}, data has rank {rank}")
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is outside [-{rank}, {rank})")
    axis %= rank
    dim = data_shape[axis]
    idx = indices.astype(np.int64)
    idx = np.where(idx < 0, idx + dim, idx)
    keep = (idx >= 0) & (idx < dim)
    coords = list(np.indices(indices.shape, sparse=False)) if indices.size else [np.zeros(0, np.int64)] * rank
    for d in range(rank):
        if d != axis and indices.shape[d] > data_shape[d]:
            keep &= coords[d] < data_shape[d]
    coords[axis] = np.where(keep, idx, 0)
    flat = np.ravel_multi_index([np.where(keep, c, 0) for c in coords], data_shape) if indices.size else \
        np.zeros(indices.shape, np.int64)
    return flat.reshape(-1), keep.reshape(-1)


def scatter_elements_reduce(inputs: dict[str, np.ndarray], attrs: dict) -> dict[str, np.ndarray]:
    data = np.asarray(inputs["data"], dtype=np.float64)
    indices = np.asarray(inputs["indices"])
    updates = np.asarray(inputs["updates"], dtype=np.float64)
    if int(attrs.get("broadcast_indices", 0)):
        if indices.ndim != updates.ndim or any(i not in (1, u) for i, u in zip(indices.shape, updates.shape)):
            raise ValueError(f"indices {indices.shape} do not broadcast to updates {updates.shape} dim by dim")
        indices = np.broadcast_to(indices, updates.shape)
    if updates.shape != indices.shape:
        raise ValueError(f"updates has shape {updates.shape}, indices {indices.shape}")
    reduction = attrs.get("reduction", "none")
    flat, keep = destinations(data.shape, indices, int(attrs.get("axis", 0)))
    out = data.copy().reshape(-1)
    values = updates.reshape(-1)[keep]
    flat = flat[keep]
    if reduction == "none":
        out[flat] = values  # numpy assigns in order: with duplicates the last one stays
    elif reduction in _UFUNCS:
        _UFUNCS[reduction].at(out, flat, values)
    else:
        raise ValueError(f"unknown reduction {reduction!r}")
    return {"output": out.reshape(data.shape)}


# ---- cases ----------------------------------------------------------------------------------


def _capped_indices(rng, shape, axis, dim, kmax):
    """Indices along `axis` (values in [0, dim)) such that no destination is hit more than kmax times."""
    shape = tuple(shape)
    n = shape[axis]
    if n > dim * kmax:
        raise ValueError(f"{n} updates along the axis cannot fit {dim} slots x {kmax}")
    moved = (n, int(np.prod(shape)) // n if n else 0)
    out = np.empty(moved, dtype=np.int64)
    slots = np.repeat(np.arange(dim), kmax)
    for col in range(moved[1]):
        out[:, col] = rng.permutation(slots)[:n] if len(slots) <= 65536 else \
            slots[rng.choice(len(slots), n, replace=False)]
    rest = shape[:axis] + shape[axis + 1:]
    return np.moveaxis(out.reshape((n,) + rest), 0, axis)


def _values(rng, shape, reduction):
    if reduction == "mul":
        return rng.uniform(0.5, 1.5, size=shape).astype(np.float32)
    return rng.uniform(-ADD_MAX_ABS, ADD_MAX_ABS, size=shape).astype(np.float32)


def _case(name, rng, data_shape, idx_shape, axis, reduction, kmax=4, negative=0.0, out_of_range=0.0,
          indices=None):
    rank = len(data_shape)
    ax = axis % rank
    if indices is None:
        if reduction == "none":  # ONNX leaves duplicates undefined without a reduction: none here
            kmax = 1
            idx_shape = tuple(min(n, data_shape[ax]) if d == ax else n for d, n in enumerate(idx_shape))
        indices = _capped_indices(rng, idx_shape, ax, data_shape[ax], kmax)
    indices = np.array(indices, dtype=np.int64)
    dim = data_shape[ax]
    if negative:
        flip = rng.random(indices.shape) < negative
        indices = np.where(flip, indices - dim, indices)  # same destination, written the ONNX way
    if out_of_range:
        bad = rng.random(indices.shape) < out_of_range
        choices = np.array([dim, dim + 1, -dim - 1, -2 * dim, 2**31 - 1, -(2**31)], dtype=np.int64)
        indices = np.where(bad, rng.choice(choices, size=indices.shape), indices)
    return Case(name, {"data": _values(rng, data_shape, reduction), "indices": indices.astype(np.int32),
                       "updates": _values(rng, indices.shape, reduction)},
                {"axis": axis, "reduction": reduction})


def _rows_case(name, rng, data_shape, idx_shape, reduction, kmax=4, negative=0.0, out_of_range=0.0):
    """Row-index form (broadcast_indices = 1): indices of shape idx_shape (1 in the broadcast dims),
    updates [idx_shape[0], data_shape[1:]...] along axis 0, at most kmax updates per destination row."""
    n = min(idx_shape[0], data_shape[0]) if reduction == "none" else idx_shape[0]
    upd_shape = (n,) + tuple(data_shape[1:])
    rows = _capped_indices(rng, (n,), 0, data_shape[0], 1 if reduction == "none" else kmax)
    base = _case(name, rng, data_shape, (len(rows),), 0, reduction, kmax=kmax, negative=negative,
                 out_of_range=out_of_range, indices=rows)
    idx = base.inputs["indices"].reshape((len(rows),) + tuple(idx_shape[1:]))
    return Case(name, {"data": base.inputs["data"], "indices": idx,
                       "updates": _values(rng, (len(rows),) + upd_shape[1:], reduction)},
                {"axis": 0, "reduction": reduction, "broadcast_indices": 1})


def _broadcast_case(name, rng, data_shape, idx_shape, upd_shape, axis, reduction):
    """broadcast_indices = 1 in general: indices idx_shape (1 where it broadcasts) against updates upd_shape."""
    base = _case(name, rng, data_shape, idx_shape, axis, reduction)
    return Case(name, {"data": base.inputs["data"], "indices": base.inputs["indices"],
                       "updates": _values(rng, upd_shape, reduction)},
                {"axis": axis, "reduction": reduction, "broadcast_indices": 1})


def _check(case: Case) -> Case:
    """The error model's premises (spec.toml): <= MAX_UPDATES_PER_ELEMENT per element, |add values| <= 1."""
    indices = case.inputs["indices"]
    if case.attrs.get("broadcast_indices"):
        indices = np.broadcast_to(indices, case.inputs["updates"].shape)
    flat, keep = destinations(case.inputs["data"].shape, indices, case.attrs["axis"])
    counts = np.bincount(flat[keep], minlength=1) if keep.any() else np.zeros(1, np.int64)
    limit = 1 if case.attrs["reduction"] == "none" else MAX_UPDATES_PER_ELEMENT
    assert counts.max() <= limit, f"{case.name}: {counts.max()} updates on one element (limit {limit})"
    if case.attrs["reduction"] == "add":
        assert max(np.abs(case.inputs["data"]).max(initial=0), np.abs(case.inputs["updates"]).max(initial=0)) <= ADD_MAX_ABS
    return case


def _cases(rng):
    for reduction in REDUCTIONS:
        yield _case(f"{reduction}_axis0", rng, (6, 5, 4), (12, 5, 3), 0, reduction)
        yield _case(f"{reduction}_axis_last", rng, (3, 4, 7), (3, 2, 20), 2, reduction)
        yield _case(f"{reduction}_axis_negative", rng, (5, 9, 3), (4, 16, 3), -2, reduction)
        yield _case(f"{reduction}_negative_indices", rng, (8, 6), (20, 6), 0, reduction, negative=0.5)
        yield _case(f"{reduction}_out_of_range_skipped", rng, (7, 5), (7, 14), 1, reduction, out_of_range=0.3,
                    negative=0.3)
    for reduction in ("add", "mul", "max", "min"):
        yield _case(f"{reduction}_duplicates_k8", rng, (4, 3), (32, 3), 0, reduction, kmax=8)
    yield _case("add_rank1", rng, (10,), (37,), 0, "add")
    yield _case("max_rank1_negative_axis", rng, (10,), (25,), -1, "max", negative=0.4)
    yield _case("add_rank4_axis1", rng, (2, 5, 3, 4), (2, 9, 3, 4), 1, "add")
    yield _case("mul_rank4_axis_minus1", rng, (2, 3, 4, 5), (2, 3, 4, 11), -1, "mul", negative=0.5)
    yield _case("min_rank4_smaller_indices", rng, (4, 6, 5, 3), (3, 10, 2, 3), 1, "min")
    yield _case("add_empty_updates", rng, (5, 4), (0, 4), 0, "add")
    yield _case("max_empty_updates_rank3", rng, (2, 3, 4), (2, 0, 4), 1, "max")
    yield _case("add_large_262144x16", rng, (262144, 16), (8192, 16), 0, "add", kmax=8,
                indices=_hot_rows(rng, 262144, 8192, 16))
    yield _case("max_large_axis1", rng, (65536, 16), (65536, 24), 1, "max", kmax=8, negative=0.2)
    # row-index form (broadcast_indices = 1): what rules.py makes of scatter_add(0, idx.unsqueeze(-1).expand_as(src))
    for reduction in REDUCTIONS:
        yield _rows_case(f"{reduction}_rows", rng, (9, 8), (20, 1), reduction, negative=0.3, out_of_range=0.2)
    yield _rows_case("add_rows_odd_width", rng, (6, 5), (14, 1), "add")
    yield _rows_case("max_rows_rank3", rng, (7, 3, 4), (18, 1, 1), "max", negative=0.5)
    yield _rows_case("add_rows_large_262144x16", rng, (262144, 16), (131072, 1), "add", kmax=8)
    yield _broadcast_case("add_broadcast_middle_dim", rng, (5, 4, 6), (9, 1, 6), (9, 4, 6), 0, "add")
    yield _broadcast_case("min_broadcast_axis_last", rng, (3, 4, 7), (1, 4, 12), (3, 4, 12), 2, "min")


def _hot_rows(rng, dim, n, cols):
    """[n, cols] row indices with duplicates (up to 8 per element) spread over random rows of [0, dim)."""
    rows = rng.choice(dim, size=n // 4, replace=False)  # 4 updates per destination on average
    pick = _capped_indices(rng, (n, cols), 0, len(rows), MAX_UPDATES_PER_ELEMENT)
    return rows[pick]


def cases(rng: np.random.Generator):
    for case in _cases(rng):
        yield _check(case)
