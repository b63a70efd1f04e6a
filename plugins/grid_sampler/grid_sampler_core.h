// GridSample kernel core: the math, shared by the CUDA launcher (grid_sampler_kernel.cu) and the CPU
// host backend (host.cpp), so both run the same arithmetic (spec.toml states the semantics).
//
// One output location (n, [do,] ho, wo) at a time: its grid point is read once, turned into taps
// (per spatial axis: up to 4 plane offsets and weights, padding already applied), and the taps are
// then applied to every channel. Coordinates in fp32 with round-to-nearest operations that are
// never contracted into FMAs (the reference computes the same fp32 values), reflection in double.
#pragma once

#include <cstdint>

#include "common/hd.h"
#include "common/numeric.h"

#if !defined(__CUDA_ARCH__)
#include <cmath>
#endif

// Full unrolling of the fixed-count tap and location loops on the GPU, so that Taps live in registers.
#if defined(__CUDA_ARCH__)
#define PYKIT_GS_UNROLL _Pragma("unroll")
#else
#define PYKIT_GS_UNROLL
#endif

namespace pykit { namespace grid_sampler {

enum class Mode : std::int32_t { kLinear = 0, kNearest = 1, kCubic = 2 };
enum class Padding : std::int32_t { kZeros = 0, kBorder = 1, kReflection = 2 };

constexpr int kMaxAxes = 3;

// Shapes: spatial axes outermost first (D, H, W; 2-D has axes = 2 and uses [0] = H, [1] = W).
struct Geometry {
    std::int64_t n = 0, c = 0;
    std::int32_t axes = 2;                   // spatial rank: 2 (4-D) or 3 (5-D)
    std::int32_t in[kMaxAxes] = {1, 1, 1};   // input spatial sizes
    std::int64_t out[kMaxAxes] = {1, 1, 1};  // output spatial sizes
    std::int32_t in_plane = 1;               // prod(in): < 2^31 (checked by the callers)
    std::int64_t out_plane = 1;              // prod(out)
};

struct Params {
    Mode mode = Mode::kLinear;
    Padding padding = Padding::kZeros;
    bool align_corners = false;
};

// Geometry from the shapes of x and grid (ranks already checked equal, 4 or 5).
template <class Dim>
inline Geometry make_geometry(const Dim* x_shape, const Dim* grid_shape, int rank) {
    Geometry g;
    g.n = std::int64_t(x_shape[0]);
    g.c = std::int64_t(x_shape[1]);
    g.axes = rank - 2;
    std::int64_t in_plane = 1;
    for (int a = 0; a < g.axes; ++a) {
        g.in[a] = std::int32_t(x_shape[2 + a]);
        g.out[a] = std::int64_t(grid_shape[1 + a]);
        in_plane *= std::int64_t(x_shape[2 + a]);
        g.out_plane *= g.out[a];
    }
    g.in_plane = std::int32_t(in_plane);
    return g;
}

// Taps of one output location: per axis (outermost first) count[a] offsets (index * stride, so the
// sum over axes is the element's offset in a channel plane) and weights.
struct Taps {
    std::int32_t offset[kMaxAxes][4];
    float weight[kMaxAxes][4];
};

// Taps per axis for a mode (nearest 1, linear 2, cubic 4).
PYKIT_HD constexpr int taps_of(Mode m) { return m == Mode::kNearest ? 1 : (m == Mode::kLinear ? 2 : 4); }

// fp32 operations rounded to nearest and never fused (nvcc contracts a*b+c into FMA by default).
PYKIT_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(a, b);
#else
    volatile float r = a + b;  // volatile: no contraction on hosts whose compiler would fuse
    return r;
#endif
}
PYKIT_HD float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fsub_rn(a, b);
#else
    volatile float r = a - b;
    return r;
#endif
}
PYKIT_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    volatile float r = a * b;
    return r;
#endif
}
PYKIT_HD float floor_f(float v) {
#if defined(__CUDA_ARCH__)
    return floorf(v);
#else
    return std::floor(v);
#endif
}

// Normalized grid value -> pixel coordinate, in the order ONNX's reference and torch use.
PYKIT_HD float denormalize(float g, std::int32_t length, bool align_corners) {
    if (align_corners) return mul_rn(mul_rn(add_rn(g, 1.f), 0.5f), float(length - 1));  // /2 == *0.5 exactly
    return mul_rn(sub_rn(mul_rn(add_rn(g, 1.f), float(length)), 1.f), 0.5f);
}

