// ScatterElementsReduce kernel core: the math, shared by the CUDA launcher and the CPU host backend.
//
// output = data; then for every element e of updates (row-major):
//   output[dest(e)] = combine(output[dest(e)], updates[e])
// where dest(e) is e's coordinates over the updates shape with the axis coordinate replaced by
// index(e) (negative: + dim, once). index(e) = indices[e] (ONNX: indices has updates' shape), or,
// with broadcast_indices, indices at e's coordinates with every dim where indices has extent 1
// taken as 0: one index per row for scatter_add(0, idx.unsqueeze(-1).expand_as(src)), the Expand
// folded into the plugin (spec.toml). An index still outside [0, dim), or a non-axis coordinate
// outside data's shape, makes dest(e) = -1 and the update is skipped: bad indices never address
// memory outside the output.
//
// Arithmetic is fp32 for both precisions (fp16 data and updates are widened exactly, the result is
// rounded to binary16 once at the end; see spec.toml's error model).
//
// Determinism: max and min are exact and order-independent (same value for any update order, up
// to the sign of zero and NaN payloads). none/add/mul under GPU atomics are not bitwise
// deterministic: add and mul round after every step, so the result depends on the order in which
// the atomics land (within the spec's tolerance); none with duplicate destinations keeps an
// arbitrary one of them (ONNX leaves it undefined). The host backend applies updates in index
// order and is deterministic.
#pragma once

#include <cstdint>

#include "common/hd.h"

namespace pykit { namespace scatter_elements_reduce {

constexpr int kMaxRank = 8;

enum class Reduction : std::int32_t { kNone = 0, kAdd = 1, kMul = 2, kMax = 3, kMin = 4 };

struct Geometry {
    std::int32_t rank;
    std::int32_t axis;                    // normalised to [0, rank)
    std::int64_t data_dims[kMaxRank];
    std::int64_t index_dims[kMaxRank];    // updates (and indices unless broadcast): the iteration space
    std::int64_t indices_dims[kMaxRank];  // the indices tensor: index_dims[d], or 1 where it broadcasts
    bool broadcast;                       // some indices_dims[d] == 1 < index_dims[d]

    PYKIT_HD std::int64_t data_elements() const {
        std::int64_t n = 1;
        for (int d = 0; d < rank; ++d) n *= data_dims[d];
        return n;
    }
    PYKIT_HD std::int64_t index_elements() const {
        std::int64_t n = 1;
        for (int d = 0; d < rank; ++d) n *= index_dims[d];
        return n;
    }
};

// Flat offset in the indices tensor of update element e (e itself unless indices broadcast).
PYKIT_HD std::int64_t index_offset(const Geometry& g, std::int64_t e) {
    if (!g.broadcast) return e;
    std::int64_t offset = 0, stride = 1, rest = e;
    for (int d = g.rank - 1; d >= 0; --d) {
        const std::int64_t c = rest % g.index_dims[d];
        rest /= g.index_dims[d];
        if (g.indices_dims[d] != 1) offset += c * stride;
        stride *= g.indices_dims[d];
    }
    return offset;
}

// Flat destination in data of update element e holding `index`, or -1 when the update is skipped.
template <class Index>
PYKIT_HD std::int64_t destination(const Geometry& g, std::int64_t e, Index index) {
    std::int64_t i = std::int64_t(index);
    const std::int64_t dim = g.data_dims[g.axis];
    if (i < 0) i += dim;
    if (i < 0 || i >= dim) return -1;
    std::int64_t offset = 0, stride = 1, rest = e;
    for (int d = g.rank - 1; d >= 0; --d) {
        const std::int64_t c = rest % g.index_dims[d];
        rest /= g.index_dims[d];
        if (d == g.axis) {
            offset += i * stride;
        } else {
            if (c >= g.data_dims[d]) return -1;
            offset += c * stride;
        }
        stride *= g.data_dims[d];
    }
    return offset;
}

// combine(old, update) in fp32. max/min propagate NaN as numpy's maximum/minimum do.
PYKIT_HD float combine(Reduction r, float old, float update) {
    switch (r) {
        case Reduction::kAdd: return old + update;
        case Reduction::kMul: return old * update;
        case Reduction::kMax: return (old != old || old > update) ? old : update;
        case Reduction::kMin: return (old != old || old < update) ? old : update;
        case Reduction::kNone: break;
    }
    return update;
}

} }  // namespace pykit::scatter_elements_reduce
