// GridSample CUDA launcher (TensorRT-independent: device pointers, geometry and a stream, so it can
// be benchmarked (bench.cpp) and tested on its own).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "common/io.h"

#include "grid_sample_core.h"

namespace pykit { namespace grid_sample {

// src (input 'x') -> one output, both of the precision's dtype (IO::kDtypes). in_scale,
// out_scale: int8 scales (ignored otherwise). TODO(grid_sample): the other inputs the real math reads.
cudaError_t launch(Precision precision, const void* src, void* output, const Geometry& g, const Params& params,
                   float in_scale, float out_scale, cudaStream_t stream);

} }  // namespace pykit::grid_sample
