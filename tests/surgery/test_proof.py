"""Proof-carrying rewrites (pykit/surgeon/proof.py): every rewrite is run against the subgraph it
replaces on probes from the original's domain and kept only if they agree within the plugin's fp32
tolerance; on corpus models the kept rewrites also reproduce the exporter's stored outputs."""
import re
from pathlib import Path

import numpy as np
import onnx
import pytest

from pykit import registry
from pykit.surgeon import rules as rules_mod
from pykit.surgeon.model import PLUGIN_DOMAIN, load_model
from pykit.surgeon.models import plugin_models
from pykit.surgeon.patch import patch_model
from pykit.surgeon.proof import PROBES

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
scatter_reduce_model = plugin_models("ScatterElementsReduce").scatter_reduce_model


def _max_diff(change) -> float:
    return float(re.search(r"max \|diff\| ([0-9.e+-]+|inf)", change.detail).group(1))


@pytest.fixture
def bogus_rule():
    """A rule that maps ScatterElements onto ScatterElementsReduce with the reduction swapped."""
    swap = {"add": "mul", "mul": "add", "max": "min", "min": "max", "none": "none"}
    name = "bogus_swapped_reduction"
    rules_mod.all_rules()
    rules_mod.register_replacement(name, rules_mod.Replacement(
        plugin="ScatterElementsReduce", op="ScatterElements",
        inputs=[rules_mod.Input(0), rules_mod.Input(1, int32=True), rules_mod.Input(2)],
        attrs={"axis": rules_mod.Attr("axis", int, 0), "reduction": rules_mod.Attr("reduction", swap.get, "none")}))
    yield name
    rules_mod._RULES.pop(name)


@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
def test_a_wrong_rewrite_is_refused_with_its_max_difference(bogus_rule, reduction):
    m = scatter_reduce_model(reduction=reduction)
    r = patch_model(m, rule_names=[bogus_rule])
    assert not r.rewrites and not any(n.domain == PLUGIN_DOMAIN for n in r.model.graph.node)
    (skip,) = [c for c in r.changes if c.rule == bogus_rule]
    assert skip.action == "skipped" and "proof failed" in skip.detail and _max_diff(skip) > 0
    assert r.unpatched and r.exit_code == 3  # the rule the user named rewrote nothing
    # the right rule proves on the same model and probes
    good = patch_model(m, rule_names=["scatter_elements_reduce"])
    (c,) = good.rewrites
    assert c.proof.proven and c.proof.probes == PROBES and f"proven on {PROBES} probes" in c.detail
    assert good.exit_code == 0


def test_proof_checks_the_values_not_only_the_shapes():
    # the same bogus rewrite, seen by the proof module directly: shapes agree, values do not
    m = scatter_reduce_model(reduction="add")
    good = patch_model(m).rewrites[0].proof
    assert good.proven and good.max_diff <= registry.get("ScatterElementsReduce").tolerances["fp32"].abs


def test_vacuous_when_the_original_is_never_defined():
    # reduction none with 8 updates into 6 rows: duplicates are certain, ONNX leaves the result undefined
    r = patch_model(scatter_reduce_model(reduction="none"), force=["ScatterElements"])
    (c,) = r.rewrites
    assert c.proof.proven and c.proof.probes == 0 and "undefined on every input" in c.detail


def _corpus_inputs(name):
    data = np.load(CORPUS / name / "data.npz")
    feeds = {k.split(":", 1)[1]: data[k] for k in data.files if k.startswith("input:")}
    want = {k.split(":", 1)[1]: data[k] for k in data.files if k.startswith("output:")}
    return feeds, want


def _run_patched(m, feeds):
    from onnx.reference import ReferenceEvaluator

    from pykit.surgeon.equiv import _State, plugin_ops

    specs = {n.op_type: registry.get(n.op_type) for n in m.graph.node if n.domain == PLUGIN_DOMAIN}
    ev = ReferenceEvaluator(m, new_ops=plugin_ops(list(specs.values()), _State("fp32", "reference")))
    names = [o.name for o in m.graph.output]
    return dict(zip(names, ev.run(names, feeds)))


