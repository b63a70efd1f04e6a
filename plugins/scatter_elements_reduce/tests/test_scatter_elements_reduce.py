"""ScatterElementsReduce's own semantics, checked independently of the reference: bad indices
skipped, max/min exact, negative axis and indices, int64 indices, fp32 accumulation, a tolerance
tight enough to see one lost update, attribute and shape errors named. What every plugin must
satisfy (host and TensorRT vs the reference at every precision and case, compiled tables,
serialization, bad calls) is tests/test_conformance.py."""
import numpy as np
import pytest

from pykit import registry
from pykit.backends.host import HostBackend
from pykit.validate import validate_case

SPEC = registry.get("ScatterElementsReduce")
REFERENCE = registry.entry_point(SPEC, "reference")
CASES = {c.name: c for c in registry.entry_point(SPEC, "cases")(np.random.default_rng(0))}
NAME = "ScatterElementsReduce"


@pytest.fixture(scope="module")
def backend():
    return HostBackend()


def run_host(host, data, indices, updates, precision="fp32", **attrs):
    return host.run(NAME, [data, indices, updates], SPEC.resolve_attributes(attrs), precision, [], [])[0]


def test_cases_cover_every_reduction_and_axis_kind():
    for reduction in ("none", "add", "mul", "max", "min"):
        for kind in ("axis0", "axis_last", "axis_negative", "negative_indices", "out_of_range_skipped"):
            assert f"{reduction}_{kind}" in CASES
    ranks = {c.inputs["data"].ndim for c in CASES.values()}
    assert {1, 2, 3, 4} <= ranks
    assert any(c.inputs["indices"].size == 0 for c in CASES.values())
    assert any(c.inputs["indices"].size >= 100_000 for c in CASES.values())


def test_add_known_values(host):
    """Independent of the reference: duplicates accumulate, a negative index wraps (-1 -> last)."""
    data = np.array([1, 2, 3, 4], np.float32)
    out = run_host(host, data, np.array([0, 0, -1, 2], np.int32), np.array([10, 20, 30, 40], np.float32),
                   reduction="add")
    assert out.tolist() == [31, 2, 43, 34]


@pytest.mark.parametrize("reduction, expected", [("mul", [6, 2, 3]), ("max", [5, 2, 3]), ("min", [-1, 2, 3]),
                                                 ("none", [5, 2, 3])])
def test_other_reductions_known_values(host, reduction, expected):
    out = run_host(host, np.array([1, 2, 3], np.float32), np.array([0, 0, 0], np.int32),
                   np.array([2, -1, 5] if reduction != "mul" else [2, 3, 1], np.float32), reduction=reduction)
    assert out.tolist() == expected


def test_axis1_rank2_matches_onnx_example(host):
    """The ONNX ScatterElements doc example (axis=1), with reduction add on a duplicate."""
    data = np.array([[1, 2, 3, 4, 5]], np.float32)
    out = run_host(host, data, np.array([[1, 3, 3]], np.int32), np.array([[1.1, 2.1, 3.0]], np.float32),
                   axis=-1, reduction="add")
    np.testing.assert_allclose(out, [[1, 3.1, 3, 9.1, 5]], rtol=1e-6)


@pytest.mark.parametrize("precision", SPEC.precisions)
@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_out_of_range_indices_leave_data_untouched(host, precision, reduction):
    dtype = np.float32 if precision == "fp32" else np.float16
    data = np.arange(12, dtype=dtype).reshape(3, 4)
    bad = np.array([[3, -4, 2**31 - 1, -(2**31)], [4, 100, -5, 3]], np.int32)
    out = run_host(host, data, bad, np.full(bad.shape, 7, dtype), precision, axis=0, reduction=reduction)
    assert out.dtype == dtype and np.array_equal(out, data)


def test_int64_indices_are_taken_as_is(host):
    data = np.zeros((2, 3), np.float32)
    idx = np.array([[0, 2**40, -1]], np.int64)  # 2**40 is out of range (not wrapped to int32)
    out = run_host(host, data, idx, np.ones((1, 3), np.float32), axis=1, reduction="add")
    assert out.tolist() == [[1, 0, 1], [0, 0, 0]]


