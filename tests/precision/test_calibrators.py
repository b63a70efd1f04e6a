"""Calibrators against independent implementations written here, and their edge cases."""
from __future__ import annotations

import math

import numpy as np
import pytest

from precision_helpers import reference_entropy_amax
from pykit.precision.calibrators import (DEFAULT_ENTROPY_RULE, ONE_SHOT_ENTROPY_RULE, TENSORRT_ENTROPY_RULE,
                                         EntropyCalibrator, EntropyRule, MinMaxCalibrator, PercentileCalibrator,
                                         make_calibrator)
from pykit.precision.numerics import scale_from_amax

ONE_SHOT = ONE_SHOT_ENTROPY_RULE  # pykit's rule before the H200 experiment, still selectable


def _distributions():
    rng = np.random.default_rng(1234)
    gauss = rng.standard_normal(200_000).astype(np.float32)
    laplace = rng.laplace(0.0, 1.0, 200_000).astype(np.float32)
    outliers = np.concatenate([rng.standard_normal(200_000), rng.uniform(20, 60, 30) * rng.choice([-1, 1], 30)])
    relu = np.maximum(rng.standard_normal(200_000), 0).astype(np.float32)  # half exact zeros
    return {"gaussian": gauss, "laplace": laplace, "gaussian+outliers": outliers.astype(np.float32), "relu": relu}


DISTS = _distributions()


@pytest.mark.parametrize("name", sorted(DISTS))
def test_entropy_matches_reference_one_shot(name):
    x = DISTS[name]
    ref, bin_w = reference_entropy_amax([x])
    cal = EntropyCalibrator(rule=ONE_SHOT)
    cal.collect(x)
    got = cal.compute_amax()
    assert abs(got - ref) <= bin_w * 1.0001, (got, ref, bin_w)
    assert np.percentile(np.abs(x), 99) < got <= np.abs(x).max()


def _scenario(name):
    """Batches in which TensorRT's doubling range and the one-shot range differ (or not)."""
    rng = np.random.default_rng(99)
    if name == "one batch, ReLU":
        return [np.maximum(rng.standard_normal(60_000), 0).astype(np.float32)]
    if name == "growing range":  # each batch 1.35x wider: the range doubles twice
        return [(np.abs(rng.standard_normal(8_000)) * (1 + 0.35 * b)).astype(np.float32) for b in range(6)]
    if name == "outlier batch":  # batch 2 three times wider: 1 -> 2 -> 4 times the first max
        return [(rng.laplace(0, 1, 10_000) * (3.0 if b == 2 else 1.0)).astype(np.float32) for b in range(4)]
    raise KeyError(name)


@pytest.mark.parametrize("name", ["one batch, ReLU", "growing range", "outlier batch"])
def test_default_entropy_is_tensorrts_rule_against_reference(name):
    """The default is the rule measured on TensorRT 8.5 (range doubling, threshold half a bin above)."""
    batches = _scenario(name)
    ref, bin_w = reference_entropy_amax(batches, rule="tensorrt")
    cal = EntropyCalibrator()
    for b in batches:
        cal.collect(b)
    assert cal.rule == DEFAULT_ENTROPY_RULE == TENSORRT_ENTROPY_RULE
    assert abs(cal.compute_amax() - ref) <= bin_w * 1.0001, (cal.compute_amax(), ref, bin_w)
    # the one-shot rule, from the same collected data, against its own reference
    ref_one, bin_one = reference_entropy_amax(batches, rule="one-shot")
    assert abs(cal.compute_amax(ONE_SHOT) - ref_one) <= bin_one * 1.0001


def test_doubled_range_sets_the_threshold_for_sparse_values():
    """Named edge case, worked by hand: batches of constant 1.0 then constant 1.5. TensorRT's range
    doubles 1 -> 2; the histogram of [0, 2] has two non-empty bins, every i >= 1537 keeps both
    exactly (KL = 0), ties go to the largest i = 2048, so amax = 2048.5 * (2 / 2048) = 2 + 1/2048.
    The one-shot histogram ends at 1.5 and keeps everything: amax = 1.5."""
    cal = EntropyCalibrator()
    cal.collect(np.full(1000, 1.0, np.float32))
    cal.collect(np.full(1000, 1.5, np.float32))
    assert cal.compute_amax() == pytest.approx(2.0 + 1.0 / 2048, rel=1e-9)
    assert cal.compute_amax(ONE_SHOT) == pytest.approx(1.5, rel=1e-9)


def test_entropy_outliers_clip_far_below_max():
    x = DISTS["gaussian+outliers"]
    cal = EntropyCalibrator()
    cal.collect(x)
    assert cal.compute_amax() < 0.5 * np.abs(x).max()


def test_entropy_streamed_batches_match_one_shot_and_reference():
    rng = np.random.default_rng(7)
    # batches whose range grows: scale k+1 for batch k, so the histogram must grow repeatedly
    batches = [rng.standard_normal(20_000).astype(np.float32) * (1 + k) for k in range(6)]
    whole = np.concatenate(batches)
    streamed = EntropyCalibrator(rule=ONE_SHOT)
    for b in batches:
        streamed.collect(b)
    assert streamed.growths >= 3
    one_shot = EntropyCalibrator(rule=ONE_SHOT)
    one_shot.collect(whole)
    ref, bin_w = reference_entropy_amax([whole])
    assert abs(streamed.compute_amax() - one_shot.compute_amax()) <= bin_w * 1.0001
    assert abs(streamed.compute_amax() - ref) <= bin_w * 1.0001


