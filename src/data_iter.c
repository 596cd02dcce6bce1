/* data_iter.c — the data iterator interface (MXNet's DataIter as a vtable:
 * next / reset / provide_data / provide_label) and MXNet 1.x's NDArrayIter
 * (python/mxnet/io/io.py) over in-memory arrays.
 *
 * NDArrayIter semantics, as MXNet 1.x:
 *  - `cursor` is the position in this epoch's sample order of the batch being
 *    returned; it starts at -batch_size and next() adds batch_size.
 *  - pad: the last batch wraps around to the start of the order (tiled when
 *    batch_size > N, as MXNet 1.6+); batch.pad = number of wrapped samples.
 *  - discard: an incomplete last batch ends the epoch.
 *  - roll_over: an incomplete last batch ends the epoch and its samples are
 *    cached; reset() then sets cursor = cursor - N - batch_size, so the first
 *    batch of the next epoch is the cached samples followed by the first
 *    batch_size - cached samples of the new order. That epoch then runs to
 *    the end of the data (N = 10, batch 4: epoch 0 [0-3] [4-7]; epoch 1
 *    [8 9 0 1] [2-5] [6-9]; epoch 2 [0-3] [4-7]; ...).
 *    One deliberate difference: MXNet reports pad = number of cached samples
 *    on that first batch, although every sample in it is real data; here its
 *    pad is 0, as mt_batch.pad means "trailing samples that are padding" and
 *    predict/score strip that many.
 *  - batch_size > N is an error with discard and roll_over (no complete batch
 *    exists; MXNet <= 1.2 asserted it, later versions silently yield nothing).
 *
 * Shuffling (docs/design.md §5): epoch e's order is a Fisher–Yates shuffle of
 * 0..N-1 whose step i (i = N-1 .. 1) swaps i with j = r mod (i + 1), r the
 * 64-bit Philox draw at counter i of key mtk_philox_key(seed, e). The order
 * is a function of (seed, e, N) alone, so every rank computes the same one.
 * Epoch 0 is drawn at creation (MXNet's constructor calls reset); each reset
 * starts the next epoch. The modulo bias is below N / 2^64.
 *
 * Batches are gathered by sample index into iterator-owned arrays allocated
 * once at creation; batch.index lists the sample indices of each slot. */
#include <stdlib.h>
#include <string.h>

#include "data_iter.h"
#include "base/error.h"
#include "base/philox.h"
#include "ndarray.h"

/* --------------------------------------------------------------- interface */

struct mt_data_iter {
  mt_data_iter_vtable vt;
  void *self;
};

/* On failure `self` is not taken: the caller still owns it. */
int mt_data_iter_create(const mt_data_iter_vtable *vt, void *self, mt_data_iter **out) {
  if (!out) return MT_ERR(MT_E_INVAL, "data_iter_create: NULL output pointer");
  *out = NULL;
  if (!vt) return MT_ERR(MT_E_INVAL, "data_iter_create: NULL vtable");
  const char *missing = !vt->next           ? "next"
                        : !vt->reset        ? "reset"
                        : !vt->provide_data ? "provide_data"
                                            : NULL;
  if (missing)
    return MT_ERR(MT_E_INVAL, "data_iter_create: the vtable has no '%s' function", missing);
  mt_data_iter *it = calloc(1, sizeof *it);
  if (!it) return MT_NOMEM();
  it->vt = *vt;
  it->self = self;
  *out = it;
  return MT_OK;
}

void *mt_data_iter_self_if(const mt_data_iter *it, int (*next)(void *, mt_batch *)) {
  return it && it->vt.next == next ? it->self : NULL;
}

void mt_data_iter_free(mt_data_iter *it) {
  if (!it) return;
  if (it->vt.destroy) it->vt.destroy(it->self);
  free(it);
}

/* Keeps the callback's own message; adds one if it failed without any. */
static int callback_failed(int rc, const char *what) {
  if (mt_last_error()[0] == '\0')
    return MT_ERR(rc, "data iterator: %s failed (%s)", what, mt_strerror(rc));
  return rc;
}

