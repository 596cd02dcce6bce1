/* test_gpu_seq_ops.c — the sequence ops on gpu(0) against the CPU (label
 * gpu; exits 77, "skipped", when the build has no CUDA or no device is
 * visible; in the CUDA emulation build it runs): Embedding's forward and
 * weight gradient (req write and add) must equal the CPU's bit for bit,
 * with repeated indices (the deterministic per-row sums in index order) and
 * out-of-range ones (clipped), and repeat bit for bit; _zeros and
 * zeros_like write zeros over NaN. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "testutil.h"

#ifdef MT_HAVE_CUDA

static float *host_copy(const mt_ndarray *a) {
  float *h = malloc(sizeof(float) * (size_t)(a->size > 0 ? a->size : 1));
  assert_non_null(h);
  MT_ASSERT_OK(mt_ndarray_copy_to(a, h, a->size));
  return h;
}

static mt_ndarray *gpu_like(const mt_ndarray *c) {
  mt_ndarray *g;
  MT_ASSERT_OK(mt_ndarray_create(c->shape, mt_gpu(0), &g));
  MT_ASSERT_OK(mt_ndarray_copy(g, c));
  return g;
}

static void expect_identical(const char *what, const mt_ndarray *gpu, const float *cpu, int64_t n) {
  assert_int_equal(gpu->size, n);
  float *g = host_copy(gpu);
  for (int64_t i = 0; i < n; i++)
    if (memcmp(&g[i], &cpu[i], sizeof(float)) != 0) {
      float gv = g[i];
      free(g);
      fail_msg("%s: element %lld differs: gpu %.9g cpu %.9g", what, (long long)i, (double)gv,
               (double)cpu[i]);
    }
  free(g);
}

static void check_embedding(mt_shape ds, int64_t V, int64_t D) {
  char attrs[64];
  snprintf(attrs, sizeof attrs, "input_dim=%lld output_dim=%lld", (long long)V, (long long)D);
  mt_shape shapes[2] = {ds, {0}};
  tu_op t;
  MT_ASSERT_OK(tu_op_setup(&t, "Embedding", attrs, 2, shapes));
  /* indices: many repeats (a few rows), some out of range, some fractional */
  for (int64_t i = 0; i < t.in[0]->size; i++)
    t.in[0]->data[i] = (float)((i * 7) % (V + 3)) - 1.5f * (float)(i % 5 == 0);
  tu_fill_uniform(t.in[1]->data, t.in[1]->size, -1.0f, 1.0f, 11);
  mt_op_ctx cc = {.ctx = mt_cpu(0), .is_train = 1}, gc = cc;
  gc.ctx = mt_gpu(0);
  mt_ndarray *gin[2] = {gpu_like(t.in[0]), gpu_like(t.in[1])}, *gout = gpu_like(t.out[0]);
  MT_ASSERT_OK(mt_ndarray_fill(gout, NAN));
  MT_ASSERT_OK(mt_op_forward(t.op, t.param, &cc, t.in, t.out, t.aux));
  MT_ASSERT_OK(mt_op_forward(t.op, t.param, &gc, gin, &gout, NULL));
  MT_ASSERT_OK(mtk_cuda_sync(0));
  expect_identical("Embedding forward", gout, t.out[0]->data, t.out[0]->size);

  mt_ndarray *og, *cgw, *cgd;
  MT_ASSERT_OK(mt_ndarray_create(t.out[0]->shape, mt_cpu(0), &og));
  tu_fill_uniform(og->data, og->size, -1.0f, 1.0f, 12);
  MT_ASSERT_OK(mt_ndarray_create(t.in[1]->shape, mt_cpu(0), &cgw));
  MT_ASSERT_OK(mt_ndarray_create(t.in[0]->shape, mt_cpu(0), &cgd));
  mt_ndarray *gog = gpu_like(og);
  for (int mode = 0; mode < 2; mode++) {
    mt_grad_req req[2] = {MT_REQ_WRITE, mode ? MT_REQ_ADD : MT_REQ_WRITE};
    tu_fill_uniform(cgw->data, cgw->size, -1.0f, 1.0f, 13);
    mt_ndarray *ggw = gpu_like(cgw), *ggd = gpu_like(cgd), *ggw2 = gpu_like(cgw);
    if (!mode) MT_ASSERT_OK(mt_ndarray_fill(ggw, NAN));
    if (!mode) MT_ASSERT_OK(mt_ndarray_fill(ggw2, NAN));
    MT_ASSERT_OK(mt_ndarray_fill(ggd, NAN));
    MT_ASSERT_OK(mt_ndarray_fill(cgd, NAN));
    mt_ndarray *cig[2] = {cgd, cgw}, *gig[2] = {ggd, ggw}, *gig2[2] = {NULL, ggw2};
    MT_ASSERT_OK(mt_op_backward(t.op, t.param, &cc, &og, t.in, t.out, req, cig, t.aux));
    MT_ASSERT_OK(mt_op_backward(t.op, t.param, &gc, &gog, gin, &gout, req, gig, NULL));
    mt_grad_req req2[2] = {MT_REQ_NULL, req[1]};
    MT_ASSERT_OK(mt_op_backward(t.op, t.param, &gc, &gog, gin, &gout, req2, gig2, NULL));
    MT_ASSERT_OK(mtk_cuda_sync(0));
    expect_identical(mode ? "Embedding dweight (add)" : "Embedding dweight (write)", ggw, cgw->data,
                     cgw->size);
    expect_identical("Embedding ddata", ggd, cgd->data, cgd->size);
    float *a = host_copy(ggw), *b = host_copy(ggw2);
    assert_memory_equal(a, b, sizeof(float) * (size_t)cgw->size); /* repeats bit for bit */
    free(a);
    free(b);
    mt_ndarray_free(ggw);
    mt_ndarray_free(ggw2);
    mt_ndarray_free(ggd);
  }
  mt_ndarray_free(og);
  mt_ndarray_free(gog);
  mt_ndarray_free(cgw);
  mt_ndarray_free(cgd);
  mt_ndarray_free(gin[0]);
  mt_ndarray_free(gin[1]);
  mt_ndarray_free(gout);
  tu_op_free(&t);
}

