/* test_ops_norm.c — Dropout and BatchNorm: forward against plain reference
 * loops, backward against the closed form and central finite differences
 * (tu_gradcheck_run), Dropout's mask statistics and batch-split invariance,
 * BatchNorm's train/inference modes, moving statistics and fix_gamma, and
 * attribute/shape errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "testutil.h"

/* float forward vs double reference */
#define FWD_TOL 1e-5
/* finite differences on float inputs, eps 1e-3 */
#define GRAD_TOL 5e-3

static int parse_only(const char *opname, const char *attrs, const char *node) {
  const mt_op *op = mt_op_find(opname);
  assert_non_null(op);
  mt_attrs a;
  MT_ASSERT_OK(mt_attrs_parse(attrs, &a));
  void *p = calloc(1, op->param_size);
  int rc = op->parse(&a, node, p);
  mt_attrs_free(&a);
  free(p);
  return rc;
}

static int fwd(tu_op *t, const mt_op_ctx *c) {
  return mt_op_forward(t->op, t->param, c, t->in, t->out, t->aux);
}

/* ------------------------------------------------------------------ Dropout */

static mt_op_ctx drop_ctx(int is_train, uint64_t step, int64_t sample_offset) {
  mt_op_ctx c = {.ctx = mt_cpu(0),
                 .is_train = is_train,
                 .seed = 1234,
                 .node_key = 99,
                 .step = step,
                 .sample_offset = sample_offset};
  return c;
}

/* Fraction kept within 3 sigma of 1 - p; kept values are x / (1 - p). */
static void check_mask_stats(const char *attrs, double p) {
  enum { N = 100, D = 1000 };
  tu_op t;
  mt_shape s[1] = {MT_SHAPE(N, D)};
  MT_ASSERT_OK(tu_op_setup(&t, "Dropout", attrs, 1, s));
  assert_int_equal(t.nout, 2);
  assert_int_equal(mt_op_num_visible_outputs(t.op, t.param), 1);
  tu_fill_uniform(t.in[0]->data, N * D, 0.5f, 2.0f, 3);
  mt_op_ctx c = drop_ctx(1, 5, 0);
  MT_ASSERT_OK(fwd(&t, &c));
  int64_t kept = 0;
  float scale = (float)(1.0 / (1.0 - p));
  for (int64_t j = 0; j < N * D; j++) {
    float x = t.in[0]->data[j], y = t.out[0]->data[j], m = t.out[1]->data[j];
    if (y != 0.0f) {
      kept++;
      assert_true(fabsf(y - x * scale) <= 1e-6f * fabsf(x * scale));
      assert_true(m == scale);
    } else {
      assert_true(m == 0.0f);
    }
  }
  double frac = (double)kept / (N * D), sigma = sqrt(p * (1 - p) / (N * D));
  if (fabs(frac - (1 - p)) > 3 * sigma)
    fail_msg("Dropout %s: kept %.5f, expected %.5f +- %.5f", attrs, frac, 1 - p, 3 * sigma);
  tu_op_free(&t);
}

static void test_dropout_mask_stats(void **state) {
  (void)state;
  check_mask_stats("", 0.5);
  check_mask_stats("p=0.3", 0.3);
  check_mask_stats("p=0.9 mode=always", 0.9);
}

