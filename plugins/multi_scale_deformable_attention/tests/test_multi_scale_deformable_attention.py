"""MultiScaleDeformableAttention: tests of what this plugin does, beyond what every plugin is held to.

tests/test_conformance.py holds every plugin, on every backend, to its spec (host vs reference at
every precision and case, bad dtypes refused, serialization, bench case). Here: values computed by
hand, the reference against mmcv's pure-PyTorch formulation (and against torch itself where it is
installed), the host's shape errors, the rule on the mmdeploy/mmcv custom node (int64 inputs, the
proof by the registered semantics, what it refuses), inspect's finding, the corpus export.
"""
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from pykit import registry
from pykit.backends.host import host_for

SPEC = registry.get("MultiScaleDeformableAttention")
REF = registry.load_module(SPEC, "reference")
CASES = {c.name: c for c in REF.cases(np.random.default_rng(0))}
NAMES = [t.name for t in SPEC.inputs]
CORPUS = Path(__file__).resolve().parents[3] / "tests" / "corpus"
DTYPES = {"fp32": np.float32, "fp16": np.float16}


def _host(inputs: dict, precision="fp32"):
    arrays = [np.asarray(inputs[n]).astype(np.int32 if n.startswith("value_") and n != "value" else DTYPES[precision])
              for n in NAMES]
    return host_for(SPEC).run(SPEC.name, arrays, {}, precision, [], [])[0]


def _one_point(value_hw, loc, weight=1.0):
    """One level of H x W with one head and 2 channels (channel 1 = -channel 0), one query, one point."""
    h, w = value_hw.shape
    value = np.stack([value_hw.reshape(-1), -value_hw.reshape(-1)], -1).reshape(1, h * w, 1, 2)
    return {"value": value, "value_spatial_shapes": np.array([[h, w]]), "value_level_start_index": np.array([0]),
            "sampling_locations": np.array(loc, np.float64).reshape(1, 1, 1, 1, 1, 2),
            "attention_weights": np.full((1, 1, 1, 1, 1), weight)}


GRID = np.arange(12, dtype=np.float64).reshape(3, 4) / 16  # value at (y, x) = (4y + x) / 16


@pytest.mark.parametrize("loc,want", [
    ((0.5 / 4, 0.5 / 3), 0.0),                    # centre of pixel (0, 0)
    ((3.5 / 4, 2.5 / 3), 11 / 16),                # centre of pixel (2, 3)
    ((1.0 / 4, 1.0 / 3), (0 + 1 + 4 + 5) / 64),   # corner shared by pixels (0,0), (0,1), (1,0), (1,1): their mean
    ((0.0, 0.5 / 3), 0.0 / 2),                    # left edge of pixel (0, 0): half of it, half zeros padding
    ((1.0, 1.5 / 3), (7 / 16) / 2),               # right edge of pixel (1, 3)
    ((-0.25, 0.5), 0.0),                          # wholly outside: zero
    ((0.5, 1.0 + 1 / 3), 0.0),                    # one pixel below the bottom edge: zero
])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_hand_computed_samples(loc, want, precision):
    out = _host(_one_point(GRID, loc, weight=0.75), precision).astype(np.float64)
    assert out.shape == (1, 1, 2)
    tol = 1e-6 if precision == "fp32" else 2e-3
    assert abs(out[0, 0, 0] - 0.75 * want) <= tol and abs(out[0, 0, 1] + 0.75 * want) <= tol, out


def test_heads_and_levels_sum_weighted():
    # two levels, two heads: head 0 reads level 0's pixel, head 1 level 1's; weights 0.25 and 0.5
    value = np.zeros((1, 4 + 1, 2, 1))
    value[0, 3, 0, 0] = 2.0   # level 0 (2 x 2), pixel (1, 1), head 0
    value[0, 4, 1, 0] = -4.0  # level 1 (1 x 1), head 1
    loc = np.zeros((1, 1, 2, 2, 1, 2))
    loc[0, 0, 0, 0, 0] = (0.75, 0.75)  # head 0, level 0: centre of pixel (1, 1)
    loc[0, 0, 1, 1, 0] = (0.5, 0.5)    # head 1, level 1: its only pixel
    loc[0, 0, 0, 1, 0] = (5.0, 5.0)    # head 0, level 1: outside
    loc[0, 0, 1, 0, 0] = (-3.0, 0.5)   # head 1, level 0: outside
    weights = np.zeros((1, 1, 2, 2, 1))
    weights[0, 0, 0, 0, 0], weights[0, 0, 1, 1, 0] = 0.25, 0.5
    weights[0, 0, 0, 1, 0] = weights[0, 0, 1, 0, 0] = 1.0  # outside: must not count
    inputs = {"value": value, "value_spatial_shapes": np.array([[2, 2], [1, 1]]),
              "value_level_start_index": np.array([0, 4]), "sampling_locations": loc, "attention_weights": weights}
    np.testing.assert_array_equal(_host(inputs), np.array([[[0.5, -2.0]]], np.float32))


