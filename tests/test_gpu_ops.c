/* test_gpu_ops.c — every operator on gpu(0) against the CPU path (label gpu;
 * exits 77, "skipped", when the build has no CUDA or no device is visible).
 *
 * Op level: each case builds the op as tests/testutil.c's tu_op does, fills
 * the inputs and aux states once on the host, copies them to gpu(0), runs
 * forward on both devices with the same mt_op_ctx (seed, step, sample
 * offset) and compares every output, hidden ones included, and the aux
 * states after forward. Backward then runs on both devices from the same
 * inputs, the same output gradients and the CPU's forward outputs (copied to
 * the GPU, so each backward kernel is compared alone), three times:
 *   write  every gradient with MT_REQ_WRITE; the GPU gradient buffers are
 *          prefilled with NaN, so a kernel that reads the old value fails
 *   add    MT_REQ_ADD onto the same random prefill on both devices
 *   mixed  even-numbered arguments MT_REQ_NULL (their in_grad is NULL),
 *          odd-numbered ones MT_REQ_WRITE, labels included (which the loss
 *          heads fill with zeros)
 * Tolerances: a GPU value g passes against the CPU value c when
 *   |g - c| <= tol * max(|c|, floor)
 * with tol 1e-5 for elementwise ops (device expf/tanhf/log1pf differ from
 * glibc by an ulp or two) and 1e-4 for reductions and GEMMs (softmax,
 * BatchNorm, FullyConnected: other summation orders); floor (stated per
 * case) keeps values near zero from turning rounding into huge relative
 * errors. Dropout's mask must equal the CPU's bit for bit.
 *
 * Executor level: the tutorial MLP (fc1 64, relu, fc2 10, SoftmaxOutput;
 * batch 32 of 128 features) and a net using every op are bound with
 * mt_executor_simple_bind on cpu(0) and gpu(0), given the same arguments
 * and aux states, run forward(is_train=1) and backward; outputs, gradients
 * and aux states must agree (1e-4), and a second GPU run must reproduce the
 * first bit for bit (deterministic kernels). The tutorial MLP's fc1 + relu1
 * run fused there (src/executor.c); a tanh MLP is also bound fused and with
 * MODTRAIN_FUSE=0 on gpu(0), which must agree to 1e-6, and the fused bias +
 * activation kernels are compared with the CPU's fused kernels alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "src/executor.h"
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

static void fill_const(float *x, int64_t n, float v) {
  for (int64_t i = 0; i < n; i++) x[i] = v;
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

static void test_fully_connected(void **state) {
  const opcase cases[] = {
      CASE("FullyConnected", "num_hidden=13", RD, 1.0, .nargs = 3, .shapes = {S(9, 17)}),
      CASE("FullyConnected", "num_hidden=13 no_bias=true", RD, 1.0, .nargs = 2,
           .shapes = {S(9, 17)}),
      CASE("FullyConnected", "num_hidden=13 flatten=false", RD, 1.0, .nargs = 3,
           .shapes = {S(2, 3, 17)}),
      CASE("FullyConnected", "num_hidden=200", RD, 1.0, .nargs = 3, .shapes = {S(64, 4, 75)}),
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

static void test_activation(void **state) {
  const opcase cases[] = {
      CASE("Activation", "act_type=relu", EW, 1e-3, .nargs = 1, .shapes = {S(7, 33)}),
      CASE("Activation", "act_type=sigmoid", EW, 1e-3, .nargs = 1, .shapes = {S(7, 33)}),
      CASE("Activation", "act_type=tanh", EW, 1e-3, .nargs = 1, .shapes = {S(7, 33)}),
      CASE("Activation", "act_type=softrelu", EW, 1e-3, .nargs = 1, .shapes = {S(7, 33)}),
      CASE("Activation", "act_type=softsign", EW, 1e-3, .nargs = 1, .shapes = {S(7, 33)}),
      /* more elements than one grid pass (4096 blocks x 256 threads) */
      CASE("Activation", "act_type=relu", EW, 1e-3, .nargs = 1, .shapes = {S(1100, 1000)}),
      /* softrelu above 20 is the identity */
      CASE("Activation", "act_type=softrelu", EW, 1e-3, .nargs = 1, .shapes = {S(5, 11)},
           .lo = 15.0f, .hi = 25.0f),
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

