/* test_executor.c — symbol construction, name lists, shape inference and the
 * executor: forward/backward of an MLP against a plain reference written
 * here, grad_req write/add/null, weight sharing, the memory plan, errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/symbol.h"
#include "testutil.h"

static void test_lists_and_shapes(void **state) {
  mt_symbol *s = tu_mlp(64, "relu", 10);
  int n;
  const char *const *names;
  MT_ASSERT_OK(mt_symbol_list_arguments(s, &n, &names));
  const char *want[] = {"data",       "fc1_weight", "fc1_bias",
                        "fc2_weight", "fc2_bias",   "softmax_label"};
  assert_int_equal(n, 6);
  for (int i = 0; i < 6; i++) assert_string_equal(names[i], want[i]);
  MT_ASSERT_OK(mt_symbol_list_outputs(s, &n, &names));
  assert_int_equal(n, 1);
  assert_string_equal(names[0], "softmax_output");
  MT_ASSERT_OK(mt_symbol_list_auxiliary_states(s, &n, &names));
  assert_int_equal(n, 0);
  const char *k[] = {"data"};
  mt_shape ks[] = {MT_SHAPE(32, 128)}, as[6], os[1];
  MT_ASSERT_OK(mt_symbol_infer_shape(s, 1, k, ks, as, os, NULL));
  mt_shape w1 = MT_SHAPE(64, 128), b2 = MT_SHAPE(10), lab = MT_SHAPE(32), o = MT_SHAPE(32, 10);
  assert_true(mt_shape_equal(&as[1], &w1));
  assert_true(mt_shape_equal(&as[4], &b2));
  assert_true(mt_shape_equal(&as[5], &lab));
  assert_true(mt_shape_equal(&os[0], &o));
  mt_symbol_free(s);
}

static void test_auto_names_and_errors(void **state) {
  mt_symbol *d, *f;
  MT_ASSERT_OK(mt_symbol_variable("x", &d));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", NULL, "num_hidden=3", 1, &d, &f));
  int n;
  const char *const *names;
  MT_ASSERT_OK(mt_symbol_list_arguments(f, &n, &names));
  assert_int_equal(n, 3);
  assert_non_null(strstr(names[1], "fullyconnected"));
  assert_non_null(strstr(names[1], "_weight"));
  mt_symbol_free(f);
  mt_symbol *bad;
  assert_int_equal(mt_symbol_create("NoSuchOp", "z", NULL, 1, &d, &bad), MT_E_NOTFOUND);
  assert_non_null(strstr(mt_last_error(), "NoSuchOp"));
  assert_int_equal(mt_symbol_create("FullyConnected", "z", "num_hidden=abc", 1, &d, &bad),
                   MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "num_hidden"));
  /* a shape mismatch names the node and both shapes */
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fcx", "num_hidden=4", 1, &d, &f));
  const char *k[] = {"x", "fcx_weight"};
  mt_shape ks[] = {MT_SHAPE(2, 5), MT_SHAPE(4, 6)}, as[3], os[1];
  assert_int_equal(mt_symbol_infer_shape(f, 2, k, ks, as, os, NULL), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "fcx"));
  assert_non_null(strstr(mt_last_error(), "(4, 5)"));
  assert_non_null(strstr(mt_last_error(), "(4, 6)"));
  mt_symbol_free(f);
  mt_symbol_free(d);
}

/* Reference MLP forward/backward in double. */
static void reference(int B, int D, int H, int C, const float *x, const float *lab, const float *w1,
                      const float *b1, const float *w2, const float *b2, double *prob, double *dw1,
                      double *db1, double *dw2, double *db2) {
  double *h = calloc((size_t)B * H, sizeof *h), *dh = calloc((size_t)B * H, sizeof *dh);
  for (int b = 0; b < B; b++)
    for (int j = 0; j < H; j++) {
      double s = b1[j];
      for (int i = 0; i < D; i++) s += (double)x[b * D + i] * w1[j * D + i];
      h[b * H + j] = s > 0 ? s : 0;
    }
  for (int b = 0; b < B; b++) {
    double z[64], m = -1e300, sum = 0;
    for (int c = 0; c < C; c++) {
      z[c] = b2[c];
      for (int j = 0; j < H; j++) z[c] += h[b * H + j] * w2[c * H + j];
      if (z[c] > m) m = z[c];
    }
    for (int c = 0; c < C; c++) sum += exp(z[c] - m);
    for (int c = 0; c < C; c++) prob[b * C + c] = exp(z[c] - m) / sum;
  }
  memset(dw1, 0, sizeof(double) * H * D);
  memset(db1, 0, sizeof(double) * H);
  memset(dw2, 0, sizeof(double) * C * H);
  memset(db2, 0, sizeof(double) * C);
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++) {
      double g = prob[b * C + c] - (c == (int)lab[b] ? 1.0 : 0.0);
      db2[c] += g;
      for (int j = 0; j < H; j++) {
        dw2[c * H + j] += g * h[b * H + j];
        dh[b * H + j] += g * w2[c * H + j];
      }
    }
  for (int b = 0; b < B; b++)
    for (int j = 0; j < H; j++) {
      double g = h[b * H + j] > 0 ? dh[b * H + j] : 0;
      db1[j] += g;
      for (int i = 0; i < D; i++) dw1[j * D + i] += g * x[b * D + i];
    }
  free(h);
  free(dh);
}

