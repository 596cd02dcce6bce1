/* test_ops_loss.c — the loss heads: SoftmaxOutput and the *RegressionOutput
 * ops. Forward against plain reference loops (double), backward against the
 * reference formula and against central finite differences of the matching
 * loss (tu_gradcheck_run), plus attribute and shape errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "testutil.h"

/* Tolerances: float forward vs double reference; finite differences on
 * float inputs with eps 1e-3 (truncation and rounding both ~1e-4). */
#define FWD_TOL 1e-6
#define GRAD_TOL 5e-3

static mt_op_ctx cpu_ctx(int is_train) {
  mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = is_train, .seed = 7, .node_key = 11, .step = 3};
  return c;
}

/* Runs mt_op_backward with the given reqs into freshly made (or given)
 * gradient arrays. */
static int run_backward(tu_op *t, const mt_grad_req *req, mt_ndarray *const *ig) {
  mt_op_ctx c = cpu_ctx(1);
  mt_ndarray *og[8] = {0};
  return mt_op_backward(t->op, t->param, &c, og, t->in, t->out, req, ig, t->aux);
}

/* Parses attrs for `op`; returns the parse status. */
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

/* Runs infer_shape for node `node` with the given argument shapes. */
static int infer(const char *opname, const char *attrs, const char *node, mt_shape *in,
                 mt_shape *out) {
  const mt_op *op = mt_op_find(opname);
  assert_non_null(op);
  mt_attrs a;
  MT_ASSERT_OK(mt_attrs_parse(attrs, &a));
  void *p = calloc(1, op->param_size);
  MT_ASSERT_OK(op->parse(&a, node, p));
  mt_attrs_free(&a);
  mt_shape aux[4];
  memset(aux, 0, sizeof aux);
  int rc = op->infer_shape(p, node, in, out, aux);
  free(p);
  return rc;
}

/* ------------------------------------------------------------ SoftmaxOutput */

/* Reference softmax over axis C of x[outer, C, inner] in double. */
static void ref_softmax(double *out, const float *x, int64_t outer, int64_t C, int64_t inner) {
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      double mx = -INFINITY, s = 0;
      for (int64_t c = 0; c < C; c++) mx = fmax(mx, x[(o * C + c) * inner + i]);
      for (int64_t c = 0; c < C; c++) s += exp(x[(o * C + c) * inner + i] - mx);
      for (int64_t c = 0; c < C; c++)
        out[(o * C + c) * inner + i] = exp(x[(o * C + c) * inner + i] - mx) / s;
    }
}

static void check_softmax_forward(const char *attrs, mt_shape dshape, int64_t outer, int64_t C,
                                  int64_t inner, mt_shape want_label, float scale) {
  tu_op t;
  mt_shape shapes[2] = {dshape, {0}};
  MT_ASSERT_OK(tu_op_setup(&t, "SoftmaxOutput", attrs, 2, shapes));
  assert_true(mt_shape_equal(&t.in[1]->shape, &want_label));
  assert_true(mt_shape_equal(&t.out[0]->shape, &dshape));
  tu_fill_uniform(t.in[0]->data, t.in[0]->size, -scale, scale, 1);
  MT_ASSERT_OK(tu_op_forward(&t, 1));
  double *ref = malloc(sizeof(double) * (size_t)t.in[0]->size);
  ref_softmax(ref, t.in[0]->data, outer, C, inner);
  double worst = 0;
  for (int64_t j = 0; j < t.out[0]->size; j++)
    worst = fmax(worst, fabs(t.out[0]->data[j] - ref[j]));
  assert_true(worst < FWD_TOL);
  free(ref);
  tu_op_free(&t);
}

static void test_softmax_forward(void **state) {
  (void)state;
  /* default: (N, C) and (N, d1, d2) flattened to (N, d1*d2) */
  check_softmax_forward("", MT_SHAPE(4, 7), 4, 7, 1, MT_SHAPE(4), 3.0f);
  check_softmax_forward("", MT_SHAPE(3, 2, 5), 3, 10, 1, MT_SHAPE(3), 3.0f);
  /* logits of +-80 overflow expf without the max subtraction */
  check_softmax_forward("", MT_SHAPE(2, 6), 2, 6, 1, MT_SHAPE(2), 80.0f);
  /* multi_output: softmax over axis 1 of (N, C, d2, d3) */
  check_softmax_forward("multi_output=true", MT_SHAPE(2, 4, 3, 2), 2, 4, 6, MT_SHAPE(2, 3, 2),
                        3.0f);
  /* preserve_shape: softmax over the last axis */
  check_softmax_forward("preserve_shape=true", MT_SHAPE(2, 3, 5), 6, 5, 1, MT_SHAPE(2, 3), 3.0f);
}

