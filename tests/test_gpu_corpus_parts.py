"""The CPU parts of scripts/gpu-corpus.py (the engines themselves run on the H200: docs/validation/corpus)."""
from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gpu_corpus", ROOT / "scripts" / "gpu-corpus.py")
gc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gc)


def test_native_compare_checks_every_element_beside_matching_nans():
    want = {"y": np.array([1.0, np.nan, 2.0])}
    assert gc.compare({"y": np.array([1.0, np.nan, 2.0])}, want, 1e-4, 1e-6)["passed"]
    assert not gc.compare({"y": np.array([5.0, np.nan, 2.0])}, want, 1e-4, 1e-6)["passed"]  # off beside the NaN
    assert not gc.compare({"y": np.array([1.0, 0.0, 2.0])}, want, 1e-4, 1e-6)["passed"]     # NaN lost


def test_report_only_rejudges_never_more_leniently():
    rows = [json.loads(line) for line in (ROOT / "docs/validation/corpus/results.jsonl").read_text().splitlines() if line]
    before = {r["name"]: r["passed"] for r in rows}
    again = copy.deepcopy(rows)
    gc.rejudge(again)
    after = {r["name"]: r["passed"] for r in again}
    assert not [n for n in after if after[n] and not before[n]]  # no FAIL became a PASS
    for r in again:  # and what stays a PASS has no engine output whose bound checks nothing ...
        rtol, atol = r.get("patched", {}).get("rtol", {}), r.get("patched", {}).get("atol", 0.0)
        for e in r.get("patched", {}).get("engines", []) if r["passed"] else []:
            for o in e["outputs"]:
                if o["max_ref"] > 0 and o["allowed"] >= 0.5 * o["max_ref"]:  # ... unless it met the a-priori bound
                    apriori = rtol[e["precision"]] * o["max_ref"] + atol
                    assert apriori < 0.5 * o["max_ref"] and o["max_abs_err"] <= apriori, (r["name"], e["variant"], o)


def test_report_only_passes_a_wide_bound_only_where_the_error_met_the_a_priori_bound():
    # nearest sampling: the fp16 emulation flips voxels (allowed 2.1 of max|O| 2.39), the engine did not
    output = {"output": "output", "max_abs_err": 0.0007, "max_ref": 2.39, "allowed": 2.1, "passed": True, "undefined": 0}
    row = {"name": "voxelmorph_warp3d_nearest_opset20", "passed": True,
           "patched": {"rtol": {"fp16": 0.01}, "atol": 1e-6,
                       "engines": [{"variant": "fp16", "precision": "fp16", "passed": True, "outputs": [output]}]}}
    flipped = copy.deepcopy(row)
    flipped["patched"]["engines"][0]["outputs"][0]["max_abs_err"] = 2.08  # within 2.1, but only by the emulation
    as_emulated = copy.deepcopy(flipped)  # the same flips as the emulation: element-wise error 0.0003
    as_emulated["patched"]["engines"][0]["outputs"][0]["nearer_err"] = 0.0003
    gc.rejudge([row, flipped, as_emulated])
    assert row["passed"] and row["patched"]["engines"][0]["passed"]
    assert not flipped["passed"] and "checks nothing" in flipped["patched"]["engines"][0]["message"]
    assert as_emulated["passed"]


def test_report_only_trusts_a_write_order_check_only_where_the_record_says_it_ran():
    # a PyG wrong export: 9 of 15 output elements undefined in the original (duplicate writes)
    name = "pyg_scatter_sum_opset11"
    output = {"output": "output", "max_abs_err": 0.0, "max_ref": 2.0, "allowed": 2e-4, "passed": True, "undefined": 9}
    row = {"name": name, "passed": True, "patched": {"engines": [{"variant": "fp32", "passed": True, "outputs": [output]}]}}
    before_check, with_check = copy.deepcopy(row), copy.deepcopy(row)
    with_check["patched"]["engines"][0]["outputs"][0]["orders_checked"] = True
    gc.rejudge([before_check, with_check])
    assert not before_check["passed"] and "not checked" in before_check["patched"]["engines"][0]["message"]
    assert with_check["passed"] and with_check["patched"]["engines"][0]["passed"]
