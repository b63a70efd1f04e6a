"""The typed mode's verdicts (pykit/validate_typed.py), with fake backends that run the host kernel
cores the way TensorRT 8.5 ran the plugins on the H200 (docs/validation/precision/typed/):

* int8 "fused" (Q -> plugin -> DQ): the plugin ran int8 but was handed one scale for every int8
  tensor instead of the Q/DQ scales; the host core run with scale 1 everywhere reproduces the H200's
  LayerNorm and GridSampler errors of the run before the int8_scales attribute digit for digit, so
  the verdict must say WRONG SCALES, not FAIL (the plugin's arithmetic is right for the scales it was
  given) and never PASS (PillarScatter's output depends only on s_in/s_out, which is 1 in its cases);
  with the attribute's scales it reproduces the committed run's PASS errors;
* fp16 "io" / "cast": TensorRT 8.5 ran the plugin in fp32; that is no fp16 result either way."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from pykit import registry
from pykit.backends import Run
from pykit.backends.host import HostBackend, has_host_kernel
from pykit.validate_typed import TypedBackend, markdown, parse_scale_entry, run_typed_validation, scale_check

TYPED_JSON = Path(__file__).resolve().parents[1] / "docs/validation/precision/typed/typed.json"


def _entry(where, spec, scales):
    """What plugins/common/trt/library.cpp records: 'where: s,-->s' (%.9g; '-' not int8)."""
    text = ["-" if s is None else f"{s:.9g}" for s in scales]
    return f"{where}: {','.join(text[:len(spec.inputs)])}->{','.join(text[len(spec.inputs):])}"


class HandedScales(TypedBackend):
    """TensorRT as measured: the plugin runs int8 with `handed` as every int8 tensor's scale
    (None: the Q/DQ scales themselves), on the host kernel core; the library's record says so."""

    handed = None

    def run(self, spec, precision, inputs, attrs, input_scales, output_scales):
        self.scales_given = self.given_scales(spec, precision, input_scales, output_scales)
        seen = [s if s is None or self.handed is None else self.handed for s in self.scales_given]
        self.scales_seen = [_entry("configurePlugin", spec, seen), _entry("enqueue", spec, seen)]
        ins = [self.handed if self.handed is not None and t.dtype(precision) == "int8" else s
               for t, s in zip(spec.inputs, input_scales)]
        outs = [self.handed if self.handed is not None and t.dtype(precision) == "int8" else s
                for t, s in zip(spec.outputs, output_scales)]
        return HostBackend().run(spec, precision, inputs, attrs, ins, outs)


class ScaleOne(HandedScales):
    handed = 1.0


def _needs_host(*names):
    missing = [n for n in names if not has_host_kernel(registry.get(n))]
    if missing:
        pytest.skip(f"no host kernel for {missing} (pip install -e .)")


def _row(rows, form, flags):
    (row,) = [r for r in rows if r["form"] == form and r["flags"] == flags]
    return row


def test_scale_entries_parse_and_a_lost_scale_is_named():
    spec = registry.get("LayerNorm")
    assert parse_scale_entry("enqueue: 0.5,-,0.25->1") == ("enqueue", [0.5, None, 0.25, 1.0])
    # TensorRT's "invalid" -1 and a '-' right before the arrow
    assert parse_scale_entry("configurePlugin: -1,-->-1") == ("configurePlugin", [-1.0, None, -1.0])
    given = [0.0236, 0.0157, 0.0157, 0.0455]
    ok, said = scale_check(spec, given, [_entry("enqueue", spec, given)])
    assert ok and "enqueue saw x=0.0236" in said
    # float32 rounding of the recorded value is not a lost scale
    ok, _ = scale_check(spec, given, [_entry("enqueue", spec, [float(np.float32(g)) for g in given])])
    assert ok
    ok, said = scale_check(spec, given, [_entry("configurePlugin", spec, given), _entry("enqueue", spec, [1.0] * 4)])
    assert not ok and "enqueue saw x=1, scale=1, bias=1 -> y=1" in said and "configurePlugin saw x=0.0236" in said
    ok, said = scale_check(spec, given, None)
    assert ok and "not recorded" in said


def test_the_plugins_handed_their_q_dq_scales_pass():
    _needs_host("LayerNorm", "GridSampler")
    rows = run_typed_validation([registry.get("LayerNorm"), registry.get("GridSampler")], ("int8",), max_cases=3,
                                backend_of=HandedScales)
    fused = [r for r in rows if r["form"] == "fused"]
    assert fused and all(r["result"] == "PASS" for r in fused), [(r["plugin"], r["result"], r["detail"]) for r in fused]
    assert all("enqueue saw" in r["scales"] for r in fused)


# The H200 run before the int8_scales attribute (TensorRT 8.5.3, same cases and seed; commit f3e6874's
# docs/validation/precision/typed/typed.json): the fused form's max error with TensorRT's scale 1.0
SCALE_ONE_ON_THE_H200 = {"LayerNorm": 5.2801346760151056, "GridSampler": 0.3520713234320283}


