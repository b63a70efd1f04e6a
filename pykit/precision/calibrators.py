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
:meth:`compute_amax` the fine histogram is resampled onto ``num_bins`` bins over ``[0, R]``, ``R``
the range the rule's streaming would end with (the largest value seen for a one-shot pass; the
first batch's maximum doubled until it covered every batch for TensorRT's rule), by linear
interpolation of its cumulative counts (exact where edges coincide, as they do when no growth
happened).

Entropy calibration
-------------------
Migacz, "8-bit Inference with TensorRT", GTC 2017, as implemented in NVIDIA pytorch-quantization
``calib/histogram.py`` (``_compute_amax_entropy``):

* ``bins[0] = bins[1]`` (the spike of exact zeros, e.g. after ReLU, does not drive the choice);
* for every candidate ``i`` in ``start_bin .. num_bins`` (128 .. 2048): the reference ``P`` is
  ``bins[:i]`` with all counts above the threshold added to its last bin; the candidate ``Q``
  merges ``bins[:i]`` into 128 levels (bin ``b`` goes to level ``floor(128*b/i)``) and spreads each
  level's count uniformly over that level's non-empty bins (empty bins stay empty);
* ``KL(P||Q)`` on the normalised distributions (``inf`` where ``P>0`` and ``Q=0``);
* the minimising ``i`` (the largest such ``i`` on ties) gives ``amax``.

Where the histogram ends and where in bin ``i`` the threshold sits are one :class:`EntropyRule`,
with the other choices it can express (histogram of ``x`` rather than ``|x|``, 127/255/256 levels,
more levels for tensors that never go negative, the zero bin kept): the candidates
``scripts/calib-experiments.py`` held against TensorRT 8.5's IInt8EntropyCalibrator2 on the H200
(docs/calibration/README.md).  :data:`DEFAULT_ENTROPY_RULE` is :data:`TENSORRT_ENTROPY_RULE`, the
rule that matched TensorRT best: the histogram's range starts at the first batch's maximum and
doubles whenever a batch exceeds it, and ``amax = (i + 0.5) * width`` for ``i`` kept bins (half a
bin above their upper edge).  :data:`ONE_SHOT_ENTROPY_RULE` (``EntropyRule()``, pykit's default
before) is pytorch-quantization's: one histogram over ``[0, max|x|]``, ``amax = i * width``.

Every range rule ends with a histogram that a one-shot pass would have built over ``[0, R]`` for
the final ``R`` (merging bins whose edges coincide, or appending bins of the same width, loses and
moves nothing), so each is computed from the fine histogram and the sequence of batch maxima.

