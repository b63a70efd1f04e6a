"""LayerNorm's own semantics: known values, epsilon and constant rows, the axis, int8 rounding,
attribute and shape errors, and the rewrite rules proved equivalent to onnxruntime on the CPU
(pykit equiv) at fp32/fp16/int8. What every plugin must satisfy (host and TensorRT vs the reference
at every precision and case, compiled tables, serialization, bad calls) is tests/test_conformance.py.
"""
import numpy as np
import onnx
import pytest
from onnx import helper

from pykit import registry

SPEC = registry.get('LayerNorm')
CASES = {c.name: c for c in registry.entry_point(SPEC, "cases")(np.random.default_rng(0))}


def _onnx_model():
    """One LayerNormalization node over the inputs of the 'bert_rows_768' case."""
    case = CASES["bert_rows_768"]
    domain = "" if onnx.defs.has('LayerNormalization') else "pykit.example"
    kinds = {"float32": onnx.TensorProto.FLOAT, "int32": onnx.TensorProto.INT32}
    inputs = [helper.make_tensor_value_info(t.name, kinds[t.dtype("fp32")], list(np.shape(case.inputs[t.name])))
              for t in SPEC.inputs]
    shape = list(np.shape(case.inputs['x']))  # TODO: the real output shapes
    outputs = [helper.make_tensor_value_info(t.name, onnx.TensorProto.FLOAT, shape) for t in SPEC.outputs]
    attrs = {k: v for k, v in case.attrs.items()}
    node = helper.make_node('LayerNormalization', [t.name for t in SPEC.inputs], [t.name for t in SPEC.outputs],
                            name="anchor", domain=domain, **attrs)
    graph = helper.make_graph([node], "g", inputs, outputs)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def test_rule_rewrites_the_anchor_op_into_a_plugin_node():
    from pykit.surgeon.lint import lint_model
    from pykit.surgeon.model import PLUGIN_DOMAIN
    from pykit.surgeon.patch import patch_model

    result = patch_model(_onnx_model())
    nodes = [n for n in result.model.graph.node if n.domain == PLUGIN_DOMAIN]
    assert [n.op_type for n in nodes] == [SPEC.name] and len(result.model.graph.node) == 1
    got = {a.name: helper.get_attribute_value(a) for a in nodes[0].attribute}
    assert got.pop("plugin_version") == SPEC.version.encode() and got.pop("plugin_namespace") == SPEC.namespace.encode()
    want = SPEC.resolve_attributes(CASES["bert_rows_768"].attrs)
    assert want.pop("int8_scales") == [] and "int8_scales" not in got  # calibrate --qdq writes it, not the rule
    assert set(got) == set(want)
    errors, checked = lint_model(result.model)
    assert checked == 1 and not errors, errors


# ---- filled in after generation ------------------------------------------------------------------


def run_host(host, x, scale, bias, precision="fp32", **attrs):
    attrs = SPEC.resolve_attributes(attrs)
    scales = ([1.0, 1.0, 1.0], [1.0]) if precision == "int8" else ([], [])
    return host.run("LayerNorm", [x, scale, bias], attrs, precision, *scales)[0]


def test_known_values(host):
    """By hand: row [1, 2, 3, 4]: mean 2.5, var 1.25; eps 0; y = (x - 2.5)/sqrt(1.25) * 2 + 1."""
    x = np.array([[[1, 2, 3, 4]]], np.float32)
    y = run_host(host, x, np.full(4, 2, np.float32), np.ones(4, np.float32), epsilon=0.0)
    want = np.array([-1.5, -0.5, 0.5, 1.5]) / np.sqrt(1.25) * 2 + 1
    np.testing.assert_allclose(y.reshape(-1), want, rtol=1e-6)


def test_epsilon_and_constant_rows(host):
    """Variance 0: y = bias exactly; variance 1e-6 with eps 1e-5: the scale is 1/sqrt(1.1e-5)."""
    x = np.full((2, 1, 8), 3.0, np.float32)
    bias = np.linspace(-1, 1, 8).astype(np.float32)
    assert np.array_equal(run_host(host, x, np.ones(8, np.float32), bias), np.broadcast_to(bias, x.shape))
    x = np.array([[[-1e-3, 1e-3] * 4]], np.float32)
    y = run_host(host, x, np.ones(8, np.float32), np.zeros(8, np.float32), epsilon=1e-5)
    np.testing.assert_allclose(y.reshape(-1), x.reshape(-1) / np.sqrt(1e-6 + np.float32(1e-5)), rtol=1e-5)


