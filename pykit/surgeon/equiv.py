"""CPU equivalence of a patched model with its original: the proof that a rewrite keeps semantics.

Runs, on the same seeded random inputs (drawn from the models' ``pykit.input_specs`` metadata or
``--input`` specs):

* O  = the original with onnxruntime;
* R0 = the original with ``onnx.reference.ReferenceEvaluator`` (numpy);
* P  = the patched model with ReferenceEvaluator, whose plugin nodes are custom OpRun classes that
  call the plugin's numpy reference (``--backend reference``) or its host kernels (``--backend host``).

Precision emulation (fp16, int8): the plugin node sees its inputs as the precision's types (binary16
rounding; int8 quantization with scale amax/127 calibrated on an fp32 run of the same inputs) and
its outputs leave as those types (binary16; int8 with scale amax(fp32 output)/127), exactly as
pykit.validate does. The original gets the *same* emulation at the same places: Cast(fp16)/Cast(fp32)
or clip(rint(x/s), -127, 127)*s (Div/Round/Clip/Mul: numerics.fake_quantize_int8 exactly) with the same scales, on the edges into the replaced nodes and
on the replaced subgraph's outputs ("cuts"). Everything else runs in fp32 in both models.

Error model (what is compared, and the tolerance of each comparison):

1. cut check (the verdict on the rewrite): at every plugin output tensor t (same name in both
   models), |P[t] - R0[t]| <= 2 * spec tolerance(precision)(|R0[t]|, int8 step). Each side is an
   implementation of the same function of the same (emulated) inputs, and the spec bounds the
   plugin's distance to the exact value; the replaced ONNX ops obey the same bound (they are the
   operation the spec's error model describes), hence 2x. For an exact plugin (data movement:
   PillarScatter at fp32/fp16) the tolerance is 0: bit-identical.
2. rewrite check per graph output: P and R0 run the same numpy kernels outside the plugin, so if
   every cut is bit-identical, every output must be bit-identical (tolerance 0). If a cut differs
   (within its tolerance), downstream differences are reported, and the verdict rests on check 1.
3. runtime check per graph output, fp32 only: |R0 - O| <= 1e-4 * max|O| + 1e-6: onnxruntime and
   the numpy evaluator agree on the original (different fp32 summation orders: for dot products of
   length K the gap is <= K * 2^-24 * sum|w x|, far below 1e-4 * max|O| for the K <= 10^3 here);
   this catches an evaluator that does not compute the original's semantics. At fp16/int8 a 1-ulp
   difference upstream of an emulated rounding can flip it, so there this is reported, not judged.

4. stored check per graph output (``stored=``, ``--data``): the patched model on the stored inputs
   against the stored expected outputs (an ONNX ``test_data_set_N`` folder or a ``.npz`` with
   ``input:NAME`` / ``output:NAME`` keys), |P - S| <= 1e-4 * max|S| + 1e-6 at fp32, the runtime
   check's tolerance (S comes from another runtime: onnx's numpy backend or torch); reported at
   fp16/int8, where the emulated rounding alone exceeds it.

Plugin nodes inside If/Loop/Scan bodies run in the evaluator (its subgraphs get the same plugin
ops), but their outputs are not graph values the evaluator can return; a rewrite's own tensor
(ScatterND flattened to a scatter over rows) has no counterpart in the original. Such cuts are
listed as not compared, and the verdict rests on the graph outputs: |P - R0| <= the runtime check's
tolerance at fp32. The original's precision emulation needs the cut in its main graph, so fp16/int8
are skipped, saying why, for such a model.

The headline per output is max|P - O|: the patched model on the evaluator vs the original on
onnxruntime, = (rewrite error) + (runtime gap).

An original with custom-domain ops (an exporter's custom symbolic, e.g. mmdeploy's
MMCVMultiScaleDeformableAttention) has no onnxruntime run: R0 runs those ops by the semantics the
taking plugin's rules.py registers (pykit.surgeon.rules.register_semantics, independent of the
plugin's reference), and O is R0 (no runtime check; the stored check still compares with the
exporting framework's outputs).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from pykit.surgeon.model import PLUGIN_DOMAIN, SurgeryError, iter_graphs
from pykit.surgeon.models import INPUT_SPECS_KEY

RUNTIME_REL, RUNTIME_ABS = 1e-4, 1e-6


# ---- inputs -----------------------------------------------------------------------------------


def parse_input_spec(text: str) -> tuple[str, dict]:
    """``NAME=normal[:MEAN:STD] | uniform:LO:HI | int:LO:HI[:unique]`` -> (name, spec)."""
    if "=" not in text:
        raise SurgeryError(f"--input {text!r}: expected NAME=SPEC (normal, uniform:LO:HI, int:LO:HI)")
    name, spec = text.split("=", 1)
    parts = spec.split(":")
    try:
        if parts[0] == "normal":
            mean, std = (float(parts[1]), float(parts[2])) if len(parts) >= 3 else (0.0, 1.0)
            return name, {"kind": "normal", "mean": mean, "std": std}
        if parts[0] == "uniform":
            return name, {"kind": "uniform", "low": float(parts[1]), "high": float(parts[2])}
        if parts[0] == "int":
            return name, {"kind": "int", "low": int(parts[1]), "high": int(parts[2]),
                          "unique_rows": len(parts) > 3 and parts[3] == "unique"}
    except (IndexError, ValueError):
        pass
    raise SurgeryError(f"--input {text!r}: unknown spec (normal[:MEAN:STD], uniform:LO:HI, int:LO:HI[:unique])")


def random_inputs(model, seed: int = 0, overrides: dict | None = None, dims: dict | None = None) -> dict:
    """Seeded random inputs for every graph input, from the input specs (metadata, then overrides)."""
    from onnx import helper

    specs = {}
    for prop in model.metadata_props:
        if prop.key == INPUT_SPECS_KEY:
            specs.update(json.loads(prop.value))
    names = fed_inputs(model)
    unknown = sorted(set(overrides or {}) - set(names))
    if unknown:
        raise SurgeryError(f"--input {', '.join(unknown)}: the model has no such input; its inputs: {names}")
    specs.update(overrides or {})
    dims = dims or {}
    rng = np.random.default_rng(seed)
    feeds = {}
    for inp in model.graph.input:
        if inp.name not in names:  # an initializer stands in for it
            continue
        tt = inp.type.tensor_type
        shape = []
        for d in tt.shape.dim:
            if d.HasField("dim_value"):
                shape.append(d.dim_value)
            else:
                shape.append(int(dims.get(d.dim_param, 1)))
        dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type)
        spec = specs.get(inp.name) or ({"kind": "normal"} if dtype.kind == "f" else {"kind": "int", "low": 0, "high": 4})
        kind = spec["kind"]
        if kind == "normal":
            x = rng.normal(spec.get("mean", 0.0), spec.get("std", 1.0), shape)
        elif kind == "uniform":
            x = rng.uniform(spec["low"], spec["high"], shape)
        elif kind == "int":
            low, high = np.asarray(spec["low"]), np.asarray(spec["high"])
            if spec.get("unique_rows"):
                span = np.broadcast_to(high - low, (shape[-1],))
                rows = int(np.prod(shape[:-1]))
                total = int(np.prod(span))
                if rows > total:
                    raise SurgeryError(f"input '{inp.name}': {rows} unique rows asked, only {total} exist")
                flat = rng.choice(total, size=rows, replace=False)
                x = np.stack(np.unravel_index(flat, tuple(int(s) for s in span)), axis=-1) + low
                x = x.reshape(shape)
            else:
                x = rng.integers(low, high, shape)
        else:
            raise SurgeryError(f"input '{inp.name}': unknown input spec kind {kind!r}")
        feeds[inp.name] = np.asarray(x).astype(dtype)
    return feeds


def fed_inputs(model) -> list[str]:
    """The graph inputs a caller feeds (those without an initializer standing in for them)."""
    inits = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits]


def load_stored(model, path) -> tuple[dict, dict]:
    """(inputs, expected outputs) by name from an ONNX ``test_data_set_N`` folder (input_K.pb /
    output_K.pb, named by the tensor's name or else by position) or a ``.npz`` with ``input:NAME`` /
    ``output:NAME`` keys. Every model input must be given; every name must be the model's."""
    import re
    from pathlib import Path

    from onnx import load_tensor, numpy_helper

    path = Path(path)
    in_names = fed_inputs(model)
    out_names = [o.name for o in model.graph.output]
    feeds, expected = {}, {}

    def put(kind, name, value, where):
        names, into = (in_names, feeds) if kind == "input" else (out_names, expected)
        if name not in names:
            raise SurgeryError(f"{where}: '{name}' is not an {kind} of the model; its {kind}s: {names}")
        into[name] = value

    if path.is_dir():
        files = {}
        for f in path.iterdir():
            m = re.fullmatch(r"(input|output)_(\d+)\.pb", f.name)
            if m:
                files[(m.group(1), int(m.group(2)))] = f
            elif f.suffix == ".pb":
                raise SurgeryError(f"{f}: not an input_K.pb / output_K.pb file of a test_data_set folder")
        for (kind, k), f in sorted(files.items()):
            try:
                tensor = load_tensor(str(f))
                value = numpy_helper.to_array(tensor)
            except Exception as exc:  # protobuf's DecodeError and friends: name the file
                raise SurgeryError(f"{f}: not a serialized ONNX TensorProto ({type(exc).__name__})") from None
            names = in_names if kind == "input" else out_names
            if tensor.name:
                name = tensor.name
            elif k < len(names):
                name = names[k]
            else:
                raise SurgeryError(f"{f}: the model has only {len(names)} {kind}(s) {names}")
            put(kind, name, value, f)
    elif path.suffix == ".npz" and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except Exception as exc:  # zipfile/ValueError on a damaged archive: name the file
            raise SurgeryError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc})") from None
        for key, value in arrays.items():
            kind, sep, name = key.partition(":")
            if not sep or kind not in ("input", "output"):
                raise SurgeryError(f"{path}: key '{key}' is neither input:NAME nor output:NAME")
            put(kind, name, value, f"{path} key '{key}'")
    else:
        raise SurgeryError(f"{path}: neither a test_data_set folder nor a .npz file")
    missing = [n for n in in_names if n not in feeds]
    if missing:
        raise SurgeryError(f"{path}: no stored value for model input(s) {missing}")
    if not expected:
        raise SurgeryError(f"{path}: no stored outputs")
    for name, value in feeds.items():
        want = next(i for i in model.graph.input if i.name == name).type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in want.shape.dim]
        if want.HasField("shape") and (len(dims) != value.ndim or any(d is not None and d != v for d, v in zip(dims, value.shape))):
            raise SurgeryError(f"{path}: input '{name}' has shape {list(value.shape)}, the model wants {dims}")
    return feeds, expected


