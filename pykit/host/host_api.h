// The host backend's plugin interface. A plugin folder's host.cpp runs its kernel core on the CPU
// and registers itself with PYKIT_REGISTER_HOST_PLUGIN; CMake compiles every plugins/*/host.cpp
// into the one `pykit._host` module, so a new plugin needs no edit anywhere else.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common/fields.h"

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
        e.schema_hash = Attrs::kSchemaHash;
        registry()[Attrs::kPluginName] = std::move(e);
    }
};

// ---- array checks for host entries: errors name the plugin and the tensor.

template <class T>
bool has_dtype(const py::array& a) {
    return a.dtype().is(py::dtype::of<T>());
}

inline bool is_float16(const py::array& a) { return a.dtype().kind() == 'f' && a.dtype().itemsize() == 2; }

// Pointer to the elements of `a` after checking dtype (by `ok`) and C-contiguity.
template <class T>
const T* elements(const py::array& a, bool dtype_ok, const std::string& plugin, const std::string& tensor,
                  const std::string& expected) {
    require(dtype_ok, plugin, "input '" + tensor + "' must be " + expected + ", got " + std::string(py::str(a.dtype())));
    require((a.flags() & py::array::c_style) != 0, plugin, "input '" + tensor + "' must be C-contiguous");
    return static_cast<const T*>(a.data());
}

} }  // namespace pykit::host

#define PYKIT_HOST_CONCAT_(a, b) a##b
#define PYKIT_HOST_CONCAT(a, b) PYKIT_HOST_CONCAT_(a, b)
#define PYKIT_REGISTER_HOST_PLUGIN(AttrsType, run_fn) \
    static ::pykit::host::Registrar<AttrsType> PYKIT_HOST_CONCAT(pykit_host_registrar_, __LINE__){run_fn}
