/* test_executor_fusion.c — FullyConnected fused with the Activation after it
 * (src/executor.c, kernels/cpu/fused.h).
 *
 *  - the fused kernels against the separate ones (mtk_add_row_bias +
 *    mtk_activation_forward; mtk_activation_backward + mtk_sum_rows), for
 *    relu, sigmoid, tanh and softrelu, with and without bias, writing and
 *    accumulating the bias gradient, on odd sizes and with NaN and Inf among
 *    the inputs: the same bits.
 *  - executors bound twice, fused (MODTRAIN_FUSE=1; a CPU executor does not
 *    fuse by default, which is checked too) and with MODTRAIN_FUSE=0,
 *    on the same arguments: outputs and every gradient the same bits, over
 *    two passes with different data (a buffer the plan shares wrongly would
 *    show in the second), and the number of fused pairs as expected:
 *      the tutorial MLP with each activation (softsign is never fused);
 *      grad_req add; inputs that need gradients; inference only;
 *      FullyConnected without bias; flatten=false on 3-d data;
 *      an FC output used twice (not fused); an Activation output that is
 *      also a head (fused, its out_grad given); two branches joined by
 *      Concat; four layers deep. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "src/executor.h"
#include "testutil.h"

static const char *const act_names[] = {"relu", "sigmoid", "tanh", "softrelu", "softsign"};

static void expect_same_bits(const char *what, const float *a, const float *b, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], sizeof(float)))
      fail_msg("%s: element %lld: fused %.9g, unfused %.9g", what, (long long)i, (double)a[i],
               (double)b[i]);
}

/* ------------------------------------------------------------- kernels */

static void test_fused_kernels_equal_separate(void **state) {
  const int64_t shapes[][2] = {{1, 1}, {7, 13}, {32, 64}, {3, 1000}};
  for (int act = 0; act < 4; act++)
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
      for (int with_bias = 0; with_bias < 2; with_bias++)
        for (int acc = 0; acc < 2; acc++) {
          int64_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
          float *y0 = malloc(sizeof(float) * (size_t)n), *y1 = malloc(sizeof(float) * (size_t)n);
          float *b = malloc(sizeof(float) * (size_t)cols), *dy = malloc(sizeof(float) * (size_t)n);
          float *g0 = malloc(sizeof(float) * (size_t)n), *g1 = malloc(sizeof(float) * (size_t)n);
          float *db0 = malloc(sizeof(float) * (size_t)cols);
          float *db1 = malloc(sizeof(float) * (size_t)cols);
          tu_fill_uniform(y0, n, -30.0f, 30.0f, 1 + (uint64_t)s);
          tu_fill_uniform(b, cols, -2.0f, 2.0f, 2);
          tu_fill_uniform(dy, n, -1.0f, 1.0f, 3);
          tu_fill_uniform(db0, cols, -1.0f, 1.0f, 4);
          if (n > 2) {
            y0[1] = NAN;
            y0[2] = INFINITY;
            dy[0] = NAN;
          }
          memcpy(y1, y0, sizeof(float) * (size_t)n);
          memcpy(db1, db0, sizeof(float) * (size_t)cols);
          char what[96];
          snprintf(what, sizeof what, "%s %lldx%lld bias %d: forward", act_names[act],
                   (long long)rows, (long long)cols, with_bias);
          const float *bias = with_bias ? b : NULL;
          if (bias) mtk_add_row_bias(y0, bias, rows, cols);
          mtk_activation_forward((mtk_act_type)act, y0, y0, n);
          mtk_bias_act_forward((mtk_act_type)act, y1, bias, rows, cols);
          expect_same_bits(what, y1, y0, n);
          /* backward from the forward output */
          mtk_activation_backward((mtk_act_type)act, dy, NULL, y0, g0, n, 0.0f);
          mtk_sum_rows(db0, g0, rows, cols, acc ? 1.0f : 0.0f);
          mtk_act_bias_backward((mtk_act_type)act, dy, y0, g1, db1, acc ? 1.0f : 0.0f, rows, cols);
          snprintf(what, sizeof what, "%s %lldx%lld acc %d: gradient", act_names[act],
                   (long long)rows, (long long)cols, acc);
          expect_same_bits(what, g1, g0, n);
          snprintf(what, sizeof what, "%s %lldx%lld acc %d: bias gradient", act_names[act],
                   (long long)rows, (long long)cols, acc);
          expect_same_bits(what, db1, db0, cols);
          /* no bias gradient: g alone */
          memset(g1, 0, sizeof(float) * (size_t)n);
          mtk_act_bias_backward((mtk_act_type)act, dy, y0, g1, NULL, 0.0f, rows, cols);
          expect_same_bits("gradient without db", g1, g0, n);
          free(y0), free(y1), free(b), free(dy), free(g0), free(g1), free(db0), free(db1);
        }
}

