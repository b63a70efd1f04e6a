#!/usr/bin/env python3
"""Find TensorRT 8.5's IInt8EntropyCalibrator2 rule by experiment (issue 13, item 5).

Tiny ONNX models (every input ``x_k`` -> Relu / Abs / Neg outputs) are fed controlled, seeded
distributions (half-normal, normal, uniform, ReLU'd normal, one-hot spikes, exponential, ...) in
several batch scenarios (one batch, i.i.d. batches, batches whose range grows or shrinks, an
outlier batch).  TensorRT's calibrator sees the batches through ``pykit._trt.Builder.build_onnx``
(its scales are read back from the calibration cache it writes); pykit's EntropyCalibrator sees the
same arrays on the CPU and answers under every candidate :class:`EntropyRule` (histogram of |x| or
of x, bin count, range rule, threshold at the bin edge / centre / half a bin above, levels, unsigned
treatment, zero bin), each also with the graph rules "a Relu / MaxPool output takes its input's
amax".  A candidate *matches* a tensor when its amax is within one histogram bin (max|x|/2048) of
TensorRT's.  Unless ``--no-demo``, the PointPillars-like demo model's tensors are compared the same
way (its calibration batches as ``pykit validate --model`` makes them; patching it needs
onnx_graphsurgeon); unless ``--no-digits``, the digits CNN's.  The report names pykit's rule now
(``DEFAULT_ENTROPY_RULE`` with MaxPool outputs tied) and before (the one-shot rule).

On the GPU machine (TensorRT 8.5.3):

    . /tmp/tensorrt/env.sh && bash scripts/gpu-calib.sh OUT       # builds, then runs this and gpu-accuracy.py
    . /tmp/tensorrt/env.sh && bash scripts/gpu-calib.sh OUT demo  # only the demo's tensors, into OUT/demo

or, with pykit._trt already built (PYKIT_BUILD_DIR set as scripts/gpu-validate.sh does):

    python3 scripts/calib-experiments.py --out OUT/calib
    python3 scripts/calib-experiments.py --out OUT/demo --scenarios --no-digits     # the demo alone

On the CPU, again from the recorded TensorRT amax (to try new candidate rules; the batches are
regenerated from their seeds; several recorded files are merged section by section):

    python scripts/calib-experiments.py --analyze OUT/calib-experiments.json [OUT/demo/...json] --out CPU_OUT

Every scenario is isolated: an error is recorded in the JSON and the rest still run.
Writes OUT/calib-experiments.json and OUT/calib-experiments.md.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pykit.precision.calibrators import (DEFAULT_ENTROPY_RULE, ONE_SHOT_ENTROPY_RULE, EntropyCalibrator,  # noqa: E402
                                         EntropyRule)
from pykit.precision.scale_ties import tied_inputs  # noqa: E402

#: the labels of pykit's rules in the report (rules are named by their fields, EntropyRule.describe)
DEFAULT = DEFAULT_ENTROPY_RULE.describe()
ONE_SHOT = ONE_SHOT_ENTROPY_RULE.describe()
#: graph rules scored on top of every rule: suffix -> the entry's map {tensor: tensor whose amax it takes}
GRAPH_RULES = {"+relu=input": "relu_inputs", "+maxpool=input": "maxpool_inputs", "+reducemax=input": "reducemax_inputs"}
#: what pykit computes: the default rule per tensor, MaxPool outputs tied (pykit.precision.scale_ties)
PYKIT = f"{DEFAULT} +maxpool=input"

SHAPE = (16, 1024)  # one input per distribution: 16384 values a batch

# name -> (sampler(rng, n) -> float32 values, what it tests)
DISTRIBUTIONS = {
    "halfnormal": (lambda r, n: np.abs(r.standard_normal(n)), "non-negative, smooth tail"),
    "normal": (lambda r, n: r.standard_normal(n), "signed, symmetric"),
    "uniform_pos": (lambda r, n: r.uniform(0.0, 5.79, n), "non-negative, no tail (amax = max?)"),
    "uniform_sym": (lambda r, n: r.uniform(-5.79, 5.79, n), "signed, no tail"),
    "relu_normal": (lambda r, n: np.maximum(r.standard_normal(n), 0.0), "half exact zeros (a ReLU output)"),
    "spikes": (lambda r, n: _spikes(r, n), "one-hot spikes at 1, 2 and 5.79 on zeros (a scatter canvas)"),
    "exponential": (lambda r, n: r.exponential(1.0, n), "non-negative, heavy tail"),
    "laplace": (lambda r, n: r.laplace(0.0, 1.0, n), "signed, heavy tail"),
    "shifted_uniform": (lambda r, n: r.uniform(2.0, 3.0, n), "non-negative, no mass near 0"),
    "halfnormal_x1000": (lambda r, n: 1000.0 * np.abs(r.standard_normal(n)), "magnitude (power-of-two rules)"),
    "halfnormal_x0.01": (lambda r, n: 0.01 * np.abs(r.standard_normal(n)), "magnitude (power-of-two rules)"),
    "skewed_signed": (lambda r, n: np.where(r.random(n) < 0.9, np.abs(r.standard_normal(n)), -0.2 * np.abs(r.standard_normal(n))),
                      "mostly positive, a small negative side"),
}
# which inputs also get Relu / Abs / Neg outputs (the rest: Relu only, which copies a non-negative input)
SIGNED = {"normal", "uniform_sym", "laplace", "skewed_signed"}


def _spikes(r, n):
    x = np.zeros(n)
    hot = r.random(n)
    x[hot < 0.05] = 1.0
    x[(hot >= 0.05) & (hot < 0.06)] = 2.0
    x[r.integers(n)] = 5.79
    return x


# scenario -> (batches, per-batch scale factor(b))
SCENARIOS = {
    "one_batch": (1, lambda b: 1.0),
    "iid_8": (8, lambda b: 1.0),
    "growing_8": (8, lambda b: 1.0 + 0.35 * b),  # the range grows at every batch
    "shrinking_8": (8, lambda b: 1.0 + 0.35 * (7 - b)),  # largest first
    "outlier_batch_4": (4, lambda b: 3.0 if b == 2 else 1.0),
}


def scenario_batches(scenario: str, seed: int = 0) -> list[dict]:
    """The scenario's batches ``[{input name: float32 array}]``, regenerated from the seed."""
    count, factor = SCENARIOS[scenario]
    n = int(np.prod(SHAPE))
    out = []
    for b in range(count):
        batch = {}
        for k, (name, (sample, _)) in enumerate(DISTRIBUTIONS.items()):
            rng = np.random.default_rng([seed, list(SCENARIOS).index(scenario), b, k])
            batch[f"x_{name}"] = (factor(b) * sample(rng, n)).astype(np.float32).reshape(SHAPE)
        out.append(batch)
    return out


