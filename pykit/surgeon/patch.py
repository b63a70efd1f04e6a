"""Apply the plugin folders' rewrite rules to an ONNX model.

Order: shape inference (so that tensors a rule rewires keep their types) -> rules on the main
graph and on If/Loop/Scan bodies (rules registered with ``subgraphs=False`` report what they
skipped there) -> forced replacements not taken are listed in ``unpatched`` -> cleanup (dead nodes and
tensors go) -> topological sort -> opset/IR conversion to what the target parser accepts -> onnx.checker
(full) and strict shape inference -> structural check (no dangling tensors, no cycles).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from pykit.surgeon.model import PLUGIN_DOMAIN, SurgeryError, check_structure, iter_graphs, opset_of, topo_order, unpark
from pykit.surgeon.rules import Change, RuleContext, all_rules


UNPATCHED_EXIT = 3  # `pykit patch`: a flagged node left as it was, or a named rule / forced node that matched nothing


@dataclass
class PatchResult:
    model: object
    changes: list[Change] = field(default_factory=list)
    unpatched: list[str] = field(default_factory=list)  # one line each: what is left that the user wanted gone
    allow_unpatched: bool = False

    @property
    def exit_code(self) -> int:
        """UNPATCHED_EXIT when something is left unpatched (and that was not allowed), else 0."""
        return UNPATCHED_EXIT if self.unpatched and not self.allow_unpatched else 0

    @property
    def rewrites(self) -> list[Change]:
        return [c for c in self.changes if c.rewrote]

    @property
    def nothing(self) -> bool:
        """No rule rewrote anything and no conversion was needed."""
        return not any(c.action in ("replaced", "fused", "converted") for c in self.changes)


def _gs_graphs(graph, path="main"):
    import onnx_graphsurgeon as gs

    yield path, graph
    for node in graph.nodes:
        for key, value in node.attrs.items():
            if isinstance(value, gs.Graph):
                yield from _gs_graphs(value, f"{path}/{node.name or node.op}.{key}")
            elif isinstance(value, (list, tuple)):
                for k, v in enumerate(value):
                    if isinstance(v, gs.Graph):
                        yield from _gs_graphs(v, f"{path}/{node.name or node.op}.{key}[{k}]")


def _node_names(model) -> set[str]:
    return {n.name for _, g in iter_graphs(model.graph) for n in g.node if n.name}


def patch_model(model, trt: str | None = None, rule_names=None, force=None, checked: bool = False,
                allow_unpatched: bool = False) -> PatchResult:
    """Rewrite ``model`` (a ModelProto, not modified). ``force``: node names or op types to replace
    even where the parser would import them correctly; ``checked``: the caller already ran
    check_structure (load_model does). Every rewrite is proven first (pykit.surgeon.proof) and kept
    only if it holds. ``unpatched`` lists the nodes `inspect --trt` still flags in the result, the
    ``rule_names`` that rewrote nothing and the ``force`` entries that matched no node or whose nodes
    no rule replaced; ``exit_code`` is UNPATCHED_EXIT then, unless ``allow_unpatched``. Raises
    SurgeryError with one line."""
    import onnx
    import onnx_graphsurgeon as gs

    rules = all_rules()
    if rule_names:
        unknown = [r for r in rule_names if r not in rules]
        if unknown:
            raise SurgeryError(f"unknown rule(s) {unknown}; known: {sorted(rules)}")
        selected = [rules[r] for r in rule_names]
    else:
        selected = list(rules.values())
    if not checked:
        check_structure(model)
    try:
        typed = onnx.shape_inference.infer_shapes(model)
    except Exception:
        typed = model
    graph = gs.import_onnx(typed)
    graphs = list(_gs_graphs(graph))

    force = list(force or [])
    all_nodes = [(p, n) for p, g in graphs for n in g.nodes]
    forced_names = {f for f in force if any(n.name == f for _, n in all_nodes)}
    forced_ops = {f for f in force if f not in forced_names and any(n.op == f for _, n in all_nodes)}
    left = [f"--node {f} matched nothing: no node of that name or op type in the model"
            for f in force if f not in forced_names and f not in forced_ops]
    forced_targets = {id(n): n for _, n in all_nodes if n.name in forced_names or n.op in forced_ops}

    changes: list[Change] = []
    counter = [0]
    opsets = list(typed.opset_import)
    taken: set[int] = set()
    why_not: dict[int, list[str]] = {}
    for path, g in graphs:
        for rule in selected:
            hits = [n for n in g.nodes if n.op in rule.ops]
            if not hits:
                continue
            if path != "main" and not rule.subgraphs:
                changes.append(Change(rule.name, "skipped", path, [n.name for n in hits],
                                      "this rule does not rewrite inside If/Loop/Scan bodies"))
                continue
            for node in hits:
                if not node.outputs:  # already rewritten by an earlier rule (e.g. fused into another node's rewrite)
                    if any(c.rewrote and node.name in c.nodes for c in changes):
                        taken.add(id(node))
                    continue
                forced = id(node) in forced_targets
                result = _proven_rewrite(rule, g, path, node, forced, changes, counter, opsets, model.ir_version, model)
                if isinstance(result, Change):
                    changes.append(result)
                    taken.add(id(node))
                elif isinstance(result, str):
                    changes.append(Change(rule.name, "skipped", path, [node.name], result))
                    why_not.setdefault(id(node), []).append(f"{rule.name}: {result}")
                elif forced:
                    why_not.setdefault(id(node), []).append(f"{rule.name}: does not take it")
    for key, node in forced_targets.items():
        if key not in taken:
            reasons = "; ".join(why_not.get(key, [])) or "no rule anchors on op type " + node.op
            named = node.name if node.name in forced_names else node.op
            left.append(f"--node {named}: {node.name} ({node.op}) was not replaced: {reasons}")

    for _, g in graphs:
        g.cleanup(remove_unused_graph_inputs=False)
    out = gs.export_onnx(graph)
    _toposort(out)
    out.ir_version = model.ir_version
    for field_name in ("producer_name", "producer_version", "domain", "model_version", "doc_string"):
        setattr(out, field_name, getattr(model, field_name))
    del out.metadata_props[:]
    out.metadata_props.extend(model.metadata_props)
    uses_plugins = any(n.domain == PLUGIN_DOMAIN for _, g in iter_graphs(out.graph) for n in g.node)
    if uses_plugins and not any(i.domain == PLUGIN_DOMAIN for i in out.opset_import):
        out.opset_import.append(onnx.helper.make_opsetid(PLUGIN_DOMAIN, 1))
    gone = sorted(_node_names(model) - _node_names(out))
    mentioned = {n for c in changes if c.rewrote for n in c.nodes}
    dead = [n for n in gone if n not in mentioned]
    if dead:
        changes.append(Change("cleanup", "removed", "main", dead, "no longer used after the rewrites"))

    if trt is not None:
        from pykit.surgeon.inspect import load_table

        table = load_table(trt)
        opset = opset_of(out)
        if opset > table["opset_max"] or opset < table["opset_min"]:
            target = min(max(opset, table["opset_min"]), table["opset_max"])
            how = ""
            from pykit.surgeon.downgrade import hide_unadapted, restore_hidden

            # ops whose older form differs (Split-18's num_outputs) are rewritten to it and parked
            downgraded = hide_unadapted(out, target)
            try:
                out = onnx.version_converter.convert_version(out, target)
            except Exception as exc:
                msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                # ops with no adapter that mean the same at the target: converted around
                around = _convert_around(out, target, str(exc))
                if around is None:
                    raise SurgeryError(f"cannot convert opset {opset} -> {target} for TensorRT {table['trt']}: {msg}") from None
                out, ops = around
                how = (f"; converted around {', '.join(ops)} (no adapter in onnx's converter; the same attributes, "
                       f"inputs and outputs at {target}, and their types pass strict shape inference there)")
            restore_hidden(out)
            changes.append(Change("convert", "converted", "main", [], f"opset {opset} -> {target} (TensorRT {table['trt']} parser accepts {table['opset_min']}..{table['opset_max']}){how}"))
            changes += [Change("convert", "converted", "main", [], d) for d in downgraded]
        if out.ir_version > table["ir_max"]:
            changes.append(Change("convert", "converted", "main", [], f"IR version {out.ir_version} -> {table['ir_max']}"))
            out.ir_version = table["ir_max"]
    validate_patched(out)
    return PatchResult(out, changes, left + _unpatched(out, trt, rule_names or [], changes), allow_unpatched)


_NO_ADAPTER = re.compile(r"No Adapter (?:To|From) Version \$?\d+ for (\w+)")
_PASSTHROUGH = "pykit.convert_around"  # a temporary domain: the converter leaves such nodes as they are


def _same_meaning(node, source: int, target: int) -> bool:
    """Whether a default-domain node means the same at opset ``target`` as at ``source`` as far as
    the schemas show: the same attribute names and defaults and input/output names in both versions,
    and no string attribute set to a non-default value (an enum whose values may have grown, as
    ScatterElements-18's reduction or GridSample-20's mode). The node's types are checked afterwards
    (strict shape inference at ``target``)."""
    import onnx.defs

    try:
        new, old = onnx.defs.get_schema(node.op_type, source), onnx.defs.get_schema(node.op_type, target)
    except Exception:
        return False

    def signature(schema):
        attrs = {name: a.default_value.SerializeToString() for name, a in schema.attributes.items()}
        return attrs, [i.name for i in schema.inputs], [o.name for o in schema.outputs]

    if signature(new) != signature(old):
        return False
    for a in node.attribute:
        if a.type == onnx.AttributeProto.STRING:
            default = new.attributes[a.name].default_value
            if not default.name or default.s != a.s:
                return False
    return True


def _convert_around(model, target: int, first_error: str):
    """onnx's version converter run around the nodes it has no adapter for, where those nodes mean
    the same at ``target`` (_same_meaning; e.g. ConstantOfShape 20 -> 19, a change that only added
    types): they are moved to a temporary domain, the rest is converted, they come back as they are,
    and the result must pass onnx.checker and strict shape inference at ``target`` (the nodes' types
    against the ``target`` schemas). Returns (model, ops converted around) or None."""
    import onnx

    source = opset_of(model)
    work = onnx.ModelProto()
    work.CopyFrom(model)
    work.opset_import.append(onnx.helper.make_opsetid(_PASSTHROUGH, 1))
    around: set[str] = set()
    error = first_error
    for _ in range(32):  # one op type per failed attempt
        hit = _NO_ADAPTER.search(error)
        if hit is None or hit.group(1) in around:
            return None
        op = hit.group(1)
        nodes = [n for _, g in iter_graphs(work.graph) for n in g.node if n.op_type == op and n.domain in ("", "ai.onnx")]
        if not nodes or not all(_same_meaning(n, source, target) for n in nodes):
            return None
        for n in nodes:
            n.domain = _PASSTHROUGH
        around.add(op)
        try:
            out = onnx.version_converter.convert_version(work, target)
        except Exception as exc:
            error = str(exc)
            continue
        unpark(out, _PASSTHROUGH)
        try:
            onnx.checker.check_model(out, full_check=True)
            onnx.shape_inference.infer_shapes(out, check_type=True, strict_mode=True)
        except Exception:
            return None
        return out, sorted(around)
    return None


def _unpatched(patched, trt, rule_names, changes) -> list[str]:
    left = []
    for name in rule_names:
        if not any(c.rule == name and c.rewrote for c in changes):
            why = "; ".join(f"{', '.join(c.nodes)}: {c.detail}" for c in changes if c.rule == name and c.action == "skipped")
            left.append(f"--rule {name} rewrote nothing" + (f" ({why})" if why else ": no node it anchors on"))
    if trt is not None:
        from pykit.surgeon.inspect import inspect_model

        left += [f"still flagged for TensorRT {trt}: {f.line().strip()}" for f in inspect_model(patched, trt).findings if f.blocking]
    return left


def _proven_rewrite(rule, g, path, node, forced, changes, counter, opsets, ir_version, source):
    """Run the rule on a copy of ``g``; if it rewrites, prove the rewrite (pykit.surgeon.proof) and
    only then apply it to ``g`` (the rule runs again there, with the same names). Returns what the
    rule returned, its Change carrying the proof, or the reason the rewrite was refused (str)."""
    from pykit.surgeon.proof import prove

    position = next(k for k, n in enumerate(g.nodes) if n is node)
    trial = g.copy()
    before = {id(n) for n in trial.nodes}
    start = counter[0]
    result = rule.fn(RuleContext(trial, path, rule, [], counter), trial.nodes[position], forced)
    counter[0] = start
    if not isinstance(result, Change):
        return result
    new_nodes = [n for n in trial.nodes if id(n) not in before and (n.inputs or n.outputs)]
    proof = prove(g, new_nodes, RuleContext(g, path, rule, [], counter).spec(), opsets, ir_version,
                  source=source if path == "main" else None)
    if not proof.proven:
        return proof.text()
    result = rule.fn(RuleContext(g, path, rule, changes, counter), node, forced)
    if not isinstance(result, Change):  # a rule must decide the same way twice
        raise SurgeryError(f"rule {rule.name}: rewrote node '{node.name}' on a copy of the graph but not on the graph")
    result.detail += f"; {proof.text()}"
    result.proof = proof
    return result


def _toposort(model) -> None:
    """Sort the nodes of every graph topologically, in place (stable: Kahn's algorithm from the
    existing order; faster than graphsurgeon's on large graphs)."""
    for _, g in iter_graphs(model.graph):
        order = topo_order(g)
        if order != list(range(len(g.node))):
            nodes = [g.node[k] for k in order]
            copies = [type(n)() for n in nodes]
            for c, n in zip(copies, nodes):
                c.CopyFrom(n)
            del g.node[:]
            g.node.extend(copies)


def validate_patched(model) -> None:
    """onnx.checker (full), strict shape inference, structure (no dangling tensors, no cycles, topological)."""
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SurgeryError(f"the patched model fails onnx.checker/shape inference: {first}") from None
    check_structure(model, "patched model")
    consumed = set()  # by any graph: a body reads outer-scope values by name
    for _, g in iter_graphs(model.graph):
        for node in g.node:
            consumed.update(i for i in node.input if i)
    for path, g in iter_graphs(model.graph):
        seen = {i.name for i in g.input} | {i.name for i in g.initializer}
        for node in g.node:
            if path == "main":
                for i in node.input:
                    if i and i not in seen:
                        raise SurgeryError(f"patched model: node '{node.name}' is not in topological order")
            seen.update(node.output)
        if path == "main":
            live = consumed | {o.name for o in g.output}
            dead = [n.name for n in g.node if not any(o in live for o in n.output)]
            if dead:
                raise SurgeryError(f"patched model: node(s) {dead[:3]} produce nothing that is used")
