/* test_bucketing_module.c — BucketingModule: misuse gives errors (no
 * generator, a failing generator, switching before bind, a bucket needing a
 * parameter the default lacks, calls out of order); buckets share the
 * default bucket's parameter, gradient and aux arrays, CPU copies and
 * intermediate memory pool (pointer identity and memory accounting: one
 * parameter set, a pool as large as the largest bucket, grown by a larger
 * one); MXNet 1.9.1's BucketingModule on the LSTM fixture at sequence
 * lengths 5 and 3 trains to the same parameters; fit over the bucketed
 * sentence iterator learns, and its checkpoints hold a symbol per bucket
 * and resume bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "io/h5_sequences.h"
#include "src/executor.h"
#include "src/module.h"
#include "testutil.h"

#ifndef MT_FIXTURE_DIR
#error "MT_FIXTURE_DIR (tests/fixtures/mxnet) must be defined by tests/CMakeLists.txt"
#endif

enum { V = 12, E = 6, B = 4 };
static const char *const DATA[] = {"data"}, *const LABEL[] = {"softmax_label"};

/* ----------------------------------------------------------- a small net */

/* key L: data (B, L) -> Embedding(V, E) -> Reshape(-1, E) -> FullyConnected
 * (V) -> SoftmaxOutput against the label reshaped to (-1,): every bucket's
 * loss uses the same two parameters. Key 99 adds a parameter of its own;
 * key -1 fails. */
typedef struct {
  int calls[128];
} gen_count;

static int small_gen(void *user, int key, mt_symbol **sym, int *nd, const char *const **dn, int *nl,
                     const char *const **ln) {
  if (user) ((gen_count *)user)->calls[key & 127]++;
  if (key < 0) return MT_ERR(MT_E_INVAL, "no network for key %d", key);
  mt_symbol *data, *label, *emb, *flat, *fc, *lr, *out, *in2[2];
  char a[64];
  MT_TRY(mt_symbol_variable("data", &data));
  MT_TRY(mt_symbol_variable("softmax_label", &label));
  snprintf(a, sizeof a, "input_dim=%d output_dim=%d", V, E);
  MT_TRY(mt_symbol_create("Embedding", "embed", a, 1, &data, &emb));
  snprintf(a, sizeof a, "shape=(-1,%d)", E);
  MT_TRY(mt_symbol_create("Reshape", "flat", a, 1, &emb, &flat));
  if (key == 99) {
    mt_symbol *x;
    MT_TRY(mt_symbol_create("FullyConnected", "extra", "num_hidden=6", 1, &flat, &x));
    mt_symbol_free(flat);
    flat = x;
  }
  snprintf(a, sizeof a, "num_hidden=%d", V);
  MT_TRY(mt_symbol_create("FullyConnected", "pred", a, 1, &flat, &fc));
  MT_TRY(mt_symbol_create("Reshape", "label_flat", "shape=(-1,)", 1, &label, &lr));
  in2[0] = fc;
  in2[1] = lr;
  MT_TRY(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 2, in2, &out));
  mt_symbol_free(data);
  mt_symbol_free(label);
  mt_symbol_free(emb);
  mt_symbol_free(flat);
  mt_symbol_free(fc);
  mt_symbol_free(lr);
  *sym = out;
  *nd = 1;
  *dn = DATA;
  *nl = 1;
  *ln = LABEL;
  return MT_OK;
}

static mt_data_desc desc(const char *name, int64_t rows, int64_t len) {
  mt_data_desc d;
  memset(&d, 0, sizeof d);
  snprintf(d.name, sizeof d.name, "%s", name);
  d.shape = MT_SHAPE(rows, len);
  return d;
}

/* a batch of key L: tokens and next tokens from a seed */
typedef struct {
  mt_ndarray *x, *y;
  mt_batch b;
} tbatch;

static void make_batch(tbatch *t, int L, uint64_t seed) {
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(B, L), mt_cpu(0), &t->x));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(B, L), mt_cpu(0), &t->y));
  float *x = mt_ndarray_data(t->x), *y = mt_ndarray_data(t->y);
  tu_fill_uniform(x, B * L, 0, V, seed);
  for (int i = 0; i < B * L; i++) x[i] = floorf(x[i]);
  for (int i = 0; i < B * L; i++) y[i] = (float)(((int)x[i] * 5 + 1) % V);
  memset(&t->b, 0, sizeof t->b);
  t->b.ndata = t->b.nlabel = 1;
  t->b.data[0] = t->x;
  t->b.label[0] = t->y;
  t->b.bucket_key = L;
}