MSE calibration
---------------
``amax`` minimising the expected squared error of fake quantization (``s = amax/127``, values
clamped at ``amax``) over the histogram of ``|x|``, each bin's count placed at its centre; the
candidates are the bin edges from ``start_bin`` on (pytorch-quantization ``_compute_amax_mse``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .numerics import scale_from_amax

__all__ = [
    "Calibrator",
    "DEFAULT_ENTROPY_RULE",
    "EntropyCalibrator",
    "EntropyRule",
    "MinMaxCalibrator",
    "MseCalibrator",
    "ONE_SHOT_ENTROPY_RULE",
    "PercentileCalibrator",
    "TENSORRT_ENTROPY_RULE",
    "entropy_threshold_bin",
    "make_calibrator",
    "ALGORITHMS",
]


def _abs_values(x) -> np.ndarray:
    return np.abs(_signed_values(x))


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
    """Streaming histogram of ``|x|`` with exact integer-factor range growth (see module doc).

    Alongside it: the histogram of the negative values alone (so the histogram of ``x`` itself is
    at hand) and the largest ``|x|`` of each batch (so any range rule can be replayed)."""

    #: what collect() accumulates (everything else is the algorithm's parameters)
    _STATE = ("count", "_amax_seen", "_range", "_fine", "_fine_neg", "_zeros", "batch_max", "min_seen", "growths")

    def __init__(self, num_bins: int = 2048, oversample: int = 16) -> None:
        super().__init__()
        if num_bins < 1 or oversample < 1:
            raise ValueError("num_bins and oversample must be positive")
        self.num_bins = int(num_bins)
        self.oversample = int(oversample)
        self._nfine = self.num_bins * self.oversample
        self._range = 0.0  # upper edge of the fine histogram; 0 until a non-zero value arrives
        self._fine: np.ndarray | None = None  # counts of |x|
        self._fine_neg: np.ndarray | None = None  # counts of |x| for x < 0 only
        self._zeros = 0  # zeros seen while the range was still 0
        self.batch_max: list[float] = []  # max |x| of each non-empty batch, in order
        self.min_seen = math.inf  # smallest x (signed)
        self.growths = 0  # how many times the range grew (for diagnostics and tests)

    @property
    def bin_width(self) -> float:
        """Width of one fine histogram bin (0 before any non-zero data)."""
        return self._range / self._nfine

    def collect(self, x) -> None:
        signed = _signed_values(x)
        if signed.size == 0:
            return
        a = np.abs(signed)
        m = float(a.max())
        self.count += a.size
        self.batch_max.append(m)
        self.min_seen = min(self.min_seen, float(signed.min()))
        self._amax_seen = max(self._amax_seen, m)
        if self._range == 0.0:
            if m == 0.0:
                self._zeros += a.size
                return
            self._range = m
            self._fine = np.zeros(self._nfine, dtype=np.int64)
            self._fine_neg = np.zeros(self._nfine, dtype=np.int64)
            self._fine[0] = self._zeros
        elif m > self._range:
            k = max(2, math.ceil(m / self._range))
            while k * self._range < m:
                k += 1
            self._fine, self._fine_neg = (_merge(h, k) for h in (self._fine, self._fine_neg))
            self._range *= k
            self.growths += 1
        hist, _ = np.histogram(a, bins=self._nfine, range=(0.0, self._range))
        self._fine += hist
        negative = a[signed < 0]
        if negative.size:
            hist, _ = np.histogram(negative, bins=self._nfine, range=(0.0, self._range))
            self._fine_neg += hist

    def as_algorithm(self, cls, **params) -> "_HistogramCalibrator":
        """A calibrator of another histogram algorithm (``cls(**params)``) answering from the data
        this one collected (the histograms are shared, not copied): one pass serves every algorithm."""
        other = cls(**params)
        if other.num_bins != self.num_bins or other.oversample != self.oversample:
            raise ValueError(f"{cls.__name__} needs num_bins={self.num_bins}, oversample={self.oversample} to share a histogram")
        for name in self._STATE:
            setattr(other, name, getattr(self, name))
        return other

    def _resample(self, fine: np.ndarray | None, edges: np.ndarray, total: int) -> np.ndarray:
        """Counts of a fine histogram over new ``edges`` (linear interpolation of the cumulative
        counts; exact where the edges coincide with fine edges)."""
        if fine is None:
            counts = np.zeros(edges.size - 1)
            counts[0] = total
            return counts
        fine_edges = np.arange(self._nfine + 1, dtype=np.float64) * (self._range / self._nfine)
        cdf = np.concatenate([[0.0], np.cumsum(fine, dtype=np.float64)])
        at = np.interp(edges, fine_edges, cdf)  # beyond the fine range: every count
        at[0] = 0.0
        if edges[-1] >= self._amax_seen:
            at[-1] = cdf[-1]  # every value is <= amax_seen
        return np.maximum(np.diff(at), 0.0)

    def histogram(self, upper: float | None = None, num_bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(counts, edges)``: float64 counts of ``|x|`` over ``[0, upper]`` (default the largest
        value seen) in ``num_bins`` bins (default ``self.num_bins``), and their edges."""
        self._require_data()
        n = self.num_bins if num_bins is None else int(num_bins)
        upper = self._amax_seen if upper is None else float(upper)
        edges = np.linspace(0.0, upper, n + 1)
        return self._resample(self._fine, edges, self.count), edges

    def signed_histogram(self, upper: float | None = None, num_bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(counts, edges)`` of ``x`` itself over ``[-upper, upper]``: ``num_bins`` (even) bins,
        zero on the edge between the two halves (zeros counted in the upper half, as np.histogram)."""
        self._require_data()
        n = self.num_bins if num_bins is None else int(num_bins)
        if n % 2:
            raise ValueError(f"a signed histogram needs an even number of bins, got {n}")
        half = n // 2
        upper = self._amax_seen if upper is None else float(upper)
        edges = np.linspace(0.0, upper, half + 1)
        every = self._resample(self._fine, edges, self.count)
        neg = np.zeros(half) if self._fine_neg is None else self._resample(self._fine_neg, edges, 0)
        neg = np.clip(neg, 0.0, every)
        return np.concatenate([neg[::-1], every - neg]), np.linspace(-upper, upper, n + 1)


def _merge(fine: np.ndarray, k: int) -> np.ndarray:
    """Fine histogram re-binned by merging each run of ``k`` bins (edges coincide: exact)."""
    n = fine.size
    merged = np.concatenate([fine, np.zeros((-n) % k, np.int64)]).reshape(-1, k).sum(axis=1)
    out = np.zeros(n, dtype=np.int64)
    out[: merged.size] = merged
    return out


def _signed_values(x) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"cannot calibrate an array of dtype {a.dtype}")
    a = a.astype(np.float64 if a.dtype.kind == "f" and a.dtype.itemsize > 4 else np.float32).reshape(-1)
    if a.size and not np.isfinite(a).all():
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"cannot calibrate a tensor with {bad} non-finite value(s) (NaN or inf)")
    return a