static void test_dropout_identity(void **state) {
  (void)state;
  const char *attrs[] = {"p=0.5", "p=0", "p=0 mode=always"};
  int train[] = {0, 1, 0};
  for (int k = 0; k < 3; k++) {
    tu_op t;
    mt_shape s[1] = {MT_SHAPE(7, 13)};
    MT_ASSERT_OK(tu_op_setup(&t, "Dropout", attrs[k], 1, s));
    tu_fill_uniform(t.in[0]->data, t.in[0]->size, -1.0f, 1.0f, 4);
    mt_op_ctx c = drop_ctx(train[k], 1, 0);
    MT_ASSERT_OK(fwd(&t, &c));
    assert_memory_equal(t.out[0]->data, t.in[0]->data, sizeof(float) * 7 * 13);
    /* backward is the identity too: write and add */
    mt_ndarray *og, *dx;
    MT_ASSERT_OK(mt_ndarray_create(s[0], mt_cpu(0), &og));
    MT_ASSERT_OK(mt_ndarray_create(s[0], mt_cpu(0), &dx));
    tu_fill_uniform(og->data, og->size, -1.0f, 1.0f, 5);
    mt_ndarray *ogs[2] = {og, NULL}, *ig[1] = {dx};
    mt_grad_req req[1] = {MT_REQ_WRITE};
    MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, ogs, t.in, t.out, req, ig, t.aux));
    assert_memory_equal(dx->data, og->data, sizeof(float) * 7 * 13);
    req[0] = MT_REQ_ADD;
    MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, ogs, t.in, t.out, req, ig, t.aux));
    for (int j = 0; j < 7 * 13; j++) assert_true(dx->data[j] == 2.0f * og->data[j]);
    mt_ndarray_free(og);
    mt_ndarray_free(dx);
    tu_op_free(&t);
  }
  /* mode=always drops at inference too */
  tu_op t;
  mt_shape s[1] = {MT_SHAPE(10, 100)};
  MT_ASSERT_OK(tu_op_setup(&t, "Dropout", "mode=always", 1, s));
  mtk_fill(t.in[0]->data, 1000, 1.0f);
  mt_op_ctx c = drop_ctx(0, 1, 0);
  MT_ASSERT_OK(fwd(&t, &c));
  int zeros = 0;
  for (int j = 0; j < 1000; j++) zeros += t.out[0]->data[j] == 0.0f;
  assert_true(zeros > 400 && zeros < 600);
  tu_op_free(&t);
}

/* Same (seed, step, sample) -> same mask, however the batch is split; the
 * mask is the documented Philox draw; other steps and nodes differ. */
static void test_dropout_split_invariance(void **state) {
  (void)state;
  enum { N = 8, H = 4, D = 3 * 5 };
  tu_op whole, half;
  mt_shape sw[1] = {MT_SHAPE(N, 3, 5)}, sh[1] = {MT_SHAPE(H, 3, 5)};
  MT_ASSERT_OK(tu_op_setup(&whole, "Dropout", "p=0.4", 1, sw));
  MT_ASSERT_OK(tu_op_setup(&half, "Dropout", "p=0.4", 1, sh));
  mtk_fill(whole.in[0]->data, N * D, 1.0f);
  mtk_fill(half.in[0]->data, H * D, 1.0f);
  /* the batch starts at global sample 16 */
  mt_op_ctx c = drop_ctx(1, 42, 16);
  MT_ASSERT_OK(fwd(&whole, &c));
  for (int part = 0; part < 2; part++) {
    mt_op_ctx ch = drop_ctx(1, 42, 16 + part * H);
    MT_ASSERT_OK(fwd(&half, &ch));
    assert_memory_equal(half.out[1]->data, whole.out[1]->data + part * H * D,
                        sizeof(float) * H * D);
  }
  /* reference draw: element i of sample r uses index (16 + r) * D + i */
  uint64_t key = mtk_philox_key(1234, 99);
  for (int r = 0; r < N; r++)
    for (int i = 0; i < D; i++) {
      float u = mtk_philox_uniform(key, 42, (uint64_t)(16 + r) * D + (uint64_t)i);
      float want = u >= 0.4f ? (float)(1.0 / 0.6) : 0.0f;
      assert_true(whole.out[1]->data[r * D + i] == want);
    }
  /* another step gives another mask */
  float first[N * D];
  memcpy(first, whole.out[1]->data, sizeof first);
  c.step = 43;
  MT_ASSERT_OK(fwd(&whole, &c));
  assert_true(memcmp(first, whole.out[1]->data, sizeof first) != 0);
  /* another node too */
  c.step = 42;
  c.node_key = 100;
  MT_ASSERT_OK(fwd(&whole, &c));
  assert_true(memcmp(first, whole.out[1]->data, sizeof first) != 0);
  tu_op_free(&whole);
  tu_op_free(&half);
}