def test_axis_picks_the_normalized_dims(host, rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    y = run_host(host, x, np.ones((3, 4), np.float32), np.zeros((3, 4), np.float32), axis=1)
    flat = x.reshape(2, 12).astype(np.float64)
    want = (flat - flat.mean(1, keepdims=True)) / np.sqrt(flat.var(1, keepdims=True) + np.float32(1e-5))
    np.testing.assert_allclose(y.reshape(2, 12), want, rtol=1e-5, atol=1e-6)


def test_int8_rounds_to_the_output_scale(host):
    """s_x = 1/64: x = [-1, 1]; xhat = [-1, 1] (eps 0); y = xhat * 1 + 0 at s_y = 1/100 -> [-100, 100]."""
    out = host.run("LayerNorm", [np.array([[[-64, 64]]], np.int8), np.array([1, 1], np.int8), np.array([0, 0], np.int8)],
                   SPEC.resolve_attributes({"epsilon": 0.0}), "int8", [1 / 64, 1.0, 1.0], [0.01])[0]
    assert out.dtype == np.int8 and out.reshape(-1).tolist() == [-100, 100]


def _int8_formula(q, gq, bq, eps, s_x, s_scale, s_bias, s_y):
    """spec.toml's int8 arithmetic (layer_norm_core.h: int8_row) in numpy fp32, one row. An fma
    is the float64 sum rounded once to fp32: q * a and t * q_scale have <= 32 significant bits, so
    with the fp32 addend the sum is exact in float64 when the magnitudes are within 2^21 of each
    other, as in these rows."""
    f = np.float32
    n = q.size
    sum_q, sum_q2 = int(q.astype(np.int64).sum()), int((q.astype(np.int64) ** 2).sum())
    mean_q = f(sum_q) / f(n)
    var_q = f(n * sum_q2 - sum_q * sum_q) / f(n) / f(n)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        rstd_q = f(1) / np.sqrt(var_q + f(eps) / f(s_x) / f(s_x))
        inv_y = f(1) / f(s_y)
        a = rstd_q * (f(s_scale) * inv_y)
        c = -mean_q * a
        k = f(s_bias) * inv_y
        t = (q.astype(np.float64) * np.float64(a) + np.float64(c)).astype(f)
        z = (t.astype(np.float64) * gq + (bq.astype(f) * k).astype(np.float64)).astype(f)
    return np.where(np.isnan(z), 0, np.clip(np.rint(z), -127, 127)).astype(np.int8)


@pytest.mark.parametrize("row", ["random", "offset", "two_values", "constant_eps0", "constant"])
def test_int8_is_the_specs_integer_formula(host, row):
    """The int8 path's statistics are exact integer sums (spec.toml: error model): the host gives
    exactly the formula's bytes, edge rows named (a constant row with eps 0: NaN -> 0)."""
    rng = np.random.default_rng(7)
    n = 4100
    q = {"random": rng.integers(-128, 128, n), "offset": rng.integers(120, 128, n),
         "two_values": np.where(np.arange(n) == 5, 126, 127), "constant_eps0": np.full(n, -37),
         "constant": np.full(n, 90)}[row].astype(np.int8)
    gq, bq = rng.integers(-127, 128, n).astype(np.int8), rng.integers(-127, 128, n).astype(np.int8)
    eps = 0.0 if row == "constant_eps0" else 1e-5
    scales = [0.03, 1 / 64, 1 / 128]
    out = host.run("LayerNorm", [q.reshape(1, 1, n), gq, bq], SPEC.resolve_attributes({"epsilon": eps}), "int8",
                   scales, [0.05])[0].reshape(-1)
    want = _int8_formula(q, gq, bq, eps, *scales, 0.05)
    assert np.array_equal(out, want), np.flatnonzero(out != want)[:10]
    if row == "constant_eps0":
        assert not out.any()


@pytest.mark.parametrize("attrs, inputs, message", [
    ({"axis": 3}, ((2, 3, 4), (4,), (4,)), "'axis' = 3 is outside"),
    ({"axis": -1}, ((2, 3, 4), (3,), (4,)), "input 'scale' must have shape"),
    ({"axis": -2}, ((2, 3, 4), (3, 4), (4,)), "input 'bias' must have shape"),
    ({"axis": -1}, ((2, 3, 4), (2, 4), (4,)), "input 'scale' must have shape"),
])
def test_bad_shapes_and_axis_are_named(host, attrs, inputs, message):
    arrays = [np.zeros(s, np.float32) for s in inputs]
    with pytest.raises(ValueError, match=message):
        host.run("LayerNorm", arrays, SPEC.resolve_attributes(attrs), "fp32", [], [])


def test_stash_type_other_than_float_is_refused(host):
    with pytest.raises(ValueError, match="stash_type"):
        host.run("LayerNorm", [np.zeros((1, 1, 4), np.float32), np.ones(4, np.float32), np.zeros(4, np.float32)],
                 {"stash_type": 10}, "fp32", [], [])


# ---- rewrite rules, proved on the CPU ----------------------------------------------------------------

def _ln_model(shape=(2, 8, 64), axis=-1, with_bias=True, opset=17):
    rng = np.random.default_rng(5)
    a = axis + len(shape) if axis < 0 else axis
    inits = [onnx.numpy_helper.from_array(rng.uniform(0.5, 1.5, shape[a:]).astype(np.float32), "gamma")]
    ins = ["x", "gamma"]
    if with_bias:
        inits.append(onnx.numpy_helper.from_array(rng.uniform(-0.5, 0.5, shape[a:]).astype(np.float32), "beta"))
        ins.append("beta")
    node = helper.make_node("LayerNormalization", ins, ["y"], name="ln", axis=axis, epsilon=1e-5)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, list(shape))], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _decomposed_model(shape=(2, 8, 64), axes=(-1,), affine=True, opset=13):
    """What torch.onnx emitted for nn.LayerNorm before opset 17."""
    rng = np.random.default_rng(6)
    norm = shape[len(shape) - len(axes):]
    inits = [onnx.numpy_helper.from_array(np.array(2.0, np.float32), "two"),
             onnx.numpy_helper.from_array(np.array(1e-5, np.float32), "eps")]
    nodes = [helper.make_node("ReduceMean", ["x"], ["mean"], name="rm1", axes=list(axes)),
             helper.make_node("Sub", ["x", "mean"], ["d"], name="sub"),
             helper.make_node("Pow", ["d", "two"], ["sq"], name="pow"),
             helper.make_node("ReduceMean", ["sq"], ["var"], name="rm2", axes=list(axes)),
             helper.make_node("Add", ["var", "eps"], ["ve"], name="add_eps"),
             helper.make_node("Sqrt", ["ve"], ["std"], name="sqrt"),
             helper.make_node("Div", ["d", "std"], ["n" if affine else "y"], name="div")]
    if affine:
        inits += [onnx.numpy_helper.from_array(rng.uniform(0.5, 1.5, norm).astype(np.float32), "gamma"),
                  onnx.numpy_helper.from_array(rng.uniform(-0.5, 0.5, norm).astype(np.float32), "beta")]
        nodes += [helper.make_node("Mul", ["n", "gamma"], ["m"], name="mul"),
                  helper.make_node("Add", ["m", "beta"], ["y"], name="add_beta")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, list(shape))], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _plugin_nodes(model):
    return [n for n in model.graph.node if n.op_type == "LayerNorm"]


