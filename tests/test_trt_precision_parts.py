"""The CPU-checkable parts of the TensorRT precision path (issues #11 item 6, #13 items 3-4): per-plugin
precision in mixed engines, int8 ranges for constants, independent int8 builds, stored data in
whole-model validation (with a fake _trt that runs the patched model on the CPU), the typed mode's
bookkeeping, and the Q -> plugin -> DQ form that `pykit calibrate --qdq` writes. The engines
themselves run on the GPU (scripts/gpu-precision.sh)."""
import json
import pickle
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from pykit import registry
from pykit.precision.cache import format_cache, read_cache
from pykit.precision.qdq import compute_tensors, insert_qdq, qdq_ops, unfuse_plugin_qdq
from pykit.surgeon.equiv import _State, load_stored, plugin_nodes, plugin_ops, random_inputs
from pykit.surgeon.model import PLUGIN_DOMAIN, load_model
from pykit.surgeon.models import plugin_models
from pykit.surgeon.patch import patch_model
from pykit import validate_model as vm

CORPUS = Path(__file__).parent / "corpus"
pointpillars_like = plugin_models("PillarScatter").pointpillars_like
scatter_reduce_model = plugin_models("ScatterElementsReduce").scatter_reduce_model


@pytest.fixture(scope="module")
def pillars():
    original = pointpillars_like(reduction="none", seed=0)
    return original, patch_model(original, trt="8.5", force=["ScatterND"]).model


@pytest.fixture(scope="module")
def layernorm():
    """A corpus nn.LayerNorm export (opset 17): scale and bias are initializers."""
    original = load_model(CORPUS / "layernorm_bert_opset17" / "model.onnx", check=False)
    return original, patch_model(original, trt="8.5").model


def run_cpu(model, feeds):
    """A (Q/DQ) patched model on onnx's evaluator, plugins by their fp32 references."""
    from onnx.reference import ReferenceEvaluator

    model = unfuse_plugin_qdq(model)
    nodes, _ = plugin_nodes(model)
    ops = plugin_ops({s.name: s for _, s in nodes}.values(), _State("fp32", "reference")) + qdq_ops()
    return dict(zip([o.name for o in model.graph.output], ReferenceEvaluator(model, new_ops=ops).run(None, feeds)))


# ---- mixed precision and constant ranges ----------------------------------------------------------
def test_each_plugin_runs_at_the_best_precision_its_spec_offers_not_above_the_asked_one():
    ser, ln = registry.get("ScatterElementsReduce"), registry.get("LayerNorm")
    assert "int8" not in ser.precisions
    assert vm.plugin_precision(ser, "int8") == "fp16"
    assert vm.plugin_precision(ser, "fp16") == "fp16" and vm.plugin_precision(ser, "fp32") == "fp32"
    assert vm.plugin_precision(ln, "int8") == "int8"

    class Fp16Only:
        name, precisions = "Fp16Only", ("fp16",)

    with pytest.raises(vm.ModelValidationError, match="Fp16Only.*nothing at or below fp32"):
        vm.plugin_precision(Fp16Only, "fp32")


def test_constant_ranges_cover_initializers_and_constant_nodes(layernorm):
    _, patched = layernorm
    ranges = vm.constant_ranges(patched)
    plugin = next(n for n in patched.graph.node if n.op_type == "LayerNorm")
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in patched.graph.initializer}
    for name in plugin.input[1:]:  # scale, bias: initializers (or Constant nodes) of the export
        assert name in ranges, name
        if name in inits:
            want = float(np.abs(inits[name]).max()) or 1.0
            assert ranges[name] == pytest.approx(want, rel=1e-6)
    zeros = h.make_model(h.make_graph([h.make_node("Constant", [], ["z"], value=h.make_tensor("v", T.FLOAT, [2], [0, 0])),
                                       h.make_node("Identity", ["z"], ["y"])], "g", [],
                                      [h.make_tensor_value_info("y", T.FLOAT, [2])],
                                      initializer=[h.make_tensor("i", T.INT64, [1], [3])]))
    assert vm.constant_ranges(zeros) == {"z": 1.0}  # all-zero: any range holds it; int64 left out