/* ------------------------------------------------------------ executors */

typedef struct {
  int nknown;
  const char *names[4];
  mt_shape shapes[4];
  mt_grad_req req;
  int inputs_need_grad;
  int train;        /* forward(is_train=1) and backward */
  int nheads;       /* outputs */
  unsigned head_og; /* bit h: head h needs an out_grad (not a loss) */
  int want_fused;
} fusion_case;

static int is_label(const char *name) {
  size_t n = strlen(name);
  return n >= 5 && !strcmp(name + n - 5, "label");
}

/* Every argument (and every gradient under grad_req add) from `seed`. */
static void fill_args(mt_symbol *s, mt_executor *ex, uint64_t seed) {
  int n;
  const char *const *names;
  MT_ASSERT_OK(mt_symbol_list_arguments(s, &n, &names));
  for (int i = 0; i < n; i++) {
    mt_ndarray *a = mt_executor_arg(ex, names[i]);
    float *d = mt_ndarray_data(a);
    if (is_label(names[i]))
      for (int64_t j = 0; j < mt_ndarray_size(a); j++)
        d[j] = (float)((j * 7 + seed) % 3); /* every head has >= 3 classes */
    else tu_fill_uniform(d, mt_ndarray_size(a), -1.0f, 1.0f, seed * 100 + (uint64_t)i);
    mt_ndarray *g = mt_executor_grad(ex, names[i]);
    if (g) tu_fill_uniform(mt_ndarray_data(g), mt_ndarray_size(g), -1.0f, 1.0f, seed + 7);
  }
}

/* fuse: 1 MODTRAIN_FUSE=1, 0 MODTRAIN_FUSE=0, -1 unset (the default) */
static mt_executor *bind_case(mt_symbol *s, const fusion_case *c, int fuse) {
  if (fuse < 0) unsetenv("MODTRAIN_FUSE");
  else setenv("MODTRAIN_FUSE", fuse ? "1" : "0", 1);
  mt_executor *ex;
  MT_ASSERT_OK(mt_executor_simple_bind(s, mt_cpu(0), c->req, c->nknown, c->names, c->shapes,
                                       c->inputs_need_grad, &ex));
  unsetenv("MODTRAIN_FUSE");
  return ex;
}