static void test_leaky_relu(void **state) {
  const opcase cases[] = {
      CASE("LeakyReLU", "", EW, 1e-3, .nargs = 1, .shapes = {S(7, 33)}),
      CASE("LeakyReLU", "act_type=leaky slope=0.1", EW, 1e-3, .nargs = 1, .shapes = {S(4, 5, 6)}),
      CASE("LeakyReLU", "act_type=elu slope=0.3", EW, 1e-3, .nargs = 1, .shapes = {S(7, 33)}),
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

static void test_shape_and_sum_ops(void **state) {
  const opcase cases[] = {
      CASE("Flatten", "", EW, 1e-3, .nargs = 1, .shapes = {S(4, 3, 5)}),
      CASE("Flatten", "", EW, 1e-3, .nargs = 1, .shapes = {S(6)}),
      CASE("Concat", "num_args=3 dim=1", EW, 1e-3, .nargs = 3,
           .shapes = {S(2, 3, 4), S(2, 5, 4), S(2, 1, 4)}),
      CASE("Concat", "num_args=2 dim=0", EW, 1e-3, .nargs = 2, .shapes = {S(3, 4), S(5, 4)}),
      CASE("Concat", "num_args=2 dim=-1", EW, 1e-3, .nargs = 2, .shapes = {S(2, 3, 4), S(2, 3, 2)}),
      CASE("Concat", "num_args=1", EW, 1e-3, .nargs = 1, .shapes = {S(3, 7)}),
      CASE("elemwise_add", "", EW, 1e-3, .nargs = 2, .shapes = {S(5, 7), S(5, 7)}),
      CASE("elemwise_add", "", EW, 1e-3, .nargs = 2, .shapes = {S(3, 4, 5), S(3, 4, 5)}),
      CASE("ElementWiseSum", "num_args=1", EW, 1e-3, .nargs = 1, .shapes = {S(5, 7)}),
      CASE("ElementWiseSum", "num_args=2", EW, 1e-3, .nargs = 2, .shapes = {S(5, 7), S(5, 7)}),
      CASE("ElementWiseSum", "num_args=4", EW, 1e-3, .nargs = 4,
           .shapes = {S(5, 7), S(5, 7), S(5, 7), S(5, 7)}),
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

static void test_softmax_output(void **state) {
  const opcase cases[] = {
      CASE("SoftmaxOutput", "", RD, 1e-3, .nargs = 2, .shapes = {S(16, 10)}, .labels = 2,
           .classes = 10),
      CASE("SoftmaxOutput", "grad_scale=0.5 normalization=batch", RD, 1e-3, .nargs = 2,
           .shapes = {S(16, 10)}, .labels = 2, .classes = 10),
      CASE("SoftmaxOutput", "use_ignore=true ignore_label=2 normalization=valid", RD, 1e-3,
           .nargs = 2, .shapes = {S(16, 10)}, .labels = 2, .classes = 10),
      /* valid without use_ignore: counts labels != -1 */
      CASE("SoftmaxOutput", "normalization=valid", RD, 1e-3, .nargs = 2, .shapes = {S(8, 5, 3)},
           .labels = 2, .classes = 15),
      CASE("SoftmaxOutput", "multi_output=true normalization=batch", RD, 1e-3, .nargs = 2,
           .shapes = {S(4, 5, 3, 2)}, .labels = 2, .classes = 5),
      CASE("SoftmaxOutput", "preserve_shape=true", RD, 1e-3, .nargs = 2, .shapes = {S(3, 4, 6)},
           .labels = 2, .classes = 6),
      /* more classes than threads of a block */
      CASE("SoftmaxOutput", "", RD, 1e-3, .nargs = 2, .shapes = {S(3, 1000)}, .labels = 2,
           .classes = 1000, .lo = -8.0f, .hi = 8.0f),
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

/* A label that is not a class: the GPU backward fails with the CPU's message
 * (naming the first bad position and its value) and leaves the same
 * gradient. Positions 5 (10 of 10 classes) and 9 (NaN) are bad. */
static void test_softmax_output_bad_label(void **state) {
  for (int ignore = 0; ignore < 2; ignore++) {
    tu_op t;
    mt_shape shapes[2] = {S(12, 10), {0}};
    MT_ASSERT_OK(tu_op_setup(&t, "SoftmaxOutput", ignore ? "use_ignore=true ignore_label=3" : "", 2,
                             shapes));
    tu_fill_uniform(t.in[0]->data, t.in[0]->size, -2.0f, 2.0f, 1);
    for (int i = 0; i < 12; i++) t.in[1]->data[i] = (float)(i % 10);
    t.in[1]->data[5] = 10.0f;
    t.in[1]->data[9] = NAN;
    mt_ndarray *gin[2] = {gpu_like(t.in[0]), gpu_like(t.in[1])}, *gout[1] = {gpu_like(t.out[0])};
    mt_op_ctx cc = {.ctx = mt_cpu(0), .is_train = 1}, gc = cc;
    gc.ctx = mt_gpu(0);
    MT_ASSERT_OK(mt_op_forward(t.op, t.param, &cc, t.in, t.out, t.aux));
    MT_ASSERT_OK(mt_op_forward(t.op, t.param, &gc, gin, gout, NULL));
    MT_ASSERT_OK(mt_ndarray_copy(gout[0], t.out[0]));
    mt_ndarray *cig[2] = {0}, *gig[2] = {0};
    MT_ASSERT_OK(mt_ndarray_create(t.in[0]->shape, mt_cpu(0), &cig[0]));
    gig[0] = gpu_like(cig[0]);
    mt_grad_req req[2] = {MT_REQ_WRITE, MT_REQ_NULL};
    mt_ndarray *og[1] = {NULL};
    assert_int_equal(mt_op_backward(t.op, t.param, &cc, og, t.in, t.out, req, cig, t.aux),
                     MT_E_INVAL);
    char cpu_msg[512];
    snprintf(cpu_msg, sizeof cpu_msg, "%s", mt_last_error());
    assert_non_null(strstr(cpu_msg, "position 5"));
    mt_error_clear();
    assert_int_equal(mt_op_backward(t.op, t.param, &gc, og, gin, gout, req, gig, NULL), MT_E_INVAL);
    assert_string_equal(mt_last_error(), cpu_msg);
    expect_close("SoftmaxOutput bad label gradient", gig[0], cig[0]->data, cig[0]->size, RD, 1e-3);
    mt_ndarray_free(gin[0]);
    mt_ndarray_free(gin[1]);
    mt_ndarray_free(gout[0]);
    mt_ndarray_free(cig[0]);
    mt_ndarray_free(gig[0]);
    tu_op_free(&t);
  }
}

static void test_regression_outputs(void **state) {
  const opcase cases[] = {
      CASE("LinearRegressionOutput", "", EW, 1e-3, .nargs = 2, .shapes = {S(8, 3)}, .labels = 2),
      CASE("LinearRegressionOutput", "grad_scale=2", EW, 1e-3, .nargs = 2, .shapes = {S(8, 1)},
           .labels = 2),
      CASE("LogisticRegressionOutput", "", EW, 1e-3, .nargs = 2, .shapes = {S(8, 3)}, .labels = 2,
           .lo = -30.0f, .hi = 30.0f),
      CASE("LogisticRegressionOutput", "grad_scale=0.5", EW, 1e-3, .nargs = 2,
           .shapes = {S(5, 2, 3)}, .labels = 2),
      CASE("MAERegressionOutput", "", EW, 1e-3, .nargs = 2, .shapes = {S(8, 3)}, .labels = 2),
      CASE("MAERegressionOutput", "grad_scale=3", EW, 1e-3, .nargs = 2, .shapes = {S(8, 1)},
           .labels = 2),
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

static void test_dropout(void **state) {
  const opcase cases[] = {
      /* offset 5 rows of 37: the stream starts inside a Philox block */
      CASE("Dropout", "p=0.3", EW, 1e-3, .nargs = 1, .shapes = {S(6, 37)}, .exact_mask = 1,
           .step = 3, .sample_offset = 5),
      CASE("Dropout", "p=0.5", EW, 1e-3, .nargs = 1, .shapes = {S(64, 33)}, .exact_mask = 1,
           .step = 12345, .sample_offset = 1000003),
      CASE("Dropout", "p=0.5", EW, 1e-3, .nargs = 1, .shapes = {S(1100, 1000)}, .exact_mask = 1,
           .step = 1),
      CASE("Dropout", "p=0", EW, 1e-3, .nargs = 1, .shapes = {S(6, 37)}, .exact_mask = 1, .step = 3,
           .sample_offset = 5),
      CASE("Dropout", "p=1", EW, 1e-3, .nargs = 1, .shapes = {S(6, 37)}, .exact_mask = 1, .step = 3,
           .sample_offset = 5),
      CASE("Dropout", "p=0.3 mode=always", EW, 1e-3, .nargs = 1, .shapes = {S(6, 37)},
           .inference = 1, .exact_mask = 1, .step = 3, .sample_offset = 5),
      CASE("Dropout", "p=0.3", EW, 1e-3, .nargs = 1, .shapes = {S(6, 37)}, .inference = 1,
           .exact_mask = 1, .step = 3, .sample_offset = 5), /* inference: identity */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

/* The mask alone, through the kernels: GPU == CPU bit for bit for many
 * offsets, sizes and p, including runs that start and end inside a Philox
 * block of four. */
static void test_dropout_mask_bits(void **state) {
  const int64_t sizes[] = {1, 3, 4, 5, 257, 4099};
  const uint64_t firsts[] = {0, 1, 2, 3, 6, 1ull << 33, (1ull << 40) + 1};
  const float ps[] = {0.1f, 0.5f, 0.9f};
  uint64_t key = mtk_philox_key(42, 99);
  for (size_t a = 0; a < sizeof sizes / sizeof sizes[0]; a++)
    for (size_t b = 0; b < sizeof firsts / sizeof firsts[0]; b++)
      for (size_t c = 0; c < sizeof ps / sizeof ps[0]; c++) {
        int64_t n = sizes[a];
        mt_ndarray *cm, *gm;
        MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_cpu(0), &cm));
        MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_gpu(0), &gm));
        float scale = 1.0f / (1.0f - ps[c]);
        mtk_dropout_mask(cm->data, n, ps[c], scale, key, 17 + b, firsts[b]);
        MT_ASSERT_OK(mtk_cuda_dropout_mask(0, gm->data, n, ps[c], scale, key, 17 + b, firsts[b]));
        char what[128];
        snprintf(what, sizeof what, "mask n=%lld first=%llu p=%g", (long long)n,
                 (unsigned long long)firsts[b], (double)ps[c]);
        expect_identical(what, gm, cm->data, n);
        mt_ndarray_free(cm);
        mt_ndarray_free(gm);
      }
}

static void test_batch_norm(void **state) {
  const opcase cases[] = {
      CASE("BatchNorm", "fix_gamma=false", RD, 0.1, .nargs = 3, .shapes = {S(8, 6)}),
      CASE("BatchNorm", "", RD, 0.1, .nargs = 3, .shapes = {S(4, 3, 5, 5)}),
      CASE("BatchNorm", "fix_gamma=false momentum=0.7 eps=1e-5", RD, 0.1, .nargs = 3,
           .shapes = {S(64, 8, 9)}),
      CASE("BatchNorm", "fix_gamma=false use_global_stats=true", RD, 0.1, .nargs = 3,
           .shapes = {S(4, 3, 5, 5)}),
      CASE("BatchNorm", "fix_gamma=false", RD, 0.1, .nargs = 3, .shapes = {S(6, 4)},
           .inference = 1), /* inference */
      CASE("BatchNorm", "fix_gamma=false axis=-1", RD, 0.1, .nargs = 3, .shapes = {S(3, 4, 5)}),
      CASE("BatchNorm", "fix_gamma=false axis=0", RD, 0.1, .nargs = 3, .shapes = {S(6, 2, 3)}),
      /* one channel of 600 * 3 values: many threads per block reduction */
      CASE("BatchNorm", "fix_gamma=false", RD, 0.1, .nargs = 3, .shapes = {S(600, 1, 3)}),
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

/* ---------------------------------------------------- optimizer kernels */

/* sgd_update and multi_sgd[_mom]_update on the GPU equal the CPU kernels
 * bit for bit, with and without momentum, clipping and weight decay; the
 * flat version updates segments with their own lr/wd and leaves the padding
 * between them untouched. Three steps each. */
static void test_sgd_kernels(void **state) {
  const int64_t n = 1000;
  float *w = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n),
        *m = malloc(sizeof(float) * n);
  mt_ndarray *gw, *gg, *gmom;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_gpu(0), &gw));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_gpu(0), &gg));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_gpu(0), &gmom));
  const float clips[] = {-1.0f, 0.05f}, moms[] = {0.0f, 0.9f};
  for (int kind = 0; kind < 3; kind++)
    for (int ci = 0; ci < 2; ci++)
      for (int mi = 0; mi < 2; mi++) {
        if (kind == 0 && mi == 1) continue; /* sgd_update has no momentum */
        tu_fill_uniform(w, n, -1.0f, 1.0f, 1);
        fill_const(m, n, 0.0f);
        MT_ASSERT_OK(mt_ndarray_copy_from(gw, w, n));
        MT_ASSERT_OK(mt_ndarray_fill(gmom, 0.0f));
        float *mom = moms[mi] > 0 ? m : NULL;
        float *gmp = moms[mi] > 0 ? gmom->data : NULL;
        mtk_sgd_segment segs[2] = {{0, 300, 0.1f, 1e-4f}, {320, 999, 0.05f, 0.0f}};
        for (int step = 0; step < 3; step++) {
          tu_fill_uniform(g, n, -3.0f, 3.0f, 10 + (uint64_t)step);
          MT_ASSERT_OK(mt_ndarray_copy_from(gg, g, n));
          if (kind == 0) {
            mtk_sgd_update(w, g, n, 0.1f, 1e-4f, 1.0f / 32, clips[ci]);
            MT_ASSERT_OK(
                mtk_cuda_sgd_update(0, gw->data, gg->data, n, 0.1f, 1e-4f, 1.0f / 32, clips[ci]));
          } else if (kind == 1) {
            mtk_multi_sgd_update(w, g, mom, n, 0.1f, 1e-4f, moms[mi], 1.0f / 32, clips[ci]);
            MT_ASSERT_OK(mtk_cuda_multi_sgd_update(0, gw->data, gg->data, gmp, n, 0.1f, 1e-4f,
                                                   moms[mi], 1.0f / 32, clips[ci]));
          } else {
            for (int s = 0; s < 2; s++)
              mtk_multi_sgd_update(w + segs[s].begin, g + segs[s].begin,
                                   mom ? mom + segs[s].begin : NULL, segs[s].end - segs[s].begin,
                                   segs[s].lr, segs[s].wd, moms[mi], 1.0f / 32, clips[ci]);
            MT_ASSERT_OK(mtk_cuda_multi_sgd_update_flat(0, gw->data, gg->data, gmp, n, segs, 2,
                                                        moms[mi], 1.0f / 32, clips[ci]));
          }
        }
        char what[96];
        snprintf(what, sizeof what, "sgd kernel %d clip %g momentum %g: weight", kind,
                 (double)clips[ci], (double)moms[mi]);
        expect_identical(what, gw, w, n);
        if (mom) {
          snprintf(what, sizeof what, "sgd kernel %d clip %g: momentum", kind, (double)clips[ci]);
          expect_identical(what, gmom, m, n);
        }
      }
  /* unsorted segments are refused */
  mtk_sgd_segment bad[2] = {{100, 200, 0.1f, 0.0f}, {150, 300, 0.1f, 0.0f}};
  assert_int_equal(
      mtk_cuda_multi_sgd_update_flat(0, gw->data, gg->data, NULL, n, bad, 2, 0.0f, 1.0f, -1.0f),
      MT_E_INVAL);
  mt_ndarray_free(gw);
  mt_ndarray_free(gg);
  mt_ndarray_free(gmom);
  free(w);
  free(g);
  free(m);
}

/* The other optimizers' kernels (nag_mom, adam, rmsprop, rmspropalex,
 * adagrad) on the GPU against the CPU kernels: sizes below, at and above the
 * block size (256) and above the grid cap (4096 blocks, so the grid-stride
 * loop goes round), clip_gradient off (-1), 0 and on, clip_weights off and on
 * for the two RMSProps, wd non-zero, states starting from random values
 * (positive where they are squares), three steps each. The kernels are
 * written to equal the CPU bit for bit; the test fails above 1e-6 relative
 * (floor 1e-6) and reports how many values were not bit-identical. */
enum { OK_NAG, OK_ADAM, OK_RMSPROP, OK_RMSPROPALEX, OK_ADAGRAD, OK_NKINDS };
static const char *const ok_names[OK_NKINDS] = {"nag_mom", "adam", "rmsprop", "rmspropalex",
                                                "adagrad"};
static const int ok_nstates[OK_NKINDS] = {1, 2, 1, 3, 1};
/* initial range of each state: {lo, hi} per kind and state */
static const float ok_init[OK_NKINDS][3][2] = {
    {{-0.1f, 0.1f}},                                    /* momentum */
    {{-0.1f, 0.1f}, {0.0f, 0.01f}},                     /* mean, var */
    {{0.0f, 0.01f}},                                    /* n */
    {{0.01f, 0.02f}, {-0.05f, 0.05f}, {-0.01f, 0.01f}}, /* n, g (g*g < n), delta */
    {{0.0f, 0.01f}},                                    /* history */
};

/* One step of kernel `kind` with fixed hyper-parameters, on host arrays
 * (gpu 0) or gpu(0) arrays (gpu 1). */
static int ok_step(int gpu, int kind, float *w, const float *g, float *const *s, int64_t n,
                   float clip, float cw) {
  const float lr = 0.01f, wd = 1e-3f, rescale = 0.125f;
  switch (kind) {
  case OK_NAG:
    if (gpu) return mtk_cuda_nag_mom_update(0, w, g, s[0], n, lr, wd, 0.9f, rescale, clip);
    mtk_nag_mom_update(w, g, s[0], n, lr, wd, 0.9f, rescale, clip);
    return 0;
  case OK_ADAM:
    if (gpu)
      return mtk_cuda_adam_update(0, w, g, s[0], s[1], n, 0.003f, wd, 0.9f, 0.999f, 1e-8f, rescale,
                                  clip);
    mtk_adam_update(w, g, s[0], s[1], n, 0.003f, wd, 0.9f, 0.999f, 1e-8f, rescale, clip);
    return 0;
  case OK_RMSPROP:
    if (gpu)
      return mtk_cuda_rmsprop_update(0, w, g, s[0], n, lr, wd, 0.95f, 1e-8f, rescale, clip, cw);
    mtk_rmsprop_update(w, g, s[0], n, lr, wd, 0.95f, 1e-8f, rescale, clip, cw);
    return 0;
  case OK_RMSPROPALEX:
    if (gpu)
      return mtk_cuda_rmspropalex_update(0, w, g, s[0], s[1], s[2], n, lr, wd, 0.95f, 0.9f, 1e-8f,
                                         rescale, clip, cw);
    mtk_rmspropalex_update(w, g, s[0], s[1], s[2], n, lr, wd, 0.95f, 0.9f, 1e-8f, rescale, clip,
                           cw);
    return 0;
  default:
    if (gpu) return mtk_cuda_adagrad_update(0, w, g, s[0], n, lr, wd, 1e-7f, rescale, clip);
    mtk_adagrad_update(w, g, s[0], n, lr, wd, 1e-7f, rescale, clip);
    return 0;
  }
}

/* Values of the GPU array not bit-identical to the host ones. */
static int64_t count_not_identical(const mt_ndarray *gpu, const float *cpu, int64_t n) {
  float *g = host_copy(gpu);
  int64_t k = 0;
  for (int64_t i = 0; i < n; i++) k += memcmp(&g[i], &cpu[i], sizeof(float)) != 0;
  free(g);
  return k;
}

static void test_optimizer_kernels(void **state) {
  const int64_t sizes[] = {1, 255, 256, 257, 4099, ((int64_t)1 << 20) + 3};
  const float clips[] = {-1.0f, 0.0f, 0.05f}, cws[] = {-1.0f, 0.5f};
  double worst = 0;
  int64_t ndiff = 0, nvals = 0;
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    const int64_t n = sizes[si];
    float *w = malloc(sizeof(float) * (size_t)n), *g = malloc(sizeof(float) * (size_t)n);
    float *s[3];
    mt_ndarray *gw, *gg, *gs[3];
    assert_non_null(w);
    assert_non_null(g);
    MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_gpu(0), &gw));
    MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_gpu(0), &gg));
    for (int k = 0; k < 3; k++) {
      s[k] = malloc(sizeof(float) * (size_t)n);
      assert_non_null(s[k]);
      MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_gpu(0), &gs[k]));
    }
    float *gsp[3] = {gs[0]->data, gs[1]->data, gs[2]->data};
    for (int kind = 0; kind < OK_NKINDS; kind++)
      for (int ci = 0; ci < 3; ci++)
        for (int wi = 0; wi < 2; wi++) {
          int has_cw = kind == OK_RMSPROP || kind == OK_RMSPROPALEX;
          if (!has_cw && wi > 0) continue; /* clip_weights: the RMSProps only */
          tu_fill_uniform(w, n, -1.0f, 1.0f, 1 + (uint64_t)si);
          MT_ASSERT_OK(mt_ndarray_copy_from(gw, w, n));
          for (int k = 0; k < ok_nstates[kind]; k++) {
            tu_fill_uniform(s[k], n, ok_init[kind][k][0], ok_init[kind][k][1], 50 + (uint64_t)k);
            MT_ASSERT_OK(mt_ndarray_copy_from(gs[k], s[k], n));
          }
          for (int step = 0; step < 3; step++) {
            tu_fill_uniform(g, n, -3.0f, 3.0f, 10 + (uint64_t)step);
            MT_ASSERT_OK(mt_ndarray_copy_from(gg, g, n));
            MT_ASSERT_OK(ok_step(0, kind, w, g, s, n, clips[ci], cws[wi]));
            MT_ASSERT_OK(ok_step(1, kind, gw->data, gg->data, gsp, n, clips[ci], cws[wi]));
          }
          char what[128];
          snprintf(what, sizeof what, "%s n=%lld clip %g clip_weights %g: weight", ok_names[kind],
                   (long long)n, (double)clips[ci], (double)cws[wi]);
          worst = fmax(worst, expect_close(what, gw, w, n, 1e-6, 1e-6));
          ndiff += count_not_identical(gw, w, n);
          nvals += n;
          for (int k = 0; k < ok_nstates[kind]; k++) {
            snprintf(what, sizeof what, "%s n=%lld clip %g clip_weights %g: state %d",
                     ok_names[kind], (long long)n, (double)clips[ci], (double)cws[wi], k);
            worst = fmax(worst, expect_close(what, gs[k], s[k], n, 1e-6, 1e-6));
            ndiff += count_not_identical(gs[k], s[k], n);
            nvals += n;
          }
        }
    mt_ndarray_free(gw);
    mt_ndarray_free(gg);
    for (int k = 0; k < 3; k++) {
      mt_ndarray_free(gs[k]);
      free(s[k]);
    }
    free(w);
    free(g);
  }
  /* nothing to do: no launch, no pointer touched */
  float *none[3] = {NULL, NULL, NULL};
  for (int kind = 0; kind < OK_NKINDS; kind++)
    MT_ASSERT_OK(ok_step(1, kind, NULL, NULL, none, 0, -1.0f, -1.0f));
  /* a bad device id is refused before any launch */
  assert_int_equal(mtk_cuda_adam_update(-1, NULL, NULL, NULL, NULL, 1, 0.1f, 0.0f, 0.9f, 0.999f,
                                        1e-8f, 1.0f, -1.0f),
                   MT_E_INVAL);
  print_message(
      "  optimizer kernels: worst relative error %.2e; %lld of %lld values not "
      "bit-identical to the CPU\n",
      worst, (long long)ndiff, (long long)nvals);
}

