"""Which calibrator for this model?  Calibrate with each algorithm, measure the end-to-end error.

    python -m pykit.precision.sweep MODEL.onnx --data PATH [--eval-data PATH] [--batch N]
                                    [--max-batches M] [--algos entropy,minmax,...] [--json OUT]

One pass over the calibration data collects one histogram per tensor; every algorithm answers from
it (entropy = pykit's default rule, TensorRT 8.5's IInt8EntropyCalibrator2 as measured on the H200;
entropy one-shot = pykit's rule before, pytorch-quantization's; minmax, percentile 99.9 / 99.99 /
99.999, mse).  As TensorRT does, a MaxPool output takes its input's amax
(:mod:`pykit.precision.scale_ties`).  For each
algorithm the model gets Q/DQ pairs at its scales on every float activation, weights per output
channel (what TensorRT's implicit INT8 does with Conv/Gemm weights), and runs on onnxruntime's CPU
as fake quantization over the evaluation data (default: the calibration data).  Reported per
algorithm, against the fp32 model on the same inputs: the relative RMS error of each output
(``||y_int8 - y_fp32|| / ||y_fp32||``), its SQNR in dB, the largest absolute error, and, when the
data carries labels and the model has one [N, classes] output, top-1 accuracy.  The algorithm with
the smallest mean relative RMS error is marked best.  Exit status: 0, or 2 on bad input.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field

import numpy as np

from .batches import BatchFileError, BatchStream, fixed_batch
from .calibrators import ONE_SHOT_ENTROPY_RULE, EntropyCalibrator, MinMaxCalibrator, MseCalibrator, PercentileCalibrator
from .scale_ties import tie_amax

__all__ = ["ALGORITHMS", "SweepRow", "amax_by_algorithm", "main", "sweep"]

#: algorithm label -> (calibrator class, parameters): every one answers from an entropy calibrator's histogram
ALGORITHMS = {
    "entropy": (EntropyCalibrator, {}),  # DEFAULT_ENTROPY_RULE: TensorRT 8.5's
    "entropy one-shot": (EntropyCalibrator, {"rule": ONE_SHOT_ENTROPY_RULE}),
    "minmax": (MinMaxCalibrator, {}),
    "percentile 99.9": (PercentileCalibrator, {"percentile": 99.9}),
    "percentile 99.99": (PercentileCalibrator, {"percentile": 99.99}),
    "percentile 99.999": (PercentileCalibrator, {"percentile": 99.999}),
    "mse": (MseCalibrator, {}),
}


@dataclass
class SweepRow:
    algorithm: str
    rel_rms: dict = field(default_factory=dict)  # output -> ||q - f|| / ||f||
    sqnr_db: dict = field(default_factory=dict)  # output -> 20 log10(||f|| / ||q - f||)
    max_abs: dict = field(default_factory=dict)  # output -> max |q - f|
    top1: float | None = None
    mean_rel_rms: float = math.inf
    best: bool = False
    error: str | None = None


def amax_by_algorithm(result, algorithms=None, model=None) -> dict:
    """``{algorithm: {tensor: amax}}`` from a calibration made with EntropyCalibrators (one pass);
    with ``model``, each scale-preserving op's output takes its input's amax (:func:`tie_amax`)."""
    algorithms = list(algorithms or ALGORITHMS)
    out = {}
    for algo in algorithms:
        cls, params = ALGORITHMS[algo]
        amax = {}
        for name, cal in result.calibrators.items():
            if cls is MinMaxCalibrator:
                amax[name] = cal.amax_seen
            else:
                amax[name] = cal.as_algorithm(cls, **params).compute_amax()
        out[algo] = amax if model is None else tie_amax(model, amax)
    return out


def sweep(model, data, *, eval_data=None, batch_size: int | None = None, max_batches: int | None = None,
          algorithms=None, weights: str | None = "per_channel", progress: bool = False) -> list[SweepRow]:
    """Calibrate ``model`` on ``data`` with every algorithm and measure each fake-quantized model's
    output error against fp32 on ``eval_data`` (default ``data``); see the module doc."""
    from .collect import OnnxRuntimeRunner, _cast_feed, _graph_inputs, _load, bind_feeds, calibrate
    from .numerics import scale_from_amax
    from .qdq import fake_quant_session, insert_qdq

    model = _load(model)
    unknown = [a for a in (algorithms or []) if a not in ALGORITHMS]
    if unknown:
        raise ValueError(f"unknown algorithm(s) {unknown}; choose from {list(ALGORITHMS)}")
    fixed = fixed_batch(model)
    if fixed is not None and batch_size not in (None, fixed):
        raise ValueError(f"batch size {batch_size} but the model's inputs have a fixed batch of {fixed}")
    batch_size = fixed or batch_size

    def stream(source):
        return source if isinstance(source, BatchStream) else BatchStream(
            source, batch_size=batch_size, max_batches=max_batches, drop_last=fixed is not None)

    result = calibrate(model, stream(data), make=EntropyCalibrator, progress=progress)
    amax = amax_by_algorithm(result, algorithms, model)

    inputs = _graph_inputs(model)
    eval_batches = list(stream(data if eval_data is None else eval_data))
    fp32 = OnnxRuntimeRunner(model)
    feeds = [{k: _cast_feed(v, fp32.input_types.get(k)) for k, v in bind_feeds(b, inputs).items()} for b in eval_batches]
    labels = [b.labels for b in eval_batches]
    output_names = [o.name for o in model.graph.output]
    reference = [fp32(f) for f in feeds]
    with_labels = (len(output_names) == 1 and all(lb is not None for lb in labels)
                   and all(np.ndim(r[output_names[0]]) == 2 for r in reference))

    rows = []
    for algo, per_tensor in amax.items():
        row = SweepRow(algo)
        try:
            scales = {t: scale_from_amax(a) for t, a in per_tensor.items()}
            session = fake_quant_session(insert_qdq(model, scales, weights=weights))
            got = [dict(zip(output_names, session.run(output_names, f))) for f in feeds]
            for name in output_names:
                f = np.concatenate([np.ravel(r[name]).astype(np.float64) for r in reference])
                q = np.concatenate([np.ravel(g[name]).astype(np.float64) for g in got])
                err = float(np.linalg.norm(q - f))
                norm = float(np.linalg.norm(f))
                row.rel_rms[name] = err / norm if norm else err
                row.sqnr_db[name] = 20 * math.log10(norm / err) if err and norm else math.inf
                row.max_abs[name] = float(np.max(np.abs(q - f))) if f.size else 0.0
            row.mean_rel_rms = float(np.mean(list(row.rel_rms.values())))
            if with_labels:
                name = output_names[0]
                hits = sum(int(np.sum(np.argmax(g[name], axis=1) == np.asarray(lb).astype(np.int64)))
                           for g, lb in zip(got, labels))
                row.top1 = hits / sum(len(lb) for lb in labels)
        except Exception as e:  # one algorithm failing is its row's result, not the sweep's end
            row.error = f"{type(e).__name__}: {e}"
        rows.append(row)
    ok = [r for r in rows if r.error is None]
    if ok:
        min(ok, key=lambda r: r.mean_rel_rms).best = True
    if with_labels:
        name = output_names[0]
        hits = sum(int(np.sum(np.argmax(r[name], axis=1) == np.asarray(lb).astype(np.int64))) for r, lb in zip(reference, labels))
        rows.insert(0, SweepRow("fp32 (reference)", {n: 0.0 for n in output_names}, {n: math.inf for n in output_names},
                                {n: 0.0 for n in output_names}, hits / sum(len(lb) for lb in labels), 0.0))
    return rows


def format_table(rows: list[SweepRow]) -> str:
    has_top1 = any(r.top1 is not None for r in rows)
    head = f"{'algorithm':<18} {'mean rel RMS':>12} {'min SQNR dB':>11} {'max |err|':>10}" + (f" {'top-1':>7}" if has_top1 else "")
    lines = [head]
    for r in rows:
        if r.error:
            lines.append(f"{r.algorithm:<18} error: {r.error}")
            continue
        sqnr = min(r.sqnr_db.values()) if r.sqnr_db else math.nan
        line = (f"{r.algorithm:<18} {r.mean_rel_rms:>12.4g} {sqnr:>11.2f} {max(r.max_abs.values(), default=0):>10.4g}"
                + (f" {r.top1:>7.4f}" if has_top1 and r.top1 is not None else ""))
        lines.append(line + ("   <- best" if r.best else ""))
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="ONNX model")
    parser.add_argument("--data", required=True, help="calibration data: batch file(s) or .npy/.npz (as pykit calibrate)")
    parser.add_argument("--eval-data", default=None, help="data to measure the error on (default: the calibration data)")
    parser.add_argument("--batch", type=int, default=None, help="samples per batch (default: the model's fixed batch, else as stored)")
    parser.add_argument("--max-batches", type=int, default=None, help="use at most M batches")
    parser.add_argument("--algos", default=",".join(ALGORITHMS),
                        help=f"comma-separated, from: {', '.join(ALGORITHMS)} (default all)")
    parser.add_argument("--weights", choices=("per_channel", "per_tensor", "none"), default="per_channel",
                        help="Q/DQ on Conv/Gemm/MatMul weights (default per_channel)")
    parser.add_argument("--json", default=None, help="also write the rows as JSON")


def run(args) -> int:
    algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    try:
        rows = sweep(args.model, args.data, eval_data=args.eval_data, batch_size=args.batch,
                     max_batches=args.max_batches, algorithms=algos,
                     weights=None if args.weights == "none" else args.weights)
    except (BatchFileError, KeyError, ValueError, TypeError, RuntimeError, OSError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return 2
    print(format_table(rows))
    if args.json:
        from pykit.files import write_atomic

        write_atomic(args.json, json.dumps([asdict(r) for r in rows], indent=1, default=str).encode())
    return 0


def run_from_calibrate(args) -> int:
    """``pykit calibrate MODEL --data PATH --sweep``: the sweep with calibrate's own options
    (--batch, --max-batches, --qdq-weights); --eval-data and --json when calibrate defines them."""
    ns = argparse.Namespace(model=args.model, data=args.data, eval_data=getattr(args, "eval_data", None),
                            batch=args.batch, max_batches=args.max_batches, algos=",".join(ALGORITHMS),
                            weights=getattr(args, "qdq_weights", "per_channel"), json=getattr(args, "json", None))
    return run(ns)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pykit.precision.sweep", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
