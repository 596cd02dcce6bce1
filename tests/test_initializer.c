/* test_initializer.c — mt_initializer: statistics of every random rule
 * (bounds, mean, variance against MXNet's formulas recomputed here), the
 * constant rules, MXNet's dispatch by name suffix, determinism of the
 * Philox streams keyed by (seed, name), and spec errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/philox.h"
#include "src/symbol.h"
#include "testutil.h"

typedef struct {
  double mean, var, min, max;
  double within1; /* fraction of |x - mean| <= sd */
} stats;

static stats stats_of(const float *x, int64_t n) {
  stats s = {0, 0, INFINITY, -INFINITY, 0};
  for (int64_t i = 0; i < n; i++) {
    s.mean += x[i];
    s.min = fmin(s.min, x[i]);
    s.max = fmax(s.max, x[i]);
  }
  s.mean /= (double)n;
  for (int64_t i = 0; i < n; i++) s.var += (x[i] - s.mean) * (x[i] - s.mean);
  s.var /= (double)(n - 1);
  double sd = sqrt(s.var);
  for (int64_t i = 0; i < n; i++) s.within1 += fabs(x[i] - s.mean) <= sd;
  s.within1 /= (double)n;
  return s;
}

/* Initialises `name` of shape s with spec; returns the array (caller frees). */
static mt_ndarray *init_one(const char *spec, uint64_t seed, const char *name, mt_shape s) {
  mt_initializer *in;
  mt_ndarray *a;
  MT_ASSERT_OK(mt_initializer_create(spec, seed, &in));
  MT_ASSERT_OK(mt_ndarray_create(s, mt_cpu(0), &a));
  MT_ASSERT_OK(mt_ndarray_fill(a, 123.0f)); /* every element must be written */
  MT_ASSERT_OK(mt_initializer_init(in, name, a));
  mt_initializer_free(in);
  return a;
}

/* MXNet Xavier's scale: fan_in = shape[1] * hw, fan_out = shape[0] * hw. */
static double xavier_scale(mt_shape s, const char *factor, double magnitude) {
  double hw = 1;
  for (int d = 2; d < s.ndim; d++) hw *= (double)s.dim[d];
  double fin = (double)s.dim[1] * hw, fout = (double)s.dim[0] * hw;
  double f = !strcmp(factor, "avg") ? (fin + fout) / 2 : !strcmp(factor, "in") ? fin : fout;
  return sqrt(magnitude / f);
}

/* Uniform on [-b, b]: every value inside, both ends reached to within 1%,
 * mean 0 within 5 standard errors, variance b^2/3 within 3% (the sample
 * variance's relative standard error is sqrt(0.8/n) < 0.4% for n >= 50000). */
static void check_uniform(const mt_ndarray *a, double b) {
  int64_t n = mt_ndarray_size(a);
  stats s = stats_of(mt_ndarray_data(a), n);
  assert_true(s.max <= b * (1 + 1e-6));
  assert_true(s.min >= -b * (1 + 1e-6));
  assert_true(s.max > 0.99 * b);
  assert_true(s.min < -0.99 * b);
  double sd = b / sqrt(3.0);
  if (fabs(s.mean) > 5 * sd / sqrt((double)n)) fail_msg("mean %g, bound %g", s.mean, b);
  if (fabs(s.var / (b * b / 3) - 1) > 0.03) fail_msg("var %g, want %g", s.var, b * b / 3);
}

/* N(0, sd^2): mean within 5 standard errors, variance within 3% (relative
 * standard error sqrt(2/n) < 0.6%), and 68.27% within one sd (+-1%). */
static void check_normal(const mt_ndarray *a, double sd) {
  int64_t n = mt_ndarray_size(a);
  stats s = stats_of(mt_ndarray_data(a), n);
  if (fabs(s.mean) > 5 * sd / sqrt((double)n)) fail_msg("mean %g, sd %g", s.mean, sd);
  if (fabs(s.var / (sd * sd) - 1) > 0.03) fail_msg("var %g, want %g", s.var, sd * sd);
  if (fabs(s.within1 - 0.6827) > 0.01) fail_msg("fraction within 1 sd: %g", s.within1);
}

