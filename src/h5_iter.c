/* h5_iter.c — the HDF5 dataset iterator (MXNet's NDArrayIter over a dataset
 * file, sharded by rank, with a prefetch thread) and mt_dataset_write, the
 * writer for users' own arrays. File layout and reads: io/h5dataset.h.
 *
 * Batches: the iterator walks the file's N samples exactly as NDArrayIter
 * (src/data_iter.c) walks N in-memory samples — the same epoch order
 * (mt_data_iter_order: seed and epoch), the same cursor, the same pad
 * (wrap to the start of the order), discard and roll_over rules — over the
 * *global* batch of batch_size samples. Every rank computes that order
 * alone (no communication) and rank r keeps positions
 * [r * B / world, (r + 1) * B / world) of each global batch, reading only
 * those rows (a sorted, de-duplicated row list, one hyperslab read per run
 * of consecutive rows). So for the same file, seed and batch size, the
 * shards of ranks 0..world-1 concatenated are the world = 1 batch, and
 * world = 1 gives exactly mt_ndarray_iter_create's batches of the same
 * arrays. provide_data's batch axis is the shard size B / world.
 * batch.pad counts the padding samples inside this rank's shard (padding
 * trails the global batch, so it trails every shard).
 *
 * Prefetch: one pthread reads batch k + 1 into the second of two slots
 * while the caller uses batch k (double buffering). A slot handed out by
 * next() stays untouched until the following next(), reset() or free.
 * reset() and free wait for a read in progress to finish (at most one
 * batch), then reset starts the next epoch and the thread prefetches its
 * first batch; free joins the thread. Errors of the thread (an HDF5 read, a
 * label outside [0, num_classes)) come back from the next() that reaches
 * that batch, with the thread's message, and stay until reset.
 *
 * Memory: the epoch order (8 bytes per sample), two slots and a staging
 * buffer of B / world samples: files larger than memory are fine. What
 * that comes to is checked against the machine's memory before anything is
 * allocated (mt_h5_iter_check_memory), so a file claiming 2^40 samples is
 * an error naming it, never an 8 TiB allocation. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_iter.h"
#include "base/error.h"
#include "base/philox.h"
#include "io/h5dataset.h"
#include "kvstore/node_mem.h"
#include "ndarray.h"

typedef enum { SLOT_FREE = 0, SLOT_BUSY, SLOT_FULL, SLOT_END, SLOT_ERR } slot_state;

typedef struct {
  slot_state state;
  mt_ndarray *data;  /* (bs, d1, ...) */
  mt_ndarray *label; /* (bs,) or (bs, k) */
  int64_t *index;    /* (bs,) sample indices of this rank's shard */
  int pad;           /* padding samples in the shard */
  int64_t cursor;    /* the global cursor after this step (NDArrayIter's) */
  int err;
  char msg[1024];
} slot;

typedef struct {
  int more, gpad;
  int64_t cursor;
} plan_entry;

typedef struct {
  mtio_h5_reader *rd;
  mt_h5_iter_opts opts;
  int64_t n;       /* samples in the file */
  int64_t gbs, bs; /* global batch, this rank's shard (gbs / world) */
  int64_t r0;      /* first position of the shard in the global batch */
  mt_last_batch mode;
  int shuffle;
  uint64_t seed;
  int64_t row, lrow; /* floats per sample in /data and /label */
  mt_data_desc ddesc, ldesc;

  /* Epoch state: changed only by reset, while the thread is idle. */
  uint64_t epoch;
  int64_t *order; /* (n,) this epoch's order */
  int64_t *cache; /* (gbs,) roll_over: samples carried into this epoch */
  int64_t ncache;

  /* Producer (the thread). */
  int64_t pcursor;
  int pended;       /* produced the end (or an error) of this epoch */
  int p;            /* next slot to fill */
  int64_t *gidx;    /* (gbs,) global batch indices */
  int64_t *uniq;    /* (bs,) the shard's rows, sorted, unique */
  float *ystage;    /* (bs, lrow) labels of uniq, for the check */
  int64_t rb;       /* bytes of one row of /data in its own type */
  int mtype;        /* mtio_dtype */
  int plain;        /* float32, no scale/mean/std: rows are copied */
  float *sub, *mul; /* (row,) x -> (x - sub) * mul */

  /* Augmentation ([N, C, H, W]; opts.data_shape, pad, rand_crop,
   * rand_mirror): rows converted into astage, then cut to orow floats. */
  int aug;
  int64_t C, H, W0, oh, ow, orow;
  float *astage; /* (row,) */

  /* Labels: all of them, read once by the thread (first batch). */
  float *ylab; /* (n, lrow) */
  int labels_loaded;

  /* The in-memory cache (cache = memory): /data whole, raw. */
  void *mem;
  int use_mem;
  int share;        /* MPI world = (rank, world): the cache may be node-shared */
  mt_node_mem nmem; /* the node-shared block when mem is it */
  int mem_shared;   /* ranks of the node sharing mem (0: this rank's own copy) */

  /* Streaming: a window of up to W planned batches whose rows are read
   * together, each chunk band once (mtio_h5_read_rows_raw). */
  int64_t W, wcount, wpos, nw;
  plan_entry *wplan; /* (W,) */
  int64_t *widx;     /* (W, bs) the shards' rows, by batch */
  int64_t *wrows;    /* (W * bs) sorted unique rows read */
  void *wbuf;        /* (W * bs, row) raw */
  int wfailed;       /* the window read failed: read batch by batch */
  double expect_amp; /* expected bytes read per byte used (shuffled) */

  /* Consumer (the caller). */
  int64_t ccursor;
  int cended; /* next() returned the end of this epoch */
  int q;      /* next slot to hand out */
  int handed; /* slot in the caller's hands, or -1 */
  int cerr;   /* sticky error until reset */
  char cmsg[1024];

  slot slots[2];
  pthread_t thread;
  int thread_started;
  pthread_mutex_t mu;
  pthread_cond_t cv_work, cv_done;
  int active, quit, busy;
} h5_iter;

