"""Every PointPillars export of the corpus (tests/corpus/, index taker PillarScatter) becomes PillarScatter.

Per model: `patch_model(force=<its scatter op types>, trt="8.5")` rewrites it into exactly one
PillarScatter node (batch_size = the number of stacked samples), the change says it was proven, the
patched model run by pykit's equivalence machinery (onnx.reference + the plugin's numpy reference)
gives torch's stored outputs within the spec's fp32 tolerance, `equivalence` against the original
passes on the stored inputs, and lint finds nothing.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import onnx.version_converter
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from pykit import registry
from pykit.surgeon.equiv import _State, equivalence, plugin_ops
from pykit.surgeon.lint import lint_model
from pykit.surgeon.model import load_model
from pykit.surgeon.patch import patch_model
from pykit.surgeon.proof import PROBES

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
PILLARS = [e for e in json.loads((CORPUS / "index.json").read_text())["models"] if e.get("taker") == "PillarScatter"]
SCATTERS = {"Scatter", "ScatterElements", "ScatterND"}


def test_the_corpus_has_every_pointpillars_form():
    # seed 003 opset 10/11/18, mmdet3d single and batch (legacy + dynamo), OpenPCDet (legacy + dynamo)
    assert len(PILLARS) == 9


def _stored(entry):
    with np.load(CORPUS / entry["name"] / entry["data"]) as data:
        feeds = {k.split(":", 1)[1]: data[k] for k in data.files if k.startswith("input:")}
        expected = {k.split(":", 1)[1]: data[k] for k in data.files if k.startswith("output:")}
    return feeds, expected


@pytest.mark.parametrize("entry", PILLARS, ids=[e["name"] for e in PILLARS])
def test_pointpillars_export_becomes_one_proven_pillar_scatter(entry):
    model = load_model(CORPUS / entry["name"] / "model.onnx")
    force = sorted(set(entry["ops"]["all_ops"]) & SCATTERS)
    assert force, "a PointPillars export without a scatter"
    r = patch_model(model, force=force, trt="8.5")

    plugins = [n for n in r.model.graph.node if n.domain == "trt.plugins"]
    assert [n.op_type for n in plugins] == ["PillarScatter"], [str(c) for c in r.changes]
    assert not {n.op_type for n in r.model.graph.node} & SCATTERS  # every per-sample scatter fused
    batch = 2 if ("batch" in entry["name"] or "openpcdet" in entry["name"]) else 1
    attrs = {a.name: helper.get_attribute_value(a) for a in plugins[0].attribute}
    canvas = entry["outputs"]["output"]  # [B, C, ny, nx]
    assert (attrs["batch_size"], attrs["ny"], attrs["nx"]) == (batch, canvas[2], canvas[3]) and canvas[0] == batch
    (change,) = r.rewrites
    assert re.search(rf"proven on {PROBES} probes", change.detail) and change.proof.probes == PROBES
    assert r.exit_code == 0 and not r.unpatched

    # the patched model gives torch's outputs: onnx.reference with the plugin's numpy reference
    feeds, expected = _stored(entry)
    spec = registry.get("PillarScatter")
    ev = ReferenceEvaluator(r.model, new_ops=plugin_ops([spec], _State("fp32", "reference")))
    names = [o.name for o in r.model.graph.output]
    got = dict(zip(names, ev.run(None, feeds)))
    tol = spec.tolerances["fp32"]
    for name, want in expected.items():
        assert got[name].shape == want.shape
        err = np.abs(got[name].astype(np.float64) - want)
        assert np.all(err <= tol.bound(np.abs(want.astype(np.float64)))), (name, float(err.max()))
    # a canvas of zeros would pass a sloppy comparison: the stored output has every pillar in it
    assert np.count_nonzero(expected["output"]) == np.prod(entry["inputs"]["voxels"])

    if "Scatter" in force:  # onnx.reference has no opset-10 Scatter: compare with its opset-11 form
        model = onnx.version_converter.convert_version(model, 11)
        assert "ScatterElements" in {n.op_type for n in model.graph.node}
    (res,) = equivalence(model, r.model, ["fp32"], feeds=feeds)
    assert res.passed, res.lines()
    errors, checked = lint_model(r.model)
    assert not errors and checked == 1


def test_scatter_elements_forms_need_forcing_at_8_5():
    # TensorRT 8.5 imports Scatter/ScatterElements (pykit/data/trt_8.5.json): not rewritten unless named
    for name in ("seed003_scatter_canvas_opset10", "seed003_scatter_canvas_opset11"):
        r = patch_model(load_model(CORPUS / name / "model.onnx"), trt="8.5")
        assert "PillarScatter" not in {n.op_type for n in r.model.graph.node}


def test_batch_form_with_samples_out_of_order_is_refused():
    # the fused node writes sample k where the mask says coords[:, 0] == k; a stack in another order is
    # not that, and the rule says so instead of rewriting
    m = onnx.load(str(CORPUS / "mmdet3d_pillar_scatter_batch_opset11" / "model.onnx"))
    concat = next(n for n in m.graph.node if n.op_type == "Concat" and n.output[0] == next(
        x for x in m.graph.node if x.op_type == "Reshape" and x.output[0] == "output").input[0])
    concat.input[0], concat.input[1] = concat.input[1], concat.input[0]
    r = patch_model(m, force=["ScatterND"])
    assert "PillarScatter" not in {n.op_type for n in r.model.graph.node}
    assert any("not 0..1 in order" in c.detail for c in r.changes if c.action == "skipped")


def test_a_look_alike_that_permutes_channels_is_refused_by_the_proof():
    # the rule matches the element-wise ScatterND loosely (a linear cell index somewhere above the
    # indices); the proof is what rules out a graph that writes channel c into row perm[c]
    from onnx import numpy_helper

    m = onnx.load(str(CORPUS / "mmdet3d_pillar_scatter_single_opset11" / "model.onnx"))
    (const,) = [n for n in m.graph.node if n.op_type == "Constant" and n.output[0] == "onnx::Expand_12"]
    v = numpy_helper.to_array(const.attribute[0].t)
    assert v.reshape(-1).tolist() == [0, 1, 2, 3]  # the channel column of the (channel, cell) indices
    const.attribute[0].t.CopyFrom(numpy_helper.from_array(v[[1, 0, 2, 3]]))
    r = patch_model(m, force=["ScatterND"])
    (skip,) = [c for c in r.changes if c.rule == "pillar_scatter"]
    assert skip.action == "skipped" and "proof failed" in skip.detail
    assert float(re.search(r"max \|diff\| ([0-9.e+-]+|inf)", skip.detail).group(1)) > 0.1
    assert "PillarScatter" not in {n.op_type for n in r.model.graph.node} and r.exit_code == 3


@pytest.mark.parametrize("name", [e["name"] for e in PILLARS if e["outputs"]["output"][0] > 1])
def test_batch_form_probes_fill_every_sample(name, monkeypatch):
    # the batch column is defined everywhere (a mask), so [-M, M] draws would almost never select a
    # pillar; the probes favour the sample numbers the masks compare with, and the proof above is only
    # worth its name if some probes put pillars into every sample
    from pykit.surgeon import proof

    drawn = []
    real = proof._probes
    monkeypatch.setattr(proof, "_probes", lambda *a, **k: drawn.extend(real(*a, **k)) or drawn[-PROBES:])
    r = patch_model(load_model(CORPUS / name / "model.onnx"), force=["ScatterND"])
    assert len(r.rewrites) == 1 and len(drawn) == PROBES
    per_sample = np.array([[int((f["coords"][:, 0] == b).sum()) for b in (0, 1)] for f in drawn])
    assert (per_sample > 0).all(axis=1).sum() >= 2, per_sample.tolist()
