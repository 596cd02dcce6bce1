/* test_metric.c — mt_metric: every metric on small hand-computed examples
 * (MXNet's docstring examples among them), against plain reference loops on
 * random data, composites and names, local vs global accumulation, the
 * additive state used for the cross-rank reduction, and errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TOL 1e-9 /* values are computed in double from float32 inputs */

static mt_ndarray *arr(mt_shape s, const float *x) {
  mt_ndarray *a;
  MT_ASSERT_OK(mt_ndarray_create(s, mt_cpu(0), &a));
  if (x) MT_ASSERT_OK(mt_ndarray_copy_from(a, x, mt_ndarray_size(a)));
  return a;
}

static mt_metric *make(const char *spec) {
  mt_metric *m;
  MT_ASSERT_OK(mt_metric_create(spec, &m));
  return m;
}

/* One update with a single (label, pred) pair. */
static int update1(mt_metric *m, mt_ndarray *label, mt_ndarray *pred) {
  return mt_metric_update(m, 1, &label, &pred);
}

static double get(const mt_metric *m, int i, const char *want_name) {
  const char *name;
  double v;
  MT_ASSERT_OK(mt_metric_get(m, i, &name, &v));
  if (want_name) assert_string_equal(name, want_name);
  return v;
}

static double get_global(const mt_metric *m, int i) {
  double v;
  MT_ASSERT_OK(mt_metric_get_global(m, i, NULL, &v));
  return v;
}

static void near(double got, double want, double tol) {
  if (!(fabs(got - want) <= tol * fmax(1.0, fabs(want))))
    fail_msg("got %.12g, want %.12g (tol %g)", got, want, tol);
}

/* MXNet's docstring example: 3 samples, 2 classes. */
static const float P3[] = {0.3f, 0.7f, 0.0f, 1.0f, 0.4f, 0.6f};
static const float L3[] = {0, 1, 1};

static void test_accuracy(void **state) {
  mt_metric *m = make("acc");
  assert_int_equal(mt_metric_num(m), 1);
  mt_ndarray *l = arr(MT_SHAPE(3), L3), *p = arr(MT_SHAPE(3, 2), P3);
  MT_ASSERT_OK(update1(m, l, p)); /* argmax [1, 1, 1] vs [0, 1, 1] */
  near(get(m, 0, "accuracy"), 2.0 / 3.0, TOL);
  mt_ndarray_free(l);
  mt_ndarray_free(p);
  /* same shapes: predictions are class indices (truncated as astype int32) */
  const float l2[] = {1, 2}, p2[] = {1.7f, 0.0f};
  l = arr(MT_SHAPE(2), l2);
  p = arr(MT_SHAPE(2), p2);
  MT_ASSERT_OK(update1(m, l, p));
  near(get(m, 0, NULL), 3.0 / 5.0, TOL);
  mt_ndarray_free(l);
  mt_ndarray_free(p);
  /* labels (3, 1) against (3, 2) scores: argmax, then flattened */
  l = arr(MT_SHAPE(3, 1), L3);
  p = arr(MT_SHAPE(3, 2), P3);
  MT_ASSERT_OK(update1(m, l, p));
  near(get(m, 0, NULL), 5.0 / 8.0, TOL);
  mt_ndarray_free(l);
  mt_ndarray_free(p);
  mt_metric_free(m);

  /* axis=1 of (N=2, C=3, T=2) scores against (2, 2) labels:
   * argmax over C: n0 -> [1, 0], n1 -> [2, 2]; labels [[1, 0], [2, 1]] -> 3/4 */
  const float p3[] = {0.1f, 0.8f, 0.5f, 0.1f, 0.4f, 0.1f, 0.2f, 0.3f, 0.1f, 0.3f, 0.7f, 0.4f};
  const float l3[] = {1, 0, 2, 1};
  m = make("accuracy axis=1");
  l = arr(MT_SHAPE(2, 2), l3);
  p = arr(MT_SHAPE(2, 3, 2), p3);
  MT_ASSERT_OK(update1(m, l, p));
  near(get(m, 0, "accuracy"), 0.75, TOL);
  mt_metric_free(m);
  /* axis=-1 of the same scores: argmax over T gives (2, 3); labels must match that */
  m = make("acc axis=-1");
  assert_int_equal(update1(m, l, p), MT_E_SHAPE);
  mt_ndarray_free(l);
  mt_ndarray_free(p);
  mt_metric_free(m);
}

