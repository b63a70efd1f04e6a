#include "layer_norm_kernel.h"

#include <cstdint>
#include <type_traits>

// A/B variants (docs/benchmarks/README.md, version table; benchmarks/ab.sh builds each with -D):
//   PYKIT_LN_VEC_BYTES   bytes per vector load/store in the warp-per-row kernel (rows <= 1024): 16
//                        (every precision moves 16 bytes per instruction) or 0 (v4's 4 elements:
//                        16 B fp32, 8 B fp16, 4 B int8).
//   PYKIT_LN_BLOCK_VEC_BYTES  the same for the block-per-row kernel (rows > 1024): 0 measured best
//                        (16384x4096 fp16 75.7 vs 89.5 us with 16 B; docs/benchmarks/README.md).
//   PYKIT_LN_EARLY_AFFINE 1: scale and bias loaded with x, before the reductions (their L2 round
//                        trip overlaps the statistics); 0: after them (v4).
//   PYKIT_LN_BLOCK_ITEMS values per thread in the block-per-row kernel (rows of 1025..): 16 (v4:
//                        256 threads for <= 4096 columns, 512 for <= 8192) or 32 (128 threads for
//                        <= 4096, 256 for <= 8192, 512 for <= 16384): twice the rows resident per
//                        SM, so twice the bytes in flight per SM at fp16/int8, where a row is few bytes.
//   PYKIT_LN_INT8_BLOCK_ITEMS values per thread of an int8 row in the block-per-row kernel, in
//                        16-byte vectors: 32 (128 threads for 4096 columns) or 64 (64 threads): the
//                        row's per-row work (block sums, int8_row) spread over more values.
// Choosing a default is the one line of each #define below.
#ifndef PYKIT_LN_VEC_BYTES
#define PYKIT_LN_VEC_BYTES 16
#endif
#ifndef PYKIT_LN_BLOCK_VEC_BYTES
#define PYKIT_LN_BLOCK_VEC_BYTES 0
#endif
#ifndef PYKIT_LN_EARLY_AFFINE
#define PYKIT_LN_EARLY_AFFINE 0
#endif
#ifndef PYKIT_LN_BLOCK_ITEMS
#define PYKIT_LN_BLOCK_ITEMS 32
#endif
#ifndef PYKIT_LN_INT8_BLOCK_ITEMS
#define PYKIT_LN_INT8_BLOCK_ITEMS 64
#endif
#if PYKIT_LN_INT8_BLOCK_ITEMS != 32 && PYKIT_LN_INT8_BLOCK_ITEMS != 64
#error "PYKIT_LN_INT8_BLOCK_ITEMS is 32 or 64"
#endif
#if PYKIT_LN_BLOCK_ITEMS != 16 && PYKIT_LN_BLOCK_ITEMS != 32
#error "PYKIT_LN_BLOCK_ITEMS is 16 or 32 (the spec's error model: each thread adds <= 32 values in order)"
#endif

