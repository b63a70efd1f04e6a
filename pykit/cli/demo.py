"""Build, inspect, patch, prove equivalent (fp32/fp16/int8, host backend) and lint the example models."""
from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="pykit-demo", help="output folder (default ./pykit-demo)")
    parser.add_argument("--trt", default="8.5", help="target TensorRT version (default 8.5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    parser.add_argument("--backend", default="host", choices=["host", "reference"], help="plugin nodes run on (default host)")


def run(args) -> int:
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from pykit.surgeon.demo import run_demo
    from pykit.surgeon.model import SurgeryError

    # The demo writes into a temporary folder beside --out and moves its files in only when it ran
    # to the end (PASS or FAIL, with the report): an error leaves no half-written folder.
    out = Path(args.out).absolute()
    # refused before the demo runs: a file at --out (or above it) would only fail at the final move
    blocking = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        print(f"pykit demo: --out {args.out}: {blocking} is a file, not a folder", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))

    def log(text: str) -> None:
        print(str(text).replace(str(stage), str(out)))

    try:
        ok = run_demo(stage, args.trt, args.seed, args.backend, log=log)
        out.mkdir(exist_ok=True)
        for item in stage.iterdir():
            os.replace(item, out / item.name)
        return 0 if ok else 1
    except SurgeryError as exc:
        print(f"pykit demo: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.backend == "host" and isinstance(exc, ImportError):
            print(f"pykit demo: the host backend is not built ({exc}); run with --backend reference", file=sys.stderr)
            return 2
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
