// memory.cu — device memory and copies for gpu(i) (base/device.c's GPU
// side), pinned host memory for staging, the device count.
#include "base/cuda/check.h"
#include "base/cuda/device_runtime.h"
#include "base/cuda/stream.cuh"

extern "C" int mtk_cuda_device_query(const char **why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (why) *why = NULL;
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (why) *why = cudaGetErrorString(e);
    return 0;
  }
  return n;
}

extern "C" int mtk_cuda_device_count(void) { return mtk_cuda_device_query(NULL); }

extern "C" float *mtk_cuda_alloc(int dev, size_t bytes) {
  void *p = NULL;
  if (cudaSetDevice(dev) != cudaSuccess || cudaMalloc(&p, bytes) != cudaSuccess) {
    cudaError_t e = cudaGetLastError();
    mt_error_set(MT_E_CUDA, "gpu(%d): cudaMalloc(%zu): %s", dev, bytes, cudaGetErrorString(e));
    return NULL;
  }
  return (float *)p;
}

extern "C" void mtk_cuda_free(int dev, float *p) {
  if (!p) return;
  MT_WARN_CUDA(cudaSetDevice(dev));
  MT_WARN_CUDA(cudaFree(p));
}

extern "C" int mtk_cuda_memset0(int dev, float *p, size_t bytes) {
  MT_CHECK_CUDA(cudaSetDevice(dev));
  cudaStream_t st = mtk_stream(dev);
  if (st) MT_CHECK_CUDA(cudaMemsetAsync(p, 0, bytes, st));
  else MT_CHECK_CUDA(cudaMemset(p, 0, bytes));
  return 0;
}

extern "C" int mtk_cuda_copy(int dst_dev, float *dst, int src_dev, const float *src, size_t bytes) {
  int dev = dst_dev >= 0 ? dst_dev : src_dev;
  if (dev >= 0) MT_CHECK_CUDA(cudaSetDevice(dev));
  if (dst_dev >= 0 && src_dev >= 0 && dst_dev != src_dev) {
    /* between two devices: cudaMemcpyPeer is serialized with the pending and
     * later work of both devices (and of the current one), streams included
     * through their legacy streams; callers still wait for the executors'
     * streams before reading what those wrote (mt_exec_group_wait) */
    MT_CHECK_CUDA(cudaMemcpyPeer(dst, dst_dev, src, src_dev, bytes));
    return 0;
  }
  /* on the executor's stream when one runs on this device */
  cudaStream_t st = dev >= 0 ? mtk_stream(dev) : (cudaStream_t)0;
  cudaMemcpyKind kind = dst_dev >= 0 && src_dev >= 0 ? cudaMemcpyDeviceToDevice
                        : dst_dev >= 0               ? cudaMemcpyHostToDevice
                        : src_dev >= 0               ? cudaMemcpyDeviceToHost
                                                     : cudaMemcpyHostToHost;
  if (st) MT_CHECK_CUDA(mtk_memcpy(dst, src, bytes, kind, st));
  else MT_CHECK_CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
  return 0;
}

extern "C" int mtk_cuda_sync(int dev) {
  MT_CHECK_CUDA(cudaSetDevice(dev));
  MT_CHECK_CUDA(cudaDeviceSynchronize());
  return 0;
}

// Pinned host memory for staging device buffers through MPI (page-locked:
// copies run at full PCIe/NVLink speed and can be asynchronous).
extern "C" float *mtk_cuda_host_alloc(size_t bytes) {
  void *p = NULL;
  if (cudaMallocHost(&p, bytes) != cudaSuccess) {
    cudaError_t e = cudaGetLastError();
    mt_error_set(MT_E_CUDA, "cudaMallocHost(%zu): %s", bytes, cudaGetErrorString(e));
    return NULL;
  }
  return (float *)p;
}

extern "C" void mtk_cuda_host_free(float *p) {
  if (p) MT_WARN_CUDA(cudaFreeHost(p));
}