static void test_dropout_backward(void **state) {
  (void)state;
  tu_op t;
  mt_shape s[1] = {MT_SHAPE(6, 20)};
  MT_ASSERT_OK(tu_op_setup(&t, "Dropout", "p=0.25", 1, s));
  tu_fill_uniform(t.in[0]->data, 120, -1.0f, 1.0f, 6);
  mt_op_ctx c = drop_ctx(1, 2, 0);
  MT_ASSERT_OK(fwd(&t, &c));
  mt_ndarray *og, *dx;
  MT_ASSERT_OK(mt_ndarray_create(s[0], mt_cpu(0), &og));
  MT_ASSERT_OK(mt_ndarray_create(s[0], mt_cpu(0), &dx));
  tu_fill_uniform(og->data, 120, -1.0f, 1.0f, 7);
  mt_ndarray *ogs[2] = {og, NULL}, *ig[1] = {dx};
  mt_grad_req req[1] = {MT_REQ_WRITE};
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, ogs, t.in, t.out, req, ig, t.aux));
  for (int j = 0; j < 120; j++) assert_true(dx->data[j] == og->data[j] * t.out[1]->data[j]);
  req[0] = MT_REQ_ADD;
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, ogs, t.in, t.out, req, ig, t.aux));
  for (int j = 0; j < 120; j++)
    assert_true(fabsf(dx->data[j] - 2.0f * og->data[j] * t.out[1]->data[j]) < 1e-6f);
  req[0] = MT_REQ_NULL;
  mt_ndarray *none[1] = {NULL};
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, ogs, t.in, t.out, req, none, t.aux));
  mt_ndarray_free(og);
  mt_ndarray_free(dx);
  tu_op_free(&t);

  /* finite differences (the mask is fixed for a given ctx) */
  tu_gradcheck g = {
      .op = "Dropout", .attrs = "p=0.3", .nargs = 1, .shapes = {MT_SHAPE(5, 8)}, .is_train = 1};
  double err = tu_gradcheck_run(&g);
  print_message("  Dropout p=0.3: max gradcheck error %.2e\n", err);
  if (!(err < GRAD_TOL)) fail_msg("Dropout gradcheck error %g", err);
}

static void test_dropout_attrs(void **state) {
  (void)state;
  assert_int_equal(parse_only("Dropout", "p=1.5", "drop1"), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "p='1.5'"));
  assert_non_null(strstr(mt_last_error(), "'drop1'"));
  assert_int_equal(parse_only("Dropout", "p=-0.1", "drop1"), MT_E_INVAL);
  assert_int_equal(parse_only("Dropout", "mode=sometimes", "drop1"), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "mode"));
  assert_int_equal(parse_only("Dropout", "axes=(1,)", "drop1"), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "axes"));
  assert_int_equal(parse_only("Dropout", "ratio=0.5", "drop1"), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "ratio"));
  MT_ASSERT_OK(parse_only("Dropout", "p=0.2 mode=always axes=() cudnn_off=true", "drop1"));
  MT_ASSERT_OK(parse_only("Dropout", "axes=[]", "drop1"));
}

/* ---------------------------------------------------------------- BatchNorm */

/* Reference: per-channel mean and biased variance of x[outer, C, inner]. */
static void ref_stats(const float *x, int64_t outer, int64_t C, int64_t inner, double *mean,
                      double *var) {
  for (int64_t c = 0; c < C; c++) {
    double s = 0, v = 0, m = (double)(outer * inner);
    for (int64_t o = 0; o < outer; o++)
      for (int64_t i = 0; i < inner; i++) s += x[(o * C + c) * inner + i];
    mean[c] = s / m;
    for (int64_t o = 0; o < outer; o++)
      for (int64_t i = 0; i < inner; i++) {
        double d = x[(o * C + c) * inner + i] - mean[c];
        v += d * d;
      }
    var[c] = v / m;
  }
}

/* Reference normalisation with given stats; gamma NULL = 1. Returns max |y - ref|. */
static double ref_bn_diff(const float *y, const float *x, const double *mean, const double *var,
                          const float *gamma, const float *beta, double eps, int64_t outer,
                          int64_t C, int64_t inner) {
  double worst = 0;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t i = 0; i < inner; i++) {
        int64_t j = (o * C + c) * inner + i;
        double g = gamma ? gamma[c] : 1.0;
        double want = g * (x[j] - mean[c]) / sqrt(var[c] + eps) + beta[c];
        worst = fmax(worst, fabs(y[j] - want));
      }
  return worst;
}