@pytest.mark.parametrize("backend", ["reference", "host"])
@pytest.mark.parametrize("model", [
    pytest.param(lambda: _ln_model(), id="LayerNormalization"),
    pytest.param(lambda: _ln_model((2, 4, 6, 8), axis=-2, with_bias=False), id="LayerNormalization_axis-2_no_bias"),
    pytest.param(lambda: _decomposed_model(), id="decomposed"),
    pytest.param(lambda: _decomposed_model((2, 4, 6, 8), axes=(2, 3)), id="decomposed_two_axes"),
    pytest.param(lambda: _decomposed_model(affine=False), id="decomposed_no_affine"),
])
def test_rewrite_is_equivalent_on_the_cpu(model, backend):
    from pykit.surgeon.equiv import equivalence
    from pykit.surgeon.patch import patch_model

    original = model()
    patched = patch_model(original, trt="8.5").model
    assert len(_plugin_nodes(patched)) == 1 and len(patched.graph.node) == 1, [n.op_type for n in patched.graph.node]
    assert patched.opset_import[0].version <= 17 and patched.ir_version <= 8
    results = equivalence(original, patched, ["fp32", "fp16", "int8"], backend=backend, seed=2)
    assert [r.verdict for r in results] == ["PASS"] * 3, ["\n".join(r.lines()) for r in results]


def test_equivalence_check_catches_a_wrong_epsilon():
    from pykit.surgeon.equiv import equivalence
    from pykit.surgeon.patch import patch_model

    original = _decomposed_model(shape=(2, 4, 16))
    original.graph.initializer[1].CopyFrom(onnx.numpy_helper.from_array(np.array(0.5, np.float32), "eps"))
    patched = patch_model(original).model
    for a in _plugin_nodes(patched)[0].attribute:
        if a.name == "epsilon":
            a.f = 1e-5  # sabotage: the plugin node no longer computes what the original does
    assert equivalence(original, patched, ["fp32"], seed=2)[0].verdict == "FAIL"


def test_rules_leave_what_they_cannot_take():
    from pykit.surgeon.patch import patch_model

    m = _ln_model()
    m.graph.node[0].attribute.append(helper.make_attribute("stash_type", 10))
    res = patch_model(m)
    assert not _plugin_nodes(res.model) and any("stash_type=10" in c.detail for c in res.changes)
    m = _decomposed_model()
    m.graph.node[2].input[1] = "eps"  # Pow(d, eps): not a variance
    res = patch_model(m)
    assert not _plugin_nodes(res.model) and any("Pow exponent" in c.detail for c in res.changes)
