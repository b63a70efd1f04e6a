// LayerNorm's launcher in pykit._kernels.LayerNorm (for `pykit bench`; see bench.py).
#include "bench_api.h"
#include "layer_norm_attrs.h"
#include "layer_norm_kernel.h"

namespace pykit { namespace layer_norm {
namespace {
namespace py = pybind11;

void bind(py::module_& m) {
    m.def("launch",
          [](const std::string& precision, std::uintptr_t x, std::uintptr_t scale, std::uintptr_t bias, std::uintptr_t y,
             std::int64_t rows, std::int32_t cols, float epsilon, float s_x, float s_scale, float s_bias, float s_y,
             std::uintptr_t stream) {
              Params params{};
              params.epsilon = epsilon;
              Scales scales;
              scales.x = s_x;
              scales.scale = s_scale;
              scales.bias = s_bias;
              scales.y = s_y;
              bench::check(launch(bench::precision<Attrs>(precision), bench::ptr(x), bench::ptr(scale), bench::ptr(bias),
                                  bench::ptr(y), Geometry{rows, cols}, params, scales, bench::stream_of(stream)),
                           "LayerNorm launch");
          },
          py::arg("precision"), py::arg("x"), py::arg("scale"), py::arg("bias"), py::arg("y"), py::arg("rows"),
          py::arg("cols"), py::arg("epsilon") = 1e-5f, py::arg("s_x") = 1.f, py::arg("s_scale") = 1.f,
          py::arg("s_bias") = 1.f, py::arg("s_y") = 1.f, py::arg("stream") = 0,
          "y[rows, cols] = layer_norm(x) * scale + bias (int8: per-tensor scales s_*)");
}
}  // namespace

PYKIT_REGISTER_BENCH_LAUNCHER(Attrs, bind);

} }  // namespace pykit::layer_norm
