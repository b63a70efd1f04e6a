"""A whole patched model in TensorRT engines vs its original on onnxruntime (CPU):
``pykit validate --backend trt --model PATCHED.onnx --against ORIGINAL.onnx``.

For each precision the patched model goes through TensorRT's ONNX parser (plugin nodes by the
parser's plugin fallback), is built, serialized, deserialized and run on seeded random inputs
drawn from the original's ``pykit.input_specs`` (other seeds than calibration's), or on stored
inputs (``feeds``, also compared with their stored outputs). Each plugin layer's outputs are forced
to the best precision its spec offers at or below the engine's (``plugin_precision``: a
ScatterElementsReduce, fp32/fp16 only, runs fp16 inside an int8 engine, which then gets kFP16 too);
TensorRT chooses for every other layer. What ran is read back, not assumed: each plugin records
its I/O types at enqueue, and TensorRT's engine inspector lists every layer's output type.

INT8 is built two ways from the same calibration batches (seeded inputs, disjoint from the
evaluation inputs; the stored inputs when given), each in its own try (one failing never skips the
other): (a) pykit's own Entropy2 calibration of the patched model on CPU (numpy reference
evaluator, plugin nodes by their numpy references), handed to TensorRT as explicit per-tensor
ranges, plus max|w| of every float initializer and Constant (``constant_ranges``): TensorRT 8.5's
parser turns an initializer that a plugin reads into a constant layer NAMED after it whose output
tensor is unnamed, so runner.cpp finds those ranges by the layer's name (``int8_ranges`` in the
report lists what got a range and what was left without); (b) TensorRT's IInt8EntropyCalibrator2
fed those batches, plus the same constants' ranges (its calibration gives none to a plugin's
constant inputs; a constant's range is max|w| whoever computes it). The two sets of scales are compared tensor by tensor.

Error model, per graph output y, reference O = the original on onnxruntime in fp32:
    max |y - O| <= rtol(precision) * max |O| + 1e-6
* fp32 (TF32 off): only summation order and fused BN/bias differ; for dot products of length
  K <= 10^3 the gap is <= K 2^-24 sum|w x|, far below 1e-4 max|O| (rtol 1e-4, as pykit.surgeon.equiv).
* fp16: each layer TensorRT runs in fp16 rounds its weights and output to binary16 (u = 2^-11);
  rounding errors of a dot product of length K add up like sqrt(K) u relative to its scale. The
  demo's chain has K = 9 (MatMul), 144 (3x3 conv of 16 channels), 16 (1x1 conv): (3 + 12 + 4) u
  = 0.93% of the output scale; rtol 1e-2. Plus what rounding the original's own tensors to
  binary16 does, emulated on CPU (fp16_emulation_errors, E16): about u relative in a smooth model,
  but a whole voxel step where the model is discontinuous (nearest sampling whose coordinate
  rounds across a half: the 3-D VoxelMorph nearest warp's fp16 engine was off by 2.0810 on the H200
  in one run, as the emulation, and by 0.0007 in another, where TensorRT rounded otherwise):
  max|y - O| <= rtol(fp16) * max|O| + 1e-6 + E16.
* int8: the error int8 quantization causes in THIS model, emulated on CPU (int8_emulation_errors):
  the patched model with the tensors the engine holds in int8 (its inspector's int8 layer outputs,
  and the int8 inputs and outputs of plugins that ran int8) quantized per tensor at the scales the
  engine was built with (pykit's, or TensorRT's calibration cache), and the Conv/MatMul/Gemm weights
  of quantized inputs per output channel, each once, exactly (clip(rint(x/s), -127, 127) * s), gives
  E = max|emulated - O| per output. E is an estimate, not a bound (errors can cancel differently; a
  fused layer requantizes once where the emulation may twice); layers TensorRT runs in fp16 inside
  an int8 engine add the fp16 term: max|y - O| <= E + rtol(fp16) * max|O| + 1e-6. Where the emulation
  cannot run or its E is not finite (the reason is in the report's JSON) or `--rtol int8=...` is
  given, rtol 0.1. An explicitly quantized (Q/DQ) model's E is its own evaluation as fake
  quantization (qdq_emulation_errors; fused Q -> plugin -> DQ unfused to Q/DQ pairs first, which is
  what the int8 plugin computes).
* No check is no PASS: an output whose allowed error is at least VACUOUS (half) of max|O| (a model
  discontinuous in a quantized tensor, e.g. nearest sampling of a quantized grid) or whose elements
  are mostly undefined in the original with no write-order outcomes to check them by (below) fails
  with that reason -- unless its error is also within the a-priori bound rtol(precision) * max|O| +
  1e-6 (the emulation's term left out), which checks something, each element measured against the
  nearer of O and the emulation's own output (nearer_err): an engine that flips a nearest pick
  exactly where the emulation does, or nowhere (the VoxelMorph nearest warp's fp16 engine: off by a
  voxel step in one H200 run, as the emulation, by 0.0007 in another), passes; one that flips
  elsewhere does not.
* Undefined elements (undefined_elements): where the original itself is undefined -- a Scatter /
  ScatterElements / ScatterND without reduction writing two different updates to one place, e.g.
  torch's opset-11 export of scatter_add_ -- the element changes with the order of the writes
  (found by evaluating the original with the writes in 8 random orders); there the engine's value
  must be within the tolerance of one of the values 64 more random orders give that element (the
  order the engine's kernel applied is one of them), counted in the report; the emulations leave
  them out.
The fp32/fp16 rtols are for models like the demo (dot-product layers, K <= 144); `--rtol` overrides.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

import numpy as np

RTOL = {"fp32": 1e-4, "fp16": 1e-2, "int8": 1e-1}  # int8's: only where the emulation cannot run (int8 below)
VACUOUS = 0.5  # an error bound at least this fraction of max|reference| checks nothing: not a PASS
ATOL = 1e-6
CALIBRATION_SEED_OFFSET = 10_000  # calibration inputs never coincide with evaluation inputs


class ModelValidationError(RuntimeError):
    pass


@dataclass
class OutputCheck:
    output: str
    max_abs_err: float
    max_ref: float
    allowed: float
    passed: bool
    undefined: int = 0  # elements the original leaves undefined (undefined_elements): checked against
                        # the values its write orders give them (order_candidates) where computed
    orders_checked: bool = False  # they were (a record says so: gpu-corpus --report-only trusts it)
    note: str = ""      # why the output is not checked (too few defined elements; a vacuous bound)
    nearer_err: float | None = None  # max over elements of the error against the nearer of the reference
                                     # and the emulation's output (where an emulation ran): the error a
                                     # wide bound's output is judged by (no_check_reason)


@dataclass
class EngineResult:
    precision: str
    variant: str  # "fp32", "fp16", "int8 (pykit cache)", "int8 (TensorRT calibrator)"
    plugins_ran: dict  # plugin name -> precision recorded at enqueue
    layer_types: dict  # output type -> number of engine layers (TensorRT's inspector)
    outputs: list = field(default_factory=list)
    passed: bool = False
    message: str = ""
    gpu_ms: float | None = None   # median latency, trtexec's "GPU Compute Time"
    host_ms: float | None = None  # median of H2D copies + compute + D2H copies, trtexec's "Latency"
    stored: list = field(default_factory=list)  # OutputChecks against the stored expected outputs


def _load(path):
    from pykit.surgeon.model import SurgeryError, load_model

    try:  # the one model reader: a folder, a missing file and garbage each get their own line
        return load_model(path, check=False)
    except SurgeryError as exc:
        raise ModelValidationError(str(exc)) from None


def parser_bytes(model) -> bytes:
    """The model as TensorRT 8.5's parser takes it: IR version <= 8, default-domain opset <= 17."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    for op in m.opset_import:
        if op.domain in ("", "ai.onnx") and op.version > 17:
            raise ModelValidationError(f"opset {op.version} > 17: TensorRT 8.5's ONNX parser stops at 17")
    m.ir_version = min(m.ir_version, 8)
    return m.SerializeToString()


