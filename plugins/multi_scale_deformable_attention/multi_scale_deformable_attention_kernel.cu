#include "multi_scale_deformable_attention_kernel.h"

#include <cuda_fp16.h>

namespace pykit { namespace multi_scale_deformable_attention {

namespace {
constexpr int kThreads = 256;

// One thread per (batch, query, head, chunk of VEC channels): consecutive threads take consecutive
// chunks of one head's channels, so the taps of a sampling point are read as whole, contiguous
// rows of value (D = 32 channels: 8 threads x 16 bytes at fp32, 4 x 16 bytes at fp16). The
// sampling locations and attention weights of a (query, head) are read by all its chunk threads
// at once (one broadcast transaction); value stays in L2 (the gathers revisit it).
// Arithmetic: the core's taps() and one fp32 fma per tap and channel, as host.cpp.
template <class T, int VEC>
struct Chunk;

template <>
struct Chunk<float, 4> {
    static __device__ __forceinline__ void fma_row(const float* p, float w, float (&acc)[4]) {
        const float4 v = __ldg(reinterpret_cast<const float4*>(p));
        acc[0] = fmaf(w, v.x, acc[0]);
        acc[1] = fmaf(w, v.y, acc[1]);
        acc[2] = fmaf(w, v.z, acc[2]);
        acc[3] = fmaf(w, v.w, acc[3]);
    }
    static __device__ __forceinline__ void store(float* p, const float (&acc)[4]) {
        *reinterpret_cast<float4*>(p) = make_float4(acc[0], acc[1], acc[2], acc[3]);
    }
};

template <>
struct Chunk<float, 1> {
    static __device__ __forceinline__ void fma_row(const float* p, float w, float (&acc)[1]) {
        acc[0] = fmaf(w, __ldg(p), acc[0]);
    }
    static __device__ __forceinline__ void store(float* p, const float (&acc)[1]) { *p = acc[0]; }
};

// binary16: VEC halves as VEC/2 half2 words (VEC = 8: one 16-byte load), widened exactly.
template <int VEC>
struct Chunk<std::uint16_t, VEC> {
    static_assert(VEC == 1 || VEC == 2 || VEC == 8, "binary16 chunks: 1, 2 or 8 channels");
    static __device__ __forceinline__ void fma_row(const std::uint16_t* p, float w, float (&acc)[VEC]) {
        if constexpr (VEC == 1) {
            acc[0] = fmaf(w, __half2float(__ushort_as_half(__ldg(reinterpret_cast<const unsigned short*>(p)))), acc[0]);
        } else if constexpr (VEC == 2) {
            const float2 f = __half22float2(__ldg(reinterpret_cast<const __half2*>(p)));
            acc[0] = fmaf(w, f.x, acc[0]);
            acc[1] = fmaf(w, f.y, acc[1]);
        } else {
            const uint4 raw = __ldg(reinterpret_cast<const uint4*>(p));
            const unsigned words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&words[k]));
                acc[2 * k] = fmaf(w, f.x, acc[2 * k]);
                acc[2 * k + 1] = fmaf(w, f.y, acc[2 * k + 1]);
            }
        }
    }
    static __device__ __forceinline__ void store(std::uint16_t* p, const float (&acc)[VEC]) {
        if constexpr (VEC == 1) {
            *p = __half_as_ushort(__float2half_rn(acc[0]));
        } else if constexpr (VEC == 2) {
            *reinterpret_cast<__half2*>(p) = __floats2half2_rn(acc[0], acc[1]);
        } else {
            uint4 raw;
            unsigned* words = reinterpret_cast<unsigned*>(&raw);
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                const __half2 h = __floats2half2_rn(acc[2 * k], acc[2 * k + 1]);
                words[k] = *reinterpret_cast<const unsigned*>(&h);
            }
            *reinterpret_cast<uint4*>(p) = raw;
        }
    }
};

