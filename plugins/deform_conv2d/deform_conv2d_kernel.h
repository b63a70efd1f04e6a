// DeformConv CUDA launcher (TensorRT-independent: device pointers, geometry, a workspace and a
// stream, so it can be benchmarked (bench.cpp) and tested on its own).
//
// Per chunk of images (as many as fit kColumnBudgetBytes of fp32 columns, deform_conv2d_core.h):
// 1. deformable im2col: one thread per (image, channel, output pixel) samples its kH*kW taps into
//    the fp32 column matrix [C*kH*kW, oH*oW] of each image (deform_conv2d_core.h column_value);
// 2. a tiled GEMM per (image, group): y[oC/group, P] = weight[oC/group, K] * columns[K, P] + bias,
//    64x64 output tiles, K in steps of 16 through shared memory, 4x4 outputs per thread, fp32
//    accumulation (cuBLAS is not available to plugins through attachToContext on TensorRT 11);
//    where those blocks are too few to fill the GPU (batch 1 of a 14x14 layer: 16), split-K: K ranges
//    summed into fp32 partials in the workspace, then added in order with the bias (core: gemm_splits).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "common/io.h"

#include "deform_conv2d_core.h"

namespace pykit { namespace deform_conv2d {

// y (N, oC, oH, oW) from x, weight, offset, bias, mask (all of the precision's dtype); workspace:
// workspace_bytes(g) bytes of device memory.
cudaError_t launch(Precision precision, const void* x, const void* weight, const void* offset, const void* bias,
                   const void* mask, void* y, void* workspace, const Geometry& g, cudaStream_t stream);

} }  // namespace pykit::deform_conv2d
