/* test_ops_basic.c — the basic operators (FullyConnected, Activation,
 * LeakyReLU, Flatten, Concat, elemwise_add, ElementWiseSum) on CPU:
 *   forward   against plain reference loops in this file, in double;
 *             tolerance max |out - ref| / max(1, |ref|) <= 1e-5
 *   backward  against central finite differences (tu_gradcheck_run, which
 *             also checks req=add); tolerance |num - ana| / max(1, |num|) <= 2e-2
 *   req=null  leaves a given gradient buffer untouched, accepts a NULL one,
 *             and does not change the other inputs' gradients
 *   errors    shape mismatches are MT_E_SHAPE naming the node and both
 *             shapes; bad attributes are MT_E_INVAL naming the key. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "testutil.h"

#define FWD_TOL 1e-5
#define GRAD_TOL 2e-2

/* ------------------------------------------------------------ helpers */

/* Sets up op `name` with `attrs` on `shapes`, fills input i from U(lo, hi)
 * with seed 10 + i, runs forward (training mode). */
static void setup_forward(tu_op *t, const char *name, const char *attrs, int nargs,
                          const mt_shape *shapes, float lo, float hi) {
  MT_ASSERT_OK(tu_op_setup(t, name, attrs, nargs, shapes));
  for (int i = 0; i < t->nargs; i++)
    tu_fill_uniform(t->in[i]->data, t->in[i]->size, lo, hi, 10 + (uint64_t)i);
  MT_ASSERT_OK(tu_op_forward(t, 1));
}

/* Output 0 against a reference of ref_n elements. */
static void expect_close(const tu_op *t, const float *ref, int64_t ref_n, const char *what) {
  assert_int_equal(t->out[0]->size, ref_n);
  double d = tu_max_rel_diff(t->out[0]->data, ref, ref_n, 1.0);
  if (d > FWD_TOL) fail_msg("%s: forward max rel diff %g > %g", what, d, FWD_TOL);
}

/* Inputs for gradient checks: U(lo, hi) but |x| >= gap, so that eps-steps
 * of the finite difference never cross a kink at 0 (relu, leaky, elu). */
typedef struct {
  float lo, hi, gap;
} init_range;

static void init_away_from_zero(int arg, float *x, int64_t n, const mt_shape *s, void *user) {
  const init_range *r = user;
  tu_fill_uniform(x, n, r->lo, r->hi, 300 + (uint64_t)arg);
  for (int64_t i = 0; i < n; i++)
    if (fabsf(x[i]) < r->gap) x[i] = x[i] < 0 ? -r->gap - fabsf(x[i]) : r->gap + x[i];
}

static void gradcheck(const char *op, const char *attrs, int nargs, const mt_shape *shapes,
                      const init_range *range) {
  tu_gradcheck g = {.op = op, .attrs = attrs, .nargs = nargs, .is_train = 1};
  memcpy(g.shapes, shapes, sizeof(mt_shape) * (size_t)nargs);
  if (range) {
    g.init = init_away_from_zero;
    g.user = (void *)range;
  }
  double worst = tu_gradcheck_run(&g);
  print_message("  gradcheck %s %s: worst error %.3g\n", op, attrs ? attrs : "", worst);
  if (!(worst <= GRAD_TOL)) fail_msg("%s %s: gradient error %g > %g", op, attrs, worst, GRAD_TOL);
}

/* Backward with req = null on one argument at a time:
 *  - a gradient buffer given for it keeps its sentinel values,
 *  - a NULL buffer for it is never touched (no crash),
 *  - the other arguments' gradients equal those of an all-write run. */
