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

// update_shape empty: updates has index_shape (ONNX); else the row-index form (broadcast_indices).
Geometry geometry(const std::vector<std::int64_t>& data_shape, const std::vector<std::int64_t>& index_shape, int axis,
                  const std::vector<std::int64_t>& update_shape = {}) {
    const bool broadcast = !update_shape.empty();
    const std::vector<std::int64_t>& upd = broadcast ? update_shape : index_shape;
    return make_geometry(axis, broadcast, std::int32_t(data_shape.size()), data_shape.data(),
                         std::int32_t(index_shape.size()), index_shape.data(), std::int32_t(upd.size()), upd.data());
}

void bind(py::module_& m) {
    m.def("workspace",
          [](const std::string& precision, const std::vector<std::int64_t>& data_shape,
             const std::vector<std::int64_t>& index_shape, int axis, const std::vector<std::int64_t>& update_shape) {
              return workspace_bytes(bench::precision<Attrs>(precision), geometry(data_shape, index_shape, axis, update_shape));
          },
          py::arg("precision"), py::arg("data_shape"), py::arg("index_shape"), py::arg("axis"),
          py::arg("update_shape") = std::vector<std::int64_t>{});
    m.def("launch",
          [](const std::string& precision, const std::string& index_type, const std::string& reduction,
             std::uintptr_t data, std::uintptr_t indices, std::uintptr_t updates, std::uintptr_t output,
             std::uintptr_t workspace, const std::vector<std::int64_t>& data_shape,
             const std::vector<std::int64_t>& index_shape, int axis, std::uintptr_t stream,
             const std::vector<std::int64_t>& update_shape) {
              if (index_type != "int32" && index_type != "int64")
                  throw py::value_error("ScatterElementsReduce: index_type must be int32 or int64");
              bench::check(launch(bench::precision<Attrs>(precision),
                                  index_type == "int64" ? IndexType::kInt64 : IndexType::kInt32,
                                  parse_reduction(reduction), bench::ptr(data), bench::ptr(indices),
                                  bench::ptr(updates), bench::ptr(output), bench::ptr(workspace),
                                  geometry(data_shape, index_shape, axis, update_shape), bench::stream_of(stream)),
                           "ScatterElementsReduce launch");
          },
          py::arg("precision"), py::arg("index_type"), py::arg("reduction"), py::arg("data"), py::arg("indices"),
          py::arg("updates"), py::arg("output"), py::arg("workspace"), py::arg("data_shape"), py::arg("index_shape"),
          py::arg("axis"), py::arg("stream") = 0, py::arg("update_shape") = std::vector<std::int64_t>{},
          "output = data, then updates combined into it along axis (ONNX ScatterElements with reduction); "
          "update_shape given: indices broadcast over its dims of extent 1 (broadcast_indices = 1)");
}
}  // namespace

PYKIT_REGISTER_BENCH_LAUNCHER(Attrs, bind);

} }  // namespace pykit::scatter_elements_reduce