/* ------------------------------------------------------------ planning */

/* NDArrayIter's next() on the producer cursor: fills gidx (gbs) and *pad
 * and returns 1, or returns 0 at the end of the epoch. */
static int plan_next(h5_iter *it, int *pad) {
  int64_t n = it->n, bs = it->gbs;
  *pad = 0;
  if (it->pcursor >= n) return 0;
  it->pcursor += bs;
  if (it->pcursor >= n) return 0;
  int64_t c = it->pcursor;
  if (it->mode == MT_LAST_BATCH_ROLL_OVER && c < 0) {
    /* First batch after a roll-over reset: the cached samples (-c of them,
     * as reset arranged), then the head of the new order. */
    memcpy(it->gidx, it->cache, (size_t)it->ncache * sizeof *it->gidx);
    memcpy(it->gidx + it->ncache, it->order, (size_t)(bs - it->ncache) * sizeof *it->gidx);
  } else if (c + bs > n) {
    if (it->mode != MT_LAST_BATCH_PAD) return 0; /* incomplete: roll_over caches it at reset */
    for (int64_t j = 0; j < bs; j++) it->gidx[j] = it->order[(c + j) % n];
    *pad = (int)(c + bs - n);
  } else {
    memcpy(it->gidx, it->order + c, (size_t)bs * sizeof *it->gidx);
  }
  return 1;
}

/* Row u of the window (or of the memory cache) as float32 into dst. */
static void convert_row(const h5_iter *it, const void *src, float *dst) {
  int64_t d = it->row;
  if (it->plain) {
    memcpy(dst, src, (size_t)d * sizeof(float));
    return;
  }
  switch ((mtio_dtype)it->mtype) {
#define CONV(T)                                                                                    \
  {                                                                                                \
    const T *x = src;                                                                              \
    if (!it->sub)                                                                                  \
      for (int64_t e = 0; e < d; e++) dst[e] = (float)x[e];                                        \
    else                                                                                           \
      for (int64_t e = 0; e < d; e++) dst[e] = ((float)x[e] - it->sub[e]) * it->mul[e];            \
  }                                                                                                \
  break;
  case MTIO_F32: CONV(float)
  case MTIO_F64: CONV(double)
  case MTIO_U8: CONV(uint8_t)
  case MTIO_I8: CONV(int8_t)
  case MTIO_U16: CONV(uint16_t)
  case MTIO_I16: CONV(int16_t)
  case MTIO_I32: CONV(int32_t)
#undef CONV
  }
}

/* The Philox stream of the augmentation draws: key (seed, this constant),
 * counter (epoch, sample index). Shuffling keys (seed, epoch): apart. */
#define AUG_STREAM 0x6175676d656e7400ull /* "augment" */

void mt_h5_augment_draw(uint64_t seed, uint64_t epoch, int64_t sample, int64_t span_y,
                        int64_t span_x, int64_t *y0, int64_t *x0, int *mirror) {
  mtk_philox4 v = mtk_philox(mtk_philox_key(seed, AUG_STREAM), epoch, (uint64_t)sample);
  *y0 = span_y > 1 ? (int64_t)(v.v[0] % (uint64_t)span_y) : 0;
  *x0 = span_x > 1 ? (int64_t)(v.v[1] % (uint64_t)span_x) : 0;
  *mirror = (int)(v.v[2] & 1u);
}

/* One converted sample src (C, H, W) into dst (C, oh, ow): padded with
 * zeros, the window at (y0, x0) of the padded image (random, or the
 * center), mirrored left-right when drawn so (docs/config.md [data]). */