static void test_top_k(void **state) {
  /* rows (no ties): top-2 sets {1,2} {0,1} {3,2} {0,1}; labels 2, 3, 2, 1 */
  const float p[] = {0.1f, 0.5f, 0.3f, 0.1f, 0.4f, 0.3f,  0.2f,  0.1f,
                     0.2f, 0.1f, 0.3f, 0.4f, 0.9f, 0.05f, 0.03f, 0.02f};
  const float lab[] = {2, 3, 2, 1};
  mt_ndarray *l = arr(MT_SHAPE(4), lab), *pr = arr(MT_SHAPE(4, 4), p);
  struct {
    const char *spec, *name;
    double want;
  } cases[] = {{"top_k_acc top_k=2", "top_k_accuracy_2", 0.75},
               {"top_k_accuracy top_k=3", "top_k_accuracy_3", 0.75}, /* row 1: 3 is last */
               {"TopKAccuracy top_k=5", "top_k_accuracy_5", 1.0}};   /* k >= classes */
  for (int i = 0; i < 3; i++) {
    mt_metric *m = make(cases[i].spec);
    MT_ASSERT_OK(update1(m, l, pr));
    near(get(m, 0, cases[i].name), cases[i].want, TOL);
    mt_metric_free(m);
  }
  mt_ndarray_free(l);
  mt_ndarray_free(pr);
}

static void test_regression(void **state) {
  /* MXNet's docstring example: mae 0.5, mse 0.375, rmse sqrt(0.375) */
  const float p[] = {3, -0.5f, 2, 7}, lab[] = {2.5f, 0, 2, 8};
  mt_shape shapes[2] = {MT_SHAPE(4, 1), MT_SHAPE(4)};
  for (int s = 0; s < 2; s++) {
    mt_metric *m = make("mae,mse,rmse");
    mt_ndarray *l = arr(shapes[s], lab), *pr = arr(shapes[s], p);
    MT_ASSERT_OK(update1(m, l, pr));
    near(get(m, 0, "mae"), 0.5, TOL);
    near(get(m, 1, "mse"), 0.375, TOL);
    near(get(m, 2, "rmse"), sqrt(0.375), TOL);
    mt_ndarray_free(l);
    mt_ndarray_free(pr);
    mt_metric_free(m);
  }
  /* numpy broadcasting: labels (2,) -> (2, 1) against (2, 3) predictions;
   * differences [0 -1 -2; 2 0 -2]: mae 7/6, mse 13/6 */
  const float lb[] = {1, 2}, pb[] = {1, 2, 3, 0, 2, 4};
  mt_metric *m = make("mae,mse,rmse");
  mt_ndarray *l = arr(MT_SHAPE(2), lb), *pr = arr(MT_SHAPE(2, 3), pb);
  MT_ASSERT_OK(update1(m, l, pr));
  near(get(m, 0, NULL), 7.0 / 6.0, TOL);
  near(get(m, 1, NULL), 13.0 / 6.0, TOL);
  mt_ndarray_free(l);
  mt_ndarray_free(pr);
  /* a second batch (the docstring one): each batch counts once, rmse
   * averages the per-batch roots */
  l = arr(MT_SHAPE(4), lab);
  pr = arr(MT_SHAPE(4), p);
  MT_ASSERT_OK(update1(m, l, pr));
  near(get(m, 0, NULL), (7.0 / 6.0 + 0.5) / 2, TOL);
  near(get(m, 1, NULL), (13.0 / 6.0 + 0.375) / 2, TOL);
  near(get(m, 2, NULL), (sqrt(13.0 / 6.0) + sqrt(0.375)) / 2, TOL);
  mt_ndarray_free(l);
  mt_ndarray_free(pr);
  /* shapes that do not broadcast */
  float z[8] = {0};
  l = arr(MT_SHAPE(3), z);
  pr = arr(MT_SHAPE(4, 2), z);
  assert_int_equal(update1(m, l, pr), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "(3,)"));
  assert_non_null(strstr(mt_last_error(), "(4, 2)"));
  near(get(m, 1, NULL), (13.0 / 6.0 + 0.375) / 2, TOL); /* unchanged */
  mt_ndarray_free(l);
  mt_ndarray_free(pr);
  mt_metric_free(m);
}

