// PillarScatter on the CPU: the kernel core's two passes as plain loops.
#include <algorithm>

#include "host_api.h"
#include "pillar_scatter_attrs.h"
#include "pillar_scatter_core.h"

namespace pykit { namespace pillar_scatter {
namespace {
namespace py = pybind11;

template <class T, class Convert>
void fill(const py::array& features, const std::vector<std::int32_t>& owner, const Geometry& g, py::array out,
          Convert convert) {
    auto* canvas = static_cast<T*>(out.mutable_data());
    const auto* feats = static_cast<const T*>(features.data());
    for (std::int64_t i = 0; i < g.canvas_elements(); ++i) canvas[i] = canvas_value(feats, owner.data(), i, g, convert);
}

std::vector<py::array> run(const host::Call& call) {
    const std::string name = Attrs::kPluginName;
    const Attrs attrs = host::attrs_from_dict<Attrs>(call.attrs);
    const auto bound = host::bind<Attrs>(call);  // counts, dtypes, ranks, contiguity, int8 scales
    const py::array& features = bound.input(0);
    const py::array& coords = bound.input(1);
    const py::array& num_valid = bound.input(2);

    // pillar_features: [P, C] or [1, P, C]
    const auto rank = features.ndim();
    require(rank == 2 || features.shape(0) == 1, name, "input 'pillar_features' must be [P, C] or [1, P, C]");
    const auto pillars = features.shape(rank - 2);
    const auto channels = features.shape(rank - 1);
    require(coords.shape(0) == pillars && coords.shape(1) == 4, name,
            "input 'coords' must be [P, 4] with P = " + std::to_string(pillars));
    require(num_valid.size() == 1, name, "input 'num_valid' must be a scalar or [1]");
    require(pillars <= INT32_MAX && channels <= INT32_MAX, name, "too many pillars or channels for int32 indexing");

    Geometry g{attrs.batch_size, std::int32_t(channels), attrs.ny, attrs.nx, std::int32_t(pillars), 0};
    g.valid = clamp_valid(*bound.data<std::int32_t>(2), g.pillars);
    require(sizes_fit(g), name,
            "canvas [batch_size, C, ny, nx] = [" + std::to_string(g.batch) + ", " + std::to_string(g.channels) + ", " +
                std::to_string(g.ny) + ", " + std::to_string(g.nx) + "] has more than 2^48 elements");

    std::vector<std::int32_t> owner(std::size_t(g.cells()), -1);  // pass 1 (atomicMax on the GPU)
    const auto* coord_data = bound.data<std::int32_t>(1);
    for (std::int32_t p = 0; p < g.valid; ++p) {
        const std::int64_t cell = pillar_cell(coord_data, p, g);
        if (cell >= 0) owner[std::size_t(cell)] = std::max(owner[std::size_t(cell)], p);
    }

    const py::array canvas = bound.output(0, {g.batch, g.channels, g.ny, g.nx});
    switch (bound.precision()) {
        case Precision::kFP32: fill<float>(features, owner, g, canvas, CopyValue{}); break;
        case Precision::kFP16: fill<std::uint16_t>(features, owner, g, canvas, CopyValue{}); break;
        case Precision::kINT8: {
            const float ratio = requantize_ratio(bound.input_scale(0), bound.output_scale(0));
            require(ratio > 0.f, name, "int8 scales: s_in / s_out of 'pillar_features' and 'canvas' is not finite");
            fill<std::int8_t>(features, owner, g, canvas, RequantizeInt8{ratio});
            break;
        }
    }
    return {canvas};
}
}  // namespace

PYKIT_REGISTER_HOST_PLUGIN(Attrs, run);

} }  // namespace pykit::pillar_scatter
