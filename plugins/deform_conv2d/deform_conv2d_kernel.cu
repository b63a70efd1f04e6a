#include "deform_conv2d_kernel.h"

namespace pykit { namespace deform_conv2d {

namespace {
constexpr int kIm2colThreads = 256;
constexpr int kGemmThreads = 256;  // 16x16 threads, 4x4 outputs each of a kTileM x kTileN tile (core)
constexpr unsigned kMaxGridZ = 65535;

// Columns of images [n0, n0 + images): one thread per (image, channel, pixel), its kH*kW taps.
template <class T>
__global__ void im2col_kernel(const T* x, const T* offset, const T* mask, float* cols, Geometry g, std::int32_t n0,
                              std::int32_t images) {
    const std::int64_t pixels = g.pixels(), taps = std::int64_t(g.kh) * g.kw;
    const std::int64_t total = std::int64_t(images) * g.c * pixels;
    for (std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += std::int64_t(gridDim.x) * blockDim.x) {
        const std::int64_t p = idx % pixels;
        const std::int64_t c = (idx / pixels) % g.c;
        const std::int32_t local = std::int32_t(idx / (pixels * g.c));
        float* out = cols + (std::int64_t(local) * g.column_rows() + c * taps) * pixels + p;
        for (std::int64_t t = 0; t < taps; ++t)
            out[t * pixels] = column_value(x, offset, mask, g, n0 + local, c * taps + t, p);
    }
}

// C[M, P] = A[M, K] * B[K, P] + bias[M] for each (image, group) z of the chunk; A = the group's
// weights (T), B = that image's group rows of the columns (fp32), C = y (T). With splits > 1 each
// block sums one K range into partial[split][z][M][P] (fp32) instead; reduce_kernel finishes.
template <class T>
__global__ void __launch_bounds__(kGemmThreads) gemm_kernel(const T* weight, const T* bias, const float* cols, T* y,
                                                            float* partial, Geometry g, std::int32_t n0,
                                                            std::int32_t images, std::int32_t splits) {
    __shared__ float as[kTileK][kTileM + 4];  // A^T tile: as[k][m]
    __shared__ float bs[kTileK][kTileN];
    const std::int32_t m_count = g.oc / g.group, k_count = g.taps();
    const std::int64_t pixels = g.pixels();
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const std::int32_t m0 = blockIdx.y * kTileM;
    const std::int64_t p0 = std::int64_t(blockIdx.x) * kTileN;
    const std::int64_t batches = std::int64_t(images) * g.group;
    const std::int32_t k_per = ((k_count + splits - 1) / splits + kTileK - 1) / kTileK * kTileK;
    for (std::int64_t zs = blockIdx.z; zs < batches * splits; zs += gridDim.z) {
        const std::int64_t z = zs / splits;
        const std::int32_t split = std::int32_t(zs % splits);
        const std::int32_t local = std::int32_t(z / g.group), grp = std::int32_t(z % g.group);
        const T* a = weight + std::int64_t(grp) * m_count * k_count;
        const float* b = cols + (std::int64_t(local) * g.column_rows() + std::int64_t(grp) * k_count) * pixels;
        const std::int32_t k_begin = split * k_per;
        const std::int32_t k_end = k_begin + k_per < k_count ? k_begin + k_per : k_count;
        float acc[4][4] = {};
        for (std::int32_t k0 = k_begin; k0 < k_end; k0 += kTileK) {
            for (int e = threadIdx.x; e < kTileM * kTileK; e += kGemmThreads) {  // A: k fastest (rows of weight)
                const int kk = e % kTileK, mm = e / kTileK;
                const std::int32_t m = m0 + mm, k = k0 + kk;
                as[kk][mm] = m < m_count && k < k_end ? load(a[std::int64_t(m) * k_count + k]) : 0.f;
            }
            for (int e = threadIdx.x; e < kTileK * kTileN; e += kGemmThreads) {  // B: p fastest (coalesced)
                const int nn = e % kTileN, kk = e / kTileN;
                const std::int32_t k = k0 + kk;
                const std::int64_t p = p0 + nn;
                bs[kk][nn] = k < k_end && p < pixels ? b[std::int64_t(k) * pixels + p] : 0.f;
            }
            __syncthreads();
#pragma unroll
            for (int kk = 0; kk < kTileK; ++kk) {
                float av[4], bv[4];
#pragma unroll
                for (int r = 0; r < 4; ++r) av[r] = as[kk][ty + 16 * r];
#pragma unroll
                for (int s = 0; s < 4; ++s) bv[s] = bs[kk][tx + 16 * s];
#pragma unroll
                for (int r = 0; r < 4; ++r)
#pragma unroll
                    for (int s = 0; s < 4; ++s) acc[r][s] = fmaf(av[r], bv[s], acc[r][s]);
            }
            __syncthreads();
        }
#pragma unroll
        for (int r = 0; r < 4; ++r) {
            const std::int32_t m = m0 + ty + 16 * r;
            if (m >= m_count) continue;
            if (splits > 1) {
                float* row = partial + ((std::int64_t(split) * batches + z) * m_count + m) * pixels;
#pragma unroll
                for (int s = 0; s < 4; ++s) {
                    const std::int64_t p = p0 + tx + 16 * s;
                    if (p < pixels) row[p] = acc[r][s];
                }
                continue;
            }
            const std::int64_t o = std::int64_t(grp) * m_count + m;
            const float bv = load(bias[o]);
            T* row = y + ((std::int64_t(n0) + local) * g.oc + o) * pixels;
#pragma unroll
            for (int s = 0; s < 4; ++s) {
                const std::int64_t p = p0 + tx + 16 * s;
                if (p < pixels) store(row[p], acc[r][s] + bv);
            }
        }
    }
}

// y = sum over the splits of the partials (in split order) + bias, for the chunk's outputs.
template <class T>
__global__ void reduce_kernel(const float* partial, const T* bias, T* y, Geometry g, std::int32_t n0, std::int32_t images,
                              std::int32_t splits) {
    const std::int64_t pixels = g.pixels(), per_split = std::int64_t(images) * g.oc * pixels;
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < per_split;
         i += std::int64_t(gridDim.x) * blockDim.x) {
        // partial's (z, m, p) with z = image * group + grp is y's (image, grp * M + m, p): the same offset
        const std::int32_t o = std::int32_t((i / pixels) % g.oc);
        float sum = 0.f;
        for (std::int32_t s = 0; s < splits; ++s) sum += partial[s * per_split + i];
        store(y[std::int64_t(n0) * g.oc * pixels + i], sum + load(bias[o]));
    }
}

unsigned blocks_for(std::int64_t work, int threads) {
    const std::int64_t blocks = (work + threads - 1) / threads;
    return unsigned(blocks < 65535 * 16 ? blocks : 65535 * 16);
}

template <class T>
cudaError_t run(const void* x, const void* weight, const void* offset, const void* bias, const void* mask, void* y,
                void* workspace, const Geometry& g, cudaStream_t stream) {
    if (g.n <= 0 || g.oc <= 0 || g.pixels() <= 0) return cudaSuccess;
    const std::int32_t chunk = images_per_chunk(g);
    float* cols = static_cast<float*>(workspace);
    float* partial = reinterpret_cast<float*>(static_cast<char*>(workspace) + column_workspace_bytes(g));
    const dim3 gemm_grid(unsigned((g.pixels() + kTileN - 1) / kTileN), unsigned((g.oc / g.group + kTileM - 1) / kTileM), 1);
    for (std::int32_t n0 = 0; n0 < g.n; n0 += chunk) {
        const std::int32_t images = g.n - n0 < chunk ? g.n - n0 : chunk;
        im2col_kernel<T><<<blocks_for(std::int64_t(images) * g.c * g.pixels(), kIm2colThreads), kIm2colThreads, 0, stream>>>(
            static_cast<const T*>(x), static_cast<const T*>(offset), static_cast<const T*>(mask), cols, g, n0, images);
        dim3 grid = gemm_grid;
        const std::int32_t splits = gemm_splits(g, images);
        const std::int64_t batches = std::int64_t(images) * g.group * splits;
        grid.z = unsigned(batches < kMaxGridZ ? batches : kMaxGridZ);
        gemm_kernel<T><<<grid, kGemmThreads, 0, stream>>>(static_cast<const T*>(weight), static_cast<const T*>(bias), cols,
                                                          static_cast<T*>(y), partial, g, n0, images, splits);
        if (splits > 1) {
            const std::int64_t outputs = std::int64_t(images) * g.oc * g.pixels();
            reduce_kernel<T><<<blocks_for(outputs, kIm2colThreads), kIm2colThreads, 0, stream>>>(
                partial, static_cast<const T*>(bias), static_cast<T*>(y), g, n0, images, splits);
        }
        const cudaError_t status = cudaGetLastError();
        if (status != cudaSuccess) return status;
    }
    return cudaSuccess;
}
}  // namespace

cudaError_t launch(Precision precision, const void* x, const void* weight, const void* offset, const void* bias,
                   const void* mask, void* y, void* workspace, const Geometry& g, cudaStream_t stream) {
    switch (precision) {
        case Precision::kFP32: return run<float>(x, weight, offset, bias, mask, y, workspace, g, stream);
        case Precision::kFP16: return run<std::uint16_t>(x, weight, offset, bias, mask, y, workspace, g, stream);
        case Precision::kINT8: break;  // not offered (spec)
    }
    return cudaErrorInvalidValue;
}

} }  // namespace pykit::deform_conv2d