static void test_xavier_uniform_factors(void **state) {
  /* dense (300 -> 200) and conv (64 out, 32 in, 5x5) weights */
  mt_shape shapes[] = {MT_SHAPE(200, 300), MT_SHAPE(64, 32, 5, 5)};
  const char *factors[] = {"avg", "in", "out"};
  for (int k = 0; k < 2; k++)
    for (int f = 0; f < 3; f++) {
      char spec[128];
      snprintf(spec, sizeof spec, "xavier rnd_type=uniform factor_type=%s magnitude=2.5",
               factors[f]);
      mt_ndarray *a = init_one(spec, 7, "fc1_weight", shapes[k]);
      check_uniform(a, xavier_scale(shapes[k], factors[f], 2.5));
      mt_ndarray_free(a);
    }
  /* defaults: uniform, avg, magnitude 3 -> bound sqrt(3 / 250) */
  mt_ndarray *a = init_one("xavier", 1, "w_weight", MT_SHAPE(200, 300));
  check_uniform(a, sqrt(3.0 / 250.0));
  mt_ndarray_free(a);
}

static void test_xavier_gaussian_and_msra(void **state) {
  mt_shape s = MT_SHAPE(64, 32, 5, 5); /* fan_in 800, fan_out 1600 */
  const char *factors[] = {"avg", "in", "out"};
  for (int f = 0; f < 3; f++) {
    char spec[128];
    snprintf(spec, sizeof spec, "xavier rnd_type=gaussian factor_type=%s magnitude=2", factors[f]);
    mt_ndarray *a = init_one(spec, 3, "conv_weight", s);
    check_normal(a, xavier_scale(s, factors[f], 2));
    mt_ndarray_free(a);
  }
  /* msra_prelu: gaussian, magnitude 2 / (1 + slope^2) */
  mt_ndarray *a = init_one("msra_prelu factor_type=in slope=0.5", 3, "conv_weight", s);
  check_normal(a, xavier_scale(s, "in", 2 / 1.25));
  mt_ndarray_free(a);
  a = init_one("MSRAPrelu", 3, "conv_weight", s);
  check_normal(a, xavier_scale(s, "avg", 2 / 1.0625));
  mt_ndarray_free(a);
}

static void test_uniform_normal(void **state) {
  mt_ndarray *a = init_one("uniform", 5, "x_weight", MT_SHAPE(250, 256));
  check_uniform(a, 0.07);
  mt_ndarray_free(a);
  a = init_one("uniform scale=2", 5, "x_weight", MT_SHAPE(250, 256));
  check_uniform(a, 2.0);
  mt_ndarray_free(a);
  a = init_one("normal", 5, "x_weight", MT_SHAPE(64000)); /* 1-d is fine for normal */
  check_normal(a, 0.01);
  mt_ndarray_free(a);
  a = init_one("normal sigma=0.5", 5, "x_weight", MT_SHAPE(250, 256));
  check_normal(a, 0.5);
  mt_ndarray_free(a);
}

static void expect_all(const mt_ndarray *a, float v) {
  const float *x = mt_ndarray_data(a);
  for (int64_t i = 0; i < mt_ndarray_size(a); i++)
    if (x[i] != v) fail_msg("element %lld is %g, want %g", (long long)i, x[i], v);
}

