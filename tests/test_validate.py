"""The validator must fail wrong plugins: a backend that is off by a little, returns the wrong
dtype, or ran in another precision than asked must not PASS."""
import numpy as np
import pytest

from pykit import registry
from pykit.backends import Run
from pykit.backends.host import HostBackend
from pykit.validate import validate_case

SPEC = registry.get("PillarScatter")
REFERENCE = registry.entry_point(SPEC, "reference")
CASE = next(c for c in registry.entry_point(SPEC, "cases")(np.random.default_rng(0)) if c.name == "random")


class Tampered(HostBackend):
    """The host backend with its output changed by `tamper`."""

    def __init__(self, tamper):
        self.tamper = tamper

    def run(self, *args):
        run = super().run(*args)
        return self.tamper(run)


def nudge_float(run):
    out = run.outputs[0].copy()
    flat = out.reshape(-1)
    i = int(np.flatnonzero(flat)[0])
    flat[i] = np.nextafter(flat[i], np.inf, dtype=flat.dtype) if flat.dtype != np.int8 else flat[i]
    return Run([out], run.actual_precision)


def off_by_one_step(run):
    out = run.outputs[0].copy()
    flat = out.reshape(-1)
    i = int(np.flatnonzero((flat != 0) & (np.abs(flat.astype(int)) < 127))[0])
    flat[i] += 1
    return Run([out], run.actual_precision)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_one_ulp_off_fails_an_exact_plugin(precision):
    result = validate_case(SPEC, Tampered(nudge_float), precision, CASE, REFERENCE)
    assert not result.passed and "1 of" in result.message


def test_one_int8_step_off_fails():
    result = validate_case(SPEC, Tampered(off_by_one_step), "int8", CASE, REFERENCE)
    assert not result.passed and "out of tolerance" in result.message


def test_wrong_output_dtype_fails():
    result = validate_case(SPEC, Tampered(lambda r: Run([r.outputs[0].astype(np.float32)], "fp16")), "fp16",
                           CASE, REFERENCE)
    assert not result.passed and "float32, the spec says float16" in result.message


def test_fp32_in_disguise_fails():
    """Values are right, but the backend admits it ran fp32 when fp16 was asked for."""
    result = validate_case(SPEC, Tampered(lambda r: Run(r.outputs, "fp32")), "fp16", CASE, REFERENCE)
    assert not result.passed and "asked for fp16, the backend ran fp32" in result.message


def test_wrong_shape_fails():
    result = validate_case(SPEC, Tampered(lambda r: Run([r.outputs[0][:, :, :-1]], r.actual_precision)), "fp32",
                           CASE, REFERENCE)
    assert not result.passed and "shape" in result.message


def test_int8_inputs_are_really_int8():
    seen = {}

    class Spy(HostBackend):
        def run(self, spec, precision, inputs, *rest):
            seen["dtypes"] = [x.dtype for x in inputs]
            seen["scales"] = rest[1]
            return super().run(spec, precision, inputs, *rest)

    assert validate_case(SPEC, Spy(), "int8", CASE, REFERENCE).passed
    assert seen["dtypes"] == [np.int8, np.int32, np.int32]
    assert seen["scales"][0] > 0


def test_error_histogram_counts_every_element():
    from pykit.validate import error_histogram

    err = np.array([0.0, 0.0, 5e-13, 3e-7, 2.0, 1e5, 1e9])
    counts = error_histogram(err)
    assert sum(counts) == err.size
    assert counts[0] == 2 and counts[1] == 1 and counts[-1] == 2


def test_case_histogram_accounts_for_all_outputs():
    result = validate_case(SPEC, HostBackend(), "int8", CASE, REFERENCE)
    canvas = 2 * 16 * 30 * 40  # B * C * ny * nx of the "random" case
    assert sum(result.histogram) == canvas
