/* test_module.c — the Module state machine (MXNet's order and messages),
 * several contexts in one process equal one context, reshape on a new batch
 * size, merged outputs and input gradients, get/set/init params with
 * arg_params, allow_missing and allow_extra, predict's padding, fit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const mt_data_desc DATA = {"data", {2, {8, 10}}}, LABEL = {"softmax_label", {1, {8}}};

static void fill_batch(mt_batch *b, int64_t n, uint64_t seed) {
  memset(b, 0, sizeof *b);
  b->ndata = b->nlabel = 1;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n, 10), mt_cpu(0), &b->data[0]));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_cpu(0), &b->label[0]));
  tu_fill_uniform(mt_ndarray_data(b->data[0]), n * 10, -1, 1, seed);
  for (int64_t i = 0; i < n; i++) mt_ndarray_data(b->label[0])[i] = (float)((i + seed) % 4);
}

static void free_batch(mt_batch *b) {
  mt_ndarray_free(b->data[0]);
  mt_ndarray_free(b->label[0]);
}

static void test_state_machine(void **state) {
  mt_symbol *s = tu_mlp(16, "relu", 4);
  mt_module *m;
  /* unknown data name: error; unknown label name: warning only */
  const char *bad[] = {"x"}, *lab[] = {"nolabel"};
  assert_int_equal(mt_module_create(s, 1, bad, 0, NULL, 0, NULL, &m), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "'x'"));
  MT_ASSERT_OK(mt_module_create(s, 0, NULL, 1, lab, 0, NULL, &m));
  int n;
  const char *const *names;
  MT_ASSERT_OK(mt_module_label_names(m, &n, &names));
  assert_int_equal(n, 0);
  mt_module_free(m);
  MT_ASSERT_OK(mt_module_create(s, 0, NULL, 0, NULL, 0, NULL, &m));
  mt_batch b;
  fill_batch(&b, 8, 1);
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier", 1, &init));
  assert_int_equal(mt_module_init_params(m, init, NULL, NULL, 0, 0, 0), MT_E_STATE);
  assert_non_null(strstr(mt_last_error(), "call bind before initializing the parameters"));
  assert_int_equal(mt_module_forward(m, &b, 1), MT_E_STATE);
  assert_int_equal(mt_module_init_optimizer(m, NULL, "sgd", NULL, 0), MT_E_STATE);
  assert_int_equal(mt_module_update(m), MT_E_STATE);
  const mt_arena *ap, *xp;
  assert_int_equal(mt_module_get_params(m, &ap, &xp), MT_E_STATE);
  assert_false(mt_module_binded(m));
  MT_ASSERT_OK(mt_module_bind(m, 1, &DATA, 1, &LABEL, 1, 0, 0, MT_REQ_WRITE));
  assert_true(mt_module_binded(m));
  MT_ASSERT_OK(mt_module_bind(m, 1, &DATA, 1, &LABEL, 1, 0, 0, MT_REQ_WRITE)); /* warns, ignored */
  assert_int_equal(mt_module_forward(m, &b, 1), MT_E_STATE);
  MT_ASSERT_OK(mt_module_init_params(m, init, NULL, NULL, 0, 0, 0));
  assert_true(mt_module_params_initialized(m));
  MT_ASSERT_OK(mt_module_forward(m, &b, 1));
  MT_ASSERT_OK(mt_module_backward(m, 0, NULL));
  assert_int_equal(mt_module_update(m), MT_E_STATE);
  assert_non_null(strstr(mt_last_error(), "init_optimizer"));
  MT_ASSERT_OK(mt_module_init_optimizer(m, "local", "sgd", "learning_rate=0.1", 0));
  assert_true(mt_module_optimizer_initialized(m));
  /* a repeated init_params is ignored: parameters unchanged */
  MT_ASSERT_OK(mt_module_get_params(m, &ap, &xp));
  float w0 = mt_ndarray_data(mt_arena_get(ap, "fc1_weight"))[0];
  mt_initializer *zero;
  MT_ASSERT_OK(mt_initializer_create("zero", 0, &zero));
  MT_ASSERT_OK(mt_module_init_params(m, zero, NULL, NULL, 0, 0, 0));
  MT_ASSERT_OK(mt_module_get_params(m, &ap, &xp));
  assert_true(mt_ndarray_data(mt_arena_get(ap, "fc1_weight"))[0] == w0);
  MT_ASSERT_OK(mt_module_update(m));
  MT_ASSERT_OK(mt_module_get_params(m, &ap, &xp));
  assert_true(mt_ndarray_data(mt_arena_get(ap, "fc1_weight"))[0] != w0);
  /* force_init re-initialises */
  MT_ASSERT_OK(mt_module_init_params(m, zero, NULL, NULL, 0, 1, 0));
  MT_ASSERT_OK(mt_module_get_params(m, &ap, &xp));
  assert_true(mt_ndarray_data(mt_arena_get(ap, "fc1_weight"))[0] == 0.0f);
  /* an inference module cannot run backward */
  mt_module *inf;
  MT_ASSERT_OK(mt_module_create(s, 0, NULL, 0, NULL, 0, NULL, &inf));
  MT_ASSERT_OK(mt_module_bind(inf, 1, &DATA, 0, NULL, 0, 0, 0, MT_REQ_NULL));
  MT_ASSERT_OK(mt_module_init_params(inf, init, NULL, NULL, 0, 0, 0));
  MT_ASSERT_OK(mt_module_forward(inf, &b, 0));
  assert_int_equal(mt_module_backward(inf, 0, NULL), MT_E_STATE);
  /* bind with the wrong data name */
  mt_module *m2;
  mt_data_desc wrong = {"image", {2, {8, 10}}};
  MT_ASSERT_OK(mt_module_create(s, 0, NULL, 0, NULL, 0, NULL, &m2));
  assert_int_equal(mt_module_bind(m2, 1, &wrong, 1, &LABEL, 1, 0, 0, MT_REQ_WRITE), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "data"));
  mt_module_free(m2);
  mt_module_free(inf);
  mt_initializer_free(zero);
  mt_initializer_free(init);
  free_batch(&b);
  mt_module_free(m);
  mt_symbol_free(s);
}

