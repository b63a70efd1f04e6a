// GridSample's CUDA launcher in pykit._kernels.GridSample, for `pykit bench` (bench.py drives it).
#include <cstdint>
#include <string>

#include "bench_api.h"
#include "grid_sample_attrs.h"
#include "grid_sample_kernel.h"

namespace pykit { namespace grid_sample {
namespace {
namespace py = pybind11;

// TODO(grid_sample): bind what the real launcher takes (the shapes that make its Geometry, the other
// inputs, the attributes its Params read; the placeholder's Params are the spec's defaults).
void bind(py::module_& m) {
    m.def("launch",
          [](const std::string& precision, std::uintptr_t src, std::uintptr_t output, std::int64_t elements,
             float in_scale, float out_scale, std::uintptr_t stream) {
              bench::check(launch(bench::precision<Attrs>(precision), bench::ptr(src), bench::ptr(output),
                                  Geometry{elements}, make_params(Attrs{}), in_scale, out_scale,
                                  bench::stream_of(stream)),
                           "GridSample launch");
          },
          py::arg("precision"), py::arg("src"), py::arg("output"), py::arg("elements"), py::arg("in_scale") = 1.f,
          py::arg("out_scale") = 1.f, py::arg("stream") = 0,
          "output = the placeholder op of input 'x' (elements of the precision's dtype)");
}
}  // namespace

PYKIT_REGISTER_BENCH_LAUNCHER(Attrs, bind);

} }  // namespace pykit::grid_sample
