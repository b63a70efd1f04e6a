import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from surgery_helpers import T, h, model, save, vi

from pykit.surgeon.model import SurgeryError
from pykit.surgeon.models import plugin_models
from pykit.surgeon.patch import patch_model
from pykit.surgeon import rules as rules_mod

pointpillars_like = plugin_models("PillarScatter").pointpillars_like
scatter_reduce_model = plugin_models("ScatterElementsReduce").scatter_reduce_model


def ops(m):
    return [n.op_type for n in m.graph.node]


def test_pointpillars_fused_into_one_plugin_node_valid_model():
    # the demo's model: ScatterND(none) imports natively in TensorRT 8.5, so the demo forces the rewrite
    r = patch_model(pointpillars_like(reduction="none"), trt="8.5", force=["ScatterND"])
    m = r.model
    assert ops(m).count("PillarScatter") == 1 and not {"ScatterND", "ConstantOfShape"} & set(ops(m))
    assert r.exit_code == 0 and not r.unpatched
    node = next(n for n in m.graph.node if n.op_type == "PillarScatter")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs == {"plugin_version": b"1", "plugin_namespace": b"pykit", "nx": 32, "ny": 24, "batch_size": 1}
    assert list(node.output) == ["bev"]
    # coords reach the plugin as (b, 0, y, x) recomputed from the int32 cell index the original scatters to
    producer = {o: n for n in m.graph.node for o in n.output}
    concat = producer[node.input[1]]
    assert concat.op_type == "Concat" and len(concat.input) == 4
    cast = next(n for n in m.graph.node if n.op_type == "Cast" and n.input[0] == "cell")
    assert onnx.helper.get_attribute_value(cast.attribute[0]) == onnx.TensorProto.INT32
    # features reach the plugin as [1, P, C], the rank TensorRT 8.5 takes in INT8 (spec.toml)
    unsq = next(n for n in m.graph.node if n.output[0] == node.input[0])
    assert unsq.op_type == "Unsqueeze" and unsq.input[0] == "pillar_features"
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in onnx.shape_inference.infer_shapes(m).graph.value_info}
    assert shapes[node.input[0]] == [1, 256, 16]
    onnx.checker.check_model(m, full_check=True)
    assert m.ir_version == 8 and {(i.domain, i.version) for i in m.opset_import} == {("", 17), ("trt.plugins", 1)}
    assert [c.action for c in r.changes] == ["cast", "fused", "removed"]
    assert "cell index 768*coords_i64[:, 0] + 32*coords_i64[:, 2] + coords_i64[:, 3]" in r.rewrites[0].detail


def test_pattern_variants_batchless_index_and_initializer_canvas():
    r = patch_model(pointpillars_like(batch_column=False, canvas="initializer", reduction="none"))
    assert "PillarScatter" in ops(r.model)
    (c,) = r.rewrites
    assert "batch 0: the index has no batch term" in c.detail and c.proof.proven  # b = cell // (ny*nx) = 0


def test_near_miss_is_reported_not_rewritten():
    m = pointpillars_like()
    # a non-zero canvas is not a pillar scatter
    m.graph.node[[n.name for n in m.graph.node].index("scatter/canvas")].attribute[0].t.CopyFrom(
        onnx.helper.make_tensor("one", T.FLOAT, [1], [1.0]))
    r = patch_model(m, rule_names=["pillar_scatter"])
    assert r.nothing and [c.action for c in r.changes] == ["skipped"] and "zero" in r.changes[0].detail


def test_scatter_elements_replacement_casts_int64_indices_and_converts_opset():
    r = patch_model(scatter_reduce_model(reduction="max", opset=18), trt="8.5")
    assert ops(r.model) == ["Cast", "ScatterElementsReduce", "Relu"]
    assert any(c.action == "converted" and "18 -> 17" in c.detail for c in r.changes)
    assert {(i.domain, i.version) for i in r.model.opset_import} == {("", 17), ("trt.plugins", 1)}
    # without the rule the opset cannot go down: ScatterElements max has no opset-17 form
    with pytest.raises(SurgeryError, match="cannot convert opset 18 -> 17"):
        patch_model(scatter_reduce_model(reduction="max", opset=18), trt="8.5", rule_names=["pillar_scatter"])


def test_int32_indices_need_no_cast_and_ir_is_lowered():
    m = scatter_reduce_model(index_dtype=np.int32)
    m.ir_version = 10
    r = patch_model(m, trt="8.5")
    assert ops(r.model) == ["ScatterElementsReduce", "Relu"] and r.model.ir_version == 8


def test_nothing_to_patch_and_forced_replacement():
    m = scatter_reduce_model(reduction="none")
    assert patch_model(m).nothing
    by_name = patch_model(m, force=["scatter_reduce"])
    by_op = patch_model(m, force=["ScatterElements"])
    for r in (by_name, by_op):
        assert "ScatterElementsReduce" in ops(r.model) and "(forced)" in r.rewrites[0].detail
    # a --node that names no node, or whose node no rule replaced: left unpatched (exit 3), the rest done
    r = patch_model(m, force=["nope", "scatter_reduce"])
    assert r.exit_code == 3 and r.unpatched == [
        "--node nope matched nothing: no node of that name or op type in the model"]
    assert "ScatterElementsReduce" in ops(r.model)
    r = patch_model(m, force=["Relu"])
    assert r.exit_code == 3 and len(r.unpatched) == 1 and "was not replaced" in r.unpatched[0] and r.nothing
    assert patch_model(m, force=["Relu"], allow_unpatched=True).exit_code == 0
    with pytest.raises(SurgeryError, match="unknown rule"):
        patch_model(m, rule_names=["nope"])


