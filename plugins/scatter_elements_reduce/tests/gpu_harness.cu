// A C entry point around the CUDA launcher for gpu_check.py (ctypes): copies host arrays to the
// device, launches, copies the output back. Not part of the plugin library (CMake globs only the
// plugin folder's own *.cu). Build: see gpu_check.py.
#include <cstdint>
#include <vector>

#include "scatter_elements_reduce_kernel.h"

using namespace pykit::scatter_elements_reduce;
using pykit::Precision;

namespace {
struct DeviceBuffer {
    void* ptr = nullptr;
    ~DeviceBuffer() { if (ptr) cudaFree(ptr); }
    cudaError_t alloc(std::size_t bytes) { return cudaMalloc(&ptr, bytes > 0 ? bytes : 1); }
};
#define CHECK(expr) do { const cudaError_t s_ = (expr); if (s_ != cudaSuccess) return int(s_); } while (0)
}  // namespace

// storage 0 = fp32, 1 = fp16; index_type 0 = int32, 1 = int64; reduction as the core's enum.
extern "C" int ser_launch(int storage, int index_type, int reduction, const void* data, const void* indices,
                          const void* updates, void* output, int rank, int axis, const long long* data_dims,
                          const long long* index_dims, const long long* update_dims) {
    Geometry g{};
    g.rank = rank;
    g.axis = axis;
    for (int d = 0; d < rank; ++d) {
        g.data_dims[d] = data_dims[d];
        g.index_dims[d] = update_dims[d];
        g.indices_dims[d] = index_dims[d];  // broadcast_indices: 1 where updates' dim is larger
        g.broadcast = g.broadcast || index_dims[d] != update_dims[d];
    }
    const Precision st = storage == 1 ? Precision::kFP16 : Precision::kFP32;
    const IndexType it = index_type == 1 ? IndexType::kInt64 : IndexType::kInt32;
    const std::size_t esize = st == Precision::kFP16 ? 2 : 4, isize = it == IndexType::kInt64 ? 8 : 4;
    const std::size_t nd = std::size_t(g.data_elements()), ni = std::size_t(g.index_elements());
    std::size_t nidx = 1;
    for (int d = 0; d < rank; ++d) nidx *= std::size_t(index_dims[d]);
    DeviceBuffer d_data, d_idx, d_upd, d_out, d_ws;
    CHECK(d_data.alloc(nd * esize));
    CHECK(d_idx.alloc(nidx * isize));
    CHECK(d_upd.alloc(ni * esize));
    CHECK(d_out.alloc(nd * esize));
    CHECK(d_ws.alloc(workspace_bytes(st, g)));
    CHECK(cudaMemcpy(d_data.ptr, data, nd * esize, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(d_idx.ptr, indices, nidx * isize, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(d_upd.ptr, updates, ni * esize, cudaMemcpyHostToDevice));
    CHECK(cudaMemset(d_out.ptr, 0xFF, nd * esize));  // NaN garbage: a missed copy shows
    CHECK(launch(st, it, Reduction(reduction), d_data.ptr, d_idx.ptr, d_upd.ptr, d_out.ptr, d_ws.ptr, g, nullptr));
    CHECK(cudaDeviceSynchronize());
    CHECK(cudaMemcpy(output, d_out.ptr, nd * esize, cudaMemcpyDeviceToHost));
    return 0;
}
