/* test_mxnet_fixtures.c — modtrain against real MXNet 1.9.1: the fixtures
 * under tests/fixtures/mxnet (made once by make_fixtures.py there, see its
 * README.md) hold MXNet's symbol JSON, parameters, an input batch, and what
 * MXNet computed from them. For each net (mlp, lenet, convmix) this loads
 * the symbol and the checkpoint's parameters, binds a Module for the batch
 * (for_training, inputs_need_grad, grad_req write), and compares with
 * MXNet's numbers:
 *   forward(is_train=0) outputs        out_eval:I
 *   forward(is_train=1) outputs        out_train:I
 *   backward(): every argument's gradient, data's too   grad:NAME
 *   the aux states after that backward                  aux_after:NAME
 * (MXNet 1.9.1's CPU BatchNorm updates its moving stats in backward, its
 * cuDNN one and modtrain's in the training forward: after forward+backward
 * all agree. They are read from the executor: Module.get_params syncs only
 * after update, in MXNet too.)
 * Every key of the io file must be compared (a key the test does not know
 * fails it). Then the symbol written back with tojson must equal the file
 * MXNet wrote: the same JSON (each node's op, name, attrs and inputs,
 * arg_nodes, heads, graph attrs), and byte for byte (symbol_json.c
 * reproduces MXNet's writer) but for input versions and, where MXNet's
 * build counts hidden outputs differently (max Pooling), node_row_ptr:
 * those are printed as notes.
 *
 * Tolerances, per array, with ref = MXNet's array and scale = max(1, max|ref|):
 *   outputs and aux states    |got - ref| <= 1e-5 * scale
 *   gradients                 |got - ref| <= 1e-5 * scale + 1e-4 * |ref|
 * The outputs are probabilities, BatchNorm'd values and squares of them (at
 * most a few units): 1e-5 absolute is the bound. Gradients sum over
 * the batch and every spatial position (LeNet's conv1 weight: 2,304 terms),
 * so float32 rounding grows with the sum: MXNet's own two CPU code paths
 * (mshadow and oneDNN) differ by up to 8e-7 on gradients of ~1, 7.6e-6 on
 * one of 77, and 6e-7 on a gradient that is exactly zero in exact
 * arithmetic (fc1_bias before a training BatchNorm) — hence the absolute
 * term scaled by the array's largest value, plus 1e-4 relative. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/module.h"
#include "testutil.h"

#ifndef MT_FIXTURE_DIR
#error "MT_FIXTURE_DIR (tests/fixtures/mxnet) must be defined by tests/CMakeLists.txt"
#endif

static const char *fixture_dir = MT_FIXTURE_DIR;

static void fixture_path(char *buf, size_t len, const char *net, const char *suffix) {
  int n = snprintf(buf, len, "%s/%s%s", fixture_dir, net, suffix);
  assert_true(n > 0 && (size_t)n < len);
}

/* Compares got with ref (same size) and prints the worst difference.
 * Returns 1 if within tolerance. */
static int compare(const char *net, const char *key, const mt_ndarray *got, const mt_ndarray *ref,
                   double rtol_elem) {
  char gs[64], rs[64];
  mt_shape g = mt_ndarray_shape(got), r = mt_ndarray_shape(ref);
  if (mt_ndarray_size(got) != mt_ndarray_size(ref)) {
    print_error("%s %s: modtrain's shape %s, MXNet's %s\n", net, key, mt_shape_str(&g, gs, 64),
                mt_shape_str(&r, rs, 64));
    return 0;
  }
  int64_t n = mt_ndarray_size(ref);
  const float *a = mt_ndarray_data(got), *b = mt_ndarray_data(ref);
  double scale = 1.0;
  for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
  double worst = 0, worst_excess = -1;
  int64_t at = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    double tol = 1e-5 * scale + rtol_elem * fabs(b[i]);
    if (!(d <= tol)) d = isnan(d) ? INFINITY : d; /* NaN never passes */
    if (d > worst) worst = d;
    if (!(d <= tol) && d - tol > worst_excess) {
      worst_excess = d - tol;
      at = i;
    }
  }
  int ok = worst_excess < 0;
  print_message("  %-8s %-36s %-16s max abs diff %.3g%s\n", net, key, mt_shape_str(&r, rs, 64),
                worst, ok ? "" : "  <-- over tolerance");
  if (!ok)
    print_error("%s %s: element %lld is %.9g, MXNet's %.9g (tolerance %.3g)\n", net, key,
                (long long)at, (double)a[at], (double)b[at],
                1e-5 * scale + rtol_elem * fabs(b[at]));
  /* the same shape too, not only the same size */
  if (ok && !mt_shape_equal(&g, &r)) {
    print_error("%s %s: modtrain's shape %s, MXNet's %s\n", net, key, mt_shape_str(&g, gs, 64),
                mt_shape_str(&r, rs, 64));
    return 0;
  }
  return ok;
}