static double maxdiff(const float *a, const double *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]) / fmax(1.0, fabs(b[i])));
  return m;
}

static mt_executor *bind_mlp(mt_symbol *s, int B, int D, mt_grad_req req) {
  const char *k[] = {"data", "softmax_label"};
  mt_shape ks[] = {MT_SHAPE(B, D), MT_SHAPE(B)};
  mt_executor *ex;
  MT_ASSERT_OK(mt_executor_simple_bind(s, mt_cpu(0), req, 2, k, ks, 0, &ex));
  const char *p[] = {"data", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"};
  for (int i = 0; i < 5; i++) {
    mt_ndarray *a = mt_executor_arg(ex, p[i]);
    tu_fill_uniform(mt_ndarray_data(a), mt_ndarray_size(a), -0.5f, 0.5f, 10 + (uint64_t)i);
  }
  float *lab = mt_ndarray_data(mt_executor_arg(ex, "softmax_label"));
  for (int b = 0; b < B; b++) lab[b] = (float)((b * 7) % 10);
  return ex;
}

static void test_mlp_forward_backward(void **state) {
  const int B = 16, D = 20, H = 12, C = 10;
  mt_symbol *s = tu_mlp(H, "relu", C);
  mt_executor *ex = bind_mlp(s, B, D, MT_REQ_WRITE);
  assert_null(mt_executor_grad(ex, "data"));
  assert_null(mt_executor_grad(ex, "softmax_label"));
  MT_ASSERT_OK(mt_executor_forward(ex, 1));
  MT_ASSERT_OK(mt_executor_backward(ex, 0, NULL));
  double *prob = malloc(sizeof(double) * B * C), *dw1 = malloc(sizeof(double) * H * D),
         *db1 = malloc(sizeof(double) * H), *dw2 = malloc(sizeof(double) * C * H),
         *db2 = malloc(sizeof(double) * C);
#define D_(n) mt_ndarray_data(mt_executor_arg(ex, n))
#define G_(n) mt_ndarray_data(mt_executor_grad(ex, n))
  reference(B, D, H, C, D_("data"), D_("softmax_label"), D_("fc1_weight"), D_("fc1_bias"),
            D_("fc2_weight"), D_("fc2_bias"), prob, dw1, db1, dw2, db2);
  assert_true(maxdiff(mt_ndarray_data(mt_executor_output(ex, 0)), prob, B * C) < 1e-5);
  assert_true(maxdiff(G_("fc1_weight"), dw1, H * D) < 1e-4);
  assert_true(maxdiff(G_("fc1_bias"), db1, H) < 1e-4);
  assert_true(maxdiff(G_("fc2_weight"), dw2, C * H) < 1e-4);
  assert_true(maxdiff(G_("fc2_bias"), db2, C) < 1e-4);
  /* a second pass gives the same gradients (write, not accumulate) */
  MT_ASSERT_OK(mt_executor_forward(ex, 1));
  MT_ASSERT_OK(mt_executor_backward(ex, 0, NULL));
  assert_true(maxdiff(G_("fc1_weight"), dw1, H * D) < 1e-4);
  mt_executor_free(ex);
  /* grad_req add: two passes accumulate twice the gradient */
  ex = bind_mlp(s, B, D, MT_REQ_ADD);
  for (int r = 0; r < 2; r++) {
    MT_ASSERT_OK(mt_executor_forward(ex, 1));
    MT_ASSERT_OK(mt_executor_backward(ex, 0, NULL));
  }
  for (int i = 0; i < H * D; i++) dw1[i] *= 2;
  for (int i = 0; i < C; i++) db2[i] *= 2;
  assert_true(maxdiff(G_("fc1_weight"), dw1, H * D) < 2e-4);
  assert_true(maxdiff(G_("fc2_bias"), db2, C) < 2e-4);
  mt_executor_free(ex);
  /* grad_req null: no gradients, backward is refused before a training forward */
  ex = bind_mlp(s, B, D, MT_REQ_NULL);
  assert_null(mt_executor_grad(ex, "fc1_weight"));
  MT_ASSERT_OK(mt_executor_forward(ex, 0));
  assert_true(maxdiff(mt_ndarray_data(mt_executor_output(ex, 0)), prob, B * C) < 1e-5);
  assert_int_equal(mt_executor_backward(ex, 0, NULL), MT_E_STATE);
  mt_executor_free(ex);
  free(prob);
  free(dw1);
  free(db1);
  free(dw2);
  free(db2);
  mt_symbol_free(s);
}

/* y = fc(x; W) + fc(x; W) with W shared: dW is twice that of one branch. */
static void test_shared_weight(void **state) {
  mt_symbol *x, *w, *a, *b, *sum;
  MT_ASSERT_OK(mt_symbol_variable("x", &x));
  MT_ASSERT_OK(mt_symbol_variable("w", &w));
  mt_symbol *in[2] = {x, w};
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "a", "num_hidden=3 no_bias=true", 2, in, &a));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "b", "num_hidden=3 no_bias=true", 2, in, &b));
  mt_symbol *ab[2] = {a, b};
  MT_ASSERT_OK(mt_symbol_create("elemwise_add", "sum", NULL, 2, ab, &sum));
  int n;
  const char *const *names;
  MT_ASSERT_OK(mt_symbol_list_arguments(sum, &n, &names));
  assert_int_equal(n, 2);
  const char *k[] = {"x"};
  mt_shape ks[] = {MT_SHAPE(4, 5)};
  mt_executor *ex;
  MT_ASSERT_OK(mt_executor_simple_bind(sum, mt_cpu(0), MT_REQ_WRITE, 1, k, ks, 1, &ex));
  float *xd = mt_ndarray_data(mt_executor_arg(ex, "x")),
        *wd = mt_ndarray_data(mt_executor_arg(ex, "w"));
  tu_fill_uniform(xd, 20, -1, 1, 1);
  tu_fill_uniform(wd, 15, -1, 1, 2);
  MT_ASSERT_OK(mt_executor_forward(ex, 1));
  /* a non-loss head needs its out_grad */
  assert_int_equal(mt_executor_backward(ex, 0, NULL), MT_E_INVAL);
  mt_ndarray *og;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(4, 3), mt_cpu(0), &og));
  MT_ASSERT_OK(mt_ndarray_fill(og, 1.0f));
  MT_ASSERT_OK(mt_executor_backward(ex, 1, &og));
  const float *gw = mt_ndarray_data(mt_executor_grad(ex, "w"));
  const float *gx = mt_ndarray_data(mt_executor_grad(ex, "x"));
  for (int j = 0; j < 3; j++)
    for (int i = 0; i < 5; i++) {
      double s = 0;
      for (int r = 0; r < 4; r++) s += xd[r * 5 + i];
      assert_true(fabs(gw[j * 5 + i] - 2 * s) < 1e-5);
    }
  for (int r = 0; r < 4; r++)
    for (int i = 0; i < 5; i++) {
      double s = 0;
      for (int j = 0; j < 3; j++) s += wd[j * 5 + i];
      assert_true(fabs(gx[r * 5 + i] - 2 * s) < 1e-5);
    }
  mt_ndarray_free(og);
  mt_executor_free(ex);
  mt_symbol_free(x);
  mt_symbol_free(w);
  mt_symbol_free(a);
  mt_symbol_free(b);
  mt_symbol_free(sum);
}

