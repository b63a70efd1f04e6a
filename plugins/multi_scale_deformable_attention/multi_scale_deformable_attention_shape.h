// MultiScaleDeformableAttention: shape checks shared by the host backend and the TensorRT glue
// (host code only: errors are pykit::Error naming the plugin and the tensor).
#pragma once

#include <cstdint>
#include <string>

#include "common/errors.h"
#include "multi_scale_deformable_attention_attrs.h"
#include "multi_scale_deformable_attention_core.h"

namespace pykit { namespace multi_scale_deformable_attention {

// Levels the CUDA kernel stages in shared memory (16 bytes each): far above any image pyramid.
constexpr std::int64_t kMaxLevels = 1024;

inline std::string dims_text(int rank, const std::int64_t* d) {
    std::string s = "(";
    for (int k = 0; k < rank; ++k) s += (k ? ", " : "") + std::to_string(d[k]);
    return s + ")";
}

// Geometry from the five input shapes (ranks: the spec's, checked before). Every dimension must agree.
template <class DimT>
Geometry make_geometry(const DimT* value, const DimT* shapes, const DimT* starts, const DimT* locations,
                       const DimT* weights) {
    const std::string name = Attrs::kPluginName;
    std::int64_t v[4], s[2], st[1], l[6], w[5];
    for (int k = 0; k < 4; ++k) v[k] = std::int64_t(value[k]);
    for (int k = 0; k < 2; ++k) s[k] = std::int64_t(shapes[k]);
    st[0] = std::int64_t(starts[0]);
    for (int k = 0; k < 6; ++k) l[k] = std::int64_t(locations[k]);
    for (int k = 0; k < 5; ++k) w[k] = std::int64_t(weights[k]);
    const Geometry g{v[0], v[1], v[2], v[3], l[1], l[3], l[4]};
    require(l[0] == g.batch && l[2] == g.heads && l[5] == 2, name,
            "input 'sampling_locations' " + dims_text(6, l) + " must be (bs, num_queries, num_heads, num_levels, "
            "num_points, 2) with value's bs " + std::to_string(g.batch) + " and num_heads " + std::to_string(g.heads));
    for (int k = 0; k < 5; ++k)
        require(w[k] == l[k], name, "input 'attention_weights' " + dims_text(5, w) +
                                        " must be sampling_locations' shape without its last dim " + dims_text(5, l));
    require(s[0] == g.levels && s[1] == 2, name,
            "input 'value_spatial_shapes' " + dims_text(2, s) + " must be (num_levels, 2) = (" +
                std::to_string(g.levels) + ", 2)");
    require(st[0] == g.levels, name, "input 'value_level_start_index' " + dims_text(1, st) + " must be (num_levels) = (" +
                                         std::to_string(g.levels) + ")");
    require(g.levels <= kMaxLevels, name, "num_levels " + std::to_string(g.levels) + " is above " + std::to_string(kMaxLevels));
    require(g.keys <= INT32_MAX && g.queries <= INT32_MAX, name, "num_keys and num_queries must fit int32");
    for (std::int64_t d : {g.batch, g.keys, g.heads, g.channels, g.queries, g.levels, g.points})
        require(d >= 0, name, "negative dimension");
    return g;
}

} }  // namespace pykit::multi_scale_deformable_attention