def _if_model():
    then = h.make_graph([h.make_node("ScatterElements", ["d", "i", "u"], ["t"], reduction="add", name="inner_scatter")],
                        "then", [], [vi("t", [4, 3])])
    other = h.make_graph([h.make_node("Identity", ["d"], ["e"], name="inner_id")], "else", [], [vi("e", [4, 3])])
    return model([h.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other, name="branch")],
                 [vi("cond", [], T.BOOL), vi("d", [4, 3]), vi("i", [2, 3], T.INT64), vi("u", [2, 3])], [vi("y", [4, 3])],
                 opset=16)


def test_rules_rewrite_inside_if_bodies_or_say_they_skipped():
    r = patch_model(_if_model())
    then = next(a.g for a in r.model.graph.node[0].attribute if a.name == "then_branch")
    assert [n.op_type for n in then.node] == ["Cast", "ScatterElementsReduce"]
    assert r.rewrites[0].graph.startswith("main/branch.then_branch")
    onnx.checker.check_model(r.model, full_check=True)
    # a rule registered with subgraphs=False reports what it skipped there
    rules_mod.register("test_no_subgraphs", plugin="ScatterElementsReduce", ops=["ScatterElements"], subgraphs=False)(
        lambda ctx, node, forced: None)
    try:
        r = patch_model(_if_model(), rule_names=["test_no_subgraphs"])
        assert r.nothing and r.changes[0].action == "skipped" and "If/Loop/Scan" in r.changes[0].detail
    finally:
        rules_mod._RULES.pop("test_no_subgraphs")


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pykit.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_prints_changes_writes_atomically(tmp_path):
    src = save(pointpillars_like(reduction="none"), tmp_path / "pp.onnx")
    out = tmp_path / "pp.patched.onnx"
    p = _cli("patch", src, "-o", str(out), "--trt", "8.5")
    assert p.returncode == 0 and "fused" in p.stdout and "removed" in p.stdout and out.is_file()
    # nothing to patch: reported, and not written
    none = save(scatter_reduce_model(reduction="none"), tmp_path / "plain.onnx")
    p = _cli("patch", none, "-o", str(tmp_path / "plain.out.onnx"))
    assert p.returncode == 0 and "nothing to patch" in p.stdout and not (tmp_path / "plain.out.onnx").exists()
    # an error half-way leaves no file (neither the output nor a temporary one)
    bad = save(scatter_reduce_model(reduction="max", opset=18), tmp_path / "max.onnx")
    p = _cli("patch", bad, "-o", str(tmp_path / "max.out.onnx"), "--trt", "8.5", "--rule", "pillar_scatter")
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["max.onnx", "plain.onnx", "pp.onnx", "pp.patched.onnx"]


def test_exit_code_when_a_named_rule_matches_nothing_or_a_flagged_node_is_left():
    m = scatter_reduce_model(reduction="add")
    r = patch_model(m, rule_names=["pillar_scatter"])
    assert r.exit_code == 3 and r.unpatched[0].startswith("--rule pillar_scatter rewrote nothing")
    assert patch_model(m, rule_names=["pillar_scatter"], allow_unpatched=True).exit_code == 0
    assert patch_model(m, trt="8.5").exit_code == 0 and not patch_model(m, trt="8.5").unpatched
    # a ScatterND with reduction add that no rule takes (a symbolic slice: no row strides for
    # scatter_nd_reduce): inspect --trt 8.5 still flags it in the result
    nd = model([h.make_node("ScatterND", ["d", "i", "u"], ["y"], reduction="add", name="nd")],
               [vi("d", [4, "m"]), vi("i", [2, 1], T.INT64), vi("u", [2, "m"])], [vi("y", [4, "m"])], opset=16)
    r = patch_model(nd, trt="8.5")
    assert r.exit_code == 3 and any("nd (ScatterND)" in u for u in r.unpatched)
    assert patch_model(nd, trt="8.5", allow_unpatched=True).exit_code == 0


def test_scatternd_add_with_duplicate_cells_is_refused_with_the_proofs_max_difference():
    # ScatterND(add) into zeros sums pillars that share a cell; PillarScatter keeps one. add defines
    # duplicates, so the probes draw them and the proof refuses, forced or not: nothing is rewritten
    import re

    for force in ([], ["ScatterND"]):
        r = patch_model(pointpillars_like(reduction="add"), trt="8.5", force=force, rule_names=["pillar_scatter"])
        (skip,) = [c for c in r.changes if c.rule == "pillar_scatter"]
        assert skip.action == "skipped" and "proof failed" in skip.detail
        assert float(re.search(r"max \|diff\| ([0-9.e+-]+|inf)", skip.detail).group(1)) > 1.0
        assert "PillarScatter" not in ops(r.model) and "ScatterND" in ops(r.model) and r.exit_code == 3
        assert any("wrong-semantics" in u and "scatter/scatter_nd" in u for u in r.unpatched)
    assert any("--node ScatterND: scatter/scatter_nd (ScatterND) was not replaced" in u and "proof failed" in u
               for u in r.unpatched)
    # with every rule, ScatterElementsReduce over the canvas rows sums the shared cells: proven
    r = patch_model(pointpillars_like(reduction="add"), trt="8.5")
    (c,) = r.rewrites
    assert c.rule == "scatter_nd_reduce" and c.proof.proven and r.exit_code == 0
    # one pillar cannot collide: add into zeros is assignment there, and that is proven
    r = patch_model(pointpillars_like(pillars=1, reduction="add"), trt="8.5")
    (c,) = r.rewrites
    assert c.proof.proven and c.proof.probes > 0 and "reduction add into zeros" in c.detail and r.exit_code == 0
