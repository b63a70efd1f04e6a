"""The int8_scales attribute (issue #13, items 3-4): every plugin whose spec offers int8 carries the Q/DQ
scales of its int8 tensors in its own fields, because TensorRT 8.5 hands a plugin between Q and DQ
the scale 1.0 for every int8 tensor (measured on the H200). Here: the spec and the compiled header
have it (and only int8 plugins), bad values are refused naming plugin and attribute (Python and the
C++ parser), the host backend computes with it, `insert_qdq`'s fused form writes the Q/DQ nodes'
scales into it, and the typed validator's fused form passes it and judges the scales the plugin
computed with. The TensorRT glue's side (the V2/V3 bases on TensorRT 8.5/10/11 headers) is
tests/glue/test_glue_native.py."""
from __future__ import annotations

import math

import numpy as np
import onnx
import pytest

from pykit import codegen, registry
from pykit.backends.host import HostBackend, has_host_kernel
from pykit.spec import INT8_SCALES, SpecError, load_spec

SPECS = registry.discover()
INT8_SPECS = [s for s in SPECS if "int8" in s.precisions]
FLOAT_SPECS = [s for s in SPECS if "int8" not in s.precisions]


def _needs_host(*names):
    missing = [n for n in names if not has_host_kernel(registry.get(n))]
    if missing:
        pytest.skip(f"no host kernel for {missing} (pip install -e .)")


def test_the_plugins_include_both_kinds():
    assert INT8_SPECS and FLOAT_SPECS, ([s.name for s in INT8_SPECS], [s.name for s in FLOAT_SPECS])
    assert "ScatterElementsReduce" in [s.name for s in FLOAT_SPECS]


@pytest.mark.parametrize("spec", INT8_SPECS, ids=lambda s: s.name)
def test_an_int8_plugin_has_int8_scales_last_in_int8_tensor_order(spec):
    attr = spec.attributes[-1]
    assert (attr.name, attr.type, attr.required, attr.default) == (INT8_SCALES, "float32[]", False, [])
    want = [t.name for t in spec.inputs if t.dtype("int8") == "int8"] + \
           [t.name for t in spec.outputs if t.dtype("int8") == "int8"]
    assert spec.int8_tensors == want and want
    assert ", ".join(want) in attr.doc
    header = codegen.render(spec)
    names = [t.name for t in spec.inputs + spec.outputs]
    positions = ", ".join(str(names.index(n)) for n in want)
    assert f"kNumInt8Scales = {len(want)};" in header
    assert f"kInt8ScalePositions[kNumInt8Scales] = {{{positions}}};" in header
    assert "std::vector<float> int8_scales{};" in header


@pytest.mark.parametrize("spec", FLOAT_SPECS, ids=lambda s: s.name)
def test_a_float_only_plugin_has_no_int8_scales(spec):
    assert INT8_SCALES not in [a.name for a in spec.attributes] and spec.int8_tensors == []
    header = codegen.render(spec)
    assert "kNumInt8Scales = 0;" in header and "int8_scales{" not in header
    with pytest.raises(SpecError, match=f"{spec.name}: unknown attribute.*'{INT8_SCALES}'"):
        spec.resolve_attributes({INT8_SCALES: [1.0]})


def test_pillar_scatter_positions_skip_its_int32_inputs():
    spec = registry.get("PillarScatter")
    assert spec.int8_tensors == ["pillar_features", "canvas"]
    n_in = len(spec.inputs)
    assert f"kInt8ScalePositions[kNumInt8Scales] = {{0, {n_in}}};" in codegen.render(spec)


@pytest.mark.parametrize("value, message", [
    ([0.5, 0.5, 0.5], "3 value\\(s\\); expected none \\(TensorRT's scales\\) or 4, one per int8 tensor \\(x, scale, bias, y\\)"),
    ([0.5, 0.5, 0.5, 0.0], "the scale of 'y' is 0.0; scales must be finite and > 0"),
    ([0.5, -0.25, 0.5, 0.5], "the scale of 'scale' is -0.25"),
    ([0.5, 0.5, math.nan, 0.5], "nan is not finite"),
    ([0.5, 0.5, 0.5, math.inf], "inf is not finite"),
    (0.5, "expected a list of float32"),
])
def test_bad_int8_scales_are_refused_naming_plugin_and_attribute(value, message):
    spec = registry.get("LayerNorm")
    with pytest.raises(SpecError, match=f"LayerNorm: attribute 'int8_scales': {message}"):
        spec.resolve_attributes({INT8_SCALES: value})


