/* test_ops_seq.c — the sequence ops an MXNet bucketed LSTM language model
 * needs (example/rnn/bucketing/lstm_bucketing.py), against MXNet 1.9.1's own
 * numbers (tests/fixtures/mxnet/make_lstm_fixture.py wrote them):
 *   - Embedding: forward and weight gradient with out-of-range (-1,
 *     input_dim, 100) and fractional indices (MXNet truncates, then clips);
 *     a finite-difference check of the weight's gradient; the data's
 *     gradient is zero; errors for bad attributes
 *   - SoftmaxOutput with use_ignore / ignore_label, preserve_shape,
 *     multi_output and the normalizations: outputs and gradients
 *   - _zeros begin states with a 0 (batch) dim: inferred from the graph,
 *     and the errors when they cannot be; zeros_like
 *   - the unrolled 2-layer LSTM (mx.rnn.LSTMCell(...).unroll(5, ...,
 *     merge_outputs=True)) as MXNet writes it: loads, infers MXNet's shapes,
 *     binds in a Module, and its outputs and every parameter's gradient
 *     equal MXNet's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/module.h"
#include "src/symbol.h"
#include "testutil.h"

static void fixture_path(char *buf, size_t len, const char *file) {
  snprintf(buf, len, "%s/%s", MT_FIXTURE_DIR, file);
}

static mt_arena *load_io(const char *file) {
  char path[1024];
  mt_arena *a = NULL, *x = NULL;
  fixture_path(path, sizeof path, file);
  MT_ASSERT_OK(mt_params_load(path, &a, &x));
  mt_arena_free(x);
  return a;
}

static mt_ndarray *io_get(const mt_arena *io, const char *key) {
  mt_ndarray *a = mt_arena_get(io, key);
  if (!a) fail_msg("fixture has no '%s'", key);
  return a;
}

/* max |got - ref| <= atol + rtol * |ref| element by element, same size */
static void expect_near(const char *what, const float *got, const mt_ndarray *ref, int64_t n,
                        double atol, double rtol) {
  assert_int_equal(n, ref->size);
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - (double)ref->data[i]);
    if (!(d <= atol + rtol * fabs((double)ref->data[i])))
      fail_msg("%s: element %lld is %.9g, MXNet's %.9g", what, (long long)i, (double)got[i],
               (double)ref->data[i]);
    if (d > worst) worst = d;
  }
  print_message("  %-36s max abs diff %.3g\n", what, worst);
}

/* ------------------------------------------------------------ Embedding */

static void test_embedding_mxnet(void **state) {
  (void)state;
  mt_arena *io = load_io("seqops-io.params");
  mt_ndarray *idx = io_get(io, "emb:data"), *w = io_get(io, "emb:weight");
  mt_shape shapes[2] = {idx->shape, w->shape};
  tu_op t;
  MT_ASSERT_OK(tu_op_setup(&t, "Embedding", "input_dim=4 output_dim=3", 2, shapes));
  assert_int_equal(t.out[0]->shape.ndim, 3);
  assert_int_equal(t.out[0]->shape.dim[2], 3);
  MT_ASSERT_OK(mt_ndarray_copy(t.in[0], idx));
  MT_ASSERT_OK(mt_ndarray_copy(t.in[1], w));
  MT_ASSERT_OK(tu_op_forward(&t, 1));
  /* a gather: exactly MXNet's rows (row 0 for -1 and -0.5, row 3 for 4 and 100) */
  expect_near("Embedding forward", t.out[0]->data, io_get(io, "emb:out"), t.out[0]->size, 0, 0);
  mt_ndarray *og, *gd, *gw;
  MT_ASSERT_OK(mt_ndarray_create(t.out[0]->shape, mt_cpu(0), &og));
  MT_ASSERT_OK(mt_ndarray_fill(og, 1.0f));
  MT_ASSERT_OK(mt_ndarray_create(idx->shape, mt_cpu(0), &gd));
  MT_ASSERT_OK(mt_ndarray_create(w->shape, mt_cpu(0), &gw));
  MT_ASSERT_OK(mt_ndarray_fill(gd, NAN));
  MT_ASSERT_OK(mt_ndarray_fill(gw, NAN));
  mt_grad_req req[2] = {MT_REQ_WRITE, MT_REQ_WRITE};
  mt_ndarray *ig[2] = {gd, gw};
  mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = 1};
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, &og, t.in, t.out, req, ig, t.aux));
  expect_near("Embedding weight grad", gw->data, io_get(io, "emb:grad"), gw->size, 0, 0);
  for (int64_t i = 0; i < gd->size; i++) assert_true(gd->data[i] == 0.0f);
  /* req add accumulates */
  req[0] = MT_REQ_NULL;
  req[1] = MT_REQ_ADD;
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, &og, t.in, t.out, req, ig, t.aux));
  const mt_ndarray *ref = io_get(io, "emb:grad");
  for (int64_t i = 0; i < gw->size; i++) assert_true(gw->data[i] == 2.0f * ref->data[i]);
  mt_ndarray_free(og);
  mt_ndarray_free(gd);
  mt_ndarray_free(gw);
  tu_op_free(&t);
  mt_arena_free(io);
}