static void check_req_null(const char *op, const char *attrs, int nargs, const mt_shape *shapes) {
  tu_op t;
  setup_forward(&t, op, attrs, nargs, shapes, -1.0f, 1.0f);
  mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = 1};
  mt_ndarray *og[8] = {0}, *ref[8] = {0}, *g[8] = {0};
  MT_ASSERT_OK(mt_ndarray_create(t.out[0]->shape, mt_cpu(0), &og[0]));
  tu_fill_uniform(og[0]->data, og[0]->size, -1.0f, 1.0f, 77);
  mt_grad_req req[8];
  for (int i = 0; i < nargs; i++) {
    MT_ASSERT_OK(mt_ndarray_create(t.in[i]->shape, mt_cpu(0), &ref[i]));
    MT_ASSERT_OK(mt_ndarray_create(t.in[i]->shape, mt_cpu(0), &g[i]));
    req[i] = MT_REQ_WRITE;
  }
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, og, t.in, t.out, req, ref, t.aux));
  for (int k = 0; k < nargs; k++) {
    for (int pass = 0; pass < 2; pass++) {
      mt_ndarray *gk[8];
      for (int i = 0; i < nargs; i++) {
        mtk_fill(g[i]->data, g[i]->size, 123.0f);
        req[i] = i == k ? MT_REQ_NULL : MT_REQ_WRITE;
        gk[i] = (i == k && pass == 1) ? NULL : g[i];
      }
      MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, og, t.in, t.out, req, gk, t.aux));
      for (int i = 0; i < nargs; i++) {
        if (i == k) {
          for (int64_t j = 0; j < g[i]->size; j++)
            if (g[i]->data[j] != 123.0f)
              fail_msg("%s %s: req=null wrote arg %d elem %lld (%g)", op, attrs, i, (long long)j,
                       g[i]->data[j]);
        } else if (memcmp(g[i]->data, ref[i]->data, sizeof(float) * (size_t)g[i]->size)) {
          fail_msg("%s %s: req=null on arg %d changed the gradient of arg %d", op, attrs, k, i);
        }
      }
    }
  }
  for (int i = 0; i < nargs; i++) {
    mt_ndarray_free(ref[i]);
    mt_ndarray_free(g[i]);
  }
  mt_ndarray_free(og[0]);
  tu_op_free(&t);
}

/* Parses attrs for node `node` and runs infer_shape on in[nargs]; returns
 * the status (out gets the output shape). */
static int parse_infer(const char *opname, const char *attrs, const char *node, int nargs,
                       mt_shape *in, mt_shape *out) {
  const mt_op *op = mt_op_find(opname);
  assert_non_null(op);
  mt_attrs a;
  MT_ASSERT_OK(mt_attrs_parse(attrs, &a));
  void *param = calloc(1, op->param_size);
  assert_non_null(param);
  int rc = op->parse(&a, node, param);
  mt_attrs_free(&a);
  if (rc == MT_OK) {
    assert_int_equal(op->num_args(param), nargs);
    mt_shape aux[8];
    memset(aux, 0, sizeof aux);
    memset(out, 0, sizeof *out);
    rc = op->infer_shape(param, node, in, out, aux);
  }
  free(param);
  return rc;
}

/* Parses attrs only; returns the status. */
static int parse_only(const char *opname, const char *attrs, const char *node) {
  const mt_op *op = mt_op_find(opname);
  assert_non_null(op);
  mt_attrs a;
  MT_ASSERT_OK(mt_attrs_parse(attrs, &a));
  void *param = calloc(1, op->param_size);
  assert_non_null(param);
  mt_error_clear();
  int rc = op->parse(&a, node, param);
  mt_attrs_free(&a);
  free(param);
  return rc;
}

static void expect_msg_has(const char *needle) {
  if (!strstr(mt_last_error(), needle))
    fail_msg("error message lacks '%s': %s", needle, mt_last_error());
}

/* -------------------------------------------------- FullyConnected */

/* out[rows, nh] = x[rows, k] w[nh, k]^T + b */
static void ref_fc(const float *x, const float *w, const float *b, int64_t rows, int64_t k,
                   int64_t nh, float *out) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t h = 0; h < nh; h++) {
      double s = b ? b[h] : 0.0;
      for (int64_t j = 0; j < k; j++) s += (double)x[r * k + j] * w[h * k + j];
      out[r * nh + h] = (float)s;
    }
}