/* mt_optimizer_update of every optimizer kind on gpu(0) parameters equals
 * the same optimizer on cpu(0) after five steps: weights, every state
 * (read through mt_optimizer_state, which must be on gpu(0)) and the update
 * counts. Two parameters, "fc_weight" (37 x 29; wd_mult 1) and "fc_bias"
 * (37; wd_mult 0 by name, lr_mult 2), the bias skipping step 2 so that the
 * two indices' counts (Adam's bias correction) differ; rescale_grad 1/8.
 * Also: a state made for a CPU weight is refused for a gpu(0) weight. */
static void test_optimizer_update_on_gpu(void **state) {
  static const char *const cases[][2] = {
      {"sgd", "learning_rate=0.1 momentum=0.9 wd=0.001 clip_gradient=0.3"},
      {"sgd", "learning_rate=0.1 wd=0.001"},
      {"sgd", "learning_rate=0.1 momentum=-0.5 wd=0.001"}, /* a state, passed to no kernel */
      {"nag", "learning_rate=0.1 momentum=0.9 wd=0.001 clip_gradient=0.3"},
      {"nag", "learning_rate=0.1 momentum=0.9"},
      {"nag", "learning_rate=0.1 wd=0.001"},
      {"adam", "learning_rate=0.01 wd=0.001 clip_gradient=0.3"},
      {"adam", "learning_rate=0.01 beta1=0.8 beta2=0.99 epsilon=1e-6"},
      {"rmsprop", "learning_rate=0.01 wd=0.001 clip_gradient=0.3 clip_weights=0.5"},
      {"rmsprop", "learning_rate=0.01 gamma1=0.8"},
      {"rmsprop", "learning_rate=0.01 centered=true wd=0.001 clip_weights=0.5"},
      {"rmsprop", "learning_rate=0.01 centered=true gamma1=0.9 gamma2=0.8 clip_gradient=0.3"},
      {"adagrad", "learning_rate=0.1 wd=0.001 clip_gradient=0.3"},
      {"adagrad", "learning_rate=0.1 eps=1e-6 clip_gradient=0"},
  };
  const char *const names[2] = {"fc_weight", "fc_bias"};
  const mt_shape shapes[2] = {MT_SHAPE(37, 29), MT_SHAPE(37)};
  double worst = 0;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char params[256];
    snprintf(params, sizeof params, "%s rescale_grad=0.125", cases[c][1]);
    mt_optimizer *co, *go;
    MT_ASSERT_OK(mt_optimizer_create(cases[c][0], params, &co));
    MT_ASSERT_OK(mt_optimizer_create(cases[c][0], params, &go));
    MT_ASSERT_OK(mt_optimizer_set_lr_mult(co, "fc_bias", 2.0));
    MT_ASSERT_OK(mt_optimizer_set_lr_mult(go, "fc_bias", 2.0));
    mt_ndarray *cw[2], *cg[2], *gw[2], *gg[2];
    for (int i = 0; i < 2; i++) {
      MT_ASSERT_OK(mt_ndarray_create(shapes[i], mt_cpu(0), &cw[i]));
      MT_ASSERT_OK(mt_ndarray_create(shapes[i], mt_cpu(0), &cg[i]));
      tu_fill_uniform(cw[i]->data, cw[i]->size, -1.0f, 1.0f, 20 + (uint64_t)i);
      gw[i] = gpu_like(cw[i]);
      MT_ASSERT_OK(mt_ndarray_create(shapes[i], mt_gpu(0), &gg[i]));
    }
    for (int step = 0; step < 5; step++)
      for (int i = 0; i < 2; i++) {
        if (i == 1 && step == 2) continue;
        tu_fill_uniform(cg[i]->data, cg[i]->size, -2.0f, 2.0f, 100 + 10 * (uint64_t)step + i);
        MT_ASSERT_OK(mt_ndarray_copy(gg[i], cg[i]));
        MT_ASSERT_OK(mt_optimizer_update(co, i, names[i], cw[i], cg[i]));
        MT_ASSERT_OK(mt_optimizer_update(go, i, names[i], gw[i], gg[i]));
      }
    char what[200];
    for (int i = 0; i < 2; i++) {
      snprintf(what, sizeof what, "%s (%s): %s", cases[c][0], cases[c][1], names[i]);
      worst = fmax(worst, expect_close(what, gw[i], cw[i]->data, cw[i]->size, 1e-6, 1e-6));
      int64_t ccount, gcount;
      MT_ASSERT_OK(mt_optimizer_get_update_count(co, i, &ccount));
      MT_ASSERT_OK(mt_optimizer_get_update_count(go, i, &gcount));
      assert_int_equal(gcount, ccount);
      int ns = mt_optimizer_num_states(go, i);
      assert_int_equal(ns, mt_optimizer_num_states(co, i));
      for (int k = 0; k < ns; k++) {
        const char *cname, *gname;
        mt_ndarray *cs, *gs;
        MT_ASSERT_OK(mt_optimizer_state(co, i, k, &cname, &cs));
        MT_ASSERT_OK(mt_optimizer_state(go, i, k, &gname, &gs));
        assert_string_equal(gname, cname);
        assert_int_equal(gs->ctx.type, MT_GPU);
        assert_int_equal(gs->ctx.id, 0);
        snprintf(what, sizeof what, "%s (%s): %s state '%s'", cases[c][0], cases[c][1], names[i],
                 cname);
        worst = fmax(worst, expect_close(what, gs, cs->data, cs->size, 1e-6, 1e-6));
      }
    }
    for (int i = 0; i < 2; i++) {
      mt_ndarray_free(cw[i]);
      mt_ndarray_free(cg[i]);
      mt_ndarray_free(gw[i]);
      mt_ndarray_free(gg[i]);
    }
    mt_optimizer_free(co);
    mt_optimizer_free(go);
  }
  /* a state made on the host cannot serve a gpu(0) weight: refused, untouched */
  mt_optimizer *o;
  mt_ndarray *hw, *gw, *gg;
  MT_ASSERT_OK(mt_optimizer_create("adam", "", &o));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(10), mt_cpu(0), &hw));
  MT_ASSERT_OK(mt_optimizer_create_state(o, 0, "x_weight", hw));
  tu_fill_uniform(hw->data, hw->size, -1.0f, 1.0f, 7);
  gw = gpu_like(hw);
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(10), mt_gpu(0), &gg));
  assert_int_equal(mt_optimizer_update(o, 0, "x_weight", gw, gg), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "state"));
  int64_t count;
  MT_ASSERT_OK(mt_optimizer_get_update_count(o, 0, &count));
  assert_int_equal(count, 0);
  expect_identical("weight after the refused update", gw, hw->data, hw->size);
  mt_ndarray_free(hw);
  mt_ndarray_free(gw);
  mt_ndarray_free(gg);
  mt_optimizer_free(o);
  print_message(
      "  mt_optimizer_update on gpu(0), %d optimizer settings: worst relative error "
      "%.2e\n",
      (int)(sizeof cases / sizeof cases[0]), worst);
}

