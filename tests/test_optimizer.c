/* test_optimizer.c — the optimizers (sgd, nag, adam, rmsprop plain and
 * centered, adagrad) against reference updates written here in double from
 * MXNet 1.x's formulas, over several steps on two parameters: "fc1_weight"
 * (2, 3), which gets weight decay, and "fc1_bias" (3), which does not.
 * Gradients are ~U(-50, 50) with rescale_grad 1/32 so that clip_gradient
 * clips some elements and not others.
 *   tolerance  |w - ref| <= 1e-5 * max(1, |ref|) for weights and states
 *              (float arithmetic against double, a handful of steps)
 * Also: adam's bias correction and per-index t, num_update = max of counts,
 * the scheduler driving lr, MXNet's wd_mult rule and lr/wd multipliers,
 * state enumeration, a checkpoint restore into a fresh optimizer continuing
 * bit-for-bit, the float order of MXNet's kernels, and error messages. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TOL 1e-5
#define NW 6 /* fc1_weight (2, 3) */
#define NB 3 /* fc1_bias (3) */

static const char *const pnames[2] = {"fc1_weight", "fc1_bias"};
static const int psize[2] = {NW, NB};

static double clipd(double x, double c) { return x > c ? c : (x < -c ? -c : x); }

/* Deterministic inputs: gradient of parameter p at step s, initial weights. */
static float grad_value(int s, int p, int i) {
  return (float)(50.0 * sin(0.9 * i + 1.7 * s + 0.3 * p));
}
static float weight0(int p, int i) { return (float)(0.5 * cos(1.1 * i + p)); }

/* --------------------------------------------------------- references */

/* Hyper-parameters of the reference; clip < 0 / cw < 0 mean none. */
typedef struct {
  double lr, wd, rescale, clip, momentum;
  double beta1, beta2, epsilon;
  double gamma1, gamma2, cw;
  double eps; /* adagrad */
} hyper;

/* State of one parameter in the reference: w, up to three state arrays, t. */
typedef struct {
  double w[NW], s[3][NW];
  int t;
} ref_param;

typedef void (*ref_step_fn)(ref_param *r, const double *g, int n, double wd, const hyper *h);

/* SGD (sgd_mom_update / multi_sgd kernels):
 *   mom = momentum*mom - lr*wd*w - lr*clip(rescale*g);  w += mom */
static void ref_sgd(ref_param *r, const double *g, int n, double wd, const hyper *h) {
  for (int i = 0; i < n; i++) {
    double G = h->clip >= 0 ? clipd(h->rescale * g[i], h->clip) : h->rescale * g[i];
    double d = h->momentum * r->s[0][i] - h->lr * wd * r->w[i] - h->lr * G;
    r->s[0][i] = h->momentum > 0 ? d : 0.0;
    r->w[i] += d;
  }
}

/* NAG as nag_mom_update computes it (the weight-decay term of the new
 * momentum sees the updated weight, since MXNet's kernel runs in place):
 *   m1 = momentum*mom;  w' = w - m1 + (momentum+1)*(m1 - lr*(G + wd*w))
 *   mom = m1 - lr*(G + wd*w') */
static void ref_nag(ref_param *r, const double *g, int n, double wd, const hyper *h) {
  for (int i = 0; i < n; i++) {
    double G = h->clip >= 0 ? clipd(h->rescale * g[i], h->clip) : h->rescale * g[i];
    double m1 = h->momentum * r->s[0][i];
    double nw = r->w[i] - m1 + (h->momentum + 1) * (m1 - h->lr * (G + wd * r->w[i]));
    r->s[0][i] = m1 - h->lr * (G + wd * nw);
    r->w[i] = nw;
  }
}

/* Classic Nesterov as MXNet <= 1.4's Python NAG wrote it (no weight decay):
 *   S = momentum*S + G;  w -= lr*(G + momentum*S)
 * MXNet 1.5+'s kernel keeps mom = -lr*S; s[0] holds -lr*S for comparison. */
static void ref_nag_classic(ref_param *r, const double *g, int n, double wd, const hyper *h) {
  (void)wd;
  for (int i = 0; i < n; i++) {
    double G = h->clip >= 0 ? clipd(h->rescale * g[i], h->clip) : h->rescale * g[i];
    double S = -r->s[0][i] / h->lr;
    S = h->momentum * S + G;
    r->w[i] -= h->lr * (G + h->momentum * S);
    r->s[0][i] = -h->lr * S;
  }
}

/* Adam with MXNet 1.x's bias correction folded into lr:
 *   G = clip(rescale*g + wd*w);  m = b1*m + (1-b1)*G;  v = b2*v + (1-b2)*G^2
 *   w -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + epsilon) */