def test_absent_or_empty_int8_scales_resolve_to_empty_and_a_full_list_to_floats():
    spec = registry.get("LayerNorm")
    assert spec.resolve_attributes({})[INT8_SCALES] == []
    assert spec.resolve_attributes({INT8_SCALES: []})[INT8_SCALES] == []
    assert spec.resolve_attributes({INT8_SCALES: [1, 0.5, 0.25, 2]})[INT8_SCALES] == [1.0, 0.5, 0.25, 2.0]


def test_a_spec_may_not_declare_int8_scales_itself(tmp_path):
    folder = tmp_path / "thing"
    folder.mkdir()
    (folder / "spec.toml").write_text("""
name = "Thing"
version = "1"
precisions = ["fp32", "int8"]
[[inputs]]
name = "x"
rank = 1
dtype = { fp32 = "float32", int8 = "int8" }
[[outputs]]
name = "y"
rank = 1
dtype = { fp32 = "float32", int8 = "int8" }
[[attributes]]
name = "int8_scales"
type = "float32[]"
default = []
[tolerance.fp32]
rel = 1e-6
why = "one rounding"
[tolerance.int8]
steps = 0.5
why = "rounding to nearest"
""")
    with pytest.raises(SpecError, match="attribute 'int8_scales': 'int8_scales' is reserved"):
        load_spec(folder / "spec.toml")


# ---- the C++ parser (common/fields.h, what TensorRT's creators and deserialization run) -----------
@pytest.mark.parametrize("value, message", [
    ([0.5, 0.5], "LayerNorm: attribute 'int8_scales': 2 value\\(s\\); expected none \\(the runtime's scales\\) or 4, "
                 "one per int8 tensor \\(x, scale, bias, y\\)"),
    ([0.5, 0.5, 0.0, 0.5], "LayerNorm: attribute 'int8_scales': the scale of 'bias' is 0; scales must be finite and > 0"),
    ([0.5, 0.5, 0.5, -1.0], "LayerNorm: attribute 'int8_scales': the scale of 'y' is -1"),
    ([0.5, math.inf, 0.5, 0.5], "LayerNorm: attribute 'int8_scales': value is not finite"),
])
def test_the_native_parser_refuses_bad_int8_scales(host, value, message):
    with pytest.raises(ValueError, match=message):
        host.serialize_attrs("LayerNorm", {INT8_SCALES: value})


def test_int8_scales_round_trip_and_a_zero_in_a_buffer_is_refused(host):
    import struct

    scales = [0.5, 0.25, 0.125, 2.0]
    blob = host.serialize_attrs("LayerNorm", {INT8_SCALES: scales})
    assert host.deserialize_attrs("LayerNorm", blob)[INT8_SCALES] == scales
    bad = bytearray(blob)
    bad[-4:] = struct.pack("<f", 0.0)  # the last field's last float: y's scale
    with pytest.raises(ValueError, match="LayerNorm: attribute 'int8_scales': the scale of 'y' is 0"):
        host.deserialize_attrs("LayerNorm", bytes(bad))


# ---- the host backend computes with the attribute, as the TensorRT bases do ----------------------
@pytest.mark.parametrize("plugin", ["LayerNorm", "GridSampler", "PillarScatter"])
def test_host_int8_uses_the_attributes_scales_over_the_callers(plugin):
    _needs_host(plugin)
    spec = registry.get(plugin)
    rng = np.random.default_rng(5)
    case = next(c for c in registry.entry_point(spec, "cases")(rng)  # one whose ranks int8 allows
                if all(np.ndim(c.inputs[t.name]) in t.ranks_at("int8") for t in spec.inputs))
    attrs = spec.resolve_attributes(case.attrs)
    inputs = []
    for t in spec.inputs:
        x = np.asarray(case.inputs[t.name])
        inputs.append(rng.integers(-100, 101, size=x.shape).astype(np.int8) if t.dtype("int8") == "int8"
                      else x.astype(t.dtype("int8")))
    int8 = [t.dtype("int8") == "int8" for t in spec.inputs + spec.outputs]
    right = [float(np.float32(0.013 * (k + 2))) for k in range(len(int8))]  # distinct, so order matters
    carried = [s for s, q in zip(right, int8) if q]
    n = len(spec.inputs)
    host = HostBackend()
    want = host.run(spec, "int8", inputs, attrs, right[:n], right[n:]).outputs
    lost = host.run(spec, "int8", inputs, attrs, [1.0] * n, [1.0] * len(spec.outputs)).outputs
    got = host.run(spec, "int8", inputs, {**attrs, INT8_SCALES: carried}, [1.0] * n, [1.0] * len(spec.outputs)).outputs
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)
    if plugin != "PillarScatter":  # a byte copy: s_in/s_out = 1 either way
        assert any(not np.array_equal(w, x) for w, x in zip(want, lost)), "the case does not depend on the scales"