static void test_all_finite(void **state) {
  const int64_t n = 300000;
  mt_ndarray *a;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_gpu(0), &a));
  MT_ASSERT_OK(mt_ndarray_fill(a, 1.5f));
  int ok = -1;
  MT_ASSERT_OK(mtk_cuda_all_finite(0, a->data, n, &ok));
  assert_int_equal(ok, 1);
  const float bad[] = {NAN, INFINITY, -INFINITY};
  const int64_t where[] = {0, 123457, n - 1};
  for (int k = 0; k < 3; k++) {
    MT_ASSERT_OK(mt_ndarray_fill(a, 1.5f));
    MT_ASSERT_OK(mtk_cuda_copy(0, a->data + where[k], -1, &bad[k], sizeof(float)));
    MT_ASSERT_OK(mtk_cuda_all_finite(0, a->data, n, &ok));
    assert_int_equal(ok, 0);
  }
  MT_ASSERT_OK(mtk_cuda_all_finite(0, a->data, 0, &ok)); /* empty: finite */
  assert_int_equal(ok, 1);
  mt_ndarray_free(a);
}

/* ------------------------------------------------------- executor level */

static mt_symbol *op1(const char *op, const char *name, const char *attrs, mt_symbol *in) {
  mt_symbol *s;
  MT_ASSERT_OK(mt_symbol_create(op, name, attrs, 1, &in, &s));
  return s;
}

