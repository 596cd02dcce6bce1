/* test_mpi_bucketing.c — a BucketingModule under MPI (run with 1, 2 and 4
 * ranks) whose ranks are in different buckets in the same step: MXNet's
 * LSTM fixture (an unrolled net whose every time step uses the same
 * weights) at sequence lengths 5 and 3, rank r's batch of step t in bucket
 * 5 or 3 by (r + t) parity. fit with dist_sync sums the one shared gradient
 * set over the ranks; it must equal one process doing the same work: for
 * every step, the gradients of all ranks' batches (each in its own bucket)
 * summed in rank order, then one update. Checked with the node-shared
 * update (the default on one node) and without it (overlapped gradient
 * buckets, several of them, started in index order whatever bucket a rank
 * is in); every rank ends with the same parameters. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "src/module.h"
#include "testutil.h"

#ifndef MT_FIXTURE_DIR
#error "MT_FIXTURE_DIR (tests/fixtures/mxnet) must be defined by tests/CMakeLists.txt"
#endif

enum { B = 4, VOCAB = 20, STEPS = 6 };
static int rank, world;
static const char *const DATA[] = {"data"}, *const LABEL[] = {"softmax_label"};

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

static int key_of(int r, int t) { return (r + t) % 2 ? 3 : 5; }

/* rank r's batch of step t: its bucket, tokens and labels from (r, t) */
static void fill_batch(int r, int t, mt_ndarray **x, mt_ndarray **y) {
  int L = key_of(r, t);
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(B, L), mt_cpu(0), x));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(B, L), mt_cpu(0), y));
  float *a = mt_ndarray_data(*x), *b = mt_ndarray_data(*y);
  tu_fill_uniform(a, B * L, 0, VOCAB, 1000u * (unsigned)t + (unsigned)r + 1);
  tu_fill_uniform(b, B * L, 0, VOCAB, 5000u * (unsigned)t + (unsigned)r + 1);
  for (int i = 0; i < B * L; i++) {
    a[i] = floorf(a[i]);
    b[i] = floorf(b[i]);
  }
}

/* the iterator of rank r: STEPS batches, bucket keys by (r, t) */
typedef struct {
  int r, t;
  mt_ndarray *x, *y;
  mt_data_desc d, l;
} rank_iter;

static int ri_next(void *self, mt_batch *b) {
  rank_iter *it = self;
  if (it->t >= STEPS) return 0;
  mt_ndarray_free(it->x);
  mt_ndarray_free(it->y);
  fill_batch(it->r, it->t, &it->x, &it->y);
  memset(b, 0, sizeof *b);
  b->ndata = b->nlabel = 1;
  b->data[0] = it->x;
  b->label[0] = it->y;
  b->bucket_key = key_of(it->r, it->t);
  it->t++;
  return 1;
}
static int ri_reset(void *self) {
  ((rank_iter *)self)->t = 0;
  return MT_OK;
}
static int ri_data(void *self, int *n, const mt_data_desc **d) {
  *n = 1;
  *d = &((rank_iter *)self)->d;
  return MT_OK;
}
static int ri_label(void *self, int *n, const mt_data_desc **d) {
  *n = 1;
  *d = &((rank_iter *)self)->l;
  return MT_OK;
}
static void ri_destroy(void *self) {
  rank_iter *it = self;
  mt_ndarray_free(it->x);
  mt_ndarray_free(it->y);
  free(it);
}
static const mt_data_iter_vtable rank_iter_vt = {ri_next, ri_reset, ri_data, ri_label, ri_destroy};

static mt_data_iter *make_rank_iter(int r) {
  rank_iter *ri = calloc(1, sizeof *ri);
  ri->r = r;
  snprintf(ri->d.name, sizeof ri->d.name, "data");
  snprintf(ri->l.name, sizeof ri->l.name, "softmax_label");
  ri->d.shape = ri->l.shape = MT_SHAPE(B, 5); /* the default bucket */
  mt_data_iter *it;
  MT_ASSERT_OK(mt_data_iter_create(&rank_iter_vt, ri, &it));
  return it;
}

static char opt_params[256];

static mt_arena *fixture_params(void) {
  char path[1024];
  mt_arena *arg, *aux;
  snprintf(path, sizeof path, "%s/lstm-0000.params", MT_FIXTURE_DIR);
  MT_ASSERT_OK(mt_params_load(path, &arg, &aux));
  mt_arena_free(aux);
  return arg;
}

/* one process: per step, every rank's batch in its bucket, gradients summed
 * in rank order, one update */