@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_is_mmcvs_pure_pytorch_formulation(name):
    i = CASES[name].inputs
    got = REF.multi_scale_deformable_attention(i, {})["output"]
    want = REF.pytorch_formulation(i["value"], i["value_spatial_shapes"], i["sampling_locations"],
                                   i["attention_weights"])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


@pytest.mark.parametrize("name", ["pyramid_4_levels", "locations_outside", "levels_1xW_Hx1_1x1", "channels_odd_3"])
def test_reference_matches_torch_grid_sample_formulation(name):
    torch = pytest.importorskip("torch")
    bench = registry.load_module(SPEC, "bench")
    i = CASES[name].inputs
    t = {k: torch.from_numpy(np.asarray(v)).double() for k, v in i.items() if k != "value_spatial_shapes"}
    want = bench.torch_msda(torch, t["value"], i["value_spatial_shapes"].tolist(), t["sampling_locations"],
                            t["attention_weights"]).numpy()
    np.testing.assert_allclose(REF.multi_scale_deformable_attention(i, {})["output"], want, rtol=0, atol=1e-12)


def test_nan_location_contributes_zero():
    inputs = _one_point(GRID, (np.nan, 0.5))
    assert np.array_equal(_host(inputs), np.zeros((1, 1, 2), np.float32))
    assert np.array_equal(REF.multi_scale_deformable_attention(inputs, {})["output"], np.zeros((1, 1, 2)))


@pytest.mark.parametrize("edit,message", [
    (lambda i: i.update(value_spatial_shapes=np.array([[3, 5]])), "does not lie inside value"),
    (lambda i: i.update(value_level_start_index=np.array([1])), "does not lie inside value"),
    (lambda i: i.update(value_level_start_index=np.array([-1])), "does not lie inside value"),
    (lambda i: i.update(value_spatial_shapes=np.array([[0, 4]])), "does not lie inside value"),
    (lambda i: i.update(attention_weights=np.ones((1, 1, 1, 1, 2))), "input 'attention_weights'"),
    (lambda i: i.update(value_spatial_shapes=np.array([[3, 4], [1, 1]])), "input 'value_spatial_shapes'"),
    (lambda i: i.update(value_level_start_index=np.array([0, 0])), "input 'value_level_start_index'"),
    (lambda i: i.update(sampling_locations=np.zeros((1, 1, 2, 1, 1, 2))), "input 'sampling_locations'"),
])
def test_host_refuses_bad_shapes_naming_the_tensor(edit, message):
    inputs = _one_point(GRID, (0.5, 0.5))
    edit(inputs)
    with pytest.raises(Exception, match=message) as info:
        _host(inputs)
    assert SPEC.name in str(info.value)


# ---- the rule -----------------------------------------------------------------------------------


def _custom_model(domain="mmdeploy", int64_inputs=False, starts=None, im2col_step=64):
    case = CASES["pyramid_4_levels"].inputs
    shapes = np.asarray(case["value_spatial_shapes"], np.int64)
    starts = np.asarray(case["value_level_start_index"] if starts is None else starts, np.int64)
    floats = {n: list(np.shape(case[n])) for n in ("value", "sampling_locations", "attention_weights")}
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in floats.items()]
    inits = []
    if int64_inputs:  # computed at run time (dynamic image sizes): graph inputs here
        inputs += [helper.make_tensor_value_info("shapes", TensorProto.INT64, [len(shapes), 2]),
                   helper.make_tensor_value_info("starts", TensorProto.INT64, [len(shapes)])]
    else:
        inits = [onnx.numpy_helper.from_array(shapes, "shapes"), onnx.numpy_helper.from_array(starts, "starts")]
    bs, q, m = floats["sampling_locations"][:3]
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [bs, q, m * floats["value"][3]])
    attrs = {"im2col_step": im2col_step} if im2col_step is not None else {}
    node = helper.make_node("MMCVMultiScaleDeformableAttention",
                            ["value", "shapes", "starts", "sampling_locations", "attention_weights"], ["output"],
                            name="msda", domain=domain, **attrs)
    graph = helper.make_graph([node], "g", inputs, [out], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16), helper.make_opsetid(domain, 1)],
                             ir_version=8)


def _plugin_nodes(model):
    from pykit.surgeon.model import PLUGIN_DOMAIN

    return [n for n in model.graph.node if n.domain == PLUGIN_DOMAIN]


@pytest.mark.parametrize("domain", ["mmdeploy", "mmcv"])
def test_rule_takes_the_custom_node_with_a_proof(domain):
    from pykit.surgeon.lint import lint_model
    from pykit.surgeon.patch import patch_model

    result = patch_model(_custom_model(domain), trt="8.5")
    assert result.exit_code == 0 and not result.unpatched, result.unpatched
    (change,) = result.rewrites
    assert change.proof.proven and change.proof.probes > 0, change.detail
    assert "pure-PyTorch" in change.proof.runtime and "im2col_step=64 dropped" in change.detail
    (node,) = _plugin_nodes(result.model)
    assert node.op_type == SPEC.name and len(result.model.graph.node) == 1
    assert {a.name for a in node.attribute} == {"plugin_version", "plugin_namespace"}
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in result.model.graph.initializer}
    case = CASES["pyramid_4_levels"].inputs
    for name, want in zip(node.input[1:3], ("value_spatial_shapes", "value_level_start_index")):
        assert inits[name].dtype == np.int32 and np.array_equal(inits[name], case[want]), name
    errors, checked = lint_model(result.model, trt="8.5")
    assert checked == 1 and not errors, errors


