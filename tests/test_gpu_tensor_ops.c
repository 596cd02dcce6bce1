/* test_gpu_tensor_ops.c — the shape and elementwise ops (Reshape,
 * transpose, expand_dims, SliceChannel, softmax, log_softmax, MakeLoss,
 * BlockGrad, elemwise_mul / _sub, the scalar ops) and BatchNorm on 4-D
 * NCHW data on gpu(0) against the CPU path (label gpu; exits 77, "skipped",
 * when the build has no CUDA or no device is visible; in the CUDA emulation
 * build it runs).
 *
 * Each case follows tests/test_gpu_ops.c: the same inputs on both devices,
 * forward outputs compared, then backward from the CPU's outputs three
 * times (req write onto NaN-filled GPU buffers, req add onto the same
 * prefill, and mixed null / write). Tolerances |g - c| <= tol * max(|c|,
 * floor): copies, transposes and the elementwise ops must match bit for
 * bit (tol 0: the kernels round each operation like the CPU); softmax and
 * BatchNorm 1e-4 (device expf, other summation orders). Softmax and
 * MakeLoss's valid count are also run twice on the GPU and must give the
 * same bits (deterministic reductions, no float atomics). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "testutil.h"

#ifdef MT_HAVE_CUDA

/* ------------------------------------------------------------- helpers */

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

/* Fails unless |gpu - cpu| <= tol * max(|cpu|, floor) everywhere; returns
 * the worst |gpu - cpu| / max(|cpu|, floor). */
static double expect_close(const char *what, const mt_ndarray *gpu, const float *cpu, int64_t n,
                           double tol, double floor) {
  assert_int_equal(gpu->size, n);
  float *g = host_copy(gpu);
  double worst = 0;
  int64_t at = -1;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)g[i] - (double)cpu[i]) / fmax(fabs((double)cpu[i]), floor);
    if (isnan(d)) d = INFINITY;
    if (d > worst || at < 0) {
      worst = d;
      at = i;
    }
  }
  if (worst > tol) {
    float gv = g[at];
    free(g);
    fail_msg("%s: element %lld: gpu %.9g cpu %.9g (error %.3g > %.1g)", what, (long long)at,
             (double)gv, (double)cpu[at], worst, tol);
  }
  free(g);
  return worst;
}

/* Fails unless the GPU array equals the host values bit for bit. */
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

/* -------------------------------------------------------- op-level cases */

typedef struct {
  const char *op, *attrs;
  int nargs;
  mt_shape shapes[8]; /* unknown (ndim 0) shapes are inferred */
  int inference;      /* forward/backward with is_train = 0 */
  unsigned labels;    /* bit i: argument i is a label (class indices or targets) */
  int classes;        /* labels are class indices in [0, classes) when > 0 */
  double tol, floor;
  int exact_mask; /* hidden output 1 (Dropout's mask) must match bit for bit */
  uint64_t step;
  int64_t sample_offset;
  float lo, hi; /* range of the data inputs; default U(-2, 2) */
} opcase;

static void fill_inputs(const opcase *k, tu_op *t) {
  float lo = k->lo != k->hi ? k->lo : -2.0f, hi = k->lo != k->hi ? k->hi : 2.0f;
  for (int i = 0; i < t->nargs; i++) {
    mt_ndarray *a = t->in[i];
    if ((k->labels >> i) & 1 && k->classes > 0) {
      for (int64_t j = 0; j < a->size; j++) a->data[j] = (float)((j * 7 + 3) % k->classes);
    } else if ((k->labels >> i) & 1) {
      tu_fill_uniform(a->data, a->size, 0.0f, 1.0f, 300 + (uint64_t)i);
    } else {
      tu_fill_uniform(a->data, a->size, lo, hi, 100 + (uint64_t)i);
    }
  }
  /* aux states (BatchNorm's moving mean, var): positive, var-like */
  for (int i = 0; i < t->naux; i++)
    tu_fill_uniform(t->aux[i]->data, t->aux[i]->size, 0.5f, 1.5f, 700 + (uint64_t)i);
}

