// The host backend's plugin interface. A plugin folder's host.cpp runs its kernel core on the CPU
// and registers itself with PYKIT_REGISTER_HOST_PLUGIN; CMake compiles every plugins/*/host.cpp
// into the one `pykit._host` module, so a new plugin needs no edit anywhere else.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common/fields.h"
#include "common/io.h"

namespace pykit { namespace host {

namespace py = pybind11;

// One call of a plugin: inputs in spec order, typed for the precision (float32 / float16 / int8
// for float tensors; int32 as the spec says), INT8 scales per input and output (1.0 where unused).
struct Call {
    std::vector<py::array> inputs;
    py::dict attrs;
    std::string precision;  // "fp32", "fp16" or "int8"
    std::vector<float> input_scales;
    std::vector<float> output_scales;
};

struct PluginEntry {
    std::function<std::vector<py::array>(const Call&)> run;
    std::function<py::bytes(const py::dict&)> serialize;
    std::function<py::dict(const py::bytes&)> deserialize;
    std::function<py::list()> fields;
    std::function<py::dict()> io;
    std::uint32_t schema_hash;
};

std::map<std::string, PluginEntry>& registry();

// ---- attributes: Python dict <-> the generated Attrs struct, through the same parser the
// TensorRT creator uses (common/fields.h), so both reject the same inputs the same way.

template <class Attrs>
Attrs attrs_from_dict(const py::dict& given) {
    struct Owned {
        std::vector<std::int32_t> ints;
        std::vector<float> floats;
        std::string text;
    };
    std::vector<Owned> owned(py::len(given));
    std::vector<std::string> names;
    std::vector<FieldView> views;
    names.reserve(owned.size());
    std::size_t i = 0;
    for (auto item : given) {
        names.push_back(py::cast<std::string>(item.first));
        const FieldRecord* record = nullptr;
        for (std::size_t k = 0; k < Attrs::kNumFields; ++k)
            if (names.back() == Attrs::kFields[k].name) record = &Attrs::kFields[k];
        if (record == nullptr)
            throw Error(std::string(Attrs::kPluginName) + ": unknown attribute '" + names.back() + "'");
        const std::string label = std::string(Attrs::kPluginName) + ": attribute '" + names.back() + "'";
        py::handle value = item.second;
        Owned& o = owned[i++];
        FieldView view{nullptr, record->kind, nullptr, 0};
        if (record->kind == FieldKind::kString) {
            if (!py::isinstance<py::str>(value)) throw Error(label + ": expects a string");
            o.text = py::cast<std::string>(value);
            view.data = o.text.data();
            view.length = std::int32_t(o.text.size());
        } else {
            py::list items;
            if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
                if (!record->array) throw Error(label + ": expects one value, got a list");
                items = py::list(py::reinterpret_borrow<py::object>(value));
            } else {
                items.append(value);
            }
            for (py::handle x : items) {
                if (py::isinstance<py::bool_>(x) || !(py::isinstance<py::int_>(x) || py::isinstance<py::float_>(x)))
                    throw Error(label + ": expects " + kind_name(record->kind) + " values");
                if (record->kind == FieldKind::kInt32) {
                    if (!py::isinstance<py::int_>(x)) throw Error(label + ": expects integers");
                    const long long v = py::cast<long long>(x);
                    if (v < INT32_MIN || v > INT32_MAX) throw Error(label + ": " + std::to_string(v) + " does not fit in int32");
                    o.ints.push_back(std::int32_t(v));
                } else {
                    o.floats.push_back(py::cast<float>(x));
                }
            }
            view.data = record->kind == FieldKind::kInt32 ? static_cast<const void*>(o.ints.data()) : o.floats.data();
            view.length = std::int32_t(items.size());
        }
        views.push_back(view);
    }
    for (std::size_t k = 0; k < views.size(); ++k) views[k].name = names[k].c_str();
    return parse_fields<Attrs>(views.data(), views.size());
}

struct DictWriter {
    py::dict& out;
    template <class T>
    void operator()(const FieldRecord& r, const T& v) const { out[r.name] = v; }
};

template <class Attrs>
py::dict attrs_to_dict(const Attrs& a) {
    py::dict out;
    a.visit(DictWriter{out});
    return out;
}

template <class Attrs>
py::list field_table() {
    py::list out;
    for (std::size_t k = 0; k < Attrs::kNumFields; ++k) {
        const FieldRecord& r = Attrs::kFields[k];
        py::dict d;
        d["name"] = r.name;
        d["type"] = std::string(kind_name(r.kind)) + (r.array ? "[]" : "");
        d["required"] = r.required;
        d["min"] = r.has_min ? py::object(py::float_(r.min)) : py::object(py::none());
        d["max"] = r.has_max ? py::object(py::float_(r.max)) : py::object(py::none());
        py::list choices;
        for (int c = 0; c < r.num_choices; ++c) choices.append(r.choices[c]);
        d["choices"] = choices;
        out.append(d);
    }
    return out;
}

// The compiled IO table as Python sees it (tests hold it to the spec).
template <class IO>
py::dict io_table() {
    py::list inputs, outputs, precisions;
    py::dict dtypes, ranks;
    for (int k = 0; k < IO::kNumTensors; ++k) (k < IO::kNumInputs ? inputs : outputs).append(IO::kNames[k]);
    for (int row = 0; row < IO::kNumPrecisions; ++row) {
        const char* p = precision_name(IO::kPrecisions[row]);
        precisions.append(p);
        py::list d, r;
        for (int k = 0; k < IO::kNumTensors; ++k) {
            d.append(dtype_name(IO::kDtypes[row][k]));
            py::list allowed;
            for (int rank = 0; rank < 32; ++rank)
                if ((IO::kRanks[row][k] >> rank) & 1u) allowed.append(rank);
            r.append(allowed);
        }
        dtypes[p] = d;
        ranks[p] = r;
    }
    py::dict out;
    out["inputs"] = inputs;
    out["outputs"] = outputs;
    out["precisions"] = precisions;
    out["dtypes"] = dtypes;
    out["ranks"] = ranks;
    return out;
}

template <class Attrs>
struct Registrar {
    explicit Registrar(std::function<std::vector<py::array>(const Call&)> run) {
        PluginEntry e;
        e.run = std::move(run);
        e.serialize = [](const py::dict& d) {
            const Attrs a = attrs_from_dict<Attrs>(d);
            std::string buf(serialized_size(a), '\0');
            serialize_attrs(a, &buf[0], buf.size());
            return py::bytes(buf);
        };
        e.deserialize = [](const py::bytes& b) {
            const std::string buf = b;
            return attrs_to_dict(deserialize_attrs<Attrs>(buf.data(), buf.size()));
        };
        e.fields = [] { return field_table<Attrs>(); };
        e.io = [] { return io_table<typename Attrs::IO>(); };
        e.schema_hash = Attrs::kSchemaHash;
        registry()[Attrs::kPluginName] = std::move(e);
    }
};

// ---- the call checked against the compiled spec (Attrs::IO) --------------------------------

// The spec dtype of a numpy array, if it has one.
inline bool dtype_of(const py::array& a, Dtype& out) {
    const char kind = a.dtype().kind();
    const auto size = a.dtype().itemsize();
    if (kind == 'f' && size == 4) out = Dtype::kFloat32;
    else if (kind == 'f' && size == 2) out = Dtype::kFloat16;
    else if (kind == 'i' && size == 1) out = Dtype::kInt8;
    else if (kind == 'i' && size == 4) out = Dtype::kInt32;
    else if (kind == 'i' && size == 8) out = Dtype::kInt64;
    else if (kind == 'b' && size == 1) out = Dtype::kBool;
    else return false;
    return true;
}

inline py::dtype numpy_dtype(Dtype d) {
    switch (d) {
        case Dtype::kFloat32: return py::dtype("float32");
        case Dtype::kFloat16: return py::dtype("float16");
        case Dtype::kInt8: return py::dtype("int8");
        case Dtype::kInt32: return py::dtype("int32");
        case Dtype::kInt64: return py::dtype("int64");
        case Dtype::kBool: return py::dtype("bool");
    }
    return py::dtype("float32");
}

struct NoExtra {
    bool operator()(int, Dtype) const { return false; }
};

// One host call after bind() checked it: the precision, and the inputs' data and scales.
template <class Attrs>
class Bound {
public:
    using IO = typename Attrs::IO;
    Bound(const Call& call, int row, std::vector<float> input_scales, std::vector<float> output_scales)
        : call_(call), row_(row), input_scales_(std::move(input_scales)), output_scales_(std::move(output_scales)) {}

