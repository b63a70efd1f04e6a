"""Property tests: hypothesis draws shapes, attributes and (through a numpy seed) values; the host
backend must agree with the numpy reference at every precision within the spec's error model
(pykit.validate.validate_case: the validator's own comparison). Drawn inputs stay inside each
error model's assumptions (LayerNorm: |scale|, |bias| <= 2 and R <= 10; ScatterElementsReduce:
<= 8 updates per element, |values| <= 1 for add), because outside them the tolerances do not hold
by design."""
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from pykit import registry  # noqa: E402
from pykit.backends.host import HostBackend  # noqa: E402
from pykit.case import Case  # noqa: E402
from pykit.validate import validate_case  # noqa: E402

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BACKEND = HostBackend()


def check(plugin: str, case: Case, precision: str):
    spec = registry.get(plugin)
    result = validate_case(spec, BACKEND, precision, case, registry.entry_point(spec, "reference"))
    assert result.passed, f"{plugin} {precision} {case.attrs}: {result.message}"


@SETTINGS
@given(precision=st.sampled_from(["fp32", "fp16", "int8"]), pillars=st.integers(0, 40), channels=st.integers(1, 8),
       nx=st.integers(1, 12), ny=st.integers(1, 12), batch=st.integers(1, 3), slack=st.integers(-3, 3),
       seed=st.integers(0, 2**32 - 1))
def test_pillar_scatter_matches_reference(precision, pillars, channels, nx, ny, batch, slack, seed):
    rng = np.random.default_rng(seed)
    coords = np.stack([rng.integers(-1, batch + 1, pillars), rng.integers(0, 4, pillars),
                       rng.integers(-1, ny + 1, pillars), rng.integers(-1, nx + 1, pillars)], axis=1).astype(np.int32)
    features = (rng.standard_normal((pillars, channels)) * 10.0 ** rng.integers(-3, 4)).astype(np.float32)
    case = Case("drawn", {"pillar_features": features, "coords": coords,
                          "num_valid": np.array([pillars + slack], np.int32)}, {"nx": nx, "ny": ny, "batch_size": batch})
    check("PillarScatter", case, precision)


@SETTINGS
@given(precision=st.sampled_from(["fp32", "fp16"]), reduction=st.sampled_from(["none", "add", "mul", "max", "min"]),
       dims=st.lists(st.integers(1, 5), min_size=1, max_size=3), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_scatter_elements_reduce_matches_reference(precision, reduction, dims, data, seed):
    rng = np.random.default_rng(seed)
    rank = len(dims)
    axis = data.draw(st.integers(-rank, rank - 1), label="axis")
    a = axis % rank
    # <= 8 updates per destination: at most 8 index positions along the axis
    index_dims = [data.draw(st.integers(1, 8 if d == a else dims[d]), label=f"index dim {d}") for d in range(rank)]
    indices = rng.integers(-dims[a], dims[a], index_dims).astype(np.int32)
    if reduction == "mul":
        values, updates = rng.uniform(0.5, 1.5, dims), rng.uniform(0.5, 1.5, index_dims)
    else:
        values, updates = rng.uniform(-1, 1, dims), rng.uniform(-1, 1, index_dims)
    if reduction == "none":  # duplicates leave an undefined winner (ONNX): keep destinations distinct
        indices = np.broadcast_to(np.arange(index_dims[a]).reshape([-1 if d == a else 1 for d in range(rank)]) % dims[a],
                                  index_dims).astype(np.int32)
        if index_dims[a] > dims[a]:
            return
    case = Case("drawn", {"data": values.astype(np.float32), "indices": indices, "updates": updates.astype(np.float32)},
                {"axis": axis, "reduction": reduction})
    check("ScatterElementsReduce", case, precision)


@SETTINGS
@given(precision=st.sampled_from(["fp32", "fp16", "int8"]), rows=st.integers(0, 4), cols=st.integers(1, 80),
       offset=st.floats(-5, 5), magnitude=st.integers(-3, 6), epsilon=st.sampled_from([1e-5, 1e-3, 0.5]),
       seed=st.integers(0, 2**32 - 1))
def test_layer_norm_matches_reference(precision, rows, cols, offset, magnitude, epsilon, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((rows, cols))
    if cols > 1:  # standardized rows: R = mean|x| / sqrt(var + eps) <= |offset| + 1.3 < 10
        z = (z - z.mean(axis=1, keepdims=True)) / np.maximum(z.std(axis=1, keepdims=True), 1e-3)
    x = ((z + offset) * 10.0 ** magnitude).astype(np.float32)
    if precision == "fp16":
        x = np.clip(x, -6e4, 6e4)
    case = Case("drawn", {"x": x.reshape(1, rows, cols), "scale": rng.uniform(-2, 2, (1, 1, cols)).astype(np.float32),
                          "bias": rng.uniform(-2, 2, (1, 1, cols)).astype(np.float32)},
                {"axis": -1, "epsilon": epsilon})
    from plugins.layer_norm.reference import MAX_R, row_ratio

    if rows and row_ratio(case.inputs["x"], -1, epsilon) > MAX_R:
        return  # outside the error model (a one-column row, a tiny spread at the fp16 clip)
    check("LayerNorm", case, precision)
