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
        const std::int64_t dest = destination(g, e, indices[e]);
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
    require(call.inputs.size() == 3, name, "expects 3 inputs (data, indices, updates)");
    const py::array& data = call.inputs[0];
    const py::array& indices = call.inputs[1];
    const py::array& updates = call.inputs[2];
    require(call.precision == "fp32" || call.precision == "fp16", name,
            "precision '" + call.precision + "' is not supported (fp32, fp16)");

    std::vector<py::ssize_t> data_shape(data.shape(), data.shape() + data.ndim());
    std::vector<py::ssize_t> index_shape(indices.shape(), indices.shape() + indices.ndim());
    const Geometry g = make_geometry(attrs.axis, std::int32_t(data.ndim()), data_shape.data(),
                                     std::int32_t(indices.ndim()), index_shape.data());
    std::vector<py::ssize_t> update_shape(updates.shape(), updates.shape() + updates.ndim());
    require(update_shape == index_shape, name, "input 'updates' must have the shape of 'indices'");

    const bool int64 = host::has_dtype<std::int64_t>(indices);
    const void* idx = int64 ? static_cast<const void*>(host::elements<std::int64_t>(indices, true, name, "indices", ""))
                            : host::elements<std::int32_t>(indices, host::has_dtype<std::int32_t>(indices), name,
                                                           "indices", "int32 (or int64)");
    const std::int64_t n = g.data_elements();
    std::vector<float> acc(std::size_t(n > 0 ? n : 0));  // the fp32 accumulator (the output itself for fp32)

    auto apply = [&](const auto* upd) {
        if (int64) scatter(g, reduction, static_cast<const std::int64_t*>(idx), upd, acc);
        else scatter(g, reduction, static_cast<const std::int32_t*>(idx), upd, acc);
    };

    if (call.precision == "fp32") {
        const auto* d = host::elements<float>(data, host::has_dtype<float>(data), name, "data", "float32");
        const auto* u = host::elements<float>(updates, host::has_dtype<float>(updates), name, "updates", "float32");
        acc.assign(d, d + n);
        apply(u);
        py::array out(py::dtype::of<float>(), data_shape);
        std::copy(acc.begin(), acc.end(), static_cast<float*>(out.mutable_data()));
        return {out};
    }
    const auto* d = host::elements<HalfBits>(data, host::is_float16(data), name, "data", "float16");
    const auto* u = host::elements<HalfBits>(updates, host::is_float16(updates), name, "updates", "float16");
    for (std::int64_t i = 0; i < n; ++i) acc[std::size_t(i)] = float(d[i]);
    apply(u);
    py::array out(py::dtype("float16"), data_shape);
    auto* o = static_cast<std::uint16_t*>(out.mutable_data());
    for (std::int64_t i = 0; i < n; ++i) o[i] = float_to_half_bits(acc[std::size_t(i)]);
    return {out};
}
}  // namespace

PYKIT_REGISTER_HOST_PLUGIN(Attrs, run);

} }  // namespace pykit::scatter_elements_reduce
