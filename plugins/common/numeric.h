// Precision helpers shared by kernel cores: binary16 <-> float conversions and int8
// quantization, identical on host and device.
//
// INT8: symmetric per-tensor, q = clamp(rint(x / s), -127, 127), rint = round half to even, as
// TensorRT's quantization scheme ("roundWithTiesToEven", TensorRT Developer Guide, Quantization
// Schemes). See pykit/precision/numerics.py for the same contract in numpy.
#pragma once

#include <cstdint>
#include <cstring>

#include "hd.h"

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#else
#include <cmath>
#endif

namespace pykit {

PYKIT_HD float round_half_even(float x) {
#if defined(__CUDA_ARCH__)
    return rintf(x);
#else
    return std::nearbyint(x);  // default FP environment rounds to nearest even
#endif
}

// Non-finite values: +-inf saturate to +-127 (the clamp) and NaN becomes 0. TensorRT documents no
// NaN behaviour for its Q layer; 0 is what CUDA's saturating float->int conversions give
// (cvt.rni.sat: NaN -> 0), and it keeps the cast below defined (a NaN cast to int8 is UB).
PYKIT_HD std::int8_t quantize_int8(float x_over_scale) {
    if (x_over_scale != x_over_scale) return 0;
    float q = round_half_even(x_over_scale);
    q = q > 127.f ? 127.f : (q < -127.f ? -127.f : q);
    return static_cast<std::int8_t>(q);
}

// int8 -> int8 requantization factor s_in / s_out, or 0 when it is not a finite positive number
// (s_out so small that the quotient overflows to inf, or a non-finite scale): callers refuse 0.
PYKIT_HD float requantize_ratio(float s_in, float s_out) {
    const float ratio = s_in / s_out;
    return ratio > 0.f && ratio <= 3.4028234663852886e38f ? ratio : 0.f;
}

// IEEE binary16 bits -> float (exact).
PYKIT_HD float half_bits_to_float(std::uint16_t h) {
#if defined(__CUDA_ARCH__)
    return __half2float(__ushort_as_half(h));
#else
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    std::uint32_t exp = (h >> 10) & 0x1Fu;
    std::uint32_t man = h & 0x3FFu;
    std::uint32_t bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            exp = 127 - 15 + 1;
            while ((man & 0x400u) == 0) { man <<= 1; --exp; }
            bits = sign | (exp << 23) | ((man & 0x3FFu) << 13);
        }
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
#endif
}

// float -> IEEE binary16 bits, round to nearest even, overflow to inf, NaN kept.
PYKIT_HD std::uint16_t float_to_half_bits(float f) {
#if defined(__CUDA_ARCH__)
    return __half_as_ushort(__float2half_rn(f));
#else
    std::uint32_t x;
    std::memcpy(&x, &f, 4);
    const std::uint16_t sign = std::uint16_t((x >> 16) & 0x8000u);
    const std::uint32_t absx = x & 0x7FFFFFFFu;
    if (absx >= 0x7F800000u) return std::uint16_t(sign | 0x7C00u | (absx > 0x7F800000u ? 0x200u : 0u));
    if (absx >= 0x477FF000u) return std::uint16_t(sign | 0x7C00u);  // rounds to >= 65520: inf
    if (absx < 0x38800000u) {  // below the smallest normal half: subnormal or zero
        if (absx < 0x33000000u) return sign;  // < 2^-25 rounds to zero
        // value = man * 2^(exp - 150); half subnormal units are 2^-24, so half = man >> (126 - exp)
        const std::uint32_t exp = absx >> 23;
        const std::uint32_t man = (absx & 0x7FFFFFu) | 0x800000u;
        const std::uint32_t shift = 126 - exp;  // 14..24
        std::uint32_t half = man >> shift;
        const std::uint32_t rem = man & ((1u << shift) - 1u);
        const std::uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u))) ++half;
        return std::uint16_t(sign | half);
    }
    std::uint32_t half = ((absx - 0x38000000u) >> 13);  // rebias exponent 127 -> 15
    const std::uint32_t rem = absx & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;
    return std::uint16_t(sign | half);
#endif
}

}  // namespace pykit