def _kl_divergence(p: np.ndarray, head: np.ndarray, levels: int) -> float:
    """KL(P||Q): ``p`` the reference counts, ``head`` the in-range counts, merged into ``levels``
    levels (bin ``b`` to level ``floor(levels*b/len)``) and spread over each level's non-empty bins."""
    i = head.size
    idx = (np.arange(i, dtype=np.int64) * levels) // i
    nonzero = head != 0
    level_sum = np.bincount(idx, weights=head, minlength=levels)
    level_nnz = np.bincount(idx, weights=nonzero, minlength=levels)
    q = np.where(nonzero, level_sum[idx] / np.maximum(level_nnz[idx], 1.0), 0.0)
    p_sum, q_sum = p.sum(), q.sum()
    if q_sum == 0 or p_sum == 0:
        return math.inf
    p = p / p_sum
    q = q / q_sum
    pos = p > 0
    if np.any(q[pos] == 0):
        return math.inf
    return float(np.sum(p[pos] * np.log(p[pos] / q[pos])))


def _last_argmin(values: np.ndarray) -> int:
    return len(values) - 1 - int(np.argmin(values[::-1]))


def entropy_threshold_bin(hist, start_bin: int = 128, num_levels: int = 128, stride: int = 1,
                          zero_bin: str = "copy_next") -> int:
    """Index ``i`` (threshold = upper edge of bin ``i-1``) minimising ``KL(P||Q)``; see module doc."""
    bins = np.array(hist, dtype=np.float64)
    nb = bins.size
    if nb == 0:
        raise ValueError("empty histogram")
    if nb > 1 and zero_bin == "copy_next":
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
        divergences[c] = _kl_divergence(p, head, num_levels)
    return candidates[_last_argmin(divergences)]


