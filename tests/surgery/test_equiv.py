import numpy as np
import onnx
import onnx.numpy_helper
import pytest
from surgery_helpers import host_has

from pykit.surgeon.equiv import equivalence, parse_input_spec, random_inputs
from pykit.surgeon.model import SurgeryError
from pykit.surgeon.models import plugin_models
from pykit.surgeon.patch import patch_model

pointpillars_like = plugin_models("PillarScatter").pointpillars_like
scatter_reduce_model = plugin_models("ScatterElementsReduce").scatter_reduce_model

PP = pointpillars_like(reduction="none")  # what exporters write; TensorRT 8.5 imports it, so the rewrite is forced
PP_PATCHED = patch_model(PP, trt="8.5", force=["ScatterND"]).model


def test_inputs_are_seeded_and_valid():
    a, b, c = random_inputs(PP, 3), random_inputs(PP, 3), random_inputs(PP, 4)
    assert all(np.array_equal(a[k], b[k]) for k in a) and not np.array_equal(a["pillars"], c["pillars"])
    coords = a["coords"]
    assert coords.dtype == np.int32 and len({tuple(r) for r in coords}) == len(coords)  # unique cells
    assert coords[:, 2].max() < 24 and coords[:, 3].max() < 32 and coords.min() >= 0
    assert parse_input_spec("x=uniform:-2:2") == ("x", {"kind": "uniform", "low": -2.0, "high": 2.0})
    with pytest.raises(SurgeryError):
        parse_input_spec("x=gauss")


@pytest.mark.parametrize("backend", ["reference", "host"])
def test_pointpillars_equivalent_at_every_precision(backend):
    if backend == "host" and not host_has("PillarScatter"):
        pytest.skip("pykit._host has no PillarScatter kernel in this build")
    results = equivalence(PP, PP_PATCHED, ["fp32", "fp16", "int8"], backend=backend, seed=1)
    assert [r.verdict for r in results] == ["PASS"] * 3
    for r in results:
        assert all(c.max_err == 0.0 for c in r.cuts)  # data movement: bit-identical at the cut
        assert all(o.max_rewrite == 0.0 and o.rewrite_check == "exact" for o in r.outputs)
    assert all(o.max_runtime_gap <= o.runtime_bound for o in results[0].outputs)


def _sabotage(m, attr, value):
    m = onnx.ModelProto.FromString(m.SerializeToString())
    node = next(n for n in m.graph.node if n.domain == "trt.plugins")
    for a in node.attribute:
        if a.name == attr:
            a.CopyFrom(onnx.helper.make_attribute(attr, value))
    return m


def test_a_wrong_rewrite_fails():
    wrong = _sabotage(PP_PATCHED, "nx", 24)  # canvas width changed: shapes disagree
    r = equivalence(PP, wrong, ["fp32"])[0]
    assert r.verdict == "FAIL" and r.cuts[0].max_err == float("inf")
    # num_valid = P/2: half the pillars dropped, same shapes
    wrong = onnx.ModelProto.FromString(PP_PATCHED.SerializeToString())
    node = next(n for n in wrong.graph.node if n.domain == "trt.plugins")
    init = next(i for i in wrong.graph.initializer if i.name == node.input[2])
    init.CopyFrom(onnx.numpy_helper.from_array(np.array([128], np.int32), init.name))
    r = equivalence(PP, wrong, ["fp32"])[0]
    assert r.verdict == "FAIL" and not r.cuts[0].passed and all(o.max_rewrite > 0 for o in r.outputs)
    se = scatter_reduce_model(reduction="add")
    wrong = _sabotage(patch_model(se).model, "reduction", "max")
    r = equivalence(se, wrong, ["fp32"])[0]
    assert r.verdict == "FAIL" and not r.cuts[0].passed and r.cuts[0].worst_fraction > 1


@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
def test_scatter_elements_reduce_equivalent(reduction):
    m = scatter_reduce_model(reduction=reduction, opset=18, axis=1, shape=(4, 6), updates_shape=(4, 8))
    results = equivalence(m, patch_model(m, trt="8.5").model, ["fp32", "fp16", "int8"], seed=2)
    assert [r.verdict for r in results] == ["PASS", "PASS", "SKIP"]  # the plugin has no int8


def test_scatter_elements_reduce_host_backend():
    if not host_has("ScatterElementsReduce"):
        pytest.skip("pykit._host has no ScatterElementsReduce kernel in this build (the lead rebuilds it)")
    m = scatter_reduce_model()
    assert all(r.passed for r in equivalence(m, patch_model(m).model, ["fp32", "fp16"], backend="host"))


def test_unpatched_model_is_refused():
    with pytest.raises(SurgeryError, match="no plugin nodes"):
        equivalence(PP, PP, ["fp32"])


def test_the_reference_evaluator_runs_opset10_exports_as_onnxruntime_does():
    # torch's opset-10 exports hold Scatter (no onnx.reference kernel) and BatchNormalization with a
    # momentum attribute (onnx.reference's opset-9 kernel then mixes in the batch's own statistics);
    # pykit's evaluator gets both right: it must agree with onnxruntime
    import onnxruntime as ort
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx.reference import ReferenceEvaluator

    from pykit.surgeon.equiv import onnx_gap_ops

    rng = np.random.default_rng(10)
    C = 4
    inits = [onnx.numpy_helper.from_array(a.astype(np.float32), n) for n, a in
             (("scale", rng.uniform(0.5, 1.5, C)), ("bias", rng.normal(0, 0.1, C)), ("mean", rng.normal(0, 1, C)),
              ("var", rng.uniform(0.5, 2, C)), ("zeros", np.zeros((2, 6))))]
    nodes = [h.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["bn"], epsilon=1e-3, momentum=0.99),
             h.make_node("Scatter", ["zeros", "idx", "bn"], ["out"], axis=1)]
    graph = h.make_graph(nodes, "opset10", [h.make_tensor_value_info("x", T.FLOAT, [2, C]),
                                            h.make_tensor_value_info("idx", T.INT64, [2, C])],
                         [h.make_tensor_value_info("out", T.FLOAT, [2, 6])], inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 10)], ir_version=5)
    feeds = {"x": rng.normal(2, 3, (2, C)).astype(np.float32), "idx": np.array([[5, 0, 2, 3], [1, 5, 0, 2]])}
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    got = ReferenceEvaluator(model, new_ops=onnx_gap_ops()).run(None, feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert np.count_nonzero(got[0, [1, 4]]) == 0 and np.count_nonzero(got[1, [3, 4]]) == 0  # unnamed cells stay 0
