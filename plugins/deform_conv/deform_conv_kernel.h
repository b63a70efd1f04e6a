// DeformConv CUDA launcher (TensorRT-independent: device pointers, geometry and a stream, so it can
// be benchmarked (bench.cpp) and tested on its own).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "common/io.h"

#include "deform_conv_core.h"

namespace pykit { namespace deform_conv {

// src (input 'x') -> one output, both of the precision's dtype (IO::kDtypes). in_scale,
// out_scale: int8 scales (ignored otherwise). TODO(deform_conv): the other inputs the real math reads.
cudaError_t launch(Precision precision, const void* src, void* output, const Geometry& g, const Params& params,
                   float in_scale, float out_scale, cudaStream_t stream);

} }  // namespace pykit::deform_conv
