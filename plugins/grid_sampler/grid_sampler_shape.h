// GridSample: attribute and shape checks shared by the host backend, the TensorRT glue and the
// bench binding (host code only: errors are pykit::Error naming the plugin and the culprit).
#pragma once

#include <cstdint>
#include <string>

#include "common/errors.h"
#include "grid_sampler_attrs.h"
#include "grid_sampler_core.h"

namespace pykit { namespace grid_sampler {

inline Mode parse_mode(const std::string& m) {
    if (m == "linear") return Mode::kLinear;
    if (m == "nearest") return Mode::kNearest;
    require(m == "cubic", Attrs::kPluginName, "attribute 'mode': '" + m + "' is not one of {linear, nearest, cubic}");
    return Mode::kCubic;
}

inline Padding parse_padding(const std::string& p) {
    if (p == "zeros") return Padding::kZeros;
    if (p == "border") return Padding::kBorder;
    require(p == "reflection", Attrs::kPluginName,
            "attribute 'padding_mode': '" + p + "' is not one of {zeros, border, reflection}");
    return Padding::kReflection;
}

inline Params make_params(const Attrs& a) {
    Params p;
    p.mode = parse_mode(a.mode);
    p.padding = parse_padding(a.padding_mode);
    require(a.align_corners == 0 || a.align_corners == 1, Attrs::kPluginName,
            "attribute 'align_corners' must be 0 or 1, got " + std::to_string(a.align_corners));
    p.align_corners = a.align_corners == 1;
    return p;
}

// x (N, C, *spatial) and grid (N, *out, axes): ranks 4 or 5 and equal, grid's batch and last dim;
// cubic 4-D only; a non-empty output needs a non-empty image; a channel plane < 2^31 elements.
// Returns y's shape (N, C, *out) in `y_shape` (rank elements).
template <class Dim>
inline void check_shapes(const Dim* x, int x_rank, const Dim* grid, int grid_rank, const Params& p, std::int64_t* y_shape) {
    const std::string name = Attrs::kPluginName;
    require(x_rank == 4 || x_rank == 5, name, "input 'x' has rank " + std::to_string(x_rank) + "; GridSample takes 4 or 5");
    require(grid_rank == x_rank, name, "input 'grid' has rank " + std::to_string(grid_rank) + ", x has rank " +
                                           std::to_string(x_rank) + ": they must be equal");
    const int axes = x_rank - 2;
    require(std::int64_t(grid[0]) == std::int64_t(x[0]), name,
            "input 'grid' has batch " + std::to_string(std::int64_t(grid[0])) + ", x has " + std::to_string(std::int64_t(x[0])));
    require(std::int64_t(grid[grid_rank - 1]) == axes, name,
            "input 'grid' must end in " + std::to_string(axes) + " coordinates for " + std::to_string(x_rank) +
                "-D x, got " + std::to_string(std::int64_t(grid[grid_rank - 1])));
    require(!(p.mode == Mode::kCubic && axes == 3), name,
            "mode 'cubic' only supports 4-D x (as ONNX GridSample); this x is 5-D");
    y_shape[0] = std::int64_t(x[0]);
    y_shape[1] = std::int64_t(x[1]);
    std::int64_t out = y_shape[0] * y_shape[1], plane = 1;
    for (int a = 0; a < axes; ++a) {
        y_shape[2 + a] = std::int64_t(grid[1 + a]);
        out *= y_shape[2 + a];
        plane *= std::int64_t(x[2 + a]);
    }
    require(out == 0 || plane > 0, name, "input 'x' has an empty spatial axis: nothing to sample from");
    require(plane <= INT32_MAX, name, "input 'x': a channel plane of more than 2^31-1 elements is not supported");
}

} }  // namespace pykit::grid_sampler
