// MultiScaleDeformableAttention kernel core: the math, shared by the CUDA launcher
// (multi_scale_deformable_attention_kernel.cu) and the CPU host backend (host.cpp), so both run the
// same fp32 arithmetic (spec.toml's error model is written for exactly these operations).
//
// For one (batch, query, head) and one sampling point (level l, point p), taps() gives the four
// bilinear taps: their key rows inside value (level start + y*W + x) and their weights, the
// attention weight already folded in. Each backend then accumulates, per channel,
//     acc = fma(tap weight, value[b, key, head, channel], acc)
// over the taps of every level and point, in level-major, point, tap order.
#pragma once

#include <cmath>
#include <cstdint>

#include "common/hd.h"
#include "common/numeric.h"

namespace pykit { namespace multi_scale_deformable_attention {

// Sizes, from the input shapes: value (batch, keys, heads, channels), sampling_locations
// (batch, queries, heads, levels, points, 2); output (batch, queries, heads*channels).
struct Geometry {
    std::int64_t batch, keys, heads, channels, queries, levels, points;

    PYKIT_HD std::int64_t output_elements() const { return batch * queries * heads * channels; }
};

// Where a level lies in value's keys axis. A level that does not fit inside value is skipped
// (contributes zero): bad shapes never address memory outside value.
struct Level {
    std::int32_t height, width;
    std::int64_t start;
    bool fits;
};

PYKIT_HD Level make_level(std::int32_t height, std::int32_t width, std::int32_t start, std::int64_t keys) {
    Level lv{height, width, start, false};
    lv.fits = height > 0 && width > 0 && start >= 0 &&
              std::int64_t(start) + std::int64_t(height) * std::int64_t(width) <= keys;
    return lv;
}

// The four taps of one sampling point: key rows (absolute, in [0, keys)) or -1 where a tap lies in
// the zeros padding; weights = attention weight * bilinear weight.
struct Taps {
    std::int64_t key[4];
    float weight[4];
};

// Pixel position as F.grid_sample(align_corners=False) maps it: x = loc_x * W - 0.5 (one rounding:
// fma). Returns false (no tap) when the point lies wholly outside the level, or is NaN.
PYKIT_HD bool taps(const Level& lv, float loc_x, float loc_y, float attention, Taps& t) {
    if (!lv.fits) return false;
    const float x = fmaf(loc_x, float(lv.width), -0.5f);
    const float y = fmaf(loc_y, float(lv.height), -0.5f);
    if (!(x > -1.f && y > -1.f && x < float(lv.width) && y < float(lv.height))) return false;
    const float x0f = floorf(x), y0f = floorf(y);
    const std::int32_t x0 = std::int32_t(x0f), y0 = std::int32_t(y0f);  // in [-1, W-1], [-1, H-1]
    const float lx = x - x0f, ly = y - y0f;
    const float hx = 1.f - lx, hy = 1.f - ly;
    const bool left = x0 >= 0, right = x0 + 1 < lv.width, top = y0 >= 0, bottom = y0 + 1 < lv.height;
    const std::int64_t row0 = lv.start + std::int64_t(y0) * lv.width + x0;  // tap (y0, x0), may be outside
    t.key[0] = top && left ? row0 : -1;
    t.key[1] = top && right ? row0 + 1 : -1;
    t.key[2] = bottom && left ? row0 + lv.width : -1;
    t.key[3] = bottom && right ? row0 + lv.width + 1 : -1;
    t.weight[0] = attention * (hy * hx);
    t.weight[1] = attention * (hy * lx);
    t.weight[2] = attention * (ly * hx);
    t.weight[3] = attention * (ly * lx);
    return true;
}

// Storage types: float (fp32), std::uint16_t (binary16 bits), widened exactly; stored with one rounding.
PYKIT_HD float load(float v) { return v; }
PYKIT_HD float load(std::uint16_t v) { return half_bits_to_float(v); }
PYKIT_HD void store(float& out, float v) { out = v; }
PYKIT_HD void store(std::uint16_t& out, float v) { out = float_to_half_bits(v); }

// Offsets (elements) of the per-(batch, query, head) rows of sampling_locations and attention_weights.
PYKIT_HD std::int64_t weights_row(const Geometry& g, std::int64_t b, std::int64_t q, std::int64_t m) {
    return ((b * g.queries + q) * g.heads + m) * g.levels * g.points;
}

// Offset (elements) of value[b, key, m, 0].
PYKIT_HD std::int64_t value_row(const Geometry& g, std::int64_t b, std::int64_t key, std::int64_t m) {
    return ((b * g.keys + key) * g.heads + m) * g.channels;
}

} }  // namespace pykit::multi_scale_deformable_attention
