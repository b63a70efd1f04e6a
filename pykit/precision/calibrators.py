"""Streaming INT8 calibrators in numpy: entropy (TensorRT "Entropy2"), min-max and percentile.

Every calibrator sees a tensor batch by batch through :meth:`collect` and keeps a histogram of
``|x|`` (or, for min-max, only the running maximum), never the activations themselves, so memory
does not grow with the data set.  :meth:`compute_amax` returns the clipping threshold ``amax``
and :meth:`scale` the symmetric INT8 scale ``amax / 127`` (:func:`pykit.precision.numerics.scale_from_amax`).

Histogram and range growth
--------------------------
The histogram of ``|x|`` is kept at ``num_bins * oversample`` fine bins (2048 x 16 by default)
over ``[0, R]``, where ``R`` starts as the first non-zero batch maximum.  When a batch exceeds
``R``, the range grows by the smallest integer factor ``k`` with ``k*R >= max`` and the old
histogram is re-binned by merging each run of ``k`` fine bins into one: the old and new bin edges
coincide, so re-binning loses no count and smears nothing.  This is the re-binning pytorch-quantization
does (it extends the range in steps of the existing bin width); keeping 16x finer bins means the
result does not depend on the order of the batches beyond 1/8 of a calibration bin.  At
:meth:`compute_amax` the fine histogram is resampled onto ``num_bins`` bins over ``[0, amax_seen]``
-- the histogram a one-shot pass over all the data would have built -- by linear interpolation of
its cumulative counts (exact where edges coincide, as they do when no growth happened).

Entropy calibration
-------------------
Migacz, "8-bit Inference with TensorRT", GTC 2017, as implemented in NVIDIA pytorch-quantization
``calib/histogram.py`` (``_compute_amax_entropy``), which mirrors TensorRT's IInt8EntropyCalibrator2:

* ``bins[0] = bins[1]`` (the spike of exact zeros, e.g. after ReLU, does not drive the choice);
* for every candidate ``i`` in ``start_bin .. num_bins`` (128 .. 2048): the reference ``P`` is
  ``bins[:i]`` with all counts above the threshold added to its last bin; the candidate ``Q``
  merges ``bins[:i]`` into 128 levels (bin ``b`` goes to level ``floor(128*b/i)``) and spreads each
  level's count uniformly over that level's non-empty bins (empty bins stay empty);
* ``KL(P||Q)`` on the normalised distributions (``inf`` where ``P>0`` and ``Q=0``);
* ``amax`` is the upper edge of bin ``i`` for the minimising ``i`` (the largest such ``i`` on ties).
"""
from __future__ import annotations

import math

import numpy as np

from .numerics import scale_from_amax

__all__ = [
    "Calibrator",
    "EntropyCalibrator",
    "MinMaxCalibrator",
    "PercentileCalibrator",
    "entropy_threshold_bin",
    "make_calibrator",
    "ALGORITHMS",
]


def _abs_values(x) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"cannot calibrate an array of dtype {a.dtype}")
    if a.dtype.kind == "f" and a.dtype.itemsize > 4:
        a = a.astype(np.float64)
    else:
        a = a.astype(np.float32)
    a = np.abs(a.reshape(-1))
    if a.size and not np.isfinite(a).all():
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"cannot calibrate a tensor with {bad} non-finite value(s) (NaN or inf)")
    return a


class Calibrator:
    """Base class: ``collect(array)`` per batch, then ``compute_amax()`` and ``scale()``."""

    #: algorithm name a TensorRT calibration cache written from this calibrator carries
    cache_algorithm = "EntropyCalibration2"

    def __init__(self) -> None:
        self.count = 0  # number of values seen
        self._amax_seen = 0.0

    def collect(self, x) -> None:
        raise NotImplementedError

    def compute_amax(self) -> float:
        raise NotImplementedError

    def scale(self) -> float:
        """INT8 scale ``amax / 127`` (float32 value); an all-zero tensor gets ``1/127``."""
        return scale_from_amax(self.compute_amax())

    @property
    def amax_seen(self) -> float:
        """Largest ``|x|`` collected so far."""
        return self._amax_seen

    def _require_data(self) -> None:
        if self.count == 0:
            raise RuntimeError(f"{type(self).__name__}: no data collected; call collect() first")


