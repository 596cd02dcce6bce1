// fill.cu — a constant into n floats of device memory (mt_ndarray_fill).
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

__global__ void mtk_fill_kernel(float *p, int64_t n, float v) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    p[i] = v;
}

extern "C" int mtk_cuda_fill(int dev, float *p, int64_t n, float v) {
  MT_CHECK_CUDA(cudaSetDevice(dev));
  if (n <= 0) return 0;
  int blocks = (int)((n + 255) / 256);
  if (blocks > 65535) blocks = 65535;
  mtk_fill_kernel<<<blocks, 256, 0, mtk_stream(dev)>>>(p, n, v);
  MT_CHECK_LAUNCH();
  return 0;
}