# ---- plugin nodes in the reference evaluator ----------------------------------------------------


class _State:
    def __init__(self, precision="fp32", backend="reference"):
        self.precision = precision
        self.backend = backend
        self.scales: dict[str, float] = {}
        self.amax: dict[str, float] = {}
        self.unsupported: list[str] = []


_OPSET16_MODES = {"bilinear": "linear", "bicubic": "cubic"}


def onnx_gap_ops() -> list:
    """OpRun classes for standard ops onnx.reference does not implement, or implements wrongly:

    * ``Scatter`` (opset 9-10, deprecated by ScatterElements, which is the same op without a
      reduction): what torch's exporter writes for ``tensor.scatter`` at opset 10 (seed 003's form);
      onnx.reference has no kernel for it.
    * ``BatchNormalization``: onnx.reference's opset-9 kernel mixes the batch's own mean and variance
      into the running ones whenever the ``momentum`` attribute is present, which every torch export
      at opset 9-13 writes; ONNX computes Y in inference mode there (one output). Here Y is always
      the inference-mode value (``training_mode`` = 1 is refused: not an inference graph).
    * ``GridSample``: onnx.reference knows only opset 20's mode names (linear, cubic); opset 16's
      (bilinear, bicubic: what torch exports at opset 16) mean the same.
    """
    from onnx.reference.op_run import OpRun
    from onnx.reference.ops.op_batch_normalization import _batchnorm_test_mode
    from onnx.reference.ops.op_grid_sample import GridSample as _GridSample
    from onnx.reference.ops.op_scatter_elements import ScatterElements

    class Scatter(ScatterElements):
        op_domain = ""

        def _run(self, data, indices, updates, axis=None):
            return super()._run(data, indices, updates, axis=axis, reduction=None)

    class BatchNormalization(OpRun):
        op_domain = ""

        def _run(self, x, scale, bias, mean, var, epsilon=None, momentum=None, training_mode=None, spatial=None):
            if training_mode:
                raise ValueError("BatchNormalization with training_mode=1 is not an inference graph")
            return (_batchnorm_test_mode(x, scale, bias, mean, var, epsilon=epsilon).astype(x.dtype),)

    class GridSample(_GridSample):
        op_domain = ""

        def _run(self, X, grid, mode=None, padding_mode=None, align_corners=None):
            mode = mode or self.mode
            return super()._run(X, grid, mode=_OPSET16_MODES.get(mode, mode), padding_mode=padding_mode,
                                align_corners=align_corners)

    return [Scatter, BatchNormalization, GridSample]


