// Attribute records, independent of TensorRT.
//
// Each plugin's `Attrs` struct, its field table `kFields` and its `visit` function are generated
// from the plugin's spec.toml (pykit/codegen.py). This header holds the generic code that works
// on any such struct: parse a list of named fields (what a TensorRT creator or the Python host
// backend receives), check constraints, serialize and deserialize.
#pragma once

#include <cmath>
#include <cstdio>
#include <type_traits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "errors.h"
#include "serialize.h"

namespace pykit {

enum class FieldKind : int { kInt32 = 0, kFloat32 = 1, kString = 2 };

inline const char* kind_name(FieldKind k) {
    switch (k) {
        case FieldKind::kInt32: return "int32";
        case FieldKind::kFloat32: return "float32";
        case FieldKind::kString: return "string";
    }
    return "?";
}

// One attribute as the spec declares it.
struct FieldRecord {
    const char* name;
    FieldKind kind;
    bool array;
    bool required;
    bool has_min;
    double min;
    bool has_max;
    double max;
    const char* const* choices;  // string attributes only; nullptr = any
    int num_choices;
};

// One attribute as a caller hands it over (borrowed memory). For kString, `length` is the
// number of chars (a trailing NUL, if any, is ignored).
struct FieldView {
    const char* name;
    FieldKind kind;
    const void* data;
    std::int32_t length;
};

namespace detail {

inline std::string field_label(const char* plugin, const FieldRecord& r) {
    return std::string(plugin) + ": attribute '" + r.name + "'";
}

inline std::string format_number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.10g", v);  // int32 limits print whole
    return buf;
}

inline void check_number(const char* plugin, const FieldRecord& r, double v) {
    if (!std::isfinite(v)) throw Error(field_label(plugin, r) + ": value is not finite");
    if (r.has_min && v < r.min)
        throw Error(field_label(plugin, r) + ": " + format_number(v) + " is below the minimum " + format_number(r.min));
    if (r.has_max && v > r.max)
        throw Error(field_label(plugin, r) + ": " + format_number(v) + " is above the maximum " + format_number(r.max));
}

// Checks a value against its record's constraints.
struct ConstraintChecker {
    const char* plugin;
    void operator()(const FieldRecord& r, std::int32_t v) const { check_number(plugin, r, v); }
    void operator()(const FieldRecord& r, float v) const { check_number(plugin, r, v); }
    template <class T>
    void operator()(const FieldRecord& r, const std::vector<T>& v) const {
        for (const T& x : v) (*this)(r, x);
    }
    void operator()(const FieldRecord& r, const std::string& v) const {
        if (r.choices == nullptr) return;
        for (int i = 0; i < r.num_choices; ++i)
            if (v == r.choices[i]) return;
        std::string allowed;
        for (int i = 0; i < r.num_choices; ++i) allowed += (i ? ", " : "") + std::string(r.choices[i]);
        throw Error(field_label(plugin, r) + ": '" + v + "' is not one of {" + allowed + "}");
    }
};

struct FieldParser {
    const char* plugin;
    const FieldView* fields;
    std::size_t count;

    const FieldView* find(const FieldRecord& r) const {
        const FieldView* hit = nullptr;
        for (std::size_t i = 0; i < count; ++i) {
            if (fields[i].name != nullptr && std::strcmp(fields[i].name, r.name) == 0) {
                if (hit != nullptr) throw Error(field_label(plugin, r) + ": given more than once");
                hit = &fields[i];
            }
        }
        return hit;
    }

    const FieldView* expect(const FieldRecord& r, FieldKind kind) const {
        const FieldView* f = find(r);
        if (f == nullptr) {
            if (r.required) throw Error(field_label(plugin, r) + ": required attribute is missing");
            return nullptr;
        }
        if (f->kind != kind)
            throw Error(field_label(plugin, r) + ": has type " + kind_name(f->kind) + ", the spec says " + kind_name(kind));
        if (f->length < 0 || (f->length > 0 && f->data == nullptr))
            throw Error(field_label(plugin, r) + ": bad length " + std::to_string(f->length));
        if (!r.array && kind != FieldKind::kString && f->length != 1)
            throw Error(field_label(plugin, r) + ": expects one value, got " + std::to_string(f->length));
        return f;
    }

    template <class T>
    static constexpr FieldKind kind_of() {
        return std::is_same<T, float>::value ? FieldKind::kFloat32 : FieldKind::kInt32;
    }

    template <class T>
    void operator()(const FieldRecord& r, T& value) const {
        if (const FieldView* f = expect(r, kind_of<T>())) std::memcpy(&value, f->data, sizeof(T));
    }
    template <class T>
    void operator()(const FieldRecord& r, std::vector<T>& value) const {
        if (const FieldView* f = expect(r, kind_of<T>())) {
            value.resize(std::size_t(f->length));
            if (f->length > 0) std::memcpy(value.data(), f->data, sizeof(T) * std::size_t(f->length));
        }
    }
    void operator()(const FieldRecord& r, std::string& value) const {
        if (const FieldView* f = expect(r, FieldKind::kString)) {
            const char* s = static_cast<const char*>(f->data);
            std::size_t n = std::size_t(f->length);
            while (n > 0 && s[n - 1] == '\0') --n;
            value.assign(s, n);
        }
    }
};

struct PayloadWriter {
    Writer& w;
    template <class T>
    void operator()(const FieldRecord&, const T& v) const { w.put(v); }
};

struct PayloadReader {
    Reader& r;
    template <class T>
    void operator()(const FieldRecord&, T& v) const { r.get(v); }
};

}  // namespace detail

