"""Rewrite rules: a decorator registry (like Polygraphy's ``@register``) filled by each plugin
folder's ``rules.py``.

A rule is a function ``fn(ctx, node, forced) -> Change | str | None`` registered with the op types
it anchors on::

    from pykit.surgeon.rules import register

    @register("my_rule", plugin="MyPlugin", ops=["SomeOp"])
    def my_rule(ctx, node, forced):
        ...   # return None: not mine; a str: mine, but cannot rewrite it (why); a Change: done

It is called for every node of those op types, in the main graph and (unless registered with
``subgraphs=False``, in which case the skip is reported) in If/Loop/Scan bodies. ``forced`` is True
when the user named the node or its op type (``pykit patch --node``): the rule should then rewrite
whatever its plugin can compute, even where the parser would have imported the node correctly.

Op replacements (one ONNX op -> one plugin node, attributes renamed/converted/defaulted per the
spec, constant inputs folded into attributes, int64 index inputs cast to int32) need no code:
:func:`register_replacement`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from pykit.surgeon.model import PLUGIN_DOMAIN, SurgeryError

_RULES: dict[str, "Rule"] = {}
_LOADED = False


@dataclass
class Change:
    rule: str
    action: str  # replaced | fused | cast | skipped | converted | removed
    graph: str
    nodes: list[str]
    detail: str
    plugin_node: str | None = None
    proof: Any = None  # pykit.surgeon.proof.Proof of a kept rewrite

    def __str__(self) -> str:
        where = "" if self.graph == "main" else f" [{self.graph}]"
        target = f" -> {self.plugin_node}" if self.plugin_node else ""
        nodes = (", ".join(self.nodes) + target + ": ") if self.nodes else ""
        return f"{self.action:9s} {self.rule}{where}: {nodes}{self.detail}"

    @property
    def rewrote(self) -> bool:
        return self.action in ("replaced", "fused")


@dataclass
class Rule:
    name: str
    plugin: str
    ops: tuple[str, ...]
    fn: Callable
    subgraphs: bool = True
    doc: str = ""
    forced_only: tuple[str, ...] = ()  # anchor ops it rewrites only when forced: never the taker of a flagged node


def register(name: str, plugin: str, ops, subgraphs: bool = True, forced_only=()):
    """Decorator: register ``fn(ctx, node, forced)`` as rule ``name`` anchoring on ``ops`` (and on
    ``forced_only``, ops the parser imports right that the rule rewrites only when the user forces it)."""
    def deco(fn):
        _RULES[name] = Rule(name, plugin, tuple(ops) + tuple(forced_only), fn, subgraphs,
                            (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else "", tuple(forced_only))
        return fn
    return deco


def all_rules() -> dict[str, Rule]:
    """Every rule of every discovered plugin folder (imports each folder's rules.py once)."""
    from pykit import registry

    for spec in registry.discover():
        if (spec.folder / "rules.py").is_file():
            registry.load_module(spec, "rules")
    return dict(_RULES)


# ---- the context a rule works in ---------------------------------------------------------------


class RuleContext:
    """One graph (main or a subgraph body) being rewritten, with helpers for rules."""

    def __init__(self, graph, path: str, rule: Rule, changes: list[Change], counter: list[int]):
        self.graph = graph
        self.path = path
        self.rule = rule
        self.changes = changes
        self._counter = counter

    # -- lookups
    def spec(self, name: str | None = None):
        from pykit import registry

        return registry.get(name or self.rule.plugin)

    def unique(self, base: str) -> str:
        self._counter[0] += 1
        return f"{base}__pk{self._counter[0]}"

    @staticmethod
    def const_value(tensor):
        """The numpy value of a constant tensor (initializer or a Constant/ConstantOfShape output with a
        constant shape), else None."""
        import onnx_graphsurgeon as gs

        if isinstance(tensor, gs.Constant):
            return np.asarray(tensor.values)
        if len(tensor.inputs) != 1:
            return None
        prod = tensor.inputs[0]
        if prod.op == "Constant":
            v = prod.attrs.get("value")
            if isinstance(v, gs.Constant):
                return np.asarray(v.values)
            for key, dt in (("value_float", np.float32), ("value_int", np.int64)):
                if key in prod.attrs:
                    return np.asarray(prod.attrs[key], dtype=dt)
            for key, dt in (("value_floats", np.float32), ("value_ints", np.int64)):
                if key in prod.attrs:
                    return np.asarray(prod.attrs[key], dtype=dt)
            return None
        if prod.op == "ConstantOfShape":
            shape = RuleContext.const_value(prod.inputs[0])
            if shape is None:
                return None
            v = prod.attrs.get("value")
            fill = np.asarray(v.values).reshape(-1) if isinstance(v, gs.Constant) else np.zeros(1, np.float32)
            return np.full(tuple(int(s) for s in shape.reshape(-1)), fill[0], dtype=fill.dtype)
        return None

    @staticmethod
    def is_zero_constant(tensor) -> bool:
        v = RuleContext.const_value(tensor)
        return v is not None and v.size > 0 and not np.any(v)

    # -- edits
    def constant(self, name: str, value) -> Any:
        import onnx_graphsurgeon as gs

        return gs.Constant(self.unique(name), np.asarray(value))

    def as_int32(self, tensor, why: str = ""):
        """``tensor`` as int32: itself, a converted copy of a constant, or the output of a new Cast."""
        import onnx_graphsurgeon as gs

        if tensor.dtype is not None and np.dtype(tensor.dtype) == np.int32:
            return tensor
        value = self.const_value(tensor) if isinstance(tensor, gs.Constant) else None
        if value is not None:
            if value.size and (value.min() < -(2**31) or value.max() > 2**31 - 1):
                raise SurgeryError(f"constant '{tensor.name}' does not fit in int32")
            return gs.Constant(self.unique(tensor.name + "_i32"), value.astype(np.int32))
        # a Cast(to=INT64) of an int32 tensor: read the int32 source directly
        if len(tensor.inputs) == 1 and tensor.inputs[0].op == "Cast":
            src = tensor.inputs[0].inputs[0]
            if src.dtype is not None and np.dtype(src.dtype) == np.int32:
                return src
        out = gs.Variable(self.unique(tensor.name + "_i32"), dtype=np.int32, shape=tensor.shape)
        cast = gs.Node("Cast", self.unique("cast_i32"), attrs={"to": 6}, inputs=[tensor], outputs=[out])
        self.graph.nodes.append(cast)
        self.changes.append(Change(self.rule.name, "cast", self.path, [cast.name],
                                   f"Cast '{tensor.name}' to int32{' ' + why if why else ''}"))
        return out

    def add_node(self, op: str, inputs, out_dtype, out_shape=None, attrs=None, name: str = ""):
        import onnx_graphsurgeon as gs

        node_name = self.unique(name or op.lower())
        out = gs.Variable(node_name + "_out", dtype=out_dtype, shape=out_shape)
        self.graph.nodes.append(gs.Node(op, node_name, attrs=attrs or {}, inputs=list(inputs), outputs=[out]))
        return out

    def plugin_node(self, spec, inputs, outputs, attrs: dict, name: str):
        """Add a plugin node: op_type = plugin name, plugin_version/plugin_namespace, the spec's attributes
        (checked and defaulted by the spec; raises SpecError if they do not fit)."""
        import onnx_graphsurgeon as gs

        resolved = spec.resolve_attributes(attrs)
        node_attrs: dict[str, Any] = {"plugin_version": spec.version, "plugin_namespace": spec.namespace}
        for a in spec.attributes:
            v = resolved[a.name]
            if a.type == "float32[]":
                v = [float(x) for x in v]
            elif a.type == "int32[]":
                v = [int(x) for x in v]
            if a.is_array and not v and not a.required:
                continue  # ONNX cannot type an empty list; absent is the default (e.g. int8_scales)
            node_attrs[a.name] = v
        node = gs.Node(spec.name, name, attrs=node_attrs, inputs=list(inputs), outputs=list(outputs),
                       domain=PLUGIN_DOMAIN)
        self.graph.nodes.append(node)
        return node

    @staticmethod
    def detach(*nodes) -> None:
        """Disconnect nodes so that cleanup() drops them (and whatever fed only them)."""
        for n in nodes:
            n.inputs.clear()
            n.outputs.clear()


# ---- declarative op replacement ------------------------------------------------------------------


@dataclass
class Input:
    """Plugin input from ONNX input ``index``; ``int32``: cast integer tensors to int32."""
    index: int
    int32: bool = False


@dataclass
class Attr:
    """Plugin attribute from ONNX attribute ``source`` (renamed), converted by ``convert``; absent ->
    ``onnx_default`` if given, else the spec's default."""
    source: str
    convert: Callable | None = None
    onnx_default: Any = None


@dataclass
class Replacement:
    plugin: str
    op: str
    inputs: list[Input]
    attrs: dict[str, Attr] = field(default_factory=dict)
    fold: dict[str, int] = field(default_factory=dict)  # plugin attribute <- constant ONNX input index
    when: Callable | None = None  # node -> str | None: why the parser needs no plugin here (None: it does)

    def __call__(self, ctx: RuleContext, node, forced: bool):
        if node.op != self.op:
            return None
        if self.when is not None and not forced:
            reason = self.when(node)
            if reason:
                return None
        spec = ctx.spec(self.plugin)
        values = {}
        for name, a in self.attrs.items():
            if a.source in node.attrs:
                v = node.attrs[a.source]
                values[name] = a.convert(v) if a.convert else v
            elif a.onnx_default is not None:
                values[name] = a.onnx_default
        for name, idx in self.fold.items():
            if idx >= len(node.inputs):
                continue
            v = ctx.const_value(node.inputs[idx])
            if v is None:
                return f"input {idx} ('{node.inputs[idx].name}') must be constant to become attribute '{name}'"
            attr = spec.attribute(name)
            values[name] = v.reshape(-1).tolist() if attr.is_array else v.reshape(-1)[0].item()
        unknown = set(node.attrs) - {a.source for a in self.attrs.values()}
        if unknown:
            return f"ONNX attribute(s) {sorted(unknown)} have no plugin counterpart"
        try:
            spec.resolve_attributes(values)
        except Exception as exc:
            return f"attributes do not fit the spec: {exc}"
        ins = []
        for i in self.inputs:
            t = node.inputs[i.index]
            ins.append(ctx.as_int32(t, f"for {spec.name} input '{spec.inputs[len(ins)].name}'") if i.int32 else t)
        outs = list(node.outputs)
        name = node.name or ctx.unique(spec.name)
        ctx.detach(node)
        ctx.plugin_node(spec, ins, outs, values, name)
        shown = ", ".join(f"{k}={v!r}" for k, v in spec.resolve_attributes(values).items())
        return Change(ctx.rule.name, "replaced", ctx.path, [name], f"{self.op} -> {spec.name} v{spec.version} "
                      f"({spec.namespace}) {{{shown}}}{' (forced)' if forced else ''}", plugin_node=name)


def register_replacement(name: str, replacement: Replacement, subgraphs: bool = True) -> Rule:
    register(name, replacement.plugin, [replacement.op], subgraphs)(replacement)
    _RULES[name].doc = f"{replacement.op} -> {replacement.plugin}"
    return _RULES[name]


# ---- semantics of custom-domain ops, for proofs ---------------------------------------------------


@dataclass
class Semantics:
    """What a custom-domain op computes (it has no onnxruntime kernel and no ONNX definition), for the
    proof's run of the ORIGINAL subgraph: ``run(inputs: list[np.ndarray], attrs: dict) -> list[np.ndarray]``,
    an implementation independent of the plugin's reference; ``label`` says which (in the proof's text);
    ``unusable(node) -> str | None``: why probes cannot exercise this node (the rewrite is then kept
    unproven, saying why), e.g. an input whose valid values random probes would never draw."""
    domain: str
    op: str
    run: Callable
    label: str
    unusable: Callable | None = None


_SEMANTICS: dict[tuple[str, str], Semantics] = {}


def register_semantics(domain: str, op: str, run: Callable, label: str, unusable: Callable | None = None) -> None:
    """Give custom op ``domain::op`` the semantics a proof runs the original with (a plugin folder's
    rules.py calls this for the custom op its rule replaces)."""
    _SEMANTICS[(domain, op)] = Semantics(domain, op, run, label, unusable)


def semantics_for(domain: str, op: str) -> Semantics | None:
    all_rules()
    return _SEMANTICS.get((domain or "", op))
