/* test_lr_scheduler.c — the learning-rate schedulers (factor, multifactor,
 * poly, cosine; linear and constant warmup) against sequences computed by
 * hand from MXNet 1.x's lr_scheduler.py, written out as numbers here.
 *   tolerance  |lr - expected| <= 1e-12 (the expected values are decimal
 *              roundings or the same double products MXNet forms)
 * Also: the stateful factor decay catching up in one call (a resume) to the
 * bit, poly/cosine holding their final rate past max_update, aliases, and
 * bad specs giving MT_E_INVAL naming the key. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TOL 1e-12

/* lr(n) for n = 0 .. n_values - 1 against expected[n]. */
static void expect_sequence(const char *spec, double base_lr, const double *expected,
                            int n_values) {
  mt_lr_scheduler *s;
  MT_ASSERT_OK(mt_lr_scheduler_create(spec, base_lr, &s));
  for (int n = 0; n < n_values; n++) {
    double lr = mt_lr_scheduler_lr(s, n);
    if (!(fabs(lr - expected[n]) <= TOL))
      fail_msg("'%s' (base_lr %g): lr(%d) = %.17g, expected %.17g", spec, base_lr, n, lr,
               expected[n]);
  }
  mt_lr_scheduler_free(s);
}

static void test_factor(void **state) {
  (void)state;
  /* halves when n passes 3, 6, 9, ...; floored at stop_factor_lr 0.1 */
  const double e[] = {1,    1,     1,     1,     0.5, 0.5, 0.5, 0.25, 0.25,
                      0.25, 0.125, 0.125, 0.125, 0.1, 0.1, 0.1, 0.1,  0.1};
  expect_sequence("factor step=3 factor=0.5 stop_factor_lr=0.1", 1.0, e, 18);
  /* default factor 1: constant */
  const double c[] = {0.3, 0.3, 0.3, 0.3, 0.3};
  expect_sequence("factor step=1", 0.3, c, 5);
}

static void test_factor_warmup(void **state) {
  (void)state;
  /* linear from 0.2 to base 1.0 over 4 steps; the decay counts from 0, not
   * from the end of the warmup (MXNet) */
  const double lin[] = {0.2, 0.4, 0.6, 0.8, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125};
  expect_sequence("factor step=3 factor=0.5 warmup_steps=4 warmup_begin_lr=0.2", 1.0, lin, 11);
  const double cst[] = {0.2, 0.2, 0.2, 0.2, 0.5, 0.5, 0.5, 0.25};
  expect_sequence(
      "factor step=3 factor=0.5 warmup_steps=4 warmup_begin_lr=0.2 "
      "warmup_mode=constant",
      1.0, cst, 8);
}

/* A fresh scheduler asked at n (a resumed run) equals, to the bit, one
 * that was asked at every step up to n. */
static void test_factor_catch_up(void **state) {
  (void)state;
  mt_lr_scheduler *a, *b;
  MT_ASSERT_OK(mt_lr_scheduler_create("factor step=7 factor=0.9", 0.1, &a));
  MT_ASSERT_OK(mt_lr_scheduler_create("factor step=7 factor=0.9", 0.1, &b));
  double la = 0;
  for (int n = 1; n <= 100; n++) la = mt_lr_scheduler_lr(a, n);
  double lb = mt_lr_scheduler_lr(b, 100);
  assert_memory_equal(&la, &lb, sizeof la);
  /* 100 passes 7, 14, ..., 98: 14 decays */
  double e = 0.1;
  for (int k = 0; k < 14; k++) e *= 0.9;
  assert_memory_equal(&la, &e, sizeof la);
  assert_true(mt_lr_scheduler_base_lr(a) == e);
  /* asking again for an earlier n does not undo the decay (MXNet) */
  assert_true(mt_lr_scheduler_lr(a, 50) == e);
  mt_lr_scheduler_free(a);
  mt_lr_scheduler_free(b);
}

