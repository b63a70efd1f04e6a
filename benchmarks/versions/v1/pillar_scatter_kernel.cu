#include "pillar_scatter_kernel.h"

#include "common/cuda_check.h"

// Three launches: init the owner map to -1, claim (atomicMax of the pillar index per cell), fill.
// The fill writes the whole canvas, the bulk of the traffic: in the vector path each thread owns
// V = 16 / sizeof(T) consecutive cells of one row-major plane and 16 channels, reads the V owners
// (one to four 16-byte loads of the L2-resident map), loads each owning pillar's 16 channels with
// 16-byte loads, transposes them in registers and writes 16 fully coalesced 16-byte stores, one
// per channel plane. Empty groups (most of a PointPillars canvas) store zeros without a gather.
// The generic path (any shape or alignment) is the per-element core, as on the host.
// On sm_90 the claim and fill launches use programmatic dependent launch: each starts while its
// predecessor drains and waits in cudaGridDependencySynchronize() before reading what it wrote.

namespace pykit { namespace pillar_scatter {

namespace {
constexpr int kThreads = 256;
constexpr int kChunk = 16;  // channels per thread in the vector path

__device__ __forceinline__ void wait_for_predecessor() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    cudaGridDependencySynchronize();
#endif
}

__global__ void init_owner(std::int32_t* owner, std::int64_t cells) {
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
__global__ void claim_cells(const std::int32_t* coords, const std::int32_t* num_valid, std::int32_t* owner, Geometry g) {
    wait_for_predecessor();
    g.valid = clamp_valid(*num_valid, g.pillars);
    for (std::int32_t p = blockIdx.x * blockDim.x + threadIdx.x; p < g.valid; p += gridDim.x * blockDim.x) {
        const std::int64_t cell = pillar_cell(coords, p, g);
        if (cell >= 0) atomicMax(owner + cell, p);
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
                std::int32_t* owner, const Geometry& g, Convert convert, cudaStream_t stream) {
    if (g.canvas_elements() == 0) return cudaSuccess;
    constexpr int V = 16 / int(sizeof(T));
    const std::int64_t cells = g.cells();
    init_owner<<<grid_for((cells + 3) / 4), kThreads, 0, stream>>>(owner, cells);
    PYKIT_CUDA_RETURN_IF_ERROR(cudaGetLastError());
    if (g.pillars > 0)
        PYKIT_CUDA_RETURN_IF_ERROR(launch_dependent(claim_cells, dim3(grid_for(g.pillars)), dim3(kThreads), stream,
                                                    coords, num_valid, owner, g));
    const std::int64_t plane = std::int64_t(g.ny) * g.nx;
    const bool vector = plane % V == 0 && g.channels % kChunk == 0 && g.channels / kChunk <= 65535 &&
                        aligned16(canvas) && aligned16(owner) && (g.pillars == 0 || aligned16(features)) &&
                        (plane / V) * g.batch / kThreads < (std::int64_t(1) << 31);
    if (vector) {
        const std::int64_t threads = (plane / V) * g.batch;
        const dim3 grid(unsigned((threads + kThreads - 1) / kThreads), unsigned(g.channels / kChunk));
        return launch_dependent(fill_canvas_vec<T, Convert>, grid, dim3(kThreads), stream, features,
                                static_cast<const std::int32_t*>(owner), canvas, g, convert);
    }
    return launch_dependent(fill_canvas<T, Convert>, dim3(grid_for(g.canvas_elements())), dim3(kThreads), stream,
                            features, static_cast<const std::int32_t*>(owner), canvas, g, convert);
}
}  // namespace

std::size_t workspace_bytes(const Geometry& g) { return sizeof(std::int32_t) * std::size_t(g.cells()); }

cudaError_t launch(Storage storage, const void* features, const std::int32_t* coords, const std::int32_t* num_valid,
                   void* canvas, void* workspace, Geometry g, float ratio, cudaStream_t stream) {
    auto* owner = static_cast<std::int32_t*>(workspace);
    switch (storage) {
        case Storage::kFloat32:
            return run(static_cast<const float*>(features), coords, num_valid, static_cast<float*>(canvas), owner, g,
                       CopyValue{}, stream);
        case Storage::kFloat16:
            return run(static_cast<const std::uint16_t*>(features), coords, num_valid,
                       static_cast<std::uint16_t*>(canvas), owner, g, CopyValue{}, stream);
        case Storage::kInt8:
            return run(static_cast<const std::int8_t*>(features), coords, num_valid, static_cast<std::int8_t*>(canvas),
                       owner, g, RequantizeInt8{ratio}, stream);
    }
    return cudaErrorInvalidValue;
}

} }  // namespace pykit::pillar_scatter