static void test_fc_forward(void **state) {
  static const struct {
    const char *attrs;
    int nargs;
    mt_shape data;
    int64_t rows, k, nh;
  } cases[] = {
      {"num_hidden=7", 3, MT_SHAPE(4, 3, 5), 4, 15, 7},
      {"num_hidden=6 no_bias=true", 2, MT_SHAPE(5, 9), 5, 9, 6},
      {"num_hidden=4 flatten=false", 3, MT_SHAPE(2, 3, 5), 6, 5, 4},
  };
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    mt_shape shapes[3] = {cases[ci].data};
    tu_op t;
    setup_forward(&t, "FullyConnected", cases[ci].attrs, cases[ci].nargs, shapes, -1.0f, 1.0f);
    int64_t n = cases[ci].rows * cases[ci].nh;
    float *ref = malloc(sizeof(float) * (size_t)n);
    ref_fc(t.in[0]->data, t.in[1]->data, cases[ci].nargs == 3 ? t.in[2]->data : NULL,
           cases[ci].rows, cases[ci].k, cases[ci].nh, ref);
    expect_close(&t, ref, n, cases[ci].attrs);
    if (ci == 2) { /* flatten=false keeps the leading axes */
      mt_shape want = MT_SHAPE(2, 3, 4);
      assert_true(mt_shape_equal(&t.out[0]->shape, &want));
    }
    free(ref);
    tu_op_free(&t);
  }
}

static void test_fc_backward(void **state) {
  mt_shape s3[3] = {MT_SHAPE(4, 3, 5)};
  gradcheck("FullyConnected", "num_hidden=7", 3, s3, NULL);
  mt_shape s2[2] = {MT_SHAPE(5, 9)};
  gradcheck("FullyConnected", "num_hidden=6 no_bias=true", 2, s2, NULL);
  mt_shape sf[3] = {MT_SHAPE(2, 3, 5)};
  gradcheck("FullyConnected", "num_hidden=4 flatten=false", 3, sf, NULL);
  check_req_null("FullyConnected", "num_hidden=7", 3, s3);
  check_req_null("FullyConnected", "num_hidden=6 no_bias=true", 2, s2);
}

static void test_fc_errors(void **state) {
  /* wrong weight shape: (3, 5) expected from data (4, 5) */
  mt_shape in[3] = {MT_SHAPE(4, 5), MT_SHAPE(3, 6)}, out;
  assert_int_equal(parse_infer("FullyConnected", "num_hidden=3", "fc_bad", 3, in, &out),
                   MT_E_SHAPE);
  expect_msg_has("'fc_bad'");
  expect_msg_has("(3, 5)");
  expect_msg_has("(3, 6)");
  /* weight and bias are inferred when unknown */
  mt_shape in2[3] = {MT_SHAPE(4, 5)};
  MT_ASSERT_OK(parse_infer("FullyConnected", "num_hidden=3", "fc_ok", 3, in2, &out));
  mt_shape w = MT_SHAPE(3, 5), b = MT_SHAPE(3), o = MT_SHAPE(4, 3);
  assert_true(mt_shape_equal(&in2[1], &w));
  assert_true(mt_shape_equal(&in2[2], &b));
  assert_true(mt_shape_equal(&out, &o));
  /* bad attributes */
  assert_int_equal(parse_only("FullyConnected", "num_hidden=abc", "fc1"), MT_E_INVAL);
  expect_msg_has("num_hidden");
  expect_msg_has("abc");
  assert_int_equal(parse_only("FullyConnected", "num_hidden=4 bogus_key=1", "fc1"), MT_E_INVAL);
  expect_msg_has("bogus_key");
  assert_int_equal(parse_only("FullyConnected", "", "fc1"), MT_E_INVAL);
  expect_msg_has("num_hidden");
}

/* ------------------------------------------------------- Activation */

static double ref_act(const char *type, double x) {
  if (!strcmp(type, "relu")) return x > 0 ? x : 0;
  if (!strcmp(type, "sigmoid")) return 1 / (1 + exp(-x));
  if (!strcmp(type, "tanh")) return tanh(x);
  if (!strcmp(type, "softrelu")) return x > 30 ? x : log(1 + exp(x));
  if (!strcmp(type, "softsign")) return x / (1 + fabs(x));
  fail_msg("no reference for %s", type);
  return 0;
}