static void ref_adam(ref_param *r, const double *g, int n, double wd, const hyper *h) {
  double lr_t = h->lr * sqrt(1 - pow(h->beta2, r->t)) / (1 - pow(h->beta1, r->t));
  for (int i = 0; i < n; i++) {
    double G = h->rescale * g[i] + wd * r->w[i];
    if (h->clip >= 0) G = clipd(G, h->clip);
    r->s[0][i] = h->beta1 * r->s[0][i] + (1 - h->beta1) * G;
    r->s[1][i] = h->beta2 * r->s[1][i] + (1 - h->beta2) * G * G;
    r->w[i] -= lr_t * r->s[0][i] / (sqrt(r->s[1][i]) + h->epsilon);
  }
}

/* RMSProp (Tieleman & Hinton): n = (1-g1)*G^2 + g1*n; w -= lr*G/sqrt(n+eps) */
static void ref_rmsprop(ref_param *r, const double *g, int n, double wd, const hyper *h) {
  for (int i = 0; i < n; i++) {
    double G = h->rescale * g[i] + wd * r->w[i];
    if (h->clip >= 0) G = clipd(G, h->clip);
    r->s[0][i] = (1 - h->gamma1) * G * G + h->gamma1 * r->s[0][i];
    r->w[i] -= h->lr * G / sqrt(r->s[0][i] + h->epsilon);
    if (h->cw >= 0) r->w[i] = clipd(r->w[i], h->cw);
  }
}

/* Centered RMSProp (Graves 2013, eq. 38-45):
 *   n = (1-g1)*G^2 + g1*n;  gs = (1-g1)*G + g1*gs
 *   delta = g2*delta - lr*G/sqrt(n - gs^2 + eps);  w += delta */
static void ref_rmsprop_centered(ref_param *r, const double *g, int n, double wd, const hyper *h) {
  for (int i = 0; i < n; i++) {
    double G = h->rescale * g[i] + wd * r->w[i];
    if (h->clip >= 0) G = clipd(G, h->clip);
    r->s[0][i] = (1 - h->gamma1) * G * G + h->gamma1 * r->s[0][i];
    r->s[1][i] = (1 - h->gamma1) * G + h->gamma1 * r->s[1][i];
    r->s[2][i] = h->gamma2 * r->s[2][i] -
                 h->lr * G / sqrt(r->s[0][i] - r->s[1][i] * r->s[1][i] + h->epsilon);
    r->w[i] += r->s[2][i];
    if (h->cw >= 0) r->w[i] = clipd(r->w[i], h->cw);
  }
}

/* AdaGrad: G = clip(rescale*g); h += G^2; w -= lr*(G/sqrt(h + eps) + wd*w) */
static void ref_adagrad(ref_param *r, const double *g, int n, double wd, const hyper *h) {
  for (int i = 0; i < n; i++) {
    double G = h->rescale * g[i];
    if (h->clip >= 0) G = clipd(G, h->clip);
    r->s[0][i] += G * G;
    r->w[i] -= h->lr * (G / sqrt(r->s[0][i] + h->eps) + wd * r->w[i]);
  }
}

/* ------------------------------------------------------------- driver */

typedef struct {
  mt_optimizer *opt;
  mt_ndarray *w[2], *g[2];
} rig;

static void rig_setup(rig *r, const char *name, const char *params) {
  memset(r, 0, sizeof *r);
  MT_ASSERT_OK(mt_optimizer_create(name, params, &r->opt));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(2, 3), mt_cpu(0), &r->w[0]));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(2, 3), mt_cpu(0), &r->g[0]));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(3), mt_cpu(0), &r->w[1]));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(3), mt_cpu(0), &r->g[1]));
  for (int p = 0; p < 2; p++)
    for (int i = 0; i < psize[p]; i++) r->w[p]->data[i] = weight0(p, i);
}

static void rig_free(rig *r) {
  mt_optimizer_free(r->opt);
  for (int p = 0; p < 2; p++) {
    mt_ndarray_free(r->w[p]);
    mt_ndarray_free(r->g[p]);
  }
}

static void rig_grads(rig *r, int step) {
  for (int p = 0; p < 2; p++)
    for (int i = 0; i < psize[p]; i++) r->g[p]->data[i] = grad_value(step, p, i);
}

static void expect_close_d(const float *got, const double *ref, int n, const char *what, int step) {
  for (int i = 0; i < n; i++) {
    double d = fabs((double)got[i] - ref[i]) / fmax(1.0, fabs(ref[i]));
    if (!(d <= TOL))
      fail_msg("%s step %d element %d: got %.9g, reference %.9g (rel diff %g > %g)", what, step, i,
               (double)got[i], ref[i], d, TOL);
  }
}

/* Runs `steps` updates of both parameters through the optimizer and the
 * reference, comparing weights and every state after each step. */
