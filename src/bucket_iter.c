/* bucket_iter.c — MXNet's BucketSentenceIter (python/mxnet/rnn/io.py) over a
 * token-sequence file (io/h5_sequences.h, docs/design.md §6): sentences
 * padded with invalid_label to the smallest bucket that holds them (longer
 * ones dropped), labels shifted left by one with invalid_label last, full
 * batches only, layout NT. MXNet's reset shuffles the batch order and each
 * bucket's sentences with numpy's global generator; here epoch e draws both
 * from Philox (docs/design.md §5): the batch order is mt_data_iter_order(
 * nbatches, seed, e), bucket b's sentence order mt_data_iter_order(n_b,
 * seed ^ salt(b), e) — so every rank has the same order and takes its rows
 * of each global batch (§4), and a resumed run (set_epoch) the same. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/shape.h"
#include "data_iter.h"
#include "io/h5_sequences.h"
#include "ndarray.h"

typedef struct {
  int64_t key, n;             /* length, sentences */
  int64_t *ids;               /* (n,) sentence numbers in the file */
  float *data, *label;        /* (n, key) */
  int64_t *perm;              /* (n,) this epoch's order */
  mt_ndarray *bdata, *blabel; /* the shard's batch arrays (rows, key) */
} bucket;

typedef struct {
  int nb;
  bucket b[MT_MAX_BUCKETS];
  int64_t nbatch, *batch_bucket, *batch_start, *order, cursor;
  int64_t B, lo, hi; /* global batch, this rank's rows [lo, hi) */
  int shuffle;
  uint64_t seed, epoch;
  int64_t *index; /* (hi - lo) */
  mt_data_desc ddesc, ldesc;
} bucket_iter;

static uint64_t bucket_salt(int b) { return 0x9E3779B97F4A7C15ull * (uint64_t)(b + 1); }

static void make_order(bucket_iter *it) {
  mt_data_iter_order(it->order, it->nbatch, it->shuffle, it->seed, it->epoch);
  for (int k = 0; k < it->nb; k++)
    mt_data_iter_order(it->b[k].perm, it->b[k].n, it->shuffle, it->seed ^ bucket_salt(k),
                       it->epoch);
  it->cursor = 0;
}

static int bi_next(void *self, mt_batch *batch) {
  bucket_iter *it = self;
  if (it->cursor >= it->nbatch) return 0;
  int64_t k = it->order[it->cursor++];
  bucket *bk = &it->b[it->batch_bucket[k]];
  int64_t L = bk->key;
  for (int64_t r = it->lo; r < it->hi; r++) {
    int64_t s = bk->perm[it->batch_start[k] + r];
    memcpy(bk->bdata->data + (r - it->lo) * L, bk->data + s * L, sizeof(float) * (size_t)L);
    memcpy(bk->blabel->data + (r - it->lo) * L, bk->label + s * L, sizeof(float) * (size_t)L);
    it->index[r - it->lo] = bk->ids[s];
  }
  batch->ndata = batch->nlabel = 1;
  batch->data[0] = bk->bdata;
  batch->label[0] = bk->blabel;
  batch->pad = 0;
  batch->index = it->index;
  batch->bucket_key = L;
  return 1;
}

static int bi_reset(void *self) {
  bucket_iter *it = self;
  it->epoch++;
  make_order(it);
  return MT_OK;
}

static int bi_provide_data(void *self, int *n, const mt_data_desc **d) {
  bucket_iter *it = self;
  *n = 1;
  *d = &it->ddesc;
  return MT_OK;
}

static int bi_provide_label(void *self, int *n, const mt_data_desc **d) {
  bucket_iter *it = self;
  *n = 1;
  *d = &it->ldesc;
  return MT_OK;
}

static void bi_destroy(void *self) {
  bucket_iter *it = self;
  if (!it) return;
  for (int k = 0; k < it->nb; k++) {
    free(it->b[k].ids);
    free(it->b[k].data);
    free(it->b[k].label);
    free(it->b[k].perm);
    mt_ndarray_free(it->b[k].bdata);
    mt_ndarray_free(it->b[k].blabel);
  }
  free(it->batch_bucket);
  free(it->batch_start);
  free(it->order);
  free(it->index);
  free(it);
}

