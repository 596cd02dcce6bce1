/* test_rnn_lm.c — mt_lstm_lm_symbol (src/rnn_lm.c), MXNet's
 * example/rnn/bucketing/lstm_bucketing.py network for one bucket, against
 * what MXNet 1.9.1 builds and computes (tests/fixtures/mxnet: lstm-* from
 * make_lstm_fixture.py, 2 layers x 5 steps; lstmlm3-* from
 * make_lstm_lm_fixture.py, 3 layers x 3 steps):
 *   - the JSON equals MXNet's file node by node (op, name, attributes,
 *     inputs), and its arg_nodes and heads
 *   - bound in a Module with MXNet's parameters, the outputs of
 *     forward(is_train=0/1) and every parameter's gradient equal MXNet's
 *   - the buckets of one model share every parameter (names and shapes)
 *   - the symbol generator's names, and the errors for bad sizes */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/module.h"
#include "src/symbol.h"
#include "testutil.h"

typedef struct {
  const char *net;
  int seq, layers, vocab, embed, hidden, batch;
} lm_case;

static const lm_case cases[] = {
    {"lstm", 5, 2, 20, 6, 8, 4},
    {"lstmlm3", 3, 3, 11, 5, 4, 2},
};

static void fixture_path(char *buf, size_t len, const char *net, const char *suffix) {
  snprintf(buf, len, "%s/%s%s", MT_FIXTURE_DIR, net, suffix);
}

static mt_symbol *make(const lm_case *c) {
  mt_symbol *s = NULL;
  MT_ASSERT_OK(mt_lstm_lm_symbol(c->seq, c->layers, c->vocab, c->embed, c->hidden, &s));
  return s;
}

/* [node, index, version]: node and index compared (the version is NNVM's) */
static int inputs_equal(json_t *a, json_t *b) {
  if (!json_is_array(a) || !json_is_array(b) || json_array_size(a) != json_array_size(b)) return 0;
  for (size_t i = 0; i < json_array_size(a); i++)
    for (size_t k = 0; k < 2; k++)
      if (!json_equal(json_array_get(json_array_get(a, i), k),
                      json_array_get(json_array_get(b, i), k)))
        return 0;
  return 1;
}