static void run_against_ref(const char *name, const char *params, const hyper *h, ref_step_fn fn,
                            int steps) {
  rig r;
  rig_setup(&r, name, params);
  ref_param ref[2];
  memset(ref, 0, sizeof ref);
  for (int p = 0; p < 2; p++)
    for (int i = 0; i < psize[p]; i++) ref[p].w[i] = weight0(p, i);
  int nstates = mt_optimizer_num_states(r.opt, 0);
  assert_true(nstates >= 0 && nstates <= 3);
  double g[NW];
  for (int s = 0; s < steps; s++) {
    rig_grads(&r, s);
    for (int p = 0; p < 2; p++) {
      MT_ASSERT_OK(mt_optimizer_update(r.opt, p, pnames[p], r.w[p], r.g[p]));
      for (int i = 0; i < psize[p]; i++) g[i] = r.g[p]->data[i];
      ref[p].t++;
      fn(&ref[p], g, psize[p], p == 0 ? h->wd : 0.0, h);
      char what[96];
      snprintf(what, sizeof what, "%s %s weight", name, pnames[p]);
      expect_close_d(r.w[p]->data, ref[p].w, psize[p], what, s);
      for (int k = 0; k < nstates; k++) {
        const char *sn;
        mt_ndarray *st;
        MT_ASSERT_OK(mt_optimizer_state(r.opt, p, k, &sn, &st));
        snprintf(what, sizeof what, "%s %s state '%s'", name, pnames[p], sn);
        expect_close_d(st->data, ref[p].s[k], psize[p], what, s);
      }
    }
  }
  assert_int_equal(mt_optimizer_num_update(r.opt), steps);
  rig_free(&r);
}

static hyper base_hyper(void) {
  hyper h = {.lr = 0.1,
             .wd = 0.1,
             .rescale = 1.0 / 32,
             .clip = -1,
             .momentum = 0,
             .beta1 = 0.9,
             .beta2 = 0.999,
             .epsilon = 1e-8,
             .gamma1 = 0.9,
             .gamma2 = 0.9,
             .cw = -1,
             .eps = 1e-7};
  return h;
}

/* --------------------------------------------------------------- tests */

static void test_sgd_plain(void **state) {
  (void)state;
  hyper h = base_hyper();
  run_against_ref("sgd", "learning_rate=0.1 wd=0.1 rescale_grad=0.03125", &h, ref_sgd, 5);
}

static void test_sgd_momentum_clip(void **state) {
  (void)state;
  hyper h = base_hyper();
  h.momentum = 0.9;
  h.clip = 1.0;
  run_against_ref("sgd",
                  "learning_rate=0.1 momentum=0.9 wd=0.1 rescale_grad=0.03125 "
                  "clip_gradient=1",
                  &h, ref_sgd, 6);
}

static void test_sgd_clip_no_momentum(void **state) {
  (void)state;
  hyper h = base_hyper();
  h.clip = 0.75;
  h.lr = 0.2;
  run_against_ref("SGD", "learning_rate=0.2 wd=0.1 rescale_grad=0.03125 clip_gradient=0.75", &h,
                  ref_sgd, 4);
}

/* clip_gradient=0 is falsy in MXNet's Python: no clipping at all. */
static void test_sgd_clip_zero_is_off(void **state) {
  (void)state;
  hyper h = base_hyper();
  run_against_ref("sgd", "learning_rate=0.1 wd=0.1 rescale_grad=0.03125 clip_gradient=0", &h,
                  ref_sgd, 3);
}

static void test_nag(void **state) {
  (void)state;
  hyper h = base_hyper();
  h.momentum = 0.9;
  h.clip = 1.0;
  run_against_ref("nag",
                  "learning_rate=0.1 momentum=0.9 wd=0.1 rescale_grad=0.03125 "
                  "clip_gradient=1",
                  &h, ref_nag, 6);
}

static void test_nag_matches_classic_nesterov(void **state) {
  (void)state;
  hyper h = base_hyper();
  h.momentum = 0.8;
  h.wd = 0;
  run_against_ref("nag", "learning_rate=0.1 momentum=0.8 rescale_grad=0.03125", &h, ref_nag_classic,
                  6);
}

/* NAG without momentum runs sgd_update: w = (1 - lr*wd)*w - lr*G. */
static void test_nag_no_momentum(void **state) {
  (void)state;
  hyper h = base_hyper();
  h.clip = 1.0;
  run_against_ref("nag", "learning_rate=0.1 wd=0.1 rescale_grad=0.03125 clip_gradient=1", &h,
                  ref_sgd, 4);
}

static void test_adam(void **state) {
  (void)state;
  hyper h = base_hyper();
  h.lr = 0.01;
  h.clip = 1.0;
  run_against_ref("adam", "learning_rate=0.01 wd=0.1 rescale_grad=0.03125 clip_gradient=1", &h,
                  ref_adam, 6);
  h.beta1 = 0.5;
  h.beta2 = 0.75;
  h.epsilon = 1e-3;
  h.clip = -1;
  run_against_ref("Adam",
                  "learning_rate=0.01 wd=0.1 rescale_grad=0.03125 beta1=0.5 beta2=0.75 "
                  "epsilon=1e-3",
                  &h, ref_adam, 6);
}

