"""The committed corpus of real exporter graphs (tests/corpus/, built by scripts/export_corpus.py).

CPU only, no torch: every model passes onnx.checker, runs on onnxruntime (one with a custom-domain op
that onnxruntime cannot run: patched for --trt 8.5, on onnx.reference with the plugin references) and
matches the outputs stored with it; the stored inputs meet the ops' preconditions; the index and the directories agree;
`pykit inspect --trt 8.5` does not crash on it.
What each export contains is written down in docs/corpus.md.
"""
from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

CORPUS = Path(__file__).resolve().parent / "corpus"
INDEX = json.loads((CORPUS / "index.json").read_text())
ENTRIES = {e["name"]: e for e in INDEX["models"]}

# Tolerances, onnxruntime (fp32) against the stored outputs:
# - torch exports vs torch's own outputs, by the plugin family the graph belongs to:
#   PillarScatter: the graph only moves values (Gather/ScatterND/Scatter/Reshape), no arithmetic on
#     the features, so the canvas must be bit-identical.
#   ScatterElementsReduce: at most 12 messages per cell summed/multiplied in an order ORT may choose
#     differently from torch; each reassociation costs <= 1 ulp of the running value, so <= 11 ulps
#     (~7e-7 relative) -- rtol 1e-5 leaves margin; atol 1e-6 covers sums that cancel to ~0.
#     max/min/overwrite are exact either way and pass the same bound.
#   LayerNorm: Linear (8-term dot) + residual + mean/variance over <= 24 values + rsqrt + affine is
#     ~30 roundings deep; at outputs of magnitude <= ~4 (ulp 4.8e-7) a different order gives a few ulps
#     per step, worst case ~30 ulps ~ 1.4e-5 absolute -> atol 2e-5, rtol 1e-5. (Measured: <= 7.2e-7.)
#   DeformConv2d: a 72-term Conv makes the offsets (|offset| <~ 3 px), whose few-ulp reorderings move
#     samples by ~1e-6 px (<= 2 max|x| per px of change each); then 72-term dot products of outputs
#     <= ~2 (ulp 2.4e-7): ~30 ulps -> atol 2e-5, rtol 1e-5 as LayerNorm. (Measured: <= 1.4e-6.)
#     mmcv::MMCVModulatedDeformConv2d has no onnxruntime kernel: that export runs patched for --trt 8.5
#     (as the MultiScaleDeformableAttention exports below).
# - ONNX backend node tests: the tolerance ONNX's own backend test runner applies to them
#   (onnx.backend.test.runner: rtol=1e-3, atol=1e-7), so "matches" means what it means upstream.
#   MultiScaleDeformableAttention: the export holds a custom-domain op (mmdeploy's symbolic) that
#     onnxruntime cannot run, so the model runs patched for --trt 8.5 (plugin reference, float64 cast to
#     fp32) on onnx.reference; torch computed it in fp32 (grid_sample, softmax, 4 Linear layers of 16
#     terms): ~50 roundings at magnitudes <= ~4 (ulp 4.8e-7), ~2.4e-5 worst case -> atol 3e-5, rtol 1e-5.
TORCH_TOLERANCE = {"PillarScatter": dict(rtol=0.0, atol=0.0),
                   "ScatterElementsReduce": dict(rtol=1e-5, atol=1e-6),
                   "LayerNorm": dict(rtol=1e-5, atol=2e-5),
                   # GridSample (bilinear/nearest warps): <= 8 weighted taps (3-D) summed in orders that may
                   # differ (ORT vs torch), each product/sum 1 ulp; |src| <~ 4: <= ~16 ulps of 4 ~ 8e-6 -> atol 2e-5
                   "GridSampler": dict(rtol=1e-5, atol=2e-5),
                   "MultiScaleDeformableAttention": dict(rtol=1e-5, atol=3e-5),
                   "DeformConv2d": dict(rtol=1e-5, atol=2e-5)}
NODE_TEST_TOLERANCE = dict(rtol=1e-3, atol=1e-7)


def load_case(entry: dict):
    """(model path, feeds by input name, expected outputs by output name), read as `pykit equiv --data`
    reads them (a .npz with input:/output: keys, or ONNX's test_data_set layout)."""
    from pykit.surgeon.equiv import load_stored

    folder = CORPUS / entry["name"]
    model_path = folder / "model.onnx"
    feeds, expected = load_stored(onnx.load(str(model_path)), folder / entry["data"])
    return model_path, feeds, expected


def custom_domain_ops(model) -> list[str]:
    """Ops of custom domains (an exporter's custom symbolic): onnxruntime has no kernel for them."""
    return sorted({f"{n.domain}::{n.op_type}" for n in model.graph.node if n.domain not in ("", "ai.onnx", "ai.onnx.ml")})


def run_patched_for_trt(model, feeds: dict, names: list[str]) -> list:
    """The model patched for TensorRT 8.5 (every custom op must become a plugin node), run on
    onnx.reference with the plugins' numpy references."""
    from onnx.reference import ReferenceEvaluator

    from pykit.surgeon.equiv import _State, plugin_nodes, plugin_ops
    from pykit.surgeon.model import PLUGIN_DOMAIN
    from pykit.surgeon.patch import patch_model

    result = patch_model(model, trt="8.5")
    assert result.exit_code == 0 and not result.unpatched, result.unpatched
    assert all(op.startswith(PLUGIN_DOMAIN + "::") for op in custom_domain_ops(result.model)), result.changes
    specs = [s for _, s in plugin_nodes(result.model)[0]]
    return ReferenceEvaluator(result.model, new_ops=plugin_ops(specs, _State("fp32", "reference"))).run(names, feeds)


