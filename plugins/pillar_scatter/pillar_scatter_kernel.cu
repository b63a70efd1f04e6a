#include "pillar_scatter_kernel.h"

#include <algorithm>
#include <atomic>

#include "common/cuda_check.h"

// Launches: init (owner map to -1), claim (atomicMax of the pillar index per cell: the highest
// pillar wins duplicates, as in the core), fill. The fill writes the whole canvas, the bulk of the
// traffic, in memory order like a memset with streaming 16-byte stores (the canvas streams through
// DRAM and does not evict the small L2-resident owner map and features); only occupied cells
// gather a feature. v5's tile fill (PYKIT_PS_FILL, below) reads each cell's owner once for a group
// of channels; v4's fills (PYKIT_PS_FILL=0) read an occupancy bitmask, then owners, then features
// per 16-byte vector. The generic path (any shape or alignment) is the per-element core, as on the
// host. On sm_90 the claim and fill launches use programmatic dependent launch: each starts while
// its predecessor drains and waits in cudaGridDependencySynchronize() before reading what it wrote.

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

// A/B variants (docs/benchmarks/README.md, version table; benchmarks/ab.sh builds each with -D).
// Choosing a default is the one line of each #define below.
//   PYKIT_PS_FILL      1: tile fill (v5): a block takes a tile of kThreads * V cells of one sample
//                      and a group of channels; each thread reads its V cells' owners ONCE (16-byte
//                      loads, no occupancy bitmask, no atomicOr in the claim) and then, per channel,
//                      gathers only the occupied cells' features (4 channels per load when C % 4 == 0)
//                      and streams its 16-byte vector: one dependent L2 round trip per channel
//                      instead of three (bitmask, owner, feature). 0: v4's bitmask fills.
//   PYKIT_PS_LAUNCHES  3: init, claim, fill (PDL between them). 2 (tile fill only): init, then one
//                      persistent claim + fill kernel separated by a hand-made grid barrier (the
//                      counter is zeroed by init; the grid is at most what is co-resident, from the
//                      occupancy query, since cooperative launch is not available inside TensorRT's
//                      enqueue): one launch less. Unsafe where the process gets fewer SMs than
//                      the device reports (MPS thread limits, green contexts): blocks that never
//                      become resident would leave the others waiting at the barrier.
#ifndef PYKIT_PS_FILL
#define PYKIT_PS_FILL 1
#endif
#ifndef PYKIT_PS_LAUNCHES
#define PYKIT_PS_LAUNCHES 3
#endif
#if PYKIT_PS_LAUNCHES == 2 && !PYKIT_PS_FILL
#error "PYKIT_PS_LAUNCHES=2 needs PYKIT_PS_FILL=1"
#endif

