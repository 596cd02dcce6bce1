/* test_sequential_module.c — SequentialModule and custom modules:
 * MXNet's errors for misuse (empty chain, unknown meta key, duplicated
 * parameter names, a module added twice, calls out of order); an MLP split
 * into two chained modules trains to the single Module's parameters; fit
 * with checkpoints and resume on a chain; predict and score on a chain; a
 * custom softmax cross-entropy loss module after an FC module trains to
 * FullyConnected + SoftmaxOutput's parameters. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

enum { N = 64, D = 10, H = 16, C = 4, B = 8 };
static const char *const NO_LABEL[] = {"none"};

/* data -> fc1 -> relu1 (no labels) */
static mt_module *first_half(void) {
  mt_symbol *data, *fc1, *act;
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc1", "num_hidden=16", 1, &data, &fc1));
  MT_ASSERT_OK(mt_symbol_create("Activation", "relu1", "act_type=relu", 1, &fc1, &act));
  mt_module *m;
  MT_ASSERT_OK(mt_module_create(act, 0, NULL, 0, NO_LABEL, 0, NULL, &m));
  mt_symbol_free(data);
  mt_symbol_free(fc1);
  mt_symbol_free(act);
  return m;
}

/* hidden -> fc2 -> SoftmaxOutput softmax (label softmax_label) */
static mt_module *second_half(const char *fc_name) {
  mt_symbol *data, *fc2, *out;
  MT_ASSERT_OK(mt_symbol_variable("hidden", &data));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", fc_name, "num_hidden=4", 1, &data, &fc2));
  MT_ASSERT_OK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &fc2, &out));
  const char *dn[] = {"hidden"};
  mt_module *m;
  MT_ASSERT_OK(mt_module_create(out, 1, dn, 0, NULL, 0, NULL, &m));
  mt_symbol_free(data);
  mt_symbol_free(fc2);
  mt_symbol_free(out);
  return m;
}

static mt_module *split_mlp(void) {
  mt_module *seq;
  MT_ASSERT_OK(mt_sequential_module_create(&seq));
  MT_ASSERT_OK(mt_sequential_module_add(seq, first_half(), 0, 0));
  MT_ASSERT_OK(mt_sequential_module_add_meta(seq, second_half("fc2"), "take_labels auto_wiring"));
  return seq;
}

static mt_module *single_mlp(void) {
  mt_symbol *s = tu_mlp(H, "relu", C);
  mt_module *m;
  MT_ASSERT_OK(mt_module_create(s, 0, NULL, 0, NULL, 0, NULL, &m));
  mt_symbol_free(s);
  return m;
}

static mt_data_iter *make_iter(int shuffle) {
  mt_ndarray *x, *y;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(N, D), mt_cpu(0), &x));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(N), mt_cpu(0), &y));
  tu_fill_uniform(mt_ndarray_data(x), N * D, -1, 1, 11);
  for (int i = 0; i < N; i++) {
    /* a learnable rule: the class of the largest of the first C features */
    const float *r = mt_ndarray_data(x) + i * D;
    int best = 0;
    for (int k = 1; k < C; k++)
      if (r[k] > r[best]) best = k;
    mt_ndarray_data(y)[i] = (float)best;
  }
  mt_data_iter *it;
  MT_ASSERT_OK(mt_ndarray_iter_create(x, y, B, shuffle, 5, MT_LAST_BATCH_PAD, NULL, NULL, &it));
  mt_ndarray_free(x);
  mt_ndarray_free(y);
  return it;
}

static void fit_opts(mt_fit_options *o, const mt_initializer *init, int begin, int end) {
  mt_fit_options_init(o);
  o->optimizer = "sgd";
  o->optimizer_params = "learning_rate=0.2 momentum=0.9 wd=0.001";
  o->initializer = init;
  o->begin_epoch = begin;
  o->num_epoch = end;
}