/* data (16, 3, 4, 4) -> Flatten -> fc1 32 -> BatchNorm -> LeakyReLU elu ->
 * Dropout 0.25 -> {fc2, fc3} 10; sum = fc2 + fc3; act = sigmoid(fc2);
 * cat = Concat(sum, act) (16, 20) -> fc4 10; es = ElementWiseSum(fc4, sum);
 * heads: SoftmaxOutput(es) and LinearRegressionOutput(fc3). */
static mt_symbol *every_op_net(void) {
  mt_symbol *data, *fl, *fc1, *bn, *lr, *dr, *fc2, *fc3, *sum, *act, *cat, *fc4, *es, *sm, *lro,
      *net;
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  fl = op1("Flatten", "flat", NULL, data);
  fc1 = op1("FullyConnected", "fc1", "num_hidden=32", fl);
  bn = op1("BatchNorm", "bn1", "fix_gamma=false", fc1);
  lr = op1("LeakyReLU", "elu1", "act_type=elu slope=0.5", bn);
  dr = op1("Dropout", "drop1", "p=0.25", lr);
  fc2 = op1("FullyConnected", "fc2", "num_hidden=10", dr);
  fc3 = op1("FullyConnected", "fc3", "num_hidden=10", dr);
  mt_symbol *pair[2] = {fc2, fc3};
  MT_ASSERT_OK(mt_symbol_create("elemwise_add", "sum", NULL, 2, pair, &sum));
  act = op1("Activation", "sig", "act_type=sigmoid", fc2);
  mt_symbol *two[2] = {sum, act};
  MT_ASSERT_OK(mt_symbol_create("Concat", "cat", "num_args=2 dim=1", 2, two, &cat));
  fc4 = op1("FullyConnected", "fc4", "num_hidden=10", cat);
  mt_symbol *add[2] = {fc4, sum};
  MT_ASSERT_OK(mt_symbol_create("ElementWiseSum", "es", "num_args=2", 2, add, &es));
  sm = op1("SoftmaxOutput", "softmax", NULL, es);
  lro = op1("LinearRegressionOutput", "lro", NULL, fc3);
  mt_symbol *heads[2] = {sm, lro};
  MT_ASSERT_OK(mt_symbol_group(2, heads, &net));
  mt_symbol *all[] = {data, fl, fc1, bn, lr, dr, fc2, fc3, sum, act, cat, fc4, es, sm, lro};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) mt_symbol_free(all[i]);
  return net;
}