// Names in `fields` that the spec does not know: TensorRT creators drop them (callers warn).
template <class Attrs>
std::vector<std::string> unknown_fields(const FieldView* fields, std::size_t count) {
    std::vector<std::string> unknown;
    for (std::size_t i = 0; i < count; ++i) {
        bool known = false;
        for (std::size_t k = 0; k < Attrs::kNumFields; ++k)
            known = known || (fields[i].name && std::strcmp(fields[i].name, Attrs::kFields[k].name) == 0);
        if (!known) unknown.emplace_back(fields[i].name ? fields[i].name : "(null)");
    }
    return unknown;
}

// int8_scales (pykit/spec.py: every plugin whose spec offers int8 has it): empty, or one scale > 0 per
// int8 tensor, in the order of Attrs::kInt8ScalePositions (finite: ConstraintChecker).
template <class Attrs>
void check_int8_scales(const Attrs& a) {
    if constexpr (Attrs::kNumInt8Scales > 0) {
        const std::vector<float>& s = a.int8_scales;
        const std::string label = std::string(Attrs::kPluginName) + ": attribute 'int8_scales'";
        std::string names;
        for (std::int32_t k = 0; k < Attrs::kNumInt8Scales; ++k)
            names += std::string(k ? ", " : "") + Attrs::IO::kNames[Attrs::kInt8ScalePositions[k]];
        if (!s.empty() && s.size() != std::size_t(Attrs::kNumInt8Scales))
            throw Error(label + ": " + std::to_string(s.size()) + " value(s); expected none (the runtime's scales) or " +
                        std::to_string(Attrs::kNumInt8Scales) + ", one per int8 tensor (" + names + ")");
        for (std::size_t k = 0; k < s.size(); ++k)
            if (!(std::isfinite(s[k]) && s[k] > 0.f))
                throw Error(label + ": the scale of '" + Attrs::IO::kNames[Attrs::kInt8ScalePositions[k]] + "' is " +
                            detail::format_number(s[k]) + "; scales must be finite and > 0");
    }
}

template <class Attrs>
void check_attrs(const Attrs& a) {
    detail::ConstraintChecker check{Attrs::kPluginName};
    a.visit(check);
    check_int8_scales(a);
}

// Attributes from named fields: defaults for absent optional ones, errors name the attribute.
template <class Attrs>
Attrs parse_fields(const FieldView* fields, std::size_t count) {
    Attrs a;
    detail::FieldParser parse{Attrs::kPluginName, fields, count};
    a.visit(parse);
    check_attrs(a);
    return a;
}

template <class Attrs>
std::size_t serialized_size(const Attrs& a) {
    Writer counter(nullptr, 0);
    a.visit(detail::PayloadWriter{counter});
    return kSerialHeaderBytes + counter.size();
}

template <class Attrs>
void serialize_attrs(const Attrs& a, void* buffer, std::size_t capacity) {
    const std::size_t total = serialized_size(a);
    if (buffer == nullptr || capacity < total)
        throw Error(std::string(Attrs::kPluginName) + ": serialize buffer of " + std::to_string(capacity) +
                    " bytes, need " + std::to_string(total));
    Writer w(buffer, capacity);
    w.put(kSerialMagic);
    w.put(kSerialFormat);
    w.put(std::uint16_t(0));
    w.put(Attrs::kSchemaHash);
    w.put(static_cast<std::uint32_t>(total - kSerialHeaderBytes));
    a.visit(detail::PayloadWriter{w});
}

template <class Attrs>
Attrs deserialize_attrs(const void* buffer, std::size_t size) {
    Reader r(buffer, size, Attrs::kPluginName);
    if (size < kSerialHeaderBytes)
        r.fail("truncated: " + std::to_string(size) + " bytes is shorter than the " +
               std::to_string(kSerialHeaderBytes) + "-byte header");
    if (r.get<std::uint32_t>() != kSerialMagic) r.fail("bad magic (not a pykit plugin buffer)");
    const auto format = r.get<std::uint16_t>();
    if (format != kSerialFormat) r.fail("format " + std::to_string(format) + ", expected " + std::to_string(kSerialFormat));
    r.get<std::uint16_t>();
    const auto schema = r.get<std::uint32_t>();
    if (schema != Attrs::kSchemaHash) r.fail("written by a different spec of this plugin (schema hash mismatch)");
    const auto payload = r.get<std::uint32_t>();
    if (payload != r.remaining())
        r.fail("header says " + std::to_string(payload) + " payload bytes, buffer holds " + std::to_string(r.remaining()));
    Attrs a;
    a.visit(detail::PayloadReader{r});
    if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " trailing bytes after the last field");
    check_attrs(a);
    return a;
}

}  // namespace pykit