static const mt_data_iter_vtable bucket_vt = {bi_next, bi_reset, bi_provide_data, bi_provide_label,
                                              bi_destroy};

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* MXNet: buckets = [i for i, j in enumerate(np.bincount(lengths)) if j >= batch_size],
 * but never 0 (MXNet would make a bucket of empty rows; empty sentences go
 * to the smallest bucket, all padding, as with given buckets). */
static int auto_buckets(const mtio_seq_data *d, int64_t B, int64_t *keys, int *nb,
                        const char *path) {
  int64_t maxlen = 0;
  for (int64_t i = 0; i < d->nseq; i++)
    if (d->offsets[i + 1] - d->offsets[i] > maxlen) maxlen = d->offsets[i + 1] - d->offsets[i];
  int64_t *cnt = calloc((size_t)maxlen + 1, sizeof *cnt);
  if (!cnt) return MT_NOMEM();
  for (int64_t i = 0; i < d->nseq; i++) cnt[d->offsets[i + 1] - d->offsets[i]]++;
  *nb = 0;
  int rc = MT_OK;
  for (int64_t l = 1; l <= maxlen; l++) {
    if (cnt[l] < B) continue;
    if (*nb == MT_MAX_BUCKETS) {
      rc = MT_ERR(MT_E_INVAL,
                  "%s: more than %d sentence lengths have a full batch each; give the buckets",
                  path, MT_MAX_BUCKETS);
      break;
    }
    keys[(*nb)++] = l;
  }
  free(cnt);
  return rc;
}