/* The io array `key` (marked used in seen[]), or NULL if there is none. */
static mt_ndarray *io_find(const mt_arena *io, unsigned char *seen, const char *key) {
  for (int i = 0; i < mt_arena_count(io); i++)
    if (!strcmp(mt_arena_name(io, i), key)) {
      seen[i] = 1;
      return mt_arena_at(io, i);
    }
  return NULL;
}

/* The same, failing the test if it is missing. */
static mt_ndarray *io_get(const mt_arena *io, unsigned char *seen, const char *net,
                          const char *key) {
  mt_ndarray *a = io_find(io, seen, key);
  if (!a) fail_msg("%s-io.params has no '%s'", net, key);
  return a;
}

static mt_symbol *load_symbol(const char *net) {
  char path[1024];
  fixture_path(path, sizeof path, net, "-symbol.json");
  mt_symbol *sym = NULL;
  int rc = mt_symbol_load(path, &sym);
  if (rc < 0)
    fail_msg("%s: modtrain cannot load MXNet's symbol %s: %s [%s]", net, path, mt_last_error(),
             mt_strerror(rc));
  return sym;
}

/* Loads everything, binds, runs and compares one net (see the header). */
static void check_net(const char *net) {
  char path[1024];
  mt_symbol *sym = load_symbol(net);
  mt_arena *arg = NULL, *aux = NULL, *io = NULL, *io_aux = NULL;
  fixture_path(path, sizeof path, net, "-0000.params");
  MT_ASSERT_OK(mt_params_load(path, &arg, &aux));
  fixture_path(path, sizeof path, net, "-io.params");
  MT_ASSERT_OK(mt_params_load(path, &io, &io_aux));
  assert_int_equal(mt_arena_count(io_aux), 0);
  int nio = mt_arena_count(io);
  unsigned char *seen = calloc((size_t)nio + 1, 1);
  assert_non_null(seen);

  mt_ndarray *data = io_get(io, seen, net, "data"), *label = io_get(io, seen, net, "softmax_label");
  mt_data_desc dd = {"data", mt_ndarray_shape(data)},
               ld = {"softmax_label", mt_ndarray_shape(label)};
  mt_module *m = NULL;
  MT_ASSERT_OK(mt_module_create(sym, 0, NULL, 0, NULL, 0, NULL, &m));
  int rc = mt_module_bind(m, 1, &dd, 1, &ld, 1, 1, 0, MT_REQ_WRITE);
  if (rc < 0)
    fail_msg("%s: binding MXNet's symbol failed: %s [%s]", net, mt_last_error(), mt_strerror(rc));
  /* every parameter and aux state from MXNet's checkpoint, nothing missing or extra */
  MT_ASSERT_OK(mt_module_set_params(m, arg, aux, 0, 1, 0));

  mt_batch b;
  memset(&b, 0, sizeof b);
  b.ndata = b.nlabel = 1;
  b.data[0] = data;
  b.label[0] = label;
  int ok = 1;
  for (int pass = 0; pass < 2; pass++) {
    MT_ASSERT_OK(mt_module_forward(m, &b, pass));
    int nout;
    mt_ndarray *const *outs;
    MT_ASSERT_OK(mt_module_get_outputs(m, &nout, &outs));
    for (int i = 0;; i++) {
      char key[64];
      snprintf(key, sizeof key, "%s:%d", pass ? "out_train" : "out_eval", i);
      mt_ndarray *ref = io_find(io, seen, key);
      if (!ref) {
        if (i != nout) fail_msg("%s: modtrain has %d outputs, MXNet %d", net, nout, i);
        break;
      }
      if (i >= nout) fail_msg("%s: modtrain has %d outputs, MXNet more ('%s')", net, nout, key);
      ok &= compare(net, key, outs[i], ref, 0);
    }
  }
  MT_ASSERT_OK(mt_module_backward(m, 0, NULL));

  /* gradients: every argument but the label, data through input grads */
  int nin;
  mt_ndarray *const *igrads;
  MT_ASSERT_OK(mt_module_get_input_grads(m, &nin, &igrads));
  assert_int_equal(nin, 1);
  assert_non_null(igrads[0]);
  ok &= compare(net, "grad:data", igrads[0], io_get(io, seen, net, "grad:data"), 1e-4);
  const mt_arena *grads = m->group.slots[0].grads;
  assert_non_null(grads);
  for (int i = 0; i < mt_arena_count(arg); i++) {
    char key[160];
    const char *name = mt_arena_name(arg, i);
    snprintf(key, sizeof key, "grad:%s", name);
    mt_ndarray *g = mt_arena_get(grads, name);
    if (!g) fail_msg("%s: modtrain has no gradient for '%s'", net, name);
    ok &= compare(net, key, g, io_get(io, seen, net, key), 1e-4);
  }
  /* aux states after forward(is_train=1) + backward (BatchNorm's moving stats) */
  for (int i = 0; i < mt_arena_count(aux); i++) {
    char key[160];
    const char *name = mt_arena_name(aux, i);
    snprintf(key, sizeof key, "aux_after:%s", name);
    mt_ndarray *x = mt_executor_aux(m->group.slots[0].exec, name);
    if (!x) fail_msg("%s: the executor has no aux state '%s'", net, name);
    ok &= compare(net, key, x, io_get(io, seen, net, key), 0);
  }
  /* every array of the io file was used (data and label as inputs) */
  for (int i = 0; i < nio; i++)
    if (!seen[i]) {
      print_error("%s: %s-io.params holds '%s', which the test does not compare\n", net, net,
                  mt_arena_name(io, i));
      ok = 0;
    }
  free(seen);
  mt_module_free(m);
  mt_arena_free(arg);
  mt_arena_free(aux);
  mt_arena_free(io);
  mt_arena_free(io_aux);
  mt_symbol_free(sym);
  if (!ok) fail_msg("%s: modtrain differs from MXNet 1.9.1 (see above)", net);
}