/* Bias correction by hand: on its first update a parameter moves by
 * lr*sqrt(1-b2)/(1-b1) * (1-b1)G / (sqrt(1-b2)|G| + eps) ~= lr*sign(G),
 * whatever the other parameters' counts (t is per index). */
static void test_adam_bias_correction_per_index(void **state) {
  (void)state;
  rig r;
  rig_setup(&r, "adam", "learning_rate=0.01 rescale_grad=0.03125");
  for (int s = 0; s < 3; s++) {
    rig_grads(&r, s);
    MT_ASSERT_OK(mt_optimizer_update(r.opt, 0, pnames[0], r.w[0], r.g[0]));
  }
  assert_int_equal(mt_optimizer_num_update(r.opt), 3);
  float before[NB];
  memcpy(before, r.w[1]->data, sizeof before);
  rig_grads(&r, 7);
  MT_ASSERT_OK(mt_optimizer_update(r.opt, 1, pnames[1], r.w[1], r.g[1]));
  int64_t c0, c1;
  MT_ASSERT_OK(mt_optimizer_get_update_count(r.opt, 0, &c0));
  MT_ASSERT_OK(mt_optimizer_get_update_count(r.opt, 1, &c1));
  assert_int_equal(c0, 3);
  assert_int_equal(c1, 1);
  assert_int_equal(mt_optimizer_num_update(r.opt), 3);
  for (int i = 0; i < NB; i++) {
    double G = r.g[1]->data[i] / 32.0;
    double step =
        0.01 * sqrt(1 - 0.999) / (1 - 0.9) * (1 - 0.9) * G / (sqrt(1 - 0.999) * fabs(G) + 1e-8);
    double got = (double)before[i] - (double)r.w[1]->data[i];
    if (fabs(got - step) > 1e-7) fail_msg("element %d: moved %.9g, expected %.9g", i, got, step);
    assert_true(fabs(fabs(got) - 0.01) < 1e-6); /* ~ lr * sign(G) */
  }
  rig_free(&r);
}

static void test_rmsprop_plain(void **state) {
  (void)state;
  hyper h = base_hyper();
  h.lr = 0.01;
  h.clip = 1.0;
  run_against_ref("rmsprop", "learning_rate=0.01 wd=0.1 rescale_grad=0.03125 clip_gradient=1", &h,
                  ref_rmsprop, 6);
  /* clip_weights bounds the weights (0.45 < max |w0| = 0.5) */
  h.cw = 0.45;
  h.gamma1 = 0.8;
  run_against_ref("rmsprop",
                  "learning_rate=0.01 wd=0.1 rescale_grad=0.03125 clip_gradient=1 "
                  "gamma1=0.8 clip_weights=0.45",
                  &h, ref_rmsprop, 6);
}

static void test_rmsprop_centered(void **state) {
  (void)state;
  hyper h = base_hyper();
  h.lr = 0.01;
  h.clip = 1.0;
  h.gamma1 = 0.95;
  h.gamma2 = 0.8;
  h.epsilon = 1e-4;
  run_against_ref("rmsprop",
                  "learning_rate=0.01 wd=0.1 rescale_grad=0.03125 clip_gradient=1 "
                  "centered=true gamma1=0.95 gamma2=0.8 epsilon=1e-4",
                  &h, ref_rmsprop_centered, 6);
}

static void test_adagrad(void **state) {
  (void)state;
  hyper h = base_hyper();
  h.clip = 1.0;
  run_against_ref("adagrad", "learning_rate=0.1 wd=0.1 rescale_grad=0.03125 clip_gradient=1", &h,
                  ref_adagrad, 6);
  hyper h2 = base_hyper();
  h2.eps = 1e-3;
  run_against_ref("AdaGrad", "learning_rate=0.1 wd=0.1 rescale_grad=0.03125 eps=1e-3", &h2,
                  ref_adagrad, 4);
}

/* AdaGrad clips whenever clip_gradient is given (`is not None`): 0 zeroes
 * the gradient, leaving only weight decay. */
static void test_adagrad_clip_zero(void **state) {
  (void)state;
  hyper h = base_hyper();
  h.clip = 0.0;
  run_against_ref("adagrad", "learning_rate=0.1 wd=0.1 rescale_grad=0.03125 clip_gradient=0", &h,
                  ref_adagrad, 3);
}

/* The scheduler gives lr at num_update; updating two parameters per step
 * advances num_update once per step. */
