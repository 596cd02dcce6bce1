/* test_data_iter.c — the data iterator interface and NDArrayIter against
 * MXNet 1.x's documented behaviour (order, pad / discard / roll_over, the
 * docstring's roll_over example), the Philox Fisher–Yates shuffle against a
 * reference written here, custom vtable iterators, errors; and the synthetic
 * generator against a reference of its formula plus its statistics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/synthetic.h"
#include "base/philox.h"
#include "src/symbol.h"
#include "testutil.h"

/* data (n, dim) with data[i][d] = 100 * i + d, so a row names its sample. */
static mt_ndarray *rows_array(int64_t n, int64_t dim) {
  mt_ndarray *a;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n, dim), mt_cpu(0), &a));
  float *x = mt_ndarray_data(a);
  for (int64_t i = 0; i < n; i++)
    for (int64_t d = 0; d < dim; d++) x[i * dim + d] = (float)(100 * i + d);
  return a;
}

/* label (n,) with label[i] = i + 0.5 */
static mt_ndarray *label_array(int64_t n) {
  mt_ndarray *a;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_cpu(0), &a));
  float *y = mt_ndarray_data(a);
  for (int64_t i = 0; i < n; i++) y[i] = (float)i + 0.5f;
  return a;
}

/* Asserts the batch holds exactly samples `want` (bs of them) of rows_array /
 * label_array data, with index == want and the given pad. */
static void check_batch(const mt_batch *b, int64_t dim, const int64_t *want, int64_t bs, int pad,
                        int has_label) {
  assert_int_equal(b->ndata, 1);
  assert_int_equal(b->nlabel, has_label ? 1 : 0);
  assert_int_equal(b->pad, pad);
  mt_shape s = mt_ndarray_shape(b->data[0]);
  assert_int_equal(s.ndim, 2);
  assert_int_equal(s.dim[0], bs);
  assert_int_equal(s.dim[1], dim);
  assert_non_null(b->index);
  const float *x = mt_ndarray_data(b->data[0]);
  for (int64_t j = 0; j < bs; j++) {
    assert_int_equal(b->index[j], want[j]);
    for (int64_t d = 0; d < dim; d++) assert_true(x[j * dim + d] == (float)(100 * want[j] + d));
  }
  if (has_label) {
    const float *y = mt_ndarray_data(b->label[0]);
    assert_int_equal(mt_ndarray_size(b->label[0]), bs);
    for (int64_t j = 0; j < bs; j++) assert_true(y[j] == (float)want[j] + 0.5f);
  }
}

static mt_data_iter *make_iter(int64_t n, int64_t dim, int64_t bs, int shuffle, uint64_t seed,
                               mt_last_batch mode) {
  mt_ndarray *x = rows_array(n, dim), *y = label_array(n);
  mt_data_iter *it;
  MT_ASSERT_OK(mt_ndarray_iter_create(x, y, bs, shuffle, seed, mode, NULL, NULL, &it));
  mt_ndarray_free(x);
  mt_ndarray_free(y);
  return it;
}

/* Runs one epoch; stores the batches' sample indices in idx (bs per batch)
 * and pads in pads; returns the number of batches. */
static int run_epoch(mt_data_iter *it, int64_t bs, int64_t *idx, int *pads, int max_batches) {
  mt_batch b;
  int nb = 0, rc;
  while ((rc = mt_data_iter_next(it, &b)) == 1) {
    assert_true(nb < max_batches);
    memcpy(idx + nb * bs, b.index, (size_t)bs * sizeof *idx);
    if (pads) pads[nb] = b.pad;
    nb++;
  }
  MT_ASSERT_OK(rc);
  return nb;
}

/* ---------------------------------------------------------- NDArrayIter */

static void test_in_order(void **state) {
  (void)state;
  mt_data_iter *it = make_iter(10, 3, 5, 0, 0, MT_LAST_BATCH_PAD);
  mt_ndarray *first = NULL;
  for (int epoch = 0; epoch < 2; epoch++) {
    mt_batch b;
    int64_t w0[5] = {0, 1, 2, 3, 4}, w1[5] = {5, 6, 7, 8, 9};
    assert_int_equal(mt_data_iter_next(it, &b), 1);
    check_batch(&b, 3, w0, 5, 0, 1);
    if (!first) first = b.data[0];
    assert_ptr_equal(b.data[0], first); /* the same iterator-owned array every batch */
    assert_int_equal(mt_data_iter_next(it, &b), 1);
    check_batch(&b, 3, w1, 5, 0, 1);
    assert_ptr_equal(b.data[0], first);
    assert_int_equal(mt_data_iter_next(it, &b), 0);
    assert_int_equal(mt_data_iter_next(it, &b), 0); /* stays at the end until reset */
    MT_ASSERT_OK(mt_data_iter_reset(it));
  }
  mt_data_iter_free(it);
}

