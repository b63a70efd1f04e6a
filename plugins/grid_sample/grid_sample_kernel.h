// GridSample CUDA launcher (TensorRT-independent: device pointers, geometry and a stream, so it can
// be benchmarked (bench.cpp) and tested on its own).
//
// One thread per output location (n, [do,] ho, wo), consecutive threads along Wo: the grid point
// is read once (a float2 / half2 vector load in 4-D), its taps (offsets and weights, padding
// applied) computed once, then the thread loops over the C channels, gathering the taps from each
// channel plane and writing y[n, c, o]: the writes of a warp are 32 consecutive elements of a
// channel plane (coalesced), the gathers hit the same few input rows (L1/L2). Mode and spatial
// rank are template parameters (1, 2 or 4 taps per axis, unrolled).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "common/io.h"

#include "grid_sample_core.h"

namespace pykit { namespace grid_sample {

// x (N, C, *in) and y (N, C, *out) of the precision's dtype, grid (N, *out, axes) float32 (fp32,
// int8) or binary16 (fp16). s_x, s_y: int8 scales (ignored otherwise).
cudaError_t launch(Precision precision, const void* x, const void* grid, void* y, const Geometry& g,
                   const Params& params, float s_x, float s_y, cudaStream_t stream);

} }  // namespace pykit::grid_sample
