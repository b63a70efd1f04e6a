// ScatterElementsReduce on the CPU: the kernel core applied sequentially, in index order (so the
// host backend is deterministic, and "none" keeps the last of duplicate updates).
#include <vector>

#include "host_api.h"
#include "scatter_elements_reduce_attrs.h"
#include "scatter_elements_reduce_core.h"
#include "scatter_elements_reduce_shape.h"
#include "common/numeric.h"

namespace pykit { namespace scatter_elements_reduce {
namespace {
namespace py = pybind11;

template <class Index, class T>
void scatter(const Geometry& g, Reduction r, const Index* indices, const T* updates, std::vector<float>& out) {
    const std::int64_t n = g.index_elements();
    for (std::int64_t e = 0; e < n; ++e) {
        const std::int64_t dest = destination(g, e, indices[index_offset(g, e)]);
        if (dest < 0) continue;
        float& slot = out[std::size_t(dest)];
        slot = combine(r, slot, float(updates[e]));
    }
}

struct HalfBits {  // binary16 storage, widened exactly
    std::uint16_t bits;
    explicit operator float() const { return half_bits_to_float(bits); }
};

std::vector<py::array> run(const host::Call& call) {
    const std::string name = Attrs::kPluginName;
    const Attrs attrs = host::attrs_from_dict<Attrs>(call.attrs);
    const Reduction reduction = parse_reduction(attrs.reduction);
    // The spec's exception (its 'indices' doc): int64 indices are taken as they are.
    const auto bound = host::bind<Attrs>(call, [](int pos, Dtype d) { return pos == 1 && d == Dtype::kInt64; });
    const py::array& data = bound.input(0);
    const py::array& indices = bound.input(1);

    std::vector<py::ssize_t> data_shape = bound.shape(0), index_shape = bound.shape(1), update_shape = bound.shape(2);
    const Geometry g = make_geometry(attrs.axis, attrs.broadcast_indices != 0, std::int32_t(data.ndim()), data_shape.data(),
                                     std::int32_t(indices.ndim()), index_shape.data(), std::int32_t(update_shape.size()),
                                     update_shape.data());

    const std::int64_t n = g.data_elements();
    std::vector<float> acc(std::size_t(n > 0 ? n : 0));  // the fp32 accumulator (the output itself for fp32)
    auto apply = [&](const auto* upd) {
        if (bound.input_dtype(1) == Dtype::kInt64) scatter(g, reduction, bound.data<std::int64_t>(1), upd, acc);
        else scatter(g, reduction, bound.data<std::int32_t>(1), upd, acc);
    };

    py::array out = bound.output(0, data_shape);
    switch (bound.precision()) {
        case Precision::kFP32: {
            const auto* d = bound.data<float>(0);
            acc.assign(d, d + n);
            apply(bound.data<float>(2));
            std::copy(acc.begin(), acc.end(), static_cast<float*>(out.mutable_data()));
            return {out};
        }
        case Precision::kFP16: {
            const auto* d = bound.data<HalfBits>(0);
            for (std::int64_t i = 0; i < n; ++i) acc[std::size_t(i)] = float(d[i]);
            apply(bound.data<HalfBits>(2));
            auto* o = static_cast<std::uint16_t*>(out.mutable_data());
            for (std::int64_t i = 0; i < n; ++i) o[i] = float_to_half_bits(acc[std::size_t(i)]);
            return {out};
        }
        case Precision::kINT8: break;  // not in the spec (see its header): bind() refused it already
    }
    throw Error(name + ": no host path for precision " + call.precision);
}
}  // namespace

PYKIT_REGISTER_HOST_PLUGIN(Attrs, run);

} }  // namespace pykit::scatter_elements_reduce
