"""`pykit inspect --parse`: the installed TensorRT's own ONNX parser on the model, next to the
offline table's verdict (issue #11 item 5).

The whole model is parsed first. When it parses, every node was imported in context: that is each
node's verdict (parsed alone, a node can fail for reasons the model does not have: a Reshape whose
shape is computed becomes a plain network input, which TensorRT 8.5 refuses; seen on the H200 for
the expanded LayerNormalization node tests). When it fails, the parser names the node it stopped at
(8.5 reports its index): the nodes before it (ONNX orders nodes topologically, the parser imports
them in that order) were imported, that node is refused with the error, and each node after it is
parsed alone: a model of that one node whose graph inputs are its computed inputs (types and shapes
from ONNX shape inference; a dimension it cannot tell stays symbolic), plus the outer-scope tensors
its If/Loop/Scan bodies read, and whose constant inputs (initializers and Constant outputs) stay
constants, since importers read them (Reshape's shape, ScatterND's indices). Constant nodes are not
parsed alone; nodes inside bodies are imported through their If/Loop node.

Verdicts are compared with pykit's offline tables (pykit.surgeon.inspect): a node the table calls
unsupported/rejected must be refused by the parser, a node it calls imported (natively, or
imported with wrong semantics: that is an import) must be accepted; "above-opset" and
"wrong-or-rejected" predict neither. Two refusals are not held against the table: the node the whole
parse stopped at when a node feeding it is flagged (it fails for that node's mis-import), and a node
parsed alone whose computed integer inputs (shapes, indices) became plain network inputs there
(inconclusive). Every other outcome is a disagreement, listed; the tables are corrected where the
parser proves them wrong.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# what the offline table's finding kinds predict of the parser: refuses or imports. "above-opset" (an op
# whose form is newer than the parser's opset) predicts neither: TensorRT 8.5.3's parser takes models
# of opset 18-22 with a warning and imports such ops by its opset-17 importers, which took some
# (GridSample-22, ScatterND-18) and refused others (ReduceMean-18's axes input) on the H200
# (docs/validation/corpus/parser.md); whether what it took computes the right thing is the native
# engines' column of docs/validation/corpus/report.md.
REFUSED_KINDS = {"unsupported", "not-in-table", "rejected", "custom-domain", "unknown-plugin"}
IMPORTED_KINDS = {"wrong-semantics", "plugin", "external"}
EITHER_KINDS = {"above-opset", "wrong-or-rejected"}


@dataclass
class NodeVerdict:
    node: str
    op: str
    offline: str          # the table's finding kind, or "native"
    parser_ok: bool
    error: str = ""
    upstream: str = ""    # the node the whole parse stopped at: a node feeding it that the table flags, if any
    alone: str = ""       # parsed alone with these computed integer inputs as network inputs: a refusal is inconclusive

    @property
    def agrees(self) -> bool:
        if self.offline in EITHER_KINDS:
            return True
        if not self.parser_ok and (self.upstream or self.alone):  # a consequence of a flagged node before it,
            return True                                          # or of parsing it alone (inconclusive)
        if self.offline in REFUSED_KINDS:
            return not self.parser_ok
        return self.parser_ok  # native, wrong-semantics, plugin, external: the parser imports them

    def line(self) -> str:
        said = ("may go either way" if self.offline in EITHER_KINDS
                else "refuses" if self.offline in REFUSED_KINDS else "imports")
        got = "imports" if self.parser_ok else f"refuses: {self.error}"
        mark = "agree" if self.agrees else "DISAGREE"
        why = (f" (downstream of {self.upstream})" if self.upstream and not self.parser_ok else
               f" (inconclusive: parsed alone, its computed {self.alone} a network input)" if self.alone and not self.parser_ok
               else "")
        return f"{mark:8s} {self.node} ({self.op}): table [{self.offline}] {said}; parser {got}{why}"


@dataclass
class OnlineReport:
    version: str
    whole_ok: bool
    whole_errors: list[str]
    nodes: list[NodeVerdict] = field(default_factory=list)
    not_parsed: list[str] = field(default_factory=list)

    @property
    def disagreements(self) -> list[NodeVerdict]:
        return [v for v in self.nodes if not v.agrees]

    def text(self) -> str:
        lines = [f"online: TensorRT {self.version} ONNX parser on the whole model: "
                 + ("parses" if self.whole_ok else "fails: " + "; ".join(self.whole_errors))]
        refused = [v for v in self.nodes if not v.parser_ok]
        lines.append(f"online: {len(self.nodes)} node(s) parsed alone, {len(refused)} refused")
        lines += ["  " + v.line() for v in self.nodes if not v.parser_ok or v.offline != "native"]
        if self.not_parsed:
            lines.append("online: not parsed alone: " + ", ".join(self.not_parsed))
        bad = self.disagreements
        lines.append(f"online vs table: {len(bad)} disagreement(s)" + (":" if bad else ""))
        lines += ["  " + v.line() for v in bad]
        return "\n".join(lines)


def _error_text(err) -> str:
    """One parser error (a dict from pykit.backends.trt.parse_onnx) as one line."""
    if isinstance(err, str):
        return err
    where = err.get("node_name") or ""
    op = err.get("op_type") or ""
    desc = str(err.get("desc") or err.get("description") or "").strip().splitlines()
    code = err.get("code", "")
    head = f"[{code}] " if code != "" else ""
    at = f"{where} ({op}): " if where or op else ""
    return f"{head}{at}{desc[0] if desc else ''}"


def _outcome(result) -> tuple[bool, list[str]]:
    """(parsed?, error lines) from what pykit.backends.trt.parse_onnx returns: {"parsed": bool,
    "errors": [...], ...}, or a list of errors (empty: parsed)."""
    if isinstance(result, dict):
        errors = list(result.get("errors", []))
        ok = bool(result.get("parsed", result.get("ok", not errors)))
    else:
        errors = list(result)
        ok = not errors
    return ok, [_error_text(e) for e in errors]


def _outer_scope_reads(node) -> list[str]:
    """Tensors the bodies of an If/Loop/Scan node read from the enclosing graph (not made inside)."""
    from pykit.surgeon.model import node_bodies

    reads: list[str] = []

    def walk(graph, known: set):
        known = known | {i.name for i in graph.input} | {t.name for t in graph.initializer}
        for n in graph.node:
            for x in n.input:
                if x and x not in known and x not in reads:
                    reads.append(x)
            for g in node_bodies(n):
                walk(g, known)
            known |= set(n.output)

    for g in node_bodies(node):
        walk(g, set())
    return reads


def single_node_models(model):
    """(index, node name, op, one-node ModelProto or None, why not) for every node of the main graph."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper, shape_inference

    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:
        inferred = model
    g = inferred.graph
    types = {v.name: v for v in list(g.input) + list(g.value_info) + list(g.output)}
    consts = {t.name: t for t in g.initializer}
    for node in g.node:  # Constant outputs are constants for the parser too
        if node.op_type == "Constant" and len(node.attribute) == 1:
            a = node.attribute[0]
            value = helper.get_attribute_value(a)
            if a.name == "value":
                named = onnx.TensorProto()
                named.CopyFrom(value)
                named.name = node.output[0]
                consts[node.output[0]] = named
            elif a.name in ("value_float", "value_floats", "value_int", "value_ints"):
                dtype = np.float32 if "float" in a.name else np.int64
                consts[node.output[0]] = numpy_helper.from_array(np.asarray(value, dtype), node.output[0])
    opsets = list(model.opset_import)
    out = []
    for k, node in enumerate(g.node):
        name = node.name or f"<unnamed {node.op_type}> #{k}"
        if node.op_type == "Constant":
            continue
        inputs, inits, missing, seen = [], [], [], set()
        for x in list(node.input) + _outer_scope_reads(node):
            if not x or x in seen:  # a tensor read twice (Mul(x, x)) is one graph input
                continue
            seen.add(x)
            if x in consts:
                inits.append(consts[x])
            elif x in types and types[x].type.HasField("tensor_type") and types[x].type.tensor_type.elem_type:
                inputs.append(types[x])
            else:
                missing.append(x)
        if missing:
            out.append((k, name, node.op_type, None, f"no type for input(s) {missing} (shape inference did not reach them)"))
            continue
        outputs = []
        for y in node.output:
            if not y:
                continue
            outputs.append(types[y] if y in types else helper.make_tensor_value_info(y, onnx.TensorProto.UNDEFINED, None))
        one = helper.make_graph([node], f"{name}_alone", inputs, outputs, inits)
        m = helper.make_model(one, opset_imports=opsets)
        m.ir_version = model.ir_version
        out.append((k, name, node.op_type, m, ""))
    return out


