// pykit._host: the CPU backend. Runs each plugin's kernel core (the same __host__ __device__ code
// the CUDA launchers run) on numpy arrays, and exposes the attribute (de)serializer so tests can
// attack it with truncated, oversized and garbage buffers. Every plugin project builds its own
// copy (pykit_add_plugins), with its plugins' host.cpp, as <package>.<PYKIT_HOST_MODULE_NAME>.
#include <pybind11/stl.h>

#include "common/numeric.h"
#include "host_api.h"

namespace py = pybind11;
using pykit::host::registry;

namespace pykit { namespace host {
std::map<std::string, PluginEntry>& registry() {
    static std::map<std::string, PluginEntry> entries;
    return entries;
}
} }  // namespace pykit::host

namespace {
const pykit::host::PluginEntry& entry(const std::string& name) {
    auto it = registry().find(name);
    if (it == registry().end()) throw pykit::Error(name + ": no host backend is compiled for this plugin");
    return it->second;
}
}  // namespace

#ifndef PYKIT_HOST_MODULE_NAME
#define PYKIT_HOST_MODULE_NAME _host
#endif

PYBIND11_MODULE(PYKIT_HOST_MODULE_NAME, m) {
    m.doc() = "pykit host backend: plugin kernel cores on the CPU";
    // Module-local: several projects' host modules share one process, each translates its own errors.
    py::register_local_exception<pykit::Error>(m, "PluginError", PyExc_ValueError);

    m.def("plugins", [] {
        std::vector<std::string> names;
        for (const auto& kv : registry()) names.push_back(kv.first);
        return names;
    }, "Names of the plugins compiled into this module.");

    m.def("run", [](const std::string& name, std::vector<py::array> inputs, py::dict attrs, std::string precision,
                    std::vector<float> input_scales, std::vector<float> output_scales) {
        pykit::host::Call call{std::move(inputs), std::move(attrs), std::move(precision), std::move(input_scales),
                               std::move(output_scales)};
        pykit::require(call.precision == "fp32" || call.precision == "fp16" || call.precision == "int8", name,
                       "unknown precision '" + call.precision + "'");
        return entry(name).run(call);
    }, py::arg("name"), py::arg("inputs"), py::arg("attrs"), py::arg("precision"), py::arg("input_scales"),
       py::arg("output_scales"), "Run a plugin's kernel core on the CPU.");

    m.def("serialize_attrs", [](const std::string& name, py::dict attrs) { return entry(name).serialize(attrs); },
          "Attributes -> the bytes the TensorRT plugin serializes.");
    m.def("deserialize_attrs", [](const std::string& name, py::bytes data) { return entry(name).deserialize(data); },
          "Serialized bytes -> attributes, with every bounds check the TensorRT plugin applies.");
    m.def("fields", [](const std::string& name) { return entry(name).fields(); },
          "The C++ field table generated from the plugin's spec.");
    m.def("io", [](const std::string& name) { return entry(name).io(); },
          "The compiled IO table: tensor names, precisions, each tensor's dtype and ranks per precision.");
    m.def("schema_hash", [](const std::string& name) { return entry(name).schema_hash; });

    // Common numeric helpers, exposed so tests can hold them to numpy bit for bit.
    m.def("float_to_half_bits", [](py::array_t<float, py::array::c_style | py::array::forcecast> x) {
        py::array_t<std::uint16_t> out(x.size());
        auto* o = out.mutable_data();
        for (py::ssize_t i = 0; i < x.size(); ++i) o[i] = pykit::float_to_half_bits(x.data()[i]);
        return out;
    });
    m.def("half_bits_to_float", [](py::array_t<std::uint16_t, py::array::c_style | py::array::forcecast> h) {
        py::array_t<float> out(h.size());
        auto* o = out.mutable_data();
        for (py::ssize_t i = 0; i < h.size(); ++i) o[i] = pykit::half_bits_to_float(h.data()[i]);
        return out;
    });
    m.def("quantize_int8", [](py::array_t<float, py::array::c_style | py::array::forcecast> x, float scale) {
        py::array_t<std::int8_t> out(x.size());
        auto* o = out.mutable_data();
        for (py::ssize_t i = 0; i < x.size(); ++i) o[i] = pykit::quantize_int8(x.data()[i] / scale);
        return out;
    }, "clamp(rint(x / scale), -127, 127), as the kernels compute it.");
}