# ---- whole-model validation with a fake _trt (CPU) ------------------------------------------------
class FakeTrt:
    """pykit._trt's surface as validate_model uses it: an 'engine' is the patched model run on the CPU
    (plugins by their references) and its enqueue record says each plugin ran at the precision forced."""

    SHORT = {"float32": "fp32", "float16": "fp16", "int8": "int8", "int32": "int32"}

    def __init__(self, patched, fail=()):
        self.patched, self.fail, self.calls, self.record = patched, set(fail), [], {}
        outer = self

        class Builder:
            def build_onnx(self, model, precision, ranges, inputs=(), workspace=0, force_plugins=True,
                           calibration=(), plugin_precisions=None):
                kind = "calibrator" if calibration else "ranges" if ranges else "plain"
                if calibration:  # the calibrator build gets the constants' ranges only
                    assert set(ranges) <= set(vm.constant_ranges(outer.patched)), sorted(ranges)
                outer.calls.append({"precision": precision, "kind": kind, "ranges": dict(ranges),
                                    "plugin_precisions": dict(plugin_precisions or {}), "batches": len(calibration)})
                if (precision, kind) in outer.fail:
                    raise RuntimeError(f"TensorRT could not build the engine\n  ERROR: fake {kind} failure")
                self.ranges = ranges
                return pickle.dumps((precision, dict(plugin_precisions or {})))

            def calibration_cache(self):
                return format_cache({"out": 0.05, "(Unnamed Layer* 3) [Constant]_output": 0.01}).encode()

            def int8_ranges(self):
                return {"set": [{"tensor": k, "from": k, "amax": v} for k, v in self.ranges.items()], "missing": []}

        class Engine:
            def __init__(self, plan):
                self.precision, self.targets = pickle.loads(plan)

            def io(self):
                return [{"name": i.name, "input": True,
                         "dtype": "int32" if i.type.tensor_type.elem_type == T.INT64 else "float32"}
                        for i in outer.patched.graph.input]

            def run(self, feeds, profile=0):
                for node, spec in plugin_nodes(outer.patched)[0]:
                    p = self.targets.get(spec.name, self.precision)
                    types = [self.SHORT[t.dtype(p)] for t in spec.inputs], [self.SHORT[t.dtype(p)] for t in spec.outputs]
                    outer.record.setdefault(spec.name, []).append(",".join(types[0]) + "->" + ",".join(types[1]))
                fed = {k: (v.astype(np.int64) if v.dtype == np.int32 else v) for k, v in feeds.items()}
                return run_cpu(outer.patched, fed)

            SHORT = FakeTrt.SHORT

            def layers(self):
                return "{}"

            def latency(self, feeds, profile, warmup, iterations):
                return {"gpu_ms": [1.0, 3.0, 2.0], "host_ms": [4.0]}

        self.builder, self.Engine = Builder(), Engine

    def install(self, monkeypatch):
        from pykit.backends import trt

        monkeypatch.setattr(trt, "plugin_library", lambda spec=None: None)
        monkeypatch.setattr(trt, "trt_module", lambda: self)
        monkeypatch.setattr(trt, "builder", lambda: self.builder)
        monkeypatch.setattr(trt, "clear_enqueue_record", lambda spec=None: self.record.clear())
        monkeypatch.setattr(trt, "enqueue_record", lambda spec=None: {k: list(v) for k, v in self.record.items()})
        return self


