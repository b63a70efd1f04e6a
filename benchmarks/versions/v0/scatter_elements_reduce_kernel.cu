#include "scatter_elements_reduce_kernel.h"

#include "common/cuda_check.h"
#include "common/numeric.h"

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
        const std::int64_t dest = destination(g, e, indices[e]);
        if (dest >= 0) apply(r, out + dest, load(updates, e));
    }
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

unsigned grid_for(std::int64_t n) {
    const std::int64_t blocks = (n + kThreads - 1) / kThreads;
    return unsigned(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

template <class T>
cudaError_t scatter_into(IndexType index_type, Reduction r, const void* indices, const T* updates, float* out,
                         const Geometry& g, cudaStream_t stream) {
    const std::int64_t n = g.index_elements();
    if (n == 0) return cudaSuccess;
    if (index_type == IndexType::kInt64)
        scatter<<<grid_for(n), kThreads, 0, stream>>>(r, static_cast<const std::int64_t*>(indices), updates, out, g);
    else
        scatter<<<grid_for(n), kThreads, 0, stream>>>(r, static_cast<const std::int32_t*>(indices), updates, out, g);
    return cudaGetLastError();
}
}  // namespace

std::size_t workspace_bytes(Storage storage, const Geometry& g) {
    return storage == Storage::kFloat16 ? sizeof(float) * std::size_t(g.data_elements()) : 0;
}

cudaError_t launch(Storage storage, IndexType index_type, Reduction reduction, const void* data, const void* indices,
                   const void* updates, void* output, void* workspace, const Geometry& g, cudaStream_t stream) {
    const std::int64_t n = g.data_elements();
    if (n == 0) return cudaSuccess;
    if (storage == Storage::kFloat32) {
        if (output != data)
            PYKIT_CUDA_RETURN_IF_ERROR(
                cudaMemcpyAsync(output, data, sizeof(float) * std::size_t(n), cudaMemcpyDeviceToDevice, stream));
        return scatter_into(index_type, reduction, indices, static_cast<const float*>(updates),
                            static_cast<float*>(output), g, stream);
    }
    if (workspace == nullptr) return cudaErrorInvalidValue;
    auto* acc = static_cast<float*>(workspace);
    widen<<<grid_for(n), kThreads, 0, stream>>>(static_cast<const std::uint16_t*>(data), acc, n);
    PYKIT_CUDA_RETURN_IF_ERROR(cudaGetLastError());
    PYKIT_CUDA_RETURN_IF_ERROR(scatter_into(index_type, reduction, indices,
                                            static_cast<const std::uint16_t*>(updates), acc, g, stream));
    narrow<<<grid_for(n), kThreads, 0, stream>>>(acc, static_cast<std::uint16_t*>(output), n);
    return cudaGetLastError();
}

} }  // namespace pykit::scatter_elements_reduce