static void test_cross_entropy_nll(void **state) {
  /* docstring: -(log 0.3 + log 1 + log 0.6) / 3 = 0.5715994835 (eps 1e-12) */
  double want = -(log(0.3f + 1e-12) + log(1.0 + 1e-12) + log(0.6f + 1e-12)) / 3;
  near(want, 0.57159948348999023, 1e-7);
  mt_metric *m = make("ce,nll_loss,cross-entropy eps=0.1");
  mt_ndarray *l = arr(MT_SHAPE(3), L3), *p = arr(MT_SHAPE(3, 2), P3);
  MT_ASSERT_OK(update1(m, l, p));
  near(get(m, 0, "cross-entropy"), want, TOL);
  near(get(m, 1, "nll-loss"), want, TOL);
  near(get(m, 2, "cross-entropy"), -(log(0.3f + 0.1) + log(1.0 + 0.1) + log(0.6f + 0.1)) / 3, TOL);
  mt_ndarray_free(l);
  mt_ndarray_free(p);
  mt_metric_free(m);
  /* probability 0: eps keeps it finite, -log(1e-12) = 27.631 */
  const float l0[] = {1}, p0[] = {1, 0};
  m = make("ce");
  l = arr(MT_SHAPE(1), l0);
  p = arr(MT_SHAPE(1, 2), p0);
  MT_ASSERT_OK(update1(m, l, p));
  near(get(m, 0, NULL), -log(1e-12), TOL);
  mt_ndarray_free(l);
  mt_ndarray_free(p);
  /* errors: rows vs labels, 3-d scores, label outside the classes */
  const float lbad[] = {0, 5}, pz[12] = {0.5f, 0.5f, 0.5f, 0.5f};
  l = arr(MT_SHAPE(2), lbad);
  p = arr(MT_SHAPE(3, 2), pz);
  assert_int_equal(update1(m, l, p), MT_E_SHAPE);
  mt_ndarray_free(p);
  p = arr(MT_SHAPE(2, 3, 2), pz);
  assert_int_equal(update1(m, l, p), MT_E_SHAPE);
  mt_ndarray_free(p);
  p = arr(MT_SHAPE(2, 2), pz);
  assert_int_equal(update1(m, l, p), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "label 5"));
  near(get(m, 0, NULL), -log(1e-12), TOL); /* unchanged by the failures */
  mt_ndarray_free(l);
  mt_ndarray_free(p);
  mt_metric_free(m);
}