@pytest.mark.parametrize("plugin", ["LayerNorm", "GridSampler"])
def test_scale_one_for_every_int8_tensor_is_wrong_scales_and_reproduces_the_h200(plugin):
    _needs_host(plugin)
    rows = run_typed_validation([registry.get(plugin)], ("int8",), max_cases=3, backend_of=ScaleOne)
    row = _row(rows, "fused", "none")
    assert row["result"] == "WRONG SCALES", row
    assert row["ran"] == "int8" and "outside the int8 tolerance" in row["detail"]
    assert "enqueue saw" in row["scales"] and "=1 ->" in row["scales"]
    # scale 1 everywhere explains that run's error digit for digit
    assert math.isclose(row["max_abs_err"], SCALE_ONE_ON_THE_H200[plugin], rel_tol=1e-6), row["max_abs_err"]


@pytest.mark.parametrize("plugin", ["LayerNorm", "GridSampler"])
def test_the_int8_scales_attribute_reproduces_the_h200_pass(plugin):
    # the committed run (after int8_scales): TensorRT still hands the plugin 1.0, the plugin computes with
    # its attribute's Q/DQ scales: the host core run with those scales gives the H200's error
    _needs_host(plugin)
    measured = [r for r in json.loads(TYPED_JSON.read_text())["rows"]
                if r["plugin"] == plugin and r["form"] == "fused" and r["ran"] == "int8"] if TYPED_JSON.is_file() else []
    if not measured:
        pytest.skip(f"{TYPED_JSON} has no int8 fused run of {plugin} to compare with")
    assert measured[0]["result"] == "PASS" and "int8_scales computed with" in measured[0]["scales"], measured[0]
    assert "enqueue saw x=1" in measured[0]["scales"]  # what TensorRT handed it
    rows = run_typed_validation([registry.get(plugin)], ("int8",), max_cases=3, backend_of=HandedScales)
    row = _row(rows, "fused", "none")
    assert row["result"] == "PASS", row
    assert math.isclose(row["max_abs_err"], measured[0]["max_abs_err"], rel_tol=1e-6), (row["max_abs_err"], measured[0])


def test_pillar_scatter_matches_with_lost_scales_but_is_not_a_pass():
    _needs_host("PillarScatter")
    rows = run_typed_validation([registry.get("PillarScatter")], ("int8",), max_cases=3, backend_of=ScaleOne)
    row = _row(rows, "fused", "none")
    assert row["result"] == "WRONG SCALES" and "within the int8 tolerance" in row["detail"]


def test_a_plugin_tensorrt_kept_in_fp32_is_no_fp16_result_and_is_retried_with_the_flag():
    _needs_host("LayerNorm")

    class KeptFp32(TypedBackend):
        def run(self, spec, precision, inputs, attrs, input_scales, output_scales):
            got = HostBackend().run(spec, precision, inputs, attrs, input_scales, output_scales)
            return Run(got.outputs, "mixed(fp32)" if precision == "fp16" else got.actual_precision)

    rows = run_typed_validation([registry.get("LayerNorm")], ("fp16",), max_cases=2, backend_of=KeptFp32)
    for form in ("io", "cast"):
        for flags in ("none", "fp16"):  # RAN FP32 with no flag: tried again with kFP16
            row = _row(rows, form, flags)
            assert row["result"] == "RAN FP32", row
            assert "not an fp16 result" in row["detail"] and "within the fp16 tolerance" in row["detail"]
            assert "kSTRONGLY_TYPED" in row["detail"]
    md = markdown(rows, {"gpu": "fake"}, "pykit validate --backend trt --typed")
    assert "| RAN FP32 |" in md and "RAN FP32: TensorRT ran the plugin in fp32" in md


def test_a_wrong_answer_with_the_scales_asked_is_still_a_fail():
    _needs_host("GridSampler")

    class OffByOneStep(HandedScales):
        def run(self, spec, precision, inputs, attrs, input_scales, output_scales):
            got = super().run(spec, precision, inputs, attrs, input_scales, output_scales)
            return Run([np.clip(got.outputs[0].astype(np.int16) + 3, -127, 127).astype(np.int8)], got.actual_precision)

    rows = run_typed_validation([registry.get("GridSampler")], ("int8",), max_cases=1, backend_of=OffByOneStep)
    assert _row(rows, "fused", "none")["result"] == "FAIL"
    md = markdown(rows, {}, "cmd")
    assert "scales: " in md and "enqueue saw" in md


def test_scales_handed_clears_then_reads_the_librarys_record(monkeypatch):
    _needs_host("GridSampler")
    import pykit.validate_typed as typed

    record = {"GridSampler": ["enqueue: stale"]}

    class Library:  # the two C functions of libpykit_plugins.so, as ctypes exposes them
        def pykit_scale_record_clear(self):
            record.clear()

        @property
        def pykit_scale_record(self):
            def get():
                return json.dumps(record).encode()
            return get

    class Backend(HostBackend):
        def run(self, spec, precision, inputs, attrs, input_scales, output_scales):
            record.setdefault(spec.name, []).append(_entry("enqueue", spec, list(input_scales[:1]) + [None] + list(output_scales)))
            return super().run(spec, precision, inputs, attrs, input_scales, output_scales)

    monkeypatch.setattr(typed, "plugin_library", lambda spec: Library())
    spec = registry.get("GridSampler")
    case = next(iter(registry.entry_point(spec, "cases")(np.random.default_rng(0))))
    result, seen = typed.scales_handed(spec, Backend(), "int8", case, registry.entry_point(spec, "reference"))
    assert result.passed and len(seen) == 1 and seen[0].startswith("enqueue: ") and "stale" not in seen[0]