static void test_json_matches_mxnet(void **state) {
  (void)state;
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    const lm_case *c = &cases[ci];
    char path[1024];
    fixture_path(path, sizeof path, c->net, "-symbol.json");
    json_error_t jerr;
    json_t *want = json_load_file(path, 0, &jerr);
    if (!want) fail_msg("%s: %s", path, jerr.text);
    mt_symbol *sym = make(c);
    char *text = NULL;
    MT_ASSERT_OK(mt_symbol_tojson(sym, &text));
    json_t *got = json_loads(text, 0, &jerr);
    if (!got) fail_msg("%s: tojson wrote invalid JSON: %s", c->net, jerr.text);
    json_t *wn = json_object_get(want, "nodes"), *gn = json_object_get(got, "nodes");
    if (json_array_size(wn) != json_array_size(gn))
      fail_msg("%s: %zu nodes, MXNet's file %zu", c->net, json_array_size(gn), json_array_size(wn));
    int bad = 0;
    for (size_t i = 0; i < json_array_size(wn); i++) {
      json_t *w = json_array_get(wn, i), *g = json_array_get(gn, i);
      const char *fields[] = {"op", "name", "attrs", "inputs"};
      for (int f = 0; f < 4; f++) {
        json_t *wf = json_object_get(w, fields[f]), *gf = json_object_get(g, fields[f]);
        if (!wf && !gf) continue;
        if (!wf || !gf || !(f == 3 ? inputs_equal(wf, gf) : json_equal(wf, gf))) {
          char *ws = wf ? json_dumps(wf, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
          char *gs = gf ? json_dumps(gf, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
          print_error("%s: node %zu (%s) %s: MXNet %s, modtrain %s\n", c->net, i,
                      json_string_value(json_object_get(w, "name")), fields[f], ws ? ws : "(none)",
                      gs ? gs : "(none)");
          free(ws);
          free(gs);
          bad++;
        }
      }
    }
    const char *parts[] = {"arg_nodes", "heads"};
    for (int p = 0; p < 2; p++)
      if (!json_equal(json_object_get(want, parts[p]), json_object_get(got, parts[p]))) {
        print_error("%s: '%s' differs from MXNet's file\n", c->net, parts[p]);
        bad++;
      }
    if (bad) fail_msg("%s: %d differences from MXNet's symbol", c->net, bad);
    print_message("  %-8s %zu nodes equal MXNet's\n", c->net, json_array_size(wn));
    free(text);
    json_decref(want);
    json_decref(got);
    mt_symbol_free(sym);
  }
}

static mt_ndarray *io_get(const mt_arena *io, const char *key) {
  mt_ndarray *a = mt_arena_get(io, key);
  if (!a) fail_msg("fixture has no '%s'", key);
  return a;
}

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

static void test_forward_backward_mxnet(void **state) {
  (void)state;
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    const lm_case *c = &cases[ci];
    char path[1024], key[200];
    mt_arena *arg = NULL, *aux = NULL, *io = NULL, *iox = NULL;
    fixture_path(path, sizeof path, c->net, "-0000.params");
    MT_ASSERT_OK(mt_params_load(path, &arg, &aux));
    fixture_path(path, sizeof path, c->net, "-io.params");
    MT_ASSERT_OK(mt_params_load(path, &io, &iox));
    mt_ndarray *data = io_get(io, "data"), *label = io_get(io, "softmax_label");
    assert_true(mt_shape_equal(&data->shape, &MT_SHAPE(c->batch, c->seq)));

    mt_symbol *sym = make(c);
    const char *dn = "data", *ln = "softmax_label";
    mt_data_desc dd = {"data", data->shape}, ld = {"softmax_label", label->shape};
    mt_module *m = NULL;
    MT_ASSERT_OK(mt_module_create(sym, 1, &dn, 1, &ln, 0, NULL, &m));
    MT_ASSERT_OK(mt_module_bind(m, 1, &dd, 1, &ld, 1, 0, 0, MT_REQ_WRITE));
    MT_ASSERT_OK(mt_module_set_params(m, arg, aux, 0, 1, 0));
    mt_batch b;
    memset(&b, 0, sizeof b);
    b.ndata = b.nlabel = 1;
    b.data[0] = data;
    b.label[0] = label;
    b.bucket_key = c->seq;
    for (int pass = 0; pass < 2; pass++) {
      MT_ASSERT_OK(mt_module_forward(m, &b, pass));
      int nout;
      mt_ndarray *const *outs;
      MT_ASSERT_OK(mt_module_get_outputs(m, &nout, &outs));
      assert_int_equal(nout, 1);
      assert_true(mt_shape_equal(&outs[0]->shape, &MT_SHAPE(c->batch * c->seq, c->vocab)));
      snprintf(key, sizeof key, "%s %s", c->net, pass ? "out_train:0" : "out_eval:0");
      expect_near(key, outs[0]->data, io_get(io, pass ? "out_train:0" : "out_eval:0"),
                  outs[0]->size, 1e-6, 1e-5);
    }
    MT_ASSERT_OK(mt_module_backward(m, 0, NULL));
    const mt_arena *grads = m->group.slots[0].grads;
    int narg;
    const char *const *names;
    MT_ASSERT_OK(mt_symbol_list_arguments(sym, &narg, &names));
    assert_int_equal(narg, 4 * c->layers + 5); /* + data, embed, pred w/b, label */
    assert_int_equal(mt_arena_count(arg), narg - 2);
    for (int i = 0; i < mt_arena_count(arg); i++) {
      const char *name = mt_arena_name(arg, i);
      mt_ndarray *gr = mt_arena_get(grads, name);
      if (!gr) fail_msg("%s: no gradient for '%s'", c->net, name);
      char io_key[160];
      snprintf(io_key, sizeof io_key, "grad:%s", name);
      snprintf(key, sizeof key, "%s %s", c->net, io_key);
      expect_near(key, gr->data, io_get(io, io_key), gr->size, 1e-6, 1e-4);
    }
    mt_module_free(m);
    mt_symbol_free(sym);
    mt_arena_free(arg);
    mt_arena_free(aux);
    mt_arena_free(io);
    mt_arena_free(iox);
  }
}

