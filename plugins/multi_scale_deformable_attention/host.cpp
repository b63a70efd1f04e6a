// MultiScaleDeformableAttention on the CPU: the kernel core's taps and fma accumulation, in the
// order the CUDA kernel uses (levels, points, taps), one (batch, query, head) at a time.
#include <string>
#include <vector>

#include "host_api.h"
#include "multi_scale_deformable_attention_attrs.h"
#include "multi_scale_deformable_attention_core.h"
#include "multi_scale_deformable_attention_shape.h"

namespace pykit { namespace multi_scale_deformable_attention {
namespace {
namespace py = pybind11;

template <class T>
void attend(const Geometry& g, const std::vector<Level>& levels, const T* value, const T* locations, const T* weights,
            T* output) {
    std::vector<float> acc(std::size_t(g.channels));
    for (std::int64_t b = 0; b < g.batch; ++b)
        for (std::int64_t q = 0; q < g.queries; ++q)
            for (std::int64_t m = 0; m < g.heads; ++m) {
                std::fill(acc.begin(), acc.end(), 0.f);
                const std::int64_t row = weights_row(g, b, q, m);
                for (std::int64_t l = 0; l < g.levels; ++l)
                    for (std::int64_t p = 0; p < g.points; ++p) {
                        const std::int64_t k = row + l * g.points + p;
                        Taps t;
                        if (!taps(levels[std::size_t(l)], load(locations[2 * k]), load(locations[2 * k + 1]),
                                  load(weights[k]), t))
                            continue;
                        for (int tap = 0; tap < 4; ++tap) {
                            if (t.key[tap] < 0) continue;
                            const T* v = value + value_row(g, b, t.key[tap], m);
                            for (std::int64_t c = 0; c < g.channels; ++c)
                                acc[std::size_t(c)] = std::fma(t.weight[tap], load(v[c]), acc[std::size_t(c)]);
                        }
                    }
                T* out = output + ((b * g.queries + q) * g.heads + m) * g.channels;
                for (std::int64_t c = 0; c < g.channels; ++c) store(out[c], acc[std::size_t(c)]);
            }
}

std::vector<py::array> run(const host::Call& call) {
    const std::string name = Attrs::kPluginName;
    (void)host::attrs_from_dict<Attrs>(call.attrs);  // no attributes: refuses unknown ones
    // Counts, dtypes, ranks and contiguity, checked against the compiled spec.
    const auto bound = host::bind<Attrs>(call);
    const auto v = bound.shape(0), s = bound.shape(1), st = bound.shape(2), l = bound.shape(3), w = bound.shape(4);
    const Geometry g = make_geometry(v.data(), s.data(), st.data(), l.data(), w.data());
    // The levels are host data here: a level outside value is an error (the CUDA kernel, which
    // cannot report one, skips it).
    std::vector<Level> levels;
    const auto* hw = bound.data<std::int32_t>(1);
    const auto* start = bound.data<std::int32_t>(2);
    for (std::int64_t k = 0; k < g.levels; ++k) {
        levels.push_back(make_level(hw[2 * k], hw[2 * k + 1], start[k], g.keys));
        require(levels.back().fits, name,
                "level " + std::to_string(k) + ": input 'value_spatial_shapes' (H, W) = (" + std::to_string(hw[2 * k]) +
                    ", " + std::to_string(hw[2 * k + 1]) + ") at input 'value_level_start_index' " +
                    std::to_string(start[k]) + " does not lie inside value's " + std::to_string(g.keys) + " keys");
    }
    py::array out = bound.output(0, {py::ssize_t(g.batch), py::ssize_t(g.queries), py::ssize_t(g.heads * g.channels)});
    switch (bound.precision()) {
        case Precision::kFP32:
            attend(g, levels, bound.data<float>(0), bound.data<float>(3), bound.data<float>(4),
                   static_cast<float*>(out.mutable_data()));
            return {out};
        case Precision::kFP16:
            attend(g, levels, bound.data<std::uint16_t>(0), bound.data<std::uint16_t>(3), bound.data<std::uint16_t>(4),
                   static_cast<std::uint16_t*>(out.mutable_data()));
            return {out};
        case Precision::kINT8: break;  // not in the spec (see its header): bind() refused it already
    }
    throw Error(name + ": no host path for precision " + call.precision);
}
}  // namespace

PYKIT_REGISTER_HOST_PLUGIN(Attrs, run);

} }  // namespace pykit::multi_scale_deformable_attention
