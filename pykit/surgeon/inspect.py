"""What a TensorRT ONNX parser version cannot import, or imports with wrong semantics, and which
registered plugin can take each such node; the parser's opset/IR limits; a partition summary.

Support tables: pykit/data/trt_<version>.json (sources in each file and in make_tables.py).

Partition (the idea of TF-TRT's segmenter, ``minimum_segment_size``): nodes of the main graph that
TensorRT runs (imported natively, or plugin nodes of registered plugins) form segments; a node it
cannot run breaks them. Two runnable nodes joined by an edge share a segment when they lie behind
the same number of non-runnable nodes on every path from the inputs ("level"); merging only within
a level can never create a cycle through a node outside the segment. Segments smaller than
``min_segment_size`` would stay outside TensorRT.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pykit.surgeon.model import (PLUGIN_DOMAIN, STANDARD_DOMAINS, SurgeryError, iter_graphs, opset_of, tensor_dims,
                                 topo_order)

DATA = Path(__file__).resolve().parents[1] / "data"
TRT_VERSIONS = {"8.5": "8.5", "8.6": "8.6", "10": "10.0", "10.0": "10.0", "10.1": "10.0", "10.15": "10.15",
                "11": "11"}
# what `--trt 10` means: the earliest 10.x table (opset <= 20): a model that passes it imports on every 10.x


def resolve_trt(version: str) -> str:
    v = str(version).strip()
    if v not in TRT_VERSIONS:
        raise SurgeryError(f"unknown TensorRT version '{version}'; choose from {', '.join(sorted(set(TRT_VERSIONS)))}")
    return TRT_VERSIONS[v]


@lru_cache(maxsize=None)
def load_table(version: str) -> dict:
    key = resolve_trt(version)
    return json.loads((DATA / f"trt_{key}.json").read_text())


@dataclass
class Finding:
    graph: str
    node: str
    op: str
    domain: str
    kind: str  # unsupported | not-in-table | wrong-semantics | wrong-or-rejected | rejected | custom-domain | above-opset | unknown-plugin | plugin | external
    message: str
    takers: list[str] = field(default_factory=list)
    index: int | None = field(default=None, repr=False, compare=False)  # the node's position in its graph

    @property
    def blocking(self) -> bool:
        """Would the parser fail on it, or silently compute something else?"""
        return self.kind not in ("plugin", "external")

    def line(self) -> str:
        takers = f"  -> taker: {', '.join(self.takers)}" if self.takers else ("  -> no registered plugin takes it" if self.blocking else "")
        dom = f" [{self.domain}]" if self.domain not in STANDARD_DOMAINS else ""
        where = "" if self.graph == "main" else f" in {self.graph}"
        return f"{self.kind:16s} {self.node} ({self.op}{dom}){where}: {self.message}{takers}"


@dataclass
class Segment:
    nodes: list[str]
    ops: dict[str, int]

    @property
    def size(self) -> int:
        return len(self.nodes)


@dataclass
class Report:
    trt: str
    table: dict
    model_opset: int
    model_ir: int
    findings: list[Finding]
    limits: list[str]  # model-level problems (opset/IR above the parser's)
    segments: list[Segment]
    to_plugins: list[Finding]
    to_framework: list[Finding]
    min_segment_size: int
    total_nodes: int
    for_speed: list[str] = field(default_factory=list)  # natively imported nodes a forced rule rewrites

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    def text(self) -> str:
        t = self.table
        src = t["source"]
        lines = [f"TensorRT {self.trt} ONNX parser: opset {t['opset_min']}..{t['opset_max']}, IR version <= {t['ir_max']} "
                 f"(table: {src['repo']}@{src['ref']} {src['path']}{'; ' + src['note'] if src.get('note') else ''})",
                 f"model: opset {self.model_opset}, IR version {self.model_ir}, {self.total_nodes} nodes"]
        lines += [f"LIMIT {x}" for x in self.limits]
        if self.findings:
            lines.append(f"{len(self.blocking)} node(s) the parser cannot import or imports wrongly; {len(self.findings) - len(self.blocking)} note(s):")
            lines += ["  " + f.line() for f in self.findings]
        else:
            lines.append("every node imports natively")
        lines.append(f"partition (minimum_segment_size {self.min_segment_size}): {len(self.segments)} TensorRT segment(s)")
        for k, seg in enumerate(self.segments):
            small = "  (below minimum_segment_size: stays outside TensorRT)" if seg.size < self.min_segment_size else ""
            ops = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in sorted(seg.ops.items()))
            lines.append(f"  segment {k + 1}: {seg.size} node(s): {ops}{small}")
        for f in self.to_plugins:
            lines.append(f"  left to plugins: {f.node} ({f.op}) -> {', '.join(f.takers)}")
        for f in self.to_framework:
            lines.append(f"  left to the framework (no plugin): {f.node} ({f.op})")
        lines += [f"for speed: {x}" for x in self.for_speed]
        return "\n".join(lines)


def takers_for(op: str) -> list[str]:
    """Registered plugins that can take an ONNX op: the spec's onnx_ops and the rules' anchor ops."""
    from pykit import registry
    from pykit.surgeon import rules

    names = {s.name for s in registry.discover() if op in s.onnx_ops}
    names |= {r.plugin for r in rules.all_rules().values() if op in r.ops and op not in r.forced_only}
    return sorted(names)


def _schema_since(op: str, opset: int, domain: str = ""):
    import onnx.defs

    try:
        return onnx.defs.get_schema(op, opset, domain).since_version
    except Exception:
        return None


def _attr(node, name, default=None):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            v = helper.get_attribute_value(a)
            return v.decode() if isinstance(v, bytes) else v
    return default


def _schema_default(op: str, opset: int, attribute: str, fallback):
    """The default of an attribute in the op's schema at the model's opset (GridSample's mode is
    'bilinear' at 16, 'linear' from 20), or ``fallback``."""
    import onnx.defs
    from onnx import helper

    try:
        a = onnx.defs.get_schema(op, max(opset, 1)).attributes[attribute]
        if a.default_value is not None and a.default_value.name:
            v = helper.get_attribute_value(a.default_value)
            return v.decode() if isinstance(v, bytes) else v
    except Exception:
        pass
    return fallback


def classify(node, table: dict, opset: int, plugins: dict, graph: str = "main",
             ranks: dict[str, int] | None = None) -> Finding | None:
    """A finding for one node, or None when the parser imports it natively with the right semantics.
    ``ranks``: tensor name -> its dims (a list, None where unknown) or its rank, where shape inference
    knows it (for the rank- and dim-dependent semantics rules)."""
    op, dom = node.op_type, node.domain
    name = node.name or f"<unnamed {op}>"
    plugin = plugins.get(op)
    if dom not in STANDARD_DOMAINS or _schema_since(op, max(opset, 1)) is None:
        if plugin is not None:
            return Finding(graph, name, op, dom, "plugin", f"plugin node: the fallback importer creates {op} "
                           f"v{plugin.version} ({plugin.namespace}) from the plugin registry")
        if dom not in STANDARD_DOMAINS and dom != PLUGIN_DOMAIN:
            return Finding(graph, name, op, dom, "custom-domain",
                           f"op of custom domain '{dom}': the parser has no importer and no registered plugin is named '{op}'",
                           takers_for(op))
        return Finding(graph, name, op, dom, "unknown-plugin",
                       f"not an ONNX op and no registered plugin is named '{op}'", takers_for(op))
    entry = table["ops"].get(op)
    if entry is None:
        return Finding(graph, name, op, dom, "not-in-table",
                       f"{op} is not in the TensorRT {table['trt']} operator table (no importer)", takers_for(op))
    if not entry["supported"]:
        return Finding(graph, name, op, dom, "unsupported", f"TensorRT {table['trt']} does not import {op}",
                       takers_for(op))
    maybe_rejected = ""  # a "within" rule whose dims are unknown statically: the importer may refuse at run time
    for rule in table.get("semantics", []):
        if rule["op"] != op:
            continue
        if "input_from_opset" in rule:  # {"input_from_opset": [k, v]}: flagged when the model's opset >= v gives input k
            k, since = rule["input_from_opset"]
            if opset < since or len(node.input) <= k or not node.input[k]:
                continue
            what = f"input {k} (opset {since}'s)"
        elif "within" in rule:  # {"inputs": [...], "within": k}: flagged when a known dim of an input exceeds input k's
            dims = ranks or {}
            ref = dims.get(node.input[rule["within"]]) if len(node.input) > rule["within"] else None
            over = [(i, a, d, ref[a]) for i in rule["inputs"] if len(node.input) > i and isinstance(ref, list)
                    for a, d in enumerate(dims.get(node.input[i]) or []) if a < len(ref)
                    and d is not None and ref[a] is not None and d > ref[a]]
            if not over:
                known = isinstance(ref, list) and None not in ref and all(
                    isinstance(dims.get(node.input[i]), list) and None not in dims[node.input[i]]
                    for i in rule["inputs"] if len(node.input) > i)
                if not known:
                    maybe_rejected = rule["message"].split(":")[0]
                continue
            i, a, d, r = over[0]
            what = f"input {i} dim {a} = {d} > data's {r}"
        elif "input_ranks" in rule:  # {"input": k, "input_ranks": [...]}: flagged when input k's known rank is not listed
            rank = (ranks or {}).get(node.input[rule["input"]]) if len(node.input) > rule["input"] else None
            rank = len(rank) if isinstance(rank, list) else rank
            if rank is None or rank in rule["input_ranks"]:
                continue
            what = f"input {rule['input']} of rank {rank}"
        else:  # "unless": the one value (or list of values) the parser handles; absent -> the schema's default
            accepted = rule["unless"] if isinstance(rule["unless"], list) else [rule["unless"]]
            value = _attr(node, rule["attribute"], _schema_default(op, opset, rule["attribute"], accepted[0]))
            if value in accepted:
                continue
            what = f"{rule['attribute']}='{value}'"
        kind = {"wrong": "wrong-semantics", "rejected": "rejected", "external": "external",
                "above-opset": "above-opset"}[rule["effect"]]
        message = f"{what}: {rule['message']}"
        if maybe_rejected and kind != "rejected":
            kind = "wrong-or-rejected"
            message += ("; or refused: ONNX shape inference cannot tell its dims, and where TensorRT's importer knows "
                        f"them and finds that {maybe_rejected[0].lower()}{maybe_rejected[1:]}, it refuses the node")
        # an op whose newer form is the problem is fixed by converting the model down (patch --trt), not a plugin
        takers = [] if "input_from_opset" in rule else takers_for(op)
        return Finding(graph, name, op, dom, kind, message, takers)
    since = _schema_since(op, opset)
    if opset > table["opset_max"] and since is not None and since > table["opset_max"]:
        return Finding(graph, name, op, dom, "above-opset",
                       f"{op}-{since} is newer than the parser's opset {table['opset_max']}: the parser takes the model "
                       "with a warning and imports the op by its older importer, which may refuse the newer form or "
                       "compute something else (patch --trt converts it down)")
    return None


def partition(graph, runnable: dict[str, bool]) -> list[Segment]:
    """Segments of runnable nodes of the main graph (see the module docstring)."""
    producer = {}
    for k, node in enumerate(graph.node):
        for o in node.output:
            if o:
                producer[o] = k
    order = topo_order(graph)
    level = [0] * len(graph.node)
    for k in order:
        node = graph.node[k]
        lv = 0
        for i in node.input:
            if i in producer:
                p = producer[i]
                lv = max(lv, level[p] + (0 if runnable[p] else 1))
        level[k] = lv
    parent = list(range(len(graph.node)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for k in order:
        if not runnable[k]:
            continue
        for i in graph.node[k].input:
            p = producer.get(i)
            if p is not None and runnable[p] and level[p] == level[k]:
                parent[find(p)] = find(k)
    groups: dict[int, list[int]] = {}
    for k in order:
        if runnable[k]:
            groups.setdefault(find(k), []).append(k)
    segments = []
    for members in groups.values():
        ops: dict[str, int] = {}
        for k in members:
            ops[graph.node[k].op_type] = ops.get(graph.node[k].op_type, 0) + 1
        segments.append(Segment([graph.node[k].name or graph.node[k].op_type for k in members], ops))
    return sorted(segments, key=lambda s: -s.size)




def _first_taker(model, findings) -> None:
    """Where several plugins could take a flagged main-graph node, keep the one whose rule `patch`
    would apply: the first rule (patch's order) whose rewrite of the node is proven, tried on a copy.
    E.g. ScatterND(reduction='max') of any data is ScatterElementsReduce's, not PillarScatter's; so is
    ScatterND(add) into a zero canvas where pillars share cells (PillarScatter keeps one, the proof
    refuses it). Nodes no rule rewrites keep every candidate."""
    multi = [f for f in findings if len(f.takers) > 1 and f.graph == "main"]
    if not multi:
        return
    import onnx
    import onnx_graphsurgeon as gs

    from pykit.surgeon.patch import _proven_rewrite
    from pykit.surgeon.rules import Change, all_rules

    try:
        typed = onnx.shape_inference.infer_shapes(model)
    except Exception:
        typed = model
    graph = gs.import_onnx(typed)
    rules = list(all_rules().values())
    for f in multi:
        k = f.index
        if k is None or k >= len(graph.nodes) or graph.nodes[k].op != f.op:
            continue
        for rule in rules:
            if f.op not in rule.ops:
                continue
            trial = graph.copy()
            try:
                taken = isinstance(_proven_rewrite(rule, trial, "main", trial.nodes[k], False, [], [0],
                                                   list(typed.opset_import), model.ir_version, model), Change)
            except Exception:
                taken = False
            if taken:
                f.takers = [rule.plugin]
                break


SPEED_TRIALS = 32  # natively imported nodes tried against the rules, at most, per model


def _for_speed(model, native: list[int]) -> list[str]:
    """Natively imported main-graph nodes a rule rewrites when forced (`patch --node`), each tried
    on a copy and proven, as patch would: PointPillars' scatter imports on 8.5 but runs slower than
    PillarScatter (`pykit bench --model` measures it)."""
    from pykit.surgeon.rules import all_rules

    rules = list(all_rules().values())
    candidates = [k for k in native if any(model.graph.node[k].op_type in r.ops for r in rules)]
    if not candidates:
        return []
    import onnx
    import onnx_graphsurgeon as gs

    from pykit.surgeon.patch import _proven_rewrite
    from pykit.surgeon.rules import Change

    try:
        typed = onnx.shape_inference.infer_shapes(model)
    except Exception:
        typed = model
    graph = gs.import_onnx(typed)
    notes = []
    for k in candidates[:SPEED_TRIALS]:
        if k >= len(graph.nodes):
            continue
        node = graph.nodes[k]
        for rule in (r for r in rules if node.op in r.ops):
            trial = graph.copy()
            try:
                change = _proven_rewrite(rule, trial, "main", trial.nodes[k], True, [], [0],
                                         list(typed.opset_import), model.ir_version, model)
            except Exception:
                continue
            if isinstance(change, Change):
                notes.append(f"{node.name or '<unnamed>'} ({node.op}) imports natively; rule {rule.name} rewrites it "
                             f"to {rule.plugin} when forced (patch --node {node.name or node.op}), proven on "
                             f"{change.proof.probes} probes")
                break
    if len(candidates) > SPEED_TRIALS:
        notes.append(f"{len(candidates) - SPEED_TRIALS} more natively imported node(s) a rule anchors on were not tried")
    return notes


def inspect_model(model, trt: str = "8.5", min_segment_size: int = 3) -> Report:
    from pykit import registry

    table = load_table(trt)
    opset = opset_of(model)
    plugins = {s.name: s for s in registry.discover()}
    limits = []
    if opset > table["opset_max"]:
        limits.append(f"model opset {opset} > parser maximum {table['opset_max']} (patch --trt {trt} converts it)")
    if opset < table["opset_min"]:
        limits.append(f"model opset {opset} < parser minimum {table['opset_min']}")
    if model.ir_version > table["ir_max"]:
        limits.append(f"model IR version {model.ir_version} > {table['ir_max']} (patch --trt {trt} lowers it)")
    findings = []
    main_status = []
    # tensor name -> its dims (shape inference), for the rank- and dim-dependent semantics rules
    ranks = tensor_dims(model) if any("input_ranks" in r or "within" in r for r in table.get("semantics", [])) else {}
    if ranks is not None:  # initializers and Constant values have their dims too (shape inference lists neither)
        for _, g in iter_graphs(model.graph):
            for init in g.initializer:
                ranks.setdefault(init.name, list(init.dims))
            for n in g.node:
                if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
                    ranks.setdefault(n.output[0], list(n.attribute[0].t.dims))
    for path, graph in iter_graphs(model.graph):
        for k, node in enumerate(graph.node):
            f = classify(node, table, opset, plugins, path, ranks)
            if f is not None:
                f.index = k
                findings.append(f)
            if path == "main":
                main_status.append(f)
    _first_taker(model, findings)
    runnable = {k: (f is None or not f.blocking) for k, f in enumerate(main_status)}
    segments = partition(model.graph, runnable)
    blocked = [f for f in main_status if f is not None and f.blocking]
    for_speed = _for_speed(model, [k for k, f in enumerate(main_status) if f is None])
    return Report(
        trt=table["trt"], table=table, model_opset=opset, model_ir=model.ir_version, findings=findings,
        limits=limits, segments=segments,
        to_plugins=[f for f in blocked if f.takers], to_framework=[f for f in blocked if not f.takers],
        min_segment_size=min_segment_size, total_nodes=len(model.graph.node), for_speed=for_speed,
    )