static void free_batch(tbatch *t) {
  mt_ndarray_free(t->x);
  mt_ndarray_free(t->y);
}

static mt_module *bound_small(int default_key, gen_count *gc) {
  mt_module *m;
  MT_ASSERT_OK(mt_bucketing_module_create(small_gen, gc, default_key, 0, NULL, &m));
  mt_data_desc d = desc("data", B, default_key), l = desc("softmax_label", B, default_key);
  MT_ASSERT_OK(mt_module_bind(m, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier", 3, &init));
  MT_ASSERT_OK(mt_module_init_params(m, init, NULL, NULL, 0, 0, 0));
  mt_initializer_free(init);
  MT_ASSERT_OK(mt_module_init_optimizer(m, "local", "sgd", "learning_rate=0.5 momentum=0.9", 0));
  return m;
}

static void test_errors(void **state) {
  (void)state;
  mt_module *m = NULL;
  assert_int_equal(mt_bucketing_module_create(NULL, NULL, 8, 0, NULL, &m), MT_E_INVAL);
  /* the default key's generator runs at create */
  assert_int_equal(mt_bucketing_module_create(small_gen, NULL, -1, 0, NULL, &m), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "bucket key -1"));
  assert_null(m);
  MT_ASSERT_OK(mt_bucketing_module_create(small_gen, NULL, 8, 0, NULL, &m));
  assert_string_equal(mt_module_kind(m), "BucketingModule");
  /* names before bind are the default bucket's */
  int n;
  const char *const *names;
  MT_ASSERT_OK(mt_module_data_names(m, &n, &names));
  assert_int_equal(n, 1);
  assert_string_equal(names[0], "data");
  mt_data_desc d3 = desc("data", B, 3), l3 = desc("softmax_label", B, 3);
  assert_int_equal(mt_bucketing_module_switch_bucket(m, 3, 1, &d3, 1, &l3), MT_E_STATE);
  assert_non_null(strstr(mt_last_error(), "call bind before switching bucket"));
  tbatch t;
  make_batch(&t, 3, 1);
  assert_int_equal(mt_module_forward(m, &t.b, 1), MT_E_STATE);
  mt_data_desc d = desc("data", B, 8), l = desc("softmax_label", B, 8);
  MT_ASSERT_OK(mt_module_bind(m, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  assert_int_equal(mt_module_forward(m, &t.b, 1), MT_E_STATE); /* no init_params */
  assert_int_equal(mt_module_update(m), MT_E_STATE);
  MT_ASSERT_OK(mt_module_init_params(m, NULL, NULL, NULL, 0, 0, 0));
  assert_int_equal(mt_module_update(m), MT_E_STATE); /* no init_optimizer */
  /* a bucket with a parameter of its own: an error naming both keys */
  mt_data_desc d99 = desc("data", B, 5), l99 = desc("softmax_label", B, 5);
  assert_int_equal(mt_bucketing_module_switch_bucket(m, 99, 1, &d99, 1, &l99), MT_E_INVAL);
  printf("error: %s\n", mt_last_error());
  assert_non_null(strstr(mt_last_error(), "bucket key 99"));
  assert_non_null(strstr(mt_last_error(), "extra_weight"));
  assert_non_null(strstr(mt_last_error(), "default bucket (key 8)"));
  assert_int_equal(mt_bucketing_module_num_buckets(m), 1);
  int key;
  MT_ASSERT_OK(mt_bucketing_module_current_key(m, &key));
  assert_int_equal(key, 8);
  /* a failing generator for a new key at forward */
  t.b.bucket_key = -1;
  assert_int_equal(mt_module_forward(m, &t.b, 1), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "sym_gen(bucket key -1)"));
  free_batch(&t);
  /* a plain Module is no BucketingModule */
  mt_module *plain = mt_bucketing_module_bucket(m, 8);
  assert_non_null(plain);
  assert_int_equal(mt_bucketing_module_switch_bucket(plain, 3, 1, &d3, 1, &l3), MT_E_INVAL);
  assert_int_equal(mt_bucketing_module_num_buckets(plain), 0);
  mt_module_free(m);
}

/* every bucket's arrays are the default's; memory is one parameter set and
 * the largest bucket's intermediate memory */
static void test_sharing(void **state) {
  (void)state;
  gen_count gc = {{0}};
  mt_module *m = bound_small(8, &gc);
  int64_t pbytes0, pool0;
  MT_ASSERT_OK(mt_bucketing_module_memory(m, &pbytes0, &pool0));
  /* one parameter set: weights, gradients, CPU copies */
  int64_t want = 0;
  mt_module *def = mt_bucketing_module_bucket(m, 8);
  want += 3 * mt_arena_size(def->group.slots[0].params) * 4;
  assert_int_equal(pbytes0, want);
  assert_true(pool0 > 0);
  static const int keys[] = {3, 5, 8, 3, 5};
  for (int i = 0; i < 5; i++) {
    tbatch t;
    make_batch(&t, keys[i], 10 + i);
    MT_ASSERT_OK(mt_module_forward_backward(m, &t.b));
    MT_ASSERT_OK(mt_module_update(m));
    int key;
    MT_ASSERT_OK(mt_bucketing_module_current_key(m, &key));
    assert_int_equal(key, keys[i]);
    int n;
    const mt_data_desc *ds;
    MT_ASSERT_OK(mt_module_data_shapes(m, &n, &ds));
    assert_int_equal(ds[0].shape.dim[1], keys[i]);
    free_batch(&t);
  }
  assert_int_equal(mt_bucketing_module_num_buckets(m), 3);
  for (int k = 0; k < 128; k++) assert_true(gc.calls[k] <= 1); /* once per key */
  assert_int_equal(gc.calls[3] + gc.calls[5] + gc.calls[8], 3);
  mt_module *b3 = mt_bucketing_module_bucket(m, 3), *b5 = mt_bucketing_module_bucket(m, 5);
  assert_non_null(b3);
  assert_non_null(b5);
  mt_module *bs[] = {b3, b5};
  for (int i = 0; i < 2; i++) {
    mt_exec_slot *s = &bs[i]->group.slots[0], *s0 = &def->group.slots[0];
    assert_ptr_equal(s->params, s0->params);
    assert_ptr_equal(s->grads, s0->grads);
    assert_ptr_equal(s->aux, s0->aux);
    assert_ptr_equal(s->pool, s0->pool);
    assert_ptr_equal(bs[i]->arg_params, def->arg_params);
    assert_ptr_equal(bs[i]->opt, def->opt);
    assert_ptr_equal(bs[i]->kv, def->kv);
    /* the executor's weight is the arena's array itself */
    assert_ptr_equal(mt_executor_arg(s->exec, "pred_weight"),
                     mt_arena_get(s0->params, "pred_weight"));
    assert_ptr_equal(mt_executor_grad(s->exec, "embed_weight"),
                     mt_arena_get(s0->grads, "embed_weight"));
    assert_ptr_equal(mt_executor_pool(s->exec), s0->pool);
  }
  int64_t pbytes, pool;
  MT_ASSERT_OK(mt_bucketing_module_memory(m, &pbytes, &pool));
  printf("3 buckets: parameters %lld bytes (1 bucket: %lld), pool %lld bytes (1 bucket: %lld)\n",
         (long long)pbytes, (long long)pbytes0, (long long)pool, (long long)pool0);
  assert_int_equal(pbytes, pbytes0);
  assert_int_equal(pool, pool0); /* the default (largest) bucket's plan */
  /* the pool is the largest plan: the default bucket's, bigger than key 3's */
  int64_t p3 = mt_executor_planned_bytes(b3->group.slots[0].exec, NULL),
          p8 = mt_executor_planned_bytes(def->group.slots[0].exec, NULL);
  assert_true(p3 < p8);
  assert_int_equal(pool, p8);

  /* a bucket larger than the default grows the pool; the default bucket
   * still computes what a Module of its own computes */
  tbatch t8;
  make_batch(&t8, 8, 77);
  MT_ASSERT_OK(mt_module_forward(m, &t8.b, 0));
  int no;
  mt_ndarray *const *outs;
  MT_ASSERT_OK(mt_module_get_outputs(m, &no, &outs));
  int64_t osize = mt_ndarray_size(outs[0]);
  float *before = malloc(sizeof(float) * (size_t)osize);
  memcpy(before, mt_ndarray_data(outs[0]), sizeof(float) * (size_t)osize);
  tbatch t20;
  make_batch(&t20, 20, 78);
  MT_ASSERT_OK(mt_module_forward(m, &t20.b, 1));
  MT_ASSERT_OK(mt_bucketing_module_memory(m, &pbytes, &pool));
  int64_t p20 =
      mt_executor_planned_bytes(mt_bucketing_module_bucket(m, 20)->group.slots[0].exec, NULL);
  printf("bucket 20 (larger than the default 8): pool %lld bytes, its plan %lld\n", (long long)pool,
         (long long)p20);
  assert_int_equal(pool, p20);
  assert_true(pool > pool0);
  assert_int_equal(pbytes, pbytes0);
  MT_ASSERT_OK(mt_module_forward(m, &t8.b, 0));
  MT_ASSERT_OK(mt_module_get_outputs(m, &no, &outs));
  assert_true(tu_max_abs_diff(before, mt_ndarray_data(outs[0]), osize) == 0);
  free(before);
  free_batch(&t8);
  free_batch(&t20);

  /* get_params sees what the buckets' updates wrote: equal to the
   * default Module's device arrays */
  const mt_arena *args;
  MT_ASSERT_OK(mt_module_get_params(m, &args, NULL));
  assert_ptr_equal(args, def->arg_params);
  assert_true(tu_max_abs_diff(mt_arena_data(args), mt_arena_data(def->group.slots[0].params),
                              mt_arena_size(args)) == 0);
  mt_module_free(m);
}

/* The same training through a BucketingModule and through one Module per
 * key trained by hand on shared copies: the buckets' gradients go into the
 * one set. Here: bucket key 3 then 5 in a BucketingModule equals a Module
 * that reshapes from 3 to 5 (same parameters, same optimizer). */
static void test_equals_reshaping_module(void **state) {
  (void)state;
  mt_module *bm = bound_small(8, NULL);
  mt_symbol *sym;
  int nd, nl;
  const char *const *dn, *const *ln;
  MT_ASSERT_OK(small_gen(NULL, 8, &sym, &nd, &dn, &nl, &ln));
  mt_module *one;
  MT_ASSERT_OK(mt_module_create(sym, nd, dn, nl, ln, 0, NULL, &one));
  mt_symbol_free(sym);
  mt_data_desc d = desc("data", B, 8), l = desc("softmax_label", B, 8);
  MT_ASSERT_OK(mt_module_bind(one, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  const mt_arena *args;
  MT_ASSERT_OK(mt_module_get_params(bm, &args, NULL));
  MT_ASSERT_OK(mt_module_init_params(one, NULL, args, NULL, 0, 0, 0));
  MT_ASSERT_OK(mt_module_init_optimizer(one, "local", "sgd", "learning_rate=0.5 momentum=0.9", 0));
  static const int keys[] = {3, 5, 8, 5, 3, 3};
  for (int i = 0; i < 6; i++) {
    tbatch t;
    make_batch(&t, keys[i], 40 + i);
    MT_ASSERT_OK(mt_module_forward_backward(bm, &t.b));
    MT_ASSERT_OK(mt_module_update(bm));
    MT_ASSERT_OK(mt_module_forward_backward(one, &t.b));
    MT_ASSERT_OK(mt_module_update(one));
    free_batch(&t);
  }
  const mt_arena *a1, *a2;
  MT_ASSERT_OK(mt_module_get_params(bm, &a1, NULL));
  MT_ASSERT_OK(mt_module_get_params(one, &a2, NULL));
  double diff = tu_max_abs_diff(mt_arena_data(a1), mt_arena_data(a2), mt_arena_size(a1));
  printf("bucketing vs a reshaping Module: max abs diff %.3g\n", diff);
  assert_true(diff == 0);
  mt_module_free(one);
  mt_module_free(bm);
}

/* two contexts: each slot's arrays and pool are the default bucket's, and
 * training equals one context to float rounding */
static void test_two_contexts(void **state) {
  (void)state;
  mt_context two[2] = {mt_cpu(0), mt_cpu(0)};
  mt_module *m1 = bound_small(8, NULL), *m2;
  MT_ASSERT_OK(mt_bucketing_module_create(small_gen, NULL, 8, 2, two, &m2));
  mt_data_desc d = desc("data", B, 8), l = desc("softmax_label", B, 8);
  MT_ASSERT_OK(mt_module_bind(m2, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  const mt_arena *args;
  MT_ASSERT_OK(mt_module_get_params(m1, &args, NULL));
  MT_ASSERT_OK(mt_module_set_params(m2, args, NULL, 0, 0, 0));
  MT_ASSERT_OK(mt_module_init_optimizer(m2, "local", "sgd", "learning_rate=0.5 momentum=0.9", 0));
  static const int keys[] = {3, 8, 5, 3};
  for (int i = 0; i < 4; i++) {
    tbatch t;
    make_batch(&t, keys[i], 60 + i);
    MT_ASSERT_OK(mt_module_forward_backward(m1, &t.b));
    MT_ASSERT_OK(mt_module_update(m1));
    MT_ASSERT_OK(mt_module_forward_backward(m2, &t.b));
    MT_ASSERT_OK(mt_module_update(m2));
    free_batch(&t);
  }
  mt_module *def = mt_bucketing_module_bucket(m2, 8), *b5 = mt_bucketing_module_bucket(m2, 5);
  for (int s = 0; s < 2; s++) {
    assert_ptr_equal(b5->group.slots[s].params, def->group.slots[s].params);
    assert_ptr_equal(b5->group.slots[s].grads, def->group.slots[s].grads);
    assert_ptr_equal(b5->group.slots[s].pool, def->group.slots[s].pool);
  }
  assert_ptr_not_equal(def->group.slots[0].params, def->group.slots[1].params);
  const mt_arena *a1, *a2;
  MT_ASSERT_OK(mt_module_get_params(m1, &a1, NULL));
  MT_ASSERT_OK(mt_module_get_params(m2, &a2, NULL));
  double diff = tu_max_abs_diff(mt_arena_data(a1), mt_arena_data(a2), mt_arena_size(a1));
  printf("two contexts vs one: max abs diff %.3g\n", diff);
  assert_true(diff < 1e-5);
  mt_module_free(m1);
  mt_module_free(m2);
}

/* ------------------------------------------- MXNet's BucketingModule, LSTM */

static int lstm_gen(void *user, int key, mt_symbol **sym, int *nd, const char *const **dn, int *nl,
                    const char *const **ln) {
  (void)user;
  char path[1024];
  if (key == 5) snprintf(path, sizeof path, "%s/lstm-symbol.json", MT_FIXTURE_DIR);
  else if (key == 3) snprintf(path, sizeof path, "%s/lstm3-symbol.json", MT_FIXTURE_DIR);
  else return MT_ERR(MT_E_INVAL, "the LSTM fixture has sequence lengths 5 and 3, not %d", key);
  MT_TRY(mt_symbol_load(path, sym));
  *nd = 1;
  *dn = DATA;
  *nl = 1;
  *ln = LABEL;
  return MT_OK;
}

/* make_bucketing_fixture.py: BucketingModule(sym_gen, default_bucket_key=5)
 * with lstm-0000.params, sgd, batches of keys 5,3,3,5,3,5 */
static void test_lstm_mxnet(void **state) {
  (void)state;
  char path[1024];
  mt_arena *arg, *aux, *io, *io_aux;
  snprintf(path, sizeof path, "%s/lstm-0000.params", MT_FIXTURE_DIR);
  MT_ASSERT_OK(mt_params_load(path, &arg, &aux));
  snprintf(path, sizeof path, "%s/bucketing-io.params", MT_FIXTURE_DIR);
  MT_ASSERT_OK(mt_params_load(path, &io, &io_aux));
  mt_module *m;
  MT_ASSERT_OK(mt_bucketing_module_create(lstm_gen, NULL, 5, 0, NULL, &m));
  mt_data_desc d = desc("data", 4, 5), l = desc("softmax_label", 4, 5);
  MT_ASSERT_OK(mt_module_bind(m, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  MT_ASSERT_OK(mt_module_set_params(m, arg, aux, 0, 0, 0));
  MT_ASSERT_OK(
      mt_module_init_optimizer(m, "local", "sgd", "learning_rate=0.5 momentum=0.9 wd=0.001", 0));
  static const int keys[] = {5, 3, 3, 5, 3, 5};
  for (int i = 0; i < 6; i++) {
    char dk[32], lk[32];
    snprintf(dk, sizeof dk, "data%d", i);
    snprintf(lk, sizeof lk, "label%d", i);
    mt_batch b;
    memset(&b, 0, sizeof b);
    b.ndata = b.nlabel = 1;
    b.data[0] = mt_arena_get(io, dk);
    b.label[0] = mt_arena_get(io, lk);
    assert_non_null(b.data[0]);
    assert_int_equal(b.data[0]->shape.dim[1], keys[i]);
    b.bucket_key = keys[i];
    MT_ASSERT_OK(mt_module_forward_backward(m, &b));
    MT_ASSERT_OK(mt_module_update(m));
  }
  assert_int_equal(mt_bucketing_module_num_buckets(m), 2);
  const mt_arena *got;
  MT_ASSERT_OK(mt_module_get_params(m, &got, NULL));
  double worst = 0;
  for (int i = 0; i < mt_arena_count(got); i++) {
    char k[256];
    snprintf(k, sizeof k, "final:%s", mt_arena_name(got, i));
    mt_ndarray *want = mt_arena_get(io, k), *have = mt_arena_at(got, i);
    assert_non_null(want);
    assert_int_equal(want->size, have->size);
    double dd = tu_max_abs_diff(mt_ndarray_data(want), mt_ndarray_data(have), have->size);
    /* and training moved it: the comparison is not of the starting values */
    double moved =
        tu_max_abs_diff(mt_ndarray_data(want),
                        mt_ndarray_data(mt_arena_get(arg, mt_arena_name(got, i))), have->size);
    assert_true(moved > 1e-3);
    if (dd > worst) worst = dd;
  }
  printf("LSTM buckets 5 and 3 vs MXNet 1.9.1's BucketingModule: max abs diff %.3g\n", worst);
  assert_true(worst < 2e-5);
  mt_module_free(m);
  mt_arena_free(arg);
  mt_arena_free(aux);
  mt_arena_free(io);
  mt_arena_free(io_aux);
}

/* ------------------------------------------------- fit, checkpoints, resume */

static char seq_path[256];
enum { NSEQ = 240 };

static void write_tokens(void) {
  snprintf(seq_path, sizeof seq_path, "/tmp/test_bucketing_module-%ld.h5", (long)getpid());
  int64_t off[NSEQ + 1] = {0};
  int32_t *t = malloc(sizeof(int32_t) * NSEQ * 8);
  for (int64_t i = 0; i < NSEQ; i++) {
    int64_t len = 2 + (i * 5) % 7; /* 2..8 */
    /* a predictable language: each token follows from the one before */
    int32_t x = (int32_t)(1 + i % (V - 1));
    for (int64_t j = 0; j < len; j++) {
      t[off[i] + j] = x;
      x = (int32_t)(1 + (x * 3) % (V - 1));
    }
    off[i + 1] = off[i] + len;
  }
  MT_ASSERT_OK(mtio_seq_write(seq_path, t, off, NSEQ, V, NULL));
  free(t);
}

static mt_data_iter *seq_iter(void) {
  static const int64_t buckets[] = {4, 8};
  mt_bucket_iter_options o = {.buckets = buckets,
                              .nbuckets = 2,
                              .batch_size = 8,
                              .invalid_label = 0,
                              .shuffle = 1,
                              .seed = 5,
                              .rank = 0,
                              .world = 1};
  mt_data_iter *it;
  MT_ASSERT_OK(mt_bucket_sentence_iter_create(seq_path, &o, NULL, &it));
  return it;
}

static void fit_opts(mt_fit_options *o, const mt_initializer *init, int begin, int end) {
  mt_fit_options_init(o);
  o->eval_metric = "perplexity ignore_label=0";
  o->optimizer = "sgd";
  o->optimizer_params = "learning_rate=0.2 momentum=0.9 wd=0.0001";
  o->initializer = init;
  o->begin_epoch = begin;
  o->num_epoch = end;
}

static double score_ppl(mt_module *m) {
  mt_data_iter *it = seq_iter();
  mt_metric *met;
  MT_ASSERT_OK(mt_metric_create("perplexity ignore_label=0", &met));
  MT_ASSERT_OK(mt_module_score(m, it, met, -1, 1, 0, 0, NULL));
  const char *name;
  double v;
  MT_ASSERT_OK(mt_metric_get(met, 0, &name, &v));
  mt_metric_free(met);
  mt_data_iter_free(it);
  return v;
}

static mt_module *seq_module(void) {
  mt_module *m;
  MT_ASSERT_OK(mt_bucketing_module_create(small_gen, NULL, 8, 0, NULL, &m));
  return m;
}

static void test_fit_checkpoint_resume(void **state) {
  (void)state;
  write_tokens();
  char dir[] = "/tmp/mt_bucketing_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char prefix[128];
  snprintf(prefix, sizeof prefix, "%s/lm", dir);
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier", 7, &init));

  /* two epochs straight, a checkpoint after each */
  mt_module *full = seq_module();
  mt_fit_options o;
  fit_opts(&o, init, 0, 2);
  MT_ASSERT_OK(mt_module_checkpoint(full, prefix, 1, 1, NULL, &o.epoch_end_callback[0]));
  o.n_epoch_end_callback = 1;
  mt_data_iter *it = seq_iter();
  MT_ASSERT_OK(mt_module_fit(full, it, &o));
  mt_epoch_callback_free(&o.epoch_end_callback[0]);
  assert_int_equal(mt_bucketing_module_num_buckets(full), 2);
  double ppl = score_ppl(full);
  printf("perplexity after 2 epochs: %.3f (uniform: %d)\n", ppl, V);
  assert_true(ppl < 3.0); /* the language is deterministic: near 1 when learnt */

  /* the checkpoint: a symbol per bucket, the default one first */
  int dk, nb, *keys;
  mt_symbol **syms;
  MT_ASSERT_OK(mt_load_checkpoint_buckets(prefix, 1, &dk, &nb, &keys, &syms));
  assert_int_equal(dk, 8);
  assert_int_equal(nb, 2);
  assert_int_equal(keys[0], 8);
  assert_int_equal(keys[1], 4);
  for (int i = 0; i < nb; i++) {
    char *a, *b;
    MT_ASSERT_OK(mt_symbol_tojson(syms[i], &a));
    MT_ASSERT_OK(mt_symbol_tojson(mt_module_symbol(mt_bucketing_module_bucket(full, keys[i])), &b));
    assert_string_equal(a, b);
    free(a);
    free(b);
    mt_symbol_free(syms[i]);
    char spath[256];
    snprintf(spath, sizeof spath, "%s-%d-symbol.json", prefix, keys[i]);
    assert_int_equal(access(spath, R_OK), 0);
  }
  free(keys);
  free(syms);
  mt_symbol *s0;
  mt_arena *args, *aux;
  MT_ASSERT_OK(mt_load_checkpoint(prefix, 1, &s0, &args, &aux, NULL));
  int nargs;
  const char *const *an;
  MT_ASSERT_OK(mt_symbol_list_arguments(s0, &nargs, &an));
  assert_int_equal(nargs, 5); /* data, embed_weight, pred_weight, pred_bias, softmax_label */
  mt_symbol_free(s0);
  mt_arena_free(args);
  mt_arena_free(aux);
  /* a plain Module's checkpoint has no buckets */
  {
    mt_symbol *s = tu_mlp(4, "relu", 3);
    mt_module *pm;
    MT_ASSERT_OK(mt_module_create(s, 0, NULL, 0, NULL, 0, NULL, &pm));
    mt_data_desc d = desc("data", 2, 5), l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "softmax_label");
    l.shape = MT_SHAPE(2);
    MT_ASSERT_OK(mt_module_bind(pm, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
    MT_ASSERT_OK(mt_module_init_params(pm, init, NULL, NULL, 0, 0, 0));
    char p2[160];
    snprintf(p2, sizeof p2, "%s/plain", dir);
    MT_ASSERT_OK(mt_module_save_checkpoint(pm, p2, 1, 0));
    assert_int_equal(mt_load_checkpoint_buckets(p2, 1, &dk, &nb, &keys, &syms), MT_E_NOTFOUND);
    mt_module_free(pm);
    mt_symbol_free(s);
  }

  /* one epoch, then a fresh module resumed from the checkpoint of epoch 1 */
  mt_module *resumed = seq_module();
  mt_data_iter_free(it);
  it = seq_iter(); /* set_epoch counts from a fresh iterator */
  int nd, nl;
  const mt_data_desc *dd, *ld;
  MT_ASSERT_OK(mt_data_iter_provide_data(it, &nd, &dd));
  MT_ASSERT_OK(mt_data_iter_provide_label(it, &nl, &ld));
  assert_int_equal(dd[0].shape.dim[1], 8); /* the largest bucket: the default */
  MT_ASSERT_OK(mt_module_bind(resumed, nd, dd, nl, ld, 1, 0, 0, MT_REQ_WRITE));
  MT_ASSERT_OK(mt_module_init_params(resumed, init, NULL, NULL, 0, 0, 0));
  MT_ASSERT_OK(mt_module_init_optimizer(resumed, "local", o.optimizer, o.optimizer_params, 0));
  MT_ASSERT_OK(mt_module_restore_checkpoint(resumed, prefix, 1));
  MT_ASSERT_OK(mt_data_iter_set_epoch(it, 1));
  fit_opts(&o, init, 1, 2);
  MT_ASSERT_OK(mt_module_fit(resumed, it, &o));
  const mt_arena *a1, *a2;
  MT_ASSERT_OK(mt_module_get_params(full, &a1, NULL));
  MT_ASSERT_OK(mt_module_get_params(resumed, &a2, NULL));
  assert_int_equal(mt_arena_size(a1), mt_arena_size(a2));
  double d = tu_max_abs_diff(mt_arena_data(a1), mt_arena_data(a2), mt_arena_size(a1));
  printf("resumed vs 2 epochs straight: max abs diff %.3g\n", d);
  assert_true(d == 0);
  assert_true(memcmp(mt_arena_data(a1), mt_arena_data(a2), sizeof(float) * mt_arena_size(a1)) == 0);
  /* without the optimizer state (momentum) the result differs */
  mt_module *fresh = seq_module();
  MT_ASSERT_OK(mt_load_checkpoint(prefix, 1, NULL, &args, &aux, NULL));
  o.arg_params = args;
  o.aux_params = aux;
  mt_data_iter_free(it);
  it = seq_iter();
  MT_ASSERT_OK(mt_data_iter_set_epoch(it, 1));
  MT_ASSERT_OK(mt_module_fit(fresh, it, &o));
  const mt_arena *a3;
  MT_ASSERT_OK(mt_module_get_params(fresh, &a3, NULL));
  assert_true(tu_max_abs_diff(mt_arena_data(a1), mt_arena_data(a3), mt_arena_size(a1)) > 1e-6);
  mt_arena_free(args);
  mt_arena_free(aux);
  mt_module_free(fresh);

  /* predict over the bucketed iterator: outputs of every bucket */
  mt_data_iter *pit = seq_iter();
  mt_ndarray **outs = NULL;
  int nout = 0;
  MT_ASSERT_OK(mt_module_predict(resumed, pit, -1, 1, &nout, &outs));
  assert_true(nout >= 1);
  for (int i = 0; i < nout; i++) mt_ndarray_free(outs[i]);
  free(outs);
  mt_data_iter_free(pit);

  mt_data_iter_free(it);
  mt_module_free(resumed);
  mt_module_free(full);
  mt_initializer_free(init);
  unlink(seq_path);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_sharing),
      cmocka_unit_test(test_equals_reshaping_module),
      cmocka_unit_test(test_two_contexts),
      cmocka_unit_test(test_lstm_mxnet),
      cmocka_unit_test(test_fit_checkpoint_resume),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