static const char *const act_types[] = {"relu", "sigmoid", "tanh", "softrelu", "softsign"};

static void test_activation_forward(void **state) {
  mt_shape s[1] = {MT_SHAPE(3, 4, 5)};
  for (int k = 0; k < 5; k++) {
    char attrs[64];
    snprintf(attrs, sizeof attrs, "act_type=%s", act_types[k]);
    tu_op t;
    setup_forward(&t, "Activation", attrs, 1, s, -4.0f, 4.0f);
    float ref[60];
    for (int i = 0; i < 60; i++) ref[i] = (float)ref_act(act_types[k], t.in[0]->data[i]);
    expect_close(&t, ref, 60, attrs);
    assert_true(mt_shape_equal(&t.out[0]->shape, &s[0]));
    tu_op_free(&t);
  }
}

/* Large |x|: no overflow, no NaN, and the saturated values and gradients. */
static void test_activation_extremes(void **state) {
  static const float xs[] = {-100.0f, -30.0f, -20.5f, 19.5f, 20.5f, 30.0f, 100.0f, 88.0f};
  enum { N = sizeof xs / sizeof xs[0] };
  mt_shape s[1] = {MT_SHAPE(N)};
  for (int k = 0; k < 5; k++) {
    char attrs[64];
    snprintf(attrs, sizeof attrs, "act_type=%s", act_types[k]);
    tu_op t;
    MT_ASSERT_OK(tu_op_setup(&t, "Activation", attrs, 1, s));
    memcpy(t.in[0]->data, xs, sizeof xs);
    MT_ASSERT_OK(tu_op_forward(&t, 1));
    float ref[N];
    for (int i = 0; i < N; i++) ref[i] = (float)ref_act(act_types[k], xs[i]);
    expect_close(&t, ref, N, attrs);
    mt_ndarray *og, *ig;
    MT_ASSERT_OK(mt_ndarray_create(s[0], mt_cpu(0), &og));
    MT_ASSERT_OK(mt_ndarray_create(s[0], mt_cpu(0), &ig));
    mtk_fill(og->data, N, 1.0f);
    mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = 1};
    mt_grad_req req = MT_REQ_WRITE;
    MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, &og, t.in, t.out, &req, &ig, t.aux));
    assert_true(mtk_all_finite(ig->data, N));
    /* the gradient of softrelu at 100 is 1 and at -100 about 0 */
    if (k == 3) {
      assert_true(fabsf(ig->data[6] - 1.0f) < 1e-6f);
      assert_true(fabsf(ig->data[0]) < 1e-6f);
    }
    mt_ndarray_free(og);
    mt_ndarray_free(ig);
    tu_op_free(&t);
  }
}

static void test_activation_backward(void **state) {
  mt_shape s[1] = {MT_SHAPE(4, 6)};
  init_range wide = {-3.0f, 3.0f, 0.05f};
  for (int k = 0; k < 5; k++) {
    char attrs[64];
    snprintf(attrs, sizeof attrs, "act_type=%s", act_types[k]);
    gradcheck("Activation", attrs, 1, s, &wide);
    check_req_null("Activation", attrs, 1, s);
  }
}

static void test_activation_errors(void **state) {
  assert_int_equal(parse_only("Activation", "act_type=foo", "act1"), MT_E_INVAL);
  expect_msg_has("act_type");
  expect_msg_has("foo");
  expect_msg_has("'act1'");
  assert_int_equal(parse_only("Activation", "", "act1"), MT_E_INVAL);
  expect_msg_has("act_type");
  assert_int_equal(parse_only("Activation", "act_type=relu slope=2", "act1"), MT_E_INVAL);
  expect_msg_has("slope");
  /* MXNet's private keys are accepted */
  MT_ASSERT_OK(parse_only("Activation", "act_type=relu __lr_mult__=2", "act1"));
  mt_shape in[1] = {{0}}, out;
  assert_int_equal(parse_infer("Activation", "act_type=relu", "act_u", 1, in, &out), MT_E_SHAPE);
  expect_msg_has("'act_u'");
}

/* -------------------------------------------------------- LeakyReLU */