# ---- calibrate --qdq: the fused form writes the Q/DQ scales into the attribute ---------------------
def _scale_of(model, node_name_output: str, kind: str) -> float:
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    node = next(n for n in model.graph.node if n.op_type == kind and node_name_output in
                (n.output if kind == "QuantizeLinear" else n.input))
    return float(inits[node.input[1]])


def _int8_scales_attr(node) -> list[float] | None:
    for a in node.attribute:
        if a.name == INT8_SCALES:
            return list(a.floats)
    return None


def test_insert_qdq_fused_writes_each_plugins_q_dq_scales_in_spec_order():
    from pathlib import Path

    from pykit.precision.qdq import insert_qdq
    from pykit.surgeon.model import PLUGIN_DOMAIN, load_model
    from pykit.surgeon.patch import patch_model

    corpus = Path(__file__).resolve().parent / "corpus" / "layernorm_bert_opset17" / "model.onnx"
    if not corpus.is_file():
        pytest.skip(f"{corpus} is not in this checkout")
    patched = patch_model(load_model(corpus, check=False), trt="8.5").model
    plugin = next(n for n in patched.graph.node if n.op_type == "LayerNorm")
    assert _int8_scales_attr(plugin) is None  # patch writes no empty list (ONNX cannot type one)
    scales = {plugin.input[0]: 0.0317, plugin.output[0]: 0.0421}
    fused = insert_qdq(patched, scales)
    onnx.checker.check_model(fused)
    node = next(n for n in fused.graph.node if n.op_type == "LayerNorm")
    spec = registry.get("LayerNorm")
    carried = _int8_scales_attr(node)
    # the scales of the Q nodes feeding each int8 input, then of the DQ reading each int8 output
    want = [_scale_of(fused, name, "QuantizeLinear") for name in node.input] + \
           [_scale_of(fused, name, "DequantizeLinear") for name in node.output]
    assert carried == pytest.approx(want, rel=0, abs=0) and len(carried) == len(spec.int8_tensors)
    assert carried[0] == pytest.approx(0.0317, rel=1e-7) and carried[-1] == pytest.approx(0.0421, rel=1e-7)
    assert spec.resolve_attributes({INT8_SCALES: carried})[INT8_SCALES] == carried  # valid as written
    pairs = insert_qdq(patched, scales, plugins="pairs")
    assert _int8_scales_attr(next(n for n in pairs.graph.node if n.op_type == "LayerNorm")) is None
    assert all(n.domain != PLUGIN_DOMAIN or _int8_scales_attr(n) is None for n in pairs.graph.node)


def test_insert_qdq_fused_pillar_scatter_carries_features_and_canvas_scales():
    from pykit.precision.qdq import insert_qdq
    from pykit.surgeon.models import plugin_models
    from pykit.surgeon.patch import patch_model

    original = plugin_models("PillarScatter").pointpillars_like(reduction="none", seed=0)
    patched = patch_model(original, trt="8.5", force=["ScatterND"]).model
    plugin = next(n for n in patched.graph.node if n.op_type == "PillarScatter")
    features, canvas = plugin.input[0], plugin.output[0]
    fused = insert_qdq(patched, {features: 0.0123, canvas: 0.0456})
    node = next(n for n in fused.graph.node if n.op_type == "PillarScatter")
    assert _int8_scales_attr(node) == [_scale_of(fused, node.input[0], "QuantizeLinear"),
                                       _scale_of(fused, node.output[0], "DequantizeLinear")]
    assert _int8_scales_attr(node) == pytest.approx([0.0123, 0.0456], rel=1e-7)