static void test_scheduler_drives_lr(void **state) {
  (void)state;
  mt_optimizer *o;
  MT_ASSERT_OK(mt_optimizer_create("sgd", "learning_rate=0.2", &o));
  assert_true(fabs(mt_optimizer_learning_rate(o) - 0.2) < 1e-15);
  mt_lr_scheduler *s;
  /* created with base 1.0; installing sets its base_lr to learning_rate */
  MT_ASSERT_OK(mt_lr_scheduler_create("factor step=2 factor=0.5", 1.0, &s));
  MT_ASSERT_OK(mt_optimizer_set_lr_scheduler(o, s));
  assert_int_equal(mt_optimizer_set_learning_rate(o, 0.3), MT_E_STATE);
  assert_non_null(strstr(mt_last_error(), "LRScheduler"));
  mt_ndarray *w[2], *g[2];
  for (int p = 0; p < 2; p++) {
    MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(2), mt_cpu(0), &w[p]));
    MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(2), mt_cpu(0), &g[p]));
    MT_ASSERT_OK(mt_ndarray_fill(g[p], 1.0f));
  }
  /* lr(n) = 0.2 for n <= 2, 0.1 for 3..4, 0.05 for 5..6 */
  const double lrs[6] = {0.2, 0.2, 0.1, 0.1, 0.05, 0.05};
  double expect = 0;
  for (int step = 0; step < 6; step++) {
    for (int p = 0; p < 2; p++) MT_ASSERT_OK(mt_optimizer_update(o, p, NULL, w[p], g[p]));
    expect -= lrs[step];
    assert_int_equal(mt_optimizer_num_update(o), step + 1);
    for (int p = 0; p < 2; p++)
      if (fabs(w[p]->data[0] - expect) > 1e-6)
        fail_msg("step %d param %d: w %.9g, expected %.9g", step, p, (double)w[p]->data[0], expect);
  }
  assert_true(fabs(mt_optimizer_learning_rate(o) - 0.05) < 1e-15);
  /* removing the scheduler restores learning_rate */
  MT_ASSERT_OK(mt_optimizer_set_lr_scheduler(o, NULL));
  MT_ASSERT_OK(mt_optimizer_set_learning_rate(o, 0.3));
  assert_true(mt_optimizer_learning_rate(o) == 0.3);
  for (int p = 0; p < 2; p++) {
    mt_ndarray_free(w[p]);
    mt_ndarray_free(g[p]);
  }
  mt_optimizer_free(o);
}

/* MXNet's default wd_mult: 0 unless the name ends in _weight or _gamma;
 * unnamed parameters get wd. Multipliers by name override, set before or
 * after the parameter's first update. With g = 0, lr = 1, wd = 0.5 an update
 * is w *= 1 - lr_mult * wd_mult * 0.5. */
static void test_wd_mult_rule(void **state) {
  (void)state;
  mt_optimizer *o;
  MT_ASSERT_OK(mt_optimizer_create("sgd", "learning_rate=1 wd=0.5", &o));
  MT_ASSERT_OK(mt_optimizer_set_wd_mult(o, "fc2_bias", 1.0));
  MT_ASSERT_OK(mt_optimizer_set_wd_mult(o, "fc2_weight", 0.0));
  MT_ASSERT_OK(mt_optimizer_set_lr_mult(o, "fc3_weight", 2.0));
  struct {
    const char *name;
    double factor;
  } cases[] = {{"fc1_weight", 0.5},      {"fc1_bias", 1.0}, {"bn1_gamma", 0.5}, {"bn1_beta", 1.0},
               {"bn1_moving_mean", 1.0}, {NULL, 0.5},       {"fc2_bias", 0.5},  {"fc2_weight", 1.0},
               {"fc3_weight", 0.0},      {"weight", 1.0},   {"x_weightx", 1.0}};
  int nc = (int)(sizeof cases / sizeof cases[0]);
  mt_ndarray *w, *g;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(1), mt_cpu(0), &w));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(1), mt_cpu(0), &g));
  for (int c = 0; c < nc; c++) {
    w->data[0] = 2.0f;
    MT_ASSERT_OK(mt_optimizer_update(o, c, cases[c].name, w, g));
    if (fabs(w->data[0] - 2.0 * cases[c].factor) > 1e-7)
      fail_msg("'%s': w = %g, expected %g", cases[c].name ? cases[c].name : "(unnamed)",
               (double)w->data[0], 2.0 * cases[c].factor);
  }
  /* set after the first update: applies from the next one */
  MT_ASSERT_OK(mt_optimizer_set_wd_mult(o, "fc1_bias", 2.0));
  w->data[0] = 2.0f;
  MT_ASSERT_OK(mt_optimizer_update(o, 1, "fc1_bias", w, g));
  assert_true(fabs(w->data[0] - 0.0) < 1e-7);
  assert_string_equal(mt_optimizer_index_name(o, 1), "fc1_bias");
  assert_null(mt_optimizer_index_name(o, 5));
  assert_int_equal(mt_optimizer_index_bound(o), nc);
  mt_ndarray_free(w);
  mt_ndarray_free(g);
  mt_optimizer_free(o);
}