def layer_types(layers_json: str) -> dict:
    """Count engine layers by the data type of their first output, from the inspector's JSON."""
    try:
        info = json.loads(layers_json)
    except json.JSONDecodeError:
        return {"unparsed": 1}
    counts: dict = {}
    for layer in info.get("Layers", []):
        if not isinstance(layer, dict) or not layer.get("Outputs"):
            continue
        fmt = str(layer["Outputs"][0].get("Format/Datatype", ""))
        kind = ("int8" if re.search(r"Int8", fmt) else "fp16" if re.search(r"FP16|Half", fmt)
                else "fp32" if re.search(r"FP32|Float", fmt) else "int32" if "Int32" in fmt else "other")
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def engine_feeds(feeds: dict, types: dict) -> dict:
    """Feeds in the engine's input types: TensorRT 8.5's parser makes int64 inputs int32."""
    out = {}
    for name, value in feeds.items():
        value = np.asarray(value)
        want = np.dtype(types.get(name, value.dtype))
        if want != value.dtype:
            cast = value.astype(want)
            if value.dtype.kind in "iu" and not np.array_equal(cast, value):
                raise ModelValidationError(f"input '{name}': values do not fit the engine's {want}")
            value = cast
        out[name] = value
    return out


def _feeds(model, seed: int, count: int) -> list[dict]:
    from pykit.surgeon.equiv import random_inputs

    return [random_inputs(model, seed + i) for i in range(count)]


def _original_evaluator(model, overrides: list = ()):
    """onnx.reference for an ORIGINAL model: onnx.reference's gaps filled (pykit.surgeon.equiv.
    onnx_gap_ops), an exporter's custom-domain ops by the semantics plugins register, and
    `overrides` (OpRun classes) in place of the kernels of the same name."""
    from onnx.reference import ReferenceEvaluator

    from pykit.surgeon.equiv import custom_semantics_ops, onnx_gap_ops

    names = {c.__name__ for c in overrides}
    gaps = [c for c in onnx_gap_ops() if c.__name__ not in names]
    return ReferenceEvaluator(model, new_ops=custom_semantics_ops(model) + gaps + list(overrides))


def _plugin_evaluator(model, extra: list = ()):
    """onnx.reference for a PATCHED model: each plugin node by its numpy reference at fp32 (with
    pykit.surgeon.equiv.plugin_ops' gap kernels), plus `extra` OpRun classes (Q/DQ kernels)."""
    from onnx.reference import ReferenceEvaluator

    from pykit.surgeon.equiv import _State, plugin_nodes, plugin_ops

    nodes, _ = plugin_nodes(model)
    specs = {s.name: s for _, s in nodes}
    return ReferenceEvaluator(model, new_ops=plugin_ops(specs.values(), _State("fp32", "reference")) + list(extra))


def _onnxruntime(model, feeds) -> dict:
    """The original's outputs on CPU: onnxruntime; a model with an exporter's custom-domain ops
    (mmcv's, which onnxruntime has no kernel for) on onnx.reference with the semantics the plugins
    register for them (pykit.surgeon.equiv.custom_semantics_ops, as `pykit equiv` does)."""
    import onnxruntime as ort

    from pykit.surgeon.model import iter_graphs

    names = [o.name for o in model.graph.output]
    if any(n.domain not in ("", "ai.onnx", "ai.onnx.ml") for _, g in iter_graphs(model.graph) for n in g.node):
        return dict(zip(names, _original_evaluator(model).run(names, feeds)))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return dict(zip(names, session.run(names, feeds)))


UNORDERED_WRITES = ("Scatter", "ScatterElements", "ScatterND")
_WRITE_ORDER = [np.random.default_rng(0)]  # the order _any_order_ops apply duplicate writes in


def _any_order_ops() -> list:
    """onnx.reference kernels for Scatter / ScatterElements / ScatterND that apply the updates in the
    order of _WRITE_ORDER's next permutation when there is no reduction (with one, as onnx.reference)."""
    from onnx.reference.ops.op_scatter_elements import ScatterElements as _ScatterElements
    from onnx.reference.ops.op_scatternd import ScatterND as _ScatterND

    def none(reduction) -> bool:
        return (reduction.decode() if isinstance(reduction, bytes) else reduction) in (None, "none")

    def elements(data, indices, updates, axis):
        out = np.array(data, copy=True)
        axis = int(axis or 0) % out.ndim
        idx = np.asarray(indices, np.int64)
        idx = np.where(idx < 0, idx + out.shape[axis], idx)
        where = list(np.indices(idx.shape))
        where[axis] = idx
        order = _WRITE_ORDER[0].permutation(idx.size)
        out[tuple(w.reshape(-1)[order] for w in where)] = np.asarray(updates).reshape(-1)[order]
        return (out,)

    class ScatterElements(_ScatterElements):
        op_domain = ""

        def _run(self, data, indices, updates, axis=None, reduction=None):
            if not none(reduction):
                return super()._run(data, indices, updates, axis=axis, reduction=reduction)
            return elements(data, indices, updates, axis)

    class Scatter(ScatterElements):
        op_domain = ""

        def _run(self, data, indices, updates, axis=None):
            return elements(data, indices, updates, axis)

    class ScatterND(_ScatterND):
        op_domain = ""

        def _run(self, data, indices, updates, reduction=None):
            if not none(reduction):
                return super()._run(data, indices, updates, reduction=reduction)
            out = np.array(data, copy=True)
            idx = np.asarray(indices, np.int64)
            k = idx.shape[-1]
            flat = idx.reshape(-1, k)
            flat = np.where(flat < 0, flat + np.array(out.shape[:k]), flat)
            upd = np.asarray(updates).reshape((flat.shape[0],) + out.shape[k:])
            order = _WRITE_ORDER[0].permutation(flat.shape[0])
            out[tuple(flat[order].T)] = upd[order]
            return (out,)

    return [Scatter, ScatterElements, ScatterND]


