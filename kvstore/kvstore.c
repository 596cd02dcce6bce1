/* kvstore.c — creating kvstores by name, dispatch, and the in-process
 * device stage shared by every backend. */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kvstore/kvstore.h"
#include "base/device.h"

int mt_kvstore_create(const char *type, mt_kvstore **out) {
  *out = NULL;
  if (!type || !*type) type = "local";
  const mt_kvstore_backend *b = NULL;
  int hier = 0;
  if (!strcmp(type, "local") || !strcmp(type, "device")) b = &mt_kvstore_local;
  else if (!strcmp(type, "dist_sync") || !strcmp(type, "dist") || !strcmp(type, "dist_sync_device"))
    b = &mt_kvstore_dist_sync;
  else if (!strcmp(type, "hier")) {
    b = &mt_kvstore_hier;
    hier = 1;
  } else if (!strcmp(type, "nccl")) {
    b = &mt_kvstore_nccl;
    hier = 2;
  }
  if (!b)
    return mt_error_set(MT_E_INVAL,
                        "unknown kvstore type '%s' (known: local, device, dist_sync, hier, nccl)",
                        type);
  mt_kvstore *kv = calloc(1, sizeof *kv);
  if (!kv) return mt_error_set(MT_E_NOMEM, "kvstore: out of memory");
  kv->backend = b;
  kv->rank = 0;
  kv->num_workers = 1;
  if (b != &mt_kvstore_local) {
    int rc = mt_kvstore_dist_init(kv, hier);
    if (rc < 0) {
      if (kv->impl) b->destroy(kv); /* what init made before it failed */
      free(kv);
      return rc;
    }
  }
  *out = kv;
  return MT_OK;
}

void mt_kvstore_free(mt_kvstore *kv) {
  if (!kv) return;
  if (kv->backend && kv->backend->destroy) kv->backend->destroy(kv);
  free(kv);
}

const char *mt_kvstore_type(const mt_kvstore *kv) { return kv->backend->name; }
int mt_kvstore_is_dist(const mt_kvstore *kv) { return kv->backend != &mt_kvstore_local; }

int mt_kvstore_start(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                     int64_t n) {
  return kv->backend->start(kv, ndev, bufs, ctxs, n);
}
int mt_kvstore_progress(mt_kvstore *kv) {
  return kv->backend->progress ? kv->backend->progress(kv) : 0;
}
int mt_kvstore_wait(mt_kvstore *kv) { return kv->backend->wait ? kv->backend->wait(kv) : 0; }

int mt_kvstore_pushpull(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                        int64_t n) {
  mt_kvstore_dist_set_blocking(kv, 1);
  int rc = mt_kvstore_start(kv, ndev, bufs, ctxs, n);
  mt_kvstore_dist_set_blocking(kv, 0);
  if (rc == 0) rc = mt_kvstore_wait(kv);
  if (rc == 0) rc = mt_kvstore_copy_devices(ndev, bufs, ctxs, n);
  return rc;
}

int mt_kvstore_broadcast(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                         int64_t n) {
  return kv->backend->broadcast(kv, ndev, bufs, ctxs, n);
}
int mt_kvstore_allreduce_f64(mt_kvstore *kv, double *buf, int64_t n) {
  return kv->backend->allreduce_f64 ? kv->backend->allreduce_f64(kv, buf, n) : 0;
}
int mt_kvstore_check_same(mt_kvstore *kv, uint64_t value, const char *what) {
  return kv->backend->check_same ? kv->backend->check_same(kv, value, what) : 0;
}
int mt_kvstore_barrier(mt_kvstore *kv) {
  return kv->backend->barrier ? kv->backend->barrier(kv) : 0;
}

/* GPU values: device d's buffer is staged into a scratch buffer on device
 * 0's GPU (cudaMemcpyPeer through cudaMemcpyDefault), then added there, in
 * device order: deterministic, and it works when one GPU is listed twice
 * (which NCCL refuses). */
#ifdef MT_HAVE_CUDA
static float *scratch;
static int64_t scratch_n;
static int scratch_dev = -1;

/* through the device's caching allocator (src/mem_cache.c), whose cached
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

int mt_kvstore_agree_start(mt_kvstore *kv, int flag) {
  kv->agree_pending = 1;
  if (kv->backend->agree_start) return kv->backend->agree_start(kv, flag);
  kv->agree_flag = flag;
  return MT_OK;
}

int mt_kvstore_agree_wait(mt_kvstore *kv, int *any) {
  *any = 0;
  if (!kv->agree_pending) return MT_OK;
  kv->agree_pending = 0;
  if (kv->backend->agree_wait) return kv->backend->agree_wait(kv, any);
  *any = kv->agree_flag;
  return MT_OK;
}