int mt_bucket_sentence_iter_create(const char *path, const mt_bucket_iter_options *o,
                                   mt_bucket_iter_info *info, mt_data_iter **out) {
  if (!out) return MT_ERR(MT_E_INVAL, "bucket_sentence_iter: NULL output pointer");
  *out = NULL;
  if (!path || !o) return MT_ERR(MT_E_INVAL, "bucket_sentence_iter: NULL argument");
  int world = o->world > 0 ? o->world : 1;
  if (o->batch_size <= 0 || o->rank < 0 || o->rank >= world)
    return MT_ERR(MT_E_INVAL, "bucket_sentence_iter: batch_size %lld, rank %d of %d",
                  (long long)o->batch_size, o->rank, world);
  if (o->batch_size % world)
    return MT_ERR(MT_E_INVAL,
                  "bucket_sentence_iter: a batch of %lld sentences does not split over %d ranks",
                  (long long)o->batch_size, world);
  if (o->nbuckets < 0 || o->nbuckets > MT_MAX_BUCKETS || (o->nbuckets > 0 && !o->buckets))
    return MT_ERR(MT_E_INVAL, "bucket_sentence_iter: %d buckets (at most %d)", o->nbuckets,
                  MT_MAX_BUCKETS);
  mtio_seq_data d;
  MT_TRY(mtio_seq_read(path, &d));
  bucket_iter *it = calloc(1, sizeof *it);
  int rc = MT_OK;
  int64_t keys[MT_MAX_BUCKETS], ndiscard = 0;
  int nb = o->nbuckets;
  if (!it) {
    rc = MT_NOMEM();
    goto fail;
  }
  if (nb == 0) MT_TRY_GOTO(auto_buckets(&d, o->batch_size, keys, &nb, path), rc, fail);
  else memcpy(keys, o->buckets, sizeof(int64_t) * (size_t)nb);
  qsort(keys, (size_t)nb, sizeof *keys, cmp_i64);
  for (int k = 0; k < nb; k++)
    if (keys[k] <= 0 || (k > 0 && keys[k] == keys[k - 1]) || keys[k] > MT_SHAPE_MAX_ELEMS) {
      rc = MT_ERR(MT_E_INVAL,
                  "bucket_sentence_iter: bucket %lld is not a positive length, or "
                  "given twice",
                  (long long)keys[k]);
      goto fail;
    }
  if (nb == 0) {
    rc = MT_ERR(MT_E_INVAL, "%s: no sentence length occurs %lld times (no automatic bucket)", path,
                (long long)o->batch_size);
    goto fail;
  }
  it->nb = nb;
  it->B = o->batch_size;
  it->lo = (int64_t)o->rank * it->B / world;
  it->hi = (int64_t)(o->rank + 1) * it->B / world;
  it->shuffle = o->shuffle;
  it->seed = o->seed;
  /* count, then fill: bisect_left(buckets, len) */
  int *where = malloc(sizeof(int) * (size_t)(d.nseq > 0 ? d.nseq : 1));
  if (!where) {
    rc = MT_NOMEM();
    goto fail;
  }
  for (int64_t i = 0; i < d.nseq; i++) {
    int64_t len = d.offsets[i + 1] - d.offsets[i];
    int k = 0;
    while (k < nb && keys[k] < len) k++;
    where[i] = k;
    if (k == nb) ndiscard++;
    else it->b[k].n++;
  }
  for (int k = 0; k < nb; k++) {
    bucket *bk = &it->b[k];
    int64_t n = bk->n, L = keys[k];
    bk->key = L;
    bk->ids = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    bk->perm = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    bk->data = malloc(sizeof(float) * (size_t)(n * L > 0 ? n * L : 1));
    bk->label = malloc(sizeof(float) * (size_t)(n * L > 0 ? n * L : 1));
    if (!bk->ids || !bk->perm || !bk->data || !bk->label) {
      free(where);
      rc = MT_NOMEM();
      goto fail;
    }
    MT_TRY_GOTO(mt_ndarray_create(MT_SHAPE(it->hi - it->lo, L), mt_cpu(0), &bk->bdata), rc, fail_w);
    MT_TRY_GOTO(mt_ndarray_create(MT_SHAPE(it->hi - it->lo, L), mt_cpu(0), &bk->blabel), rc,
                fail_w);
    bk->n = 0;
    it->nbatch += n / it->B;
  }
  for (int64_t i = 0; i < d.nseq; i++) {
    if (where[i] == nb) continue;
    bucket *bk = &it->b[where[i]];
    int64_t L = bk->key, len = d.offsets[i + 1] - d.offsets[i], r = bk->n++;
    float *x = bk->data + r * L, *y = bk->label + r * L;
    const int32_t *t = d.tokens + d.offsets[i];
    for (int64_t j = 0; j < L; j++) x[j] = j < len ? (float)t[j] : o->invalid_label;
    for (int64_t j = 0; j < L; j++) y[j] = j + 1 < L ? x[j + 1] : o->invalid_label;
    bk->ids[r] = i;
  }
  free(where);
  if (ndiscard > 0)
    mt_log(MT_LOG_WARN, "data",
           "%s: discarded %lld sentences longer than the largest bucket (%lld)", path,
           (long long)ndiscard, (long long)keys[nb - 1]);
  if (it->nbatch == 0) {
    rc = MT_ERR(MT_E_INVAL, "%s: no bucket holds a full batch of %lld sentences", path,
                (long long)it->B);
    goto fail;
  }
  it->batch_bucket = malloc(sizeof(int64_t) * (size_t)it->nbatch);
  it->batch_start = malloc(sizeof(int64_t) * (size_t)it->nbatch);
  it->order = malloc(sizeof(int64_t) * (size_t)it->nbatch);
  it->index = malloc(sizeof(int64_t) * (size_t)(it->hi - it->lo));
  if (!it->batch_bucket || !it->batch_start || !it->order || !it->index) {
    rc = MT_NOMEM();
    goto fail;
  }
  /* MXNet's idx: (bucket, start) for every full batch, bucket by bucket */
  for (int k = 0, j = 0; k < nb; k++)
    for (int64_t s = 0; s + it->B <= it->b[k].n; s += it->B, j++) {
      it->batch_bucket[j] = k;
      it->batch_start[j] = s;
    }
  snprintf(it->ddesc.name, sizeof it->ddesc.name, "%s", o->data_name ? o->data_name : "data");
  snprintf(it->ldesc.name, sizeof it->ldesc.name, "%s",
           o->label_name ? o->label_name : "softmax_label");
  it->ddesc.shape = it->ldesc.shape = MT_SHAPE(it->hi - it->lo, keys[nb - 1]);
  make_order(it);
  if (info) {
    memset(info, 0, sizeof *info);
    info->nsentences = d.nseq;
    info->ndiscarded = ndiscard;
    info->nbatches = it->nbatch;
    info->nbuckets = nb;
    info->vocab_size = d.vocab_size;
    for (int k = 0; k < nb; k++) {
      info->buckets[k] = keys[k];
      info->bucket_sentences[k] = it->b[k].n;
    }
  }
  mtio_seq_free(&d);
  rc = mt_data_iter_create(&bucket_vt, it, out);
  if (rc < 0) bi_destroy(it);
  return rc;
fail_w:
  free(where);
fail:
  bi_destroy(it);
  mtio_seq_free(&d);
  return rc;
}