/* N = 10, batch 4, pad: the third batch is 8, 9 and wraps to 0, 1; pad = 2. */
static void test_pad(void **state) {
  (void)state;
  mt_data_iter *it = make_iter(10, 2, 4, 0, 0, MT_LAST_BATCH_PAD);
  for (int epoch = 0; epoch < 2; epoch++) {
    mt_batch b;
    int64_t w[3][4] = {{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 0, 1}};
    for (int k = 0; k < 3; k++) {
      assert_int_equal(mt_data_iter_next(it, &b), 1);
      check_batch(&b, 2, w[k], 4, k == 2 ? 2 : 0, 1);
    }
    assert_int_equal(mt_data_iter_next(it, &b), 0);
    MT_ASSERT_OK(mt_data_iter_reset(it));
  }
  mt_data_iter_free(it);
}

/* batch_size > N with pad tiles the data, as MXNet 1.6+: N = 3, batch 7 ->
 * one batch 0 1 2 0 1 2 0 with pad 4. */
static void test_pad_tiles(void **state) {
  (void)state;
  mt_data_iter *it = make_iter(3, 2, 7, 0, 0, MT_LAST_BATCH_PAD);
  mt_batch b;
  int64_t w[7] = {0, 1, 2, 0, 1, 2, 0};
  assert_int_equal(mt_data_iter_next(it, &b), 1);
  check_batch(&b, 2, w, 7, 4, 1);
  assert_int_equal(mt_data_iter_next(it, &b), 0);
  mt_data_iter_free(it);
}

static void test_discard(void **state) {
  (void)state;
  mt_data_iter *it = make_iter(10, 2, 4, 0, 0, MT_LAST_BATCH_DISCARD);
  for (int epoch = 0; epoch < 3; epoch++) {
    mt_batch b;
    int64_t w[2][4] = {{0, 1, 2, 3}, {4, 5, 6, 7}};
    for (int k = 0; k < 2; k++) {
      assert_int_equal(mt_data_iter_next(it, &b), 1);
      check_batch(&b, 2, w[k], 4, 0, 1);
    }
    assert_int_equal(mt_data_iter_next(it, &b), 0);
    MT_ASSERT_OK(mt_data_iter_reset(it));
  }
  mt_data_iter_free(it);
}

/* N = 10, batch 4, roll_over: epoch 0 gives 2 batches and leaves 8, 9; epoch
 * 1 starts with them (8 9 0 1), then 2-5, 6-9 (MXNet's cursor runs to the end
 * of the data); epoch 2 is like epoch 0 again. */
static void test_roll_over(void **state) {
  (void)state;
  mt_data_iter *it = make_iter(10, 2, 4, 0, 0, MT_LAST_BATCH_ROLL_OVER);
  mt_batch b;
  int64_t e0[2][4] = {{0, 1, 2, 3}, {4, 5, 6, 7}};
  int64_t e1[3][4] = {{8, 9, 0, 1}, {2, 3, 4, 5}, {6, 7, 8, 9}};
  for (int round = 0; round < 2; round++) {
    for (int k = 0; k < 2; k++) {
      assert_int_equal(mt_data_iter_next(it, &b), 1);
      check_batch(&b, 2, e0[k], 4, 0, 1);
    }
    assert_int_equal(mt_data_iter_next(it, &b), 0);
    MT_ASSERT_OK(mt_data_iter_reset(it));
    for (int k = 0; k < 3; k++) {
      assert_int_equal(mt_data_iter_next(it, &b), 1);
      /* pad 0: all four samples of the rolled batch are real data */
      check_batch(&b, 2, e1[k], 4, 0, 1);
    }
    assert_int_equal(mt_data_iter_next(it, &b), 0);
    MT_ASSERT_OK(mt_data_iter_reset(it));
  }
  /* A reset before the incomplete batch was reached rolls nothing over. */
  assert_int_equal(mt_data_iter_next(it, &b), 1);
  MT_ASSERT_OK(mt_data_iter_reset(it));
  assert_int_equal(mt_data_iter_next(it, &b), 1);
  check_batch(&b, 2, e0[0], 4, 0, 1);
  mt_data_iter_free(it);
}