def _unordered_writes(original) -> list:
    from pykit.surgeon.model import iter_graphs

    return [n for _, g in iter_graphs(original.graph) for n in g.node if n.op_type in UNORDERED_WRITES
            and n.domain in ("", "ai.onnx") and not any(a.name == "reduction" and a.s not in (b"", b"none") for a in n.attribute)]


def write_order_outcomes(original, feeds: dict, tries: int, seed: int = 0) -> dict:
    """Output name -> the original's outputs on `feeds` with its unordered writes (Scatter /
    ScatterElements / ScatterND without reduction) applied in `tries` random orders (onnx.reference),
    stacked on a new first axis."""
    evaluator = _original_evaluator(original, _any_order_ops())
    names = [o.name for o in original.graph.output]
    _WRITE_ORDER[0] = np.random.default_rng(seed)
    runs = [evaluator.run(names, feeds) for _ in range(tries)]
    return {name: np.stack([np.asarray(r[k]) for r in runs]) for k, name in enumerate(names)}


def undefined_elements(original, feeds: dict, tries: int = 8, seed: int = 0) -> dict | None:
    """Output name -> bool mask of the elements the original leaves undefined on `feeds`: a Scatter /
    ScatterElements / ScatterND without reduction writing different updates to one place (ONNX leaves
    which one lands undefined; a GPU kernel and onnxruntime legitimately differ there, e.g. torch's
    opset-11 export of scatter_add_). Found by running the original on onnx.reference with those
    writes applied in `tries` random orders: an element that changes with the order is undefined.
    None when the original has no such node."""
    if not _unordered_writes(original):
        return None
    masks = {}
    for name, runs in write_order_outcomes(original, feeds, tries, seed).items():
        if runs.dtype.kind not in "fc":
            masks[name] = np.zeros(runs.shape[1:], bool)
            continue
        same = (runs == runs[0]) | (np.isnan(runs) & np.isnan(runs[0]))
        masks[name] = ~np.all(same, axis=0)
    return masks


def order_candidates(original, feeds: dict, mask: dict | None, tries: int = 64, seed: int = 1) -> dict | None:
    """Where `mask` (undefined_elements) marks elements, the values they take under `tries` more random
    write orders: an engine's value there must be one of them (the order TensorRT's kernel applied).
    Enough orders that a cell written by k updates shows each of its k outcomes with probability
    1 - k (1 - 1/k)^tries (k = 3: 1 - 3e-11)."""
    if not mask or not any(np.any(m) for m in mask.values()):
        return None
    return write_order_outcomes(original, feeds, tries, seed)


def pykit_scales(patched, batches: list[dict], progress: bool = False) -> dict:
    """Entropy2 scales of every float activation of the patched model, on CPU: the numpy reference
    evaluator with each plugin node computed by its numpy reference (fp32)."""
    from pykit.precision.collect import calibrate, default_tensors

    evaluator = _plugin_evaluator(patched)
    tensors = default_tensors(patched)
    inputs = [i.name for i in patched.graph.input if i.name not in {t.name for t in patched.graph.initializer}]

    def run(feeds):
        wanted = [t for t in tensors if t not in feeds]
        return dict(zip(wanted, evaluator.run(wanted, feeds)))

    from pykit.precision.batches import Batch

    # each feed dict is one batch as given: a model's inputs need not share a leading dimension
    # (ScatterElements' data and indices do not)
    # the model too: its scale ties (a MaxPool output takes its input's amax, as TensorRT does)
    result = calibrate(patched, [Batch(dict(f)) for f in batches], tensors=tensors, run=run, input_names=inputs,
                       algo="entropy", progress=progress)
    return {name: float(s) for name, s in result.scales().items() if s > 0}


def int8_tensors(layers_json: str) -> set[str] | None:
    """The tensors an engine holds in int8: its inspector's layer outputs in an Int8 format (names as the
    engine has them: the ONNX names, or '<name>:plugin' for a plugin output runner.cpp renamed). None
    where the inspector's JSON does not parse."""
    try:
        info = json.loads(layers_json)
    except (json.JSONDecodeError, TypeError):
        return None
    held = set()
    for layer in info.get("Layers", []):
        for out in (layer.get("Outputs") or []) if isinstance(layer, dict) else []:
            if re.search(r"Int8", str(out.get("Format/Datatype", ""))):
                held.add(str(out.get("Name", "")).removesuffix(":plugin"))
    return held


def plugin_int8_io(node, spec) -> list[str]:
    """The plugin node's inputs and outputs that are int8 when its plugin runs int8 (its spec's); none
    for a plugin whose spec offers no int8."""
    if "int8" not in spec.precisions:
        return []
    ins = [node.input[i] for i, t in enumerate(spec.inputs) if i < len(node.input) and t.dtype("int8") == "int8"]
    outs = [node.output[j] for j, t in enumerate(spec.outputs) if j < len(node.output) and t.dtype("int8") == "int8"]
    return [t for t in ins + outs if t]


def int8_emulation_errors(patched, scales: dict, feeds: list[dict], references: list[dict],
                          undefined: list | None = None, held: set | None = None, outputs: list | None = None) -> dict:
    """Output -> max|E - O| over `feeds`: E is the patched model on CPU (onnx.reference, each plugin
    node by its numpy reference) with the float activations of `scales` quantized per tensor (only
    those in `held`, the tensors the engine holds in int8, where given) and the Conv/MatMul/Gemm weights
    of quantized inputs per output channel, each exactly once (clip(rint(x/s), -127, 127) * s, by
    pykit.precision.qdq.insert_qdq's Q/DQ pairs): the error int8 quantization at these scales causes
    in this model (the int8 error model of the module docstring). `outputs`: a list to append E's
    outputs to, one dict per feed (the element-wise check of discontinuous outputs)."""
    from pykit.precision.qdq import insert_qdq, qdq_ops
    from pykit.surgeon.equiv import plugin_nodes

    g = patched.graph
    initializers = {i.name for i in g.initializer}
    nodes, _ = plugin_nodes(patched)
    plugin_constants = {t for n, _ in nodes for t in n.input if t in initializers}
    produced = {t for n in g.node for t in n.output} | {i.name for i in g.input if i.name not in initializers}
    chosen = {k: v for k, v in scales.items() if (k in produced or k in plugin_constants) and np.isfinite(v) and v > 0
              and (held is None or k in held or k in plugin_constants)}
    quantized = insert_qdq(patched, chosen, weights="per_channel", plugins="pairs")
    evaluator = _plugin_evaluator(quantized, qdq_ops())
    names = list(references[0])
    return _emulation_errors(lambda f: dict(zip(names, evaluator.run(names, f))), feeds, references, undefined,
                             outputs)


