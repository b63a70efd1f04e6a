#include "pillar_scatter_kernel.h"

#include "common/cuda_check.h"

// Three launches: init (owner map to -1, occupancy bitmask to 0), claim (atomicMax of the pillar
// index per cell, atomicOr of its occupancy bit), fill. The fill writes the whole canvas, the bulk
// of the traffic, in memory order like a memset: thread i writes the i-th 16 bytes of the canvas
// (V = 16 / sizeof(T) cells of one channel plane) with a streaming store, so the canvas streams
// through DRAM (v1 wrote 16 planes per thread: 1.4 TB/s) and does not evict the small L2-resident
// owner map, bitmask and features. It reads the V cells' occupancy bits (one 32-bit word, shared
// by the warp); only for occupied cells does it read the owner and gather that pillar's channel.
// The generic path (any shape or alignment) is the per-element core, as on the host.
// On sm_90 the claim and fill launches use programmatic dependent launch: each starts while its
// predecessor drains and waits in cudaGridDependencySynchronize() before reading what it wrote.

namespace pykit { namespace pillar_scatter {

namespace {
constexpr int kThreads = 256;

// Workspace: owner map [B, ny, nx] int32, then the occupancy bitmask (one bit per cell), 16-byte aligned.
__host__ __device__ inline std::int64_t mask_words(std::int64_t cells) { return (cells + 127) / 128 * 4; }
std::size_t owner_bytes(const Geometry& g) { return (sizeof(std::int32_t) * std::size_t(g.cells()) + 15) / 16 * 16; }

__device__ __forceinline__ void wait_for_predecessor() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    cudaGridDependencySynchronize();
#endif
}

__global__ void init_owner(std::int32_t* owner, std::int64_t cells, std::uint32_t* mask) {
    const std::int64_t words = mask_words(cells);
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < words;
         i += std::int64_t(gridDim.x) * blockDim.x)
        mask[i] = 0u;
    const std::int64_t quads = cells / 4;
    int4* owner4 = reinterpret_cast<int4*>(owner);
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < quads;
         i += std::int64_t(gridDim.x) * blockDim.x)
        owner4[i] = make_int4(-1, -1, -1, -1);
    for (std::int64_t i = quads * 4 + std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < cells;
         i += std::int64_t(gridDim.x) * blockDim.x)
        owner[i] = -1;
}

// num_valid lives on the device (a network tensor): read and clamp it in the kernel.
__global__ void claim_cells(const std::int32_t* coords, const std::int32_t* num_valid, std::int32_t* owner,
                            std::uint32_t* mask, Geometry g) {
    wait_for_predecessor();
    g.valid = clamp_valid(*num_valid, g.pillars);
    for (std::int32_t p = blockIdx.x * blockDim.x + threadIdx.x; p < g.valid; p += gridDim.x * blockDim.x) {
        const std::int64_t cell = pillar_cell(coords, p, g);
        if (cell >= 0) {
            atomicMax(owner + cell, p);
            if (mask != nullptr) atomicOr(mask + cell / 32, 1u << (cell % 32));
        }
    }
}

template <class T, class Convert>
__global__ void fill_canvas(const T* features, const std::int32_t* owner, T* canvas, Geometry g, Convert convert) {
    wait_for_predecessor();
    const std::int64_t n = g.canvas_elements();
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x) {
        canvas[i] = canvas_value(features, owner, i, g, convert);
    }
}

#if defined(PYKIT_PS_FILL_V1)  // v1, kept for the A/B (benchmarks/README.md)
constexpr int kChunk = 16;  // channels per thread
// ---- vector path ------------------------------------------------------------------------------
// A pillar's 16 channels: kWords 16-byte words (fp32 4, fp16 2, int8 1).
template <class T>
struct Chunk {
    static constexpr int kWords = kChunk * int(sizeof(T)) / 16;
    uint4 w[kWords];
};

__device__ __forceinline__ unsigned word_of(const uint4& v, int i) {
    return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;  // i is a compile-time constant after unrolling
}

