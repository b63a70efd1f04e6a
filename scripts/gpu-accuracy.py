#!/usr/bin/env python3
"""Seed 002's table on the GPU: digits CNN top-1 at FP32 / FP16 / INT8, with both calibrators.

The fixture (tests/fixtures/digits, made by scripts/export_digits.py): a small CNN on scikit-learn's
8x8 digits, its calibration images as sampleINT8 batch files, a 600-image test set.  Rows:

* onnxruntime fp32 on the CPU (the reference; equal to the top-1 recorded at export),
* pykit int8 on the CPU: entropy scales from the batch files, Q/DQ (per-channel weights), run by
  onnxruntime as fake quantization (pykit.precision.qdq.fake_quant_session),
* TensorRT engines: fp32, fp16, int8 with pykit's entropy scales given as explicit dynamic ranges,
  int8 with TensorRT's IInt8EntropyCalibrator2 fed the same batch files.

As sampleINT8 reports them: Top1 and Top5 over the test set, and ms per batch (engine median GPU
time, batch 100).  Each row is isolated: an error is recorded as the row's result.  Also writes
TensorRT's and pykit's scales tensor by tensor.

    . /tmp/tensorrt/env.sh && bash scripts/gpu-calib.sh OUT          (builds pykit._trt, runs this)
    python3 scripts/gpu-accuracy.py --out OUT/accuracy                 (pykit._trt already built)
    python scripts/gpu-accuracy.py --out OUT --cpu-only                (the CPU rows alone)

Writes OUT/accuracy.md and OUT/accuracy.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from export_digits import run_batched  # noqa: E402  (the export's batching: same padding rule)

FIXTURE = ROOT / "tests" / "fixtures" / "digits"


def load_fixture(folder: Path = FIXTURE):
    """(model, meta, test images as model input float32 [N,1,8,8], labels, calibration folder)."""
    import onnx

    meta = json.loads((folder / "meta.json").read_text())
    with np.load(folder / "test.npz") as z:
        images, labels = z["images"], z["labels"]
    x = (images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    return onnx.load(str(folder / "digits_cnn.onnx")), meta, x, labels, folder / "calibration"


def topk(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    best = np.argsort(-logits, axis=1)[:, :k]
    return float(np.mean((best == labels[:, None]).any(axis=1)))


def _session(model):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def pykit_calibration(model, calibration: Path):
    from pykit.precision.batches import BatchStream
    from pykit.precision.collect import calibrate

    return calibrate(model, BatchStream(calibration), algo="entropy", progress=False)


def cpu_rows(model, meta, x, labels, calibration) -> tuple[list, dict]:
    from pykit.precision.qdq import fake_quant_session, insert_qdq

    rows, scales = [], {}
    name_in, batch = meta["input"], meta["batch"]

    def row(label, fn):
        t = time.time()
        try:
            logits = fn()
            rows.append({"row": label, "top1": topk(logits, labels, 1), "top5": topk(logits, labels, 5),
                         "seconds": time.time() - t})
        except Exception as e:
            rows.append({"row": label, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()})

    session = _session(model)
    row("onnxruntime fp32 (CPU)", lambda: run_batched(lambda c: session.run(None, {name_in: c})[0], x, batch))

    def int8_cpu():
        result = pykit_calibration(model, calibration)
        scales.update(result.scales())
        fq = fake_quant_session(insert_qdq(model, result.scales(), weights="per_channel"))
        return run_batched(lambda c: fq.run(None, {name_in: c})[0], x, batch)

    row("pykit int8 entropy, fake-quant (CPU)", int8_cpu)
    return rows, scales


def trt_rows(model, meta, x, labels, calibration, pykit_scales: dict) -> tuple[list, dict]:
    from pykit.backends import trt
    from pykit.precision.batches import BatchStream
    from pykit.precision.cache import parse_cache
    from pykit.validate_model import parser_bytes

    _trt = trt.trt_module()
    builder = trt.builder()
    model_bytes = parser_bytes(model)
    name_in, name_out, batch = meta["input"], meta["output"], meta["batch"]
    rows, extra = [], {"tensorrt": str(_trt.version())}

    def row(label, build):
        t = time.time()
        try:
            engine = _trt.Engine(build())
            logits = run_batched(lambda c: engine.run({name_in: c})[name_out], x, batch)
            timing = engine.latency({name_in: np.ascontiguousarray(x[:batch])}, 0, 20, 200)
            rows.append({"row": label, "top1": topk(logits, labels, 1), "top5": topk(logits, labels, 5),
                         "ms_per_batch": float(np.median(timing["gpu_ms"])), "seconds": time.time() - t})
        except Exception as e:
            rows.append({"row": label, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()})

    row("TensorRT fp32", lambda: builder.build_onnx(model_bytes, "fp32", {}))
    row("TensorRT fp16", lambda: builder.build_onnx(model_bytes, "fp16", {}))
    ranges = {k: float(np.float32(s) * np.float32(127)) for k, s in pykit_scales.items()}
    row("TensorRT int8, pykit entropy scales", lambda: builder.build_onnx(model_bytes, "int8", ranges))

    def trt_calibrated():
        batches = [{name_in: np.ascontiguousarray(b.inputs["data"])} for b in BatchStream(calibration)]
        plan = builder.build_onnx(model_bytes, "int8", {}, calibration=batches)
        extra["tensorrt_cache"] = bytes(builder.calibration_cache()).decode()
        return plan

    row("TensorRT int8, TensorRT IInt8EntropyCalibrator2", trt_calibrated)
    if extra.get("tensorrt_cache"):
        theirs = parse_cache(extra["tensorrt_cache"], "TensorRT's calibration cache").scales
        extra["scales"] = [{"tensor": n, "pykit": pykit_scales.get(n), "tensorrt": theirs.get(n),
                            "ratio_trt_pykit": (theirs[n] / pykit_scales[n]) if pykit_scales.get(n) and theirs.get(n) else None}
                           for n in sorted(set(pykit_scales) | set(theirs))]
    return rows, extra


def markdown(report: dict) -> str:
    meta = report["meta"]
    lines = ["# Digits CNN: top-1 per precision and calibrator (seed 002's table)", "",
             f"Reproduce: `{report['command']}` (fixture: `{meta['reproduce']}`)", "",
             f"Machine: {report['machine']}; TensorRT {report.get('tensorrt', 'n/a')}; test set {report['test_images']} images "
             f"of scikit-learn's 8x8 digits; calibration: {meta['calibration']['files']} sampleINT8 batch files x "
             f"{meta['calibration']['batch']} training images; top-1 recorded at export (onnxruntime fp32): "
             f"{meta['top1_onnxruntime_fp32']:.4f}.", "",
             "| engine / run | Top1 | Top5 | ms/batch (GPU, batch 100) |", "|---|---|---|---|"]
    for r in report["rows"]:
        if "error" in r:
            lines.append(f"| {r['row']} | **error**: {r['error'].splitlines()[0][:200]} | | |")
        else:
            ms = f"{r['ms_per_batch']:.4f}" if "ms_per_batch" in r else "-"
            lines.append(f"| {r['row']} | {r['top1']:.4f} | {r['top5']:.4f} | {ms} |")
    lines += [f"\n{r['row']}: {r['note']}" for r in report["rows"] if r.get("note")]
    if report.get("scales"):
        lines += ["", "## INT8 scales: TensorRT's calibrator vs pykit's entropy", "",
                  "| tensor | pykit scale | TensorRT scale | TensorRT / pykit |", "|---|---|---|---|"]
        for s in report["scales"]:
            f = lambda v: f"{v:.6g}" if v is not None else "-"  # noqa: E731
            lines.append(f"| {s['tensor']} | {f(s['pykit'])} | {f(s['tensorrt'])} | {f(s['ratio_trt_pykit'])} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--cpu-only", action="store_true", help="only the CPU rows (no TensorRT)")
    ap.add_argument("--fixture", default=str(FIXTURE))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model, meta, x, labels, calibration = load_fixture(Path(args.fixture))
    report = {"command": "python3 scripts/gpu-accuracy.py " + " ".join(sys.argv[1:]), "machine": platform.node(),
              "meta": meta, "test_images": int(len(labels))}
    rows, scales = cpu_rows(model, meta, x, labels, calibration)
    if not args.cpu_only:
        try:
            more, extra = trt_rows(model, meta, x, labels, calibration, scales)
            rows += more
            report.update(extra)
        except Exception as e:  # no TensorRT at all: the CPU rows still get written
            rows.append({"row": "TensorRT", "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()})
    report["rows"] = rows
    (out / "accuracy.json").write_text(json.dumps(report, indent=1))
    (out / "accuracy.md").write_text(markdown(report))
    for r in rows:
        print(f"{r['row']:<50} " + (f"top1 {r['top1']:.4f} top5 {r['top5']:.4f}" if "top1" in r else r["error"]))
    print(f"wrote {out / 'accuracy.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
