/* test_mpi_sequential.c — a SequentialModule under MPI (run with 1, 2 and 4
 * ranks): the MLP split into two chained modules (fc1+relu1 | fc2+
 * SoftmaxOutput), each child summing its gradients across ranks with its
 * own dist_sync kvstore, trained by fit on each rank's shard, equals one
 * process training the single Module on the whole batch (to float
 * rounding), and is identical on every rank; the same for an FC module
 * chained with a custom softmax cross-entropy loss module. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { N = 64, D = 10, H = 16, C = 4, B = 16 };
static int rank, world;
static const char *const NO_LABEL[] = {"none"};

static mt_module *module_of(mt_symbol *s, int ndata, const char *const *dn, int with_labels) {
  mt_module *m;
  MT_ASSERT_OK(mt_module_create(s, ndata, dn, 0, with_labels ? NULL : NO_LABEL, 0, NULL, &m));
  mt_symbol_free(s);
  return m;
}

static mt_symbol *fc(const char *in, const char *name, int hidden, const char *act, int softmax) {
  mt_symbol *x, *y, *z = NULL;
  char a[64];
  MT_ASSERT_OK(mt_symbol_variable(in, &x));
  snprintf(a, sizeof a, "num_hidden=%d", hidden);
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", name, a, 1, &x, &y));
  if (act) {
    snprintf(a, sizeof a, "act_type=%s", act);
    MT_ASSERT_OK(mt_symbol_create("Activation", "relu1", a, 1, &y, &z));
  } else if (softmax) {
    MT_ASSERT_OK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &y, &z));
  }
  mt_symbol_free(x);
  if (z) mt_symbol_free(y);
  return z ? z : y;
}

static mt_data_iter *make_iter(int shard) {
  mt_ndarray *x, *y;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(N, D), mt_cpu(0), &x));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(N), mt_cpu(0), &y));
  tu_fill_uniform(mt_ndarray_data(x), N * D, -1, 1, 21);
  for (int i = 0; i < N; i++) {
    const float *r = mt_ndarray_data(x) + i * D;
    int best = 0;
    for (int k = 1; k < C; k++)
      if (r[k] > r[best]) best = k;
    mt_ndarray_data(y)[i] = (float)best;
  }
  mt_data_iter *it, *sh;
  MT_ASSERT_OK(mt_ndarray_iter_create(x, y, B, 1, 3, MT_LAST_BATCH_PAD, NULL, NULL, &it));
  mt_ndarray_free(x);
  mt_ndarray_free(y);
  if (!shard) return it;
  MT_ASSERT_OK(mt_data_iter_shard(it, rank, world, &sh));
  return sh;
}

static void train(mt_module *m, const char *kv, int shard) {
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier", 5, &init));
  mt_fit_options o;
  mt_fit_options_init(&o);
  o.kvstore = kv;
  o.optimizer_params = "learning_rate=0.2 momentum=0.9 wd=0.001";
  o.initializer = init;
  o.num_epoch = 3;
  mt_data_iter *it = make_iter(shard);
  MT_ASSERT_OK(mt_module_fit(m, it, &o));
  mt_data_iter_free(it);
  mt_initializer_free(init);
}

/* max absolute difference of got's parameters from want's; also checks
 * every rank holds rank 0's values bit for bit */
static double compare(mt_module *want, mt_module *got, int nexpect) {
  const mt_arena *wa, *ga;
  MT_ASSERT_OK(mt_module_get_params(want, &wa, NULL));
  MT_ASSERT_OK(mt_module_get_params(got, &ga, NULL));
  assert_int_equal(mt_arena_count(wa), nexpect);
  assert_int_equal(mt_arena_count(ga), nexpect);
  double worst = 0;
  for (int i = 0; i < nexpect; i++) {
    mt_ndarray *w = mt_arena_at(wa, i), *g = mt_arena_get(ga, mt_arena_name(wa, i));
    if (!g) fail_msg("parameter %s missing", mt_arena_name(wa, i));
    double d = tu_max_abs_diff(mt_ndarray_data(g), mt_ndarray_data(w), w->size);
    if (d > worst) worst = d;
    float *r0 = malloc(sizeof(float) * (size_t)g->size);
    memcpy(r0, mt_ndarray_data(g), sizeof(float) * (size_t)g->size);
    MPI_Bcast(r0, (int)g->size, MPI_FLOAT, 0, MPI_COMM_WORLD);
    assert_memory_equal(r0, mt_ndarray_data(g), sizeof(float) * (size_t)g->size);
    free(r0);
  }
  return worst;
}

