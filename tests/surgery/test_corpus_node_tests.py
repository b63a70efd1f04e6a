"""ONNX's own backend node tests in the corpus (tests/corpus/onnx_node, their stored expected outputs)
that TensorRT 8.5 cannot run as they are: ScatterND with a reduction (silently computed as a plain
scatter) and LayerNormalization-17 (no importer; the tests read its Mean and InvStdDev outputs too).
Each must patch for --trt 8.5 with a proven rewrite, lint clean, and the patched model (plugin
references) must reproduce the stored outputs within the plugin's fp32 tolerance; inspect names the
plugin whose rule takes the node."""
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator
from surgery_helpers import T, h, model, vi

from pykit import registry
from pykit.surgeon.equiv import _State, plugin_nodes, plugin_ops
from pykit.surgeon.inspect import inspect_model
from pykit.surgeon.lint import lint_model
from pykit.surgeon.patch import patch_model

NODE = Path(__file__).resolve().parents[1] / "corpus" / "onnx_node"
SCATTERND = [f"test_scatternd_{r}" for r in ("add", "multiply", "max", "min")]
LAYER_NORM = sorted(p.name for p in NODE.glob("test_layer_normalization_*") if "_expanded" not in p.name)
CASES = [(n, "ScatterElementsReduce") for n in SCATTERND] + [(n, "LayerNorm") for n in LAYER_NORM]


def _stored(case):
    m = onnx.load(str(NODE / case / "model.onnx"))
    data = NODE / case / "test_data_set_0"

    def read(kind, names):
        return {n: numpy_helper.to_array(onnx.load_tensor(str(data / f"{kind}_{k}.pb"))) for k, n in enumerate(names)}

    return m, read("input", [i.name for i in m.graph.input]), read("output", [o.name for o in m.graph.output])


def _run_patched(patched, feeds):
    specs = [s for _, s in plugin_nodes(patched)[0]]
    ev = ReferenceEvaluator(patched, new_ops=plugin_ops(specs, _State("fp32", "reference")))
    names = [o.name for o in patched.graph.output]
    return dict(zip(names, ev.run(None, feeds)))


def test_the_corpus_holds_every_case():
    assert len(LAYER_NORM) == 19 and all((NODE / n / "model.onnx").is_file() for n in SCATTERND)


@pytest.mark.parametrize("case,plugin", CASES, ids=[c for c, _ in CASES])
def test_node_test_patches_proven_and_matches_stored_outputs(case, plugin):
    original, inputs, outputs = _stored(case)
    flagged = [f for f in inspect_model(original, "8.5").findings if f.blocking]
    assert [f.takers for f in flagged] == [[plugin]], [f.line() for f in flagged]

    result = patch_model(original, trt="8.5")
    assert result.exit_code == 0 and not result.unpatched, result.unpatched
    assert len(result.rewrites) == 1
    (change,) = result.rewrites
    assert change.proof is not None and change.proof.proven and change.proof.probes > 0, change.detail
    assert "proven on" in change.detail
    patched = result.model
    assert {n.op_type for n in patched.graph.node} & {"ScatterND", "LayerNormalization"} == set()
    assert max(o.version for o in patched.opset_import if o.domain in ("", "ai.onnx")) <= 17
    errors, _ = lint_model(patched)
    assert not errors, [str(e) for e in errors]
    assert not [f for f in inspect_model(patched, "8.5").findings if f.blocking]

    tol = registry.get(plugin).tolerances["fp32"]
    got = _run_patched(patched, inputs)
    assert set(got) == set(outputs)  # Mean and InvStdDev too, where the test stores them
    for name, want in outputs.items():
        assert got[name].shape == want.shape and got[name].dtype == want.dtype, name
        excess = np.abs(got[name].astype(np.float64) - want) - tol.bound(np.abs(want.astype(np.float64)))
        assert float(excess.max()) <= 0, f"{case}: output {name} differs from the stored one beyond {tol.describe()}"


@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
def test_scatternd_reduce_with_two_index_columns_is_proven(reduction):
    # indices [..., 2] address rows of a [3, 4, 5] tensor: the row index needs a stride (4); a
    # proof on probes with duplicate destinations (what a reduction is for) must hold
    m = model([h.make_node("ScatterND", ["data", "idx", "upd"], ["y"], name="snd", reduction=reduction)],
              [vi("data", [3, 4, 5]), vi("idx", [2, 3, 2], T.INT64), vi("upd", [2, 3, 5])], [vi("y", [3, 4, 5])],
              opset=18)
    result = patch_model(m, trt="8.5")
    assert result.exit_code == 0, result.unpatched
    (change,) = result.rewrites
    assert change.proof.proven and change.proof.probes > 0, change.detail
    rng = np.random.default_rng(11)
    feeds = {"data": rng.normal(size=(3, 4, 5)).astype(np.float32),
             "idx": np.array([[[0, 1], [2, 3], [0, 1]], [[1, 0], [0, 1], [2, 3]]], np.int64),
             "upd": rng.normal(size=(2, 3, 5)).astype(np.float32)}
    want = ReferenceEvaluator(m).run(None, feeds)[0]
    got = _run_patched(result.model, feeds)["y"]
    tol = registry.get("ScatterElementsReduce").tolerances["fp32"]
    assert np.all(np.abs(got - want) <= tol.bound(np.abs(want)))


def test_scatternd_without_reduction_is_not_taken():
    m = model([h.make_node("ScatterND", ["data", "idx", "upd"], ["y"], name="snd")],
              [vi("data", [3, 4]), vi("idx", [2, 1], T.INT64), vi("upd", [2, 4])], [vi("y", [3, 4])], opset=16)
    result = patch_model(m, trt="8.5")
    assert not result.rewrites and not result.unpatched


@pytest.mark.parametrize("opset", [17, 18])
@pytest.mark.parametrize("outs", [["y", "mean"], ["y", "", "inv"]], ids=["mean_only", "inv_std_only"])
def test_layer_norm_statistics_alone_and_with_axes_as_input(opset, outs):
    # ReduceMean's axes became an input at opset 18; an unused statistic gets no nodes
    m = model([h.make_node("LayerNormalization", ["x", "w", "b"], outs, axis=1, epsilon=1e-3)],
              [vi("x", [2, 3, 4]), vi("w", [3, 4]), vi("b", [3, 4])], [vi(o, None) for o in outs if o],
              opset=opset, ir=8)
    result = patch_model(m, trt="8.5")
    assert result.exit_code == 0, result.unpatched
    (change,) = result.rewrites
    assert change.proof.proven and change.proof.probes > 0, change.detail
    ops = [n.op_type for n in result.model.graph.node]
    assert ("Reciprocal" in ops) == ("inv" in outs)
    rng = np.random.default_rng(5)
    feeds = {k: rng.normal(size=s).astype(np.float32) for k, s in (("x", (2, 3, 4)), ("w", (3, 4)), ("b", (3, 4)))}
    want = dict(zip([o for o in outs if o], ReferenceEvaluator(m).run(None, feeds)))
    got = _run_patched(result.model, feeds)
    tol = registry.get("LayerNorm").tolerances["fp32"]
    for name, w in want.items():
        assert got[name].shape == w.shape and np.all(np.abs(got[name] - w) <= tol.bound(np.abs(w))), name