static void test_leaky_forward(void **state) {
  static const struct {
    const char *attrs;
    int elu;
    double slope;
  } cases[] = {
      {"", 0, 0.25},
      {"act_type=leaky slope=0.1", 0, 0.1},
      {"act_type=elu", 1, 0.25},
      {"act_type=elu slope=1.5", 1, 1.5},
  };
  mt_shape s[1] = {MT_SHAPE(5, 7)};
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    tu_op t;
    setup_forward(&t, "LeakyReLU", cases[ci].attrs, 1, s, -3.0f, 3.0f);
    float ref[35];
    for (int i = 0; i < 35; i++) {
      double x = t.in[0]->data[i];
      ref[i] = (float)(x > 0           ? x
                       : cases[ci].elu ? cases[ci].slope * (exp(x) - 1)
                                       : cases[ci].slope * x);
    }
    expect_close(&t, ref, 35, cases[ci].attrs);
    tu_op_free(&t);
  }
}

static void test_leaky_backward(void **state) {
  static const char *const attrs[] = {"", "act_type=leaky slope=0.1", "act_type=elu",
                                      "act_type=elu slope=1.5"};
  mt_shape s[1] = {MT_SHAPE(3, 8)};
  init_range r = {-2.0f, 2.0f, 0.05f};
  for (int k = 0; k < 4; k++) {
    gradcheck("LeakyReLU", attrs[k], 1, s, &r);
    check_req_null("LeakyReLU", attrs[k], 1, s);
  }
}

static void test_leaky_errors(void **state) {
  static const char *const unsupported[] = {"prelu", "rrelu", "gelu", "selu"};
  for (int i = 0; i < 4; i++) {
    char attrs[64];
    snprintf(attrs, sizeof attrs, "act_type=%s", unsupported[i]);
    /* a known MXNet act_type this build lacks: MT_E_UNSUPPORTED, not "unknown value" */
    assert_int_equal(parse_only("LeakyReLU", attrs, "lrelu1"), MT_E_UNSUPPORTED);
    expect_msg_has("not supported");
    expect_msg_has(unsupported[i]);
    expect_msg_has("'lrelu1'");
  }
  assert_int_equal(parse_only("LeakyReLU", "act_type=foo", "lrelu1"), MT_E_INVAL);
  expect_msg_has("act_type");
  assert_int_equal(parse_only("LeakyReLU", "slope=steep", "lrelu1"), MT_E_INVAL);
  expect_msg_has("slope");
  assert_int_equal(parse_only("LeakyReLU", "alpha=0.2", "lrelu1"), MT_E_INVAL);
  expect_msg_has("alpha");
}

/* ---------------------------------------------------------- Flatten */

static void test_flatten(void **state) {
  mt_shape s[1] = {MT_SHAPE(2, 3, 4, 5)};
  tu_op t;
  setup_forward(&t, "Flatten", "", 1, s, -1.0f, 1.0f);
  mt_shape want = MT_SHAPE(2, 60);
  assert_true(mt_shape_equal(&t.out[0]->shape, &want));
  /* row-major order is kept: out[n, (i*4 + j)*5 + k] = in[n, i, j, k] */
  float ref[120];
  for (int n = 0; n < 2; n++)
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 4; j++)
        for (int k = 0; k < 5; k++)
          ref[n * 60 + (i * 4 + j) * 5 + k] = t.in[0]->data[((n * 3 + i) * 4 + j) * 5 + k];
  expect_close(&t, ref, 120, "Flatten");
  tu_op_free(&t);

  mt_shape in[1] = {MT_SHAPE(7)}, out;
  MT_ASSERT_OK(parse_infer("Flatten", "", "flat1", 1, in, &out));
  mt_shape w1 = MT_SHAPE(7, 1);
  assert_true(mt_shape_equal(&out, &w1));

  gradcheck("Flatten", "", 1, s, NULL);
  check_req_null("Flatten", "", 1, s);

  assert_int_equal(parse_only("Flatten", "axis=1", "flat1"), MT_E_INVAL);
  expect_msg_has("axis");
  mt_shape unk[1] = {{0}};
  assert_int_equal(parse_infer("Flatten", "", "flat_u", 1, unk, &out), MT_E_SHAPE);
  expect_msg_has("'flat_u'");
}