    Precision precision() const { return IO::kPrecisions[row_]; }
    const py::array& input(int k) const { return call_.inputs[std::size_t(k)]; }
    template <class T>
    const T* data(int k) const { return static_cast<const T*>(input(k).data()); }
    Dtype input_dtype(int k) const {
        Dtype d = IO::kDtypes[row_][k];
        dtype_of(input(k), d);  // the plugin's extra type where it took one
        return d;
    }
    std::vector<py::ssize_t> shape(int k) const {
        return std::vector<py::ssize_t>(input(k).shape(), input(k).shape() + input(k).ndim());
    }
    // INT8 scales (1 for tensors that are not int8 at this precision).
    // The plugin's int8_scales attribute where given, else the caller's (as TensorRT's bases do).
    float input_scale(int k) const { return IO::kDtypes[row_][k] == Dtype::kInt8 ? input_scales_[std::size_t(k)] : 1.f; }
    float output_scale(int k) const {
        return IO::kDtypes[row_][IO::kNumInputs + k] == Dtype::kInt8 ? output_scales_[std::size_t(k)] : 1.f;
    }
    // A new array for output k in the spec's dtype at this precision.
    py::array output(int k, const std::vector<py::ssize_t>& shape) const {
        return py::array(numpy_dtype(IO::kDtypes[row_][IO::kNumInputs + k]), shape);
    }

private:
    const Call& call_;
    int row_;
    std::vector<float> input_scales_, output_scales_;
};

// Checks a host call against the spec: the number of inputs, the precision (one the spec offers),
// every input's dtype at that precision (or the plugin's documented `extra(pos, dtype)`), rank and
// C-contiguity, and for int8 one finite positive scale per quantized tensor. Errors name the
// plugin and the tensor. What remains for host.cpp is the op's own shape logic and the call.
template <class Attrs, class Extra = NoExtra>
Bound<Attrs> bind(const Call& call, Extra extra = {}) {
    using IO = typename Attrs::IO;
    const std::string name = Attrs::kPluginName;
    std::string offered;
    int row = -1;
    for (int r = 0; r < IO::kNumPrecisions; ++r) {
        offered += std::string(r ? ", " : "") + precision_name(IO::kPrecisions[r]);
        if (call.precision == precision_name(IO::kPrecisions[r])) row = r;
    }
    require(row >= 0, name, "precision '" + call.precision + "' is not in the spec (" + offered + ")");
    std::string names;
    for (int k = 0; k < IO::kNumInputs; ++k) names += std::string(k ? ", " : "") + IO::kNames[k];
    require(int(call.inputs.size()) == IO::kNumInputs, name,
            "expects " + std::to_string(IO::kNumInputs) + " input(s) (" + names + "), got " +
                std::to_string(call.inputs.size()));
    for (int k = 0; k < IO::kNumInputs; ++k) {
        const py::array& a = call.inputs[std::size_t(k)];
        const std::string tensor = std::string("input '") + IO::kNames[k] + "'";
        const Dtype want = IO::kDtypes[row][k];
        Dtype got;
        const bool known = dtype_of(a, got);
        require(known && (got == want || extra(k, got)), name,
                tensor + " must be " + dtype_name(want) + " at " + call.precision + ", got " + std::string(py::str(a.dtype())));
        const auto rank = a.ndim();
        require(rank < 32 && ((IO::kRanks[row][k] >> rank) & 1u), name,
                tensor + " has rank " + std::to_string(rank) + ", which the spec does not allow at " + call.precision);
        require((a.flags() & py::array::c_style) != 0, name, tensor + " must be C-contiguous");
    }
    std::vector<float> input_scales = call.input_scales, output_scales = call.output_scales;
    if (call.precision == "int8") {
        require(int(call.input_scales.size()) == IO::kNumInputs && int(call.output_scales.size()) == IO::kNumOutputs,
                name, "int8 needs one scale per input and per output");
        // The int8_scales attribute, where given, replaces the caller's scales of the int8 tensors: the
        // same meaning as in the TensorRT bases (common/trt/plugin_base.h, ScaledDescs), so one plugin
        // node computes the same on both backends. The caller still passes its own (checked below).
        if constexpr (Attrs::kNumInt8Scales > 0) {
            const Attrs attrs = attrs_from_dict<Attrs>(call.attrs);  // checks length and values
            for (std::size_t k = 0; k < attrs.int8_scales.size(); ++k) {
                const int pos = Attrs::kInt8ScalePositions[k];
                (pos < IO::kNumInputs ? input_scales[std::size_t(pos)] : output_scales[std::size_t(pos - IO::kNumInputs)]) =
                    attrs.int8_scales[k];
            }
        }
        for (int k = 0; k < IO::kNumTensors; ++k) {
            if (IO::kDtypes[row][k] != Dtype::kInt8) continue;
            const float s = k < IO::kNumInputs ? call.input_scales[std::size_t(k)]
                                               : call.output_scales[std::size_t(k - IO::kNumInputs)];
            require(std::isfinite(s) && s > 0.f, name,
                    std::string("the int8 scale of '") + IO::kNames[k] + "' must be finite and positive, got " +
                        std::to_string(s));
        }
    }
    return Bound<Attrs>(call, row, std::move(input_scales), std::move(output_scales));
}

} }  // namespace pykit::host

#define PYKIT_HOST_CONCAT_(a, b) a##b
#define PYKIT_HOST_CONCAT(a, b) PYKIT_HOST_CONCAT_(a, b)
#define PYKIT_REGISTER_HOST_PLUGIN(AttrsType, run_fn) \
    static ::pykit::host::Registrar<AttrsType> PYKIT_HOST_CONCAT(pykit_host_registrar_, __LINE__){run_fn}