static void test_f1(void **state) {
  /* batch 1 (docstring): pred [1 1 1], label [0 1 1] -> tp 2, fp 1, fn 0:
   * p = 2/3, r = 1, f1 = 0.8 */
  const float pb[] = {0.2f, 0.8f, 0.6f, 0.4f, 0.7f, 0.3f, 0.1f, 0.9f};
  const float lb[] = {1, 1, 0, 0}; /* pred [1 0 0 1]: tp 1, fp 1, fn 1, tn 1 -> f1 0.5 */
  mt_ndarray *l1 = arr(MT_SHAPE(3), L3), *p1 = arr(MT_SHAPE(3, 2), P3);
  mt_ndarray *l2 = arr(MT_SHAPE(4), lb), *p2 = arr(MT_SHAPE(4, 2), pb);
  mt_metric *macro = make("f1"), *micro = make("f1 average=micro");
  MT_ASSERT_OK(update1(macro, l1, p1));
  MT_ASSERT_OK(update1(micro, l1, p1));
  near(get(macro, 0, "f1"), 0.8, TOL);
  near(get(micro, 0, "f1"), 0.8, TOL);
  MT_ASSERT_OK(update1(macro, l2, p2));
  MT_ASSERT_OK(update1(micro, l2, p2));
  /* macro: mean of the batch scores; micro: one score of all counts
   * tp 3, fp 2, fn 1: p = 3/5, r = 3/4, f1 = 2pr/(p+r) = 2/3 */
  near(get(macro, 0, NULL), (0.8 + 0.5) / 2, TOL);
  double p = 0.6, r = 0.75;
  near(get(micro, 0, NULL), 2 * p * r / (p + r), TOL);
  mt_metric_free(macro);
  /* macro with both pairs in one update call: one score from the summed counts */
  macro = make("f1 average=macro");
  mt_ndarray *ls[] = {l1, l2}, *ps[] = {p1, p2};
  MT_ASSERT_OK(mt_metric_update(macro, 2, ls, ps));
  near(get(macro, 0, NULL), 2.0 / 3.0, TOL);
  /* no positives predicted or labelled: precision = recall = 0 -> 0 */
  const float ln[] = {0, 0}, pn[] = {0.9f, 0.1f, 0.8f, 0.2f};
  mt_ndarray *l3 = arr(MT_SHAPE(2), ln), *p3 = arr(MT_SHAPE(2, 2), pn);
  MT_ASSERT_OK(update1(macro, l3, p3));
  near(get(macro, 0, NULL), (2.0 / 3.0 + 0) / 2, TOL);
  /* more than two classes among the labels */
  const float l3c[] = {0, 1, 2};
  mt_ndarray *lx = arr(MT_SHAPE(3), l3c);
  assert_int_equal(update1(micro, lx, p1), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "binary"));
  /* rows vs labels */
  assert_int_equal(update1(micro, l2, p1), MT_E_SHAPE);
  near(get(micro, 0, NULL), 2 * p * r / (p + r), TOL);
  mt_ndarray_free(l1);
  mt_ndarray_free(p1);
  mt_ndarray_free(l2);
  mt_ndarray_free(p2);
  mt_ndarray_free(l3);
  mt_ndarray_free(p3);
  mt_ndarray_free(lx);
  mt_metric_free(macro);
  mt_metric_free(micro);
}

/* lstm_bucketing.py's metric: Perplexity(invalid_label=0) on labels (batch,
 * seq) against predictions (batch * seq, vocab); MXNet 1.9.1 gives
 * 4.933430983065394 for these numbers (3 labels of 6 not ignored), and the
 * same after a second update (the sums grow, the ratio stays). */
static void test_perplexity_lstm(void **state) {
  const float p[] = {0.1130803f,  0.38020703f, 0.10679102f, 0.39992166f, 0.20849374f, 0.25602067f,
                     0.31542856f, 0.22005703f, 0.23076557f, 0.15872943f, 0.08807967f, 0.5224253f,
                     0.25147572f, 0.10739476f, 0.47479042f, 0.16633907f, 0.21924107f, 0.16375531f,
                     0.31999534f, 0.29700834f, 0.4041753f,  0.1972382f,  0.20892367f, 0.18966275f};
  const float lab[] = {0, 2, 1, 3, 0, 0};
  mt_metric *m = make("perplexity ignore_label=0");
  mt_ndarray *l = arr(MT_SHAPE(2, 3), lab), *pr = arr(MT_SHAPE(6, 4), p);
  MT_ASSERT_OK(update1(m, l, pr));
  near(get(m, 0, "perplexity"), 4.933430983065394, 1e-6);
  near(get(m, 0, NULL), exp(-(log(p[6]) + log(p[9]) + log(p[15])) / 3), 1e-6);
  MT_ASSERT_OK(update1(m, l, pr));
  near(get(m, 0, NULL), 4.933430983065394, 1e-6);
  mt_ndarray_free(l);
  mt_ndarray_free(pr);
  mt_metric_free(m);
}

