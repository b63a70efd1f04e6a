// DeformConv on the CPU: the kernel core as plain loops over numpy arrays (pykit._host).
#include <string>
#include <vector>

#include <pybind11/stl.h>  // array attributes <-> Python lists

#include "host_api.h"
#include "deform_conv_attrs.h"
#include "deform_conv_core.h"

namespace pykit { namespace deform_conv {
namespace {
namespace py = pybind11;

constexpr int kSource = 0;  // input 'x', which the placeholder copies

// One output: the core's output_value for every element (TODO(deform_conv): the real op's loops).
template <class T>
void apply(const py::array& source, py::array out, const Params& params, float in_scale, float out_scale) {
    const Geometry g{std::int64_t(source.size())};
    const auto* src = static_cast<const T*>(source.data());
    auto* dst = static_cast<T*>(out.mutable_data());
    for (std::int64_t i = 0; i < g.elements; ++i) dst[i] = output_value(src, i, params, in_scale, out_scale);
}

std::vector<py::array> run(const host::Call& call) {
    const Attrs attrs = host::attrs_from_dict<Attrs>(call.attrs);
    const Params params = make_params(attrs);
    // Counts, dtypes, ranks, contiguity and int8 scales, checked against the compiled spec.
    const auto bound = host::bind<Attrs>(call);
    // TODO(deform_conv): check the shapes the real op needs (errors name the tensor) and size the outputs.
    const py::array& source = bound.input(kSource);
    std::vector<py::array> outputs;
    for (int k = 0; k < IO::kNumOutputs; ++k) {
        py::array out = bound.output(k, bound.shape(kSource));
        const float s_in = bound.input_scale(kSource), s_out = bound.output_scale(k);
        switch (bound.precision()) {
            case Precision::kFP32: apply<float>(source, out, params, s_in, s_out); break;
            case Precision::kFP16: apply<std::uint16_t>(source, out, params, s_in, s_out); break;
            case Precision::kINT8: apply<std::int8_t>(source, out, params, s_in, s_out); break;
        }
        outputs.push_back(out);
    }
    return outputs;
}
}  // namespace

PYKIT_REGISTER_HOST_PLUGIN(Attrs, run);

} }  // namespace pykit::deform_conv
