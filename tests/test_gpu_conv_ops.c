/* test_gpu_conv_ops.c — Convolution and Pooling on gpu(0) (cuDNN,
 * kernels/cuda/cudnn_kernels.h) against the CPU path (oneDNN or the
 * reference kernels), in the style of test_gpu_ops.c (label gpu; exits 77,
 * "skipped", when the build has no CUDA or no device is visible; in the
 * CUDA emulation build it runs).
 *
 * Op level: each case sets the op up as tests/testutil.c's tu_op does,
 * fills the inputs once on the host, copies them to gpu(0), runs forward on
 * both devices and compares the outputs; backward then runs on both from
 * the same inputs, output gradients and the CPU's forward output, three
 * times: write (GPU gradients prefilled with NaN, so a kernel reading the
 * old value fails), add (onto the same random prefill on both), mixed
 * (even-numbered arguments MT_REQ_NULL with a NULL gradient, odd ones
 * write). Geometries: stride 2, pad 1, dilate 2, groups 2, no_bias, 1x1,
 * non-square; max / avg / sum pooling, valid and full, global,
 * count_include_pad false. Inputs of max pooling are distinct (a shuffled
 * ramp) so that the argmax is unique and both devices route every gradient
 * to the same cell. Tolerance 1e-4 relative (other summation orders), with
 * floor 1.
 *
 * Executor level: a small CNN (Convolution -> Activation -> Pooling ->
 * Convolution with groups -> Pooling avg -> Flatten -> FullyConnected ->
 * SoftmaxOutput) bound with mt_executor_simple_bind on cpu(0) and gpu(0)
 * with the same arguments: outputs and every gradient agree to 1e-4. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "src/executor.h"
#include "testutil.h"

#ifdef MT_HAVE_CUDA

#define TOL 1e-4
#define FLOOR 1.0

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

/* Fails unless |gpu - cpu| <= tol * max(|cpu|, floor) everywhere (NaN
 * fails); returns the worst ratio. */
static double expect_close(const char *what, const mt_ndarray *gpu, const float *cpu, int64_t n) {
  assert_int_equal(gpu->size, n);
  float *g = host_copy(gpu);
  double worst = 0;
  int64_t at = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)g[i] - (double)cpu[i]) / fmax(fabs((double)cpu[i]), FLOOR);
    if (isnan(d)) d = INFINITY;
    if (d > worst) {
      worst = d;
      at = i;
    }
  }
  if (worst > TOL) {
    float gv = g[at];
    free(g);
    fail_msg("%s: element %lld: gpu %.9g cpu %.9g (error %.3g > %.1g)", what, (long long)at,
             (double)gv, (double)cpu[at], worst, TOL);
  }
  free(g);
  return worst;
}

/* A shuffled ramp, values 0.01 apart around 0: distinct. */
static void fill_distinct(float *x, int64_t n, uint64_t seed) {
  for (int64_t i = 0; i < n; i++) x[i] = (float)i;
  uint64_t key = mtk_philox_key(seed, 6);
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)(mtk_philox_uniform(key, 0, (uint64_t)i) * (float)(i + 1));
    if (j > i) j = i;
    float t = x[i];
    x[i] = x[j];
    x[j] = t;
  }
  for (int64_t i = 0; i < n; i++) x[i] = (x[i] - (float)n / 2) * 0.01f;
}

typedef struct {
  const char *op, *attrs;
  int nargs;
  mt_shape data;
  int distinct; /* max pooling: distinct inputs */
} opcase;

enum { MODE_WRITE, MODE_ADD, MODE_MIXED };
static const char *const mode_names[] = {"write", "add", "mixed"};

static void run_backward_mode(const opcase *k, tu_op *t, mt_ndarray **gin, mt_ndarray *gout,
                              const mt_op_ctx *cc, const mt_op_ctx *gc, int mode) {
  mt_ndarray *cog = NULL, *gog = NULL, *cig[3] = {0}, *gig[3] = {0};
  mt_grad_req req[3];
  char what[256];
  MT_ASSERT_OK(mt_ndarray_copy(gout, t->out[0])); /* both backwards see the CPU's output */
  MT_ASSERT_OK(mt_ndarray_create(t->out[0]->shape, mt_cpu(0), &cog));
  tu_fill_uniform(cog->data, cog->size, -1.0f, 1.0f, 900);
  gog = gpu_like(cog);
  for (int i = 0; i < t->nargs; i++) {
    if (mode == MODE_MIXED) req[i] = i % 2 ? MT_REQ_WRITE : MT_REQ_NULL;
    else req[i] = mode == MODE_ADD ? MT_REQ_ADD : MT_REQ_WRITE;
    if (req[i] == MT_REQ_NULL) continue;
    MT_ASSERT_OK(mt_ndarray_create(t->in[i]->shape, mt_cpu(0), &cig[i]));
    tu_fill_uniform(cig[i]->data, cig[i]->size, -1.0f, 1.0f, 500 + (uint64_t)i);
    gig[i] = gpu_like(cig[i]);
    if (req[i] == MT_REQ_WRITE) MT_ASSERT_OK(mt_ndarray_fill(gig[i], NAN));
  }
  mt_ndarray *cogs[1] = {cog}, *gogs[1] = {gog}, *gouts[1] = {gout};
  if (mt_op_backward(t->op, t->param, cc, cogs, t->in, t->out, req, cig, t->aux) < 0)
    fail_msg("%s %s: cpu backward (%s): %s", k->op, k->attrs, mode_names[mode], mt_last_error());
  if (mt_op_backward(t->op, t->param, gc, gogs, gin, gouts, req, gig, NULL) < 0)
    fail_msg("%s %s: gpu backward (%s): %s", k->op, k->attrs, mode_names[mode], mt_last_error());
  MT_ASSERT_OK(mtk_cuda_sync(0));
  for (int i = 0; i < t->nargs; i++) {
    if (!cig[i]) continue;
    snprintf(what, sizeof what, "%s '%s' backward (%s) d%s", k->op, k->attrs, mode_names[mode],
             t->op->arg_name(t->param, i));
    expect_close(what, gig[i], cig[i]->data, cig[i]->size);
  }
  mt_ndarray_free(cog);
  mt_ndarray_free(gog);
  for (int i = 0; i < 3; i++) {
    mt_ndarray_free(cig[i]);
    mt_ndarray_free(gig[i]);
  }
}