typedef struct {
  mt_executor *ex;
  int nargs, naux, nout;
  const char *const *args, *const *aux;
} bound;

static void bind_on(mt_symbol *net, mt_context ctx, int nknown, const char *const *names,
                    const mt_shape *shapes, bound *b) {
  MT_ASSERT_OK(mt_executor_simple_bind(net, ctx, MT_REQ_WRITE, nknown, names, shapes, 0, &b->ex));
  MT_ASSERT_OK(mt_symbol_list_arguments(net, &b->nargs, &b->args));
  MT_ASSERT_OK(mt_symbol_list_auxiliary_states(net, &b->naux, &b->aux));
  b->nout = mt_executor_num_outputs(b->ex);
}

/* Fills the CPU executor's arguments (labels: classes in [0, classes) for
 * names ending in "softmax_label", U(0, 1) targets for other labels) and aux
 * states (U(0.5, 1.5)), and copies all of them to the GPU executor. */
static void same_inputs(bound *c, bound *g, int classes) {
  for (int i = 0; i < c->nargs; i++) {
    mt_ndarray *a = mt_executor_arg(c->ex, c->args[i]);
    int is_label = strstr(c->args[i], "label") != NULL;
    if (is_label && strstr(c->args[i], "softmax"))
      for (int64_t j = 0; j < a->size; j++) a->data[j] = (float)((j * 7 + 3) % classes);
    else if (is_label) tu_fill_uniform(a->data, a->size, 0.0f, 1.0f, 40 + (uint64_t)i);
    else if (!strcmp(c->args[i], "data")) tu_fill_uniform(a->data, a->size, -1.0f, 1.0f, 41);
    else tu_fill_uniform(a->data, a->size, -0.3f, 0.3f, 50 + (uint64_t)i);
    MT_ASSERT_OK(mt_ndarray_copy(mt_executor_arg(g->ex, c->args[i]), a));
  }
  for (int i = 0; i < c->naux; i++) {
    mt_ndarray *a = mt_executor_aux(c->ex, c->aux[i]);
    tu_fill_uniform(a->data, a->size, 0.5f, 1.5f, 60 + (uint64_t)i);
    MT_ASSERT_OK(mt_ndarray_copy(mt_executor_aux(g->ex, c->aux[i]), a));
  }
}

static void run_both(bound *c, bound *g) {
  mt_executor_set_rng(c->ex, 5, 2, 0);
  mt_executor_set_rng(g->ex, 5, 2, 0);
  MT_ASSERT_OK(mt_executor_forward(c->ex, 1));
  MT_ASSERT_OK(mt_executor_backward(c->ex, 0, NULL));
  MT_ASSERT_OK(mt_executor_forward(g->ex, 1));
  MT_ASSERT_OK(mt_executor_backward(g->ex, 0, NULL));
  MT_ASSERT_OK(mtk_cuda_sync(0));
}

/* Snapshot of every output, gradient and aux state of the GPU executor. */
static float **gpu_state(bound *g, int *count) {
  float **s = calloc((size_t)(g->nout + g->nargs + g->naux), sizeof *s);
  int k = 0;
  for (int o = 0; o < g->nout; o++) s[k++] = host_copy(mt_executor_output(g->ex, o));
  for (int i = 0; i < g->nargs; i++) {
    mt_ndarray *gr = mt_executor_grad(g->ex, g->args[i]);
    s[k++] = gr ? host_copy(gr) : NULL;
  }
  for (int i = 0; i < g->naux; i++) s[k++] = host_copy(mt_executor_aux(g->ex, g->aux[i]));
  *count = k;
  return s;
}

