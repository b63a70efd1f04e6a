"""List the nodes a TensorRT ONNX parser cannot import (or imports wrongly) and the plugins that take them."""
from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("model", help="ONNX model")
    parser.add_argument("--trt", default="8.5", help="TensorRT version: 8.5, 8.6, 10 (= 10.0), 10.15, 11 (default 8.5)")
    parser.add_argument("--min-segment-size", type=int, default=3,
                        help="segments smaller than this stay outside TensorRT (TF-TRT's minimum_segment_size; default 3)")
    parser.add_argument("--bench", metavar="FILE",
                        help="a `pykit bench --model PATCHED --against THIS_MODEL --out DIR` result (DIR/model-bench.json): "
                             "say how the patched engine's latency compares with the native import")
    parser.add_argument("--parse", action="store_true",
                        help="also run the installed TensorRT's ONNX parser on the model and on each node alone, and "
                             "list where it disagrees with the table (needs pykit._trt, i.e. TensorRT)")


def run(args) -> int:
    from pykit.surgeon.inspect import inspect_model
    from pykit.surgeon.model import SurgeryError, load_model

    if args.parse:
        from pykit.backends.trt import trt_module

        try:
            trt_module()
        except ImportError as exc:
            print(f"pykit inspect --parse: needs TensorRT: pykit._trt is not built ({exc}); build with TensorRT "
                  "(TENSORRT_ROOT) on a GPU machine, or leave out --parse", file=sys.stderr)
            return 2
    try:
        report = inspect_model(load_model(args.model), args.trt, args.min_segment_size)
    except SurgeryError as exc:
        print(f"pykit inspect: {exc}", file=sys.stderr)
        return 2
    print(report.text())
    if args.bench:
        from pykit.bench.model import speed_notes

        print("\n".join(speed_notes(args.model, args.bench)))
    if args.parse:
        from pykit.surgeon.parse_online import parse_online

        print(parse_online(load_model(args.model), args.trt).text())
    return 0
