#include "pillar_scatter_kernel.h"

#include "common/cuda_check.h"

// Three launches: init (owner map to -1, occupancy bitmask to 0), claim (atomicMax of the pillar
// index per cell, atomicOr of its occupancy bit), fill. The fill writes the whole canvas, the bulk
// of the traffic, in memory order like a memset: thread i writes the i-th 16 bytes of the canvas
// (V = 16 / sizeof(T) cells of one channel plane) with a streaming store, so the canvas streams
// through DRAM (an earlier version wrote 16 planes per thread: 1.4 TB/s; see git history) and does not evict the small L2-resident
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
    __stcs(p, v);
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
    attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[0].val.programmaticStreamSerializationAllowed = 1;
    config.attrs = attribute;
    config.numAttrs = 1;
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
    if (vector) {
        const std::int64_t vectors = g.canvas_elements() / V;
        // Measured on the H200 (benchmarks/README.md): the batched fill wins at fp32 (V = 4 cells per
        // vector), the one-vector fill at fp16/int8, where the batched one's V * U predicated loads
        // cost more issue slots than the latency they hide.
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

std::size_t workspace_bytes(const Geometry& g) {
    if (!sizes_fit(g)) return 0;  // launch() refuses such a geometry; callers check sizes_fit first
    return owner_bytes(g) + sizeof(std::uint32_t) * std::size_t(mask_words(g.cells()));
}

cudaError_t launch(Precision precision, const void* features, const std::int32_t* coords, const std::int32_t* num_valid,
                   void* canvas, void* workspace, Geometry g, float ratio, cudaStream_t stream) {
    if (!sizes_fit(g)) return cudaErrorInvalidValue;  // the workspace was sized from the same (unwrapped) product
    switch (precision) {
        case Precision::kFP32:
            return run(static_cast<const float*>(features), coords, num_valid, static_cast<float*>(canvas), workspace, g,
                       CopyValue{}, stream);
        case Precision::kFP16:
            return run(static_cast<const std::uint16_t*>(features), coords, num_valid,
                       static_cast<std::uint16_t*>(canvas), workspace, g, CopyValue{}, stream);
        case Precision::kINT8:
            return run(static_cast<const std::int8_t*>(features), coords, num_valid, static_cast<std::int8_t*>(canvas),
                       workspace, g, RequantizeInt8{ratio}, stream);
    }
    return cudaErrorInvalidValue;
}

} }  // namespace pykit::pillar_scatter
