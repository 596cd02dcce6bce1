// cudnn_common.cuh — what cudnn_conv.cu and cudnn_pool.cu share
// (cudnn_common.cu): one cuDNN handle per device, bound before every use to
// the stream of the calling thread's work (mtk_stream(dev)), a workspace per
// device and stream from the caching allocator, and descriptor helpers.
//
// Locking: cuDNN handles are not safe for concurrent host threads, and
// cudnnSetStream + the call must be one step, so every entry point of the
// cuDNN kernels holds mtk_cudnn_lock() (a process-wide mutex; the calls only
// queue work, so holding it is short) from the handle to its last call.
#ifndef MT_KERNELS_CUDA_CUDNN_COMMON_CUH
#define MT_KERNELS_CUDA_CUDNN_COMMON_CUH
#include <stddef.h>

#include <mutex>

#include "base/cuda/check.h"
#include "base/cuda/stream.cuh"

std::mutex &mtk_cudnn_lock();

// gpu(dev)'s cuDNN handle, created on first use, bound to mtk_stream(dev);
// the device is made current. Call with mtk_cudnn_lock() held.
int mtk_cudnn_handle(int dev, cudnnHandle_t *h);

// A workspace of at least `bytes` on gpu(dev) for work queued on
// mtk_stream(dev), NULL for 0 bytes. One buffer per device and stream
// (work on one stream runs in order, so its calls can share it; two
// executors' streams on one device never do), kept and grown as needed:
// before a buffer still used by queued work is handed back to the caching
// allocator its stream is synchronized. Up to MTK_CUDNN_WS_STREAMS streams a
// device; one more evicts the oldest after a cudaDeviceSynchronize. Call with
// mtk_cudnn_lock() held.
enum { MTK_CUDNN_WS_STREAMS = 8 };
int mtk_cudnn_workspace(int dev, size_t bytes, void **ws);

// A float32 NCHW tensor descriptor of (n, c, h, w), made and set; on failure
// *t is NULL and the error recorded.
int mtk_cudnn_tensor(cudnnTensorDescriptor_t *t, int n, int c, int h, int w);

#endif
