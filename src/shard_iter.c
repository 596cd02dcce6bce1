/* shard_iter.c — a rank's shard of every global batch of another iterator:
 * rows [rank*B/world, (rank+1)*B/world) of each batch of size B, as views
 * (no copies). Every rank runs the same inner iterator (same order, same
 * shuffle seed), so the shards of one global batch partition it exactly
 * (docs/design.md §4). The global batch's padding rows are the last ones, so a
 * shard's padding is the part of its rows that falls into them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "ndarray.h"

typedef struct {
  mt_data_iter *inner;
  int rank, world;
  mt_data_desc data[MT_MAX_BATCH_INPUTS], label[MT_MAX_BATCH_INPUTS];
  int ndata, nlabel;
  mt_ndarray views[2 * MT_MAX_BATCH_INPUTS];
} shard_iter;

static void bounds(const shard_iter *s, int64_t B, int64_t *lo, int64_t *hi) {
  *lo = (int64_t)s->rank * B / s->world;
  *hi = (int64_t)(s->rank + 1) * B / s->world;
}

static void view_rows(mt_ndarray *v, const mt_ndarray *a, int64_t lo, int64_t hi) {
  int64_t row = a->shape.dim[0] ? a->size / a->shape.dim[0] : 0;
  mt_shape sh = a->shape;
  sh.dim[0] = hi - lo;
  mt_ndarray_init_view(v, a->data + lo * row, sh, a->ctx);
}

static int shard_next(void *self, mt_batch *b) {
  shard_iter *s = self;
  mt_batch g;
  int rc = mt_data_iter_next(s->inner, &g);
  if (rc <= 0) return rc;
  int64_t B = g.data[0]->shape.dim[0], lo, hi;
  if (B % s->world)
    return MT_ERR(MT_E_SHAPE, "a batch of %lld samples does not split over %d ranks", (long long)B,
                  s->world);
  bounds(s, B, &lo, &hi);
  memset(b, 0, sizeof *b);
  b->ndata = g.ndata;
  b->nlabel = g.nlabel;
  for (int i = 0; i < g.ndata; i++) {
    view_rows(&s->views[i], g.data[i], lo, hi);
    b->data[i] = &s->views[i];
  }
  for (int i = 0; i < g.nlabel; i++) {
    view_rows(&s->views[MT_MAX_BATCH_INPUTS + i], g.label[i], lo, hi);
    b->label[i] = &s->views[MT_MAX_BATCH_INPUTS + i];
  }
  int64_t pad_lo = B - g.pad; /* padding rows are [B - pad, B) */
  int64_t p = hi - (pad_lo > lo ? pad_lo : lo);
  b->pad = (int)(p > 0 ? p : 0);
  b->index = g.index ? g.index + lo : NULL;
  b->bucket_key = g.bucket_key;
  return 1;
}

static int shard_reset(void *self) { return mt_data_iter_reset(((shard_iter *)self)->inner); }

static int shard_provide_data(void *self, int *n, const mt_data_desc **d) {
  shard_iter *s = self;
  *n = s->ndata;
  *d = s->data;
  return MT_OK;
}

static int shard_provide_label(void *self, int *n, const mt_data_desc **d) {
  shard_iter *s = self;
  *n = s->nlabel;
  *d = s->label;
  return MT_OK;
}

static void shard_destroy(void *self) {
  shard_iter *s = self;
  mt_data_iter_free(s->inner);
  free(s);
}

static const mt_data_iter_vtable shard_vt = {shard_next, shard_reset, shard_provide_data,
                                             shard_provide_label, shard_destroy};

int mt_data_iter_shard(mt_data_iter *inner, int rank, int world, mt_data_iter **out) {
  *out = NULL;
  if (world < 1 || rank < 0 || rank >= world)
    return MT_ERR(MT_E_INVAL, "shard: rank %d of %d is out of range", rank, world);
  shard_iter *s = calloc(1, sizeof *s);
  if (!s) return MT_NOMEM();
  s->inner = inner;
  s->rank = rank;
  s->world = world;
  const mt_data_desc *d, *l;
  int rc = mt_data_iter_provide_data(inner, &s->ndata, &d);
  if (rc == MT_OK) rc = mt_data_iter_provide_label(inner, &s->nlabel, &l);
  if (rc == MT_OK && (s->ndata > MT_MAX_BATCH_INPUTS || s->nlabel > MT_MAX_BATCH_INPUTS))
    rc = MT_ERR(MT_E_INVAL, "shard: too many inputs");
  int64_t B = rc == MT_OK && s->ndata ? d[0].shape.dim[0] : 0;
  if (rc == MT_OK && B % world)
    rc = MT_ERR(MT_E_INVAL, "batch_size %lld is not divisible by %d ranks; use a multiple of %d",
                (long long)B, world, world);
  if (rc < 0) {
    free(s);
    return rc;
  }
  int64_t lo, hi;
  bounds(s, B, &lo, &hi);
  for (int i = 0; i < s->ndata; i++) {
    s->data[i] = d[i];
    s->data[i].shape.dim[0] = hi - lo;
  }
  for (int i = 0; i < s->nlabel; i++) {
    s->label[i] = l[i];
    s->label[i].shape.dim[0] = hi - lo;
  }
  rc = mt_data_iter_create(&shard_vt, s, out);
  if (rc < 0) free(s);
  return rc;
}