@pytest.fixture(scope="module")
def scatter_add(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ser")
    original = scatter_reduce_model()
    patched = patch_model(original, trt="8.5").model
    onnx.save(original, folder / "o.onnx")
    onnx.save(patched, folder / "p.onnx")
    return folder / "o.onnx", folder / "p.onnx", patched


def test_a_plugin_without_int8_runs_fp16_inside_the_int8_engines(scatter_add, monkeypatch):
    original, patched_path, patched = scatter_add
    fake = FakeTrt(patched).install(monkeypatch)
    report = vm.validate_model(patched_path, original, ("int8",), inputs=1, calibration_batches=2, log=lambda *_: None)
    assert [c["plugin_precisions"] for c in fake.calls] == [{"ScatterElementsReduce": "fp16"}] * 2
    assert report["plugin_precisions"] == {"int8": {"ScatterElementsReduce": "fp16"}}
    for e in report["engines"]:
        assert e["plugins_ran"] == {"ScatterElementsReduce": "fp16"}, e
        assert e["passed"], e["message"]
    assert report["engines"][0]["gpu_ms"] == 2.0  # the median


def test_int8_builds_are_independent_and_each_failure_is_reported(scatter_add, monkeypatch):
    original, patched_path, patched = scatter_add
    fake = FakeTrt(patched, fail={("int8", "ranges")}).install(monkeypatch)
    report = vm.validate_model(patched_path, original, ("int8",), inputs=1, calibration_batches=2, log=lambda *_: None)
    variants = {e["variant"]: e for e in report["engines"]}
    assert "fake ranges failure" in variants["int8 (pykit cache)"]["message"]
    assert variants["int8 (TensorRT calibrator)"]["passed"]
    assert [c["kind"] for c in fake.calls] == ["ranges", "calibrator"]
    assert not report["passed"]

    fake = FakeTrt(patched, fail={("int8", "calibrator")}).install(monkeypatch)
    report = vm.validate_model(patched_path, original, ("int8",), inputs=1, calibration_batches=2, log=lambda *_: None)
    variants = {e["variant"]: e for e in report["engines"]}
    assert variants["int8 (pykit cache)"]["passed"] and not variants["int8 (TensorRT calibrator)"]["passed"]
    assert "fake calibrator failure" in variants["int8 (TensorRT calibrator)"]["message"]


def test_the_pykit_build_gets_ranges_for_the_plugins_constant_inputs(layernorm, tmp_path, monkeypatch):
    original, patched = layernorm
    onnx.save(original, tmp_path / "o.onnx")
    onnx.save(patched, tmp_path / "p.onnx")
    feeds, expected = load_stored(original, CORPUS / "layernorm_bert_opset17" / "data.npz")
    fake = FakeTrt(patched).install(monkeypatch)
    report = vm.validate_model(tmp_path / "p.onnx", tmp_path / "o.onnx", ("int8",), feeds=[feeds],
                               expected=[expected], log=lambda *_: None)
    plugin = next(n for n in patched.graph.node if n.op_type == "LayerNorm")
    ranges = next(c for c in fake.calls if c["kind"] == "ranges")["ranges"]
    for name in plugin.input:  # x, scale, bias: activations and constants alike
        assert ranges.get(name, 0) > 0, name
    assert report["stored_expected"] and all(e["stored"] for e in report["engines"])
    md = vm.markdown(report, {"gpu": "fake"}, "pykit validate ...")
    assert "vs stored" in md and "INT8 ranges given to TensorRT" in md


def test_stored_expected_outputs_are_compared_and_a_wrong_one_fails(layernorm, tmp_path, monkeypatch):
    original, patched = layernorm
    onnx.save(original, tmp_path / "o.onnx")
    onnx.save(patched, tmp_path / "p.onnx")
    feeds, expected = load_stored(original, CORPUS / "layernorm_bert_opset17" / "data.npz")
    wrong = {k: v + 1.0 for k, v in expected.items()}
    FakeTrt(patched).install(monkeypatch)
    report = vm.validate_model(tmp_path / "p.onnx", tmp_path / "o.onnx", ("fp32",), feeds=[feeds], expected=[wrong],
                               latency=False, log=lambda *_: None)
    (engine,) = report["engines"]
    assert engine["outputs"][0]["passed"] and not engine["stored"][0]["passed"]  # onnxruntime agrees, the data not
    assert "vs stored" in engine["message"] and engine["gpu_ms"] is None
    with pytest.raises(vm.ModelValidationError, match="one expected dict per feed"):
        vm.validate_model(tmp_path / "p.onnx", tmp_path / "o.onnx", ("fp32",), expected=[expected])


def test_stored_outputs_of_another_shape_never_broadcast():
    assert vm._max_err(np.zeros((2, 3)), np.zeros((3,))) == float("inf")
    assert vm._max_err(np.zeros(0), np.zeros(0)) == 0.0


# ---- typed mode bookkeeping -----------------------------------------------------------------------
def test_typed_backend_feeds_dequantized_int8_and_fp16_by_form():
    from pykit.validate_typed import TypedBackend

    spec = registry.get("PillarScatter")
    q = np.array([[-127, 0, 5]], np.int8)
    coords = np.zeros((1, 4), np.int32)
    feeds = TypedBackend("fused").feeds(spec, "int8", [q, coords, np.int32(1)], [0.5, 1.0, 1.0])
    assert feeds["pillar_features"].dtype == np.float32 and np.array_equal(feeds["pillar_features"], q * np.float32(0.5))
    assert feeds["coords"].dtype == np.int32
    assert TypedBackend("io").input_dtype("float16") == "float16"
    assert TypedBackend("cast").input_dtype("float16") == "float32"
    assert TypedBackend("fused").scales(spec, "int8", [0.5, 1, 1], [0.25]) == {"pillar_features": 0.5, "canvas": 0.25}


def test_typed_refusal_is_recorded_once_and_retried_with_the_flag():
    from pykit.validate_typed import markdown, run_typed_validation

    built = []

    class Backend:
        def __init__(self, form, flags):
            self.form, self.flags, self.layers = form, flags, json.dumps(
                {"Layers": [{"Name": "q", "LayerType": "Quantize", "Outputs": [{"Format/Datatype": "Int8"}]}]})

        def run(self, spec, precision, inputs, attrs, in_scales, out_scales):
            built.append((precision, self.form, self.flags))
            if precision == "int8" and not self.flags:
                raise RuntimeError("TensorRT could not build the engine\n  ERROR: fake: Q/DQ needs kINT8")
            from pykit.backends.host import HostBackend

            return HostBackend().run(spec, precision, inputs, attrs, in_scales, out_scales)

    spec = registry.get("PillarScatter")
    rows = run_typed_validation([spec], ("int8",), max_cases=2, backend_of=Backend)
    by = {(r["form"], r["flags"]): r for r in rows}
    assert by[("fused", "none")]["result"] == "REFUSED" and "needs kINT8" in by[("fused", "none")]["detail"]
    assert by[("fused", "int8")]["result"] == "PASS" and by[("fused", "int8")]["cases"] == 2
    assert "Quantize" in by[("fused", "int8")]["layers"]
    assert built.count(("int8", "fused", ())) == 1  # refused at the first case: the rest not tried
    md = markdown(rows, {"gpu": "fake"}, "pykit validate --backend trt --typed")
    assert "REFUSED" in md and "needs kINT8" in md


def test_parse_onnx_names_the_nodes_of_8_5s_errors(monkeypatch):
    from pykit.backends import trt

    class Module:
        @staticmethod
        def parse_onnx(data):
            return {"parsed": False, "layers": 0, "log": [], "errors": [
                {"node": 1, "node_name": None, "op_type": None, "code": 8, "code_name": "kUNSUPPORTED_NODE",
                 "description": "No importer registered for op: Scatter", "file": "", "line": 0, "function": ""},
                {"node": -1, "node_name": None, "op_type": None, "code": 5, "code_name": "kINVALID_GRAPH",
                 "description": "x", "file": "", "line": 0, "function": ""}]}

    monkeypatch.setattr(trt, "plugin_library", lambda spec=None: None)
    monkeypatch.setattr(trt, "trt_module", lambda: Module)
    result = trt.parse_onnx(scatter_reduce_model())
    assert (result["errors"][0]["node_name"], result["errors"][0]["op_type"]) == ("relu", "Relu")
    assert result["errors"][1]["node_name"] is None


# ---- Q -> plugin -> DQ (calibrate --qdq) ----------------------------------------------------------
def test_fused_form_puts_q_before_and_dq_after_each_int8_plugin_tensor(pillars):
    original, patched = pillars
    scales = vm.pykit_scales(patched, [random_inputs(original, 100 + i) for i in range(3)])
    q = insert_qdq(patched, {k: v for k, v in scales.items() if k in compute_tensors(patched)})
    onnx.checker.check_model(q)
    producer = {o: n for n in q.graph.node for o in n.output}
    plugin = next(n for n in q.graph.node if n.domain == PLUGIN_DOMAIN)
    spec = registry.get(plugin.op_type)
    for t, name in zip(spec.inputs, plugin.input):
        kind = producer[name].op_type if name in producer else "graph input"
        if t.dtype("int8") == "int8":
            assert kind == "QuantizeLinear", name
        else:  # int32 coords / counts pass untouched
            assert kind not in ("QuantizeLinear", "DequantizeLinear"), name
    (out,) = plugin.output
    readers = [n for n in q.graph.node if out in n.input]
    assert [n.op_type for n in readers] == ["DequantizeLinear"]
    assert readers[0].output[0] == patched.graph.node[[n.domain for n in patched.graph.node].index(PLUGIN_DOMAIN)].output[0]
    # the fused model computes what the original does, within int8's error (validate_model's rtol)
    feeds = random_inputs(original, 7)
    ref, got = vm._onnxruntime(original, feeds), run_cpu(q, feeds)
    for name in ref:
        assert np.max(np.abs(got[name] - ref[name])) <= vm.RTOL["int8"] * np.max(np.abs(ref[name])), name


def test_fused_form_quantizes_a_plugins_initializers_and_pairs_form_leaves_plugins_float(layernorm):
    original, patched = layernorm
    feeds, _ = load_stored(original, CORPUS / "layernorm_bert_opset17" / "data.npz")
    scales = vm.pykit_scales(patched, [feeds])
    plugin = next(n for n in patched.graph.node if n.op_type == "LayerNorm")
    chosen = {k: v for k, v in scales.items() if k in (plugin.input[0], plugin.output[0])}
    fused = insert_qdq(patched, chosen)
    producer = {o: n for n in fused.graph.node for o in n.output}
    node = next(n for n in fused.graph.node if n.op_type == "LayerNorm")
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in fused.graph.initializer}
    for k, name in enumerate(node.input):
        q = producer[name]
        assert q.op_type == "QuantizeLinear", name
        if k and q.input[0] in inits:  # scale/bias: Q of the initializer at max|w|/127 (1/127 if all zero)
            amax = float(np.abs(inits[q.input[0]]).max())
            assert float(inits[q.input[1]]) == pytest.approx((amax or 1.0) / 127, rel=1e-6)
    ref, got = vm._onnxruntime(original, feeds), run_cpu(fused, feeds)
    for name in ref:
        assert np.max(np.abs(got[name] - ref[name])) <= vm.RTOL["int8"] * np.max(np.abs(ref[name])), name
    pairs = insert_qdq(patched, chosen, plugins="pairs")
    producer = {o: n for n in pairs.graph.node for o in n.output}
    node = next(n for n in pairs.graph.node if n.op_type == "LayerNorm")
    assert producer[node.input[0]].op_type == "DequantizeLinear"
    assert [n.op_type for n in pairs.graph.node if node.output[0] in n.input] == ["QuantizeLinear"]


