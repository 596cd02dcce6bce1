/* test_shapes.c — issue 14's size hardening: base/shape.h's one rule for
 * the shapes an array may have (at most 2^31 - 1 elements, every dim within
 * it, docs/design.md §2) and where it is applied: shape inference (naming
 * the node and its input or output), arrays and arenas, the attribute
 * parser (num_hidden past the limit, a key given twice, an int that does
 * not fit its field), symbol JSON; the optimizer's update counts (at most
 * 2^53, refused beyond, never a wrap) and the factor scheduler's catch-up
 * after a large begin_num_update; and graphs of many thousand layers built
 * and inferred in linear time (a 20,000-layer net here, no timing). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/shape.h"
#include "src/attrs.h"
#include "src/net_builder.h"
#include "testutil.h"

#define HAS(needle)                                                                                \
  do {                                                                                             \
    if (!strstr(mt_last_error(), (needle)))                                                        \
      fail_msg("no '%s' in the message: %s", (needle), mt_last_error());                           \
  } while (0)

/* ------------------------------------------------------------ the rule */

static void test_shape_rule(void **state) {
  (void)state;
  int64_t n = -7;
  char why[160];
  mt_shape ok = MT_SHAPE(32, 128), max1 = MT_SHAPE(INT32_MAX), zero = MT_SHAPE(0, INT32_MAX);
  MT_ASSERT_OK(mt_shape_count(&ok, &n, why, sizeof why));
  assert_int_equal(n, 32 * 128);
  MT_ASSERT_OK(mt_shape_count(&max1, &n, why, sizeof why));
  assert_int_equal(n, INT32_MAX);
  MT_ASSERT_OK(mt_shape_count(&zero, &n, why, sizeof why));
  assert_int_equal(n, 0);
  mt_shape unknown = {0, {0}};
  MT_ASSERT_OK(mt_shape_count(&unknown, &n, NULL, 0));

  /* past the limit: one dim, a product, products that overflow int64 */
  const mt_shape bad[] = {MT_SHAPE((int64_t)INT32_MAX + 1),
                          MT_SHAPE(65536, 32768),
                          MT_SHAPE(INT64_MAX, 2),
                          MT_SHAPE((int64_t)1 << 62),
                          MT_SHAPE((int64_t)1 << 31, (int64_t)1 << 31, 4),
                          MT_SHAPE(4, -1),
                          MT_SHAPE(2, 2, 2, 2, 2, 2)};
  for (int i = 0; i < 6; i++) {
    assert_int_equal(mt_shape_count(&bad[i], &n, why, sizeof why), MT_E_SHAPE);
    assert_int_equal(n, 0);
    assert_true(why[0] != '\0');
    assert_int_equal(mt_shape_check(&bad[i], "array '%s'", "w"), MT_E_SHAPE);
    HAS("array 'w': shape (");
  }
  MT_ASSERT_OK(mt_shape_count(&bad[6], &n, why, sizeof why)); /* 6 dims: fine */
  mt_shape seven = bad[6];
  seven.ndim = 7;
  assert_int_equal(mt_shape_check(&seven, "x"), MT_E_SHAPE);
  assert_int_equal(mt_shape_check(&bad[1], "w"), MT_E_SHAPE);
  HAS("w: shape (65536, 32768) has more than 2147483647 elements, the limit for one array");
  assert_int_equal(mt_shape_check(&bad[3], "w"), MT_E_SHAPE);
  HAS("has dim 0 = 4611686018427387904, past the limit of 2147483647");

  /* mt_shape_size never overflows: -1 for what no array can be */
  assert_int_equal(mt_shape_size(&ok), 32 * 128);
  assert_int_equal(mt_shape_size(&bad[2]), -1);
  assert_int_equal(mt_shape_size(&bad[4]), -1);
  assert_int_equal(mt_shape_size(&bad[5]), -1);
  assert_int_equal(mt_shape_size(&bad[1]), (int64_t)65536 * 32768); /* a count, not a check */
}

/* Issue 14 F1 (library half): arrays and arenas of an overflowing shape
 * were made with a wrapped size (a tiny allocation that the zero fill then
 * ran past: SIGSEGV); now they are MT_E_SHAPE naming the tensor. */