static void run_case(const opcase *k) {
  tu_op t;
  mt_shape shapes[3] = {k->data};
  if (tu_op_setup(&t, k->op, k->attrs, k->nargs, shapes) < 0)
    fail_msg("setup %s '%s': %s", k->op, k->attrs, mt_last_error());
  for (int i = 0; i < t.nargs; i++) {
    if (i == 0 && k->distinct) fill_distinct(t.in[i]->data, t.in[i]->size, 3);
    else tu_fill_uniform(t.in[i]->data, t.in[i]->size, -1.0f, 1.0f, 100 + (uint64_t)i);
  }
  mt_ndarray *gin[3] = {0};
  for (int i = 0; i < t.nargs; i++) gin[i] = gpu_like(t.in[i]);
  mt_ndarray *gout = gpu_like(t.out[0]);
  mt_op_ctx cc = {.ctx = mt_cpu(0), .is_train = 1}, gc = cc;
  gc.ctx = mt_gpu(0);
  MT_ASSERT_OK(mt_op_forward(t.op, t.param, &cc, t.in, t.out, t.aux));
  mt_ndarray *gouts[1] = {gout};
  if (mt_op_forward(t.op, t.param, &gc, gin, gouts, NULL) < 0)
    fail_msg("%s '%s': gpu forward: %s", k->op, k->attrs, mt_last_error());
  MT_ASSERT_OK(mtk_cuda_sync(0));
  char what[256];
  snprintf(what, sizeof what, "%s '%s' forward", k->op, k->attrs);
  double wf = expect_close(what, gout, t.out[0]->data, t.out[0]->size);
  for (int mode = MODE_WRITE; mode <= MODE_MIXED; mode++)
    run_backward_mode(k, &t, gin, gout, &cc, &gc, mode);
  print_message("  %-12s %-60s fwd %.2e\n", k->op, k->attrs, wf);
  for (int i = 0; i < 3; i++) mt_ndarray_free(gin[i]);
  mt_ndarray_free(gout);
  tu_op_free(&t);
}

#define S(...) MT_SHAPE(__VA_ARGS__)