static mt_op_ctx bn_ctx(int is_train) {
  mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = is_train};
  return c;
}

/* Training forward, hidden outputs and the moving-average update, for a
 * layout given by (attrs, shape) viewed as [outer, C, inner]. */
static void check_bn_train(const char *attrs, mt_shape shape, int64_t outer, int64_t C,
                           int64_t inner, double eps, double momentum, int fix_gamma) {
  tu_op t;
  mt_shape s[3] = {shape, {0}, {0}};
  MT_ASSERT_OK(tu_op_setup(&t, "BatchNorm", attrs, 3, s));
  assert_int_equal(t.nout, 3);
  assert_int_equal(t.naux, 2);
  mt_shape cs = MT_SHAPE(C);
  assert_true(mt_shape_equal(&t.in[1]->shape, &cs));
  assert_true(mt_shape_equal(&t.aux[1]->shape, &cs));
  assert_true(mt_shape_equal(&t.out[2]->shape, &cs));
  int64_t n = t.in[0]->size;
  /* channels get different offsets and spreads */
  tu_fill_uniform(t.in[0]->data, n, -1.0f, 1.0f, 11);
  for (int64_t j = 0; j < n; j++)
    t.in[0]->data[j] = t.in[0]->data[j] * (1 + (j / inner) % C) + 3.0f;
  tu_fill_uniform(t.in[1]->data, C, 0.5f, 2.0f, 12);
  tu_fill_uniform(t.in[2]->data, C, -1.0f, 1.0f, 13);
  tu_fill_uniform(t.aux[0]->data, C, -1.0f, 1.0f, 14);
  tu_fill_uniform(t.aux[1]->data, C, 0.5f, 1.5f, 15);
  float m0[16], v0[16];
  memcpy(m0, t.aux[0]->data, sizeof(float) * (size_t)C);
  memcpy(v0, t.aux[1]->data, sizeof(float) * (size_t)C);
  mt_op_ctx c = bn_ctx(1);
  MT_ASSERT_OK(fwd(&t, &c));
  double mean[16], var[16];
  ref_stats(t.in[0]->data, outer, C, inner, mean, var);
  double d = ref_bn_diff(t.out[0]->data, t.in[0]->data, mean, var, fix_gamma ? NULL : t.in[1]->data,
                         t.in[2]->data, eps, outer, C, inner);
  if (!(d < FWD_TOL)) fail_msg("BatchNorm %s: train output differs by %g", attrs, d);
  for (int64_t k = 0; k < C; k++) {
    /* hidden outputs: mean and 1/sqrt(var + eps) */
    assert_true(fabs(t.out[1]->data[k] - mean[k]) < 1e-5);
    assert_true(fabs(t.out[2]->data[k] - 1.0 / sqrt(var[k] + eps)) < 1e-5 / sqrt(var[k] + eps));
    /* moving = moving * momentum + batch * (1 - momentum), biased variance */
    double wm = m0[k] * momentum + mean[k] * (1 - momentum);
    double wv = v0[k] * momentum + var[k] * (1 - momentum);
    assert_true(fabs(t.aux[0]->data[k] - wm) < 1e-5 * fmax(1, fabs(wm)));
    assert_true(fabs(t.aux[1]->data[k] - wv) < 1e-5 * fmax(1, fabs(wv)));
  }
  tu_op_free(&t);
}

static void test_bn_train_forward(void **state) {
  (void)state;
  check_bn_train("", MT_SHAPE(4, 3, 2, 5), 4, 3, 10, 1e-3, 0.9, 1);
  check_bn_train("fix_gamma=false eps=1e-5 momentum=0.7", MT_SHAPE(6, 5), 6, 5, 1, 1e-5, 0.7, 0);
  check_bn_train("fix_gamma=0 axis=-1", MT_SHAPE(2, 3, 4), 6, 4, 1, 1e-3, 0.9, 0);
  check_bn_train("fix_gamma=0 axis=2", MT_SHAPE(2, 3, 4, 2), 6, 4, 2, 1e-3, 0.9, 0);
}

/* Inference (and use_global_stats in training) uses the moving statistics
 * and leaves them alone; training on the same data gives other outputs. */