def plugin_ops(specs, state: _State):
    """One OpRun subclass per plugin, named as its op type, in the trt.plugins domain; and
    onnx_gap_ops() (standard ops onnx.reference lacks or gets wrong)."""
    from onnx import helper
    from onnx.reference.op_run import OpRun

    from pykit import registry
    from pykit.precision import numerics
    from pykit.validate import NUMPY_DTYPES, to_precision

    classes = []
    for spec in specs:
        reference = registry.entry_point(spec, "reference")

        def _run(self, *xs, _spec=spec, _reference=reference, **_attrs):
            node = self.onnx_node
            given = {}
            for a in node.attribute:
                if a.name in ("plugin_version", "plugin_namespace"):
                    continue
                v = helper.get_attribute_value(a)
                given[a.name] = v.decode() if isinstance(v, bytes) else (list(v) if isinstance(v, (list, tuple)) else v)
            attrs = _spec.resolve_attributes(given)
            p = state.precision
            typed, ref_in, in_scales = [], {}, []
            for t, x, name in zip(_spec.inputs, xs, node.input):
                x = np.asarray(x)
                dt = t.dtype(p)
                s = 1.0
                if x.dtype.kind == "f":
                    state.amax[name] = max(state.amax.get(name, 0.0), float(np.max(np.abs(x))) if x.size else 0.0)
                if dt == "int8":
                    s = state.scales[name]
                value, ref_in[t.name] = to_precision(x, dt, s)
                typed.append(value)
                in_scales.append(s)
            out_scales = [state.scales.get(name, 1.0) if t.dtype(p) == "int8" else 1.0
                          for t, name in zip(_spec.outputs, node.output)]
            outs = []
            if state.backend == "host":
                from pykit.backends.host import HostBackend, host_for

                try:
                    host_for(_spec)
                except (ImportError, RuntimeError) as exc:
                    raise SurgeryError(str(exc)) from None
                got = HostBackend().run(_spec, p, typed, attrs, in_scales, out_scales).outputs
                for t, g, s in zip(_spec.outputs, got, out_scales):
                    g = np.asarray(g)
                    outs.append(numerics.dequantize_int8(g, s) if t.dtype(p) == "int8" else g.astype(np.float32))
            else:
                ref = _reference(ref_in, attrs)
                for t, s in zip(_spec.outputs, out_scales):
                    v = np.asarray(ref[t.name], dtype=np.float64)
                    dt = t.dtype(p)
                    if dt == "int8":
                        outs.append(numerics.fake_quantize_int8(v.astype(np.float32), s))
                    elif dt == "float16":
                        outs.append(numerics.to_fp16(v).astype(np.float32))
                    else:
                        outs.append(v.astype(NUMPY_DTYPES[dt]) if dt != "float32" else v.astype(np.float32))
            for name, o in zip(node.output, outs):
                if o.dtype.kind == "f":
                    state.amax[name] = max(state.amax.get(name, 0.0), float(np.max(np.abs(o))) if o.size else 0.0)
            return tuple(outs)

        classes.append(type(spec.name, (OpRun,), {"op_domain": PLUGIN_DOMAIN, "_run": _run}))
    return classes + onnx_gap_ops()  # what a patched model holds besides plugins runs right too