int mt_data_iter_next(mt_data_iter *it, mt_batch *batch) {
  if (!it || !batch) return MT_ERR(MT_E_INVAL, "data_iter_next: NULL iterator or batch");
  memset(batch, 0, sizeof *batch);
  mt_error_clear();
  int rc = it->vt.next(it->self, batch);
  if (rc < 0) return callback_failed(rc, "next");
  if (rc == 0) return 0;
  if (batch->ndata < 1 || batch->ndata > MT_MAX_BATCH_INPUTS || batch->nlabel < 0 ||
      batch->nlabel > MT_MAX_BATCH_INPUTS)
    return MT_ERR(MT_E_INVAL,
                  "data iterator: next returned %d data and %d label arrays "
                  "(allowed: 1..%d data, 0..%d labels)",
                  batch->ndata, batch->nlabel, MT_MAX_BATCH_INPUTS, MT_MAX_BATCH_INPUTS);
  for (int i = 0; i < batch->ndata; i++)
    if (!batch->data[i]) return MT_ERR(MT_E_INVAL, "data iterator: next returned NULL data[%d]", i);
  for (int i = 0; i < batch->nlabel; i++)
    if (!batch->label[i])
      return MT_ERR(MT_E_INVAL, "data iterator: next returned NULL label[%d]", i);
  if (batch->pad < 0) return MT_ERR(MT_E_INVAL, "data iterator: next returned pad %d", batch->pad);
  return 1;
}

int mt_data_iter_reset(mt_data_iter *it) {
  if (!it) return MT_ERR(MT_E_INVAL, "data_iter_reset: NULL iterator");
  mt_error_clear();
  int rc = it->vt.reset(it->self);
  return rc < 0 ? callback_failed(rc, "reset") : MT_OK;
}

static int provide(mt_data_iter *it, int label, int *n, const mt_data_desc **descs) {
  const char *what = label ? "provide_label" : "provide_data";
  if (!it || !n || !descs) return MT_ERR(MT_E_INVAL, "data_iter_%s: NULL argument", what);
  *n = 0;
  *descs = NULL;
  int (*fn)(void *, int *, const mt_data_desc **) =
      label ? it->vt.provide_label : it->vt.provide_data;
  if (!fn) return MT_OK; /* an iterator without labels */
  mt_error_clear();
  int rc = fn(it->self, n, descs);
  if (rc < 0) return callback_failed(rc, what);
  if (*n < 0 || *n > MT_MAX_BATCH_INPUTS || (*n > 0 && !*descs))
    return MT_ERR(MT_E_INVAL, "data iterator: %s returned %d descriptions%s", what, *n,
                  *n > 0 && !*descs ? " and a NULL list" : "");
  return MT_OK;
}

int mt_data_iter_provide_data(mt_data_iter *it, int *n, const mt_data_desc **descs) {
  return provide(it, 0, n, descs);
}

int mt_data_iter_provide_label(mt_data_iter *it, int *n, const mt_data_desc **descs) {
  return provide(it, 1, n, descs);
}

/* Returns the batch size, or a negative MT_E_* code. */
int64_t mt_data_iter_batch_size(mt_data_iter *it) {
  int n;
  const mt_data_desc *d;
  MT_TRY(mt_data_iter_provide_data(it, &n, &d));
  if (n < 1) return MT_ERR(MT_E_STATE, "data iterator: provide_data lists no input");
  if (d[0].shape.ndim < 1)
    return MT_ERR(MT_E_SHAPE, "data iterator: input '%s' has no batch axis", d[0].name);
  return d[0].shape.dim[0];
}

/* ------------------------------------------------------------ NDArrayIter */

typedef struct {
  int64_t n, bs; /* samples, batch size */
  mt_last_batch mode;
  int shuffle;
  uint64_t seed, epoch;
  mt_ndarray *data;   /* (N, ...) own CPU copy */
  mt_ndarray *label;  /* (N,) or (N, k) own CPU copy, or NULL */
  int64_t drow, lrow; /* floats per sample in data and label */
  int64_t *order;     /* (N,) this epoch's sample order */
  int64_t cursor;     /* MXNet's cursor into order */
  int64_t *cache;     /* (bs,) roll_over: samples carried into the next epoch */
  int64_t ncache;
  int64_t *index;     /* (bs,) sample indices of the current batch */
  mt_ndarray *bdata;  /* (bs, ...) batch arrays handed out */
  mt_ndarray *blabel; /* (bs,) or (bs, k) or NULL */
  mt_data_desc ddesc, ldesc;
} nd_iter;

static void nd_destroy(void *self) {
  nd_iter *it = self;
  if (!it) return;
  mt_ndarray_free(it->data);
  mt_ndarray_free(it->label);
  mt_ndarray_free(it->bdata);
  mt_ndarray_free(it->blabel);
  free(it->order);
  free(it->cache);
  free(it->index);
  free(it);
}

