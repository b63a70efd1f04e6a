// DeformConv kernel core: the math, shared by the CUDA launcher (deform_conv_kernel.cu) and the CPU
// host backend (host.cpp), so both run the same arithmetic.
//
// TODO(deform_conv): the placeholder op copies input 'x' to every output. Write the real
// math in output_value() (or in functions of your own that both the launcher and host.cpp call);
// compute in fp32 whatever the storage type: load() widens, store() rounds (binary16) or
// requantizes (int8) once at the end.
#pragma once

#include <cstdint>

#include "common/hd.h"
#include "common/numeric.h"

namespace pykit { namespace deform_conv {

// Sizes the kernel needs, from the input shapes (TODO: rows/cols, strides... of the real op).
struct Geometry {
    std::int64_t elements;  // of input 'x' (and, for the placeholder, of every output)
};

// The spec's numeric attributes, as the kernel reads them (strings and arrays stay on the host:
// turn them into numbers here if the kernel needs them).
struct Params {
    std::int32_t group;
    std::int32_t offset_group;
};

// Params from the generated Attrs struct (host.cpp, the TensorRT glue and bench.cpp call this).
template <class AttrsT>
inline Params make_params(const AttrsT& a) {
    Params p{};
    p.group = a.group;
    p.offset_group = a.offset_group;
    (void)a;
    return p;
}

// Storage types: float (fp32), std::uint16_t (binary16 bits), std::int8_t (int8, with its scale).
PYKIT_HD float load(float v, float) { return v; }
PYKIT_HD float load(std::uint16_t v, float) { return half_bits_to_float(v); }
PYKIT_HD float load(std::int8_t v, float scale) { return float(v) * scale; }
PYKIT_HD void store(float& out, float v, float) { out = v; }
PYKIT_HD void store(std::uint16_t& out, float v, float) { out = float_to_half_bits(v); }
PYKIT_HD void store(std::int8_t& out, float v, float scale) { out = quantize_int8(v / scale); }

// Output element i. TODO(deform_conv): the real math (the placeholder returns its input).
template <class T>
PYKIT_HD T output_value(const T* src, std::int64_t i, const Params& params, float in_scale, float out_scale) {
    (void)params;
    const float v = load(src[i], in_scale);
    T out;
    store(out, v, out_scale);
    return out;
}

} }  // namespace pykit::deform_conv
