"""The row-index form of ScatterElementsReduce (issue 16, item 2) on the corpus' PyG-style exports.

Every corpus model with a ScatterElements whose indices are an Expand (or Tile) of a same-rank row
index (what ``scatter_add(0, idx.unsqueeze(-1).expand_as(src))`` exports to) is patched: that node
becomes ScatterElementsReduce with broadcast_indices = 1 reading the un-expanded index (so the
[rows, 1] tensor, not the [rows, features] one, reaches the plugin), the rewrite carries a proof, the
patched model gives torch's stored outputs through the plugin's numpy reference within the spec's
fp32 tolerance, and `equivalence` against the original passes on the stored inputs.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from pykit import registry
from pykit.surgeon.equiv import _State, equivalence, plugin_ops
from pykit.surgeon.model import load_model
from pykit.surgeon.patch import patch_model
from pykit.surgeon.proof import PROBES

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
ENTRIES = json.loads((CORPUS / "index.json").read_text())["models"]


def _reduction(node) -> str:
    r = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "reduction"), b"none")
    return r.decode() if isinstance(r, bytes) else r


def _expanded_scatters(model: onnx.ModelProto):
    """Names of the main graph's ScatterElements with a reduction whose indices come straight from an
    Expand/Tile (without a reduction the rule keeps the ONNX form: rules.py says why)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    return [n.name for n in model.graph.node if n.op_type == "ScatterElements" and _reduction(n) != "none"
            and producer.get(n.input[1]) is not None and producer[n.input[1]].op_type in ("Expand", "Tile")]


ROW_FORMS = [e for e in ENTRIES if e.get("kind") == "torch_export"
             and "ScatterElements" in e.get("ops", {}).get("all_ops", [])
             and _expanded_scatters(onnx.load(str(CORPUS / e["name"] / "model.onnx")))]


def test_the_corpus_has_row_index_forms_of_both_exporters():
    names = [e["name"] for e in ROW_FORMS]
    assert any("dynamo" in n for n in names) and any("dynamo" not in n for n in names), names


def _stored(entry):
    with np.load(CORPUS / entry["name"] / entry["data"]) as data:
        feeds = {k.split(":", 1)[1]: data[k] for k in data.files if k.startswith("input:")}
        expected = {k.split(":", 1)[1]: data[k] for k in data.files if k.startswith("output:")}
    return feeds, expected


@pytest.mark.parametrize("entry", ROW_FORMS, ids=[e["name"] for e in ROW_FORMS])
def test_expanded_row_index_becomes_broadcast_indices(entry):
    original = load_model(CORPUS / entry["name"] / "model.onnx")
    expanded = set(_expanded_scatters(original))
    r = patch_model(original, force=["ScatterElements"])
    plugins = {n.name: n for n in r.model.graph.node if n.op_type == "ScatterElementsReduce"}
    assert expanded <= set(plugins), [str(c) for c in r.changes]
    shapes = {v.name: [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim]
              for v in list(r.model.graph.value_info) + list(r.model.graph.input)}
    for name in expanded:
        attrs = {a.name: helper.get_attribute_value(a) for a in plugins[name].attribute}
        assert attrs["broadcast_indices"] == 1
        index_shape = shapes.get(plugins[name].input[1])
        assert index_shape is not None and index_shape[-1] == 1, index_shape  # one index per row reaches the plugin
        (change,) = [c for c in r.rewrites if name in c.nodes]
        assert "broadcast_indices=1" in change.detail
        assert re.search(rf"proven on {PROBES} probes", change.detail) and change.proof.probes == PROBES
    producer = {o: n for n in r.model.graph.node for o in n.output}
    for name in expanded:  # the materialised [rows, features] index is gone from the plugin's input
        src = producer.get(plugins[name].input[1])
        assert src is None or src.op_type not in ("Expand", "Tile"), src.op_type

    feeds, expected = _stored(entry)
    spec = registry.get("ScatterElementsReduce")
    ev = ReferenceEvaluator(r.model, new_ops=plugin_ops([spec], _State("fp32", "reference")))
    got = dict(zip([o.name for o in r.model.graph.output], ev.run(None, feeds)))
    tol = spec.tolerances["fp32"]
    for name, want in expected.items():
        want64 = want.astype(np.float64)
        err = np.abs(got[name].astype(np.float64) - want64)
        assert np.all(err <= tol.bound(np.abs(want64))), (name, float(err.max()))
    (res,) = equivalence(original, r.model, ["fp32"], feeds=feeds)
    assert res.passed, res.lines()