/* MXNet's NDArrayIter docstring: data = arange(40).reshape(10, 2, 2),
 * labels ones(10, 1), batch 3, no shuffle, roll_over -> 3 batches; after
 * reset the first batch's data is [[36 37][38 39]], [[0 1][2 3]], [[4 5][6 7]]. */
static void test_roll_over_mxnet_docstring(void **state) {
  (void)state;
  mt_ndarray *x, *y;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(10, 2, 2), mt_cpu(0), &x));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(10, 1), mt_cpu(0), &y));
  for (int i = 0; i < 40; i++) mt_ndarray_data(x)[i] = (float)i;
  MT_ASSERT_OK(mt_ndarray_fill(y, 1.0f));
  mt_data_iter *it;
  MT_ASSERT_OK(mt_ndarray_iter_create(x, y, 3, 0, 0, MT_LAST_BATCH_ROLL_OVER, NULL, NULL, &it));
  mt_batch b;
  int nb = 0;
  while (mt_data_iter_next(it, &b) == 1) nb++;
  assert_int_equal(nb, 3);
  MT_ASSERT_OK(mt_data_iter_reset(it));
  assert_int_equal(mt_data_iter_next(it, &b), 1);
  mt_shape s = mt_ndarray_shape(b.data[0]);
  assert_int_equal(s.ndim, 3);
  assert_int_equal(s.dim[0], 3);
  const float want[12] = {36, 37, 38, 39, 0, 1, 2, 3, 4, 5, 6, 7};
  assert_memory_equal(mt_ndarray_data(b.data[0]), want, sizeof want);
  mt_shape ls = mt_ndarray_shape(b.label[0]);
  assert_int_equal(ls.ndim, 2);
  assert_int_equal(ls.dim[0], 3);
  assert_int_equal(ls.dim[1], 1);
  mt_data_iter_free(it);
  mt_ndarray_free(x);
  mt_ndarray_free(y);
}

/* The documented shuffle, written out plainly: identity, then for i = N-1
 * down to 1 swap i with (64-bit Philox draw at counter i) mod (i + 1). */