static void test_multifactor(void **state) {
  (void)state;
  const double e[] = {1, 1, 1, 0.1, 0.1, 0.1, 1.0 * 0.1 * 0.1, 1.0 * 0.1 * 0.1, 1.0 * 0.1 * 0.1};
  expect_sequence("multifactor step=2,5 factor=0.1", 1.0, e, 9);
  const double w[] = {0.5, 0.75, 1, 0.1, 0.1, 0.1, 1.0 * 0.1 * 0.1};
  expect_sequence("multifactor step=2,5 factor=0.1 warmup_steps=2 warmup_begin_lr=0.5", 1.0, w, 7);
  /* catch-up across both steps at once */
  mt_lr_scheduler *s;
  MT_ASSERT_OK(mt_lr_scheduler_create("MultiFactorScheduler step=2,5 factor=0.1", 1.0, &s));
  double lr = mt_lr_scheduler_lr(s, 40), x = 1.0 * 0.1 * 0.1;
  assert_memory_equal(&lr, &x, sizeof lr);
  mt_lr_scheduler_free(s);
}

static void test_poly(void **state) {
  (void)state;
  /* 0.1 + 0.9 * (1 - n/10)^2, held at 0.1 past max_update */
  const double e[] = {1.0,   0.829, 0.676, 0.541, 0.424, 0.325, 0.244,
                      0.181, 0.136, 0.109, 0.1,   0.1,   0.1};
  expect_sequence("poly max_update=10 pwr=2 final_lr=0.1", 1.0, e, 13);
  /* pwr 1, final 0: linear */
  const double l[] = {2.0, 1.6, 1.2, 0.8, 0.4, 0.0, 0.0};
  expect_sequence("PolyScheduler max_update=5 pwr=1", 2.0, l, 7);
  /* warmup 2 steps from 0, then 0.1 + 0.9 * (1 - (n-2)/8)^2 */
  const double w[] = {0.0,
                      0.5,
                      1.0,
                      0.1 + 0.9 * 0.765625,
                      0.1 + 0.9 * 0.5625,
                      0.1 + 0.9 * 0.390625,
                      0.325,
                      0.1 + 0.9 * 0.140625,
                      0.1 + 0.9 * 0.0625,
                      0.1 + 0.9 * 0.015625,
                      0.1,
                      0.1};
  expect_sequence("poly max_update=10 pwr=2 final_lr=0.1 warmup_steps=2", 1.0, w, 12);
  /* a fresh scheduler asked past max_update gives the final rate too */
  mt_lr_scheduler *s;
  MT_ASSERT_OK(mt_lr_scheduler_create("poly max_update=10 final_lr=0.1", 1.0, &s));
  assert_true(fabs(mt_lr_scheduler_lr(s, 25) - 0.1) <= TOL);
  mt_lr_scheduler_free(s);
}

static void test_cosine(void **state) {
  (void)state;
  /* 0.25 * (1 + cos(pi n / 8)); cos(pi/8) = 0.92387953251128674,
   * cos(pi/4) = 0.70710678118654757, cos(3pi/8) = 0.38268343236508984 */
  const double e[] = {0.5,
                      0.25 * 1.92387953251128674,
                      0.25 * 1.70710678118654757,
                      0.25 * 1.38268343236508984,
                      0.25,
                      0.25 * (1 - 0.38268343236508984),
                      0.25 * (1 - 0.70710678118654757),
                      0.25 * (1 - 0.92387953251128674),
                      0.0,
                      0.0,
                      0.0};
  expect_sequence("cosine max_update=8", 0.5, e, 11);
  /* constant warmup at 0.1 for 3 steps, then from 0.5 to 0.05 over 5 */
  const double w[] = {0.1,
                      0.1,
                      0.1,
                      0.5,
                      0.05 + 0.45 * 0.5 * (1 + cos(M_PI / 5)),
                      0.05 + 0.45 * 0.5 * (1 + cos(2 * M_PI / 5)),
                      0.05 + 0.45 * 0.5 * (1 + cos(3 * M_PI / 5)),
                      0.05 + 0.45 * 0.5 * (1 + cos(4 * M_PI / 5)),
                      0.05,
                      0.05};
  expect_sequence(
      "COSINE max_update=8 final_lr=0.05 warmup_steps=3 warmup_begin_lr=0.1 "
      "warmup_mode=constant",
      0.5, w, 10);
}

/* MXNet's Optimizer.__init__ overwrites the scheduler's base_lr with its
 * learning_rate: factor decays from there; poly's start and the warmup's
 * target stay the base it was created with (MXNet's behaviour; create
 * schedulers with base_lr = learning_rate). */
