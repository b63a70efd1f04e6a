"""The CPU-checkable parts of the TensorRT validation (pykit.lifecycle, pykit.validate_model); the
engines themselves run on a GPU with TensorRT (scripts/gpu-validate.sh, docs/validation/)."""
import json

import numpy as np
import onnx
import pytest

from pykit import registry
from pykit.lifecycle import _span, shape_group
from pykit.surgeon.models import plugin_models
from pykit.surgeon.patch import patch_model
from pykit.validate_model import (ModelValidationError, compare_scales, engine_feeds, layer_types, parser_bytes,
                                  pykit_scales)

pointpillars_like = plugin_models("PillarScatter").pointpillars_like
scatter_reduce_model = plugin_models("ScatterElementsReduce").scatter_reduce_model


def test_shape_group_shares_attributes_and_ranks_with_distinct_shapes():
    for spec in registry.discover():
        cases = list(registry.entry_point(spec, "cases")(np.random.default_rng(0)))
        group = shape_group(spec, cases)
        assert len(group) >= 2, f"{spec.name}: no two cases can share one engine profile"
        attrs = {repr(sorted(spec.resolve_attributes(c.attrs).items())) for c in group.values()}
        assert len(attrs) == 1
        ranks = {tuple(np.ndim(c.inputs[t.name]) for t in spec.inputs) for c in group.values()}
        assert len(ranks) == 1


def test_profile_span_covers_every_shape():
    span = _span([((3, 4), (1,)), ((7, 2), (1,)), ((0, 9), (1,))])
    assert span == [((0, 2), (7, 9), (7, 9)), ((1,), (1,), (1,))]


def test_layer_types_counts_first_output_types():
    info = {"Layers": [{"Outputs": [{"Format/Datatype": "Row major linear FP32"}]},
                       {"Outputs": [{"Format/Datatype": "Channel major FP16 format where channel % 8 == 0"}]},
                       {"Outputs": [{"Format/Datatype": "Four wide channel vectorized row major Int8 format"}]},
                       {"Outputs": [{"Format/Datatype": "Row major linear Int32"}]}, "a layer name only"]}
    assert layer_types(json.dumps(info)) == {"fp32": 1, "fp16": 1, "int8": 1, "int32": 1}
    assert layer_types("not json") == {"unparsed": 1}


def test_engine_feeds_cast_to_engine_types_and_refuse_overflow():
    feeds = engine_feeds({"i": np.array([1, -2], np.int64), "x": np.ones(2, np.float32)}, {"i": "int32"})
    assert feeds["i"].dtype == np.int32 and feeds["x"].dtype == np.float32
    with pytest.raises(ModelValidationError, match="'i'"):
        engine_feeds({"i": np.array([2**40], np.int64)}, {"i": "int32"})


def test_parser_bytes_caps_ir_version_and_refuses_new_opsets():
    m = scatter_reduce_model()
    m.ir_version = 9
    assert onnx.load_from_string(parser_bytes(m)).ir_version == 8
    m.opset_import[0].version = 18
    with pytest.raises(ModelValidationError, match="opset 18 > 17"):
        parser_bytes(m)


def test_pykit_scales_of_the_patched_model_cover_the_plugin_edges():
    original = pointpillars_like(reduction="none", seed=0)  # the demo's model and forced rewrite
    patched = patch_model(original, trt="8.5", force=["ScatterND"]).model
    from pykit.surgeon.equiv import random_inputs

    batches = [random_inputs(original, 100 + i) for i in range(3)]
    scales = pykit_scales(patched, batches)
    plugin = next(n for n in patched.graph.node if n.op_type == "PillarScatter")
    for name in [plugin.input[0], plugin.output[0], "pillars", "cls"]:
        assert scales.get(name, 0) > 0, name
    # the plugin moves values: its output's amax cannot exceed its input's
    assert scales[plugin.output[0]] <= scales[plugin.input[0]] * (1 + 1e-6)


