// The bench interface of a plugin folder. A folder's bench.cpp binds its CUDA launcher into
// pykit._kernels and registers itself with PYKIT_REGISTER_BENCH_LAUNCHER; benchmarks/CMakeLists.txt
// compiles every plugins/*/bench.cpp into the one module, so a new plugin needs no edit elsewhere.
// Each registered plugin gets its own submodule, pykit._kernels.<PluginName>, which its bind
// function fills (launch, workspace, ...); pykit/bench/run.py hands that submodule to the
// plugin's bench.py. No CUDA call may happen at import (the module imports on machines without a GPU).
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <cuda_runtime_api.h>
#include <pybind11/pybind11.h>

#include "common/io.h"

namespace pykit { namespace bench {

using BindFn = std::function<void(pybind11::module_&)>;

// plugin name -> its bind function, filled by the registrars before the module initializes.
std::vector<std::pair<std::string, BindFn>>& launchers();

template <class T = void>
T* ptr(std::uintptr_t p) { return reinterpret_cast<T*>(p); }

inline cudaStream_t stream_of(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

// Raises RuntimeError "<what>: <CUDA error string>" on failure.
inline void check(cudaError_t status, const std::string& what) {
    if (status != cudaSuccess) throw std::runtime_error(what + ": " + cudaGetErrorString(status));
}

// "fp32" / "fp16" / "int8" -> Precision; refused (ValueError naming the plugin) unless the spec offers it.
template <class Attrs>
Precision precision(const std::string& name) {
    std::string offered;
    for (Precision p : Attrs::IO::kPrecisions) {
        if (name == precision_name(p)) return p;
        offered += std::string(offered.empty() ? "" : ", ") + precision_name(p);
    }
    throw pybind11::value_error(std::string(Attrs::kPluginName) + ": precision must be one of " + offered +
                                " (the spec's), not '" + name + "'");
}

template <class Attrs>
struct Registrar {
    explicit Registrar(BindFn bind) { launchers().emplace_back(Attrs::kPluginName, std::move(bind)); }
};

} }  // namespace pykit::bench

#define PYKIT_BENCH_CONCAT_(a, b) a##b
#define PYKIT_BENCH_CONCAT(a, b) PYKIT_BENCH_CONCAT_(a, b)
#define PYKIT_REGISTER_BENCH_LAUNCHER(AttrsType, bind_fn) \
    static ::pykit::bench::Registrar<AttrsType> PYKIT_BENCH_CONCAT(pykit_bench_registrar_, __LINE__){bind_fn}
