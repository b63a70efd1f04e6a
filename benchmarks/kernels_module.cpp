// pykit._kernels: the plugins' CUDA launchers with raw device pointers (Python ints) and a stream
// handle (an int: torch.cuda.current_stream().cuda_stream), for `pykit bench`. Each plugin folder's
// bench.cpp registers its bindings (pykit/bench/bench_api.h); this file holds only the module: one
// submodule per registered plugin, pykit._kernels.<PluginName>. No CUDA call happens at import.
// Each launcher raises RuntimeError with the CUDA error string on failure.
#include <algorithm>

#include "bench_api.h"

namespace py = pybind11;

namespace pykit { namespace bench {
std::vector<std::pair<std::string, BindFn>>& launchers() {
    static std::vector<std::pair<std::string, BindFn>> entries;
    return entries;
}
} }  // namespace pykit::bench

PYBIND11_MODULE(_kernels, m) {
    m.doc() = "pykit plugins' CUDA launchers on raw device pointers (for pykit bench)";
    m.def("cuda_runtime_version", [] {
        int v = 0;
        cudaRuntimeGetVersion(&v);  // needs no device
        return v;
    });
    auto entries = pykit::bench::launchers();
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    py::list names;
    for (const auto& [name, bind] : entries) {
        if (py::hasattr(m, name.c_str())) throw py::import_error("pykit._kernels: plugin '" + name + "' registered twice");
        py::module_ sub = m.def_submodule(name.c_str(), ("the " + name + " launcher").c_str());
        bind(sub);
        names.append(name);
    }
    m.attr("launchers") = names;
}