static void test_perplexity(void **state) {
  /* docstring: exp(-(log 0.3 + log 1 + log 0.6) / 3) = 1.7710976285 */
  mt_metric *m = make("perplexity"), *mi = make("perplexity ignore_label=1");
  mt_ndarray *l = arr(MT_SHAPE(3), L3), *p = arr(MT_SHAPE(3, 2), P3);
  MT_ASSERT_OK(update1(m, l, p));
  near(get(m, 0, "perplexity"), 1.7710976285155853, 1e-7);
  /* ignore_label=1: only sample 0 counts -> 1 / 0.3 */
  MT_ASSERT_OK(update1(mi, l, p));
  near(get(mi, 0, NULL), 1.0 / (double)0.3f, TOL);
  mt_metric_free(mi);
  mt_ndarray_free(l);
  mt_ndarray_free(p);
  /* ignore_label=-1 with a -1 label, and a zero probability clamped at 1e-10 */
  mi = make("perplexity ignore_label=-1");
  const float lab[] = {0, 1, -1}, lz[] = {0};
  l = arr(MT_SHAPE(3), lab);
  p = arr(MT_SHAPE(3, 2), P3);
  MT_ASSERT_OK(update1(mi, l, p));
  near(get(mi, 0, NULL), 1 / sqrt(0.3f), TOL);
  mt_ndarray_free(l);
  mt_ndarray_free(p);
  mt_metric_free(mi);
  mt_metric_free(m);
  m = make("perplexity ignore_label=none");
  const float pz[] = {0, 1};
  l = arr(MT_SHAPE(1), lz);
  p = arr(MT_SHAPE(1, 2), pz);
  MT_ASSERT_OK(update1(m, l, p));
  near(get(m, 0, NULL), 1e10, 1e-6);
  mt_ndarray_free(l);
  mt_ndarray_free(p);
  mt_metric_free(m);
  /* (B=2, T=2, C=3) scores, labels (2, 2), picked along the last axis */
  const float p4[] = {0.2f, 0.5f, 0.3f, 0.1f, 0.1f, 0.8f, 0.6f, 0.2f, 0.2f, 0.3f, 0.3f, 0.4f};
  const float l4[] = {1, 2, 0, 2};
  m = make("perplexity");
  l = arr(MT_SHAPE(2, 2), l4);
  p = arr(MT_SHAPE(2, 2, 3), p4);
  MT_ASSERT_OK(update1(m, l, p));
  near(get(m, 0, NULL), exp(-(log(0.5f) + log(0.8f) + log(0.6f) + log(0.4f)) / 4), TOL);
  mt_ndarray_free(l);
  /* one label per score vector required */
  l = arr(MT_SHAPE(3), L3);
  assert_int_equal(update1(m, l, p), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "shape mismatch"));
  mt_ndarray_free(l);
  mt_ndarray_free(p);
  mt_metric_free(m);
}

