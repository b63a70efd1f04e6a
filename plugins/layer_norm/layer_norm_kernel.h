// LayerNorm CUDA launcher (TensorRT-independent: device pointers, geometry and a stream, so it can
// be benchmarked and tested on its own).
//
// Rows of up to 1024 elements: one warp per row (4 rows per 128-thread block); up to 16384: one
// block per row (128 to 512 threads, 32 values each). Both hold the row in registers, so x is read
// once: sum -> mean, sum of squared deviations -> variance, then the normalized row is written.
// Longer rows: one 1024-thread block per row reading x two (int8) or three times. Warp rows load
// and store 16-byte vectors (4 fp32, 8 fp16, 16 int8), block rows 4-element vectors, when the row
// length is a multiple of that and the pointers are aligned, else 4-element vectors, else scalars.
// Statistics in fp32 at fp32/fp16; int8 keeps its row packed and sums q and q^2 exactly in
// integers (dp4a), then converts with byte permutes (layer_norm_core.h: int8_row).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "common/io.h"

#include "layer_norm_core.h"

namespace pykit { namespace layer_norm {

// y[rows, cols] from x[rows, cols], scale[cols], bias[cols] (elements of `precision`; int8 with the
// per-tensor `scales`).
cudaError_t launch(Precision precision, const void* x, const void* scale, const void* bias, void* y, const Geometry& g,
                   const Params& params, const Scales& scales, cudaStream_t stream);

} }  // namespace pykit::layer_norm