// onnx.reference's _gs_reflect: reflect v at lo and hi until it lies in [lo, hi], in double as
// there. fmod(dx, 2 range) is exact and gives the same r and parity as its dx - int(dx/range) * range
// (both are exact there too), also where int() would overflow.
PYKIT_HD double fmod_d(double a, double b) {
#if defined(__CUDA_ARCH__)
    return fmod(a, b);
#else
    return std::fmod(a, b);
#endif
}
PYKIT_HD double reflect_coordinate(double v, double lo, double hi) {
    const double range = hi - lo;
    if (!(range > 0.0)) return lo;  // a length-1 axis with align_corners=1: index 0 (torch)
    if (v < lo) {
        const double m = fmod_d(lo - v, 2.0 * range);
        return m <= range ? lo + m : hi - (m - range);
    }
    if (v > hi) {
        const double m = fmod_d(v - hi, 2.0 * range);
        return m <= range ? hi - m : lo + (m - range);
    }
    return v;
}

// Coordinate padding (before the taps): border clamps to [0, L-1], reflection reflects into the
// valid range ([0, L-1] or [-0.5, L-0.5]), zeros leaves c as it is.
PYKIT_HD float pad_coordinate(float c, std::int32_t length, const Params& p) {
    const float lo = p.align_corners ? 0.f : -0.5f;
    const float hi = p.align_corners ? float(length - 1) : float(length) - 0.5f;
    if (c >= lo && c <= hi) return c;
    if (p.padding == Padding::kBorder) return c < 0.f ? 0.f : (c > float(length - 1) ? float(length - 1) : c);
    if (p.padding == Padding::kReflection) return float(reflect_coordinate(double(c), double(lo), double(hi)));
    return c;  // zeros (and NaN: it fails both comparisons)
}

// A tap index after padding: its index in [0, L), or -1 (reads 0; zeros padding only).
PYKIT_HD std::int64_t pad_index(std::int64_t i, std::int32_t length, const Params& p) {
    if (i >= 0 && i < length) return i;
    if (p.padding == Padding::kZeros) return -1;
    if (p.padding == Padding::kBorder) return i < 0 ? 0 : std::int64_t(length) - 1;
    // reflection of an integer at the ends of the valid range (the integer case of reflect_coordinate)
    if (p.align_corners) {
        if (length == 1) return 0;
        const std::int64_t period = 2 * (std::int64_t(length) - 1);
        std::int64_t m = (i < 0 ? -i : i) % period;
        return m > length - 1 ? period - m : m;
    }
    const std::int64_t period = 2 * std::int64_t(length);
    std::int64_t m = i % period;
    if (m < 0) m += period;
    return m >= length ? period - 1 - m : m;
}

// Keys' cubic convolution coefficients (A = -0.75) for the fractional offset t in [0, 1), in
// onnx.reference's evaluation order (taps at -1, 0, 1, 2).
PYKIT_HD void cubic_coefficients(float t, float w[4]) {
    const float A = -0.75f;
    const float x0 = add_rn(t, 1.f), x1 = t, x2 = sub_rn(1.f, t), x3 = sub_rn(2.f, t);
    w[0] = sub_rn(mul_rn(add_rn(mul_rn(sub_rn(mul_rn(A, x0), 5.f * A), x0), 8.f * A), x0), 4.f * A);
    w[1] = add_rn(mul_rn(mul_rn(sub_rn(mul_rn(A + 2.f, x1), A + 3.f), x1), x1), 1.f);
    w[2] = add_rn(mul_rn(mul_rn(sub_rn(mul_rn(A + 2.f, x2), A + 3.f), x2), x2), 1.f);
    w[3] = sub_rn(mul_rn(add_rn(mul_rn(sub_rn(mul_rn(A, x3), 5.f * A), x3), 8.f * A), x3), 4.f * A);
}

