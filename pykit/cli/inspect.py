"""List the nodes a TensorRT ONNX parser cannot import (or imports wrongly) and the plugins that take them."""
from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("model", help="ONNX model")
    parser.add_argument("--trt", default="8.5", help="TensorRT version: 8.5, 8.6, 10 (= 10.0), 10.15, 11 (default 8.5)")
    parser.add_argument("--min-segment-size", type=int, default=3,
                        help="segments smaller than this stay outside TensorRT (TF-TRT's minimum_segment_size; default 3)")


def run(args) -> int:
    from pykit.surgeon.inspect import inspect_model
    from pykit.surgeon.model import SurgeryError, load_model

    try:
        report = inspect_model(load_model(args.model), args.trt, args.min_segment_size)
    except SurgeryError as exc:
        print(f"pykit inspect: {exc}", file=sys.stderr)
        return 2
    print(report.text())
    return 0
