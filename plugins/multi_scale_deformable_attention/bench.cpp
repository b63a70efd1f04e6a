// MultiScaleDeformableAttention's CUDA launcher in pykit._kernels.MultiScaleDeformableAttention, for
// `pykit bench` (bench.py drives it).
#include <cstdint>
#include <string>

#include "bench_api.h"
#include "multi_scale_deformable_attention_attrs.h"
#include "multi_scale_deformable_attention_kernel.h"

namespace pykit { namespace multi_scale_deformable_attention {
namespace {
namespace py = pybind11;

void bind(py::module_& m) {
    m.def("launch",
          [](const std::string& precision, std::uintptr_t value, std::uintptr_t spatial_shapes,
             std::uintptr_t level_start_index, std::uintptr_t sampling_locations, std::uintptr_t attention_weights,
             std::uintptr_t output, std::int64_t batch, std::int64_t keys, std::int64_t heads, std::int64_t channels,
             std::int64_t queries, std::int64_t levels, std::int64_t points, std::uintptr_t stream) {
              const Geometry g{batch, keys, heads, channels, queries, levels, points};
              bench::check(launch(bench::precision<Attrs>(precision), bench::ptr(value),
                                  bench::ptr<const std::int32_t>(spatial_shapes),
                                  bench::ptr<const std::int32_t>(level_start_index), bench::ptr(sampling_locations),
                                  bench::ptr(attention_weights), bench::ptr(output), g, bench::stream_of(stream)),
                           Attrs::kPluginName);
          },
          py::arg("precision"), py::arg("value"), py::arg("spatial_shapes"), py::arg("level_start_index"),
          py::arg("sampling_locations"), py::arg("attention_weights"), py::arg("output"), py::arg("batch"),
          py::arg("keys"), py::arg("heads"), py::arg("channels"), py::arg("queries"), py::arg("levels"),
          py::arg("points"), py::arg("stream") = 0,
          "output (batch, queries, heads*channels) = multi-scale deformable attention (device pointers; int32 "
          "spatial_shapes (levels, 2) and level_start_index (levels))");
}
}  // namespace

PYKIT_REGISTER_BENCH_LAUNCHER(Attrs, bind);

} }  // namespace pykit::multi_scale_deformable_attention