static void run_case(const char *label, mt_symbol *s, const fusion_case *c) {
  mt_executor *ex[2] = {bind_case(s, c, 1), bind_case(s, c, 0)};
  assert_int_equal(mt_executor_num_fused(ex[0]), c->want_fused);
  assert_int_equal(mt_executor_num_fused(ex[1]), 0);
  mt_executor *dflt = bind_case(s, c, -1); /* cpu(0): no fusion unless asked */
  assert_int_equal(mt_executor_num_fused(dflt), 0);
  mt_executor_free(dflt);
  assert_int_equal(mt_executor_num_outputs(ex[0]), c->nheads);
  int n;
  const char *const *names;
  MT_ASSERT_OK(mt_symbol_list_arguments(s, &n, &names));
  for (int pass = 0; pass < 2; pass++) {
    mt_ndarray *og[2][8] = {{0}};
    for (int k = 0; k < 2; k++) {
      fill_args(s, ex[k], 1 + (uint64_t)pass);
      MT_ASSERT_OK(mt_executor_forward(ex[k], c->train));
      if (!c->train) continue;
      for (int h = 0; h < c->nheads; h++)
        if (c->head_og >> h & 1) {
          mt_ndarray *o = mt_executor_output(ex[k], h);
          MT_ASSERT_OK(mt_ndarray_create(o->shape, mt_cpu(0), &og[k][h]));
          tu_fill_uniform(mt_ndarray_data(og[k][h]), o->size, -1.0f, 1.0f, 50 + (uint64_t)h);
        }
      MT_ASSERT_OK(
          mt_executor_backward(ex[k], c->head_og ? c->nheads : 0, c->head_og ? og[k] : NULL));
    }
    char what[128];
    for (int h = 0; h < c->nheads; h++) {
      snprintf(what, sizeof what, "%s, pass %d: output %d", label, pass, h);
      mt_ndarray *a = mt_executor_output(ex[0], h), *b = mt_executor_output(ex[1], h);
      expect_same_bits(what, mt_ndarray_data(a), mt_ndarray_data(b), a->size);
    }
    for (int i = 0; c->train && i < n; i++) {
      mt_ndarray *a = mt_executor_grad(ex[0], names[i]), *b = mt_executor_grad(ex[1], names[i]);
      assert_true((a == NULL) == (b == NULL));
      if (!a) continue;
      snprintf(what, sizeof what, "%s, pass %d: gradient of %s", label, pass, names[i]);
      expect_same_bits(what, mt_ndarray_data(a), mt_ndarray_data(b), a->size);
    }
    for (int k = 0; k < 2; k++)
      for (int h = 0; h < 8; h++) mt_ndarray_free(og[k][h]);
  }
  mt_executor_free(ex[0]);
  mt_executor_free(ex[1]);
}

static fusion_case mlp_case(int B, int D) {
  fusion_case c = {.nknown = 2,
                   .names = {"data", "softmax_label"},
                   .shapes = {MT_SHAPE(B, D), MT_SHAPE(B)},
                   .req = MT_REQ_WRITE,
                   .train = 1,
                   .nheads = 1,
                   .want_fused = 1};
  return c;
}

static void test_mlp_each_activation(void **state) {
  for (int act = 0; act < 5; act++) {
    mt_symbol *s = tu_mlp(24, act_names[act], 5);
    fusion_case c = mlp_case(9, 11);
    c.want_fused = act == MTK_ACT_SOFTSIGN ? 0 : 1;
    run_case(act_names[act], s, &c);
    mt_symbol_free(s);
  }
}

static void test_mlp_req_add_input_grads_inference(void **state) {
  mt_symbol *s = tu_mlp(16, "relu", 5);
  fusion_case c = mlp_case(8, 10);
  c.req = MT_REQ_ADD;
  run_case("grad_req add", s, &c);
  c = mlp_case(8, 10);
  c.inputs_need_grad = 1;
  run_case("inputs need grad", s, &c);
  c = mlp_case(8, 10);
  c.req = MT_REQ_NULL;
  c.train = 0;
  run_case("inference", s, &c);
  mt_symbol_free(s);
}

/* x -> FullyConnected `name` (attrs) -> Activation `act` */
static mt_symbol *fc_act(mt_symbol *x, const char *name, const char *attrs, const char *act,
                         mt_symbol **fc_out) {
  mt_symbol *fc, *a;
  char an[64], aa[64];
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", name, attrs, 1, &x, &fc));
  snprintf(an, sizeof an, "%s_act", name);
  snprintf(aa, sizeof aa, "act_type=%s", act);
  MT_ASSERT_OK(mt_symbol_create("Activation", an, aa, 1, &fc, &a));
  if (fc_out) *fc_out = fc;
  else mt_symbol_free(fc);
  return a;
}

static mt_symbol *softmax_head(mt_symbol *x, int classes) {
  mt_symbol *fc, *out;
  char a[32];
  snprintf(a, sizeof a, "num_hidden=%d", classes);
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc_out", a, 1, &x, &fc));
  MT_ASSERT_OK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &fc, &out));
  mt_symbol_free(fc);
  return out;
}