static void ref_order(int64_t n, uint64_t seed, uint64_t epoch, int64_t *order) {
  for (int64_t i = 0; i < n; i++) order[i] = i;
  uint64_t key = mtk_philox_key(seed, epoch);
  for (int64_t i = n - 1; i >= 1; i--) {
    mtk_philox4 r = mtk_philox(key, 0, (uint64_t)i);
    uint64_t u = (uint64_t)r.v[0] * 4294967296ull + r.v[1];
    int64_t j = (int64_t)(u % (uint64_t)(i + 1)), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
}

static void test_shuffle(void **state) {
  (void)state;
  enum { N = 40, B = 8, E = 4 };
  mt_data_iter *a = make_iter(N, 3, B, 1, 1234, MT_LAST_BATCH_PAD);
  mt_data_iter *c = make_iter(N, 3, B, 1, 1234, MT_LAST_BATCH_PAD);
  mt_data_iter *d = make_iter(N, 3, B, 1, 1235, MT_LAST_BATCH_PAD);
  int64_t ia[E][N], ic[N], id[N], ref[N];
  for (int e = 0; e < E; e++) {
    /* walk `a` batch by batch, checking contents against the indices */
    mt_batch b;
    for (int k = 0; k < N / B; k++) {
      assert_int_equal(mt_data_iter_next(a, &b), 1);
      memcpy(ia[e] + k * B, b.index, B * sizeof(int64_t));
      check_batch(&b, 3, ia[e] + k * B, B, 0, 1);
    }
    assert_int_equal(mt_data_iter_next(a, &b), 0);
    /* a permutation: every sample exactly once */
    int seen[N] = {0};
    for (int i = 0; i < N; i++) {
      assert_true(ia[e][i] >= 0 && ia[e][i] < N);
      seen[ia[e][i]]++;
    }
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
    /* the documented algorithm */
    ref_order(N, 1234, (uint64_t)e, ref);
    assert_memory_equal(ia[e], ref, sizeof ref);
    /* same seed, another instance: same order; another seed: another order */
    assert_int_equal(run_epoch(c, B, ic, NULL, N / B), N / B);
    assert_memory_equal(ia[e], ic, sizeof ic);
    assert_int_equal(run_epoch(d, B, id, NULL, N / B), N / B);
    assert_true(memcmp(ia[e], id, sizeof id) != 0);
    /* not the identity, and a new order each epoch */
    int moved = 0;
    for (int i = 0; i < N; i++) moved += ia[e][i] != i;
    assert_true(moved > N / 2);
    for (int f = 0; f < e; f++) assert_true(memcmp(ia[e], ia[f], sizeof ia[e]) != 0);
    MT_ASSERT_OK(mt_data_iter_reset(a));
    MT_ASSERT_OK(mt_data_iter_reset(c));
    MT_ASSERT_OK(mt_data_iter_reset(d));
  }
  mt_data_iter_free(a);
  mt_data_iter_free(c);
  mt_data_iter_free(d);
}

/* Uniformity: over 4000 epochs of N = 5, each sample lands first in 1/5 of
 * them; the count's standard deviation is sqrt(4000 * 0.2 * 0.8) = 25.3, the
 * bound 5 of them. */
static void test_shuffle_uniform(void **state) {
  (void)state;
  enum { N = 5, EPOCHS = 4000 };
  mt_data_iter *it = make_iter(N, 1, N, 1, 7, MT_LAST_BATCH_PAD);
  int first[N] = {0};
  for (int e = 0; e < EPOCHS; e++) {
    mt_batch b;
    assert_int_equal(mt_data_iter_next(it, &b), 1);
    first[b.index[0]]++;
    MT_ASSERT_OK(mt_data_iter_reset(it));
  }
  for (int i = 0; i < N; i++) assert_true(fabs(first[i] - EPOCHS / (double)N) < 5 * 25.3);
  mt_data_iter_free(it);
}

/* With shuffle and pad, the last batch wraps to the head of the same epoch's order. */
static void test_shuffle_pad(void **state) {
  (void)state;
  enum { N = 10, B = 4 };
  mt_data_iter *it = make_iter(N, 2, B, 1, 99, MT_LAST_BATCH_PAD);
  int64_t idx[3 * B], ref[N];
  int pads[3];
  assert_int_equal(run_epoch(it, B, idx, pads, 3), 3);
  ref_order(N, 99, 0, ref);
  for (int j = 0; j < 3 * B; j++) assert_int_equal(idx[j], ref[j % N]);
  assert_int_equal(pads[0], 0);
  assert_int_equal(pads[2], 2);
  mt_data_iter_free(it);
}

static void test_descriptions(void **state) {
  (void)state;
  mt_ndarray *x, *y;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(12, 2, 3), mt_cpu(0), &x));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(12, 4), mt_cpu(0), &y));
  tu_fill_uniform(mt_ndarray_data(x), 72, -1, 1, 1);
  tu_fill_uniform(mt_ndarray_data(y), 48, -1, 1, 2);
  mt_data_iter *it;
  MT_ASSERT_OK(mt_ndarray_iter_create(x, y, 5, 0, 0, MT_LAST_BATCH_PAD, NULL, NULL, &it));
  int n;
  const mt_data_desc *dd;
  MT_ASSERT_OK(mt_data_iter_provide_data(it, &n, &dd));
  assert_int_equal(n, 1);
  assert_string_equal(dd[0].name, "data");
  mt_shape want = MT_SHAPE(5, 2, 3);
  assert_true(mt_shape_equal(&dd[0].shape, &want));
  MT_ASSERT_OK(mt_data_iter_provide_label(it, &n, &dd));
  assert_int_equal(n, 1);
  assert_string_equal(dd[0].name, "softmax_label");
  mt_shape lwant = MT_SHAPE(5, 4);
  assert_true(mt_shape_equal(&dd[0].shape, &lwant));
  assert_int_equal(mt_data_iter_batch_size(it), 5);

  /* (N, k) labels: rows follow their samples, the last batch wrapping */
  const float *xs = mt_ndarray_data(x), *ys = mt_ndarray_data(y);
  mt_batch b;
  for (int k = 0; k < 3; k++) {
    assert_int_equal(mt_data_iter_next(it, &b), 1);
    assert_int_equal(b.pad, k == 2 ? 3 : 0);
    for (int j = 0; j < 5; j++) {
      int s = (5 * k + j) % 12;
      assert_int_equal(b.index[j], s);
      assert_memory_equal(mt_ndarray_data(b.data[0]) + j * 6, xs + s * 6, 6 * sizeof(float));
      assert_memory_equal(mt_ndarray_data(b.label[0]) + j * 4, ys + s * 4, 4 * sizeof(float));
    }
  }
  mt_data_iter_free(it);

  /* custom names; the iterator copies its inputs */
  MT_ASSERT_OK(mt_ndarray_iter_create(x, y, 12, 0, 0, MT_LAST_BATCH_DISCARD, "img", "target", &it));
  float x0 = xs[0];
  mt_ndarray_data(x)[0] = 1000.0f;
  MT_ASSERT_OK(mt_data_iter_provide_data(it, &n, &dd));
  assert_string_equal(dd[0].name, "img");
  MT_ASSERT_OK(mt_data_iter_provide_label(it, &n, &dd));
  assert_string_equal(dd[0].name, "target");
  assert_int_equal(mt_data_iter_next(it, &b), 1);
  assert_true(mt_ndarray_data(b.data[0])[0] == x0);
  mt_data_iter_free(it);
  mt_ndarray_free(x);
  mt_ndarray_free(y);
}