// Channel j of a chunk as the low bits of a 32-bit word.
template <class T>
__device__ __forceinline__ unsigned element(const Chunk<T>& c, int j) {
    constexpr int per_word = 4 / int(sizeof(T));
    const int word = j / per_word;  // 32-bit word index over the chunk
    const unsigned bits = word_of(c.w[word / 4], word % 4);
    return sizeof(T) == 4 ? bits : (bits >> (8 * int(sizeof(T)) * (j % per_word))) & ((1u << (8 * sizeof(T))) - 1u);
}

template <class Convert>
__device__ __forceinline__ void convert_chunk(Chunk<std::int8_t>& c, Convert convert) {
#pragma unroll
    for (int k = 0; k < Chunk<std::int8_t>::kWords; ++k) {
        unsigned* words = reinterpret_cast<unsigned*>(&c.w[k]);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            unsigned out = 0;
#pragma unroll
            for (int b = 0; b < 4; ++b) {
                const std::int8_t v = std::int8_t((words[i] >> (8 * b)) & 0xFFu);
                out |= unsigned(std::uint8_t(convert(v))) << (8 * b);
            }
            words[i] = out;
        }
    }
}
template <class T>
__device__ __forceinline__ void convert_chunk(Chunk<T>&, CopyValue) {}

template <class T, class Convert>
__global__ void __launch_bounds__(kThreads) fill_canvas_vec(const T* __restrict__ features,
                                                            const std::int32_t* __restrict__ owner,
                                                            T* __restrict__ canvas, Geometry g, Convert convert) {
    constexpr int V = 16 / int(sizeof(T));  // cells per thread
    wait_for_predecessor();
    const std::int64_t plane = std::int64_t(g.ny) * g.nx;
    const std::int64_t groups = plane / V;
    const std::int64_t gid = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (gid >= groups * g.batch) return;
    const std::int64_t b = gid / groups;
    const std::int64_t cell0 = (gid - b * groups) * V;
    const int c0 = blockIdx.y * kChunk;

    std::int32_t p[V];
    const int4* own = reinterpret_cast<const int4*>(owner + b * plane + cell0);
#pragma unroll
    for (int q = 0; q < V / 4; ++q) {
        const int4 o = __ldg(own + q);
        p[4 * q] = o.x; p[4 * q + 1] = o.y; p[4 * q + 2] = o.z; p[4 * q + 3] = o.w;
    }
    bool any = false;
#pragma unroll
    for (int k = 0; k < V; ++k) any |= p[k] >= 0;

    uint4* out = reinterpret_cast<uint4*>(canvas + (b * g.channels + c0) * plane + cell0);
    const std::int64_t plane_words = plane / V;  // uint4 stride between channel planes
    if (!any) {
#pragma unroll
        for (int j = 0; j < kChunk; ++j) out[j * plane_words] = make_uint4(0, 0, 0, 0);
        return;
    }
    Chunk<T> src[V];
#pragma unroll
    for (int k = 0; k < V; ++k) {
        if (p[k] >= 0) {
            const uint4* f = reinterpret_cast<const uint4*>(features + std::int64_t(p[k]) * g.channels + c0);
#pragma unroll
            for (int w = 0; w < Chunk<T>::kWords; ++w) src[k].w[w] = __ldg(f + w);
            convert_chunk(src[k], convert);
        } else {
#pragma unroll
            for (int w = 0; w < Chunk<T>::kWords; ++w) src[k].w[w] = make_uint4(0, 0, 0, 0);
        }
    }
#pragma unroll
    for (int j = 0; j < kChunk; ++j) {
        unsigned word[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            if (sizeof(T) == 4) {
                word[i] = element(src[i], j);
            } else if (sizeof(T) == 2) {
                word[i] = element(src[2 * i], j) | (element(src[2 * i + 1], j) << 16);
            } else {
                word[i] = element(src[4 * i], j) | (element(src[4 * i + 1], j) << 8) |
                          (element(src[4 * i + 2], j) << 16) | (element(src[4 * i + 3], j) << 24);
            }
        }
        out[j * plane_words] = make_uint4(word[0], word[1], word[2], word[3]);
    }
}


