"""Activation collection with onnxruntime and with a custom executor, and the calibrate CLI."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from precision_helpers import numpy_mlp, random_mlp, reference_entropy_amax
from pykit.precision.batches import write_batch_file
from pykit.precision.cache import read_cache
from pykit.precision.collect import calibrate, default_tensors, expose_tensors
from pykit.precision.numerics import scale_from_amax


@pytest.fixture(scope="module")
def mlp():
    model, ws, bs = random_mlp(seed=4, sizes=(6, 12, 3))
    x = np.random.default_rng(5).standard_normal((40, 6)).astype(np.float32)
    return model, ws, bs, x


def test_default_tensors_and_expose(mlp):
    model, *_ = mlp
    assert default_tensors(model) == ["x", "h0", "r0", "y"]
    exposed = expose_tensors(model, ["h0", "r0"])
    onnx.checker.check_model(exposed)
    assert [o.name for o in exposed.graph.output] == ["y", "h0", "r0"]
    with pytest.raises(KeyError, match="not produced"):
        expose_tensors(model, ["W0"])


def test_minmax_over_stream_equals_numpy_max(mlp):
    model, ws, bs, x = mlp
    result = calibrate(model, [x[:13], x[13:27], x[27:]], algo="minmax", batch_size=8, skip=1, progress=False)
    ref = numpy_mlp(x[8:], ws, bs)  # the first batch of 8 was skipped
    assert result.batches == 4 and result.samples == 32
    for name, amax in result.amax().items():
        assert amax == pytest.approx(np.abs(ref[name]).max(), rel=1e-5), name
        assert result.scales()[name] == scale_from_amax(amax)


def test_custom_executor_is_used(mlp):
    model, ws, bs, x = mlp
    calls = []

    def run(feeds):  # e.g. the reference evaluator of a patched model
        calls.append(sorted(feeds))
        out = numpy_mlp(feeds["x"], ws, bs)
        return {"r0": out["r0"], "weird": out["r0"] * 0 + 7}

    result = calibrate(data=[x], run=run, tensors=["r0", "weird"], input_names=["x"], algo="entropy",
                       progress=False)
    assert calls == [["x"]]
    ref, bin_w = reference_entropy_amax([numpy_mlp(x, ws, bs)["r0"]], rule="tensorrt")
    assert abs(result.amax()["r0"] - ref) <= bin_w * 1.0001
    # a constant 7 fills the top bin of [0, 7]: all 2048 bins kept, amax half a bin above 7
    assert result.amax()["weird"] == pytest.approx(7.0 * (1 + 0.5 / 2048), rel=1e-9)
    with pytest.raises(KeyError, match="returned no tensor 'missing'"):
        calibrate(data=[x], run=run, tensors=["missing"], input_names=["x"], progress=False)


def test_feed_binding_errors(mlp):
    model, *_ = mlp
    with pytest.raises(KeyError, match="missing"):
        calibrate(model, [{"a": np.zeros((2, 6), np.float32), "b": np.zeros((2, 6), np.float32)}], progress=False)
    with pytest.raises(ValueError, match="non-finite"):
        calibrate(model, [np.full((2, 6), np.nan, np.float32)], progress=False)


def test_cli_writes_cache_and_qdq(tmp_path, mlp, capsys):
    from pykit.cli import calibrate as cli

    model, ws, bs, x = mlp
    model_path = tmp_path / "mlp.onnx"
    onnx.save(model, model_path)
    data = tmp_path / "batches"
    data.mkdir()
    x4 = x.reshape(40, 6, 1, 1)
    for k in range(4):
        write_batch_file(data / f"batch{k}", x4[10 * k:10 * k + 10], np.zeros(10))
    # the CLI feeds 4-D batch data to a 2-D model input: give it .npy instead
    npy = tmp_path / "npy"
    npy.mkdir()
    np.save(npy / "0.npy", x)
    cache = tmp_path / "out.cache"
    qdq = tmp_path / "out.qdq.onnx"
    rc = cli.main([str(model_path), "--data", str(npy), "--algo", "minmax", "--batch", "16", "--skip", "1",
                   "--cache", str(cache), "--qdq", str(qdq), "--trt-version", "10.3.0", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.splitlines()[0].split() == ["tensor", "amax", "scale"]
    c = read_cache(cache)
    assert c.algorithm == "MinMaxCalibration" and c.version == "100300"
    ref = numpy_mlp(x[16:], ws, bs)
    for name in ["x", "h0", "r0", "y"]:
        assert c.scales[name] == pytest.approx(np.abs(ref[name]).max() / 127, rel=1e-5)
        assert name in out
    onnx.checker.check_model(onnx.load(qdq))
    # a folder of 4-D sampleINT8 batch files on a 2-D model is a clear error, not a traceback
    rc = cli.main([str(model_path), "--data", str(data), "--cache", str(tmp_path / "bad.cache"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error:")
    assert not (tmp_path / "bad.cache").exists()
    rc = cli.main([str(model_path), "--data", str(tmp_path / "nothing"), "--cache", str(cache), "--no-progress"])
    assert rc == 2 and "no such file or folder" in capsys.readouterr().err


def _conv_model(batch):
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(8)
    w = rng.standard_normal((3, 1, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["img", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["out"], name="gap")]
    graph = helper.make_graph(nodes, "conv",
                              [helper.make_tensor_value_info("img", TensorProto.FLOAT, [batch, 1, 4, 4])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [batch, 3, 1, 1])],
                              [numpy_helper.from_array(w, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def test_cli_on_seed_batch_files_nchw(tmp_path, capsys):
    from pykit.cli import calibrate as cli
    from pykit.precision.qdq import fake_quant_session

    rng = np.random.default_rng(9)
    imgs = rng.standard_normal((15, 1, 4, 4)).astype(np.float32)
    data = tmp_path / "batches"
    data.mkdir()
    for k in range(3):  # files of 5 samples; the CLI uses batches of 4 and skips the first
        write_batch_file(data / f"batch{k}", imgs[5 * k:5 * k + 5], np.arange(5))
    onnx.save(_conv_model("N"), tmp_path / "dyn.onnx")
    cache, qdq = tmp_path / "dyn.cache", tmp_path / "dyn.qdq.onnx"
    rc = cli.main([str(tmp_path / "dyn.onnx"), "--data", str(data), "--batch", "4", "--skip", "1",
                   "--cache", str(cache), "--qdq", str(qdq), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "3 batches (11 samples)" in out
    # the batches the CLI made (4, 4, 3 samples after skipping one of 4), calibrated by TensorRT's
    # rule written out independently: amax within one bin, the cache's scale amax/127 in float32
    ref, bin_w = reference_entropy_amax([imgs[4:8], imgs[8:12], imgs[12:]], rule="tensorrt")
    c = read_cache(cache)
    assert c.algorithm == "EntropyCalibration2"
    assert abs(float(c.scales["img"]) * 127 - ref) <= bin_w * 1.001
    assert set(c.scales) == {"img", "c", "r", "out"}
    q = onnx.load(qdq)
    onnx.checker.check_model(q)
    assert any(n.op_type == "DequantizeLinear" and any(a.name == "axis" for a in n.attribute) for n in q.graph.node)
    (y,) = fake_quant_session(q).run(None, {"img": imgs})
    assert y.shape == (15, 3, 1, 1) and np.isfinite(y).all()
    # a model with a fixed batch of 2 takes batches of 2 and drops the short last one
    onnx.save(_conv_model(2), tmp_path / "fixed.onnx")
    rc = cli.main([str(tmp_path / "fixed.onnx"), "--data", str(data), "--algo", "percentile",
                   "--cache", str(tmp_path / "fixed.cache"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "7 batches (14 samples)" in out
    assert read_cache(tmp_path / "fixed.cache").algorithm == "LegacyCalibration"
    assert cli.main([str(tmp_path / "fixed.onnx"), "--data", str(data), "--batch", "3",
                     "--cache", str(tmp_path / "x.cache"), "--no-progress"]) == 2
    assert "fixed batch of 2" in capsys.readouterr().err