/* A deep chain: the plan must share storage, and results must not change. */
static void test_memory_plan(void **state) {
  mt_symbol *cur;
  MT_ASSERT_OK(mt_symbol_variable("data", &cur));
  for (int l = 0; l < 6; l++) {
    char name[32];
    mt_symbol *fc, *act;
    snprintf(name, sizeof name, "fc%d", l);
    MT_ASSERT_OK(mt_symbol_create("FullyConnected", name, "num_hidden=32", 1, &cur, &fc));
    snprintf(name, sizeof name, "act%d", l);
    MT_ASSERT_OK(mt_symbol_create("Activation", name, "act_type=tanh", 1, &fc, &act));
    mt_symbol_free(cur);
    mt_symbol_free(fc);
    cur = act;
  }
  mt_symbol *out;
  MT_ASSERT_OK(mt_symbol_create("LinearRegressionOutput", "lro", NULL, 1, &cur, &out));
  mt_symbol_free(cur);
  const char *k[] = {"data", "lro_label"};
  mt_shape ks[] = {MT_SHAPE(8, 16), MT_SHAPE(8, 32)};
  mt_executor *train, *infer;
  MT_ASSERT_OK(mt_executor_simple_bind(out, mt_cpu(0), MT_REQ_WRITE, 2, k, ks, 0, &train));
  MT_ASSERT_OK(mt_executor_simple_bind(out, mt_cpu(0), MT_REQ_NULL, 2, k, ks, 0, &infer));
  int64_t unplanned, planned = mt_executor_planned_bytes(train, &unplanned);
  print_message("train plan: %lld of %lld bytes\n", (long long)planned, (long long)unplanned);
  assert_true(planned < unplanned);
  int64_t iu, ip = mt_executor_planned_bytes(infer, &iu);
  print_message("inference plan: %lld of %lld bytes\n", (long long)ip, (long long)iu);
  assert_true(ip * 3 <= iu); /* a chain needs ~2 live buffers plus the head */
  int n;
  const char *const *names;
  MT_ASSERT_OK(mt_symbol_list_arguments(out, &n, &names));
  for (int i = 0; i < n; i++) {
    mt_ndarray *a = mt_executor_arg(train, names[i]), *b = mt_executor_arg(infer, names[i]);
    tu_fill_uniform(mt_ndarray_data(a), mt_ndarray_size(a), -0.3f, 0.3f, 50 + (uint64_t)i);
    MT_ASSERT_OK(mt_ndarray_copy(b, a));
  }
  MT_ASSERT_OK(mt_executor_forward(train, 1));
  MT_ASSERT_OK(mt_executor_forward(infer, 0));
  assert_true(tu_max_abs_diff(mt_ndarray_data(mt_executor_output(train, 0)),
                              mt_ndarray_data(mt_executor_output(infer, 0)), 8 * 32) == 0.0);
  /* gradients with planning equal a finite-difference probe of one weight */
  MT_ASSERT_OK(mt_executor_backward(train, 0, NULL));
  float *w = mt_ndarray_data(mt_executor_arg(infer, "fc0_weight"));
  const float *lab = mt_ndarray_data(mt_executor_arg(infer, "lro_label"));
  double g = mt_ndarray_data(mt_executor_grad(train, "fc0_weight"))[7], loss[2];
  for (int s = 0; s < 2; s++) {
    float w0 = w[7];
    w[7] = w0 + (s ? -1e-2f : 1e-2f);
    MT_ASSERT_OK(mt_executor_forward(infer, 0));
    const float *o = mt_ndarray_data(mt_executor_output(infer, 0));
    loss[s] = 0;
    for (int i = 0; i < 8 * 32; i++) loss[s] += 0.5 * (o[i] - lab[i]) * (o[i] - lab[i]) / 32.0;
    w[7] = w0;
  }
  double num = (loss[0] - loss[1]) / 2e-2;
  print_message("fc0_weight[7]: analytic %g numerical %g\n", g, num);
  assert_true(fabs(num - g) <= 1e-3 + 1e-2 * fabs(num));
  mt_executor_free(train);
  mt_executor_free(infer);
  mt_symbol_free(out);
}