template <class T, int VEC>
__global__ void __launch_bounds__(kThreads)
attend(const T* __restrict__ value, const std::int32_t* __restrict__ spatial_shapes,
       const std::int32_t* __restrict__ level_start_index, const T* __restrict__ locations,
       const T* __restrict__ weights, T* __restrict__ output, Geometry g) {
    extern __shared__ Level levels[];  // g.levels entries, checked against value once per block
    for (std::int64_t l = threadIdx.x; l < g.levels; l += blockDim.x)
        levels[l] = make_level(spatial_shapes[2 * l], spatial_shapes[2 * l + 1], level_start_index[l], g.keys);
    __syncthreads();

    const std::int64_t chunks = g.channels / VEC;
    const std::int64_t total = g.batch * g.queries * g.heads * chunks;
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
         i += std::int64_t(gridDim.x) * blockDim.x) {
        const std::int64_t chunk = i % chunks;
        const std::int64_t bqm = i / chunks;  // (b*queries + q)*heads + m
        const std::int64_t m = bqm % g.heads;
        const std::int64_t b = bqm / (g.heads * g.queries);
        const std::int64_t row = bqm * g.levels * g.points;  // weights_row(g, b, q, m)
        const T* head = value + value_row(g, b, 0, m) + chunk * VEC;  // value[b, key, m, chunk] = head[key * stride]
        const std::int64_t stride = g.heads * g.channels;
        float acc[VEC];
#pragma unroll
        for (int c = 0; c < VEC; ++c) acc[c] = 0.f;
        for (std::int64_t l = 0; l < g.levels; ++l) {
            const Level lv = levels[l];
            for (std::int64_t p = 0; p < g.points; ++p) {
                const std::int64_t k = row + l * g.points + p;
                Taps t;
                if (!taps(lv, load(locations[2 * k]), load(locations[2 * k + 1]), load(weights[k]), t)) continue;
#pragma unroll
                for (int tap = 0; tap < 4; ++tap)
                    if (t.key[tap] >= 0)
                        Chunk<T, VEC>::fma_row(head + t.key[tap] * stride, t.weight[tap], acc);
            }
        }
        Chunk<T, VEC>::store(output + bqm * g.channels + chunk * VEC, acc);
    }
}

bool aligned(const void* p, std::size_t bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; }

template <class T, int VEC>
cudaError_t run(const void* value, const std::int32_t* shapes, const std::int32_t* starts, const void* locations,
                const void* weights, void* output, const Geometry& g, cudaStream_t stream) {
    const std::int64_t total = g.batch * g.queries * g.heads * (g.channels / VEC);
    const std::int64_t blocks = (total + kThreads - 1) / kThreads;
    const unsigned grid = unsigned(blocks < 65535 * 16 ? blocks : 65535 * 16);
    attend<T, VEC><<<grid, kThreads, sizeof(Level) * std::size_t(g.levels), stream>>>(
        static_cast<const T*>(value), shapes, starts, static_cast<const T*>(locations), static_cast<const T*>(weights),
        static_cast<T*>(output), g);
    return cudaGetLastError();
}
}  // namespace

cudaError_t launch(Precision precision, const void* value, const std::int32_t* spatial_shapes,
                   const std::int32_t* level_start_index, const void* sampling_locations,
                   const void* attention_weights, void* output, const Geometry& g, cudaStream_t stream) {
    if (g.output_elements() <= 0) return cudaSuccess;
    // The widest chunk that divides the channels and keeps every row access aligned.
    switch (precision) {
        case Precision::kFP32:
            if (g.channels % 4 == 0 && aligned(value, 16) && aligned(output, 16))
                return run<float, 4>(value, spatial_shapes, level_start_index, sampling_locations, attention_weights,
                                     output, g, stream);
            return run<float, 1>(value, spatial_shapes, level_start_index, sampling_locations, attention_weights, output,
                                 g, stream);
        case Precision::kFP16:
            if (g.channels % 8 == 0 && aligned(value, 16) && aligned(output, 16))
                return run<std::uint16_t, 8>(value, spatial_shapes, level_start_index, sampling_locations,
                                             attention_weights, output, g, stream);
            if (g.channels % 2 == 0 && aligned(value, 4) && aligned(output, 4))
                return run<std::uint16_t, 2>(value, spatial_shapes, level_start_index, sampling_locations,
                                             attention_weights, output, g, stream);
            return run<std::uint16_t, 1>(value, spatial_shapes, level_start_index, sampling_locations,
                                         attention_weights, output, g, stream);
        case Precision::kINT8: break;  // not in the spec
    }
    return cudaErrorInvalidValue;
}

} }  // namespace pykit::multi_scale_deformable_attention