/* This epoch's order: identity, or the Philox Fisher–Yates of the header. */
void mt_data_iter_order(int64_t *order, int64_t n, int shuffle, uint64_t seed, uint64_t epoch) {
  for (int64_t i = 0; i < n; i++) order[i] = i;
  if (!shuffle) return;
  uint64_t key = mtk_philox_key(seed, epoch);
  for (int64_t i = n - 1; i > 0; i--) {
    mtk_philox4 r = mtk_philox(key, 0, (uint64_t)i);
    uint64_t u = ((uint64_t)r.v[0] << 32) | r.v[1];
    int64_t j = (int64_t)(u % (uint64_t)(i + 1));
    int64_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
}

static void nd_make_order(nd_iter *it) {
  mt_data_iter_order(it->order, it->n, it->shuffle, it->seed, it->epoch);
}

static void copy_rows(float *dst, const float *src, const int64_t *index, int64_t rows,
                      int64_t row) {
  size_t bytes = (size_t)row * sizeof(float);
  for (int64_t j = 0; j < rows; j++) memcpy(dst + j * row, src + index[j] * row, bytes);
}

static int nd_next(void *self, mt_batch *batch) {
  nd_iter *it = self;
  int64_t n = it->n, bs = it->bs;
  if (it->cursor >= n) return 0; /* epoch already over: needs reset, as MXNet */
  it->cursor += bs;
  if (it->cursor >= n) return 0;
  int64_t c = it->cursor;
  int pad = 0;
  if (it->mode == MT_LAST_BATCH_ROLL_OVER && c < 0) {
    /* First batch after a roll-over reset: the -c cached samples, then the
     * head of the new order. */
    if (it->ncache != -c)
      return MT_ERR(MT_E_STATE,
                    "NDArrayIter: roll_over cache holds %lld samples, cursor %lld "
                    "expects %lld",
                    (long long)it->ncache, (long long)c, (long long)-c);
    memcpy(it->index, it->cache, (size_t)it->ncache * sizeof *it->index);
    memcpy(it->index + it->ncache, it->order, (size_t)(bs - it->ncache) * sizeof *it->index);
    it->ncache = 0;
  } else if (c + bs > n) {
    if (it->mode != MT_LAST_BATCH_PAD) {
      /* Incomplete last batch: the epoch ends; roll_over keeps its samples. */
      if (it->mode == MT_LAST_BATCH_ROLL_OVER) {
        it->ncache = n - c;
        memcpy(it->cache, it->order + c, (size_t)it->ncache * sizeof *it->cache);
      }
      return 0;
    }
    /* pad: wrap around to the start of the order (repeatedly if bs > N). */
    for (int64_t j = 0; j < bs; j++) it->index[j] = it->order[(c + j) % n];
    pad = (int)(c + bs - n);
  } else {
    memcpy(it->index, it->order + c, (size_t)bs * sizeof *it->index);
  }
  copy_rows(mt_ndarray_data(it->bdata), mt_ndarray_data(it->data), it->index, bs, it->drow);
  if (it->label)
    copy_rows(mt_ndarray_data(it->blabel), mt_ndarray_data(it->label), it->index, bs, it->lrow);
  batch->ndata = 1;
  batch->data[0] = it->bdata;
  batch->nlabel = it->label ? 1 : 0;
  batch->label[0] = it->blabel;
  batch->pad = pad;
  batch->index = it->index;
  return 1;
}

static int nd_reset(void *self) {
  nd_iter *it = self;
  it->epoch++;
  if (it->shuffle) nd_make_order(it);
  if (it->mode == MT_LAST_BATCH_ROLL_OVER && it->n - it->bs < it->cursor && it->cursor < it->n)
    it->cursor = it->cursor - it->n - it->bs; /* -(cached samples) - bs */
  else it->cursor = -it->bs;
  return MT_OK;
}

static int nd_provide_data(void *self, int *n, const mt_data_desc **descs) {
  nd_iter *it = self;
  *n = 1;
  *descs = &it->ddesc;
  return MT_OK;
}

static int nd_provide_label(void *self, int *n, const mt_data_desc **descs) {
  nd_iter *it = self;
  *n = it->label ? 1 : 0;
  *descs = it->label ? &it->ldesc : NULL;
  return MT_OK;
}

static const mt_data_iter_vtable nd_vtable = {
    .next = nd_next,
    .reset = nd_reset,
    .provide_data = nd_provide_data,
    .provide_label = nd_provide_label,
    .destroy = nd_destroy,
};

static int set_desc(mt_data_desc *d, const char *name, const char *fallback, mt_shape shape,
                    int64_t bs) {
  if (!name) name = fallback;
  size_t len = strlen(name);
  if (len == 0 || len >= sizeof d->name)
    return MT_ERR(MT_E_INVAL, "NDArrayIter: input name '%s' must have 1 to %zu characters", name,
                  sizeof d->name - 1);
  memcpy(d->name, name, len + 1);
  d->shape = shape;
  d->shape.dim[0] = bs;
  return MT_OK;
}

/* A CPU copy of `src` and the same shape with axis 0 = bs for its batches. */
static int own_copy(const mt_ndarray *src, int64_t bs, mt_ndarray **copy, mt_ndarray **batch) {
  mt_shape s = mt_ndarray_shape(src);
  MT_TRY(mt_ndarray_create(s, mt_cpu(0), copy));
  MT_TRY(mt_ndarray_copy(*copy, src));
  s.dim[0] = bs;
  return mt_ndarray_create(s, mt_cpu(0), batch);
}

static const char *mode_name(mt_last_batch m) {
  return m == MT_LAST_BATCH_PAD ? "pad" : m == MT_LAST_BATCH_DISCARD ? "discard" : "roll_over";
}

int mt_ndarray_iter_create(const mt_ndarray *data, const mt_ndarray *label, int64_t batch_size,
                           int shuffle, uint64_t seed, mt_last_batch last_batch_handle,
                           const char *data_name, const char *label_name, mt_data_iter **out) {
  if (!out) return MT_ERR(MT_E_INVAL, "NDArrayIter: NULL output pointer");
  *out = NULL;
  if (!data) return MT_ERR(MT_E_INVAL, "NDArrayIter: data is NULL");
  mt_shape ds = mt_ndarray_shape(data);
  char b1[96], b2[96];
  if (ds.ndim < 1 || ds.dim[0] < 1)
    return MT_ERR(MT_E_SHAPE, "NDArrayIter: data %s holds no samples",
                  mt_shape_str(&ds, b1, sizeof b1));
  int64_t n = ds.dim[0];
  if (last_batch_handle != MT_LAST_BATCH_PAD && last_batch_handle != MT_LAST_BATCH_DISCARD &&
      last_batch_handle != MT_LAST_BATCH_ROLL_OVER)
    return MT_ERR(MT_E_INVAL,
                  "NDArrayIter: last_batch_handle %d is not pad (0), discard (1) or "
                  "roll_over (2)",
                  (int)last_batch_handle);
  if (batch_size < 1)
    return MT_ERR(MT_E_INVAL, "NDArrayIter: batch_size %lld must be >= 1", (long long)batch_size);
  if (batch_size > n && last_batch_handle != MT_LAST_BATCH_PAD)
    return MT_ERR(MT_E_INVAL,
                  "NDArrayIter: batch_size %lld is larger than the %lld samples, so "
                  "last_batch_handle=%s gives no complete batch; use batch_size <= %lld or pad",
                  (long long)batch_size, (long long)n, mode_name(last_batch_handle), (long long)n);
  if (batch_size > INT32_MAX)
    return MT_ERR(MT_E_INVAL, "NDArrayIter: batch_size %lld too large", (long long)batch_size);
  if (label) {
    mt_shape ls = mt_ndarray_shape(label);
    if (ls.ndim < 1 || ls.dim[0] != n)
      return MT_ERR(MT_E_SHAPE, "NDArrayIter: label %s does not have the %lld samples of data %s",
                    mt_shape_str(&ls, b1, sizeof b1), (long long)n,
                    mt_shape_str(&ds, b2, sizeof b2));
  }

  nd_iter *it = calloc(1, sizeof *it);
  if (!it) return MT_NOMEM();
  int rc = MT_OK;
  it->n = n;
  it->bs = batch_size;
  it->mode = last_batch_handle;
  it->shuffle = shuffle != 0;
  it->seed = seed;
  it->cursor = -batch_size;
  it->order = malloc((size_t)n * sizeof *it->order);
  it->cache = malloc((size_t)batch_size * sizeof *it->cache);
  it->index = malloc((size_t)batch_size * sizeof *it->index);
  if (!it->order || !it->cache || !it->index) {
    rc = MT_NOMEM();
    goto fail;
  }
  MT_TRY_GOTO(set_desc(&it->ddesc, data_name, "data", ds, batch_size), rc, fail);
  MT_TRY_GOTO(own_copy(data, batch_size, &it->data, &it->bdata), rc, fail);
  it->drow = mt_ndarray_size(data) / n;
  if (label) {
    MT_TRY_GOTO(
        set_desc(&it->ldesc, label_name, "softmax_label", mt_ndarray_shape(label), batch_size), rc,
        fail);
    MT_TRY_GOTO(own_copy(label, batch_size, &it->label, &it->blabel), rc, fail);
    it->lrow = mt_ndarray_size(label) / n;
  }
  nd_make_order(it); /* epoch 0 */
  MT_TRY_GOTO(mt_data_iter_create(&nd_vtable, it, out), rc, fail);
  return MT_OK;
fail:
  nd_destroy(it);
  return rc;
}

int mt_data_iter_set_epoch(mt_data_iter *it, int64_t epoch) {
  /* exactly the resets an uninterrupted run makes at its epoch ends */
  for (int64_t e = 0; e < epoch; e++) {
    int rc = mt_data_iter_reset(it);
    if (rc < 0) return rc;
  }
  return MT_OK;
}