def plugin_nodes(model):
    from pykit import registry

    known = {s.name: s for s in registry.discover()}
    nodes = [n for n in model.graph.node if n.domain == PLUGIN_DOMAIN]
    missing = sorted({n.op_type for n in nodes if n.op_type not in known})
    if missing:
        raise SurgeryError(f"plugin node(s) of unregistered plugin(s) {missing}")
    return [(n, known[n.op_type]) for n in nodes], sorted({n.op_type for n in nodes})


def body_plugin_nodes(model):
    """(body path, node, spec) for every plugin node inside an If/Loop/Scan body."""
    from pykit import registry

    known = {s.name: s for s in registry.discover()}
    found = [(path, n) for path, g in iter_graphs(model.graph) if path != "main" for n in g.node if n.domain == PLUGIN_DOMAIN]
    missing = sorted({n.op_type for _, n in found if n.op_type not in known})
    if missing:
        raise SurgeryError(f"plugin node(s) of unregistered plugin(s) {missing}")
    return [(path, n, known[n.op_type]) for path, n in found]


# ---- emulation in the original --------------------------------------------------------------------


def _emulate(graph, src, name, precision: str, scale: float, tag: str):
    """Nodes appended to ``graph`` that give ``src`` as the precision stores it, as tensor ``name``:
    Cast to fp16 and back, or quantize_int8/dequantize_int8 exactly (clip(rint(x / s), -127, 127) * s
    in float32: Div/Round/Clip/Mul)."""
    import onnx_graphsurgeon as gs

    out = gs.Variable(name, dtype=np.float32, shape=src.shape)
    if precision == "fp16":
        mid = gs.Variable(f"{src.name}__{tag}_h", dtype=np.float16, shape=src.shape)
        graph.nodes += [gs.Node("Cast", f"{tag}/to_fp16", {"to": 10}, [src], [mid]),
                        gs.Node("Cast", f"{tag}/to_fp32", {"to": 1}, [mid], [out])]
    else:
        s = gs.Constant(f"{tag}_scale", np.array(scale, np.float32))
        lo, hi = gs.Constant(f"{tag}_lo", np.array(-127, np.float32)), gs.Constant(f"{tag}_hi", np.array(127, np.float32))
        d, r, q = (gs.Variable(f"{src.name}__{tag}_{x}", dtype=np.float32, shape=src.shape) for x in "drq")
        graph.nodes += [gs.Node("Div", f"{tag}/div", {}, [src, s], [d]),
                        gs.Node("Round", f"{tag}/round", {}, [d], [r]),
                        gs.Node("Clip", f"{tag}/clip", {}, [r, lo, hi], [q]),
                        gs.Node("Mul", f"{tag}/mul", {}, [q, s], [out])]
    return out