def parse_online(model, trt: str = "8.5", parse=None, version: str | None = None) -> OnlineReport:
    """Run ``parse`` (bytes -> parser outcome; default pykit._trt.parse_onnx, the installed TensorRT)
    on the model and on each of its nodes alone; compare with the offline table for ``trt``."""
    from pykit.surgeon.inspect import inspect_model

    if parse is None:
        from pykit.backends import trt as backend

        parse = backend.parse_onnx  # plugin libraries loaded first; node names filled in from the model
        v = int(backend.trt_module().version())
        version = version or f"{v // 1000}.{v % 1000 // 100}.{v % 100}"
    result = parse(model.SerializeToString())
    ok, errors = _outcome(result)
    report = OnlineReport(version or "?", ok, errors)
    offline, upstream = _offline(model, trt)
    stopped = _stopped_at(result, len(model.graph.node)) if not ok else None
    for k, name, op, one, why in single_node_models(model):
        kind = offline.get(k, "native")
        if ok or (stopped is not None and k < stopped):  # imported in context
            report.nodes.append(NodeVerdict(name, op, kind, True))
            continue
        if k == stopped:
            report.nodes.append(NodeVerdict(name, op, kind, False, "; ".join(errors), upstream.get(k, "")))
            continue
        if one is None:
            report.not_parsed.append(f"{name} ({op}): {why}")
            continue
        node_ok, node_errors = _outcome(parse(one.SerializeToString()))
        report.nodes.append(NodeVerdict(name, op, kind, node_ok, "; ".join(node_errors), alone=_computed_ints(one)))
    return report