static void test_arrays_and_arenas(void **state) {
  (void)state;
  mt_ndarray *a = (mt_ndarray *)1;
  assert_int_equal(mt_ndarray_create(MT_SHAPE((int64_t)1 << 62, 4), mt_cpu(0), &a), MT_E_SHAPE);
  assert_null(a);
  HAS("ndarray: shape (4611686018427387904, 4)");
  assert_int_equal(mt_ndarray_create(MT_SHAPE(INT64_MAX, INT64_MAX), mt_cpu(0), &a), MT_E_SHAPE);
  assert_int_equal(mt_ndarray_create(MT_SHAPE(3, -2), mt_cpu(0), &a), MT_E_SHAPE);

  const char *names[] = {"fc1_weight", "fc1_bias"};
  mt_shape shapes[] = {MT_SHAPE(INT64_MAX, 4), MT_SHAPE(4)};
  mt_arena *ar = (mt_arena *)1;
  assert_int_equal(mt_arena_create(mt_cpu(0), 2, names, shapes, &ar), MT_E_SHAPE);
  assert_null(ar);
  HAS("arena: tensor 0 ('fc1_weight'): shape (9223372036854775807, 4)");
  shapes[0] = (mt_shape)MT_SHAPE((int64_t)1 << 40, (int64_t)1 << 40);
  assert_int_equal(mt_arena_create(mt_cpu(0), 2, names, shapes, &ar), MT_E_SHAPE);

  /* reshape to a shape past the limit: refused before any size compare */
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(2, 3), mt_cpu(0), &a));
  mt_ndarray *v = (mt_ndarray *)1;
  assert_int_equal(mt_ndarray_reshape(a, MT_SHAPE((int64_t)1 << 62, 4), &v), MT_E_SHAPE);
  assert_null(v);
  mt_ndarray_free(a);

  /* an allocation of a size that would wrap size_t is no allocation */
  assert_null(mt_device_alloc(mt_cpu(0), INT64_MAX));
  assert_null(mt_device_alloc(mt_cpu(0), -5));
}

/* ------------------------------------------------------- symbols */

static mt_symbol *fc_net(const char *attrs) {
  mt_symbol *data, *fc = NULL;
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  int rc = mt_symbol_create("FullyConnected", "fc1", attrs, 1, &data, &fc);
  mt_symbol_free(data);
  return rc < 0 ? NULL : fc;
}

/* Issue 14 F1: num_hidden = 2^63 - 1 or 2^60 passed the parser and
 * overflowed the weight's size; now the parser refuses what no dim can be,
 * and inference refuses a weight or output past the limit, naming the node. */
static void test_num_hidden_limit(void **state) {
  (void)state;
  const char *huge[] = {"num_hidden=9223372036854775807", "num_hidden=1152921504606846976",
                        "num_hidden=2147483648", "num_hidden=99999999999999999999"};
  for (int i = 0; i < 4; i++) {
    assert_null(fc_net(huge[i]));
    HAS("FullyConnected 'fc1': num_hidden=");
  }
  HAS("is not an integer"); /* past int64: strtoll's range error */

  /* the largest dim is a valid num_hidden, but weight (2^31 - 1, 128) is
   * past the element limit: inference names the node and the weight */
  mt_symbol *fc = fc_net("num_hidden=2147483647");
  assert_non_null(fc);
  const char *dname = "data";
  mt_shape ds = MT_SHAPE(32, 128), as[3], os[1];
  assert_int_equal(mt_symbol_infer_shape(fc, 1, &dname, &ds, as, os, NULL), MT_E_SHAPE);
  HAS("FullyConnected 'fc1': weight 'fc1_weight': shape (2147483647, 128) has more than");
  /* data of one feature: the weight fits, the output (32, 2^31 - 1) does not */
  ds = (mt_shape)MT_SHAPE(32, 1);
  assert_int_equal(mt_symbol_infer_shape(fc, 1, &dname, &ds, as, os, NULL), MT_E_SHAPE);
  HAS("FullyConnected 'fc1': output 'fc1_output': shape (32, 2147483647)");
  /* a given shape past the limit names the argument */
  ds = (mt_shape)MT_SHAPE((int64_t)1 << 40, (int64_t)1 << 40);
  assert_int_equal(mt_symbol_infer_shape(fc, 1, &dname, &ds, as, os, NULL), MT_E_SHAPE);
  HAS("infer_shape: 'data': shape (1099511627776, 1099511627776)");
  mt_symbol_free(fc);

  /* the same in a symbol file: refused on load */
  const char *json =
      "{\"nodes\": [{\"op\": \"null\", \"name\": \"data\", \"inputs\": []},"
      " {\"op\": \"null\", \"name\": \"fc1_weight\", \"inputs\": []},"
      " {\"op\": \"null\", \"name\": \"fc1_bias\", \"inputs\": []},"
      " {\"op\": \"FullyConnected\", \"name\": \"fc1\","
      "  \"attrs\": {\"num_hidden\": \"9223372036854775807\"},"
      "  \"inputs\": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}],"
      " \"arg_nodes\": [0, 1, 2], \"heads\": [[3, 0, 0]]}";
  mt_symbol *s = (mt_symbol *)1;
  assert_int_equal(mt_symbol_load_json(json, &s), MT_E_INVAL);
  HAS("num_hidden=9223372036854775807");
}

