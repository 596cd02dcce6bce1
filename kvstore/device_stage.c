/* device_stage.c — the in-process stage of every kvstore backend: the sum
 * of one value over the contexts of this process into context 0, and the
 * copy of context 0's value to the others (device_stage.h).
 *
 * GPU values: device d's buffer is staged into a scratch buffer on device
 * 0's GPU (cudaMemcpyPeer through cudaMemcpyDefault), then added there, in
 * device order: deterministic, and it works when one GPU is listed twice
 * (which NCCL refuses). */
#include <string.h>

#include "kernels/kernels.h"
#include "kvstore/device_stage.h"
#include "base/device.h"

#ifdef MT_HAVE_CUDA
static float *scratch;
static int64_t scratch_n;
static int scratch_dev = -1;

/* through the device's caching allocator (base/mem_cache.c), whose cached
 * blocks go back to CUDA when memory runs short */
static int gpu_scratch(int dev, int64_t n, float **out) {
  if (scratch && (scratch_dev != dev || scratch_n < n)) {
    mt_device_free(mt_gpu(scratch_dev), scratch);
    scratch = NULL;
  }
  if (!scratch) {
    scratch = mt_device_alloc(mt_gpu(dev), n);
    if (!scratch) return MT_E_CUDA;
    scratch_n = n;
    scratch_dev = dev;
  }
  *out = scratch;
  return MT_OK;
}
#endif

int mt_kvstore_reduce_devices(int ndev, float *const *bufs, const mt_context *ctxs, int64_t n) {
  int gpu = 0;
  for (int d = 0; d < ndev; d++) gpu |= ctxs[d].type != MT_CPU;
  if (!gpu) {
    for (int d = 1; d < ndev; d++) mtk_axpy(bufs[0], 1.0f, bufs[d], n);
    return MT_OK;
  }
#ifdef MT_HAVE_CUDA
  if (ctxs[0].type != MT_GPU)
    return mt_error_set(MT_E_UNSUPPORTED, "kvstore: mixing cpu and gpu contexts is not supported");
  for (int d = 1; d < ndev; d++) {
    if (ctxs[d].type != MT_GPU)
      return mt_error_set(MT_E_UNSUPPORTED,
                          "kvstore: mixing cpu and gpu contexts is not supported");
    const float *src = bufs[d];
    if (ctxs[d].id != ctxs[0].id) {
      float *tmp;
      int rc = gpu_scratch(ctxs[0].id, n, &tmp);
      if (rc < 0) return rc;
      rc = mtk_cuda_copy(ctxs[0].id, tmp, ctxs[d].id, bufs[d], (size_t)n * sizeof(float));
      if (rc < 0) return rc;
      src = tmp;
    }
    int rc = mtk_cuda_axpy(ctxs[0].id, bufs[0], 1.0f, src, n);
    if (rc < 0) return rc;
  }
  return MT_OK;
#else
  return mt_error_set(MT_E_UNSUPPORTED, "kvstore: this build has no CUDA");
#endif
}

int mt_kvstore_copy_devices(int ndev, float *const *bufs, const mt_context *ctxs, int64_t n) {
  for (int d = 1; d < ndev; d++) {
    if (ctxs[d].type == MT_CPU && ctxs[0].type == MT_CPU) {
      memcpy(bufs[d], bufs[0], (size_t)n * sizeof(float));
      continue;
    }
#ifdef MT_HAVE_CUDA
    int rc =
        mtk_cuda_copy(ctxs[d].type == MT_GPU ? ctxs[d].id : -1, bufs[d],
                      ctxs[0].type == MT_GPU ? ctxs[0].id : -1, bufs[0], (size_t)n * sizeof(float));
    if (rc < 0) return rc;
#else
    return mt_error_set(MT_E_UNSUPPORTED, "kvstore: this build has no CUDA");
#endif
  }
  return MT_OK;
}
