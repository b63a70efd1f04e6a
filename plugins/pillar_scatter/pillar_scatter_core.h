// PillarScatter kernel core: the math, shared by the CUDA launcher and the CPU host backend.
//
// Two passes, both deterministic:
//  1. claim: every valid pillar p writes max(owner[cell], p) into an int32 owner map [B, ny, nx]
//     initialised to -1 (atomicMax on the GPU). Duplicate coords: the highest pillar index wins,
//     which is what a sequential scatter in pillar order (numpy, ScatterND) leaves behind.
//  2. fill: every canvas element [b, c, y, x] reads its cell's owner and copies that pillar's
//     feature c, or writes zero. This fuses the zero fill with the scatter, and writes the canvas
//     (the bulk of the traffic) fully coalesced.
// A pillar is valid when p < num_valid and 0 <= batch < B, 0 <= y < ny, 0 <= x < nx; anything
// else is skipped, so bad coords can never address memory outside the canvas.
#pragma once

#include <cstdint>

#include "common/hd.h"
#include "common/numeric.h"

namespace pykit { namespace pillar_scatter {

struct Geometry {
    std::int32_t batch;     // B
    std::int32_t channels;  // C
    std::int32_t ny;
    std::int32_t nx;
    std::int32_t pillars;   // P
    std::int32_t valid;     // num_valid clamped to [0, P]

    PYKIT_HD std::int64_t cells() const { return std::int64_t(batch) * ny * nx; }
    PYKIT_HD std::int64_t canvas_elements() const { return cells() * channels; }
};

// The largest canvas (and owner map) the kernels address: 2^48 elements, far beyond any device's
// memory, so no real canvas is refused, while every byte size and index derived from it (x16 at
// most: int4 owner quads, fp32 canvas, the occupancy bitmask) fits int64 and size_t.
constexpr std::int64_t kMaxElements = std::int64_t(1) << 48;

// a * b when both are in [0, kMaxElements] and so is the product; -1 otherwise (no overflow: the
// division bound is checked before multiplying).
PYKIT_HD std::int64_t bounded_product(std::int64_t a, std::int64_t b) {
    if (a < 0 || b < 0 || a > kMaxElements || b > kMaxElements) return -1;
    if (a != 0 && b > kMaxElements / a) return -1;
    return a * b;
}

// Whether cells() and canvas_elements() are exact (checked arithmetic) and within kMaxElements,
// and the dims non-negative. Every backend checks it before sizing or indexing anything: cells()
// alone wraps for B, ny, nx near 2^21..2^22 (2^64 = 0: an empty owner map written out of bounds).
PYKIT_HD bool sizes_fit(const Geometry& g) {
    if (g.batch < 0 || g.channels < 0 || g.ny < 0 || g.nx < 0 || g.pillars < 0) return false;
    const std::int64_t cells = bounded_product(bounded_product(g.batch, g.ny), g.nx);
    return cells >= 0 && bounded_product(cells, g.channels) >= 0;
}

PYKIT_HD std::int32_t clamp_valid(std::int32_t num_valid, std::int32_t pillars) {
    return num_valid < 0 ? 0 : (num_valid > pillars ? pillars : num_valid);
}

// Flat cell index [b, y, x] of pillar p, or -1 when the pillar must be skipped.
PYKIT_HD std::int64_t pillar_cell(const std::int32_t* coords, std::int32_t p, const Geometry& g) {
    if (p < 0 || p >= g.valid) return -1;
    const std::int32_t b = coords[4 * std::int64_t(p) + 0];
    const std::int32_t y = coords[4 * std::int64_t(p) + 2];
    const std::int32_t x = coords[4 * std::int64_t(p) + 3];
    if (b < 0 || b >= g.batch || y < 0 || y >= g.ny || x < 0 || x >= g.nx) return -1;
    return (std::int64_t(b) * g.ny + y) * g.nx + x;
}

// Identity for float/half bit patterns; int8 requantization from the input to the output scale.
struct CopyValue {
    template <class T>
    PYKIT_HD T operator()(T v) const { return v; }
};

struct RequantizeInt8 {
    float ratio;  // s_in / s_out
    PYKIT_HD std::int8_t operator()(std::int8_t v) const { return quantize_int8(float(v) * ratio); }
};

// Value of canvas element i (flat over [B, C, ny, nx]). Storage types: float, uint16_t (binary16
// bits: a copy needs no half arithmetic) or int8_t; zero is all-zero bits for each.
template <class T, class Convert>
PYKIT_HD T canvas_value(const T* features, const std::int32_t* owner, std::int64_t i, const Geometry& g,
                        Convert convert) {
    const std::int64_t plane = std::int64_t(g.ny) * g.nx;
    const std::int64_t cell_in_plane = i % plane;
    const std::int64_t bc = i / plane;
    const std::int64_t c = bc % g.channels;
    const std::int64_t b = bc / g.channels;
    const std::int32_t p = owner[b * plane + cell_in_plane];
    return p < 0 ? T(0) : convert(features[std::int64_t(p) * g.channels + c]);
}

} }  // namespace pykit::pillar_scatter
