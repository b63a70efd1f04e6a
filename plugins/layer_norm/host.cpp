// LayerNorm on the CPU: the kernel core as plain loops over numpy arrays (pykit._host).
#include <string>
#include <vector>

#include <pybind11/stl.h>  // array attributes <-> Python lists

#include "host_api.h"
#include "layer_norm_attrs.h"
#include "layer_norm_core.h"

namespace pykit { namespace layer_norm {
namespace {
namespace py = pybind11;

// One output: the core's output_value for every element (TODO(layer_norm): the real op's loops).
template <class T>
py::array apply(const py::array& x, const Params& params, float in_scale, float out_scale, const py::dtype& dtype) {
    py::array out(dtype, std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    const Geometry g{std::int64_t(x.size())};
    const auto* src = static_cast<const T*>(x.data());
    auto* dst = static_cast<T*>(out.mutable_data());
    for (std::int64_t i = 0; i < g.elements; ++i) dst[i] = output_value(src, i, params, in_scale, out_scale);
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

    if (call.precision == "fp32") {
        host::elements<float>(x, host::has_dtype<float>(x), name, "x", "float32");
        host::elements<float>(scale, host::has_dtype<float>(scale), name, "scale", "float32");
        host::elements<float>(bias, host::has_dtype<float>(bias), name, "bias", "float32");
        return { apply<float>(x, params, 1.f, 1.f, py::dtype::of<float>()) };
    }

    if (call.precision == "fp16") {
        host::elements<std::uint16_t>(x, host::is_float16(x), name, "x", "float16");
        host::elements<std::uint16_t>(scale, host::is_float16(scale), name, "scale", "float16");
        host::elements<std::uint16_t>(bias, host::is_float16(bias), name, "bias", "float16");
        return { apply<std::uint16_t>(x, params, 1.f, 1.f, py::dtype("float16")) };
    }

    if (call.precision == "int8") {
        host::elements<std::int8_t>(x, host::has_dtype<std::int8_t>(x), name, "x", "int8");
        host::elements<std::int8_t>(scale, host::has_dtype<std::int8_t>(scale), name, "scale", "int8");
        host::elements<std::int8_t>(bias, host::has_dtype<std::int8_t>(bias), name, "bias", "int8");
        require(call.input_scales.size() == 3 && call.output_scales.size() == 1, name,
                "int8 needs one scale per input and per output");
        const float s_in = call.input_scales[0];
        require(s_in > 0.f && call.output_scales[0] > 0.f, name, "int8 scales must be positive");
        return { apply<std::int8_t>(x, params, s_in, call.output_scales[0], py::dtype::of<std::int8_t>()) };
    }
    throw Error(name + ": precision '" + call.precision + "' is not in the spec (fp32, fp16, int8)");
}
}  // namespace

PYKIT_REGISTER_HOST_PLUGIN(Attrs, run);

} }  // namespace pykit::layer_norm