#endif

// ---- v2 vector path: memory order --------------------------------------------------------------
template <class T>
__device__ __forceinline__ unsigned load_bits(const T* p) {
    return sizeof(T) == 4 ? __ldg(reinterpret_cast<const unsigned*>(p))
         : sizeof(T) == 2 ? unsigned(__ldg(reinterpret_cast<const unsigned short*>(p)))
                          : unsigned(__ldg(reinterpret_cast<const unsigned char*>(p)));
}
template <class T, class Convert>
__device__ __forceinline__ unsigned converted(unsigned bits, Convert) {
    return bits;  // float / binary16 bits: a copy
}
template <>
__device__ __forceinline__ unsigned converted<std::int8_t, RequantizeInt8>(unsigned bits, RequantizeInt8 convert) {
    return unsigned(std::uint8_t(convert(std::int8_t(bits & 0xFFu))));
}

__device__ __forceinline__ void store_streaming(uint4* p, uint4 v) {
#if defined(PYKIT_PS_NO_STREAMING)
    *p = v;
#else
    __stcs(p, v);
#endif
}

template <class T, class Convert, class Index>
__global__ void __launch_bounds__(kThreads) fill_canvas_ordered(const T* __restrict__ features,
                                                                const std::int32_t* __restrict__ owner,
                                                                const std::uint32_t* __restrict__ mask,
                                                                T* __restrict__ canvas, Geometry g, Convert convert) {
    constexpr int V = 16 / int(sizeof(T));  // cells per thread; V divides 32
    wait_for_predecessor();
    const Index groups = Index(std::int64_t(g.ny) * g.nx / V);
    const Index total = groups * Index(g.channels) * Index(g.batch);
    const Index channels = Index(g.channels);
    for (Index i = Index(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += Index(gridDim.x) * blockDim.x) {
        const Index bc = i / groups;
        const Index group = i - bc * groups;
        const Index b = bc / channels;
        const Index c = bc - b * channels;
        const Index cell0 = (b * groups + group) * V;  // flat [b, y, x] cell of the first of the V
        unsigned bits = (__ldg(mask + cell0 / 32) >> (cell0 % 32));
        if (V < 32) bits &= (1u << V) - 1u;
        unsigned word[4] = {0u, 0u, 0u, 0u};
        while (bits) {
            const int k = __ffs(bits) - 1;
            bits &= bits - 1;
            const std::int32_t p = __ldg(owner + cell0 + k);
            const unsigned v = converted<T>(load_bits(features + std::int64_t(p) * g.channels + c), convert);
            constexpr int per_word = 4 / int(sizeof(T));
            const int w = k / per_word;
            const unsigned shifted = v << (8 * int(sizeof(T)) * (k % per_word));
            word[0] |= w == 0 ? shifted : 0u;
            word[1] |= w == 1 ? shifted : 0u;
            word[2] |= w == 2 ? shifted : 0u;
            word[3] |= w == 3 ? shifted : 0u;
        }
        store_streaming(reinterpret_cast<uint4*>(canvas) + i, make_uint4(word[0], word[1], word[2], word[3]));
    }
}



// v3: U vectors per thread (U = 4 fp32, 2 fp16/int8), every load of a level issued before any is
// used: the U mask words, then the owners of all occupied cells (predicated), then their features,
// then U stores. v2 walked each vector's occupied cells one dependent owner -> feature chain at a
// time: latency-bound (int8 B=4 at 1 TB/s).
template <class T, class Convert, class Index>
__global__ void __launch_bounds__(kThreads) fill_canvas_batched(const T* __restrict__ features,
                                                                const std::int32_t* __restrict__ owner,
                                                                const std::uint32_t* __restrict__ mask,
                                                                T* __restrict__ canvas, Geometry g, Convert convert) {
    constexpr int V = 16 / int(sizeof(T));
    constexpr int U = V >= 8 ? 2 : 4;
    constexpr int per_word = 4 / int(sizeof(T));
    wait_for_predecessor();
    const Index groups = Index(std::int64_t(g.ny) * g.nx / V);
    const Index channels = Index(g.channels);
    const Index total = groups * channels * Index(g.batch);
    const Index stride = Index(gridDim.x) * blockDim.x;
    for (Index base = Index(blockIdx.x) * blockDim.x + threadIdx.x; base < total; base += stride * U) {
        unsigned bits[U];
        Index cell0[U], c[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const Index i = base + Index(u) * stride;
            bits[u] = 0u;
            cell0[u] = 0;
            c[u] = 0;
            if (i < total) {
                const Index bc = i / groups;
                const Index group = i - bc * groups;
                const Index b = bc / channels;
                c[u] = bc - b * channels;
                cell0[u] = (b * groups + group) * V;
                bits[u] = __ldg(mask + cell0[u] / 32) >> (cell0[u] % 32);
                if (V < 32) bits[u] &= (1u << V) - 1u;
            }
        }
        std::int32_t p[U][V];
#pragma unroll
        for (int u = 0; u < U; ++u)
#pragma unroll
            for (int k = 0; k < V; ++k) p[u][k] = (bits[u] >> k) & 1u ? __ldg(owner + cell0[u] + k) : -1;
        unsigned word[U][4];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            word[u][0] = word[u][1] = word[u][2] = word[u][3] = 0u;
#pragma unroll
            for (int k = 0; k < V; ++k) {
                if (p[u][k] >= 0) {
                    const unsigned v = converted<T>(load_bits(features + std::int64_t(p[u][k]) * g.channels + c[u]), convert);
                    word[u][k / per_word] |= v << (8 * int(sizeof(T)) * (k % per_word));
                }
            }
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const Index i = base + Index(u) * stride;
            if (i < total)
                store_streaming(reinterpret_cast<uint4*>(canvas) + i, make_uint4(word[u][0], word[u][1], word[u][2], word[u][3]));
        }
    }
}