/* indices: integers in [-2, V + 2), so that clipped rows are checked too */
static void emb_init(int arg, float *x, int64_t n, const mt_shape *s, void *user) {
  int64_t V = *(const int64_t *)user;
  if (arg == 0)
    for (int64_t i = 0; i < n; i++) x[i] = (float)((i * 5 + 3) % (V + 4)) - 2.0f;
  else tu_fill_uniform(x, n, -1.0f, 1.0f, 42);
}

static void test_embedding_gradcheck(void **state) {
  (void)state;
  int64_t V = 7;
  tu_gradcheck g = {.op = "Embedding",
                    .attrs = "input_dim=7 output_dim=4",
                    .nargs = 2,
                    .shapes = {MT_SHAPE(3, 5)},
                    .no_grad = 1u, /* the indices */
                    .is_train = 1,
                    .init = emb_init,
                    .user = &V};
  double worst = tu_gradcheck_run(&g);
  print_message("  gradcheck Embedding worst %.3g\n", worst);
  assert_true(worst <= 1e-3);
  /* 1-D and 3-D index arrays */
  g.shapes[0] = MT_SHAPE(6);
  assert_true(tu_gradcheck_run(&g) <= 1e-3);
  g.shapes[0] = MT_SHAPE(2, 2, 3);
  assert_true(tu_gradcheck_run(&g) <= 1e-3);
}

static void expect_setup_error(const char *op, const char *attrs, mt_shape s, int code,
                               const char *needle) {
  tu_op t;
  mt_shape shapes[2] = {s}; /* Embedding's weight inferred */
  int rc = tu_op_setup(&t, op, attrs, 2, shapes);
  if (rc >= 0) {
    tu_op_free(&t);
    fail_msg("%s '%s': expected an error", op, attrs);
  }
  if (rc != code)
    fail_msg("%s '%s': code %d, expected %d: %s", op, attrs, rc, code, mt_last_error());
  if (!strstr(mt_last_error(), needle))
    fail_msg("%s '%s': message '%s' lacks '%s'", op, attrs, mt_last_error(), needle);
}

static void test_embedding_errors(void **state) {
  (void)state;
  expect_setup_error("Embedding", "output_dim=3", MT_SHAPE(2), MT_E_INVAL, "input_dim");
  expect_setup_error("Embedding", "input_dim=0 output_dim=3", MT_SHAPE(2), MT_E_INVAL,
                     "input_dim=0");
  expect_setup_error("Embedding", "input_dim=4 output_dim=3 dtype=float16", MT_SHAPE(2), MT_E_INVAL,
                     "float16");
  expect_setup_error("Embedding", "input_dim=4 output_dim=3 sparse_grad=true", MT_SHAPE(2),
                     MT_E_UNSUPPORTED, "sparse_grad");
  expect_setup_error("Embedding", "input_dim=4 output_dim=3", MT_SHAPE(1, 1, 1, 1, 1, 1),
                     MT_E_SHAPE, "axes");
  /* a given weight of another shape */
  tu_op t;
  mt_shape s[2] = {MT_SHAPE(2, 3), MT_SHAPE(5, 3)};
  assert_int_equal(tu_op_setup(&t, "Embedding", "input_dim=4 output_dim=3", 2, s), MT_E_SHAPE);
}

/* -------------------------------------------------------- SoftmaxOutput */