def emulate_helpers(original, patched, precision: str, scales: dict):
    """The patched model with the same emulation on the edges from a plugin's inputs into the
    rewrite's other new nodes (e.g. LayerNormalization's Mean/InvStdDev, which the rule computes
    beside the plugin): in the original one replaced node read the emulated tensor for all its
    outputs, so the rewrite's helper nodes must read it too."""
    import onnx_graphsurgeon as gs

    if precision == "fp32":
        return patched
    nodes, _ = plugin_nodes(patched)
    old = {(n.name, n.op_type) for n in original.graph.node}
    graph = gs.import_onnx(patched)
    tensors = graph.tensors()
    helpers = [n for n in graph.nodes if (n.name, n.op) not in old and n.domain != PLUGIN_DOMAIN]
    if not helpers:
        return patched
    k = 0
    for pn, spec in nodes:
        for t, name in zip(spec.inputs, pn.input):
            if t.dtype(precision) not in ("float16", "int8") or name not in tensors:
                continue
            src = tensors[name]
            users = [n for n in helpers if any(x is src for x in n.inputs)]
            if not users:
                continue
            k += 1
            e = _emulate(graph, src, f"{name}__emu_helper{k}", precision, scales.get(name, 1.0), f"emu_helper{k}")
            for u in users:
                for j, x in enumerate(u.inputs):
                    if x is src:
                        u.inputs[j] = e
    graph.toposort()
    model = gs.export_onnx(graph)
    model.ir_version = patched.ir_version
    del model.opset_import[:]
    model.opset_import.extend(patched.opset_import)
    return model


