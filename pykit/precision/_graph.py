"""Small helpers shared by the graph converters (qdq.py, fp16.py)."""
from __future__ import annotations


def replace_in(seq, old, new) -> None:
    """Replace every ``old`` in a graphsurgeon node's inputs/outputs list (no slice assignment there)."""
    for j, x in enumerate(seq):
        if x is old:
            seq[j] = new


def load_model(model):
    """An onnx.ModelProto as given, or loaded from a path."""
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    return onnx.load(str(model))


def name_allocator(used: set):
    """``fresh(base)``: ``base``, or ``base_1``, ``base_2``... the first not in ``used`` (then taken)."""

    def fresh(base: str) -> str:
        candidate, k = base, 1
        while candidate in used:
            candidate, k = f"{base}_{k}", k + 1
        used.add(candidate)
        return candidate

    return fresh