static void check_softmax_output(const mt_arena *io, const char *name, const char *attrs) {
  char key[128];
  snprintf(key, sizeof key, "%s:data", name);
  mt_ndarray *data = io_get(io, key);
  snprintf(key, sizeof key, "%s:label", name);
  mt_ndarray *label = io_get(io, key);
  mt_shape shapes[2] = {data->shape, label->shape};
  tu_op t;
  if (tu_op_setup(&t, "SoftmaxOutput", attrs, 2, shapes) < 0)
    fail_msg("%s: %s", name, mt_last_error());
  MT_ASSERT_OK(mt_ndarray_copy(t.in[0], data));
  MT_ASSERT_OK(mt_ndarray_copy(t.in[1], label));
  MT_ASSERT_OK(tu_op_forward(&t, 1));
  char what[160];
  snprintf(what, sizeof what, "%s forward", name);
  snprintf(key, sizeof key, "%s:out", name);
  expect_near(what, t.out[0]->data, io_get(io, key), t.out[0]->size, 1e-6, 1e-5);
  mt_ndarray *gd;
  MT_ASSERT_OK(mt_ndarray_create(data->shape, mt_cpu(0), &gd));
  MT_ASSERT_OK(mt_ndarray_fill(gd, NAN));
  mt_grad_req req[2] = {MT_REQ_WRITE, MT_REQ_NULL};
  mt_ndarray *ig[2] = {gd, NULL}, *og[1] = {NULL};
  mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = 1};
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, og, t.in, t.out, req, ig, t.aux));
  snprintf(what, sizeof what, "%s gradient", name);
  snprintf(key, sizeof key, "%s:grad", name);
  expect_near(what, gd->data, io_get(io, key), gd->size, 1e-6, 1e-5);
  mt_ndarray_free(gd);
  tu_op_free(&t);
}

static void test_softmax_output_mxnet(void **state) {
  (void)state;
  mt_arena *io = load_io("seqops-io.params");
  check_softmax_output(io, "so_ignore", "use_ignore=True ignore_label=0");
  check_softmax_output(io, "so_ignore_valid", "use_ignore=True ignore_label=0 normalization=valid");
  check_softmax_output(io, "so_ignore_batch",
                       "use_ignore=True ignore_label=2 normalization=batch grad_scale=0.5");
  check_softmax_output(io, "so_preserve", "preserve_shape=True");
  check_softmax_output(io, "so_preserve_ignore",
                       "preserve_shape=True use_ignore=True ignore_label=1 normalization=valid");
  check_softmax_output(io, "so_multi", "multi_output=True");
  check_softmax_output(io, "so_multi_ignore",
                       "multi_output=True use_ignore=True ignore_label=3 normalization=valid");
  check_softmax_output(io, "so_multi_batch", "multi_output=True normalization=batch");
  mt_arena_free(io);
}

/* ------------------------------------------------------ _zeros, zeros_like */

static mt_symbol *sym_json(const char *json) {
  mt_symbol *s = NULL;
  MT_ASSERT_OK(mt_symbol_load_json(json, &s));
  return s;
}

/* x (N, 8) + _zeros (0, 8): the 0 is the batch, N. */
static const char *const zeros_add_json =
    "{\"nodes\": [{\"op\": \"null\", \"name\": \"x\", \"inputs\": []},"
    " {\"op\": \"_zeros\", \"name\": \"z\", \"attrs\": {\"__layout__\": \"NC\", \"dtype\":"
    " \"float32\", \"shape\": \"(0, 8)\"}, \"inputs\": []},"
    " {\"op\": \"elemwise_add\", \"name\": \"s\", \"inputs\": [[0, 0, 0], [1, 0, 0]]}],"
    " \"arg_nodes\": [0], \"heads\": [[2, 0, 0]]}";