def model_outputs(name: str) -> dict:
    """Output tensor name -> numpy function of the input, for input ``x_<name>``."""
    ops = {"relu": lambda x: np.maximum(x, 0)}
    if name in SIGNED:
        ops.update(abs=np.abs, neg=np.negative)
    return ops


def make_model():
    import onnx
    from onnx import TensorProto, helper

    nodes, inputs, outputs = [], [], []
    for name in DISTRIBUTIONS:
        x = f"x_{name}"
        inputs.append(helper.make_tensor_value_info(x, TensorProto.FLOAT, list(SHAPE)))
        for op in model_outputs(name):
            y = f"{op}_{name}"
            nodes.append(helper.make_node({"relu": "Relu", "abs": "Abs", "neg": "Neg"}[op], [x], [y], name=f"{op}_{name}"))
            outputs.append(helper.make_tensor_value_info(y, TensorProto.FLOAT, list(SHAPE)))
    graph = helper.make_graph(nodes, "calib_probe", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def scenario_tensors(batches: list[dict]) -> dict:
    """Every tensor of the probe model per batch: inputs and their Relu/Abs/Neg outputs."""
    tensors: dict = {}
    for batch in batches:
        for x, value in batch.items():
            tensors.setdefault(x, []).append(value)
            name = x[2:]
            for op, f in model_outputs(name).items():
                tensors.setdefault(f"{op}_{name}", []).append(f(value))
    return tensors


# ----------------------------------------------------------------------------- candidate rules
def search_rules() -> list[EntropyRule]:
    """Histogram + KL-search variants (the threshold placement is applied afterwards, for free)."""
    R = EntropyRule
    rules = [R()]
    rules += [R(range=r) for r in ("first_extend", "double", "grow", "pow2")]
    rules += [R(num_bins=b) for b in (1024, 4096)]
    rules += [R(num_levels=127), R(num_levels=255), R(unsigned_levels=256), R(zero_bin="keep"), R(start_bin=127)]
    rules += [R(histogram="signed", num_levels=lv) for lv in (255, 256, 128)]
    rules += [R(histogram="signed", num_levels=255, num_bins=4096)]
    rules += [R(range="double", unsigned_levels=256), R(range="first_extend", unsigned_levels=256),
              R(histogram="signed", num_levels=255, range="double"), R(range="first_extend", zero_bin="keep")]
    return rules


THRESHOLDS = ("edge", "centre", "half_above")


def _bin_width(rule: EntropyRule, cal: EntropyCalibrator) -> float:
    upper, bins = rule.final_range(cal.batch_max, cal.amax_seen)
    return upper / (bins // 2 if rule.histogram == "signed" else bins)


def candidate_amax(cal: EntropyCalibrator) -> dict:
    """``{rule description: amax}`` for every search rule x threshold placement."""
    out = {}
    for rule in search_rules():
        try:
            edge = cal.compute_amax(rule)
        except Exception as e:  # a rule that cannot handle this tensor is recorded, not fatal
            for t in THRESHOLDS:
                out[EntropyRule(**{**rule.__dict__, "threshold": t}).describe()] = f"error: {e}"
            continue
        w = _bin_width(rule, cal) if cal.amax_seen > 0 else 0.0
        for t, offset in zip(THRESHOLDS, (0.0, -0.5, 0.5)):
            out[EntropyRule(**{**rule.__dict__, "threshold": t}).describe()] = edge + offset * w
    return out


def _calibrate(values: list) -> dict:
    cal = EntropyCalibrator()
    for v in values:
        cal.collect(v)
    return {"amax_seen": cal.amax_seen, "min_seen": cal.min_seen, "batch_max": cal.batch_max,
            "candidates": candidate_amax(cal)}


def cpu_side(tensors: dict, workers: int) -> dict:
    """pykit's candidates per tensor (tensor -> values per batch), in parallel over tensors."""
    names = list(tensors)
    return dict(zip(names, _map(_calibrate, [tensors[n] for n in names], workers)))


def _map(fn, items: list, workers: int) -> list:
    """``fn`` over ``items``, in worker processes when there are several."""
    if workers <= 1:
        return [fn(i) for i in items]
    # forkserver: the parent holds CUDA/TensorRT threads by now, which fork() must not copy
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        return list(pool.map(fn, items))


def _calibrate_calibrator(cal: EntropyCalibrator) -> dict:
    return {"amax_seen": cal.amax_seen, "min_seen": cal.min_seen, "batch_max": cal.batch_max,
            "candidates": candidate_amax(cal)}


# ----------------------------------------------------------------------------- TensorRT side
def trt_amax(model_bytes: bytes, batches: list[dict], ranges: dict | None = None, **build) -> tuple[dict, str]:
    """TensorRT's amax per tensor (scale * 127 from its calibration cache) and the cache text;
    ``ranges`` and ``build`` (e.g. plugin_precisions) go to ``build_onnx`` as they are."""
    from pykit.backends import trt
    from pykit.precision.cache import parse_cache

    builder = trt.builder()
    builder.build_onnx(model_bytes, "int8", ranges or {}, calibration=batches, **build)
    cache = bytes(builder.calibration_cache()).decode()
    if not cache:
        raise RuntimeError("TensorRT wrote no calibration cache")
    parsed = parse_cache(cache, "TensorRT's calibration cache")
    return parsed.amax(), cache


# ----------------------------------------------------------------------------- the demo model
def demo_models(name: str = "pointpillars_seed003"):
    """(original, patched) of a demo model as ``pykit demo`` makes them (same ``demos(0)`` and
    ``patch_model`` call), without the demo's equivalence proofs."""
    from pykit import registry
    from pykit.surgeon.patch import patch_model

    for spec in registry.discover():
        if not (spec.folder / "models.py").is_file():
            continue
        models = registry.load_module(spec, "models")
        demos = models.demos(0)
        if name in demos:
            force = getattr(models, "FORCE", {}).get(name, ())
            return demos[name], patch_model(demos[name], trt="8.5", force=list(force)).model
    raise RuntimeError(f"no plugin folder's models.py has a demo called {name!r}")


def demo_tensors(demo_dir: Path | None, seed: int = 0, count: int = 16):
    """The PointPillars-like demo's patched model, its calibration feeds (as ``pykit validate
    --model`` makes them) and pykit's EntropyCalibrator per tensor over them (CPU). ``demo_dir``:
    a ``pykit demo --out`` folder to read the models from (default: made here)."""
    from onnx.reference import ReferenceEvaluator

    from pykit.precision.collect import calibrate, default_tensors
    from pykit.surgeon.equiv import _State, plugin_nodes, plugin_ops
    from pykit.validate_model import CALIBRATION_SEED_OFFSET, _feeds, _load

    if demo_dir is None:
        original, patched = demo_models()
    else:
        patched = _load(demo_dir / "pointpillars_seed003.patched.onnx")
        original = _load(demo_dir / "pointpillars_seed003.onnx")
    feeds = _feeds(original, seed + CALIBRATION_SEED_OFFSET, count)
    nodes, _ = plugin_nodes(patched)
    evaluator = ReferenceEvaluator(patched, new_ops=plugin_ops([s for _, s in nodes], _State("fp32", "reference")))
    tensors = default_tensors(patched)
    inputs = [i.name for i in patched.graph.input if i.name not in {t.name for t in patched.graph.initializer}]

    def run(f):
        wanted = [t for t in tensors if t not in f]
        return dict(zip(wanted, evaluator.run(wanted, f)))

    result = calibrate(data=feeds, tensors=tensors, run=run, input_names=inputs, make=EntropyCalibrator, progress=False)
    return patched, feeds, result.calibrators


def run_demo(demo_dir: Path | None, workers: int, with_trt: bool, recorded: dict | None) -> dict:
    patched, feeds, calibrators = demo_tensors(demo_dir)
    entry: dict = {"model": "pointpillars_seed003.patched.onnx (pykit demo)", "batches": len(feeds),
                   "relu_inputs": op_inputs(patched, "Relu"), "maxpool_inputs": tied_inputs(patched),
                   "reducemax_inputs": op_inputs(patched, "ReduceMax")}
    if with_trt:
        from pykit.backends import trt
        from pykit.surgeon.equiv import plugin_nodes
        from pykit.validate_model import constant_ranges, engine_feeds, parser_bytes, plugin_precision
        import onnx

        trt.plugin_library()
        int64 = {i.name: "int32" for i in patched.graph.input if i.type.tensor_type.elem_type == onnx.TensorProto.INT64}
        # as `pykit validate --model`'s calibrator build: the constants' ranges (TensorRT's calibrator
        # gives a plugin's constant inputs none) and each plugin at its best precision up to int8
        nodes, names = plugin_nodes(patched)
        specs = {s.name: s for _, s in nodes}
        entry["trt_amax"], entry["cache"] = trt_amax(
            parser_bytes(patched), [engine_feeds(f, int64) for f in feeds], constant_ranges(patched),
            plugin_precisions={n: plugin_precision(specs[n], "int8") for n in names})
    else:
        entry["trt_amax"] = recorded["trt_amax"]
    names = [n for n in calibrators if n in entry["trt_amax"]]
    entry["pykit"] = dict(zip(names, _map(_calibrate_calibrator, [calibrators[n] for n in names], workers)))
    entry["not_in_trt_cache"] = [n for n in calibrators if n not in entry["trt_amax"]]
    return entry


def op_inputs(model, op: str) -> dict:
    """Output -> input of every ``op`` node (Relu, ReduceMax), for the graph rule "its output keeps its
    input's range" (ReduceMax, like MaxPool, selects values: the demo's run says whether TensorRT ties it)."""
    return {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == op}


# ----------------------------------------------------------------------------- the digits model
DIGITS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "digits"


def run_digits(workers: int, with_trt: bool, recorded: dict | None) -> dict:
    """The digits CNN (tests/fixtures/digits) over its sampleINT8 calibration batch files."""
    import onnx

    from pykit.precision.batches import BatchStream
    from pykit.precision.collect import calibrate

    model = onnx.load(str(DIGITS / "digits_cnn.onnx"))
    stream = BatchStream(DIGITS / "calibration")
    result = calibrate(model, stream, make=EntropyCalibrator, progress=False)
    entry: dict = {"model": str(DIGITS / "digits_cnn.onnx"), "batches": result.batches,
                   "relu_inputs": op_inputs(model, "Relu"), "maxpool_inputs": tied_inputs(model),
                   "reducemax_inputs": op_inputs(model, "ReduceMax")}
    if with_trt:
        from pykit.validate_model import parser_bytes

        batches = [{model.graph.input[0].name: b.inputs["data"]} for b in stream]
        entry["trt_amax"], entry["cache"] = trt_amax(parser_bytes(model), batches)
    else:
        entry["trt_amax"] = recorded["trt_amax"]
    names = [n for n in result.calibrators if n in entry["trt_amax"]]
    entry["pykit"] = dict(zip(names, _map(_calibrate_calibrator, [result.calibrators[n] for n in names], workers)))
    entry["not_in_trt_cache"] = [n for n in result.calibrators if n not in entry["trt_amax"]]
    return entry


# ----------------------------------------------------------------------------- scoring
def candidates_with_graph_rule(entry: dict, tensor: str) -> dict:
    """The tensor's candidates, plus each rule under each graph rule: "a Relu (MaxPool, ReduceMax)
    output takes its input's amax" (``<rule> +relu=input``, ``+maxpool=input``, ``+reducemax=input``);
    for other tensors the rule's own value."""
    ours = entry["pykit"][tensor]["candidates"]
    out = dict(ours)
    for suffix, key in GRAPH_RULES.items():
        source = entry.get(key, {}).get(tensor)
        given = entry["pykit"].get(source, {}).get("candidates") if source else None
        for rule, amax in ours.items():
            out[f"{rule} {suffix}"] = given.get(rule, amax) if given else amax
    return out


def label(rule: str) -> str:
    """The rule's name in the report, with what pykit does with it."""
    notes = {PYKIT: "pykit now", DEFAULT: "pykit's default rule, per tensor", ONE_SHOT: "pykit before"}
    return f"`{rule}` ({notes[rule]})" if rule in notes else f"`{rule}`"


def score(sections: dict) -> list[dict]:
    """Per candidate: tensors within one bin (max|x|/2048) of TensorRT, and the worst miss in bins."""
    table: dict = {}
    for section, entry in sections.items():
        if "error" in entry:
            continue
        for tensor, ours in entry["pykit"].items():
            theirs = entry["trt_amax"].get(tensor)
            if theirs is None or ours["amax_seen"] == 0:
                continue
            bin_w = ours["amax_seen"] / 2048
            for rule, amax in candidates_with_graph_rule(entry, tensor).items():
                row = table.setdefault(rule, {"rule": rule, "matched": 0, "tensors": 0, "worst_bins": 0.0, "worst": "",
                                              "total_bins": 0.0})
                row["tensors"] += 1
                if isinstance(amax, str):
                    row["worst_bins"] = float("inf")
                    continue
                miss = abs(amax - theirs) / bin_w
                row["total_bins"] += miss
                row["matched"] += miss <= 1.0 + 1e-6
                if miss > row["worst_bins"]:
                    row["worst_bins"], row["worst"] = miss, f"{section}/{tensor}"
    for row in table.values():
        row["mean_bins"] = row.pop("total_bins") / max(row["tensors"], 1)
    return sorted(table.values(), key=lambda r: (-r["matched"], r["worst_bins"], r["mean_bins"]))


def markdown(report: dict) -> str:
    lines = ["# TensorRT 8.5 IInt8EntropyCalibrator2 vs pykit's entropy rules", "",
             f"Reproduce: `{report['command']}`", "",
             f"Machine: {report['machine']}; TensorRT {report.get('tensorrt', 'n/a')}; "
             f"{report['seconds']:.0f} s.", "",
             "A rule *matches* a tensor when |amax(rule) - amax(TensorRT)| <= max|x|/2048 (one bin). "
             "Rules are named by the fields that differ from the one-shot rule `EntropyRule()` "
             "(pytorch-quantization's, pykit's default before; see `EntropyRule` in "
             f"pykit/precision/calibrators.py). pykit's default rule is `{DEFAULT}`; pykit's scales are "
             f"`{PYKIT}` (MaxPool outputs tied, pykit/precision/scale_ties.py).", "",
             "## Candidates ranked", "",
             "Graph rules on top of a rule: `+relu=input` (`+maxpool=input`, `+reducemax=input`), "
             "\"a Relu (MaxPool, ReduceMax) output takes its input's amax\".", "",
             "| rule | matched | worst miss (bins) | mean miss (bins) | worst tensor |", "|---|---|---|---|---|"]
    for row in report["ranking"]:
        lines.append(f"| {label(row['rule'])} | {row['matched']}/{row['tensors']} | {row['worst_bins']:.2f} | "
                     f"{row['mean_bins']:.2f} | {row['worst']} |")
    best = report["ranking"][0]["rule"] if report["ranking"] else None
    lines += ["", "## Per tensor: TensorRT vs pykit (now and before) and the best candidate", "",
              f"pykit now: `{PYKIT}`; before: `{ONE_SHOT}`; best candidate: `{best}`. Misses in bins of max|x|/2048.", "",
              "| section | tensor | max seen | TensorRT amax | pykit amax | miss (bins) | before amax | ratio TRT/before "
              "| best amax | miss (bins) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for section, entry in report["sections"].items():
        if "error" in entry:
            lines.append(f"| {section} | **error** | {entry['error'].splitlines()[-1]} | | | | | | | |")
            continue
        for tensor, ours in entry["pykit"].items():
            theirs = entry["trt_amax"].get(tensor)
            if theirs is None:
                continue
            cands = candidates_with_graph_rule(entry, tensor)
            now, before, b = cands.get(PYKIT), cands.get(ONE_SHOT), cands.get(best)
            fmt = lambda v: f"{v:.5g}" if isinstance(v, float) else str(v)  # noqa: E731
            miss = lambda v: (abs(v - theirs) / (ours["amax_seen"] / 2048)  # noqa: E731
                              if isinstance(v, float) and ours["amax_seen"] else float("nan"))
            ratio = theirs / before if isinstance(before, float) and before else float("nan")
            lines.append(f"| {section} | {tensor} | {fmt(ours['amax_seen'])} | {fmt(theirs)} | {fmt(now)} | "
                         f"{miss(now):.2f} | {fmt(before)} | {ratio:.3f} | {fmt(b)} | {miss(b):.2f} |")
    errors = [f"- {s}: {e['error'].splitlines()[-1]}" for s, e in report["sections"].items() if "error" in e]
    if errors:
        lines += ["", "## Errors", ""] + errors
    return "\n".join(lines) + "\n"


def merge_recorded(reports: list[dict]) -> dict:
    """One recorded report from several runs (e.g. the full run and a demo-only rerun): each section
    from the last report that has it without an error (else the last that has it)."""
    merged: dict = {"sections": {}}
    for report in reports:
        merged.setdefault("tensorrt", report.get("tensorrt"))
        for name, entry in report.get("sections", {}).items():
            if "error" not in entry or name not in merged["sections"] or "error" in merged["sections"][name]:
                merged["sections"][name] = entry
    return merged


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for calib-experiments.json / .md")
    ap.add_argument("--analyze", nargs="+", default=None, metavar="JSON",
                    help="recorded calib-experiments.json file(s): redo the CPU side only (sections merged in "
                         "order, a later file's section replacing an earlier one unless it is an error)")
    ap.add_argument("--scenarios", nargs="*", default=list(SCENARIOS), choices=list(SCENARIOS),
                    help="synthetic scenarios to run (default all; the option with no name: none)")
    ap.add_argument("--no-demo", action="store_true", help="skip the PointPillars-like demo model")
    ap.add_argument("--no-digits", action="store_true", help="skip the digits CNN (tests/fixtures/digits)")
    ap.add_argument("--demo-dir", default=None, help="an existing `pykit demo --out` folder (default: the demo model made and patched here)")
    ap.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    recorded = merge_recorded([json.loads(Path(f).read_text()) for f in args.analyze]) if args.analyze else None
    with_trt = recorded is None
    t0 = time.time()
    report: dict = {"command": "python3 scripts/calib-experiments.py " + " ".join(sys.argv[1:]),
                    "machine": platform.node(), "sections": {}}
    if with_trt:
        try:
            from pykit.backends import trt

            report["tensorrt"] = str(trt.trt_module().version())
        except Exception as e:
            report["tensorrt"] = f"unavailable: {e}"
    else:
        report["tensorrt"] = recorded.get("tensorrt")
    model_bytes = make_model().SerializeToString()

    def section(name: str, run) -> None:
        """One section of the report: its entry, or the traceback that stopped it, and its seconds."""
        t = time.time()
        try:
            entry = run()
        except Exception:
            entry = {"error": traceback.format_exc()}
        entry["seconds"] = time.time() - t
        report["sections"][name] = entry
        print(f"{name}: {'error' if 'error' in entry else 'ok'} ({entry['seconds']:.1f} s)", flush=True)

    def recorded_section(name: str):
        """The recorded run's section (None when TensorRT runs here); an error when it has none."""
        rec = recorded["sections"].get(name) if recorded else None
        if recorded is not None and (rec is None or "error" in rec):
            raise RuntimeError(f"the recorded run has no {name.split('_')[0]} section")
        return rec

    def scenario_entry(scenario: str) -> dict:
        batches = scenario_batches(scenario)
        if with_trt:
            theirs, cache = trt_amax(model_bytes, batches)
        else:
            theirs, cache = recorded["sections"][scenario]["trt_amax"], recorded["sections"][scenario].get("cache")
        return {"batches": len(batches), "trt_amax": theirs, "cache": cache,
                "relu_inputs": {f"relu_{n}": f"x_{n}" for n in DISTRIBUTIONS},
                "pykit": cpu_side(scenario_tensors(batches), args.workers)}

    for scenario in args.scenarios:
        section(scenario, lambda s=scenario: scenario_entry(s))
    if not args.no_demo:
        section("demo_pointpillars", lambda: run_demo(Path(args.demo_dir) if args.demo_dir else None, args.workers,
                                                      with_trt, recorded_section("demo_pointpillars")))
    if not args.no_digits:
        section("digits", lambda: run_digits(args.workers, with_trt, recorded_section("digits")))
    report["ranking"] = score(report["sections"])
    report["seconds"] = time.time() - t0
    (out / "calib-experiments.json").write_text(json.dumps(report, indent=1, default=float))
    (out / "calib-experiments.md").write_text(markdown(report))
    for row in report["ranking"][:8]:
        print(f"{row['matched']:>4}/{row['tensors']:<4} worst {row['worst_bins']:8.2f} bins  {row['rule']}")
    print(f"wrote {out / 'calib-experiments.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