static void compare_executors(const char *net_name, bound *c, bound *g, double floor) {
  char what[160];
  double worst = 0;
  for (int o = 0; o < c->nout; o++) {
    mt_ndarray *co = mt_executor_output(c->ex, o);
    snprintf(what, sizeof what, "%s: output %d", net_name, o);
    worst = fmax(worst,
                 expect_close(what, mt_executor_output(g->ex, o), co->data, co->size, RD, floor));
  }
  int ngrads = 0;
  for (int i = 0; i < c->nargs; i++) {
    mt_ndarray *cg = mt_executor_grad(c->ex, c->args[i]), *gg = mt_executor_grad(g->ex, c->args[i]);
    assert_true((cg == NULL) == (gg == NULL));
    if (!cg) continue;
    ngrads++;
    snprintf(what, sizeof what, "%s: gradient of %s", net_name, c->args[i]);
    worst = fmax(worst, expect_close(what, gg, cg->data, cg->size, RD, floor));
  }
  assert_true(ngrads > 0);
  for (int i = 0; i < c->naux; i++) {
    mt_ndarray *ca = mt_executor_aux(c->ex, c->aux[i]);
    snprintf(what, sizeof what, "%s: aux %s", net_name, c->aux[i]);
    worst = fmax(worst, expect_close(what, mt_executor_aux(g->ex, c->aux[i]), ca->data, ca->size,
                                     RD, floor));
  }
  print_message("  %s: %d outputs, %d gradients, %d aux states; worst error %.2e\n", net_name,
                c->nout, ngrads, c->naux, worst);
}

/* Runs the GPU executor again from the same arguments and aux states and
 * expects every output, gradient and aux state to repeat bit for bit. */
static void expect_repeatable(const char *net_name, bound *g) {
  int n1, n2;
  float **first = gpu_state(g, &n1);
  /* forward updated the moving stats: restore their initial values (as same_inputs drew them) */
  for (int i = 0; i < g->naux; i++) {
    mt_ndarray *a = mt_executor_aux(g->ex, g->aux[i]);
    float *init = host_copy(a);
    tu_fill_uniform(init, a->size, 0.5f, 1.5f, 60 + (uint64_t)i);
    MT_ASSERT_OK(mt_ndarray_copy_from(a, init, a->size));
    free(init);
  }
  mt_executor_set_rng(g->ex, 5, 2, 0);
  MT_ASSERT_OK(mt_executor_forward(g->ex, 1));
  MT_ASSERT_OK(mt_executor_backward(g->ex, 0, NULL));
  MT_ASSERT_OK(mtk_cuda_sync(0));
  float **second = gpu_state(g, &n2);
  assert_int_equal(n1, n2);
  int k = 0;
  char what[160];
  for (int o = 0; o < g->nout; o++, k++) {
    mt_ndarray *a = mt_executor_output(g->ex, o);
    if (memcmp(first[k], second[k], sizeof(float) * (size_t)a->size))
      fail_msg("%s: output %d differs between two GPU runs", net_name, o);
  }
  for (int i = 0; i < g->nargs; i++, k++) {
    mt_ndarray *gr = mt_executor_grad(g->ex, g->args[i]);
    if (!gr) continue;
    snprintf(what, sizeof what, "%s: gradient of %s differs between two GPU runs", net_name,
             g->args[i]);
    if (memcmp(first[k], second[k], sizeof(float) * (size_t)gr->size)) fail_msg("%s", what);
  }
  /* aux after the second forward: moving stats restored first, so they repeat too */
  for (int i = 0; i < g->naux; i++, k++) {
    mt_ndarray *a = mt_executor_aux(g->ex, g->aux[i]);
    if (memcmp(first[k], second[k], sizeof(float) * (size_t)a->size))
      fail_msg("%s: aux %s differs between two GPU runs", net_name, g->aux[i]);
  }
  for (int i = 0; i < n1; i++) {
    free(first[i]);
    free(second[i]);
  }
  free(first);
  free(second);
}

/* Fails unless |a - b| <= 1e-6 * max(|b|, 1e-3) everywhere (host values);
 * counts the values that are not bit-identical. */
static void worst_close_host(const char *what, const float *a, const float *b, int64_t n,
                             int64_t *ndiff, int64_t *nvals) {
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]) / fmax(fabs((double)b[i]), 1e-3);
    if (!(d <= 1e-6)) fail_msg("%s: element %lld: %.9g vs %.9g", what, (long long)i, a[i], b[i]);
    *ndiff += memcmp(&a[i], &b[i], sizeof(float)) != 0;
  }
  *nvals += n;
}

static void test_executor_tutorial_mlp(void **state) {
  mt_symbol *net = tu_mlp(64, "relu", 10);
  const char *names[] = {"data", "softmax_label"};
  const mt_shape shapes[] = {S(32, 128), S(32)};
  bound c, g;
  bind_on(net, mt_cpu(0), 2, names, shapes, &c);
  bind_on(net, mt_gpu(0), 2, names, shapes, &g);
  same_inputs(&c, &g, 10);
  run_both(&c, &g);
  compare_executors("tutorial MLP", &c, &g, 0.1);
  expect_repeatable("tutorial MLP", &g);
  mt_executor_free(c.ex);
  mt_executor_free(g.ex);
  mt_symbol_free(net);
}

static void test_executor_every_op(void **state) {
  mt_symbol *net = every_op_net();
  const char *names[] = {"data", "softmax_label", "lro_label"};
  const mt_shape shapes[] = {S(16, 3, 4, 4), S(16), S(16, 10)};
  bound c, g;
  bind_on(net, mt_cpu(0), 3, names, shapes, &c);
  bind_on(net, mt_gpu(0), 3, names, shapes, &g);
  same_inputs(&c, &g, 10);
  run_both(&c, &g);
  compare_executors("every-op net", &c, &g, 0.1);
  expect_repeatable("every-op net", &g);
  mt_executor_free(c.ex);
  mt_executor_free(g.ex);
  mt_symbol_free(net);
}

/* FullyConnected's bias with the Activation after it (kernels/cpu/fused.h):
 * the CUDA kernels against the CPU's fused kernels, for relu, sigmoid, tanh
 * and softrelu, with and without bias, the bias gradient written and
 * accumulated, on sizes below and above one grid pass. */
