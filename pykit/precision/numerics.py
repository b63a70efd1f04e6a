"""Numeric emulation of the precisions a plugin runs in: binary16, bfloat16 and INT8.

INT8 follows TensorRT's quantization scheme (TensorRT Developer Guide, "Quantization Schemes":
``x_q = roundWithTiesToEven(clip(x / s, -128, 127))``, ``x = x_q * s``) with two choices of ours,
which the kernels share:

* scales are symmetric per tensor, ``s = amax / 127`` (TensorRT's dynamic range ``[-amax, amax]``);
* values clamp to ``[-127, 127]`` (narrow range). TensorRT's Q layer clips at -128; the two differ
  only for ``x < -127.5 * s``, which a scale taken from the tensor's own amax never produces.

Rounding is round-half-to-even, as numpy's ``rint`` and CUDA's ``__float2int_rn`` do.
"""
from __future__ import annotations

import numpy as np

INT8_MAX = 127
INT8_MIN = -127


def to_fp16(x) -> np.ndarray:
    """Round to binary16 (round-to-nearest-even, overflow to inf), returned as float16."""
    return np.asarray(x, dtype=np.float32).astype(np.float16)


def scale_from_amax(amax: float) -> float:
    """Symmetric per-tensor scale ``amax / 127`` as float32; an all-zero tensor gets 1/127."""
    amax = float(amax)
    if not np.isfinite(amax) or amax < 0:
        raise ValueError(f"amax must be a finite non-negative number, got {amax}")
    return float(np.float32(amax / INT8_MAX)) if amax > 0 else float(np.float32(1.0 / INT8_MAX))


def quantize_int8(x, scale: float) -> np.ndarray:
    """``clip(rint(x / scale), -127, 127)`` as int8, computed in float32 as a kernel does; NaN -> 0 and
    +-inf saturate to +-127, as the kernels' quantize_int8 (plugins/common/numeric.h) defines them."""
    if not scale > 0:
        raise ValueError(f"int8 scale must be positive, got {scale}")
    q = np.rint(np.asarray(x, dtype=np.float32) / np.float32(scale))
    return np.clip(np.nan_to_num(q, nan=0.0), INT8_MIN, INT8_MAX).astype(np.int8)


def dequantize_int8(q, scale: float) -> np.ndarray:
    """``q * scale`` in float32."""
    return np.asarray(q, dtype=np.int8).astype(np.float32) * np.float32(scale)


def fake_quantize_int8(x, scale: float) -> np.ndarray:
    """Quantize then dequantize: the value an INT8 tensor carries."""
    return dequantize_int8(quantize_int8(x, scale), scale)