/* ----------------------------------------------------------- Concat */

/* Reference concat by multi-indices: element (c0, .., ck, ..) of input i
 * goes to (c0, .., ck + offset_i, ..) of the output. */
static void ref_concat(int n, const mt_shape *s, float *const *in, int axis, const mt_shape *os,
                       float *out) {
  int64_t offset = 0;
  for (int i = 0; i < n; i++) {
    int64_t size = mt_shape_size(&s[i]);
    for (int64_t j = 0; j < size; j++) {
      int64_t c[MT_MAX_DIM], rem = j;
      for (int d = s[i].ndim - 1; d >= 0; d--) {
        c[d] = rem % s[i].dim[d];
        rem /= s[i].dim[d];
      }
      c[axis] += offset;
      int64_t o = 0;
      for (int d = 0; d < os->ndim; d++) o = o * os->dim[d] + c[d];
      out[o] = in[i][j];
    }
    offset += s[i].dim[axis];
  }
}

static void test_concat(void **state) {
  static const struct {
    const char *attrs;
    int nargs, axis;
    mt_shape s[3], out;
  } cases[] = {
      {"num_args=3",
       3,
       1,
       {MT_SHAPE(2, 3, 4), MT_SHAPE(2, 1, 4), MT_SHAPE(2, 2, 4)},
       MT_SHAPE(2, 6, 4)},
      {"num_args=2 dim=0", 2, 0, {MT_SHAPE(3, 5), MT_SHAPE(2, 5)}, MT_SHAPE(5, 5)},
      {"num_args=3 dim=2",
       3,
       2,
       {MT_SHAPE(2, 3, 1), MT_SHAPE(2, 3, 4), MT_SHAPE(2, 3, 2)},
       MT_SHAPE(2, 3, 7)},
      {"num_args=2 dim=-1", 2, 1, {MT_SHAPE(4, 2), MT_SHAPE(4, 3)}, MT_SHAPE(4, 5)},
      {"num_args=1", 1, 1, {MT_SHAPE(3, 4)}, MT_SHAPE(3, 4)},
  };
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    tu_op t;
    setup_forward(&t, "Concat", cases[ci].attrs, cases[ci].nargs, cases[ci].s, -1.0f, 1.0f);
    assert_true(mt_shape_equal(&t.out[0]->shape, &cases[ci].out));
    int64_t n = mt_shape_size(&cases[ci].out);
    float *ref = malloc(sizeof(float) * (size_t)n), *ins[3];
    for (int i = 0; i < cases[ci].nargs; i++) ins[i] = t.in[i]->data;
    ref_concat(cases[ci].nargs, cases[ci].s, ins, cases[ci].axis, &cases[ci].out, ref);
    expect_close(&t, ref, n, cases[ci].attrs);
    free(ref);
    tu_op_free(&t);
    gradcheck("Concat", cases[ci].attrs, cases[ci].nargs, cases[ci].s, NULL);
    check_req_null("Concat", cases[ci].attrs, cases[ci].nargs, cases[ci].s);
  }
}

