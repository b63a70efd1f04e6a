"""DeformConv2d: tests of what this plugin does, beyond what every plugin is held to.

tests/test_conformance.py holds every plugin, on every backend, to its spec (tables, serialization,
the kernels against reference.py within the spec's tolerances on every case). Here: values known
without the reference (a plain convolution, integer shifts, half-pixel blends, samples on and past
the border), the reference against onnx.reference's DeformConv, the host's errors naming the tensor
or attribute, the two rules, inspect's findings, the opset conversion, and the corpus exports
(ONNX node tests, torchvision's and mmcv's exports) patched for TensorRT 8.5 against their stored
outputs.
"""
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper

from pykit import registry
from pykit.surgeon.equiv import _State, load_stored, plugin_nodes, plugin_ops
from pykit.surgeon.inspect import inspect_model
from pykit.surgeon.lint import lint_model
from pykit.surgeon.model import PLUGIN_DOMAIN, SurgeryError
from pykit.surgeon.patch import patch_model

SPEC = registry.get("DeformConv2d")
REFERENCE = registry.entry_point(SPEC, "reference")
CASES = {c.name: c for c in registry.entry_point(SPEC, "cases")(np.random.default_rng(0))}
NUMPY_DTYPES = {"float32": np.float32, "float16": np.float16}
DEFAULTS = {"dilations": [1, 1], "group": 1, "offset_group": 1, "pads": [0, 0, 0, 0], "strides": [1, 1]}
CORPUS = Path(__file__).resolve().parents[3] / "tests" / "corpus"
TOL = SPEC.tolerances["fp32"]


def _host():
    try:
        from pykit.backends.host import host_for

        return host_for(SPEC)
    except Exception as exc:  # no host module built
        pytest.skip(f"host backend not available: {exc}")


def _run_host(inputs: dict, attrs: dict, precision="fp32"):
    arrays = [np.ascontiguousarray(np.asarray(inputs[t.name]).astype(NUMPY_DTYPES[t.dtype(precision)])) for t in SPEC.inputs]
    return _host().run(SPEC.name, arrays, SPEC.resolve_attributes({**DEFAULTS, **attrs}), precision, [], [])[0]