def test_fused_form_refuses_a_plugin_tensor_without_a_scale(pillars):
    _, patched = pillars
    plugin = next(n for n in patched.graph.node if n.domain == PLUGIN_DOMAIN)
    with pytest.raises(KeyError, match=f"{plugin.op_type}.*{plugin.output[0]}.*no scale"):
        insert_qdq(patched, {plugin.input[0]: 0.1})


def test_qdq_ops_match_onnxruntime_rounding_and_saturation():
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    x = np.array([-300, -127.5, -0.5, 0.5, 1.5, 2.5, 126.5, 300], np.float32)
    g = h.make_graph([h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]), h.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
                     "g", [h.make_tensor_value_info("x", T.FLOAT, [8])],
                     [h.make_tensor_value_info("q", T.INT8, [8]), h.make_tensor_value_info("y", T.FLOAT, [8])],
                     initializer=[h.make_tensor("s", T.FLOAT, [], [1.0]), h.make_tensor("z", T.INT8, [], [0])])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    got = ReferenceEvaluator(m, new_ops=qdq_ops()).run(None, {"x": x})
    assert all(np.array_equal(a, b) for a, b in zip(got, want))


def test_calibrate_from_a_tensorrt_cache_writes_its_scales_into_the_fused_form(pillars, tmp_path, capsys):
    from pykit.cli import calibrate as calibrate_cli

    original, patched = pillars
    plugin = next(n for n in patched.graph.node if n.domain == PLUGIN_DOMAIN)
    chosen = {plugin.input[0]: 0.0123, plugin.output[0]: 0.0456, "(Unnamed Layer* 7) [Constant]_output": 0.5}
    (tmp_path / "trt.cache").write_text(format_cache(chosen, "EntropyCalibration2", "8503"))
    onnx.save(patched, tmp_path / "p.onnx")
    assert calibrate_cli.main([str(tmp_path / "p.onnx"), "--from-cache", str(tmp_path / "trt.cache"),
                               "--qdq", str(tmp_path / "q.onnx"), "--qdq-scope", "compute"]) == 0
    assert "left out: (Unnamed Layer* 7) [Constant]_output" in capsys.readouterr().out
    q = onnx.load(tmp_path / "q.onnx")
    onnx.checker.check_model(q)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in q.graph.initializer}
    node = next(n for n in q.graph.node if n.domain == PLUGIN_DOMAIN)
    producer = {o: n for n in q.graph.node for o in n.output}
    reader = next(n for n in q.graph.node if node.output[0] in n.input)
    cache = read_cache(tmp_path / "trt.cache").scales
    assert float(inits[producer[node.input[0]].input[1]]) == np.float32(cache[plugin.input[0]])
    assert float(inits[reader.input[1]]) == np.float32(cache[plugin.output[0]])
    # refusals: both sources, or a cache without --qdq
    assert calibrate_cli.main([str(tmp_path / "p.onnx"), "--from-cache", str(tmp_path / "trt.cache")]) == 2
    assert "--qdq" in capsys.readouterr().err


