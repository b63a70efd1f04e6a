#!/usr/bin/env python3
"""Train the digits classifier (seed 002's table) and write its fixture: model, calibration batches, test set.

scikit-learn's bundled 8x8 digits (``load_digits``, 1797 images, no download), split 1197 train /
600 test (stratified, seed 0); a small CNN trained in torch on CPU (seeded, deterministic, a few
seconds), exported to ONNX with a fixed batch of 100 (sampleINT8 calibrates and scores in fixed
batches; TensorRT 8.5 needs no optimization profile then).

    /work/venv-corpus/bin/python scripts/export_digits.py [--out tests/fixtures/digits]   (torch + scikit-learn)

writes
    digits_cnn.onnx          input "image" float32 [100, 1, 8, 8] (pixels / 16), output "logits" [100, 10]
    calibration/batch0..4    the first 500 training images in sampleINT8's batch-file format (with labels)
    test.npz                 images uint8 [600, 8, 8] (0..16) and labels int64 [600]
    meta.json                split, seeds, training settings, torch's and onnxruntime's top-1 at export
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

BATCH = 100
TEST = 600
CALIBRATION_BATCHES = 5
SEED = 0


def load_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)
    images = images.reshape(-1, 8, 8).astype(np.uint8)  # integer pixel values 0..16
    x_tr, x_te, y_tr, y_te = train_test_split(images, labels, test_size=TEST, random_state=SEED, stratify=labels)
    return x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64)


def as_input(images: np.ndarray) -> np.ndarray:
    """uint8 pixels (0..16) -> the model's float32 input [N, 1, 8, 8]."""
    return (np.asarray(images, np.float32) / 16.0).reshape(-1, 1, 8, 8)


def train(x_tr, y_tr, epochs: int = 30):
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = torch.from_numpy(as_input(x_tr))
    y = torch.from_numpy(y_tr)
    order = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=order)
        for k in range(0, len(x), 64):
            idx = perm[k:k + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def top1(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def onnxruntime_logits(model_path, images: np.ndarray) -> np.ndarray:
    """Logits of the fixed-batch model over all images, in batches of 100 (the last zero-padded)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return run_batched(lambda x: session.run(None, {"image": x})[0], as_input(images))


def run_batched(run, x: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """``run`` over fixed batches of ``batch`` rows; a short last batch is zero-padded, its padding dropped."""
    out = []
    for k in range(0, len(x), batch):
        chunk = x[k:k + batch]
        n = len(chunk)
        if n < batch:
            chunk = np.concatenate([chunk, np.zeros((batch - n,) + chunk.shape[1:], chunk.dtype)])
        out.append(np.asarray(run(np.ascontiguousarray(chunk)))[:n])
    return np.concatenate(out)


def _batches_module():
    """pykit/precision/batches.py of this checkout, loaded by path: the torch venv this runs in may
    have another pykit checkout installed (editable), which a sys.path entry does not override."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "pykit" / "precision" / "batches.py"
    spec = importlib.util.spec_from_file_location("pykit_batches_of_this_checkout", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    import torch

    write_batch_file = _batches_module().write_batch_file

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tests/fixtures/digits")
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args(argv)
    out = Path(args.out)
    (out / "calibration").mkdir(parents=True, exist_ok=True)

    x_tr, y_tr, x_te, y_te = load_split()
    model = train(x_tr, y_tr, args.epochs)
    with torch.no_grad():
        torch_top1 = top1(model(torch.from_numpy(as_input(x_te))).numpy(), y_te)
    onnx_path = out / "digits_cnn.onnx"
    torch.onnx.export(model, torch.zeros(BATCH, 1, 8, 8), str(onnx_path), input_names=["image"],
                      output_names=["logits"], opset_version=13, dynamo=False)
    for k in range(CALIBRATION_BATCHES):
        sl = slice(k * BATCH, (k + 1) * BATCH)
        write_batch_file(out / "calibration" / f"batch{k}", as_input(x_tr[sl]), y_tr[sl])
    np.savez_compressed(out / "test.npz", images=x_te, labels=y_te)
    ort_top1 = top1(onnxruntime_logits(onnx_path, x_te), y_te)
    meta = {
        "dataset": "sklearn.datasets.load_digits (8x8, pixel values 0..16; model input = pixels / 16)",
        "split": {"test_size": TEST, "random_state": SEED, "stratify": True, "train": int(len(x_tr)), "test": int(len(x_te))},
        "calibration": {"files": CALIBRATION_BATCHES, "batch": BATCH, "images": "the first 500 training images, in split order"},
        "training": {"seed": SEED, "epochs": args.epochs, "optimizer": "Adam lr 3e-3, minibatch 64", "torch": torch.__version__},
        "input": "image", "output": "logits", "batch": BATCH,
        "top1_torch": torch_top1, "top1_onnxruntime_fp32": ort_top1,
        "reproduce": "/work/venv-corpus/bin/python scripts/export_digits.py --out tests/fixtures/digits",
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"top-1 torch {torch_top1:.4f}, onnxruntime {ort_top1:.4f}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