def test_rule_casts_int64_tensors_computed_at_run_time():
    from pykit.surgeon.patch import patch_model

    result = patch_model(_custom_model(int64_inputs=True), trt="8.5")
    (node,) = _plugin_nodes(result.model)
    casts = {n.output[0]: n for n in result.model.graph.node if n.op_type == "Cast"}
    assert set(node.input[1:3]) <= set(casts)
    assert [casts[x].input[0] for x in node.input[1:3]] == ["shapes", "starts"]
    assert all(helper.get_attribute_value(casts[x].attribute[0]) == TensorProto.INT32 for x in node.input[1:3])
    (change,) = result.rewrites  # random probes cannot draw a valid pyramid: kept unproven, saying why
    assert change.proof.probes == 0 and "computed at run time" in change.detail, change.detail


def test_rule_refuses_level_starts_the_formulations_disagree_on():
    # level starts that are not the cumulative sum of H*W: mmcv's CUDA op and its pure-PyTorch formulation
    # compute different things there, so the proof cannot hold and the node is left (exit 3: still flagged)
    from pykit.surgeon.patch import UNPATCHED_EXIT, patch_model

    starts = np.asarray(CASES["pyramid_4_levels"].inputs["value_level_start_index"]).copy()
    starts[1] += 1
    result = patch_model(_custom_model(starts=starts), trt="8.5")
    assert not result.rewrites and result.exit_code == UNPATCHED_EXIT
    assert any("cumulative sum" in c.detail for c in result.changes if c.action == "skipped"), \
        [str(c) for c in result.changes]


def test_rule_leaves_other_domains_alone():
    from pykit.surgeon.patch import patch_model

    result = patch_model(_custom_model(domain="someone.else"))
    assert not result.rewrites and not _plugin_nodes(result.model)


def test_inspect_flags_the_custom_node_for_the_plugin():
    from pykit.surgeon.inspect import inspect_model

    (finding,) = [f for f in inspect_model(_custom_model(), "8.5").findings if f.blocking]
    assert finding.kind == "custom-domain" and finding.takers == [SPEC.name]


@pytest.mark.parametrize("name", ["mmcv_msda_encoder_bs1_opset13", "mmcv_msda_encoder_bs2_opset16"])
def test_corpus_export_patches_proven_and_matches_torch(name):
    """The mmcv module exported with mmdeploy's symbolic: patched for 8.5, proven, the plugin reference
    reproducing torch's stored outputs within the corpus tolerance (tests/test_corpus.py)."""
    from onnx.reference import ReferenceEvaluator

    from pykit.surgeon.equiv import _State, load_stored, plugin_ops
    from pykit.surgeon.inspect import inspect_model
    from pykit.surgeon.patch import patch_model

    original = onnx.load(str(CORPUS / name / "model.onnx"))
    assert [n.domain for n in original.graph.node if n.op_type == "MMCVMultiScaleDeformableAttention"] == ["mmdeploy"]
    result = patch_model(original, trt="8.5")
    assert result.exit_code == 0 and len(result.rewrites) == 1 and result.rewrites[0].proof.probes > 0
    assert not [f for f in inspect_model(result.model, "8.5").findings if f.blocking]
    feeds, stored = load_stored(original, CORPUS / name / "data.npz")
    ev = ReferenceEvaluator(result.model, new_ops=plugin_ops([SPEC], _State("fp32", "reference")))
    (got,) = ev.run(list(stored), feeds)
    (want,) = stored.values()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=3e-5)


def test_proof_catches_a_wrong_original_semantics(monkeypatch):
    """The proof is not vacuous: with semantics that sample half a pixel off (align_corners=True's
    mapping instead of mmcv's), the rewrite is refused."""
    from pykit.surgeon import rules
    from pykit.surgeon.patch import patch_model

    rules.all_rules()
    good = rules.semantics_for("mmdeploy", "MMCVMultiScaleDeformableAttention")

    def shifted(inputs, attrs):
        value, shapes, starts, loc, weights = inputs
        hw = np.asarray(shapes, np.float64)[:, ::-1]  # (W, H) per level
        loc = np.asarray(loc, np.float64)
        moved = loc + (0.5 - loc) / hw[None, None, None, :, None, :]  # x = loc*(W-1) in pixels
        return good.run([value, shapes, starts, moved, weights], attrs)

    monkeypatch.setitem(rules._SEMANTICS, ("mmdeploy", "MMCVMultiScaleDeformableAttention"),
                        rules.Semantics("mmdeploy", "MMCVMultiScaleDeformableAttention", shifted, "wrong on purpose"))
    result = patch_model(_custom_model(), trt="8.5")
    assert not result.rewrites
    assert any("proof failed" in c.detail for c in result.changes if c.action == "skipped"), \
        [str(c) for c in result.changes]
