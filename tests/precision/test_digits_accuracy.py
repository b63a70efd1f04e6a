"""Seed 002's accuracy check on CPU: FP32 vs FP16 vs emulated INT8 (entropy calibration, Q/DQ)
top-1 on scikit-learn's bundled 8x8 digits; INT8 must stay within 1 point of FP32 and of FP16."""
from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="scikit-learn (test extra) is needed for the bundled digits data")

from precision_helpers import mlp_model, ort_run  # noqa: E402
from pykit.precision.collect import calibrate  # noqa: E402
from pykit.precision.fp16 import convert_to_fp16  # noqa: E402
from pykit.precision.qdq import insert_qdq  # noqa: E402


def _fit():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.4, random_state=0, stratify=y)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at a short max_iter is fine here
        clf = MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=300, random_state=0).fit(x_tr, y_tr)
    # MLPClassifier computes x @ W + b; Gemm(transB=1) takes W transposed
    model = mlp_model([w.T for w in clf.coefs_], clf.intercepts_, batch="N")
    return model, clf, x_tr, x_te, y_te


def test_int8_entropy_top1_within_one_point_of_fp32_and_fp16():
    model, clf, x_tr, x_te, y_te = _fit()
    (logits32,) = ort_run(model, {"x": x_te})
    top1_fp32 = float(np.mean(logits32.argmax(1) == y_te))
    assert top1_fp32 == pytest.approx(clf.score(x_te, y_te), abs=1e-9)  # export is faithful
    assert top1_fp32 > 0.9

    (logits16,) = ort_run(convert_to_fp16(model), {"x": x_te})
    top1_fp16 = float(np.mean(logits16.argmax(1) == y_te))

    result = calibrate(model, [x_tr], algo="entropy", batch_size=100, progress=False)
    assert set(result.calibrators) == {"x", "h0", "r0", "h1", "r1", "y"}
    qdq = insert_qdq(model, result.scales(), weights="per_channel")
    (logits8,) = ort_run(qdq, {"x": x_te}, fake_quant=True)
    top1_int8 = float(np.mean(logits8.argmax(1) == y_te))
    assert not np.allclose(logits8, logits32, atol=1e-4)  # it is really quantized

    print(f"digits top-1: fp32 {top1_fp32:.4f}  fp16 {top1_fp16:.4f}  int8 {top1_int8:.4f} (n={len(y_te)})")
    assert abs(top1_int8 - top1_fp32) <= 0.01
    assert abs(top1_int8 - top1_fp16) <= 0.01