static void test_installed_in_optimizer(void **state) {
  (void)state;
  mt_optimizer *o;
  mt_lr_scheduler *s;
  MT_ASSERT_OK(mt_optimizer_create("sgd", "learning_rate=0.4", &o));
  MT_ASSERT_OK(mt_lr_scheduler_create("factor step=1 factor=0.5", 1.0, &s));
  MT_ASSERT_OK(mt_optimizer_set_lr_scheduler(o, s));
  assert_true(mt_lr_scheduler_base_lr(s) == 0.4);
  assert_true(mt_optimizer_learning_rate(o) == 0.4); /* num_update 0 */
  MT_ASSERT_OK(mt_lr_scheduler_create("poly max_update=4 pwr=1", 1.0, &s));
  MT_ASSERT_OK(mt_optimizer_set_lr_scheduler(o, s)); /* frees the factor scheduler */
  MT_ASSERT_OK(mt_optimizer_set_update_count(o, 0, 2));
  assert_true(fabs(mt_optimizer_learning_rate(o) - 0.5) <= TOL);
  /* the warmup's target is also the base_lr at creation (warmup_final_lr) */
  MT_ASSERT_OK(mt_lr_scheduler_create("factor step=10 warmup_steps=4", 1.0, &s));
  MT_ASSERT_OK(mt_optimizer_set_lr_scheduler(o, s));
  assert_true(fabs(mt_optimizer_learning_rate(o) - 0.5) <= TOL); /* 0 + (1.0 - 0) * 2/4 */
  MT_ASSERT_OK(mt_optimizer_set_update_count(o, 0, 4));
  assert_true(mt_optimizer_learning_rate(o) == 0.4);
  mt_optimizer_free(o);
}

static void expect_bad(const char *spec, double base_lr, const char *needle) {
  mt_lr_scheduler *s = (mt_lr_scheduler *)1;
  int rc = mt_lr_scheduler_create(spec, base_lr, &s);
  if (rc != MT_E_INVAL) fail_msg("'%s': returned %d, expected MT_E_INVAL", spec, rc);
  assert_null(s);
  if (!strstr(mt_last_error(), needle))
    fail_msg("'%s': message '%s' does not name '%s'", spec, mt_last_error(), needle);
}

static void test_errors(void **state) {
  (void)state;
  expect_bad("exp step=3", 1.0, "exp");
  expect_bad("", 1.0, "empty");
  expect_bad("factor", 1.0, "step");
  expect_bad("factor step=3 pwr=2", 1.0, "pwr");
  expect_bad("factor step=0", 1.0, "step");
  expect_bad("factor step=abc", 1.0, "step");
  expect_bad("factor step=3 factor=1.5", 1.0, "factor=1.5");
  expect_bad("factor step=3 stop_factor_lr=x", 1.0, "stop_factor_lr");
  expect_bad("multifactor factor=0.1", 1.0, "step");
  expect_bad("multifactor step=5,3", 1.0, "step");
  expect_bad("multifactor step=5,,7", 1.0, "step");
  expect_bad("multifactor step=0,3", 1.0, "step");
  expect_bad("multifactor step=2,4 factor=2", 1.0, "factor");
  expect_bad("factor step=3 warmup_begin_lr=2", 1.0, "warmup_begin_lr");
  expect_bad("factor step=3 warmup_steps=-1", 1.0, "warmup_steps");
  expect_bad("factor step=3 warmup_steps=2.5", 1.0, "warmup_steps");
  expect_bad("factor step=3 warmup_mode=exp", 1.0, "warmup_mode");
  expect_bad("poly", 1.0, "max_update");
  expect_bad("poly max_update=0", 1.0, "max_update");
  expect_bad("cosine max_update=5 pwr=2", 1.0, "pwr");
  expect_bad("cosine max_update=5 warmup_steps=5", 1.0, "warmup_steps");
  expect_bad("cosine max_update=5 final_lr", 1.0, "final_lr");
  mt_lr_scheduler *s = NULL;
  assert_int_equal(mt_lr_scheduler_create(NULL, 1.0, &s), MT_E_INVAL);
  mt_lr_scheduler_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_factor),
      cmocka_unit_test(test_factor_warmup),
      cmocka_unit_test(test_factor_catch_up),
      cmocka_unit_test(test_multifactor),
      cmocka_unit_test(test_poly),
      cmocka_unit_test(test_cosine),
      cmocka_unit_test(test_installed_in_optimizer),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