def binary16_rounded(model):
    """A copy of ``model`` whose every float activation, float initializer and Constant passes through
    binary16 (Cast to FLOAT16 and back after each node output): the tensors an fp16 engine holds,
    each rounded once, the arithmetic between them exact (fp32)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    try:
        typed = onnx.shape_inference.infer_shapes(out).graph
    except Exception:  # noqa: BLE001 - without types only the graph's declared ones are rounded
        typed = g
    floats = {vi.name for vi in list(typed.value_info) + list(typed.input) + list(typed.output)
              if vi.type.tensor_type.elem_type == TensorProto.FLOAT}
    nodes = []
    for n in g.node:
        nodes.append(n)
        for k, name in enumerate(n.output):
            if name in floats:
                n.output[k] = f"{name}__fp32"
                nodes += [helper.make_node("Cast", [f"{name}__fp32"], [f"{name}__binary16"], to=TensorProto.FLOAT16),
                          helper.make_node("Cast", [f"{name}__binary16"], [name], to=TensorProto.FLOAT)]
    del g.node[:]
    g.node.extend(nodes)
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16).astype(np.float32), init.name))
    return out


def fp16_emulation_errors(original, feeds: list[dict], references: list[dict], undefined: list | None = None,
                          outputs: list | None = None) -> dict:
    """Output -> max|E - O| over `feeds`: E is the original with its inputs and every float tensor
    rounded to binary16 (binary16_rounded). Small for a smooth model (about u = 2^-11 relative);
    large where the model is discontinuous in a tensor (nearest sampling: a coordinate rounded to
    binary16 picks the neighbouring voxel), which no a-priori fp16 bound covers."""
    model = binary16_rounded(original)

    def run(f):
        return _onnxruntime(model, {k: (v.astype(np.float16).astype(np.float32) if np.asarray(v).dtype == np.float32
                                        else v) for k, v in f.items()})
    return _emulation_errors(run, feeds, references, undefined, outputs)


def _emulation_errors(run, feeds: list[dict], references: list[dict], undefined: list | None,
                      outputs: list | None = None) -> dict:
    """Output -> max over feeds of |run(feed)[output] - reference|, undefined elements left out;
    each feed's outputs appended to `outputs` where given."""
    names = list(references[0])
    masks = undefined or [None] * len(feeds)
    errors = dict.fromkeys(names, 0.0)
    for f, o, m in zip(feeds, references, masks):
        got = run(f)
        if outputs is not None:
            outputs.append({name: np.asarray(got[name]) for name in names})
        for name in names:
            errors[name] = max(errors[name], _max_err(got[name], o[name], (m or {}).get(name)))
    return errors


EXPLICIT = {"explicit": 1.0}  # int8_bound's marker: the model's own Q/DQ nodes hold its scales


def qdq_emulation_errors(qdq_model, feeds: list[dict], references: list[dict], undefined: list | None = None,
                         outputs: list | None = None) -> dict:
    """Output -> max|E - O| over `feeds`: E is an explicitly quantized (Q/DQ) patched model evaluated on
    CPU as fake quantization (onnx.reference; pykit.precision.qdq.qdq_ops; plugin nodes by their numpy
    references): the error its own Q/DQ nodes cause, which an engine built from it shares."""
    from pykit.precision.qdq import qdq_ops, unfuse_plugin_qdq

    # the fused form (Q -> plugin(int8) -> DQ) as float pairs: plugin references compute in float
    qdq_model = unfuse_plugin_qdq(qdq_model)
    evaluator = _plugin_evaluator(qdq_model, qdq_ops())
    names = list(references[0])
    return _emulation_errors(lambda f: dict(zip(names, evaluator.run(names, f))), feeds, references, undefined,
                             outputs)


def _max_ref(references: list[dict], name: str) -> float:
    """max|O| of one output over every feed's reference."""
    return max(float(np.max(np.abs(o[name]))) if np.size(o[name]) else 0.0 for o in references)


def int8_allowed(errors: dict, references: list[dict], rtol_fp16: float = RTOL["fp16"]) -> dict:
    """Per output: the emulated error + the fp16 allowance (rtol fp16 * max|O|) + ATOL (the int8 bound,
    and the fp16 one with the binary16 emulation's error)."""
    return {name: e + rtol_fp16 * _max_ref(references, name) + ATOL for name, e in errors.items()}


def compare_scales(ours: dict, theirs: dict) -> list[dict]:
    """Tensor by tensor: both scales and their ratio, for the tensors both calibrations have."""
    rows = []
    for name in sorted(set(ours) | set(theirs)):
        a, b = ours.get(name), theirs.get(name)
        rows.append({"tensor": name, "pykit": a, "tensorrt": b,
                     "ratio": (a / b) if a and b else None})
    return rows


def _max_err(got, want, undefined=None) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:  # never broadcast one into the other
        return float("inf")
    diff = np.abs(got - want)
    if undefined is not None:
        diff = np.where(undefined, 0.0, diff)
    return float(np.max(diff)) if want.size else 0.0


def _nearer_err(got, want, alternative, undefined=None) -> float:
    """max over the defined elements of min(|got - want|, |got - alternative|): each element against
    whichever of the two references it is nearer (an emulation's output as the alternative)."""
    got, want, alt = (np.asarray(a, np.float64) for a in (got, want, alternative))
    if got.shape != want.shape or alt.shape != want.shape:
        return float("inf")
    diff = np.minimum(np.abs(got - want), np.abs(got - alt))
    if undefined is not None:
        diff = np.where(undefined, 0.0, diff)
    return float(np.max(diff)) if want.size else 0.0


def _candidate_err(got, candidates, mask) -> float:
    """max over the masked elements of min over the candidate outcomes of |got - candidate|."""
    got = np.asarray(got, np.float64)
    c = np.asarray(candidates, np.float64)
    if c.shape[1:] != got.shape or not np.any(mask):
        return 0.0
    nearest = np.min(np.abs(c - got[None]), axis=0)
    return float(np.max(nearest[mask]))


def no_check_reason(total: int, undefined: int, orders_checked: bool, allowed: float, ref: float,
                    err: float | None = None, rtol: float | None = None) -> str:
    """Why an output's comparison checks nothing ("" where it checks something): most of its `total`
    elements undefined in the original with no write-order outcomes to check them by, or an allowed
    error of at least VACUOUS x max|reference| -- unless the error `err` is also within the a-priori
    bound rtol(precision) x max|reference| + ATOL (without the emulation's term), itself below
    VACUOUS x max|reference|: then the output met a bound that does check something. Used when
    checking and when re-judging a record."""
    if total and undefined * 2 > total and not orders_checked:
        return (f"only {total - undefined} of {total} elements are defined in the original (duplicate writes "
                "without reduction): not checked")
    if ref > 0 and allowed >= VACUOUS * ref:
        apriori = None if rtol is None else rtol * ref + ATOL
        if err is not None and apriori is not None and apriori < VACUOUS * ref and err <= apriori:
            return ""
        return f"the error model allows {allowed:.3g}, at least half of max|reference| {ref:.3g}: a bound that wide checks nothing"
    return ""