class MinMaxCalibrator(Calibrator):
    """``amax = max |x|`` over everything collected (TensorRT's MinMaxCalibration, symmetric)."""

    cache_algorithm = "MinMaxCalibration"

    def collect(self, x) -> None:
        a = _abs_values(x)
        if a.size == 0:
            return
        self.count += a.size
        self._amax_seen = max(self._amax_seen, float(a.max()))

    def compute_amax(self) -> float:
        self._require_data()
        return self._amax_seen


class _HistogramCalibrator(Calibrator):
    """Streaming histogram of ``|x|`` with exact integer-factor range growth (see module doc)."""

    def __init__(self, num_bins: int = 2048, oversample: int = 16) -> None:
        super().__init__()
        if num_bins < 1 or oversample < 1:
            raise ValueError("num_bins and oversample must be positive")
        self.num_bins = int(num_bins)
        self.oversample = int(oversample)
        self._nfine = self.num_bins * self.oversample
        self._range = 0.0  # upper edge of the fine histogram; 0 until a non-zero value arrives
        self._fine: np.ndarray | None = None
        self._zeros = 0  # zeros seen while the range was still 0
        self.growths = 0  # how many times the range grew (for diagnostics and tests)

    @property
    def bin_width(self) -> float:
        """Width of one fine histogram bin (0 before any non-zero data)."""
        return self._range / self._nfine

    def collect(self, x) -> None:
        a = _abs_values(x)
        if a.size == 0:
            return
        m = float(a.max())
        self.count += a.size
        self._amax_seen = max(self._amax_seen, m)
        if self._range == 0.0:
            if m == 0.0:
                self._zeros += a.size
                return
            self._range = m
            self._fine = np.zeros(self._nfine, dtype=np.int64)
            self._fine[0] = self._zeros
        elif m > self._range:
            k = max(2, math.ceil(m / self._range))
            while k * self._range < m:
                k += 1
            merged = np.concatenate([self._fine, np.zeros((-self._nfine) % k, np.int64)])
            merged = merged.reshape(-1, k).sum(axis=1)
            self._fine = np.zeros(self._nfine, dtype=np.int64)
            self._fine[: merged.size] = merged
            self._range *= k
            self.growths += 1
        hist, _ = np.histogram(a, bins=self._nfine, range=(0.0, self._range))
        self._fine += hist

    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """``(counts, edges)``: ``num_bins`` float64 counts over ``[0, amax_seen]`` and their edges."""
        self._require_data()
        n = self.num_bins
        amax = self._amax_seen
        edges = np.linspace(0.0, amax, n + 1)
        if self._fine is None:  # all zeros
            counts = np.zeros(n)
            counts[0] = self.count
            return counts, edges
        fine_edges = np.arange(self._nfine + 1, dtype=np.float64) * (self._range / self._nfine)
        cdf = np.concatenate([[0.0], np.cumsum(self._fine, dtype=np.float64)])
        at = np.interp(edges, fine_edges, cdf)
        at[0] = 0.0
        at[-1] = cdf[-1]  # every value is <= amax_seen
        counts = np.maximum(np.diff(at), 0.0)
        return counts, edges