static void test_no_label(void **state) {
  (void)state;
  mt_ndarray *x = rows_array(6, 2);
  mt_data_iter *it;
  MT_ASSERT_OK(mt_ndarray_iter_create(x, NULL, 3, 0, 0, MT_LAST_BATCH_PAD, NULL, NULL, &it));
  mt_ndarray_free(x);
  int n = -1;
  const mt_data_desc *dd = (const mt_data_desc *)1;
  MT_ASSERT_OK(mt_data_iter_provide_label(it, &n, &dd));
  assert_int_equal(n, 0);
  assert_null(dd);
  mt_batch b;
  int64_t w[2][3] = {{0, 1, 2}, {3, 4, 5}};
  for (int k = 0; k < 2; k++) {
    assert_int_equal(mt_data_iter_next(it, &b), 1);
    check_batch(&b, 2, w[k], 3, 0, 0);
  }
  assert_int_equal(mt_data_iter_next(it, &b), 0);
  mt_data_iter_free(it);
}

static void test_errors(void **state) {
  (void)state;
  mt_ndarray *x = rows_array(10, 3), *y = label_array(10), *bad;
  mt_data_iter *it = (mt_data_iter *)1;
  assert_int_equal(mt_ndarray_iter_create(x, y, 0, 0, 0, MT_LAST_BATCH_PAD, NULL, NULL, &it),
                   MT_E_INVAL);
  assert_null(it);
  assert_non_null(strstr(mt_last_error(), "batch_size 0"));
  assert_int_equal(mt_ndarray_iter_create(x, y, -3, 0, 0, MT_LAST_BATCH_PAD, NULL, NULL, &it),
                   MT_E_INVAL);
  /* batch_size > N: no complete batch with discard or roll_over (pad tiles) */
  assert_int_equal(mt_ndarray_iter_create(x, y, 11, 0, 0, MT_LAST_BATCH_DISCARD, NULL, NULL, &it),
                   MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "batch_size 11"));
  assert_non_null(strstr(mt_last_error(), "10 samples"));
  assert_int_equal(mt_ndarray_iter_create(x, y, 11, 0, 0, MT_LAST_BATCH_ROLL_OVER, NULL, NULL, &it),
                   MT_E_INVAL);
  MT_ASSERT_OK(mt_ndarray_iter_create(x, y, 10, 0, 0, MT_LAST_BATCH_DISCARD, NULL, NULL, &it));
  mt_data_iter_free(it);
  assert_int_equal(mt_ndarray_iter_create(x, y, 4, 0, 0, (mt_last_batch)7, NULL, NULL, &it),
                   MT_E_INVAL);
  assert_int_equal(mt_ndarray_iter_create(NULL, y, 4, 0, 0, MT_LAST_BATCH_PAD, NULL, NULL, &it),
                   MT_E_INVAL);
  /* label with another number of samples: a shape error naming both shapes */
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(9), mt_cpu(0), &bad));
  assert_int_equal(mt_ndarray_iter_create(x, bad, 4, 0, 0, MT_LAST_BATCH_PAD, NULL, NULL, &it),
                   MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "(9,)"));
  assert_non_null(strstr(mt_last_error(), "(10, 3)"));
  mt_ndarray_free(bad);
  /* a name that does not fit mt_data_desc */
  char longname[100];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal(mt_ndarray_iter_create(x, y, 4, 0, 0, MT_LAST_BATCH_PAD, longname, NULL, &it),
                   MT_E_INVAL);
  assert_null(it);
  mt_ndarray_free(x);
  mt_ndarray_free(y);
}

