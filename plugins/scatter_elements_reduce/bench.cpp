// ScatterElementsReduce's launcher in pykit._kernels.ScatterElementsReduce (for `pykit bench`; see bench.py).
#include <vector>

#include <pybind11/stl.h>  // shapes as Python lists

#include "bench_api.h"
#include "scatter_elements_reduce_attrs.h"
#include "scatter_elements_reduce_kernel.h"
#include "scatter_elements_reduce_shape.h"

namespace pykit { namespace scatter_elements_reduce {
namespace {
namespace py = pybind11;

Geometry geometry(const std::vector<std::int64_t>& data_shape, const std::vector<std::int64_t>& index_shape, int axis) {
    const int rank = int(data_shape.size());
    if (rank < 1 || rank > kMaxRank || int(index_shape.size()) != rank)
        throw py::value_error("ScatterElementsReduce: data and indices must have the same rank, 1..8");
    if (axis < -rank || axis >= rank) throw py::value_error("ScatterElementsReduce: axis out of range");
    Geometry g{};
    g.rank = rank;
    g.axis = axis < 0 ? axis + rank : axis;
    for (int d = 0; d < rank; ++d) {
        g.data_dims[d] = data_shape[std::size_t(d)];
        g.index_dims[d] = index_shape[std::size_t(d)];
    }
    return g;
}

void bind(py::module_& m) {
    m.def("workspace",
          [](const std::string& precision, const std::vector<std::int64_t>& data_shape,
             const std::vector<std::int64_t>& index_shape, int axis) {
              return workspace_bytes(bench::precision<Attrs>(precision), geometry(data_shape, index_shape, axis));
          },
          py::arg("precision"), py::arg("data_shape"), py::arg("index_shape"), py::arg("axis"));
    m.def("launch",
          [](const std::string& precision, const std::string& index_type, const std::string& reduction,
             std::uintptr_t data, std::uintptr_t indices, std::uintptr_t updates, std::uintptr_t output,
             std::uintptr_t workspace, const std::vector<std::int64_t>& data_shape,
             const std::vector<std::int64_t>& index_shape, int axis, std::uintptr_t stream) {
              if (index_type != "int32" && index_type != "int64")
                  throw py::value_error("ScatterElementsReduce: index_type must be int32 or int64");
              bench::check(launch(bench::precision<Attrs>(precision),
                                  index_type == "int64" ? IndexType::kInt64 : IndexType::kInt32,
                                  parse_reduction(reduction), bench::ptr(data), bench::ptr(indices),
                                  bench::ptr(updates), bench::ptr(output), bench::ptr(workspace),
                                  geometry(data_shape, index_shape, axis), bench::stream_of(stream)),
                           "ScatterElementsReduce launch");
          },
          py::arg("precision"), py::arg("index_type"), py::arg("reduction"), py::arg("data"), py::arg("indices"),
          py::arg("updates"), py::arg("output"), py::arg("workspace"), py::arg("data_shape"), py::arg("index_shape"),
          py::arg("axis"), py::arg("stream") = 0,
          "output = data, then updates combined into it along axis (ONNX ScatterElements with reduction)");
}
}  // namespace

PYKIT_REGISTER_BENCH_LAUNCHER(Attrs, bind);

} }  // namespace pykit::scatter_elements_reduce
