"""GridSample: tests of what this plugin does, beyond what every plugin is held to.

tests/test_conformance.py holds every plugin, on every backend, to its spec (host kernels vs the
numpy reference at every precision and case, tables, serialization, bad dtypes). Here: the
reference against ONNX's own definition (onnx.reference) and onnxruntime, hand-computed values,
the errors for bad shapes, the rule, inspect's flags, and the corpus (ONNX node tests and torch
exports) patched for TensorRT 8.5 and checked against their stored outputs.
"""
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from pykit import registry
from pykit.backends.host import host_for

SPEC = registry.get("GridSampler")
REFERENCE = registry.entry_point(SPEC, "reference")
CASES = {c.name: c for c in registry.entry_point(SPEC, "cases")(np.random.default_rng(0))}
CORPUS = Path(__file__).resolve().parents[3] / "tests" / "corpus"
CORPUS_ENTRIES = [e for e in json.loads((CORPUS / "index.json").read_text())["models"] if e["taker"] == "GridSampler"]


def _model(attrs, x_shape, grid_shape, opset=20):
    node = helper.make_node("GridSample", ["x", "grid"], ["y"], name="gs", **attrs)
    y_shape = list(x_shape[:2]) + list(grid_shape[1:-1])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(x_shape)),
                                            helper.make_tensor_value_info("grid", onnx.TensorProto.FLOAT, list(grid_shape))],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, y_shape)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=9 if opset >= 20 else 8)


def _host(precision, inputs, attrs, scales=((), ())):
    return host_for(SPEC).run(SPEC.name, inputs, SPEC.resolve_attributes(attrs), precision, list(scales[0]), list(scales[1]))[0]


ONNX_COMPARABLE = [n for n, c in CASES.items() if c.inputs["x"].size and np.prod(c.inputs["grid"].shape[:-1])
                   and not n.startswith("length_one_axes_reflection_ac1")]  # onnx.reference divides by 0 there


@pytest.mark.parametrize("name", ONNX_COMPARABLE)
def test_reference_is_onnx_reference_gridsample(name):
    """The float64 reference computes what onnx.reference's GridSample computes (fp32 there: within
    a few fp32 roundings), on every case: every mode, padding, align_corners, 4-D and 5-D."""
    from onnx.reference import ReferenceEvaluator

    case = CASES[name]
    want = ReferenceEvaluator(_model(case.attrs, case.inputs["x"].shape, case.inputs["grid"].shape)).run(None, case.inputs)[0]
    got = REFERENCE(case.inputs, case.attrs)["y"]
    assert np.allclose(got, want, rtol=0, atol=1e-5), np.abs(got - want).max()


def test_reference_agrees_with_onnxruntime_except_cubic_border():
    """onnxruntime (like torch) clamps each cubic tap; onnx.reference clamps the coordinate: they
    differ for cubic + border near the edges (the documented difference) and nowhere else."""
    import onnxruntime as ort

    for name in ONNX_COMPARABLE:
        case = CASES[name]
        m = _model(case.attrs, case.inputs["x"].shape, case.inputs["grid"].shape)
        got = ort.InferenceSession(m.SerializeToString()).run(None, case.inputs)[0]
        diff = np.abs(got - REFERENCE(case.inputs, case.attrs)["y"]).max()
        if case.attrs["mode"] == "cubic" and case.attrs["padding_mode"] == "border" and not name.startswith("on_borders"):
            assert diff > 1e-3, name  # the difference is real, not a tolerance question
        else:
            assert diff < 1e-5, (name, diff)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_identity_grid_reproduces_the_image(precision):
    """align_corners=1 and a grid at the pixel centres: every mode returns x itself."""
    h, w = 5, 7
    x = np.random.default_rng(1).uniform(-2, 2, (2, 3, h, w)).astype(np.float32)
    gx, gy = np.meshgrid(np.linspace(-1, 1, w), np.linspace(-1, 1, h))
    grid = np.broadcast_to(np.stack([gx, gy], -1), (2, h, w, 2)).astype(np.float32)
    dt = np.float32 if precision == "fp32" else np.float16
    for mode in ("linear", "nearest", "cubic"):
        y = _host(precision, [x.astype(dt), np.ascontiguousarray(grid, dt)], {"mode": mode, "align_corners": 1})
        assert np.allclose(y.astype(np.float64), x.astype(dt), atol=2e-3 if precision == "fp16" else 1e-6), mode


