// stream.cuh — for .cu files: the current executor stream of the calling
// thread (stream.cu), copies on it, and a checked cudaSetDevice. Every
// launch, cuBLAS call and copy of the project goes on mtk_stream(dev): the
// stream of the executor running on this thread when it is on `dev`, else
// the legacy default stream (0).
#ifndef MT_BASE_CUDA_STREAM_CUH
#define MT_BASE_CUDA_STREAM_CUH
#include <stdint.h>

#include "base/cuda/check.h"
#include "base/error.h"
#include "base/cuda/device_runtime.h"

// An executor's stream and the cuBLAS handle bound to it (stream.cu).
struct mtk_cuda_stream {
  int dev;
  cudaStream_t stream;
  cublasHandle_t blas;
};
extern thread_local mtk_cuda_stream *mtk_cur_stream;

// The stream for work on `dev` issued from this thread now.
static inline cudaStream_t mtk_stream(int dev) {
  mtk_cuda_stream *s = mtk_cur_stream;
  return s && s->dev == dev ? s->stream : (cudaStream_t)0;
}

// A copy on stream `st` that has finished when it returns if host memory is
// involved (as cudaMemcpy does): callers read or reuse the host side at once.
// Device-to-device copies stay asynchronous, ordered on `st`.
static inline cudaError_t mtk_memcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                                     cudaStream_t st) {
  if (!st) return cudaMemcpy(dst, src, bytes, kind);
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, st);
  if (e != cudaSuccess || kind == cudaMemcpyDeviceToDevice) return e;
  return cudaStreamSynchronize(st);
}
#define MTK_MAX_GPUS 64

// cudaSetDevice with the device id checked (bad ids are user errors).
static inline int mtk_set_device(int dev) {
  if (dev < 0 || dev >= MTK_MAX_GPUS)
    return mt_error_set(MT_E_INVAL, "gpu(%d): bad device id", dev);
  MT_CHECK_CUDA(cudaSetDevice(dev));
  return 0;
}

#endif