def test_compare_scales_ratio_only_where_both_have_one():
    rows = {r["tensor"]: r for r in compare_scales({"a": 2.0, "b": 1.0}, {"a": 1.0, "c": 3.0})}
    assert rows["a"]["ratio"] == 2.0 and rows["b"]["ratio"] is None and rows["c"]["ratio"] is None


def test_cli_model_needs_against_and_the_trt_backend(capsys):
    from pykit.cli.__main__ import main

    assert main(["validate", "--backend", "trt", "--model", "x.onnx"]) == 2
    assert "--against" in capsys.readouterr().err
    assert main(["validate", "--model", "x.onnx", "--against", "y.onnx"]) == 2
    assert "--backend trt" in capsys.readouterr().err


def test_actual_precision_reads_each_tensor_against_its_spec_dtype():
    from pykit.backends.trt import actual_precision

    spec = registry.get("PillarScatter")  # features/canvas follow the precision; coords, num_valid int32
    assert actual_precision(spec, "int8", ["int8,int32,int32->int8"]) == "int8"
    assert actual_precision(spec, "fp16", ["fp16,int32,int32->fp16"]) == "fp16"
    assert actual_precision(spec, "fp16", ["fp32,int32,int32->fp32"]) == "mixed(fp32)"  # fp32 in disguise
    assert actual_precision(spec, "int8", ["int8,int32,int32->fp32"]) == "mixed(fp32,int8)"
    assert actual_precision(spec, "fp32", []) == "not run"


@pytest.mark.parametrize("name, gap", [("onnx_node/test_layer_normalization_2d_axis1", True),
                                       ("onnx_node/test_layer_normalization_4d_axis1", False),
                                       ("layernorm_bert_opset17", False)])
def test_int8_rank_gap_names_rank_two_plugin_tensors(name, gap):
    # TensorRT 8.5 has no INT8 format for plugin tensors of rank < 3 (probe_int8_rank.txt): such a
    # plugin runs fp16 inside an int8 engine, and the reason names the node and the tensor
    from pykit.surgeon.equiv import plugin_nodes
    from pykit.validate_model import int8_rank_gaps

    from pathlib import Path
    original = onnx.load(str(Path(__file__).parent / "corpus" / name / "model.onnx"))
    patched = patch_model(original, trt="8.5", force=["LayerNormalization"]).model
    nodes, _ = plugin_nodes(patched)
    assert [s.name for _, s in nodes] and {s.name for _, s in nodes} == {"LayerNorm"}
    gaps = int8_rank_gaps(patched, nodes)
    assert ("LayerNorm" in gaps) == gap
    if gap:
        assert "rank 2" in gaps["LayerNorm"] and "TensorRT 8.5" in gaps["LayerNorm"]


def _scatter_model(indices, reduction=None, opset=18):
    from onnx import TensorProto, helper

    attrs = {"axis": 0} if reduction is None else {"axis": 0, "reduction": reduction}
    node = helper.make_node("ScatterElements", ["data", "idx", "upd"], ["out"], name="scatter", **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("data", TensorProto.FLOAT, [5, 2]),
                                        helper.make_tensor_value_info("idx", TensorProto.INT64, list(indices.shape)),
                                        helper.make_tensor_value_info("upd", TensorProto.FLOAT, list(indices.shape))],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [5, 2])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _duplicate_writes():
    """Update [i, j] lands at (idx[i, j], j): (0, 0) is written by rows 0 and 1 (different values:
    undefined), (1, 1) by rows 0 and 2 with the same value (defined), the rest once."""
    rng = np.random.default_rng(0)
    idx = np.array([[0, 1], [0, 2], [3, 1], [4, 4]], np.int64)
    upd = rng.standard_normal(idx.shape).astype(np.float32)
    upd[0, 1] = upd[2, 1] = 2.5
    return idx, upd, {"data": rng.standard_normal((5, 2)).astype(np.float32), "idx": idx, "upd": upd}