/* Cross-entropy loss for the gradient check. */
typedef struct {
  int64_t outer, C, inner;
  double grad_scale;
  int norm; /* 0 null, 1 batch, 2 valid */
  int use_ignore;
  float ignore_label;
  int ignore_every; /* label positions j with j % ignore_every == 1 get ignore_label; 0 none */
} ce_user;

static void ce_init(int arg, float *x, int64_t n, const mt_shape *s, void *user) {
  ce_user *u = user;
  if (arg == 0) {
    tu_fill_uniform(x, n, -2.0f, 2.0f, 42);
  } else {
    for (int64_t j = 0; j < n; j++) {
      x[j] = (float)((j * 7 + 3) % u->C);
      if (u->ignore_every && j % u->ignore_every == 1) x[j] = u->ignore_label;
    }
  }
}

static double ce_loss(mt_ndarray *const *out, int nout, mt_ndarray *const *in, void *user) {
  ce_user *u = user;
  const float *p = out[0]->data, *label = in[1]->data;
  int64_t npos = u->outer * u->inner, valid = 0;
  double s = 0;
  for (int64_t j = 0; j < npos; j++) {
    int k = (int)label[j];
    if (k != (int)u->ignore_label) valid++;
    if (u->use_ignore && k == (int)u->ignore_label) continue;
    int64_t o = j / u->inner, i = j % u->inner;
    s -= log(p[(o * u->C + k) * u->inner + i]);
  }
  /* multi_output (inner > 1) also divides by inner unless valid, as MXNet */
  double norm = u->norm == 0   ? (double)u->inner
                : u->norm == 1 ? (double)u->outer * (double)u->inner
                               : (valid ? (double)valid : 1.0);
  return s * u->grad_scale / norm;
}

static void test_softmax_gradcheck(void **state) {
  (void)state;
  struct {
    const char *attrs;
    mt_shape shape;
    ce_user u;
  } cases[] = {
      {"", MT_SHAPE(4, 5), {4, 5, 1, 1.0, 0, 0, -1.0f, 0}},
      {"grad_scale=2.5", MT_SHAPE(3, 6), {3, 6, 1, 2.5, 0, 0, -1.0f, 0}},
      {"normalization=batch", MT_SHAPE(5, 4), {5, 4, 1, 1.0, 1, 0, -1.0f, 0}},
      {"normalization=valid use_ignore=true ignore_label=0 grad_scale=3",
       MT_SHAPE(6, 4),
       {6, 4, 1, 3.0, 2, 1, 0.0f, 3}},
      {"use_ignore=true ignore_label=2", MT_SHAPE(6, 3), {6, 3, 1, 1.0, 0, 1, 2.0f, 2}},
      {"multi_output=true normalization=batch",
       MT_SHAPE(2, 3, 2, 2),
       {2, 3, 4, 1.0, 1, 0, -1.0f, 0}},
      {"multi_output=true normalization=valid use_ignore=true ignore_label=1",
       MT_SHAPE(2, 4, 3),
       {2, 4, 3, 1.0, 2, 1, 1.0f, 2}},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    tu_gradcheck g = {.op = "SoftmaxOutput",
                      .attrs = cases[k].attrs,
                      .nargs = 2,
                      .shapes = {cases[k].shape},
                      .no_grad = 2u,
                      .is_train = 1,
                      .init = ce_init,
                      .loss = ce_loss,
                      .user = &cases[k].u};
    double err = tu_gradcheck_run(&g);
    print_message("  SoftmaxOutput '%s': max gradcheck error %.2e\n", cases[k].attrs, err);
    if (!(err < GRAD_TOL)) fail_msg("SoftmaxOutput %s: gradcheck error %g", cases[k].attrs, err);
  }
}

/* Backward against the closed form, for every normalization, with the
 * label gradient and req null/add checked too. */