# ---- the typed validator: TensorRT 8.5's lost scales, carried by the attribute -------------------
def test_scale_check_judges_the_attributes_scales_when_carried():
    from pykit.validate_typed import scale_check

    spec = registry.get("LayerNorm")
    given = [0.0236, 0.0157, 0.0157, 0.0455]

    def entry(where, scales):
        return f"{where}: {','.join(f'{s:.9g}' for s in scales[:3])}->{scales[3]:.9g}"

    lost, used = entry("enqueue", [1.0] * 4), entry("enqueue int8_scales", given)
    ok, said = scale_check(spec, given, [lost, used], carried=True)
    assert ok and "enqueue saw x=1" in said and "enqueue int8_scales computed with x=0.0236" in said
    ok, said = scale_check(spec, given, [lost], carried=True)  # the attribute given, never applied
    assert not ok and "no int8 enqueue recorded with the int8_scales attribute applied" in said
    ok, _ = scale_check(spec, given, [lost, entry("enqueue int8_scales", [1.0] * 4)], carried=True)
    assert not ok
    ok, _ = scale_check(spec, given, [lost, used])  # not carried: TensorRT's scales are judged
    assert not ok


@pytest.mark.parametrize("plugin", ["LayerNorm", "GridSampler", "PillarScatter"])
def test_fused_form_passes_with_tensorrt_85s_scale_one_when_the_attribute_carries_the_scales(plugin):
    """TensorRT 8.5 as measured (desc.scale = 1 for every int8 tensor), the plugin computing as the
    bases do (the attribute's scales over desc.scale: the host backend implements the same rule)."""
    from pykit.validate_typed import TypedBackend, run_typed_validation

    _needs_host(plugin)
    built = []

    class TensorRT85(TypedBackend):
        def build(self, spec, precision, attrs, profiles, input_scales, output_scales):  # what build() would pass
            carried = self.carried_scales(spec, precision, input_scales, output_scales)
            built.append(carried)
            return {**attrs, INT8_SCALES: carried} if carried else attrs

        def run(self, spec, precision, inputs, attrs, input_scales, output_scales):
            attrs = self.engine(spec, precision, inputs, attrs, input_scales, output_scales)
            self.scales_given = self.given_scales(spec, precision, input_scales, output_scales)
            self.scales_carried = bool(self.carried_scales(spec, precision, input_scales, output_scales))
            handed = [None if s is None else 1.0 for s in self.scales_given]
            n = len(spec.inputs)

            def entry(where, scales):
                text = ["-" if s is None else f"{s:.9g}" for s in scales]
                return f"{where}: {','.join(text[:n])}->{','.join(text[n:])}"

            used = [s for s in self.scales_given]
            carried = attrs.get(INT8_SCALES, [])
            if carried:  # the base replaced desc.scale of each int8 tensor, in spec.int8_tensors order
                it = iter(carried)
                used = [None if s is None else next(it) for s in self.scales_given]
            self.scales_seen = [entry("configurePlugin", handed), entry("enqueue", handed)] + \
                ([entry("enqueue int8_scales", used)] if carried else [])
            ones_in = [1.0 if t.dtype(precision) == "int8" else s for t, s in zip(spec.inputs, input_scales)]
            ones_out = [1.0 if t.dtype(precision) == "int8" else s for t, s in zip(spec.outputs, output_scales)]
            return HostBackend().run(spec, precision, inputs, attrs, ones_in, ones_out)

    rows = run_typed_validation([registry.get(plugin)], ("int8",), max_cases=3, backend_of=TensorRT85)
    fused = [r for r in rows if r["form"] == "fused"]
    assert [r["result"] for r in fused] == ["PASS"], [(r["result"], r["detail"], r["scales"]) for r in fused]
    assert "enqueue saw" in fused[0]["scales"] and "enqueue int8_scales computed with" in fused[0]["scales"]
    assert any(built) and all(len(c) == len(registry.get(plugin).int8_tensors) for c in built if c)
    qdq = [r for r in rows if r["form"] == "qdq" and r["flags"] == "none"]
    assert qdq and qdq[0]["result"] == "WRONG SCALES"  # the pairs form carries nothing: TensorRT's 1.0