static void test_zeros_infer(void **state) {
  (void)state;
  mt_symbol *s = sym_json(zeros_add_json);
  const char *names[] = {"x"};
  mt_shape known[] = {MT_SHAPE(3, 8)}, args[4], outs[4];
  MT_ASSERT_OK(mt_symbol_infer_shape(s, 1, names, known, args, outs, NULL));
  assert_true(mt_shape_equal(&outs[0], &known[0]));
  /* the batch is found whatever position it has among the given dims */
  known[0] = MT_SHAPE(8, 8);
  MT_ASSERT_OK(mt_symbol_infer_shape(s, 1, names, known, args, outs, NULL));
  assert_int_equal(outs[0].dim[0], 8);
  /* no dim fits: the first candidate's mismatch, with context */
  known[0] = MT_SHAPE(3, 5);
  assert_int_equal(mt_symbol_infer_shape(s, 1, names, known, args, outs, NULL), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "_zeros 'z'"));
  /* nothing given: nothing to take the batch from */
  assert_int_equal(mt_symbol_infer_shape(s, 0, NULL, NULL, args, outs, NULL), MT_E_SHAPE);
  mt_symbol_free(s);

  /* a _zeros no batch-carrying op meets: both candidates fit, an error as in MXNet */
  s = sym_json(
      "{\"nodes\": [{\"op\": \"null\", \"name\": \"x\", \"inputs\": []},"
      " {\"op\": \"_zeros\", \"name\": \"z\", \"attrs\": {\"shape\": \"(0, 4)\"},"
      " \"inputs\": []},"
      " {\"op\": \"Concat\", \"name\": \"c\", \"attrs\": {\"num_args\": \"2\","
      " \"dim\": \"0\"}, \"inputs\": [[0, 0, 0], [1, 0, 0]]}],"
      " \"arg_nodes\": [0], \"heads\": [[2, 0, 0]]}");
  known[0] = MT_SHAPE(3, 4);
  assert_int_equal(mt_symbol_infer_shape(s, 1, names, known, args, outs, NULL), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "both 3 and 4 fit"));
  mt_symbol_free(s);

  /* a shape without 0s is as given; forward writes zeros */
  tu_op t;
  MT_ASSERT_OK(tu_op_setup(&t, "_zeros", "shape=(2,3)", 0, NULL));
  assert_true(mt_shape_equal(&t.out[0]->shape, &MT_SHAPE(2, 3)));
  MT_ASSERT_OK(mt_ndarray_fill(t.out[0], NAN));
  MT_ASSERT_OK(tu_op_forward(&t, 1));
  for (int64_t i = 0; i < t.out[0]->size; i++) assert_true(t.out[0]->data[i] == 0.0f);
  tu_op_free(&t);
  assert_int_equal(tu_op_setup(&t, "_zeros", "dtype=float32", 0, NULL), MT_E_INVAL);
  assert_int_equal(tu_op_setup(&t, "_zeros", "shape=(2,3) dtype=int32", 0, NULL), MT_E_INVAL);

  /* zeros_like: data's shape, zeros, a zero gradient */
  mt_shape d = MT_SHAPE(2, 5);
  MT_ASSERT_OK(tu_op_setup(&t, "zeros_like", "", 1, &d));
  tu_fill_uniform(t.in[0]->data, t.in[0]->size, -1, 1, 3);
  MT_ASSERT_OK(mt_ndarray_fill(t.out[0], NAN));
  MT_ASSERT_OK(tu_op_forward(&t, 1));
  assert_true(mt_shape_equal(&t.out[0]->shape, &d));
  for (int64_t i = 0; i < t.out[0]->size; i++) assert_true(t.out[0]->data[i] == 0.0f);
  mt_ndarray *g;
  MT_ASSERT_OK(mt_ndarray_create(d, mt_cpu(0), &g));
  MT_ASSERT_OK(mt_ndarray_fill(g, NAN));
  mt_grad_req req = MT_REQ_WRITE;
  mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = 1};
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, t.out, t.in, t.out, &req, &g, t.aux));
  for (int64_t i = 0; i < g->size; i++) assert_true(g->data[i] == 0.0f);
  mt_ndarray_free(g);
  tu_op_free(&t);
}

/* --------------------------------------------------- the unrolled LSTM */

