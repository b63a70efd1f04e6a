"""Calibrate an ONNX model for INT8: write a TensorRT calibration cache and optionally a Q/DQ model.

    pykit calibrate MODEL.onnx --data PATH --algo entropy|minmax|percentile [--percentile 99.99]
                    [--batch N] [--skip K] [--max-batches M] [--tensors T ...] --cache OUT.cache
                    [--qdq OUT.onnx [--qdq-scope all|compute] [--qdq-plugins fused|pairs]] [--seed S]
    pykit calibrate MODEL.onnx --from-cache TRT.cache --qdq OUT.onnx [...]

PATH is a sampleINT8 batch file, a folder of batch files, or a folder (or file) of .npy/.npz.
The model runs on CPU in onnxruntime (a patched model's plugin nodes by their numpy references);
every float activation is calibrated unless --tensors names some.  Prints a table tensor | amax | scale.
--from-cache takes the scales from an existing calibration cache (TensorRT's `TRT-<version>-<algo>`
text, e.g. written by TensorRT's IInt8EntropyCalibrator2) instead of calibrating; cache entries that
name no tensor of the model (TensorRT's own layer names) are listed and left out.
"""
from __future__ import annotations

import argparse
import re
import sys

import numpy as np

from pykit.precision.cache import ALGORITHMS


def _count(minimum: int):
    """argparse type: an integer >= minimum, refused while parsing (before any work)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is less than {minimum}")
        return value
    return parse


def _trt_version_arg(text: str) -> str:
    """argparse type: TensorRT's version number for '8.5.3' / '10.3.0' / '10.3.0.26', or one already
    numbered ('8503'); anything else would write a 'TRT-0-...' header TensorRT rejects."""
    from pykit.precision.cache import trt_version_number

    if not re.fullmatch(r"\d+(\.\d+){0,3}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a TensorRT version such as 8.5.3, 10.3.0 or 8503")
    return text if text.isdigit() else trt_version_number(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="ONNX model to calibrate")
    parser.add_argument("--data", help="batch file, folder of batch files, or folder of .npy/.npz")
    parser.add_argument("--from-cache", metavar="CACHE", default=None,
                        help="take the scales from this calibration cache instead of calibrating on --data")
    parser.add_argument("--algo", choices=("entropy", "minmax", "percentile", "mse"), default="entropy",
                        help="calibration algorithm (default: entropy, TensorRT's Entropy2)")
    parser.add_argument("--sweep", action="store_true",
                        help="instead of a cache: every algorithm's end-to-end INT8 error on CPU (fake-quantized "
                             "model vs fp32; top-1 where the data has labels), the best one marked")
    parser.add_argument("--percentile", type=float, default=99.99, help="percentile for --algo percentile (default 99.99)")
    parser.add_argument("--batch", type=_count(1), default=None,
                        help="samples per inference batch (default: the model's fixed batch size, else as stored)")
    parser.add_argument("--skip", type=_count(0), default=0, help="skip the first K batches (as sampleINT8's BatchStream)")
    parser.add_argument("--max-batches", type=_count(1), default=None, help="use at most M batches after the skip")
    parser.add_argument("--tensors", nargs="+", default=None, help="tensors to calibrate (default: all float activations)")
    parser.add_argument("--cache", default=None, help="calibration cache to write (required unless --from-cache)")
    parser.add_argument("--cache-algorithm", choices=ALGORITHMS, default=None,
                        help="algorithm in the cache header (default: EntropyCalibration2 for entropy, "
                             "MinMaxCalibration for minmax, LegacyCalibration for percentile)")
    parser.add_argument("--trt-version", type=_trt_version_arg, default=None,
                        help="TensorRT version for the cache header, e.g. 10.3.0 or 100300 "
                             "(default: the installed tensorrt's, else 8503)")
    parser.add_argument("--qdq", default=None, help="also write the model with Q/DQ pairs at the calibrated scales")
    parser.add_argument("--qdq-scope", choices=("all", "compute"), default="all",
                        help="tensors given Q/DQ in the --qdq model: all = every scaled tensor (default); compute = "
                             "the int8 tensors of plugin nodes and the data inputs of Conv/ConvTranspose/Gemm/MatMul "
                             "(index arithmetic and the rest stay float)")
    parser.add_argument("--qdq-plugins", choices=("fused", "pairs"), default="fused",
                        help="plugin nodes in the --qdq model: fused = Q -> plugin(int8) -> DQ (default; what TensorRT "
                             "needs to keep a plugin int8), pairs = Q/DQ pairs on their tensors like any other")
    parser.add_argument("--qdq-weights", choices=("per_channel", "per_tensor", "none"), default="per_channel",
                        help="Q/DQ on Conv/Gemm/MatMul weights in the --qdq model (default per_channel)")
    parser.add_argument("--seed", type=int, default=None,
                        help="shuffle the order of the stored data files with this seed (e.g. with --max-batches)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _trt_version(arg):
    """The header's version number: --trt-version (already numbered while parsing), else the
    installed tensorrt's, else 8503."""
    from pykit.precision.cache import DEFAULT_VERSION, trt_version_number

    if arg:
        return arg
    try:
        import tensorrt  # noqa: F401

        return trt_version_number(tensorrt.__version__)
    except Exception:
        return DEFAULT_VERSION


def _tensor_names(model) -> set:
    g = model.graph
    return ({i.name for i in g.input} | {i.name for i in g.initializer}
            | {o for n in g.node for o in list(n.input) + list(n.output) if o})