def emulate_original(original, patched, precision: str, scales: dict):
    """The original with the plugin's precision emulation at the cuts (see the module docstring)."""
    import onnx_graphsurgeon as gs

    if precision == "fp32":
        return original
    opset = next((o.version for o in original.opset_import if o.domain in ("", "ai.onnx")), 11)
    if precision == "int8" and opset < 11:
        # the emulation's Round and Clip-with-inputs exist from opset 11; onnx's version converter
        # lifts the rest (Scatter -> ScatterElements, same semantics)
        from onnx import version_converter

        original = version_converter.convert_version(original, 11)
    nodes, _ = plugin_nodes(patched)
    kept = {(n.name, n.op_type) for n in patched.graph.node}
    removed = {n.name for n in original.graph.node if (n.name, n.op_type) not in kept}  # a plugin node may keep its op's name
    graph = gs.import_onnx(original)
    tensors = graph.tensors()
    count = [0]

    def emulation(src, name, scale):
        count[0] += 1
        return _emulate(graph, src, name, precision, scale, f"emu{count[0]}")

    def replace_in(node, old, new):
        for j, x in enumerate(node.inputs):
            if x is old:
                node.inputs[j] = new

    for pn, spec in nodes:
        for t, name in zip(spec.inputs, pn.input):
            if t.dtype(precision) not in ("float16", "int8") or name not in tensors:
                continue
            src = tensors[name]
            users = [n for n in src.outputs if n.name in removed]
            if users:
                e = emulation(src, f"{name}__emu_in{count[0] + 1}", scales.get(name, 1.0))
                for u in users:
                    replace_in(u, src, e)
        for t, name in zip(spec.outputs, pn.output):
            if t.dtype(precision) not in ("float16", "int8") or name not in tensors:
                continue
            src = tensors[name]
            users = list(src.outputs)
            src.name = f"{name}__pre_emu"
            e = emulation(src, name, scales.get(name, 1.0))
            for u in users:
                replace_in(u, src, e)
            for j, o in enumerate(graph.outputs):
                if o is src:
                    graph.outputs[j] = e
    graph.toposort()
    model = gs.export_onnx(graph)
    model.ir_version = original.ir_version
    return model


# ---- the comparison -------------------------------------------------------------------------------


@dataclass
class CutResult:
    node: str
    plugin: str
    tensor: str
    max_err: float
    tolerance: str
    worst_fraction: float
    passed: bool
    where: str = ""  # why the cut cannot be compared ("inside body ...", "not a tensor of the original"); "" if it is


@dataclass
class OutputResult:
    name: str
    max_vs_ort: float  # max|P - O|
    max_rewrite: float  # max|P - R0|
    max_runtime_gap: float  # max|R0 - O|
    rewrite_check: str  # "exact" | "via cuts"
    runtime_bound: float | None
    passed: bool
    max_vs_stored: float | None = None  # max|P - S| against the stored expected output
    stored_bound: float | None = None  # None: reported, not judged


@dataclass
class EquivResult:
    precision: str
    backend: str
    seed: int
    plugins: list[str]
    cuts: list[CutResult] = field(default_factory=list)
    outputs: list[OutputResult] = field(default_factory=list)
    skipped: str = ""
    stored_inputs: bool = False  # fed from a stored data set, not drawn with the seed

    @property
    def passed(self) -> bool:
        return not self.skipped and all(c.passed for c in self.cuts) and all(o.passed for o in self.outputs)

    @property
    def verdict(self) -> str:
        return "SKIP" if self.skipped else ("PASS" if self.passed else "FAIL")

    def lines(self) -> list[str]:
        inputs = "stored inputs" if self.stored_inputs else f"seed {self.seed}"
        head = f"{self.precision} ({self.backend} backend, {inputs}): {self.verdict}"
        if self.skipped:
            return [head + f": {self.skipped}"]
        out = [head]
        for c in self.cuts:
            if c.where:
                out.append(f"  cut    {c.tensor} <- {c.node} ({c.plugin}): not compared ({c.where}); judged at the graph outputs")
                continue
            out.append(f"  cut    {c.tensor} <- {c.node} ({c.plugin}): max|P-R0| {c.max_err:.3g}, tolerance 2x({c.tolerance}), "
                       f"worst {c.worst_fraction:.3g} of allowed: {'ok' if c.passed else 'FAIL'}")
        for o in self.outputs:
            rt = f" (<= {o.runtime_bound:.3g})" if o.runtime_bound is not None else " (reported)"
            stored = ""
            if o.max_vs_stored is not None:
                sb = f" (<= {o.stored_bound:.3g})" if o.stored_bound is not None else " (reported)"
                stored = f"; stored max|P-S| {o.max_vs_stored:.3g}{sb}"
            out.append(f"  output {o.name}: max|P-O| {o.max_vs_ort:.3g}; rewrite max|P-R0| {o.max_rewrite:.3g} "
                       f"[{o.rewrite_check}]; onnxruntime gap max|R0-O| {o.max_runtime_gap:.3g}{rt}{stored}: {'ok' if o.passed else 'FAIL'}")
        return out