static void test_constant_rules(void **state) {
  mt_ndarray *a = init_one("constant value=0.5", 0, "fc_weight", MT_SHAPE(3, 4));
  expect_all(a, 0.5f);
  mt_ndarray_free(a);
  a = init_one("zero", 0, "fc_weight", MT_SHAPE(3, 4));
  expect_all(a, 0.0f);
  mt_ndarray_free(a);
  a = init_one("zeros", 0, "fc_weight", MT_SHAPE(3, 4));
  expect_all(a, 0.0f);
  mt_ndarray_free(a);
  a = init_one("one", 0, "fc_weight", MT_SHAPE(3, 4));
  expect_all(a, 1.0f);
  mt_ndarray_free(a);
  a = init_one("ones", 0, "fc_weight", MT_SHAPE(7));
  expect_all(a, 1.0f);
  mt_ndarray_free(a);
  /* biases are 0 whatever the rule, as Initializer._init_bias */
  a = init_one("constant value=0.5", 0, "fc_bias", MT_SHAPE(4));
  expect_all(a, 0.0f);
  mt_ndarray_free(a);
  a = init_one("one", 0, "fc_bias", MT_SHAPE(4));
  expect_all(a, 0.0f);
  mt_ndarray_free(a);
}

static void test_suffix_dispatch(void **state) {
  struct {
    const char *name;
    float want;
  } cases[] = {{"fc1_bias", 0},        {"bn0_gamma", 1},      {"bn0_beta", 0},
               {"bn0_moving_mean", 0}, {"bn0_moving_var", 1}, {"bn0_moving_inv_var", 0},
               {"bn0_moving_avg", 0},  {"weird_gammabias", 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mt_ndarray *a = init_one("xavier magnitude=2", 9, cases[i].name, MT_SHAPE(6, 5));
    expect_all(a, cases[i].want);
    mt_ndarray_free(a);
  }
  /* ...weight gets the random rule */
  mt_ndarray *a = init_one("uniform scale=1", 9, "embed_weight", MT_SHAPE(6, 5));
  const float *x = mt_ndarray_data(a);
  int distinct = 0;
  for (int i = 1; i < 30; i++) distinct += x[i] != x[0];
  assert_int_equal(distinct, 29);
  mt_ndarray_free(a);

  mt_initializer *in;
  mt_ndarray *b;
  MT_ASSERT_OK(mt_initializer_create("xavier", 0, &in));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(4, 4), mt_cpu(0), &b));
  assert_int_equal(mt_initializer_init(in, "data", b), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "Unknown initialization pattern for data"));
  assert_int_equal(mt_initializer_init(in, "weights", b), MT_E_INVAL); /* suffix, not substring */
  mt_ndarray_free(b);
  /* Xavier needs >= 2 dims */
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(10), mt_cpu(0), &b));
  assert_int_equal(mt_initializer_init(in, "fc_weight", b), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "fc_weight"));
  mt_ndarray_free(b);
  mt_initializer_free(in);
}

/* Values are the documented stream: key = philox_key(seed, hash64(name)),
 * element i = i-th uniform (or normal) of the stream, scaled. */
static void test_values_follow_the_stream(void **state) {
  mt_shape s = MT_SHAPE(20, 30);
  mt_ndarray *a = init_one("uniform scale=0.3", 42, "fc2_weight", s);
  mt_ndarray *g = init_one("normal sigma=2", 42, "fc2_weight", s);
  uint64_t key = mtk_philox_key(42, mt_hash64("fc2_weight"));
  const float *x = mt_ndarray_data(a), *y = mt_ndarray_data(g);
  for (int i = 0; i < 600; i++) {
    double u = -0.3 + 0.6 * (double)mtk_philox_uniform(key, 0, (uint64_t)i);
    double z = 2.0 * (double)mtk_philox_normal(key, 0, (uint64_t)i);
    if (fabs(x[i] - u) > 1e-6 || fabs(y[i] - z) > 1e-5)
      fail_msg("element %d: %g/%g vs stream %g/%g", i, x[i], y[i], u, z);
  }
  mt_ndarray_free(a);
  mt_ndarray_free(g);
  /* element i does not depend on the array's size: a (10, 30) weight is the
   * prefix of a (20, 30) one with the same bound */
  mt_ndarray *big = init_one("uniform", 1, "w_weight", MT_SHAPE(20, 30));
  mt_ndarray *small = init_one("uniform", 1, "w_weight", MT_SHAPE(10, 30));
  assert_memory_equal(mt_ndarray_data(big), mt_ndarray_data(small), 300 * sizeof(float));
  mt_ndarray_free(big);
  mt_ndarray_free(small);
}