static void test_composite_names_nan(void **state) {
  mt_metric *m = make(
      "ACC, Top_K_Accuracy top_k=5,cross-entropy, nll_loss, f1 average=micro,"
      "perplexity ignore_label=0, mae, mse, rmse, acc name=train-acc");
  const char *want[] = {"accuracy", "top_k_accuracy_5", "cross-entropy", "nll-loss",
                        "f1",       "perplexity",       "mae",           "mse",
                        "rmse",     "train-acc"};
  assert_int_equal(mt_metric_num(m), 10);
  for (int i = 0; i < 10; i++) {
    double v, g;
    const char *name;
    MT_ASSERT_OK(mt_metric_get(m, i, &name, &v));
    assert_string_equal(name, want[i]);
    assert_true(isnan(v)); /* nothing counted yet */
    MT_ASSERT_OK(mt_metric_get_global(m, i, &name, &g));
    assert_true(isnan(g));
  }
  const char *name;
  double v;
  assert_int_equal(mt_metric_get(m, 10, &name, &v), MT_E_INVAL);
  assert_int_equal(mt_metric_get(m, -1, &name, &v), MT_E_INVAL);
  mt_metric_free(m);

  /* a composite updates every child with the same pairs */
  m = make("acc,ce");
  mt_ndarray *l = arr(MT_SHAPE(3), L3), *p = arr(MT_SHAPE(3, 2), P3);
  MT_ASSERT_OK(update1(m, l, p));
  near(get(m, 0, "accuracy"), 2.0 / 3.0, TOL);
  near(get(m, 1, "cross-entropy"), 0.57159948348999023, 1e-7);
  mt_ndarray_free(p);
  /* a pair valid for acc (class indices) but not for ce: nothing changes */
  p = arr(MT_SHAPE(3), L3);
  assert_int_equal(update1(m, l, p), MT_E_SHAPE);
  near(get(m, 0, NULL), 2.0 / 3.0, TOL);
  mt_ndarray_free(l);
  mt_ndarray_free(p);
  mt_metric_free(m);
  mt_metric_free(NULL);
}

static void test_reset_local_global(void **state) {
  mt_metric *m = make("acc,f1,f1 average=micro");
  mt_ndarray *l = arr(MT_SHAPE(3), L3), *p = arr(MT_SHAPE(3, 2), P3);
  const float pb[] = {0.2f, 0.8f, 0.6f, 0.4f, 0.7f, 0.3f, 0.1f, 0.9f}, lb[] = {1, 1, 0, 0};
  mt_ndarray *l2 = arr(MT_SHAPE(4), lb), *p2 = arr(MT_SHAPE(4, 2), pb);
  MT_ASSERT_OK(update1(m, l, p)); /* acc 2/3, f1 0.8 */
  mt_metric_reset_local(m);
  MT_ASSERT_OK(update1(m, l2, p2)); /* acc 2/4, f1 0.5 */
  near(get(m, 0, NULL), 0.5, TOL);
  near(get_global(m, 0), 4.0 / 7.0, TOL);
  near(get(m, 1, NULL), 0.5, TOL);
  near(get_global(m, 1), 0.65, TOL);
  near(get(m, 2, NULL), 0.5, TOL);
  near(get_global(m, 2), 2.0 / 3.0, TOL);
  mt_metric_reset(m);
  for (int i = 0; i < 3; i++) {
    assert_true(isnan(get(m, i, NULL)));
    assert_true(isnan(get_global(m, i)));
  }
  MT_ASSERT_OK(update1(m, l, p));
  near(get(m, 0, NULL), 2.0 / 3.0, TOL);
  near(get_global(m, 0), 2.0 / 3.0, TOL);
  mt_ndarray_free(l);
  mt_ndarray_free(p);
  mt_ndarray_free(l2);
  mt_ndarray_free(p2);
  mt_metric_free(m);
}

/* Random batch: n rows of c positive scores summing to 1, labels in [0, c). */
static void random_batch(int n, int c, uint64_t seed, mt_ndarray **label, mt_ndarray **pred) {
  float *p = malloc(sizeof(float) * (size_t)(n * c)), *l = malloc(sizeof(float) * (size_t)n);
  tu_fill_uniform(p, n * c, 0.01f, 1.0f, seed);
  tu_fill_uniform(l, n, 0.0f, (float)c, seed + 1000);
  for (int i = 0; i < n; i++) {
    l[i] = floorf(l[i]);
    float s = 0;
    for (int k = 0; k < c; k++) s += p[i * c + k];
    for (int k = 0; k < c; k++) p[i * c + k] /= s;
  }
  *label = arr(MT_SHAPE(n), l);
  *pred = arr(MT_SHAPE(n, c), p);
  free(p);
  free(l);
}