/* Trains `steps` batches with ncontexts; returns fc1_weight + fc2_bias copies. */
static void train(int nctx, int steps, float *out_w, float *out_b, int64_t batch) {
  mt_symbol *s = tu_mlp(16, "relu", 4);
  mt_context ctxs[3] = {mt_cpu(0), mt_cpu(1), mt_cpu(2)};
  mt_module *m;
  MT_ASSERT_OK(mt_module_create(s, 0, NULL, 0, NULL, nctx, ctxs, &m));
  mt_data_desc d = DATA, l = LABEL;
  d.shape.dim[0] = l.shape.dim[0] = batch;
  MT_ASSERT_OK(mt_module_bind(m, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier magnitude=2", 3, &init));
  MT_ASSERT_OK(mt_module_init_params(m, init, NULL, NULL, 0, 0, 0));
  MT_ASSERT_OK(
      mt_module_init_optimizer(m, "local", "sgd", "learning_rate=0.5 momentum=0.9 wd=0.001", 0));
  for (int i = 0; i < steps; i++) {
    mt_batch b;
    fill_batch(&b, batch, 100 + (uint64_t)i);
    MT_ASSERT_OK(mt_module_forward_backward(m, &b));
    MT_ASSERT_OK(mt_module_update(m));
    free_batch(&b);
  }
  const mt_arena *ap, *xp;
  MT_ASSERT_OK(mt_module_get_params(m, &ap, &xp));
  memcpy(out_w, mt_ndarray_data(mt_arena_get(ap, "fc1_weight")), sizeof(float) * 160);
  memcpy(out_b, mt_ndarray_data(mt_arena_get(ap, "fc2_bias")), sizeof(float) * 4);
  mt_initializer_free(init);
  mt_module_free(m);
  mt_symbol_free(s);
}

static void test_multi_context_equals_single(void **state) {
  float w1[160], b1[4], w2[160], b2[4], w3[160], b3[4], w1b[160], b1b[4];
  train(1, 6, w1, b1, 9);
  train(2, 6, w2, b2, 9);
  train(3, 6, w3, b3, 9);
  train(1, 6, w1b, b1b, 9);
  double d2 = tu_max_abs_diff(w2, w1, 160), d3 = tu_max_abs_diff(w3, w1, 160);
  print_message("max |w(2 ctx) - w(1 ctx)| = %g, 3 ctx: %g\n", d2, d3);
  assert_true(d2 < 1e-5 && d3 < 1e-5);
  assert_true(tu_max_abs_diff(b2, b1, 4) < 1e-5);
  assert_true(tu_max_abs_diff(w1b, w1, 160) == 0.0); /* repeatable bit for bit */
}

static void test_outputs_reshape_and_input_grads(void **state) {
  mt_symbol *s = tu_mlp(16, "relu", 4);
  mt_context ctxs[2] = {mt_cpu(0), mt_cpu(1)};
  mt_module *one, *two;
  MT_ASSERT_OK(mt_module_create(s, 0, NULL, 0, NULL, 1, ctxs, &one));
  MT_ASSERT_OK(mt_module_create(s, 0, NULL, 0, NULL, 2, ctxs, &two));
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier", 5, &init));
  mt_module *ms[2] = {one, two};
  for (int k = 0; k < 2; k++) {
    MT_ASSERT_OK(mt_module_bind(ms[k], 1, &DATA, 1, &LABEL, 1, 1, 0, MT_REQ_WRITE));
    MT_ASSERT_OK(mt_module_init_params(ms[k], init, NULL, NULL, 0, 0, 0));
  }
  for (int64_t bs = 8; bs >= 5; bs -= 3) { /* 8 as bound, then 5: reshape */
    mt_batch b;
    fill_batch(&b, bs, 7);
    mt_ndarray *const *o1, *const *o2, *const *g1, *const *g2;
    int n1, n2;
    for (int k = 0; k < 2; k++) MT_ASSERT_OK(mt_module_forward_backward(ms[k], &b));
    MT_ASSERT_OK(mt_module_get_outputs(one, &n1, &o1));
    MT_ASSERT_OK(mt_module_get_outputs(two, &n2, &o2));
    assert_int_equal(n1, 1);
    assert_int_equal(mt_ndarray_shape(o2[0]).dim[0], bs);
    assert_true(tu_max_abs_diff(mt_ndarray_data(o1[0]), mt_ndarray_data(o2[0]), bs * 4) < 1e-6);
    MT_ASSERT_OK(mt_module_get_input_grads(one, &n1, &g1));
    MT_ASSERT_OK(mt_module_get_input_grads(two, &n2, &g2));
    assert_int_equal(mt_ndarray_shape(g2[0]).dim[0], bs);
    assert_true(tu_max_abs_diff(mt_ndarray_data(g1[0]), mt_ndarray_data(g2[0]), bs * 10) < 1e-6);
    int nd;
    const mt_data_desc *dd;
    MT_ASSERT_OK(mt_module_data_shapes(two, &nd, &dd));
    assert_int_equal(dd[0].shape.dim[0], bs);
    free_batch(&b);
  }
  mt_initializer_free(init);
  mt_module_free(one);
  mt_module_free(two);
  mt_symbol_free(s);
}

static void test_params_dicts(void **state) {
  mt_symbol *s = tu_mlp(16, "relu", 4);
  mt_module *m;
  MT_ASSERT_OK(mt_module_create(s, 0, NULL, 0, NULL, 0, NULL, &m));
  MT_ASSERT_OK(mt_module_bind(m, 1, &DATA, 1, &LABEL, 1, 0, 0, MT_REQ_WRITE));
  const char *names[] = {"fc1_weight", "fc1_bias"};
  mt_shape shapes[] = {MT_SHAPE(16, 10), MT_SHAPE(16)};
  mt_arena *partial;
  MT_ASSERT_OK(mt_arena_create(mt_cpu(0), 2, names, shapes, &partial));
  MT_ASSERT_OK(mt_ndarray_fill(mt_arena_at(partial, 0), 0.25f));
  mt_initializer *one;
  MT_ASSERT_OK(mt_initializer_create("one", 0, &one));
  /* missing names without allow_missing: MXNet's "... is not presented" */
  assert_int_equal(mt_module_init_params(m, one, partial, NULL, 0, 0, 0), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "is not presented"));
  MT_ASSERT_OK(mt_module_init_params(m, one, partial, NULL, 1, 0, 0));
  const mt_arena *ap, *xp;
  MT_ASSERT_OK(mt_module_get_params(m, &ap, &xp));
  assert_true(mt_ndarray_data(mt_arena_get(ap, "fc1_weight"))[3] == 0.25f);
  assert_true(mt_ndarray_data(mt_arena_get(ap, "fc2_weight"))[3] == 1.0f);
  assert_true(mt_ndarray_data(mt_arena_get(ap, "fc1_bias"))[0] == 0.0f); /* given zeros */
  /* extra names need allow_extra */
  const char *xn[] = {"fc1_weight", "fc9_weight"};
  mt_shape xs[] = {MT_SHAPE(16, 10), MT_SHAPE(2, 2)};
  mt_arena *extra;
  MT_ASSERT_OK(mt_arena_create(mt_cpu(0), 2, xn, xs, &extra));
  assert_int_equal(mt_module_set_params(m, extra, NULL, 1, 1, 0), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "fc9_weight"));
  MT_ASSERT_OK(mt_module_set_params(m, extra, NULL, 1, 1, 1));
  /* wrong shape */
  mt_shape bad[] = {MT_SHAPE(16, 11), MT_SHAPE(16)};
  mt_arena *wrong;
  MT_ASSERT_OK(mt_arena_create(mt_cpu(0), 2, names, bad, &wrong));
  assert_int_equal(mt_module_set_params(m, wrong, NULL, 1, 1, 0), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "fc1_weight"));
  mt_arena_free(wrong);
  mt_arena_free(extra);
  mt_arena_free(partial);
  mt_initializer_free(one);
  mt_module_free(m);
  mt_symbol_free(s);
}

