"""Proof-carrying rewrites: a rule's rewrite is kept only if the subgraph it replaces and the plugin
node(s) it produces compute the same values on probe inputs (issue #11, item 2).

For one rewrite (the graph before it, and the graph after it):

* outputs = the tensors the new nodes produce that existed before (the replaced subgraph's results);
* inputs  = the non-constant tensors the new nodes read (they existed before);
* original side = every node of the graph before that lies between those inputs and outputs, plus
  any other tensor it reads ("free" inputs: the rewrite ignores them, so the probes vary them too);
  run with onnxruntime (CPU), or onnx.reference where onnxruntime refuses the subgraph; a custom-domain
  op (no onnxruntime kernel, no ONNX definition) runs by the semantics a plugin's rules.py registered
  for it (pykit.surgeon.rules.register_semantics: an implementation independent of the plugin's
  reference), and without one the rewrite is kept unproven, saying so;
* rewritten side = the new nodes (plugin nodes + any Cast/Unsqueeze/Gather the rule added), run with
  onnx.reference and the plugins' numpy references (pykit.surgeon.equiv.plugin_ops).

Probes (PROBES per rewrite, seeded): shapes from shape inference (a symbolic or unknown dim becomes
SYMBOLIC_DIM); floats zeros, negatives and standard normals; integers from the ORIGINAL's domain,
restricted only where the original is undefined: indices of Gather*/Scatter* nodes inside the
subgraph out of range, and duplicate destinations of ScatterND/ScatterElements/Scatter without a
reduction (each int column's defined values come from a sweep of [-M, M]: every value up to
M = SWEEP_ALL, beyond it a grid with the ends of each range found by bisection, _defined_values).
Columns the original ignores (e.g. the batch column of a single-sample pillar scatter)
get any value in [-M, M]. Boundary values are favoured in the first probes, and so are the integer
scalars the subgraph compares with Equal (a per-sample mask's sample numbers). The two sides must
agree within the plugin's tolerance for the tensors' precision (spec [tolerance.fp32], or
[tolerance.fp16] where the replaced tensors are float16 and the spec offers fp16) on every probe.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pykit.surgeon.model import PLUGIN_DOMAIN

PROBES = 8
SYMBOLIC_DIM = 3
DRAW_ATTEMPTS = 400
REDRAW_ROWS = 20
SWEEP_ALL = 2048  # an int column's defined values: every one in [-M, M] tried up to this M (_defined_values)
SWEEP_GRID = 256
_INDEXED = {  # op -> (data input, indices input): the ops whose index inputs make the original undefined when out of range
    "Gather": (0, 1), "GatherElements": (0, 1), "GatherND": (0, 1),
    "ScatterND": (0, 1), "ScatterElements": (0, 1), "Scatter": (0, 1),
}


_ONNX_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")


@dataclass
class Proof:
    proven: bool
    probes: int = 0
    max_diff: float = 0.0
    tolerance: str = ""
    reason: str = ""
    runtime: str = ""
    precision: str = "fp32"  # whose tolerance: the replaced tensors' precision

    def text(self) -> str:
        if self.proven and not self.probes:
            return f"kept unproven: {self.reason}"
        if self.proven:
            return (f"proven on {self.probes} probes (original on {self.runtime} vs plugin reference: "
                    f"max |diff| {self.max_diff:.3g}, {self.precision} tolerance {self.tolerance})")
        return f"not applied, proof failed: {self.reason}"


class _Unprovable(Exception):
    pass


def _np_dtype(t):
    try:
        return np.dtype(t.dtype) if t.dtype is not None else None
    except TypeError:
        return None


def _const(t):
    from pykit.surgeon.rules import RuleContext

    return RuleContext.const_value(t)


def _region(outputs, stop: set[str]):
    """Nodes (before the rewrite) computing ``outputs`` from ``stop`` tensors and constants; and the
    other non-constant tensors they read (graph inputs, outer-scope values, values made elsewhere)."""
    import onnx_graphsurgeon as gs

    nodes, free, seen = {}, {}, set()
    todo = list(outputs)
    while todo:
        t = todo.pop()
        if t.name in seen:
            continue
        seen.add(t.name)
        if t.name in stop or isinstance(t, gs.Constant):
            continue
        if len(t.inputs) != 1:
            free[t.name] = t
            continue
        p = t.inputs[0]
        if id(p) not in nodes:
            nodes[id(p)] = p
            todo.extend(x for x in p.inputs if x.name)
    return nodes, free


def _model(nodes, inputs, outputs, shapes: dict, opsets, ir_version):
    import onnx
    import onnx_graphsurgeon as gs
    from onnx import helper

    graph = gs.Graph(nodes=nodes, inputs=[], outputs=list(outputs))
    model = gs.export_onnx(graph, do_type_check=False)
    del model.graph.value_info[:]
    del model.graph.input[:]
    for t in inputs:
        dt = helper.np_dtype_to_tensor_dtype(_np_dtype(t))
        model.graph.input.append(helper.make_tensor_value_info(t.name, dt, shapes[t.name]))
    del model.graph.output[:]
    for t in outputs:
        dt = _np_dtype(t)
        model.graph.output.append(helper.make_tensor_value_info(
            t.name, helper.np_dtype_to_tensor_dtype(dt) if dt is not None else onnx.TensorProto.FLOAT, None))
    del model.opset_import[:]
    model.opset_import.extend(opsets)
    if any(n.domain == PLUGIN_DOMAIN for n in model.graph.node) and not any(o.domain == PLUGIN_DOMAIN for o in opsets):
        model.opset_import.append(helper.make_opsetid(PLUGIN_DOMAIN, 1))
    model.ir_version = ir_version
    return model


def _session(model):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 4
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in model.graph.output]
    return lambda feeds: sess.run(names, feeds)


def _first_line(exc) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _original_runner(model, new_ops=None):
    """A function running the original subgraph with onnxruntime, falling back to onnx.reference where
    onnxruntime refuses the model or a run (with ``new_ops``: OpRun classes of custom-domain ops, see
    _semantics_ops); ``.used`` names the runtimes that ran it."""
    from onnx.reference import ReferenceEvaluator

    state = {"ort": None, "ref": None, "ort_error": "", "used": set()}
    try:
        state["ort"] = _session(model)
    except Exception as exc:
        state["ort_error"] = _first_line(exc)

    def run(feeds):
        if state["ort"] is not None:
            try:
                out = state["ort"](feeds)
                state["used"].add("onnxruntime")
                return out
            except Exception as exc:
                state["ort_error"] = _first_line(exc)
        if state["ref"] is None:
            try:
                from pykit.surgeon.equiv import onnx_gap_ops

                state["ref"] = ReferenceEvaluator(model, new_ops=onnx_gap_ops() + list(new_ops or []))
            except Exception as exc:
                raise _Unprovable(f"neither onnxruntime ({state['ort_error']}) nor onnx.reference "
                                  f"({_first_line(exc)}) runs the original subgraph") from None
        try:
            out = state["ref"].run(None, feeds)
        except Exception as exc:
            raise _Unprovable(f"neither onnxruntime ({state['ort_error']}) nor onnx.reference "
                              f"({_first_line(exc)}) runs the original subgraph") from None
        state["used"].add("onnx.reference")
        return out

    run.used = state["used"]
    return run


def _semantics_ops(semantics):
    """onnx.reference OpRun classes running custom-domain ops by their registered semantics
    (pykit.surgeon.rules.register_semantics)."""
    from onnx import helper
    from onnx.reference.op_run import OpRun

    def make(sem):
        def _run(self, *xs, **_attrs):
            attrs = {a.name: helper.get_attribute_value(a) for a in self.onnx_node.attribute}
            return tuple(sem.run([np.asarray(x) for x in xs], attrs))
        return type(sem.op, (OpRun,), {"op_domain": sem.domain, "_run": _run})

    return [make(s) for s in semantics]


class _Domain:
    """Where the original subgraph is defined: its Gather*/Scatter* index inputs in range and, for
    scatters without a reduction, no two updates to the same destination."""

    def __init__(self, region_nodes, inputs, shapes, opsets, ir_version):
        import onnx_graphsurgeon as gs

        self.checks = []
        # integer scalars the subgraph tests values for equality with (e.g. a per-sample mask
        # coords[:, 0] == k): probes favour them, else a column the original defines everywhere is drawn
        # from [-M, M] and would almost never select anything
        self.compared = np.unique([int(v.reshape(-1)[0]) for n in region_nodes if n.op == "Equal"
                                   for v in map(_const, n.inputs)
                                   if v is not None and v.size == 1 and v.dtype.kind in "iu"]).astype(np.int64)
        watch, self.consts = {}, {}
        for n in region_nodes:
            if n.op not in _INDEXED or (n.domain or "") not in ("", "ai.onnx"):
                continue
            d, i = _INDEXED[n.op]
            data, idx = n.inputs[d], n.inputs[i]
            axis = int(n.attrs.get("axis", 0))
            unique = n.op.startswith("Scatter") and n.attrs.get("reduction", "none") == "none"
            self.checks.append((n, data, idx, axis, unique))
            for t in (data, idx):
                if isinstance(t, gs.Constant):
                    continue
                value = _const(t)  # a Constant/ConstantOfShape output (a zero canvas): read once, not run per check
                if value is None:
                    watch[t.name] = t
                else:
                    self.consts[t.name] = value
        self.run = None
        self.names = list(watch)
        if watch:
            names = {t.name for t in inputs}
            nodes, free = _region(list(watch.values()), names)
            free = [t for t in free.values() if t.name not in names]
            order = [n for n in region_nodes if id(n) in nodes]
            outs = [t for t in watch.values() if t.name not in names]
            if outs:
                model = _model(order, list(inputs) + free, outs, shapes, opsets, ir_version)
                self.run = _original_runner(model)
                self.outs = [t.name for t in outs]

    def empty(self, shapes) -> str | None:
        """Why no input of these shapes makes the original defined, when counting proves it: a scatter
        without a reduction that writes more updates than it has destinations (duplicates certain)."""
        def static(t):
            shape = shapes.get(t.name, t.shape)
            return list(shape) if shape is not None and all(isinstance(d, (int, np.integer)) for d in shape) else None

        for n, data, idx, axis, need_unique in self.checks:
            ds, xs = static(data), static(idx)
            if not need_unique or ds is None or xs is None or not xs:
                continue
            if n.op == "ScatterND":
                updates, slots = int(np.prod(xs[:-1])), int(np.prod(ds[:xs[-1]]))
            else:
                updates, slots = xs[axis % len(xs)], ds[axis % len(ds)]
            if updates > slots:
                return (f"{n.op} '{n.name}' writes {updates} updates into {slots} destinations without a "
                        "reduction: duplicates are certain, and ONNX leaves the result undefined")
        return None

    def ok(self, feeds, unique: bool = True) -> bool:
        return not self.violations(feeds, unique, locate=False)[0]

    def violations(self, feeds, unique: bool = True, locate: bool = True):
        """(any violation?, {axis length: positions along an axis of that length of an offending index
        tensor}, or None where they cannot be told). Every axis counts, not only the leading one: an
        index expanded over channels (seed 003's ``idx.unsqueeze(0).expand(C, -1)``) has its pillars on
        axis 1, and the probe drawer redraws the rows of an int input whose leading length matches. An
        axis as long as the rows a Gather/GatherND picked from an int input (a masked batch form's
        ``GatherND(coords, NonZero(coords[:, 0] == k))``) also names those rows of the input.
        ``locate=False``: (True, None) at the first violation (only whether there is one)."""
        values = {**self.consts, **feeds}
        if self.run is not None:
            try:
                values.update(zip(self.outs, self.run(feeds)))
            except Exception:
                return True, None  # an index inside the index computation was out of range
        bad_any, rows = False, {}
        for n, data, idx, axis, need_unique in self.checks:
            dv = _const(data) if data.name not in values else values[data.name]
            iv = _const(idx) if idx.name not in values else values[idx.name]
            if dv is None or iv is None:
                return True, None
            shape = np.shape(dv)
            iv = np.asarray(iv).astype(np.int64)
            if not iv.size:
                continue
            if n.op in ("Gather", "GatherElements", "ScatterElements", "Scatter"):
                s = shape[axis % len(shape)]
                bad = (iv < -s) | (iv >= s)
                if unique and need_unique:
                    dest = np.indices(iv.shape).reshape(iv.ndim, -1)
                    dest[axis % iv.ndim] = np.where(iv < 0, iv + s, iv).reshape(-1)
                    bad |= _repeated(dest.T).reshape(iv.shape)
            else:  # GatherND / ScatterND: the last axis of indices addresses data's leading dims
                k = iv.shape[-1]
                lim = np.asarray(shape[:k]).reshape([1] * (iv.ndim - 1) + [k])
                lo = -lim if n.op == "GatherND" else 0  # ScatterND says nothing of negative indices
                bad = np.any((iv < lo) | (iv >= lim), axis=-1)
                if unique and need_unique:
                    bad |= _repeated(iv.reshape(-1, k)).reshape(bad.shape)
            bad = np.asarray(bad).reshape(bad.shape or (1,))
            if bad.any():
                if not locate:
                    return True, None
                bad_any = True
                if rows is not None:
                    for a in range(bad.ndim):
                        hit = bad.any(axis=tuple(i for i in range(bad.ndim) if i != a))
                        rows.setdefault(bad.shape[a], set()).update(int(r) for r in np.nonzero(hit)[0])
        for n, data, idx, axis, _ in self.checks if bad_any else ():
            x, iv = feeds.get(data.name), values.get(idx.name)
            if x is None or iv is None or np.asarray(x).dtype.kind not in "iu" or not np.ndim(x):
                continue
            iv = np.asarray(iv).astype(np.int64)
            if n.op == "Gather" and axis % np.ndim(x) == 0 and iv.ndim == 1:
                picks = iv
            elif n.op == "GatherND" and iv.ndim == 2 and iv.shape[1] == 1 and not n.attrs.get("batch_dims", 0):
                picks = iv[:, 0]
            else:
                continue
            R = len(x)
            if len(picks) != R and len(picks) in rows:
                hit = picks[sorted(rows[len(picks)])]
                rows.setdefault(R, set()).update(int(r) for r in np.where(hit < 0, hit + R, hit))
        return bad_any, rows


def _repeated(rows):
    """True for every row equal to an earlier one (a stable lexicographic sort: equal rows keep their
    order, so each run's first is the earliest; about 6x np.unique(axis=0) on KITTI's 768k rows)."""
    rows = np.asarray(rows)
    out = np.zeros(len(rows), bool)
    if len(rows) < 2:
        return out
    if rows.ndim != 2 or not rows.shape[1]:  # no columns: every row equals the first
        out[1:] = True
        return out
    order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    out[order[1:][np.all(ordered[1:] == ordered[:-1], axis=1)]] = True
    return out


def _observed_shapes(source, names, seed: int) -> dict:
    """Shapes of main-graph tensors ``names`` in one onnxruntime run of the whole model ``source`` on
    seeded inputs (pykit.surgeon.equiv.random_inputs), or onnx.reference's where onnxruntime cannot run
    it (custom-domain ops, by their registered semantics): for values shape inference does not reach,
    e.g. If outputs whose declared shape is the then-branch's, Slices of computed bounds."""
    import onnx

    from pykit.surgeon.equiv import random_inputs

    if source is None:
        return {}
    m = onnx.ModelProto()
    m.CopyFrom(source)
    known = {o.name for o in m.graph.output}
    for n in names:
        if n not in known:
            m.graph.output.append(onnx.ValueInfoProto(name=n))
    feeds = random_inputs(source, seed)
    try:
        outs = _session(m)(feeds)
    except Exception:  # e.g. a custom-domain op: onnx.reference with its registered semantics
        try:
            from onnx.reference import ReferenceEvaluator

            from pykit.surgeon.equiv import custom_semantics_ops, onnx_gap_ops

            outs = ReferenceEvaluator(m, new_ops=onnx_gap_ops() + custom_semantics_ops(m)).run(None, feeds)
        except Exception:
            return {}
    return {o.name: list(np.shape(v)) for o, v in zip(m.graph.output, outs) if o.name in names}


def _shape(t, sizes: dict, observed: dict | None = None):
    if observed and t.name in observed:
        return observed[t.name]
    if t.shape is None:
        raise _Unprovable(f"tensor '{t.name}' has no known shape (shape inference did not reach it, and a run "
                          "of the whole model on seeded inputs did not give it)")
    out = []
    for d in t.shape:
        if isinstance(d, (int, np.integer)) and d >= 0:
            out.append(int(d))
        else:
            out.append(sizes.setdefault(str(d) if d is not None else f"?{t.name}", SYMBOLIC_DIM))
    return out


def _defined_values(defined, M: int, hot) -> np.ndarray:
    """The values v in [-M, M] with ``defined(v)`` (one run of the domain's subgraph each). Up to
    M = SWEEP_ALL every value is tried. Beyond (a flattened KITTI canvas: M = 214272, 1.7 million runs
    for a 4-column coords input, hours), SWEEP_GRID + 1 evenly spaced values, -1, 0, 1 and the compared
    values ``hot`` are tried, and where two neighbours disagree the change between them is located
    exactly by bisection; between neighbours that agree every value is taken to agree. An index range
    is an interval, so its ends come out exact; a hole narrower than the grid's step is missed, and
    costs redraws only: every probe is checked against the domain in full (_Domain.violations)."""
    if M <= SWEEP_ALL:
        return np.asarray([v for v in range(-M, M + 1) if defined(v)], np.int64)
    points = sorted({int(v) for v in np.linspace(-M, M, SWEEP_GRID + 1).round()} | {-1, 0, 1}
                    | {int(v) for v in np.asarray(hot).reshape(-1) if -M <= v <= M})
    verdict = {v: bool(defined(v)) for v in points}
    mask = np.zeros(2 * M + 1, bool)
    for a, b in zip(points, points[1:]):
        cut = b  # the first value with b's verdict
        if verdict[a] != verdict[b]:
            lo, hi = a, b
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if bool(defined(mid)) == verdict[a]:
                    lo = mid
                else:
                    hi = mid
            cut = hi
        mask[a + M:cut + M] = verdict[a]
        mask[cut + M:b + M + 1] = verdict[b]
    return np.nonzero(mask)[0].astype(np.int64) - M


def _probes(inputs, shapes, domain: _Domain, seed: int, count: int):
    """``count`` feeds dicts from the original's domain (see the module docstring)."""
    rng = np.random.default_rng(seed)
    fixed = {t.name: np.asarray(_const(t)) for t in inputs if _const(t) is not None}
    ints = [t for t in inputs if t.name not in fixed and _np_dtype(t).kind in "iu"]
    floats = [t for t in inputs if t.name not in fixed and _np_dtype(t).kind not in "iu"]
    dims = [d for t in inputs for d in shapes[t.name]] + [int(v) for n, *_ in domain.checks for v in
                                                          (np.shape(_const(n.inputs[0])) if _const(n.inputs[0]) is not None else ())]
    M = max([8] + dims)
    # per int input and last-axis column: the values for which the original is defined (others 0)
    base = {t.name: np.zeros(shapes[t.name], _np_dtype(t)) for t in ints + floats}
    allowed = {}
    for t in ints:
        shape = shapes[t.name]
        cols = shape[-1] if len(shape) >= 2 else 1
        for c in range(cols):
            def defined(v, t=t, c=c, shape=shape):
                x = base[t.name].copy()
                if len(shape) >= 2:
                    x[..., c] = v
                else:
                    x[...] = v
                return domain.ok({**fixed, **base, **{t.name: x}}, unique=False)

            ok = _defined_values(defined, M, domain.compared)
            if not ok.size:
                raise _Unprovable(f"no value of '{t.name}'{f' column {c}' if cols > 1 else ''} in [-{M}, {M}] "
                                  "keeps the original's indices in range")
            allowed[(t.name, c)] = ok

    hots = {key: np.intersect1d(domain.compared, vals) for key, vals in allowed.items()}

    def draw_int(t, edge: bool):
        shape = shapes[t.name]
        cols = shape[-1] if len(shape) >= 2 else 1
        x = np.zeros(shape, np.int64)
        for c in range(cols):
            vals = allowed[(t.name, c)]
            sub = x[..., c] if len(shape) >= 2 else x
            pick = rng.choice(vals, size=sub.shape)
            if edge:  # boundary indices: the smallest and largest defined values, about half the elements
                ends = np.where(rng.random(sub.shape) < 0.5, vals.min(), vals.max())
                pick = np.where(rng.random(sub.shape) < 0.5, ends, pick)
            hot = hots[(t.name, c)]
            if hot.size:  # a random share of the elements: the compared values
                pick = np.where(rng.random(sub.shape) < rng.random(), rng.choice(hot, size=sub.shape), pick)
            if len(shape) >= 2:
                x[..., c] = pick
            else:
                x[...] = pick
        return x.astype(_np_dtype(t))

    feeds = []
    for k in range(count):
        f = None
        for attempt in range(DRAW_ATTEMPTS):
            if f is not None:
                bad, rows = domain.violations(f)
                if not bad:
                    feeds.append(f)
                    break
                # redraw only the offending rows where an axis of an index tensor is as long as an int
                # input's leading axis; every REDRAW_ROWS-th attempt redraws everything: an index
                # tensor's rows need not be the input's (a masked GatherND's rows are a subset whose
                # size may equal the input's)
                movable = [t for t in ints if rows and len(shapes[t.name]) >= 1 and shapes[t.name][0] in rows]
                if movable and attempt % REDRAW_ROWS:
                    for t in movable:
                        fresh = draw_int(t, edge=k < 3)
                        sel = sorted(rows[shapes[t.name][0]])
                        f[t.name][sel] = fresh[sel]
                    continue
            f = dict(fixed)
            for t in floats:
                shape, dt = shapes[t.name], _np_dtype(t)
                if k == 0:
                    v = np.zeros(shape)
                elif k == 1:
                    v = -np.abs(rng.normal(0, 1, shape))
                else:
                    v = rng.normal(0, 1, shape)
                    if k == 2 and v.size:  # exact zeros and negatives mixed in
                        v[rng.random(shape) < 0.25] = 0.0
                f[t.name] = v.astype(dt)
            for t in ints:
                f[t.name] = draw_int(t, edge=k < 3)
        else:
            raise _Unprovable(f"could not draw probe {k + 1} inside the original's domain in {DRAW_ATTEMPTS} attempts")
    return feeds


def _max_diff(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return np.where(same, 0.0, np.abs(a - b))


def prove(before, new_nodes, spec, opsets, ir_version, seed: int = 0, count: int = PROBES,
          source=None) -> Proof:
    """Run the subgraph of ``before`` (the gs graph before the rewrite) that ``new_nodes`` (the nodes the
    rewrite added, in a copy of it) replace, and those nodes, on ``count`` probes; ``spec`` gives the tolerance (fp16's for float16 tensors); ``source``: the whole model (ModelProto) when ``before``
    is its main graph, to observe shapes that shape inference left unknown."""
    import onnx_graphsurgeon as gs
    from onnx.reference import ReferenceEvaluator

    from pykit import registry
    from pykit.surgeon.equiv import _State, plugin_ops

    precision, tol = "fp32", spec.tolerances["fp32"]
    try:
        old = before.tensors()
        made = {o.name for n in new_nodes for o in n.outputs}
        outputs = [o for n in new_nodes for o in n.outputs if o.name in old and old[o.name].inputs]
        if not outputs:
            raise _Unprovable("the rewrite replaces no tensor that existed before")
        if "fp16" in spec.tolerances and any(_np_dtype(old[o.name]) == np.float16 for o in outputs):
            precision, tol = "fp16", spec.tolerances["fp16"]  # the original computes in float16 too
        ins, seen = [], set()
        for n in new_nodes:
            for t in n.inputs:
                if t.name and t.name not in made and t.name not in seen and not isinstance(t, gs.Constant):
                    if t.name not in old:
                        raise _Unprovable(f"the rewrite reads '{t.name}', which did not exist before")
                    seen.add(t.name)
                    ins.append(old[t.name])
        region, free = _region([old[o.name] for o in outputs], seen)
        region_nodes = [n for n in before.nodes if id(n) in region]
        from pykit.surgeon.rules import semantics_for

        customs = {}
        for n in region_nodes:
            if (n.domain or "") in _ONNX_DOMAINS:
                continue
            sem = semantics_for(n.domain, n.op)
            if sem is None:  # e.g. an exporter's custom symbolic named like the plugin: the plugin defines it
                return Proof(True, 0, 0.0, tol.describe(), f"{n.op} (domain '{n.domain}') has no ONNX "
                             "semantics to run the original with")
            why = sem.unusable(n) if sem.unusable else None
            if why:
                return Proof(True, 0, 0.0, tol.describe(), f"{n.op} (domain '{n.domain}'): {why}")
            customs[(sem.domain, sem.op)] = sem
        semantics = list(customs.values())
        originals = ins + [t for t in free.values()]
        for t in originals:
            if _np_dtype(t) is None:
                raise _Unprovable(f"tensor '{t.name}' has no known dtype")
        sizes: dict = {}
        # shapes shape inference left open (None, or symbolic/unknown dims): one run of the whole model says
        unknown = [t.name for t in originals if t.shape is None
                   or not all(isinstance(d, (int, np.integer)) and d >= 0 for d in t.shape)]
        observed = _observed_shapes(source, unknown, seed) if unknown else {}
        shapes = {t.name: _shape(t, sizes, observed) for t in originals}
        orig_model = _model(region_nodes, originals, [old[o.name] for o in outputs], shapes, opsets, ir_version)
        new_model = _model(list(new_nodes), ins, outputs, shapes, opsets, ir_version)
        run_orig = _original_runner(orig_model, _semantics_ops(semantics))
        specs = {n.op: registry.get(n.op) for n in new_nodes if n.domain == PLUGIN_DOMAIN}
        ev = ReferenceEvaluator(new_model, new_ops=plugin_ops(list(specs.values()), _State("fp32", "reference")))
        domain = _Domain(region_nodes, originals, shapes, opsets, ir_version)
        vacuous = domain.empty(shapes)
        if vacuous:
            return Proof(True, 0, 0.0, tol.describe(), f"the original is undefined on every input: {vacuous}")
        feeds = _probes(originals, shapes, domain, seed, count)
        worst = 0.0
        for k, f in enumerate(feeds):
            want = run_orig(f)
            runtime = " and ".join(sorted(run_orig.used)) + "".join(f" ({s.op}: {s.label})" for s in semantics)
            try:
                got = ev.run(None, {t.name: f[t.name] for t in ins})
            except Exception as exc:
                return Proof(False, k + 1, float("nan"), tol.describe(),
                             f"the rewritten side fails on probe {k + 1} of {count}: {_first_line(exc)}", runtime)
            for o, w, g in zip(outputs, want, got):
                if np.shape(w) != np.shape(g):
                    return Proof(False, k + 1, float("inf"), tol.describe(),
                                 f"output '{o.name}' has shape {list(np.shape(g))} after the rewrite, "
                                 f"{list(np.shape(w))} before (probe {k + 1} of {count})", runtime)
                diff = _max_diff(w, g)
                excess = diff - tol.bound(np.abs(np.asarray(w, np.float64)))
                m = float(diff.max()) if diff.size else 0.0
                worst = max(worst, m)
                if diff.size and float(excess.max()) > 0:
                    return Proof(False, k + 1, m, tol.describe(),
                                 f"output '{o.name}' differs on probe {k + 1} of {count}: max |diff| {m:.3g} "
                                 f"> {precision} tolerance {tol.describe()}", runtime, precision)
        return Proof(True, len(feeds), worst, tol.describe(), "", runtime if feeds else "", precision)
    except _Unprovable as exc:
        return Proof(False, 0, float("nan"), tol.describe(), f"cannot prove: {exc}")
