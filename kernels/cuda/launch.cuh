// launch.cuh — helpers shared by the kernels/cuda/*.cu files: device
// selection with a checked cudaSetDevice, grid sizes for grid-stride loops,
// a fixed-order block reduction, and a small per-device scratch buffer for
// results read back by the host (flags, counts).
//
// Streams (base/cuda/stream.cuh): every launch, cuBLAS call and copy goes on mtk_stream(dev): the
// stream of the executor running on this thread (stream.cu) when it is on
// `dev`, else the legacy default stream (0). Executors' streams are blocking
// streams, so work on the legacy stream and on them is ordered without
// events (stream.cu says why).
//
// Determinism: every reduction here has a fixed shape (block size chosen by
// the problem size only, tree order fixed), so repeated runs give the same
// bits. The only atomic in kernels/cuda is atomicMin on an integer (first bad
// label), whose result does not depend on the order.
#ifndef MT_KERNELS_CUDA_LAUNCH_CUH
#define MT_KERNELS_CUDA_LAUNCH_CUH
#include <stdint.h>

#include "base/cuda/check.h"
#include "base/cuda/stream.cuh"

#define MTK_THREADS 256

// Grid-stride loop over [0, n).
#define MTK_FOR(i, n)                                                                              \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n);                        \
       i += (int64_t)gridDim.x * blockDim.x)

// Blocks for a grid-stride loop over n elements: enough to fill the GPU,
// capped (the loop covers the rest).
static inline int mtk_blocks(int64_t n) {
  int64_t b = (n + MTK_THREADS - 1) / MTK_THREADS;
  if (b < 1) b = 1;
  if (b > 4096) b = 4096;
  return (int)b;
}

// Block-wide sum of one value per thread, in a fixed tree order; blockDim.x
// must be a power of two <= 1024 and `sh` hold blockDim.x values. Returns the
// sum to every thread (after the final barrier).
template <typename T> __device__ inline T mtk_block_sum(T v, T *sh) {
  unsigned t = threadIdx.x;
  sh[t] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] += sh[t + s];
    __syncthreads();
  }
  T r = sh[0];
  __syncthreads();
  return r;
}

// Power-of-two block size for one block per reduction of `len` values:
// 32..256 threads, no more than needed.
static inline int mtk_reduce_threads(int64_t len) {
  int t = 32;
  while (t < 256 && t < len) t *= 2;
  return t;
}

// A per-device scratch buffer of `bytes` (<= 256) in device memory, for small
// results the host reads back; allocated on first use, never freed (one per
// device and translation unit). Not safe for concurrent host threads on the
// same device.
static inline int mtk_scratch(int dev, void **p) {
  static void *buf[MTK_MAX_GPUS];
  if (!buf[dev]) MT_CHECK_CUDA(cudaMalloc(&buf[dev], 256));
  *p = buf[dev];
  return 0;
}

#endif
