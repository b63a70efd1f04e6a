"""PillarScatter's own semantics, checked independently of the reference: bad coords skipped,
duplicates resolved to the highest pillar index, int8 saturation and rounding, shape errors named.
What every plugin must satisfy (host and TensorRT vs the reference at every precision and case,
compiled tables, serialization, bad calls) is tests/test_conformance.py."""
import numpy as np
import pytest

from pykit import registry

SPEC = registry.get("PillarScatter")


def run_host(host, features, coords, valid, precision="fp32", **attrs):
    attrs = SPEC.resolve_attributes(attrs)
    scales = ([1.0, 1.0, 1.0], [1.0]) if precision == "int8" else ([], [])
    return host.run("PillarScatter", [features, coords, np.array([valid], np.int32)], attrs, precision, *scales)[0]


def test_duplicates_highest_index_wins(host):
    """Independent of the reference: three pillars on one cell, the last one's values remain."""
    feats = np.array([[1, 10], [2, 20], [3, 30]], np.float32)
    coords = np.array([[0, 0, 1, 2]] * 3, np.int32)
    canvas = run_host(host, feats, coords, 3, nx=4, ny=3)
    assert canvas[0, :, 1, 2].tolist() == [3, 30]
    canvas[0, :, 1, 2] = 0
    assert not canvas.any()


def test_pillars_past_num_valid_are_skipped(host):
    feats = np.ones((4, 2), np.float32)
    coords = np.array([[0, 0, 0, i] for i in range(4)], np.int32)
    canvas = run_host(host, feats, coords, 2, nx=4, ny=1)
    assert canvas[0, 0, 0].tolist() == [1, 1, 0, 0]


def test_out_of_range_coords_write_nothing(host):
    """Every kind of bad coordinate is skipped; the canvas stays all zero (no wrap-around writes)."""
    bad = [[-1, 0, 0, 0], [1, 0, 0, 0], [0, 0, -1, 0], [0, 0, 3, 0], [0, 0, 0, -1], [0, 0, 0, 4],
           [0, 0, 2**31 - 1, 2**31 - 1], [-(2**31), 0, 0, 0]]
    feats = np.full((len(bad), 3), 7, np.float32)
    canvas = run_host(host, feats, np.array(bad, np.int32), len(bad), nx=4, ny=3, batch_size=1)
    assert canvas.shape == (1, 3, 3, 4) and not canvas.any()


def test_int8_saturates_and_requantizes(host):
    """s_in/s_out = 4: 20 -> 80, 40 -> 127 (clamped), -33 -> -127, 3 -> 12."""
    feats = np.array([[[20], [40], [-33], [3]]], np.int8)  # [1, P, C]: the spec's int8 rank
    coords = np.array([[0, 0, 0, i] for i in range(4)], np.int32)
    out = host.run("PillarScatter", [feats, coords, np.array([4], np.int32)], {"nx": 4, "ny": 1},
                   "int8", [0.4, 1.0, 1.0], [0.1])[0]
    assert out.dtype == np.int8 and out[0, 0, 0].tolist() == [80, 127, -127, 12]


def test_int8_requantization_rounds_half_to_even(host):
    """ratio 0.5: 1 -> 0.5 -> 0, 3 -> 1.5 -> 2, 5 -> 2.5 -> 2, -3 -> -1.5 -> -2."""
    feats = np.array([[[1], [3], [5], [-3]]], np.int8)  # [1, P, C]: the spec's int8 rank
    coords = np.array([[0, 0, 0, i] for i in range(4)], np.int32)
    out = host.run("PillarScatter", [feats, coords, np.array([4], np.int32)], {"nx": 4, "ny": 1},
                   "int8", [0.5, 1.0, 1.0], [1.0])[0]
    assert out[0, 0, 0].tolist() == [0, 2, 2, -2]


@pytest.mark.parametrize(
    "inputs, message",
    [
        ((np.zeros((2, 3), np.float32), np.zeros((2, 4), np.int64)), "'coords' must be int32"),
        ((np.zeros((2, 3), np.float32), np.zeros((3, 4), np.int32)), "'coords' must be \\[P, 4\\] with P = 2"),
        ((np.zeros((2, 2, 3), np.float32), np.zeros((2, 4), np.int32)), "must be \\[P, C\\] or \\[1, P, C\\]"),
    ],
)
def test_bad_inputs_name_the_tensor(host, inputs, message):
    with pytest.raises(ValueError, match=message):
        host.run("PillarScatter", [*inputs, np.array([1], np.int32)], {"nx": 4, "ny": 3}, "fp32", [], [])