static void test_embedding(void **state) {
  (void)state;
  check_embedding(MT_SHAPE(4, 5), 6, 3);
  check_embedding(MT_SHAPE(8, 12), 10, 300); /* more columns than a block's threads */
  check_embedding(MT_SHAPE(37), 5000, 2);    /* more rows than the grid */
}

static void test_zeros(void **state) {
  (void)state;
  tu_op t;
  MT_ASSERT_OK(tu_op_setup(&t, "_zeros", "shape=(3,4)", 0, NULL));
  mt_ndarray *g = gpu_like(t.out[0]);
  MT_ASSERT_OK(mt_ndarray_fill(g, NAN));
  mt_op_ctx gc = {.ctx = mt_gpu(0), .is_train = 1};
  MT_ASSERT_OK(mt_op_forward(t.op, t.param, &gc, NULL, &g, NULL));
  float z[12] = {0};
  expect_identical("_zeros", g, z, 12);
  mt_ndarray_free(g);
  tu_op_free(&t);
  mt_shape d = MT_SHAPE(3, 4);
  MT_ASSERT_OK(tu_op_setup(&t, "zeros_like", "", 1, &d));
  mt_ndarray *x = gpu_like(t.in[0]), *y = gpu_like(t.out[0]), *dx = gpu_like(t.in[0]);
  MT_ASSERT_OK(mt_ndarray_fill(y, NAN));
  MT_ASSERT_OK(mt_ndarray_fill(dx, NAN));
  MT_ASSERT_OK(mt_op_forward(t.op, t.param, &gc, &x, &y, NULL));
  mt_grad_req req = MT_REQ_WRITE;
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &gc, &y, &x, &y, &req, &dx, NULL));
  MT_ASSERT_OK(mtk_cuda_sync(0));
  expect_identical("zeros_like", y, z, 12);
  expect_identical("zeros_like gradient", dx, z, 12);
  mt_ndarray_free(x);
  mt_ndarray_free(y);
  mt_ndarray_free(dx);
  tu_op_free(&t);
}
#endif

int main(void) {
#ifndef MT_HAVE_CUDA
  printf("SKIP: no CUDA device visible (test_gpu_seq_ops needs a GPU; this build has no CUDA)\n");
  return 77;
#else
  int ndev = mtk_cuda_device_count();
  if (ndev == 0) {
    printf("SKIP: no CUDA device visible (test_gpu_seq_ops needs a GPU)\n");
    return 77;
  }
  printf("test_gpu_seq_ops: %d CUDA device(s) visible; testing gpu(0)\n", ndev);
  mt_blas_init();
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_embedding),
                                     cmocka_unit_test(test_zeros)};
  return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