static mt_module *reference(const mt_arena *arg) {
  mt_module *m;
  MT_ASSERT_OK(mt_bucketing_module_create(lstm_gen, NULL, 5, 0, NULL, &m));
  mt_data_desc d, l;
  memset(&d, 0, sizeof d);
  memset(&l, 0, sizeof l);
  snprintf(d.name, sizeof d.name, "data");
  snprintf(l.name, sizeof l.name, "softmax_label");
  d.shape = l.shape = MT_SHAPE(B, 5);
  MT_ASSERT_OK(mt_module_bind(m, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  MT_ASSERT_OK(mt_module_set_params(m, arg, NULL, 0, 0, 0));
  MT_ASSERT_OK(mt_module_init_optimizer(m, "local", "sgd", opt_params, 0));
  mt_arena *grads = mt_bucketing_module_bucket(m, 5)->group.slots[0].grads;
  int64_t n = mt_arena_size(grads);
  float *sum = calloc((size_t)n, sizeof *sum);
  for (int t = 0; t < STEPS; t++) {
    memset(sum, 0, sizeof(float) * (size_t)n);
    for (int r = 0; r < world; r++) {
      mt_ndarray *x, *y;
      fill_batch(r, t, &x, &y);
      mt_batch b;
      memset(&b, 0, sizeof b);
      b.ndata = b.nlabel = 1;
      b.data[0] = x;
      b.label[0] = y;
      b.bucket_key = key_of(r, t);
      MT_ASSERT_OK(mt_module_forward_backward(m, &b));
      const float *g = mt_arena_data(grads);
      for (int64_t i = 0; i < n; i++) sum[i] += g[i];
      mt_ndarray_free(x);
      mt_ndarray_free(y);
    }
    memcpy(mt_arena_data(grads), sum, sizeof(float) * (size_t)n);
    MT_ASSERT_OK(mt_module_update(m));
  }
  free(sum);
  return m;
}

static void run(const char *what) {
  snprintf(opt_params, sizeof opt_params,
           "learning_rate=0.5 momentum=0.9 wd=0.001 rescale_grad=%.17g", 1.0 / (B * world));
  mt_arena *arg = fixture_params();
  mt_module *ref = reference(arg);

  mt_module *m;
  MT_ASSERT_OK(mt_bucketing_module_create(lstm_gen, NULL, 5, 0, NULL, &m));
  MT_ASSERT_OK(mt_module_set_bucket_bytes(m, 2048)); /* several gradient buckets */
  mt_fit_options o;
  mt_fit_options_init(&o);
  o.kvstore = "dist_sync";
  o.optimizer = "sgd";
  o.optimizer_params = opt_params;
  o.arg_params = arg;
  o.num_epoch = 1;
  o.eval_metric = "perplexity";
  mt_data_iter *it = make_rank_iter(rank);
  MT_ASSERT_OK(mt_module_fit(m, it, &o));
  mt_data_iter_free(it);
  assert_int_equal(mt_bucketing_module_num_buckets(m), STEPS > 1 ? 2 : 1);
  mt_module *def = mt_bucketing_module_bucket(m, 5);
  if (world > 1) assert_true(def->nbuckets > 1);

  const mt_arena *got, *want;
  MT_ASSERT_OK(mt_module_get_params(m, &got, NULL));
  MT_ASSERT_OK(mt_module_get_params(ref, &want, NULL));
  int64_t n = mt_arena_size(got);
  assert_int_equal(n, mt_arena_size(want));
  double d = tu_max_rel_diff(mt_arena_data(want), mt_arena_data(got), n, 1e-3), dmax;
  /* and it trained: far from the start */
  double moved = tu_max_abs_diff(mt_arena_data(arg), mt_arena_data(got), n);
  assert_true(moved > 1e-2);
  MPI_Allreduce(&d, &dmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  /* every rank holds rank 0's parameters, bit for bit */
  float *r0 = malloc(sizeof(float) * (size_t)n);
  memcpy(r0, mt_arena_data(got), sizeof(float) * (size_t)n);
  MPI_Bcast(r0, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
  int same = !memcmp(r0, mt_arena_data(got), sizeof(float) * (size_t)n), all;
  MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  free(r0);
  if (rank == 0)
    printf(
        "%d rank(s), %s: ranks in buckets 5/3 by (rank + step) parity vs one process summing "
        "the same batches: max rel diff %.3g; ranks identical: %s\n",
        world, what, dmax, all ? "yes" : "no");
  assert_true(dmax < 1e-5);
  assert_true(all);
  mt_module_free(m);
  mt_module_free(ref);
  mt_arena_free(arg);
}

static void test_default(void **state) {
  (void)state;
  run("default update");
}

static void test_no_shared_update(void **state) {
  (void)state;
  setenv("MODTRAIN_SHARED_UPDATE", "0", 1);
  run("MODTRAIN_SHARED_UPDATE=0 (overlapped buckets)");
  unsetenv("MODTRAIN_SHARED_UPDATE");
}

int main(int argc, char **argv) {
  MT_ASSERT_OK(mt_dist_init(&argc, &argv));
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default),
      cmocka_unit_test(test_no_shared_update),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  int any;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  mt_dist_finalize();
  return any ? 1 : 0;
}