/* Input entries [node, index, version] compared on node and index: the
 * version is NNVM's mutation count, which loaders ignore. */
static int inputs_equal(json_t *a, json_t *b) {
  if (!json_is_array(a) || !json_is_array(b) || json_array_size(a) != json_array_size(b)) return 0;
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *x = json_array_get(a, i), *y = json_array_get(b, i);
    if (json_array_size(x) < 2 || json_array_size(y) < 2) return 0;
    for (size_t k = 0; k < 2; k++)
      if (!json_equal(json_array_get(x, k), json_array_get(y, k))) return 0;
  }
  return 1;
}

/* A copy of JSON text with the third number of every "[a, b, c]" input
 * entry set to 0. */
static char *versions_zeroed(const char *s) {
  size_t n = strlen(s);
  char *out = malloc(n + 1), *o = out;
  assert_non_null(out);
  while (*s) {
    unsigned a, b;
    int end = 0;
    if (*s == '[' && sscanf(s, "[%u, %u, %*u]%n", &a, &b, &end) == 2 && end > 0) {
      o += sprintf(o, "[%u, %u, 0]", a, b);
      s += end;
    } else {
      *o++ = *s++;
    }
  }
  *o = 0;
  return out;
}

/* tojson of the loaded symbol against the file MXNet wrote. */
static void check_json_roundtrip(const char *net) {
  char path[1024];
  fixture_path(path, sizeof path, net, "-symbol.json");
  mt_symbol *sym = load_symbol(net);
  json_error_t jerr;
  json_t *want = json_load_file(path, 0, &jerr);
  if (!want) fail_msg("%s: %s: %s", net, path, jerr.text);
  char *text = NULL;
  MT_ASSERT_OK(mt_symbol_tojson(sym, &text));
  json_t *got = json_loads(text, 0, &jerr);
  if (!got) fail_msg("%s: tojson wrote invalid JSON: %s", net, jerr.text);

  const char *parts[] = {"arg_nodes", "heads", "attrs"};
  json_t *wn = json_object_get(want, "nodes"), *gn = json_object_get(got, "nodes");
  assert_non_null(wn);
  assert_non_null(gn);
  int ok = 1;
  if (json_array_size(wn) != json_array_size(gn)) {
    print_error("%s: tojson has %zu nodes, MXNet's file %zu\n", net, json_array_size(gn),
                json_array_size(wn));
    ok = 0;
  } else {
    for (size_t i = 0; i < json_array_size(wn); i++) {
      json_t *w = json_array_get(wn, i), *g = json_array_get(gn, i);
      const char *fields[] = {"op", "name", "attrs", "inputs"};
      for (int f = 0; f < 4; f++) {
        json_t *wf = json_object_get(w, fields[f]), *gf = json_object_get(g, fields[f]);
        if (!wf && !gf) continue;
        if (!wf || !gf || !(f == 3 ? inputs_equal(wf, gf) : json_equal(wf, gf))) {
          char *ws = wf ? json_dumps(wf, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
          char *gs = gf ? json_dumps(gf, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
          print_error("%s: node %zu (%s) %s: MXNet %s, modtrain %s\n", net, i,
                      json_string_value(json_object_get(w, "name")), fields[f], ws ? ws : "(none)",
                      gs ? gs : "(none)");
          free(ws);
          free(gs);
          ok = 0;
        }
      }
    }
  }
  for (int p = 0; p < 3; p++) {
    json_t *w = json_object_get(want, parts[p]), *g = json_object_get(got, parts[p]);
    if (!w || !g || !json_equal(w, g)) {
      print_error("%s: '%s' differs from MXNet's file\n", net, parts[p]);
      ok = 0;
    }
  }
  /* node_row_ptr counts each node's outputs, hidden ones included. MXNet's
   * count depends on its build: with MKLDNN (the PyPI wheel that wrote the
   * fixtures) max Pooling has 2 (a hidden workspace), without it 1. A
   * difference is reported as a note naming the nodes, not as a failure
   * (loaders ignore node_row_ptr); with equal counts the text must match. */
  json_t *wr = json_object_get(want, "node_row_ptr"), *gr = json_object_get(got, "node_row_ptr");
  int rows_equal = wr && gr && json_equal(wr, gr);
  if (!rows_equal && json_array_size(wr) == json_array_size(gr) &&
      json_array_size(wr) == json_array_size(wn) + 1) {
    for (size_t i = 0; i < json_array_size(wn); i++) {
      json_int_t wc = json_integer_value(json_array_get(wr, i + 1)) -
                      json_integer_value(json_array_get(wr, i)),
                 gc = json_integer_value(json_array_get(gr, i + 1)) -
                      json_integer_value(json_array_get(gr, i));
      if (wc != gc)
        print_message(
            "  %-8s note: node %zu (%s %s) has %lld outputs in MXNet's file, %lld in "
            "modtrain's (hidden outputs)\n",
            net, i, json_string_value(json_object_get(json_array_get(wn, i), "op")),
            json_string_value(json_object_get(json_array_get(wn, i), "name")), (long long)wc,
            (long long)gc);
    }
  } else if (!rows_equal) {
    print_error("%s: node_row_ptr has %zu entries, MXNet's %zu (nodes + 1)\n", net,
                json_array_size(gr), json_array_size(wr));
    ok = 0;
  }
  /* Byte for byte: sym.save writes sym.tojson(). MXNet writes an aux
   * state's input entry with the variable's version (NNVM bumps it for a
   * mutated input: BatchNorm's moving stats are [node, 0, 1]); modtrain
   * drops versions and writes 0, which MXNet's loader reads the same. So
   * the text must equal MXNet's, or MXNet's with its versions set to 0. */
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char *file = calloc(1, 1 << 20);
  assert_non_null(file);
  size_t len = fread(file, 1, (1 << 20) - 1, f);
  fclose(f);
  int same = len == strlen(text) && !memcmp(file, text, len);
  char *norm = versions_zeroed(file);
  int same_norm = !strcmp(norm, text);
  print_message("  %-8s tojson: %s\n", net,
                same         ? "byte for byte MXNet's file"
                : same_norm  ? "byte for byte MXNet's file with input versions 0"
                : rows_equal ? "NOT MXNet's text"
                             : "not MXNet's text (node_row_ptr differs, see the note)");
  if (rows_equal && !same && !same_norm) {
    size_t i = 0;
    while (norm[i] && norm[i] == text[i]) i++;
    print_error(
        "%s: tojson differs from MXNet's text at byte %zu: MXNet \"%.40s\", modtrain \"%.40s\"\n",
        net, i, norm + i, text + i);
    ok = 0;
  }
  free(norm);
  free(file);
  free(text);
  json_decref(want);
  json_decref(got);
  mt_symbol_free(sym);
  if (!ok) fail_msg("%s: the symbol written back differs from MXNet's (see above)", net);
}

static void test_mlp(void **state) { check_net("mlp"); }
static void test_lenet(void **state) { check_net("lenet"); }
static void test_convmix(void **state) { check_net("convmix"); }
static void test_json_mlp(void **state) { check_json_roundtrip("mlp"); }
static void test_json_lenet(void **state) { check_json_roundtrip("lenet"); }
static void test_json_convmix(void **state) { check_json_roundtrip("convmix"); }

int main(int argc, char **argv) {
  if (argc > 1) fixture_dir = argv[1]; /* another copy of the fixtures */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mlp),     cmocka_unit_test(test_json_mlp),
      cmocka_unit_test(test_lenet),   cmocka_unit_test(test_json_lenet),
      cmocka_unit_test(test_convmix), cmocka_unit_test(test_json_convmix),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