def custom_semantics_ops(model) -> list:
    """onnx.reference OpRun classes for the custom-domain ops of ``model`` (an exporter's custom symbolic:
    no onnxruntime kernel, no ONNX definition), from the semantics plugins' rules.py register
    (pykit.surgeon.rules.register_semantics); SurgeryError naming any op without them."""
    from pykit.surgeon.proof import _semantics_ops
    from pykit.surgeon.rules import semantics_for

    ops = sorted({(n.domain, n.op_type) for _, g in iter_graphs(model.graph) for n in g.node
                  if n.domain not in ("", "ai.onnx", "ai.onnx.ml", PLUGIN_DOMAIN)})
    missing = [f"{d}::{op}" for d, op in ops if semantics_for(d, op) is None]
    if missing:
        raise SurgeryError(f"the original has custom-domain op(s) {missing}: onnxruntime cannot run them and no "
                           "plugin's rules.py gives them semantics (register_semantics)")
    return _semantics_ops([semantics_for(d, op) for d, op in ops])


def _ort(model, feeds, outputs):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return dict(zip(outputs, sess.run(outputs, feeds)))


def _max_abs(a, b) -> float:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    if not a.size:
        return 0.0
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return float(np.max(np.where(same, 0.0, np.abs(a - b))))


def _runtime_bound(reference) -> float:
    return RUNTIME_REL * float(np.max(np.abs(np.asarray(reference, np.float64)))) + RUNTIME_ABS