static void test_lstm_fixture(void **state) {
  (void)state;
  char path[1024];
  fixture_path(path, sizeof path, "lstm-symbol.json");
  mt_symbol *sym = NULL;
  MT_ASSERT_OK(mt_symbol_load(path, &sym));
  mt_arena *arg = NULL, *aux = NULL;
  fixture_path(path, sizeof path, "lstm-0000.params");
  MT_ASSERT_OK(mt_params_load(path, &arg, &aux));
  mt_arena *io = load_io("lstm-io.params");
  mt_ndarray *data = io_get(io, "data"), *label = io_get(io, "softmax_label");

  /* MXNet's shapes: every parameter as in the checkpoint, the output (20, 20) */
  int narg;
  const char *const *names;
  MT_ASSERT_OK(mt_symbol_list_arguments(sym, &narg, &names));
  assert_int_equal(narg, 13);
  const char *kn[] = {"data", "softmax_label"};
  mt_shape ks[] = {data->shape, label->shape}, as[16], os[2];
  MT_ASSERT_OK(mt_symbol_infer_shape(sym, 2, kn, ks, as, os, NULL));
  assert_true(mt_shape_equal(&os[0], &MT_SHAPE(20, 20)));
  for (int i = 0; i < narg; i++) {
    mt_ndarray *p = mt_arena_get(arg, names[i]);
    if (p) assert_true(mt_shape_equal(&as[i], &p->shape));
  }
  assert_int_equal(mt_arena_count(arg), narg - 2);

  /* LSTMCell's i2h_bias carries __init__ lstmbias: what init_params applies */
  const char *ia = mt_symbol_var_attr(sym, "lstm_l1_i2h_bias", "__init__");
  assert_non_null(ia);
  assert_string_equal(ia, "[\"lstmbias\", {\"forget_bias\": 1.0}]");
  assert_null(mt_symbol_var_attr(sym, "lstm_l1_h2h_bias", "__init__"));
  assert_null(mt_symbol_var_attr(sym, "no_such_variable", "__init__"));
  mt_initializer *xav;
  mt_ndarray *bias;
  MT_ASSERT_OK(mt_initializer_create("xavier", 3, &xav));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(32), mt_cpu(0), &bias));
  MT_ASSERT_OK(mt_initializer_init_attr(xav, "lstm_l1_i2h_bias", ia, bias));
  for (int i = 0; i < 32; i++) assert_true(bias->data[i] == (i >= 8 && i < 16 ? 1.0f : 0.0f));
  mt_ndarray_free(bias);
  mt_initializer_free(xav);

  mt_data_desc dd = {"data", data->shape}, ld = {"softmax_label", label->shape};
  mt_module *m = NULL;
  MT_ASSERT_OK(mt_module_create(sym, 0, NULL, 0, NULL, 0, NULL, &m));
  MT_ASSERT_OK(mt_module_bind(m, 1, &dd, 1, &ld, 1, 0, 0, MT_REQ_WRITE));
  /* init_params applies it: the forget gate's quarter of each i2h_bias is
   * forget_bias (1), the rest of the biases 0 (MXNet's LSTMCell + Xavier) */
  MT_ASSERT_OK(mt_initializer_create("xavier", 3, &xav));
  MT_ASSERT_OK(mt_module_init_params(m, xav, NULL, NULL, 0, 0, 0));
  mt_initializer_free(xav);
  const mt_arena *ap, *xp;
  MT_ASSERT_OK(mt_module_get_params(m, &ap, &xp));
  for (int l = 0; l < 2; l++) {
    char name[64];
    snprintf(name, sizeof name, "lstm_l%d_i2h_bias", l);
    const mt_ndarray *ib = mt_arena_get(ap, name);
    assert_non_null(ib);
    int64_t q = ib->size / 4;
    for (int64_t i = 0; i < ib->size; i++)
      assert_true(ib->data[i] == (i >= q && i < 2 * q ? 1.0f : 0.0f));
    snprintf(name, sizeof name, "lstm_l%d_h2h_bias", l);
    const mt_ndarray *hb = mt_arena_get(ap, name);
    assert_non_null(hb);
    for (int64_t i = 0; i < hb->size; i++) assert_true(hb->data[i] == 0.0f);
  }
  MT_ASSERT_OK(mt_module_set_params(m, arg, aux, 0, 1, 0));
  mt_batch b;
  memset(&b, 0, sizeof b);
  b.ndata = b.nlabel = 1;
  b.data[0] = data;
  b.label[0] = label;
  for (int pass = 0; pass < 2; pass++) {
    MT_ASSERT_OK(mt_module_forward(m, &b, pass));
    int nout;
    mt_ndarray *const *outs;
    MT_ASSERT_OK(mt_module_get_outputs(m, &nout, &outs));
    assert_int_equal(nout, 1);
    expect_near(pass ? "lstm out_train:0" : "lstm out_eval:0", outs[0]->data,
                io_get(io, pass ? "out_train:0" : "out_eval:0"), outs[0]->size, 1e-6, 1e-5);
  }
  MT_ASSERT_OK(mt_module_backward(m, 0, NULL));
  const mt_arena *grads = m->group.slots[0].grads;
  for (int i = 0; i < mt_arena_count(arg); i++) {
    char key[160];
    const char *name = mt_arena_name(arg, i);
    snprintf(key, sizeof key, "grad:%s", name);
    mt_ndarray *gr = mt_arena_get(grads, name);
    if (!gr) fail_msg("no gradient for '%s'", name);
    expect_near(key, gr->data, io_get(io, key), gr->size, 1e-6, 1e-4);
  }
  mt_module_free(m);
  mt_arena_free(arg);
  mt_arena_free(aux);
  mt_arena_free(io);
  mt_symbol_free(sym);
}

int main(void) {
  mt_blas_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_embedding_mxnet),  cmocka_unit_test(test_embedding_gradcheck),
      cmocka_unit_test(test_embedding_errors), cmocka_unit_test(test_softmax_output_mxnet),
      cmocka_unit_test(test_zeros_infer),      cmocka_unit_test(test_lstm_fixture),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