def _check_outputs(results: list[dict], references: list[dict], rtol: float, undefined: list | None = None,
                   allowed_by_output: dict | None = None, candidates: list | None = None,
                   alternatives: list | None = None) -> list[OutputCheck]:
    """Per output: max|result - reference| over the defined elements (``undefined``: one mask dict per
    feed, or None) against rtol * max|reference| + ATOL, or ``allowed_by_output[name]`` where given.
    ``alternatives``: one dict per feed of an emulation's outputs (the emulation behind a wide
    ``allowed``): where that bound is vacuous, each element is judged against the nearer of the
    reference and the emulation's value, by the a-priori bound (no_check_reason)."""
    checks = []
    masks = undefined or [None] * len(results)
    for name in references[0]:
        err = max(_max_err(r[name], o[name], (m or {}).get(name)) for r, o, m in zip(results, references, masks))
        ref = _max_ref(references, name)
        allowed = (allowed_by_output or {}).get(name, rtol * ref + ATOL)
        skipped = sum(int(np.count_nonzero((m or {}).get(name, False))) for m in masks)
        total = sum(int(np.size(o[name])) for o in references)
        checked = candidates is not None and all(c is not None and name in c for c, m in zip(candidates, masks) if m)
        undefined_err = 0.0
        if checked:  # the undefined elements against the values the original's write orders give them
            undefined_err = max(_candidate_err(r[name], c[name], m[name]) for r, c, m in zip(results, candidates, masks)
                                if m and c is not None and name in m)
        err = max(err, undefined_err)
        nearer = None
        if alternatives is not None and len(alternatives) == len(results) and all(name in a for a in alternatives):
            nearer = max(undefined_err, max(_nearer_err(r[name], o[name], a[name], (m or {}).get(name))
                                            for r, o, a, m in zip(results, references, alternatives, masks)))
        note = no_check_reason(total, skipped, checked, allowed, ref, err if nearer is None else nearer, rtol)
        checks.append(OutputCheck(name, err, ref, allowed, bool(err <= allowed) and not note, skipped,
                                  bool(checked and skipped), note, nearer))
    return checks


ORDER = ("fp32", "fp16", "int8")


def plugin_precision(spec, precision: str) -> str:
    """The precision a plugin runs at inside an engine asked for `precision`: the best its spec
    offers that is not above it (fp32 < fp16 < int8), e.g. ScatterElementsReduce (fp32, fp16) runs
    fp16 in an int8 engine. A spec offering nothing at or below `precision` is an error."""
    offered = [p for p in spec.precisions if ORDER.index(p) <= ORDER.index(precision)]
    if not offered:
        raise ModelValidationError(f"{spec.name} offers {list(spec.precisions)}: nothing at or below {precision}")
    return max(offered, key=ORDER.index)


def int8_rank_gaps(model, nodes) -> dict:
    """Plugin type -> why it cannot run int8 in TensorRT 8.5: one of its float inputs or outputs has
    rank < 3, for which 8.5 has no INT8 format to reformat to ("No supported formats for <plugin>";
    docs/validation/probe_int8_rank.txt). Such a plugin runs at the next precision its spec offers."""
    import onnx
    from onnx import TensorProto

    try:
        typed = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - what shape inference cannot say is not a gap we know of
        typed = model
    g = typed.graph
    known = {vi.name: vi.type.tensor_type for vi in list(g.input) + list(g.value_info) + list(g.output)
             if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape")}
    floats = (TensorProto.FLOAT, TensorProto.FLOAT16)
    ranks = {n: (t.elem_type, len(t.shape.dim)) for n, t in known.items()}
    ranks.update({i.name: (i.data_type, len(i.dims)) for i in g.initializer})
    gaps = {}
    for node, spec in nodes:
        for name in plugin_int8_io(node, spec):  # what stays float at int8 (GridSampler's grid) needs no int8 format
            elem, rank = ranks.get(name, (None, None))
            if elem in floats and rank is not None and rank < 3 and spec.name not in gaps:
                gaps[spec.name] = (f"{node.name or spec.name}: float tensor '{name}' has rank {rank}; TensorRT 8.5 "
                                   "has no INT8 format for rank < 3 (docs/validation/probe_int8_rank.txt)")
    return gaps


def finite_ranges(scales: dict) -> dict:
    """amax = scale * 127 per tensor, leaving out tensors whose amax is not a finite float32 (a scatter
    max/min fills its canvas with -inf; TensorRT's setDynamicRange refuses non-finite bounds): those
    tensors get no range, so TensorRT keeps them in float."""
    out = {}
    with np.errstate(over="ignore"):
        for k, s in scales.items():
            amax = np.float32(s) * np.float32(127)
            if np.isfinite(amax) and amax > 0:
                out[k] = float(amax)
    return out


def constant_ranges(model) -> dict:
    """amax = max|value| of every float initializer and Constant node output, by its ONNX name: the
    name TensorRT 8.5's parser gives the constant layer it makes for it (runner.cpp finds the range
    by the layer's name). An all-zero constant gets amax 1 (any range holds it exactly)."""
    from onnx import TensorProto, numpy_helper

    values = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.t.data_type:
                    values[node.output[0]] = a.t
    out = {}
    for name, tensor in values.items():
        if tensor.data_type not in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE):
            continue
        array = numpy_helper.to_array(tensor).astype(np.float64)
        amax = float(np.max(np.abs(array))) if array.size else 0.0
        out[name] = float(np.float32(amax)) if amax > 0 and np.isfinite(amax) else 1.0
    return out


def _stored_checks(results: list[dict], expected: list[dict], rtol: float, undefined=None, allowed=None,
                   candidates=None, alternatives=None) -> list[OutputCheck]:
    """The engine's outputs against the stored expected outputs (the framework's), where stored."""
    names = [n for n in results[0] if all(n in e for e in expected)]
    if not names:
        return []
    return _check_outputs([{n: r[n] for n in names} for r in results], [{n: e[n] for n in names} for e in expected], rtol,
                          undefined, allowed, candidates, alternatives)


