"""Check every plugin node of an ONNX model against its spec, as TensorRT's parser will read it."""
from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("model", help="ONNX model")
    parser.add_argument("--trt", help="also check each plugin node against how this TensorRT version's parser "
                        "finds plugins (plugin_version, plugin_namespace, node domain): 8.5, 8.6, 10, 10.15, 11")


def run(args) -> int:
    from pykit.surgeon.lint import lint_model
    from pykit.surgeon.model import SurgeryError, load_model

    try:
        errors, checked = lint_model(load_model(args.model), args.trt)
    except SurgeryError as exc:
        print(f"pykit lint: {exc}", file=sys.stderr)
        return 2
    for e in errors:
        print(e)
    print(f"{checked} plugin node(s) checked, {len(errors)} error(s)")
    return 1 if errors else 0