def test_undefined_elements_are_the_duplicate_writes_with_different_values():
    from pykit.validate_model import undefined_elements

    idx, upd, feeds = _duplicate_writes()
    # destinations (row idx[i, j], column j): who writes twice with different values, by brute force
    writes = {}
    for i in range(idx.shape[0]):
        for j in range(idx.shape[1]):
            writes.setdefault((int(idx[i, j]), j), set()).add(float(upd[i, j]))
    want = np.zeros((5, 2), bool)
    for (r, c), values in writes.items():
        want[r, c] = len(values) > 1
    assert want.sum() == 1 and want[0, 0]
    masks = undefined_elements(_scatter_model(idx), feeds)
    np.testing.assert_array_equal(masks["out"], want)
    # unique destinations: nothing undefined; a reduction: defined by ONNX, no mask at all
    unique = np.array([[0, 1], [2, 3]], np.int64)
    f2 = {"data": feeds["data"], "idx": unique, "upd": upd[:2]}
    assert not undefined_elements(_scatter_model(unique), f2)["out"].any()
    assert undefined_elements(_scatter_model(idx, "add"), feeds) is None


def test_int8_emulation_error_is_the_fake_quantized_model_error():
    # y = Relu(x) @ W: the emulation quantizes x and r = Relu(x) per tensor and W per output
    # channel, once each; recomputed here with numerics.fake_quantize_int8
    from onnx import TensorProto, helper, numpy_helper

    from pykit.precision.numerics import fake_quantize_int8
    from pykit.validate_model import int8_allowed, int8_emulation_errors

    rng = np.random.default_rng(1)
    w = rng.standard_normal((8, 3)).astype(np.float32)
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16, 3])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    x = rng.standard_normal((16, 8)).astype(np.float32)
    ref = {"y": np.maximum(x, 0) @ w}
    scales = {"x": float(np.abs(x).max() / 127), "r": float(np.abs(np.maximum(x, 0)).max() / 127)}
    errors = int8_emulation_errors(model, scales, [{"x": x}], [ref])
    s_w = np.abs(w).max(axis=0) / np.float32(127)  # MatMul weight [K, N]: one scale per output column
    wq = (np.clip(np.rint(w / s_w), -127, 127) * s_w).astype(np.float32)
    r = fake_quantize_int8(np.maximum(fake_quantize_int8(x, scales["x"]), 0), scales["r"])
    want = float(np.max(np.abs(r @ wq - ref["y"])))
    assert want > 0 and errors["y"] == pytest.approx(want, rel=1e-5, abs=1e-7)
    assert int8_allowed(errors, [ref])["y"] == pytest.approx(want + 1e-2 * float(np.abs(ref["y"]).max()) + 1e-6)


