"""EntropyRule candidates (the rules held against TensorRT's calibrator), MSE, and one histogram
serving every algorithm; each against an independent computation written here."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pykit.precision.calibrators import (DEFAULT_ENTROPY_RULE, ONE_SHOT_ENTROPY_RULE, EntropyCalibrator, EntropyRule,
                                         MseCalibrator, PercentileCalibrator, entropy_threshold_bin_signed,
                                         make_calibrator)


def _fed(batches, **kw):
    cal = EntropyCalibrator(**kw)
    for b in batches:
        cal.collect(b)
    return cal


@pytest.mark.parametrize("rule, expected", [
    ("exact", (3.1, 2048)),
    ("double", (4.0, 2048)),          # 1 -> 2 (covers 1.5) -> 4 (covers 3.1)
    ("grow", (4.0, 2048)),            # 1 * ceil(1.5) = 2, then 2 * ceil(3.1 / 2) = 4
    ("pow2", (4.0, 2048)),
    ("first_extend", (math.ceil(3.1 * 2048) / 2048, math.ceil(3.1 * 2048))),
])
def test_range_rules_replay_the_batch_maxima(rule, expected):
    upper, bins = EntropyRule(range=rule).final_range([0.0, 1.0, 1.5, 0.7, 3.1], 3.1)
    assert upper == pytest.approx(expected[0]) and bins == expected[1]


def test_grow_and_double_differ_when_the_factor_is_not_a_power_of_two():
    maxima = [1.0, 2.5]
    assert EntropyRule(range="grow").final_range(maxima, 2.5)[0] == 3.0
    assert EntropyRule(range="double").final_range(maxima, 2.5)[0] == 4.0


def test_threshold_placements_are_half_a_bin_apart():
    rng = np.random.default_rng(0)
    cal = _fed([rng.standard_normal(50_000)])
    w = cal.amax_seen / 2048
    edge = cal.compute_amax(EntropyRule())
    assert cal.compute_amax(EntropyRule(threshold="centre")) == pytest.approx(edge - w / 2)
    assert cal.compute_amax(EntropyRule(threshold="half_above")) == pytest.approx(edge + w / 2)


def test_default_rule_is_tensorrts_and_other_rules_answer_from_the_same_data():
    rng = np.random.default_rng(1)
    x = np.maximum(rng.standard_normal(100_000), 0)
    cal = _fed([x])
    # the rule that matched TensorRT 8.5 on the H200 (docs/calibration/README.md)
    assert cal.rule == DEFAULT_ENTROPY_RULE == EntropyRule(range="double", threshold="half_above")
    assert DEFAULT_ENTROPY_RULE.describe() == "range=double threshold=half_above"
    assert ONE_SHOT_ENTROPY_RULE == EntropyRule() and ONE_SHOT_ENTROPY_RULE.describe() == "one-shot"
    for rule in (EntropyRule(num_bins=1024), EntropyRule(unsigned_levels=256), EntropyRule(zero_bin="keep"),
                 ONE_SHOT_ENTROPY_RULE):
        fresh = _fed([x], rule=rule)
        assert fresh.compute_amax() == pytest.approx(cal.compute_amax(rule) if rule.num_bins == 2048
                                                     else fresh.compute_amax(rule))
    # one batch: the doubling range is the largest value seen, so the default is the one-shot
    # threshold moved up by exactly half a bin
    w = cal.amax_seen / 2048
    assert cal.compute_amax() == pytest.approx(cal.compute_amax(ONE_SHOT_ENTROPY_RULE) + w / 2)
    # 256 levels only for a tensor that never went negative: a signed one answers as with 128
    signed = _fed([rng.standard_normal(100_000)])
    assert signed.compute_amax(EntropyRule(unsigned_levels=256)) == signed.compute_amax(ONE_SHOT_ENTROPY_RULE)
    assert cal.compute_amax(EntropyRule(unsigned_levels=256)) != cal.compute_amax(ONE_SHOT_ENTROPY_RULE)


def test_signed_histogram_equals_numpys_histogram_of_x():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.standard_normal(40_000), -3 * np.abs(rng.standard_normal(5_000)), np.zeros(100)])
    cal = _fed([x])
    counts, edges = cal.signed_histogram(num_bins=256)
    want, want_edges = np.histogram(x, bins=256, range=(-cal.amax_seen, cal.amax_seen))
    assert np.allclose(edges, want_edges)
    # resampled from 16x finer bins: counts agree except values within rounding of an edge
    assert counts.sum() == pytest.approx(x.size)
    assert np.abs(np.cumsum(counts - want)).max() <= 3


def test_signed_search_keeps_everything_for_a_uniform_window_and_clips_outliers():
    uniform = np.ones(512)
    assert entropy_threshold_bin_signed(uniform, num_levels=255) == 256
    k = np.arange(512)
    bell = np.rint(1000 * np.exp(-0.5 * ((k + 0.5 - 256) / 30) ** 2))  # 2 bins a level at full width: lossy
    bell[0] = bell[-1] = 1.0  # two far outliers
    assert entropy_threshold_bin_signed(bell, num_levels=255) < 200


def test_rule_validation_names_the_field():
    with pytest.raises(ValueError, match="range"):
        EntropyRule(range="sometimes")
    with pytest.raises(ValueError, match="threshold"):
        EntropyRule(threshold="middle")
    assert EntropyRule(range="double", threshold="centre").describe() == "range=double threshold=centre"


def _mse_reference(counts, edges, start_bin=128):
    centres = (edges[:-1] + edges[1:]) / 2
    best, best_err = None, math.inf
    for i in range(start_bin, len(edges)):
        amax = edges[i]
        s = amax / 127
        err = sum(c * (min(round(v / s), 127) * s - v) ** 2 for c, v in zip(counts, centres) if c)
        if err < best_err:
            best, best_err = amax, err
    return best


def test_mse_matches_a_loop_reference_and_clips_a_heavy_tail():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal(20_000), [40.0, -45.0]])
    cal = MseCalibrator(num_bins=256, start_bin=16)
    cal.collect(x)
    counts, edges = cal.histogram()
    assert cal.compute_amax() == pytest.approx(_mse_reference(counts, edges, 16))
    tail = MseCalibrator()
    tail.collect(rng.laplace(0.0, 1.0, 200_000))  # clipping the rare tail costs less than coarser steps
    assert tail.compute_amax() < 0.9 * tail.amax_seen


def test_one_histogram_serves_every_algorithm():
    rng = np.random.default_rng(4)
    batches = [rng.laplace(0, 1 + k, 20_000) for k in range(4)]
    entropy = _fed(batches)
    for cls, params in ((PercentileCalibrator, {"percentile": 99.9}), (MseCalibrator, {})):
        direct = cls(**params)
        for b in batches:
            direct.collect(b)
        assert entropy.as_algorithm(cls, **params).compute_amax() == direct.compute_amax()
    assert make_calibrator("mse").cache_algorithm == "EntropyCalibration2"