static void test_bn_inference(void **state) {
  (void)state;
  enum { N = 5, C = 3, I = 4 };
  const char *attrs[] = {"fix_gamma=false", "fix_gamma=false use_global_stats=true"};
  int train[] = {0, 1};
  for (int k = 0; k < 2; k++) {
    tu_op t;
    mt_shape s[3] = {MT_SHAPE(N, C, I), {0}, {0}};
    MT_ASSERT_OK(tu_op_setup(&t, "BatchNorm", attrs[k], 3, s));
    tu_fill_uniform(t.in[0]->data, N * C * I, -2.0f, 3.0f, 21);
    tu_fill_uniform(t.in[1]->data, C, 0.5f, 2.0f, 22);
    tu_fill_uniform(t.in[2]->data, C, -1.0f, 1.0f, 23);
    tu_fill_uniform(t.aux[0]->data, C, -1.0f, 1.0f, 24);
    tu_fill_uniform(t.aux[1]->data, C, 0.5f, 1.5f, 25);
    float m0[C], v0[C];
    memcpy(m0, t.aux[0]->data, sizeof m0);
    memcpy(v0, t.aux[1]->data, sizeof v0);
    mt_op_ctx c = bn_ctx(train[k]);
    MT_ASSERT_OK(fwd(&t, &c));
    double mean[C], var[C];
    for (int j = 0; j < C; j++) {
      mean[j] = m0[j];
      var[j] = v0[j];
    }
    double d = ref_bn_diff(t.out[0]->data, t.in[0]->data, mean, var, t.in[1]->data, t.in[2]->data,
                           1e-3, N, C, I);
    if (!(d < FWD_TOL)) fail_msg("BatchNorm %s: moving-stats output differs by %g", attrs[k], d);
    assert_memory_equal(t.aux[0]->data, m0, sizeof m0);
    assert_memory_equal(t.aux[1]->data, v0, sizeof v0);
    /* training with batch statistics gives a different output */
    float y_inf[N * C * I];
    memcpy(y_inf, t.out[0]->data, sizeof y_inf);
    tu_op t2;
    MT_ASSERT_OK(tu_op_setup(&t2, "BatchNorm", "fix_gamma=false", 3, s));
    memcpy(t2.in[0]->data, t.in[0]->data, sizeof y_inf);
    memcpy(t2.in[1]->data, t.in[1]->data, sizeof(float) * C);
    memcpy(t2.in[2]->data, t.in[2]->data, sizeof(float) * C);
    memcpy(t2.aux[0]->data, m0, sizeof m0);
    memcpy(t2.aux[1]->data, v0, sizeof v0);
    mt_op_ctx ct = bn_ctx(1);
    MT_ASSERT_OK(fwd(&t2, &ct));
    assert_true(tu_max_abs_diff(t2.out[0]->data, y_inf, N * C * I) > 0.1);
    tu_op_free(&t2);
    tu_op_free(&t);
  }
}

/* fix_gamma: output as with gamma = 1 whatever gamma holds; gamma's
 * gradient is 0 (write) or untouched (add); beta's and data's are not. */
