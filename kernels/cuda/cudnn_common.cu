// cudnn_common.cu — the cuDNN handles and workspaces of the cuDNN kernels
// (cudnn_common.cuh says how they are shared).
#include "kernels/cuda/cudnn_common.cuh"

extern "C" {
#include "base/device.h"
}

static cudnnHandle_t mt_cudnn[MTK_MAX_GPUS];

std::mutex &mtk_cudnn_lock() {
  static std::mutex m;
  return m;
}

int mtk_cudnn_handle(int dev, cudnnHandle_t *h) {
  MT_TRY(mtk_set_device(dev));
  if (!mt_cudnn[dev]) MT_CHECK_CUDNN(cudnnCreate(&mt_cudnn[dev]));
  MT_CHECK_CUDNN(cudnnSetStream(mt_cudnn[dev], mtk_stream(dev)));
  *h = mt_cudnn[dev];
  return 0;
}

namespace {
struct ws_entry {
  int used;
  cudaStream_t stream;
  void *p;
  size_t bytes;
};
ws_entry ws_table[MTK_MAX_GPUS][MTK_CUDNN_WS_STREAMS];
} // namespace

int mtk_cudnn_workspace(int dev, size_t bytes, void **ws) {
  *ws = NULL;
  if (bytes == 0) return 0;
  cudaStream_t st = mtk_stream(dev);
  ws_entry *tab = ws_table[dev], *e = NULL;
  for (int i = 0; i < MTK_CUDNN_WS_STREAMS && !e; i++)
    if (tab[i].used && tab[i].stream == st) e = &tab[i];
  for (int i = 0; i < MTK_CUDNN_WS_STREAMS && !e; i++)
    if (!tab[i].used) e = &tab[i];
  if (!e) { // every slot taken: the oldest goes, once nothing can use it
    MT_CHECK_CUDA(cudaDeviceSynchronize());
    mt_device_free(mt_gpu(dev), (float *)tab[0].p);
    for (int i = 1; i < MTK_CUDNN_WS_STREAMS; i++) tab[i - 1] = tab[i];
    e = &tab[MTK_CUDNN_WS_STREAMS - 1];
    *e = ws_entry{0, NULL, NULL, 0};
  }
  if (!e->used) *e = ws_entry{1, st, NULL, 0};
  if (e->bytes >= bytes) {
    *ws = e->p;
    return 0;
  }
  if (e->p) {
    // work queued on `st` may still use it; the legacy stream's later work
    // (and the blocking streams') is ordered after it already
    if (st) MT_CHECK_CUDA(cudaStreamSynchronize(st));
    mt_device_free(mt_gpu(dev), (float *)e->p);
    e->p = NULL;
    e->bytes = 0;
  }
  float *p = mt_device_alloc(mt_gpu(dev), (int64_t)((bytes + sizeof(float) - 1) / sizeof(float)));
  if (!p) return mt_error_prefix(MT_E_CUDA, "gpu(%d): a cuDNN workspace of %zu bytes", dev, bytes);
  e->p = p;
  e->bytes = bytes;
  *ws = p;
  return 0;
}

int mtk_cudnn_tensor(cudnnTensorDescriptor_t *t, int n, int c, int h, int w) {
  *t = NULL;
  MT_CHECK_CUDNN(cudnnCreateTensorDescriptor(t));
  cudnnStatus_t s = cudnnSetTensor4dDescriptor(*t, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w);
  if (s != CUDNN_STATUS_SUCCESS) {
    cudnnDestroyTensorDescriptor(*t);
    *t = NULL;
    return mt_error_set(MT_E_CUDA, "%s:%d: cudnnSetTensor4dDescriptor(%d, %d, %d, %d): %s",
                        __FILE__, __LINE__, n, c, h, w, cudnnGetErrorString(s));
  }
  return 0;
}