/* max relative difference over every parameter of want, found in got */
static double params_diff(mt_module *want, mt_module *got, int *count) {
  const mt_arena *wa, *ga, *wx, *gx;
  MT_ASSERT_OK(mt_module_get_params(want, &wa, &wx));
  MT_ASSERT_OK(mt_module_get_params(got, &ga, &gx));
  double worst = 0;
  *count = 0;
  for (int i = 0; i < mt_arena_count(wa); i++) {
    mt_ndarray *w = mt_arena_at(wa, i), *g = mt_arena_get(ga, mt_arena_name(wa, i));
    if (!g) fail_msg("parameter %s missing", mt_arena_name(wa, i));
    assert_int_equal(w->size, g->size);
    double d = tu_max_rel_diff(mt_ndarray_data(g), mt_ndarray_data(w), w->size, 1e-3);
    if (d > worst) worst = d;
    (*count)++;
  }
  assert_int_equal(mt_arena_count(wa), mt_arena_count(ga));
  return worst;
}

static void test_misuse(void **state) {
  (void)state;
  mt_module *seq;
  MT_ASSERT_OK(mt_sequential_module_create(&seq));
  mt_data_desc d = {"data", {2, {B, D}}}, l = {"softmax_label", {1, {B}}};
  assert_int_equal(mt_module_bind(seq, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE), MT_E_STATE);
  assert_non_null(strstr(mt_last_error(), "Attempting to bind an empty SequentialModule"));
  mt_module *a = first_half();
  assert_int_equal(mt_sequential_module_add_meta(seq, a, "take_labels, auto_wireing"), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "Unknown meta \"auto_wireing\", a typo?"));
  assert_int_equal(mt_sequential_module_num_children(seq), 0);
  assert_int_equal(mt_sequential_module_add(a, seq, 0, 0), MT_E_INVAL); /* a is no chain */
  MT_ASSERT_OK(mt_sequential_module_add(seq, a, 0, 0));
  assert_int_equal(mt_sequential_module_add(seq, a, 0, 0), MT_E_INVAL); /* owned already */
  assert_int_equal(mt_sequential_module_add(seq, seq, 0, 0), MT_E_INVAL);
  /* a second child using fc1's names: MXNet's duplicate error at init_params */
  mt_module *dup = second_half("fc1");
  MT_ASSERT_OK(mt_sequential_module_add(seq, dup, 1, 1));
  assert_int_equal(mt_sequential_module_child(seq, 1), dup);
  mt_batch b = {0};
  assert_int_equal(mt_module_forward(seq, &b, 1), MT_E_STATE);
  assert_int_equal(mt_module_init_params(seq, NULL, NULL, NULL, 0, 0, 0), MT_E_STATE);
  MT_ASSERT_OK(mt_module_bind(seq, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  /* fc1_weight (16, 10) vs (4, 16): the second child's shapes differ, and
   * the names collide */
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier", 1, &init));
  assert_int_equal(mt_module_init_params(seq, init, NULL, NULL, 0, 0, 0), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(),
                         "Duplicated parameter names: name \"fc1_weight\" in "
                         "layer 1 (Module) is already used in layer 0 (Module)"));
  assert_false(mt_module_params_initialized(seq));
  assert_int_equal(mt_module_init_optimizer(seq, NULL, "sgd", NULL, 0), MT_E_STATE);
  mt_module_free(seq);

  /* a working chain: names, shapes, input gradients, outputs */
  seq = split_mlp();
  int n;
  const char *const *names;
  MT_ASSERT_OK(mt_module_data_names(seq, &n, &names));
  assert_int_equal(n, 1);
  assert_string_equal(names[0], "data");
  MT_ASSERT_OK(mt_module_label_names(seq, &n, &names));
  assert_int_equal(n, 1);
  assert_string_equal(names[0], "softmax_label");
  MT_ASSERT_OK(mt_module_output_names(seq, &n, &names));
  assert_string_equal(names[0], "softmax_output");
  const mt_data_desc *ds;
  assert_int_equal(mt_module_output_shapes(seq, &n, &ds), MT_E_STATE);
  MT_ASSERT_OK(mt_module_bind(seq, 1, &d, 1, &l, 1, 1, 0, MT_REQ_WRITE));
  MT_ASSERT_OK(mt_module_output_shapes(seq, &n, &ds));
  assert_int_equal(ds[0].shape.dim[0], B);
  assert_int_equal(ds[0].shape.dim[1], C);
  MT_ASSERT_OK(mt_module_label_shapes(seq, &n, &ds));
  assert_int_equal(n, 1);
  /* the second child was bound with inputs_need_grad, its data renamed */
  mt_module *c1 = mt_sequential_module_child(seq, 1);
  assert_true(mt_module_inputs_need_grad(c1));
  MT_ASSERT_OK(mt_module_data_shapes(c1, &n, &ds));
  assert_string_equal(ds[0].name, "hidden");
  assert_int_equal(ds[0].shape.dim[1], H);
  assert_null(mt_module_symbol(seq));
  MT_ASSERT_OK(mt_module_init_params(seq, init, NULL, NULL, 0, 0, 0));
  const mt_arena *args, *aux;
  MT_ASSERT_OK(mt_module_get_params(seq, &args, &aux));
  assert_int_equal(mt_arena_count(args), 4);
  assert_non_null(mt_arena_get(args, "fc1_weight"));
  assert_non_null(mt_arena_get(args, "fc2_bias"));
  /* set_params with the merged dictionary (every name is some child's) */
  MT_ASSERT_OK(mt_module_set_params(seq, args, aux, 0, 1, 0));
  mt_arena *extra;
  const char *en[] = {"nope"};
  mt_shape es[] = {MT_SHAPE(1)};
  MT_ASSERT_OK(mt_arena_create(mt_cpu(0), 1, en, es, &extra));
  assert_int_equal(mt_module_set_params(seq, extra, NULL, 1, 1, 0), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "'nope'"));
  MT_ASSERT_OK(mt_module_set_params(seq, extra, NULL, 1, 1, 1));
  mt_arena_free(extra);
  mt_batch bb;
  memset(&bb, 0, sizeof bb);
  bb.ndata = bb.nlabel = 1;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(B, D), mt_cpu(0), &bb.data[0]));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(B), mt_cpu(0), &bb.label[0]));
  tu_fill_uniform(mt_ndarray_data(bb.data[0]), B * D, -1, 1, 3);
  for (int i = 0; i < B; i++) mt_ndarray_data(bb.label[0])[i] = (float)(i % C);
  MT_ASSERT_OK(mt_module_forward(seq, &bb, 1));
  MT_ASSERT_OK(mt_module_backward(seq, 0, NULL));
  mt_ndarray *const *g;
  MT_ASSERT_OK(mt_module_get_input_grads(seq, &n, &g));
  assert_int_equal(n, 1);
  assert_int_equal(g[0]->shape.dim[1], D);
  /* the first child's input gradient, and not all zero */
  mt_ndarray *const *g0;
  MT_ASSERT_OK(mt_module_get_input_grads(mt_sequential_module_child(seq, 0), &n, &g0));
  assert_ptr_equal(g[0], g0[0]);
  double s = 0;
  for (int64_t i = 0; i < g[0]->size; i++) s += fabs(mt_ndarray_data(g[0])[i]);
  assert_true(s > 0);
  assert_int_equal(mt_module_update(seq), MT_E_STATE);
  mt_ndarray_free(bb.data[0]);
  mt_ndarray_free(bb.label[0]);
  mt_initializer_free(init);
  mt_module_free(seq);

  /* without inputs_need_grad: MXNet asserts, we say why */
  seq = split_mlp();
  MT_ASSERT_OK(mt_module_bind(seq, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  MT_ASSERT_OK(mt_module_init_params(seq, NULL, NULL, NULL, 0, 0, 0));
  assert_int_equal(mt_module_get_input_grads(seq, &n, &g), MT_E_STATE);
  assert_non_null(strstr(mt_last_error(), "inputs_need_grad"));
  /* auto_wiring with a count mismatch is an error, not a crash */
  mt_module *three;
  MT_ASSERT_OK(mt_sequential_module_create(&three));
  MT_ASSERT_OK(mt_sequential_module_add(three, first_half(), 0, 0));
  MT_ASSERT_OK(mt_sequential_module_add(three, second_half("fc2"), 1, 0)); /* no auto_wiring */
  assert_int_equal(mt_module_bind(three, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "'hidden'"));
  mt_module_free(three);
  mt_module_free(seq);
}

/* The chain fc1+relu1 | fc2+SoftmaxOutput trains to the MLP's parameters. */
static void test_split_mlp_equals_single_module(void **state) {
  (void)state;
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier", 7, &init));
  mt_fit_options o;
  fit_opts(&o, init, 0, 3);
  mt_module *single = single_mlp(), *seq = split_mlp();
  mt_data_iter *it1 = make_iter(1), *it2 = make_iter(1);
  MT_ASSERT_OK(mt_module_fit(single, it1, &o));
  MT_ASSERT_OK(mt_module_fit(seq, it2, &o));
  int count;
  double d = params_diff(single, seq, &count);
  printf("split MLP vs single Module after 3 epochs: max rel diff %.3g over %d params\n", d, count);
  assert_int_equal(count, 4);
  assert_true(d < 1e-5);
  /* and it learned something: the parameters moved from their init */
  mt_module *fresh = single_mlp();
  mt_data_desc dd = {"data", {2, {B, D}}}, ld = {"softmax_label", {1, {B}}};
  MT_ASSERT_OK(mt_module_bind(fresh, 1, &dd, 1, &ld, 0, 0, 0, MT_REQ_NULL));
  MT_ASSERT_OK(mt_module_init_params(fresh, init, NULL, NULL, 0, 0, 0));
  assert_true(params_diff(fresh, seq, &count) > 1e-2);
  /* score and predict on the chain equal the single Module's */
  mt_metric *m1, *m2;
  MT_ASSERT_OK(mt_metric_create("acc", &m1));
  MT_ASSERT_OK(mt_metric_create("acc", &m2));
  MT_ASSERT_OK(mt_module_score(single, it1, m1, -1, 1, 0, 0, NULL));
  MT_ASSERT_OK(mt_module_score(seq, it2, m2, -1, 1, 0, 0, NULL));
  const char *nm;
  double a1, a2;
  MT_ASSERT_OK(mt_metric_get(m1, 0, &nm, &a1));
  MT_ASSERT_OK(mt_metric_get(m2, 0, &nm, &a2));
  printf("accuracy: single %.4f, chain %.4f\n", a1, a2);
  assert_true(a1 == a2);
  assert_true(a2 > 0.5);
  int n1, n2;
  mt_ndarray **p1, **p2;
  MT_ASSERT_OK(mt_module_predict(single, it1, -1, 1, &n1, &p1));
  MT_ASSERT_OK(mt_module_predict(seq, it2, -1, 1, &n2, &p2));
  assert_int_equal(n1, 1);
  assert_int_equal(n2, 1);
  assert_int_equal(p1[0]->size, N * C);
  assert_true(tu_max_abs_diff(mt_ndarray_data(p2[0]), mt_ndarray_data(p1[0]), N * C) < 1e-5);
  mt_ndarray_free(p1[0]);
  mt_ndarray_free(p2[0]);
  free(p1);
  free(p2);
  mt_metric_free(m1);
  mt_metric_free(m2);
  mt_module_free(fresh);
  mt_data_iter_free(it1);
  mt_data_iter_free(it2);
  mt_module_free(single);
  mt_module_free(seq);
  mt_initializer_free(init);
}

/* fit with module_checkpoint on a chain, then a fresh chain restored from
 * epoch 2 continues bit for bit as the uninterrupted run. */
static void test_checkpoint_and_resume(void **state) {
  (void)state;
  char dir[] = "/tmp/mt_seqmod_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char prefix[128];
  snprintf(prefix, sizeof prefix, "%s/chain", dir);
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier", 9, &init));
  mt_module *full = split_mlp();
  mt_fit_options o;
  fit_opts(&o, init, 0, 4);
  MT_ASSERT_OK(mt_module_checkpoint(full, prefix, 1, 1, "a config", &o.epoch_end_callback[0]));
  o.n_epoch_end_callback = 1;
  mt_data_iter *it = make_iter(1);
  MT_ASSERT_OK(mt_module_fit(full, it, &o));
  mt_epoch_callback_free(&o.epoch_end_callback[0]);
  mt_data_iter_free(it);
  int latest;
  MT_ASSERT_OK(mt_checkpoint_latest(prefix, &latest));
  assert_int_equal(latest, 4);
  /* the file: every child's parameters and optimizer states */
  mt_arena *args, *aux;
  mt_checkpoint_extra x;
  mt_checkpoint_extra_init(&x);
  MT_ASSERT_OK(mt_load_checkpoint(prefix, 2, NULL, &args, &aux, &x));
  assert_int_equal(mt_arena_count(args), 4);
  assert_non_null(mt_arena_get(args, "fc1_weight"));
  assert_non_null(mt_arena_get(args, "fc2_weight"));
  assert_int_equal(x.num_update, 2 * N / B);
  assert_string_equal(x.loaded_config, "a config");
  free(x.loaded_config);
  mt_arena_free(args);
  mt_arena_free(aux);

  /* resume from epoch 2 */
  mt_module *resumed = split_mlp();
  it = make_iter(1);
  int nd, nl;
  const mt_data_desc *dd, *ld;
  MT_ASSERT_OK(mt_data_iter_provide_data(it, &nd, &dd));
  MT_ASSERT_OK(mt_data_iter_provide_label(it, &nl, &ld));
  MT_ASSERT_OK(mt_module_bind(resumed, nd, dd, nl, ld, 1, 0, 0, MT_REQ_WRITE));
  MT_ASSERT_OK(mt_module_init_params(resumed, init, NULL, NULL, 0, 0, 0));
  MT_ASSERT_OK(mt_module_init_optimizer(resumed, "local", o.optimizer, o.optimizer_params, 0));
  MT_ASSERT_OK(mt_module_restore_checkpoint(resumed, prefix, 2));
  MT_ASSERT_OK(mt_data_iter_set_epoch(it, 2));
  fit_opts(&o, init, 2, 4);
  MT_ASSERT_OK(mt_module_fit(resumed, it, &o));
  int count;
  double d = params_diff(full, resumed, &count);
  printf("resumed chain vs uninterrupted: max rel diff %.3g\n", d);
  assert_true(d == 0);
  /* the optimizer states came back too: without them the result differs */
  mt_module *no_states = split_mlp();
  MT_ASSERT_OK(mt_data_iter_set_epoch(it, 2));
  MT_ASSERT_OK(mt_load_checkpoint(prefix, 2, NULL, &args, &aux, NULL));
  o.arg_params = args;
  o.aux_params = aux;
  MT_ASSERT_OK(mt_module_fit(no_states, it, &o));
  assert_true(params_diff(full, no_states, &count) > 1e-6);
  mt_arena_free(args);
  mt_arena_free(aux);
  mt_module_free(no_states);
  mt_data_iter_free(it);
  mt_module_free(resumed);
  mt_module_free(full);
  mt_initializer_free(init);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

/* ------------------------------------------------------- custom modules */

/* softmax cross-entropy's gradient, as SoftmaxOutput's: softmax(x) - onehot */
static int softmax_ce_grad(const mt_ndarray *scores, const mt_ndarray *labels, mt_ndarray *grad,
                           void *user) {
  int *calls = user;
  (*calls)++;
  int64_t rows = scores->shape.dim[0], k = scores->shape.dim[1];
  const float *x = mt_ndarray_data((mt_ndarray *)scores),
              *y = mt_ndarray_data((mt_ndarray *)labels);
  float *g = mt_ndarray_data(grad);
  for (int64_t r = 0; r < rows; r++) {
    float mx = x[r * k];
    for (int64_t j = 1; j < k; j++) mx = fmaxf(mx, x[r * k + j]);
    float s = 0;
    for (int64_t j = 0; j < k; j++) s += g[r * k + j] = expf(x[r * k + j] - mx);
    for (int64_t j = 0; j < k; j++) g[r * k + j] /= s;
    g[r * k + (int64_t)y[r]] -= 1.0f;
  }
  return MT_OK;
}

static void test_custom_loss_module(void **state) {
  (void)state;
  /* reference: data -> fc -> SoftmaxOutput */
  mt_symbol *data, *fc, *out;
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc", "num_hidden=4", 1, &data, &fc));
  MT_ASSERT_OK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &fc, &out));
  mt_module *ref, *fcmod, *loss, *seq;
  MT_ASSERT_OK(mt_module_create(out, 0, NULL, 0, NULL, 0, NULL, &ref));
  MT_ASSERT_OK(mt_module_create(fc, 0, NULL, 0, NO_LABEL, 0, NULL, &fcmod));
  int calls = 0;
  MT_ASSERT_OK(mt_loss_module_create("ce", NULL, NULL, softmax_ce_grad, &calls, &loss));
  int n;
  const char *const *names;
  MT_ASSERT_OK(mt_module_output_names(loss, &n, &names));
  assert_string_equal(names[0], "ce_output");
  MT_ASSERT_OK(mt_sequential_module_create(&seq));
  MT_ASSERT_OK(mt_sequential_module_add(seq, fcmod, 0, 0));
  MT_ASSERT_OK(mt_sequential_module_add(seq, loss, 1, 1));
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier", 4, &init));
  mt_fit_options o;
  fit_opts(&o, init, 0, 3);
  mt_data_iter *it1 = make_iter(1), *it2 = make_iter(1);
  MT_ASSERT_OK(mt_module_fit(ref, it1, &o));
  MT_ASSERT_OK(mt_module_fit(seq, it2, &o));
  assert_int_equal(calls, 3 * N / B);
  int count;
  double d = params_diff(ref, seq, &count);
  printf("FC + custom CE loss vs FC + SoftmaxOutput: max rel diff %.3g over %d params\n", d, count);
  assert_int_equal(count, 2);
  assert_true(d < 1e-5);
  /* the same accuracy (the loss module outputs scores, SoftmaxOutput
   * probabilities: the same argmax) */
  mt_metric *m1, *m2;
  MT_ASSERT_OK(mt_metric_create("acc", &m1));
  MT_ASSERT_OK(mt_metric_create("acc", &m2));
  MT_ASSERT_OK(mt_module_score(ref, it1, m1, -1, 1, 0, 0, NULL));
  MT_ASSERT_OK(mt_module_score(seq, it2, m2, -1, 1, 0, 0, NULL));
  const char *nm;
  double a1, a2;
  MT_ASSERT_OK(mt_metric_get(m1, 0, &nm, &a1));
  MT_ASSERT_OK(mt_metric_get(m2, 0, &nm, &a2));
  assert_true(a1 == a2);
  /* a loss module is the end of a chain: out_grads are refused */
  mt_ndarray *og;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(B, C), mt_cpu(0), &og));
  assert_int_equal(mt_module_backward(loss, 1, &og), MT_E_INVAL);
  mt_ndarray_free(og);
  /* no grad_func: backward is unsupported, not a crash */
  mt_module *nog;
  MT_ASSERT_OK(mt_loss_module_create(NULL, NULL, NULL, NULL, NULL, &nog));
  mt_data_desc dd = {"data", {2, {B, C}}}, ld = {"softmax_label", {1, {B}}};
  MT_ASSERT_OK(mt_module_bind(nog, 1, &dd, 1, &ld, 1, 0, 0, MT_REQ_WRITE));
  MT_ASSERT_OK(mt_module_init_params(nog, NULL, NULL, NULL, 0, 0, 0));
  MT_ASSERT_OK(mt_module_output_names(nog, &n, &names));
  assert_string_equal(names[0], "pyloss_output");
  mt_batch b;
  MT_ASSERT_OK(mt_data_iter_reset(it2));
  assert_int_equal(mt_data_iter_next(it2, &b), 1);
  mt_batch bs = b;
  mt_ndarray *sc;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(B, C), mt_cpu(0), &sc));
  MT_ASSERT_OK(mt_ndarray_fill(sc, 0.5f));
  bs.data[0] = sc;
  MT_ASSERT_OK(mt_module_forward(nog, &bs, 1));
  assert_int_equal(mt_module_backward(nog, 0, NULL), MT_E_UNSUPPORTED);
  const mt_arena *pa, *px;
  MT_ASSERT_OK(mt_module_get_params(nog, &pa, &px));
  assert_int_equal(mt_arena_count(pa), 0);
  mt_ndarray_free(sc);
  mt_module_free(nog);
  /* a custom module needs forward and get_outputs */
  mt_custom_module_ops ops = {0};
  mt_module *bad;
  const char *dn[] = {"data"}, *on[] = {"out"};
  assert_int_equal(mt_custom_module_create(&ops, NULL, 1, dn, 0, NULL, 1, on, &bad), MT_E_INVAL);
  mt_metric_free(m1);
  mt_metric_free(m2);
  mt_data_iter_free(it1);
  mt_data_iter_free(it2);
  mt_module_free(ref);
  mt_module_free(seq);
  mt_initializer_free(init);
  mt_symbol_free(data);
  mt_symbol_free(fc);
  mt_symbol_free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_misuse),
      cmocka_unit_test(test_split_mlp_equals_single_module),
      cmocka_unit_test(test_checkpoint_and_resume),
      cmocka_unit_test(test_custom_loss_module),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
