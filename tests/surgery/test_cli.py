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
    # ScatterND(add): TensorRT 8.5 ignores the reduction (flagged), and duplicate cells sum where
    # PillarScatter keeps one pillar: its proof refuses; ScatterElementsReduce over the canvas rows
    # is proven, and inspect names it as the taker
    add = save(pointpillars_like(reduction="add"), tmp_path / "pp_add.onnx")
    p = cli("inspect", add, "--trt", "8.5")
    assert p.returncode == 0 and "wrong-semantics" in p.stdout and "taker: ScatterElementsReduce" in p.stdout
    p = cli("patch", add, "-o", str(tmp_path / "pp_add.p.onnx"), "--trt", "8.5")
    assert p.returncode == 0 and "proof failed" in p.stdout and "replaced  scatter_nd_reduce" in p.stdout
    assert "unpatched" not in p.stdout
    # ScatterND(none), what exporters write: imported natively, rewritten when forced, and equivalent
    src = save(pointpillars_like(reduction="none"), tmp_path / "pp.onnx")
    p = cli("inspect", src, "--trt", "8.5")
    assert p.returncode == 0 and "wrong-semantics" not in p.stdout and "every node imports natively" in p.stdout
    out = str(tmp_path / "pp.p.onnx")
    p = cli("patch", src, "-o", out, "--trt", "8.5", "--node", "ScatterND")
    assert p.returncode == 0 and "fused     pillar_scatter" in p.stdout and "proven on 8 probes" in p.stdout
    p = cli("equiv", src, out, "--precision", "fp32,int8", "--seed", "5")
    assert p.returncode == 0 and "2 passed, 0 failed" in p.stdout and "output cls: max|P-O|" in p.stdout


def test_patch_exit_code_3_when_unpatched_unless_allowed(tmp_path):
    # ScatterND(add) into a canvas of symbolic width: PillarScatter's rule wants a zero canvas and
    # scatter_nd_reduce static row strides, so no rule takes it
    add = save(model([h.make_node("ScatterND", ["d", "i", "u"], ["y"], reduction="add", name="scatter/scatter_nd")],
                     [vi("d", [4, "m"]), vi("i", [2, 1], onnx.TensorProto.INT64), vi("u", [2, "m"])],
                     [vi("y", [4, "m"])], opset=16), tmp_path / "pp_add.onnx")
    out = tmp_path / "out.onnx"
    # the flagged node is left: exit 3, one 'unpatched' line; nothing was patched, nothing written
    p = cli("patch", add, "-o", str(out), "--trt", "8.5")
    assert p.returncode == 3 and [line for line in p.stdout.splitlines() if line.startswith("unpatched ")] == \
        [line for line in p.stdout.splitlines() if "scatter/scatter_nd (ScatterND)" in line and "unpatched" in line]
    assert not out.exists()
    p = cli("patch", add, "-o", str(out), "--trt", "8.5", "--allow-unpatched")
    assert p.returncode == 0 and "unpatched still flagged" in p.stdout and not out.exists()
    # a --rule / --node that matched nothing: exit 3; with a rewrite elsewhere the model is still written
    none = save(pointpillars_like(reduction="none"), tmp_path / "pp.onnx")
    p = cli("patch", none, "-o", str(out), "--node", "ScatterND", "--node", "no_such_node")
    assert p.returncode == 3 and "unpatched --node no_such_node matched nothing" in p.stdout and out.is_file()
    out.unlink()
    p = cli("patch", none, "-o", str(out), "--rule", "scatter_elements_reduce")
    assert p.returncode == 3 and "unpatched --rule scatter_elements_reduce rewrote nothing" in p.stdout
    assert not out.exists()  # nothing to patch
    p = cli("patch", none, "-o", str(out), "--node", "ScatterND", "--node", "no_such_node", "--allow-unpatched")
    assert p.returncode == 0 and "unpatched --node no_such_node" in p.stdout and out.is_file()
    p = cli("patch", "--help")
    text = " ".join(p.stdout.split())
    assert "--allow-unpatched" in text and "exit codes:" in text and "3 something is left unpatched" in text


def test_demo_writes_models_and_report(tmp_path):
    lines = []
    assert run_demo(tmp_path / "demo", backend="reference", log=lines.append)
    files = sorted(f.name for f in (tmp_path / "demo").iterdir())
    assert {"pointpillars_seed003.onnx", "pointpillars_seed003.patched.onnx", "report.md"} <= set(files)
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "Overall: **PASS**" in report and report.count("Verdict: **PASS**") >= 1
    # the demo starts from the committed export of seed 003's model: torch's Scatter at opset 10
    original = onnx.load(str(tmp_path / "demo" / "pointpillars_seed003.onnx"))
    assert "Scatter" in {n.op_type for n in original.graph.node}
    assert {o.version for o in original.opset_import if o.domain in ("", "ai.onnx")} == {10}
    part = report[report.index("## pointpillars_seed003"):]
    part = part[:part.index("Verdict:")]
    # what every parser table says of the original, one line each
    for version in ("8.5", "8.6", "10.0", "10.15", "11.1"):
        assert f"- TensorRT {version} (opset" in part
    # TensorRT 8.5 imports Scatter: the rewrite is for speed, proven, and checked on the stored data
    assert "imported natively by TensorRT 8.5; rewritten for speed, proven on 8 probes" in part
    assert "stored inputs and outputs of data.npz" in part
    for precision in ("fp32", "fp16", "int8"):
        assert f"{precision} (reference backend, stored inputs): PASS" in part


def test_list_rules_needs_no_model_and_patch_without_one_is_refused(tmp_path):
    """`pykit patch --list-rules` works without a model (issue #11 item 4); a patch without a model or
    without -o is one line and exit 2."""
    from pykit.surgeon.rules import all_rules

    listed = cli("patch", "--list-rules")
    assert listed.returncode == 0, listed.stderr
    assert sorted(line.split(":")[0] for line in listed.stdout.splitlines()) == sorted(all_rules())
    for args in (["patch"], ["patch", str(tmp_path / "m.onnx")]):
        out = cli(*args)
        assert out.returncode == 2 and "-o OUTPUT are required" in out.stderr and not list(tmp_path.iterdir())