static void augment_row(const h5_iter *it, const float *src, float *dst, int64_t sample) {
  int64_t p = it->opts.pad, H = it->H, W = it->W0, oh = it->oh, ow = it->ow;
  int64_t sy = H + 2 * p - oh + 1, sx = W + 2 * p - ow + 1, y0, x0;
  int mirror;
  mt_h5_augment_draw(it->seed, it->epoch, sample, sy, sx, &y0, &x0, &mirror);
  if (!it->opts.rand_crop) {
    y0 = (sy - 1) / 2;
    x0 = (sx - 1) / 2;
  }
  if (!it->opts.rand_mirror) mirror = 0;
  for (int64_t c = 0; c < it->C; c++)
    for (int64_t i = 0; i < oh; i++) {
      int64_t y = y0 + i - p;
      float *d = dst + (c * oh + i) * ow;
      if (y < 0 || y >= H) {
        memset(d, 0, (size_t)ow * sizeof *d);
        continue;
      }
      const float *s = src + (c * H + y) * W;
      for (int64_t j = 0; j < ow; j++) {
        int64_t x = x0 + (mirror ? ow - 1 - j : j) - p;
        d[j] = x < 0 || x >= W ? 0.0f : s[x];
      }
    }
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Sorts and de-duplicates v[0..n); returns the unique count. */
static int64_t sort_unique(int64_t *v, int64_t n) {
  qsort(v, (size_t)n, sizeof *v, cmp_i64);
  int64_t nu = 0;
  for (int64_t j = 0; j < n; j++)
    if (nu == 0 || v[j] != v[nu - 1]) v[nu++] = v[j];
  return nu;
}

/* All labels, once (the first batch after create). */
static int load_labels(h5_iter *it) {
  if (it->labels_loaded) return MT_OK;
  MT_TRY(mtio_h5_read_labels(it->rd, 0, it->n, it->ylab));
  it->labels_loaded = 1;
  return MT_OK;
}

/* Reads the window's rows: every planned batch's shard, sorted, unique,
 * in one mtio_h5_read_rows_raw (each chunk band once). */
static int read_window(h5_iter *it) {
  int64_t m = 0;
  for (int64_t k = 0; k < it->wcount; k++)
    if (it->wplan[k].more) {
      memcpy(it->wrows + m, it->widx + k * it->bs, (size_t)it->bs * sizeof *it->wrows);
      m += it->bs;
    }
  it->nw = sort_unique(it->wrows, m);
  return mtio_h5_read_rows_raw(it->rd, it->nw, it->wrows, it->wbuf);
}

/* Fills slot s with planned batch k of the window (s->index set): rows
 * from the memory cache or the window, converted; labels checked as the
 * reader checks them (sorted unique rows, first bad one named). Runs on
 * the thread, without it->mu. */
static int fill_slot(h5_iter *it, slot *s, int64_t k) {
  int64_t bs = it->bs;
  MT_TRY(load_labels(it));
  memcpy(it->uniq, s->index, (size_t)bs * sizeof *it->uniq);
  int64_t nu = sort_unique(it->uniq, bs);
  if (!it->use_mem) {
    if (k == 0 || it->W == 1) {
      int rc = read_window(it);
      it->wfailed = rc < 0;
      if (rc < 0 && it->W == 1) return rc;
    }
    if (it->wfailed) { /* the failing batch, exactly: this batch's rows alone */
      memcpy(it->wrows, it->uniq, (size_t)nu * sizeof *it->wrows);
      it->nw = nu;
      MT_TRY(mtio_h5_read_rows_raw(it->rd, nu, it->wrows, it->wbuf));
    }
  }
  for (int64_t j = 0; j < nu; j++)
    memcpy(it->ystage + j * it->lrow, it->ylab + it->uniq[j] * it->lrow,
           (size_t)it->lrow * sizeof(float));
  MT_TRY(mtio_h5_check_labels(it->rd, nu, it->ystage, 0, it->uniq));
  float *x = mt_ndarray_data(s->data), *y = mt_ndarray_data(s->label);
  for (int64_t j = 0; j < bs; j++) {
    int64_t r = s->index[j];
    const char *src;
    if (it->use_mem) {
      src = (const char *)it->mem + r * it->rb;
    } else {
      const int64_t *f = bsearch(&r, it->wrows, (size_t)it->nw, sizeof *it->wrows, cmp_i64);
      src = (const char *)it->wbuf + (f - it->wrows) * it->rb;
    }
    if (it->aug) {
      convert_row(it, src, it->astage);
      augment_row(it, it->astage, x + j * it->orow, r);
    } else {
      convert_row(it, src, x + j * it->row);
    }
    memcpy(y + j * it->lrow, it->ylab + r * it->lrow, (size_t)it->lrow * sizeof(float));
  }
  return MT_OK;
}

/* Plans the next window: up to W batches (NDArrayIter's steps), stopping
 * after the end of the epoch. Under it->mu (reads order and cache, which
 * only reset changes, with the thread idle). */
static void plan_window(h5_iter *it) {
  it->wcount = it->wpos = 0;
  while (it->wcount < it->W) {
    plan_entry *e = &it->wplan[it->wcount];
    e->more = plan_next(it, &e->gpad);
    e->cursor = it->pcursor;
    if (e->more)
      memcpy(it->widx + it->wcount * it->bs, it->gidx + it->r0, (size_t)it->bs * sizeof *it->widx);
    it->wcount++;
    if (!e->more) break;
  }
}

static void *prefetch_main(void *arg) {
  h5_iter *it = arg;
  pthread_mutex_lock(&it->mu);
  for (;;) {
    while (!it->quit && !(it->active && !it->pended && it->slots[it->p].state == SLOT_FREE))
      pthread_cond_wait(&it->cv_work, &it->mu);
    if (it->quit) break;
    slot *s = &it->slots[it->p];
    if (it->wpos >= it->wcount) plan_window(it);
    int64_t k = it->wpos++;
    const plan_entry *e = &it->wplan[k];
    s->cursor = e->cursor;
    if (!e->more) {
      s->state = SLOT_END;
      it->pended = 1;
    } else {
      memcpy(s->index, it->widx + k * it->bs, (size_t)it->bs * sizeof *s->index);
      /* global positions >= gbs - gpad are padding */
      int64_t sp = it->r0 + it->bs - (it->gbs - e->gpad);
      s->pad = (int)(sp < 0 ? 0 : sp > it->bs ? it->bs : sp);
      s->state = SLOT_BUSY;
      it->busy = 1;
      pthread_mutex_unlock(&it->mu);
      mt_error_clear();
      int rc = fill_slot(it, s, k);
      pthread_mutex_lock(&it->mu);
      it->busy = 0;
      if (rc < 0) {
        s->state = SLOT_ERR;
        s->err = rc;
        snprintf(s->msg, sizeof s->msg, "%s", mt_last_error());
        it->pended = 1;
      } else {
        s->state = SLOT_FULL;
      }
    }
    it->p ^= 1;
    pthread_cond_broadcast(&it->cv_done);
  }
  pthread_mutex_unlock(&it->mu);
  return NULL;
}

/* ------------------------------------------------------------ vtable */

static int h5_next(void *self, mt_batch *batch) {
  h5_iter *it = self;
  pthread_mutex_lock(&it->mu);
  if (it->handed >= 0) { /* the caller is done with the previous batch */
    it->slots[it->handed].state = SLOT_FREE;
    it->handed = -1;
    pthread_cond_broadcast(&it->cv_work);
  }
  if (it->cerr) {
    int rc = it->cerr;
    pthread_mutex_unlock(&it->mu);
    return mt_error_set(rc, "%s", it->cmsg);
  }
  if (it->cended) {
    /* NDArrayIter's cursor keeps moving on calls past the end (it decides
     * whether reset rolls samples over). */
    if (it->ccursor < it->n) it->ccursor += it->gbs;
    pthread_mutex_unlock(&it->mu);
    return 0;
  }
  slot *s = &it->slots[it->q];
  while (s->state == SLOT_FREE || s->state == SLOT_BUSY) pthread_cond_wait(&it->cv_done, &it->mu);
  it->ccursor = s->cursor;
  int ret = 1;
  if (s->state == SLOT_FULL) {
    it->handed = it->q;
    batch->ndata = 1;
    batch->data[0] = s->data;
    batch->nlabel = 1;
    batch->label[0] = s->label;
    batch->pad = s->pad;
    batch->index = s->index;
  } else {
    if (s->state == SLOT_END) {
      it->cended = 1;
      ret = 0;
    } else {
      it->cerr = s->err;
      snprintf(it->cmsg, sizeof it->cmsg, "%s", s->msg);
      ret = mt_error_set(s->err, "%s", s->msg);
    }
    s->state = SLOT_FREE;
    pthread_cond_broadcast(&it->cv_work);
  }
  it->q ^= 1;
  pthread_mutex_unlock(&it->mu);
  return ret;
}

/* Stops the thread's work on this epoch: returns with it->mu held and no
 * read in progress. */
static void quiesce(h5_iter *it) {
  pthread_mutex_lock(&it->mu);
  it->active = 0;
  while (it->busy) pthread_cond_wait(&it->cv_done, &it->mu);
}

static int h5_reset(void *self) {
  h5_iter *it = self;
  quiesce(it);
  int64_t n = it->n, bs = it->gbs, start = -bs;
  if (it->mode == MT_LAST_BATCH_ROLL_OVER && n - bs < it->ccursor && it->ccursor < n) {
    /* NDArrayIter: the incomplete last batch's samples open the next epoch. */
    it->ncache = n - it->ccursor;
    memcpy(it->cache, it->order + it->ccursor, (size_t)it->ncache * sizeof *it->cache);
    start = it->ccursor - n - bs;
  }
  if (mt_log_get_level() >= MT_LOG_DEBUG) {
    int64_t rd, used;
    mtio_h5_io_counters(it->rd, &rd, &used);
    mt_log(MT_LOG_DEBUG, "data", "%s: epoch %llu: %.4g MiB of /data read for %.4g MiB used (%.3g)",
           mtio_h5_reader_path(it->rd), (unsigned long long)it->epoch, (double)rd / 1048576.0,
           (double)used / 1048576.0, used > 0 ? (double)rd / (double)used : 0.0);
  }
  it->wcount = it->wpos = 0;
  it->epoch++;
  if (it->shuffle) mt_data_iter_order(it->order, n, 1, it->seed, it->epoch);
  for (int i = 0; i < 2; i++) it->slots[i].state = SLOT_FREE;
  it->p = it->q = 0;
  it->handed = -1;
  it->pcursor = it->ccursor = start;
  it->pended = it->cended = it->cerr = 0;
  it->active = 1;
  pthread_cond_broadcast(&it->cv_work);
  pthread_mutex_unlock(&it->mu);
  return MT_OK;
}

static int h5_provide_data(void *self, int *n, const mt_data_desc **descs) {
  h5_iter *it = self;
  *n = 1;
  *descs = &it->ddesc;
  return MT_OK;
}

static int h5_provide_label(void *self, int *n, const mt_data_desc **descs) {
  h5_iter *it = self;
  *n = 1;
  *descs = &it->ldesc;
  return MT_OK;
}

static void h5_destroy(void *self) {
  h5_iter *it = self;
  if (!it) return;
  if (it->thread_started) {
    pthread_mutex_lock(&it->mu);
    it->quit = 1;
    pthread_cond_broadcast(&it->cv_work);
    pthread_mutex_unlock(&it->mu);
    pthread_join(it->thread, NULL);
    pthread_mutex_destroy(&it->mu);
    pthread_cond_destroy(&it->cv_work);
    pthread_cond_destroy(&it->cv_done);
  }
  for (int i = 0; i < 2; i++) {
    mt_ndarray_free(it->slots[i].data);
    mt_ndarray_free(it->slots[i].label);
    free(it->slots[i].index);
  }
  free(it->order);
  free(it->cache);
  free(it->gidx);
  free(it->uniq);
  free(it->ystage);
  free(it->sub);
  free(it->mul);
  free(it->astage);
  free(it->ylab);
  if (it->mem_shared) mt_node_mem_free(&it->nmem);
  else free(it->mem);
  free(it->wplan);
  free(it->widx);
  free(it->wrows);
  free(it->wbuf);
  mtio_h5_close(it->rd);
  free(it);
}

static const mt_data_iter_vtable h5_vtable = {
    .next = h5_next,
    .reset = h5_reset,
    .provide_data = h5_provide_data,
    .provide_label = h5_provide_label,
    .destroy = h5_destroy,
};

/* ------------------------------------------------------------ creation */

static int set_name(mt_data_desc *d, const char *name, const char *fallback) {
  if (!name) name = fallback;
  size_t len = strlen(name);
  if (len == 0 || len >= sizeof d->name)
    return MT_ERR(MT_E_INVAL, "HDF5 iterator: input name '%s' must have 1 to %zu characters", name,
                  sizeof d->name - 1);
  memcpy(d->name, name, len + 1);
  return MT_OK;
}

static const char *mode_name(mt_last_batch m) {
  return m == MT_LAST_BATCH_PAD ? "pad" : m == MT_LAST_BATCH_DISCARD ? "discard" : "roll_over";
}

/* Memory the iterator holds, in bytes: the epoch order and the roll-over
 * cache (8 bytes a sample and a batch), the batch's index lists, and three
 * shards of samples and labels (two slots and the staging buffer). Double:
 * a damaged or hostile file's sizes do not overflow it. */
static double iter_bytes(int64_t n, int64_t gbs, int world, int64_t row, int64_t lrow) {
  double bs = (double)(gbs / world);
  return (8.0 + 4.0 * (double)lrow) * (double)n + 16.0 * (double)gbs +
         bs * (24.0 + 12.0 * ((double)row + (double)lrow));
}

int mt_h5_iter_check_memory(const char *path, int64_t n, int64_t batch_size, int world, int64_t row,
                            int64_t lrow) {
  if (world < 1) world = 1;
  double need = iter_bytes(n, batch_size, world, row, lrow);
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  double have = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
  if (have > 0 && need > have)
    return MT_ERR(MT_E_NOMEM,
                  "%s: %lld samples of %lld floats (labels %lld) in batches of %lld need %.3g GiB "
                  "in the HDF5 iterator (8 bytes a sample for the epoch order, the labels, and "
                  "three batches), more than this machine's %.3g GiB",
                  path, (long long)n, (long long)row, (long long)lrow, (long long)batch_size,
                  need / 1073741824.0, have / 1073741824.0);
  return MT_OK;
}

static int nomem(const char *path, const h5_iter *it) {
  return MT_ERR(
      MT_E_NOMEM,
      "%s: out of memory for the HDF5 iterator's %.3g GiB (%lld samples, "
      "batches of %lld)",
      path, iter_bytes(it->n, it->gbs, (int)(it->gbs / it->bs), it->row, it->lrow) / 1073741824.0,
      (long long)it->n, (long long)it->gbs);
}

/* Bytes of memory available now (MemAvailable), or the physical memory. */
static double mem_available(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  char line[256];
  double kb = 0;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
  if (f) fclose(f);
  if (kb > 0) return kb * 1024.0;
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? (double)pages * (double)page : 0;
}

/* Expected bytes read per byte used by a shuffled epoch streamed in windows
 * of R rows: a band of cr rows (of N) is read when one of its rows is in
 * the window: N / cr * (1 - (1 - cr / N)^R) bands for R rows. */
static double expected_amp(const h5_iter *it, const mtio_h5_meta *m) {
  if (it->use_mem || m->layout != MTIO_CHUNKED || m->chunk_rows <= 1 || !it->shuffle) return 1.0;
  double N = (double)it->n, cr = (double)m->chunk_rows, R = (double)(it->W * it->bs);
  if (cr > N) cr = N;
  double bands = N / cr * (1.0 - pow(1.0 - cr / N, R));
  double a = bands * cr / R;
  return a < 1.0 ? 1.0 : a;
}

static int setup_norm(h5_iter *it, const mtio_h5_meta *m, const char *path) {
  const mt_h5_iter_opts *o = &it->opts;
  int64_t C = m->dim[1], inner = it->row / C;
  if ((o->nmean != 0 && o->nmean != 1 && o->nmean != C) ||
      (o->nstd != 0 && o->nstd != 1 && o->nstd != C) || o->nmean < 0 || o->nstd < 0)
    return MT_ERR(MT_E_INVAL,
                  "%s: mean has %d values and std %d, /data's axis 1 has %lld: give 1 value "
                  "(every channel) or %lld",
                  path, o->nmean, o->nstd, (long long)C, (long long)C);
  for (int i = 0; i < o->nstd; i++)
    if (!(o->std[i] > 0.0f) && !(o->std[i] < 0.0f))
      return MT_ERR(MT_E_INVAL, "%s: std value %d is %g; std must be nonzero", path, i,
                    (double)o->std[i]);
  it->plain = it->mtype == MTIO_F32 && o->scale == 1.0f && o->nmean == 0 && o->nstd == 0;
  if (o->scale == 1.0f && o->nmean == 0 && o->nstd == 0) return MT_OK;
  it->sub = malloc((size_t)it->row * sizeof *it->sub);
  it->mul = malloc((size_t)it->row * sizeof *it->mul);
  if (!it->sub || !it->mul) return MT_NOMEM();
  for (int64_t e = 0; e < it->row; e++) {
    int64_t c = e / inner;
    float mean = o->nmean == 0 ? 0.0f : o->mean[o->nmean == 1 ? 0 : c];
    float sd = o->nstd == 0 ? 1.0f : o->std[o->nstd == 1 ? 0 : c];
    it->sub[e] = mean;
    it->mul[e] = o->scale / sd;
  }
  return MT_OK;
}

/* data_shape / pad / rand_crop / rand_mirror: [N, C, H, W] data only;
 * provide_data becomes (bs, C, h, w). */
static int setup_augment(h5_iter *it, const mtio_h5_meta *m, const char *path) {
  const mt_h5_iter_opts *o = &it->opts;
  const int64_t *ds = o->data_shape;
  int crop = ds[0] || ds[1] || ds[2];
  if (!crop && o->pad == 0 && !o->rand_crop && !o->rand_mirror) return MT_OK;
  if (m->ndim != 4)
    return MT_ERR(MT_E_INVAL,
                  "%s: data_shape, pad, rand_crop and rand_mirror need images: /data must be "
                  "[N, C, H, W], it has %d dimensions",
                  path, m->ndim);
  it->C = m->dim[1];
  it->H = m->dim[2];
  it->W0 = m->dim[3];
  it->oh = crop ? ds[1] : it->H;
  it->ow = crop ? ds[2] : it->W0;
  if (o->pad < 0 || o->pad > 1 << 20)
    return MT_ERR(MT_E_INVAL, "%s: pad %d must be in [0, 2^20]", path, o->pad);
  if (crop && (ds[0] != it->C || ds[1] < 1 || ds[2] < 1 || ds[1] > it->H + 2 * o->pad ||
               ds[2] > it->W0 + 2 * o->pad))
    return MT_ERR(MT_E_INVAL,
                  "%s: data_shape %lld,%lld,%lld does not fit /data's samples %lld,%lld,%lld "
                  "with pad %d: the channels must match and the height and width be 1 to "
                  "H + 2 * pad, W + 2 * pad",
                  path, (long long)ds[0], (long long)ds[1], (long long)ds[2], (long long)it->C,
                  (long long)it->H, (long long)it->W0, o->pad);
  it->aug = 1;
  it->orow = it->C * it->oh * it->ow;
  it->astage = malloc((size_t)it->row * sizeof *it->astage);
  if (!it->astage) return MT_NOMEM();
  it->ddesc.shape.dim[2] = it->oh;
  it->ddesc.shape.dim[3] = it->ow;
  return MT_OK;
}

/* cache = memory: /data whole (raw) and the labels, read at create.
 * Under MPI (it->share) the ranks of a node share one copy: node rank k of
 * K reads rows [n k / K, n (k + 1) / K) into the node's block, then they
 * wait for each other (kvstore/node_mem.h); collective over the world. */
static int load_memory(h5_iter *it, const char *path) {
  double bytes = (double)it->n * (double)it->rb, avail = mem_available();
  int fits = !(avail > 0 && bytes > avail);
  if (it->share) MT_TRY(mt_node_mem_world_min(fits, &fits)); /* all ranks, or none, go on */
  if (it->share && fits) {
    int rc = mt_node_mem_create((int64_t)bytes, &it->nmem);
    if (rc < 0) return rc;
    if (rc == 1) {
      int64_t k = it->nmem.node_rank, K = it->nmem.node_size;
      int64_t b = it->n * k / K, e = it->n * (k + 1) / K;
      it->mem = it->nmem.ptr;
      it->mem_shared = (int)K;
      rc = b < e ? mtio_h5_read_range_raw(it->rd, b, e, (char *)it->mem + b * it->rb) : MT_OK;
      MT_TRY(mt_node_mem_done(&it->nmem, rc));
      MT_TRY(load_labels(it));
      it->use_mem = 1;
      return MT_OK;
    }
  }
  if (!fits)
    return MT_ERR(MT_E_NOMEM,
                  "%s: /data's %.3g GiB do not fit the %.3g GiB of memory available for [data] "
                  "cache = memory; use cache = none or auto",
                  path, bytes / 1073741824.0, avail / 1073741824.0);
  it->mem = bytes < 9e18 ? malloc((size_t)bytes ? (size_t)bytes : 1) : NULL;
  if (!it->mem)
    return MT_ERR(MT_E_NOMEM,
                  "%s: out of memory for the in-memory cache of /data (%.3g GiB); use [data] "
                  "cache = none",
                  path, bytes / 1073741824.0);
  MT_TRY(mtio_h5_read_range_raw(it->rd, 0, it->n, it->mem));
  MT_TRY(load_labels(it));
  it->use_mem = 1;
  return MT_OK;
}

static int h5_iter_setup(h5_iter *it, const char *path, int64_t batch_size, int rank, int world,
                         const char *data_name, const char *label_name) {
  MT_TRY(set_name(&it->ddesc, data_name, "data"));
  MT_TRY(set_name(&it->ldesc, label_name, "softmax_label"));
  MT_TRY(mtio_h5_open(path, &it->rd));
  const mtio_h5_meta *m = mtio_h5_reader_meta(it->rd);
  it->n = m->dim[0];
  if (it->n < 1) return MT_ERR(MT_E_FORMAT, "%s: the dataset holds no samples (N = 0)", path);
  if (batch_size > it->n && it->mode != MT_LAST_BATCH_PAD)
    return MT_ERR(MT_E_INVAL,
                  "%s: batch_size %lld is larger than the %lld samples, so "
                  "last_batch_handle=%s gives no complete batch; use batch_size <= %lld or pad",
                  path, (long long)batch_size, (long long)it->n, mode_name(it->mode),
                  (long long)it->n);
  it->gbs = batch_size;
  it->bs = batch_size / world;
  it->r0 = (int64_t)rank * it->bs;
  it->row = m->row;
  it->lrow = m->label_row;
  it->mtype = (int)m->dtype;
  it->rb = m->row * m->elem;
  it->ddesc.shape.ndim = m->ndim;
  for (int i = 0; i < m->ndim; i++) it->ddesc.shape.dim[i] = m->dim[i];
  it->ddesc.shape.dim[0] = it->bs;
  it->ldesc.shape.ndim = m->label_ndim;
  for (int i = 0; i < m->label_ndim; i++) it->ldesc.shape.dim[i] = m->label_dim[i];
  it->ldesc.shape.dim[0] = it->bs;
  MT_TRY(setup_norm(it, m, path));
  MT_TRY(setup_augment(it, m, path));

  MT_TRY(mt_h5_iter_check_memory(path, it->n, it->gbs, world, it->row, it->lrow));
  size_t nb = (size_t)it->bs;
  it->order = malloc((size_t)it->n * sizeof *it->order);
  it->cache = malloc((size_t)it->gbs * sizeof *it->cache);
  it->gidx = malloc((size_t)it->gbs * sizeof *it->gidx);
  it->uniq = malloc(nb * sizeof *it->uniq);
  it->ystage = malloc(nb * (size_t)it->lrow * sizeof(float));
  it->ylab = malloc((size_t)it->n * (size_t)it->lrow * sizeof(float));
  if (!it->order || !it->cache || !it->gidx || !it->uniq || !it->ystage || !it->ylab)
    return nomem(path, it);

  /* The cache: memory when asked, or (auto) when /data fits the budget. */
  double data_bytes = (double)it->n * (double)it->rb;
  double budget = it->opts.cache_bytes > 0 ? (double)it->opts.cache_bytes : mem_available() / 4;
  int use = it->opts.cache == MT_H5_CACHE_MEMORY ||
            (it->opts.cache == MT_H5_CACHE_AUTO && data_bytes <= budget);
  it->share = mt_node_mem_possible(rank, world);
  if (it->share && it->opts.cache == MT_H5_CACHE_AUTO) /* every rank chooses the same */
    MT_TRY(mt_node_mem_world_min(use, &use));
  if (use) {
    MT_TRY(load_memory(it, path));
  } else {
    /* The streaming window: W batches whose rows fit the window budget
     * (64 MiB unless given); one batch where a row is read alone anyway
     * (contiguous storage, or one row per chunk). */
    double wb = it->opts.cache_bytes > 0 ? (double)it->opts.cache_bytes : 64.0 * 1048576.0;
    int64_t W = (int64_t)(wb / ((double)it->bs * (double)it->rb));
    int64_t per_epoch = (it->n + it->gbs - 1) / it->gbs + 2;
    if (m->layout != MTIO_CHUNKED || m->chunk_rows <= 1 || W < 1) W = 1;
    if (W > per_epoch) W = per_epoch;
    it->W = W;
  }
  if (it->W < 1) it->W = 1;
  int64_t wrow = it->use_mem ? 0 : it->W * it->bs;
  it->wplan = malloc((size_t)it->W * sizeof *it->wplan);
  it->widx = malloc((size_t)it->W * nb * sizeof *it->widx);
  it->wrows = malloc(((size_t)wrow + 1) * sizeof *it->wrows);
  it->wbuf = malloc((size_t)wrow * (size_t)it->rb + 1);
  if (!it->wplan || !it->widx || !it->wrows || !it->wbuf) return nomem(path, it);
  it->expect_amp = expected_amp(it, m);
  for (int i = 0; i < 2; i++) {
    slot *s = &it->slots[i];
    int rc = mt_ndarray_create(it->ddesc.shape, mt_cpu(0), &s->data);
    if (rc == MT_OK) rc = mt_ndarray_create(it->ldesc.shape, mt_cpu(0), &s->label);
    if (rc < 0) return mt_error_prefix(rc, "%s: the HDF5 iterator's batch buffers", path);
    s->index = malloc(nb * sizeof *s->index);
    if (!s->index) return nomem(path, it);
  }
  mt_data_iter_order(it->order, it->n, it->shuffle, it->seed, 0); /* epoch 0 */
  it->pcursor = it->ccursor = -it->gbs;
  it->handed = -1;
  it->active = 1;
  return MT_OK;
}

void mt_h5_iter_opts_init(mt_h5_iter_opts *o) {
  memset(o, 0, sizeof *o);
  o->cache = MT_H5_CACHE_NONE;
  o->scale = 1.0f;
}

int mt_h5_iter_create(const char *path, int64_t batch_size, int shuffle, uint64_t seed,
                      mt_last_batch last_batch_handle, int rank, int world, const char *data_name,
                      const char *label_name, mt_data_iter **out) {
  mt_h5_iter_opts o;
  mt_h5_iter_opts_init(&o);
  return mt_h5_iter_create_opts(path, batch_size, shuffle, seed, last_batch_handle, rank, world,
                                data_name, label_name, &o, out);
}

int mt_h5_iter_mem(const mt_data_iter *dit, const void **ptr, int64_t *bytes, int *shared_by) {
  h5_iter *it = mt_data_iter_self_if(dit, h5_next);
  if (!it) return MT_ERR(MT_E_INVAL, "h5_iter_mem: not an HDF5 iterator");
  *ptr = it->use_mem ? it->mem : NULL;
  *bytes = it->use_mem ? it->n * it->rb : 0;
  *shared_by = it->mem_shared;
  return MT_OK;
}

int mt_h5_iter_info(const mt_data_iter *dit, char *buf, size_t len, int *warn) {
  h5_iter *it = mt_data_iter_self_if(dit, h5_next);
  if (warn) *warn = 0;
  if (!it || !buf) return MT_ERR(MT_E_INVAL, "h5_iter_info: not an HDF5 iterator");
  const mtio_h5_meta *m = mtio_h5_reader_meta(it->rd);
  const char *path = mtio_h5_reader_path(it->rd);
  char lay[128], cache[160];
  mtio_h5_layout_str(it->rd, lay, sizeof lay);
  double mib = (double)it->n * (double)it->rb / 1048576.0;
  if (it->use_mem && it->mem_shared)
    snprintf(cache, sizeof cache,
             "cache memory (%.4g MiB, read once; one copy shared by %d ranks of the node)", mib,
             it->mem_shared);
  else if (it->use_mem)
    snprintf(cache, sizeof cache, "cache memory (%.4g MiB, read once; each rank its own copy)",
             mib);
  else if (m->direct || m->layout != MTIO_CHUNKED || m->chunk_rows <= 1)
    snprintf(cache, sizeof cache, "streamed (%.4g MiB, rows read as wanted)", mib);
  else
    snprintf(cache, sizeof cache, "streamed (%.4g MiB, windows of %lld batches, %.4g MiB)", mib,
             (long long)it->W, (double)(it->W * it->bs) * (double)it->rb / 1048576.0);
  int64_t rd, used;
  mtio_h5_io_counters(it->rd, &rd, &used);
  char aug[160] = "";
  if (it->aug)
    snprintf(aug, sizeof aug, "; samples cut to %lldx%lldx%lld (pad %d, %s crop%s)",
             (long long)it->C, (long long)it->oh, (long long)it->ow, it->opts.pad,
             it->opts.rand_crop ? "random" : "center",
             it->opts.rand_mirror ? ", random mirror" : "");
  size_t k =
      (size_t)snprintf(buf, len, "%s: /data %s %s, %s; %s; %.3g bytes read per byte used%s%s", path,
                       mtio_dtype_name(m->dtype), lay, m->direct ? "read by pread" : "via HDF5",
                       cache, it->expect_amp, it->shuffle ? " (shuffled, expected)" : "", aug);
  if (it->expect_amp > 2.0) {
    if (warn) *warn = 1;
    char chrk[96] = "1";
    for (int i = 1; i < m->ndim; i++) {
      size_t c = strlen(chrk);
      snprintf(chrk + c, sizeof chrk - c, "x%lld", (long long)m->dim[i]);
    }
    if (k < len)
      snprintf(buf + k, len - k,
               "; a shuffled epoch reads each chunk many times: repack with one row a chunk, "
               "`h5repack -l data:CHRK=%s %s OUT.h5`, or set [data] cache = memory (%.4g MiB)",
               chrk, path, mib);
  }
  return MT_OK;
}

int mt_h5_iter_create_opts(const char *path, int64_t batch_size, int shuffle, uint64_t seed,
                           mt_last_batch last_batch_handle, int rank, int world,
                           const char *data_name, const char *label_name,
                           const mt_h5_iter_opts *opts, mt_data_iter **out) {
  if (!out) return MT_ERR(MT_E_INVAL, "HDF5 iterator: NULL output pointer");
  *out = NULL;
  if (!path || !path[0]) return MT_ERR(MT_E_INVAL, "HDF5 iterator: no file path");
  if (last_batch_handle != MT_LAST_BATCH_PAD && last_batch_handle != MT_LAST_BATCH_DISCARD &&
      last_batch_handle != MT_LAST_BATCH_ROLL_OVER)
    return MT_ERR(MT_E_INVAL,
                  "HDF5 iterator: last_batch_handle %d is not pad (0), discard (1) or "
                  "roll_over (2)",
                  (int)last_batch_handle);
  if (world < 1 || rank < 0 || rank >= world)
    return MT_ERR(MT_E_INVAL, "HDF5 iterator: rank %d is not in [0, world = %d)", rank, world);
  if (batch_size < 1 || batch_size > INT32_MAX)
    return MT_ERR(MT_E_INVAL, "HDF5 iterator: batch_size %lld must be in [1, 2^31)",
                  (long long)batch_size);
  if (batch_size % world != 0)
    return MT_ERR(MT_E_INVAL,
                  "HDF5 iterator: batch_size %lld is not divisible by %d ranks; use a multiple "
                  "of %d (e.g. %lld)",
                  (long long)batch_size, world, world,
                  (long long)((batch_size + world - 1) / world * world));

  h5_iter *it = calloc(1, sizeof *it);
  if (!it) return MT_NOMEM();
  if (opts) it->opts = *opts;
  else mt_h5_iter_opts_init(&it->opts);
  if (it->opts.nmean > MT_H5_MAX_CHANNELS || it->opts.nstd > MT_H5_MAX_CHANNELS) {
    free(it);
    return MT_ERR(MT_E_INVAL, "HDF5 iterator: at most %d mean / std values", MT_H5_MAX_CHANNELS);
  }
  it->mode = last_batch_handle;
  it->shuffle = shuffle != 0;
  it->seed = seed;
  int rc;
  MT_TRY_GOTO(h5_iter_setup(it, path, batch_size, rank, world, data_name, label_name), rc, fail);
  pthread_mutex_init(&it->mu, NULL);
  pthread_cond_init(&it->cv_work, NULL);
  pthread_cond_init(&it->cv_done, NULL);
  if (pthread_create(&it->thread, NULL, prefetch_main, it) != 0) {
    pthread_mutex_destroy(&it->mu);
    pthread_cond_destroy(&it->cv_work);
    pthread_cond_destroy(&it->cv_done);
    rc = MT_ERR(MT_E_NOMEM, "%s: cannot start the HDF5 iterator's prefetch thread", path);
    goto fail;
  }
  it->thread_started = 1;
  MT_TRY_GOTO(mt_data_iter_create(&h5_vtable, it, out), rc, fail);
  return MT_OK;
fail:
  h5_destroy(it);
  return rc;
}

/* ------------------------------------------------------------ writer */

int mt_dataset_write(const char *path, const mt_ndarray *data, const mt_ndarray *label,
                     int num_classes, uint64_t seed, const char *generator) {
  if (!path || !path[0]) return MT_ERR(MT_E_INVAL, "dataset_write: no file path");
  if (!data || !label)
    return MT_ERR(MT_E_INVAL, "dataset_write %s: data and label arrays are both required", path);
  mt_shape ds = mt_ndarray_shape(data), ls = mt_ndarray_shape(label);
  char b1[96], b2[96];
  if (ds.ndim < 2 || ds.dim[0] < 1)
    return MT_ERR(MT_E_SHAPE,
                  "dataset_write %s: data %s must be (N, d1, ...) with N >= 1 and 2 to %d dims",
                  path, mt_shape_str(&ds, b1, sizeof b1), MT_MAX_DIM);
  if (ls.ndim < 1 || ls.ndim > 2 || ls.dim[0] != ds.dim[0])
    return MT_ERR(MT_E_SHAPE,
                  "dataset_write %s: label %s must be (N,) or (N, k) with N = %lld "
                  "as data %s",
                  path, mt_shape_str(&ls, b1, sizeof b1), (long long)ds.dim[0],
                  mt_shape_str(&ds, b2, sizeof b2));
  if (num_classes < 0)
    return MT_ERR(MT_E_INVAL, "dataset_write %s: num_classes %d must be >= 0", path, num_classes);
  /* Host copies for device arrays. */
  float *x = mt_ndarray_data(data), *y = mt_ndarray_data(label), *hx = NULL, *hy = NULL;
  int rc = MT_OK;
  mtio_h5_writer *w = NULL;
  if (!x || !y) {
    hx = x ? NULL : malloc((size_t)mt_ndarray_size(data) * sizeof(float));
    hy = y ? NULL : malloc((size_t)mt_ndarray_size(label) * sizeof(float));
    if ((!x && !hx) || (!y && !hy)) {
      rc = MT_NOMEM();
      goto done;
    }
    if (hx) MT_TRY_GOTO(mt_ndarray_copy_to(data, hx, mt_ndarray_size(data)), rc, done);
    if (hy) MT_TRY_GOTO(mt_ndarray_copy_to(label, hy, mt_ndarray_size(label)), rc, done);
    if (hx) x = hx;
    if (hy) y = hy;
  }
  MT_TRY_GOTO(mtio_h5_writer_create(path, ds.ndim - 1, ds.dim + 1,
                                    ls.ndim == 2 ? (int)ls.dim[1] : 0, num_classes, seed, generator,
                                    &w),
              rc, done);
  MT_TRY_GOTO(mtio_h5_writer_append(w, ds.dim[0], x, y), rc, done);
  rc = mtio_h5_writer_close(w);
  w = NULL;
done:
  mtio_h5_writer_abort(w);
  free(hx);
  free(hy);
  return rc;
}
