"""The digits fixture (tests/fixtures/digits, scripts/export_digits.py) that seed 002's GPU table uses:
it loads, its batch files parse, and onnxruntime reproduces the top-1 recorded at export."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from pykit.precision.batches import BatchStream, read_batch_file

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "digits"


def _script(name):
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fixture_is_small_and_complete():
    files = [p for p in FIXTURE.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"digits_cnn.onnx", "test.npz", "meta.json", "batch0", "batch4"}
    assert sum(p.stat().st_size for p in files) < 1_000_000


def test_batch_files_parse_as_sampleint8_batches():
    meta = json.loads((FIXTURE / "meta.json").read_text())
    files = sorted((FIXTURE / "calibration").iterdir())
    assert len(files) == meta["calibration"]["files"]
    for f in files:
        data, labels = read_batch_file(f)
        assert data.shape == (meta["batch"], 1, 8, 8) and data.dtype == np.float32
        # pixels are integers 0..16 scaled by 1/16
        assert np.array_equal(data * 16, np.rint(data * 16)) and 0 <= data.min() and data.max() <= 1
        assert labels is not None and set(np.unique(labels)) <= set(range(10))
    stream = BatchStream(FIXTURE / "calibration")
    assert stream.num_batches() == len(files)
    assert sum(len(b) for b in stream) == len(files) * meta["batch"]


def test_onnxruntime_top1_equals_the_number_recorded_at_export():
    accuracy = _script("gpu-accuracy")
    model, meta, x, labels, calibration = accuracy.load_fixture(FIXTURE)
    assert x.shape == (meta["split"]["test"], 1, 8, 8) and labels.shape == (len(x),)
    rows, scales = accuracy.cpu_rows(model, meta, x, labels, calibration)
    by_name = {r["row"]: r for r in rows}
    fp32 = by_name["onnxruntime fp32 (CPU)"]
    # recomputed here; another CPU's onnxruntime kernels may flip at most a borderline image
    assert abs(fp32["top1"] - meta["top1_onnxruntime_fp32"]) <= 1 / len(labels) + 1e-12
    assert fp32["top1"] > 0.9
    int8 = by_name["pykit int8 entropy, fake-quant (CPU)"]
    assert "error" not in int8, int8
    assert abs(int8["top1"] - fp32["top1"]) <= 0.02
    assert scales and all(s > 0 for s in scales.values())


def test_fixture_split_is_the_documented_one():
    """The test set and calibration images are the split meta.json names (calibration from training)."""
    pytest.importorskip("sklearn", reason="scikit-learn (test extra) rebuilds the split")
    export = _script("export_digits")
    x_tr, y_tr, x_te, y_te = export.load_split()
    with np.load(FIXTURE / "test.npz") as z:
        assert np.array_equal(z["images"], x_te) and np.array_equal(z["labels"], y_te)
    data, labels = read_batch_file(FIXTURE / "calibration" / "batch1")
    assert np.array_equal(data, export.as_input(x_tr[100:200])) and np.array_equal(labels, y_tr[100:200])
