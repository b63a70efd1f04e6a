// PillarScatter on the CPU: the kernel core's two passes as plain loops.
#include <algorithm>

#include "host_api.h"
#include "pillar_scatter_attrs.h"
#include "pillar_scatter_core.h"

namespace pykit { namespace pillar_scatter {
namespace {
namespace py = pybind11;

template <class T, class Convert>
py::array fill(const py::array& features, const std::vector<std::int32_t>& owner, const Geometry& g,
               const py::dtype& dtype, Convert convert) {
    py::array out(dtype, std::vector<py::ssize_t>{g.batch, g.channels, g.ny, g.nx});
    auto* canvas = static_cast<T*>(out.mutable_data());
    const auto* feats = static_cast<const T*>(features.data());
    for (std::int64_t i = 0; i < g.canvas_elements(); ++i) canvas[i] = canvas_value(feats, owner.data(), i, g, convert);
    return out;
}

std::vector<py::array> run(const host::Call& call) {
    const std::string name = Attrs::kPluginName;
    const Attrs attrs = host::attrs_from_dict<Attrs>(call.attrs);
    require(call.inputs.size() == 3, name, "expects 3 inputs (pillar_features, coords, num_valid)");
    const py::array& features = call.inputs[0];
    const py::array& coords = call.inputs[1];
    const py::array& num_valid = call.inputs[2];

    // pillar_features: [P, C] or [1, P, C]
    const auto rank = features.ndim();
    require(rank == 2 || (rank == 3 && features.shape(0) == 1), name,
            "input 'pillar_features' must be [P, C] or [1, P, C]");
    const auto pillars = features.shape(rank - 2);
    const auto channels = features.shape(rank - 1);
    require(coords.ndim() == 2 && coords.shape(0) == pillars && coords.shape(1) == 4, name,
            "input 'coords' must be [P, 4] with P = " + std::to_string(pillars));
    require(num_valid.size() == 1 && num_valid.ndim() <= 1, name, "input 'num_valid' must be a scalar or [1]");
    const auto* coord_data = host::elements<std::int32_t>(coords, host::has_dtype<std::int32_t>(coords), name, "coords", "int32");
    const auto* nv = host::elements<std::int32_t>(num_valid, host::has_dtype<std::int32_t>(num_valid), name, "num_valid", "int32");
    require(pillars <= INT32_MAX && channels <= INT32_MAX, name, "too many pillars or channels for int32 indexing");

    Geometry g{attrs.batch_size, std::int32_t(channels), attrs.ny, attrs.nx, std::int32_t(pillars), 0};
    g.valid = clamp_valid(*nv, g.pillars);

    std::vector<std::int32_t> owner(std::size_t(g.cells()), -1);  // pass 1 (atomicMax on the GPU)
    for (std::int32_t p = 0; p < g.valid; ++p) {
        const std::int64_t cell = pillar_cell(coord_data, p, g);
        if (cell >= 0) owner[std::size_t(cell)] = std::max(owner[std::size_t(cell)], p);
    }

    if (call.precision == "fp32") {
        host::elements<float>(features, host::has_dtype<float>(features), name, "pillar_features", "float32");
        return {fill<float>(features, owner, g, py::dtype::of<float>(), CopyValue{})};
    }
    if (call.precision == "fp16") {
        host::elements<std::uint16_t>(features, host::is_float16(features), name, "pillar_features", "float16");
        return {fill<std::uint16_t>(features, owner, g, py::dtype("float16"), CopyValue{})};
    }
    host::elements<std::int8_t>(features, host::has_dtype<std::int8_t>(features), name, "pillar_features", "int8");
    require(call.input_scales.size() >= 1 && call.output_scales.size() == 1, name, "int8 needs input and output scales");
    const float s_in = call.input_scales[0], s_out = call.output_scales[0];
    require(s_in > 0.f && s_out > 0.f, name, "int8 scales must be positive");
    return {fill<std::int8_t>(features, owner, g, py::dtype::of<std::int8_t>(), RequantizeInt8{s_in / s_out})};
}
}  // namespace

PYKIT_REGISTER_HOST_PLUGIN(Attrs, run);

} }  // namespace pykit::pillar_scatter
