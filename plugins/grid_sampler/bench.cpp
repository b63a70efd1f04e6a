// GridSample's launcher in pykit._kernels.GridSample (for `pykit bench`; see bench.py).
#include <vector>

#include <pybind11/stl.h>

#include "bench_api.h"
#include "grid_sampler_attrs.h"
#include "grid_sampler_kernel.h"
#include "grid_sampler_shape.h"

namespace pykit { namespace grid_sampler {
namespace {
namespace py = pybind11;

void bind(py::module_& m) {
    m.def("launch",
          [](const std::string& precision, std::uintptr_t x, std::uintptr_t grid, std::uintptr_t y,
             const std::vector<std::int64_t>& x_shape, const std::vector<std::int64_t>& grid_shape,
             const std::string& mode, const std::string& padding_mode, std::int32_t align_corners, float s_x, float s_y,
             std::uintptr_t stream) {
              Attrs attrs;
              attrs.mode = mode;
              attrs.padding_mode = padding_mode;
              attrs.align_corners = align_corners;
              const Params params = make_params(attrs);
              std::int64_t y_shape[5];
              check_shapes(x_shape.data(), int(x_shape.size()), grid_shape.data(), int(grid_shape.size()), params, y_shape);
              const Geometry g = make_geometry(x_shape.data(), grid_shape.data(), int(x_shape.size()));
              bench::check(launch(bench::precision<Attrs>(precision), bench::ptr(x), bench::ptr(grid), bench::ptr(y), g,
                                  params, s_x, s_y, bench::stream_of(stream)),
                           "GridSample launch");
          },
          py::arg("precision"), py::arg("x"), py::arg("grid"), py::arg("y"), py::arg("x_shape"), py::arg("grid_shape"),
          py::arg("mode") = "linear", py::arg("padding_mode") = "zeros", py::arg("align_corners") = 0,
          py::arg("s_x") = 1.f, py::arg("s_y") = 1.f, py::arg("stream") = 0,
          "y (N, C, *grid.shape[1:-1]) = x sampled at grid (ONNX GridSample; int8: per-tensor scales s_x, s_y)");
}
}  // namespace

PYKIT_REGISTER_BENCH_LAUNCHER(Attrs, bind);

} }  // namespace pykit::grid_sampler
