"""Check every plugin node of a model against its spec, as TensorRT's ONNX parser will read it.

A plugin node is a node in the ``trt.plugins`` domain, any node in a non-standard domain, any node
whose op_type is not an ONNX op, or any node with ``plugin_version``/``plugin_namespace``
attributes. Errors (each names the node and, where there is one, the attribute):

* ``unknown-plugin``: no registered plugin of that name (or of that version/namespace);
* ``missing-plugin-version`` / ``missing-plugin-namespace``: the fallback importer then looks up
  version "1" / namespace "" — not the spec's creator unless those happen to match;
* ``missing-attribute``: a required spec attribute is absent;
* ``dropped-attribute``: an attribute that is not one of the creator's field names: the parser only
  passes the creator's fields, so it is silently ignored;
* ``int32-overflow``: an INT/INTS value outside int32: the parser narrows ints to INT32 fields;
* ``tensor-attribute-dtype``: a TENSOR attribute of dtype INT64, BOOL or UINT8: the parser rejects it;
* ``attribute-type`` / ``attribute-value``: ONNX type or value does not fit the spec (type, min/max, choices);
* ``builtin-collision``: the op_type is an ONNX op: the parser imports it natively (it matches op
  types to importers ignoring the domain) and never asks the plugin registry;
* ``input-dtype``: an input's ONNX type (where shape inference knows it) is none of the spec's
  dtypes for that input at any precision (e.g. DOUBLE), so no format of the plugin accepts it;
* ``axis-out-of-range``: attribute ``axis`` outside [-r, r) for the first input of rank r (the
  plugins' ``axis`` indexes their first input);
* ``plugin-not-found`` (only with a TensorRT version): that version's parser would not reach the
  spec's creator — plugin_version/plugin_namespace differ from the spec's (absent: "1"/""), or,
  from 10.0, plugin_namespace is absent and the node's domain cannot supply it (before 10.10, or a
  domain other than the spec's namespace). TensorRT then fails with "Plugin not found, are the
  plugin name, version, and namespace correct?" (8.5) or imports no plugin for the node (10.x);
* ``duplicate-node-name``: another node of the graph has the same name: TensorRT names the layer
  and the plugin instance after the node, and messages about one cannot be told from the other.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pykit.surgeon.model import PLUGIN_DOMAIN, STANDARD_DOMAINS, iter_graphs

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# TensorProto data types the parser refuses in plugin tensor attributes
REJECTED_TENSOR_DTYPES = {7: "INT64", 9: "BOOL", 2: "UINT8"}
ONNX_TYPE_FOR = {"int32": (2,), "float32": (1,), "string": (3,), "int32[]": (7,), "float32[]": (6,)}
ONNX_TYPE_NAMES = {1: "FLOAT", 2: "INT", 3: "STRING", 4: "TENSOR", 5: "GRAPH", 6: "FLOATS", 7: "INTS", 8: "STRINGS"}


@dataclass
class LintError:
    graph: str
    node: str
    op: str
    kind: str
    attribute: str
    message: str

    def __str__(self) -> str:
        where = "" if self.graph == "main" else f" in {self.graph}"
        attr = f" attribute '{self.attribute}'" if self.attribute else ""
        return f"error: {self.kind}: node '{self.node}' ({self.op}){where}{attr}: {self.message}"


def _is_onnx_op(op: str) -> bool:
    import onnx.defs

    return onnx.defs.has(op)


def is_plugin_node(node) -> bool:
    names = {a.name for a in node.attribute}
    return (node.domain == PLUGIN_DOMAIN or node.domain not in STANDARD_DOMAINS + ("ai.onnx.ml",)
            or not _is_onnx_op(node.op_type) or bool(names & {"plugin_version", "plugin_namespace"}))


def parser_misses(node, version, namespace, spec, trt_version: tuple[int, ...]) -> list[tuple[str, str]]:
    """(attribute, why) for each reason TensorRT ``trt_version``'s parser would not reach ``spec``'s
    creator from ``node``. Every parser version looks the creator up by (op_type, plugin_version or
    "1", plugin_namespace or ""); 10.x takes a node as a plugin only when plugin_namespace is set (or
    kENABLE_PLUGIN_OVERRIDE is on, which pykit does not assume); from 10.10 a lookup that fails with
    the attribute's namespace is retried with the node's domain (pykit/data/trt_11.json plugin_nodes)."""
    misses = []
    looked_up = version if version is not None else "1"
    if looked_up != spec.version:
        how = f"plugin_version is '{version}'" if version is not None else "plugin_version is absent, so it looks up '1'"
        misses.append(("plugin_version", f"{how}; the registered {spec.name} is version '{spec.version}'"))
    domain_supplies = trt_version >= (10, 10) and node.domain == spec.namespace
    if namespace is None and trt_version >= (10,) and not domain_supplies:
        domain_note = (f" or with its domain naming the namespace (the domain is '{node.domain}', not '{spec.namespace}')"
                       if trt_version >= (10, 10) else " (the node's domain is read as a namespace only from 10.10 on)")
        misses.append(("plugin_namespace", f"plugin_namespace is absent, and this parser takes a node as a plugin "
                       f"only with it set{domain_note}; set plugin_namespace='{spec.namespace}'"))
    elif (namespace if namespace is not None else "") != spec.namespace and not domain_supplies:
        how = f"plugin_namespace is '{namespace}'" if namespace is not None else "plugin_namespace is absent, so it looks up ''"
        misses.append(("plugin_namespace", f"{how}; the registered {spec.name} is in namespace '{spec.namespace}'"))
    return misses


def lint_model(model, trt: str | None = None) -> tuple[list[LintError], int]:
    """(errors, number of plugin nodes checked). ``trt``: also check each plugin node against how that
    TensorRT version's ONNX parser finds plugin creators (``plugin-not-found`` findings, which then
    replace the version-independent missing-plugin-*/unknown-plugin version and namespace checks)."""
    from onnx import helper

    from pykit import registry
    from pykit.surgeon.inspect import resolve_trt

    trt_version = tuple(int(x) for x in resolve_trt(trt).split(".")) if trt is not None else None

    specs = {}
    for s in registry.discover():
        specs.setdefault(s.name, []).append(s)
    model = _inferred(model)
    errors: list[LintError] = []
    checked = 0
    for path, graph in iter_graphs(model.graph):
        types = _tensor_types(graph)
        name_count: dict[str, int] = {}
        for node in graph.node:
            if node.name:
                name_count[node.name] = name_count.get(node.name, 0) + 1
        for node in graph.node:
            if not is_plugin_node(node):
                continue
            checked += 1
            name, op = node.name or f"<unnamed {node.op_type}>", node.op_type

            def err(kind, attribute, message):
                errors.append(LintError(path, name, op, kind, attribute, message))

            if name_count.get(node.name, 0) > 1:
                err("duplicate-node-name", "", f"{name_count[node.name]} nodes of the graph are named '{node.name}': "
                    "TensorRT's layer and plugin instance names would not tell them apart; rename them")

            attrs = {a.name: a for a in node.attribute}
            if _is_onnx_op(op):
                err("builtin-collision", "", f"'{op}' is an ONNX op: TensorRT's parser imports it natively "
                    "(importers are matched by op_type, whatever the domain) and never creates the plugin")
            for key in ("plugin_version", "plugin_namespace"):
                if key not in attrs and trt is None:
                    default = '"1"' if key == "plugin_version" else '""'
                    err(f"missing-{key.replace('_', '-')}", key, f"absent: the parser looks the creator up with {default}")
            candidates = specs.get(op, [])
            version = helper.get_attribute_value(attrs["plugin_version"]).decode() if "plugin_version" in attrs and attrs["plugin_version"].type == 3 else None
            namespace = helper.get_attribute_value(attrs["plugin_namespace"]).decode() if "plugin_namespace" in attrs and attrs["plugin_namespace"].type == 3 else None
            for key, value in (("plugin_version", version), ("plugin_namespace", namespace)):
                if key in attrs and value is None:
                    err("attribute-type", key, f"must be a STRING attribute, is {ONNX_TYPE_NAMES.get(attrs[key].type, attrs[key].type)}")
            if not candidates:
                err("unknown-plugin", "", f"no registered plugin named '{op}' (known: {sorted(specs)})")
                continue
            spec = candidates[0]
            if trt is not None:
                for attribute, why in parser_misses(node, version, namespace, spec, trt_version):
                    err("plugin-not-found", attribute, f"TensorRT {trt}'s parser will not find plugin {op}: {why}")
            if trt is None and version is not None and version != spec.version:
                err("unknown-plugin", "plugin_version", f"'{version}': the registered {op} is version '{spec.version}'")
            if trt is None and namespace is not None and namespace != spec.namespace:
                err("unknown-plugin", "plugin_namespace", f"'{namespace}': the registered {op} is in namespace '{spec.namespace}'")
            for k, (t, tensor) in enumerate(zip(spec.inputs, node.input)):
                elem = types.get(tensor, (0, None))[0]
                dtypes = set(t.dtypes.values())
                if "int8" in dtypes:  # an int8 tensor is float in the model; TensorRT quantizes it
                    dtypes |= {"float32", "float16"}
                allowed = {helper.np_dtype_to_tensor_dtype(np.dtype(d)) for d in dtypes}
                if elem and elem not in allowed:
                    from onnx import TensorProto

                    err("input-dtype", "", f"input {k} '{tensor}' ({t.name}) is {TensorProto.DataType.Name(elem)}; "
                        f"{op} takes {sorted(set(t.dtypes.values()))}")
            rank = types.get(node.input[0], (0, None))[1] if node.input else None
            if rank is not None and "axis" in attrs and attrs["axis"].type == 2:
                axis = attrs["axis"].i
                if not -rank <= axis < rank:
                    err("axis-out-of-range", "axis", f"{axis} is outside [-{rank}, {rank - 1}] for input "
                        f"'{node.input[0]}' of rank {rank}")
            fields = {a.name: a for a in spec.attributes}
            for a in spec.attributes:
                if a.required and a.name not in attrs:
                    err("missing-attribute", a.name, f"required by {op} ({a.type}) and absent")
            for aname, proto in attrs.items():
                if aname in ("plugin_version", "plugin_namespace"):
                    continue
                if proto.type == 4:  # TENSOR
                    dt = proto.t.data_type
                    if dt in REJECTED_TENSOR_DTYPES:
                        err("tensor-attribute-dtype", aname, f"tensor of {REJECTED_TENSOR_DTYPES[dt]}: the parser rejects "
                            "INT64, BOOL and UINT8 tensor attributes")
                if proto.type in (2, 7):  # INT / INTS
                    values = [proto.i] if proto.type == 2 else list(proto.ints)
                    bad = [v for v in values if not INT32_MIN <= v <= INT32_MAX]
                    if bad:
                        err("int32-overflow", aname, f"value {bad[0]} does not fit in int32: the parser narrows it to an INT32 field")
                if aname not in fields:
                    err("dropped-attribute", aname, f"not a field of the {op} creator ({sorted(fields)}): the parser drops it")
                    continue
                a = fields[aname]
                if proto.type not in ONNX_TYPE_FOR[a.type]:
                    err("attribute-type", aname, f"is {ONNX_TYPE_NAMES.get(proto.type, proto.type)}, the spec says {a.type} "
                        f"(ONNX {ONNX_TYPE_NAMES[ONNX_TYPE_FOR[a.type][0]]})")
                    continue
                value = helper.get_attribute_value(proto)
                if isinstance(value, bytes):
                    value = value.decode()
                if isinstance(value, list):
                    value = list(value)
                try:
                    a.check(value)
                except Exception as exc:
                    msg = str(exc).split(": ", 1)[-1]
                    if "int32" in msg and "fit" in msg:
                        continue  # reported as int32-overflow
                    err("attribute-value", aname, msg)
    return errors, checked


def _inferred(model):
    """The model with ONNX shape inference's types and shapes (plugin nodes' outputs stay unknown);
    the model as given where inference fails."""
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(model)
    except Exception:  # inference is a help to the checks here, not a requirement
        return model


def _tensor_types(graph) -> dict[str, tuple[int, int | None]]:
    """tensor name -> (ONNX elem_type or 0, rank or None) for what the graph declares."""
    out: dict[str, tuple[int, int | None]] = {}
    for init in graph.initializer:
        out[init.name] = (init.data_type, len(init.dims))
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        if vi.type.HasField("tensor_type"):
            tt = vi.type.tensor_type
            out[vi.name] = (tt.elem_type, len(tt.shape.dim) if tt.HasField("shape") else None)
    return out