static void test_concat_errors(void **state) {
  mt_shape out;
  /* non-concat dim differs */
  mt_shape a[2] = {MT_SHAPE(2, 3, 4), MT_SHAPE(2, 3, 5)};
  assert_int_equal(parse_infer("Concat", "num_args=2", "cat_bad", 2, a, &out), MT_E_SHAPE);
  expect_msg_has("'cat_bad'");
  expect_msg_has("(2, 3, 4)");
  expect_msg_has("(2, 3, 5)");
  /* ndim differs */
  mt_shape b[2] = {MT_SHAPE(2, 3), MT_SHAPE(2, 3, 1)};
  assert_int_equal(parse_infer("Concat", "num_args=2", "cat_nd", 2, b, &out), MT_E_SHAPE);
  expect_msg_has("'cat_nd'");
  /* dim out of range for the inputs */
  mt_shape c[2] = {MT_SHAPE(2, 3), MT_SHAPE(2, 3)};
  assert_int_equal(parse_infer("Concat", "num_args=2 dim=2", "cat_dim", 2, c, &out), MT_E_SHAPE);
  expect_msg_has("'cat_dim'");
  /* an unknown input */
  mt_shape d[2] = {MT_SHAPE(2, 3), {0}};
  assert_int_equal(parse_infer("Concat", "num_args=2", "cat_u", 2, d, &out), MT_E_SHAPE);
  expect_msg_has("arg1");
  /* attributes */
  assert_int_equal(parse_only("Concat", "dim=1", "cat1"), MT_E_INVAL);
  expect_msg_has("num_args");
  assert_int_equal(parse_only("Concat", "num_args=0", "cat1"), MT_E_INVAL);
  expect_msg_has("num_args");
  assert_int_equal(parse_only("Concat", "num_args=2 dim=x", "cat1"), MT_E_INVAL);
  expect_msg_has("dim");
  assert_int_equal(parse_only("Concat", "num_args=2 axis=1", "cat1"), MT_E_INVAL);
  expect_msg_has("axis");
}

/* ---------------------------------------- elemwise_add, ElementWiseSum */

static void test_elemwise_add(void **state) {
  mt_shape s[2] = {MT_SHAPE(3, 4, 2), MT_SHAPE(3, 4, 2)};
  tu_op t;
  setup_forward(&t, "elemwise_add", "", 2, s, -1.0f, 1.0f);
  float ref[24];
  for (int i = 0; i < 24; i++) ref[i] = (float)((double)t.in[0]->data[i] + t.in[1]->data[i]);
  expect_close(&t, ref, 24, "elemwise_add");
  tu_op_free(&t);
  gradcheck("elemwise_add", "", 2, s, NULL);
  check_req_null("elemwise_add", "", 2, s);

  /* different shapes */
  mt_shape out, bad[2] = {MT_SHAPE(2, 3), MT_SHAPE(3, 2)};
  assert_int_equal(parse_infer("elemwise_add", "", "add_bad", 2, bad, &out), MT_E_SHAPE);
  expect_msg_has("'add_bad'");
  expect_msg_has("(2, 3)");
  expect_msg_has("(3, 2)");
  /* an unknown side takes the other's shape */
  mt_shape half[2] = {{0}, MT_SHAPE(5, 6)};
  MT_ASSERT_OK(parse_infer("elemwise_add", "", "add_ok", 2, half, &out));
  assert_true(mt_shape_equal(&half[0], &half[1]));
  assert_true(mt_shape_equal(&out, &half[1]));
  assert_int_equal(parse_only("elemwise_add", "scalar=1", "add1"), MT_E_INVAL);
  expect_msg_has("scalar");
}

static void test_elementwise_sum(void **state) {
  mt_shape s[4] = {MT_SHAPE(2, 5), MT_SHAPE(2, 5), MT_SHAPE(2, 5), MT_SHAPE(2, 5)};
  for (int nargs = 1; nargs <= 4; nargs++) {
    char attrs[32];
    snprintf(attrs, sizeof attrs, "num_args=%d", nargs);
    tu_op t;
    setup_forward(&t, "ElementWiseSum", attrs, nargs, s, -1.0f, 1.0f);
    float ref[10];
    for (int j = 0; j < 10; j++) {
      double acc = 0;
      for (int i = 0; i < nargs; i++) acc += t.in[i]->data[j];
      ref[j] = (float)acc;
    }
    expect_close(&t, ref, 10, attrs);
    tu_op_free(&t);
    gradcheck("ElementWiseSum", attrs, nargs, s, NULL);
    check_req_null("ElementWiseSum", attrs, nargs, s);
  }
  mt_shape out, bad[3] = {MT_SHAPE(2, 5), MT_SHAPE(2, 5), MT_SHAPE(5, 2)};
  assert_int_equal(parse_infer("ElementWiseSum", "num_args=3", "sum_bad", 3, bad, &out),
                   MT_E_SHAPE);
  expect_msg_has("'sum_bad'");
  expect_msg_has("(5, 2)");
  expect_msg_has("(2, 5)");
  mt_shape part[3] = {{0}, MT_SHAPE(4, 4), {0}};
  MT_ASSERT_OK(parse_infer("ElementWiseSum", "num_args=3", "sum_ok", 3, part, &out));
  assert_true(mt_shape_equal(&part[0], &part[1]));
  assert_true(mt_shape_equal(&part[2], &part[1]));
  assert_int_equal(parse_only("ElementWiseSum", "", "sum1"), MT_E_INVAL);
  expect_msg_has("num_args");
  assert_int_equal(parse_only("ElementWiseSum", "num_args=two", "sum1"), MT_E_INVAL);
  expect_msg_has("num_args");
}