/* Issue 14 F11: a layer's attribute given twice was taken silently (the
 * last one won); now it is an error naming the layer and the attribute. */
static void test_repeated_attribute(void **state) {
  (void)state;
  assert_null(fc_net("num_hidden=4 num_hidden=8"));
  HAS("FullyConnected 'fc1': attribute 'num_hidden' is given twice (num_hidden=4, then "
      "num_hidden=8");
  /* through the config's layer lines: *bad points at the layer */
  const char *lines[] = {"FullyConnected fc1 num_hidden=4", "Activation relu1 act_type=relu",
                         "FullyConnected fc2 num_hidden=4 no_bias=true no_bias=false",
                         "SoftmaxOutput softmax"};
  mt_layer_spec l[4];
  for (int i = 0; i < 4; i++) MT_ASSERT_OK(mt_layer_parse(lines[i], &l[i]));
  mt_symbol *net = (mt_symbol *)1;
  int bad = -1;
  mt_shape ds = MT_SHAPE(8, 4);
  assert_int_equal(mt_net_build(4, l, &ds, &net, &bad), MT_E_INVAL);
  assert_null(net);
  assert_int_equal(bad, 2);
  HAS("FullyConnected 'fc2': attribute 'no_bias' is given twice");
  for (int i = 0; i < 4; i++) mt_layer_spec_free(&l[i]);
  /* the optimizer's and metric's key=value lists too */
  mt_optimizer *o = (mt_optimizer *)1;
  assert_int_equal(mt_optimizer_create("sgd", "learning_rate=0.1 learning_rate=0.2", &o),
                   MT_E_INVAL);
  HAS("'learning_rate' is given twice");
}

/* An int attribute stored in an int field: out of range is an error, never
 * a wrap (metric axis=4294967297 was axis 1). */
static void test_int_attribute_range(void **state) {
  (void)state;
  mt_metric *m = (mt_metric *)1;
  assert_int_equal(mt_metric_create("acc axis=4294967297", &m), MT_E_INVAL);
  HAS("axis=4294967297 is out of range");
  MT_ASSERT_OK(mt_metric_create("acc axis=1", &m));
  mt_metric_free(m);
  mt_attrs a;
  MT_ASSERT_OK(mt_attrs_parse("k=12", &a));
  int64_t v;
  MT_ASSERT_OK(mt_attr_int_range(&a, "op", "n", "k", 0, 0, 12, &v));
  assert_int_equal(v, 12);
  assert_int_equal(mt_attr_int_range(&a, "op", "n", "k", 0, 0, 11, &v), MT_E_INVAL);
  HAS("op 'n': k=12 is out of range [0, 11]");
  MT_ASSERT_OK(mt_attr_int_range(&a, "op", "n", "absent", 99, 0, 11, &v)); /* defaults pass */
  assert_int_equal(v, 99);
  mt_attrs_free(&a);
}