/* Each optimizer's states: count, names, zero at creation, weight's shape;
 * none before the first update or create_state. */
static void test_state_enumeration(void **state) {
  (void)state;
  struct {
    const char *name, *params;
    int n;
    const char *names[3];
  } cases[] = {
      {"sgd", "", 0, {NULL}},
      {"sgd", "momentum=0.9", 1, {"momentum"}},
      {"nag", "momentum=0.9", 1, {"momentum"}},
      {"nag", "", 0, {NULL}},
      {"adam", "", 2, {"mean", "var"}},
      {"rmsprop", "", 1, {"n"}},
      {"rmsprop", "centered=True", 3, {"n", "g", "delta"}},
      {"adagrad", "", 1, {"history"}},
  };
  mt_ndarray *w;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(4, 5), mt_cpu(0), &w));
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    mt_optimizer *o;
    MT_ASSERT_OK(mt_optimizer_create(cases[c].name, cases[c].params, &o));
    assert_int_equal(mt_optimizer_num_states(o, 3), cases[c].n);
    if (cases[c].n > 0) {
      assert_int_equal(mt_optimizer_state(o, 3, 0, NULL, NULL), MT_E_STATE);
      assert_non_null(strstr(mt_last_error(), "no state"));
    }
    MT_ASSERT_OK(mt_optimizer_create_state(o, 3, "fc_weight", w));
    for (int k = 0; k < cases[c].n; k++) {
      const char *sn;
      mt_ndarray *st;
      MT_ASSERT_OK(mt_optimizer_state(o, 3, k, &sn, &st));
      assert_string_equal(sn, cases[c].names[k]);
      mt_shape shape = mt_ndarray_shape(st);
      mt_shape want = MT_SHAPE(4, 5);
      assert_true(mt_shape_equal(&shape, &want));
      assert_true(((uintptr_t)mt_ndarray_data(st) & 63) == 0);
      for (int i = 0; i < 20; i++) assert_true(st->data[i] == 0.0f);
    }
    assert_int_equal(mt_optimizer_state(o, 3, cases[c].n, NULL, NULL), MT_E_INVAL);
    /* create_state counts nothing */
    assert_int_equal(mt_optimizer_num_update(o), 0);
    mt_optimizer_free(o);
  }
  mt_ndarray_free(w);
}

/* A checkpoint: counts and states of optimizer A copied into a fresh B (with
 * a fresh scheduler); both then continue bit-for-bit. Parameter 1 skips a
 * step so the counts differ. */