enum { MODE_WRITE, MODE_ADD, MODE_MIXED };
static const char *const mode_names[] = {"write", "add", "mixed"};

static void run_backward_mode(const opcase *k, tu_op *t, mt_ndarray **gin, mt_ndarray **gout,
                              mt_ndarray **gaux, const mt_op_ctx *cc, const mt_op_ctx *gc, int mode,
                              double *worst) {
  int nvis = mt_op_num_visible_outputs(t->op, t->param);
  int is_loss = (t->op->flags & MT_OP_LOSS) != 0;
  mt_ndarray *cog[8] = {0}, *gog[8] = {0}, *cig[8] = {0}, *gig[8] = {0};
  mt_grad_req req[8];
  char what[256];
  /* the CPU's forward outputs, so that both backwards see the same values */
  for (int o = 0; o < t->nout; o++) MT_ASSERT_OK(mt_ndarray_copy(gout[o], t->out[o]));
  if (!is_loss)
    for (int o = 0; o < nvis; o++) {
      MT_ASSERT_OK(mt_ndarray_create(t->out[o]->shape, mt_cpu(0), &cog[o]));
      tu_fill_uniform(cog[o]->data, cog[o]->size, -1.0f, 1.0f, 900 + (uint64_t)o);
      gog[o] = gpu_like(cog[o]);
    }
  for (int i = 0; i < t->nargs; i++) {
    int label = (k->labels >> i) & 1;
    if (mode == MODE_MIXED) req[i] = i % 2 ? MT_REQ_WRITE : MT_REQ_NULL;
    else if (label) req[i] = MT_REQ_NULL;
    else req[i] = mode == MODE_ADD ? MT_REQ_ADD : MT_REQ_WRITE;
    if (req[i] == MT_REQ_NULL) continue;
    MT_ASSERT_OK(mt_ndarray_create(t->in[i]->shape, mt_cpu(0), &cig[i]));
    tu_fill_uniform(cig[i]->data, cig[i]->size, -1.0f, 1.0f, 500 + (uint64_t)i);
    gig[i] = gpu_like(cig[i]);
    if (req[i] == MT_REQ_WRITE) MT_ASSERT_OK(mt_ndarray_fill(gig[i], NAN));
  }
  int crc = mt_op_backward(t->op, t->param, cc, cog, t->in, t->out, req, cig, t->aux);
  if (crc < 0)
    fail_msg("%s %s: cpu backward (%s): %s", k->op, k->attrs, mode_names[mode], mt_last_error());
  int grc = mt_op_backward(t->op, t->param, gc, gog, gin, gout, req, gig, gaux);
  if (grc < 0)
    fail_msg("%s %s: gpu backward (%s): %s", k->op, k->attrs, mode_names[mode], mt_last_error());
  MT_ASSERT_OK(mtk_cuda_sync(0));
  for (int i = 0; i < t->nargs; i++) {
    if (!cig[i]) continue;
    snprintf(what, sizeof what, "%s '%s' backward (%s) d%s", k->op, k->attrs, mode_names[mode],
             t->op->arg_name(t->param, i));
    double w = expect_close(what, gig[i], cig[i]->data, cig[i]->size, k->tol, k->floor);
    if (w > *worst) *worst = w;
  }
  for (int i = 0; i < 8; i++) {
    mt_ndarray_free(cog[i]);
    mt_ndarray_free(gog[i]);
    mt_ndarray_free(cig[i]);
    mt_ndarray_free(gig[i]);
  }
}