// The taps along one axis of length L and plane stride `stride` for the normalized value gv.
// Offsets of taps that read 0 (zeros padding) are 0 with weight 0, so that loads stay in bounds.
template <int K>
PYKIT_HD void axis_taps(float gv, std::int32_t length, std::int32_t stride, const Params& p, std::int32_t* offset,
                        float* weight) {
    float c = denormalize(gv, length, p.align_corners);
    if (p.mode == Mode::kNearest) c = round_half_even(c);
    c = pad_coordinate(c, length, p);
    const int k = K;  // == taps_of(p.mode): a compile-time count keeps the taps in registers
    std::int64_t first;
    if (p.mode == Mode::kNearest) {
        first = (c == c) ? std::int64_t(c) : -(std::int64_t(1) << 40);  // truncation, as onnx.reference's astype(int32)
        weight[0] = 1.f;
    } else {
        const float f = floor_f(c);
        const float t = sub_rn(c, f);
        first = (c == c) ? std::int64_t(f) - (p.mode == Mode::kCubic ? 1 : 0) : -(std::int64_t(1) << 40);
        if (p.mode == Mode::kLinear) {
            weight[0] = sub_rn(1.f, t);
            weight[1] = t;
        } else {
            cubic_coefficients(t, weight);
        }
    }
    if (c != c) {  // NaN grid: every tap reads outside (0 with zeros padding, index 0 otherwise)
        PYKIT_GS_UNROLL
        for (int j = 0; j < k; ++j) weight[j] = c;  // NaN propagates, as onnx.reference's
    }
    PYKIT_GS_UNROLL
    for (int j = 0; j < k; ++j) {
        const std::int64_t i = pad_index(first + j, length, p);
        if (i < 0) {
            offset[j] = 0;
            weight[j] = 0.f;
        } else {
            offset[j] = std::int32_t(i) * stride;
        }
    }
}

PYKIT_HD float grid_value(float v) { return v; }
PYKIT_HD float grid_value(std::uint16_t v) { return half_bits_to_float(v); }

// The grid point of one output location (AXES values, x first), one vector load in 4-D on the GPU
// (the grid's row of 2 values is 8- (fp32) or 4-byte (fp16) aligned: TensorRT's and torch's
// buffers are 256-byte aligned).
template <int AXES>
PYKIT_HD void load_point(const float* g, float* v) {
#if defined(__CUDA_ARCH__)
    if (AXES == 2) {
        const float2 f = *reinterpret_cast<const float2*>(g);
        v[0] = f.x;
        v[1] = f.y;
    } else
#endif
    {
        for (int a = 0; a < AXES; ++a) v[a] = g[a];
    }
}
template <int AXES>
PYKIT_HD void load_point(const std::uint16_t* g, float* v) {
#if defined(__CUDA_ARCH__)
    if (AXES == 2) {
        const unsigned int both = *reinterpret_cast<const unsigned int*>(g);
        v[0] = half_bits_to_float(std::uint16_t(both & 0xFFFFu));
        v[1] = half_bits_to_float(std::uint16_t(both >> 16));
    } else
#endif
    {
        for (int a = 0; a < AXES; ++a) v[a] = grid_value(g[a]);
    }
}

// Taps for the grid point g (x first: g[0] pairs with the innermost axis W).
template <int K, int AXES, class G>
PYKIT_HD void make_taps(const G* g, const Geometry& geo, const Params& p, Taps& taps) {
    float v[AXES];
    load_point<AXES>(g, v);
    std::int32_t stride = 1;
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int a = AXES - 1; a >= 0; --a) {
        axis_taps<K>(v[AXES - 1 - a], geo.in[a], stride, p, taps.offset[a], taps.weight[a]);
        stride *= geo.in[a];
    }
}

// Storage types: float (fp32), std::uint16_t (binary16 bits), std::int8_t (int8, with its scale).
PYKIT_HD float load(float v, float) { return v; }
PYKIT_HD float load(std::uint16_t v, float) { return half_bits_to_float(v); }
PYKIT_HD float load(std::int8_t v, float scale) { return float(v) * scale; }
PYKIT_HD void store(float& out, float v, float) { out = v; }
PYKIT_HD void store(std::uint16_t& out, float v, float) { out = float_to_half_bits(v); }
PYKIT_HD void store(std::int8_t& out, float v, float scale) { out = quantize_int8(v / scale); }