/* ------------------------------------------------------ custom iterators */

typedef struct {
  int pos, nbatch, resets, fail_next, bad_batch;
  int *destroyed;
  mt_ndarray *x;
  mt_data_desc desc;
} counter_iter;

static int counter_next(void *self, mt_batch *b) {
  counter_iter *c = self;
  if (c->fail_next == 1) return mt_error_set(MT_E_IO, "counter: disk on fire");
  if (c->fail_next == 2) return MT_E_IO; /* fails without a message */
  if (c->pos >= c->nbatch) return 0;
  mt_ndarray_fill(c->x, (float)c->pos++);
  b->ndata = c->bad_batch ? 0 : 1;
  b->data[0] = c->x;
  return 1;
}
static int counter_reset(void *self) {
  counter_iter *c = self;
  c->pos = 0;
  c->resets++;
  return 0;
}
static int counter_provide_data(void *self, int *n, const mt_data_desc **d) {
  counter_iter *c = self;
  *n = 1;
  *d = &c->desc;
  return 0;
}
static void counter_destroy(void *self) {
  counter_iter *c = self;
  (*c->destroyed)++;
  mt_ndarray_free(c->x);
  free(c);
}

static void test_custom_iter(void **state) {
  (void)state;
  int destroyed = 0;
  counter_iter *c = calloc(1, sizeof *c);
  c->nbatch = 3;
  c->destroyed = &destroyed;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(2, 3), mt_cpu(0), &c->x));
  strcpy(c->desc.name, "data");
  c->desc.shape = MT_SHAPE(2, 3);
  mt_data_iter_vtable vt = {.next = counter_next,
                            .reset = counter_reset,
                            .provide_data = counter_provide_data,
                            .destroy = counter_destroy};
  mt_data_iter *it;
  MT_ASSERT_OK(mt_data_iter_create(&vt, c, &it));
  memset(&vt, 0, sizeof vt); /* the iterator keeps its own copy of the table */
  assert_int_equal(mt_data_iter_batch_size(it), 2);
  int n;
  const mt_data_desc *dd;
  MT_ASSERT_OK(mt_data_iter_provide_label(it, &n, &dd)); /* none given: no labels */
  assert_int_equal(n, 0);
  for (int epoch = 0; epoch < 2; epoch++) {
    mt_batch b;
    for (int k = 0; k < 3; k++) {
      assert_int_equal(mt_data_iter_next(it, &b), 1);
      assert_int_equal(b.nlabel, 0);
      assert_null(b.index);
      assert_true(mt_ndarray_data(b.data[0])[5] == (float)k);
    }
    assert_int_equal(mt_data_iter_next(it, &b), 0);
    MT_ASSERT_OK(mt_data_iter_reset(it));
  }
  assert_int_equal(c->resets, 2);
  mt_batch b;
  c->fail_next = 1;
  assert_int_equal(mt_data_iter_next(it, &b), MT_E_IO);
  assert_string_equal(mt_last_error(), "counter: disk on fire");
  c->fail_next = 2;
  assert_int_equal(mt_data_iter_next(it, &b), MT_E_IO);
  assert_non_null(strstr(mt_last_error(), "next failed"));
  c->fail_next = 0;
  c->bad_batch = 1;
  assert_int_equal(mt_data_iter_next(it, &b), MT_E_INVAL);
  mt_data_iter_free(it);
  assert_int_equal(destroyed, 1);
  mt_data_iter_free(NULL);

  /* an incomplete table is refused */
  mt_data_iter_vtable partial = {.next = counter_next, .provide_data = counter_provide_data};
  assert_int_equal(mt_data_iter_create(&partial, NULL, &it), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "reset"));
  assert_int_equal(mt_data_iter_create(NULL, NULL, &it), MT_E_INVAL);
}

/* -------------------------------------------------------------- synthetic */

