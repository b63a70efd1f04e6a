// ScatterElementsReduce CUDA launcher (TensorRT-independent, so it can be benchmarked on its own).
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "common/io.h"

#include "scatter_elements_reduce_core.h"

namespace pykit { namespace scatter_elements_reduce {

enum class IndexType { kInt32, kInt64 };

// Workspace the launcher needs: an fp32 copy of the data for fp16 (the reduction runs in fp32),
// nothing for fp32 (the output is reduced in place).
std::size_t workspace_bytes(Precision precision, const Geometry& g);

// output = data, then every update combined into it with atomics (see the core for determinism).
// output may alias data.
cudaError_t launch(Precision precision, IndexType index_type, Reduction reduction, const void* data, const void* indices,
                   const void* updates, void* output, void* workspace, const Geometry& g, cudaStream_t stream);

} }  // namespace pykit::scatter_elements_reduce
