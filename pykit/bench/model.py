"""Whole-model engine latency: a model as TensorRT imports it natively vs as pykit patched it
(issue #16 item 4): `pykit bench --model PATCHED --against ORIGINAL`.

Both models go through TensorRT's ONNX parser and builder at each precision (fp32; fp16 with the
builder's kFP16; int8 with kINT8 and TensorRT's entropy calibrator fed the same seeded batches for
both, so neither side gets better ranges), then ``Engine.latency``: warm-up, then CUDA events around
each enqueue, median — trtexec's "GPU Compute Time" (and its host-to-host "Latency"). The inputs
are the stored ones (``--data``) or seeded draws from the original's ``pykit.input_specs``.
Nothing is compared for correctness here: `pykit validate --model` does that.

Each precision builds the patched model first: a native engine can fail inside TensorRT (8.5's
int8 calibration of the KITTI-size OpenPCDet scatter hit an illegal memory access), and such an
error is sticky: every later CUDA call of the process fails. After a failed build the context is
checked (cuda-python); once it is lost, what is left is recorded as not run, with the cause,
instead of as a refusal of its own.

The result (JSON) names the original by its sha256, so `pykit inspect --bench FILE` can tell that
a measurement belongs to the model it inspects.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

PRECISIONS = ("fp32", "fp16", "int8")
CALIBRATION_BATCHES = 8


def sha256_of(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cuda_context_error() -> str | None:
    """The sticky error of this process's CUDA context (cudaDeviceSynchronize), or None when it
    is usable or cuda-python is not installed."""
    from pykit.extensions import cuda_runtime

    runtime = cuda_runtime()
    if runtime is None:
        return None
    err, = runtime.cudaDeviceSynchronize()
    return None if int(err) == 0 else runtime.cudaGetErrorString(err)[1].decode()


def bench_model(patched_path, original_path, precisions=PRECISIONS, feeds: dict | None = None,
                iterations: int = 200, warmup: int = 20, seed: int = 0, log=print) -> dict:
    import onnx

    from pykit.backends import trt
    from pykit.surgeon.equiv import random_inputs
    from pykit.validate_model import CALIBRATION_SEED_OFFSET, engine_feeds, parser_bytes

    original, patched = onnx.load(str(original_path)), onnx.load(str(patched_path))
    trt.plugin_library()  # creators registered before the parser meets a plugin node
    _trt = trt.trt_module()
    builder = trt.builder()
    feeds = feeds if feeds is not None else random_inputs(original, seed)
    calib = [random_inputs(original, seed + CALIBRATION_SEED_OFFSET + i) for i in range(CALIBRATION_BATCHES)]
    int64_inputs = {i.name: "int32" for i in original.graph.input if i.type.tensor_type.elem_type == onnx.TensorProto.INT64}
    v = int(_trt.version())
    result = {"original": str(original_path), "original_sha256": sha256_of(original_path),
              "patched": str(patched_path), "patched_sha256": sha256_of(patched_path),
              "tensorrt": f"{v // 1000}.{v % 1000 // 100}.{v % 100}", "iterations": iterations, "warmup": warmup,
              "rows": []}
    lost = None  # why the CUDA context is unusable, once it is
    for precision in precisions:
        row = {"precision": precision}
        for side, model in (("patched", patched), ("native", original)):
            if lost:
                row[side] = {"error": f"not run: {lost}"}
                continue
            t0 = time.time()
            try:
                blob = parser_bytes(model)
                calibration = [engine_feeds(f, int64_inputs) for f in calib] if precision == "int8" else None
                plan = (builder.build_onnx(blob, precision, {}, calibration=calibration) if calibration
                        else builder.build_onnx(blob, precision, {}))
                engine = _trt.Engine(plan)
                types = {d["name"]: d["dtype"] for d in engine.io() if d["input"]}
                timing = engine.latency(engine_feeds(feeds, types), 0, warmup, iterations)
                row[side] = {"gpu_ms": float(np.median(timing["gpu_ms"])), "host_ms": float(np.median(timing["host_ms"])),
                             "build_s": round(time.time() - t0, 2)}
            except Exception as exc:  # a refusal is the answer for that side (e.g. no importer)
                row[side] = {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"}
                cause = cuda_context_error()
                if cause:
                    row[side]["error"] += f"; it left the CUDA context lost ({cause})"
                    lost = f"the CUDA context was lost ({cause}) in the {side} {precision} build; bench again in a new process"
        if "gpu_ms" in row["native"] and "gpu_ms" in row["patched"]:
            row["speedup"] = row["native"]["gpu_ms"] / row["patched"]["gpu_ms"]
        log(line(row))
        result["rows"].append(row)
    return result


def line(row: dict) -> str:
    def side(d):
        return f"{d['gpu_ms']:.4f} ms" if "gpu_ms" in d else f"refused ({d['error']})"
    ratio = f"  patched {row['speedup']:.2f}x faster" if "speedup" in row else ""
    return f"{row['precision']}: native {side(row['native'])}, patched {side(row['patched'])}{ratio}"


def markdown(result: dict, command: str) -> str:
    from pykit.report import markdown_table

    rows = [[r["precision"],
             f"{r['native']['gpu_ms']:.4f}" if "gpu_ms" in r["native"] else r["native"]["error"],
             f"{r['patched']['gpu_ms']:.4f}" if "gpu_ms" in r["patched"] else r["patched"]["error"],
             f"{r['speedup']:.2f}x" if "speedup" in r else "-"] for r in result["rows"]]
    return "\n".join([
        f"# Engine latency: {Path(result['original']).name} as TensorRT imports it vs patched", "",
        f"Command: `{command}`", "",
        f"TensorRT {result['tensorrt']}; GPU time per inference (median of {result['iterations']} after "
        f"{result['warmup']} warm-up runs, CUDA events around enqueue: trtexec's GPU Compute Time).", "",
        markdown_table(["precision", "native ms", "patched ms", "patched speedup"], rows), ""])


def speed_notes(model_path, bench_file) -> list[str]:
    """What a bench result says of the model being inspected (`pykit inspect --bench FILE`)."""
    import json

    try:
        result = json.loads(Path(bench_file).read_text())
        rows = result["rows"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"bench: {bench_file}: not a `pykit bench --model` result ({exc})"]
    if result.get("original_sha256") != sha256_of(model_path):
        return [f"bench: {bench_file} measured another model ({result.get('original')}), not this file"]
    notes = []
    for r in rows:
        if "speedup" in r:
            verdict = "faster" if r["speedup"] >= 1 else "slower"
            ratio = r["speedup"] if r["speedup"] >= 1 else 1 / r["speedup"]
            notes.append(f"bench {r['precision']}: native import runs ({r['native']['gpu_ms']:.4f} ms); patched "
                         f"measured {ratio:.2f}x {verdict} ({r['patched']['gpu_ms']:.4f} ms), TensorRT {result['tensorrt']}")
        elif "gpu_ms" in r.get("patched", {}):
            notes.append(f"bench {r['precision']}: native import refused ({r['native'].get('error')}); "
                         f"patched {r['patched']['gpu_ms']:.4f} ms")
    return notes
