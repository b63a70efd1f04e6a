// CUDA error checks for launchers: return the error to the caller (TensorRT's enqueue returns an
// int status), never throw or abort inside a plugin.
#pragma once

#include <cuda_runtime_api.h>

#define PYKIT_CUDA_RETURN_IF_ERROR(expr)               \
    do {                                               \
        const cudaError_t pykit_status_ = (expr);      \
        if (pykit_status_ != cudaSuccess) return pykit_status_; \
    } while (0)