def test_range_growth_rebins_without_losing_or_moving_counts():
    rng = np.random.default_rng(3)
    batches = [rng.laplace(0, 0.5 * (k + 1) ** 2, 10_000) for k in range(5)]
    cal = PercentileCalibrator()
    for b in batches:
        cal.collect(b)
    assert cal.growths >= 2
    whole = np.abs(np.concatenate(batches)).astype(np.float32)
    direct, _ = np.histogram(whole, bins=cal._fine.size, range=(0.0, cal._range))
    assert cal._fine.sum() == whole.size
    # same bins as a direct histogram at the final range, except for values within rounding of a
    # bin edge, which may land in the neighbouring bin: the cumulative counts agree to a few
    moved = np.abs(np.cumsum(cal._fine - direct))
    assert moved.max() <= 3, moved.max()
    assert np.count_nonzero(cal._fine != direct) <= 1e-3 * whole.size


def test_minmax_exact():
    rng = np.random.default_rng(5)
    batches = [rng.standard_normal((4, 7)).astype(np.float32) * s for s in (1, 3, 0.5, 2)]
    cal = MinMaxCalibrator()
    for b in batches:
        cal.collect(b)
    expected = float(np.abs(np.concatenate([b.ravel() for b in batches])).max())
    assert cal.compute_amax() == expected
    assert cal.scale() == scale_from_amax(expected)
    assert cal.cache_algorithm == "MinMaxCalibration"


@pytest.mark.parametrize("pct", [99.99, 99.9, 50.0, 100.0])
def test_percentile_brackets_numpy(pct):
    rng = np.random.default_rng(11)
    batches = [rng.standard_normal(30_000).astype(np.float32) * (1 + k % 3) for k in range(5)]
    cal = PercentileCalibrator(percentile=pct)
    for b in batches:
        cal.collect(b)
    a = np.abs(np.concatenate(batches))
    want = float(np.percentile(a, pct, method="inverted_cdf"))
    got = cal.compute_amax()
    # the true percentile lies in the fine bin whose upper edge we return
    assert got - cal.bin_width * 1.0001 <= want <= got * (1 + 1e-7)
    assert cal.bin_width <= 2 * a.max() / (2048 * 16)
    if pct == 100.0:
        assert got == float(a.max())


def test_all_zero_tensor():
    for algo in ("entropy", "minmax", "percentile"):
        cal = make_calibrator(algo)
        cal.collect(np.zeros((3, 5), np.float32))
        assert cal.compute_amax() == 0.0, algo
        assert cal.scale() == pytest.approx(1 / 127), algo


def test_zeros_then_values():
    cal = EntropyCalibrator()
    cal.collect(np.zeros(1000, np.float32))
    x = np.random.default_rng(2).standard_normal(50_000).astype(np.float32)
    cal.collect(x)
    one = EntropyCalibrator()
    one.collect(np.concatenate([np.zeros(1000, np.float32), x]))
    assert cal.compute_amax() == pytest.approx(one.compute_amax(), abs=float(np.abs(x).max()) / 2048)


def test_single_value_tensor():
    for algo in ("entropy", "minmax", "percentile"):
        cal = make_calibrator(algo)
        cal.collect(np.full((10, 10), 3.5, np.float32))
        # every value sits in the top bin of [0, 3.5]: only i = 2048 keeps it (any smaller i leaves
        # P's folded tail over an empty Q bin), and TensorRT's rule puts amax half a bin above it
        want = 3.5 * (1 + 0.5 / 2048) if algo == "entropy" else 3.5
        assert cal.compute_amax() == pytest.approx(want, rel=1e-9), algo
    one_shot = EntropyCalibrator(rule=ONE_SHOT)
    one_shot.collect(np.full((10, 10), 3.5, np.float32))
    assert one_shot.compute_amax() == pytest.approx(3.5, rel=1e-9)


def test_negative_only_tensor_uses_magnitude():
    rng = np.random.default_rng(9)
    x = -np.abs(rng.standard_normal(50_000)).astype(np.float32)
    for algo in ("entropy", "minmax", "percentile"):
        neg, pos = make_calibrator(algo), make_calibrator(algo)
        neg.collect(x)
        pos.collect(-x)
        assert neg.compute_amax() == pos.compute_amax() > 0, algo


def test_errors():
    with pytest.raises(RuntimeError, match="no data"):
        EntropyCalibrator().compute_amax()
    with pytest.raises(ValueError, match="non-finite"):
        MinMaxCalibrator().collect(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="non-finite"):
        EntropyCalibrator().collect(np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="unknown calibration algorithm"):
        make_calibrator("kl")
    with pytest.raises(ValueError, match="percentile"):
        PercentileCalibrator(percentile=0)
    cal = MinMaxCalibrator()
    cal.collect(np.zeros((0, 3)))  # an empty batch is no data
    with pytest.raises(RuntimeError):
        cal.compute_amax()