/* Integer tuples as MXNet writes them: "(5, 5)", "(3,)", "[2,2]", "4", "()". */
static void test_int_tuple_attribute(void **state) {
  (void)state;
  mt_attrs a = {0};
  MT_ASSERT_OK(mt_attrs_set(&a, "k", "(5, 5)"));
  MT_ASSERT_OK(mt_attrs_set(&a, "s", "(3,)"));
  MT_ASSERT_OK(mt_attrs_set(&a, "b", "[2,-1]"));
  MT_ASSERT_OK(mt_attrs_set(&a, "one", "4"));
  MT_ASSERT_OK(mt_attrs_set(&a, "e", "()"));
  MT_ASSERT_OK(mt_attrs_set(&a, "bad", "(2,x)"));
  MT_ASSERT_OK(mt_attrs_set(&a, "big", "(2,2,2)"));
  MT_ASSERT_OK(mt_attrs_set(&a, "none", "None"));
  int64_t v[4];
  int n;
  MT_ASSERT_OK(mt_attr_int_tuple(&a, "op", "n", "k", 1, 100, v, 4, &n));
  assert_int_equal(n, 2);
  assert_int_equal(v[0], 5);
  assert_int_equal(v[1], 5);
  MT_ASSERT_OK(mt_attr_int_tuple(&a, "op", "n", "s", 1, 100, v, 4, &n));
  assert_int_equal(n, 1);
  assert_int_equal(v[0], 3);
  MT_ASSERT_OK(mt_attr_int_tuple(&a, "op", "n", "b", -4, 100, v, 4, &n));
  assert_int_equal(n, 2);
  assert_int_equal(v[1], -1);
  assert_int_equal(mt_attr_int_tuple(&a, "op", "n", "b", 0, 100, v, 4, &n), MT_E_INVAL);
  HAS("-1 is out of range [0, 100]");
  MT_ASSERT_OK(mt_attr_int_tuple(&a, "op", "n", "one", 1, 100, v, 4, &n));
  assert_int_equal(n, 1);
  assert_int_equal(v[0], 4);
  MT_ASSERT_OK(mt_attr_int_tuple(&a, "op", "n", "e", 1, 100, v, 4, &n));
  assert_int_equal(n, 0);
  assert_int_equal(mt_attr_int_tuple(&a, "op", "n", "bad", 1, 100, v, 4, &n), MT_E_INVAL);
  HAS("op 'n': bad='(2,x)' is not a tuple of integers");
  assert_int_equal(mt_attr_int_tuple(&a, "op", "n", "big", 1, 100, v, 2, &n), MT_E_INVAL);
  HAS("has more than 2 values");
  MT_ASSERT_OK(mt_attr_int_tuple(&a, "op", "n", "none", 1, 100, v, 4, &n));
  assert_int_equal(n, 0);
  MT_ASSERT_OK(mt_attr_int_tuple(&a, "op", "n", "absent", 1, 100, v, 4, &n));
  assert_int_equal(n, 0);
  mt_attrs_free(&a);
}

/* ---------------------------------------------------- update counts */

static void one_update(mt_optimizer *o, int *rc) {
  mt_ndarray *w, *g;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(4), mt_cpu(0), &w));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(4), mt_cpu(0), &g));
  MT_ASSERT_OK(mt_ndarray_fill(g, 1.0f));
  *rc = mt_optimizer_update(o, 0, "w", w, g);
  mt_ndarray_free(w);
  mt_ndarray_free(g);
}

/* Issue 14 F3 (library half): begin_num_update = 2^63 - 1 trained on with
 * a signed overflow of the count; now counts stop at MT_MAX_NUM_UPDATE
 * (2^53): past it refused at creation and on restore, and an update that
 * would pass it is an error. */
static void test_update_count_limit(void **state) {
  (void)state;
  mt_optimizer *o = (mt_optimizer *)1;
  assert_int_equal(mt_optimizer_create("sgd", "begin_num_update=9223372036854775807", &o),
                   MT_E_INVAL);
  assert_null(o);
  HAS("begin_num_update=9223372036854775807 is out of range [0, 9007199254740992]");
  assert_int_equal(mt_optimizer_create("adam", "begin_num_update=9007199254740993", &o),
                   MT_E_INVAL);
  assert_int_equal(mt_optimizer_create("adam", "begin_num_update=-1", &o), MT_E_INVAL);

  /* at the limit minus one: one update, then no more */
  MT_ASSERT_OK(mt_optimizer_create("adam", "begin_num_update=9007199254740991", &o));
  int rc;
  one_update(o, &rc);
  MT_ASSERT_OK(rc);
  assert_int_equal(mt_optimizer_num_update(o), MT_MAX_NUM_UPDATE);
  one_update(o, &rc);
  assert_int_equal(rc, MT_E_INVAL);
  HAS("has had 9007199254740992 updates");
  assert_int_equal(mt_optimizer_num_update(o), MT_MAX_NUM_UPDATE);
  /* a checkpoint's count past the limit is refused */
  assert_int_equal(mt_optimizer_set_update_count(o, 1, INT64_MAX), MT_E_INVAL);
  assert_int_equal(mt_optimizer_set_update_count(o, 1, -3), MT_E_INVAL);
  MT_ASSERT_OK(mt_optimizer_set_update_count(o, 1, MT_MAX_NUM_UPDATE));
  mt_optimizer_free(o);
}

/* The factor scheduler caught up one step at a time: after a large
 * begin_num_update with step=1 it looped ~2^53 times (a hang). Now the
 * steps that no longer change the rate are counted at once, with the rate
 * an uninterrupted loop gives. */
