// DeformConv's CUDA launcher in pykit._kernels.DeformConv, for `pykit bench` (bench.py drives it).
#include <cstdint>
#include <string>

#include "bench_api.h"
#include "deform_conv_attrs.h"
#include "deform_conv_kernel.h"

namespace pykit { namespace deform_conv {
namespace {
namespace py = pybind11;

// TODO(deform_conv): bind what the real launcher takes (the shapes that make its Geometry, the other
// inputs, the attributes its Params read; the placeholder's Params are the spec's defaults).
void bind(py::module_& m) {
    m.def("launch",
          [](const std::string& precision, std::uintptr_t src, std::uintptr_t output, std::int64_t elements,
             float in_scale, float out_scale, std::uintptr_t stream) {
              bench::check(launch(bench::precision<Attrs>(precision), bench::ptr(src), bench::ptr(output),
                                  Geometry{elements}, make_params(Attrs{}), in_scale, out_scale,
                                  bench::stream_of(stream)),
                           "DeformConv launch");
          },
          py::arg("precision"), py::arg("src"), py::arg("output"), py::arg("elements"), py::arg("in_scale") = 1.f,
          py::arg("out_scale") = 1.f, py::arg("stream") = 0,
          "output = the placeholder op of input 'x' (elements of the precision's dtype)");
}
}  // namespace

PYKIT_REGISTER_BENCH_LAUNCHER(Attrs, bind);

} }  // namespace pykit::deform_conv