static void run_case(const opcase *k) {
  tu_op t;
  if (tu_op_setup(&t, k->op, k->attrs, k->nargs, k->shapes) < 0)
    fail_msg("setup %s '%s': %s", k->op, k->attrs, mt_last_error());
  fill_inputs(k, &t);
  mt_ndarray *gin[8] = {0}, *gout[8] = {0}, *gaux[8] = {0};
  for (int i = 0; i < t.nargs; i++) gin[i] = gpu_like(t.in[i]);
  for (int i = 0; i < t.nout; i++) gout[i] = gpu_like(t.out[i]);
  for (int i = 0; i < t.naux; i++) gaux[i] = gpu_like(t.aux[i]);
  mt_op_ctx cc = {.ctx = mt_cpu(0),
                  .is_train = !k->inference,
                  .seed = 7,
                  .node_key = 11,
                  .step = k->step,
                  .sample_offset = k->sample_offset};
  mt_op_ctx gc = cc;
  gc.ctx = mt_gpu(0);

  MT_ASSERT_OK(mt_op_forward(t.op, t.param, &cc, t.in, t.out, t.aux));
  int rc = mt_op_forward(t.op, t.param, &gc, gin, gout, gaux);
  if (rc < 0) fail_msg("%s '%s': gpu forward: %s", k->op, k->attrs, mt_last_error());
  MT_ASSERT_OK(mtk_cuda_sync(0));
  double wf = 0, wb = 0;
  char what[256];
  for (int o = 0; o < t.nout; o++) {
    snprintf(what, sizeof what, "%s '%s' forward %s", k->op, k->attrs,
             mt_op_output_name(t.op, t.param, o));
    if (k->exact_mask && o == 1) {
      expect_identical(what, gout[o], t.out[o]->data, t.out[o]->size);
      continue;
    }
    double w = expect_close(what, gout[o], t.out[o]->data, t.out[o]->size, k->tol, k->floor);
    if (w > wf) wf = w;
  }
  for (int a = 0; a < t.naux; a++) {
    snprintf(what, sizeof what, "%s '%s' forward aux %d", k->op, k->attrs, a);
    double w = expect_close(what, gaux[a], t.aux[a]->data, t.aux[a]->size, k->tol, k->floor);
    if (w > wf) wf = w;
  }
  for (int mode = MODE_WRITE; mode <= MODE_MIXED; mode++)
    run_backward_mode(k, &t, gin, gout, gaux, &cc, &gc, mode, &wb);
  print_message("  %-24s %-44s fwd %.2e  bwd %.2e\n", k->op, k->attrs, wf, wb);
  for (int i = 0; i < 8; i++) {
    mt_ndarray_free(gin[i]);
    mt_ndarray_free(gout[i]);
    mt_ndarray_free(gaux[i]);
  }
  tu_op_free(&t);
}

#define EW 1e-5 /* elementwise tolerance */
#define RD 1e-4 /* reductions and GEMMs */
#define S(...) MT_SHAPE(__VA_ARGS__)
/* A case: op, attrs, tolerance, floor, then designated fields. */
#define CASE(op_, attrs_, tol_, floor_, ...)                                                       \
  { .op = op_, .attrs = attrs_, .tol = tol_, .floor = floor_, __VA_ARGS__ }

#define EX 0.0  /* bit for bit */
#define SM 1e-4 /* softmax, BatchNorm */

static void run_cases(const opcase *cases, size_t n) {
  for (size_t i = 0; i < n; i++) run_case(&cases[i]);
}