/* Every bucket's symbol has the same parameters (names, shapes): what a
 * BucketingModule shares; the generator gives MXNet's data / label names. */
static void test_buckets_share_params(void **state) {
  (void)state;
  mt_lstm_lm_config cfg = {2, 50, 12, 16};
  const int keys[] = {10, 20, 60, 1};
  int n0 = 0;
  char *names0[64];
  mt_shape shapes0[64];
  for (int k = 0; k < 4; k++) {
    mt_symbol *s = NULL;
    int nd = 0, nl = 0;
    const char *const *dn = NULL, *const *ln = NULL;
    MT_ASSERT_OK(mt_lstm_lm_sym_gen(&cfg, keys[k], &s, &nd, &dn, &nl, &ln));
    assert_int_equal(nd, 1);
    assert_int_equal(nl, 1);
    assert_string_equal(dn[0], "data");
    assert_string_equal(ln[0], "softmax_label");
    int narg, nout, naux;
    const char *const *names;
    MT_ASSERT_OK(mt_symbol_list_outputs(s, &nout, &names));
    assert_int_equal(nout, 1);
    assert_string_equal(names[0], "softmax_output");
    MT_ASSERT_OK(mt_symbol_list_auxiliary_states(s, &naux, &names));
    assert_int_equal(naux, 0);
    MT_ASSERT_OK(mt_symbol_list_arguments(s, &narg, &names));
    assert_true(narg <= 64);
    const char *kn[] = {"data", "softmax_label"};
    mt_shape ks[] = {MT_SHAPE(3, keys[k]), MT_SHAPE(3, keys[k])}, as[64], os[1];
    MT_ASSERT_OK(mt_symbol_infer_shape(s, 2, kn, ks, as, os, NULL));
    assert_true(mt_shape_equal(&os[0], &MT_SHAPE(3 * keys[k], 50)));
    if (k == 0) {
      n0 = narg;
      for (int i = 0; i < narg; i++) {
        names0[i] = strdup(names[i]);
        shapes0[i] = as[i];
      }
      assert_true(mt_shape_equal(&as[1], &MT_SHAPE(50, 12))); /* embed_weight */
    } else {
      assert_int_equal(narg, n0);
      for (int i = 0; i < narg; i++) {
        assert_string_equal(names[i], names0[i]);
        if (strcmp(names[i], "data") && strcmp(names[i], "softmax_label"))
          assert_true(mt_shape_equal(&as[i], &shapes0[i]));
      }
    }
    mt_symbol_free(s);
  }
  for (int i = 0; i < n0; i++) free(names0[i]);
}

static void test_errors(void **state) {
  (void)state;
  mt_symbol *s = (mt_symbol *)&s;
  assert_int_equal(mt_lstm_lm_symbol(0, 2, 20, 6, 8, &s), MT_E_INVAL);
  assert_null(s);
  assert_non_null(strstr(mt_last_error(), "seq_len=0"));
  assert_int_equal(mt_lstm_lm_symbol(65, 2, 20, 6, 8, &s), MT_E_INVAL);
  assert_int_equal(mt_lstm_lm_symbol(5, 0, 20, 6, 8, &s), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "num_layers=0"));
  assert_int_equal(mt_lstm_lm_symbol(5, 2, 1, 6, 8, &s), MT_E_INVAL);
  assert_int_equal(mt_lstm_lm_symbol(5, 2, 20, 0, 8, &s), MT_E_INVAL);
  assert_int_equal(mt_lstm_lm_symbol(5, 2, 20, 6, -1, &s), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "num_hidden=-1"));
  assert_int_equal(mt_lstm_lm_symbol(5, 2, 20, 6, 8, NULL), MT_E_INVAL);
  assert_int_equal(mt_lstm_lm_sym_gen(NULL, 5, &s, NULL, NULL, NULL, NULL), MT_E_INVAL);
  mt_lstm_lm_config cfg = {2, 20, 6, 8};
  assert_int_equal(mt_lstm_lm_sym_gen(&cfg, 0, &s, NULL, NULL, NULL, NULL), MT_E_INVAL);
  assert_null(s);
}

int main(void) {
  mt_blas_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_matches_mxnet),
      cmocka_unit_test(test_forward_backward_mxnet),
      cmocka_unit_test(test_buckets_share_params),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