@pytest.mark.parametrize("precision", SPEC.precisions)
@pytest.mark.parametrize("reduction", ["max", "min"])
def test_max_min_are_exact(host, rng, precision, reduction):
    dtype = np.float32 if precision == "fp32" else np.float16
    data = rng.standard_normal((64, 8)).astype(dtype)
    idx = rng.integers(-64, 64, size=(500, 8)).astype(np.int32)
    upd = rng.standard_normal((500, 8)).astype(dtype)
    out = run_host(host, data, idx, upd, precision, reduction=reduction)
    expected = REFERENCE({"data": data, "indices": idx, "updates": upd}, {"axis": 0, "reduction": reduction})
    assert np.array_equal(out.astype(np.float64), expected["output"])


def test_fp16_accumulates_in_fp32(host):
    """2048 + 1 + 1 in binary16 steps stays 2048 (spacing 2 there); fp32 accumulation gives 2050."""
    out = run_host(host, np.array([2048], np.float16), np.array([0, 0], np.int32), np.ones(2, np.float16), "fp16",
                   reduction="add")
    assert out.dtype == np.float16 and out.tolist() == [2050]


def test_wrong_reference_is_caught(backend):
    """Reduction 'none' where the plugin adds duplicates: the validator must fail the case."""
    case = CASES["add_duplicates_k8"]
    wrong = lambda inputs, attrs: REFERENCE(inputs, {**attrs, "reduction": "none"})  # noqa: E731
    result = validate_case(SPEC, backend, "fp32", case, wrong)
    assert not result.passed and "out of tolerance" in result.message


def test_tolerance_is_not_loose_enough_to_hide_one_lost_update(backend):
    """Dropping one update of magnitude >= 1e-3 must exceed the add tolerance."""
    case = CASES["add_axis0"]

    def lossy(inputs, attrs):
        ups = dict(inputs)
        u = ups["updates"].copy()
        k = int(np.argmax(np.abs(u)))
        u.reshape(-1)[k] = 0.0
        ups["updates"] = u
        return REFERENCE(ups, attrs)

    result = validate_case(SPEC, backend, "fp32", case, lossy)
    assert not result.passed


@pytest.mark.parametrize(
    "attrs, message",
    [
        ({"reduction": "avg"}, "ScatterElementsReduce: attribute 'reduction': 'avg' is not one of"),
        ({"axis": 2}, "ScatterElementsReduce: attribute 'axis': 2 is outside \\[-2, 2\\)"),
        ({"axis": 9}, "ScatterElementsReduce: attribute 'axis': 9 is above the maximum 7"),
        ({"axis": 1.5}, "ScatterElementsReduce: attribute 'axis'"),
        ({"mode": "add"}, "ScatterElementsReduce: unknown attribute 'mode'"),
    ],
)
def test_bad_attributes_name_plugin_and_attribute(host, attrs, message):
    with pytest.raises(ValueError, match=message):
        host.run(NAME, [np.zeros((2, 2), np.float32), np.zeros((1, 2), np.int32), np.zeros((1, 2), np.float32)],
                 attrs, "fp32", [], [])


def test_spec_refuses_bad_reduction():
    with pytest.raises(ValueError, match="'reduction'.*'avg' is not one of"):
        SPEC.resolve_attributes({"reduction": "avg"})


@pytest.mark.parametrize(
    "inputs, message",
    [
        ((np.zeros((2, 3), np.float32), np.zeros((1, 3), np.float32), np.zeros((1, 3), np.float32)),
         "input 'indices' must be int32 at fp32"),
        ((np.zeros((2, 3), np.float32), np.zeros((1, 3), np.int32), np.zeros((1, 2), np.float32)),
         "'updates' must have the shape of 'indices'"),
        ((np.zeros((2, 3), np.float32), np.zeros((3,), np.int32), np.zeros((3,), np.float32)),
         "'indices' has rank 1, input 'data' rank 2"),
        ((np.zeros((2, 3), np.float32), np.zeros((1, 4), np.int32), np.zeros((1, 4), np.float32)),
         "'indices' dim 1 is 4, larger than data's 3"),
        ((np.zeros((), np.float32), np.zeros((), np.int32), np.zeros((), np.float32)), "input 'data' has rank 0, which the spec does not allow"),
    ],
)
def test_bad_inputs_name_the_tensor(host, inputs, message):
    with pytest.raises(ValueError, match=message):
        host.run(NAME, list(inputs), {"reduction": "add"}, "fp32", [], [])
