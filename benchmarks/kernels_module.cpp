// pykit._kernels: the plugins' CUDA launchers with raw device pointers (Python ints) and a stream
// handle (an int: torch.cuda.current_stream().cuda_stream), for `pykit bench`. No CUDA call
// happens at import. Each launcher raises RuntimeError with the CUDA error string on failure.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#if PYKIT_HAVE_PILLAR_SCATTER
#include "pillar_scatter/pillar_scatter_kernel.h"
#endif
#if PYKIT_HAVE_SCATTER_ELEMENTS_REDUCE
#include "scatter_elements_reduce/scatter_elements_reduce_kernel.h"
#endif
#if PYKIT_HAVE_LAYER_NORM
#include "layer_norm/layer_norm_kernel.h"
#endif

namespace py = pybind11;

namespace {

template <class T = void>
T* ptr(std::uintptr_t p) { return reinterpret_cast<T*>(p); }

cudaStream_t stream_of(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

void check(cudaError_t status, const char* what) {
    if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

#if PYKIT_HAVE_PILLAR_SCATTER
namespace ps = pykit::pillar_scatter;

pykit::Precision ps_storage(const std::string& precision) {
    if (precision == "fp32") return pykit::Precision::kFP32;
    if (precision == "fp16") return pykit::Precision::kFP16;
    if (precision == "int8") return pykit::Precision::kINT8;
    throw std::invalid_argument("PillarScatter precision must be fp32, fp16 or int8, not '" + precision + "'");
}

ps::Geometry ps_geometry(int batch, int channels, int ny, int nx, int pillars) {
    return ps::Geometry{batch, channels, ny, nx, pillars, pillars};
}
#endif

#if PYKIT_HAVE_SCATTER_ELEMENTS_REDUCE
namespace ser = pykit::scatter_elements_reduce;

pykit::Precision ser_storage(const std::string& precision) {
    if (precision == "fp32") return pykit::Precision::kFP32;
    if (precision == "fp16") return pykit::Precision::kFP16;
    throw std::invalid_argument("ScatterElementsReduce precision must be fp32 or fp16, not '" + precision + "'");
}

ser::Reduction ser_reduction(const std::string& r) {
    if (r == "none") return ser::Reduction::kNone;
    if (r == "add") return ser::Reduction::kAdd;
    if (r == "mul") return ser::Reduction::kMul;
    if (r == "max") return ser::Reduction::kMax;
    if (r == "min") return ser::Reduction::kMin;
    throw std::invalid_argument("unknown reduction '" + r + "'");
}

ser::Geometry ser_geometry(const std::vector<std::int64_t>& data_shape, const std::vector<std::int64_t>& index_shape,
                           int axis) {
    const int rank = int(data_shape.size());
    if (rank < 1 || rank > ser::kMaxRank || int(index_shape.size()) != rank)
        throw std::invalid_argument("data and indices must have the same rank, 1..8");
    if (axis < -rank || axis >= rank) throw std::invalid_argument("axis out of range");
    ser::Geometry g{};
    g.rank = rank;
    g.axis = axis < 0 ? axis + rank : axis;
    for (int d = 0; d < rank; ++d) {
        g.data_dims[d] = data_shape[d];
        g.index_dims[d] = index_shape[d];
    }
    return g;
}
#endif

#if PYKIT_HAVE_LAYER_NORM
namespace ln = pykit::layer_norm;

pykit::Precision ln_storage(const std::string& precision) {
    if (precision == "fp32") return pykit::Precision::kFP32;
    if (precision == "fp16") return pykit::Precision::kFP16;
    if (precision == "int8") return pykit::Precision::kINT8;
    throw std::invalid_argument("LayerNorm precision must be fp32, fp16 or int8, not '" + precision + "'");
}
#endif

}  // namespace

PYBIND11_MODULE(_kernels, m) {
    m.doc() = "pykit plugins' CUDA launchers on raw device pointers (for pykit bench)";
    py::list launchers;
    m.def("cuda_runtime_version", [] {
        int v = 0;
        cudaRuntimeGetVersion(&v);  // needs no device
        return v;
    });

#if PYKIT_HAVE_PILLAR_SCATTER
    launchers.append("pillar_scatter");
    m.def("pillar_scatter_workspace",
          [](int batch, int channels, int ny, int nx, int pillars) {
              return ps::workspace_bytes(ps_geometry(batch, channels, ny, nx, pillars));
          },
          py::arg("batch"), py::arg("channels"), py::arg("ny"), py::arg("nx"), py::arg("pillars"));
    m.def("pillar_scatter",
          [](const std::string& precision, std::uintptr_t features, std::uintptr_t coords, std::uintptr_t num_valid,
             std::uintptr_t canvas, std::uintptr_t workspace, int batch, int channels, int ny, int nx, int pillars,
             float ratio, std::uintptr_t stream) {
              check(ps::launch(ps_storage(precision), ptr(features), ptr<const std::int32_t>(coords),
                               ptr<const std::int32_t>(num_valid), ptr(canvas), ptr(workspace),
                               ps_geometry(batch, channels, ny, nx, pillars), ratio, stream_of(stream)),
                    "pillar_scatter launch");
          },
          py::arg("precision"), py::arg("features"), py::arg("coords"), py::arg("num_valid"), py::arg("canvas"),
          py::arg("workspace"), py::arg("batch"), py::arg("channels"), py::arg("ny"), py::arg("nx"),
          py::arg("pillars"), py::arg("ratio") = 1.0f, py::arg("stream") = 0,
          "canvas[B, C, ny, nx] from features[P, C], coords[P, 4] int32, num_valid (device int32); int8: ratio = s_in/s_out");
#endif

#if PYKIT_HAVE_SCATTER_ELEMENTS_REDUCE
    launchers.append("scatter_elements_reduce");
    m.def("scatter_elements_reduce_workspace",
          [](const std::string& precision, const std::vector<std::int64_t>& data_shape,
             const std::vector<std::int64_t>& index_shape, int axis) {
              return ser::workspace_bytes(ser_storage(precision), ser_geometry(data_shape, index_shape, axis));
          },
          py::arg("precision"), py::arg("data_shape"), py::arg("index_shape"), py::arg("axis"));
    m.def("scatter_elements_reduce",
          [](const std::string& precision, const std::string& index_type, const std::string& reduction,
             std::uintptr_t data, std::uintptr_t indices, std::uintptr_t updates, std::uintptr_t output,
             std::uintptr_t workspace, const std::vector<std::int64_t>& data_shape,
             const std::vector<std::int64_t>& index_shape, int axis, std::uintptr_t stream) {
              if (index_type != "int32" && index_type != "int64")
                  throw std::invalid_argument("index_type must be int32 or int64");
              check(ser::launch(ser_storage(precision),
                                index_type == "int64" ? ser::IndexType::kInt64 : ser::IndexType::kInt32,
                                ser_reduction(reduction), ptr(data), ptr(indices), ptr(updates), ptr(output),
                                ptr(workspace), ser_geometry(data_shape, index_shape, axis), stream_of(stream)),
                    "scatter_elements_reduce launch");
          },
          py::arg("precision"), py::arg("index_type"), py::arg("reduction"), py::arg("data"), py::arg("indices"),
          py::arg("updates"), py::arg("output"), py::arg("workspace"), py::arg("data_shape"), py::arg("index_shape"),
          py::arg("axis"), py::arg("stream") = 0,
          "output = data, then updates combined into it along axis (ONNX ScatterElements with reduction)");
#endif

#if PYKIT_HAVE_LAYER_NORM
    launchers.append("layer_norm");
    m.def("layer_norm",
          [](const std::string& precision, std::uintptr_t x, std::uintptr_t scale, std::uintptr_t bias, std::uintptr_t y,
             std::int64_t rows, std::int32_t cols, float epsilon, float s_x, float s_scale, float s_bias, float s_y,
             std::uintptr_t stream) {
              ln::Params params{};
              params.epsilon = epsilon;
              ln::Scales scales;
              scales.x = s_x;
              scales.scale = s_scale;
              scales.bias = s_bias;
              scales.y = s_y;
              check(ln::launch(ln_storage(precision), ptr(x), ptr(scale), ptr(bias), ptr(y), ln::Geometry{rows, cols},
                               params, scales, stream_of(stream)),
                    "layer_norm launch");
          },
          py::arg("precision"), py::arg("x"), py::arg("scale"), py::arg("bias"), py::arg("y"), py::arg("rows"),
          py::arg("cols"), py::arg("epsilon") = 1e-5f, py::arg("s_x") = 1.f, py::arg("s_scale") = 1.f,
          py::arg("s_bias") = 1.f, py::arg("s_y") = 1.f, py::arg("stream") = 0,
          "y[rows, cols] = layer_norm(x) * scale + bias (int8: per-tensor scales s_*)");
#endif

    m.attr("launchers") = launchers;
}