/* Plain reference loops for acc, top-k, mse (label broadcast over the row),
 * ce on random data, several batches. */
static void test_against_reference(void **state) {
  enum { B = 3, N = 50, C = 7, K = 3 };
  mt_metric *m = make("acc, top_k_acc top_k=3, mse, ce, perplexity");
  double correct = 0, topk = 0, mse = 0, ce = 0;
  for (int b = 0; b < B; b++) {
    mt_ndarray *l, *p;
    random_batch(N, C, 100 + b, &l, &p);
    MT_ASSERT_OK(update1(m, l, p));
    const float *x = mt_ndarray_data(p), *y = mt_ndarray_data(l);
    double se = 0;
    for (int i = 0; i < N; i++) {
      int lab = (int)y[i], best = 0, higher = 0;
      for (int k = 0; k < C; k++) {
        if (x[i * C + k] > x[i * C + best]) best = k;
        if (x[i * C + k] > x[i * C + lab]) higher++;
        se += ((double)y[i] - x[i * C + k]) * ((double)y[i] - x[i * C + k]);
      }
      correct += best == lab;
      topk += higher < K;
      ce -= log((double)x[i * C + lab] + 1e-12);
    }
    mse += se / (N * C);
    mt_ndarray_free(l);
    mt_ndarray_free(p);
  }
  near(get(m, 0, "accuracy"), correct / (B * N), TOL);
  near(get(m, 1, "top_k_accuracy_3"), topk / (B * N), TOL);
  near(get(m, 2, "mse"), mse / B, TOL);
  near(get(m, 3, "cross-entropy"), ce / (B * N), TOL);
  near(get(m, 4, "perplexity"), exp(ce / (B * N)), 1e-8);
  assert_true(correct > 0 && correct < B * N); /* the data is not degenerate */
  mt_metric_free(m);
}

/* Two "ranks" fed different batches; the elementwise sum of their states,
 * set into a third metric, equals one metric fed everything. Local sums:
 * each rank's batches after its reset_local; global: all batches. */
static void check_state_sum(const char *spec, int classes, int expect_size) {
  mt_metric *a = make(spec), *b = make(spec), *all = make(spec), *sum = make(spec);
  int n = mt_metric_state_size(a);
  assert_int_equal(n, expect_size);
  mt_ndarray *l[4], *p[4];
  for (int i = 0; i < 4; i++) random_batch(16 + 4 * i, classes, 7 * (uint64_t)i + 1, &l[i], &p[i]);
  MT_ASSERT_OK(update1(a, l[0], p[0]));
  MT_ASSERT_OK(update1(b, l[2], p[2]));
  MT_ASSERT_OK(update1(all, l[0], p[0]));
  MT_ASSERT_OK(update1(all, l[2], p[2]));
  mt_metric_reset_local(a);
  mt_metric_reset_local(b);
  mt_metric_reset_local(all);
  MT_ASSERT_OK(update1(a, l[1], p[1]));
  MT_ASSERT_OK(update1(b, l[3], p[3]));
  MT_ASSERT_OK(update1(all, l[1], p[1]));
  MT_ASSERT_OK(update1(all, l[3], p[3]));
  double *sa = calloc((size_t)n, sizeof(double)), *sb = calloc((size_t)n, sizeof(double));
  MT_ASSERT_OK(mt_metric_state_get(a, sa));
  MT_ASSERT_OK(mt_metric_state_get(b, sb));
  for (int i = 0; i < n; i++) sa[i] += sb[i];
  MT_ASSERT_OK(mt_metric_state_set(sum, sa));
  for (int i = 0; i < mt_metric_num(all); i++) {
    double want = get(all, i, NULL), wantg = get_global(all, i);
    assert_false(isnan(want));
    near(get(sum, i, NULL), want, 1e-12);
    near(get_global(sum, i), wantg, 1e-12);
    /* and it is not just one rank's value */
    assert_true(fabs(get(a, i, NULL) - want) > 0 || fabs(get_global(a, i) - wantg) > 0 ||
                fabs(get(b, i, NULL) - want) > 0);
  }
  /* state_get of the merged metric gives back the summed vector */
  MT_ASSERT_OK(mt_metric_state_get(sum, sb));
  assert_memory_equal(sa, sb, (size_t)n * sizeof(double));
  free(sa);
  free(sb);
  for (int i = 0; i < 4; i++) {
    mt_ndarray_free(l[i]);
    mt_ndarray_free(p[i]);
  }
  mt_metric_free(a);
  mt_metric_free(b);
  mt_metric_free(all);
  mt_metric_free(sum);
}

