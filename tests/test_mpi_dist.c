/* test_mpi_dist.c — data parallel training over MPI (run under mpirun with
 * 1, 2 or 4 ranks): every rank trains on its shard of each global batch with
 * the dist_sync / hier kvstore; the result must equal one process training
 * on the whole batch (to float rounding), be identical on every rank, be
 * bitwise repeatable, not depend on the bucket size beyond rounding, and a
 * rank with a different network must give an error on every rank, not a
 * hang. Also: metrics of score() are the global ones. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvstore/kvstore.h"
#include "kvstore/world.h"
#include "src/module.h"
#include "testutil.h"
#if defined(__has_include)
#if __has_include(<mpi-ext.h>)
#include <mpi-ext.h>
#endif
#endif

enum { G = 16, D = 12, H = 10, C = 4, STEPS = 8, NP = 4 /* params */ };
static int rank, world;

/* Global batch `step`, rows [lo, hi). */
static void make_batch(mt_batch *b, int step, int lo, int hi) {
  memset(b, 0, sizeof *b);
  b->ndata = b->nlabel = 1;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(hi - lo, D), mt_cpu(0), &b->data[0]));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(hi - lo), mt_cpu(0), &b->label[0]));
  float all[G * D];
  tu_fill_uniform(all, G * D, -1, 1, 1000 + (uint64_t)step);
  memcpy(mt_ndarray_data(b->data[0]), all + lo * D, sizeof(float) * (size_t)(hi - lo) * D);
  for (int i = lo; i < hi; i++) mt_ndarray_data(b->label[0])[i - lo] = (float)((i * 3 + step) % C);
}

static void free_batch(mt_batch *b) {
  mt_ndarray_free(b->data[0]);
  mt_ndarray_free(b->label[0]);
}

/* Trains and returns all parameters concatenated (fc1_weight, fc1_bias,
 * fc2_weight, fc2_bias) in `out` (H*D + H + C*H + C floats). */
enum { NPARAM_FLOATS = H * D + H + C * H + C, MAX_STATES = 3 };
typedef struct {
  const char *optimizer, *optimizer_params; /* NULL: sgd with momentum */
  int nan_step;                             /* >= 0: the last rank's data is NaN at that step */
  float *states;    /* optional: every optimizer state, in parameter then state order */
  int *nstates;     /* optional: states per parameter */
  int *shared;      /* optional: the node-shared update was on */
  int *failed_step; /* with nan_step: the step whose update failed */
  int dropout;      /* a Dropout (p = 0.5) after fc1 */
} train_extra;

static int train_ex(const char *kv, int shard, int nctx, int64_t bucket_bytes, int hidden,
                    int init_seed, float *out, const train_extra *x);

/* data > fc1 > Dropout(0.5) > tanh > fc2 > softmax: the masks are drawn by
 * the sample's place in the global batch, so they do not depend on how many
 * ranks share it. */
static mt_symbol *dropout_mlp(int hidden) {
  mt_symbol *data, *fc1, *drop, *act, *fc2, *out;
  char a[64];
  snprintf(a, sizeof a, "num_hidden=%d", hidden);
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc1", a, 1, &data, &fc1));
  MT_ASSERT_OK(mt_symbol_create("Dropout", "drop1", "p=0.5", 1, &fc1, &drop));
  MT_ASSERT_OK(mt_symbol_create("Activation", "act1", "act_type=tanh", 1, &drop, &act));
  snprintf(a, sizeof a, "num_hidden=%d", C);
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc2", a, 1, &act, &fc2));
  MT_ASSERT_OK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &fc2, &out));
  mt_symbol_free(data);
  mt_symbol_free(fc1);
  mt_symbol_free(drop);
  mt_symbol_free(act);
  mt_symbol_free(fc2);
  return out;
}

static int train(const char *kv, int shard, int nctx, int64_t bucket_bytes, int hidden,
                 int init_seed, float *out) {
  return train_ex(kv, shard, nctx, bucket_bytes, hidden, init_seed, out, NULL);
}

