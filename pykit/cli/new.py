"""Create a plugin folder from templates/: spec, kernel core, CUDA launcher, TensorRT glue, reference, rule, tests.

Example:
  pykit new LayerNorm --input x:float --input scale:float --input bias:float --output y \\
      --attr axis:int=-1 --attr epsilon:float=1e-5 --precisions fp32,fp16,int8 --onnx-op LayerNormalization

The plugin builds and its tests pass at once, with a placeholder op (every output is a copy of the
first float input) and TODO markers where the real math goes. CMake and the registry find the new
folder by its spec.toml; nothing else needs an edit. An existing folder is replaced only with --force.
"""
from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("name", help="plugin name, UpperCamelCase (folder: its snake_case)")
    parser.add_argument("--input", action="append", default=[], metavar="NAME[:KIND]",
                        help="an input, in order; KIND float (per precision, the default) or int32")
    parser.add_argument("--output", action="append", default=[], metavar="NAME",
                        help="an output, in order (float, per precision)")
    parser.add_argument("--attr", action="append", default=[], metavar="NAME:TYPE[=DEFAULT]",
                        help="an attribute; TYPE int, float, str, int[], float[]; no default = required")
    parser.add_argument("--precisions", default="fp32,fp16,int8", help="subset of fp32,fp16,int8 (default: all)")
    parser.add_argument("--api", choices=["v2", "v3"], default="v2",
                        help="TensorRT glue: v2 = IPluginV2DynamicExt (any TensorRT), v3 = IPluginV3 (TensorRT >= 10)")
    parser.add_argument("--onnx-op", default=None, help="ONNX op type the rewrite rule anchors on (default: NAME)")
    parser.add_argument("--dir", default=None, help="plugins folder to create it in (default: the repository's plugins/)")
    parser.add_argument("--force", action="store_true", help="replace an existing plugin folder of that name")


def run(args) -> int:
    from pathlib import Path

    from pykit import scaffold

    try:
        plan = scaffold.make_plan(args.name, args.input, args.output, args.attr, args.precisions, args.api, args.onnx_op)
        folder = scaffold.create(plan, Path(args.dir) if args.dir else scaffold.REPO_ROOT / "plugins", force=args.force)
    except scaffold.ScaffoldError as exc:
        print(f"pykit new: {exc}", file=sys.stderr)
        return 2
    print(f"created {folder} ({plan.name}, {plan.api} glue, {', '.join(plan.precisions)}):")
    for rel in sorted(scaffold.outputs_for(plan)):
        print(f"  {rel}")
    print("next: build (see README, 'Write a plugin in ten minutes'), then "
          f"python -m pytest -q {folder}  and  pykit validate --plugin {plan.name}")
    return 0
