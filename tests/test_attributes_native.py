"""The C++ side of attributes: the compiled field table equals the spec, parsing rejects what the
spec rejects, and the deserializer refuses truncated, oversized and garbage buffers."""
import struct

import numpy as np
import pytest

from pykit import registry
from pykit.codegen import schema_hash

SPECS = registry.discover()
TYPE_OF = {"int32": "int32", "float32": "float32", "int32[]": "int32[]", "float32[]": "float32[]", "string": "string"}


def sample_attrs(spec):
    """Required attributes at their minimum (or 1), optional ones at default."""
    out = {}
    for a in spec.attributes:
        if a.required:
            if a.type == "string":
                out[a.name] = a.choices[0] if a.choices else "x"
            elif a.is_array:
                out[a.name] = [int(a.min or 1)] * 2 if a.scalar_type == "int32" else [float(a.min or 1.0)] * 2
            else:
                out[a.name] = int(a.min if a.min is not None else 1) if a.type == "int32" else float(a.min or 1.0)
    return spec.resolve_attributes(out)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_compiled_field_table_matches_spec(host, spec):
    """The attribute schema exists once: the build generated the C++ table from this very spec."""
    assert spec.name in host.plugins(), f"{spec.name} has no host backend compiled: rebuild with pip install -e ."
    fields = host.fields(spec.name)
    assert [(f["name"], f["type"], f["required"]) for f in fields] == [
        (a.name, TYPE_OF[a.type], a.required) for a in spec.attributes
    ]
    assert [(f["min"], f["max"], tuple(f["choices"])) for f in fields] == [
        (a.min, a.max, a.choices) for a in spec.attributes
    ]
    assert host.schema_hash(spec.name) == schema_hash(spec), "stale build: rebuild with pip install -e ."


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_compiled_io_table_matches_spec(host, spec):
    """The tensors exist once too: names, precisions, and each tensor's dtype and ranks per precision,
    as the TensorRT bases and the host binder read them, are this very spec's."""
    io = host.io(spec.name)
    tensors = spec.inputs + spec.outputs
    assert io["inputs"] == [t.name for t in spec.inputs] and io["outputs"] == [t.name for t in spec.outputs]
    assert io["precisions"] == list(spec.precisions)
    for p in spec.precisions:
        assert io["dtypes"][p] == [t.dtype(p) for t in tensors], p
        assert io["ranks"][p] == [sorted(t.ranks_at(p)) for t in tensors], p


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_host_call_is_checked_against_the_io_table(host, spec):
    """A wrong input count, an unknown precision and a wrong dtype are refused naming the culprit,
    before any plugin code runs (host::bind, from the compiled table)."""
    with pytest.raises(ValueError, match=f"{spec.name}: expects {len(spec.inputs)} input"):
        host.run(spec.name, [], sample_attrs(spec), spec.precisions[0], [], [])
    with pytest.raises(ValueError, match="precision 'int4' is not in the spec|unknown precision 'int4'"):
        host.run(spec.name, [], sample_attrs(spec), "int4", [], [])
    first = spec.inputs[0]
    rank = first.ranks_at(spec.precisions[0])[-1]
    wrong = [np.zeros((1,) * rank, np.float64)] + [np.zeros((1,) * t.ranks_at(spec.precisions[0])[-1],
                                                            t.dtype(spec.precisions[0])) for t in spec.inputs[1:]]
    with pytest.raises(ValueError, match=f"input '{first.name}' must be {first.dtype(spec.precisions[0])}"):
        host.run(spec.name, wrong, sample_attrs(spec), spec.precisions[0], [1.0] * len(spec.inputs),
                 [1.0] * len(spec.outputs))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_round_trip_and_defaults(host, spec):
    attrs = sample_attrs(spec)
    blob = host.serialize_attrs(spec.name, {k: v for k, v in attrs.items() if spec.attribute(k).required})
    assert host.deserialize_attrs(spec.name, blob) == pytest.approx(attrs)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_truncation_is_refused(host, spec):
    blob = host.serialize_attrs(spec.name, sample_attrs(spec))
    for n in range(len(blob)):
        with pytest.raises(ValueError, match=f"{spec.name}: invalid serialized data"):
            host.deserialize_attrs(spec.name, blob[:n])


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_oversized_and_corrupt_headers_are_refused(host, spec):
    blob = host.serialize_attrs(spec.name, sample_attrs(spec))
    cases = {
        "trailing byte": (blob + b"\0", "payload bytes"),
        "payload size lies (bigger)": (blob[:12] + struct.pack("<I", len(blob)) + blob[16:], "payload bytes"),
        "bad magic": (b"XXXX" + blob[4:], "bad magic"),
        "other format": (blob[:4] + struct.pack("<H", 99) + blob[6:], "format 99"),
        "other schema": (blob[:8] + struct.pack("<I", (host.schema_hash(spec.name) + 1) & 0xFFFFFFFF) + blob[12:],
                         "different spec"),
    }
    for name, (bad, message) in cases.items():
        with pytest.raises(ValueError, match=message):
            host.deserialize_attrs(spec.name, bad)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_random_garbage_never_crashes(host, spec):
    """Random bytes (seeded), with and without a valid header, only ever raise the plugin's error."""
    rng = np.random.default_rng(7)
    header = host.serialize_attrs(spec.name, sample_attrs(spec))[:16]
    for trial in range(300):
        body = rng.integers(0, 256, size=int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
        blob = (header[:12] + struct.pack("<I", len(body)) + body) if trial % 2 else body
        try:
            host.deserialize_attrs(spec.name, blob)
        except ValueError as err:
            assert spec.name in str(err)


def test_constraints_checked_after_deserialize(host):
    """A well-formed buffer whose values break the spec (nx = 0) is refused too."""
    blob = bytearray(host.serialize_attrs("PillarScatter", {"nx": 4, "ny": 3}))
    blob[16:20] = struct.pack("<i", 0)  # first field: nx
    with pytest.raises(ValueError, match="attribute 'nx': 0 is below the minimum 1"):
        host.deserialize_attrs("PillarScatter", bytes(blob))


@pytest.mark.parametrize(
    "attrs, message",
    [
        ({"ny": 3}, "attribute 'nx': required attribute is missing"),
        ({"nx": 4, "ny": 3, "bogus": 1}, "unknown attribute 'bogus'"),
        ({"nx": 4.0, "ny": 3}, "expects integers"),
        ({"nx": [4, 5], "ny": 3}, "expects one value"),
        ({"nx": 2**31, "ny": 3}, "does not fit in int32"),
        ({"nx": 4, "ny": 3, "batch_size": -1}, "below the minimum"),
    ],
)
def test_native_parser_rejects_with_named_attribute(host, attrs, message):
    with pytest.raises(ValueError, match=message):
        host.serialize_attrs("PillarScatter", attrs)
