"""The GPU scripts' TensorRT glue, run on the CPU against a stand-in for pykit._trt (the engines are
onnxruntime sessions; the "calibrator" writes pykit's entropy cache), so that the one GPU run does
not fail on names, shapes or cache parsing. What TensorRT computes is only known on the GPU."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from pykit.precision.cache import format_cache

ROOT = Path(__file__).resolve().parents[2]


def _script(name):
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeEngine:
    def __init__(self, plan: bytes):
        import onnxruntime as ort

        self.session = ort.InferenceSession(plan, providers=["CPUExecutionProvider"])

    def run(self, feeds, profile=0):
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(names, feeds)))

    def latency(self, feeds, profile=0, warmup=10, iterations=100):
        self.run(feeds)
        return {"gpu_ms": [0.1], "host_ms": [0.2]}


class FakeBuilder:
    """build_onnx as pykit._trt's: int8 with ranges or with calibration batches ([{input: array}])."""

    def __init__(self):
        self.cache = b""
        self.calls = []

    def build_onnx(self, model, precision, ranges, inputs=(), workspace=0, force_plugins=True, calibration=()):
        import onnx

        from pykit.precision.collect import calibrate

        assert precision in ("fp32", "fp16", "int8")
        self.calls.append((precision, dict(ranges), len(calibration)))
        self.cache = b""
        if precision == "int8" and calibration:
            proto = onnx.load_from_string(model)
            names = {i.name for i in proto.graph.input}
            for batch in calibration:  # what BatchCalibrator copies: C-contiguous arrays per input name
                assert set(batch) == names and all(np.asarray(v).flags.c_contiguous for v in batch.values())
            result = calibrate(proto, [dict(b) for b in calibration], progress=False)
            self.cache = format_cache(result.scales()).encode()
        return bytes(model)

    def calibration_cache(self):
        return self.cache


@pytest.fixture
def fake_trt(monkeypatch):
    from pykit.backends import trt

    builder = FakeBuilder()

    class Module:
        Engine = FakeEngine

        @staticmethod
        def version():
            return 8503

    monkeypatch.setattr(trt, "builder", lambda: builder)
    monkeypatch.setattr(trt, "trt_module", lambda: Module)
    monkeypatch.setattr(trt, "plugin_library", lambda spec=None: None)
    return builder


def test_gpu_accuracy_rows_with_a_stand_in_tensorrt(fake_trt, tmp_path):
    accuracy = _script("gpu-accuracy")
    assert accuracy.main(["--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "accuracy.json").read_text())
    rows = {r["row"]: r for r in report["rows"]}
    assert not [r for r in rows.values() if "error" in r], [r.get("trace") for r in rows.values()]
    assert set(rows) == {"onnxruntime fp32 (CPU)", "pykit int8 entropy, fake-quant (CPU)", "TensorRT fp32",
                         "TensorRT fp16", "TensorRT int8, pykit entropy scales",
                         "TensorRT int8, TensorRT IInt8EntropyCalibrator2"}
    assert rows["TensorRT fp32"]["top1"] == rows["onnxruntime fp32 (CPU)"]["top1"]  # the stand-in runs fp32
    int8_ranges = [c for c in fake_trt.calls if c[0] == "int8" and c[1]]
    assert int8_ranges and "image" in int8_ranges[0][1]  # pykit's amax handed over per tensor
    assert [c[2] for c in fake_trt.calls if c[0] == "int8"] == [0, 5]  # the 5 batch files to the calibrator
    # the stand-in calibrator is pykit's entropy: the scales table shows ratio 1 everywhere
    assert report["scales"] and all(s["ratio_trt_pykit"] == pytest.approx(1.0) for s in report["scales"])
    assert "| TensorRT int8, TensorRT IInt8EntropyCalibrator2 |" in (tmp_path / "accuracy.md").read_text()


def test_calib_experiments_end_to_end_with_a_stand_in_tensorrt(fake_trt, tmp_path):
    from pykit.precision.calibrators import EntropyRule

    ce = _script("calib-experiments")
    ce.search_rules = lambda: [EntropyRule(), EntropyRule(range="double")]  # two rules keep the test short
    assert ce.main(["--out", str(tmp_path), "--scenarios", "one_batch", "--no-demo", "--workers", "1"]) == 0
    report = json.loads((tmp_path / "calib-experiments.json").read_text())
    assert report["tensorrt"] == "8503"
    for section in ("one_batch", "digits"):
        entry = report["sections"][section]
        assert "error" not in entry, entry.get("error")
        assert set(entry["trt_amax"]) >= set(entry["pykit"]) and len(entry["pykit"]) >= 10
    # the stand-in calibrates with pykit.precision.collect.calibrate, i.e. pykit's default rule
    # (TensorRT's, as measured), per tensor or with MaxPool outputs tied (the digits CNN has one
    # MaxPool), so one of the two matches every tensor; the one-shot rule (pykit's before) places
    # its threshold half a bin lower
    best = report["ranking"][0]
    assert best["matched"] == best["tensors"]
    rows = {r["rule"]: r for r in report["ranking"]}
    default, tied = rows["range=double threshold=half_above"], rows["range=double threshold=half_above +maxpool=input"]
    assert best["tensors"] in (default["matched"], tied["matched"])
    assert rows["one-shot"]["mean_bins"] >= 0.4  # half a bin, less float32 rounding of the cache's scales
    md = (tmp_path / "calib-experiments.md").read_text()
    assert "`range=double threshold=half_above` (pykit's default rule, per tensor)" in md
    assert "`one-shot` (pykit before)" in md
