#include "pillar_scatter_kernel.h"

#include "common/cuda_check.h"

namespace pykit { namespace pillar_scatter {

namespace {
constexpr int kThreads = 256;

// num_valid lives on the device (a network tensor): read and clamp it in the kernel.
__global__ void claim_cells(const std::int32_t* coords, const std::int32_t* num_valid, std::int32_t* owner, Geometry g) {
    g.valid = clamp_valid(*num_valid, g.pillars);
    for (std::int32_t p = blockIdx.x * blockDim.x + threadIdx.x; p < g.valid; p += gridDim.x * blockDim.x) {
        const std::int64_t cell = pillar_cell(coords, p, g);
        if (cell >= 0) atomicMax(owner + cell, p);
    }
}

template <class T, class Convert>
__global__ void fill_canvas(const T* features, const std::int32_t* owner, T* canvas, Geometry g, Convert convert) {
    const std::int64_t n = g.canvas_elements();
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x) {
        canvas[i] = canvas_value(features, owner, i, g, convert);
    }
}

unsigned grid_for(std::int64_t n) {
    const std::int64_t blocks = (n + kThreads - 1) / kThreads;
    return unsigned(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

template <class T, class Convert>
cudaError_t run(const T* features, const std::int32_t* coords, const std::int32_t* num_valid, T* canvas,
                std::int32_t* owner, const Geometry& g, Convert convert, cudaStream_t stream) {
    if (g.canvas_elements() == 0) return cudaSuccess;
    PYKIT_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(owner, 0xFF, sizeof(std::int32_t) * g.cells(), stream));  // -1
    if (g.pillars > 0) claim_cells<<<grid_for(g.pillars), kThreads, 0, stream>>>(coords, num_valid, owner, g);
    fill_canvas<<<grid_for(g.canvas_elements()), kThreads, 0, stream>>>(features, owner, canvas, g, convert);
    return cudaGetLastError();
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
