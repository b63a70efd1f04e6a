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
py::array apply(const py::array& x, const py::array& scale, const py::array& bias, const Geometry& g, const Params& p,
                const Scales& s, const py::dtype& dtype) {
    py::array out(dtype, std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    const auto* xp = static_cast<const T*>(x.data());
    const auto* gp = static_cast<const T*>(scale.data());
    const auto* bp = static_cast<const T*>(bias.data());
    auto* yp = static_cast<T*>(out.mutable_data());
    std::vector<float> work, partial;
    for (std::int64_t r = 0; r < g.rows; ++r)
        normalize_row_host(xp + r * g.cols, gp, bp, yp + r * g.cols, g.cols, p.epsilon, s, work, partial);
    return out;
}

std::vector<py::array> run(const host::Call& call) {
    const std::string name = Attrs::kPluginName;
    const Attrs attrs = host::attrs_from_dict<Attrs>(call.attrs);
    const Params params = make_params(attrs);
    require(call.inputs.size() == 3, name, "expects 3 input(s) (x, scale, bias)");
    const py::array& x = call.inputs[0];
    const py::array& scale = call.inputs[1];
    const py::array& bias = call.inputs[2];
    const int axis = normalized_axis(attrs.axis, int(x.ndim()));
    require(axis >= 0, name, "attribute 'axis' = " + std::to_string(attrs.axis) + " is outside [-r, r) for x of rank " +
                                 std::to_string(x.ndim()));
    check_affine(scale, x, axis, "scale");
    check_affine(bias, x, axis, "bias");
    std::int64_t rows = 1, cols = 1;
    for (int k = 0; k < int(x.ndim()); ++k) (k < axis ? rows : cols) *= x.shape(k);
    require(cols <= INT32_MAX, name, "rows of more than 2^31-1 elements are not supported");
    const Geometry g{rows, std::int32_t(cols)};

    if (call.precision == "fp32") {
        host::elements<float>(x, host::has_dtype<float>(x), name, "x", "float32");
        host::elements<float>(scale, host::has_dtype<float>(scale), name, "scale", "float32");
        host::elements<float>(bias, host::has_dtype<float>(bias), name, "bias", "float32");
        return {apply<float>(x, scale, bias, g, params, Scales{}, py::dtype::of<float>())};
    }
    if (call.precision == "fp16") {
        host::elements<std::uint16_t>(x, host::is_float16(x), name, "x", "float16");
        host::elements<std::uint16_t>(scale, host::is_float16(scale), name, "scale", "float16");
        host::elements<std::uint16_t>(bias, host::is_float16(bias), name, "bias", "float16");
        return {apply<std::uint16_t>(x, scale, bias, g, params, Scales{}, py::dtype("float16"))};
    }
    if (call.precision == "int8") {
        host::elements<std::int8_t>(x, host::has_dtype<std::int8_t>(x), name, "x", "int8");
        host::elements<std::int8_t>(scale, host::has_dtype<std::int8_t>(scale), name, "scale", "int8");
        host::elements<std::int8_t>(bias, host::has_dtype<std::int8_t>(bias), name, "bias", "int8");
        require(call.input_scales.size() == 3 && call.output_scales.size() == 1, name,
                "int8 needs one scale per input and per output");
        Scales s;
        s.x = call.input_scales[0];
        s.scale = call.input_scales[1];
        s.bias = call.input_scales[2];
        s.y = call.output_scales[0];
        require(s.x > 0.f && s.scale > 0.f && s.bias > 0.f && s.y > 0.f, name, "int8 scales must be positive");
        return {apply<std::int8_t>(x, scale, bias, g, params, s, py::dtype::of<std::int8_t>())};
    }
    throw Error(name + ": precision '" + call.precision + "' is not in the spec (fp32, fp16, int8)");
}
}  // namespace

PYKIT_REGISTER_HOST_PLUGIN(Attrs, run);

} }  // namespace pykit::layer_norm
