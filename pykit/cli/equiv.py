"""Prove on CPU that a patched model computes what the original does (onnxruntime vs plugin references)."""
from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("original", help="the original ONNX model (run with onnxruntime)")
    parser.add_argument("patched", help="the patched model (run with onnx.reference, plugin nodes by the backend)")
    parser.add_argument("--backend", default="reference", choices=["reference", "host"],
                        help="plugin nodes: numpy reference (default) or host kernels")
    parser.add_argument("--precision", default="fp32", help="comma-separated subset of fp32,fp16,int8 (default fp32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=SPEC",
                        help="input spec: normal[:MEAN:STD], uniform:LO:HI, int:LO:HI[:unique] (overrides the model's)")
    parser.add_argument("--data", metavar="DIR_OR_NPZ",
                        help="stored inputs and expected outputs (an ONNX test_data_set_N folder, or a .npz with "
                             "input:NAME/output:NAME keys): fed instead of random inputs, and each output is also "
                             "compared with its stored value")
    parser.add_argument("--dim", action="append", default=[], metavar="PARAM=N", help="value of a symbolic dimension (default 1)")


def run(args) -> int:
    from pykit.surgeon.equiv import equivalence, load_stored, parse_input_spec, random_inputs
    from pykit.surgeon.model import SurgeryError, load_model

    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    bad = [p for p in precisions if p not in ("fp32", "fp16", "int8")]
    if bad or not precisions:
        print(f"pykit equiv: unknown precision(s) {bad}; choose from fp32, fp16, int8", file=sys.stderr)
        return 2
    if args.data and (args.input or args.dim):
        print("pykit equiv: --data gives the inputs; it does not go with --input or --dim", file=sys.stderr)
        return 2
    try:
        original, patched = load_model(args.original), load_model(args.patched)
        overrides = dict(parse_input_spec(s) for s in args.input)
        dims = {}
        for d in args.dim:
            k, _, v = d.partition("=")
            if not v.isdigit():
                raise SurgeryError(f"--dim {d!r}: expected PARAM=N")
            dims[k] = int(v)
        if args.data:
            feeds, stored = load_stored(original, args.data)
        else:
            feeds, stored = random_inputs(original, args.seed, overrides, dims), None
        results = equivalence(original, patched, precisions, backend=args.backend, seed=args.seed, feeds=feeds,
                              stored=stored)
    except SurgeryError as exc:
        print(f"pykit equiv: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a runtime failing on the inputs: one line, no traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"pykit equiv: {type(exc).__name__}: {first}", file=sys.stderr)
        return 2
    for r in results:
        print("\n".join(r.lines()))
    failed = [r for r in results if r.verdict == "FAIL"]
    print(f"{sum(r.verdict == 'PASS' for r in results)} passed, {len(failed)} failed, "
          f"{sum(r.verdict == 'SKIP' for r in results)} skipped")
    return 1 if failed else 0
