// One exception type for everything pykit's C++ rejects. It never crosses TensorRT's noexcept
// entry points: the glue catches it there and reports it (see trt/plugin_base.h).
#pragma once

#include <stdexcept>
#include <string>

namespace pykit {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Throws pykit::Error with "<plugin>: <message>" when cond is false.
inline void require(bool cond, const std::string& plugin, const std::string& message) {
    if (!cond) throw Error(plugin + ": " + message);
}

}  // namespace pykit