static void test_convolution(void **state) {
  const opcase cases[] = {
      {"Convolution", "kernel=(3,3) num_filter=4", 3, S(2, 3, 7, 7), 0},
      {"Convolution", "kernel=(3,3) stride=(2,2) pad=(1,1) num_filter=5", 3, S(2, 3, 9, 8), 0},
      {"Convolution", "kernel=(3,3) dilate=(2,2) pad=(2,2) num_filter=3", 3, S(1, 2, 9, 9), 0},
      {"Convolution", "kernel=(3,3) num_group=2 num_filter=4 pad=(1,1)", 3, S(2, 4, 6, 5), 0},
      {"Convolution", "kernel=(5,5) num_filter=6 no_bias=true", 2, S(2, 1, 12, 12), 0},
      {"Convolution", "kernel=(1,1) num_filter=8", 3, S(3, 6, 5, 5), 0},
      {"Convolution", "kernel=(3,2) stride=(2,1) pad=(1,0) num_filter=3", 3, S(1, 2, 7, 5), 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

static void test_pooling(void **state) {
  const opcase cases[] = {
      {"Pooling", "kernel=(2,2) stride=(2,2)", 1, S(2, 3, 6, 6), 1},
      {"Pooling", "pool_type=max kernel=(3,3) stride=(2,2) pad=(1,1)", 1, S(2, 2, 7, 6), 1},
      {"Pooling", "pool_type=max kernel=(3,3) stride=(2,2) pooling_convention=full", 1,
       S(1, 2, 8, 7), 1},
      {"Pooling", "pool_type=avg kernel=(2,2) stride=(2,2)", 1, S(2, 3, 6, 6), 0},
      {"Pooling", "pool_type=avg kernel=(3,3) stride=(2,2) pad=(1,1)", 1, S(2, 2, 7, 6), 0},
      {"Pooling", "pool_type=avg kernel=(3,3) stride=(2,2) pad=(1,1) count_include_pad=false", 1,
       S(2, 2, 7, 6), 0},
      {"Pooling", "pool_type=avg kernel=(3,3) stride=(2,2) pooling_convention=full", 1,
       S(1, 2, 8, 7), 0},
      {"Pooling", "pool_type=sum kernel=(2,2) stride=(2,2)", 1, S(2, 2, 6, 5), 0},
      {"Pooling", "global_pool=true pool_type=max", 1, S(2, 3, 5, 4), 1},
      {"Pooling", "global_pool=true pool_type=avg", 1, S(2, 3, 5, 4), 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

static mt_symbol *small_cnn(void) {
  mt_symbol *data, *c1, *a1, *p1, *c2, *p2, *fl, *fc, *sm;
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  MT_ASSERT_OK(mt_symbol_create("Convolution", "conv1", "kernel=(3,3) pad=(1,1) num_filter=4", 1,
                                &data, &c1));
  MT_ASSERT_OK(mt_symbol_create("Activation", "relu1", "act_type=relu", 1, &c1, &a1));
  MT_ASSERT_OK(
      mt_symbol_create("Pooling", "pool1", "pool_type=max kernel=(2,2) stride=(2,2)", 1, &a1, &p1));
  MT_ASSERT_OK(mt_symbol_create("Convolution", "conv2", "kernel=(3,3) num_filter=6 num_group=2", 1,
                                &p1, &c2));
  MT_ASSERT_OK(
      mt_symbol_create("Pooling", "pool2", "pool_type=avg kernel=(2,2) stride=(1,1)", 1, &c2, &p2));
  MT_ASSERT_OK(mt_symbol_create("Flatten", "flat", NULL, 1, &p2, &fl));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc1", "num_hidden=5", 1, &fl, &fc));
  MT_ASSERT_OK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &fc, &sm));
  mt_symbol *all[] = {data, c1, a1, p1, c2, p2, fl, fc};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) mt_symbol_free(all[i]);
  return sm;
}

static void test_executor_cnn(void **state) {
  mt_symbol *net = small_cnn();
  const char *names[] = {"data", "softmax_label"};
  mt_shape shapes[] = {S(4, 3, 12, 12), S(4)};
  mt_executor *ex[2];
  mt_context ctx[2] = {mt_cpu(0), mt_gpu(0)};
  for (int d = 0; d < 2; d++)
    MT_ASSERT_OK(mt_executor_simple_bind(net, ctx[d], MT_REQ_WRITE, 2, names, shapes, 0, &ex[d]));
  int nargs;
  const char *const *args;
  MT_ASSERT_OK(mt_symbol_list_arguments(net, &nargs, &args));
  for (int i = 0; i < nargs; i++) {
    mt_ndarray *a = mt_executor_arg(ex[0], args[i]);
    if (strstr(args[i], "label"))
      for (int64_t j = 0; j < a->size; j++) a->data[j] = (float)((j * 3 + 1) % 5);
    else tu_fill_uniform(a->data, a->size, -0.5f, 0.5f, 70 + (uint64_t)i);
    MT_ASSERT_OK(mt_ndarray_copy(mt_executor_arg(ex[1], args[i]), a));
  }
  for (int d = 0; d < 2; d++) {
    MT_ASSERT_OK(mt_executor_forward(ex[d], 1));
    MT_ASSERT_OK(mt_executor_backward(ex[d], 0, NULL));
  }
  MT_ASSERT_OK(mtk_cuda_sync(0));
  mt_ndarray *co = mt_executor_output(ex[0], 0), *go = mt_executor_output(ex[1], 0);
  expect_close("cnn output", go, co->data, co->size);
  int checked = 0;
  for (int i = 0; i < nargs; i++) {
    mt_ndarray *cg = mt_executor_grad(ex[0], args[i]), *gg = mt_executor_grad(ex[1], args[i]);
    if (!cg) continue;
    assert_non_null(gg);
    char what[128];
    snprintf(what, sizeof what, "cnn gradient of %s", args[i]);
    expect_close(what, gg, cg->data, cg->size);
    checked++;
  }
  assert_int_equal(checked, 6); /* conv1 w/b, conv2 w/b, fc1 w/b */
  for (int d = 0; d < 2; d++) mt_executor_free(ex[d]);
  mt_symbol_free(net);
}

#endif /* MT_HAVE_CUDA */

int main(void) {
#ifndef MT_HAVE_CUDA
  printf("SKIP: no CUDA device visible (test_gpu_conv_ops needs a GPU; this build has no CUDA)\n");
  return 77;
#else
  int ndev = mtk_cuda_device_count();
  if (ndev == 0) {
    printf("SKIP: no CUDA device visible (test_gpu_conv_ops needs a GPU)\n");
    return 77;
  }
  printf("test_gpu_conv_ops: %d CUDA device(s) visible; testing gpu(0)\n", ndev);
  mt_blas_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_convolution),
      cmocka_unit_test(test_pooling),
      cmocka_unit_test(test_executor_cnn),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