def entropy_threshold_bin_signed(hist, start_bin: int = 128, num_levels: int = 255, stride: int = 1,
                                 zero_bin: str = "copy_next") -> int:
    """Half-width ``i`` (threshold = ``i`` bins either side of zero) minimising KL(P||Q) over the
    symmetric window of a signed histogram (MXNet/onnxruntime style): P is the window with the
    counts outside it added to its end bins, Q the window merged into ``num_levels`` levels.
    ``start_bin`` counts bins of the whole window (128 = 64 either side)."""
    bins = np.array(hist, dtype=np.float64)
    nb = bins.size
    if nb % 2 or nb == 0:
        raise ValueError(f"a signed histogram needs an even, non-zero number of bins, got {nb}")
    half = nb // 2
    if half > 1 and zero_bin == "copy_next":
        bins[half] = bins[half + 1]  # the bin holding 0 (the upper half's first)
    if bins.sum() == 0:
        return half
    below = np.concatenate([[0.0], np.cumsum(bins)])  # below[j] = sum(bins[:j])
    total = below[-1]
    candidates = list(range(max(1, min(start_bin // 2, half)), half + 1, stride))
    divergences = np.empty(len(candidates))
    for c, i in enumerate(candidates):
        head = bins[half - i: half + i]
        p = head.copy()
        p[0] += below[half - i]
        p[-1] += total - below[half + i]
        divergences[c] = _kl_divergence(p, head, num_levels)
    return candidates[_last_argmin(divergences)]


@dataclass(frozen=True)
class EntropyRule:
    """How an entropy calibrator builds its histogram and places the threshold.  The field defaults
    make the one-shot rule (:data:`ONE_SHOT_ENTROPY_RULE`); pykit calibrates with
    :data:`DEFAULT_ENTROPY_RULE` (TensorRT's, ``range="double", threshold="half_above"``).

    ``histogram``: ``"abs"`` (of ``|x|``, over ``[0, R]``) or ``"signed"`` (of ``x`` over ``[-R, R]``,
    symmetric windows; ``num_bins`` over the whole range).  ``range``: the ``R`` the histogram ends
    with -- ``"exact"`` the largest value seen (a one-shot histogram), ``"first_extend"`` bins of the
    first non-zero batch's width (max/num_bins) appended until the largest value fits (the bin count
    grows: pytorch-quantization), ``"double"`` the first batch's max doubled until it covers each
    batch, ``"grow"`` multiplied by the smallest covering integer, ``"pow2"`` the next power of two.
    ``threshold``: the amax for ``i`` kept bins of width ``w`` -- ``"edge"`` ``i*w``,
    ``"centre"`` ``(i-0.5)*w``, ``"half_above"`` ``(i+0.5)*w`` (Migacz's slides).  ``num_levels``:
    quantized levels over the window; ``unsigned_levels``: the levels instead for a tensor that never
    went negative (None: the same).  ``zero_bin``: ``"copy_next"`` (``bins[0] = bins[1]``) or ``"keep"``.
    """

    histogram: str = "abs"
    num_bins: int = 2048
    range: str = "exact"
    threshold: str = "edge"
    start_bin: int = 128
    num_levels: int = 128
    unsigned_levels: int | None = None
    zero_bin: str = "copy_next"
    stride: int = 1

    def __post_init__(self) -> None:
        choices = {"histogram": ("abs", "signed"), "range": ("exact", "first_extend", "double", "grow", "pow2"),
                   "threshold": ("edge", "centre", "half_above"), "zero_bin": ("copy_next", "keep")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"EntropyRule.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.num_bins < 2 or self.start_bin < 1 or self.num_levels < 1 or self.stride < 1:
            raise ValueError(f"EntropyRule: num_bins >= 2, start_bin, num_levels and stride >= 1 needed: {self}")

    def describe(self) -> str:
        """The fields that differ from the one-shot rule ``EntropyRule()``, e.g. ``range=double
        threshold=half_above`` (TensorRT's, pykit's default), or ``one-shot`` for that rule itself."""
        base = EntropyRule()
        diff = [f"{k}={getattr(self, k)}" for k in self.__dataclass_fields__ if getattr(self, k) != getattr(base, k)]
        return " ".join(diff) or "one-shot"

    def final_range(self, batch_max: list[float], amax_seen: float) -> tuple[float, int]:
        """``(R, bins)`` the histogram ends with after batches with these maxima."""
        firsts = [m for m in batch_max if m > 0]
        if not firsts or self.range == "exact":
            return amax_seen, self.num_bins
        if self.range == "pow2":
            return 2.0 ** math.ceil(math.log2(amax_seen)), self.num_bins
        r = firsts[0]
        if self.range == "first_extend":
            width = r / self.num_bins
            bins = max(self.num_bins, math.ceil(amax_seen / width - 1e-9))
            return bins * width, bins
        for m in firsts[1:]:
            if m > r:
                if self.range == "double":
                    while r < m:
                        r *= 2.0
                else:  # grow
                    r *= math.ceil(m / r)
        return r, self.num_bins


#: pytorch-quantization's rule, pykit's default until the H200 experiment: one histogram over
#: [0, max|x|] whatever the batches, threshold at the kept bins' upper edge.
ONE_SHOT_ENTROPY_RULE = EntropyRule()
#: TensorRT 8.5's IInt8EntropyCalibrator2 as measured on the H200 (docs/calibration/README.md:
#: within one bin on 155 of 170 tensors, against 83 for the one-shot rule): the range doubles
#: whenever a batch exceeds it, the threshold sits half a bin above the kept bins.
TENSORRT_ENTROPY_RULE = EntropyRule(range="double", threshold="half_above")
#: the rule pykit's entropy calibration uses (calibrate, validate, the sweep's "entropy").
DEFAULT_ENTROPY_RULE = TENSORRT_ENTROPY_RULE


class EntropyCalibrator(_HistogramCalibrator):
    """TensorRT Entropy2 calibration (KL divergence over thresholds, 128 levels); see module doc.

    ``rule`` (default :data:`DEFAULT_ENTROPY_RULE`, TensorRT 8.5's as measured; pykit's earlier
    rule is ``rule=ONE_SHOT_ENTROPY_RULE``) says how the histogram and threshold are made; the
    keyword arguments override single fields of it."""

    cache_algorithm = "EntropyCalibration2"

    def __init__(self, num_bins: int | None = None, start_bin: int | None = None, num_levels: int | None = None,
                 stride: int | None = None, oversample: int = 16, rule: EntropyRule | None = None) -> None:
        rule = rule or DEFAULT_ENTROPY_RULE
        given = {"num_bins": num_bins, "start_bin": start_bin, "num_levels": num_levels, "stride": stride}
        rule = replace(rule, **{k: v for k, v in given.items() if v is not None})
        super().__init__(num_bins=rule.num_bins, oversample=oversample)
        self.rule = rule
        self.start_bin, self.num_levels, self.stride = rule.start_bin, rule.num_levels, rule.stride

    def compute_amax(self, rule: EntropyRule | None = None) -> float:
        """The threshold under ``rule`` (default this calibrator's; any rule gives its answer from
        the same collected data)."""
        rule = rule or self.rule
        self._require_data()
        if self._amax_seen == 0.0:
            return 0.0
        upper, bins = rule.final_range(self.batch_max, self._amax_seen)
        levels = rule.num_levels
        if rule.unsigned_levels is not None and self.min_seen >= 0:
            levels = rule.unsigned_levels
        if rule.histogram == "abs":
            counts, edges = self.histogram(upper, bins)
            i = entropy_threshold_bin(counts, rule.start_bin, levels, rule.stride, rule.zero_bin)
        else:
            counts, edges = self.signed_histogram(upper, bins)
            i = entropy_threshold_bin_signed(counts, rule.start_bin, levels, rule.stride, rule.zero_bin)
            edges = edges[bins // 2:]  # i counts bins from zero
        width = float(edges[1] - edges[0])
        offset = {"edge": 0.0, "centre": -0.5, "half_above": 0.5}[rule.threshold]
        return float(edges[i] + offset * width)


class MseCalibrator(_HistogramCalibrator):
    """``amax`` minimising the mean squared fake-quantization error over the histogram (module doc)."""

    cache_algorithm = "EntropyCalibration2"  # TensorRT has no MSE calibrator; the cache only carries scales

    def __init__(self, num_bins: int = 2048, start_bin: int = 128, oversample: int = 16) -> None:
        super().__init__(num_bins=num_bins, oversample=oversample)
        self.start_bin = int(start_bin)

    def compute_amax(self) -> float:
        counts, edges = self.histogram()
        if self._amax_seen == 0.0:
            return 0.0
        centres = (edges[:-1] + edges[1:]) / 2
        keep = counts > 0
        c, w = centres[keep], counts[keep]
        candidates = edges[min(self.start_bin, self.num_bins):]
        errors = np.empty(candidates.size)
        for lo in range(0, candidates.size, 256):  # chunks bound the (candidates x bins) temporary
            amax = candidates[lo: lo + 256, None]
            s = amax / 127.0
            q = np.minimum(np.rint(c[None, :] / s), 127.0) * s
            errors[lo: lo + 256] = ((q - c[None, :]) ** 2 * w[None, :]).sum(axis=1)
        return float(candidates[int(np.argmin(errors))])


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


ALGORITHMS = {"entropy": EntropyCalibrator, "minmax": MinMaxCalibrator, "percentile": PercentileCalibrator,
              "mse": MseCalibrator}


def make_calibrator(algo: str, percentile: float = 99.99, **kwargs) -> Calibrator:
    """A fresh calibrator by name: ``entropy``, ``minmax``, ``percentile`` or ``mse``."""
    try:
        cls = ALGORITHMS[algo]
    except KeyError:
        raise ValueError(f"unknown calibration algorithm {algo!r}; choose one of {sorted(ALGORITHMS)}") from None
    if cls is PercentileCalibrator:
        return cls(percentile=percentile, **kwargs)
    return cls(**kwargs)