def test_hand_computed_values():
    """A 2x2 image [[1, 2], [3, 4]]: the centre is their mean (linear, align_corners=1); at x = -1.5
    (half a pixel beyond the left edge, align_corners=0) zeros reads 0 on the left taps; border reads
    the edge column; reflection mirrors into the image; nearest's tie at the centre (c = 0.5) rounds
    to the even index 0."""
    x = np.array([[[[1, 2], [3, 4]]]], np.float32)
    centre = np.zeros((1, 1, 1, 2), np.float32)
    assert _host("fp32", [x, centre], {"align_corners": 1})[0, 0, 0, 0] == 2.5
    assert _host("fp32", [x, centre], {"mode": "nearest", "align_corners": 1})[0, 0, 0, 0] == 1.0  # rint(0.5) = 0
    left = np.array([[[[-1.5, -0.5]]]], np.float32)  # c_x = -1.0 (ac=0: ((g+1)*2-1)/2), c_y = 0.0: row 0
    assert _host("fp32", [x, left], {"padding_mode": "zeros"})[0, 0, 0, 0] == 0.0
    assert _host("fp32", [x, left], {"padding_mode": "border"})[0, 0, 0, 0] == 1.0
    assert _host("fp32", [x, left], {"padding_mode": "reflection"})[0, 0, 0, 0] == 1.0  # -1.0 reflects at -0.5 to 0
    quarter = np.array([[[[-0.75, -0.5]]]], np.float32)  # c_x = -0.25: taps -1 (zero) and 0, weights 0.25 / 0.75
    assert _host("fp32", [x, quarter], {"padding_mode": "zeros"})[0, 0, 0, 0] == 0.75


def test_int8_requantizes_the_fp32_interpolation():
    case = CASES["2d_linear_border_ac0"]
    s_x, s_y = 2.0 / 127, 2.0 / 127
    q = np.clip(np.rint(case.inputs["x"] / s_x), -127, 127).astype(np.int8)
    y = _host("int8", [q, case.inputs["grid"]], case.attrs, ((s_x, 1.0), (s_y,)))
    want = np.clip(np.rint(REFERENCE({"x": q * s_x, "grid": case.inputs["grid"]}, case.attrs)["y"] / s_y), -127, 127)
    assert y.dtype == np.int8 and np.abs(y - want).max() <= 1


@pytest.mark.parametrize("x_shape, grid_shape, attrs, message", [
    ((1, 2, 3, 4, 5), (1, 2, 2, 2, 3), {"mode": "cubic"}, "cubic' only supports 4-D"),
    ((1, 2, 3, 4), (1, 2, 2, 3), {}, "must end in 2 coordinates"),
    ((2, 2, 3, 4), (1, 2, 2, 2), {}, "has batch 1, x has 2"),
    ((1, 2, 3, 4), (1, 2, 2, 2, 2), {}, "rank"),
    ((1, 2, 0, 4), (1, 2, 2, 2), {}, "empty spatial axis"),
])
def test_bad_shapes_are_refused_naming_the_tensor(x_shape, grid_shape, attrs, message):
    with pytest.raises(Exception, match=message.replace("(", r"\(")):
        _host("fp32", [np.zeros(x_shape, np.float32), np.zeros(grid_shape, np.float32)], attrs)


def test_reference_refuses_cubic_5d():
    with pytest.raises(ValueError, match="cubic"):
        REFERENCE({"x": np.zeros((1, 1, 2, 2, 2)), "grid": np.zeros((1, 1, 1, 1, 3))}, {"mode": "cubic"})