def entropy_threshold_bin(hist, start_bin: int = 128, num_levels: int = 128, stride: int = 1) -> int:
    """Index ``i`` (threshold = upper edge of bin ``i-1``) minimising ``KL(P||Q)``; see module doc."""
    bins = np.array(hist, dtype=np.float64)
    nb = bins.size
    if nb == 0:
        raise ValueError("empty histogram")
    if nb > 1:
        bins[0] = bins[1]
    if bins.sum() == 0:
        return nb
    # counts above each candidate threshold: tail[i] = sum(bins[i:])
    tail = np.concatenate([np.cumsum(bins[::-1])[::-1], [0.0]])
    candidates = list(range(min(start_bin, nb), nb + 1, stride))
    divergences = np.empty(len(candidates))
    for c, i in enumerate(candidates):
        head = bins[:i]
        p = head.copy()
        p[-1] += tail[i]
        levels = (np.arange(i, dtype=np.int64) * num_levels) // i
        nonzero = head != 0
        level_sum = np.bincount(levels, weights=head, minlength=num_levels)
        level_nnz = np.bincount(levels, weights=nonzero, minlength=num_levels)
        q = np.where(nonzero, level_sum[levels] / np.maximum(level_nnz[levels], 1.0), 0.0)
        p_sum, q_sum = p.sum(), q.sum()
        if q_sum == 0:
            divergences[c] = np.inf
            continue
        p /= p_sum
        q /= q_sum
        pos = p > 0
        if np.any(q[pos] == 0):
            divergences[c] = np.inf
            continue
        divergences[c] = float(np.sum(p[pos] * np.log(p[pos] / q[pos])))
    best = len(divergences) - 1 - int(np.argmin(divergences[::-1]))
    return candidates[best]


class EntropyCalibrator(_HistogramCalibrator):
    """TensorRT Entropy2 calibration (KL divergence over thresholds, 128 levels); see module doc."""

    cache_algorithm = "EntropyCalibration2"

    def __init__(self, num_bins: int = 2048, start_bin: int = 128, num_levels: int = 128,
                 stride: int = 1, oversample: int = 16) -> None:
        super().__init__(num_bins=num_bins, oversample=oversample)
        self.start_bin = int(start_bin)
        self.num_levels = int(num_levels)
        self.stride = int(stride)

    def compute_amax(self) -> float:
        counts, edges = self.histogram()
        if self._amax_seen == 0.0:
            return 0.0
        i = entropy_threshold_bin(counts, self.start_bin, self.num_levels, self.stride)
        return float(edges[i])


class PercentileCalibrator(_HistogramCalibrator):
    """``amax`` = the given percentile of ``|x|`` (default 99.99), to one fine histogram bin.

    The result is the upper edge of the fine bin holding the smallest value ``v`` with
    ``P(|x| <= v) >= percentile/100`` (numpy's ``method="inverted_cdf"``), capped at the largest
    value seen; so ``v`` lies in ``[amax - bin_width, amax]``.  TensorRT's legacy calibrator is the
    one with a quantile parameter, hence the cache algorithm name ``LegacyCalibration``.
    """

    cache_algorithm = "LegacyCalibration"

    def __init__(self, percentile: float = 99.99, num_bins: int = 2048, oversample: int = 16) -> None:
        if not 0.0 < float(percentile) <= 100.0:
            raise ValueError(f"percentile must be in (0, 100], got {percentile}")
        super().__init__(num_bins=num_bins, oversample=oversample)
        self.percentile = float(percentile)

    def compute_amax(self) -> float:
        self._require_data()
        if self._fine is None:
            return 0.0
        need = math.ceil(self.count * (self.percentile / 100.0))  # as numpy's inverted_cdf
        need = min(max(need, 1), self.count)
        cdf = np.cumsum(self._fine)
        j = int(np.searchsorted(cdf, need, side="left"))
        return float(min((j + 1) * (self._range / self._nfine), self._amax_seen))


ALGORITHMS = {"entropy": EntropyCalibrator, "minmax": MinMaxCalibrator, "percentile": PercentileCalibrator}


def make_calibrator(algo: str, percentile: float = 99.99, **kwargs) -> Calibrator:
    """A fresh calibrator by name: ``entropy``, ``minmax`` or ``percentile``."""
    try:
        cls = ALGORITHMS[algo]
    except KeyError:
        raise ValueError(f"unknown calibration algorithm {algo!r}; choose one of {sorted(ALGORITHMS)}") from None
    if cls is PercentileCalibrator:
        return cls(percentile=percentile, **kwargs)
    return cls(**kwargs)