static int train_ex(const char *kv, int shard, int nctx, int64_t bucket_bytes, int hidden,
                    int init_seed, float *out, const train_extra *x) {
  static const train_extra none = {NULL, NULL, -1, NULL, NULL, NULL, NULL, 0};
  if (!x) x = &none;
  mt_symbol *s = x->dropout ? dropout_mlp(hidden) : tu_mlp(hidden, "tanh", 4);
  mt_context ctxs[2] = {mt_cpu(0), mt_cpu(1)};
  mt_module *m;
  MT_ASSERT_OK(mt_module_create(s, 0, NULL, 0, NULL, nctx, ctxs, &m));
  int lb = shard ? rank * G / world : 0, ub = shard ? (rank + 1) * G / world : G;
  mt_data_desc d = {"data", MT_SHAPE(ub - lb, D)}, l = {"softmax_label", MT_SHAPE(ub - lb)};
  MT_ASSERT_OK(mt_module_bind(m, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier magnitude=2", (uint64_t)init_seed, &init));
  MT_ASSERT_OK(mt_module_init_params(m, init, NULL, NULL, 0, 0, 0));
  MT_ASSERT_OK(mt_module_set_bucket_bytes(m, bucket_bytes));
  int rc = mt_module_init_optimizer(
      m, kv, x->optimizer ? x->optimizer : "sgd",
      x->optimizer ? x->optimizer_params : "learning_rate=0.5 momentum=0.9 wd=0.0001", 0);
  if (x->shared) *x->shared = m->shared_update;
  if (rc < 0) {
    mt_initializer_free(init);
    mt_module_free(m);
    mt_symbol_free(s);
    return rc;
  }
  for (int step = 0; step < STEPS; step++) {
    mt_batch b;
    make_batch(&b, step, lb, ub);
    if (step == x->nan_step && rank == world - 1) mt_ndarray_data(b.data[0])[0] = NAN;
    MT_ASSERT_OK(mt_module_forward_backward(m, &b));
    rc = mt_module_update(m);
    free_batch(&b);
    if (rc < 0) {
      if (x->failed_step) *x->failed_step = step;
      mt_initializer_free(init);
      mt_module_free(m);
      mt_symbol_free(s);
      return rc;
    }
  }
  const mt_arena *ap, *xp;
  MT_ASSERT_OK(mt_module_get_params(m, &ap, &xp));
  const char *names[] = {"fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"};
  float *p = out;
  for (int i = 0; i < NP; i++) {
    mt_ndarray *a = mt_arena_get(ap, names[i]);
    memcpy(p, mt_ndarray_data(a), sizeof(float) * (size_t)mt_ndarray_size(a));
    p += mt_ndarray_size(a);
  }
  mt_optimizer *opt = mt_module_get_optimizer(m);
  float *sp = x->states;
  for (int i = 0; sp && i < NP; i++) {
    int k = mt_optimizer_num_states(opt, i);
    assert_true(k >= 0 && k <= MAX_STATES);
    if (x->nstates) *x->nstates = k;
    for (int j = 0; j < k; j++) {
      mt_ndarray *st;
      MT_ASSERT_OK(mt_optimizer_state(opt, i, j, NULL, &st));
      memcpy(sp, mt_ndarray_data(st), sizeof(float) * (size_t)mt_ndarray_size(st));
      sp += mt_ndarray_size(st);
    }
  }
  mt_initializer_free(init);
  mt_module_free(m);
  mt_symbol_free(s);
  return MT_OK;
}

/* max over ranks of max |a - rank 0's a| */
static double spread_across_ranks(const float *a, int n) {
  float *r0 = malloc(sizeof(float) * (size_t)n);
  memcpy(r0, a, sizeof(float) * (size_t)n);
  MPI_Bcast(r0, n, MPI_FLOAT, 0, MPI_COMM_WORLD);
  double d = tu_max_abs_diff(a, r0, n), all;
  MPI_Allreduce(&d, &all, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  free(r0);
  return all;
}

static void test_dist_equals_single_process(void **state) {
  float ref[NPARAM_FLOATS], dist[NPARAM_FLOATS], hier[NPARAM_FLOATS], again[NPARAM_FLOATS];
  /* every rank computes the one-process reference itself (kvstore local, whole batch) */
  MT_ASSERT_OK(train("local", 0, 1, 0, H, 7, ref));
  /* different initial parameters per rank: rank 0's must win (broadcast) */
  MT_ASSERT_OK(train("dist_sync", 1, 1, (int64_t)25 << 20, H, 7 + rank, dist));
  double dd = tu_max_abs_diff(dist, ref, NPARAM_FLOATS);
  double spread = spread_across_ranks(dist, NPARAM_FLOATS);
  if (rank == 0)
    print_message("world %d: max |dist_sync - one process| = %g, spread across ranks = %g\n", world,
                  dd, spread);
  assert_true(dd < 1e-5);
  assert_true(spread == 0.0);
  MT_ASSERT_OK(train("dist_sync", 1, 1, (int64_t)25 << 20, H, 7 + rank, again));
  assert_true(memcmp(again, dist, sizeof dist) == 0); /* bitwise repeatable */
  MT_ASSERT_OK(train("hier", 1, 1, (int64_t)25 << 20, H, 7, hier));
  assert_true(tu_max_abs_diff(hier, ref, NPARAM_FLOATS) < 1e-5);
  assert_true(spread_across_ranks(hier, NPARAM_FLOATS) == 0.0);
}

static void test_dropout_does_not_depend_on_ranks(void **state) {
  float ref[NPARAM_FLOATS], dist[NPARAM_FLOATS], two[NPARAM_FLOATS];
  train_extra x = {NULL, NULL, -1, NULL, NULL, NULL, NULL, 1};
  MT_ASSERT_OK(train_ex("local", 0, 1, 0, H, 5, ref, &x));
  MT_ASSERT_OK(train_ex("dist_sync", 1, 1, (int64_t)25 << 20, H, 5, dist, &x));
  double d = tu_max_abs_diff(dist, ref, NPARAM_FLOATS);
  /* and two contexts per rank: each slot's rows keep their global place */
  MT_ASSERT_OK(train_ex("dist_sync", 1, 2, 256, H, 5, two, &x));
  double d2 = tu_max_abs_diff(two, ref, NPARAM_FLOATS);
  if (rank == 0)
    print_message("Dropout, world %d: max |dist_sync - one process| = %g, 2 contexts: %g\n", world,
                  d, d2);
  assert_true(d < 1e-5);
  assert_true(d2 < 1e-5);
}

static void test_buckets_and_contexts(void **state) {
  float ref[NPARAM_FLOATS], small[NPARAM_FLOATS], two[NPARAM_FLOATS];
  MT_ASSERT_OK(train("local", 0, 1, 0, H, 3, ref));
  /* 64-byte buckets: every parameter (and more) its own bucket, overlapping backward */
  MT_ASSERT_OK(train("dist_sync", 1, 1, 64, H, 3, small));
  assert_true(tu_max_abs_diff(small, ref, NPARAM_FLOATS) < 1e-5);
  /* two contexts per rank */
  MT_ASSERT_OK(train("dist_sync", 1, 2, 256, H, 3, two));
  double d = tu_max_abs_diff(two, ref, NPARAM_FLOATS);
  if (rank == 0) print_message("2 contexts x %d ranks vs one process: %g\n", world, d);
  assert_true(d < 1e-5);
  assert_true(spread_across_ranks(two, NPARAM_FLOATS) == 0.0);
}

static void test_mismatch_is_an_error_not_a_hang(void **state) {
  if (world < 2) skip();
  float out[(H + 1) * D + (H + 1) + C * (H + 1) + C];
  int rc = train("dist_sync", 1, 1, (int64_t)25 << 20, rank == world - 1 ? H + 1 : H, 1, out);
  assert_int_equal(rc, MT_E_INVAL);
  char want[64];
  snprintf(want, sizeof want, "rank %d differs from rank 0", world - 1);
  assert_non_null(strstr(mt_last_error(), want));
}

/* The MLP bound on this rank's shard of a global batch, Xavier-initialised
 * with `seed`, sgd through dist_sync. */
static mt_module *dist_module(uint64_t seed, const char *sgd_params, mt_symbol **sym) {
  *sym = tu_mlp(H, "tanh", 4);
  mt_module *m;
  MT_ASSERT_OK(mt_module_create(*sym, 0, NULL, 0, NULL, 0, NULL, &m));
  int lb = rank * G / world, ub = (rank + 1) * G / world;
  mt_data_desc d = {"data", MT_SHAPE(ub - lb, D)}, l = {"softmax_label", MT_SHAPE(ub - lb)};
  MT_ASSERT_OK(mt_module_bind(m, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier", seed, &init));
  MT_ASSERT_OK(mt_module_init_params(m, init, NULL, NULL, 0, 0, 0));
  mt_initializer_free(init);
  MT_ASSERT_OK(mt_module_init_optimizer(m, "dist_sync", "sgd", sgd_params, 0));
  return m;
}

static void test_score_metric_is_global(void **state) {
  mt_symbol *s;
  mt_module *m = dist_module(11, NULL, &s);
  int lb = rank * G / world, ub = (rank + 1) * G / world;
  /* the shard of every rank as an iterator; the global accuracy by hand */
  mt_batch b;
  make_batch(&b, 0, lb, ub);
  mt_data_iter *it;
  MT_ASSERT_OK(mt_ndarray_iter_create(b.data[0], b.label[0], ub - lb, 0, 0, MT_LAST_BATCH_PAD, NULL,
                                      NULL, &it));
  mt_metric *acc;
  MT_ASSERT_OK(mt_metric_create("acc", &acc));
  MT_ASSERT_OK(mt_module_score(m, it, acc, -1, 1, 0, 0, NULL));
  const char *name;
  double v;
  MT_ASSERT_OK(mt_metric_get(acc, 0, &name, &v));
  MT_ASSERT_OK(mt_module_forward(m, &b, 0));
  int n;
  mt_ndarray *const *outs;
  MT_ASSERT_OK(mt_module_get_outputs(m, &n, &outs));
  const float *p = mt_ndarray_data(outs[0]), *y = mt_ndarray_data(b.label[0]);
  int correct = 0, total = 0, all[2];
  for (int i = 0; i < ub - lb; i++) {
    int best = 0;
    for (int c = 1; c < C; c++)
      if (p[i * C + c] > p[i * C + best]) best = c;
    correct += best == (int)y[i];
  }
  int mine[2] = {correct, ub - lb};
  MPI_Allreduce(mine, all, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  total = all[1];
  assert_int_equal(total, G);
  assert_true(fabs(v - (double)all[0] / G) < 1e-12);
  mt_metric_free(acc);
  mt_data_iter_free(it);
  free_batch(&b);
  mt_module_free(m);
  mt_symbol_free(s);
}

/* The node-shared update (parameters and optimizer state in the node's
 * shared memory, each rank updating one slice) against the plain path
 * (MODTRAIN_SHARED_UPDATE=0): the same bits for parameters and every
 * optimizer state, on every rank, for optimizers with one, two and no
 * states, with dist_sync and hier (whose node-then-nodes sum order the
 * several-node variant keeps: bit-identical for two nodes); and a NaN on
 * one rank fails the same update on every rank, naming the same parameter.
 * It is on exactly where the world is one node of several ranks, and for
 * hier also where it is several nodes of the same size. */
static void test_shared_update_is_the_plain_update(void **state) {
  mt_dist_topology_info t;
  MT_ASSERT_OK(mt_dist_topology(&t));
  const char *env = getenv("MODTRAIN_SHM");
  int shm = world > 1 && t.local_size > 1 && !(env && !strcmp(env, "0"));
  /* dist_sync: a world of one node; hier: also several nodes of one size
   * (node rank r sums slice r across the nodes) */
  int expect_dist = shm && t.num_nodes == 1;
  int expect_hier = shm && t.num_nodes * t.local_size == world;
  static const char *const opts[][3] = {
      {"dist_sync", "sgd", "learning_rate=0.5 momentum=0.9 wd=0.0001"},
      {"dist_sync", "adam", "learning_rate=0.01 wd=0.0001"},
      {"dist_sync", "rmsprop", "learning_rate=0.01 centered=1"},
      {"dist_sync", "sgd", "learning_rate=0.5"},
      {"hier", "sgd", "learning_rate=0.5 momentum=0.9 wd=0.0001"},
      {"hier", "adam", "learning_rate=0.01 wd=0.0001"},
  };
  for (int o = 0; o < 6; o++) {
    float p[2][NPARAM_FLOATS], st[2][MAX_STATES * NPARAM_FLOATS];
    int shared[2] = {-1, -1}, nst[2] = {0, 0};
    for (int on = 0; on < 2; on++) {
      memset(st[on], 0, sizeof st[on]);
      setenv("MODTRAIN_SHARED_UPDATE", on ? "1" : "0", 1);
      train_extra x = {opts[o][1], opts[o][2], -1, st[on], &nst[on], &shared[on], NULL, 0};
      MT_ASSERT_OK(train_ex(opts[o][0], 1, 1, (int64_t)25 << 20, H, 5, p[on], &x));
    }
    unsetenv("MODTRAIN_SHARED_UPDATE");
    int hier = !strcmp(opts[o][0], "hier");
    if (rank == 0 && (o == 0 || o == 4))
      print_message("world %d on %d node(s): %s node-shared update %s\n", world, t.num_nodes,
                    opts[o][0], shared[1] ? "on" : "off");
    assert_int_equal(shared[0], 0);
    assert_int_equal(shared[1], hier ? expect_hier : expect_dist);
    assert_int_equal(nst[0], nst[1]);
    assert_memory_equal(p[1], p[0], sizeof p[0]);
    assert_memory_equal(st[1], st[0], sizeof(float) * (size_t)nst[0] * NPARAM_FLOATS);
    assert_true(spread_across_ranks(p[1], NPARAM_FLOATS) == 0.0);
    if (nst[1] > 0) assert_true(spread_across_ranks(st[1], nst[1] * NPARAM_FLOATS) == 0.0);
  }
  /* NaN in the last rank's data at step 3: every rank fails there, naming
   * the parameter the plain path names */
  const char *kvs[2] = {"dist_sync", "hier"};
  for (int k = 0; k < 2; k++) {
    char msg[2][256];
    for (int on = 0; on < 2; on++) {
      setenv("MODTRAIN_SHARED_UPDATE", on ? "1" : "0", 1);
      float p[NPARAM_FLOATS];
      int failed = -1;
      train_extra x = {NULL, NULL, 3, NULL, NULL, NULL, &failed, 0};
      assert_int_equal(train_ex(kvs[k], 1, 1, (int64_t)25 << 20, H, 5, p, &x), MT_E_NUMERIC);
      assert_int_equal(failed, 3);
      snprintf(msg[on], sizeof msg[on], "%s", mt_last_error());
    }
    unsetenv("MODTRAIN_SHARED_UPDATE");
    assert_non_null(strstr(msg[0], "NaN or Inf"));
    assert_string_equal(msg[1], msg[0]);
  }
}

/* Under the node-shared update, forward_backward hands its gradients to
 * the other ranks as backward makes them: another backward before update
 * is refused (it would overwrite what they read), and update then takes
 * the step as usual. A plain backward hands nothing over, so two in a row
 * are fine. */
static void test_backward_after_handover_is_refused(void **state) {
  mt_symbol *s;
  mt_module *m = dist_module(3, "learning_rate=0.1", &s);
  int lb = rank * G / world, ub = (rank + 1) * G / world;
  mt_batch b;
  make_batch(&b, 0, lb, ub);
  MT_ASSERT_OK(mt_module_forward(m, &b, 1));
  MT_ASSERT_OK(mt_module_backward(m, 0, NULL));
  MT_ASSERT_OK(mt_module_backward(m, 0, NULL));
  MT_ASSERT_OK(mt_module_update(m));
  MT_ASSERT_OK(mt_module_forward_backward(m, &b));
  int rc = mt_module_backward(m, 0, NULL);
  if (m->shared_update) {
    assert_int_equal(rc, MT_E_STATE);
    assert_non_null(strstr(mt_last_error(), "call update first"));
    assert_int_equal(mt_module_forward_backward(m, &b), MT_E_STATE);
  } else {
    MT_ASSERT_OK(rc);
  }
  MT_ASSERT_OK(mt_module_update(m));
  MT_ASSERT_OK(mt_module_forward_backward(m, &b)); /* after update: fine again */
  MT_ASSERT_OK(mt_module_update(m));
  free_batch(&b);
  mt_module_free(m);
  mt_symbol_free(s);
}

/* The kvstore hands MPI device pointers only where MPI takes them: never
 * with MODTRAIN_CUDA_AWARE_MPI=0, never with an MPI built without CUDA
 * (Debian's Open MPI: MPIX_CUDA_AWARE_SUPPORT 0), and with one built with
 * CUDA exactly when MPIX_Query_cuda_support says so (in a CUDA build). */
static void test_cuda_aware_mpi_detection(void **state) {
  setenv("MODTRAIN_CUDA_AWARE_MPI", "0", 1);
  assert_int_equal(mt_mpi_cuda_aware(), 0);
  unsetenv("MODTRAIN_CUDA_AWARE_MPI");
#if defined(MPIX_CUDA_AWARE_SUPPORT) && MPIX_CUDA_AWARE_SUPPORT && defined(MT_HAVE_CUDA)
  assert_int_equal(mt_mpi_cuda_aware(), MPIX_Query_cuda_support() == 1);
#else
  assert_int_equal(mt_mpi_cuda_aware(), 0);
#endif
}

int main(int argc, char **argv) {
  MT_ASSERT_OK(mt_dist_init(&argc, &argv));
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  /* --expect-nodes N: the run must span N nodes (tests/mpi/two_nodes.sh) */
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], "--expect-nodes")) {
      mt_dist_topology_info t;
      MT_ASSERT_OK(mt_dist_topology(&t));
      if (rank == 0) printf("topology: %d nodes, %d ranks per node\n", t.num_nodes, t.local_size);
      if (t.num_nodes != atoi(argv[i + 1])) {
        fprintf(stderr, "test_mpi_dist: %d nodes, expected %s\n", t.num_nodes, argv[i + 1]);
        return 1;
      }
    }
  if (G % world) {
    fprintf(stderr, "test_mpi_dist: world %d must divide %d\n", world, G);
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cuda_aware_mpi_detection),
      cmocka_unit_test(test_dist_equals_single_process),
      cmocka_unit_test(test_buckets_and_contexts),
      cmocka_unit_test(test_dropout_does_not_depend_on_ranks),
      cmocka_unit_test(test_mismatch_is_an_error_not_a_hang),
      cmocka_unit_test(test_score_metric_is_global),
      cmocka_unit_test(test_shared_update_is_the_plain_update),
      cmocka_unit_test(test_backward_after_handover_is_refused),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  int any;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  mt_dist_finalize();
  return any ? 1 : 0;
}
