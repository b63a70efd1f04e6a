import pytest
from surgery_helpers import T, h, model, vi

from pykit.surgeon.inspect import TRT_VERSIONS, inspect_model, load_table
from pykit.surgeon.models import plugin_models

pointpillars_like = plugin_models("PillarScatter").pointpillars_like
scatter_reduce_model = plugin_models("ScatterElementsReduce").scatter_reduce_model


@pytest.mark.parametrize("version", sorted(set(TRT_VERSIONS.values())))
def test_tables_name_their_source_and_limits(version):
    t = load_table(version)
    assert t["source"]["repo"] == "onnx/onnx-tensorrt" and t["source"]["path"] == "docs/operators.md"
    assert t["opset_max"] >= 17 and t["ir_max"] >= 8 and len(t["ops"]) > 150


def test_issue_facts_per_version():
    sup = lambda v, op: load_table(v)["ops"].get(op, {}).get("supported", False)  # noqa: E731
    for op in ("LayerNormalization", "Hardmax", "IsInf", "MaxUnpool", "MaxRoiPool", "Unique", "Compress", "Det",
               "DFT", "STFT", "ConvInteger", "MatMulInteger", "QLinearConv", "SequenceAt", "Optional"):
        assert not sup("8.5", op), op
    assert sup("8.6", "LayerNormalization") and sup("8.6", "GroupNormalization") and not sup("8.6", "Hardmax")
    assert sup("10", "Hardmax") and sup("10", "DeformConv")
    for op in ("AffineGrid", "BitwiseAnd", "CenterCropPad", "Col2Im", "ImageDecoder", "StringSplit"):
        assert not sup("10", op), op
    assert (load_table("8.5")["opset_max"], load_table("8.5")["ir_max"]) == (17, 8)


def _kinds(report):
    return {(f.node, f.kind): f for f in report.findings}


def test_scatter_reduction_flagged_with_takers():
    # one pillar cannot collide: PillarScatter's proven rewrite; many pillars sum where cells repeat,
    # which PillarScatter cannot (its proof fails) and ScatterElementsReduce over rows can
    pp = inspect_model(pointpillars_like(pillars=1), "8.5")
    f = _kinds(pp)[("scatter/scatter_nd", "wrong-semantics")]
    assert f.takers == ["PillarScatter"]
    assert _kinds(inspect_model(pointpillars_like(), "8.5"))[("scatter/scatter_nd", "wrong-semantics")].takers == \
        ["ScatterElementsReduce"]
    # the demo's scatter_add (8 updates into 6 rows): refused by every importer for its dims (the
    # H200 run: docs/validation/precision/model-scatter-elements.log), before any reduction rule
    se = inspect_model(scatter_reduce_model(), "8.5")
    assert _kinds(se)[("scatter_reduce", "rejected")].takers == ["ScatterElementsReduce"]
    assert ("scatter_reduce", "rejected") in _kinds(inspect_model(scatter_reduce_model(), "10"))
    # 10.x rejects ScatterND with reduction; ScatterElements+reduction goes to TensorRT's own plugin
    assert ("scatter/scatter_nd", "rejected") in _kinds(inspect_model(pointpillars_like(), "10"))
    # reduction none is imported right
    assert not inspect_model(pointpillars_like(reduction="none"), "8.5").findings