def validate_model(patched_path, original_path, precisions=("fp32", "fp16", "int8"), seed: int = 0,
                   inputs: int = 3, calibration_batches: int = 16, rtol: dict | None = None, log=print,
                   feeds: list[dict] | None = None, expected: list[dict] | None = None, latency: bool = True,
                   native: bool = False, explicit: bool = False) -> dict:
    """Build and run the patched model's engines; returns a JSON-able dict of everything checked.

    feeds: evaluate on these stored inputs (and calibrate on them) instead of seeded random ones;
    expected: their stored expected outputs (ONNX test_data_set / corpus .npz, read with
    pykit.surgeon.equiv.load_stored), compared as well, next to onnxruntime(original).
    latency: time every engine (Engine.latency). native: also build the ORIGINAL as TensorRT imports
    it (no plugins) at each precision, compared and timed the same way (its build error, if any, is
    that engine's result). explicit: the patched model is explicitly quantized (Q/DQ, e.g. from
    `pykit calibrate --qdq`): built with no calibrator and no ranges, once without the kINT8 flag
    (TensorRT 11's way; 8.5's answer recorded) and once with it; `precisions` is not used.
    Each engine is built in its own try: one build's failure is recorded and never skips another."""
    from pykit.backends import trt
    import onnx

    from pykit.precision.cache import format_cache, parse_cache
    from pykit.surgeon.equiv import plugin_nodes

    user_int8, user_fp16 = "int8" in (rtol or {}), "fp16" in (rtol or {})
    rtol = {**RTOL, **(rtol or {})}
    patched, original = _load(patched_path), _load(original_path)
    nodes, plugin_names = plugin_nodes(patched)
    if not nodes:
        raise ModelValidationError(f"{patched_path}: no plugin nodes; nothing of pykit's to validate")
    if expected is not None and (feeds is None or len(expected) != len(feeds)):
        raise ModelValidationError("expected outputs need their feeds: one expected dict per feed dict")
    specs = {s.name: s for _, s in nodes}
    model_bytes = parser_bytes(patched)
    trt.plugin_library()  # creators registered before the parser looks for them
    _trt = trt.trt_module()
    builder = trt.builder()
    eval_feeds = list(feeds) if feeds is not None else _feeds(original, seed, inputs)
    references = [_onnxruntime(original, f) for f in eval_feeds]
    try:
        undefined = [undefined_elements(original, f) for f in eval_feeds]
        undefined = undefined if any(m is not None for m in undefined) else None
        candidates = [order_candidates(original, f, m) for f, m in zip(eval_feeds, undefined)] if undefined else None
        undefined_error = None
    except Exception as exc:  # noqa: BLE001 - recorded: the comparisons then take every element
        undefined, candidates, undefined_error = None, None, f"{type(exc).__name__}: {exc}"
    if "int8" in precisions and not explicit:
        calib_feeds = list(feeds) if feeds is not None else _feeds(original, seed + CALIBRATION_SEED_OFFSET,
                                                                   calibration_batches)
    else:
        calib_feeds = []

    def engine_result(precision, variant, plan, targets, native_engine=False, allowed=None) -> EngineResult:
        engine = _trt.Engine(plan)  # deserialized from the plan: what a deployment loads
        types = {d["name"]: d["dtype"] for d in engine.io() if d["input"]}
        ran, results = {}, []
        for f in eval_feeds:
            trt.clear_enqueue_record()
            out = engine.run(engine_feeds(f, types))
            results.append({name: out[name] for name in references[0]})
            for name, seen in trt.enqueue_record().items():
                if name in specs:
                    ran[name] = trt.actual_precision(specs[name], targets[name], seen)
        res = EngineResult(precision, variant, ran, layer_types(engine.layers()))
        if latency:
            timing = engine.latency(engine_feeds(eval_feeds[0], types), 0, 20, 200)
            res.gpu_ms, res.host_ms = float(np.median(timing["gpu_ms"])), float(np.median(timing["host_ms"]))
        if callable(allowed):  # int8: the emulation follows what this engine holds in int8
            allowed = allowed(engine, ran)
        allowed, alternatives = allowed if isinstance(allowed, tuple) else (allowed, None)  # (bound, emulation's outputs)
        res.outputs = _check_outputs(results, references, rtol[precision], undefined, allowed, candidates, alternatives)
        res.stored = (_stored_checks(results, expected, rtol[precision], undefined, allowed, candidates, alternatives)
                      if expected else [])
        problems = []
        if not native_engine:
            missing = [n for n in plugin_names if n not in ran]
            problems += [f"plugin(s) {missing} never ran"] if missing else []
            problems += [f"{n} ran {p}, not {targets[n]}" for n, p in ran.items() if p != targets[n]]
        problems += [f"output '{o.output}': {o.note}" if o.note else f"output '{o.output}': max|err| {o.max_abs_err:.3g} > "
                     f"{o.allowed:.3g}" for o in res.outputs if not o.passed]
        problems += [f"output '{o.output}' vs stored: max|err| {o.max_abs_err:.3g} > {o.allowed:.3g}"
                     for o in res.stored if not o.passed]
        res.passed, res.message = not problems, "; ".join(problems)
        log(f"{variant}: {'PASS' if res.passed else 'FAIL'} plugins {ran} layers {res.layer_types}"
            + (f" ({res.message})" if problems else ""))
        return res

    report = {"patched": str(patched_path), "original": str(original_path), "seed": seed,
              "inputs": len(eval_feeds), "stored_inputs": feeds is not None, "stored_expected": expected is not None,
              "rtol": rtol, "atol": ATOL, "engines": [], "scales": [], "calibration_batches": len(calib_feeds),
              "explicit": explicit, "plugin_precisions": {}}
    if undefined_error:
        report["undefined_elements_error"] = undefined_error

    def int8_bound(variant, scales, engine=None, ran=None):
        """The int8 tolerance per output from the emulation at the scales this engine was built with,
        quantizing the tensors the engine holds in int8 (its inspector) and the int8 I/O of plugins
        that ran int8; rtol int8 where it cannot run (the reason recorded) or --rtol int8 is given.
        Returns (allowed, the emulation's outputs) or None."""
        if user_int8 or not scales:
            return None
        outputs = []
        try:
            if scales is EXPLICIT:
                errors = qdq_emulation_errors(patched, eval_feeds, references, undefined, outputs)
            else:
                held = int8_tensors(engine.layers()) if engine is not None else None
                if held is not None:
                    held |= {t for n, spec in nodes if (ran or {}).get(spec.name) == "int8"
                             for t in plugin_int8_io(n, spec)}
                errors = int8_emulation_errors(patched, scales, eval_feeds, references, undefined, held, outputs)
            if not all(np.isfinite(e) for e in errors.values()):
                raise ValueError(f"the emulation's error is not finite: {errors}")
        except Exception as exc:  # noqa: BLE001 - recorded; the engine is then judged by rtol int8
            report.setdefault("int8_emulation", {})[variant] = {"error": f"{type(exc).__name__}: {exc}"}
            return None
        allowed = int8_allowed(errors, references, rtol["fp16"])
        report.setdefault("int8_emulation", {})[variant] = {"emulated_max_abs_err": errors, "allowed": allowed}
        return allowed, outputs

    fp16_outputs: list = []  # the binary16 emulation's outputs, per feed (computed once)

    def fp16_bound():
        """rtol fp16 * max|O| + ATOL (the engine's fp16 arithmetic) + what rounding the original's own
        tensors to binary16 does (fp16_emulation_errors); rtol alone where that cannot run or --rtol
        fp16 is given. Returns (allowed, the emulation's outputs) or None."""
        if user_fp16:
            return None
        if "fp16" not in report.get("fp16_emulation", {}):
            fp16_outputs.clear()
            try:
                errors = fp16_emulation_errors(original, eval_feeds, references, undefined, fp16_outputs)
                report.setdefault("fp16_emulation", {})["fp16"] = {"emulated_max_abs_err": errors}
            except Exception as exc:  # noqa: BLE001 - recorded; rtol fp16 alone then
                report.setdefault("fp16_emulation", {})["fp16"] = {"error": f"{type(exc).__name__}: {exc}"}
        errors = report["fp16_emulation"]["fp16"].get("emulated_max_abs_err")
        if errors is None or not all(np.isfinite(e) for e in errors.values()):
            return None
        return int8_allowed(errors, references, rtol["fp16"]), fp16_outputs

    def attempt(precision, variant, build, targets, native_engine=False, scales=lambda: None):
        """One engine: built, run, checked; any exception is this engine's FAIL with its message.
        scales: after the build, the int8 scales it used (for int8_bound)."""
        try:
            plan = build()
            if native_engine:
                allowed = None
            elif precision == "int8":
                allowed = lambda engine, ran, v=variant, sc=scales(): int8_bound(v, sc, engine, ran)  # noqa: E731
            else:
                allowed = fp16_bound() if precision == "fp16" else None
            report["engines"].append(asdict(engine_result(precision, variant, plan, targets, native_engine, allowed)))
        except Exception as exc:  # a failed build is that engine's FAIL, named; the others still run
            report["engines"].append(asdict(EngineResult(precision, variant, {}, {}, [], False,
                                                         f"{type(exc).__name__}: {exc}")))
            log(f"{variant}: FAIL {type(exc).__name__}: {exc}")

    if explicit:
        targets = {n: plugin_precision(specs[n], "int8") for n in plugin_names}
        report["plugin_precisions"]["int8"] = targets
        # the Q/DQ model quantizes where its Q/DQ nodes say: its own fake-quantized evaluation on CPU is
        # the int8 error model (qdq_emulation_errors), no scales to choose
        explicit_scales = (lambda: {}) if user_int8 else (lambda: EXPLICIT)
        attempt("int8", "int8 explicit Q/DQ, no kINT8 flag",
                lambda: builder.build_onnx(model_bytes, "fp32", {}, force_plugins=False), targets, scales=explicit_scales)
        attempt("int8", "int8 explicit Q/DQ, kINT8 flag",
                lambda: builder.build_onnx(model_bytes, "int8", {}, force_plugins=False), targets, scales=explicit_scales)
        precisions = ()
    original_bytes = None
    gaps = int8_rank_gaps(patched, nodes) if "int8" in precisions else {}
    for precision in precisions:
        try:
            targets = {n: plugin_precision(specs[n], precision) for n in plugin_names}
            for n, why in gaps.items():
                if precision == "int8" and targets.get(n) == "int8":
                    targets[n] = plugin_precision(specs[n], "fp16")
                    report.setdefault("plugin_precision_reasons", {})[n] = why
        except ModelValidationError as exc:
            report["engines"].append(asdict(EngineResult(precision, precision, {}, {}, [], False, str(exc))))
            continue
        report["plugin_precisions"][precision] = targets
        if native:
            if original_bytes is None:
                original_bytes = parser_bytes(original)
            attempt(precision, f"native {precision}" + (" (TensorRT calibrator)" if precision == "int8" else ""),
                    lambda p=precision: builder.build_onnx(
                        original_bytes, p, {}, force_plugins=False,
                        calibration=[engine_feeds(f, _int64_as_int32(original)) for f in calib_feeds] if p == "int8" else []),
                    {}, native_engine=True)
        if precision != "int8":
            attempt(precision, precision,
                    lambda p=precision, t=targets: builder.build_onnx(model_bytes, p, {}, plugin_precisions=t), targets)
            continue
        ours = {}
        constants = constant_ranges(patched)  # initializers' and Constants' amax: both builds set them
        constant_scales = {k: v / 127 for k, v in constants.items()}

        def pykit_build(t=targets):
            ours.update(pykit_scales(patched, calib_feeds))
            report["pykit_cache"] = format_cache(ours)
            ranges = {**constants, **finite_ranges(ours)}
            plan = builder.build_onnx(model_bytes, "int8", ranges, plugin_precisions=t)
            report["int8_ranges"] = builder.int8_ranges()
            return plan

        def calibrator_build(t=targets):
            # the calibrator copies raw bytes: int64 inputs as the int32 the parser makes of them
            # the constants' ranges (max|w|) too: TensorRT's calibrator leaves a plugin's constant inputs
            # (a LayerNorm's scale/bias initializers) without a scale
            plan = builder.build_onnx(model_bytes, "int8", constants, plugin_precisions=t,
                                      calibration=[engine_feeds(f, _int64_as_int32(patched)) for f in calib_feeds])
            report["tensorrt_cache"] = bytes(builder.calibration_cache()).decode()
            report["int8_ranges_with_calibrator"] = builder.int8_ranges()
            return plan

        def tensorrt_scales():
            return {**constant_scales, **parse_cache(report["tensorrt_cache"], "TensorRT's calibration cache").scales}

        attempt("int8", "int8 (pykit cache)", pykit_build, targets, scales=lambda: {**constant_scales, **ours})
        attempt("int8", "int8 (TensorRT calibrator)", calibrator_build, targets, scales=tensorrt_scales)
        if ours and report.get("tensorrt_cache"):
            try:
                theirs = parse_cache(report["tensorrt_cache"], "TensorRT's calibration cache").scales
                report["scales"] = compare_scales(ours, theirs)
            except Exception as exc:  # noqa: BLE001 - the comparison is a report, not a verdict
                report["scales_error"] = f"{type(exc).__name__}: {exc}"
    report["passed"] = bool(report["engines"]) and all(e["passed"] for e in report["engines"]
                                                       if not e["variant"].startswith("native")
                                                       and "no kINT8 flag" not in e["variant"])
    return report