@pytest.mark.parametrize("opset, mode, rank, rewritten", [
    (16, "bilinear", 4, False),   # TensorRT imports 4-D GridSample-16
    (16, "bilinear", 5, True),
    (16, "bicubic", 4, False),
    (20, "linear", 4, True),      # opset 20: not importable by 8.x, not convertible down
    (20, "nearest", 5, True),
    (20, "cubic", 5, False),      # refused: cubic is 4-D only
])
def test_rule_takes_5d_and_opset20_nodes(opset, mode, rank, rewritten):
    from pykit.surgeon.model import PLUGIN_DOMAIN
    from pykit.surgeon.patch import patch_model

    x_shape, grid_shape = ((1, 2, 5, 6), (1, 3, 4, 2)) if rank == 4 else ((1, 2, 3, 5, 6), (1, 2, 3, 4, 3))
    result = patch_model(_model({"mode": mode, "padding_mode": "reflection", "align_corners": 1}, x_shape, grid_shape, opset))
    nodes = [n for n in result.model.graph.node if n.domain == PLUGIN_DOMAIN]
    assert bool(nodes) == rewritten, [c.detail for c in result.changes]
    if nodes:
        got = {a.name: helper.get_attribute_value(a) for a in nodes[0].attribute}
        assert got["mode"].decode() == {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
        assert got["padding_mode"] == b"reflection" and got["align_corners"] == 1
        assert any("proven on" in c.detail for c in result.changes)


@pytest.mark.parametrize("trt", ["8.5", "8.6", "10", "11"])
def test_inspect_flags_5d_and_opset20_modes_before_11_2(trt):
    from pykit.surgeon.inspect import inspect_model

    # opset 20's mode names: refused by the 10/11 tables' reading; 8.x imports them and computes wrong
    # values (the H200 corpus run: docs/validation/corpus/README.md)
    names_kind = "wrong-semantics" if trt.startswith("8") else "rejected"

    def flagged(model, kind="rejected"):
        return [f for f in inspect_model(model, trt).findings if f.op == "GridSample" and f.kind == kind]

    assert flagged(_model({"mode": "bilinear"}, (1, 2, 3, 5, 6), (1, 2, 3, 4, 3), 16))        # 5-D
    assert flagged(_model({}, (1, 2, 5, 6), (1, 3, 4, 2), 20), names_kind)                      # default 'linear'
    assert flagged(_model({"mode": "cubic"}, (1, 2, 5, 6), (1, 3, 4, 2), 20), names_kind)
    assert not flagged(_model({"mode": "bicubic"}, (1, 2, 5, 6), (1, 3, 4, 2), 16))             # native
    assert not flagged(_model({}, (1, 2, 5, 6), (1, 3, 4, 2), 16))                              # default 'bilinear'


def test_corpus_holds_every_gridsample_node_test_and_the_torch_exports():
    names = {e["name"] for e in CORPUS_ENTRIES}
    assert len([n for n in names if n.startswith("onnx_node/test_gridsample")]) == 18
    assert {"voxelmorph_warp2d_bilinear_opset16", "voxelmorph_warp3d_bilinear_opset20"} <= names


@pytest.mark.parametrize("name", [e["name"] for e in CORPUS_ENTRIES])
def test_corpus_patches_for_trt_85_and_matches_stored_outputs(name):
    """`pykit patch --trt 8.5` then `pykit equiv --data`: every GridSample export (opset 16, 20 and
    the node tests' 22) patches, is converted to opset 17, nothing is left flagged, and the patched
    model on the stored inputs matches the stored outputs."""
    from pykit.surgeon.equiv import equivalence, load_stored
    from pykit.surgeon.model import PLUGIN_DOMAIN
    from pykit.surgeon.patch import patch_model

    entry = next(e for e in CORPUS_ENTRIES if e["name"] == name)
    original = onnx.load(str(CORPUS / name / "model.onnx"))
    result = patch_model(original, trt="8.5", force=["GridSample"])  # 4-D opset-16 exports: forced
    assert not result.unpatched, result.unpatched
    assert result.model.opset_import[0].version <= 17 or all(o.domain for o in result.model.opset_import[:1])
    assert any(n.domain == PLUGIN_DOMAIN and n.op_type == "GridSampler" for n in result.model.graph.node)
    feeds, stored = load_stored(original, CORPUS / name / entry["data"])
    (res,) = equivalence(original, result.model, feeds=feeds, stored=stored)  # opset 16's mode names too
    assert res.passed, "\n".join(res.lines())


def test_cubic_border_is_refused_by_the_proof_not_silently_taken():
    """onnxruntime (the proof's runtime) and onnx.reference (the plugin's definition) differ for cubic +
    border near the edges: the rewrite is refused with the proof's reason instead of being kept."""
    from pykit.surgeon.model import PLUGIN_DOMAIN
    from pykit.surgeon.patch import patch_model

    result = patch_model(_model({"mode": "cubic", "padding_mode": "border"}, (1, 2, 5, 6), (1, 3, 4, 2), 20))
    assert not [n for n in result.model.graph.node if n.domain == PLUGIN_DOMAIN]
    assert any(c.action == "skipped" and c.rule == "grid_sampler" for c in result.changes)