static void test_no_bias_and_flatten_false(void **state) {
  mt_symbol *data;
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  mt_symbol *a = fc_act(data, "fc1", "num_hidden=12 no_bias=true", "tanh", NULL);
  mt_symbol *s = softmax_head(a, 4);
  fusion_case c = mlp_case(6, 9);
  run_case("no bias", s, &c);
  mt_symbol_free(a);
  mt_symbol_free(s);
  /* (4, 3, 5) data, FullyConnected over the last axis: rows = 12 */
  a = fc_act(data, "fc1", "num_hidden=6 flatten=false", "sigmoid", NULL);
  s = softmax_head(a, 4);
  c = mlp_case(4, 0);
  c.shapes[0] = MT_SHAPE(4, 3, 5);
  run_case("flatten=false", s, &c);
  mt_symbol_free(a);
  mt_symbol_free(s);
  mt_symbol_free(data);
}

static void test_shared_output_is_not_fused(void **state) {
  mt_symbol *data, *fc, *sum;
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  mt_symbol *a = fc_act(data, "fc1", "num_hidden=10", "relu", &fc);
  mt_symbol *in[2] = {fc, a};
  MT_ASSERT_OK(mt_symbol_create("elemwise_add", "skip", NULL, 2, in, &sum));
  mt_symbol *s = softmax_head(sum, 3);
  fusion_case c = mlp_case(5, 7);
  c.want_fused = 0;
  run_case("FC output used twice", s, &c);
  mt_symbol_free(s), mt_symbol_free(sum), mt_symbol_free(a), mt_symbol_free(fc);
  mt_symbol_free(data);
}

static void test_activation_output_as_head(void **state) {
  mt_symbol *data, *g;
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  mt_symbol *a = fc_act(data, "fc1", "num_hidden=10", "softrelu", NULL);
  mt_symbol *s = softmax_head(a, 3);
  mt_symbol *heads[2] = {a, s};
  MT_ASSERT_OK(mt_symbol_group(2, heads, &g));
  fusion_case c = mlp_case(5, 7);
  c.nheads = 2;
  c.head_og = 1; /* the Activation's output: its out_grad is given */
  run_case("Activation output as a head", g, &c);
  mt_symbol_free(g), mt_symbol_free(s), mt_symbol_free(a), mt_symbol_free(data);
}

static void test_branches_and_depth(void **state) {
  mt_symbol *data, *cat;
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  mt_symbol *a = fc_act(data, "fa", "num_hidden=8", "relu", NULL);
  mt_symbol *b = fc_act(data, "fb", "num_hidden=6", "tanh", NULL);
  mt_symbol *in[2] = {a, b};
  MT_ASSERT_OK(mt_symbol_create("Concat", "cat", "num_args=2 dim=1", 2, in, &cat));
  mt_symbol *c3 = fc_act(cat, "fc", "num_hidden=9", "sigmoid", NULL);
  mt_symbol *s = softmax_head(c3, 4);
  fusion_case c = mlp_case(7, 5);
  c.want_fused = 3;
  run_case("two branches and Concat", s, &c);
  mt_symbol_free(s), mt_symbol_free(c3), mt_symbol_free(cat), mt_symbol_free(a), mt_symbol_free(b);
  /* four layers: the memory plan shares buffers between them */
  mt_symbol *x = data;
  for (int l = 0; l < 4; l++) {
    char name[16];
    snprintf(name, sizeof name, "fc%d", l);
    mt_symbol *y = fc_act(x, name, "num_hidden=16", l % 2 ? "relu" : "tanh", NULL);
    if (x != data) mt_symbol_free(x);
    x = y;
  }
  s = softmax_head(x, 4);
  c = mlp_case(8, 12);
  c.want_fused = 4;
  run_case("four layers", s, &c);
  c.train = 0;
  c.req = MT_REQ_NULL;
  run_case("four layers, inference", s, &c);
  mt_symbol_free(s), mt_symbol_free(x), mt_symbol_free(data);
}

int main(void) {
  mt_blas_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fused_kernels_equal_separate),
      cmocka_unit_test(test_mlp_each_activation),
      cmocka_unit_test(test_mlp_req_add_input_grads_inference),
      cmocka_unit_test(test_no_bias_and_flatten_false),
      cmocka_unit_test(test_shared_output_is_not_fused),
      cmocka_unit_test(test_activation_output_as_head),
      cmocka_unit_test(test_branches_and_depth),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