unsigned grid_for(std::int64_t n) {
    const std::int64_t blocks = (n + kThreads - 1) / kThreads;
    return unsigned(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

// Launch with programmatic stream serialization (sm_90+; elsewhere the attribute is ignored by
// the kernel's missing wait, and the launch is ordered as usual).
template <class... Params, class... Args>
cudaError_t launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t stream, Args... args) {
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = block;
    config.stream = stream;
    cudaLaunchAttribute attribute[1];
#if !defined(PYKIT_NO_PDL)
    attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[0].val.programmaticStreamSerializationAllowed = 1;
    config.attrs = attribute;
    config.numAttrs = 1;
#else
    (void)attribute;
#endif
    return cudaLaunchKernelEx(&config, kernel, Params(args)...);
}

bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

template <class T, class Convert>
cudaError_t run(const T* features, const std::int32_t* coords, const std::int32_t* num_valid, T* canvas,
                void* workspace, const Geometry& g, Convert convert, cudaStream_t stream) {
    if (g.canvas_elements() == 0) return cudaSuccess;
    constexpr int V = 16 / int(sizeof(T));
    const std::int64_t cells = g.cells();
    auto* owner = static_cast<std::int32_t*>(workspace);
    auto* mask = reinterpret_cast<std::uint32_t*>(static_cast<char*>(workspace) + owner_bytes(g));
    init_owner<<<grid_for((cells + 3) / 4), kThreads, 0, stream>>>(owner, cells, mask);
    PYKIT_CUDA_RETURN_IF_ERROR(cudaGetLastError());
    if (g.pillars > 0)
        PYKIT_CUDA_RETURN_IF_ERROR(launch_dependent(claim_cells, dim3(grid_for(g.pillars)), dim3(kThreads), stream,
                                                    coords, num_valid, owner, mask, g));
    const std::int64_t plane = std::int64_t(g.ny) * g.nx;
    const bool vector = plane % V == 0 && aligned16(canvas) && aligned16(owner);
#if defined(PYKIT_PS_FILL_V1)
    if (vector && g.channels % kChunk == 0 && g.channels / kChunk <= 65535 && (g.pillars == 0 || aligned16(features)) &&
        (plane / V) * g.batch / kThreads < (std::int64_t(1) << 31)) {
        const std::int64_t threads = (plane / V) * g.batch;
        const dim3 grid(unsigned((threads + kThreads - 1) / kThreads), unsigned(g.channels / kChunk));
        return launch_dependent(fill_canvas_vec<T, Convert>, grid, dim3(kThreads), stream, features,
                                static_cast<const std::int32_t*>(owner), canvas, g, convert);
    }
#endif
    if (vector) {
        const std::int64_t vectors = g.canvas_elements() / V;
        // Measured on the H200 (benchmarks/README.md): the batched fill wins at fp32 (V = 4 cells per
        // vector), the one-vector fill at fp16/int8, where the batched one's V * U predicated loads
        // cost more issue slots than the latency they hide. PYKIT_PS_FILL_V2 forces the one-vector fill.
#if !defined(PYKIT_PS_FILL_V2)
        if (sizeof(T) == 4) {
            constexpr int U = V >= 8 ? 2 : 4;
            const dim3 grid(grid_for((vectors + U - 1) / U));
            if (g.canvas_elements() < (std::int64_t(1) << 30))  // 32-bit index arithmetic, base + U * stride included
                return launch_dependent(fill_canvas_batched<T, Convert, std::uint32_t>, grid, dim3(kThreads), stream,
                                        features, static_cast<const std::int32_t*>(owner),
                                        static_cast<const std::uint32_t*>(mask), canvas, g, convert);
            return launch_dependent(fill_canvas_batched<T, Convert, std::uint64_t>, grid, dim3(kThreads), stream,
                                    features, static_cast<const std::int32_t*>(owner),
                                    static_cast<const std::uint32_t*>(mask), canvas, g, convert);
        }
#endif
        const dim3 grid(grid_for(vectors));
        if (g.canvas_elements() < (std::int64_t(1) << 31))  // 32-bit index arithmetic (cells < elements)
            return launch_dependent(fill_canvas_ordered<T, Convert, std::uint32_t>, grid, dim3(kThreads), stream,
                                    features, static_cast<const std::int32_t*>(owner),
                                    static_cast<const std::uint32_t*>(mask), canvas, g, convert);
        return launch_dependent(fill_canvas_ordered<T, Convert, std::uint64_t>, grid, dim3(kThreads), stream, features,
                                static_cast<const std::int32_t*>(owner), static_cast<const std::uint32_t*>(mask),
                                canvas, g, convert);
    }
    return launch_dependent(fill_canvas<T, Convert>, dim3(grid_for(g.canvas_elements())), dim3(kThreads), stream,
                            features, static_cast<const std::int32_t*>(owner), canvas, g, convert);
}
}  // namespace

std::size_t workspace_bytes(const Geometry& g) { return owner_bytes(g) + sizeof(std::uint32_t) * std::size_t(mask_words(g.cells())); }

cudaError_t launch(Storage storage, const void* features, const std::int32_t* coords, const std::int32_t* num_valid,
                   void* canvas, void* workspace, Geometry g, float ratio, cudaStream_t stream) {
    switch (storage) {
        case Storage::kFloat32:
            return run(static_cast<const float*>(features), coords, num_valid, static_cast<float*>(canvas), workspace, g,
                       CopyValue{}, stream);
        case Storage::kFloat16:
            return run(static_cast<const std::uint16_t*>(features), coords, num_valid,
                       static_cast<std::uint16_t*>(canvas), workspace, g, CopyValue{}, stream);
        case Storage::kInt8:
            return run(static_cast<const std::int8_t*>(features), coords, num_valid, static_cast<std::int8_t*>(canvas),
                       workspace, g, RequantizeInt8{ratio}, stream);
    }
    return cudaErrorInvalidValue;
}

} }  // namespace pykit::pillar_scatter
