// LayerNorm kernel core: what the CUDA launcher (layer_norm_kernel.cu) and the CPU host backend
// (host.cpp) share: geometry, fp32 loads/stores per storage type, and the host's row loop with the
// same arithmetic as the kernels (fp32/fp16: fp32 two-pass statistics, sums of <= 32 terms in
// order, then a tree; int8: exact integer statistics, int8_row()), so the spec's error model
// covers both.
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

// int8 rows. x = q * s_x with q an integer, so the statistics need no floating-point sums: both
// backends add q and q^2 exactly in integers (the kernels four bytes per dp4a, a quarter of the
// instructions of widening every byte to fp32 and summing it), and mean and variance carry only
// their final roundings. Per call (int8_call, once: the launcher computes it on the host):
//   eps_q = eps / s_x / s_x, k_scale = s_scale * (1/s_y), k_bias = s_bias * (1/s_y);
// per row, in units of s_x (int8_row):
//   mean_q = sum_q / n,  var_q = (n sum_q2 - sum_q^2) / n / n  (the numerator an exact integer),
//   rstd_q = 1 / sqrt(var_q + eps_q)  (eps_q = inf: rstd_q = 0, and then |y - bias| < 1.5e-17
//            |scale|; eps = 0 on a constant row: inf, and y is NaN -> 0),
//   a = rstd_q * k_scale, c = -mean_q * a;
// per element (int8_output): y_q = quantize_int8(fma(fma(q, a, c), q_scale, q_bias * k_bias)).
struct Int8Call {
    float eps_q, k_scale, k_bias;
};

PYKIT_HD Int8Call int8_call(float eps, const Scales& s) {
    const float inv_y = out_inv_scale(s);
    return Int8Call{eps / s.x / s.x, s.scale * inv_y, s.bias * inv_y};
}

struct Int8Row {
    float a, c, k_bias;
    // every output of the row finite (|fma(fma(q, a, c), q_scale, q_bias k_bias)| < 2^128 for int8
    // q, q_scale, q_bias), so no NaN can arise and quantize_int8 needs no NaN test (the kernels'
    // fast loop); false for a NaN or inf a (eps = 0 on a constant row) or absurd scale ratios.
    bool finite;
};

constexpr std::int32_t kExactInt64Cols = 1 << 24;  // n * sum_q2 <= 2^14 n^2 fits int64 up to here

PYKIT_HD Int8Row int8_row(long long sum_q, long long sum_q2, std::int32_t n, const Int8Call& k) {
    float num;
    if (n <= kExactInt64Cols) {
        num = float(static_cast<long long>(n) * sum_q2 - sum_q * sum_q);
    } else {
        num = float(static_cast<__int128>(n) * sum_q2 - static_cast<__int128>(sum_q) * sum_q);
    }
    const float mean_q = float(sum_q) / float(n);
    const float var_q = num / float(n) / float(n);
#if defined(__CUDA_ARCH__)
    const float rstd_q = 1.f / sqrtf(var_q + k.eps_q);
#else
    const float rstd_q = 1.f / std::sqrt(var_q + k.eps_q);
#endif
    const float a = rstd_q * k.k_scale, c = -mean_q * a;
    const float bound = (128.f * fabsf(a) + fabsf(c)) * 128.f + 128.f * fabsf(k.k_bias);
    return Int8Row{a, c, k.k_bias, bound <= 1e38f};
}

// One int8 output from q, q_scale, q_bias (int8_row's per-element formula, before quantize_int8).
PYKIT_HD float int8_output(float q, float q_scale, float q_bias, const Int8Row& r) {
#if defined(__CUDA_ARCH__)
    return fmaf(fmaf(q, r.a, r.c), q_scale, q_bias * r.k_bias);
#else
    return std::fma(std::fma(q, r.a, r.c), q_scale, q_bias * r.k_bias);
#endif
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

// Host: one int8 row (int8_row()'s arithmetic; the scratch buffers are not needed).
inline void normalize_row_host(const std::int8_t* x, const std::int8_t* gamma, const std::int8_t* beta, std::int8_t* y,
                               std::int32_t cols, float eps, const Scales& s, std::vector<float>&,
                               std::vector<float>&) {
    const Int8Call k = int8_call(eps, s);  // per call in the kernels; the same value per row here
    long long sum_q = 0, sum_q2 = 0;
    for (std::int32_t c = 0; c < cols; ++c) {
        sum_q += x[c];
        sum_q2 += int(x[c]) * int(x[c]);
    }
    const Int8Row r = int8_row(sum_q, sum_q2, cols, k);
    for (std::int32_t c = 0; c < cols; ++c)
        y[c] = quantize_int8(int8_output(float(x[c]), float(gamma[c]), float(beta[c]), r));
}

} }  // namespace pykit::layer_norm