namespace pykit { namespace layer_norm {

namespace {

template <class T, int N>
struct alignas(sizeof(T) * N) Pack {
    T v[N];
};

// Pack <-> fp32 values. Generic: the core's load/store per element.
template <class T, int N>
__device__ __forceinline__ void unpack(const Pack<T, N>& p, float (&out)[N], float scale) {
#pragma unroll
    for (int j = 0; j < N; ++j) out[j] = load(p.v[j], scale);
}
template <class T, int N>
__device__ __forceinline__ void pack(const float (&in)[N], Pack<T, N>& p, float inv_scale) {
#pragma unroll
    for (int j = 0; j < N; ++j) store(p.v[j], in[j], inv_scale);
}

// int8 rows move as 32-bit words with explicit vector loads and stores (a Pack<std::int8_t, 16>
// copy compiles to four 4-byte loads and byte shuffles), and convert by byte permutes and
// magic-number adds (integer/FP32 pipes, bit-identical to the casts, which run at a quarter rate).
template <int WORDS>
struct Words {
    unsigned w[WORDS];
};

template <int WORDS>
__device__ __forceinline__ Words<WORDS> load_words(const std::int8_t* p) {
    static_assert(WORDS == 1 || WORDS == 4, "int8 vectors are 4 or 16 bytes");
    Words<WORDS> r;
    if constexpr (WORDS == 4) {
        const uint4 v = *reinterpret_cast<const uint4*>(p);
        r.w[0] = v.x, r.w[1] = v.y, r.w[2] = v.z, r.w[3] = v.w;
    } else {
        r.w[0] = *reinterpret_cast<const unsigned*>(p);
    }
    return r;
}

template <int WORDS>
__device__ __forceinline__ void store_words(std::int8_t* p, const Words<WORDS>& r) {
    if constexpr (WORDS == 4)
        *reinterpret_cast<uint4*>(p) = make_uint4(r.w[0], r.w[1], r.w[2], r.w[3]);
    else
        *reinterpret_cast<unsigned*>(p) = r.w[0];
}

// int8 byte k of word w -> float, exactly: 0x4B000000 | (byte ^ 0x80) is 2^23 + byte + 128.
__device__ __forceinline__ float int8_byte_to_float(unsigned w, int k) {
    return __int_as_float(int(__byte_perm(w ^ 0x80808080u, 0x4B000000u, 0x7540u | unsigned(k)))) - 8388736.f;
}
// quantize_int8(x) bit for bit in the low byte (the other bytes are not the result): NaN -> 0
// (kNumbers: x is known not to be NaN, Int8Row::finite, and the test is left out), clamp to
// +-127, then x + 1.5 * 2^23 rounds half to even (the FADD's rounding = rintf) and leaves the
// integer in the low byte, two's complement.
template <bool kNumbers>
__device__ __forceinline__ unsigned quantized_low_byte(float x) {
    const float t = fminf(fmaxf(x, -127.f), 127.f);
    return unsigned(__float_as_int((kNumbers || x == x ? t : 0.f) + 12582912.f));
}
// Four values' low bytes -> one word.
__device__ __forceinline__ unsigned bytes_to_word(unsigned b0, unsigned b1, unsigned b2, unsigned b3) {
    return __byte_perm(__byte_perm(b0, b1, 0x0040u), __byte_perm(b2, b3, 0x0040u), 0x5410u);
}

template <class V>
__device__ __forceinline__ V warp_sum(V v) {
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
    template <class V>
    __device__ V operator()(V v) const { return warp_sum(v); }
    __device__ float max(float v) const { return warp_max(v); }  // of non-negative values
};

// Sum over a block of THREADS threads (float, int or long long); every thread gets the total.
// `smem` holds 32 values of 8 bytes.
template <int THREADS>
struct BlockSum {
    long long* smem;
    template <class V>
    __device__ V operator()(V v) const {
        constexpr int kWarps = THREADS / 32;
        V* slots = reinterpret_cast<V*>(smem);
        v = warp_sum(v);
        __syncthreads();  // the previous call's readers are done with smem
        if ((threadIdx.x & 31) == 0) slots[threadIdx.x >> 5] = v;
        __syncthreads();
        const int lane = threadIdx.x & 31;
        return warp_sum(lane < kWarps ? slots[lane] : V(0));
    }
    __device__ float max(float v) const {  // of non-negative values (0 is the identity)
        constexpr int kWarps = THREADS / 32;
        float* slots = reinterpret_cast<float*>(smem);
        v = warp_max(v);
        __syncthreads();
        if ((threadIdx.x & 31) == 0) slots[threadIdx.x >> 5] = v;
        __syncthreads();
        const int lane = threadIdx.x & 31;
        return warp_max(lane < kWarps ? slots[lane] : 0.f);
    }
};

// One row held in registers: ITEMS packs of VEC values per thread; thread `tid` of `width` owns
// the packs starting at elements (it * width + tid) * VEC. cols % VEC == 0 (the launcher checks).
template <class T, int VEC, int ITEMS, class Sum>
__device__ __forceinline__ void row_in_registers(const T* __restrict__ x, const T* __restrict__ gamma,
                                                 const T* __restrict__ beta, T* __restrict__ y, int cols, int tid,
                                                 int width, float eps, const Scales& s, Sum sum) {
    using P = Pack<T, VEC>;
    float v[ITEMS][VEC];
    P g[ITEMS], b[ITEMS];
    float acc = 0.f;
#pragma unroll
    for (int it = 0; it < ITEMS; ++it) {
        const int c = (it * width + tid) * VEC;
        if (c < cols) {
            unpack(*reinterpret_cast<const P*>(x + c), v[it], s.x);
#if PYKIT_LN_EARLY_AFFINE
            g[it] = *reinterpret_cast<const P*>(gamma + c);
            b[it] = *reinterpret_cast<const P*>(beta + c);
#endif
#pragma unroll
            for (int j = 0; j < VEC; ++j) acc += v[it][j];
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
    const float inv_y = out_inv_scale(s);
#pragma unroll
    for (int it = 0; it < ITEMS; ++it) {
        const int c = (it * width + tid) * VEC;
        if (c < cols) {
#if !PYKIT_LN_EARLY_AFFINE
            g[it] = *reinterpret_cast<const P*>(gamma + c);
            b[it] = *reinterpret_cast<const P*>(beta + c);
#endif
            float gf[VEC], bf[VEC], out[VEC];
            unpack(g[it], gf, s.scale);
            unpack(b[it], bf, s.bias);
#pragma unroll
            for (int j = 0; j < VEC; ++j) out[j] = normalize(v[it][j], mean, rstd, gf[j], bf[j]);
            P o;
            pack(out, o, inv_y);
            *reinterpret_cast<P*>(y + c) = o;
        }
    }
}

// An int8 row in registers: q stays packed (4 values a register, a quarter of row_in_registers'
// floats) and the statistics are exact integer sums, four bytes per dp4a (layer_norm_core.h:
// int8_row). The register kernels' rows have n <= 16384, so sum_q2 <= 2^14 n fits int32.
template <int WORDS, int ITEMS, bool kNumbers>
__device__ __forceinline__ void int8_outputs(const Words<WORDS> (&q)[ITEMS], const std::int8_t* __restrict__ gamma,
                                             const std::int8_t* __restrict__ beta, std::int8_t* __restrict__ y,
                                             int cols, int tid, int width, const Int8Row& r) {
    constexpr int kVec = 4 * WORDS;
#pragma unroll
    for (int it = 0; it < ITEMS; ++it) {
        const int c = (it * width + tid) * kVec;
        if (c < cols) {
            const Words<WORDS> g = load_words<WORDS>(gamma + c), b = load_words<WORDS>(beta + c);
            Words<WORDS> o;
#pragma unroll
            for (int w = 0; w < WORDS; ++w) {
                unsigned bytes[4];
#pragma unroll
                for (int k = 0; k < 4; ++k)
                    bytes[k] = quantized_low_byte<kNumbers>(int8_output(int8_byte_to_float(q[it].w[w], k),
                                                                        int8_byte_to_float(g.w[w], k),
                                                                        int8_byte_to_float(b.w[w], k), r));
                o.w[w] = bytes_to_word(bytes[0], bytes[1], bytes[2], bytes[3]);
            }
            store_words(y + c, o);
        }
    }
}

template <int VEC, int ITEMS, class Sum>
__device__ __forceinline__ void int8_row_in_registers(const std::int8_t* __restrict__ x,
                                                      const std::int8_t* __restrict__ gamma,
                                                      const std::int8_t* __restrict__ beta, std::int8_t* __restrict__ y,
                                                      int cols, int tid, int width, const Int8Call& k, Sum sum) {
    if constexpr (VEC % 4 != 0) {  // unaligned rows: one value at a time (layer_norm_core.h's arithmetic)
        std::int8_t q[ITEMS][VEC];
        int sum_q = 0, sum_q2 = 0;
#pragma unroll
        for (int it = 0; it < ITEMS; ++it)
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                const int c = (it * width + tid) * VEC + j;
                q[it][j] = c < cols ? x[c] : std::int8_t(0);
                sum_q += q[it][j];
                sum_q2 += int(q[it][j]) * q[it][j];
            }
        const Int8Row r = int8_row(sum(sum_q), sum(sum_q2), cols, k);
#pragma unroll
        for (int it = 0; it < ITEMS; ++it)
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                const int c = (it * width + tid) * VEC + j;
                if (c < cols) y[c] = quantize_int8(int8_output(float(q[it][j]), float(gamma[c]), float(beta[c]), r));
            }
    } else {
        constexpr int kWords = VEC / 4;
        Words<kWords> q[ITEMS];
        int sum_q = 0, sum_q2 = 0;
#pragma unroll
        for (int it = 0; it < ITEMS; ++it) {
            const int c = (it * width + tid) * VEC;
            if (c < cols) {
                q[it] = load_words<kWords>(x + c);
#pragma unroll
                for (int w = 0; w < kWords; ++w) {
                    sum_q = __dp4a(int(q[it].w[w]), 0x01010101, sum_q);
                    sum_q2 = __dp4a(int(q[it].w[w]), int(q[it].w[w]), sum_q2);
                }
            }
        }
        const Int8Row r = int8_row(sum(sum_q), sum(sum_q2), cols, k);
        if (r.finite)  // uniform over the row
            int8_outputs<kWords, ITEMS, true>(q, gamma, beta, y, cols, tid, width, r);
        else
            int8_outputs<kWords, ITEMS, false>(q, gamma, beta, y, cols, tid, width, r);
    }
}

template <class T, int VEC, int ITEMS, class Sum>
__device__ __forceinline__ void any_row_in_registers(const T* x, const T* gamma, const T* beta, T* y, int cols, int tid,
                                                     int width, float eps, const Scales& s, const Int8Call& k8, Sum sum) {
    if constexpr (std::is_same<T, std::int8_t>::value)
        int8_row_in_registers<VEC, ITEMS>(x, gamma, beta, y, cols, tid, width, k8, sum);
    else
        row_in_registers<T, VEC, ITEMS>(x, gamma, beta, y, cols, tid, width, eps, s, sum);
}

constexpr int kWarpRowsPerBlock = 4;

template <class T, int VEC, int ITEMS>
__global__ void __launch_bounds__(32 * kWarpRowsPerBlock)
    warp_rows(const T* x, const T* gamma, const T* beta, T* y, Geometry g, float eps, Scales s, Int8Call k8) {
    const int lane = threadIdx.x & 31;
    const std::int64_t stride = std::int64_t(gridDim.x) * kWarpRowsPerBlock;
    for (std::int64_t row = std::int64_t(blockIdx.x) * kWarpRowsPerBlock + (threadIdx.x >> 5); row < g.rows; row += stride) {
        const std::int64_t off = row * g.cols;
        any_row_in_registers<T, VEC, ITEMS>(x + off, gamma, beta, y + off, g.cols, lane, 32, eps, s, k8, WarpSum{});
    }
}

template <class T, int VEC, int ITEMS, int THREADS>
__global__ void __launch_bounds__(THREADS)
    block_rows(const T* x, const T* gamma, const T* beta, T* y, Geometry g, float eps, Scales s, Int8Call k8) {
    __shared__ long long smem[32];
    for (std::int64_t row = blockIdx.x; row < g.rows; row += gridDim.x) {
        const std::int64_t off = row * g.cols;
        any_row_in_registers<T, VEC, ITEMS>(x + off, gamma, beta, y + off, g.cols, threadIdx.x, THREADS, eps, s, k8,
                                            BlockSum<THREADS>{smem});
    }
}

constexpr int kBlockItems = PYKIT_LN_BLOCK_ITEMS;

// Rows too long for registers: three passes over x (mean, variance, output).
constexpr int kStreamThreads = 1024;

template <class T>
__global__ void __launch_bounds__(kStreamThreads)
    stream_rows(const T* x, const T* gamma, const T* beta, T* y, Geometry g, float eps, Scales s, Int8Call k8) {
    __shared__ long long smem[32];
    const BlockSum<kStreamThreads> sum{smem};
    for (std::int64_t row = blockIdx.x; row < g.rows; row += gridDim.x) {
        const T* xr = x + row * g.cols;
        T* yr = y + row * g.cols;
        if constexpr (std::is_same<T, std::int8_t>::value) {  // exact integer statistics (int8_row)
            long long sum_q = 0, sum_q2 = 0;
            for (int c = threadIdx.x; c < g.cols; c += kStreamThreads) {
                const int v = xr[c];
                sum_q += v;
                sum_q2 += v * v;
            }
            const Int8Row r = int8_row(sum(sum_q), sum(sum_q2), g.cols, k8);
            for (int c = threadIdx.x; c < g.cols; c += kStreamThreads)
                yr[c] = quantize_int8(int8_output(float(xr[c]), float(gamma[c]), float(beta[c]), r));
            continue;
        }
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
        const float inv_y = out_inv_scale(s);
        for (int c = threadIdx.x; c < g.cols; c += kStreamThreads)
            store(yr[c], normalize(load(xr[c], s.x), mean, rstd, load(gamma[c], s.scale), load(beta[c], s.bias)), inv_y);
    }
}

unsigned grid_for(std::int64_t blocks) {
    constexpr std::int64_t kMax = std::int64_t(1) << 20;  // grid-stride loops take the rest
    return unsigned(blocks < 1 ? 1 : (blocks > kMax ? kMax : blocks));
}

// 64-thread blocks (64 values a thread: int8 rows of <= 4096): launched, and instantiated, only
// where a thread takes 64 values. true when it launched.
template <class T, int VEC, int ITEMS, bool kNarrow>
bool narrow_block_rows(const T* x, const T* gamma, const T* beta, T* y, const Geometry& g, float eps, const Scales& s,
                       const Int8Call& k8, cudaStream_t stream) {
    if constexpr (kNarrow) {
        if (g.cols <= 64 * 64) {
            block_rows<T, VEC, ITEMS, 64><<<grid_for(g.rows), 64, 0, stream>>>(x, gamma, beta, y, g, eps, s, k8);
            return true;
        }
    }
    return false;
}

template <class T, int VEC>
cudaError_t run_vec(const T* x, const T* gamma, const T* beta, T* y, const Geometry& g, float eps, const Scales& s,
                    cudaStream_t stream) {
    // ITEMS packs per thread; at fp32/fp16 every thread adds at most max(per-thread bucket, VEC)
    // <= 32 values in order (the spec's error model: chunks of <= 32, then a tree). int8 sums are
    // exact integers, so its block rows take more values a thread (PYKIT_LN_INT8_BLOCK_ITEMS).
    constexpr auto items = [](int per_thread) { return (per_thread + VEC - 1) / VEC; };
    constexpr bool kInt8 = std::is_same<T, std::int8_t>::value;
    constexpr int kPerThread = kInt8 ? PYKIT_LN_INT8_BLOCK_ITEMS : kBlockItems;
    constexpr int kRegisterCols = 512 * kBlockItems;  // every precision: longer rows stream
    const Int8Call k8 = kInt8 ? int8_call(eps, s) : Int8Call{};
    const int cols = g.cols;
    const unsigned rows_grid = grid_for(g.rows);
    if (cols <= 1024) {
        const unsigned grid = grid_for((g.rows + kWarpRowsPerBlock - 1) / kWarpRowsPerBlock);
        const unsigned block = 32 * kWarpRowsPerBlock;
        const int per_lane = (cols + 31) / 32;
        if (per_lane <= 4)
            warp_rows<T, VEC, items(4)><<<grid, block, 0, stream>>>(x, gamma, beta, y, g, eps, s, k8);
        else if (per_lane <= 8)
            warp_rows<T, VEC, items(8)><<<grid, block, 0, stream>>>(x, gamma, beta, y, g, eps, s, k8);
        else if (per_lane <= 16)
            warp_rows<T, VEC, items(16)><<<grid, block, 0, stream>>>(x, gamma, beta, y, g, eps, s, k8);
        else
            warp_rows<T, VEC, items(32)><<<grid, block, 0, stream>>>(x, gamma, beta, y, g, eps, s, k8);
    } else if (cols > kRegisterCols) {
        stream_rows<T><<<rows_grid, kStreamThreads, 0, stream>>>(x, gamma, beta, y, g, eps, s, k8);
    } else if (narrow_block_rows<T, VEC, items(kPerThread), kPerThread == 64>(x, gamma, beta, y, g, eps, s, k8, stream)) {
    } else if (kPerThread >= 32 && cols <= 128 * kPerThread) {
        block_rows<T, VEC, items(kPerThread), 128><<<rows_grid, 128, 0, stream>>>(x, gamma, beta, y, g, eps, s, k8);
    } else if (cols <= 256 * kPerThread) {
        block_rows<T, VEC, items(kPerThread), 256><<<rows_grid, 256, 0, stream>>>(x, gamma, beta, y, g, eps, s, k8);
    } else {
        block_rows<T, VEC, items(kPerThread), 512><<<rows_grid, 512, 0, stream>>>(x, gamma, beta, y, g, eps, s, k8);
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
    // Widest vector first (PYKIT_LN_VEC_BYTES), then 4 elements, then scalars. The block-per-row
    // kernel (rows > 1024) has its own width: fp32/fp16 measured faster with 4 elements, int8
    // (its values packed in registers) with 16 bytes (docs/benchmarks/README.md).
    constexpr int kWarpWide = PYKIT_LN_VEC_BYTES > 0 ? PYKIT_LN_VEC_BYTES / int(sizeof(T)) : 4;
    constexpr int kBlockWide = std::is_same<T, std::int8_t>::value ? 16
                               : PYKIT_LN_BLOCK_VEC_BYTES > 0 ? PYKIT_LN_BLOCK_VEC_BYTES / int(sizeof(T)) : 4;
    const bool warp_path = g.cols <= 1024;
    const auto fits = [&](int vec) {
        const std::size_t bytes = std::size_t(vec) * sizeof(T);
        return g.cols % vec == 0 && aligned(x, bytes) && aligned(scale, bytes) && aligned(bias, bytes) && aligned(y, bytes);
    };
    if (warp_path && fits(kWarpWide)) return run_vec<T, kWarpWide>(xp, gp, bp, yp, g, params.epsilon, s, stream);
    if (!warp_path && fits(kBlockWide)) return run_vec<T, kBlockWide>(xp, gp, bp, yp, g, params.epsilon, s, stream);
    if (fits(4)) return run_vec<T, 4>(xp, gp, bp, yp, g, params.epsilon, s, stream);
    return run_vec<T, 1>(xp, gp, bp, yp, g, params.epsilon, s, stream);
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
