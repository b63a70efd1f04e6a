"""pykit's offline parser table held to what TensorRT 8.5.3's own parser did on the corpus (issue #11
item 5): the verdicts recorded on the H200 (docs/validation/corpus/results.jsonl, one line per model,
written by scripts/gpu-corpus.py) are facts; the table's predictions are this code's. CI has no
TensorRT, so this is where the table meets the parser on every push."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import onnx
import pytest

from pykit.surgeon.inspect import inspect_model
from pykit.surgeon.parse_online import from_record

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "docs" / "validation" / "corpus" / "results.jsonl"


def _corpus_script():
    spec = importlib.util.spec_from_file_location("gpu_corpus", ROOT / "scripts" / "gpu-corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GC = _corpus_script()
ENTRIES = {e["name"]: e for e in GC.entries(None)}
RECORDS = [json.loads(line) for line in RECORD.read_text().splitlines() if line.strip()]


def _model(name):
    return onnx.load(str(GC.folder_of(ENTRIES[name]) / "model.onnx"))


def test_the_record_covers_the_whole_corpus():
    assert {r["name"] for r in RECORDS} == set(ENTRIES)
    # a model without parser verdicts is one whose run ended (timed out, recorded as 'lost') before
    # its parse stage, in both recorded runs (docs/validation/corpus/README.md lists them)
    unparsed = [r for r in RECORDS if not r.get("parser")]
    assert all(r.get("lost") for r in unparsed), [r["name"] for r in unparsed if not r.get("lost")]
    assert len(unparsed) < len(RECORDS) // 20


@pytest.mark.parametrize("record", [r for r in RECORDS if r.get("parser")], ids=lambda r: r["name"])
def test_the_table_agrees_with_the_parser_on_every_node(record):
    report = from_record(_model(record["name"]), record["parser"], "8.5")
    assert not report.disagreements, [v.line() for v in report.disagreements]


@pytest.mark.parametrize("record", [r for r in RECORDS if r.get("native") and "skipped" not in r["native"]
                                    and not r["native"].get("fp32", {}).get("passed")
                                    and "error" not in r["native"].get("fp32", {})], ids=lambda r: r["name"])
def test_every_native_engine_that_computed_wrong_was_flagged(record):
    # the parser took the original and its fp32 engine disagreed with the stored outputs: silently
    # wrong, so the table must flag a node of it (wrong semantics, or an op newer than the parser)
    findings = [f for f in inspect_model(_model(record["name"]), "8.5").findings if f.blocking]
    assert findings, f"{record['name']}: native fp32 off the stored outputs, yet nothing flagged"
    assert {f.kind for f in findings} & {"wrong-semantics", "wrong-or-rejected", "above-opset"}