def tolerance(entry: dict) -> dict:
    return TORCH_TOLERANCE[entry["taker"]] if entry["kind"] == "torch_export" else NODE_TEST_TOLERANCE


def test_index_and_directories_agree():
    on_disk = {str(p.parent.relative_to(CORPUS)) for p in CORPUS.rglob("model.onnx")}
    assert set(ENTRIES) == on_disk, (f"in the index only: {sorted(set(ENTRIES) - on_disk)}; "
                                     f"on disk only: {sorted(on_disk - set(ENTRIES))}")
    assert len(ENTRIES) == len(INDEX["models"]), "duplicate names in tests/corpus/index.json"
    for entry in INDEX["models"]:
        folder = CORPUS / entry["name"]
        assert (folder / entry["data"]).exists(), f"{entry['name']}: no {entry['data']}"
        if entry["kind"] == "torch_export":
            assert (folder / "PROVENANCE.md").exists(), f"{entry['name']}: no PROVENANCE.md"
            assert entry["upstream"]["repository"] and entry["exporter"] and entry["torch"]
        assert entry["taker"] in (None, *TORCH_TOLERANCE), f"{entry['name']}: unknown taker {entry['taker']}"


def test_corpus_is_small():
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    assert total < 2_000_000, f"tests/corpus holds {total} bytes; keep shapes tiny"


@pytest.mark.parametrize("name", sorted(n for n, e in ENTRIES.items() if e["kind"] == "torch_export"))
def test_stored_inputs_meet_the_ops_preconditions(name):
    # Rules and proofs built on the corpus rely on these: a pillar cell at most once per sample (ScatterND
    # with duplicate indices is unspecified) and inside the canvas; graph indices inside [0, num_nodes).
    entry = ENTRIES[name]
    _, feeds, _ = load_case(entry)
    kw = entry["module_kwargs"]
    if entry["taker"] == "PillarScatter":
        coords = feeds["coords"]
        ny, nx = kw["ny"], kw["nx"]
        assert coords.dtype == np.int64 and coords.shape[1] == 4
        assert (coords[:, 1] == 0).all(), f"{name}: pillars have z == 0"
        assert ((coords[:, 2] >= 0) & (coords[:, 2] < ny) & (coords[:, 3] >= 0) & (coords[:, 3] < nx)).all()
        keys = coords[:, 0] * ny * nx + coords[:, 2] * nx + coords[:, 3]
        assert len(np.unique(keys)) == len(keys), f"{name}: a (sample, y, x) cell occurs twice"
        assert coords[:, 0].max() < kw.get("batch_size", 1)
    elif entry["taker"] == "ScatterElementsReduce":
        idx = feeds["idx"]
        assert ((idx >= 0) & (idx < kw["num_nodes"])).all(), f"{name}: index out of range"
        assert len(np.unique(idx)) < len(idx), f"{name}: no duplicate index, the reduction is not exercised"
    elif entry["taker"] == "MultiScaleDeformableAttention":
        ref = feeds["reference_points"]  # normalized, as the encoder's reference points are
        assert ((ref >= 0) & (ref <= 1)).all(), f"{name}: reference points outside [0, 1]"


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_model_checks_runs_and_matches(name):
    entry = ENTRIES[name]
    model_path, feeds, expected = load_case(entry)
    model = onnx.load(str(model_path))
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == entry["ir_version"]
    assert {o.domain or "ai.onnx": o.version for o in model.opset_import} == entry["opset"]

    if custom_domain_ops(model):
        got = dict(zip(expected, run_patched_for_trt(model, feeds, list(expected))))
    else:
        options = ort.SessionOptions()
        options.log_severity_level = 3   # the If-wrapped exports make ORT warn about merged shapes
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        got = dict(zip(expected, session.run(list(expected), feeds)))
    tol = tolerance(entry)
    errors = {}
    for out, want in expected.items():
        assert got[out].shape == want.shape, f"{name}: output {out} shape {got[out].shape} != stored {want.shape}"
        assert got[out].dtype == want.dtype, f"{name}: output {out} dtype {got[out].dtype} != stored {want.dtype}"
        if want.dtype.kind in "fc":
            close = np.isclose(got[out], want, rtol=tol["rtol"], atol=tol["atol"], equal_nan=True)
        else:
            close = got[out] == want
        errors[out] = (bool(close.all()), float(np.max(np.abs(got[out].astype(np.float64) - want), initial=0.0)))

    if entry.get("wrong_export"):
        # the graph the exporter wrote does not compute what torch computed: the record must stay true
        assert not all(ok for ok, _ in errors.values()), (
            f"{name} is recorded as a wrong export ({entry['wrong_export']}) but onnxruntime now matches torch")
    else:
        bad = {out: err for out, (ok, err) in errors.items() if not ok}
        assert not bad, f"{name}: onnxruntime differs from the stored outputs beyond {tol}: max |diff| {bad}"


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_inspect_does_not_crash(name):
    # For the record only: what inspect should say about each model comes with later work (issue #11).
    # Exit 0 = report printed, 2 = a SurgeryError it reported cleanly (pykit/cli/inspect.py).
    from pykit.cli.__main__ import main

    sink = io.StringIO()
    with redirect_stdout(sink), redirect_stderr(sink):
        rc = main(["inspect", str(CORPUS / name / "model.onnx"), "--trt", "8.5"])
    assert rc in (0, 2), f"pykit inspect --trt 8.5 {name} exited {rc}:\n{sink.getvalue()[-2000:]}"