static void test_checkpoint_restore(void **state) {
  (void)state;
  const char *cases[][2] = {
      {"sgd", "learning_rate=0.1 momentum=0.9 wd=0.01 rescale_grad=0.03125 clip_gradient=1"},
      {"nag", "learning_rate=0.1 momentum=0.9 wd=0.01 rescale_grad=0.03125"},
      {"adam", "learning_rate=0.01 wd=0.01 rescale_grad=0.03125 begin_num_update=2"},
      {"rmsprop", "learning_rate=0.01 centered=1 rescale_grad=0.03125 clip_weights=2"},
      {"adagrad", "learning_rate=0.1 wd=0.01 rescale_grad=0.03125"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    rig a;
    rig_setup(&a, cases[c][0], cases[c][1]);
    mt_lr_scheduler *sa, *sb;
    MT_ASSERT_OK(mt_lr_scheduler_create("factor step=2 factor=0.7", 0.1, &sa));
    MT_ASSERT_OK(mt_optimizer_set_lr_scheduler(a.opt, sa));
    for (int s = 0; s < 5; s++) {
      rig_grads(&a, s);
      for (int p = 0; p < 2; p++)
        if (!(p == 1 && s == 2))
          MT_ASSERT_OK(mt_optimizer_update(a.opt, p, pnames[p], a.w[p], a.g[p]));
    }
    /* restore into b */
    rig b;
    rig_setup(&b, cases[c][0], cases[c][1]);
    MT_ASSERT_OK(mt_lr_scheduler_create("factor step=2 factor=0.7", 0.1, &sb));
    MT_ASSERT_OK(mt_optimizer_set_lr_scheduler(b.opt, sb));
    int bound = mt_optimizer_index_bound(a.opt);
    assert_int_equal(bound, 2);
    for (int p = 0; p < bound; p++) {
      memcpy(b.w[p]->data, a.w[p]->data, sizeof(float) * (size_t)psize[p]);
      MT_ASSERT_OK(mt_optimizer_create_state(b.opt, p, mt_optimizer_index_name(a.opt, p), b.w[p]));
      for (int k = 0; k < mt_optimizer_num_states(a.opt, p); k++) {
        const char *na, *nb;
        mt_ndarray *xa, *xb;
        MT_ASSERT_OK(mt_optimizer_state(a.opt, p, k, &na, &xa));
        MT_ASSERT_OK(mt_optimizer_state(b.opt, p, k, &nb, &xb));
        assert_string_equal(na, nb);
        MT_ASSERT_OK(mt_ndarray_copy(xb, xa));
      }
      int64_t cnt;
      MT_ASSERT_OK(mt_optimizer_get_update_count(a.opt, p, &cnt));
      MT_ASSERT_OK(mt_optimizer_set_update_count(b.opt, p, cnt));
    }
    int64_t c1;
    MT_ASSERT_OK(mt_optimizer_get_update_count(a.opt, 1, &c1));
    int begin = strstr(cases[c][1], "begin_num_update=2") ? 2 : 0;
    assert_int_equal(c1, begin + 4);
    assert_int_equal(mt_optimizer_num_update(b.opt), mt_optimizer_num_update(a.opt));
    assert_int_equal(mt_optimizer_num_update(a.opt), begin + 5);
    for (int s = 5; s < 9; s++) {
      rig_grads(&a, s);
      rig_grads(&b, s);
      for (int p = 0; p < 2; p++) {
        MT_ASSERT_OK(mt_optimizer_update(a.opt, p, pnames[p], a.w[p], a.g[p]));
        MT_ASSERT_OK(mt_optimizer_update(b.opt, p, pnames[p], b.w[p], b.g[p]));
        if (memcmp(a.w[p]->data, b.w[p]->data, sizeof(float) * (size_t)psize[p]))
          fail_msg("%s: %s differs after restore at step %d", cases[c][0], pnames[p], s);
        for (int k = 0; k < mt_optimizer_num_states(a.opt, p); k++) {
          mt_ndarray *xa, *xb;
          MT_ASSERT_OK(mt_optimizer_state(a.opt, p, k, NULL, &xa));
          MT_ASSERT_OK(mt_optimizer_state(b.opt, p, k, NULL, &xb));
          assert_memory_equal(xa->data, xb->data, sizeof(float) * (size_t)psize[p]);
        }
      }
    }
    /* the weights did move, so the comparison was not vacuous */
    assert_true(a.w[0]->data[0] != weight0(0, 0));
    rig_free(&a);
    rig_free(&b);
  }
}

/* MXNet's kernels in float, term by term (optimizer_op-inl.h): the
 * implementation must reproduce them exactly, not just to tolerance. */
static void test_mxnet_float_order(void **state) {
  (void)state;
  /* sgd with momentum: MultiSGDKernel; adam: AdamUpdateKernel */
  rig r;
  rig_setup(&r, "sgd", "learning_rate=0.1 momentum=0.9 wd=0.01 rescale_grad=0.03125");
  float w[NW], m[NW] = {0};
  memcpy(w, r.w[0]->data, sizeof w);
  const float lr = 0.1f, wd = 0.01f, mom = 0.9f, rs = 0.03125f;
  for (int s = 0; s < 4; s++) {
    rig_grads(&r, s);
    MT_ASSERT_OK(mt_optimizer_update(r.opt, 0, pnames[0], r.w[0], r.g[0]));
    for (int i = 0; i < NW; i++) {
      m[i] = mom * m[i] - lr * wd * w[i] - lr * rs * r.g[0]->data[i];
      w[i] = w[i] + m[i];
    }
    assert_memory_equal(w, r.w[0]->data, sizeof w);
  }
  rig_free(&r);

  rig_setup(&r, "adam", "learning_rate=0.01 wd=0.01 rescale_grad=0.03125");
  float mean[NW] = {0}, var[NW] = {0};
  memcpy(w, r.w[0]->data, sizeof w);
  for (int s = 0; s < 4; s++) {
    rig_grads(&r, s);
    MT_ASSERT_OK(mt_optimizer_update(r.opt, 0, pnames[0], r.w[0], r.g[0]));
    double t = s + 1;
    float lrt = (float)(0.01 * (sqrt(1. - pow(0.999, t)) / (1. - pow(0.9, t))));
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    for (int i = 0; i < NW; i++) {
      float gr = r.g[0]->data[i] * rs + w[i] * wd;
      mean[i] = b1 * mean[i] + (1.f - b1) * gr;
      var[i] = b2 * var[i] + (1.f - b2) * gr * gr;
      w[i] = w[i] - lrt * mean[i] / (sqrtf(var[i]) + eps);
    }
    assert_memory_equal(w, r.w[0]->data, sizeof w);
  }
  rig_free(&r);
}

static void expect_inval(const char *name, const char *params, const char *needle) {
  mt_optimizer *o = (mt_optimizer *)1;
  int rc = mt_optimizer_create(name, params, &o);
  if (rc != MT_E_INVAL)
    fail_msg("create('%s', '%s') returned %d, expected MT_E_INVAL", name, params, rc);
  assert_null(o);
  if (!strstr(mt_last_error(), needle))
    fail_msg("create('%s', '%s'): message '%s' does not name '%s'", name, params, mt_last_error(),
             needle);
}

static void test_errors(void **state) {
  (void)state;
  expect_inval("sgdx", "", "sgdx");
  expect_inval("sgd", "momentum=0.9 beta1=0.9", "beta1");
  expect_inval("adam", "momentum=0.9", "momentum");
  expect_inval("nag", "lazy_update=true", "lazy_update");
  expect_inval("rmsprop", "eps=1e-3", "eps");
  expect_inval("adagrad", "epsilon=1e-3", "epsilon");
  expect_inval("sgd", "learning_rate=fast", "learning_rate");
  expect_inval("sgd", "momentum=nan", "momentum");
  expect_inval("rmsprop", "centered=maybe", "centered");
  expect_inval("sgd", "lr_scheduler=factor", "lr_scheduler");
  expect_inval("sgd", "begin_num_update=-1", "begin_num_update");
  expect_inval("sgd", "momentum", "momentum");
  /* accepted spellings */
  mt_optimizer *o;
  MT_ASSERT_OK(mt_optimizer_create("RMSProp",
                                   "clip_weights=None clip_gradient=None "
                                   "multi_precision=False",
                                   &o));
  assert_true(fabs(mt_optimizer_learning_rate(o) - 0.001) < 1e-15);
  assert_string_equal(mt_optimizer_name(o), "rmsprop");
  mt_optimizer_free(o);
  MT_ASSERT_OK(mt_optimizer_create("sgd", NULL, &o));
  assert_true(fabs(mt_optimizer_learning_rate(o) - 0.01) < 1e-15);
  mt_optimizer_set_rescale_grad(o, 0.25);
  assert_true(mt_optimizer_rescale_grad(o) == 0.25);

  /* update-time errors */
  mt_ndarray *w, *g, *g2;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(2, 3), mt_cpu(0), &w));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(2, 3), mt_cpu(0), &g));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(5), mt_cpu(0), &g2));
  assert_int_equal(mt_optimizer_update(o, -1, "a_weight", w, g), MT_E_INVAL);
  assert_int_equal(mt_optimizer_update(o, 0, "a_weight", w, g2), MT_E_SHAPE);
  MT_ASSERT_OK(mt_optimizer_update(o, 0, "a_weight", w, g));
  assert_int_equal(mt_optimizer_update(o, 0, "b_weight", w, g), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "a_weight"));
  MT_ASSERT_OK(mt_optimizer_update(o, 0, NULL, w, g)); /* NULL keeps the bound name */
  assert_int_equal(mt_optimizer_set_update_count(o, 0, -3), MT_E_INVAL);
  mt_optimizer_free(o);

  /* a state made for another size */
  MT_ASSERT_OK(mt_optimizer_create("adam", "", &o));
  MT_ASSERT_OK(mt_optimizer_update(o, 0, "a_weight", w, g));
  assert_int_equal(mt_optimizer_update(o, 0, "a_weight", g2, g2), MT_E_SHAPE);
  /* weight and gradient on different devices (no array is touched); a GPU
   * weight in a build without CUDA (with CUDA, test_gpu_ops runs adam on
   * gpu(0): these views are host memory) */
  mt_ndarray gpu;
  mt_ndarray_init_view(&gpu, w->data, MT_SHAPE(2, 3), mt_gpu(0));
  assert_int_equal(mt_optimizer_update(o, 1, "b_weight", &gpu, g), MT_E_INVAL);