static int count_rows(int nout, mt_ndarray *const *outs, int nbatch, const mt_batch *b,
                      void *user) {
  *(int64_t *)user += mt_ndarray_shape(outs[0]).dim[0];
  return 0;
}

static void test_predict_strips_padding_and_fit_learns(void **state) {
  mt_symbol *data, *fc1, *act, *fc2, *net;
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc1", "num_hidden=64", 1, &data, &fc1));
  MT_ASSERT_OK(mt_symbol_create("Activation", "relu1", "act_type=relu", 1, &fc1, &act));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc2", "num_hidden=10", 1, &act, &fc2));
  MT_ASSERT_OK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &fc2, &net));
  mt_data_iter *train, *val;
  /* 300 samples, batch 32: the last batch is padded by 20 */
  MT_ASSERT_OK(mt_synthetic_iter_create(10, 128, 300, 32, 4, 0, 1, &train));
  MT_ASSERT_OK(mt_synthetic_iter_create(10, 128, 300, 32, 4, 1, 0, &val));
  mt_module *m;
  MT_ASSERT_OK(mt_module_create(net, 0, NULL, 0, NULL, 0, NULL, &m));
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier magnitude=2", 0, &init));
  mt_fit_options o;
  mt_fit_options_init(&o);
  o.eval_data = val;
  o.optimizer_params = "learning_rate=0.1";
  o.initializer = init;
  o.num_epoch = 5;
  MT_ASSERT_OK(mt_module_fit(m, train, &o));
  int nout;
  mt_ndarray **y;
  MT_ASSERT_OK(mt_module_predict(m, val, -1, 1, &nout, &y));
  assert_int_equal(nout, 1);
  assert_int_equal(mt_ndarray_shape(y[0]).dim[0], 300);
  assert_int_equal(mt_ndarray_shape(y[0]).dim[1], 10);
  mt_ndarray_free(y[0]);
  free(y);
  int64_t rows = 0;
  MT_ASSERT_OK(mt_module_iter_predict(m, val, -1, 1, count_rows, &rows));
  assert_int_equal(rows, 300);
  mt_metric *acc;
  MT_ASSERT_OK(mt_metric_create("acc", &acc));
  MT_ASSERT_OK(mt_module_score(m, val, acc, -1, 1, 0, 0, NULL));
  const char *name;
  double v;
  MT_ASSERT_OK(mt_metric_get(acc, 0, &name, &v));
  print_message("validation accuracy after 5 epochs: %f\n", v);
  assert_true(v >= 0.9);
  /* fit without num_epoch is refused */
  mt_fit_options_init(&o);
  assert_int_equal(mt_module_fit(m, train, &o), MT_E_INVAL);
  mt_metric_free(acc);
  mt_initializer_free(init);
  mt_module_free(m);
  mt_data_iter_free(train);
  mt_data_iter_free(val);
  mt_symbol_free(data);
  mt_symbol_free(fc1);
  mt_symbol_free(act);
  mt_symbol_free(fc2);
  mt_symbol_free(net);
}