def test_explicit_q_dq_model_is_built_without_then_with_the_int8_flag_and_judged_on_the_flagged_build(
        pillars, tmp_path, monkeypatch):
    original, patched = pillars
    scales = vm.pykit_scales(patched, [random_inputs(original, 100 + i) for i in range(2)])
    q = insert_qdq(patched, {k: v for k, v in scales.items() if k in compute_tensors(patched)})
    onnx.save(original, tmp_path / "o.onnx")
    onnx.save(q, tmp_path / "q.onnx")
    fake = FakeTrt(unfuse_plugin_qdq(q), fail={("fp32", "plain")}).install(monkeypatch)
    # rtol 0.25: the demo's int8 error on seed 0's input is ~10% of max|ref| (entropy calibration
    # clips its tail; docs/validation/model-pointpillars: 0.2 of 0.204 allowed); this test is about the builds
    report = vm.validate_model(tmp_path / "q.onnx", tmp_path / "o.onnx", explicit=True, inputs=1, latency=False,
                               rtol={"int8": 0.25}, log=lambda *_: None)
    assert [(c["precision"], c["kind"], c["plugin_precisions"]) for c in fake.calls] == [("fp32", "plain", {}),
                                                                                         ("int8", "plain", {})]
    first, second = report["engines"]
    assert "no kINT8 flag" in first["variant"] and "fake plain failure" in first["message"]
    assert second["plugins_ran"] == {"PillarScatter": "int8"} and second["passed"], second["message"]
    assert report["passed"]  # the flagless attempt is a measurement, outside the verdict


