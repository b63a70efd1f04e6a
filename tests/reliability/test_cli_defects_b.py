"""Issue #14 item 8, CLI part B: each bad input gets one line naming the culprit, exit 2 (lint:
its findings, exit 1), and nothing written. Commands run as a user runs them (subprocesses)."""
import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from pykit import scaffold, spec
from pykit.surgeon.lint import lint_model
from pykit.surgeon.patch import patch_model

REPO = Path(__file__).resolve().parents[2]
LAYER_NORM_SPEC = (REPO / "plugins" / "layer_norm" / "spec.toml").read_text()


def pykit(*args, plugin_path=None, cwd=None):
    env = dict(os.environ)
    if plugin_path is not None:
        env["PYKIT_PLUGIN_PATH"] = os.pathsep.join(str(p) for p in plugin_path)
    return subprocess.run([sys.executable, "-m", "pykit.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env, cwd=cwd)


def one_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def plugin_folder(root: Path, folder: str, text: str) -> Path:
    (root / folder).mkdir(parents=True)
    path = root / folder / "spec.toml"
    path.write_text(text)
    return path


def renamed_spec(name: str) -> str:
    return LAYER_NORM_SPEC.replace('name = "LayerNorm"', f'name = "{name}"', 1)


# ---- 1: a broken spec.toml -------------------------------------------------------------------------
@pytest.mark.parametrize("command", [
    ["list"], ["validate"], ["inspect", "{m}"], ["patch", "{m}", "-o", "{out}/patched.onnx"], ["lint", "{m}"],
    ["demo", "--out", "{out}/demo"], ["equiv", "{m}", "{m}"],
], ids=lambda c: c[0])
def test_broken_spec_is_one_line_naming_file_and_key(tmp_path, command):
    broken = plugin_folder(tmp_path / "plugins", "broken", renamed_spec("Broken").replace('version = "1"', "version = 1"))
    out = tmp_path / "out"
    model = tmp_path / "m.onnx"
    onnx.save(scatter_model(0), str(model))
    proc = pykit(*[a.format(m=model, out=out) for a in command], plugin_path=[tmp_path / "plugins"])
    line = one_line(proc)
    assert proc.returncode == 2 and str(broken) in line and "'version'" in line
    assert not out.exists()


# ---- 2: a 300-character plugin name ----------------------------------------------------------------
def test_overlong_plugin_name_is_refused_with_one_line(tmp_path):
    assert scaffold.MAX_NAME_LENGTH is spec.MAX_NAME_LENGTH  # `pykit new` and the spec loader agree
    name = "P" * 300
    path = plugin_folder(tmp_path / "plugins", "long", renamed_spec(name))
    with pytest.raises(spec.SpecError, match=f"{len(name)} characters"):
        spec.load_spec(path)
    proc = pykit("list", plugin_path=[tmp_path / "plugins"])
    line = one_line(proc)
    assert proc.returncode == 2 and str(path) in line and f"at most {spec.MAX_NAME_LENGTH}" in line
    # the limit itself is a name
    spec.load_spec(plugin_folder(tmp_path / "ok", "ok", renamed_spec("Q" * spec.MAX_NAME_LENGTH)))


# ---- 3: one plugin name in two plugin paths --------------------------------------------------------
def test_duplicate_plugin_names_across_paths_name_both_spec_files(tmp_path):
    first = plugin_folder(tmp_path / "a", "dup", renamed_spec("Dup"))
    second = plugin_folder(tmp_path / "b", "dup", renamed_spec("Dup"))
    proc = pykit("list", plugin_path=[tmp_path / "a", tmp_path / "b"])
    line = one_line(proc)
    assert proc.returncode == 2 and str(first) in line and str(second) in line and "'Dup'" in line


# ---- 4: demo --out at a file ----------------------------------------------------------------------
@pytest.mark.parametrize("below", [False, True], ids=["file", "below-a-file"])
def test_demo_out_at_a_file_is_refused_before_running(tmp_path, below):
    target = tmp_path / "taken"
    target.write_text("keep me")
    out = target / "demo" if below else target
    proc = pykit("demo", "--out", str(out), "--backend", "reference")
    line = one_line(proc)
    assert proc.returncode == 2 and str(target) in line
    assert target.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert proc.stdout == ""  # refused before the demo ran a step


# ---- 5: lint ------------------------------------------------------------------------------------
def layer_norm(name="ln", x="x", y="y", axis=-1):
    return h.make_node("LayerNorm", [x, "scale", "bias"], [y], name=name, domain="trt.plugins",
                       plugin_version="1", plugin_namespace="pykit", axis=axis, epsilon=1e-5)


def lint_graph(nodes, dtype=T.FLOAT, outputs=("y",)):
    inputs = [h.make_tensor_value_info(n, dtype, s) for n, s in (("x", [2, 3]), ("scale", [3]), ("bias", [3]))]
    graph = h.make_graph(nodes, "g", inputs, [h.make_tensor_value_info(o, dtype, [2, 3]) for o in outputs])
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("trt.plugins", 1)])


