"""Adversarial inputs to every host kernel: out-of-range, negative and huge indices and coords,
num_valid beyond P or negative, zero-size tensors, NaN/inf values, degenerate attributes and
scales. Each call must either return outputs of the right shape or raise one clear error naming
the plugin; never crash, never read or write out of bounds. test_sanitizers.py runs this file
against an ASan/UBSan build of pykit._host, where an out-of-bounds access or UB aborts the run."""
import numpy as np
import pytest

from pykit import extensions

_host = extensions.load("_host")
I32 = np.iinfo(np.int32)


def call(name, inputs, attrs, precision="fp32", in_scales=(), out_scales=()):
    """Outputs, or the error's text (which must name the plugin)."""
    try:
        return _host.run(name, list(inputs), attrs, precision, list(in_scales), list(out_scales))
    except (ValueError, RuntimeError, TypeError, MemoryError) as exc:
        assert name in str(exc) or "scale" in str(exc) or "attribute" in str(exc), str(exc)
        return str(exc)


# ---- PillarScatter --------------------------------------------------------------------------
def ps_inputs(coords, num_valid, channels=3, dtype=np.float32, rng=None):
    rng = rng or np.random.default_rng(0)
    coords = np.asarray(coords, np.int32).reshape(-1, 4)
    feats = rng.standard_normal((coords.shape[0], channels)).astype(np.float32)
    if dtype == np.float16:
        feats = feats.astype(np.float16)
    if dtype == np.int8:
        feats = rng.integers(-127, 128, (1, coords.shape[0], channels)).astype(np.int8)
    return [feats, coords, np.array([num_valid], np.int32)]


BAD_COORDS = [[0, 0, 0, 0], [-1, 0, 0, 0], [0, 0, -1, 0], [0, 0, 0, -1], [1, 0, 0, 0], [0, 0, 4, 0], [0, 0, 0, 5],
              [I32.max, 0, I32.max, I32.max], [I32.min, I32.min, I32.min, I32.min], [0, 7, 3, 4]]


@pytest.mark.parametrize("num_valid", [0, 3, 10, 11, 1000, I32.max, -1, I32.min])
@pytest.mark.parametrize("precision,dtype", [("fp32", np.float32), ("fp16", np.float16), ("int8", np.int8)])
def test_pillar_scatter_bad_coords_and_num_valid(num_valid, precision, dtype):
    scales = ([0.1, 1.0, 1.0], [0.1]) if precision == "int8" else ([], [])
    out = call("PillarScatter", ps_inputs(BAD_COORDS, num_valid, dtype=dtype), {"nx": 5, "ny": 4, "batch_size": 1},
               precision, *scales)
    assert not isinstance(out, str), out
    canvas = out[0]
    assert canvas.shape == (1, 3, 4, 5)
    # only the in-range pillars (indices 0 and 9) may land, at (0,0) and (3,4)
    occupied = {tuple(int(v) for v in ix) for ix in zip(*np.nonzero(np.any(canvas != 0, axis=1)[0]))}
    assert occupied <= {(0, 0), (3, 4)}


@pytest.mark.parametrize("pillars,channels", [(0, 3), (5, 0), (0, 0)])
def test_pillar_scatter_zero_size(pillars, channels):
    inputs = [np.zeros((pillars, channels), np.float32), np.zeros((pillars, 4), np.int32), np.array([pillars], np.int32)]
    out = call("PillarScatter", inputs, {"nx": 3, "ny": 2})
    assert not isinstance(out, str), out
    assert out[0].shape == (1, channels, 2, 3) and not out[0].any()


@pytest.mark.parametrize("attrs", [{"nx": 0, "ny": 1}, {"nx": -5, "ny": 1}, {"nx": 1, "ny": 1, "batch_size": 0},
                                   {"nx": I32.max, "ny": I32.max}, {"ny": 1}, {"nx": 1.5, "ny": 1}])
def test_pillar_scatter_degenerate_attributes(attrs):
    assert isinstance(call("PillarScatter", ps_inputs([[0, 0, 0, 0]], 1), attrs), str)


def test_pillar_scatter_mismatched_shapes():
    feats, coords, nv = ps_inputs([[0, 0, 0, 0]] * 4, 4)
    assert isinstance(call("PillarScatter", [feats, coords[:2], nv], {"nx": 2, "ny": 2}), str)
    assert isinstance(call("PillarScatter", [feats, coords[:, :3], nv], {"nx": 2, "ny": 2}), str)
    assert isinstance(call("PillarScatter", [feats, coords, np.zeros(0, np.int32)], {"nx": 2, "ny": 2}), str)


@pytest.mark.parametrize("in_scale,out_scale", [(3e38, 1e-3), (1.0, 1e-45), (np.inf, 1.0), (1.0, np.nan), (0.0, 1.0),
                                                (-1.0, 1.0), (1e-45, 3e38)])
def test_pillar_scatter_int8_degenerate_scales(in_scale, out_scale):
    out = call("PillarScatter", ps_inputs([[0, 0, 0, 0]], 1, dtype=np.int8), {"nx": 2, "ny": 2}, "int8",
               [in_scale, 1.0, 1.0], [out_scale])
    if not isinstance(out, str):  # accepted: then the ratio was finite, and values are in range
        assert out[0].dtype == np.int8 and out[0].min() >= -127


