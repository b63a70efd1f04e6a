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