def test_fp16_emulation_rounds_every_tensor_once():
    from onnx import TensorProto, helper, numpy_helper

    from pykit.validate_model import fp16_emulation_errors

    c = np.array([3.3], np.float32)
    g = helper.make_graph([helper.make_node("Mul", ["x", "c"], ["m"]), helper.make_node("Add", ["m", "x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64])], [numpy_helper.from_array(c, "c")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    x = np.random.default_rng(2).standard_normal(64).astype(np.float32)
    ref = {"y": x * c + x}
    h = lambda v: np.asarray(v, np.float32).astype(np.float16).astype(np.float32)
    xh = h(x)
    want = float(np.max(np.abs(h(h(xh * h(c)) + xh) - ref["y"])))
    assert want > 0 and fp16_emulation_errors(model, [{"x": x}], [ref])["y"] == pytest.approx(want, abs=1e-7)


def test_reference_of_a_custom_domain_original_matches_its_stored_outputs():
    # mmcv's MMCVModulatedDeformConv2d: no onnxruntime kernel; the original runs on onnx.reference
    # with the semantics DeformConv2d's rules.py registers, and reproduces what mmcv computed
    from pathlib import Path

    from pykit.surgeon.equiv import load_stored
    from pykit.validate_model import _onnxruntime

    folder = Path(__file__).parent / "corpus" / "mmcv_modulated_deform_conv2d_opset11"
    original = onnx.load(str(folder / "model.onnx"))
    feeds, expected = load_stored(original, folder / "data.npz")
    got = _onnxruntime(original, feeds)
    for name, want in expected.items():
        np.testing.assert_allclose(got[name], want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))


def test_qdq_emulation_is_the_q_dq_model_run_as_fake_quantization():
    # an explicitly quantized model's error model: its own Q/DQ nodes, evaluated on CPU; checked
    # against onnxruntime's fake-quantization session of the same model (a separate evaluator)
    from onnx import TensorProto, helper, numpy_helper

    from pykit.precision.qdq import fake_quant_session, insert_qdq
    from pykit.validate_model import qdq_emulation_errors

    rng = np.random.default_rng(3)
    w = rng.standard_normal((8, 4)).astype(np.float32)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Relu", ["m"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [32, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [32, 4])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    x = rng.standard_normal((32, 8)).astype(np.float32)
    ref = {"y": np.maximum(x @ w, 0)}
    qdq = insert_qdq(model, {"x": float(np.abs(x).max() / 127), "m": float(np.abs(ref["y"]).max() / 127)},
                     weights="per_channel")
    (want,) = fake_quant_session(qdq).run(["y"], {"x": x})
    errors = qdq_emulation_errors(qdq, [{"x": x}], [ref])
    assert errors["y"] > 0
    assert errors["y"] == pytest.approx(float(np.max(np.abs(want - ref["y"]))), rel=1e-4, abs=1e-6)


def test_a_fused_qdq_model_is_emulated_as_its_plugin_computes_it():
    # Q -> LayerNorm(int8) -> DQ (what `calibrate --qdq` writes) means the same as Q/DQ pairs around a
    # float LayerNorm; fed raw int8 codes, the plugin reference would be off by more than the data
    from pathlib import Path

    from pykit.precision.qdq import insert_qdq
    from pykit.surgeon.equiv import load_stored
    from pykit.validate_model import _onnxruntime, pykit_scales, qdq_emulation_errors

    folder = Path(__file__).parent / "corpus" / "layernorm_bert_opset17"
    original = onnx.load(str(folder / "model.onnx"))
    feeds, _ = load_stored(original, folder / "data.npz")
    patched = patch_model(original, trt="8.5").model
    scales = pykit_scales(patched, [feeds])
    ref = [_onnxruntime(original, feeds)]
    fused = qdq_emulation_errors(insert_qdq(patched, scales, plugins="fused"), [feeds], ref)
    pairs = qdq_emulation_errors(insert_qdq(patched, scales, plugins="pairs"), [feeds], ref)
    assert fused["output"] == pytest.approx(pairs["output"], rel=1e-5, abs=1e-6)
    assert 0 < fused["output"] < 0.1 * float(np.abs(ref[0]["output"]).max())


def test_a_bound_that_wide_or_outputs_mostly_undefined_are_not_a_pass():
    from pykit.validate_model import VACUOUS, _check_outputs, int8_tensors

    ref = [{"y": np.array([1.0, -2.0, 0.5, 0.0], np.float32)}]
    zeros = [{"y": np.zeros(4, np.float32)}]
    (wide,) = _check_outputs(zeros, ref, 1e-4, None, {"y": VACUOUS * 2.0})
    assert not wide.passed and "checks nothing" in wide.note
    (tight,) = _check_outputs(ref, ref, 1e-4, None, {"y": 0.01})
    assert tight.passed and not tight.note
    # a wide bound, but an error within the a-priori one (rtol x max|O| + ATOL = 2e-4): checked, PASS
    near = [{"y": ref[0]["y"] + np.float32(1e-4)}]
    (met,) = _check_outputs(near, ref, 1e-4, None, {"y": VACUOUS * 2.0})
    assert met.passed and not met.note
    off = [{"y": ref[0]["y"] + np.float32(1e-3)}]  # within the wide bound, not the a-priori one
    (wide_only,) = _check_outputs(off, ref, 1e-4, None, {"y": VACUOUS * 2.0})
    assert not wide_only.passed and "checks nothing" in wide_only.note
    # nearest sampling through a rounded grid: the emulation picks the neighbour at element 1; an
    # engine that does the same, element by element, is checked by the a-priori bound and passes ...
    emulated = [{"y": np.array([1.0, 0.5, 0.5, 0.0], np.float32)}]
    bound = {"y": 2.5 + 1e-4 * 2.0 + 1e-6}  # the emulation's max error + the a-priori bound: >= half of max|O|
    (flipped,) = _check_outputs(emulated, ref, 1e-4, None, bound, alternatives=emulated)
    assert flipped.passed and not flipped.note and flipped.nearer_err == 0.0 and flipped.max_abs_err == 2.5
    # ... one that flips where the emulation did not matches neither reference there: no check, no PASS
    elsewhere = [{"y": np.array([0.5, -2.0, 0.5, 0.0], np.float32)}]
    (wrong,) = _check_outputs(elsewhere, ref, 1e-4, None, bound, alternatives=emulated)
    assert not wrong.passed and "checks nothing" in wrong.note and wrong.nearer_err == 0.5
    mask = [{"y": np.array([True, True, True, False])}]
    (masked,) = _check_outputs(zeros, ref, 1e-4, mask)
    assert not masked.passed and "only 1 of 4 elements" in masked.note and masked.undefined == 3
    # the engine's int8 tensors from its inspector (runner.cpp's ':plugin' suffix stripped)
    layers = json.dumps({"Layers": [{"Outputs": [{"Name": "a", "Format/Datatype": "Row major linear Int8"}]},
                                    {"Outputs": [{"Name": "b:plugin", "Format/Datatype": "Int8 format"}]},
                                    {"Outputs": [{"Name": "c", "Format/Datatype": "Row major linear FP32"}]}]})
    assert int8_tensors(layers) == {"a", "b"} and int8_tensors("not json") is None


def test_undefined_elements_are_checked_against_the_write_orders_outcomes():
    # (0, 0) is written by rows 0 and 1 (different values): an engine may hold either, nothing else
    from pykit.validate_model import _check_outputs, order_candidates, undefined_elements

    idx, upd, feeds = _duplicate_writes()
    model = _scatter_model(idx)
    mask = undefined_elements(model, feeds)
    cands = order_candidates(model, feeds, mask)
    assert set(np.unique(cands["out"][:, 0, 0])) == {upd[0, 0], upd[1, 0]}
    from onnx.reference import ReferenceEvaluator

    from pykit.surgeon.equiv import onnx_gap_ops
    (ref,) = ReferenceEvaluator(model, new_ops=onnx_gap_ops()).run(None, feeds)
    for landed in (upd[0, 0], upd[1, 0]):  # either order is right
        got = ref.copy()
        got[0, 0] = landed
        (check,) = _check_outputs([{"out": got}], [{"out": ref}], 1e-4, [mask], None, [cands])
        assert check.passed and check.undefined == 1 and check.orders_checked
    wrong = ref.copy()
    wrong[0, 0] = upd[0, 0] + upd[1, 0]  # their sum is no order's outcome
    (check,) = _check_outputs([{"out": wrong}], [{"out": ref}], 1e-4, [mask], None, [cands])
    assert not check.passed
    # mostly undefined: without candidates no check, with them a real one
    most = {"out": np.ones((5, 2), bool)}
    (blind,) = _check_outputs([{"out": ref}], [{"out": ref}], 1e-4, [most])
    assert not blind.passed and "not checked" in blind.note and not blind.orders_checked