static void check_softmax_grad(const char *attrs, int norm_mode, int use_ignore, float ignore,
                               float grad_scale) {
  enum { N = 6, C = 4 };
  const float labels[N] = {0, 3, 1, 2, 1, 3};
  tu_op t;
  mt_shape shapes[2] = {MT_SHAPE(N, C), {0}};
  MT_ASSERT_OK(tu_op_setup(&t, "SoftmaxOutput", attrs, 2, shapes));
  tu_fill_uniform(t.in[0]->data, N * C, -1.0f, 1.0f, 5);
  memcpy(t.in[1]->data, labels, sizeof labels);
  MT_ASSERT_OK(tu_op_forward(&t, 1));
  int valid = 0;
  for (int r = 0; r < N; r++) valid += (int)labels[r] != (int)ignore;
  double norm = norm_mode == 0 ? 1.0 : norm_mode == 1 ? N : (valid ? valid : 1);
  float want[N * C];
  for (int r = 0; r < N; r++)
    for (int c = 0; c < C; c++) {
      double g = t.out[0]->data[r * C + c] - (c == (int)labels[r] ? 1.0 : 0.0);
      if (use_ignore && (int)labels[r] == (int)ignore) g = 0;
      want[r * C + c] = (float)(g * grad_scale / norm);
    }
  mt_ndarray *dd, *dl;
  MT_ASSERT_OK(mt_ndarray_create(t.in[0]->shape, mt_cpu(0), &dd));
  MT_ASSERT_OK(mt_ndarray_create(t.in[1]->shape, mt_cpu(0), &dl));
  /* write: data grad = formula, label grad = 0 */
  mtk_fill(dd->data, dd->size, 9.0f);
  mtk_fill(dl->data, dl->size, 9.0f);
  mt_grad_req req[2] = {MT_REQ_WRITE, MT_REQ_WRITE};
  mt_ndarray *ig[2] = {dd, dl};
  MT_ASSERT_OK(run_backward(&t, req, ig));
  assert_true(tu_max_abs_diff(dd->data, want, N * C) < 1e-6);
  for (int r = 0; r < N; r++) assert_true(dl->data[r] == 0.0f);
  /* add: onto 1.0, label untouched */
  mtk_fill(dd->data, dd->size, 1.0f);
  mtk_fill(dl->data, dl->size, 5.0f);
  req[0] = req[1] = MT_REQ_ADD;
  MT_ASSERT_OK(run_backward(&t, req, ig));
  for (int j = 0; j < N * C; j++) assert_true(fabsf(dd->data[j] - (1.0f + want[j])) < 1e-6f);
  for (int r = 0; r < N; r++) assert_true(dl->data[r] == 5.0f);
  /* null: nothing touched (and a NULL array is fine) */
  req[0] = req[1] = MT_REQ_NULL;
  mt_ndarray *none[2] = {NULL, NULL};
  MT_ASSERT_OK(run_backward(&t, req, none));
  mt_ndarray_free(dd);
  mt_ndarray_free(dl);
  tu_op_free(&t);
}

static void test_softmax_normalization(void **state) {
  (void)state;
  check_softmax_grad("", 0, 0, -1.0f, 1.0f);
  check_softmax_grad("grad_scale=0.5", 0, 0, -1.0f, 0.5f);
  check_softmax_grad("normalization=batch", 1, 0, -1.0f, 1.0f);
  /* valid without use_ignore: no label is -1, so norm = N, no row zeroed */
  check_softmax_grad("normalization=valid", 2, 0, -1.0f, 1.0f);
  /* ignore_label 3: rows 1 and 5 zero; valid count 4 */
  check_softmax_grad("normalization=valid use_ignore=true ignore_label=3 grad_scale=2", 2, 1, 3.0f,
                     2.0f);
  check_softmax_grad("normalization=batch use_ignore=true ignore_label=1", 1, 1, 1.0f, 1.0f);
  check_softmax_grad("use_ignore=true ignore_label=0", 0, 1, 0.0f, 1.0f);
}

