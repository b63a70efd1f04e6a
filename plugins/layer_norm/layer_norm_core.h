// LayerNorm kernel core: what the CUDA launcher (layer_norm_kernel.cu) and the CPU host backend
// (host.cpp) share: geometry, fp32 loads/stores per storage type, and the host's row loop with the
// same arithmetic as the kernels (fp32 two-pass statistics; sums of <= 32 terms in order, then a
// tree), so the spec's error model covers both.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "common/hd.h"
#include "common/numeric.h"

namespace pykit { namespace layer_norm {

// x viewed as [rows, cols]: rows = prod(shape[:axis]), cols = prod(shape[axis:]).
struct Geometry {
    std::int64_t rows;
    std::int32_t cols;
};

struct Params {
    float epsilon;
};

// int8 scales of x, scale, bias and y (1 for float storage).
struct Scales {
    float x = 1.f, scale = 1.f, bias = 1.f, y = 1.f;
};

template <class AttrsT>
inline Params make_params(const AttrsT& a) {
    Params p{};
    p.epsilon = a.epsilon;
    return p;
}

// ONNX axis in [-rank, rank) -> [0, rank), or -1 when out of range.
inline int normalized_axis(int axis, int rank) {
    const int a = axis < 0 ? axis + rank : axis;
    return a >= 0 && a < rank ? a : -1;
}

// Storage types: float (fp32), std::uint16_t (binary16 bits), std::int8_t (int8, with its scale).
// int8 stores multiply by 1/s_y (out_inv_scale(), once per call) rather than divide per element:
// an fp32 division costs the GPU a reciprocal and a correction sequence per element, which made
// int8 slower than fp16 (one more rounding: spec.toml's int8 error model counts it).
PYKIT_HD float load(float v, float) { return v; }
PYKIT_HD float load(std::uint16_t v, float) { return half_bits_to_float(v); }
PYKIT_HD float load(std::int8_t v, float scale) { return float(v) * scale; }
PYKIT_HD void store(float& out, float v, float) { out = v; }
PYKIT_HD void store(std::uint16_t& out, float v, float) { out = float_to_half_bits(v); }
PYKIT_HD void store(std::int8_t& out, float v, float inv_scale) { out = quantize_int8(v * inv_scale); }
PYKIT_HD float out_inv_scale(const Scales& s) { return 1.f / s.y; }

// y = (v - mean) * rstd * gamma + beta, in fp32: the one formula of both backends.
PYKIT_HD float normalize(float v, float mean, float rstd, float gamma, float beta) {
    return (v - mean) * rstd * gamma + beta;
}

// Variance without overflow. (x - mean)^2 overflows fp32 for |x - mean| >~ 1.8e19, where the
// float64 reference is still finite (and returned only the bias before). Every backend first sums
// d^2 as is; only when that total is inf (a sum of non-negative terms overflows only if its total
// does, and the total is the same on every thread of a row, so the branch is uniform) it sums
// (d * p)^2 again with p = deviation_scale(max|d|), a power of two that brings max|d| into
// [0.5, 1): scaling by a power of two is exact, so the error model is unchanged, and the usual
// path's arithmetic (p = 1) is bit for bit what it was. What remains: the mean's sum of n values
// overflows when n * max|x| > FLT_MAX (spec: error model).
constexpr float kFloatMax = 3.40282346638528859812e38f;

PYKIT_HD bool sum_overflowed(float total) { return total > kFloatMax; }

// 2^-e where max_abs_dev = f * 2^e, f in [0.5, 1); 1 for a non-finite or zero argument.
PYKIT_HD float deviation_scale(float max_abs_dev) {
    if (!(max_abs_dev > 0.f && max_abs_dev <= kFloatMax)) return 1.f;
    int e = 0;
    frexpf(max_abs_dev, &e);
    return ldexpf(1.f, -e);
}

// 1 / sqrt(var + eps) from sum_sq = sum((d * p)^2): p / sqrt(sum_sq / n + eps * p^2) (p = 1: the plain formula).
PYKIT_HD float rstd_from(float sum_sq, std::int32_t cols, float eps, float p) {
#if defined(__CUDA_ARCH__)
    return p / sqrtf(sum_sq / float(cols) + eps * p * p);
#else
    return p / std::sqrt(sum_sq / float(cols) + eps * p * p);
#endif
}

constexpr int kSequentialTerms = 32;  // a thread adds at most this many terms in order

// Host: sum of v[0..n) as the kernels add: chunks of kSequentialTerms in order, then pairwise.
inline float blocked_sum(const float* v, std::int32_t n, std::vector<float>& partial) {
    partial.clear();
    for (std::int32_t c = 0; c < n; c += kSequentialTerms) {
        float acc = 0.f;
        for (std::int32_t k = c; k < n && k < c + kSequentialTerms; ++k) acc += v[k];
        partial.push_back(acc);
    }
    while (partial.size() > 1) {
        const std::size_t half = (partial.size() + 1) / 2;
        for (std::size_t k = 0; k + half < partial.size(); ++k) partial[k] += partial[k + half];
        partial.resize(half);
    }
    return partial.empty() ? 0.f : partial[0];
}

// Host: one row. `work` and `partial` are scratch buffers reused across rows.
template <class T>
inline void normalize_row_host(const T* x, const T* gamma, const T* beta, T* y, std::int32_t cols, float eps,
                               const Scales& s, std::vector<float>& work, std::vector<float>& partial) {
    work.resize(std::size_t(cols) * 2);
    float* v = work.data();
    float* sq = v + cols;
    for (std::int32_t c = 0; c < cols; ++c) v[c] = load(x[c], s.x);
    const float mean = blocked_sum(v, cols, partial) / float(cols);
    for (std::int32_t c = 0; c < cols; ++c) {
        const float d = v[c] - mean;
        sq[c] = d * d;
    }
    float sum_sq = blocked_sum(sq, cols, partial), p = 1.f;
    if (sum_overflowed(sum_sq)) {
        float m = 0.f;
        for (std::int32_t c = 0; c < cols; ++c) m = std::fmax(m, std::fabs(v[c] - mean));
        p = deviation_scale(m);
        for (std::int32_t c = 0; c < cols; ++c) {
            const float d = (v[c] - mean) * p;
            sq[c] = d * d;
        }
        sum_sq = blocked_sum(sq, cols, partial);
    }
    const float rstd = rstd_from(sum_sq, cols, eps, p);
    const float inv_y = out_inv_scale(s);
    for (std::int32_t c = 0; c < cols; ++c)
        store(y[c], normalize(v[c], mean, rstd, load(gamma[c], s.scale), load(beta[c], s.bias)), inv_y);
}

} }  // namespace pykit::layer_norm