def _computed_ints(one) -> str:
    """A one-node model's integer graph inputs: values the model computes (shapes, indices) that become
    plain network inputs alone, which TensorRT's importers can refuse where the model would not."""
    from onnx import TensorProto

    ints = [i.name for i in one.graph.input if i.type.tensor_type.elem_type in (TensorProto.INT64, TensorProto.INT32)]
    return ", ".join(ints)


def _offline(model, trt: str) -> tuple[dict, dict]:
    """(main-graph index -> the table's finding kind, index -> "name [kind]" of the nearest flagged
    node feeding it): a node downstream of one the parser mis-imports can be refused for that."""
    from pykit.surgeon.inspect import inspect_model

    findings = {f.index: f for f in inspect_model(model, trt).findings if f.graph == "main"}
    nodes = model.graph.node
    producer = {o: k for k, n in enumerate(nodes) for o in n.output if o}
    upstream: dict[int, str] = {}
    for k, n in enumerate(nodes):
        seen, todo = set(), [producer[i] for i in n.input if i in producer]
        while todo:
            j = todo.pop(0)
            if j in seen:
                continue
            seen.add(j)
            f = findings.get(j)
            if f is not None and f.blocking:
                upstream[k] = f"{f.node} [{f.kind}]"
                break
            todo += [producer[i] for i in nodes[j].input if i in producer]
    return {k: f.kind for k, f in findings.items()}, upstream


_RECORDED = re.compile(r"^(?:agree|DISAGREE)\s+(.+) \((\w+)\): table \[[^\]]*\] .*?; parser refuses: (.*?)(?: \(downstream of .*\))?$")


def from_record(model, record: dict, trt: str = "8.5", version: str = "recorded") -> OnlineReport:
    """The OnlineReport of a recorded run (scripts/gpu-corpus.py's "parser" entry: whole_ok, errors,
    the refused nodes' lines, not_parsed) judged against the CURRENT offline table: the parser's
    verdicts are facts of that run; the predictions are this code's. Every node not recorded as
    refused or not parsed was imported."""
    refused = {}
    for line in record.get("refused", []):
        m = _RECORDED.match(line)
        if not m:
            raise ValueError(f"a recorded parser line pykit cannot read: {line!r}")
        refused[(m.group(1), m.group(2))] = m.group(3)
    not_parsed = {x.split(" (")[0] for x in record.get("not_parsed", [])}
    report = OnlineReport(version, bool(record.get("whole_ok")), list(record.get("errors", [])),
                          not_parsed=list(record.get("not_parsed", [])))
    offline, upstream = _offline(model, trt)
    if not report.whole_ok and not refused and any("crashed" in str(e) or "no answer" in str(e) for e in report.whole_errors):
        # the parser died or hung (TensorRT 8.5 segfaults on a 5-D GridSample): no node has a verdict
        report.not_parsed = [f"{name} ({op}): the parser crashed or hung on the model"
                             for _, name, op, _, _ in single_node_models(model)]
        return report
    whole = "; ".join(str(e) for e in report.whole_errors)
    stop_seen = False  # the node the whole parse stopped at: the first refused with the whole model's error
    for k, name, op, one, _ in single_node_models(model):
        if name in not_parsed:
            continue
        error = None if report.whole_ok else refused.get((name, op))  # parsed whole: every node imported
        at_stop = error is not None and not stop_seen and error == whole
        stop_seen |= at_stop
        report.nodes.append(NodeVerdict(name, op, offline.get(k, "native"), error is None, error or "",
                                        upstream.get(k, "") if at_stop else "",
                                        "" if error is None or at_stop or one is None else _computed_ints(one)))
    return report


def _stopped_at(result, count: int) -> int | None:
    """The main-graph index of the node the whole-model parse stopped at (its first error's), if any."""
    errors = result.get("errors", []) if isinstance(result, dict) else list(result)
    for e in errors:
        k = e.get("node", -1) if isinstance(e, dict) else -1
        if isinstance(k, int) and 0 <= k < count:
            return k
    return None
