// GridSample CUDA launcher (TensorRT-independent: device pointers, geometry and a stream, so it can
// be benchmarked (bench.cpp) and tested on its own).
//
// One thread per V consecutive output locations (n, [do,] ho, wo) along Wo (V = 2 at fp32, 4 at
// fp16/int8, 1 for cubic or when the output plane is not a multiple of V): each grid point is read
// once (a float2 / half2 vector load in 4-D), its taps (offsets and weights, padding applied)
// computed once, then the thread loops over the C channels, gathering the taps from each channel plane and writing its V outputs of y[n, c] in one vector
// store (8 bytes at fp32/fp16, 4 at int8): a warp writes 32 V consecutive elements (coalesced),
// its gathers hit the same few input rows (L1/L2). Mode and spatial rank are template parameters
// (1, 2 or 4 taps per axis, unrolled).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "common/io.h"

#include "grid_sampler_core.h"

namespace pykit { namespace grid_sampler {

// x (N, C, *in) and y (N, C, *out) of the precision's dtype, grid (N, *out, axes) float32 (fp32,
// int8) or binary16 (fp16); 4-D grids are read as float2/half2 pairs: grid must be 8-byte (fp32) or
// 4-byte (fp16) aligned (TensorRT's and torch's buffers are 256-byte aligned). s_x, s_y: int8 scales
// (ignored otherwise).
cudaError_t launch(Precision precision, const void* x, const void* grid, void* y, const Geometry& g,
                   const Params& params, float s_x, float s_y, cudaStream_t stream);

} }  // namespace pykit::grid_sampler