/* ---------------------------------------------------------- registry */

static void test_registry(void **state) {
  static const char *const names[] = {"FullyConnected", "Activation",   "LeakyReLU",      "Flatten",
                                      "Concat",         "elemwise_add", "ElementWiseSum", "concat",
                                      "flatten",        "add_n",        "_Plus",          "_plus"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!mt_op_find(names[i])) fail_msg("op %s not registered", names[i]);
  assert_ptr_equal(mt_op_find("add_n"), mt_op_find("ElementWiseSum"));
  assert_ptr_equal(mt_op_find("concat"), mt_op_find("Concat"));
  assert_true(mt_op_find("Concat")->flags & MT_OP_VARIADIC);
  assert_true(mt_op_find("ElementWiseSum")->flags & MT_OP_VARIADIC);
  assert_false(mt_op_find("elemwise_add")->flags & MT_OP_VARIADIC);

  /* argument names: data / lhs, rhs / arg0.. */
  tu_op t;
  mt_shape s[3] = {MT_SHAPE(2, 2), MT_SHAPE(2, 2), MT_SHAPE(2, 2)};
  MT_ASSERT_OK(tu_op_setup(&t, "Concat", "num_args=3", 3, s));
  assert_string_equal(t.op->arg_name(t.param, 0), "arg0");
  assert_string_equal(t.op->arg_name(t.param, 2), "arg2");
  tu_op_free(&t);
  MT_ASSERT_OK(tu_op_setup(&t, "elemwise_add", "", 2, s));
  assert_string_equal(t.op->arg_name(t.param, 0), "lhs");
  assert_string_equal(t.op->arg_name(t.param, 1), "rhs");
  tu_op_free(&t);
  MT_ASSERT_OK(tu_op_setup(&t, "Activation", "act_type=tanh", 1, s));
  assert_string_equal(t.op->arg_name(t.param, 0), "data");
  tu_op_free(&t);
  /* the last of the 256 static variadic names */
  const mt_op *cat = mt_op_find("Concat");
  mt_attrs a;
  MT_ASSERT_OK(mt_attrs_parse("num_args=256", &a));
  void *param = calloc(1, cat->param_size);
  MT_ASSERT_OK(cat->parse(&a, "big", param));
  assert_int_equal(cat->num_args(param), 256);
  assert_string_equal(cat->arg_name(param, 99), "arg99");
  assert_string_equal(cat->arg_name(param, 255), "arg255");
  free(param);
  mt_attrs_free(&a);
  assert_int_equal(parse_only("Concat", "num_args=257", "big"), MT_E_INVAL);
  expect_msg_has("num_args");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fc_forward),
      cmocka_unit_test(test_fc_backward),
      cmocka_unit_test(test_fc_errors),
      cmocka_unit_test(test_activation_forward),
      cmocka_unit_test(test_activation_extremes),
      cmocka_unit_test(test_activation_backward),
      cmocka_unit_test(test_activation_errors),
      cmocka_unit_test(test_leaky_forward),
      cmocka_unit_test(test_leaky_backward),
      cmocka_unit_test(test_leaky_errors),
      cmocka_unit_test(test_flatten),
      cmocka_unit_test(test_concat),
      cmocka_unit_test(test_concat_errors),
      cmocka_unit_test(test_elemwise_add),
      cmocka_unit_test(test_elementwise_sum),
      cmocka_unit_test(test_registry),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
