"""TensorRT INT8 calibration cache: the text format ``IInt8Calibrator::writeCalibrationCache`` writes.

::

    TRT-8503-EntropyCalibration2
    input: 3c010a14
    conv1_out: 3d8c1a2b

The header is ``TRT-<version>-<algorithm>``: ``<version>`` is TensorRT's library version number
(8.5.3 -> ``8503``; TensorRT 10 numbers as major*10000 + minor*100 + patch, 10.3.0 -> ``100300``)
and ``<algorithm>`` one of :data:`ALGORITHMS`.  Each further line is ``<tensor name>: <hex>``, the
IEEE-754 bits of the float32 scale (``amax / 127``) as eight hex digits, most significant byte
first: ``3c010a14`` is 0.0078759...  Tensor names may contain ``:``; the last ``": "`` separates
the value. TensorRT 8.5 itself writes the bits without zero padding (``0`` for a tensor whose range
is zero) and ``7f800000`` (+inf) for a tensor whose values are infinite (a scatter-max canvas of
-inf): the reader takes 1-8 hex digits and keeps such tensors apart (``CalibrationCache.unusable``:
TensorRT leaves them unquantized); the writer writes only usable scales, padded.
"""
from __future__ import annotations

from pykit.files import write_atomic

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "ALGORITHMS",
    "CacheFormatError",
    "CalibrationCache",
    "check_scale",
    "float_to_hex",
    "hex_to_float",
    "read_cache",
    "trt_version_number",
    "write_cache",
]

ALGORITHMS = ("EntropyCalibration2", "EntropyCalibration", "MinMaxCalibration", "LegacyCalibration")
DEFAULT_VERSION = "8503"

_HEADER_RE = re.compile(r"^TRT-(\d+)-(\S+)$")
_HEX_RE = re.compile(r"^[0-9a-fA-F]{8}$")
_TRT_HEX_RE = re.compile(r"^[0-9a-fA-F]{1,8}$")  # what TensorRT writes: std::hex, no padding


class CacheFormatError(ValueError):
    """A calibration cache is malformed; the message names the file and line."""


@dataclass
class CalibrationCache:
    """Scales per tensor (float32 values) with the header's version and algorithm."""

    scales: dict = field(default_factory=dict)
    algorithm: str = "EntropyCalibration2"
    version: str = DEFAULT_VERSION
    unusable: dict = field(default_factory=dict)  # tensor -> why it has no scale (TensorRT's 0 / +inf)

    def amax(self) -> dict:
        """``scale * 127`` per tensor (float32 arithmetic)."""
        return {k: float(np.float32(v) * np.float32(127)) for k, v in self.scales.items()}


def float_to_hex(value: float) -> str:
    """Eight lower-case hex digits of ``value`` as float32, most significant byte first."""
    return struct.pack(">f", np.float32(value)).hex()


def hex_to_float(text: str) -> float:
    """Inverse of :func:`float_to_hex` (the float32 value as a Python float)."""
    if not _HEX_RE.match(text):
        raise ValueError(f"expected 8 hex digits, got {text!r}")
    return struct.unpack(">f", bytes.fromhex(text))[0]


def trt_version_number(version: str) -> str:
    """TensorRT's version number for a version string: '8.5.3' -> '8503', '10.3.0' -> '100300'.

    The string must start with dotted digits (a suffix such as '.post1' or 'b6' is ignored); anything
    else raises ValueError rather than numbering it 0."""
    m = re.match(r"\d+(?:\.\d+)*", str(version))
    if not m:
        raise ValueError(f"TensorRT version {version!r} is not a version such as 8.5.3, 10.3.0 or 8503")
    parts = [int(p) for p in m.group(0).split(".")[:3]]
    while len(parts) < 3:
        parts.append(0)
    major, minor, patch = parts
    if major >= 10:
        return str(major * 10000 + minor * 100 + patch)
    return str(major * 1000 + minor * 100 + patch)


def check_scale(tensor: str, scale) -> np.float32:
    """The scale as float32 if TensorRT can use it (finite and positive), else ValueError naming the
    tensor. Shared by the writer and the reader so that neither accepts what the other refuses."""
    s = np.float32(scale)
    if not np.isfinite(s) or s <= 0:
        raise ValueError(f"tensor {tensor!r}: scale must be finite and positive, got {scale}")
    return s


def _parse(text: str, name: str) -> CalibrationCache:
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise CacheFormatError(f"{name}:1: empty calibration cache; expected a 'TRT-<version>-<algorithm>' header")
    m = _HEADER_RE.match(lines[0].strip())
    if not m:
        raise CacheFormatError(f"{name}:1: bad header {lines[0]!r}; expected 'TRT-<version>-<algorithm>'")
    version, algorithm = m.groups()
    if algorithm not in ALGORITHMS:
        raise CacheFormatError(f"{name}:1: unknown calibration algorithm {algorithm!r}; "
                               f"expected one of {', '.join(ALGORITHMS)}")
    scales: dict = {}
    unusable: dict = {}
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        tensor, sep, value = line.rpartition(": ")
        if not sep or not tensor:
            raise CacheFormatError(f"{name}:{lineno}: malformed line {line!r}; expected '<tensor>: <8 hex digits>'")
        value = value.strip()
        if not _TRT_HEX_RE.match(value):
            raise CacheFormatError(f"{name}:{lineno}: tensor {tensor!r}: value {value!r} is not 1-8 hex digits")
        if tensor in scales or tensor in unusable:
            raise CacheFormatError(f"{name}:{lineno}: tensor {tensor!r} appears twice")
        bits = value.rjust(8, "0")
        if bits in ("00000000", "7f800000"):  # TensorRT's own: a zero range, an infinite one
            unusable[tensor] = "zero range" if bits == "00000000" else "infinite range"
            continue
        value = bits
        try:
            scales[tensor] = float(check_scale(tensor, hex_to_float(value)))
        except ValueError as e:
            raise CacheFormatError(f"{name}:{lineno}: {e} ({value})") from None
    return CalibrationCache(scales, algorithm, version, unusable)


def read_cache(path) -> CalibrationCache:
    """Parse a calibration cache file; malformed content raises :class:`CacheFormatError`."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise CacheFormatError(f"{path}: not a text calibration cache ({e.reason} at byte {e.start})") from None
    return _parse(text, str(path))


def parse_cache(text: str, name: str = "<string>") -> CalibrationCache:
    """Parse calibration cache text (``name`` appears in error messages)."""
    return _parse(text, name)


def format_cache(scales: dict, algorithm: str = "EntropyCalibration2", version: str = DEFAULT_VERSION) -> str:
    """The cache text for ``{tensor: scale}`` (scales are rounded to float32)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown calibration algorithm {algorithm!r}; expected one of {', '.join(ALGORITHMS)}")
    if not re.fullmatch(r"\d+", str(version)):
        raise ValueError(f"version must be TensorRT's version number (digits, e.g. 8503), got {version!r}")
    out = [f"TRT-{version}-{algorithm}"]
    for tensor, scale in scales.items():
        if not tensor or "\n" in tensor or tensor != tensor.strip():
            raise ValueError(f"tensor name {tensor!r} cannot be written to a calibration cache")
        s = check_scale(tensor, scale)
        out.append(f"{tensor}: {float_to_hex(s)}")
    return "\n".join(out) + "\n"


def write_cache(path, scales: dict, algorithm: str = "EntropyCalibration2", version: str = DEFAULT_VERSION) -> None:
    """Write a calibration cache atomically (temporary file in the same folder, then rename)."""
    text = format_cache(scales, algorithm, version)
    write_atomic(path, text.encode("utf-8"))