def test_typed_needs_the_trt_backend(capsys):
    from pykit.cli.__main__ import main

    assert main(["validate", "--typed"]) == 2
    assert "--backend trt" in capsys.readouterr().err


def test_typed_report_shows_todays_result_next_to_each_row(tmp_path):
    from pykit.validate_typed import markdown

    row = {"plugin": "LayerNorm", "precision": "int8", "form": "fused", "flags": "int8", "cases": 2, "ran": "int8",
           "max_abs_err": 0.01, "layers": "", "result": "PASS", "detail": ""}
    (tmp_path / "results.json").write_text(json.dumps({"summary": [
        {"plugin": "LayerNorm", "precision": "int8", "actual_precision": "int8", "passed": False}]}))
    assert "FAIL (ran int8)" in markdown([row], {}, "cmd", tmp_path / "results.json")
    assert "(not found)" in markdown([row], {}, "cmd", tmp_path / "missing.json")


def test_typed_cli_writes_its_report_row_by_row_and_fails_only_on_a_wrong_answer(tmp_path, monkeypatch, capsys):
    import pykit.backends as backends
    import pykit.validate_typed as typed
    from pykit.cli import validate as cli

    row = {"plugin": "LayerNorm", "precision": "int8", "form": "fused", "flags": "none", "cases": 0, "ran": "-",
           "max_abs_err": float("nan"), "layers": "", "result": "REFUSED", "detail": "RuntimeError: fake"}
    seen = []

    def fake_run(specs, precisions, seed=0, max_cases=None, on_row=None):
        rows = [dict(row)]
        on_row(rows)
        seen.append(json.loads((tmp_path / "typed.json").read_text())["rows"])
        rows.append(dict(row, flags="int8", result=result))
        on_row(rows)
        return rows

    monkeypatch.setattr(backends, "get_backend", lambda name: object())
    monkeypatch.setattr(cli, "environment", lambda backend: {"gpu": "fake"})
    monkeypatch.setattr(typed, "run_typed_validation", fake_run)
    argv = ["--backend", "trt", "--typed", "--plugin", "LayerNorm", "--report", str(tmp_path)]
    for result, rc in (("PASS", 0), ("FAIL", 1)):
        parser = __import__("argparse").ArgumentParser()
        cli.add_arguments(parser)
        assert cli.run(parser.parse_args(argv)) == rc
        assert len(seen[-1]) == 1  # the first row was on disk before the second ran
        assert f"| {result} |" in (tmp_path / "typed.md").read_text()


def test_int8_ranges_leave_out_tensors_whose_amax_is_not_finite():
    # a scatter max/min canvas filled with -inf calibrates to an infinite amax; float32 overflow of
    # scale * 127 too: TensorRT's setDynamicRange refuses both, so those tensors get no range
    from pykit.validate_model import finite_ranges

    got = finite_ranges({"ok": 0.5, "inf": float("inf"), "huge": 3.0e38, "zero": 0.0})
    assert set(got) == {"ok"} and got["ok"] == pytest.approx(63.5)