static void test_bn_fix_gamma(void **state) {
  (void)state;
  enum { N = 4, C = 2, I = 3, NE = N * C * I };
  tu_op a, b;
  mt_shape s[3] = {MT_SHAPE(N, C, I), {0}, {0}};
  MT_ASSERT_OK(tu_op_setup(&a, "BatchNorm", "fix_gamma=true", 3, s));
  MT_ASSERT_OK(tu_op_setup(&b, "BatchNorm", "fix_gamma=false", 3, s));
  tu_fill_uniform(a.in[0]->data, NE, -1.0f, 1.0f, 31);
  memcpy(b.in[0]->data, a.in[0]->data, sizeof(float) * NE);
  mtk_fill(a.in[1]->data, C, 5.0f);
  mtk_fill(b.in[1]->data, C, 1.0f);
  tu_fill_uniform(a.in[2]->data, C, -1.0f, 1.0f, 32);
  memcpy(b.in[2]->data, a.in[2]->data, sizeof(float) * C);
  mt_op_ctx c = bn_ctx(1);
  MT_ASSERT_OK(fwd(&a, &c));
  MT_ASSERT_OK(fwd(&b, &c));
  assert_true(tu_max_abs_diff(a.out[0]->data, b.out[0]->data, NE) < 1e-6);
  /* gamma is an input, not modified by the op */
  for (int k = 0; k < C; k++) assert_true(a.in[1]->data[k] == 5.0f);

  mt_ndarray *og, *ga[3], *gb[3];
  MT_ASSERT_OK(mt_ndarray_create(s[0], mt_cpu(0), &og));
  tu_fill_uniform(og->data, NE, -1.0f, 1.0f, 33);
  for (int i = 0; i < 3; i++) {
    MT_ASSERT_OK(mt_ndarray_create(a.in[i]->shape, mt_cpu(0), &ga[i]));
    MT_ASSERT_OK(mt_ndarray_create(a.in[i]->shape, mt_cpu(0), &gb[i]));
    mtk_fill(ga[i]->data, ga[i]->size, 7.0f);
  }
  mt_ndarray *ogs[3] = {og, NULL, NULL};
  mt_grad_req req[3] = {MT_REQ_WRITE, MT_REQ_WRITE, MT_REQ_WRITE};
  MT_ASSERT_OK(mt_op_backward(a.op, a.param, &c, ogs, a.in, a.out, req, ga, a.aux));
  MT_ASSERT_OK(mt_op_backward(b.op, b.param, &c, ogs, b.in, b.out, req, gb, b.aux));
  for (int k = 0; k < C; k++) assert_true(ga[1]->data[k] == 0.0f);
  assert_true(tu_max_abs_diff(ga[0]->data, gb[0]->data, NE) < 1e-6);
  assert_true(tu_max_abs_diff(ga[2]->data, gb[2]->data, C) < 1e-6);
  /* gamma's gradient with gamma free is not trivially 0 */
  assert_true(fabsf(gb[1]->data[0]) + fabsf(gb[1]->data[1]) > 1e-3f);
  mtk_fill(ga[1]->data, C, 7.0f);
  req[1] = MT_REQ_ADD;
  req[0] = req[2] = MT_REQ_NULL;
  mt_ndarray *ig[3] = {NULL, ga[1], NULL};
  MT_ASSERT_OK(mt_op_backward(a.op, a.param, &c, ogs, a.in, a.out, req, ig, a.aux));
  for (int k = 0; k < C; k++) assert_true(ga[1]->data[k] == 7.0f);
  mt_ndarray_free(og);
  for (int i = 0; i < 3; i++) {
    mt_ndarray_free(ga[i]);
    mt_ndarray_free(gb[i]);
  }
  tu_op_free(&a);
  tu_op_free(&b);
}

/* Aux init for gradchecks: moving_var must be positive. */
static void bn_init(int arg, float *x, int64_t n, const mt_shape *s, void *user) {
  if (arg == 101) tu_fill_uniform(x, n, 0.5f, 1.5f, 200);
  else if (arg == 1) tu_fill_uniform(x, n, 0.5f, 1.5f, 201); /* gamma */
  else tu_fill_uniform(x, n, -1.0f, 1.0f, 202 + (uint64_t)arg);
}

static void test_bn_gradcheck(void **state) {
  (void)state;
  struct {
    const char *attrs;
    mt_shape shape;
    int is_train;
  } cases[] = {
      {"fix_gamma=false", MT_SHAPE(4, 3, 2, 2), 1},
      {"fix_gamma=false", MT_SHAPE(6, 4), 1},
      {"", MT_SHAPE(3, 2, 5), 1}, /* fix_gamma=true: gamma's gradient 0 */
      {"fix_gamma=false axis=-1", MT_SHAPE(3, 2, 4), 1},
      {"fix_gamma=false use_global_stats=true", MT_SHAPE(4, 3, 3), 1},
      {"fix_gamma=false", MT_SHAPE(4, 3, 3), 0}, /* inference: moving stats constant */
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    tu_gradcheck g = {.op = "BatchNorm",
                      .attrs = cases[k].attrs,
                      .nargs = 3,
                      .shapes = {cases[k].shape},
                      .is_train = cases[k].is_train,
                      .init = bn_init};
    double err = tu_gradcheck_run(&g);
    print_message("  BatchNorm '%s' (train %d): max gradcheck error %.2e\n", cases[k].attrs,
                  cases[k].is_train, err);
    if (!(err < GRAD_TOL))
      fail_msg("BatchNorm %s (train %d): gradcheck error %g", cases[k].attrs, cases[k].is_train,
               err);
  }
}

