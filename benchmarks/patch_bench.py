"""Time `pykit patch` on a synthetic 10,000-node model (a script, not a timed test).

The model: a chain of Add/Mul/Relu blocks over a [1, 64] tensor with a ScatterElements(reduction=
"add") every 500 nodes (20 rewrites) plus one PointPillars scatter pattern; 10,000 nodes in all.
Times the library call (load + patch + checker + save) and the CLI process, and prints both.
Usage: python benchmarks/patch_bench.py [--nodes 10000]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic(nodes: int = 10000):
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h

    from pykit.surgeon.models import plugin_models

    pp = plugin_models("PillarScatter").pointpillars_like(pillars=64, nx=16, ny=8, channels=8)
    body, inits = list(pp.graph.node), list(pp.graph.initializer)
    inits += [onnx.numpy_helper.from_array(np.full((1, 64), 0.5, np.float32), "k"),
              onnx.numpy_helper.from_array(np.zeros((1, 8), np.int64), "idx")]
    cur, k = "x", 0
    while len(body) < nodes:
        k += 1
        if k % 500 == 0:
            body.append(h.make_node("ScatterElements", [cur, "idx", cur + "_u"], [f"t{k}"], axis=1, reduction="add", name=f"se{k}"))
            body.append(h.make_node("Slice", [cur, "s0", "s8", "s1"], [cur + "_u"], name=f"sl{k}"))
        else:
            op = ("Add", "Mul", "Relu")[k % 3]
            body.append(h.make_node(op, [cur, "k"] if op != "Relu" else [cur], [f"t{k}"], name=f"n{k}"))
        cur = f"t{k}"
    inits += [onnx.numpy_helper.from_array(np.array([0, 0], np.int64), "s0"),
              onnx.numpy_helper.from_array(np.array([1, 8], np.int64), "s8"),
              onnx.numpy_helper.from_array(np.array([0, 1], np.int64), "s1")]
    # Slice nodes were appended after their consumers: order them
    graph = h.make_graph(body, "synthetic", list(pp.graph.input) + [h.make_tensor_value_info("x", T.FLOAT, [1, 64])],
                         list(pp.graph.output) + [h.make_tensor_value_info(cur, T.FLOAT, [1, 64])], inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    import onnx_graphsurgeon as gs

    g = gs.import_onnx(model)
    g.toposort()
    out = gs.export_onnx(g)
    out.ir_version = 8
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=10000)
    args = ap.parse_args()
    import onnx

    from pykit.surgeon.model import load_model, save_atomic
    from pykit.surgeon.patch import patch_model

    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "synthetic.onnx", Path(d) / "patched.onnx"
        model = synthetic(args.nodes)
        onnx.save(model, str(src))
        print(f"synthetic model: {len(model.graph.node)} nodes")
        patch_model(load_model(src))  # warm imports and rule discovery
        t0 = time.perf_counter()
        result = patch_model(load_model(src), trt="8.5")
        save_atomic(result.model, dst)
        lib = time.perf_counter() - t0
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "pykit.cli", "patch", str(src), "-o", str(dst), "--trt", "8.5"],
                           capture_output=True, text=True)
        cli = time.perf_counter() - t0
        if p.returncode:
            print(p.stderr)
            return 1
        print(f"rewrites: {len(result.rewrites)}; patched model: {len(result.model.graph.node)} nodes")
        print(f"patch (library: load + rules + checker + save): {lib:.3f} s")
        print(f"pykit patch (CLI process, incl. interpreter start and imports): {cli:.3f} s")
        print("PASS (< 2 s)" if cli < 2.0 else "SLOW (>= 2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
