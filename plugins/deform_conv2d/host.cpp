// DeformConv on the CPU: the kernel core's column values (deform_conv2d_core.h, as the CUDA im2col
// computes them), then per image and group the GEMM y = weight * columns + bias with one sequential
// fp32 accumulation per output, as the CUDA GEMM does.
#include <algorithm>
#include <string>
#include <vector>

#include <pybind11/stl.h>  // array attributes <-> Python lists

#include "host_api.h"
#include "deform_conv2d_attrs.h"
#include "deform_conv2d_core.h"

namespace pykit { namespace deform_conv2d {
namespace {
namespace py = pybind11;

template <class T>
void apply(const host::Bound<Attrs>& bound, py::array out, const Geometry& g) {
    const T* x = bound.data<T>(0);
    const T* weight = bound.data<T>(1);
    const T* offset = bound.data<T>(2);
    const T* bias = bound.data<T>(3);
    const T* mask = bound.data<T>(4);
    T* y = static_cast<T*>(out.mutable_data());
    const std::int64_t rows = g.column_rows(), pixels = g.pixels(), k = g.taps(), ocg = g.oc / g.group;
    std::vector<float> cols(static_cast<std::size_t>(rows * pixels));
    std::vector<float> acc(static_cast<std::size_t>(pixels));
    for (std::int32_t n = 0; n < g.n; ++n) {
        for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t p = 0; p < pixels; ++p) cols[std::size_t(r * pixels + p)] = column_value(x, offset, mask, g, n, r, p);
        for (std::int32_t grp = 0; grp < g.group; ++grp) {
            const float* b = cols.data() + grp * k * pixels;
            for (std::int64_t m = 0; m < ocg; ++m) {
                const std::int64_t o = grp * ocg + m;
                const T* wrow = weight + o * k;
                std::fill(acc.begin(), acc.end(), 0.f);
                for (std::int64_t t = 0; t < k; ++t) {
                    const float wv = load(wrow[t]);
                    const float* brow = b + t * pixels;
                    for (std::int64_t p = 0; p < pixels; ++p) acc[std::size_t(p)] += wv * brow[p];
                }
                const float bv = load(bias[o]);
                T* yrow = y + (std::int64_t(n) * g.oc + o) * pixels;
                for (std::int64_t p = 0; p < pixels; ++p) store(yrow[p], acc[std::size_t(p)] + bv);
            }
        }
    }
}

std::vector<std::int64_t> dims(const py::array& a) { return std::vector<std::int64_t>(a.shape(), a.shape() + a.ndim()); }

std::vector<py::array> run(const host::Call& call) {
    const Attrs attrs = host::attrs_from_dict<Attrs>(call.attrs);
    const auto bound = host::bind<Attrs>(call);  // counts, dtypes, ranks (4, 4, 4, 1, 4), contiguity
    const auto x = dims(bound.input(0)), w = dims(bound.input(1)), off = dims(bound.input(2)), mask = dims(bound.input(4));
    const Geometry g = make_geometry(x.data(), w.data(), off.data(), std::int64_t(bound.input(3).size()), mask.data(), attrs);
    const auto shape = output_shape(g);
    py::array y = bound.output(0, std::vector<py::ssize_t>(shape.begin(), shape.end()));
    switch (bound.precision()) {
        case Precision::kFP32: apply<float>(bound, y, g); break;
        case Precision::kFP16: apply<std::uint16_t>(bound, y, g); break;
        case Precision::kINT8: require(false, Attrs::kPluginName, "int8 is not offered (spec)"); break;
    }
    return {y};
}
}  // namespace

PYKIT_REGISTER_HOST_PLUGIN(Attrs, run);

} }  // namespace pykit::deform_conv2d