static void test_factor_catch_up(void **state) {
  (void)state;
  mt_lr_scheduler *s, *t;
  MT_ASSERT_OK(mt_lr_scheduler_create("factor step=1 factor=0.5 stop_factor_lr=1e-3", 1.0, &s));
  assert_true(mt_lr_scheduler_lr(s, MT_MAX_NUM_UPDATE) == 1e-3); /* 2^-10 < 1e-3: clamped */
  /* the same values as stepping through every update */
  MT_ASSERT_OK(mt_lr_scheduler_create("factor step=3 factor=0.5 stop_factor_lr=1e-3", 1.0, &t));
  mt_lr_scheduler *u;
  MT_ASSERT_OK(mt_lr_scheduler_create("factor step=3 factor=0.5 stop_factor_lr=1e-3", 1.0, &u));
  for (int64_t n = 0; n < 100; n++) {
    double a = mt_lr_scheduler_lr(t, n);
    if (n % 17 == 0) assert_true(mt_lr_scheduler_lr(u, n) == a);
  }
  assert_true(mt_lr_scheduler_lr(u, 1000) == mt_lr_scheduler_lr(t, 1000));
  mt_lr_scheduler_free(u);
  MT_ASSERT_OK(mt_lr_scheduler_create("factor step=1 factor=1", 0.1, &u));
  assert_true(mt_lr_scheduler_lr(u, INT64_MAX) == 0.1);
  mt_lr_scheduler_free(s);
  mt_lr_scheduler_free(t);
  mt_lr_scheduler_free(u);
}

/* ------------------------------------------------------ big graphs */

/* Issue 14 F4: building and inferring an N-layer net was cubic in N (the
 * net builder inferred the whole net after each layer; the graph walk
 * looked nodes up linearly): 3,000 layers took over a minute. A
 * 20,000-layer chain is built, inferred, listed, written as JSON and read
 * back here (a fraction of a second now). No timing: benchmarks measure
 * speed. */
static void test_deep_net(void **state) {
  (void)state;
  enum { N = 20000 };
  mt_layer_spec *l = calloc(N, sizeof *l);
  assert_non_null(l);
  char line[96];
  for (int i = 0; i < N; i++) {
    if (i == N - 1) snprintf(line, sizeof line, "SoftmaxOutput softmax");
    else if (i % 2) snprintf(line, sizeof line, "Activation a%d act_type=relu", i);
    else snprintf(line, sizeof line, "FullyConnected fc%d num_hidden=4", i);
    MT_ASSERT_OK(mt_layer_parse(line, &l[i]));
  }
  mt_symbol *net;
  int bad;
  mt_shape ds = MT_SHAPE(8, 4);
  MT_ASSERT_OK(mt_net_build(N, l, &ds, &net, &bad));
  int narg;
  const char *const *args;
  MT_ASSERT_OK(mt_symbol_list_arguments(net, &narg, &args));
  assert_int_equal(narg, 2 + 2 * (N / 2)); /* data, label, each fc's weight and bias */
  char *json;
  MT_ASSERT_OK(mt_symbol_tojson(net, &json));
  mt_symbol *back;
  MT_ASSERT_OK(mt_symbol_load_json(json, &back));
  free(json);
  mt_shape *as = calloc((size_t)narg, sizeof *as), os[1];
  const char *dname = "data";
  MT_ASSERT_OK(mt_symbol_infer_shape(back, 1, &dname, &ds, as, os, NULL));
  assert_int_equal(os[0].dim[1], 4);
  free(as);
  mt_symbol_free(back);
  mt_symbol_free(net);

  /* a shape error deep in the net names its layer */
  mt_layer_spec_free(&l[N - 3]);
  MT_ASSERT_OK(mt_layer_parse("FullyConnected wide num_hidden=5 inputs=fc19996", &l[N - 3]));
  mt_layer_spec_free(&l[N - 2]);
  MT_ASSERT_OK(mt_layer_parse("elemwise_add sum inputs=wide,fc0", &l[N - 2]));
  assert_int_equal(mt_net_build(N, l, &ds, &net, &bad), MT_E_SHAPE);
  assert_int_equal(bad, N - 2);
  HAS("elemwise_add 'sum'");
  for (int i = 0; i < N; i++) mt_layer_spec_free(&l[i]);
  free(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shape_rule),
      cmocka_unit_test(test_arrays_and_arenas),
      cmocka_unit_test(test_num_hidden_limit),
      cmocka_unit_test(test_repeated_attribute),
      cmocka_unit_test(test_int_attribute_range),
      cmocka_unit_test(test_int_tuple_attribute),
      cmocka_unit_test(test_update_count_limit),
      cmocka_unit_test(test_factor_catch_up),
      cmocka_unit_test(test_deep_net),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
