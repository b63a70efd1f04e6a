"""`pykit bench --model PATCHED --against ORIGINAL` and what `pykit inspect` says about speed
(issue #16 item 4). The timing itself needs TensorRT and a GPU (scripts/gpu-corpus.py and the
committed reports); here: the rewrites inspect offers for speed, how a bench result is read back
and matched to the model, and the CLI's errors."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from pykit.bench.model import sha256_of, speed_notes
from pykit.cli.__main__ import main
from pykit.surgeon.inspect import inspect_model
from pykit.surgeon.model import load_model
from pykit.surgeon.patch import patch_model
from pykit.validate_model import parser_bytes

DEMO = Path(__file__).resolve().parents[2] / "plugins" / "pillar_scatter" / "demo" / "model.onnx"


def test_inspect_offers_the_proven_speed_rewrite_of_a_natively_imported_scatter():
    report = inspect_model(load_model(DEMO), "8.5")
    assert not report.blocking  # TensorRT 8.5 imports seed 003's Scatter
    (note,) = report.for_speed
    assert "(Scatter) imports natively" in note and "PillarScatter" in note and "proven on 8 probes" in note
    assert "for speed: " in report.text()


def _result(original: Path, native_ms: float, patched_ms: float) -> dict:
    return {"original": str(original), "original_sha256": sha256_of(original), "tensorrt": "8.5.3",
            "rows": [{"precision": "fp16", "native": {"gpu_ms": native_ms}, "patched": {"gpu_ms": patched_ms},
                      "speedup": native_ms / patched_ms},
                     {"precision": "int8", "native": {"error": "RuntimeError: no calibrator"}, "patched": {"gpu_ms": 0.05}}]}


def test_a_bench_result_is_read_for_its_own_model_only(tmp_path):
    model = tmp_path / "m.onnx"
    shutil.copy(DEMO, model)
    bench = tmp_path / "model-bench.json"
    bench.write_text(json.dumps(_result(model, 0.126, 0.028)))
    fp16, int8 = speed_notes(model, bench)
    assert "native import runs (0.1260 ms)" in fp16 and f"{0.126 / 0.028:.2f}x faster" in fp16
    assert "native import refused" in int8 and "0.0500 ms" in int8
    # slower is said as slower, with the inverse ratio
    bench.write_text(json.dumps(_result(model, 0.02, 0.04)))
    assert "2.00x slower" in speed_notes(model, bench)[0]
    # another model's measurement is not attributed to this one
    other = tmp_path / "other.onnx"
    other.write_bytes(model.read_bytes() + b"\0")
    bench.write_text(json.dumps(_result(other, 0.126, 0.028)))
    (note,) = speed_notes(model, bench)
    assert "measured another model" in note
    bench.write_text("{not json")
    assert "not a `pykit bench --model` result" in speed_notes(model, bench)[0]


@pytest.mark.parametrize("argv, message", [
    (["bench", "--model", "p.onnx"], "--model needs --against ORIGINAL"),
    (["bench", "--against", "o.onnx"], "--against needs --model PATCHED"),
])
def test_bench_model_needs_both_models(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bench_model_without_tensorrt_is_one_clear_error(capsys):
    try:
        import pykit._trt  # noqa: F401
        pytest.skip("pykit._trt is built here")
    except ImportError:
        pass
    assert main(["bench", "--model", str(DEMO), "--against", str(DEMO)]) == 2
    assert "needs TensorRT" in capsys.readouterr().err


def test_a_lost_cuda_context_stops_the_bench_and_says_so(monkeypatch, tmp_path):
    """The patched model builds first at each precision; a build that leaves the CUDA context
    lost (an illegal memory access inside TensorRT is sticky) makes what follows 'not run', named
    with the cause, instead of refusals of their own."""
    import pykit.bench.model as bench
    from pykit.backends import trt

    calls = []

    class FakeEngine:
        def __init__(self, plan):
            self.plan = plan

        def io(self):
            return []

        def latency(self, feeds, profile, warmup, iterations):
            return {"gpu_ms": np.full(3, 0.5 if self.plan == "native" else 0.1), "host_ms": np.ones(3)}

    class Builder:
        def build_onnx(self, blob, precision, ranges, calibration=None):
            side = "patched" if blob == patched_bytes else "native"
            calls.append((precision, side))
            if (precision, side) == ("int8", "native"):
                raise RuntimeError("TensorRT could not build the engine")
            return side

    class Module:
        Engine = FakeEngine

        @staticmethod
        def version():
            return 8503

    patched_model = patch_model(load_model(DEMO), trt="8.5", force=["Scatter"]).model
    patched_bytes = parser_bytes(patched_model)
    monkeypatch.setattr(trt, "plugin_library", lambda: None)
    monkeypatch.setattr(trt, "trt_module", lambda: Module)
    monkeypatch.setattr(trt, "builder", Builder)
    monkeypatch.setattr(bench, "cuda_context_error", lambda: "an illegal memory access was encountered"
                        if ("int8", "native") in calls else None)
    p, o = tmp_path / "p.onnx", tmp_path / "o.onnx"
    onnx.save(patched_model, str(p))
    shutil.copy(DEMO, o)
    result = bench.bench_model(p, o, precisions=("fp32", "int8", "fp16"), iterations=3, warmup=0, log=lambda m: None)
    fp32, int8, fp16 = result["rows"]
    assert calls == [("fp32", "patched"), ("fp32", "native"), ("int8", "patched"), ("int8", "native")]
    assert fp32["speedup"] == 5.0 and int8["patched"]["gpu_ms"] == 0.1
    assert "could not build" in int8["native"]["error"] and "context lost (an illegal memory access" in int8["native"]["error"]
    assert all(fp16[side]["error"].startswith("not run: the CUDA context was lost") for side in ("patched", "native"))
    assert "in the native int8 build" in fp16["native"]["error"]
