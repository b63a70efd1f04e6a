#include "grid_sampler_kernel.h"

namespace pykit { namespace grid_sampler {

namespace {
constexpr int kThreads = 256;

// Thread t takes the V output locations V*t .. V*t + V - 1 (consecutive along Wo: a warp writes
// 32 * V consecutive elements of each channel plane).
template <int K, int AXES, int V, class T, class G>
__global__ void __launch_bounds__(kThreads) grid_sampler_kernel(const T* __restrict__ x, const G* __restrict__ grid,
                                                               T* __restrict__ y, Geometry g, Params p, float s_x,
                                                               float s_y) {
    const std::int64_t groups = g.n * g.out_plane / V;
    for (std::int64_t t = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < groups;
         t += std::int64_t(gridDim.x) * blockDim.x) {
        sample_locations<K, AXES, V>(x, grid, y, g, p, t * V, s_x, s_y);
    }
}

template <int K, int AXES, int V, class T, class G>
cudaError_t launch_v(const void* x, const void* grid, void* y, const Geometry& g, const Params& p, float s_x, float s_y,
                     cudaStream_t stream) {
    const std::int64_t groups = g.n * g.out_plane / V;
    const std::int64_t blocks = (groups + kThreads - 1) / kThreads;
    const unsigned nblocks = unsigned(blocks < 65535 * 64 ? blocks : 65535 * 64);
    grid_sampler_kernel<K, AXES, V><<<nblocks, kThreads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const G*>(grid), static_cast<T*>(y), g, p, s_x, s_y);
    return cudaGetLastError();
}

// The vector path where out_plane is a multiple of V and y is aligned for it (TensorRT's and torch's
// buffers are 256-byte aligned; a view at an offset may not be), else one location per thread.
template <int K, int AXES, class T, class G>
cudaError_t run(const void* x, const void* grid, void* y, const Geometry& g, const Params& p, float s_x, float s_y,
                cudaStream_t stream) {
    constexpr int V = locations_per_thread<K, AXES, T>();
    const bool aligned = reinterpret_cast<std::uintptr_t>(y) % (V * sizeof(T)) == 0;
    if (V > 1 && g.out_plane % V == 0 && aligned) return launch_v<K, AXES, V, T, G>(x, grid, y, g, p, s_x, s_y, stream);
    return launch_v<K, AXES, 1, T, G>(x, grid, y, g, p, s_x, s_y, stream);
}

template <class T, class G>
cudaError_t dispatch(const void* x, const void* grid, void* y, const Geometry& g, const Params& p, float s_x, float s_y,
                     cudaStream_t stream) {
    if (g.axes == 2) {
        switch (p.mode) {
            case Mode::kNearest: return run<1, 2, T, G>(x, grid, y, g, p, s_x, s_y, stream);
            case Mode::kLinear: return run<2, 2, T, G>(x, grid, y, g, p, s_x, s_y, stream);
            case Mode::kCubic: return run<4, 2, T, G>(x, grid, y, g, p, s_x, s_y, stream);
        }
        return cudaErrorInvalidValue;
    }
    if (g.axes != 3) return cudaErrorInvalidValue;
    switch (p.mode) {
        case Mode::kNearest: return run<1, 3, T, G>(x, grid, y, g, p, s_x, s_y, stream);
        case Mode::kLinear: return run<2, 3, T, G>(x, grid, y, g, p, s_x, s_y, stream);
        case Mode::kCubic: break;  // 4-D only (callers refuse it first)
    }
    return cudaErrorInvalidValue;
}
}  // namespace

cudaError_t launch(Precision precision, const void* x, const void* grid, void* y, const Geometry& g,
                   const Params& params, float s_x, float s_y, cudaStream_t stream) {
    if (g.n * g.c * g.out_plane == 0) return cudaSuccess;
    switch (precision) {
        case Precision::kFP32: return dispatch<float, float>(x, grid, y, g, params, s_x, s_y, stream);
        case Precision::kFP16: return dispatch<std::uint16_t, std::uint16_t>(x, grid, y, g, params, s_x, s_y, stream);
        case Precision::kINT8: return dispatch<std::int8_t, float>(x, grid, y, g, params, s_x, s_y, stream);
    }
    return cudaErrorInvalidValue;
}

} }  // namespace pykit::grid_sampler