/* BatchNorm on NCHW is per channel (axis 1: statistics over N, H, W): the
 * same as BatchNorm on the (N*H*W, C) matrix of the NHWC layout, forward
 * (output, mean, invstd, moving stats) and backward (d data, d gamma,
 * d beta), in training and in inference. */
static void test_bn_nchw_per_channel(void **state) {
  (void)state;
  enum { N = 3, C = 4, H = 5, W = 2, HW = H * W, NE = N * C * HW };
  for (int train = 0; train < 2; train++) {
    tu_op a, b;
    mt_shape sa[3] = {MT_SHAPE(N, C, H, W), {0}, {0}}, sb[3] = {MT_SHAPE(N * HW, C), {0}, {0}};
    MT_ASSERT_OK(tu_op_setup(&a, "BatchNorm", "fix_gamma=false", 3, sa));
    MT_ASSERT_OK(tu_op_setup(&b, "BatchNorm", "fix_gamma=false", 3, sb));
    /* channel c gets offset 2c and spread 1 + c */
    tu_fill_uniform(a.in[0]->data, NE, -1.0f, 1.0f, 41);
    for (int n = 0; n < N; n++)
      for (int c = 0; c < C; c++)
        for (int k = 0; k < HW; k++) {
          float *v = &a.in[0]->data[(n * C + c) * HW + k];
          *v = *v * (1 + c) + 2.0f * c;
          b.in[0]->data[(n * HW + k) * C + c] = *v; /* NHWC */
        }
    for (int i = 1; i < 3; i++) {
      tu_fill_uniform(a.in[i]->data, C, 0.5f, 1.5f, 42 + (uint64_t)i);
      memcpy(b.in[i]->data, a.in[i]->data, sizeof(float) * C);
    }
    for (int i = 0; i < 2; i++) {
      tu_fill_uniform(a.aux[i]->data, C, 0.5f, 1.5f, 45 + (uint64_t)i);
      memcpy(b.aux[i]->data, a.aux[i]->data, sizeof(float) * C);
    }
    mt_op_ctx c = bn_ctx(train);
    MT_ASSERT_OK(fwd(&a, &c));
    MT_ASSERT_OK(fwd(&b, &c));
    for (int n = 0; n < N; n++)
      for (int ch = 0; ch < C; ch++)
        for (int k = 0; k < HW; k++)
          assert_true(fabsf(a.out[0]->data[(n * C + ch) * HW + k] -
                            b.out[0]->data[(n * HW + k) * C + ch]) < 1e-5f);
    for (int o = 1; o < 3; o++)
      assert_true(tu_max_abs_diff(a.out[o]->data, b.out[o]->data, C) < 1e-5);
    for (int i = 0; i < 2; i++)
      assert_true(tu_max_abs_diff(a.aux[i]->data, b.aux[i]->data, C) < 1e-6);
    /* the channels' statistics differ (not one pooled mean) */
    if (train) assert_true(fabsf(a.out[1]->data[3] - a.out[1]->data[0]) > 3.0f);
    mt_ndarray *oga, *ogb, *ga[3], *gb[3];
    MT_ASSERT_OK(mt_ndarray_create(sa[0], mt_cpu(0), &oga));
    MT_ASSERT_OK(mt_ndarray_create(sb[0], mt_cpu(0), &ogb));
    tu_fill_uniform(oga->data, NE, -1.0f, 1.0f, 47);
    for (int n = 0; n < N; n++)
      for (int ch = 0; ch < C; ch++)
        for (int k = 0; k < HW; k++)
          ogb->data[(n * HW + k) * C + ch] = oga->data[(n * C + ch) * HW + k];
    for (int i = 0; i < 3; i++) {
      MT_ASSERT_OK(mt_ndarray_create(a.in[i]->shape, mt_cpu(0), &ga[i]));
      MT_ASSERT_OK(mt_ndarray_create(b.in[i]->shape, mt_cpu(0), &gb[i]));
    }
    mt_ndarray *ogsa[3] = {oga, NULL, NULL}, *ogsb[3] = {ogb, NULL, NULL};
    mt_grad_req req[3] = {MT_REQ_WRITE, MT_REQ_WRITE, MT_REQ_WRITE};
    MT_ASSERT_OK(mt_op_backward(a.op, a.param, &c, ogsa, a.in, a.out, req, ga, a.aux));
    MT_ASSERT_OK(mt_op_backward(b.op, b.param, &c, ogsb, b.in, b.out, req, gb, b.aux));
    for (int n = 0; n < N; n++)
      for (int ch = 0; ch < C; ch++)
        for (int k = 0; k < HW; k++)
          assert_true(fabsf(ga[0]->data[(n * C + ch) * HW + k] -
                            gb[0]->data[(n * HW + k) * C + ch]) < 1e-5f);
    for (int i = 1; i < 3; i++) assert_true(tu_max_abs_diff(ga[i]->data, gb[i]->data, C) < 1e-4);
    mt_ndarray_free(oga);
    mt_ndarray_free(ogb);
    for (int i = 0; i < 3; i++) {
      mt_ndarray_free(ga[i]);
      mt_ndarray_free(gb[i]);
    }
    tu_op_free(&a);
    tu_op_free(&b);
  }
}

