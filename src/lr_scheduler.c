/* lr_scheduler.c — MXNet 1.x's learning-rate schedulers (python/mxnet/
 * lr_scheduler.py): FactorScheduler, MultiFactorScheduler, PolyScheduler and
 * CosineScheduler, each with linear or constant warmup. The arithmetic is
 * MXNet's, in double and in the same order, so the rates are the same doubles.
 *
 * State follows MXNet: base_lr is mutable (the optimizer overwrites it when
 * the scheduler is installed, factor/multifactor decay it in place);
 * warmup_final_lr and poly/cosine's base_lr_orig are fixed at creation. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "attrs.h"
#include "base/error.h"
#include "optimizer.h"

#define MT_PI 3.141592653589793 /* Python's math.pi */

typedef enum { SCHED_FACTOR, SCHED_MULTIFACTOR, SCHED_POLY, SCHED_COSINE } sched_kind;
static const char *const sched_names[] = {"factor", "multifactor", "poly", "cosine"};
static const char *const sched_classes[] = {"FactorScheduler", "MultiFactorScheduler",
                                            "PolyScheduler", "CosineScheduler"};

struct mt_lr_scheduler {
  sched_kind kind;
  double base_lr; /* mutable, as MXNet's self.base_lr */
  int64_t warmup_steps;
  double warmup_begin_lr;
  double warmup_final_lr; /* base_lr at creation */
  int warmup_constant;    /* warmup_mode: 0 linear, 1 constant */
  /* factor */
  int64_t step;
  double factor, stop_factor_lr;
  int64_t count;
  /* multifactor: steps[nsteps], strictly increasing */
  int64_t *steps;
  int nsteps, cur_step_ind;
  /* poly / cosine */
  int64_t max_update, max_steps; /* max_steps = max_update - warmup_steps */
  double pwr, final_lr, base_lr_orig;
};

/* Errors if a key is not in `known` (NULL-terminated), listing those accepted. */
static int check_keys(const mt_attrs *a, const char *kind, const char *const *known) {
  for (int i = 0; i < a->n; i++) {
    int ok = 0;
    for (int j = 0; known[j]; j++)
      if (!strcmp(a->keys[i], known[j])) ok = 1;
    if (ok) continue;
    char list[512] = "";
    for (int j = 0; known[j]; j++) {
      if (j) strncat(list, ", ", sizeof list - strlen(list) - 1);
      strncat(list, known[j], sizeof list - strlen(list) - 1);
    }
    return MT_ERR(MT_E_INVAL, "lr_scheduler '%s': unknown parameter '%s' (accepted: %s)", kind,
                  a->keys[i], list);
  }
  return MT_OK;
}

/* "100,200,300" -> strictly increasing steps, each >= 1 (MXNet's checks). */
static int parse_steps(const char *kind, const char *v, mt_lr_scheduler *s) {
  int cap = 1;
  for (const char *p = v; *p; p++)
    if (*p == ',') cap++;
  s->steps = malloc(sizeof(int64_t) * (size_t)cap);
  if (!s->steps) return MT_NOMEM();
  const char *p = v;
  for (int i = 0; i < cap; i++) {
    char *end;
    long long x = strtoll(p, &end, 10);
    if (end == p || (*end != ',' && *end != '\0'))
      return MT_ERR(MT_E_INVAL,
                    "lr_scheduler '%s': step='%s' is not a comma-separated list of "
                    "integers",
                    kind, v);
    if (x < 1)
      return MT_ERR(MT_E_INVAL,
                    "lr_scheduler '%s': step='%s': Schedule step must be greater or "
                    "equal than 1 round",
                    kind, v);
    if (i > 0 && x <= s->steps[i - 1])
      return MT_ERR(MT_E_INVAL,
                    "lr_scheduler '%s': step='%s': Schedule step must be an "
                    "increasing integer list",
                    kind, v);
    s->steps[i] = x;
    p = end + 1;
  }
  s->nsteps = cap;
  return MT_OK;
}