/* Every label ignored: zero gradient, no division by zero. */
static void test_softmax_all_ignored(void **state) {
  (void)state;
  tu_op t;
  mt_shape shapes[2] = {MT_SHAPE(3, 4), {0}};
  MT_ASSERT_OK(tu_op_setup(&t, "SoftmaxOutput", "normalization=valid use_ignore=true", 2, shapes));
  tu_fill_uniform(t.in[0]->data, 12, -1.0f, 1.0f, 5);
  mtk_fill(t.in[1]->data, 3, -1.0f);
  MT_ASSERT_OK(tu_op_forward(&t, 1));
  mt_ndarray *dd;
  MT_ASSERT_OK(mt_ndarray_create(t.in[0]->shape, mt_cpu(0), &dd));
  mtk_fill(dd->data, dd->size, 3.0f);
  mt_grad_req req[2] = {MT_REQ_WRITE, MT_REQ_NULL};
  mt_ndarray *ig[2] = {dd, NULL};
  MT_ASSERT_OK(run_backward(&t, req, ig));
  for (int j = 0; j < 12; j++) assert_true(dd->data[j] == 0.0f);
  mt_ndarray_free(dd);
  tu_op_free(&t);
}

static void test_softmax_bad_label(void **state) {
  (void)state;
  tu_op t;
  mt_shape shapes[2] = {MT_SHAPE(2, 3), {0}};
  MT_ASSERT_OK(tu_op_setup(&t, "SoftmaxOutput", "", 2, shapes));
  t.in[1]->data[0] = 1.0f;
  t.in[1]->data[1] = 3.0f; /* classes are 0..2 */
  MT_ASSERT_OK(tu_op_forward(&t, 1));
  mt_ndarray *dd;
  MT_ASSERT_OK(mt_ndarray_create(t.in[0]->shape, mt_cpu(0), &dd));
  mt_grad_req req[2] = {MT_REQ_WRITE, MT_REQ_NULL};
  mt_ndarray *ig[2] = {dd, NULL};
  assert_int_equal(run_backward(&t, req, ig), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "label 3"));
  mt_ndarray_free(dd);
  tu_op_free(&t);
}

static void test_softmax_attrs_and_shapes(void **state) {
  (void)state;
  assert_int_equal(parse_only("SoftmaxOutput", "normalization=foo", "sm"), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "normalization"));
  assert_non_null(strstr(mt_last_error(), "foo"));
  assert_non_null(strstr(mt_last_error(), "'sm'"));
  assert_int_equal(parse_only("SoftmaxOutput", "out_grad=true", "sm"), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "out_grad"));
  MT_ASSERT_OK(parse_only("SoftmaxOutput", "out_grad=false __lr_mult__=1", "sm"));
  assert_int_equal(parse_only("SoftmaxOutput", "smooth=1", "sm"), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "smooth"));
  assert_int_equal(parse_only("SoftmaxOutput", "grad_scale=x", "sm"), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "grad_scale"));
  /* the Softmax alias finds the same op */
  assert_ptr_equal(mt_op_find("Softmax"), mt_op_find("SoftmaxOutput"));

  mt_shape in[2], out[2];
  /* label mismatch names the node and both shapes */
  in[0] = (mt_shape)MT_SHAPE(8, 10);
  in[1] = (mt_shape)MT_SHAPE(7);
  assert_int_equal(infer("SoftmaxOutput", "", "softmax", in, out), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "'softmax'"));
  assert_non_null(strstr(mt_last_error(), "(8,)"));
  assert_non_null(strstr(mt_last_error(), "(7,)"));
  /* (N, 1) labels are accepted */
  in[1] = (mt_shape)MT_SHAPE(8, 1);
  MT_ASSERT_OK(infer("SoftmaxOutput", "", "softmax", in, out));
  assert_true(mt_shape_equal(&out[0], &in[0]));
  /* multi_output: inferred (N, d...), mismatch reported */
  in[0] = (mt_shape)MT_SHAPE(2, 5, 3, 4);
  in[1] = (mt_shape){0};
  MT_ASSERT_OK(infer("SoftmaxOutput", "multi_output=1", "softmax", in, out));
  mt_shape want = MT_SHAPE(2, 3, 4);
  assert_true(mt_shape_equal(&in[1], &want));
  in[1] = (mt_shape)MT_SHAPE(2, 5);
  assert_int_equal(infer("SoftmaxOutput", "multi_output=1", "softmax", in, out), MT_E_SHAPE);
  /* unknown data */
  in[0] = (mt_shape){0};
  in[1] = (mt_shape){0};
  assert_int_equal(infer("SoftmaxOutput", "", "softmax", in, out), MT_E_SHAPE);
}

/* -------------------------------------------------------- RegressionOutput */

typedef struct {
  int kind; /* 0 linear, 1 logistic, 2 MAE */
  double grad_scale;
  const float *data; /* set by init: labels are placed away from the data */
} reg_user;

