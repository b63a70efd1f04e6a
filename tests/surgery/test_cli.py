import subprocess
import sys

import onnx
import pytest
from surgery_helpers import h, model, save, vi

from pykit.surgeon.demo import run_demo
from pykit.surgeon.models import plugin_models

pointpillars_like = plugin_models("PillarScatter").pointpillars_like


def cli(*args):
    return subprocess.run([sys.executable, "-m", "pykit.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "text.onnx").write_text("this is not a model\n")
    (d / "empty.onnx").write_bytes(b"")
    cyc = model([h.make_node("Relu", ["b"], ["a"], name="n1"), h.make_node("Relu", ["a"], ["b"], name="n2"),
                 h.make_node("Relu", ["a"], ["y"], name="n3")], [vi("x", [2])], [vi("y", [2])])
    onnx.save(cyc, str(d / "cycle.onnx"))
    miss = model([h.make_node("Add", ["x", "ghost"], ["y"], name="adder")], [vi("x", [2])], [vi("y", [2])])
    onnx.save(miss, str(d / "missing.onnx"))
    return {"not ONNX": (d / "text.onnx", "not an ONNX model"), "empty file": (d / "empty.onnx", "not an ONNX model"),
            "cycle": (d / "cycle.onnx", "cycle"), "missing input": (d / "missing.onnx", "reads 'ghost'"),
            "no file": (d / "absent.onnx", "no such file")}


@pytest.mark.parametrize("case", ["not ONNX", "empty file", "cycle", "missing input", "no file"])
@pytest.mark.parametrize("command", ["inspect", "patch", "lint", "equiv"])
def test_bad_models_give_one_line(bad_models, command, case, tmp_path):
    path, words = bad_models[case]
    extra = {"patch": ["-o", str(tmp_path / "o.onnx")], "equiv": [str(path)]}.get(command, [])
    p = cli(command, str(path), *extra)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and lines[0].startswith(f"pykit {command}: ")
    assert not (tmp_path / "o.onnx").exists()


def test_inspect_and_equiv_cli(tmp_path):
    src = save(pointpillars_like(), tmp_path / "pp.onnx")
    p = cli("inspect", src, "--trt", "8.5")
    assert p.returncode == 0 and "wrong-semantics" in p.stdout and "taker: PillarScatter" in p.stdout
    out = str(tmp_path / "pp.p.onnx")
    assert cli("patch", src, "-o", out).returncode == 0
    p = cli("equiv", src, out, "--precision", "fp32,int8", "--seed", "5")
    assert p.returncode == 0 and "2 passed, 0 failed" in p.stdout and "output cls: max|P-O|" in p.stdout


def test_demo_writes_models_and_report(tmp_path):
    lines = []
    assert run_demo(tmp_path / "demo", backend="reference", log=lines.append)
    files = sorted(f.name for f in (tmp_path / "demo").iterdir())
    assert {"pointpillars_like.onnx", "pointpillars_like.patched.onnx", "report.md"} <= set(files)
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "Overall: **PASS**" in report and report.count("Verdict: **PASS**") >= 1
