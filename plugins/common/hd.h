// Host/device portability: kernel cores are plain functions that nvcc compiles for the GPU and
// the host compiler compiles for the CPU backend, so both run the same arithmetic.
#pragma once

#if defined(__CUDACC__)
#define PYKIT_HD __host__ __device__ __forceinline__
#else
#define PYKIT_HD inline
#endif