static void test_bn_attrs_and_shapes(void **state) {
  (void)state;
  assert_int_equal(parse_only("BatchNorm", "output_mean_var=true", "bn1"), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "output_mean_var"));
  assert_non_null(strstr(mt_last_error(), "'bn1'"));
  assert_int_equal(parse_only("BatchNorm", "eps=-1", "bn1"), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "eps"));
  assert_int_equal(parse_only("BatchNorm", "momentum=2", "bn1"), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "momentum"));
  assert_int_equal(parse_only("BatchNorm", "fix_gamma=maybe", "bn1"), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "fix_gamma"));
  assert_int_equal(parse_only("BatchNorm", "act_type=relu", "bn1"), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "act_type"));
  MT_ASSERT_OK(parse_only("BatchNorm",
                          "eps=2e-5 momentum=0.95 fix_gamma=False use_global_stats=0 axis=1 "
                          "output_mean_var=false cudnn_off=True",
                          "bn1"));

  const mt_op *op = mt_op_find("BatchNorm");
  assert_non_null(op);
  mt_attrs a;
  MT_ASSERT_OK(mt_attrs_parse("", &a));
  void *p = calloc(1, op->param_size);
  MT_ASSERT_OK(op->parse(&a, "bn1", p));
  mt_attrs_free(&a);
  assert_string_equal(op->arg_name(p, 1), "gamma");
  assert_string_equal(op->aux_name(p, 0), "moving_mean");
  assert_string_equal(op->aux_name(p, 1), "moving_var");
  assert_string_equal(mt_op_output_name(op, p, 0), "output");
  mt_shape in[3] = {MT_SHAPE(2, 3, 4), MT_SHAPE(4), {0}}, out[3], aux[2];
  memset(aux, 0, sizeof aux);
  assert_int_equal(op->infer_shape(p, "bn1", in, out, aux), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "'bn1'"));
  assert_non_null(strstr(mt_last_error(), "gamma"));
  assert_non_null(strstr(mt_last_error(), "(3,)"));
  assert_non_null(strstr(mt_last_error(), "(4,)"));
  in[1] = (mt_shape){0};
  aux[1] = (mt_shape)MT_SHAPE(5);
  assert_int_equal(op->infer_shape(p, "bn1", in, out, aux), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "moving_var"));
  in[0] = (mt_shape)MT_SHAPE(2);
  assert_int_equal(op->infer_shape(p, "bn1", in, out, aux), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "axis"));
  free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dropout_mask_stats),
      cmocka_unit_test(test_dropout_identity),
      cmocka_unit_test(test_dropout_split_invariance),
      cmocka_unit_test(test_dropout_backward),
      cmocka_unit_test(test_dropout_attrs),
      cmocka_unit_test(test_bn_train_forward),
      cmocka_unit_test(test_bn_inference),
      cmocka_unit_test(test_bn_fix_gamma),
      cmocka_unit_test(test_bn_gradcheck),
      cmocka_unit_test(test_bn_attrs_and_shapes),
      cmocka_unit_test(test_bn_nchw_per_channel),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