static void test_split_mlp_dist_equals_single(void **state) {
  (void)state;
  /* the single Module: data -> fc1 -> relu1 -> fc2 -> softmax, one process */
  mt_module *single = module_of(tu_mlp(H, "relu", C), 0, NULL, 1);
  train(single, "local", 0);
  mt_module *seq;
  const char *hidden[] = {"hidden"};
  MT_ASSERT_OK(mt_sequential_module_create(&seq));
  MT_ASSERT_OK(
      mt_sequential_module_add(seq, module_of(fc("data", "fc1", H, "relu", 0), 0, NULL, 0), 0, 0));
  MT_ASSERT_OK(mt_sequential_module_add(
      seq, module_of(fc("hidden", "fc2", C, NULL, 1), 1, hidden, 1), 1, 1));
  train(seq, "dist_sync", 1);
  double d = compare(single, seq, 4);
  /* the single Module under dist_sync sums each gradient element in the
   * same rank order: the chain gives its parameters bit for bit */
  mt_module *single_dist = module_of(tu_mlp(H, "relu", C), 0, NULL, 1);
  train(single_dist, "dist_sync", 1);
  double dd = compare(single_dist, seq, 4);
  if (rank == 0)
    printf(
        "%d rank(s): chain (dist_sync per child) vs one process: max |diff| %.3g; vs the "
        "single Module on dist_sync: %.3g\n",
        world, d, dd);
  assert_true(d < 1e-5);
  assert_true(dd == 0);
  mt_module_free(single_dist);
  mt_module_free(seq);
  mt_module_free(single);
}

static int softmax_ce_grad(const mt_ndarray *scores, const mt_ndarray *labels, mt_ndarray *grad,
                           void *user) {
  (void)user;
  int64_t rows = scores->shape.dim[0], k = scores->shape.dim[1];
  const float *x = mt_ndarray_data((mt_ndarray *)scores),
              *y = mt_ndarray_data((mt_ndarray *)labels);
  float *g = mt_ndarray_data(grad);
  for (int64_t r = 0; r < rows; r++) {
    float mx = x[r * k];
    for (int64_t j = 1; j < k; j++) mx = fmaxf(mx, x[r * k + j]);
    float s = 0;
    for (int64_t j = 0; j < k; j++) s += g[r * k + j] = expf(x[r * k + j] - mx);
    for (int64_t j = 0; j < k; j++) g[r * k + j] /= s;
    g[r * k + (int64_t)y[r]] -= 1.0f;
  }
  return MT_OK;
}

static void test_custom_loss_dist(void **state) {
  (void)state;
  mt_module *ref = module_of(fc("data", "fc", C, NULL, 1), 0, NULL, 1);
  train(ref, "local", 0);
  mt_module *seq, *loss;
  MT_ASSERT_OK(mt_sequential_module_create(&seq));
  MT_ASSERT_OK(
      mt_sequential_module_add(seq, module_of(fc("data", "fc", C, NULL, 0), 0, NULL, 0), 0, 0));
  MT_ASSERT_OK(mt_loss_module_create("ce", NULL, NULL, softmax_ce_grad, NULL, &loss));
  MT_ASSERT_OK(mt_sequential_module_add(seq, loss, 1, 1));
  train(seq, "dist_sync", 1);
  double d = compare(ref, seq, 2);
  if (rank == 0)
    printf("%d rank(s): FC + custom CE loss (dist_sync) vs FC + SoftmaxOutput: max |diff| %.3g\n",
           world, d);
  assert_true(d < 1e-5);
  mt_module_free(seq);
  mt_module_free(ref);
}

int main(int argc, char **argv) {
  MT_ASSERT_OK(mt_dist_init(&argc, &argv));
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (B % world) {
    fprintf(stderr, "test_mpi_sequential: world %d must divide %d\n", world, B);
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_split_mlp_dist_equals_single),
      cmocka_unit_test(test_custom_loss_dist),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  int any;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  mt_dist_finalize();
  return any ? 1 : 0;
}