static void test_state_reduction(void **state) {
  /* 8 sum-based metrics: 2 slots local + 2 global each */
  check_state_sum("acc, top_k_acc top_k=2, mse, mae, rmse, ce, nll_loss, perplexity ignore_label=3",
                  4, 32);
  /* f1 macro (4 slots), f1 micro (tp fp fn tn, local + global: 8), acc (4) */
  check_state_sum("f1, f1 average=micro, acc", 2, 16);
}

static void test_bad_specs(void **state) {
  struct {
    const char *spec, *mention;
  } bad[] = {{"bogus", "bogus"},
             {"", "empty"},
             {"acc,", "empty"},
             {",acc", "empty"},
             {"acc,,mse", "empty"},
             {"top_k_acc", "top_k"},
             {"top_k_acc top_k=1", "top_k"},
             {"top_k_acc top_k=two", "two"},
             {"f1 average=weighted", "weighted"},
             {"acc foo=1", "foo"},
             {"mse axis=1", "axis"},
             {"perplexity ignore_label=x", "ignore_label"},
             {"ce eps=-1", "eps"},
             {"acc axis", "axis"},
             {"acc, mse, bogus2", "bogus2"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mt_metric *m = (mt_metric *)1;
    int rc = mt_metric_create(bad[i].spec, &m);
    if (rc != MT_E_INVAL) fail_msg("spec \"%s\" gave %d", bad[i].spec, rc);
    assert_null(m);
    if (!strstr(mt_last_error(), bad[i].mention))
      fail_msg("spec \"%s\": message \"%s\" does not name \"%s\"", bad[i].spec, mt_last_error(),
               bad[i].mention);
  }
  /* accuracy: label count vs argmax count */
  mt_metric *m = make("acc");
  float z[8] = {0};
  mt_ndarray *l = arr(MT_SHAPE(4), z), *p = arr(MT_SHAPE(3, 2), z);
  assert_int_equal(update1(m, l, p), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "does not match"));
  mt_ndarray_free(p);
  /* top-k needs 2-d scores */
  mt_metric_free(m);
  m = make("top_k_acc top_k=2");
  p = arr(MT_SHAPE(4), z);
  assert_int_equal(update1(m, l, p), MT_E_SHAPE);
  mt_ndarray_free(p);
  p = arr(MT_SHAPE(2, 4), z);
  assert_int_equal(update1(m, l, p), MT_E_SHAPE);
  assert_true(isnan(get(m, 0, NULL)));
  mt_ndarray_free(l);
  mt_ndarray_free(p);
  mt_metric_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accuracy),
      cmocka_unit_test(test_top_k),
      cmocka_unit_test(test_regression),
      cmocka_unit_test(test_cross_entropy_nll),
      cmocka_unit_test(test_f1),
      cmocka_unit_test(test_perplexity),
      cmocka_unit_test(test_perplexity_lstm),
      cmocka_unit_test(test_composite_names_nan),
      cmocka_unit_test(test_reset_local_global),
      cmocka_unit_test(test_against_reference),
      cmocka_unit_test(test_state_reduction),
      cmocka_unit_test(test_bad_specs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