def equivalence(original, patched, precisions=("fp32",), backend: str = "reference", seed: int = 0,
                feeds: dict | None = None, stored: dict | None = None) -> list[EquivResult]:
    """``stored``: expected outputs by name (from load_stored, with ``feeds`` its inputs): each
    output is also compared with them (check 4 of the module docstring)."""
    from onnx.reference import ReferenceEvaluator

    nodes, names = plugin_nodes(patched)
    in_bodies = body_plugin_nodes(patched)
    if not nodes and not in_bodies:
        raise SurgeryError("the patched model has no plugin nodes (in the graph or its If/Loop/Scan bodies) to check")
    names = sorted(set(names) | {s.name for _, _, s in in_bodies})
    orig_inputs = {i.name for i in original.graph.input}
    missing = [i.name for i in patched.graph.input if i.name not in orig_inputs]
    if missing:
        raise SurgeryError(f"the patched model has input(s) {missing} that the original lacks")
    specs = {s.name: s for _, s in nodes} | {s.name: s for _, _, s in in_bodies}
    feeds = feeds if feeds is not None else random_inputs(original, seed)
    outputs = [o.name for o in original.graph.output]
    unknown = sorted(set(stored or {}) - set(outputs))
    if unknown:
        raise SurgeryError(f"stored output(s) {unknown} are not outputs of the original; its outputs: {outputs}")
    # a cut the original does not name (a rewrite's own tensor, e.g. ScatterND's flattened scatter)
    # cannot be compared there: judged at the graph outputs, like a cut inside a body
    original_values = ({o for n in original.graph.node for o in n.output} | orig_inputs
                       | {i.name for i in original.graph.initializer})
    unreachable = [("", n, spec, name) for n, spec in nodes for name in n.output if name not in original_values]
    unreachable += [(path, n, spec, name) for path, n, spec in in_bodies for name in n.output]
    cut_names = [o for n, _ in nodes for o in n.output if o in original_values]

    custom = custom_semantics_ops(original)
    state = _State("fp32", backend)
    ev = ReferenceEvaluator(patched, new_ops=plugin_ops(specs.values(), state))
    ev.run(None, feeds)  # fp32 pass: calibrates the int8 scales (amax of plugin inputs/outputs)
    scales_from_fp32 = {}
    from pykit.precision import numerics

    for name, amax in state.amax.items():
        scales_from_fp32[name] = numerics.scale_from_amax(amax)

    results = []
    for p in precisions:
        res = EquivResult(p, backend, seed, names, stored_inputs=stored is not None)
        unsupported = sorted({s.name for s in specs.values() if p not in s.precisions})
        if unsupported:
            res.skipped = f"plugin(s) {unsupported} do not support {p}"
            results.append(res)
            continue
        if unreachable and p != "fp32":
            res.skipped = (f"the cut(s) {sorted({t for _, _, _, t in unreachable})} are not tensors of the original's main "
                           f"graph (a rewrite's own tensor, or inside an If/Loop/Scan body); the original's {p} "
                           "emulation reaches only those")
            results.append(res)
            continue
        orig_p = emulate_original(original, patched, p, scales_from_fp32)
        R0 = dict(zip(outputs + cut_names, ReferenceEvaluator(orig_p, new_ops=onnx_gap_ops() + custom).run(outputs + cut_names, feeds)))
        # an original with custom-domain ops has no onnxruntime run: O is R0 (the runtime gap is 0 by construction)
        O = _ort(orig_p, feeds, outputs) if not custom else {name: R0[name] for name in outputs}
        state = _State(p, backend)
        state.scales = scales_from_fp32
        patched_p = emulate_helpers(original, patched, p, scales_from_fp32)
        Pv = dict(zip(outputs + cut_names, ReferenceEvaluator(patched_p, new_ops=plugin_ops(specs.values(), state)).run(outputs + cut_names, feeds)))
        all_exact = not unreachable
        for n, spec in nodes:
            for t, name in zip(spec.outputs, n.output):
                if name not in original_values:
                    continue
                tol = spec.tolerances[p]
                ref = np.asarray(R0[name], np.float64)
                got = np.asarray(Pv[name], np.float64)
                step = scales_from_fp32.get(name, 0.0) if t.dtype(p) == "int8" else 0.0
                if got.shape == ref.shape:  # equal values (infinities, NaN with NaN) differ by 0, as in _max_abs
                    same = (got == ref) | (np.isnan(got) & np.isnan(ref))
                    err = np.where(same, 0.0, np.abs(np.where(same, 0.0, got - ref)))
                else:
                    err = np.full(1, np.inf)
                allowed = 2 * tol.bound(np.abs(ref), step) if got.shape == ref.shape else np.zeros(1)
                mx = _max_abs(got, ref)
                worst = float(np.max(np.where(allowed > 0, err / np.where(allowed > 0, allowed, 1), np.where(err > 0, np.inf, 0.0)))) if err.size else 0.0
                all_exact &= mx == 0.0
                res.cuts.append(CutResult(n.name, spec.name, name, mx, tol.describe(), worst, bool(worst <= 1.0)))
        for path, n, spec, name in unreachable:
            res.cuts.append(CutResult(n.name, spec.name, name, float("nan"), spec.tolerances[p].describe(), float("nan"),
                                      True, where=f"inside body {path}" if path else "not a tensor of the original"))
        for name in outputs:
            rw = _max_abs(Pv[name], R0[name])
            gap = _max_abs(R0[name], O[name])
            bound = _runtime_bound(O[name]) if p == "fp32" and np.size(O[name]) else None
            if unreachable:  # an unreachable cut is unreachable: the rewrite is judged here, at fp32 (others are skipped)
                rewrite_ok, check = rw <= (_runtime_bound(R0[name]) if np.size(R0[name]) else 0.0), "at outputs"
            else:
                rewrite_ok, check = (rw == 0.0 if all_exact else True), ("exact" if all_exact else "via cuts")
            ok = rewrite_ok and (bound is None or gap <= bound)
            vs_stored = stored_bound = None
            if stored is not None and name in stored:
                vs_stored = _max_abs(Pv[name], stored[name])
                if p == "fp32":
                    stored_bound = _runtime_bound(stored[name]) if np.size(stored[name]) else 0.0
                    ok = ok and vs_stored <= stored_bound
            res.outputs.append(OutputResult(name, _max_abs(Pv[name], O[name]), rw, gap, check, bound, ok, vs_stored, stored_bound))
        results.append(res)
    return results