static int parse_spec(const char *spec, double base_lr, mt_lr_scheduler *s) {
  /* the kind: the first word */
  while (*spec && isspace((unsigned char)*spec)) spec++;
  size_t len = 0;
  while (spec[len] && !isspace((unsigned char)spec[len])) len++;
  if (len == 0)
    return MT_ERR(MT_E_INVAL,
                  "lr_scheduler: empty spec (expected factor, "
                  "multifactor, poly or cosine, then key=value pairs)");
  int kind = -1;
  for (int i = 0; i < 4; i++)
    if ((strlen(sched_names[i]) == len && !strncasecmp(spec, sched_names[i], len)) ||
        (strlen(sched_classes[i]) == len && !strncasecmp(spec, sched_classes[i], len)))
      kind = i;
  if (kind < 0)
    return MT_ERR(MT_E_INVAL,
                  "lr_scheduler: unknown scheduler '%.*s' (expected factor, "
                  "multifactor, poly or cosine)",
                  (int)len, spec);
  s->kind = (sched_kind)kind;
  const char *kn = sched_names[kind];

  mt_attrs a;
  int rc = mt_attrs_parse(spec + len, &a);
  if (rc < 0) return mt_error_prefix(rc, "lr_scheduler '%s'", kn);
  static const char *const k_factor[] = {
      "step", "factor", "stop_factor_lr", "warmup_steps", "warmup_begin_lr", "warmup_mode", NULL};
  static const char *const k_multi[] = {"step",        "factor", "warmup_steps", "warmup_begin_lr",
                                        "warmup_mode", NULL};
  static const char *const k_poly[] = {"max_update",      "pwr",         "final_lr", "warmup_steps",
                                       "warmup_begin_lr", "warmup_mode", NULL};
  static const char *const k_cosine[] = {"max_update",      "final_lr",    "warmup_steps",
                                         "warmup_begin_lr", "warmup_mode", NULL};
  static const char *const *const known[] = {k_factor, k_multi, k_poly, k_cosine};
  static const char *const modes[] = {"linear", "constant", NULL};
  const char *op = "lr_scheduler";
  MT_TRY_GOTO(check_keys(&a, kn, known[kind]), rc, done);

  /* LRScheduler.__init__ */
  s->base_lr = base_lr;
  s->warmup_final_lr = base_lr;
  MT_TRY_GOTO(mt_attr_int(&a, op, kn, "warmup_steps", 0, &s->warmup_steps), rc, done);
  MT_TRY_GOTO(mt_attr_float(&a, op, kn, "warmup_begin_lr", 0.0, &s->warmup_begin_lr), rc, done);
  MT_TRY_GOTO(mt_attr_enum(&a, op, kn, "warmup_mode", modes, 0, &s->warmup_constant), rc, done);
  if (s->warmup_begin_lr > s->warmup_final_lr) {
    rc = MT_ERR(MT_E_INVAL,
                "lr_scheduler '%s': warmup_begin_lr=%g: Base lr has to be higher "
                "than warmup_begin_lr (base_lr %g)",
                kn, s->warmup_begin_lr, base_lr);
    goto done;
  }
  if (s->warmup_steps < 0) {
    rc = MT_ERR(MT_E_INVAL,
                "lr_scheduler '%s': warmup_steps=%lld: Warmup steps has to be "
                "positive or 0",
                kn, (long long)s->warmup_steps);
    goto done;
  }

  switch (s->kind) {
  case SCHED_FACTOR:
    if (!mt_attrs_get(&a, "step")) {
      rc = MT_ERR(MT_E_INVAL, "lr_scheduler 'factor': required parameter 'step' is missing");
      goto done;
    }
    MT_TRY_GOTO(mt_attr_int(&a, op, kn, "step", 0, &s->step), rc, done);
    MT_TRY_GOTO(mt_attr_float(&a, op, kn, "factor", 1.0, &s->factor), rc, done);
    MT_TRY_GOTO(mt_attr_float(&a, op, kn, "stop_factor_lr", 1e-8, &s->stop_factor_lr), rc, done);
    if (s->step < 1) {
      rc = MT_ERR(MT_E_INVAL,
                  "lr_scheduler 'factor': step=%lld: Schedule step must be greater "
                  "or equal than 1 round",
                  (long long)s->step);
      goto done;
    }
    break;
  case SCHED_MULTIFACTOR: {
    const char *v = mt_attrs_get(&a, "step");
    if (!v) {
      rc = MT_ERR(MT_E_INVAL,
                  "lr_scheduler 'multifactor': required parameter 'step' is missing "
                  "(a list such as step=100,200)");
      goto done;
    }
    MT_TRY_GOTO(parse_steps(kn, v, s), rc, done);
    MT_TRY_GOTO(mt_attr_float(&a, op, kn, "factor", 1.0, &s->factor), rc, done);
    break;
  }
  case SCHED_POLY:
  case SCHED_COSINE:
    if (!mt_attrs_get(&a, "max_update")) {
      rc = MT_ERR(MT_E_INVAL, "lr_scheduler '%s': required parameter 'max_update' is missing", kn);
      goto done;
    }
    MT_TRY_GOTO(mt_attr_int(&a, op, kn, "max_update", 0, &s->max_update), rc, done);
    MT_TRY_GOTO(mt_attr_float(&a, op, kn, "pwr", 2.0, &s->pwr), rc, done);
    MT_TRY_GOTO(mt_attr_float(&a, op, kn, "final_lr", 0.0, &s->final_lr), rc, done);
    if (s->max_update < 1) {
      rc = MT_ERR(MT_E_INVAL,
                  "lr_scheduler '%s': max_update=%lld: maximum number of updates "
                  "must be strictly positive",
                  kn, (long long)s->max_update);
      goto done;
    }
    if (s->warmup_steps >= s->max_update) {
      rc = MT_ERR(MT_E_INVAL,
                  "lr_scheduler '%s': warmup_steps=%lld must be less than "
                  "max_update=%lld",
                  kn, (long long)s->warmup_steps, (long long)s->max_update);
      goto done;
    }
    s->base_lr_orig = base_lr;
    s->max_steps = s->max_update - s->warmup_steps;
    break;
  }
  if ((s->kind == SCHED_FACTOR || s->kind == SCHED_MULTIFACTOR) && s->factor > 1.0) {
    rc = MT_ERR(MT_E_INVAL,
                "lr_scheduler '%s': factor=%g: Factor must be no more than 1 to make "
                "lr reduce",
                kn, s->factor);
    goto done;
  }
  rc = MT_OK;
done:
  mt_attrs_free(&a);
  return rc;
}

