"""DeformConv: tests of what this plugin does, beyond what every plugin is held to.

tests/test_conformance.py holds every plugin, on every backend, to its spec: the spec loads, the
compiled field and IO tables are the spec's, attributes survive serialization and bad buffers are
refused, the kernels match the numpy reference at every precision and case within the spec's
tolerance, bad inputs are refused naming the culprit, a bench case exists. Not repeated here.

TODO(deform_conv): replace the placeholder checks below with tests of what your op promises,
independent of the reference: known values computed by hand, edge cases, the errors your host.cpp
raises for bad shapes (they name the tensor), attributes that change the result.
"""
import numpy as np
import onnx
import pytest
from onnx import helper

from pykit import registry
from pykit.backends.host import host_for

SPEC = registry.get('DeformConv')
CASES = {c.name: c for c in registry.entry_point(SPEC, "cases")(np.random.default_rng(0))}
SOURCE = 0  # input 'x', which the placeholder copies
NUMPY_DTYPES = {"float32": np.float32, "float16": np.float16, "int8": np.int8, "int32": np.int32}


def _run(precision: str, case: str):
    """The host kernels on a case's inputs, cast to the precision's dtypes: (inputs, outputs)."""
    inputs = [np.asarray(CASES[case].inputs[t.name]).astype(NUMPY_DTYPES[t.dtype(precision)]) for t in SPEC.inputs]
    attrs = SPEC.resolve_attributes(CASES[case].attrs)
    return inputs, host_for(SPEC).run(SPEC.name, inputs, attrs, precision, [], [])


@pytest.mark.parametrize("precision", [p for p in SPEC.precisions if p != "int8"])
def test_placeholder_copies_its_source(precision):
    """TODO(deform_conv): the placeholder's promise; replace with known values of the real op."""
    inputs, outputs = _run(precision, "extremes")
    assert len(outputs) == len(SPEC.outputs)
    for tensor, out in zip(SPEC.outputs, outputs):
        assert out.dtype == inputs[SOURCE].dtype and np.array_equal(out, inputs[SOURCE]), tensor.name


@pytest.mark.skipif("int8" not in SPEC.precisions, reason="the spec offers no int8")
def test_placeholder_requantizes_int8_to_the_output_scale():
    """TODO(deform_conv): the placeholder's int8 promise, q_out = clamp(rint(q_in * s_in / s_out), -127, 127);
    replace with the real op's int8 behaviour."""
    q = np.arange(-127, 128, dtype=np.int8).reshape(1, 5, 51)
    inputs = [q.astype(NUMPY_DTYPES[t.dtype("int8")]) for t in SPEC.inputs]
    s_in, s_out = 0.5, 0.25  # every output value doubles its input, and saturates
    attrs = SPEC.resolve_attributes(CASES["random"].attrs)
    outputs = host_for(SPEC).run(SPEC.name, inputs, attrs, "int8", [s_in] * len(SPEC.inputs), [s_out] * len(SPEC.outputs))
    want = np.clip(np.rint(q.astype(np.float64) * s_in / s_out), -127, 127).astype(np.int8)
    for tensor, out in zip(SPEC.outputs, outputs):
        assert np.array_equal(out, want), tensor.name


def _onnx_model():
    """One DeformConv node over the inputs of the 'random' case, with its attributes."""
    case = CASES["random"]
    domain = "" if onnx.defs.has('DeformConv') else "pykit.example"
    kind = {"int32": onnx.TensorProto.INT32}  # else float
    inputs = [helper.make_tensor_value_info(t.name, kind.get(t.dtype(SPEC.precisions[0]), onnx.TensorProto.FLOAT),
                                            list(np.shape(case.inputs[t.name]))) for t in SPEC.inputs]
    shape = list(np.shape(case.inputs[SPEC.inputs[SOURCE].name]))  # TODO: the real output shapes
    outputs = [helper.make_tensor_value_info(t.name, onnx.TensorProto.FLOAT, shape) for t in SPEC.outputs]
    node = helper.make_node('DeformConv', [t.name for t in SPEC.inputs], [t.name for t in SPEC.outputs],
                            name="anchor", domain=domain)
    node.attribute.extend(helper.make_attribute(k, v) for k, v in case.attrs.items())  # any names, arrays too
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
    want = SPEC.resolve_attributes(CASES["random"].attrs)
    assert set(got) == set(want)
    for a in SPEC.attributes:  # the values, arrays included, as the spec resolves them
        value = got[a.name].decode() if a.type == "string" else got[a.name]
        assert np.allclose(value, want[a.name], rtol=1e-7) if a.type != "string" else value == want[a.name], a.name
    errors, checked = lint_model(result.model)
    assert checked == 1 and not errors, errors