static void test_copy_ops(void **state) {
  const opcase cases[] = {
      CASE("Reshape", "shape=(0,-1)", EX, 1.0, .nargs = 1, .shapes = {S(4, 3, 5)}),
      CASE("Reshape", "shape=(-4,2,-1,-2)", EX, 1.0, .nargs = 1, .shapes = {S(4, 3, 5)}),
      CASE("Reshape", "shape=(-1,0) reverse=true", EX, 1.0, .nargs = 1, .shapes = {S(10, 5, 4)}),
      CASE("expand_dims", "axis=1", EX, 1.0, .nargs = 1, .shapes = {S(4, 6)}),
      CASE("expand_dims", "axis=-1", EX, 1.0, .nargs = 1, .shapes = {S(2, 3, 4)}),
      CASE("BlockGrad", "", EX, 1.0, .nargs = 1, .shapes = {S(2, 3, 4, 5)}),
      CASE("MakeLoss", "", EX, 1.0, .nargs = 1, .shapes = {S(6, 7)}),
      CASE("MakeLoss", "grad_scale=0.3 normalization=batch", EX, 1.0, .nargs = 1,
           .shapes = {S(3, 4, 5)}),
      CASE("MakeLoss", "grad_scale=2 normalization=valid valid_thresh=0.5", EX, 1.0, .nargs = 1,
           .shapes = {S(40, 30)}),
      /* nothing above the threshold: divided by 1 */
      CASE("MakeLoss", "normalization=valid valid_thresh=9", EX, 1.0, .nargs = 1,
           .shapes = {S(5, 3)}),
  };
  run_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_transpose(void **state) {
  const opcase cases[] = {
      CASE("transpose", "", EX, 1.0, .nargs = 1, .shapes = {S(7, 9)}),
      CASE("transpose", "axes=(1,0,2)", EX, 1.0, .nargs = 1, .shapes = {S(3, 4, 5)}),
      CASE("transpose", "axes=(2,0,1)", EX, 1.0, .nargs = 1, .shapes = {S(3, 4, 5)}),
      CASE("transpose", "axes=(0,2,3,1)", EX, 1.0, .nargs = 1, .shapes = {S(2, 3, 4, 5)}),
      CASE("transpose", "", EX, 1.0, .nargs = 1, .shapes = {S(2, 1, 3, 2, 2, 3)}),
      /* more elements than one grid pass */
      CASE("transpose", "axes=(1,0)", EX, 1.0, .nargs = 1, .shapes = {S(1100, 1001)}),
  };
  run_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_slice_channel(void **state) {
  const opcase cases[] = {
      CASE("SliceChannel", "num_outputs=3", EX, 1.0, .nargs = 1, .shapes = {S(4, 6)}),
      CASE("SliceChannel", "num_outputs=2 axis=0", EX, 1.0, .nargs = 1, .shapes = {S(4, 3, 5)}),
      CASE("SliceChannel", "num_outputs=5 axis=-1", EX, 1.0, .nargs = 1, .shapes = {S(2, 3, 10)}),
      CASE("SliceChannel", "num_outputs=3 squeeze_axis=true", EX, 1.0, .nargs = 1,
           .shapes = {S(2, 3, 4, 2)}),
  };
  run_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_softmax(void **state) {
  const opcase cases[] = {
      CASE("softmax", "", SM, 1e-3, .nargs = 1, .shapes = {S(16, 10)}),
      CASE("softmax", "axis=1", SM, 1e-3, .nargs = 1, .shapes = {S(4, 5, 3, 2)}),
      CASE("softmax", "axis=0 temperature=2", SM, 1e-3, .nargs = 1, .shapes = {S(6, 7)}),
      CASE("softmax", "", SM, 1e-3, .nargs = 1, .shapes = {S(3, 1000)}, .lo = -8.0f, .hi = 8.0f),
      CASE("log_softmax", "", SM, 1e-3, .nargs = 1, .shapes = {S(16, 10)}),
      CASE("log_softmax", "axis=1 temperature=0.5", SM, 1e-3, .nargs = 1,
           .shapes = {S(4, 5, 3, 2)}),
      CASE("log_softmax", "", SM, 1e-3, .nargs = 1, .shapes = {S(2, 700)}, .lo = -8.0f, .hi = 8.0f),
  };
  run_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_elementwise(void **state) {
  const opcase cases[] = {
      CASE("elemwise_mul", "", EX, 1.0, .nargs = 2, .shapes = {S(5, 7), S(5, 7)}),
      CASE("elemwise_sub", "", EX, 1.0, .nargs = 2, .shapes = {S(2, 3, 4, 5), S(2, 3, 4, 5)}),
      CASE("_plus_scalar", "scalar=1.5", EX, 1.0, .nargs = 1, .shapes = {S(5, 7)}),
      CASE("_minus_scalar", "scalar=0.25", EX, 1.0, .nargs = 1, .shapes = {S(5, 7)}),
      CASE("_mul_scalar", "scalar=-3.1", EX, 1.0, .nargs = 1, .shapes = {S(5, 7)}),
      CASE("_div_scalar", "scalar=0.7", EX, 1.0, .nargs = 1, .shapes = {S(5, 7)}),
  };
  run_cases(cases, sizeof cases / sizeof cases[0]);
}

/* BatchNorm is per channel on NCHW (axis 1: statistics over N, H, W). */
static void test_batch_norm_4d(void **state) {
  const opcase cases[] = {
      CASE("BatchNorm", "fix_gamma=false", SM, 1e-2, .nargs = 3, .shapes = {S(4, 3, 5, 6)}),
      CASE("BatchNorm", "", SM, 1e-2, .nargs = 3, .shapes = {S(2, 8, 3, 3)}),
      CASE("BatchNorm", "fix_gamma=false", SM, 1e-2, .nargs = 3, .shapes = {S(4, 3, 5, 6)},
           .inference = 1),
      CASE("BatchNorm", "fix_gamma=false axis=-1", SM, 1e-2, .nargs = 3, .shapes = {S(2, 3, 4, 5)}),
  };
  run_cases(cases, sizeof cases / sizeof cases[0]);
}

/* Repeated GPU runs give the same bits (fixed-order reductions). */
static void test_deterministic(void **state) {
  mt_shape s = S(37, 300);
  float *first = NULL;
  for (int rep = 0; rep < 2; rep++) {
    mt_ndarray *x, *y, *g, *dy;
    MT_ASSERT_OK(mt_ndarray_create(s, mt_cpu(0), &x));
    tu_fill_uniform(x->data, x->size, -4.0f, 4.0f, 5);
    mt_ndarray *gx = gpu_like(x);
    MT_ASSERT_OK(mt_ndarray_create(s, mt_gpu(0), &y));
    MT_ASSERT_OK(mt_ndarray_create(s, mt_gpu(0), &g));
    dy = gpu_like(x);
    MT_ASSERT_OK(mtk_cuda_softmax_t(0, y->data, gx->data, 37, 300, 1, 1.3f, 0));
    MT_ASSERT_OK(mtk_cuda_softmax_t_grad(0, g->data, dy->data, y->data, 37, 300, 1, 1.3f, 0, 0.0f));
    MT_ASSERT_OK(mtk_cuda_make_loss_grad(0, y->data, y->size, 1.0f, gx->data, 0.3f, 1.0f));
    MT_ASSERT_OK(mtk_cuda_sync(0));
    float *h = host_copy(g), *h2 = host_copy(y);
    float *both = malloc(sizeof(float) * 2 * (size_t)x->size);
    memcpy(both, h, sizeof(float) * (size_t)x->size);
    memcpy(both + x->size, h2, sizeof(float) * (size_t)x->size);
    free(h);
    free(h2);
    if (rep == 0) first = both;
    else {
      assert_memory_equal(first, both, sizeof(float) * 2 * (size_t)x->size);
      free(both);
    }
    mt_ndarray_free(x);
    mt_ndarray_free(gx);
    mt_ndarray_free(y);
    mt_ndarray_free(g);
    mt_ndarray_free(dy);
  }
  free(first);
}

#endif /* MT_HAVE_CUDA */

int main(void) {
#ifndef MT_HAVE_CUDA
  printf(
      "SKIP: no CUDA device visible (test_gpu_tensor_ops needs a GPU; this build has no "
      "CUDA)\n");
  return 77;
#else
  int ndev = mtk_cuda_device_count();
  if (ndev == 0) {
    printf("SKIP: no CUDA device visible (test_gpu_tensor_ops needs a GPU)\n");
    return 77;
  }
  printf("test_gpu_tensor_ops: %d CUDA device(s) visible; testing gpu(0)\n", ndev);
  mt_blas_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_copy_ops),      cmocka_unit_test(test_transpose),
      cmocka_unit_test(test_slice_channel), cmocka_unit_test(test_softmax),
      cmocka_unit_test(test_elementwise),   cmocka_unit_test(test_batch_norm_4d),
      cmocka_unit_test(test_deterministic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