static void reg_init(int arg, float *x, int64_t n, const mt_shape *s, void *user) {
  reg_user *u = user;
  if (arg == 0) {
    tu_fill_uniform(x, n, -1.0f, 1.0f, 77);
    u->data = x;
  } else if (u->kind == 1) {
    tu_fill_uniform(x, n, 0.0f, 1.0f, 78); /* probabilities */
  } else {
    /* |out - label| >= 0.25, far from MAE's kink at 0 */
    float off[2] = {0.25f, -0.4f};
    for (int64_t j = 0; j < n; j++) x[j] = u->data[j] + off[j % 2];
  }
}

static double reg_loss(mt_ndarray *const *out, int nout, mt_ndarray *const *in, void *user) {
  reg_user *u = user;
  const mt_ndarray *l = in[1];
  double num_output = (double)l->size / (double)l->shape.dim[0], s = 0;
  for (int64_t j = 0; j < l->size; j++) {
    double o = out[0]->data[j], y = l->data[j];
    if (u->kind == 0) s += 0.5 * (o - y) * (o - y);
    else if (u->kind == 1) s -= y * log(o) + (1 - y) * log(1 - o);
    else s += fabs(o - y);
  }
  return s * u->grad_scale / num_output;
}

static const char *const reg_ops[] = {"LinearRegressionOutput", "LogisticRegressionOutput",
                                      "MAERegressionOutput"};

static void test_regression_forward(void **state) {
  (void)state;
  for (int k = 0; k < 3; k++) {
    tu_op t;
    mt_shape shapes[2] = {MT_SHAPE(4, 3), {0}};
    MT_ASSERT_OK(tu_op_setup(&t, reg_ops[k], "", 2, shapes));
    assert_true(mt_shape_equal(&t.in[1]->shape, &shapes[0]));
    tu_fill_uniform(t.in[0]->data, 12, -30.0f, 30.0f, 3);
    MT_ASSERT_OK(tu_op_forward(&t, 0));
    for (int j = 0; j < 12; j++) {
      double x = t.in[0]->data[j], want = k == 1 ? 1.0 / (1.0 + exp(-x)) : x;
      assert_true(fabs(t.out[0]->data[j] - want) <= 1e-6 * fmax(1.0, fabs(want)));
    }
    tu_op_free(&t);
  }
}

static void test_regression_gradcheck(void **state) {
  (void)state;
  const char *attrs[] = {"", "grad_scale=3"};
  mt_shape shapes[] = {MT_SHAPE(4, 3), MT_SHAPE(5, 1), MT_SHAPE(2, 3, 2)};
  for (int k = 0; k < 3; k++)
    for (int a = 0; a < 2; a++)
      for (int s = 0; s < 3; s++) {
        reg_user u = {.kind = k, .grad_scale = a ? 3.0 : 1.0};
        tu_gradcheck g = {.op = reg_ops[k],
                          .attrs = attrs[a],
                          .nargs = 2,
                          .shapes = {shapes[s]},
                          .no_grad = 2u,
                          .is_train = 1,
                          .init = reg_init,
                          .loss = reg_loss,
                          .user = &u};
        double err = tu_gradcheck_run(&g);
        print_message("  %s '%s' shape %d: max gradcheck error %.2e\n", reg_ops[k], attrs[a], s,
                      err);
        if (!(err < GRAD_TOL))
          fail_msg("%s %s shape %d: gradcheck error %g", reg_ops[k], attrs[a], s, err);
      }
}

