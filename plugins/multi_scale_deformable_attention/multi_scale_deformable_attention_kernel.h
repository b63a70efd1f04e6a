// MultiScaleDeformableAttention CUDA launcher (TensorRT-independent: device pointers, geometry and a
// stream, so it can be benchmarked (bench.cpp) and tested on its own).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "common/io.h"

#include "multi_scale_deformable_attention_core.h"

namespace pykit { namespace multi_scale_deformable_attention {

// output (batch, queries, heads*channels) from value, the int32 level shapes (levels, 2) and starts
// (levels), sampling_locations and attention_weights, all device pointers; float tensors of the
// precision's dtype (fp32: float, fp16: binary16). Levels that do not lie inside value are skipped.
cudaError_t launch(Precision precision, const void* value, const std::int32_t* spatial_shapes,
                   const std::int32_t* level_start_index, const void* sampling_locations,
                   const void* attention_weights, void* output, const Geometry& g, cudaStream_t stream);

} }  // namespace pykit::multi_scale_deformable_attention
