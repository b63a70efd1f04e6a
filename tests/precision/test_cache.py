"""TensorRT calibration cache text format: golden value, bit-exact round trip, errors with line numbers."""
from __future__ import annotations

import os
from pathlib import Path
import struct

import numpy as np
import pytest

from pykit.precision.cache import (CacheFormatError, format_cache, hex_to_float, float_to_hex, parse_cache,
                                   read_cache, trt_version_number, write_cache)


def test_golden_line_decodes():
    # from the format spec: 3c010a14 <-> 0.0078759 (float32 bits, most significant byte first)
    cache = parse_cache("TRT-8503-EntropyCalibration2\ninput: 3c010a14\n")
    assert cache.version == "8503" and cache.algorithm == "EntropyCalibration2"
    assert cache.scales["input"] == pytest.approx(0.0078759, abs=5e-8)
    assert float_to_hex(cache.scales["input"]) == "3c010a14"
    assert struct.pack(">f", cache.scales["input"]) == bytes([0x3C, 0x01, 0x0A, 0x14])


def test_write_read_round_trip_is_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    # arbitrary positive finite float32 bit patterns, subnormals included
    bits = rng.integers(1, 0x7F800000, size=300, dtype=np.uint32)
    scales = {f"layer{i}/out:{i % 3}": float(v) for i, v in enumerate(bits.view(np.float32))}
    path = tmp_path / "calib.cache"
    write_cache(path, scales, algorithm="MinMaxCalibration", version="100300")
    back = read_cache(path)
    assert back.algorithm == "MinMaxCalibration" and back.version == "100300"
    assert list(back.scales) == list(scales)  # order kept, names with ':' and '/' intact
    got = np.array(list(back.scales.values()), dtype=np.float32).view(np.uint32)
    assert np.array_equal(got, bits)
    text = path.read_text()
    assert text.splitlines()[0] == "TRT-100300-MinMaxCalibration"
    assert text.splitlines()[1] == f"layer0/out:0: {int(bits[0]):08x}"


@pytest.mark.parametrize("algo", ["EntropyCalibration2", "EntropyCalibration", "MinMaxCalibration", "LegacyCalibration"])
def test_all_algorithms_accepted(algo):
    assert parse_cache(f"TRT-8601-{algo}\n").algorithm == algo


@pytest.mark.parametrize("text, line, fragment", [
    ("", 1, "empty"),
    ("TRT-8503-KLCalibration\nx: 3c010a14\n", 1, "unknown calibration algorithm 'KLCalibration'"),
    ("TensorRT calibration\n", 1, "bad header"),
    ("TRT-8503-EntropyCalibration2\na: 3c010a14\nb 3c010a14\n", 3, "malformed line"),
    ("TRT-8503-EntropyCalibration2\na: 3c010a14\n\nb: 3c010a1400\n", 4, "not 1-8 hex digits"),
    ("TRT-8503-EntropyCalibration2\na: 3c010a1g\n", 2, "not 1-8 hex digits"),
    ("TRT-8503-EntropyCalibration2\na: 3c010a14\na: 3c010a14\n", 3, "appears twice"),
])
def test_malformed_cache_names_file_and_line(tmp_path, text, line, fragment):
    path = tmp_path / "bad.cache"
    path.write_text(text)
    with pytest.raises(CacheFormatError) as err:
        read_cache(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line}:"), msg
    assert fragment in msg


def test_binary_file_is_a_clear_error(tmp_path):
    path = tmp_path / "engine.cache"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(CacheFormatError, match="not a text calibration cache"):
        read_cache(path)


def test_write_is_atomic(tmp_path):
    path = tmp_path / "calib.cache"
    write_cache(path, {"a": 0.5})
    before = path.read_bytes()
    with pytest.raises(ValueError, match="finite and positive"):
        write_cache(path, {"a": 0.25, "b": float("nan")})
    with pytest.raises(ValueError, match="unknown calibration algorithm"):
        write_cache(path, {"a": 0.25}, algorithm="Entropy3")
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["calib.cache"]  # no temporary files left behind


def test_hex_helpers_and_versions():
    assert float_to_hex(1.0) == "3f800000"
    assert hex_to_float("3f800000") == 1.0
    with pytest.raises(ValueError):
        hex_to_float("3f80")
    assert trt_version_number("8.5.3") == "8503"
    assert trt_version_number("8.6.1.6") == "8601"
    assert trt_version_number("10.3.0") == "100300"
    assert format_cache({"t": 2.0}, version="8503") == "TRT-8503-EntropyCalibration2\nt: 40000000\n"


def test_reads_what_tensorrt_writes_zero_and_infinite_ranges():
    # a cache IInt8EntropyCalibrator2 wrote on the H200 (tests/fixtures/trt_caches/README.md): bare
    # '0' for zero ranges, 7f800000 for the -inf canvas of a scatter max
    path = Path(__file__).parents[1] / "fixtures" / "trt_caches" / "pyg_scatter_max_opset18_dynamo.cache"
    cache = read_cache(path)
    lines = [l.rpartition(": ") for l in path.read_text().splitlines()[1:] if l.strip()]
    zero = {t for t, _, v in lines if v == "0"}
    inf = {t for t, _, v in lines if v == "7f800000"}
    assert zero and inf
    assert cache.unusable == {**dict.fromkeys(zero, "zero range"), **dict.fromkeys(inf, "infinite range")}
    assert set(cache.scales) == {t for t, _, _ in lines} - zero - inf
    assert all(np.isfinite(v) and v > 0 for v in cache.scales.values())
    # TensorRT's unpadded hex of a positive scale reads as the padded one
    assert parse_cache("TRT-8503-EntropyCalibration2\nt: 3c01\n").scales == {"t": hex_to_float("00003c01")}