#ifndef MT_HAVE_CUDA
  mt_ndarray gpug;
  mt_ndarray_init_view(&gpug, g->data, MT_SHAPE(2, 3), mt_gpu(0));
  assert_int_equal(mt_optimizer_update(o, 1, "b_weight", &gpu, &gpug), MT_E_UNSUPPORTED);
#endif
  mt_optimizer_free(o);
  mt_ndarray_free(w);
  mt_ndarray_free(g);
  mt_ndarray_free(g2);
  mt_optimizer_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sgd_plain),
      cmocka_unit_test(test_sgd_momentum_clip),
      cmocka_unit_test(test_sgd_clip_no_momentum),
      cmocka_unit_test(test_sgd_clip_zero_is_off),
      cmocka_unit_test(test_nag),
      cmocka_unit_test(test_nag_matches_classic_nesterov),
      cmocka_unit_test(test_nag_no_momentum),
      cmocka_unit_test(test_adam),
      cmocka_unit_test(test_adam_bias_correction_per_index),
      cmocka_unit_test(test_rmsprop_plain),
      cmocka_unit_test(test_rmsprop_centered),
      cmocka_unit_test(test_adagrad),
      cmocka_unit_test(test_adagrad_clip_zero),
      cmocka_unit_test(test_scheduler_drives_lr),
      cmocka_unit_test(test_wd_mult_rule),
      cmocka_unit_test(test_state_enumeration),
      cmocka_unit_test(test_checkpoint_restore),
      cmocka_unit_test(test_mxnet_float_order),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
