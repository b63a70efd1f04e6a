"""scripts/calib-experiments.py on the CPU: its numpy mirror of the probe model is what the ONNX
model computes, and its scoring finds a rule that produced the "TensorRT" numbers."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _experiments():
    spec = importlib.util.spec_from_file_location("calib_experiments", ROOT / "scripts" / "calib-experiments.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_probe_model_computes_what_the_cpu_side_calibrates():
    import onnxruntime as ort

    ce = _experiments()
    model = ce.make_model()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    batches = ce.scenario_batches("growing_8")[:2]
    tensors = ce.scenario_tensors(batches)
    names = [o.name for o in session.get_outputs()]
    for b, batch in enumerate(batches):
        got = dict(zip(names, session.run(names, batch)))
        for name, value in got.items():
            assert np.array_equal(value, tensors[name][b]), name
    # the scenarios are what they say: the range grows batch after batch, the data is reproducible
    maxima = [float(np.abs(t).max()) for t in tensors["x_uniform_pos"]]
    assert maxima == sorted(maxima) and maxima[1] > maxima[0]
    assert np.array_equal(ce.scenario_batches("growing_8")[0]["x_normal"], batches[0]["x_normal"])


def test_scoring_ranks_the_rule_that_made_the_numbers_first():
    ce = _experiments()
    tensors = ce.scenario_tensors(ce.scenario_batches("growing_8")[:3])
    tensors = {k: v for k, v in tensors.items() if k in ("x_halfnormal", "relu_normal", "x_laplace")}
    ours = ce.cpu_side(tensors, workers=1)
    truth = "range=double threshold=half_above"
    fake_trt = {name: entry["candidates"][truth] for name, entry in ours.items()}
    ranking = ce.score({"s": {"pykit": ours, "trt_amax": fake_trt, "relu_inputs": {"relu_normal": "x_normal"}}})
    top = [r for r in ranking if r["worst_bins"] == 0.0]
    assert truth in {r["rule"] for r in top}
    assert ranking[0]["matched"] == ranking[0]["tensors"] == 3
    assert any(r["matched"] < 3 for r in ranking)  # other rules miss: the probe distributions discriminate


def test_demo_section_calibrates_the_patched_pointpillars_model_on_the_cpu():
    ce = _experiments()
    patched, feeds, calibrators = ce.demo_tensors(None, count=2)
    assert any(n.domain or n.op_type == "PillarScatter" for n in patched.graph.node)  # a plugin node runs (reference)
    canvas = next(n.output[0] for n in patched.graph.node if n.op_type == "PillarScatter")
    relu = next(n for n in patched.graph.node if n.op_type == "Relu")  # the pillar feature net's
    assert len(feeds) == 2 and {relu.output[0], canvas} <= set(calibrators)
    assert calibrators[canvas].min_seen >= 0 and calibrators[canvas].amax_seen > 0  # the canvas: non-negative
    assert ce.op_inputs(patched, "Relu")[relu.output[0]] == relu.input[0]


def test_graph_rules_and_merged_recordings():
    """A MaxPool output scored under "+maxpool=input" takes its input's candidate; a demo-only
    rerun merges into the full recording, an errored section never replacing a good one."""
    ce = _experiments()
    entry = {"pykit": {"a": {"candidates": {"r": 1.0}}, "p": {"candidates": {"r": 2.0}}},
             "maxpool_inputs": {"p": "a"}}
    assert ce.candidates_with_graph_rule(entry, "p") == {"r": 2.0, "r +relu=input": 2.0, "r +maxpool=input": 1.0,
                                                         "r +reducemax=input": 2.0}
    full = {"tensorrt": "8503", "sections": {"one_batch": {"trt_amax": {}}, "demo_pointpillars": {"error": "x"}}}
    demo = {"tensorrt": "8503", "sections": {"demo_pointpillars": {"trt_amax": {"t": 1.0}}, "one_batch": {"error": "y"}}}
    merged = ce.merge_recorded([full, demo])
    assert merged["sections"] == {"one_batch": {"trt_amax": {}}, "demo_pointpillars": {"trt_amax": {"t": 1.0}}}
    assert ce.label(ce.PYKIT).endswith("(pykit now)") and ce.label(ce.ONE_SHOT).endswith("(pykit before)")
