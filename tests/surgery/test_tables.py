"""The TensorRT 11 parser table (pykit/data/trt_11.json) held to the source it is transcribed from:
make_tables.OPERATORS_MD_11_1, onnx-tensorrt docs/operators.md at the commit NVIDIA/TensorRT v11.1 pins."""
import json
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper
from surgery_helpers import model, save, vi

from pykit.data import make_tables
from pykit.surgeon.inspect import DATA, inspect_model, load_table

SOURCE = make_tables.OPERATORS_MD_11_1


def source_rows() -> dict[str, list[str]]:
    """Operator -> its cells (supported, types, restrictions) in the transcription, split on '|' by hand
    (not with make_tables' regex, so a parsing slip there shows up here)."""
    rows = {}
    for line in SOURCE.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 2 and cells[1] in ("Y", "N"):
            assert cells[0] not in rows, f"{cells[0]} appears twice in the transcription"
            rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture(scope="module")
def table():
    return json.loads((DATA / "trt_11.json").read_text())


def test_committed_table_is_the_regenerated_one(table):
    assert table == json.loads(json.dumps(make_tables.table_11()))
    assert load_table("11") == table


def test_opset_range_and_ir_limit_are_the_documented_ones(table):
    # the 11.1 operators.md: "TensorRT 11.1 supports operators in the inclusive range of opset 9 to opset 24"
    sentence = re.search(r"TensorRT (\S+) supports operators in the inclusive range of opset (\d+) to opset (\d+)", SOURCE)
    assert sentence.groups() == ("11.1", "9", "24")
    assert (table["trt"], table["opset_min"], table["opset_max"]) == ("11.1", 9, 24)
    first_release_with_max = [ir for _, ir, ai_onnx, *_ in onnx.helper.VERSION_TABLE if ai_onnx == table["opset_max"]]
    assert table["ir_max"] == first_release_with_max[0]
    assert table["source"]["commit"] == "7c51a63a719180eb5160c874c111746f3fb46a6b"


def test_every_row_of_the_source_is_in_the_table(table):
    rows = source_rows()
    assert set(rows) == set(table["ops"])
    for op, cells in rows.items():
        assert table["ops"][op]["supported"] is (cells[0] == "Y"), op
        restriction = cells[2] if len(cells) > 2 and cells[0] == "Y" else ""
        assert table["ops"][op]["restrictions"] == restriction, op


# Status and restriction words as NVIDIA's 11.1 operators.md writes them, for the ops pykit's rules care about.
DOCUMENTED = {
    "LayerNormalization": ("Y", "Only the first output `Y` is supported."),
    "GridSample": ("Y", "Input must be 4D"),
    "DeformConv": ("Y", "1D or 2D spatial dimensions"),
    "ScatterND": ("Y", "`reduction` other than `none` is not supported"),
    "ScatterElements": ("Y", ""),
    "Swish": ("Y", ""),
    "DFT": ("N", ""),
    "AffineGrid": ("N", ""),
    "Col2Im": ("N", ""),
}


@pytest.mark.parametrize("op", sorted(DOCUMENTED))
def test_documented_status(table, op):
    status, words = DOCUMENTED[op]
    assert source_rows()[op][0] == status
    entry = table["ops"][op]
    assert entry["supported"] is (status == "Y")
    assert words in entry["restrictions"] if words else entry["restrictions"] == ""


def test_later_11x_changes_are_recorded_not_applied(table):
    later = {(c["version"], op) for c in table["later"] for op in c["ops"]}
    assert {("11.2", "DFT"), ("11.2", "GridSample")} <= later
    for version, op in later:
        assert tuple(map(int, version.split("."))) > tuple(map(int, table["trt"].split("."))) and op in table["ops"]
    assert not table["ops"]["DFT"]["supported"] and "4D" in table["ops"]["GridSample"]["restrictions"]


def _ln_dft_model(opset=17):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), n) for n in ("gamma", "beta")]
    nodes = [h.make_node("LayerNormalization", ["x", "gamma", "beta"], ["y"], name="ln", axis=-1),
             h.make_node("DFT", ["s"], ["f"], name="dft", axis=1)]
    return model(nodes, [vi("x", [2, 4]), vi("s", [1, 8, 1])], [vi("y", [2, 4]), vi("f", [1, 8, 2])], inits,
                 opset=opset)


@pytest.mark.parametrize("trt", ["11", "8.5"])
def test_inspect_reports_what_the_table_says(trt, tmp_path):
    src = save(_ln_dft_model(), tmp_path / "ln.onnx")
    onnx.checker.check_model(onnx.load(src))
    t = load_table(trt)
    p = subprocess.run([sys.executable, "-m", "pykit.cli", "inspect", src, "--trt", trt], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert f"TensorRT {t['trt']} ONNX parser: opset {t['opset_min']}..{t['opset_max']}" in p.stdout
    # the findings' lines (a "for speed:" note is about a node the parser imports)
    lines = {node: [ln for ln in p.stdout.splitlines() if f" {node} (" in ln and not ln.startswith("for speed:")]
             for node in ("ln", "dft")}
    for node, op in (("ln", "LayerNormalization"), ("dft", "DFT")):
        imported = t["ops"].get(op, {}).get("supported", False)
        assert (lines[node] == []) is imported, (trt, op, lines[node])
    if trt == "11":  # the 11.1 document: LayerNormalization Y, DFT N
        assert lines["ln"] == [] and lines["dft"] and "unsupported" in lines["dft"][0]
    report = inspect_model(onnx.load(src), trt=trt)
    assert {f.node for f in report.blocking} == {n for n in ("ln", "dft") if lines[n]}
