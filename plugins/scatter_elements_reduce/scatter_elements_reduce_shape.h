// ScatterElementsReduce: attribute and shape checks shared by the host backend and the TensorRT
// glue (host code only: errors are pykit::Error naming the plugin).
#pragma once

#include <cstdint>
#include <string>

#include "common/errors.h"
#include "scatter_elements_reduce_attrs.h"
#include "scatter_elements_reduce_core.h"

namespace pykit { namespace scatter_elements_reduce {

inline Reduction parse_reduction(const std::string& r) {
    if (r == "add") return Reduction::kAdd;
    if (r == "mul") return Reduction::kMul;
    if (r == "max") return Reduction::kMax;
    if (r == "min") return Reduction::kMin;
    require(r == "none", Attrs::kPluginName, "attribute 'reduction': '" + r + "' is not one of {none, add, mul, max, min}");
    return Reduction::kNone;
}

// axis in [-rank, rank) normalised to [0, rank).
inline std::int32_t normalize_axis(std::int32_t axis, std::int32_t rank) {
    require(rank >= 1 && rank <= kMaxRank, Attrs::kPluginName,
            "input 'data' has rank " + std::to_string(rank) + "; supported: 1.." + std::to_string(kMaxRank));
    require(axis >= -rank && axis < rank, Attrs::kPluginName,
            "attribute 'axis': " + std::to_string(axis) + " is outside [-" + std::to_string(rank) + ", " +
                std::to_string(rank) + ") for data of rank " + std::to_string(rank));
    return axis < 0 ? axis + rank : axis;
}

// Geometry from the data, indices and updates shapes. Without broadcast_indices indices must have
// updates' shape (ONNX); with it, each indices dim is updates' or 1 (broadcast over that dim).
template <class DimT>
Geometry make_geometry(std::int32_t axis, bool broadcast_indices, std::int32_t data_rank, const DimT* data_dims,
                       std::int32_t index_rank, const DimT* index_dims, std::int32_t update_rank,
                       const DimT* update_dims) {
    const std::string name = Attrs::kPluginName;
    Geometry g{};
    g.rank = data_rank;
    g.axis = normalize_axis(axis, data_rank);
    require(index_rank == data_rank, name,
            "input 'indices' has rank " + std::to_string(index_rank) + ", input 'data' rank " + std::to_string(data_rank));
    require(update_rank == index_rank, name, "input 'updates' must have the shape of 'indices'" +
                                                 std::string(broadcast_indices ? " (up to dims of extent 1 in 'indices')" : ""));
    for (int d = 0; d < data_rank; ++d) {
        g.data_dims[d] = std::int64_t(data_dims[d]);
        g.index_dims[d] = std::int64_t(update_dims[d]);
        g.indices_dims[d] = std::int64_t(index_dims[d]);
        require(g.data_dims[d] >= 0 && g.index_dims[d] >= 0 && g.indices_dims[d] >= 0, name, "negative dimension");
        const bool broadcast = broadcast_indices && g.indices_dims[d] == 1 && g.index_dims[d] != 1;
        require(g.indices_dims[d] == g.index_dims[d] || broadcast, name,
                broadcast_indices ? "input 'indices' dim " + std::to_string(d) + " is " + std::to_string(g.indices_dims[d]) +
                                        ", neither updates' " + std::to_string(g.index_dims[d]) + " nor 1 (broadcast_indices)"
                                  : std::string("input 'updates' must have the shape of 'indices'"));
        g.broadcast = g.broadcast || broadcast;
        require(d == g.axis || g.index_dims[d] <= g.data_dims[d], name,
                "input 'indices' dim " + std::to_string(d) + " is " + std::to_string(g.index_dims[d]) +
                    ", larger than data's " + std::to_string(g.data_dims[d]) + " (only the axis dim may be)");
    }
    return g;
}

} }  // namespace pykit::scatter_elements_reduce