// One channel plane sampled at the taps: separable sums, innermost axis first (as onnx.reference:
// W within a row, then H, then D). K taps per axis; AXES 2 or 3.
template <int K, int AXES, class T>
PYKIT_HD float sample(const T* plane, const Taps& t, float s_in) {
    float outer = 0.f;
    PYKIT_GS_UNROLL
    for (int d = 0; d < (AXES == 3 ? K : 1); ++d) {
        const int ad = 0;
        const std::int32_t base_d = AXES == 3 ? t.offset[ad][d] : 0;
        float mid = 0.f;
        PYKIT_GS_UNROLL
        for (int i = 0; i < K; ++i) {
            const int ah = AXES == 3 ? 1 : 0;
            const int aw = AXES == 3 ? 2 : 1;
            const std::int32_t row = base_d + t.offset[ah][i];
            float inner = 0.f;
            PYKIT_GS_UNROLL
            for (int j = 0; j < K; ++j)
                inner = add_rn(inner, mul_rn(t.weight[aw][j], load(plane[row + t.offset[aw][j]], s_in)));
            mid = add_rn(mid, mul_rn(t.weight[ah][i], inner));
        }
        outer = AXES == 3 ? add_rn(outer, mul_rn(t.weight[ad][d], mid)) : mid;
    }
    return outer;
}

// V consecutive elements stored at dst (V * sizeof(T) bytes aligned to that size): one vector store
// on the GPU (2, 4, 8 or 16 bytes), a loop on the host.
template <int V, class T>
PYKIT_HD void store_vector(T* dst, const T* v) {
#if defined(__CUDA_ARCH__)
    constexpr int kBytes = V * int(sizeof(T));
    if (kBytes == 16) {
        uint4 w;
        memcpy(&w, v, 16);
        *reinterpret_cast<uint4*>(dst) = w;
    } else if (kBytes == 8) {
        uint2 w;
        memcpy(&w, v, 8);
        *reinterpret_cast<uint2*>(dst) = w;
    } else if (kBytes == 4) {
        unsigned int w;
        memcpy(&w, v, 4);
        *reinterpret_cast<unsigned int*>(dst) = w;
    } else if (kBytes == 2) {
        unsigned short w;
        memcpy(&w, v, 2);
        *reinterpret_cast<unsigned short*>(dst) = w;
    } else {
        for (int i = 0; i < V; ++i) dst[i] = v[i];
    }
#else
    for (int i = 0; i < V; ++i) dst[i] = v[i];
#endif
}

// Output locations per thread: V consecutive locations, so that each channel's V outputs leave in
// one vector store. 4-D: 2 at fp32 (8 bytes), 4 at fp16 (8) and int8 (4); 5-D (8 taps a location)
// half that; cubic 1 (16 taps). Registers (sm_90, ptxas -v): <= 128 for every instantiation (linear
// 4-D: 80 at V = 2, 128 at V = 4; a few 5-D ones spill 4-8 bytes), i.e. >= 2 blocks of 256 threads
// per SM, each thread with 4 V (4-D) or 8 V (5-D) independent gathers per channel in flight.
// Untuned on a GPU yet: bench.py measures. Usable when out_plane % V == 0 (the V
// locations then share n, and every channel plane's group starts at a multiple of V elements).
template <int K, int AXES, class T>
PYKIT_HD constexpr int locations_per_thread() {
    return K == 4 ? 1 : (sizeof(T) == 4 ? 2 : 4) / (AXES == 3 ? 2 : 1);
}

// Every channel of the V output locations loc0 .. loc0 + V - 1 (loc = n * out_plane + o; loc0 a
// multiple of V, out_plane % V == 0 when V > 1): the body of the CUDA thread and of the host loop.
template <int K, int AXES, int V, class T, class G>
PYKIT_HD void sample_locations(const T* x, const G* grid, T* y, const Geometry& geo, const Params& p, std::int64_t loc0,
                               float s_in, float s_out) {
    Taps taps[V];
    PYKIT_GS_UNROLL
    for (int v = 0; v < V; ++v) make_taps<K, AXES>(grid + (loc0 + v) * AXES, geo, p, taps[v]);
    const std::int64_t n = loc0 / geo.out_plane;
    const std::int64_t o = loc0 - n * geo.out_plane;
    const T* xp = x + n * geo.c * geo.in_plane;
    T* yp = y + n * geo.c * geo.out_plane + o;
#if defined(__CUDA_ARCH__)
#pragma unroll 1  // the V locations' taps give the loads in flight; unrolling channels doubled the registers
#endif
    for (std::int64_t c = 0; c < geo.c; ++c) {
        T out[V];
        PYKIT_GS_UNROLL
        for (int v = 0; v < V; ++v) store(out[v], sample<K, AXES>(xp + c * geo.in_plane, taps[v], s_in), s_out);
        store_vector<V>(yp + c * geo.out_plane, out);
    }
}

} }  // namespace pykit::grid_sampler
