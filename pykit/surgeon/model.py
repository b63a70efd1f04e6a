"""Loading ONNX models with one-line errors, structural checks (missing inputs, cycles) and the
helpers every surgery command shares."""
from __future__ import annotations

from pykit.files import write_atomic

from pathlib import Path

PLUGIN_DOMAIN = "trt.plugins"
STANDARD_DOMAINS = ("", "ai.onnx")


class SurgeryError(Exception):
    """A model cannot be read, checked or rewritten; the message is one line and says why."""


def opset_of(model, domain: str = "") -> int:
    for imp in model.opset_import:
        if imp.domain in ((domain,) if domain else STANDARD_DOMAINS):
            return int(imp.version)
    return 0


def load_model(path, check: bool = True):
    """Read an ONNX file; raise SurgeryError (one line) if it is not ONNX or structurally broken."""
    import onnx
    from google.protobuf.message import DecodeError

    p = Path(path)
    if p.is_dir():
        raise SurgeryError(f"{p}: is a directory, not an ONNX model file")
    if not p.exists():
        raise SurgeryError(f"{p}: no such file")
    if not p.is_file():
        raise SurgeryError(f"{p}: not a regular file")
    try:
        model = onnx.load(str(p))
    except (DecodeError, RuntimeError, ValueError, OSError) as exc:
        raise SurgeryError(f"{p}: not an ONNX model ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'parse failed'})") from None
    except Exception as exc:  # protobuf raises assorted errors on garbage
        raise SurgeryError(f"{p}: not an ONNX model ({type(exc).__name__})") from None
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise SurgeryError(f"{p}: not an ONNX model (no IR version or no graph)")
    if check:
        check_structure(model, str(p))
    return model


def _graph_structure(graph, outer: set[str], where: str) -> None:
    from onnx import AttributeProto

    available = set(outer) | {i.name for i in graph.input} | {i.name for i in graph.initializer}
    available |= {i.values.name for i in graph.sparse_initializer}
    produced_by = {}  # tensor name -> index of its node
    for k, node in enumerate(graph.node):
        for out in node.output:
            if out:
                produced_by[out] = k
    # Kahn's algorithm on the node graph; a node waiting forever is on a cycle or reads a missing tensor
    known = set(available) | set(produced_by)
    for node in graph.node:
        for name in node.input:
            if name and name not in known:
                raise SurgeryError(f"{where}node '{node.name or node.op_type}' ({node.op_type}) reads '{name}', "
                                   "which no node, initializer or graph input produces")
    for out in graph.output:
        if out.name not in known:
            raise SurgeryError(f"{where}graph output '{out.name}' is produced by no node, initializer or input")
    # Kahn's algorithm over the nodes: whatever never becomes ready lies on a cycle
    users: dict[int, list[int]] = {}
    indeg = [0] * len(graph.node)
    for k, node in enumerate(graph.node):
        deps = {produced_by[n] for n in node.input if n and n in produced_by and n not in available}
        indeg[k] = len(deps)
        for d in deps:
            users.setdefault(d, []).append(k)
    ready = [k for k in range(len(graph.node)) if indeg[k] == 0]
    seen = 0
    while ready:
        k = ready.pop()
        seen += 1
        for u in users.get(k, []):
            indeg[u] -= 1
            if indeg[u] == 0:
                ready.append(u)
    if seen != len(graph.node):
        pending = [n for k, n in enumerate(graph.node) if indeg[k] > 0]
        names = ", ".join(f"'{n.name or n.op_type}'" for n in pending[:5])
        more = f" (+{len(pending) - 5} more)" if len(pending) > 5 else ""
        raise SurgeryError(f"{where}the graph has a cycle through node(s) {names}{more}")
    scope = known
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                _graph_structure(attr.g, scope, f"{where}{node.name or node.op_type}/{attr.name}: ")
            elif attr.type == AttributeProto.GRAPHS:
                for k, g in enumerate(attr.graphs):
                    _graph_structure(g, scope, f"{where}{node.name or node.op_type}/{attr.name}[{k}]: ")


def check_structure(model, label: str = "model") -> None:
    """Missing inputs and cycles, in the main graph and in If/Loop/Scan bodies."""
    _graph_structure(model.graph, set(), f"{label}: ")


def save_atomic(model, path) -> None:
    """Write the model to a temporary file beside ``path``, then rename: nothing half-written."""
    write_atomic(path, model.SerializeToString())


def iter_graphs(graph, path: str = "main"):
    """(path, onnx GraphProto) for the graph and every If/Loop/Scan body, depth first."""
    from onnx import AttributeProto

    yield path, graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                yield from iter_graphs(attr.g, f"{path}/{node.name or node.op_type}.{attr.name}")
            elif attr.type == AttributeProto.GRAPHS:
                for k, g in enumerate(attr.graphs):
                    yield from iter_graphs(g, f"{path}/{node.name or node.op_type}.{attr.name}[{k}]")


def node_bodies(node) -> list:
    """The subgraphs a node holds (If branches, Loop/Scan bodies), in attribute order."""
    from onnx import AttributeProto

    return [g for attr in node.attribute
            for g in ([attr.g] if attr.type == AttributeProto.GRAPH else list(attr.graphs) if attr.type == AttributeProto.GRAPHS else [])]


def node_reads(node) -> set[str]:
    """The tensors a node reads: its inputs and what its If/Loop/Scan bodies read from outer scopes."""
    names = {i for i in node.input if i}
    for body in node_bodies(node):
        for n in body.node:
            names |= node_reads(n)
    return names


def topo_order(graph) -> list[int]:
    """Kahn's algorithm, smallest index first (keeps the existing order where it is valid); a body's
    reads of outer-scope values count as edges into its If/Loop/Scan node."""
    import heapq

    producer = {o: k for k, n in enumerate(graph.node) for o in n.output if o}
    indeg = [0] * len(graph.node)
    users: dict[int, list[int]] = {}
    for k, n in enumerate(graph.node):
        deps = {producer[i] for i in node_reads(n) if i in producer} - {k}
        indeg[k] = len(deps)
        for d in deps:
            users.setdefault(d, []).append(k)
    ready = [k for k in range(len(graph.node)) if indeg[k] == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        k = heapq.heappop(ready)
        out.append(k)
        for u in users.get(k, []):
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(ready, u)
    if len(out) != len(graph.node):
        raise SurgeryError(f"graph {graph.name!r} has a cycle")
    return out


def tensor_dims(model) -> dict:
    """Tensor name -> list of dims (ints, or None where unknown), from shape inference over every graph
    (the model as it is where inference fails)."""
    import onnx

    try:
        typed = onnx.shape_inference.infer_shapes(model)
    except Exception:
        typed = model
    dims = {}
    for _, g in iter_graphs(typed.graph):
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
                dims[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    return dims


def unpark(model, domain: str) -> None:
    """Nodes parked in a temporary ``domain`` (to pass onnx's version converter untouched) back into the
    ONNX domain, and that domain's opset import dropped."""
    for _, g in iter_graphs(model.graph):
        for node in g.node:
            if node.domain == domain:
                node.domain = ""
    kept = [o for o in model.opset_import if o.domain != domain]
    del model.opset_import[:]
    model.opset_import.extend(kept)