def _plugin_run(model):
    """For a patched model (plugin nodes): run(feeds) -> every tensor, on onnx's reference evaluator
    with each plugin by its numpy reference (onnxruntime has no plugin ops); None otherwise."""
    from pykit.surgeon.model import PLUGIN_DOMAIN

    if not any(n.domain == PLUGIN_DOMAIN for n in model.graph.node):
        return None
    from onnx.reference import ReferenceEvaluator

    from pykit.precision.collect import default_tensors
    from pykit.precision.qdq import qdq_ops
    from pykit.surgeon.equiv import _State, plugin_nodes, plugin_ops

    nodes, _ = plugin_nodes(model)
    specs = {s.name: s for _, s in nodes}
    evaluator = ReferenceEvaluator(model, new_ops=plugin_ops(specs.values(), _State("fp32", "reference")) + qdq_ops())
    tensors = default_tensors(model)

    def run(feeds):
        wanted = [t for t in tensors if t not in feeds]
        return dict(zip(wanted, evaluator.run(wanted, feeds)))

    return run


def run(args) -> int:
    from pykit.files import check_output_is_not_input, write_atomic_all
    from pykit.precision.batches import BatchFileError, BatchStream, fixed_batch
    from pykit.precision.cache import format_cache
    from pykit.precision.collect import calibrate
    from pykit.surgeon.model import SurgeryError, load_model

    if args.sweep:
        if args.data is None:
            print("error: --sweep needs --data (the batches to calibrate and evaluate on)", file=sys.stderr)
            return 2
        from pykit.precision.sweep import run_from_calibrate

        return run_from_calibrate(args)
    if (args.data is None) == (args.from_cache is None):
        print("error: give either --data (calibrate) or --from-cache (take an existing cache's scales)", file=sys.stderr)
        return 2
    if args.from_cache and not args.qdq:
        print("error: --from-cache makes a Q/DQ model: give --qdq OUT.onnx", file=sys.stderr)
        return 2
    if args.data is not None and not args.cache:
        print("error: --cache OUT is required when calibrating (--data)", file=sys.stderr)
        return 2
    try:
        sources = [args.model, args.data or args.from_cache]
        if args.cache:
            check_output_is_not_input(args.cache, sources)
        if args.qdq:
            check_output_is_not_input(args.qdq, sources + ([args.cache] if args.cache else []))
        model = load_model(args.model)
    except (ValueError, SurgeryError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.from_cache:
        from pykit.precision.cache import CacheFormatError, read_cache

        try:
            cache = read_cache(args.from_cache)
        except (OSError, CacheFormatError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        names = _tensor_names(model)
        scales = {k: v for k, v in cache.scales.items() if k in names}
        left = [k for k in cache.scales if k not in names]
        print(f"{args.from_cache}: {cache.algorithm} (TensorRT {cache.version}), {len(scales)} of {len(cache.scales)} "
              "entries name tensors of the model" + (f"; left out: {', '.join(left)}" if left else "")
              + "".join(f"; {t}: {why}, no scale (TensorRT keeps it unquantized)" for t, why in cache.unusable.items()
                        if t in names))
        amax = {k: float(np.float32(v) * np.float32(127)) for k, v in scales.items()}
        algorithm, result = cache.algorithm, None
    else:
        fixed = fixed_batch(model)
        batch = args.batch
        if fixed is not None:
            if batch is None:
                batch = fixed
            elif batch != fixed:
                print(f"error: --batch {batch} but the model's inputs have a fixed batch of {fixed}", file=sys.stderr)
                return 2
        stream = BatchStream(args.data, batch_size=batch, skip=args.skip, max_batches=args.max_batches,
                             drop_last=fixed is not None, shuffle_seed=args.seed)
        try:
            result = calibrate(model, stream, algo=args.algo, tensors=args.tensors, percentile=args.percentile,
                               progress=not args.no_progress, run=_plugin_run(model))
        except (BatchFileError, KeyError, ValueError, TypeError, RuntimeError) as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else e
            print(f"error: {msg}", file=sys.stderr)
            return 2
        amax = result.amax()
        scales = result.scales()
        algorithm = args.cache_algorithm or result.cache_algorithm
    width = max([len("tensor")] + [len(n) for n in scales])
    print(f"{'tensor':<{width}}  {'amax':>12}  {'scale':>12}")
    for name in scales:
        print(f"{name:<{width}}  {amax[name]:>12.6g}  {scales[name]:>12.6g}")
    # Everything is made before anything is written, and written all together or not at all: a
    # failing --qdq must not leave a cache behind (nor the other way round).
    outputs = {}
    if args.cache:
        try:
            outputs[args.cache] = format_cache(scales, algorithm=algorithm,
                                               version=_trt_version(args.trt_version)).encode("utf-8")
        except ValueError as e:
            print(f"error: cannot write {args.cache}: {e}", file=sys.stderr)
            return 2
    if args.qdq:
        from pykit.precision.qdq import compute_tensors, insert_qdq

        weights = None if args.qdq_weights == "none" else args.qdq_weights
        try:
            chosen = scales
            if args.qdq_scope == "compute":
                keep = set(compute_tensors(model))
                chosen = {k: v for k, v in scales.items() if k in keep}
            outputs[args.qdq] = insert_qdq(model, chosen, weights=weights, plugins=args.qdq_plugins).SerializeToString()
        except Exception as e:
            print(f"error: cannot make the Q/DQ model {args.qdq}: {e}; nothing written", file=sys.stderr)
            return 2
    try:
        write_atomic_all(outputs)
    except OSError as e:
        print(f"error: cannot write {', '.join(map(str, outputs))}: {e.strerror or e}; nothing written",
              file=sys.stderr)
        return 2
    if result is not None:
        print(f"{len(scales)} tensors, {result.batches} batches ({result.samples} samples); wrote {args.cache}")
    if args.qdq:
        print(f"wrote {args.qdq}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pykit calibrate", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
