// PillarScatter's launcher in pykit._kernels.PillarScatter (for `pykit bench`; see bench.py).
#include "bench_api.h"
#include "pillar_scatter_attrs.h"
#include "pillar_scatter_kernel.h"

namespace pykit { namespace pillar_scatter {
namespace {
namespace py = pybind11;

Geometry geometry(int batch, int channels, int ny, int nx, int pillars) {
    return Geometry{batch, channels, ny, nx, pillars, pillars};
}

void bind(py::module_& m) {
    m.def("workspace",
          [](int batch, int channels, int ny, int nx, int pillars) {
              return workspace_bytes(geometry(batch, channels, ny, nx, pillars));
          },
          py::arg("batch"), py::arg("channels"), py::arg("ny"), py::arg("nx"), py::arg("pillars"));
    m.def("launch",
          [](const std::string& precision, std::uintptr_t features, std::uintptr_t coords, std::uintptr_t num_valid,
             std::uintptr_t canvas, std::uintptr_t workspace, int batch, int channels, int ny, int nx, int pillars,
             float ratio, std::uintptr_t stream) {
              bench::check(launch(bench::precision<Attrs>(precision), bench::ptr(features),
                                  bench::ptr<const std::int32_t>(coords), bench::ptr<const std::int32_t>(num_valid),
                                  bench::ptr(canvas), bench::ptr(workspace), geometry(batch, channels, ny, nx, pillars),
                                  ratio, bench::stream_of(stream)),
                           "PillarScatter launch");
          },
          py::arg("precision"), py::arg("features"), py::arg("coords"), py::arg("num_valid"), py::arg("canvas"),
          py::arg("workspace"), py::arg("batch"), py::arg("channels"), py::arg("ny"), py::arg("nx"),
          py::arg("pillars"), py::arg("ratio") = 1.0f, py::arg("stream") = 0,
          "canvas[B, C, ny, nx] from features[P, C], coords[P, 4] int32, num_valid (device int32); int8: ratio = s_in/s_out");
}
}  // namespace

PYKIT_REGISTER_BENCH_LAUNCHER(Attrs, bind);

} }  // namespace pykit::pillar_scatter
