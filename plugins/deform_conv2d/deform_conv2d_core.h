// DeformConv kernel core, shared by the CUDA launcher (deform_conv2d_kernel.cu) and the CPU host
// backend (host.cpp): the geometry, the bilinear sample of one column element, and the column
// layout both backends' GEMMs read. All arithmetic in fp32; load() widens binary16 exactly.
#pragma once

#include <climits>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "common/errors.h"
#include "common/hd.h"
#include "common/numeric.h"

namespace pykit { namespace deform_conv2d {

// Everything the kernels need, from the shapes and attributes (make_geometry checks them).
struct Geometry {
    std::int32_t n, c, h, w;    // x
    std::int32_t oc, kh, kw;    // weight (oc, c / group, kh, kw)
    std::int32_t oh, ow;        // y and offset dims 2..3
    std::int32_t group, offset_group;
    std::int32_t stride_h, stride_w, pad_top, pad_left, dil_h, dil_w;
    bool mask_scalar;           // mask holds one element, applied to every tap (DCNv1)

    PYKIT_HD std::int32_t taps() const { return (c / group) * kh * kw; }          // K of one group's GEMM
    PYKIT_HD std::int64_t pixels() const { return std::int64_t(oh) * ow; }        // P, columns of the GEMM
    PYKIT_HD std::int64_t column_rows() const { return std::int64_t(c) * kh * kw; }  // all groups' K
};

// The output size along one axis, as ONNX defines it (floor); <= 0 when the kernel does not fit.
inline std::int64_t output_size(std::int64_t in, std::int64_t pad_begin, std::int64_t pad_end, std::int64_t k,
                                std::int64_t dilation, std::int64_t stride) {
    const std::int64_t span = in + pad_begin + pad_end - ((k - 1) * dilation + 1);
    return span < 0 ? 0 : span / stride + 1;
}

// Shapes as the backends see them (x, weight, offset, bias, mask: dims of ranks 4, 4, 4, 1, 4) and
// the attributes -> Geometry; every mismatch is one error naming the tensor or attribute.
template <class AttrsT>
Geometry make_geometry(const std::int64_t* x, const std::int64_t* weight, const std::int64_t* offset, std::int64_t bias_size,
                       const std::int64_t* mask, const AttrsT& a) {
    const char* p = AttrsT::kPluginName;
    require(a.dilations.size() == 2 && a.strides.size() == 2 && a.pads.size() == 4, p,
            "2-D only: attributes 'dilations' and 'strides' need 2 values and 'pads' 4");
    for (int k = 0; k < 4; ++k)
        require(x[k] <= INT32_MAX && weight[k] <= INT32_MAX, p, "dimensions above 2^31-1 are not supported");
    Geometry g{};
    g.n = std::int32_t(x[0]); g.c = std::int32_t(x[1]); g.h = std::int32_t(x[2]); g.w = std::int32_t(x[3]);
    g.oc = std::int32_t(weight[0]); g.kh = std::int32_t(weight[2]); g.kw = std::int32_t(weight[3]);
    g.group = a.group; g.offset_group = a.offset_group;
    g.dil_h = a.dilations[0]; g.dil_w = a.dilations[1];
    g.stride_h = a.strides[0]; g.stride_w = a.strides[1];
    g.pad_top = a.pads[0]; g.pad_left = a.pads[1];
    require(g.kh >= 1 && g.kw >= 1, p, "input 'weight' has an empty kernel");
    require(std::int64_t(weight[1]) * g.group == g.c && g.oc % g.group == 0, p,
            "input 'weight' " + std::to_string(weight[0]) + "x" + std::to_string(weight[1]) + " does not fit x's " +
                std::to_string(g.c) + " channels with attribute 'group' = " + std::to_string(g.group));
    require(g.c % g.offset_group == 0, p, "x's " + std::to_string(g.c) + " channels are not divisible by attribute 'offset_group' = " +
                                              std::to_string(g.offset_group));
    const std::int64_t oh = output_size(x[2], a.pads[0], a.pads[2], g.kh, g.dil_h, g.stride_h);
    const std::int64_t ow = output_size(x[3], a.pads[1], a.pads[3], g.kw, g.dil_w, g.stride_w);
    g.oh = std::int32_t(oh); g.ow = std::int32_t(ow);
    const std::int64_t taps = std::int64_t(g.kh) * g.kw;
    require(offset[0] == x[0] && offset[1] == 2 * g.offset_group * taps && offset[2] == oh && offset[3] == ow, p,
            "input 'offset' must have shape (" + std::to_string(x[0]) + ", " + std::to_string(2 * g.offset_group * taps) + ", " +
                std::to_string(oh) + ", " + std::to_string(ow) + ") = (N, offset_group*2*kH*kW, oH, oW)");
    require(bias_size == g.oc, p, "input 'bias' must hold oC = " + std::to_string(g.oc) + " elements");
    // one element: a scalar (when the full mask also has one element, both readings are the same)
    g.mask_scalar = mask[0] * mask[1] * mask[2] * mask[3] == 1;
    require(g.mask_scalar || (mask[0] == x[0] && mask[1] == g.offset_group * taps && mask[2] == oh && mask[3] == ow), p,
            "input 'mask' must have shape (N, offset_group*kH*kW, oH, oW) = (" + std::to_string(x[0]) + ", " +
                std::to_string(g.offset_group * taps) + ", " + std::to_string(oh) + ", " + std::to_string(ow) +
                ") or hold one element");
    require(std::int64_t(g.c) * taps * oh * ow <= INT32_MAX, p,
            "one image's column matrix (C*kH*kW*oH*oW) above 2^31-1 elements is not supported");
    return g;
}

// Output dims (N, oC, oH, oW).
inline std::vector<std::int64_t> output_shape(const Geometry& g) { return {g.n, g.oc, g.oh, g.ow}; }

PYKIT_HD float load(float v) { return v; }
PYKIT_HD float load(std::uint16_t v) { return half_bits_to_float(v); }
PYKIT_HD void store(float& out, float v) { out = v; }
PYKIT_HD void store(std::uint16_t& out, float v) { out = float_to_half_bits(v); }

// Bilinear sample of one channel plane at (py, px): the four neighbours floor + {0, 1}, each outside
// the image contributing zero (onnx.reference's GridSample zeros/align_corners=1 in pixels; mmcv's
// and torchvision's bilinear). Positions outside (-1, H) x (-1, W) have no neighbour inside.
template <class T>
PYKIT_HD float bilinear(const T* plane, std::int32_t h, std::int32_t w, float py, float px) {
    if (!(py > -1.f && px > -1.f && py < float(h) && px < float(w))) return 0.f;  // also NaN positions
    const float fy = floorf(py), fx = floorf(px);
    const std::int32_t y0 = std::int32_t(fy), x0 = std::int32_t(fx);
    const float ly = py - fy, lx = px - fx, hy = 1.f - ly, hx = 1.f - lx;
    const bool top = y0 >= 0, bottom = y0 + 1 < h, left = x0 >= 0, right = x0 + 1 < w;
    const float v00 = top && left ? load(plane[std::int64_t(y0) * w + x0]) : 0.f;
    const float v01 = top && right ? load(plane[std::int64_t(y0) * w + x0 + 1]) : 0.f;
    const float v10 = bottom && left ? load(plane[std::int64_t(y0 + 1) * w + x0]) : 0.f;
    const float v11 = bottom && right ? load(plane[std::int64_t(y0 + 1) * w + x0 + 1]) : 0.f;
    return hy * hx * v00 + hy * lx * v01 + ly * hx * v10 + ly * lx * v11;
}

// One tap (i, j) at output pixel (oy, ox) of image n, offset group og: the sample position and mask.
template <class T>
PYKIT_HD void tap_position(const T* offset, const T* mask, const Geometry& g, std::int32_t n, std::int32_t og,
                           std::int32_t i, std::int32_t j, std::int32_t oy, std::int32_t ox, float& py, float& px,
                           float& m) {
    const std::int64_t plane = g.pixels();
    const std::int64_t pix = std::int64_t(oy) * g.ow + ox;
    const std::int64_t tap = (std::int64_t(n) * g.offset_group + og) * g.kh * g.kw + std::int64_t(i) * g.kw + j;
    py = float(oy * g.stride_h - g.pad_top + i * g.dil_h) + load(offset[(2 * tap) * plane + pix]);
    px = float(ox * g.stride_w - g.pad_left + j * g.dil_w) + load(offset[(2 * tap + 1) * plane + pix]);
    m = g.mask_scalar ? load(mask[0]) : load(mask[tap * plane + pix]);
}

// Column element of image n: row r = (c*kH + i)*kW + j over all channels (group g's rows are
// [g*K, (g+1)*K), K = taps()), column p = oy*oW + ox: mask * bilinear(x[n, c], position).
template <class T>
PYKIT_HD float column_value(const T* x, const T* offset, const T* mask, const Geometry& g, std::int32_t n,
                            std::int64_t r, std::int64_t p) {
    const std::int32_t j = std::int32_t(r % g.kw), i = std::int32_t((r / g.kw) % g.kh);
    const std::int32_t c = std::int32_t(r / (std::int64_t(g.kw) * g.kh));
    const std::int32_t oy = std::int32_t(p / g.ow), ox = std::int32_t(p % g.ow);
    float py, px, m;
    tap_position(offset, mask, g, n, c / (g.c / g.offset_group), i, j, oy, ox, py, px, m);
    return m * bilinear(x + (std::int64_t(n) * g.c + c) * g.h * g.w, g.h, g.w, py, px);
}

// Columns of at most this many bytes are built at once (a chunk of images); the workspace holds
// max(one image's columns, min(all images', this)), then kPartialBytes for split-K partial sums.
constexpr std::int64_t kColumnBudgetBytes = std::int64_t(64) << 20;

// The CUDA GEMM's output tiles, and split-K: where the (image, group, tile) blocks are fewer than
// kTargetBlocks (about two waves on an H200's 132 SMs; e.g. ResNet-50 stage 3 at batch 1 has 16),
// K is cut into `splits` ranges of >= kMinSplitK, each summed into fp32 partials (kPartialBytes at
// most: splits * blocks < 2 kTargetBlocks tiles), which a second kernel adds in order with the bias.
constexpr std::int32_t kTileM = 64, kTileN = 64, kTileK = 16;
constexpr std::int64_t kTargetBlocks = 256;
constexpr std::int32_t kMinSplitK = 128, kMaxSplits = 16;
constexpr std::int64_t kPartialBytes = 2 * kTargetBlocks * kTileM * kTileN * std::int64_t(sizeof(float));

inline std::int64_t image_column_bytes(const Geometry& g) { return g.column_rows() * g.pixels() * std::int64_t(sizeof(float)); }
inline std::int32_t images_per_chunk(const Geometry& g) {
    const std::int64_t per = image_column_bytes(g);
    if (per <= 0) return g.n > 0 ? g.n : 1;
    const std::int64_t fit = kColumnBudgetBytes / per;
    return std::int32_t(fit < 1 ? 1 : (fit < g.n ? fit : (g.n > 0 ? g.n : 1)));
}
inline std::int64_t column_workspace_bytes(const Geometry& g) {
    const std::int64_t per = image_column_bytes(g), all = per * g.n;
    const std::int64_t capped = all < kColumnBudgetBytes ? all : kColumnBudgetBytes;
    const std::int64_t bytes = per > capped ? per : capped;
    return (bytes + 255) / 256 * 256;  // the partials start aligned
}
inline std::int64_t workspace_bytes(const Geometry& g) { return column_workspace_bytes(g) + kPartialBytes; }

// K ranges of the GEMM for a chunk of `images` (1: no split); splits * images * oC * P floats fit kPartialBytes.
inline std::int32_t gemm_splits(const Geometry& g, std::int64_t images) {
    const std::int64_t m = g.oc / g.group, tiles = ((g.pixels() + kTileN - 1) / kTileN) * ((m + kTileM - 1) / kTileM) *
                                                 images * g.group;
    if (tiles <= 0 || tiles >= kTargetBlocks) return 1;
    std::int64_t s = (kTargetBlocks + tiles - 1) / tiles;
    const std::int64_t by_k = g.taps() / kMinSplitK;
    if (s > by_k) s = by_k;
    if (s > kMaxSplits) s = kMaxSplits;
    while (s > 1 && s * images * g.oc * g.pixels() * std::int64_t(sizeof(float)) > kPartialBytes) --s;
    return std::int32_t(s < 1 ? 1 : s);
}

} }  // namespace pykit::deform_conv2d
