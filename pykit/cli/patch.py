"""Rewrite an ONNX model with the plugin folders' rules (op replacement, subgraph patterns, forced nodes)."""
from __future__ import annotations

import sys

EXIT_CODES = ("exit codes: 0 patched, or nothing to patch; 2 bad input, or the output cannot be written "
              "(nothing written); 3 something is left unpatched: a node inspect flags for --trt, or a --rule/--node "
              "that matched nothing (the patched model is still written unless nothing was patched; "
              "--allow-unpatched exits 0 instead)")


def add_arguments(parser) -> None:
    parser.add_argument("model", nargs="?", help="ONNX model (not needed with --list-rules)")
    parser.add_argument("-o", "--output", help="where to write the patched model (written atomically; required with a model)")
    parser.add_argument("--trt", help="target TensorRT version: convert to the opset/IR its parser accepts")
    parser.add_argument("--rule", action="append", metavar="NAME", help="apply only these rules (repeatable; default all)")
    parser.add_argument("--node", action="append", metavar="NAME", default=[],
                        help="force replacement of this node, or of every node of this op type (repeatable)")
    parser.add_argument("--allow-unpatched", action="store_true",
                        help="exit 0 even if a node inspect flags for --trt is left, or a --rule/--node matched "
                             "nothing (default: exit 3)")
    parser.add_argument("--list-rules", action="store_true", help="print the registered rules and exit")
    parser.epilog = EXIT_CODES


def run(args) -> int:
    from pykit.files import check_output_is_not_input
    from pykit.surgeon.model import SurgeryError, load_model, save_atomic
    from pykit.surgeon.patch import patch_model
    from pykit.surgeon.rules import all_rules

    if args.list_rules:
        for name, rule in sorted(all_rules().items()):
            print(f"{name}: {', '.join(rule.ops)} -> {rule.plugin}  {rule.doc}")
        return 0
    if args.model is None or args.output is None:
        print("pykit patch: a MODEL and -o OUTPUT are required (or --list-rules)", file=sys.stderr)
        return 2
    try:
        check_output_is_not_input(args.output, [args.model])
    except ValueError as exc:
        print(f"pykit patch: {exc}", file=sys.stderr)
        return 2
    try:
        model = load_model(args.model)
        result = patch_model(model, trt=args.trt, rule_names=args.rule, force=args.node, checked=True,
                             allow_unpatched=args.allow_unpatched)
        for change in result.changes:
            print(change)
        for line in result.unpatched:
            print(f"unpatched {line}")
        if result.nothing:
            print(f"nothing to patch in {args.model}: no rule rewrote a node and no conversion was needed; "
                  f"{args.output} not written")
            return result.exit_code
        save_atomic(result.model, args.output)
    except SurgeryError as exc:
        print(f"pykit patch: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"pykit patch: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: {len(result.rewrites)} rewrite(s)")
    return result.exit_code
