#include "scatter_elements_reduce_kernel.h"

#include "common/cuda_check.h"
#include "common/numeric.h"

// A/B variant (docs/benchmarks/README.md, version table; benchmarks/ab.sh builds it with -D):
//   PYKIT_SER_VEC_WIDEN  1: fp16's widen and narrow passes move 8 elements per thread (16-byte
//                        fp16 side, two 16-byte fp32 sides); 0: one element per thread (v4).
// Choosing the default is the one #define line below.
#ifndef PYKIT_SER_VEC_WIDEN
#define PYKIT_SER_VEC_WIDEN 1
#endif

namespace pykit { namespace scatter_elements_reduce {

namespace {
constexpr int kThreads = 256;

PYKIT_HD float load(const float* p, std::int64_t i) { return p[i]; }
PYKIT_HD float load(const std::uint16_t* p, std::int64_t i) { return half_bits_to_float(p[i]); }

// out[dest] = combine(out[dest], v) atomically. add: the hardware fp32 atomicAdd; none: an
// exchange; mul/max/min: a compare-and-swap loop on the 32-bit word (a float is 4-byte aligned),
// which stops without a write once the combined value equals the stored one (max/min that lose).
__device__ void apply(Reduction r, float* out, float v) {
    switch (r) {
        case Reduction::kAdd: atomicAdd(out, v); return;
        case Reduction::kNone: atomicExch(out, v); return;
        default: break;
    }
    auto* word = reinterpret_cast<unsigned int*>(out);
    unsigned int seen = *reinterpret_cast<volatile unsigned int*>(word);
    while (true) {
        const unsigned int want = __float_as_uint(combine(r, __uint_as_float(seen), v));
        if (want == seen) return;
        const unsigned int before = atomicCAS(word, seen, want);
        if (before == seen) return;
        seen = before;
    }
}

template <class T, class Index>
__global__ void scatter(Reduction r, const Index* indices, const T* updates, float* out, Geometry g) {
    const std::int64_t n = g.index_elements();
    for (std::int64_t e = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
         e += std::int64_t(gridDim.x) * blockDim.x) {
        const std::int64_t dest = destination(g, e, indices[index_offset(g, e)]);
        if (dest >= 0) apply(r, out + dest, load(updates, e));
    }
}

// Vector path: 4 consecutive elements along the last dimension (axis is not the last), 16-byte
// aligned. When their 4 indices are equal (a row scattered as a whole, what an exported Expand of
// row indices gives) their destinations are 4 consecutive, 16-byte aligned words: one destination
// computation and, for add on sm_90, one 16-byte vector atomic (red.global.add.v4.f32) instead of
// four. Otherwise each element goes its own way as in the scalar kernel.
// Indices and updates are read once: streaming loads (evict-first), so that they do not push the
// output, which the atomics hit, out of the L2.
template <class V>
__device__ __forceinline__ V stream_load(const V* p) {
    return __ldcs(p);
}

template <class T>
struct Quad;
template <>
struct Quad<float> {
    static __device__ __forceinline__ float4 load(const float* p, std::int64_t e) {
        return stream_load(reinterpret_cast<const float4*>(p + e));
    }
};
template <>
struct Quad<std::uint16_t> {
    static __device__ __forceinline__ float4 load(const std::uint16_t* p, std::int64_t e) {
        const uint2 h = stream_load(reinterpret_cast<const uint2*>(p + e));
        return make_float4(half_bits_to_float(std::uint16_t(h.x & 0xFFFFu)), half_bits_to_float(std::uint16_t(h.x >> 16)),
                           half_bits_to_float(std::uint16_t(h.y & 0xFFFFu)), half_bits_to_float(std::uint16_t(h.y >> 16)));
    }
};

__device__ __forceinline__ void load_index4(const std::int32_t* p, std::int64_t e, std::int64_t (&i)[4]) {
    const int4 v = stream_load(reinterpret_cast<const int4*>(p + e));
    i[0] = v.x; i[1] = v.y; i[2] = v.z; i[3] = v.w;
}
__device__ __forceinline__ void load_index4(const std::int64_t* p, std::int64_t e, std::int64_t (&i)[4]) {
    const longlong2 a = stream_load(reinterpret_cast<const longlong2*>(p + e));
    const longlong2 b = stream_load(reinterpret_cast<const longlong2*>(p + e + 2));
    i[0] = a.x; i[1] = a.y; i[2] = b.x; i[3] = b.y;
}

__device__ __forceinline__ void apply4(Reduction r, float* out, const float4& v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (r == Reduction::kAdd) {
        atomicAdd(reinterpret_cast<float4*>(out), v);
        return;
    }
#endif
    apply(r, out + 0, v.x);
    apply(r, out + 1, v.y);
    apply(r, out + 2, v.z);
    apply(r, out + 3, v.w);
}

template <class T, class Index>
__global__ void __launch_bounds__(kThreads) scatter_vec4(Reduction r, const Index* __restrict__ indices,
                                                         const T* __restrict__ updates, float* out, Geometry g) {
    const std::int64_t quads = g.index_elements() / 4;
    for (std::int64_t q = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; q < quads;
         q += std::int64_t(gridDim.x) * blockDim.x) {
        const std::int64_t e = 4 * q;
        std::int64_t idx[4];
        load_index4(indices, e, idx);
        const float4 v = Quad<T>::load(updates, e);
        if (idx[0] == idx[1] && idx[0] == idx[2] && idx[0] == idx[3]) {
            const std::int64_t dest = destination(g, e, idx[0]);  // e's last coordinate is a multiple of 4
            if (dest >= 0) apply4(r, out + dest, v);
        } else {
            const float vs[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                const std::int64_t dest = destination(g, e + k, idx[k]);
                if (dest >= 0) apply(r, out + dest, vs[k]);
            }
        }
    }
}

bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

unsigned grid_for(std::int64_t n);

// Row-index form (broadcast_indices, axis 0, indices [N, 1, ..., 1], updates [N, row...] with
// data [M, row...]): update row n goes to data row indices[n] as a whole. One thread per VEC
// elements of a row; the row's index is read once per thread from L1/L2 (the `row_len / VEC`
// threads of a row share one 4-byte load, instead of one int32 per element streamed from DRAM);
// the destination is index * row_len + offset, no per-dim division. Count: 32-bit when the
// vector count fits (the division by the row's vector count dominates otherwise).
template <int VEC>
struct RowVec;
template <>
struct RowVec<4> {
    template <class T>
    static __device__ __forceinline__ float4 load(const T* p, std::int64_t e) { return Quad<T>::load(p, e); }
    static __device__ __forceinline__ void apply(Reduction r, float* out, const float4& v) { apply4(r, out, v); }
};
template <>
struct RowVec<1> {
    template <class T>
    static __device__ __forceinline__ float load(const T* p, std::int64_t e) { return scatter_elements_reduce::load(p, e); }
    static __device__ __forceinline__ void apply(Reduction r, float* out, float v) { scatter_elements_reduce::apply(r, out, v); }
};

template <class T, class Index, int VEC, class Count>
__global__ void __launch_bounds__(kThreads) scatter_rows(Reduction r, const Index* __restrict__ indices,
                                                         const T* __restrict__ updates, float* out, Count rows,
                                                         Count row_vectors, std::int64_t dim) {
    const Count total = rows * row_vectors;
    for (Count q = Count(blockIdx.x) * blockDim.x + threadIdx.x; q < total; q += Count(gridDim.x) * blockDim.x) {
        const Count n = q / row_vectors;
        const Count j = q - n * row_vectors;
        std::int64_t i = std::int64_t(__ldg(indices + n));
        if (i < 0) i += dim;
        if (i < 0 || i >= dim) continue;
        const auto v = RowVec<VEC>::load(updates, std::int64_t(q) * VEC);
        RowVec<VEC>::apply(r, out + (i * std::int64_t(row_vectors) + std::int64_t(j)) * VEC, v);
    }
}

// Whether g is the row-index form: axis 0, indices broadcast over every dim but the first, and
// updates rows as long as data's (then row_len = the elements of one row).
bool row_form(const Geometry& g, std::int64_t& row_len) {
    if (!g.broadcast || g.axis != 0) return false;
    row_len = 1;
    for (int d = 1; d < g.rank; ++d) {
        if (g.indices_dims[d] != 1 || g.index_dims[d] != g.data_dims[d]) return false;
        row_len *= g.index_dims[d];
    }
    return true;
}

template <class T, class Index, int VEC>
cudaError_t launch_rows(Reduction r, const Index* indices, const T* updates, float* out, const Geometry& g,
                        std::int64_t row_len, cudaStream_t stream) {
    const std::int64_t rows = g.index_dims[0], row_vectors = row_len / VEC, total = rows * row_vectors;
    const unsigned grid = grid_for(total);
    if (total < (std::int64_t(1) << 31) - std::int64_t(65535) * 8 * kThreads)  // q + stride stays in 32 bits
        scatter_rows<T, Index, VEC, std::uint32_t><<<grid, kThreads, 0, stream>>>(
            r, indices, updates, out, std::uint32_t(rows), std::uint32_t(row_vectors), g.data_dims[0]);
    else
        scatter_rows<T, Index, VEC, std::uint64_t><<<grid, kThreads, 0, stream>>>(
            r, indices, updates, out, std::uint64_t(rows), std::uint64_t(row_vectors), g.data_dims[0]);
    return cudaGetLastError();
}

__global__ void widen(const std::uint16_t* in, float* out, std::int64_t n) {
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x)
        out[i] = half_bits_to_float(in[i]);
}

__global__ void narrow(const float* in, std::uint16_t* out, std::int64_t n) {
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x)
        out[i] = float_to_half_bits(in[i]);
}

// 8 elements per thread; the tail (n % 8) by the first threads one element each. 16-byte aligned
// pointers (the launcher checks).
__global__ void widen8(const std::uint16_t* __restrict__ in, float* __restrict__ out, std::int64_t n) {
    const std::int64_t groups = n / 8;
    const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < groups; i += stride) {
        const uint4 h = __ldcs(reinterpret_cast<const uint4*>(in) + i);
        const unsigned w[4] = {h.x, h.y, h.z, h.w};
        float v[8];
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = half_bits_to_float(std::uint16_t(w[k / 2] >> (16 * (k % 2))));
        float4* o = reinterpret_cast<float4*>(out) + 2 * i;
        o[0] = make_float4(v[0], v[1], v[2], v[3]);
        o[1] = make_float4(v[4], v[5], v[6], v[7]);
    }
    for (std::int64_t i = groups * 8 + std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        out[i] = half_bits_to_float(in[i]);
}

__global__ void narrow8(const float* __restrict__ in, std::uint16_t* __restrict__ out, std::int64_t n) {
    const std::int64_t groups = n / 8;
    const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < groups; i += stride) {
        const float4 a = __ldcs(reinterpret_cast<const float4*>(in) + 2 * i);
        const float4 b = __ldcs(reinterpret_cast<const float4*>(in) + 2 * i + 1);
        const float v[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
        unsigned w[4];
#pragma unroll
        for (int k = 0; k < 4; ++k)
            w[k] = unsigned(float_to_half_bits(v[2 * k])) | (unsigned(float_to_half_bits(v[2 * k + 1])) << 16);
        reinterpret_cast<uint4*>(out)[i] = make_uint4(w[0], w[1], w[2], w[3]);
    }
    for (std::int64_t i = groups * 8 + std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        out[i] = float_to_half_bits(in[i]);
}

unsigned grid_for(std::int64_t n) {
    const std::int64_t blocks = (n + kThreads - 1) / kThreads;
    return unsigned(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

template <class T>
cudaError_t scatter_into(IndexType index_type, Reduction r, const void* indices, const T* updates, float* out,
                         const Geometry& g, cudaStream_t stream) {
    const std::int64_t n = g.index_elements();
    if (n == 0) return cudaSuccess;
    const int last = g.rank - 1;
    const bool updates_aligned = sizeof(T) == 2 ? (reinterpret_cast<std::uintptr_t>(updates) & 7u) == 0 : aligned16(updates);
    std::int64_t row_len = 0;
    if (row_form(g, row_len)) {
        const bool vec = row_len % 4 == 0 && aligned16(out) && updates_aligned;
        if (index_type == IndexType::kInt64) {
            const auto* idx = static_cast<const std::int64_t*>(indices);
            return vec ? launch_rows<T, std::int64_t, 4>(r, idx, updates, out, g, row_len, stream)
                       : launch_rows<T, std::int64_t, 1>(r, idx, updates, out, g, row_len, stream);
        }
        const auto* idx = static_cast<const std::int32_t*>(indices);
        return vec ? launch_rows<T, std::int32_t, 4>(r, idx, updates, out, g, row_len, stream)
                   : launch_rows<T, std::int32_t, 1>(r, idx, updates, out, g, row_len, stream);
    }
    // Vector path: rows of 4 along the last dimension that is not the axis, every 4 elements
    // starting at a multiple of 4 in both indices and data, 16-byte aligned buffers.
    const bool vector = !g.broadcast && g.axis != last && g.index_dims[last] % 4 == 0 && g.data_dims[last] % 4 == 0 &&
                        aligned16(indices) && aligned16(out) && (sizeof(T) == 2 || aligned16(updates)) &&
                        (sizeof(T) != 2 || (reinterpret_cast<std::uintptr_t>(updates) & 7u) == 0);
    if (vector) {
        const unsigned grid = grid_for(n / 4);
        if (index_type == IndexType::kInt64)
            scatter_vec4<<<grid, kThreads, 0, stream>>>(r, static_cast<const std::int64_t*>(indices), updates, out, g);
        else
            scatter_vec4<<<grid, kThreads, 0, stream>>>(r, static_cast<const std::int32_t*>(indices), updates, out, g);
        return cudaGetLastError();
    }
    if (index_type == IndexType::kInt64)
        scatter<<<grid_for(n), kThreads, 0, stream>>>(r, static_cast<const std::int64_t*>(indices), updates, out, g);
    else
        scatter<<<grid_for(n), kThreads, 0, stream>>>(r, static_cast<const std::int32_t*>(indices), updates, out, g);
    return cudaGetLastError();
}
}  // namespace

std::size_t workspace_bytes(Precision precision, const Geometry& g) {
    return precision == Precision::kFP16 ? sizeof(float) * std::size_t(g.data_elements()) : 0;
}

cudaError_t launch(Precision precision, IndexType index_type, Reduction reduction, const void* data, const void* indices,
                   const void* updates, void* output, void* workspace, const Geometry& g, cudaStream_t stream) {
    const std::int64_t n = g.data_elements();
    if (n == 0) return cudaSuccess;
    if (precision == Precision::kFP32) {
        if (output != data)
            PYKIT_CUDA_RETURN_IF_ERROR(
                cudaMemcpyAsync(output, data, sizeof(float) * std::size_t(n), cudaMemcpyDeviceToDevice, stream));
        return scatter_into(index_type, reduction, indices, static_cast<const float*>(updates),
                            static_cast<float*>(output), g, stream);
    }
    if (workspace == nullptr) return cudaErrorInvalidValue;
    auto* acc = static_cast<float*>(workspace);
    const bool vec8 = PYKIT_SER_VEC_WIDEN && aligned16(data) && aligned16(acc) && aligned16(output);
    if (vec8)
        widen8<<<grid_for((n + 7) / 8), kThreads, 0, stream>>>(static_cast<const std::uint16_t*>(data), acc, n);
    else
        widen<<<grid_for(n), kThreads, 0, stream>>>(static_cast<const std::uint16_t*>(data), acc, n);
    PYKIT_CUDA_RETURN_IF_ERROR(cudaGetLastError());
    PYKIT_CUDA_RETURN_IF_ERROR(scatter_into(index_type, reduction, indices,
                                            static_cast<const std::uint16_t*>(updates), acc, g, stream));
    if (vec8)
        narrow8<<<grid_for((n + 7) / 8), kThreads, 0, stream>>>(acc, static_cast<std::uint16_t*>(output), n);
    else
        narrow<<<grid_for(n), kThreads, 0, stream>>>(acc, static_cast<std::uint16_t*>(output), n);
    return cudaGetLastError();
}

} }  // namespace pykit::scatter_elements_reduce