def _conv2d(x, w, b, pads, strides=(1, 1)):
    """A plain 2-D convolution (group 1) in float64: the deformable one with zero offsets and mask 1."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    n, c, h, wd = xp.shape
    oc, _, kh, kw = w.shape
    oh, ow = (h - kh) // strides[0] + 1, (wd - kw) // strides[1] + 1
    y = np.zeros((n, oc, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + strides[0] * oh:strides[0], j:j + strides[1] * ow:strides[1]]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return y + b[None, :, None, None]


def _inputs(rng, n=1, c=3, hw=(6, 7), oc=4, k=(3, 3), oh_ow=None, offset=None, mask=None, bias=None):
    h, w = hw
    oh, ow = oh_ow or (h - k[0] + 1, w - k[1] + 1)
    return {"x": rng.standard_normal((n, c, h, w)).astype(np.float32),
            "weight": rng.uniform(-0.3, 0.3, (oc, c, *k)).astype(np.float32),
            "offset": (np.zeros((n, 2 * k[0] * k[1], oh, ow)) if offset is None else offset).astype(np.float32),
            "bias": (rng.uniform(-1, 1, oc) if bias is None else bias).astype(np.float32),
            "mask": (np.ones((1, 1, 1, 1)) if mask is None else mask).astype(np.float32)}


# ---- values known without the reference --------------------------------------------------------------


@pytest.mark.parametrize("pads", [[0, 0, 0, 0], [1, 1, 1, 1], [2, 0, 1, 3]])
def test_zero_offsets_and_unit_mask_are_a_plain_convolution(pads):
    rng = np.random.default_rng(1)
    h, w = 6, 7
    i = _inputs(rng, hw=(h, w), oh_ow=(h + pads[0] + pads[2] - 2, w + pads[1] + pads[3] - 2))
    want = _conv2d(i["x"], i["weight"], i["bias"], pads)
    for got in (_run_host(i, {"pads": pads}), REFERENCE(i, {**DEFAULTS, "pads": pads})["y"]):
        assert np.abs(got - want).max() <= TOL.bound(np.abs(want)).min()


def test_integer_offsets_shift_the_image_with_zeros_outside():
    # every tap moved by (dy, dx) = (1, -2): the convolution of x shifted up 1 and right 2, zero-filled
    rng = np.random.default_rng(2)
    off = np.zeros((1, 18, 4, 5))
    off[:, 0::2], off[:, 1::2] = 1.0, -2.0
    i = _inputs(rng, offset=off)
    shifted = np.zeros_like(i["x"])
    shifted[:, :, :-1, 2:] = i["x"][:, :, 1:, :-2]
    want = _conv2d(shifted, i["weight"], i["bias"], [0, 0, 0, 0])
    got = _run_host(i, {})
    assert np.abs(got - want).max() <= TOL.bound(np.abs(want)).min()


@pytest.mark.parametrize("oy,ox,want", [
    (0.5, 0.0, "mean of rows 0 and 1"), (0.0, 0.25, "3/4 col 0 + 1/4 col 1"),
    (-0.5, 0.0, "half of row 0: row -1 is outside"), (2.5, 0.0, "half of row 2: row 3 is outside"),
    (-1.0, 0.0, "zero: exactly one pixel above the image"), (3.0, 1.0, "zero: row H"), (-7.0, 9.0, "zero: far outside")])
def test_one_tap_bilinear_blend_by_hand(oy, ox, want):
    # x 1x1x3x3, a 1x1 kernel of weight 1, one output pixel at (0, 0): y = sample of x at (oy, ox)
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    i = {"x": x, "weight": np.ones((1, 1, 1, 1)), "offset": np.array([oy, ox]).reshape(1, 2, 1, 1),
         "bias": np.zeros(1), "mask": np.ones((1, 1, 1, 1))}
    by_hand = {"mean of rows 0 and 1": (1 + 4) / 2, "3/4 col 0 + 1/4 col 1": 0.75 * 1 + 0.25 * 2,
               "half of row 0: row -1 is outside": 0.5 * 1, "half of row 2: row 3 is outside": 0.5 * 7}.get(want, 0.0)
    attrs = {"pads": [0, 0, 0, 0]}
    # output (1, 1, 3, 3): only pixel (0, 0) is checked; its offset is (oy, ox), the others' 0
    offset = np.zeros((1, 2, 3, 3))
    offset[0, :, 0, 0] = [oy, ox]
    i["offset"] = offset
    got = _run_host(i, attrs)
    assert got[0, 0, 0, 0] == pytest.approx(by_hand, abs=1e-6), want
    assert REFERENCE(i, {**DEFAULTS, **attrs})["y"][0, 0, 0, 0] == pytest.approx(by_hand, abs=1e-12), want
    np.testing.assert_allclose(got[0, 0].reshape(-1)[1:], x.reshape(-1)[1:], atol=1e-6)  # zero offsets: x itself


def test_a_one_element_mask_scales_every_tap():
    rng = np.random.default_rng(3)
    i = _inputs(rng, offset=rng.standard_normal((1, 18, 4, 5)))
    full = dict(i, mask=np.full((1, 9, 4, 5), 0.25, np.float32))
    scalar = dict(i, mask=np.full((1, 1, 1, 1), 0.25, np.float32))
    a, b = _run_host(full, {}), _run_host(scalar, {})
    assert np.array_equal(a, b)
    unit = _run_host(i, {})
    np.testing.assert_allclose(a - i["bias"][None, :, None, None], 0.25 * (unit - i["bias"][None, :, None, None]), atol=1e-6)


def test_groups_see_only_their_channels():
    # group 2: output channels of group 0 must not change when the channels of group 1 do
    case = CASES["group2_offset_group2"]
    base = _run_host(case.inputs, case.attrs)
    x = case.inputs["x"].copy()
    x[:, 4:] = 7.0
    moved = _run_host(dict(case.inputs, x=x), case.attrs)
    assert np.array_equal(base[:, :3], moved[:, :3]) and not np.allclose(base[:, 3:], moved[:, 3:])


# ---- the reference against onnx.reference ------------------------------------------------------------


@pytest.mark.parametrize("name", ["dcnv2_3x3_pad1", "dcnv1_no_mask", "stride2_dilation2_asym_pads", "group2_offset_group2",
                                  "group1_offset_group4", "border_straddle", "offsets_outside_image"])
def test_reference_agrees_with_onnx_reference(name):
    from onnx.reference.ops.op_deform_conv import _deform_conv_implementation

    c = CASES[name]
    i, a = c.inputs, c.attrs
    f64 = {k: np.asarray(v, np.float64) for k, v in i.items()}
    mask = f64["mask"] if f64["mask"].size > 1 else None
    want = _deform_conv_implementation(f64["x"], f64["weight"], f64["offset"], f64["bias"], mask, a["dilations"], a["group"],
                                       list(i["weight"].shape[2:]), a["offset_group"], a["pads"], a["strides"])
    got = REFERENCE(i, a)["y"]
    assert np.abs(got - want).max() <= 1e-6  # onnx.reference normalizes grid coordinates: a few roundings


def test_onnx_reference_divides_by_zero_on_height_1_and_the_plugin_does_not():
    from onnx.reference.ops.op_deform_conv import _deform_conv_implementation

    c = CASES["height_1"]
    i, a = {k: np.asarray(v, np.float64) for k, v in c.inputs.items()}, c.attrs
    try:  # (H - 1) = 0 in its grid normalization: NaN coordinates, which its GridSample cannot index with
        with np.errstate(all="ignore"):
            onnx_ref = _deform_conv_implementation(i["x"], i["weight"], i["offset"], i["bias"], i["mask"], a["dilations"],
                                                   a["group"], [1, 3], a["offset_group"], a["pads"], a["strides"])
        assert not np.isfinite(onnx_ref).all()
    except ValueError as exc:
        assert "NaN" in str(exc)
    assert np.isfinite(_run_host(c.inputs, a)).all()


# ---- errors name the culprit ---------------------------------------------------------------------------


@pytest.mark.parametrize("change,attrs,needle", [
    (dict(offset=np.zeros((1, 16, 4, 5))), {}, "'offset'"),
    (dict(mask=np.ones((1, 9, 4, 4))), {}, "'mask'"),
    (dict(bias=np.zeros(3)), {}, "'bias'"),
    (dict(weight=np.zeros((4, 2, 3, 3))), {}, "'weight'"),
    ({}, {"pads": [0, 0]}, "2-D only"),
    ({}, {"offset_group": 2}, "'offset_group'"),
    ({}, {"group": 2}, "'group'"),
])
def test_host_refuses_bad_shapes_naming_the_tensor(change, attrs, needle):
    i = {**_inputs(np.random.default_rng(4)), **{k: np.asarray(v, np.float32) for k, v in change.items()}}
    with pytest.raises(Exception, match="DeformConv") as err:
        _run_host(i, attrs)
    assert needle in str(err.value), str(err.value)


# ---- rules ----------------------------------------------------------------------------------------------


def _onnx_model(inputs=("X", "W", "offset", "B", "mask"), x=(1, 3, 6, 7), w=(4, 3, 3, 3), oh_ow=(4, 5), opset=19, **attrs):
    shapes = {"X": x, "W": w, "offset": (x[0], 2 * w[2] * w[3], *oh_ow), "B": (w[0],), "mask": (x[0], w[2] * w[3], *oh_ow)}
    node = helper.make_node("DeformConv", list(inputs), ["Y"], name="dc", **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, T.FLOAT, shapes[n]) for n in inputs if n],
                              [helper.make_tensor_value_info("Y", T.FLOAT, (x[0], w[0], *oh_ow))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)


@pytest.mark.parametrize("inputs", [("X", "W", "offset", "B", "mask"), ("X", "W", "offset"), ("X", "W", "offset", "", "mask")],
                         ids=["dcnv2_bias", "dcnv1_no_bias", "dcnv2_no_bias"])
def test_onnx_deform_conv_becomes_the_plugin_proven(inputs):
    result = patch_model(_onnx_model(inputs, kernel_shape=[3, 3]), trt="8.5")
    assert result.exit_code == 0, result.unpatched
    (change,) = result.rewrites
    assert change.proof.proven and change.proof.probes > 0, change.detail
    (node,) = [n for n in result.model.graph.node if n.domain == PLUGIN_DOMAIN]
    assert node.op_type == "DeformConv2d" and len(node.input) == 5
    consts = {t.name: onnx.numpy_helper.to_array(t) for t in result.model.graph.initializer}
    if "B" not in inputs:
        assert np.array_equal(consts[node.input[3]], np.zeros(4, np.float32))
    if "mask" not in inputs:
        assert np.array_equal(consts[node.input[4]], np.ones((1, 1, 1, 1), np.float32))
    assert max(o.version for o in result.model.opset_import if o.domain in ("", "ai.onnx")) <= 17
    errors, checked = lint_model(result.model)
    assert checked == 1 and not errors, errors


def test_attributes_reach_the_plugin():
    m = _onnx_model(x=(1, 4, 9, 8), w=(6, 2, 3, 2), oh_ow=(3, 9), group=2, offset_group=2, pads=[1, 0, 1, 2],
                    strides=[3, 1], dilations=[2, 1])
    m.graph.input[2].type.tensor_type.shape.dim[1].dim_value = 2 * 2 * 6  # offset_group 2
    m.graph.input[4].type.tensor_type.shape.dim[1].dim_value = 2 * 6
    result = patch_model(m, trt="8.5")
    assert result.exit_code == 0, result.unpatched
    (change,) = result.rewrites
    assert change.proof.proven and change.proof.probes > 0, change.detail
    (node,) = [n for n in result.model.graph.node if n.domain == PLUGIN_DOMAIN]
    got = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    assert (got["group"], got["offset_group"], got["pads"], got["strides"], got["dilations"]) == (2, 2, [1, 0, 1, 2], [3, 1], [2, 1])


def test_3d_deform_conv_is_left_with_the_reason():
    m3 = _onnx_model(("X", "W", "offset"), x=(1, 2, 4, 4, 4), w=(2, 2, 2, 2, 2), oh_ow=(3, 3, 3))
    m3.graph.input[2].type.tensor_type.shape.dim[1].dim_value = 24
    result = patch_model(m3)
    assert not result.rewrites and any("2-D only" in c.detail for c in result.changes)


def _mmcv_model(domain="mmcv", bias=True, **attrs):
    inputs = ["input", "offset", "mask", "weight"] + (["bias"] if bias else [])
    shapes = {"input": (2, 4, 6, 6), "offset": (2, 36, 6, 6), "mask": (2, 18, 6, 6), "weight": (5, 4, 3, 3), "bias": (5,)}
    node = helper.make_node("MMCVModulatedDeformConv2d", inputs, ["y"], name="mdcn", domain=domain, **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, T.FLOAT, shapes[n]) for n in inputs],
                              [helper.make_tensor_value_info("y", T.FLOAT, (2, 5, 6, 6))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11), helper.make_opsetid(domain, 1)], ir_version=6)


@pytest.mark.parametrize("domain", ["mmcv", "mmdeploy"])
@pytest.mark.parametrize("pair", [True, False], ids=["pairs", "ints"])
def test_mmcv_node_becomes_the_plugin(domain, pair):
    attrs = (dict(stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1, deform_groups=2) if pair
             else dict(stride=1, padding=1, dilation=1, groups=1, deform_groups=2))
    original = _mmcv_model(domain, **attrs)
    flagged = [f for f in inspect_model(original, "8.5").findings if f.blocking]
    assert [f.takers for f in flagged] == [["DeformConv2d"]], [f.line() for f in flagged]
    result = patch_model(original, trt="8.5")
    assert result.exit_code == 0, result.unpatched
    (node,) = [n for n in result.model.graph.node if n.domain == PLUGIN_DOMAIN]
    assert list(node.input) == ["input", "weight", "offset", "bias", "mask"]
    got = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    assert (got["pads"], got["offset_group"], got["strides"]) == ([1, 1, 1, 1], 2, [1, 1])
    assert not [f for f in inspect_model(result.model, "8.5").findings if f.blocking]


def test_mmcv_node_without_bias_gets_zeros():
    result = patch_model(_mmcv_model(bias=False, stride=1, padding=1, dilation=1, groups=1, deform_groups=2), trt="8.5")
    (node,) = [n for n in result.model.graph.node if n.domain == PLUGIN_DOMAIN]
    consts = {t.name: onnx.numpy_helper.to_array(t) for t in result.model.graph.initializer}
    assert np.array_equal(consts[node.input[3]], np.zeros(5, np.float32))


def test_inspect_flags_deform_conv_before_tensorrt_10_only():
    m = _onnx_model()
    (finding,) = [f for f in inspect_model(m, "8.5").findings if f.blocking and f.op == "DeformConv"]
    assert finding.takers == ["DeformConv2d"]
    assert not [f for f in inspect_model(m, "10").findings if f.blocking and f.op == "DeformConv"]


# ---- opset conversion --------------------------------------------------------------------------------


def test_split18_with_num_outputs_converts_for_tensorrt_85():
    from onnx.reference import ReferenceEvaluator

    node = helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3, name="split")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", T.FLOAT, [2, 7])],
                              [helper.make_tensor_value_info(n, T.FLOAT, None) for n in "abc"])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)], ir_version=9)
    result = patch_model(m, trt="8.5")
    assert max(o.version for o in result.model.opset_import if o.domain in ("", "ai.onnx")) == 17
    assert all(o.domain != "pykit.downgrade" for o in result.model.opset_import)
    assert any("Split-18" in c.detail for c in result.changes)
    x = np.arange(14, dtype=np.float32).reshape(2, 7)
    want = ReferenceEvaluator(m).run(None, {"x": x})
    got = ReferenceEvaluator(result.model).run(None, {"x": x})
    assert [w.shape for w in want] == [(2, 3), (2, 3), (2, 1)] and all(np.array_equal(a, b) for a, b in zip(want, got))


def test_split18_over_a_dynamic_dim_is_refused_with_the_node():
    node = helper.make_node("Split", ["x"], ["a", "b"], axis=1, num_outputs=2, name="split_dyn")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", T.FLOAT, [2, "n"])],
                              [helper.make_tensor_value_info(n, T.FLOAT, None) for n in "ab"])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)], ir_version=9)
    with pytest.raises(SurgeryError, match="split_dyn"):
        patch_model(m, trt="8.5")


# ---- the corpus: ONNX node tests, torchvision and mmcv exports ------------------------------------------------


def _corpus_entries():
    index = json.loads((CORPUS / "index.json").read_text())
    return sorted((e for e in index["models"] if e.get("taker") == "DeformConv2d"), key=lambda e: e["name"])


ENTRIES = _corpus_entries()


def test_the_corpus_holds_every_deform_conv_export():
    names = {e["name"] for e in ENTRIES}
    assert {"onnx_node/test_deform_conv_with_mask_bias", "onnx_node/test_deform_conv_with_multiple_offset_groups",
            "mmcv_modulated_deform_conv2d_opset11"} <= names
    assert sum(n.startswith("torchvision_deform_conv2d") for n in names) >= 2


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_corpus_export_patches_for_tensorrt_85_and_matches_its_stored_outputs(entry):
    from onnx.reference import ReferenceEvaluator

    folder = CORPUS / entry["name"]
    original = onnx.load(str(folder / "model.onnx"))
    flagged = [f for f in inspect_model(original, "8.5").findings if f.blocking and f.kind != "above-opset"]
    assert flagged and all(f.takers == ["DeformConv2d"] for f in flagged), [f.line() for f in flagged]
    result = patch_model(original, trt="8.5")
    assert result.exit_code == 0 and not result.unpatched, result.unpatched
    (change,) = result.rewrites
    custom = any(n.domain not in ("", "ai.onnx") for n in original.graph.node)
    assert change.proof.proven and (custom or change.proof.probes > 0), change.detail  # mmcv's node: no ONNX semantics
    patched = result.model
    assert max(o.version for o in patched.opset_import if o.domain in ("", "ai.onnx")) <= 17 and patched.ir_version <= 8
    assert not [f for f in inspect_model(patched, "8.5").findings if f.blocking]
    errors, _ = lint_model(patched, "8.5")
    assert not errors, [str(e) for e in errors]

    feeds, stored = load_stored(original, folder / entry["data"])
    specs = [s for _, s in plugin_nodes(patched)[0]]
    ev = ReferenceEvaluator(patched, new_ops=plugin_ops(specs, _State("fp32", "reference")))
    got = dict(zip([o.name for o in patched.graph.output], ev.run(None, feeds)))
    for name, want in stored.items():
        want64 = want.astype(np.float64)
        # the stored outputs went through fp32 (onnx's or torch's kernels): the spec's fp32 bound
        excess = np.abs(got[name].astype(np.float64) - want64) - TOL.bound(np.abs(want64))
        assert float(excess.max()) <= 0, f"{entry['name']}: output {name} differs from the stored one beyond {TOL.describe()}"


def test_torchvision_agrees_with_the_stored_torchvision_exports():
    torch = pytest.importorskip("torch")
    try:
        import torchvision.ops

        torch.ops.torchvision.deform_conv2d  # noqa: B018
    except Exception as exc:
        pytest.skip(f"torchvision's compiled ops do not load here: {str(exc)[:100]}")
    for entry in (e for e in ENTRIES if e["name"].startswith("torchvision_")):
        folder = CORPUS / entry["name"]
        model = onnx.load(str(folder / "model.onnx"))
        feeds, stored = load_stored(model, folder / entry["data"])
        inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
        node = next(n for n in model.graph.node if n.op_type == "DeformConv")
        a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
        # the DeformConv node's own inputs, from onnxruntime running the model up to it
        import onnxruntime as ort

        probe = onnx.helper.make_model(model.graph, opset_imports=model.opset_import, ir_version=model.ir_version)
        probe.graph.output.extend([helper.make_tensor_value_info(t, T.FLOAT, None) for t in node.input[2:] if t not in inits])
        sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
        values = dict(zip([o.name for o in probe.graph.output], sess.run(None, feeds)))
        values.update(inits)
        values.update(feeds)
        t = {k: torch.from_numpy(np.asarray(values[v])) for k, v in zip(("x", "w", "off", "b", "m"), node.input)
             if v}
        y = torchvision.ops.deform_conv2d(t["x"], t["off"], t["w"], t.get("b"), stride=tuple(a["strides"]),
                                          padding=tuple(a["pads"][:2]), dilation=tuple(a["dilations"]), mask=t.get("m"))
        (want,) = stored.values()
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=2e-5)
