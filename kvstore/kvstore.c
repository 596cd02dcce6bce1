/* kvstore.c — the kvstore interface's functions, dispatched through the
 * backend's table (kvstore.h): a NULL slot gets the one-process meaning its
 * comment gives. Knows no backend by name. */
#include "kvstore/kvstore.h"

const char *mt_kvstore_type(const mt_kvstore *kv) { return kv->backend->name; }
int mt_kvstore_is_dist(const mt_kvstore *kv) { return kv->backend->across_ranks; }

/* The timeline: bucket k's start time (its lane: MT_TL_LANE_BUCKET + k, the
 * last lane shared by the later ones, which then nest: same end). */
static void tl_bucket_open(mt_kvstore *kv, int k, int64_t t0, int64_t len) {
  if (k >= MT_TL_BUCKET_LANES) k = MT_TL_BUCKET_LANES - 1;
  if (k >= kv->tl_nb) {
    for (int i = kv->tl_nb; i < k; i++) kv->tl_t0[i] = 0;
    kv->tl_nb = k + 1;
  } else if (kv->tl_t0[k]) {
    return; /* the earliest start of a shared lane */
  }
  kv->tl_t0[k] = t0;
  kv->tl_len[k] = len;
}

/* Every open bucket ends at t1: one span each, from start to completion. */
static void tl_buckets_close(mt_kvstore *kv, int64_t t1) {
  for (int k = 0; k < kv->tl_nb; k++)
    if (kv->tl_t0[k])
      mt_tl_span_lane(MT_TL_LANE_BUCKET + k, "bucket", "bucket", NULL, kv->tl_t0[k], t1,
                      kv->tl_len[k]);
  kv->tl_nb = 0;
}

int mt_kvstore_start(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                     int64_t n) {
  int64_t t = MT_TL_BEGIN();
  int rc = kv->backend->start(kv, ndev, bufs, ctxs, n);
  if (t) {
    mt_tl_span("kvstore", "bucket start", NULL, t, n);
    tl_bucket_open(kv, kv->tl_nb, t, n);
  }
  return rc;
}
int mt_kvstore_progress(mt_kvstore *kv) {
  return kv->backend->progress ? kv->backend->progress(kv) : 0;
}
int mt_kvstore_wait(mt_kvstore *kv) {
  int64_t t = MT_TL_BEGIN();
  int rc = kv->backend->wait ? kv->backend->wait(kv) : 0;
  if (t) {
    mt_tl_span("wait", "kvstore wait", NULL, t, -1);
    tl_buckets_close(kv, mt_tl_now());
  }
  return rc;
}

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
  if (mt_tl_on()) tl_bucket_open(kv, k, mt_tl_now(), -1);
  if (kv->backend->chunk_ready) kv->backend->chunk_ready(kv, k);
}

int mt_kvstore_reduce_apply(mt_kvstore *kv, float *buf, int64_t n, mt_kvstore_range_fn fn,
                            void *user, int *code) {
  *code = 0;
  int64_t t = MT_TL_BEGIN();
  int rc = kv->backend->reduce_apply ? kv->backend->reduce_apply(kv, buf, n, fn, user, code) : 0;
  if (t) {
    mt_tl_span("update", "reduce and apply", NULL, t, n);
    tl_buckets_close(kv, mt_tl_now());
  }
  return rc;
}