/* Closed form with num_output, label gradient and reqs. */
static void test_regression_backward(void **state) {
  (void)state;
  for (int k = 0; k < 3; k++) {
    tu_op t;
    mt_shape shapes[2] = {MT_SHAPE(2, 4), {0}};
    MT_ASSERT_OK(tu_op_setup(&t, reg_ops[k], "grad_scale=2", 2, shapes));
    tu_fill_uniform(t.in[0]->data, 8, -1.0f, 1.0f, 8);
    tu_fill_uniform(t.in[1]->data, 8, 0.0f, 1.0f, 9);
    t.in[1]->data[3] = t.in[0]->data[3]; /* MAE: sign(0) = 0 */
    if (k == 1) t.in[1]->data[3] = 0.5f;
    MT_ASSERT_OK(tu_op_forward(&t, 1));
    mt_ndarray *dd, *dl;
    MT_ASSERT_OK(mt_ndarray_create(t.in[0]->shape, mt_cpu(0), &dd));
    MT_ASSERT_OK(mt_ndarray_create(t.in[1]->shape, mt_cpu(0), &dl));
    mtk_fill(dl->data, 8, 4.0f);
    mt_grad_req req[2] = {MT_REQ_WRITE, MT_REQ_WRITE};
    mt_ndarray *ig[2] = {dd, dl};
    MT_ASSERT_OK(run_backward(&t, req, ig));
    for (int j = 0; j < 8; j++) {
      double d = (double)t.out[0]->data[j] - t.in[1]->data[j];
      if (k == 2) d = (d > 0) - (d < 0);
      double want = 2.0 / 4.0 * d; /* grad_scale / num_output, num_output = 4 */
      assert_true(fabs(dd->data[j] - want) < 1e-6);
      assert_true(dl->data[j] == 0.0f);
    }
    if (k == 2) assert_true(dd->data[3] == 0.0f);
    /* add onto 1 */
    float before[8];
    mtk_fill(dd->data, 8, 1.0f);
    memcpy(before, dd->data, sizeof before);
    req[0] = MT_REQ_ADD;
    req[1] = MT_REQ_NULL;
    ig[1] = NULL;
    MT_ASSERT_OK(run_backward(&t, req, ig));
    for (int j = 0; j < 8; j++) {
      double d = (double)t.out[0]->data[j] - t.in[1]->data[j];
      if (k == 2) d = (d > 0) - (d < 0);
      assert_true(fabs(dd->data[j] - (before[j] + 0.5 * d)) < 1e-6);
    }
    mt_ndarray_free(dd);
    mt_ndarray_free(dl);
    tu_op_free(&t);
  }
}

static void test_regression_shapes_and_attrs(void **state) {
  (void)state;
  mt_shape in[2], out[2];
  for (int k = 0; k < 3; k++) {
    /* (N, 1) data: label (N,) */
    in[0] = (mt_shape)MT_SHAPE(6, 1);
    in[1] = (mt_shape){0};
    MT_ASSERT_OK(infer(reg_ops[k], "", "reg", in, out));
    mt_shape want = MT_SHAPE(6);
    assert_true(mt_shape_equal(&in[1], &want));
    assert_true(mt_shape_equal(&out[0], &in[0]));
    /* other data: label = data shape; a same-size label with the same batch is accepted */
    in[0] = (mt_shape)MT_SHAPE(6, 2);
    in[1] = (mt_shape)MT_SHAPE(6, 2, 1);
    MT_ASSERT_OK(infer(reg_ops[k], "", "reg", in, out));
    in[1] = (mt_shape)MT_SHAPE(6, 3);
    assert_int_equal(infer(reg_ops[k], "", "lro", in, out), MT_E_SHAPE);
    assert_non_null(strstr(mt_last_error(), reg_ops[k]));
    assert_non_null(strstr(mt_last_error(), "'lro'"));
    assert_non_null(strstr(mt_last_error(), "(6, 2)"));
    assert_non_null(strstr(mt_last_error(), "(6, 3)"));
    in[1] = (mt_shape)MT_SHAPE(12);
    assert_int_equal(infer(reg_ops[k], "", "lro", in, out), MT_E_SHAPE);
    /* attrs */
    MT_ASSERT_OK(parse_only(reg_ops[k], "grad_scale=0.5", "reg"));
    assert_int_equal(parse_only(reg_ops[k], "normalization=batch", "reg"), MT_E_INVAL);
    assert_non_null(strstr(mt_last_error(), "normalization"));
    assert_int_equal(parse_only(reg_ops[k], "grad_scale=abc", "reg"), MT_E_INVAL);
    assert_non_null(strstr(mt_last_error(), "grad_scale"));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_softmax_forward),
      cmocka_unit_test(test_softmax_gradcheck),
      cmocka_unit_test(test_softmax_normalization),
      cmocka_unit_test(test_softmax_all_ignored),
      cmocka_unit_test(test_softmax_bad_label),
      cmocka_unit_test(test_softmax_attrs_and_shapes),
      cmocka_unit_test(test_regression_forward),
      cmocka_unit_test(test_regression_gradcheck),
      cmocka_unit_test(test_regression_backward),
      cmocka_unit_test(test_regression_shapes_and_attrs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
