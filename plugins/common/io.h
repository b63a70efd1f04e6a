// The I/O vocabulary of the compiled spec, TensorRT-independent: the precisions a spec offers and
// the dtypes its tensors have at each. pykit/codegen.py emits, per plugin, an `IO` table in these
// terms (<id>_attrs.h); the TensorRT bases (common/trt/) and the host binder (pykit/host/) check
// and choose formats from it, and launchers take a Precision instead of a per-plugin enum.
#pragma once

#include <cstdint>

namespace pykit {

// The spec's precisions, in the order of pykit/spec.py's PRECISIONS.
enum class Precision : std::uint8_t { kFP32 = 0, kFP16 = 1, kINT8 = 2 };

// The spec's tensor dtypes (pykit/spec.py's TENSOR_DTYPES, same order).
enum class Dtype : std::uint8_t { kFloat32 = 0, kFloat16 = 1, kInt8 = 2, kInt32 = 3, kInt64 = 4, kBool = 5 };

inline const char* precision_name(Precision p) {
    switch (p) {
        case Precision::kFP32: return "fp32";
        case Precision::kFP16: return "fp16";
        case Precision::kINT8: return "int8";
    }
    return "?";
}

inline const char* dtype_name(Dtype d) {
    switch (d) {
        case Dtype::kFloat32: return "float32";
        case Dtype::kFloat16: return "float16";
        case Dtype::kInt8: return "int8";
        case Dtype::kInt32: return "int32";
        case Dtype::kInt64: return "int64";
        case Dtype::kBool: return "bool";
    }
    return "?";
}

inline int dtype_size(Dtype d) {
    switch (d) {
        case Dtype::kFloat32: case Dtype::kInt32: return 4;
        case Dtype::kFloat16: return 2;
        case Dtype::kInt8: case Dtype::kBool: return 1;
        case Dtype::kInt64: return 8;
    }
    return 0;
}

// The row (precision) of an IO table that the tensors seen so far select: the first row for
// which matches(row, pos) holds at every position in [0, n); -1 when none does. The TensorRT
// bases pass the positions TensorRT has decided; the host binder passes all of them.
template <class IO, class Matches>
int select_row(int n, Matches matches) {
    for (int row = 0; row < IO::kNumPrecisions; ++row) {
        bool ok = true;
        for (int pos = 0; ok && pos < n; ++pos) ok = matches(row, pos);
        if (ok) return row;
    }
    return -1;
}

}  // namespace pykit
