// stream.cu — one CUDA stream per executor (cuda_kernels.h, mtk_cuda_stream).
//
// Where a Module has several contexts on GPUs, each executor issues its
// kernels, cuBLAS calls and copies on a stream of its own, so the executors
// of one device (gpu:0,0) overlap, and the host queues the next executor's
// work while the previous one runs. The stream is made current for the
// calling thread (mtk_cuda_stream_use) while the executor runs; every launch
// in kernels/cuda asks stream.cuh's mtk_stream(dev) for it, which is the
// legacy default stream (0) outside an executor or on another device.
//
// The streams are created blocking (cudaStreamCreate, not
// cudaStreamNonBlocking): work on the legacy default stream of the device
// (kvstore, optimizer, cudaMemcpy from the Module) waits for them and they
// wait for it, so code that knows nothing of streams stays ordered with
// them. Each stream has its own cuBLAS handle: one handle's workspace must
// not serve two streams at once.
#include "base/cuda/check.h"
#include "base/cuda/device_runtime.h"
#include "base/cuda/stream.cuh"

thread_local mtk_cuda_stream *mtk_cur_stream;

extern "C" int mtk_cuda_stream_create(int dev, mtk_cuda_stream **out) {
  *out = NULL;
  MT_TRY(mtk_set_device(dev));
  mtk_cuda_stream *s = (mtk_cuda_stream *)calloc(1, sizeof *s);
  if (!s) return mt_error_set(MT_E_NOMEM, "gpu(%d): out of host memory for a stream", dev);
  s->dev = dev;
  cudaError_t e = cudaStreamCreate(&s->stream);
  if (e != cudaSuccess) {
    free(s);
    return mt_error_set(MT_E_CUDA, "%s:%d: cudaStreamCreate on gpu(%d): %s", __FILE__, __LINE__,
                        dev, cudaGetErrorString(e));
  }
  cublasStatus_t b = cublasCreate(&s->blas);
  if (b == CUBLAS_STATUS_SUCCESS) b = cublasSetStream(s->blas, s->stream);
  if (b != CUBLAS_STATUS_SUCCESS) {
    if (s->blas) cublasDestroy(s->blas);
    cudaStreamDestroy(s->stream);
    free(s);
    return mt_error_set(MT_E_CUDA, "%s:%d: cuBLAS handle for a stream on gpu(%d): %s", __FILE__,
                        __LINE__, dev, cublasGetStatusString(b));
  }
  *out = s;
  return 0;
}

extern "C" void mtk_cuda_stream_destroy(mtk_cuda_stream *s) {
  if (!s) return;
  if (mtk_cur_stream == s) mtk_cur_stream = NULL;
  MT_WARN_CUDA(cudaSetDevice(s->dev));
  MT_WARN_CUDA(cudaStreamSynchronize(s->stream)); /* nothing may still run on its buffers */
  MT_WARN_CUBLAS(cublasDestroy(s->blas));
  MT_WARN_CUDA(cudaStreamDestroy(s->stream));
  free(s);
}

extern "C" mtk_cuda_stream *mtk_cuda_stream_use(mtk_cuda_stream *s) {
  mtk_cuda_stream *prev = mtk_cur_stream;
  mtk_cur_stream = s;
  return prev;
}

extern "C" int mtk_cuda_stream_wait(mtk_cuda_stream *s) {
  if (!s) return 0;
  MT_TRY(mtk_set_device(s->dev));
  MT_CHECK_CUDA(cudaStreamSynchronize(s->stream));
  return 0;
}
