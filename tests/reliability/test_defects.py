"""Issue #14 items 1, 3 and 4: each test failed (or crashed) before its fix."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pykit import registry
from pykit.backends.host import HostBackend
from pykit.case import Case
from pykit.validate import validate_case

from pykit import extensions

_host = extensions.load("_host")  # PYKIT_BUILD_DIR: the ASan/UBSan build (test_sanitizers.py)


def run(name, inputs, attrs, precision="fp32", in_scales=(), out_scales=()):
    return _host.run(name, list(inputs), attrs, precision, list(in_scales), list(out_scales))


def pillar_inputs(pillars=4, channels=2, dtype=np.float32):
    shape = (1, pillars, channels) if dtype == np.int8 else (pillars, channels)
    return [np.ones(shape, dtype), np.zeros((pillars, 4), np.int32), np.array([pillars], np.int32)]


# ---- 1: PillarScatter sizes ----------------------------------------------------------------------
def test_wrapping_canvas_is_refused_in_a_subprocess():
    # B * ny * nx = 2^64 wrapped to 0 before: an empty owner map written out of bounds (a crash or
    # heap corruption). A subprocess, so that a regression fails this test, not the whole run.
    code = textwrap.dedent("""
        import numpy as np
        from pykit import _host
        try:
            _host.run("PillarScatter", [np.ones((4, 2), np.float32), np.zeros((4, 4), np.int32),
                      np.array([4], np.int32)], {"batch_size": 2**21, "ny": 2**21, "nx": 2**22}, "fp32", [], [])
        except Exception as e:
            print(type(e).__name__, e)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "PillarScatter" in proc.stdout and "maximum" in proc.stdout, proc.stdout


@pytest.mark.parametrize("attr,value", [("nx", 16385), ("ny", 2**21), ("batch_size", 1025)])
def test_spec_maxima_refuse_huge_attributes(attr, value):
    attrs = {"batch_size": 1, "ny": 4, "nx": 4, attr: value}
    with pytest.raises(Exception, match=attr):
        run("PillarScatter", pillar_inputs(), attrs)


def test_checked_arithmetic_refuses_a_canvas_within_the_attribute_maxima():
    # 1024 * 16384 * 16384 cells (each attribute at its maximum) * 2048 channels = 2^49 > 2^48
    attrs = {"batch_size": 1024, "ny": 16384, "nx": 16384}
    with pytest.raises(Exception, match="2\\^48"):
        run("PillarScatter", pillar_inputs(pillars=0, channels=2048), attrs)


def test_largest_ordinary_canvas_still_runs():
    attrs = {"batch_size": 1, "ny": 8, "nx": 16384}
    out = run("PillarScatter", pillar_inputs(), attrs)[0]
    assert out.shape == (1, 2, 8, 16384) and out[0, :, 0, 0].tolist() == [1.0, 1.0]


# ---- 3: non-finite values and int8 ---------------------------------------------------------------
def test_quantize_maps_nan_to_zero_and_saturates_inf():
    got = _host.quantize_int8(np.array([np.nan, -np.nan, np.inf, -np.inf, 3.0], np.float32), 1.0)
    assert got.tolist() == [0, 0, 127, -127, 3]


def test_overflowing_requantization_ratio_is_refused():
    # s_out = 1e-45 is positive (host::bind accepts it), but s_in / s_out overflows to inf
    with pytest.raises(Exception, match="not finite"):
        run("PillarScatter", pillar_inputs(dtype=np.int8), {"batch_size": 1, "ny": 2, "nx": 2}, "int8",
            [0.1, 1.0, 1.0], [1e-45])


def test_layer_norm_int8_constant_row_with_zero_epsilon_agrees_with_the_validator():
    # epsilon = 0 (allowed) on a constant row: 0/0 = NaN in the reference; int8 has no NaN -> 0
    spec = registry.get("LayerNorm")
    x = np.zeros((1, 2, 16), np.float32)  # zeros: the mean is exactly 0 after quantization
    x[0, 1] = np.linspace(-1, 1, 16)  # a second, ordinary row gives the output its scale
    case = Case("constant_row_eps0", {"x": x, "scale": np.ones((1, 1, 16), np.float32),
                                      "bias": np.full((1, 1, 16), 0.5, np.float32)}, {"axis": -1, "epsilon": 0.0})
    result = validate_case(spec, HostBackend(), "int8", case, registry.entry_point(spec, "reference"))
    assert result.passed, result


# ---- 4: LayerNorm variance overflow --------------------------------------------------------------
@pytest.mark.parametrize("magnitude", [1e19, 1e20, 1e30, 1e34])
@pytest.mark.parametrize("cols", [4, 96, 4096])
def test_layer_norm_fp32_huge_deviations_match_the_reference(magnitude, cols, rng):
    spec = registry.get("LayerNorm")
    x = (rng.standard_normal((2, cols)) * magnitude).astype(np.float32)
    scale = rng.uniform(0.5, 1.5, cols).astype(np.float32)
    bias = rng.uniform(-0.5, 0.5, cols).astype(np.float32)
    y = run("LayerNorm", [x, scale, bias], {"axis": -1, "epsilon": 1e-5})[0]
    want = registry.entry_point(spec, "reference")({"x": x, "scale": scale, "bias": bias},
                                                   {"axis": -1, "epsilon": 1e-5})["y"]
    tol = spec.tolerances["fp32"]
    assert np.all(np.abs(y - want) <= tol.bound(np.abs(want), 0.0)), np.abs(y - want).max()
    assert np.std(y) > 0.1  # not just the bias


def test_layer_norm_ordinary_rows_unchanged_by_the_overflow_path(rng):
    # p = 1 on the usual path: results are bit for bit those of the plain formula in float32
    x = rng.standard_normal((4, 300)).astype(np.float32)
    scale, bias = np.ones(300, np.float32), np.zeros(300, np.float32)
    y = run("LayerNorm", [x, scale, bias], {"axis": -1, "epsilon": 1e-5})[0]
    assert np.isfinite(y).all() and np.allclose(y.mean(axis=1), 0, atol=1e-5)