def findings(model, kind):
    errors, _ = lint_model(model)
    return [str(e) for e in errors if e.kind == kind]


def test_lint_finds_axis_outside_the_inputs_rank(tmp_path):
    assert findings(lint_graph([layer_norm(axis=-2)]), "axis-out-of-range") == []
    for axis in (2, 5, -3):
        found = findings(lint_graph([layer_norm(axis=axis)]), "axis-out-of-range")
        assert len(found) == 1 and "node 'ln'" in found[0] and "'axis'" in found[0] and "rank 2" in found[0]
    path = tmp_path / "axis.onnx"
    onnx.save(lint_graph([layer_norm(axis=5)]), str(path))
    proc = pykit("lint", str(path))
    assert proc.returncode == 1 and "axis-out-of-range: node 'ln'" in proc.stdout


def test_lint_finds_double_tensors_into_a_plugin():
    assert findings(lint_graph([layer_norm()]), "input-dtype") == []
    found = findings(lint_graph([layer_norm()], dtype=T.DOUBLE), "input-dtype")
    assert len(found) == 3 and all("node 'ln'" in f and "DOUBLE" in f for f in found)
    assert any("'x'" in f for f in found)


def test_lint_finds_two_nodes_with_one_name():
    twice = [layer_norm(), layer_norm(x="y", y="z")]
    assert findings(lint_graph([layer_norm(), layer_norm(name="ln2", x="y", y="z")], outputs=("z",)),
                    "duplicate-node-name") == []
    found = findings(lint_graph(twice, outputs=("z",)), "duplicate-node-name")
    assert len(found) == 2 and all("node 'ln'" in f for f in found)


# ---- 6: patch ScatterElements with axis outside data's rank ----------------------------------------
def scatter_model(axis):
    node = h.make_node("ScatterElements", ["data", "idx", "upd"], ["y"], name="scat", axis=axis, reduction="add")
    graph = h.make_graph([node], "g", [h.make_tensor_value_info("data", T.FLOAT, [4, 3]),
                                       h.make_tensor_value_info("idx", T.INT64, [2, 3]),
                                       h.make_tensor_value_info("upd", T.FLOAT, [2, 3])],
                         [h.make_tensor_value_info("y", T.FLOAT, [4, 3])])
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])


@pytest.mark.parametrize("force", [[], ["scat"]], ids=["plain", "forced"])
def test_patch_refuses_scatter_axis_outside_rank(force):
    result = patch_model(scatter_model(5), trt="8.5", force=force, allow_unpatched=True)
    assert not result.rewrites
    # forced, PillarScatter's rule (forced_only on ScatterElements) also looks and skips with its own reason
    skips = [c for c in result.changes if c.action == "skipped" and "scat" in c.nodes and c.rule == "scatter_elements_reduce"]
    assert len(skips) == 1 and "axis=5" in skips[0].detail and "rank 2" in skips[0].detail, result.changes
    assert patch_model(scatter_model(-2), trt="8.5").rewrites  # the rule itself still applies


def test_patch_cli_writes_nothing_for_scatter_axis_outside_rank(tmp_path):
    src, out = tmp_path / "m.onnx", tmp_path / "patched.onnx"
    onnx.save(scatter_model(5), str(src))
    proc = pykit("patch", str(src), "-o", str(out))
    assert "axis=5" in proc.stdout and "rank 2" in proc.stdout and not out.exists()


# ---- 7: equiv --input naming no input ---------------------------------------------------------------
def test_equiv_unknown_input_is_one_line_naming_it_and_the_inputs(tmp_path):
    original, patched = tmp_path / "m.onnx", tmp_path / "p.onnx"
    onnx.save(scatter_model(0), str(original))
    onnx.save(patch_model(scatter_model(0), trt="8.5").model, str(patched))
    proc = pykit("equiv", str(original), str(patched), "--input", "nope=normal")
    line = one_line(proc)
    assert proc.returncode == 2 and "nope" in line and all(f"'{n}'" in line for n in ("data", "idx", "upd"))
    assert proc.stdout == ""
    good = pykit("equiv", str(original), str(patched), "--input", "upd=normal:0:2")
    assert good.returncode == 0, good.stderr