int mt_lr_scheduler_create(const char *spec, double base_lr, mt_lr_scheduler **out) {
  if (!out) return MT_ERR(MT_E_INVAL, "mt_lr_scheduler_create: out is NULL");
  *out = NULL;
  if (!spec) return MT_ERR(MT_E_INVAL, "mt_lr_scheduler_create: spec is NULL");
  if (!isfinite(base_lr))
    return MT_ERR(MT_E_INVAL, "lr_scheduler: base_lr=%g is not a finite number", base_lr);
  mt_lr_scheduler *s = calloc(1, sizeof *s);
  if (!s) return MT_NOMEM();
  int rc = parse_spec(spec, base_lr, s);
  if (rc < 0) {
    mt_lr_scheduler_free(s);
    return rc;
  }
  *out = s;
  return MT_OK;
}

void mt_lr_scheduler_free(mt_lr_scheduler *s) {
  if (!s) return;
  free(s->steps);
  free(s);
}

double mt_lr_scheduler_base_lr(const mt_lr_scheduler *s) { return s ? s->base_lr : 0.0; }

void mt_lr_scheduler_set_base_lr(mt_lr_scheduler *s, double base_lr) { s->base_lr = base_lr; }

/* LRScheduler.get_warmup_lr, for num_update < warmup_steps. */
static double warmup_lr(const mt_lr_scheduler *s, int64_t n) {
  if (s->warmup_constant) return s->warmup_begin_lr;
  double increase = (s->warmup_final_lr - s->warmup_begin_lr) * (double)n / (double)s->warmup_steps;
  return s->warmup_begin_lr + increase;
}

double mt_lr_scheduler_lr(mt_lr_scheduler *s, int64_t n) {
  if (n < s->warmup_steps) return warmup_lr(s, n);
  switch (s->kind) {
  case SCHED_FACTOR:
    /* while, not if: catches up after a resume (MXNet's note). Once a step
     * no longer changes the rate (stop_factor_lr reached, factor 1), the
     * remaining steps are counted at once: a num_update of 2^53 (a large
     * begin_num_update) takes a few hundred steps, not 2^53. n - count
     * cannot overflow (both in [0, 2^63)); count + step could. */
    while (n - s->count > s->step) {
      double next = s->base_lr * s->factor;
      if (next < s->stop_factor_lr) next = s->stop_factor_lr;
      if (next == s->base_lr) {
        s->count += (n - s->count - 1) / s->step * s->step;
        break;
      }
      s->count += s->step;
      s->base_lr = next;
    }
    return s->base_lr;
  case SCHED_MULTIFACTOR:
    while (s->cur_step_ind <= s->nsteps - 1) {
      if (n > s->steps[s->cur_step_ind]) {
        s->count = s->steps[s->cur_step_ind];
        s->cur_step_ind++;
        s->base_lr *= s->factor;
      } else {
        return s->base_lr;
      }
    }
    return s->base_lr;
  case SCHED_POLY: {
    /* MXNet recomputes only while n <= max_update and keeps the last value
     * after; evaluating at min(n, max_update) gives that value without
     * depending on having been called at max_update. */
    int64_t m = n < s->max_update ? n : s->max_update;
    s->base_lr =
        s->final_lr + (s->base_lr_orig - s->final_lr) *
                          pow(1 - (double)(m - s->warmup_steps) / (double)s->max_steps, s->pwr);
    return s->base_lr;
  }
  case SCHED_COSINE: {
    int64_t m = n < s->max_update ? n : s->max_update;
    s->base_lr = s->final_lr +
                 (s->base_lr_orig - s->final_lr) *
                     (1 + cos(MT_PI * (double)(m - s->warmup_steps) / (double)s->max_steps)) / 2;
    return s->base_lr;
  }
  }
  return s->base_lr;
}
