"""The calibration sweep (python -m pykit.precision.sweep): every algorithm, its end-to-end error."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from precision_helpers import random_mlp
from pykit.precision.batches import write_batch_file
from pykit.precision.sweep import ALGORITHMS, amax_by_algorithm, main, sweep


def _model_and_data(tmp_path):
    model, ws, bs = random_mlp(seed=5, sizes=(8, 16, 4))
    rng = np.random.default_rng(6)
    data = rng.standard_normal((400, 8)).astype(np.float32)
    data[::97] *= 12  # a few outlying samples: the algorithms then disagree
    return model, ws, bs, data


def test_every_algorithm_reports_a_finite_error_and_the_best_is_the_smallest(tmp_path):
    model, ws, bs, data = _model_and_data(tmp_path)
    rows = sweep(model, [data[k:k + 50] for k in range(0, 400, 50)])
    assert [r.algorithm for r in rows] == list(ALGORITHMS)
    assert all(r.error is None for r in rows), [r.error for r in rows]
    errors = {r.algorithm: r.mean_rel_rms for r in rows}
    assert all(0 < e < 1 and math.isfinite(e) for e in errors.values()), errors  # really quantized
    best = [r for r in rows if r.best]
    assert len(best) == 1 and best[0].mean_rel_rms == min(errors.values())
    assert len(set(round(e, 12) for e in errors.values())) > 1  # the algorithms differ on this data


def test_amax_per_algorithm_orders_as_their_definitions(tmp_path):
    model, _, _, data = _model_and_data(tmp_path)
    from pykit.precision.calibrators import EntropyCalibrator
    from pykit.precision.collect import calibrate

    result = calibrate(model, [data], make=EntropyCalibrator, progress=False)
    amax = amax_by_algorithm(result)
    for tensor in result.calibrators:
        assert amax["minmax"][tensor] == float(result.calibrators[tensor].amax_seen)
        assert amax["percentile 99.9"][tensor] <= amax["percentile 99.99"][tensor] <= amax["percentile 99.999"][tensor]
        # no algorithm goes above the largest value seen, except TensorRT's entropy threshold,
        # which sits half a bin above its kept bins: one batch, so bins of max|x| / 2048
        top = amax["minmax"][tensor] * (1 + 1e-12)
        assert all(a[tensor] <= top for algo, a in amax.items() if algo != "entropy")
        assert amax["entropy"][tensor] <= top * (1 + 0.5 / 2048)
        assert amax["entropy one-shot"][tensor] < amax["entropy"][tensor]  # never the same threshold
    assert amax["minmax"]["x"] == pytest.approx(float(np.abs(data).max()))


def test_cli_with_labelled_batch_files_reports_top1_and_writes_json(tmp_path, capsys):
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(7)
    w = rng.standard_normal((4, 3)).astype(np.float32)  # a linear classifier over a 1x2x2 image
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["image"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["logits"])],
        "clf", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [10, 1, 2, 2])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [10, 3])],
        [helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.ravel())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, tmp_path / "clf.onnx")
    (tmp_path / "batches").mkdir()
    for k in range(3):
        x = rng.standard_normal((10, 1, 2, 2)).astype(np.float32)
        write_batch_file(tmp_path / "batches" / f"batch{k}", x, (x.reshape(10, 4) @ w).argmax(1))  # labels = fp32's
    out = tmp_path / "sweep.json"
    assert main([str(tmp_path / "clf.onnx"), "--data", str(tmp_path / "batches"), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "<- best" in printed and "top-1" in printed
    rows = json.loads(out.read_text())
    assert rows[0]["algorithm"] == "fp32 (reference)" and rows[0]["top1"] == 1.0
    assert all(r["top1"] is not None and r["top1"] >= 0.5 for r in rows)


def test_bad_algorithm_and_missing_data_exit_2(tmp_path, capsys):
    model, *_ = _model_and_data(tmp_path)
    import onnx

    onnx.save(model, tmp_path / "m.onnx")
    assert main([str(tmp_path / "m.onnx"), "--data", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
    np.save(tmp_path / "d.npy", np.zeros((4, 8), np.float32))
    assert main([str(tmp_path / "m.onnx"), "--data", str(tmp_path / "d.npy"), "--algos", "kl"]) == 2
    assert "unknown algorithm" in capsys.readouterr().err


def test_pykit_calibrate_sweep_is_the_same_sweep(tmp_path, capsys):
    import onnx

    from pykit.cli.__main__ import main as pykit

    model, _, _, data = _model_and_data(tmp_path)
    onnx.save(model, tmp_path / "m.onnx")
    np.save(tmp_path / "d.npy", data)
    assert main([str(tmp_path / "m.onnx"), "--data", str(tmp_path / "d.npy")]) == 0
    direct = capsys.readouterr().out
    assert pykit(["calibrate", str(tmp_path / "m.onnx"), "--data", str(tmp_path / "d.npy"), "--sweep"]) == 0
    via_calibrate = capsys.readouterr().out
    rows = lambda text: [line.split()[0] for line in text.splitlines() if "<- best" in line]  # noqa: E731
    assert rows(direct) and rows(direct) == rows(via_calibrate)
    assert pykit(["calibrate", str(tmp_path / "m.onnx"), "--sweep"]) == 2
    assert "--sweep needs --data" in capsys.readouterr().err