static void test_bind_checks(void **state) {
  mt_symbol *s = tu_mlp(4, "relu", 3);
  mt_ndarray *arrs[6];
  mt_shape shapes[6] = {MT_SHAPE(2, 5), MT_SHAPE(4, 5), MT_SHAPE(4),
                        MT_SHAPE(3, 4), MT_SHAPE(3),    MT_SHAPE(2)};
  for (int i = 0; i < 6; i++) MT_ASSERT_OK(mt_ndarray_create(shapes[i], mt_cpu(0), &arrs[i]));
  mt_executor *ex;
  MT_ASSERT_OK(mt_executor_bind(s, mt_cpu(0), 6, arrs, NULL, NULL, 0, NULL, &ex));
  MT_ASSERT_OK(mt_executor_forward(ex, 0));
  mt_executor_free(ex);
  assert_int_equal(mt_executor_bind(s, mt_cpu(0), 5, arrs, NULL, NULL, 0, NULL, &ex), MT_E_INVAL);
  mt_ndarray_free(arrs[3]);
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(3, 7), mt_cpu(0), &arrs[3]));
  assert_int_equal(mt_executor_bind(s, mt_cpu(0), 6, arrs, NULL, NULL, 0, NULL, &ex), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "fc2"));
  for (int i = 0; i < 6; i++) mt_ndarray_free(arrs[i]);
  mt_symbol_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lists_and_shapes),     cmocka_unit_test(test_auto_names_and_errors),
      cmocka_unit_test(test_mlp_forward_backward), cmocka_unit_test(test_shared_weight),
      cmocka_unit_test(test_memory_plan),          cmocka_unit_test(test_bind_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
