"""Issue #11's bar on every model of the corpus (tests/corpus/index.json) and on `pykit demo`'s export:

* inspect --trt 8.5 flags exactly what needs a plugin: a model no plugin is meant for has nothing
  blocking beyond the opset/IR limits patch converts; a model whose taker is a plugin has every
  blocking node taken by that plugin;
* patch --trt 8.5 (the taker's rule ops forced: 8.5 imports some natively, slower) rewrites it,
  every rewrite with its proof (or the statement that no input makes the original defined), exit 0,
  nothing of the taker's left unpatched;
* lint (with TensorRT 8.5's plugin contract) is clean;
* equiv on the stored inputs at every precision the taker's spec offers PASSes, including the
  comparison with the stored outputs at fp32; the only SKIP allowed is the one equiv states for
  cuts it cannot reach at fp16/int8 (a rewrite inside an If body, or its own cut tensor).

Exports recorded as wrong (index `wrong_export`: the graph computes something else than torch did)
are compared with the original only: their stored outputs are what the user meant, not what the
graph computes.
"""
from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from pykit import registry
from pykit.surgeon.equiv import equivalence, load_stored
from pykit.surgeon.inspect import inspect_model
from pykit.surgeon.lint import lint_model
from pykit.surgeon.patch import patch_model
from pykit.surgeon.rules import all_rules

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"
DEMO = {"name": "demo/seed003_pointpillars_opset10", "taker": "PillarScatter", "folder": "plugins/pillar_scatter/demo",
        "data": "data.npz", "ops": {"all_ops": ["Scatter"]}}
ENTRIES = json.loads((CORPUS / "index.json").read_text())["models"] + [DEMO]
# ops whose plugins are being built (issue #15): their node tests join when the plugins land
PENDING: set = set()
ENTRIES = [e for e in ENTRIES if not PENDING & set(e["ops"]["all_ops"])]
TAKEN = [e for e in ENTRIES if e.get("taker")]
UNTAKEN = [e for e in ENTRIES if not e.get("taker")]
REACH_SKIP = "the original's"  # equiv's own reason when a cut is out of the fp16/int8 emulation's reach


def _load(entry):
    folder = ROOT / entry["folder"] if "folder" in entry else CORPUS / entry["name"]
    model = onnx.load(str(folder / "model.onnx"))
    return model, *load_stored(model, folder / entry["data"])


def _forced(entry) -> list[str]:
    anchors = {op for r in all_rules().values() if r.plugin == entry["taker"] for op in r.ops}
    return sorted(anchors & set(entry["ops"]["all_ops"]))


def _needs_plugin(report):
    """Blocking findings other than opset limits (`above-opset`: patch --trt converts those down)."""
    return [f for f in report.blocking if f.kind != "above-opset"]


@pytest.mark.parametrize("entry", UNTAKEN, ids=[e["name"] for e in UNTAKEN])
def test_a_model_no_plugin_is_meant_for_is_not_flagged(entry):
    model, _, _ = _load(entry)
    report = inspect_model(model, "8.5")
    assert not _needs_plugin(report), [f.line() for f in _needs_plugin(report)]
    if report.blocking or report.limits:  # patch converts what is above the parser's limits
        result = patch_model(model, trt="8.5")
        assert result.exit_code == 0 and not result.rewrites
        after = inspect_model(result.model, "8.5")
        assert not after.blocking and not after.limits, [f.line() for f in after.blocking] + after.limits


@pytest.mark.parametrize("entry", TAKEN, ids=[e["name"] for e in TAKEN])
def test_patched_proven_lint_clean_and_equivalent_at_every_precision(entry):
    model, feeds, stored = _load(entry)
    report = inspect_model(model, "8.5")
    assert all(entry["taker"] in f.takers for f in _needs_plugin(report)), [f.line() for f in report.blocking]

    result = patch_model(model, trt="8.5", force=_forced(entry))
    assert result.exit_code == 0 and not result.unpatched, [str(c) for c in result.changes] + list(result.unpatched)
    assert result.rewrites and all(c.proof is not None and c.proof.proven for c in result.rewrites)
    # every rewrite says its proof; the one kind kept without probes is a vacuous one, where no input
    # makes the original defined (a plain scatter writing more updates than destinations)
    for c in result.rewrites:
        assert "proven on" in c.detail or ("kept unproven" in c.detail and "undefined" in c.detail), c.detail
    assert not inspect_model(result.model, "8.5").blocking
    errors, checked = lint_model(result.model, trt="8.5")
    assert not errors and checked >= 1, [str(e) for e in errors]

    spec = registry.get(entry["taker"])
    wrong = entry.get("wrong_export")
    results = equivalence(model, result.model, list(spec.precisions), feeds=feeds, stored=None if wrong else stored)
    for res in results:
        if res.skipped:
            assert res.precision != "fp32" and REACH_SKIP in res.skipped, res.lines()
        else:
            assert res.verdict == "PASS", res.lines()
    assert results[0].precision == "fp32" and results[0].verdict == "PASS"
