"""Issue #14 item 8, CLI defects (calibrate, the calibration cache, the atomic writer, the model
loader, patch): each bad input gives one line naming the culprit, exits 2 and writes nothing.
Each test failed before its fix."""
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from pykit.cli import calibrate as calibrate_cli
from pykit import files
from pykit.precision.cache import CacheFormatError, format_cache, read_cache, write_cache
from pykit.surgeon.model import SurgeryError, load_model, save_atomic
from pykit.surgeon.models import plugin_models


def cli(*args):
    return subprocess.run([sys.executable, "-m", "pykit.cli", *args], capture_output=True, text=True)


@pytest.fixture()
def relu(tmp_path):
    """A dynamic-batch Relu model and a folder of seeded .npy data for calibrate."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_operatorsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "relu.onnx"
    onnx.save(model, str(path))
    data = tmp_path / "data"
    data.mkdir()
    np.save(data / "0.npy", np.random.default_rng(3).standard_normal((8, 4)).astype(np.float32))
    return path, data


def calibrate_argv(relu, tmp_path, *extra):
    path, data = relu
    return [str(path), "--data", str(data), "--cache", str(tmp_path / "out.cache"), "--no-progress", *extra]


def last_line(text):
    return text.strip().splitlines()[-1]


# ---- 1: --batch 0 / -3 refused while parsing -------------------------------------------------
@pytest.mark.parametrize("value", ["0", "-3"])
def test_calibrate_refuses_a_batch_below_one(relu, tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exit_:
        calibrate_cli.main(calibrate_argv(relu, tmp_path, "--batch", value))
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert "--batch" in last_line(err) and value in last_line(err)
    assert not (tmp_path / "out.cache").exists()


# ---- 2: --trt-version abc refused (it wrote a TRT-0-... header) --------------------------------
@pytest.mark.parametrize("value", ["abc", "8.5.x", "", "1..2"])
def test_calibrate_refuses_a_version_that_is_not_digits_and_dots(relu, tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exit_:
        calibrate_cli.main(calibrate_argv(relu, tmp_path, "--trt-version", value))
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--trt-version" in last_line(err) and repr(value) in last_line(err)
    assert not (tmp_path / "out.cache").exists()


@pytest.mark.parametrize("value,number", [("8.5.3", "8503"), ("8503", "8503"), ("10.3.0.26", "100300")])
def test_calibrate_numbers_good_versions(relu, tmp_path, capsys, value, number):
    assert calibrate_cli.main(calibrate_argv(relu, tmp_path, "--trt-version", value)) == 0
    assert read_cache(tmp_path / "out.cache").version == number


# ---- 3: --cache-algorithm checked before any work -----------------------------------------------
def test_calibrate_refuses_an_unknown_cache_algorithm_before_calibrating(relu, tmp_path, capsys, monkeypatch):
    import pykit.precision.collect as collect

    calls = []
    monkeypatch.setattr(collect, "calibrate", lambda *a, **k: calls.append(a) or pytest.fail("calibrated"))
    with pytest.raises(SystemExit) as exit_:
        calibrate_cli.main(calibrate_argv(relu, tmp_path, "--cache-algorithm", "Foo"))
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and calls == []
    assert "--cache-algorithm" in last_line(err) and "'Foo'" in last_line(err)
    assert not (tmp_path / "out.cache").exists()


# ---- 4: read_cache refuses the scales write_cache refuses -----------------------------------------
# (TensorRT's own 0 and +inf are read as "no usable scale": test_cache.test_reads_what_tensorrt_writes_...)
@pytest.mark.parametrize("bits,value", [("ff800000", -np.inf), ("7fc00000", np.nan), ("bf800000", -1.0)])
def test_read_cache_refuses_scales_write_cache_refuses(tmp_path, bits, value):
    path = tmp_path / "c.cache"
    path.write_text(f"TRT-8503-EntropyCalibration2\ngood: 3c010a14\nbad tensor: {bits}\n")
    with pytest.raises(CacheFormatError) as err:
        read_cache(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:3: ") and "'bad tensor'" in msg and "finite and positive" in msg
    with pytest.raises(ValueError, match="finite and positive"):  # the writer refuses the same value
        format_cache({"bad tensor": value})


# ---- 5: calibrate --qdq failing leaves no cache -------------------------------------------------
def test_calibrate_qdq_failure_leaves_no_cache(relu, tmp_path, capsys, monkeypatch):
    import pykit.precision.qdq as qdq

    def broken(*args, **kwargs):
        raise ValueError("cannot place Q/DQ")

    monkeypatch.setattr(qdq, "insert_qdq", broken)
    rc = calibrate_cli.main(calibrate_argv(relu, tmp_path, "--qdq", str(tmp_path / "q.onnx")))
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "q.onnx" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "relu.onnx"]


def test_calibrate_qdq_unwritable_leaves_no_cache(relu, tmp_path, capsys):
    (tmp_path / "q.onnx").mkdir()  # the Q/DQ model cannot be written over a folder
    rc = calibrate_cli.main(calibrate_argv(relu, tmp_path, "--qdq", str(tmp_path / "q.onnx")))
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "q.onnx" in err
    assert not (tmp_path / "out.cache").exists() and not any((tmp_path / "q.onnx").iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_write_atomic_all_undoes_renames_when_a_later_one_fails(tmp_path, monkeypatch):
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_bytes(b"before")
    real_replace = os.replace

    def replace(src, dst):
        if str(dst) == str(tmp_path / "fails.txt"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(OSError):
        files.write_atomic_all({old: b"after", new: b"x", tmp_path / "fails.txt": b"y"})
    assert old.read_bytes() == b"before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.txt"]


# ---- 6: outputs get the mode a normal write gets ------------------------------------------------
@pytest.fixture()
def umask_027():
    previous = os.umask(0o027)
    yield 0o640
    os.umask(previous)


def test_outputs_get_the_umask_mode(tmp_path, umask_027, relu, capsys):
    expected = umask_027
    with open(tmp_path / "plain.txt", "w") as f:  # what every other file write gets
        f.write("x")
    assert os.stat(tmp_path / "plain.txt").st_mode & 0o777 == expected
    files.write_atomic(tmp_path / "a.bin", b"x")
    write_cache(tmp_path / "c.cache", {"t": 0.5})
    save_atomic(onnx.load(str(relu[0])), tmp_path / "m.onnx")
    assert calibrate_cli.main(calibrate_argv(relu, tmp_path, "--qdq", str(tmp_path / "q.onnx"))) == 0
    for name in ("a.bin", "c.cache", "m.onnx", "out.cache", "q.onnx"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == expected, name


def test_overwriting_keeps_the_existing_mode(tmp_path, umask_027):
    path = tmp_path / "shared.cache"
    path.write_text("old")
    os.chmod(path, 0o664)
    write_cache(path, {"t": 0.5})
    assert os.stat(path).st_mode & 0o777 == 0o664 and read_cache(path).scales == {"t": 0.5}


# ---- 7: an output equal to the input is refused --------------------------------------------------
def test_patch_refuses_output_equal_to_input(tmp_path):
    src = tmp_path / "pp.onnx"
    onnx.save(plugin_models("PillarScatter").pointpillars_like(reduction="none"), str(src))
    link = tmp_path / "link.onnx"
    link.symlink_to(src)
    before = src.read_bytes()
    for out in (str(src), str(tmp_path / "." / "pp.onnx"), str(link)):
        p = cli("patch", str(src), "-o", out, "--trt", "8.5", "--node", "ScatterND")
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2 and len(lines) == 1, p.stderr
        assert lines[0].startswith("pykit patch: ") and "output is the input" in lines[0] and out in lines[0]
        assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.onnx", "pp.onnx"]


@pytest.mark.parametrize("flag", ["--cache", "--qdq"])
def test_calibrate_refuses_an_output_equal_to_the_model(relu, tmp_path, capsys, flag):
    path, data = relu
    before = path.read_bytes()
    argv = [str(path), "--data", str(data), "--no-progress", flag, str(path)]
    argv += ["--cache", str(tmp_path / "out.cache")] if flag == "--qdq" else []
    rc = calibrate_cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "output is the input" in err and str(path) in err
    assert path.read_bytes() == before and not (tmp_path / "out.cache").exists()


def test_output_check_sees_through_paths_and_lets_others_pass(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "m.onnx").write_bytes(b"m")
    with pytest.raises(ValueError, match="output is the input"):
        files.check_output_is_not_input(tmp_path / "sub" / ".." / "m.onnx", [tmp_path / "m.onnx"])
    files.check_output_is_not_input(tmp_path / "other.onnx", [tmp_path / "m.onnx", None])


# ---- 8: a folder given as the model says so ----------------------------------------------------
def test_load_model_says_a_folder_is_a_directory(tmp_path):
    with pytest.raises(SurgeryError, match="is a directory"):
        load_model(tmp_path)


@pytest.mark.parametrize("command", ["patch", "inspect", "lint", "calibrate"])
def test_cli_says_a_folder_model_is_a_directory(tmp_path, command):
    folder = tmp_path / "model.onnx"
    folder.mkdir()
    extra = {"patch": ["-o", str(tmp_path / "o.onnx")],
             "calibrate": ["--data", str(tmp_path), "--cache", str(tmp_path / "o.cache")]}.get(command, [])
    p = cli(command, str(folder), *extra)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert "is a directory" in lines[0] and str(folder) in lines[0] and "no such file" not in lines[0]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["model.onnx"]