# ---- ScatterElementsReduce ------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_scatter_elements_out_of_range_indices(reduction, precision, index_dtype):
    dt = np.float32 if precision == "fp32" else np.float16
    data = np.arange(12, dtype=dt).reshape(3, 4)
    info = np.iinfo(index_dtype)
    indices = np.array([[0, -1, 3, -3], [-4, 4, info.max, info.min]], index_dtype)
    updates = np.array([[np.nan, np.inf, -np.inf, 1], [2, 3, 4, 5]], dt)
    for axis in (0, 1, -1, -2):
        out = call("ScatterElementsReduce", [data, indices, updates], {"axis": axis, "reduction": reduction}, precision)
        assert not isinstance(out, str), out
        assert out[0].shape == data.shape and out[0].dtype == dt


@pytest.mark.parametrize("shapes", [((0, 4), (0, 4)), ((3, 0), (3, 0)), ((3, 4), (0, 4)), ((3, 4), (5, 4)),
                                    ((3, 4), (2, 5)), ((3, 4), (2, 4, 1)), ((1,) * 8, (1,) * 8)])
def test_scatter_elements_shapes(shapes):
    data_shape, index_shape = shapes
    data = np.ones(data_shape, np.float32)
    indices = np.zeros(index_shape, np.int32)
    out = call("ScatterElementsReduce", [data, indices, np.ones(index_shape, np.float32)], {"axis": 0, "reduction": "add"})
    if not isinstance(out, str):
        assert out[0].shape == data.shape


@pytest.mark.parametrize("attrs", [{"axis": 2}, {"axis": -3}, {"axis": 100}, {"axis": -100}, {"reduction": "sum"},
                                   {"reduction": ""}, {"reduction": "add\0x"}])
def test_scatter_elements_degenerate_attributes(attrs):
    data = np.ones((3, 4), np.float32)
    out = call("ScatterElementsReduce", [data, np.zeros((2, 4), np.int32), np.ones((2, 4), np.float32)], attrs)
    assert isinstance(out, str)


# ---- LayerNorm ------------------------------------------------------------------------------
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
@pytest.mark.parametrize("shape", [(0, 4), (4, 0), (0,), (1,), (1, 1, 1), (2, 3, 0, 2)])
def test_layer_norm_zero_size_and_tiny(precision, shape):
    dt = {"fp32": np.float32, "fp16": np.float16, "int8": np.int8}[precision]
    x = np.ones(shape, dt)
    affine = np.ones(shape[-1:], dt)
    scales = ([0.1, 0.1, 0.1], [0.1]) if precision == "int8" else ([], [])
    out = call("LayerNorm", [x, affine, affine], {"axis": -1, "epsilon": 1e-5}, precision, *scales)
    if not isinstance(out, str):
        assert out[0].shape == x.shape and out[0].dtype == dt


@pytest.mark.parametrize("epsilon", [0.0, 1e-45, 3e38])
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_layer_norm_non_finite_values(epsilon, precision):
    x = np.array([[np.nan, 1, 2, 3], [np.inf, -np.inf, 0, 1], [5, 5, 5, 5], [3e38, -3e38, 3e38, -3e38]], np.float32)
    if precision == "int8":
        x = np.nan_to_num(x, nan=0, posinf=127, neginf=-127).clip(-127, 127).astype(np.int8)
        scales = ([1e-45, 3e38, 1.0], [1e-45])
    else:
        with np.errstate(over="ignore"):
            x = x.astype(np.float16) if precision == "fp16" else x
        scales = ([], [])
    affine = np.ones(4, x.dtype)
    out = call("LayerNorm", [x, affine, affine], {"axis": -1, "epsilon": epsilon}, precision, *scales)
    if not isinstance(out, str):
        assert out[0].shape == x.shape


@pytest.mark.parametrize("attrs", [{"axis": 2}, {"axis": -3}, {"axis": 8}, {"epsilon": -1.0}, {"epsilon": float("nan")},
                                   {"stash_type": 0}])
def test_layer_norm_degenerate_attributes(attrs):
    x = np.ones((2, 4), np.float32)
    assert isinstance(call("LayerNorm", [x, np.ones(4, np.float32), np.ones(4, np.float32)], attrs), str)


def test_layer_norm_mismatched_affine():
    x = np.ones((2, 4), np.float32)
    assert isinstance(call("LayerNorm", [x, np.ones(3, np.float32), np.ones(4, np.float32)], {}), str)
    assert isinstance(call("LayerNorm", [x, np.ones((2, 4), np.float32), np.ones(4, np.float32)], {}), str)


# ---- any plugin: wrong counts, dtypes, non-contiguous inputs ------------------------------------
@pytest.mark.parametrize("name", ["PillarScatter", "ScatterElementsReduce", "LayerNorm"])
def test_wrong_counts_and_dtypes(name):
    assert isinstance(call(name, [], {"nx": 1, "ny": 1}), str)
    assert isinstance(call(name, [np.ones(4, np.float64)] * 3, {"nx": 1, "ny": 1}), str)
    assert isinstance(call(name, [np.ones((4, 4), np.float32)[:, ::2]] * 3, {"nx": 1, "ny": 1}), str)
    assert isinstance(call(name, [np.ones(4, np.float32)] * 3, {"nx": 1, "ny": 1}, "bf16"), str)