/* The documented formula, written out plainly. */
static void ref_synthetic(int C, int dim, int64_t n, uint64_t seed, int part, float *x, float *y) {
  uint64_t kmu = mtk_philox_key(seed, mt_hash64("synthetic/mu"));
  uint64_t kx = mtk_philox_key(seed, mt_hash64("synthetic/part") + (uint64_t)part);
  for (int64_t i = 0; i < n; i++) {
    int64_t c = i * C / n;
    y[i] = (float)c;
    for (int d = 0; d < dim; d++) {
      float mu = mtk_philox_uniform(kmu, 0, (uint64_t)(c * dim + d));
      x[i * dim + d] = mu + 0.1f * mtk_philox_normal(kx, 0, (uint64_t)(i * dim + d));
    }
  }
}

static void test_synthetic_formula(void **state) {
  (void)state;
  enum { C = 10, D = 16, N = 320 };
  float *x = malloc(N * D * sizeof *x), *y = malloc(N * sizeof *y);
  float *x2 = malloc(N * D * sizeof *x), *y2 = malloc(N * sizeof *y);
  MT_ASSERT_OK(mt_synthetic_generate(C, D, N, 42, 0, x, y));
  ref_synthetic(C, D, N, 42, 0, x2, y2);
  assert_memory_equal(x, x2, N * D * sizeof *x);
  assert_memory_equal(y, y2, N * sizeof *y);
  /* the tutorial's blocks: 32 samples per class, in class order */
  for (int i = 0; i < N; i++) assert_true(y[i] == (float)(i / 32));
  /* same seed, same bytes (through the io/ entry point as well) */
  MT_ASSERT_OK(mtio_synthetic_generate(C, D, N, 42, 0, x2, y2));
  assert_memory_equal(x, x2, N * D * sizeof *x);
  /* another seed, other data */
  MT_ASSERT_OK(mt_synthetic_generate(C, D, N, 43, 0, x2, y2));
  assert_true(memcmp(x, x2, N * D * sizeof *x) != 0);
  /* uneven blocks: N = 10, C = 3 -> floor(3 i / 10) */
  const float want[10] = {0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
  MT_ASSERT_OK(mt_synthetic_generate(3, 2, 10, 1, 0, x2, y2));
  assert_memory_equal(y2, want, sizeof want);
  /* errors */
  assert_int_equal(mt_synthetic_generate(0, D, N, 1, 0, x, y), MT_E_INVAL);
  assert_int_equal(mt_synthetic_generate(C, 0, N, 1, 0, x, y), MT_E_INVAL);
  assert_int_equal(mt_synthetic_generate(C, D, 0, 1, 0, x, y), MT_E_INVAL);
  assert_int_equal(mt_synthetic_generate(C, D, N, 1, -1, x, y), MT_E_INVAL);
  assert_int_equal(mt_synthetic_generate(C, D, N, 1, 0, NULL, y), MT_E_INVAL);
  free(x);
  free(y);
  free(x2);
  free(y2);
}

/* Parts 0 and 1 with 5000 samples per class: the same labels, different
 * samples, per-class per-feature std 0.1 (the sample std's standard error is
 * 0.1 / sqrt(2 * 5000) = 0.0007; bound 0.005), each part's class means within
 * 4 standard errors (4 * 0.1 / sqrt(5000)) of the true mu, and the two parts'
 * means within 4 standard errors of their difference (4 * 0.1 * sqrt(2 / 5000)). */
static void test_synthetic_parts(void **state) {
  (void)state;
  enum { C = 4, D = 8, NC = 5000, N = C * NC };
  float *x[2], *y[2];
  double mean[2][C][D], sd[C][D];
  uint64_t kmu = mtk_philox_key(77, mt_hash64("synthetic/mu"));
  for (int p = 0; p < 2; p++) {
    x[p] = malloc((size_t)N * D * sizeof(float));
    y[p] = malloc((size_t)N * sizeof(float));
    MT_ASSERT_OK(mt_synthetic_generate(C, D, N, 77, p, x[p], y[p]));
    for (int c = 0; c < C; c++)
      for (int d = 0; d < D; d++) {
        double s = 0, s2 = 0;
        for (int i = c * NC; i < (c + 1) * NC; i++) s += x[p][(size_t)i * D + d];
        double m = s / NC;
        for (int i = c * NC; i < (c + 1) * NC; i++) {
          double e = x[p][(size_t)i * D + d] - m;
          s2 += e * e;
        }
        mean[p][c][d] = m;
        if (p == 0) sd[c][d] = sqrt(s2 / (NC - 1));
        double mu = mtk_philox_uniform(kmu, 0, (uint64_t)(c * D + d));
        assert_true(mu > 0 && mu < 1);
        assert_true(fabs(m - mu) < 4 * 0.1 / sqrt(NC));
      }
  }
  assert_memory_equal(y[0], y[1], (size_t)N * sizeof(float));
  int64_t same = 0;
  for (int64_t i = 0; i < (int64_t)N * D; i++) same += x[0][i] == x[1][i];
  assert_true(same < N * D / 1000);
  for (int c = 0; c < C; c++)
    for (int d = 0; d < D; d++) {
      assert_true(fabs(sd[c][d] - 0.1) < 0.005);
      assert_true(fabs(mean[0][c][d] - mean[1][c][d]) < 4 * 0.1 * sqrt(2.0 / NC));
    }
  for (int p = 0; p < 2; p++) {
    free(x[p]);
    free(y[p]);
  }
}

static void test_synthetic_iter(void **state) {
  (void)state;
  enum { C = 3, D = 5, N = 10, B = 4 };
  float x[N * D], y[N];
  MT_ASSERT_OK(mt_synthetic_generate(C, D, N, 5, 1, x, y));
  mt_data_iter *it, *it2;
  MT_ASSERT_OK(mt_synthetic_iter_create(C, D, N, B, 5, 1, 0, &it));
  int n;
  const mt_data_desc *dd;
  MT_ASSERT_OK(mt_data_iter_provide_data(it, &n, &dd));
  assert_int_equal(n, 1);
  assert_string_equal(dd[0].name, "data");
  mt_shape want = MT_SHAPE(B, D);
  assert_true(mt_shape_equal(&dd[0].shape, &want));
  MT_ASSERT_OK(mt_data_iter_provide_label(it, &n, &dd));
  assert_int_equal(n, 1);
  assert_string_equal(dd[0].name, "softmax_label");
  mt_shape lwant = MT_SHAPE(B);
  assert_true(mt_shape_equal(&dd[0].shape, &lwant));
  /* in order, last batch padded from the start */
  mt_batch b;
  for (int k = 0; k < 3; k++) {
    assert_int_equal(mt_data_iter_next(it, &b), 1);
    assert_int_equal(b.pad, k == 2 ? 2 : 0);
    for (int j = 0; j < B; j++) {
      int s = (B * k + j) % N;
      assert_int_equal(b.index[j], s);
      assert_memory_equal(mt_ndarray_data(b.data[0]) + j * D, x + s * D, D * sizeof(float));
      assert_true(mt_ndarray_data(b.label[0])[j] == y[s]);
    }
  }
  assert_int_equal(mt_data_iter_next(it, &b), 0);
  mt_data_iter_free(it);
  /* shuffled: the same seed gives the same order in two instances */
  MT_ASSERT_OK(mt_synthetic_iter_create(C, D, N, B, 5, 0, 1, &it));
  MT_ASSERT_OK(mt_synthetic_iter_create(C, D, N, B, 5, 0, 1, &it2));
  for (int e = 0; e < 3; e++) {
    int64_t i1[3 * B], i2[3 * B];
    assert_int_equal(run_epoch(it, B, i1, NULL, 3), 3);
    assert_int_equal(run_epoch(it2, B, i2, NULL, 3), 3);
    assert_memory_equal(i1, i2, sizeof i1);
    MT_ASSERT_OK(mt_data_iter_reset(it));
    MT_ASSERT_OK(mt_data_iter_reset(it2));
  }
  mt_data_iter_free(it);
  mt_data_iter_free(it2);
  assert_int_equal(mt_synthetic_iter_create(C, D, N, 0, 5, 0, 0, &it), MT_E_INVAL);
  assert_int_equal(mt_synthetic_iter_create(0, D, N, B, 5, 0, 0, &it), MT_E_INVAL);
  assert_null(it);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_in_order),        cmocka_unit_test(test_pad),
      cmocka_unit_test(test_pad_tiles),       cmocka_unit_test(test_discard),
      cmocka_unit_test(test_roll_over),       cmocka_unit_test(test_roll_over_mxnet_docstring),
      cmocka_unit_test(test_shuffle),         cmocka_unit_test(test_shuffle_uniform),
      cmocka_unit_test(test_shuffle_pad),     cmocka_unit_test(test_descriptions),
      cmocka_unit_test(test_no_label),        cmocka_unit_test(test_errors),
      cmocka_unit_test(test_custom_iter),     cmocka_unit_test(test_synthetic_formula),
      cmocka_unit_test(test_synthetic_parts), cmocka_unit_test(test_synthetic_iter),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