static void test_fused_bias_activation_kernels(void **state) {
  const int64_t shapes[][2] = {{1, 1}, {7, 13}, {256, 1024}, {3000, 10}};
  static const char *const acts[] = {"relu", "sigmoid", "tanh", "softrelu"};
  double worst = 0;
  for (int act = 0; act < 4; act++)
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
      for (int variant = 0; variant < 4; variant++) {
        int with_bias = variant & 1, acc = variant >> 1;
        int64_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
        mt_ndarray *y, *b, *dy, *g, *db;
        MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(rows, cols), mt_cpu(0), &y));
        MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(cols), mt_cpu(0), &b));
        MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(rows, cols), mt_cpu(0), &dy));
        MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(rows, cols), mt_cpu(0), &g));
        MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(cols), mt_cpu(0), &db));
        tu_fill_uniform(y->data, n, -4.0f, 4.0f, 1 + (uint64_t)s);
        tu_fill_uniform(b->data, cols, -1.0f, 1.0f, 2);
        tu_fill_uniform(dy->data, n, -1.0f, 1.0f, 3);
        tu_fill_uniform(db->data, cols, -1.0f, 1.0f, 4);
        mt_ndarray *gy = gpu_like(y), *gb = gpu_like(b), *gdy = gpu_like(dy), *gg = gpu_like(g),
                   *gdb = gpu_like(db);
        mtk_bias_act_forward((mtk_act_type)act, y->data, with_bias ? b->data : NULL, rows, cols);
        MT_ASSERT_OK(
            mtk_cuda_bias_act_forward(0, act, gy->data, with_bias ? gb->data : NULL, rows, cols));
        char what[128];
        snprintf(what, sizeof what, "fused %s %lldx%lld bias %d: forward", acts[act],
                 (long long)rows, (long long)cols, with_bias);
        worst = fmax(worst, expect_close(what, gy, y->data, n, EW, 1e-3));
        /* backward from the same (CPU) forward output on both sides */
        MT_ASSERT_OK(mt_ndarray_copy(gy, y));
        mtk_act_bias_backward((mtk_act_type)act, dy->data, y->data, g->data, db->data,
                              acc ? 1.0f : 0.0f, rows, cols);
        MT_ASSERT_OK(mtk_cuda_act_bias_backward(0, act, gdy->data, gy->data, gg->data, gdb->data,
                                                acc ? 1.0f : 0.0f, rows, cols));
        snprintf(what, sizeof what, "fused %s %lldx%lld acc %d: gradient", acts[act],
                 (long long)rows, (long long)cols, acc);
        worst = fmax(worst, expect_close(what, gg, g->data, n, EW, 1e-3));
        snprintf(what, sizeof what, "fused %s %lldx%lld acc %d: bias gradient", acts[act],
                 (long long)rows, (long long)cols, acc);
        worst = fmax(worst, expect_close(what, gdb, db->data, cols, RD, 1.0));
        /* without a bias gradient: the elementwise kernel */
        MT_ASSERT_OK(mtk_cuda_act_bias_backward(0, act, gdy->data, gy->data, gg->data, NULL, 0.0f,
                                                rows, cols));
        worst = fmax(worst, expect_close("fused gradient without db", gg, g->data, n, EW, 1e-3));
        mt_ndarray *all[] = {y, b, dy, g, db, gy, gb, gdy, gg, gdb};
        for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) mt_ndarray_free(all[k]);
      }
  /* softsign is never fused: refused */
  assert_int_equal(mtk_cuda_bias_act_forward(0, 4, NULL, NULL, 1, 1), MT_E_INVAL);
  print_message("  fused bias + activation kernels: worst relative error %.2e\n", worst);
}

/* The tutorial MLP on gpu(0), fused (fc1 + relu1) and with MODTRAIN_FUSE=0:
 * outputs and gradients agree to 1e-6 (the kernels use the same formulas,
 * so they are expected to be the same bits; the count of values that are
 * not is printed), and the fused one matches the CPU. */
static void test_executor_fused_on_gpu(void **state) {
  mt_symbol *net = tu_mlp(64, "tanh", 10);
  const char *names[] = {"data", "softmax_label"};
  const mt_shape shapes[] = {S(32, 128), S(32)};
  bound c, g, u;
  bind_on(net, mt_cpu(0), 2, names, shapes, &c);
  bind_on(net, mt_gpu(0), 2, names, shapes, &g);
  setenv("MODTRAIN_FUSE", "0", 1);
  bind_on(net, mt_gpu(0), 2, names, shapes, &u);
  unsetenv("MODTRAIN_FUSE");
  assert_int_equal(mt_executor_num_fused(g.ex), 1);
  assert_int_equal(mt_executor_num_fused(u.ex), 0);
  same_inputs(&c, &g, 10);
  same_inputs(&c, &u, 10);
  run_both(&c, &g);
  mt_executor_set_rng(u.ex, 5, 2, 0);
  MT_ASSERT_OK(mt_executor_forward(u.ex, 1));
  MT_ASSERT_OK(mt_executor_backward(u.ex, 0, NULL));
  compare_executors("tutorial MLP (tanh), fused on gpu(0)", &c, &g, 0.1);
  int n1, n2;
  float **fu = gpu_state(&g, &n1), **un = gpu_state(&u, &n2);
  assert_int_equal(n1, n2);
  int64_t ndiff = 0, nvals = 0;
  int k = 0;
  for (int o = 0; o < g.nout; o++, k++) {
    mt_ndarray *a = mt_executor_output(u.ex, o);
    worst_close_host("fused vs unfused output", fu[k], un[k], a->size, &ndiff, &nvals);
  }
  for (int i = 0; i < g.nargs; i++, k++) {
    mt_ndarray *gr = mt_executor_grad(u.ex, g.args[i]);
    if (gr) worst_close_host(g.args[i], fu[k], un[k], gr->size, &ndiff, &nvals);
  }
  print_message("  fused vs unfused on gpu(0): %lld of %lld values not bit-identical\n",
                (long long)ndiff, (long long)nvals);
  for (int i = 0; i < n1; i++) {
    free(fu[i]);
    free(un[i]);
  }
  free(fu);
  free(un);
  mt_executor_free(c.ex);
  mt_executor_free(g.ex);
  mt_executor_free(u.ex);
  mt_symbol_free(net);
}

#endif /* MT_HAVE_CUDA */

int main(void) {
#ifndef MT_HAVE_CUDA
  printf("SKIP: no CUDA device visible (test_gpu_ops needs a GPU; this build has no CUDA)\n");
  return 77;
#else
  int ndev = mtk_cuda_device_count();
  if (ndev == 0) {
    printf("SKIP: no CUDA device visible (test_gpu_ops needs a GPU)\n");
    return 77;
  }
  printf("test_gpu_ops: %d CUDA device(s) visible; testing gpu(0)\n", ndev);
  mt_blas_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fully_connected),
      cmocka_unit_test(test_activation),
      cmocka_unit_test(test_fused_bias_activation_kernels),
      cmocka_unit_test(test_executor_fused_on_gpu),
      cmocka_unit_test(test_leaky_relu),
      cmocka_unit_test(test_shape_and_sum_ops),
      cmocka_unit_test(test_softmax_output),
      cmocka_unit_test(test_softmax_output_bad_label),
      cmocka_unit_test(test_regression_outputs),
      cmocka_unit_test(test_dropout),
      cmocka_unit_test(test_dropout_mask_bits),
      cmocka_unit_test(test_batch_norm),
      cmocka_unit_test(test_sgd_kernels),
      cmocka_unit_test(test_optimizer_kernels),
      cmocka_unit_test(test_optimizer_update_on_gpu),
      cmocka_unit_test(test_all_finite),
      cmocka_unit_test(test_executor_tutorial_mlp),
      cmocka_unit_test(test_executor_every_op),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