def _int64_as_int32(model) -> dict:
    import onnx

    return {i.name: "int32" for i in model.graph.input if i.type.tensor_type.elem_type == onnx.TensorProto.INT64}


def markdown(report: dict, environment: dict, command: str) -> str:
    from pykit.report import markdown_table

    lines = [f"# Whole-model validation: {report['patched']} vs {report['original']}", "",
             "Reproduce (from the repository root):", "", "```", command, "```", "",
             "The error model and how each engine is built are in `pykit/validate_model.py`'s docstring: per graph "
             f"output, max|TensorRT - onnxruntime(original, fp32)| <= the 'allowed' column: rtol * max|reference| + "
             f"{ATOL:g} at fp32 (rtol " + ", ".join(f"{p} {v:g}" for p, v in report["rtol"].items())
             + "), plus the emulated fp16 rounding / int8 quantization error of this model at fp16 and int8 (the "
             "emulation table below; rtol alone where an emulation could not run: "
             + ("; ".join(f"{p} {v}: {d['error']}" for p in ("fp16", "int8") for v, d in report.get(f"{p}_emulation", {}).items()
                          if "error" in d) or "none") + f"); {report['inputs']} seeded inputs "
             f"(seed {report['seed']}), calibration on {report['calibration_batches']} other seeded inputs.", "",
             "## Environment", ""]
    lines += [f"- {k}: {v}" for k, v in environment.items()]
    rows = []
    for e in report["engines"]:
        stored = {o["output"]: o for o in e.get("stored") or []}
        for o in e["outputs"] or [{"output": "-", "max_abs_err": float("nan"), "max_ref": float("nan"), "allowed": float("nan"), "passed": False}]:
            s = stored.get(o["output"])
            rows.append([e["variant"], e.get("gpu_ms") or "-", e.get("host_ms") or "-",
                         ", ".join(f"{k} {v}" for k, v in e["plugins_ran"].items()) or "-",
                         ", ".join(f"{k}: {v}" for k, v in sorted(e["layer_types"].items())) or "-",
                         o["output"], o["max_abs_err"], o["max_ref"], o["allowed"],
                         s["max_abs_err"] if s else "-", "PASS" if e["passed"] else "FAIL"])
    data = ("the stored inputs, compared also with the stored expected outputs (column 'vs stored')"
            if report.get("stored_expected") else "the stored inputs" if report.get("stored_inputs") else "seeded inputs")
    lines += ["", "## Engines", "", f"Evaluated on {report['inputs']} {data}. Each plugin runs at the best precision "
              "its spec offers at or below the engine's (" + "; ".join(
                  f"{p}: " + ", ".join(f"{k} {v}" for k, v in t.items()) for p, t in report.get("plugin_precisions", {}).items())
              + ")" + "".join(f"; {k} below its best at int8: {why}" for k, why in report.get("plugin_precision_reasons", {}).items())
              + "; what it ran is its enqueue record. Engines named 'native' are the original as TensorRT imports it "
              "(no plugins) and, like the 'no kINT8 flag' experiment of an explicit Q/DQ build, are measurements outside "
              "the verdict.", "", "GPU ms / host ms: median of 200 runs after 20 warm-up runs, CUDA events on the "
              "stream (GPU: the engine's work alone; host: pinned host-to-device copies of the inputs + the work + "
              "device-to-host copies of the outputs), as trtexec reports GPU Compute Time and Latency.", "", markdown_table(
        ["engine", "GPU ms", "host ms", "plugin ran (enqueue record)", "engine layers by output type", "output", "max abs err",
         "max abs ref", "allowed", "vs stored", "result"], rows)]
    emulated = [[f"{p} ({v})", name, e] for p in ("fp16", "int8") for v, d in report.get(f"{p}_emulation", {}).items()
                for name, e in d.get("emulated_max_abs_err", {}).items()]
    if emulated:
        lines += ["", "## Emulated quantization error (the fp16/int8 error model, module docstring)", "",
                  "The original (fp16: every tensor rounded to binary16) or the patched model (int8: every tensor with "
                  "a scale and every weight quantized) evaluated on CPU; its max|E - O| enters 'allowed'.", "",
                  markdown_table(["precision (engine)", "output", "emulated max abs err"], emulated)]
    undefined = sorted({(e["variant"], o["output"], o.get("undefined", 0)) for e in report["engines"]
                        for o in e["outputs"] if o.get("undefined")})
    if undefined:
        lines += ["", "Where the original itself is undefined (duplicate writes without a reduction), each element was "
                  "checked against the values the original's write orders give it: " +
                  "; ".join(f"{v} {o}: {n} element(s)" for v, o, n in undefined) + "."]
    ranges = report.get("int8_ranges")
    if ranges:
        # constant layers found by their layer's name (not runner.cpp's '<name>:plugin' renamed plugin outputs)
        by_layer = [r for r in ranges["set"] if r["tensor"] != r["from"] and not r["tensor"].endswith(":plugin")]
        lines += ["", "## INT8 ranges given to TensorRT (pykit cache build)", "",
                  f"{len(ranges['set'])} tensors got a range; {len(by_layer)} of them are constant layers TensorRT made "
                  "for initializers/Constant nodes, found by the layer's (ONNX) name; float tensors left without one: "
                  + (", ".join(f"`{m}`" for m in ranges["missing"]) or "none") + "."]
        if by_layer:
            lines += ["", markdown_table(["TensorRT tensor", "ONNX name (its constant layer)", "amax"],
                                         [[r["tensor"], r["from"], r["amax"]] for r in by_layer])]
    failed = [e for e in report["engines"] if not e["passed"]]
    if failed:
        lines += ["", "## Failures", ""] + [f"- {e['variant']}: {e['message']}" for e in failed]
    if report["scales"]:
        both = [r for r in report["scales"] if r["ratio"]]
        ratios = np.array([r["ratio"] for r in both]) if both else np.array([1.0])
        from pykit.precision.calibrators import DEFAULT_ENTROPY_RULE

        lines += ["", f"## INT8 scales: pykit's entropy ({DEFAULT_ENTROPY_RULE.describe()}) vs TensorRT's calibrator "
                  "(same batches)", "",
                  f"{len(both)} tensors in both caches; pykit/TensorRT ratio: median {np.median(ratios):.4f}, "
                  f"min {ratios.min():.4f}, max {ratios.max():.4f}; within 1%: "
                  f"{int(np.sum(np.abs(ratios - 1) <= 0.01))}, within 10%: {int(np.sum(np.abs(ratios - 1) <= 0.1))}. "
                  "Tensors only one side calibrated are listed with one empty column (TensorRT calibrates the tensors "
                  "of its own, fused network; pykit every float activation of the ONNX graph).", "",
                  markdown_table(["tensor", "pykit scale", "TensorRT scale", "ratio"],
                                 [[r["tensor"], r["pykit"] if r["pykit"] else "-", r["tensorrt"] if r["tensorrt"] else "-",
                                   f"{r['ratio']:.4f}" if r["ratio"] else "-"] for r in report["scales"]])]
    lines += ["", f"Verdict: **{'PASS' if report['passed'] else 'FAIL'}**", ""]
    return "\n".join(lines)