static void test_determinism(void **state) {
  const char *names[] = {"fc1_weight", "fc2_weight", "conv0_weight"};
  mt_shape shapes[] = {MT_SHAPE(64, 128), MT_SHAPE(10, 64), MT_SHAPE(8, 3, 3, 3)};
  const char *specs[] = {"xavier magnitude=2", "xavier rnd_type=gaussian", "uniform", "normal"};
  for (int sp = 0; sp < 4; sp++) {
    mt_initializer *i1, *i2;
    MT_ASSERT_OK(mt_initializer_create(specs[sp], 2024, &i1));
    MT_ASSERT_OK(mt_initializer_create(specs[sp], 2024, &i2));
    mt_ndarray *fwd[3], *rev[3];
    for (int k = 0; k < 3; k++) {
      MT_ASSERT_OK(mt_ndarray_create(shapes[k], mt_cpu(0), &fwd[k]));
      MT_ASSERT_OK(mt_ndarray_create(shapes[k], mt_cpu(0), &rev[k]));
    }
    /* one initializer in list order, a fresh one in reverse order, twice
     * over for the first (repeated calls give the same values) */
    for (int k = 0; k < 3; k++) MT_ASSERT_OK(mt_initializer_init(i1, names[k], fwd[k]));
    for (int k = 2; k >= 0; k--) MT_ASSERT_OK(mt_initializer_init(i2, names[k], rev[k]));
    MT_ASSERT_OK(mt_initializer_init(i2, names[0], rev[0]));
    for (int k = 0; k < 3; k++)
      assert_memory_equal(mt_ndarray_data(fwd[k]), mt_ndarray_data(rev[k]),
                          (size_t)mt_ndarray_size(fwd[k]) * sizeof(float));
    for (int k = 0; k < 3; k++) {
      mt_ndarray_free(fwd[k]);
      mt_ndarray_free(rev[k]);
    }
    mt_initializer_free(i1);
    mt_initializer_free(i2);
  }
  /* another name or another seed gives other values */
  mt_ndarray *a = init_one("xavier", 5, "fc1_weight", MT_SHAPE(16, 16));
  mt_ndarray *b = init_one("xavier", 5, "fc2_weight", MT_SHAPE(16, 16));
  mt_ndarray *c = init_one("xavier", 6, "fc1_weight", MT_SHAPE(16, 16));
  const float *x = mt_ndarray_data(a), *y = mt_ndarray_data(b), *z = mt_ndarray_data(c);
  int same_name = 0, same_seed = 0;
  for (int i = 0; i < 256; i++) {
    same_name += x[i] == y[i];
    same_seed += x[i] == z[i];
  }
  assert_true(same_name < 3);
  assert_true(same_seed < 3);
  mt_ndarray_free(a);
  mt_ndarray_free(b);
  mt_ndarray_free(c);
}

