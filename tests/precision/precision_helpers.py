"""Shared builders for the precision tests (small ONNX models made by hand with onnx.helper)."""
from __future__ import annotations

import numpy as np


def mlp_model(weights, biases, input_name="x", output_name="y", batch="N", opset=17):
    """Gemm(transB=1) -> Relu -> ... -> Gemm; tensor names h0, r0, h1, ... and ``output_name``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    cur = input_name
    for k, (w, b) in enumerate(zip(weights, biases)):
        last = k == len(weights) - 1
        inits += [numpy_helper.from_array(np.asarray(w, np.float32), f"W{k}"),
                  numpy_helper.from_array(np.asarray(b, np.float32), f"B{k}")]
        out = output_name if last else f"h{k}"
        nodes.append(helper.make_node("Gemm", [cur, f"W{k}", f"B{k}"], [out], transB=1, name=f"fc{k}"))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"r{k}"], name=f"relu{k}"))
            cur = f"r{k}"
    n_in = np.asarray(weights[0]).shape[1]
    n_out = np.asarray(weights[-1]).shape[0]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, n_in])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch, n_out])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)
    onnx.checker.check_model(model)
    return model


def random_mlp(seed=0, sizes=(8, 16, 4)):
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal((o, i)).astype(np.float32) / np.sqrt(i) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [0.1 * rng.standard_normal(o).astype(np.float32) for o in sizes[1:]]
    return mlp_model(ws, bs), ws, bs


def numpy_mlp(x, ws, bs):
    """Float64 forward pass of :func:`mlp_model`; returns every named tensor."""
    out = {"x": np.asarray(x, np.float64)}
    cur = out["x"]
    for k, (w, b) in enumerate(zip(ws, bs)):
        h = cur @ np.asarray(w, np.float64).T + b
        if k == len(ws) - 1:
            out["y"] = h
        else:
            out[f"h{k}"] = h
            cur = out[f"r{k}"] = np.maximum(h, 0)
    return out


def ort_run(model, feeds, fake_quant=False):
    import onnxruntime as ort

    if fake_quant:
        from pykit.precision.qdq import fake_quant_session

        sess = fake_quant_session(model)
    else:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _kl_threshold_bin(hist, start_bin=128, levels=128):
    """Migacz's search, transcribed loop by loop (GTC 2017; pytorch-quantization
    ``_compute_amax_entropy``): bins[0] = bins[1]; for each kept-bin count i: P = bins[:i] with the
    tail added to its last bin, Q = bins[:i] merged into ``levels`` levels (level j holds bins b
    with j <= levels*b/i < j+1) spread evenly over the level's non-empty bins; KL(P||Q); the
    largest i among the minima."""
    import math

    hist = np.asarray(hist, dtype=np.float64).copy()
    hist[0] = hist[1]
    n = hist.size
    best_i, best_kl = None, math.inf
    for i in range(start_bin, n + 1):
        p = hist[:i].copy()
        p[i - 1] += hist[i:].sum()
        q = np.zeros(i)
        for j in range(levels):
            lo, hi = math.ceil(j * i / levels), math.ceil((j + 1) * i / levels)
            chunk = hist[lo:hi]
            nonempty = chunk != 0
            if nonempty.any():
                q[lo:hi][nonempty] = chunk.sum() / nonempty.sum()
        p /= p.sum()
        q /= q.sum()
        pos = p > 0
        kl = math.inf if np.any(q[pos] == 0) else float(np.sum(p[pos] * np.log(p[pos] / q[pos])))
        if kl <= best_kl:
            best_kl, best_i = kl, i
    return best_i


def reference_entropy_amax(batches, rule="one-shot", num_bins=2048):
    """``(amax, bin width)`` of entropy calibration over ``batches`` (arrays), written from the
    rules' definitions, independently of pykit.precision.calibrators:

    * ``"one-shot"`` (pytorch-quantization): one histogram of |x| over [0, max|x|],
      ``amax = i * width`` for the ``i`` kept bins;
    * ``"tensorrt"`` (TensorRT 8.5 as measured, docs/calibration): the range starts at the first
      non-zero batch's max|x| and doubles until it covers each later batch; one histogram of every
      |x| over that range; ``amax = (i + 0.5) * width``."""
    batches = [np.abs(np.asarray(b, dtype=np.float64)).ravel() for b in batches]
    values = np.concatenate(batches)
    if rule == "one-shot":
        upper, offset = values.max(), 0.0
    elif rule == "tensorrt":
        maxima = [b.max() for b in batches if b.size and b.max() > 0]
        upper = maxima[0]
        for m in maxima[1:]:
            while upper < m:
                upper *= 2.0
        offset = 0.5
    else:
        raise ValueError(rule)
    hist, edges = np.histogram(values, bins=num_bins, range=(0.0, upper))
    width = float(edges[1])
    return (_kl_threshold_bin(hist) + offset) * width, width
