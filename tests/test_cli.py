"""The console commands as a user runs them (subprocesses), exit codes and what they print."""
import json
import subprocess
import sys

import pytest


def pykit(*args, check=None):
    proc = subprocess.run([sys.executable, "-m", "pykit.cli", *args], capture_output=True, text=True, timeout=300)
    if check is not None:
        assert proc.returncode == check, proc.stdout + proc.stderr
    return proc


def test_help_lists_commands():
    out = pykit("--help", check=0).stdout
    for command in ("doctor", "list", "validate"):
        assert command in out


def test_doctor_reports_environment():
    out = pykit("doctor", check=0).stdout
    for key in ("python", "numpy", "onnx", "nvcc", "gpu", "tensorrt", "host backend", "plugin library"):
        assert any(line.startswith(key) for line in out.splitlines()), key
    assert "PillarScatter" in out


def test_list_shows_spec_facts():
    out = pykit("list", check=0).stdout
    row = next(line for line in out.splitlines() if line.startswith("PillarScatter"))
    assert "fp32,fp16,int8" in row and "nx:int32" in row and "batch_size:int32=1" in row


def test_validate_host_pillar_scatter_all_precisions(tmp_path):
    report = tmp_path / "r.json"
    proc = pykit("validate", "--backend", "host", "--plugin", "PillarScatter", "--no-progress", "--json", str(report),
                 check=0)
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("PillarScatter")]
    assert sorted((r[1], r[-1]) for r in rows) == [("fp16", "PASS"), ("fp32", "PASS"), ("int8", "PASS")]
    results = json.loads(report.read_text())["results"]
    assert {r["precision"] for r in results} == {"fp32", "fp16", "int8"} and all(r["passed"] for r in results)


@pytest.mark.parametrize(
    "args, message",
    [
        (("validate", "--plugin", "Nope"), "no plugin named 'Nope'"),
        (("validate", "--precision", "fp64"), "unknown precision"),
        (("validate", "--backend", "gpu"), "unknown backend 'gpu'"),
    ],
)
def test_validate_bad_arguments_exit_nonzero_with_reason(args, message):
    proc = pykit(*args)
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_python_dash_m_pykit_is_the_same_command_line():
    proc = subprocess.run([sys.executable, "-m", "pykit", "--help"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "init" in proc.stdout and "--cmake-dir" in proc.stdout