static void test_bad_specs(void **state) {
  struct {
    const char *spec, *mention;
  } bad[] = {{"bogus", "bogus"},
             {"", "empty"},
             {"xavier magnitude=abc", "magnitude"},
             {"xavier rnd_type=poisson", "poisson"},
             {"xavier factor_type=sum", "sum"},
             {"xavier foo=1", "foo"},
             {"xavier magnitude", "magnitude"},
             {"uniform scale=-1", "scale"},
             {"normal sigma=nan", "sigma"},
             {"normal scale=1", "scale"},
             {"constant", "value"},
             {"constant value=x", "value"},
             {"zero value=1", "value"},
             {"msra_prelu magnitude=2", "magnitude"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mt_initializer *in = (mt_initializer *)1;
    int rc = mt_initializer_create(bad[i].spec, 0, &in);
    if (rc != MT_E_INVAL) fail_msg("spec \"%s\" gave %d", bad[i].spec, rc);
    assert_null(in);
    if (!strstr(mt_last_error(), bad[i].mention))
      fail_msg("spec \"%s\": message \"%s\" does not name \"%s\"", bad[i].spec, mt_last_error(),
               bad[i].mention);
  }
  /* names are case-insensitive, defaults are spelled out */
  mt_initializer *in;
  MT_ASSERT_OK(mt_initializer_create("Xavier", 0, &in));
  assert_string_equal(mt_initializer_str(in),
                      "xavier rnd_type=uniform factor_type=avg magnitude=3");
  mt_initializer_free(in);
  MT_ASSERT_OK(mt_initializer_create("  uniform   scale=0.1 ", 0, &in));
  assert_string_equal(mt_initializer_str(in), "uniform scale=0.1");
  mt_initializer_free(in);
  mt_initializer_free(NULL);
}

/* mx.init.LSTMBias (forget_bias default 1) on MXNet's LSTMCell's i2h_bias
 * (4H,), through the variable's __init__ attribute as Initializer.dumps()
 * writes it; MXNet 1.9.1 gives zeros with [H, 2H) = forget_bias. */
static void test_lstm_bias(void **state) {
  (void)state;
  mt_initializer *x, *lb;
  MT_ASSERT_OK(mt_initializer_create("xavier", 1, &x));
  MT_ASSERT_OK(mt_initializer_create("lstmbias", 1, &lb));
  assert_string_equal(mt_initializer_str(lb), "lstmbias forget_bias=1");
  mt_ndarray *b;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(32), mt_cpu(0), &b));
  const char *attrs[] = {"[\"lstmbias\", {\"forget_bias\": 1.0}]",
                         "[\"lstmbias\", {\"forget_bias\": 2.5}]", "[\"lstmbias\", {}]",
                         "lstmbias forget_bias=2.5"};
  const float want[] = {1.0f, 2.5f, 1.0f, 2.5f};
  for (int k = 0; k < 4; k++) {
    MT_ASSERT_OK(mt_ndarray_fill(b, NAN));
    /* the attribute wins over xavier and over the _bias suffix's zeros */
    MT_ASSERT_OK(mt_initializer_init_attr(x, "lstm_l0_i2h_bias", attrs[k], b));
    for (int i = 0; i < 32; i++) assert_true(b->data[i] == (i >= 8 && i < 16 ? want[k] : 0.0f));
  }
  /* without the attribute: the suffix rule (bias -> 0) */
  MT_ASSERT_OK(mt_initializer_init_attr(x, "lstm_l0_h2h_bias", NULL, b));
  expect_all(b, 0.0f);
  /* lstmbias as the global initializer: a bias is 0, a weight's rows [H, 2H) set */
  MT_ASSERT_OK(mt_initializer_init(lb, "lstm_l0_i2h_bias", b));
  expect_all(b, 0.0f);
  mt_ndarray *w;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(8, 3), mt_cpu(0), &w));
  MT_ASSERT_OK(mt_initializer_init(lb, "w_weight", w));
  for (int i = 0; i < 24; i++) assert_true(w->data[i] == (i >= 6 && i < 12 ? 1.0f : 0.0f));
  /* malformed attributes and unknown keys */
  assert_int_equal(mt_initializer_init_attr(x, "b_bias", "[\"lstmbias\", 3]", b), MT_E_FORMAT);
  assert_int_equal(mt_initializer_init_attr(x, "b_bias", "[\"lstmbias\", {\"bias\": 1}]", b),
                   MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "b_bias"));
  assert_int_equal(mt_initializer_init_attr(x, "b_bias", "[\"nosuch\", {}]", b), MT_E_INVAL);
  mt_ndarray_free(w);
  mt_ndarray_free(b);
  mt_initializer_free(x);
  mt_initializer_free(lb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_xavier_uniform_factors),
      cmocka_unit_test(test_xavier_gaussian_and_msra),
      cmocka_unit_test(test_uniform_normal),
      cmocka_unit_test(test_constant_rules),
      cmocka_unit_test(test_suffix_dispatch),
      cmocka_unit_test(test_values_follow_the_stream),
      cmocka_unit_test(test_determinism),
      cmocka_unit_test(test_bad_specs),
      cmocka_unit_test(test_lstm_bias),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