@pytest.mark.parametrize("name,rule", [
    ("layernorm_bert_opset17", "layer_norm"),
    ("layernorm_nobias_opset18_dynamo", "layer_norm"),
    ("layernorm_last2_opset17", "layer_norm"),
    ("layernorm_bert_opset14", "layer_norm_decomposed"),
    ("layernorm_nobias_opset14", "layer_norm_decomposed"),
    ("layernorm_last2_opset14", "layer_norm_decomposed"),
    ("pyg_scatter_reduce_amax_opset18_dynamo", "scatter_elements_reduce"),
    ("pyg_scatter_mean_opset16", "scatter_elements_reduce"),
    ("pyg_scatter_min_opset18_dynamo", "scatter_elements_reduce"),
    # the legacy exporter's If-wrapped form (issue #11: used to end in "Nodes ... topologically sorted")
    ("pyg_scatter_reduce_sum_opset16", "scatter_elements_reduce"),
    ("pyg_scatter_mul_opset16", "scatter_elements_reduce"),
    ("pyg_scatter_reduce_amax_opset18", "scatter_elements_reduce"),
])
def test_corpus_rewrites_are_proven_and_match_the_exporter(name, rule):
    r = patch_model(load_model(CORPUS / name / "model.onnx"))
    assert r.rewrites and all(c.rule == rule for c in r.rewrites)
    for c in r.rewrites:
        assert c.proof.proven and c.proof.probes == PROBES and f"proven on {PROBES} probes" in str(c)
        tol = registry.get(rules_mod.all_rules()[rule].plugin).tolerances["fp32"]
        assert c.proof.max_diff <= tol.abs + tol.rel * 1e3  # within the bound the proof enforced
    feeds, want = _corpus_inputs(name)
    got = _run_patched(r.model, feeds)
    for k, v in want.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("test", ["test_scatter_elements_with_reduction_max", "test_scatter_elements_with_reduction_min",
                                  "test_scatter_elements_with_duplicate_indices"])
def test_onnx_node_tests_with_reduction_are_proven(test):
    folder = CORPUS / "onnx_node" / test
    r = patch_model(load_model(folder / "model.onnx"))
    (c,) = r.rewrites
    assert c.proof.proven and c.proof.probes == PROBES
    m = r.model
    feeds = {i.name: onnx.numpy_helper.to_array(onnx.load_tensor(str(folder / "test_data_set_0" / f"input_{k}.pb")))
             for k, i in enumerate(m.graph.input)}
    got = _run_patched(m, feeds)
    for k, o in enumerate(m.graph.output):
        want = onnx.numpy_helper.to_array(onnx.load_tensor(str(folder / "test_data_set_0" / f"output_{k}.pb")))
        np.testing.assert_allclose(got[o.name], want, rtol=1e-3, atol=1e-7)


def test_probes_cover_the_originals_domain_not_the_plugins_preconditions(monkeypatch):
    # mmdet3d forward_single (dynamo): the original scatters to cell y*nx + x (nx = 5, 30 cells) for ANY
    # coords whose cell is on the canvas and unique, including x >= nx (wrapping into the next row) and
    # whatever the ignored batch and z columns hold. The rule feeds the plugin (b, 0, y, x) recomputed
    # from that cell index, so the rewrite reads the index, not coords: the probes draw cells from the
    # original's whole domain (every defined cell, unique, both boundaries), and the rewrite is proven.
    from pykit.surgeon import proof

    drawn = []
    real = proof._probes

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        drawn.extend(out)
        return out

    monkeypatch.setattr(proof, "_probes", spy)
    r = patch_model(load_model(CORPUS / "mmdet3d_pillar_scatter_single_opset18_dynamo" / "model.onnx"))
    assert len(drawn) == PROBES
    (name,) = [k for k in drawn[0] if drawn[0][k].dtype.kind == "i"]  # the cell index, int64 as exported
    cells = [f[name] for f in drawn]
    assert all(c.min() >= 0 and c.max() < 30 and len(np.unique(c)) == len(c) for c in cells)  # defined
    assert {0, 29} <= set(np.concatenate(cells).tolist())  # boundary cells
    (c,) = r.rewrites
    assert c.rule == "pillar_scatter" and c.proof.proven and c.proof.probes == PROBES and _max_diff(c) == 0

