"""Writes the committed seed corpus: per plugin, valid serialized attributes (byte 0 = 0:
deserialize_attrs) and field lists (byte 0 = 1: parse_fields) in fuzz_attrs.cpp's encoding.
Run: python tests/reliability/fuzz/make_corpus.py (needs pykit._host)."""
import struct
from pathlib import Path

from pykit import _host, registry

HERE = Path(__file__).parent
KINDS = {"int32": 0, "float32": 1, "string": 2}


def example_attrs(spec) -> list[dict]:
    """The defaults, and each required attribute at its minimum (or 1)."""
    base = {}
    for a in spec.attributes:
        if a.required:
            base[a.name] = a.min if a.min is not None else 1
    variants = [base]
    for a in spec.attributes:
        if a.choices:
            variants += [{**base, a.name: c} for c in a.choices]
        elif a.max is not None:
            variants.append({**base, a.name: a.max})
    return variants


def encode_fields(spec, attrs: dict) -> bytes:
    names = [a.name for a in spec.attributes]
    out = bytearray([1, len(attrs)])
    for name, value in attrs.items():
        kind = next(a.type for a in spec.attributes if a.name == name)
        kind = "string" if kind == "string" else ("float32" if kind.startswith("float") else "int32")
        payload = (value.encode() if kind == "string" else
                   struct.pack(">f" if kind == "float32" else ">i", value)[::-1])  # little-endian items
        length = len(payload) if kind == "string" else 1
        out += bytes([names.index(name), KINDS[kind]]) + struct.pack(">i", length) + payload
    return bytes(out)


def main() -> None:
    for spec in registry.discover():
        folder = HERE / "corpus" / spec.snake
        folder.mkdir(parents=True, exist_ok=True)
        for i, attrs in enumerate(example_attrs(spec)):
            (folder / f"serialized_{i}").write_bytes(b"\0" + _host.serialize_attrs(spec.name, attrs))
            (folder / f"fields_{i}").write_bytes(encode_fields(spec, attrs))


if __name__ == "__main__":
    main()
