#include "layer_norm_kernel.h"

#include <cstdint>

namespace pykit { namespace layer_norm {

namespace {

template <class T, int N>
struct alignas(sizeof(T) * N) Pack {
    T v[N];
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

struct WarpSum {
    __device__ float operator()(float v) const { return warp_sum(v); }
    __device__ float max(float v) const { return warp_max(v); }  // of non-negative values
};

// Sum over a block of THREADS threads; every thread gets the total. `smem` holds 32 floats.
template <int THREADS>
struct BlockSum {
    float* smem;
    __device__ float operator()(float v) const {
        constexpr int kWarps = THREADS / 32;
        v = warp_sum(v);
        __syncthreads();  // the previous call's readers are done with smem
        if ((threadIdx.x & 31) == 0) smem[threadIdx.x >> 5] = v;
        __syncthreads();
        const int lane = threadIdx.x & 31;
        return warp_sum(lane < kWarps ? smem[lane] : 0.f);
    }
    __device__ float max(float v) const {  // of non-negative values (0 is the identity)
        constexpr int kWarps = THREADS / 32;
        v = warp_max(v);
        __syncthreads();
        if ((threadIdx.x & 31) == 0) smem[threadIdx.x >> 5] = v;
        __syncthreads();
        const int lane = threadIdx.x & 31;
        return warp_max(lane < kWarps ? smem[lane] : 0.f);
    }
};

// One row held in registers: ITEMS packs of VEC values per thread; thread `tid` of `width` owns
// the packs starting at elements (it * width + tid) * VEC. cols % VEC == 0 (the launcher checks).
template <class T, int VEC, int ITEMS, class Sum>
__device__ __forceinline__ void row_in_registers(const T* __restrict__ x, const T* __restrict__ gamma,
                                                 const T* __restrict__ beta, T* __restrict__ y, int cols, int tid,
                                                 int width, float eps, const Scales& s, Sum sum) {
    float v[ITEMS][VEC];
    float acc = 0.f;
#pragma unroll
    for (int it = 0; it < ITEMS; ++it) {
        const int c = (it * width + tid) * VEC;
        if (c < cols) {
            const Pack<T, VEC> p = *reinterpret_cast<const Pack<T, VEC>*>(x + c);
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                v[it][j] = load(p.v[j], s.x);
                acc += v[it][j];
            }
        } else {
#pragma unroll
            for (int j = 0; j < VEC; ++j) v[it][j] = 0.f;
        }
    }
    const float mean = sum(acc) / float(cols);
    float sq = 0.f;
#pragma unroll
    for (int it = 0; it < ITEMS; ++it) {
        if ((it * width + tid) * VEC < cols) {
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                const float d = v[it][j] - mean;
                sq += d * d;
            }
        }
    }
    float sum_sq = sum(sq), p = 1.f;
    if (sum_overflowed(sum_sq)) {  // uniform: every thread of the row holds the same total (core: why)
        float m = 0.f;
#pragma unroll
        for (int it = 0; it < ITEMS; ++it)
            if ((it * width + tid) * VEC < cols)
#pragma unroll
                for (int j = 0; j < VEC; ++j) m = fmaxf(m, fabsf(v[it][j] - mean));
        p = deviation_scale(sum.max(m));
        sq = 0.f;
#pragma unroll
        for (int it = 0; it < ITEMS; ++it)
            if ((it * width + tid) * VEC < cols)
#pragma unroll
                for (int j = 0; j < VEC; ++j) {
                    const float d = (v[it][j] - mean) * p;
                    sq += d * d;
                }
        sum_sq = sum(sq);
    }
    const float rstd = rstd_from(sum_sq, cols, eps, p);
#pragma unroll
    for (int it = 0; it < ITEMS; ++it) {
        const int c = (it * width + tid) * VEC;
        if (c < cols) {
            const Pack<T, VEC> g = *reinterpret_cast<const Pack<T, VEC>*>(gamma + c);
            const Pack<T, VEC> b = *reinterpret_cast<const Pack<T, VEC>*>(beta + c);
            Pack<T, VEC> out;
#pragma unroll
            for (int j = 0; j < VEC; ++j)
                store(out.v[j], normalize(v[it][j], mean, rstd, load(g.v[j], s.scale), load(b.v[j], s.bias)), s.y);
            *reinterpret_cast<Pack<T, VEC>*>(y + c) = out;
        }
    }
}

constexpr int kWarpRowsPerBlock = 4;

template <class T, int VEC, int ITEMS>
__global__ void __launch_bounds__(32 * kWarpRowsPerBlock)
    warp_rows(const T* x, const T* gamma, const T* beta, T* y, Geometry g, float eps, Scales s) {
    const int lane = threadIdx.x & 31;
    const std::int64_t stride = std::int64_t(gridDim.x) * kWarpRowsPerBlock;
    for (std::int64_t row = std::int64_t(blockIdx.x) * kWarpRowsPerBlock + (threadIdx.x >> 5); row < g.rows; row += stride) {
        const std::int64_t off = row * g.cols;
        row_in_registers<T, VEC, ITEMS>(x + off, gamma, beta, y + off, g.cols, lane, 32, eps, s, WarpSum{});
    }
}

template <class T, int VEC, int ITEMS, int THREADS>
__global__ void __launch_bounds__(THREADS)
    block_rows(const T* x, const T* gamma, const T* beta, T* y, Geometry g, float eps, Scales s) {
    __shared__ float smem[32];
    for (std::int64_t row = blockIdx.x; row < g.rows; row += gridDim.x) {
        const std::int64_t off = row * g.cols;
        row_in_registers<T, VEC, ITEMS>(x + off, gamma, beta, y + off, g.cols, threadIdx.x, THREADS, eps, s,
                                        BlockSum<THREADS>{smem});
    }
}

// Rows too long for registers: three passes over x (mean, variance, output).
constexpr int kStreamThreads = 1024;

template <class T>
__global__ void __launch_bounds__(kStreamThreads)
    stream_rows(const T* x, const T* gamma, const T* beta, T* y, Geometry g, float eps, Scales s) {
    __shared__ float smem[32];
    const BlockSum<kStreamThreads> sum{smem};
    for (std::int64_t row = blockIdx.x; row < g.rows; row += gridDim.x) {
        const T* xr = x + row * g.cols;
        T* yr = y + row * g.cols;
        float acc = 0.f;
        for (int c = threadIdx.x; c < g.cols; c += kStreamThreads) acc += load(xr[c], s.x);
        const float mean = sum(acc) / float(g.cols);
        float sq = 0.f;
        for (int c = threadIdx.x; c < g.cols; c += kStreamThreads) {
            const float d = load(xr[c], s.x) - mean;
            sq += d * d;
        }
        float sum_sq = sum(sq), p = 1.f;
        if (sum_overflowed(sum_sq)) {  // uniform over the block (core: why)
            float m = 0.f;
            for (int c = threadIdx.x; c < g.cols; c += kStreamThreads) m = fmaxf(m, fabsf(load(xr[c], s.x) - mean));
            p = deviation_scale(sum.max(m));
            sq = 0.f;
            for (int c = threadIdx.x; c < g.cols; c += kStreamThreads) {
                const float d = (load(xr[c], s.x) - mean) * p;
                sq += d * d;
            }
            sum_sq = sum(sq);
        }
        const float rstd = rstd_from(sum_sq, g.cols, eps, p);
        for (int c = threadIdx.x; c < g.cols; c += kStreamThreads)
            store(yr[c], normalize(load(xr[c], s.x), mean, rstd, load(gamma[c], s.scale), load(beta[c], s.bias)), s.y);
    }
}

unsigned grid_for(std::int64_t blocks) {
    constexpr std::int64_t kMax = std::int64_t(1) << 20;  // grid-stride loops take the rest
    return unsigned(blocks < 1 ? 1 : (blocks > kMax ? kMax : blocks));
}

template <class T, int VEC>
cudaError_t run_vec(const T* x, const T* gamma, const T* beta, T* y, const Geometry& g, float eps, const Scales& s,
                    cudaStream_t stream) {
    const int cols = g.cols;
    if (cols <= 1024) {
        const unsigned grid = grid_for((g.rows + kWarpRowsPerBlock - 1) / kWarpRowsPerBlock);
        const unsigned block = 32 * kWarpRowsPerBlock;
        const int per_lane = (cols + 31) / 32;
        if (per_lane <= 4)
            warp_rows<T, VEC, 4 / VEC><<<grid, block, 0, stream>>>(x, gamma, beta, y, g, eps, s);
        else if (per_lane <= 8)
            warp_rows<T, VEC, 8 / VEC><<<grid, block, 0, stream>>>(x, gamma, beta, y, g, eps, s);
        else if (per_lane <= 16)
            warp_rows<T, VEC, 16 / VEC><<<grid, block, 0, stream>>>(x, gamma, beta, y, g, eps, s);
        else
            warp_rows<T, VEC, 32 / VEC><<<grid, block, 0, stream>>>(x, gamma, beta, y, g, eps, s);
    } else if (cols <= 256 * 16) {
        block_rows<T, VEC, 16 / VEC, 256><<<grid_for(g.rows), 256, 0, stream>>>(x, gamma, beta, y, g, eps, s);
    } else if (cols <= 512 * 16) {
        block_rows<T, VEC, 16 / VEC, 512><<<grid_for(g.rows), 512, 0, stream>>>(x, gamma, beta, y, g, eps, s);
    } else {
        stream_rows<T><<<grid_for(g.rows), kStreamThreads, 0, stream>>>(x, gamma, beta, y, g, eps, s);
    }
    return cudaGetLastError();
}

bool aligned(const void* p, std::size_t bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; }

template <class T>
cudaError_t run(const void* x, const void* scale, const void* bias, void* y, const Geometry& g, const Params& params,
                const Scales& s, cudaStream_t stream) {
    if (g.rows <= 0 || g.cols <= 0) return cudaSuccess;
    const T* xp = static_cast<const T*>(x);
    const T* gp = static_cast<const T*>(scale);
    const T* bp = static_cast<const T*>(bias);
    T* yp = static_cast<T*>(y);
    constexpr std::size_t kVecBytes = 4 * sizeof(T);
    const bool vec4 = g.cols % 4 == 0 && aligned(x, kVecBytes) && aligned(scale, kVecBytes) && aligned(bias, kVecBytes) &&
                      aligned(y, kVecBytes);
    return vec4 ? run_vec<T, 4>(xp, gp, bp, yp, g, params.epsilon, s, stream)
                : run_vec<T, 1>(xp, gp, bp, yp, g, params.epsilon, s, stream);
}
}  // namespace

cudaError_t launch(Precision precision, const void* x, const void* scale, const void* bias, void* y, const Geometry& g,
                   const Params& params, const Scales& scales, cudaStream_t stream) {
    switch (precision) {
        case Precision::kFP32: return run<float>(x, scale, bias, y, g, params, scales, stream);
        case Precision::kFP16: return run<std::uint16_t>(x, scale, bias, y, g, params, scales, stream);
        case Precision::kINT8: return run<std::int8_t>(x, scale, bias, y, g, params, scales, stream);
    }
    return cudaErrorInvalidValue;
}

} }  // namespace pykit::layer_norm