namespace pykit { namespace pillar_scatter {

namespace {
constexpr int kThreads = 256;
constexpr bool kUseMask = !PYKIT_PS_FILL;

// Workspace: owner map [B, ny, nx] int32, then the occupancy bitmask (one bit per cell; v4 fills
// only), then the grid barrier's counter (16 bytes), each 16-byte aligned.
__host__ __device__ inline std::int64_t mask_words(std::int64_t cells) { return kUseMask ? (cells + 127) / 128 * 4 : 0; }
constexpr std::size_t kBarrierBytes = 16;
std::size_t owner_bytes(const Geometry& g) { return (sizeof(std::int32_t) * std::size_t(g.cells()) + 15) / 16 * 16; }

__device__ __forceinline__ void wait_for_predecessor() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    cudaGridDependencySynchronize();
#endif
}

__global__ void init_owner(std::int32_t* owner, std::int64_t cells, std::uint32_t* mask, unsigned* barrier) {
    if (barrier != nullptr && blockIdx.x == 0 && threadIdx.x == 0) *barrier = 0u;
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
__device__ __forceinline__ void claim(const std::int32_t* coords, const std::int32_t* num_valid, std::int32_t* owner,
                                      std::uint32_t* mask, Geometry g) {
    g.valid = clamp_valid(*num_valid, g.pillars);
    for (std::int32_t p = blockIdx.x * blockDim.x + threadIdx.x; p < g.valid; p += gridDim.x * blockDim.x) {
        const std::int64_t cell = pillar_cell(coords, p, g);
        if (cell >= 0) {
            atomicMax(owner + cell, p);
            if (mask != nullptr) atomicOr(mask + cell / 32, 1u << (cell % 32));
        }
    }
}

__global__ void claim_cells(const std::int32_t* coords, const std::int32_t* num_valid, std::int32_t* owner,
                            std::uint32_t* mask, Geometry g) {
    wait_for_predecessor();
    claim(coords, num_valid, owner, mask, g);
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

#if PYKIT_PS_FILL
// ---- v5 tile fill ------------------------------------------------------------------------------
// Work item w = (sample b, tile of kThreads * V cells, group of channels). Thread t owns cells
// [t * V, t * V + V) of the tile in every channel plane of the group: it reads their owners once
// (V / 4 int4 loads) into shared memory (its own slots only, so no block synchronisation; registers
// would spill under the dynamic index), then per CSTEP channels gathers the occupied cells' feature
// values and streams one 16-byte vector per channel. Owners are read with ld.global.cg: in the fused kernel they were
// written (atomics, at L2) by other blocks of the same grid, which the non-coherent path may not see.
struct TilePlan {
    std::int64_t plane;       // ny * nx
    std::int32_t tiles;       // tiles per plane
    std::int32_t groups;      // channel groups
    std::int32_t per_group;   // channels per group (a multiple of CSTEP)
    __host__ __device__ std::int64_t items() const { return std::int64_t(tiles) * groups; }
};

template <class T>
__device__ __forceinline__ unsigned element_bits(const unsigned* words, int j) {
    constexpr int per_word = 4 / int(sizeof(T));
    constexpr unsigned mask = sizeof(T) == 4 ? 0xFFFFFFFFu : (1u << (8 * sizeof(T))) - 1u;
    return (words[j / per_word] >> (8 * int(sizeof(T)) * (j % per_word))) & mask;
}

template <class T, class Convert, int CSTEP>
__device__ __forceinline__ void fill_tiles(const T* __restrict__ features, const std::int32_t* owner,
                                           T* __restrict__ canvas, const Geometry& g, const TilePlan& plan,
                                           Convert convert, std::int32_t* rows) {
    constexpr int V = 16 / int(sizeof(T));
    constexpr int per_word = 4 / int(sizeof(T));
    constexpr int kLoadWords = CSTEP * int(sizeof(T)) / 4 > 0 ? CSTEP * int(sizeof(T)) / 4 : 1;
    std::int32_t* my_rows = rows + threadIdx.x * V;
    const std::int64_t items = plan.items() * g.batch;
    for (std::int64_t w = blockIdx.x; w < items; w += gridDim.x) {
        const std::int32_t group = std::int32_t(w % plan.groups);
        const std::int64_t bt = w / plan.groups;
        const std::int64_t b = bt / plan.tiles;
        const std::int64_t cell = (bt - b * plan.tiles) * std::int64_t(kThreads * V) + std::int64_t(threadIdx.x) * V;
        const bool active = cell < plan.plane;
        unsigned occupied = 0u;
        if (active) {
            const int4* o = reinterpret_cast<const int4*>(owner + b * plan.plane + cell);
#pragma unroll
            for (int q = 0; q < V / 4; ++q) {
                const int4 p4 = __ldcg(o + q);
                const std::int32_t p[4] = {p4.x, p4.y, p4.z, p4.w};
#pragma unroll
                for (int k = 0; k < 4; ++k) {
                    my_rows[4 * q + k] = p[k];
                    occupied |= p[k] >= 0 ? 1u << (4 * q + k) : 0u;
                }
            }
        }
        const std::int32_t c_begin = group * plan.per_group;
        const std::int32_t c_end = min(g.channels, c_begin + plan.per_group);
        T* out = canvas + (b * g.channels + c_begin) * plan.plane + cell;
        for (std::int32_t c = c_begin; c < c_end; c += CSTEP, out += CSTEP * plan.plane) {
            unsigned word[CSTEP][4];
#pragma unroll
            for (int j = 0; j < CSTEP; ++j) word[j][0] = word[j][1] = word[j][2] = word[j][3] = 0u;
            for (unsigned m = occupied; m != 0u; m &= m - 1u) {
                const int k = __ffs(int(m)) - 1;
                const T* src = features + std::int64_t(my_rows[k]) * g.channels + c;
                unsigned loaded[kLoadWords];
                if constexpr (CSTEP * sizeof(T) == 16) {
                    const uint4 u = __ldg(reinterpret_cast<const uint4*>(src));
                    loaded[0] = u.x; loaded[kLoadWords > 1 ? 1 : 0] = u.y;
                    loaded[kLoadWords > 2 ? 2 : 0] = u.z; loaded[kLoadWords > 3 ? 3 : 0] = u.w;
                } else if constexpr (CSTEP * sizeof(T) == 8) {
                    const uint2 u = __ldg(reinterpret_cast<const uint2*>(src));
                    loaded[0] = u.x; loaded[kLoadWords > 1 ? 1 : 0] = u.y;
                } else if constexpr (CSTEP * sizeof(T) == 4) {
                    loaded[0] = __ldg(reinterpret_cast<const unsigned*>(src));
                } else {
                    loaded[0] = load_bits(src);
                }
                const int slot = k / per_word, shift = 8 * int(sizeof(T)) * (k % per_word);
#pragma unroll
                for (int j = 0; j < CSTEP; ++j) {
                    const unsigned v = converted<T>(CSTEP == 1 ? loaded[0] : element_bits<T>(loaded, j), convert) << shift;
                    word[j][0] |= slot == 0 ? v : 0u;
                    word[j][1] |= slot == 1 ? v : 0u;
                    word[j][2] |= slot == 2 ? v : 0u;
                    word[j][3] |= slot == 3 ? v : 0u;
                }
            }
            if (active)
#pragma unroll
                for (int j = 0; j < CSTEP; ++j)
                    store_streaming(reinterpret_cast<uint4*>(out + j * plan.plane),
                                    make_uint4(word[j][0], word[j][1], word[j][2], word[j][3]));
        }
    }
}

template <class T, class Convert, int CSTEP>
__global__ void __launch_bounds__(kThreads) fill_canvas_tiles(const T* __restrict__ features, const std::int32_t* owner,
                                                              T* __restrict__ canvas, Geometry g, TilePlan plan,
                                                              Convert convert) {
    __shared__ std::int32_t rows[kThreads * (16 / sizeof(T))];
    wait_for_predecessor();
    fill_tiles<T, Convert, CSTEP>(features, owner, canvas, g, plan, convert, rows);
}

#if PYKIT_PS_LAUNCHES == 2
// Every block arrives once; none leaves before all have. The counter starts at 0 (init_owner).
__device__ __forceinline__ void grid_barrier(unsigned* counter) {
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();  // this block's claims (atomics) are performed before it arrives
        atomicAdd(counter, 1u);
        while (*static_cast<volatile unsigned*>(counter) < gridDim.x) __nanosleep(64);
        __threadfence();
    }
    __syncthreads();
}

template <class T, class Convert, int CSTEP>
__global__ void __launch_bounds__(kThreads) claim_and_fill(const std::int32_t* coords, const std::int32_t* num_valid,
                                                           std::int32_t* owner, unsigned* barrier,
                                                           const T* __restrict__ features, T* __restrict__ canvas,
                                                           Geometry g, TilePlan plan, Convert convert) {
    __shared__ std::int32_t rows[kThreads * (16 / sizeof(T))];
    wait_for_predecessor();
    if (g.pillars > 0) claim(coords, num_valid, owner, nullptr, g);
    grid_barrier(barrier);
    fill_tiles<T, Convert, CSTEP>(features, owner, canvas, g, plan, convert, rows);
}
#endif  // PYKIT_PS_LAUNCHES == 2
#endif  // PYKIT_PS_FILL

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

#if PYKIT_PS_FILL
int multiprocessors() {
    int device = 0, count = 0;
    if (cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
        return 1;
    return count > 0 ? count : 1;
}

// Blocks of `kernel` that fit on the device at once (occupancy query, cached per device): the
// tile plan's target, and the grid barrier's bound.
template <class Kernel>
std::int64_t co_resident_blocks(Kernel kernel) {
    static std::atomic<int> cache[64] = {};
    int device = 0;
    if (cudaGetDevice(&device) != cudaSuccess || device < 0) return 0;
    if (device < 64 && cache[device].load() > 0) return cache[device].load();
    int per_sm = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0) != cudaSuccess) return 0;
    const int blocks = per_sm * multiprocessors();
    if (device < 64) cache[device].store(blocks);
    return blocks;
}

// Tiles of kThreads * V cells per plane; at least enough channel groups that the grid fills the GPU
// once (`resident` blocks) even at batch 1, each group a multiple of CSTEP channels.
template <class T>
TilePlan tile_plan(const Geometry& g, int cstep, std::int64_t resident) {
    constexpr int V = 16 / int(sizeof(T));
    TilePlan plan{};
    plan.plane = std::int64_t(g.ny) * g.nx;
    plan.tiles = std::int32_t((plan.plane + kThreads * V - 1) / (kThreads * V));
    const std::int64_t tiles = std::max<std::int64_t>(std::int64_t(plan.tiles) * g.batch, 1);
    const std::int64_t target = std::max<std::int64_t>(resident, 1);
    const std::int64_t steps = (g.channels + cstep - 1) / cstep;
    const std::int64_t wanted = std::min<std::int64_t>((target + tiles - 1) / tiles, steps);
    plan.per_group = std::int32_t(std::max<std::int64_t>(steps / wanted, 1) * cstep);  // >= wanted groups
    plan.groups = std::int32_t((g.channels + plan.per_group - 1) / plan.per_group);
    return plan;
}

template <class T, class Convert, int CSTEP>
cudaError_t run_tiles(const T* features, const std::int32_t* coords, const std::int32_t* num_valid, T* canvas,
                      std::int32_t* owner, unsigned* barrier, const Geometry& g, Convert convert, cudaStream_t stream) {
    const std::int64_t cells = g.cells();
#if PYKIT_PS_LAUNCHES == 2
    const std::int64_t resident = co_resident_blocks(claim_and_fill<T, Convert, CSTEP>);
    if (resident <= 0) return cudaErrorLaunchOutOfResources;
    const TilePlan plan = tile_plan<T>(g, CSTEP, resident);
    const std::int64_t items = plan.items() * g.batch;
    init_owner<<<grid_for((cells + 3) / 4), kThreads, 0, stream>>>(owner, cells, nullptr, barrier);
    PYKIT_CUDA_RETURN_IF_ERROR(cudaGetLastError());
    const unsigned grid = unsigned(std::min(items, resident));
    return launch_dependent(claim_and_fill<T, Convert, CSTEP>, dim3(grid), dim3(kThreads), stream, coords, num_valid,
                            owner, barrier, features, canvas, g, plan, convert);
#else
    (void)barrier;
    const TilePlan plan = tile_plan<T>(g, CSTEP, co_resident_blocks(fill_canvas_tiles<T, Convert, CSTEP>));
    const std::int64_t items = plan.items() * g.batch;
    init_owner<<<grid_for((cells + 3) / 4), kThreads, 0, stream>>>(owner, cells, nullptr, nullptr);
    PYKIT_CUDA_RETURN_IF_ERROR(cudaGetLastError());
    if (g.pillars > 0)
        PYKIT_CUDA_RETURN_IF_ERROR(launch_dependent(claim_cells, dim3(grid_for(g.pillars)), dim3(kThreads), stream,
                                                    coords, num_valid, owner, static_cast<std::uint32_t*>(nullptr), g));
    const unsigned grid = unsigned(std::min<std::int64_t>(items, 65535 * 8));
    return launch_dependent(fill_canvas_tiles<T, Convert, CSTEP>, dim3(grid), dim3(kThreads), stream, features,
                            static_cast<const std::int32_t*>(owner), canvas, g, plan, convert);
#endif
}

#endif  // PYKIT_PS_FILL

template <class T, class Convert>
cudaError_t run(const T* features, const std::int32_t* coords, const std::int32_t* num_valid, T* canvas,
                void* workspace, const Geometry& g, Convert convert, cudaStream_t stream) {
    if (g.canvas_elements() == 0) return cudaSuccess;
    constexpr int V = 16 / int(sizeof(T));
    const std::int64_t cells = g.cells();
    auto* owner = static_cast<std::int32_t*>(workspace);
    auto* mask = kUseMask ? reinterpret_cast<std::uint32_t*>(static_cast<char*>(workspace) + owner_bytes(g)) : nullptr;
    auto* barrier = reinterpret_cast<unsigned*>(static_cast<char*>(workspace) + owner_bytes(g) +
                                                sizeof(std::uint32_t) * std::size_t(mask_words(cells)));
    const std::int64_t plane = std::int64_t(g.ny) * g.nx;
    const bool vector = plane % V == 0 && aligned16(canvas) && aligned16(owner);
#if PYKIT_PS_FILL
    if (vector) {
        const bool four = g.channels % 4 == 0 && reinterpret_cast<std::uintptr_t>(features) % (4 * sizeof(T)) == 0;
        return four ? run_tiles<T, Convert, 4>(features, coords, num_valid, canvas, owner, barrier, g, convert, stream)
                    : run_tiles<T, Convert, 1>(features, coords, num_valid, canvas, owner, barrier, g, convert, stream);
    }
#else
    (void)barrier;
#endif
    init_owner<<<grid_for((cells + 3) / 4), kThreads, 0, stream>>>(owner, cells, mask, nullptr);
    PYKIT_CUDA_RETURN_IF_ERROR(cudaGetLastError());
    if (g.pillars > 0)
        PYKIT_CUDA_RETURN_IF_ERROR(launch_dependent(claim_cells, dim3(grid_for(g.pillars)), dim3(kThreads), stream,
                                                    coords, num_valid, owner, mask, g));
    if (vector && kUseMask) {
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
    return owner_bytes(g) + sizeof(std::uint32_t) * std::size_t(mask_words(g.cells())) + kBarrierBytes;
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
