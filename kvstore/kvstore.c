/* kvstore.c — the kvstore interface's functions, dispatched through the
 * backend's table (kvstore.h): a NULL slot gets the one-process meaning its
 * comment gives. Knows no backend by name. */
#include "kvstore/kvstore.h"

const char *mt_kvstore_type(const mt_kvstore *kv) { return kv->backend->name; }
int mt_kvstore_is_dist(const mt_kvstore *kv) { return kv->backend->across_ranks; }

int mt_kvstore_start(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                     int64_t n) {
  return kv->backend->start(kv, ndev, bufs, ctxs, n);
}
int mt_kvstore_progress(mt_kvstore *kv) {
  return kv->backend->progress ? kv->backend->progress(kv) : 0;
}
int mt_kvstore_wait(mt_kvstore *kv) { return kv->backend->wait ? kv->backend->wait(kv) : 0; }

int mt_kvstore_set_blocking(mt_kvstore *kv, int blocking) {
  return kv->backend->set_blocking ? kv->backend->set_blocking(kv, blocking) : 0;
}

int mt_kvstore_pushpull(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                        int64_t n) {
  mt_kvstore_set_blocking(kv, 1);
  int rc = mt_kvstore_start(kv, ndev, bufs, ctxs, n);
  mt_kvstore_set_blocking(kv, 0);
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

float *mt_kvstore_host_buffer(mt_kvstore *kv, int64_t n) {
  return kv->backend->host_buffer ? kv->backend->host_buffer(kv, n) : NULL;
}

float *mt_kvstore_shared_buffer(mt_kvstore *kv, int64_t n) {
  return kv->backend->shared_buffer ? kv->backend->shared_buffer(kv, n) : NULL;
}

int mt_kvstore_apply_plan(mt_kvstore *kv, int nchunk, const int64_t *off, const int64_t *len) {
  if (!kv->backend->apply_plan)
    return mt_error_set(MT_E_UNSUPPORTED, "kvstore: no node-shared update here");
  return kv->backend->apply_plan(kv, nchunk, off, len);
}

void mt_kvstore_chunk_ready(mt_kvstore *kv, int k) {
  if (kv->backend->chunk_ready) kv->backend->chunk_ready(kv, k);
}

int mt_kvstore_reduce_apply(mt_kvstore *kv, float *buf, int64_t n, mt_kvstore_range_fn fn,
                            void *user, int *code) {
  *code = 0;
  return kv->backend->reduce_apply ? kv->backend->reduce_apply(kv, buf, n, fn, user, code) : 0;
}