def test_float16_layer_normalization_is_proven_within_the_fp16_tolerance():
    """A float16 LayerNormalization: the original computes in float16, so the proof holds the rewrite to
    the spec's fp16 error model (it used the fp32 one and refused it: max |diff| ~8e-4)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from pykit import registry
    from pykit.surgeon.patch import patch_model

    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.uniform(0.5, 1.5, 64).astype(np.float16), "scale"),
             numpy_helper.from_array(rng.uniform(-0.5, 0.5, 64).astype(np.float16), "bias")]
    node = helper.make_node("LayerNormalization", ["x", "scale", "bias"], ["y"], name="ln", axis=-1, epsilon=1e-5)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [2, 5, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [2, 5, 64])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    result = patch_model(model, trt="8.5")
    [change] = [c for c in result.changes if c.rewrote]
    assert change.proof.proven and change.proof.precision == "fp16" and "fp16 tolerance" in change.detail, change
    fp16 = registry.get("LayerNorm").tolerances["fp16"]
    assert change.proof.tolerance == fp16.describe() and change.proof.max_diff > 0  # float16 really rounded


def _seed003_scatter(pillars: int, cells: int, channels: int, opset: int = 10):
    """Seed 003's scatter as torch writes it at opset 10: Scatter(zeros[C, cells], axis=1,
    idx.unsqueeze(0).expand(C, -1), voxels.t()), the cell index from coords' y/x columns."""
    from onnx import TensorProto as T
    from onnx import helper as h

    nx = 8
    ny = cells // nx
    inits = [onnx.numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
             (("col_y", 2), ("col_x", 3), ("nx", nx), ("axes0", [0]), ("expand", [channels, pillars]),
              ("canvas_shape", [1, channels, ny, nx]))]
    inits.append(onnx.numpy_helper.from_array(np.zeros((channels, cells), np.float32), "zeros"))
    nodes = [h.make_node("Gather", ["coords", "col_y"], ["y"], axis=1), h.make_node("Gather", ["coords", "col_x"], ["x"], axis=1),
             h.make_node("Mul", ["y", "nx"], ["ynx"]), h.make_node("Add", ["ynx", "x"], ["idx"]),
             h.make_node("Unsqueeze", ["idx"], ["idx0"], axes=[0]), h.make_node("Expand", ["idx0", "expand"], ["idxc"]),
             h.make_node("Transpose", ["voxels"], ["vt"], perm=[1, 0]),
             h.make_node("Scatter", ["zeros", "idxc", "vt"], ["canvas"], axis=1),
             h.make_node("Reshape", ["canvas", "canvas_shape"], ["out"])]
    graph = h.make_graph(nodes, "seed003", [h.make_tensor_value_info("voxels", T.FLOAT, [pillars, channels]),
                                            h.make_tensor_value_info("coords", T.INT64, [pillars, 4])],
                         [h.make_tensor_value_info("out", T.FLOAT, [1, channels, ny, nx])], inits)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", opset)], ir_version=5)


def test_probes_for_an_index_expanded_over_channels_redraw_the_duplicate_pillars():
    # 40 pillars in 64 cells: a whole fresh draw has no duplicate cell with probability ~e^-12.5, so
    # the probes exist only if the drawer redraws the pillars the duplicates come from; those sit on
    # axis 1 of the [C, P] index (the channel expansion is axis 0)
    r = patch_model(_seed003_scatter(pillars=40, cells=64, channels=3), trt="8.5", force=["Scatter"])
    (change,) = r.rewrites
    assert change.proof.proven and change.proof.probes == PROBES, str(change)
    assert [n.op_type for n in r.model.graph.node if n.domain == PLUGIN_DOMAIN] == ["PillarScatter"]


def test_defined_values_beyond_the_full_sweep_finds_each_range_end_exactly():
    # a KITTI-sized index (M = 214272): the grid + bisection must give what trying every value gives
    from pykit.surgeon.proof import SWEEP_ALL, _defined_values

    M = 214272
    assert M > SWEEP_ALL
    for lo, hi in ((0, M - 1), (0, 495), (-7, 12345), (M, M)):  # the last: only the largest value
        calls = []

        def defined(v, lo=lo, hi=hi):
            calls.append(v)
            return lo <= v <= hi
        got = _defined_values(defined, M, np.array([], np.int64))
        assert got[0] == lo and got[-1] == hi and len(got) == hi - lo + 1, (lo, hi)
        assert len(calls) < 1000  # not 2M + 1 runs of the domain's subgraph
    # up to SWEEP_ALL every value is tried: a hole narrower than any grid step is kept
    small = _defined_values(lambda v: v != 5 and 0 <= v <= 40, 50, np.array([], np.int64))
    assert 5 not in small and list(small) == [v for v in range(0, 41) if v != 5]


def test_repeated_marks_every_row_equal_to_an_earlier_one():
    from pykit.surgeon.proof import _repeated

    rng = np.random.default_rng(3)
    for _ in range(50):
        rows = rng.integers(0, 4, size=(int(rng.integers(0, 30)), int(rng.integers(1, 4))))
        seen, want = set(), []
        for r in map(tuple, rows):
            want.append(r in seen)
            seen.add(r)
        assert list(_repeated(rows)) == want
