// LayerNorm on the CPU: the kernel core's row loop (same fp32 arithmetic and summation depth).
#include <string>
#include <vector>

#include <pybind11/stl.h>  // array attributes <-> Python lists

#include "host_api.h"
#include "layer_norm_attrs.h"
#include "layer_norm_core.h"

namespace pykit { namespace layer_norm {
namespace {
namespace py = pybind11;

// scale/bias must hold x.shape[axis:], optionally with leading 1s.
void check_affine(const py::array& t, const py::array& x, int axis, const std::string& tensor) {
    const int norm_rank = int(x.ndim()) - axis;
    bool ok = int(t.ndim()) >= norm_rank;
    for (int k = 0; ok && k < int(t.ndim()); ++k) {
        const int from_end = int(t.ndim()) - k;  // 1 = last dim
        ok = from_end <= norm_rank ? t.shape(k) == x.shape(x.ndim() - from_end) : t.shape(k) == 1;
    }
    require(ok, Attrs::kPluginName, "input '" + tensor + "' must have shape x.shape[axis:] (optionally with leading 1s)");
}

template <class T>
void apply(const host::Bound<Attrs>& bound, py::array out, const Geometry& g, const Params& p, const Scales& s) {
    const auto* xp = bound.data<T>(0);
    const auto* gp = bound.data<T>(1);
    const auto* bp = bound.data<T>(2);
    auto* yp = static_cast<T*>(out.mutable_data());
    std::vector<float> work, partial;
    for (std::int64_t r = 0; r < g.rows; ++r)
        normalize_row_host(xp + r * g.cols, gp, bp, yp + r * g.cols, g.cols, p.epsilon, s, work, partial);
}

std::vector<py::array> run(const host::Call& call) {
    const std::string name = Attrs::kPluginName;
    const Attrs attrs = host::attrs_from_dict<Attrs>(call.attrs);
    const auto bound = host::bind<Attrs>(call);  // counts, dtypes, ranks, contiguity, int8 scales
    const py::array& x = bound.input(0);
    const int axis = normalized_axis(attrs.axis, int(x.ndim()));
    require(axis >= 0, name, "attribute 'axis' = " + std::to_string(attrs.axis) + " is outside [-r, r) for x of rank " +
                                 std::to_string(x.ndim()));
    check_affine(bound.input(1), x, axis, "scale");
    check_affine(bound.input(2), x, axis, "bias");
    std::int64_t rows = 1, cols = 1;
    for (int k = 0; k < int(x.ndim()); ++k) (k < axis ? rows : cols) *= x.shape(k);
    require(cols <= INT32_MAX, name, "rows of more than 2^31-1 elements are not supported");
    const Geometry g{rows, std::int32_t(cols)};
    const Params params = make_params(attrs);

    const py::array y = bound.output(0, bound.shape(0));
    switch (bound.precision()) {
        case Precision::kFP32: apply<float>(bound, y, g, params, Scales{}); break;
        case Precision::kFP16: apply<std::uint16_t>(bound, y, g, params, Scales{}); break;
        case Precision::kINT8:
            apply<std::int8_t>(bound, y, g, params,
                               Scales{bound.input_scale(0), bound.input_scale(1), bound.input_scale(2), bound.output_scale(0)});
            break;
    }
    return {y};
}
}  // namespace

PYKIT_REGISTER_HOST_PLUGIN(Attrs, run);

} }  // namespace pykit::layer_norm
