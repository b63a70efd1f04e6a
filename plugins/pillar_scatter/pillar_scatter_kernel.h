// PillarScatter CUDA launchers (TensorRT-independent, so they can be benchmarked on their own).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "common/io.h"

#include "pillar_scatter_core.h"

namespace pykit { namespace pillar_scatter {

// Workspace the launcher needs: the int32 owner map [B, ny, nx] (+ v4's occupancy bitmask, + 16
// bytes for the fused variant's grid barrier counter).
std::size_t workspace_bytes(const Geometry& g);

// canvas[B, C, ny, nx] from features[P, C] (elements of `precision`), coords[P, 4] and the device
// scalar num_valid. int8 requantizes with ratio = s_in / s_out (ignored otherwise).
cudaError_t launch(Precision precision, const void* features, const std::int32_t* coords, const std::int32_t* num_valid,
                   void* canvas, void* workspace, Geometry g, float ratio, cudaStream_t stream);

} }  // namespace pykit::pillar_scatter
