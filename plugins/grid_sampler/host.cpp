// GridSample on the CPU: the kernel core's per-location body in a loop (same fp32 arithmetic).
#include <string>
#include <vector>

#include <pybind11/stl.h>  // array attributes <-> Python lists

#include "host_api.h"
#include "grid_sampler_attrs.h"
#include "grid_sampler_core.h"
#include "grid_sampler_shape.h"

namespace pykit { namespace grid_sampler {
namespace {
namespace py = pybind11;

// The CUDA kernel's grouping (V locations per thread where out_plane % V == 0), so the host runs
// the same code path the GPU runs for this shape.
template <int K, int AXES, class T, class G>
void apply(const T* x, const G* grid, T* y, const Geometry& g, const Params& p, float s_in, float s_out) {
    constexpr int V = locations_per_thread<K, AXES, T>();
    if (V > 1 && g.out_plane % V == 0) {
        for (std::int64_t loc = 0; loc < g.n * g.out_plane; loc += V)
            sample_locations<K, AXES, V>(x, grid, y, g, p, loc, s_in, s_out);
    } else {
        for (std::int64_t loc = 0; loc < g.n * g.out_plane; ++loc) sample_locations<K, AXES, 1>(x, grid, y, g, p, loc, s_in, s_out);
    }
}

template <class T, class G>
void dispatch(const T* x, const G* grid, T* y, const Geometry& g, const Params& p, float s_in, float s_out) {
    if (g.axes == 2) {
        if (p.mode == Mode::kNearest) apply<1, 2>(x, grid, y, g, p, s_in, s_out);
        else if (p.mode == Mode::kLinear) apply<2, 2>(x, grid, y, g, p, s_in, s_out);
        else apply<4, 2>(x, grid, y, g, p, s_in, s_out);
    } else {
        if (p.mode == Mode::kNearest) apply<1, 3>(x, grid, y, g, p, s_in, s_out);
        else apply<2, 3>(x, grid, y, g, p, s_in, s_out);  // cubic 5-D refused by check_shapes
    }
}

std::vector<py::array> run(const host::Call& call) {
    const Attrs attrs = host::attrs_from_dict<Attrs>(call.attrs);
    const Params params = make_params(attrs);
    const auto bound = host::bind<Attrs>(call);  // counts, dtypes, ranks, contiguity, int8 scales
    const py::array& x = bound.input(0);
    const py::array& grid = bound.input(1);
    std::int64_t y_shape[5];
    check_shapes(x.shape(), int(x.ndim()), grid.shape(), int(grid.ndim()), params, y_shape);
    py::array y = bound.output(0, std::vector<py::ssize_t>(y_shape, y_shape + x.ndim()));
    if (y.size() == 0) return {y};
    const Geometry g = make_geometry(x.shape(), grid.shape(), int(x.ndim()));
    const float s_in = bound.input_scale(0), s_out = bound.output_scale(0);
    switch (bound.precision()) {
        case Precision::kFP32:
            dispatch(bound.data<float>(0), bound.data<float>(1), static_cast<float*>(y.mutable_data()), g, params, s_in, s_out);
            break;
        case Precision::kFP16:
            dispatch(bound.data<std::uint16_t>(0), bound.data<std::uint16_t>(1), static_cast<std::uint16_t*>(y.mutable_data()),
                     g, params, s_in, s_out);
            break;
        case Precision::kINT8:
            dispatch(bound.data<std::int8_t>(0), bound.data<float>(1), static_cast<std::int8_t*>(y.mutable_data()), g,
                     params, s_in, s_out);
            break;
    }
    return {y};
}
}  // namespace

PYKIT_REGISTER_HOST_PLUGIN(Attrs, run);

} }  // namespace pykit::grid_sampler
