/* test_gpu_kvstore.c — GPU values through the kvstores (label gpu; exits
 * 77, "skipped", without CUDA or a visible device):
 *  - nccl with one device per context list {gpu(0)}: pushpull is the identity
 *    (a one-GPU NCCL communicator), values stay on the device;
 *  - nccl and local with the same GPU twice {gpu(0), gpu(0)} (NCCL refuses
 *    duplicate devices: the staged device sum is used): the sum of both;
 *  - with two or more GPUs, {gpu(0), gpu(1)} through NCCL: the sum on both;
 *  - dist_sync with GPU values (one rank: the MPI stage staged through pinned
 *    host memory is exercised by broadcast): values unchanged;
 *  - a Module on gpu(0) trained 10 steps with kvstore nccl equals the same
 *    with kvstore local, bit for bit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kvstore/kvstore.h"
#include "testutil.h"

#ifdef MT_HAVE_CUDA
enum { N = 1000 };

static float *dev_fill(int dev, const float *host) {
  float *p = mtk_cuda_alloc(dev, N * sizeof(float));
  assert_non_null(p);
  MT_ASSERT_OK(mtk_cuda_copy(dev, p, -1, host, N * sizeof(float)));
  return p;
}

static void check_dev(int dev, const float *p, const float *want, const char *what) {
  float got[N];
  MT_ASSERT_OK(mtk_cuda_copy(-1, got, dev, p, N * sizeof(float)));
  double d = tu_max_abs_diff(got, want, N);
  print_message("  %s: max diff %g\n", what, d);
  assert_true(d < 1e-6);
}

static void test_one_device(void **state) {
  float a[N];
  tu_fill_uniform(a, N, -1, 1, 1);
  float *da = dev_fill(0, a);
  const char *types[] = {"nccl", "local", "dist_sync"};
  for (int t = 0; t < 3; t++) {
    mt_kvstore *kv;
    MT_ASSERT_OK(mt_kvstore_create(types[t], &kv));
    mt_context c = mt_gpu(0);
    float *bufs[1] = {da};
    MT_ASSERT_OK(mt_kvstore_pushpull(kv, 1, bufs, &c, N));
    MT_ASSERT_OK(mt_kvstore_broadcast(kv, 1, bufs, &c, N));
    check_dev(0, da, a, types[t]);
    mt_kvstore_free(kv);
  }
  mtk_cuda_free(0, da);
}

static void test_same_gpu_twice(void **state) {
  float a[N], b[N], sum[N];
  tu_fill_uniform(a, N, -1, 1, 2);
  tu_fill_uniform(b, N, -1, 1, 3);
  for (int i = 0; i < N; i++) sum[i] = a[i] + b[i];
  const char *types[] = {"nccl", "local"};
  for (int t = 0; t < 2; t++) {
    float *da = dev_fill(0, a), *db = dev_fill(0, b);
    mt_kvstore *kv;
    MT_ASSERT_OK(mt_kvstore_create(types[t], &kv));
    mt_context c[2] = {mt_gpu(0), mt_gpu(0)};
    float *bufs[2] = {da, db};
    MT_ASSERT_OK(mt_kvstore_pushpull(kv, 2, bufs, c, N));
    check_dev(0, da, sum, types[t]);
    check_dev(0, db, sum, types[t]);
    mt_kvstore_free(kv);
    mtk_cuda_free(0, da);
    mtk_cuda_free(0, db);
  }
}

static void test_two_gpus_nccl(void **state) {
  if (mtk_cuda_device_count() < 2) {
    print_message("  one GPU visible: NCCL across two devices not exercised\n");
    skip();
  }
  float a[N], b[N], sum[N];
  tu_fill_uniform(a, N, -1, 1, 4);
  tu_fill_uniform(b, N, -1, 1, 5);
  for (int i = 0; i < N; i++) sum[i] = a[i] + b[i];
  float *da = dev_fill(0, a), *db = dev_fill(1, b);
  mt_kvstore *kv;
  MT_ASSERT_OK(mt_kvstore_create("nccl", &kv));
  mt_context c[2] = {mt_gpu(0), mt_gpu(1)};
  float *bufs[2] = {da, db};
  MT_ASSERT_OK(mt_kvstore_pushpull(kv, 2, bufs, c, N));
  check_dev(0, da, sum, "nccl gpu0");
  check_dev(1, db, sum, "nccl gpu1");
  mt_kvstore_free(kv);
  mtk_cuda_free(0, da);
  mtk_cuda_free(1, db);
}

static void train(const char *kv, float *out, int64_t n) {
  mt_symbol *net = tu_mlp(64, "relu", 10);
  mt_data_iter *it;
  MT_ASSERT_OK(mt_synthetic_iter_create(10, 128, 320, 32, 0, 0, 0, &it));
  mt_module *m;
  mt_context ctx = mt_gpu(0);
  MT_ASSERT_OK(mt_module_create(net, 0, NULL, 0, NULL, 1, &ctx, &m));
  mt_fit_options o;
  mt_fit_options_init(&o);
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier magnitude=2", 0, &init));
  o.initializer = init;
  o.kvstore = kv;
  o.optimizer_params = "learning_rate=0.1 momentum=0.9";
  o.num_epoch = 1;
  MT_ASSERT_OK(mt_module_fit(m, it, &o));
  const mt_arena *ap, *xp;
  MT_ASSERT_OK(mt_module_get_params(m, &ap, &xp));
  mt_ndarray *w = mt_arena_get(ap, "fc1_weight");
  assert_int_equal(mt_ndarray_size(w), n);
  memcpy(out, mt_ndarray_data(w), sizeof(float) * (size_t)n);
  mt_initializer_free(init);
  mt_module_free(m);
  mt_data_iter_free(it);
  mt_symbol_free(net);
}

static void test_module_nccl_equals_local(void **state) {
  static float a[64 * 128], b[64 * 128];
  train("local", a, 64 * 128);
  train("nccl", b, 64 * 128);
  assert_true(memcmp(a, b, sizeof a) == 0);
}
#endif

int main(void) {
#ifndef MT_HAVE_CUDA
  printf("SKIP: built without CUDA (test_gpu_kvstore needs a GPU)\n");
  return 77;
#else
  if (mtk_cuda_device_count() == 0) {
    printf("SKIP: no CUDA device visible (test_gpu_kvstore needs a GPU)\n");
    return 77;
  }
  MT_ASSERT_OK(mt_dist_init(NULL, NULL));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_device),
      cmocka_unit_test(test_same_gpu_twice),
      cmocka_unit_test(test_two_gpus_nccl),
      cmocka_unit_test(test_module_nccl_equals_local),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