/* The public calls dispatch through the module interface: a NULL module is
 * an error (not a crash), the properties of NULL are 0, and a Module's
 * optimizer is the one its init_optimizer installed. */
static void test_interface_dispatch(void **state) {
  (void)state;
  mt_batch b = {0};
  assert_int_equal(mt_module_bind(NULL, 1, &DATA, 1, &LABEL, 1, 0, 0, MT_REQ_WRITE), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "NULL module"));
  assert_int_equal(mt_module_forward(NULL, &b, 1), MT_E_INVAL);
  assert_int_equal(mt_module_update(NULL), MT_E_INVAL);
  assert_false(mt_module_binded(NULL));
  assert_null(mt_module_symbol(NULL));
  assert_null(mt_module_get_optimizer(NULL));
  mt_module_free(NULL);
  mt_symbol *s = tu_mlp(16, "relu", 4);
  mt_module *m;
  MT_ASSERT_OK(mt_module_create(s, 0, NULL, 0, NULL, 0, NULL, &m));
  assert_int_equal(mt_module_forward(m, NULL, 1), MT_E_INVAL);
  assert_null(mt_module_get_optimizer(m));
  assert_non_null(mt_module_symbol(m));
  assert_int_equal(mt_sequential_module_num_children(m), 0);
  assert_null(mt_sequential_module_child(m, 0));
  MT_ASSERT_OK(mt_module_bind(m, 1, &DATA, 1, &LABEL, 1, 0, 0, MT_REQ_WRITE));
  MT_ASSERT_OK(mt_module_init_params(m, NULL, NULL, NULL, 0, 0, 0));
  MT_ASSERT_OK(mt_module_init_optimizer(m, "local", "sgd", "learning_rate=0.1", 0));
  assert_non_null(mt_module_get_optimizer(m));
  mt_module_free(m);
  mt_symbol_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_state_machine),
      cmocka_unit_test(test_multi_context_equals_single),
      cmocka_unit_test(test_outputs_reshape_and_input_grads),
      cmocka_unit_test(test_params_dicts),
      cmocka_unit_test(test_predict_strips_padding_and_fit_learns),
      cmocka_unit_test(test_interface_dispatch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