def test_unsupported_custom_domain_and_above_opset():
    nodes = [h.make_node("LayerNormalization", ["x", "s"], ["a"], name="ln"),
             h.make_node("DeformConv", ["a", "w", "off"], ["b"], name="dcn", domain="mmcv"),
             h.make_node("Col2Im", ["b", "is", "bs"], ["c"], name="c2i")]
    m = model(nodes, [vi("x", [1, 4, 4, 4]), vi("w", [4, 4, 3, 3]), vi("off", [1, 18, 4, 4])], [vi("c", None)],
              inits=[h.make_tensor("s", T.FLOAT, [4], [1] * 4), h.make_tensor("is", T.INT64, [2], [4, 4]),
                     h.make_tensor("bs", T.INT64, [2], [1, 1])], opset=18, ir=8, extra_opsets=[("mmcv", 1)])
    r = inspect_model(m, "8.5")
    k = _kinds(r)
    assert ("ln", "unsupported") in k and ("dcn", "custom-domain") in k
    assert ("c2i", "not-in-table") in k  # Col2Im-18 is newer than any 8.5 table row
    assert any("opset 18 > parser maximum 17" in x for x in r.limits)
    r10 = inspect_model(m, "10")
    assert ("ln", "unsupported") not in _kinds(r10) and ("c2i", "unsupported") in _kinds(r10)
    # a ReduceMax-18 above 8.5's opset is flagged as such
    m2 = model([h.make_node("ReduceMax", ["x"], ["y"], name="rm")], [vi("x", [2, 3])], [vi("y", None)], opset=18)
    assert ("rm", "above-opset") in _kinds(inspect_model(m2, "8.5"))


def test_partition_segments_and_minimum_size():
    r = inspect_model(pointpillars_like(), "8.5", min_segment_size=3)
    assert sum(s.size for s in r.segments) == r.total_nodes - 1  # all but the scatter run in TensorRT
    assert len(r.segments) >= 2 and [f.node for f in r.to_plugins] == ["scatter/scatter_nd"]
    assert "below minimum_segment_size" in r.text()
    # a node with no taker is left to the framework
    m = model([h.make_node("Relu", ["x"], ["a"], name="r1"), h.make_node("Unique", ["a"], ["b"], name="u"),
               h.make_node("Relu", ["b"], ["y"], name="r2")], [vi("x", [4])], [vi("y", None)])
    r = inspect_model(m, "8.5", min_segment_size=1)
    assert [f.node for f in r.to_framework] == ["u"] and sorted(s.size for s in r.segments) == [1, 1]


def test_unknown_version_is_an_error():
    from pykit.surgeon.model import SurgeryError

    with pytest.raises(SurgeryError, match="unknown TensorRT version"):
        load_table("7.1")


@pytest.mark.parametrize("trt", ["8.5", "10", "11"])
def test_scatter_with_more_updates_than_data_rows_is_rejected_not_wrong(trt):
    # PyG's scatter_add over edges: indices/updates [E, F] into data [N, F] with E > N. Every
    # onnx-tensorrt importer refuses it ('Indices dimensions must be less than data dimensions!';
    # TensorRT 8.5.3 on the H200 did, docs/validation/corpus/parser.md), whatever the reduction
    def scatter(edges):
        node = h.make_node("ScatterElements", ["data", "idx", "upd"], ["y"], name="scatter", axis=0, reduction="add")
        return model([node], [vi("data", [5, 4]), vi("idx", [edges, 4], T.INT64), vi("upd", [edges, 4])],
                     [vi("y", [5, 4])], opset=16)

    kinds = _kinds(inspect_model(scatter(12), trt))
    f = kinds[("scatter", "rejected")]
    assert "input 1 dim 0 = 12 > data's 5" in f.message and f.takers == ["ScatterElementsReduce"]
    # 3 updates into 5 rows: the reduction rules decide (8.5 ignores it; 10/11 use TensorRT's plugin)
    fewer = {k for _, k in _kinds(inspect_model(scatter(3), trt))}
    assert fewer == ({"wrong-semantics"} if trt == "8.5" else {"external"})


def test_scatter_into_an_initializer_too_small_for_its_updates_is_rejected():
    # the data's dims from the initializer itself (shape inference does not list initializers)
    import numpy as np
    from onnx import numpy_helper

    node = h.make_node("ScatterElements", ["data", "idx", "upd"], ["y"], name="scatter", axis=0, reduction="add")
    m = model([node], [vi("idx", [12, 4], T.INT64), vi("upd", [12, 4])], [vi("y", [5, 4])],
              inits=[numpy_helper.from_array(np.zeros((5, 4), np.float32), "data")], opset=16)
    assert ("scatter", "rejected") in _kinds(inspect_model(m, "8.5"))
