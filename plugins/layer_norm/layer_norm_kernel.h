// LayerNorm CUDA launcher (TensorRT-independent: device pointers, geometry and a stream, so it can
// be benchmarked and tested on its own).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "layer_norm_core.h"

namespace pykit { namespace layer_norm {

// One launch path per precision of the spec.
enum class Storage {
    kFloat32,
    kFloat16,
    kInt8,
};

// x -> one output (elements of `storage`). in_scale/out_scale: int8 scales (ignored
// otherwise). TODO(layer_norm): add the other inputs the real math reads.
cudaError_t launch(Storage storage, const void* x, void* output, const Geometry& g, const Params& params,
                   float in_scale, float out_scale, cudaStream_t stream);

} }  // namespace pykit::layer_norm
