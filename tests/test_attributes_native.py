"""The C++ attribute parser with one plugin as its specimen: constraints checked after
deserializing, and each kind of bad attribute refused naming it. What every plugin must satisfy
(field table = spec, round trip, truncated/oversized/garbage buffers refused) is in
tests/test_conformance.py."""
import struct

import pytest


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
