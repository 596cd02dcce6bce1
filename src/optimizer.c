/* optimizer.c — MXNet 1.x's optimizers (python/mxnet/optimizer/optimizer.py):
 * SGD, NAG, Adam, RMSProp (plain and centered) and AdaGrad, with the base
 * class's bookkeeping: per-index update counts (_update_count), num_update as
 * their maximum, lr from the scheduler at num_update times lr_mult, wd times
 * wd_mult (0 by default for names not ending in _weight / _gamma), and state
 * created on a parameter's first update (create_state). The element loops
 * are the kernels of kernels/cpu/optimizer.c; this file decides which kernel
 * runs with which scalars, as the Python classes do:
 *
 *   sgd      momentum > 0: multi_sgd_mom_update, else multi_sgd_update (the
 *            aggregated kernels MXNet 1.5+ runs for dense arrays); the
 *            momentum buffer exists when momentum != 0.
 *   nag      momentum != 0: nag_mom_update (momentum passed only if > 0),
 *            else sgd_update.
 *   adam     adam_update with lr * sqrt(1 - beta2^t) / (1 - beta1^t), t the
 *            index's own update count.
 *   rmsprop  rmsprop_update, or rmspropalex_update when centered.
 *   adagrad  the dense NDArray sequence of AdaGrad.update.
 *
 * Scalars are computed in double (Python floats) and handed to the kernels
 * as float (MXNet's operator parameters are float). clip_gradient and
 * clip_weights reach the kernels only when "truthy" (given and non-zero), as
 * `if self.clip_gradient:` does; AdaGrad clips whenever clip_gradient is given
 * (`is not None`, so 0 zeroes the gradient, as in MXNet). A negative bound
 * turns clipping off everywhere (MXNet's kernels do that; its AdaGrad would
 * clip into an inverted box). GPU parameters run the CUDA mirrors of the
 * same kernels (kernels/cuda/optimizer.cu) with the same scalars. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "attrs.h"
#include "base/error.h"
#include "kernels/kernels.h"
#include "ndarray.h"
#include "optimizer.h"

#define MT_OPT_MAX_INDEX (1 << 24) /* indices are dense; this bounds the table */
#define MT_OPT_MAX_STATES 3

typedef enum { OPT_SGD, OPT_NAG, OPT_ADAM, OPT_RMSPROP, OPT_ADAGRAD, OPT_NKINDS } opt_kind;
static const char *const opt_names[OPT_NKINDS] = {"sgd", "nag", "adam", "rmsprop", "adagrad"};

/* One parameter (one updater index). */
typedef struct {
  char *name;  /* bound on first use with a name; NULL if none yet */
  int counted; /* index present in MXNet's _index_update_count */
  int64_t count;
  double lr_mult, wd_mult;
  int has_state;
  int64_t size; /* elements of the weight the state was made for */
  mt_context ctx;
  float *buf;                           /* all states in one allocation, each 64-byte aligned */
  int placed;                           /* buf is the caller's (mt_optimizer_place_state) */
  mt_ndarray states[MT_OPT_MAX_STATES]; /* views into buf, weight's shape */
  struct step_args {                    /* the current step's (begin_step) */
    double lr, wd;
    float clip, rescale;
  } args;
} opt_param;

/* A multiplier set by name before or after the parameter appeared. */
typedef struct {
  char *name;
  int has_lr, has_wd;
  double lr_mult, wd_mult;
} opt_mult;

struct mt_optimizer {
  opt_kind kind;
  /* Optimizer base */
  double lr, wd, rescale_grad;
  int has_clip;
  double clip_gradient;
  int64_t begin_num_update;
  int multi_precision;
  /* per kind */
  double momentum;              /* sgd, nag */
  int lazy_update;              /* sgd, adam */
  double beta1, beta2, epsilon; /* adam; epsilon also rmsprop */
  double gamma1, gamma2;        /* rmsprop */
  int centered, has_clip_weights;
  double clip_weights;
  double eps; /* adagrad's float_stable_eps */
  int nstates;
  const char *state_names[MT_OPT_MAX_STATES];
  mt_lr_scheduler *sched;
  int64_t num_update;
  opt_param **params; /* [cap], NULL where an index is unused */
  int nparams, cap;   /* nparams: one past the highest index seen */
  opt_mult *mults;
  int nmults;
};

/* ------------------------------------------------------------ creation */

static const char *const k_common[] = {
    "learning_rate",   "wd", "rescale_grad", "clip_gradient", "begin_num_update",
    "multi_precision", NULL};
static const char *const k_sgd[] = {"momentum", "lazy_update", NULL};
static const char *const k_nag[] = {"momentum", NULL};
static const char *const k_adam[] = {"beta1", "beta2", "epsilon", "lazy_update", NULL};
static const char *const k_rmsprop[] = {"gamma1",   "gamma2",       "epsilon",
                                        "centered", "clip_weights", NULL};
static const char *const k_adagrad[] = {"eps", NULL};
static const char *const *const k_kind[OPT_NKINDS] = {k_sgd, k_nag, k_adam, k_rmsprop, k_adagrad};

static int in_list(const char *key, const char *const *list) {
  for (int i = 0; list[i]; i++)
    if (!strcmp(key, list[i])) return 1;
  return 0;
}

static int check_keys(const mt_attrs *a, opt_kind kind) {
  const char *kn = opt_names[kind];
  for (int i = 0; i < a->n; i++) {
    const char *k = a->keys[i];
    if (in_list(k, k_common) || in_list(k, k_kind[kind])) continue;
    if (!strcmp(k, "lr_scheduler"))
      return MT_ERR(MT_E_INVAL,
                    "optimizer '%s': parameter 'lr_scheduler' is not a value; install "
                    "one with mt_optimizer_set_lr_scheduler (config: [train] lr_scheduler)",
                    kn);
    if (!strcmp(k, "param_idx2name") || !strcmp(k, "sym") || !strcmp(k, "param_dict"))
      return MT_ERR(MT_E_INVAL,
                    "optimizer '%s': parameter '%s' is not a value; names are given "
                    "to mt_optimizer_update and multipliers to mt_optimizer_set_lr_mult/_wd_mult",
                    kn, k);
    char list[512] = "";
    const char *const *lists[2] = {k_common, k_kind[kind]};
    for (int l = 0; l < 2; l++)
      for (int j = 0; lists[l][j]; j++) {
        if (list[0]) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, lists[l][j], sizeof list - strlen(list) - 1);
      }
    return MT_ERR(MT_E_INVAL, "optimizer '%s': unknown parameter '%s' (accepted: %s)", kn, k, list);
  }
  return MT_OK;
}

/* An optional bound: absent or "None" -> not given. */
static int parse_optional(const mt_attrs *a, const char *kn, const char *key, int *given,
                          double *out) {
  const char *v = mt_attrs_get(a, key);
  *given = 0;
  *out = 0.0;
  if (!v || !strcmp(v, "None") || !strcmp(v, "none")) return MT_OK;
  *given = 1;
  return mt_attr_float(a, "optimizer", kn, key, 0.0, out);
}

static int parse_params(mt_optimizer *o, const char *params) {
  const char *kn = opt_names[o->kind];
  const char *op = "optimizer";
  mt_attrs a;
  int rc = mt_attrs_parse(params, &a);
  if (rc < 0) return mt_error_prefix(rc, "optimizer '%s'", kn);
  MT_TRY_GOTO(check_keys(&a, o->kind), rc, done);

  /* defaults of each class's __init__ */
  double def_lr = (o->kind == OPT_ADAM || o->kind == OPT_RMSPROP) ? 0.001 : 0.01;
  MT_TRY_GOTO(mt_attr_float(&a, op, kn, "learning_rate", def_lr, &o->lr), rc, done);
  MT_TRY_GOTO(mt_attr_float(&a, op, kn, "wd", 0.0, &o->wd), rc, done);
  MT_TRY_GOTO(mt_attr_float(&a, op, kn, "rescale_grad", 1.0, &o->rescale_grad), rc, done);
  MT_TRY_GOTO(parse_optional(&a, kn, "clip_gradient", &o->has_clip, &o->clip_gradient), rc, done);
  MT_TRY_GOTO(mt_attr_int(&a, op, kn, "begin_num_update", 0, &o->begin_num_update), rc, done);
  if (o->begin_num_update < 0 || o->begin_num_update > MT_MAX_NUM_UPDATE) {
    rc = MT_ERR(MT_E_INVAL,
                "optimizer '%s': begin_num_update=%s is out of range [0, %lld] (update counts "
                "stop at 2^53, where doubles stop counting exactly)",
                kn, mt_attrs_get(&a, "begin_num_update"), (long long)MT_MAX_NUM_UPDATE);
    goto done;
  }
  MT_TRY_GOTO(mt_attr_bool(&a, op, kn, "multi_precision", 0, &o->multi_precision), rc, done);
  MT_TRY_GOTO(mt_attr_float(&a, op, kn, "momentum", 0.0, &o->momentum), rc, done);
  MT_TRY_GOTO(mt_attr_bool(&a, op, kn, "lazy_update", 1, &o->lazy_update), rc, done);
  MT_TRY_GOTO(mt_attr_float(&a, op, kn, "beta1", 0.9, &o->beta1), rc, done);
  MT_TRY_GOTO(mt_attr_float(&a, op, kn, "beta2", 0.999, &o->beta2), rc, done);
  MT_TRY_GOTO(mt_attr_float(&a, op, kn, "epsilon", 1e-8, &o->epsilon), rc, done);
  MT_TRY_GOTO(mt_attr_float(&a, op, kn, "gamma1", 0.9, &o->gamma1), rc, done);
  MT_TRY_GOTO(mt_attr_float(&a, op, kn, "gamma2", 0.9, &o->gamma2), rc, done);
  MT_TRY_GOTO(mt_attr_bool(&a, op, kn, "centered", 0, &o->centered), rc, done);
  MT_TRY_GOTO(parse_optional(&a, kn, "clip_weights", &o->has_clip_weights, &o->clip_weights), rc,
              done);
  MT_TRY_GOTO(mt_attr_float(&a, op, kn, "eps", 1e-7, &o->eps), rc, done);
  rc = MT_OK;
done:
  mt_attrs_free(&a);
  return rc;
}

int mt_optimizer_create(const char *name, const char *params, mt_optimizer **out) {
  if (!out) return MT_ERR(MT_E_INVAL, "mt_optimizer_create: out is NULL");
  *out = NULL;
  if (!name) return MT_ERR(MT_E_INVAL, "mt_optimizer_create: name is NULL");
  int kind = -1;
  for (int i = 0; i < OPT_NKINDS; i++)
    if (!strcasecmp(name, opt_names[i])) kind = i;
  if (kind < 0)
    return MT_ERR(MT_E_INVAL,
                  "Cannot find optimizer '%s' (available: sgd, nag, adam, rmsprop, "
                  "adagrad)",
                  name);
  mt_optimizer *o = calloc(1, sizeof *o);
  if (!o) return MT_NOMEM();
  o->kind = (opt_kind)kind;
  int rc = parse_params(o, params);
  if (rc < 0) {
    mt_optimizer_free(o);
    return rc;
  }
  o->num_update = o->begin_num_update;
  switch (o->kind) {
  case OPT_SGD:
  case OPT_NAG:
    if (o->momentum != 0.0) o->state_names[o->nstates++] = "momentum";
    break;
  case OPT_ADAM:
    o->state_names[o->nstates++] = "mean";
    o->state_names[o->nstates++] = "var";
    break;
  case OPT_RMSPROP:
    o->state_names[o->nstates++] = "n";
    if (o->centered) {
      o->state_names[o->nstates++] = "g";
      o->state_names[o->nstates++] = "delta";
    }
    break;
  case OPT_ADAGRAD: o->state_names[o->nstates++] = "history"; break;
  default: break;
  }
  *out = o;
  return MT_OK;
}

static void param_free(opt_param *p) {
  if (!p) return;
  if (p->buf && !p->placed) mt_device_free(p->ctx, p->buf);
  free(p->name);
  free(p);
}

void mt_optimizer_free(mt_optimizer *opt) {
  if (!opt) return;
  for (int i = 0; i < opt->nparams; i++) param_free(opt->params[i]);
  free(opt->params);
  for (int i = 0; i < opt->nmults; i++) free(opt->mults[i].name);
  free(opt->mults);
  mt_lr_scheduler_free(opt->sched);
  free(opt);
}

const char *mt_optimizer_name(const mt_optimizer *opt) { return opt ? opt_names[opt->kind] : ""; }

/* ------------------------------------------------------------ settings */

void mt_optimizer_set_rescale_grad(mt_optimizer *opt, double rescale_grad) {
  if (opt) opt->rescale_grad = rescale_grad;
}

double mt_optimizer_rescale_grad(const mt_optimizer *opt) { return opt ? opt->rescale_grad : 0.0; }

int mt_optimizer_set_learning_rate(mt_optimizer *opt, double lr) {
  if (!opt) return MT_ERR(MT_E_INVAL, "mt_optimizer_set_learning_rate: optimizer is NULL");
  if (opt->sched)
    return MT_ERR(MT_E_STATE,
                  "LRScheduler of the optimizer has already been defined. Note that "
                  "set_learning_rate can mutate the value of the learning rate of the optimizer "
                  "only when the LRScheduler of the optimizer is undefined.");
  opt->lr = lr;
  return MT_OK;
}

double mt_optimizer_learning_rate(mt_optimizer *opt) {
  if (!opt) return 0.0;
  return opt->sched ? mt_lr_scheduler_lr(opt->sched, opt->num_update) : opt->lr;
}

int mt_optimizer_set_lr_scheduler(mt_optimizer *opt, mt_lr_scheduler *sched) {
  if (!opt) {
    mt_lr_scheduler_free(sched);
    return MT_ERR(MT_E_INVAL, "mt_optimizer_set_lr_scheduler: optimizer is NULL");
  }
  if (opt->sched != sched) mt_lr_scheduler_free(opt->sched);
  opt->sched = sched;
  if (sched) mt_lr_scheduler_set_base_lr(sched, opt->lr);
  return MT_OK;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

/* Multipliers of a parameter named `name`: MXNet's set_wd_mult default,
 * then what was set by name. */
static void resolve_mults(const mt_optimizer *opt, opt_param *p) {
  p->lr_mult = 1.0;
  p->wd_mult = 1.0;
  if (!p->name) return;
  if (!(ends_with(p->name, "_weight") || ends_with(p->name, "_gamma"))) p->wd_mult = 0.0;
  for (int i = 0; i < opt->nmults; i++)
    if (!strcmp(opt->mults[i].name, p->name)) {
      if (opt->mults[i].has_lr) p->lr_mult = opt->mults[i].lr_mult;
      if (opt->mults[i].has_wd) p->wd_mult = opt->mults[i].wd_mult;
    }
}

static int set_mult(mt_optimizer *opt, const char *name, double mult, int is_wd) {
  if (!opt || !name)
    return MT_ERR(MT_E_INVAL, "mt_optimizer_set_%s_mult: optimizer or name is NULL",
                  is_wd ? "wd" : "lr");
  if (!isfinite(mult))
    return MT_ERR(MT_E_INVAL, "optimizer '%s': %s_mult for '%s' is not finite",
                  opt_names[opt->kind], is_wd ? "wd" : "lr", name);
  opt_mult *m = NULL;
  for (int i = 0; i < opt->nmults; i++)
    if (!strcmp(opt->mults[i].name, name)) m = &opt->mults[i];
  if (!m) {
    opt_mult *nm = realloc(opt->mults, sizeof *nm * (size_t)(opt->nmults + 1));
    if (!nm) return MT_NOMEM();
    opt->mults = nm;
    m = &opt->mults[opt->nmults];
    memset(m, 0, sizeof *m);
    m->name = strdup(name);
    if (!m->name) return MT_NOMEM();
    opt->nmults++;
  }
  if (is_wd) {
    m->has_wd = 1;
    m->wd_mult = mult;
  } else {
    m->has_lr = 1;
    m->lr_mult = mult;
  }
  for (int i = 0; i < opt->nparams; i++)
    if (opt->params[i] && opt->params[i]->name && !strcmp(opt->params[i]->name, name))
      resolve_mults(opt, opt->params[i]);
  return MT_OK;
}

int mt_optimizer_set_lr_mult(mt_optimizer *opt, const char *name, double mult) {
  return set_mult(opt, name, mult, 0);
}

int mt_optimizer_set_wd_mult(mt_optimizer *opt, const char *name, double mult) {
  return set_mult(opt, name, mult, 1);
}

/* ----------------------------------------------------------- parameters */

static int check_index(const mt_optimizer *opt, int index) {
  if (index < 0 || index >= MT_OPT_MAX_INDEX)
    return MT_ERR(MT_E_INVAL, "optimizer '%s': parameter index %d out of range [0, %d)",
                  opt_names[opt->kind], index, MT_OPT_MAX_INDEX);
  return MT_OK;
}

static opt_param *find_param(const mt_optimizer *opt, int index) {
  return (index >= 0 && index < opt->nparams) ? opt->params[index] : NULL;
}

/* The parameter of `index`, created if new; binds `name` when given. */
static int get_param(mt_optimizer *opt, int index, const char *name, opt_param **out) {
  MT_TRY(check_index(opt, index));
  if (index >= opt->cap) {
    int cap = opt->cap ? opt->cap : 16;
    while (cap <= index) cap *= 2;
    if (cap > MT_OPT_MAX_INDEX) cap = MT_OPT_MAX_INDEX;
    opt_param **np = realloc(opt->params, sizeof *np * (size_t)cap);
    if (!np) return MT_NOMEM();
    memset(np + opt->cap, 0, sizeof *np * (size_t)(cap - opt->cap));
    opt->params = np;
    opt->cap = cap;
  }
  opt_param *p = opt->params[index];
  if (!p) {
    p = calloc(1, sizeof *p);
    if (!p) return MT_NOMEM();
    p->lr_mult = p->wd_mult = 1.0;
    opt->params[index] = p;
    if (index >= opt->nparams) opt->nparams = index + 1;
  }
  if (name) {
    if (!p->name) {
      p->name = strdup(name);
      if (!p->name) return MT_NOMEM();
      resolve_mults(opt, p);
    } else if (strcmp(p->name, name)) {
      return MT_ERR(MT_E_INVAL, "optimizer '%s': index %d is parameter '%s', not '%s'",
                    opt_names[opt->kind], index, p->name, name);
    }
  }
  *out = p;
  return MT_OK;
}

/* Floats between two states of a parameter: 64-byte aligned views. */
static int64_t state_stride(int64_t size) { return (size + 15) & ~(int64_t)15; }

/* create_state: zero states shaped like `weight`, one allocation. */
static int ensure_state(mt_optimizer *opt, int index, opt_param *p, const mt_ndarray *weight) {
  if (p->has_state) {
    if (weight->size != p->size)
      return MT_ERR(MT_E_SHAPE,
                    "optimizer '%s': parameter %d%s%s%s has %lld elements, its state "
                    "was made for %lld",
                    opt_names[opt->kind], index, p->name ? " ('" : "", p->name ? p->name : "",
                    p->name ? "')" : "", (long long)weight->size, (long long)p->size);
    return MT_OK;
  }
  p->size = weight->size;
  p->ctx = weight->ctx;
  if (opt->nstates > 0) {
    int64_t stride = state_stride(weight->size);
    p->buf = mt_device_alloc(weight->ctx, stride * opt->nstates);
    if (!p->buf)
      return MT_ERR(MT_E_NOMEM,
                    "optimizer '%s': cannot allocate state of parameter %d (%lld "
                    "floats)",
                    opt_names[opt->kind], index, (long long)(stride * opt->nstates));
    if (weight->ctx.type != MT_CPU) /* device memory comes uninitialised */
      MT_TRY(mt_device_memset0(weight->ctx, p->buf, stride * opt->nstates));
    for (int k = 0; k < opt->nstates; k++)
      mt_ndarray_init_view(&p->states[k], p->buf + k * stride, weight->shape, weight->ctx);
  }
  p->has_state = 1;
  return MT_OK;
}

static int check_arrays(const mt_optimizer *opt, int index, const mt_ndarray *weight,
                        const mt_ndarray *grad) {
  const char *kn = opt_names[opt->kind];
  int gpu = weight->ctx.type == MT_GPU;
  if (grad && (grad->ctx.type != weight->ctx.type || (gpu && grad->ctx.id != weight->ctx.id)))
    return MT_ERR(MT_E_INVAL,
                  "optimizer '%s': parameter %d: weight and gradient on different devices", kn,
                  index);
#ifndef MT_HAVE_CUDA /* with CUDA every kind has GPU kernels (gpu_step) */
  if (gpu)
    return MT_ERR(MT_E_UNSUPPORTED, "optimizer '%s': parameter %d: this build has no CUDA", kn,
                  index);
#endif
  /* the kernels take the state's pointers as they are: its memory must be
   * where the weight is (a state made for a CPU copy cannot serve gpu(0)) */
  const opt_param *p = find_param(opt, index);
  if (p && p->buf && (p->ctx.type != weight->ctx.type || (gpu && p->ctx.id != weight->ctx.id)))
    return MT_ERR(MT_E_INVAL,
                  "optimizer '%s': parameter %d%s%s%s is on %s(%d), its state on %s(%d); "
                  "make the state with the weight on the device it is updated on",
                  kn, index, p->name ? " ('" : "", p->name ? p->name : "", p->name ? "')" : "",
                  gpu ? "gpu" : "cpu", weight->ctx.id, p->ctx.type == MT_GPU ? "gpu" : "cpu",
                  p->ctx.id);
  if (grad && grad->size != weight->size)
    return MT_ERR(MT_E_SHAPE,
                  "optimizer '%s': parameter %d: gradient has %lld elements, weight "
                  "%lld",
                  kn, index, (long long)grad->size, (long long)weight->size);
  return MT_OK;
}

int mt_optimizer_create_state(mt_optimizer *opt, int index, const char *name,
                              const mt_ndarray *weight) {
  if (!opt || !weight) return MT_ERR(MT_E_INVAL, "mt_optimizer_create_state: NULL argument");
  MT_TRY(check_arrays(opt, index, weight, NULL));
  opt_param *p = NULL;
  MT_TRY(get_param(opt, index, name, &p));
  return ensure_state(opt, index, p, weight);
}

/* One parameter's step: lr, wd and the kernels' scalars, fixed for all of
 * its elements (the update rules are elementwise, so any range of the
 * parameter can be updated on its own). */
typedef struct step_args step_args;

static int begin_step(mt_optimizer *opt, int index, const char *name, mt_ndarray *weight,
                      const mt_ndarray *grad, opt_param **pp, step_args *a) {
  if (!opt || !weight || !grad) return MT_ERR(MT_E_INVAL, "mt_optimizer_update: NULL argument");
  MT_TRY(check_arrays(opt, index, weight, grad));
  opt_param *p = NULL;
  MT_TRY(get_param(opt, index, name, &p));
  MT_TRY(ensure_state(opt, index, p, weight));

  /* _update_count */
  if (!p->counted) {
    p->counted = 1;
    p->count = opt->begin_num_update;
  }
  /* counts never pass MT_MAX_NUM_UPDATE (begin_num_update and restored
   * counts are refused beyond it), so this increment never overflows */
  if (p->count >= MT_MAX_NUM_UPDATE)
    return MT_ERR(MT_E_INVAL,
                  "optimizer '%s': parameter %d ('%s') has had %lld updates, the most an update "
                  "count holds (2^53)",
                  opt_names[opt->kind], index, p->name ? p->name : "", (long long)p->count);
  p->count++;
  if (p->count > opt->num_update) opt->num_update = p->count;
  /* _get_lr / _get_wd */
  double lr = opt->sched ? mt_lr_scheduler_lr(opt->sched, opt->num_update) : opt->lr;
  a->lr = lr * p->lr_mult;
  a->wd = opt->wd * p->wd_mult;
  if (opt->kind == OPT_ADAM) {
    double t = (double)p->count;
    a->lr *= sqrt(1. - pow(opt->beta2, t)) / (1. - pow(opt->beta1, t));
  }
  /* the kernels' clip bound: passed when truthy, else the operator default -1 */
  a->clip = (opt->has_clip && opt->clip_gradient != 0.0) ? (float)opt->clip_gradient : -1.f;
  a->rescale = (float)opt->rescale_grad;
  p->args = *a;
  *pp = p;
  return MT_OK;
}

/* MXNet's kernel for elements [off, off + n) of one CPU parameter. */
static void cpu_step(const mt_optimizer *opt, opt_param *p, const step_args *a, float *w,
                     const float *g, int64_t off, int64_t n) {
  const float lr = (float)a->lr, wd = (float)a->wd, clip = a->clip, rescale = a->rescale;
  const float mom = opt->momentum > 0 ? (float)opt->momentum : 0.f;
  float *s0 = opt->nstates > 0 ? p->states[0].data + off : NULL;
  w += off;
  g += off;
  switch (opt->kind) {
  case OPT_SGD:
    mtk_multi_sgd_update(w, g, opt->momentum > 0 ? s0 : NULL, n, lr, wd, mom, rescale, clip);
    break;
  case OPT_NAG:
    if (s0) mtk_nag_mom_update(w, g, s0, n, lr, wd, mom, rescale, clip);
    else mtk_sgd_update(w, g, n, lr, wd, rescale, clip);
    break;
  case OPT_ADAM:
    mtk_adam_update(w, g, s0, p->states[1].data + off, n, lr, wd, (float)opt->beta1,
                    (float)opt->beta2, (float)opt->epsilon, rescale, clip);
    break;
  case OPT_RMSPROP: {
    const float cw =
        (opt->has_clip_weights && opt->clip_weights != 0.0) ? (float)opt->clip_weights : -1.f;
    if (!opt->centered)
      mtk_rmsprop_update(w, g, s0, n, lr, wd, (float)opt->gamma1, (float)opt->epsilon, rescale,
                         clip, cw);
    else
      mtk_rmspropalex_update(w, g, s0, p->states[1].data + off, p->states[2].data + off, n, lr, wd,
                             (float)opt->gamma1, (float)opt->gamma2, (float)opt->epsilon, rescale,
                             clip, cw);
    break;
  }
  case OPT_ADAGRAD:
    mtk_adagrad_update(w, g, s0, n, lr, wd, (float)opt->eps, rescale,
                       opt->has_clip ? (float)opt->clip_gradient : -1.f);
    break;
  default: break;
  }
}

#ifdef MT_HAVE_CUDA
/* cpu_step on a whole GPU parameter: the CUDA mirror of each kernel
 * (kernels/cuda/optimizer.cu, equal to the CPU's bit for bit) with the same
 * scalars and states, so a GPU parameter follows the CPU path exactly.
 * Kernels run on the device's default stream; the call does not wait. */
static int gpu_step(const mt_optimizer *opt, opt_param *p, const step_args *a, mt_ndarray *weight,
                    const mt_ndarray *grad) {
  const int dev = weight->ctx.id;
  const int64_t n = weight->size;
  const float lr = (float)a->lr, wd = (float)a->wd, clip = a->clip, rescale = a->rescale;
  const float mom = opt->momentum > 0 ? (float)opt->momentum : 0.f;
  float *w = weight->data, *s0 = opt->nstates > 0 ? p->states[0].data : NULL;
  const float *g = grad->data;
  switch (opt->kind) {
  case OPT_SGD:
    return mtk_cuda_multi_sgd_update(dev, w, g, opt->momentum > 0 ? s0 : NULL, n, lr, wd, mom,
                                     rescale, clip);
  case OPT_NAG:
    if (s0) return mtk_cuda_nag_mom_update(dev, w, g, s0, n, lr, wd, mom, rescale, clip);
    return mtk_cuda_sgd_update(dev, w, g, n, lr, wd, rescale, clip);
  case OPT_ADAM:
    return mtk_cuda_adam_update(dev, w, g, s0, p->states[1].data, n, lr, wd, (float)opt->beta1,
                                (float)opt->beta2, (float)opt->epsilon, rescale, clip);
  case OPT_RMSPROP: {
    const float cw =
        (opt->has_clip_weights && opt->clip_weights != 0.0) ? (float)opt->clip_weights : -1.f;
    if (!opt->centered)
      return mtk_cuda_rmsprop_update(dev, w, g, s0, n, lr, wd, (float)opt->gamma1,
                                     (float)opt->epsilon, rescale, clip, cw);
    return mtk_cuda_rmspropalex_update(dev, w, g, s0, p->states[1].data, p->states[2].data, n, lr,
                                       wd, (float)opt->gamma1, (float)opt->gamma2,
                                       (float)opt->epsilon, rescale, clip, cw);
  }
  case OPT_ADAGRAD:
    return mtk_cuda_adagrad_update(dev, w, g, s0, n, lr, wd, (float)opt->eps, rescale,
                                   opt->has_clip ? (float)opt->clip_gradient : -1.f);
  default: return MT_ERR(MT_E_INVAL, "optimizer %d: unknown kind", (int)opt->kind);
  }
}
#endif

int mt_optimizer_update(mt_optimizer *opt, int index, const char *name, mt_ndarray *weight,
                        const mt_ndarray *grad) {
  opt_param *p = NULL;
  step_args a = {0};
  MT_TRY(begin_step(opt, index, name, weight, grad, &p, &a));
#ifdef MT_HAVE_CUDA
  if (weight->ctx.type == MT_GPU) return gpu_step(opt, p, &a, weight, grad);
#endif
  cpu_step(opt, p, &a, weight->data, grad->data, 0, weight->size);
  return MT_OK;
}

/* Elements per block of mt_optimizer_update_finite: 16 KiB of gradient, so
 * the check leaves the block in L1 for the update that follows it. */
#define FINITE_BLOCK 4096

int mt_optimizer_update_finite(mt_optimizer *opt, int index, const char *name, mt_ndarray *weight,
                               const mt_ndarray *grad, int *finite) {
  *finite = 1;
  MT_TRY(mt_optimizer_begin_update(opt, index, name, weight, grad));
  return mt_optimizer_apply_range(opt, index, weight, grad, 0, weight->size, finite);
}

/* ------------------------------------------- split steps, placed states */

int mt_optimizer_begin_update(mt_optimizer *opt, int index, const char *name, mt_ndarray *weight,
                              const mt_ndarray *grad) {
  if (weight && weight->ctx.type != MT_CPU)
    return MT_ERR(MT_E_UNSUPPORTED,
                  "optimizer: the checked (and split) update takes CPU arrays only");
  opt_param *p = NULL;
  step_args a = {0};
  return begin_step(opt, index, name, weight, grad, &p, &a);
}

int mt_optimizer_apply_range(mt_optimizer *opt, int index, mt_ndarray *weight,
                             const mt_ndarray *grad, int64_t off, int64_t n, int *finite) {
  *finite = 1;
  opt_param *p = find_param(opt, index);
  if (!p || !p->has_state || !weight || !grad || weight->size != p->size || grad->size != p->size)
    return MT_ERR(MT_E_STATE, "mt_optimizer_apply_range: parameter %d has no step begun", index);
  if (off < 0 || n < 0 || off + n > p->size)
    return MT_ERR(MT_E_INVAL, "mt_optimizer_apply_range: elements [%lld, %lld) of %lld",
                  (long long)off, (long long)(off + n), (long long)p->size);
  const float *g = grad->data;
  for (int64_t end = off + n; off < end; off += FINITE_BLOCK) {
    int64_t k = end - off < FINITE_BLOCK ? end - off : FINITE_BLOCK;
    if (!mtk_all_finite(g + off, k)) {
      *finite = 0;
      return MT_OK;
    }
    cpu_step(opt, p, &p->args, weight->data, g, off, k);
  }
  return MT_OK;
}

int64_t mt_optimizer_state_floats(const mt_optimizer *opt, int64_t size) {
  return opt ? state_stride(size) * opt->nstates : 0;
}

int mt_optimizer_place_state(mt_optimizer *opt, int index, const char *name,
                             const mt_ndarray *weight, float *buf) {
  if (!opt || !weight || !buf) return MT_ERR(MT_E_INVAL, "mt_optimizer_place_state: NULL argument");
  if (weight->ctx.type != MT_CPU)
    return MT_ERR(MT_E_UNSUPPORTED, "mt_optimizer_place_state: CPU arrays only");
  MT_TRY(check_arrays(opt, index, weight, NULL));
  opt_param *p = NULL;
  MT_TRY(get_param(opt, index, name, &p));
  int64_t floats = state_stride(weight->size) * opt->nstates;
  if (p->has_state) {
    if (weight->size != p->size) return ensure_state(opt, index, p, weight); /* the error */
    if (p->buf != buf) {
      if (p->buf) memcpy(buf, p->buf, sizeof(float) * (size_t)floats);
      if (p->buf && !p->placed) mt_device_free(p->ctx, p->buf);
    }
  } else {
    memset(buf, 0, sizeof(float) * (size_t)floats);
    p->size = weight->size;
    p->ctx = weight->ctx;
    p->has_state = 1;
  }
  p->buf = opt->nstates > 0 ? buf : NULL;
  p->placed = p->buf != NULL;
  for (int k = 0; k < opt->nstates; k++)
    mt_ndarray_init_view(&p->states[k], buf + k * state_stride(weight->size), weight->shape,
                         weight->ctx);
  return MT_OK;
}

int mt_optimizer_own_states(mt_optimizer *opt) {
  for (int i = 0; opt && i < opt->nparams; i++) {
    opt_param *p = opt->params[i];
    if (!p || !p->placed) continue;
    int64_t stride = state_stride(p->size), floats = stride * opt->nstates;
    float *own = mt_device_alloc(p->ctx, floats);
    if (!own)
      return MT_ERR(MT_E_NOMEM,
                    "optimizer '%s': cannot allocate state of parameter %d (%lld floats)",
                    opt_names[opt->kind], i, (long long)floats);
    memcpy(own, p->buf, sizeof(float) * (size_t)floats);
    p->buf = own;
    p->placed = 0;
    for (int k = 0; k < opt->nstates; k++) p->states[k].data = own + k * stride;
  }
  return MT_OK;
}

/* ---------------------------------------------------- checkpoint access */

int mt_optimizer_num_states(const mt_optimizer *opt, int index) {
  if (!opt) return MT_ERR(MT_E_INVAL, "mt_optimizer_num_states: optimizer is NULL");
  MT_TRY(check_index(opt, index));
  return opt->nstates;
}

int mt_optimizer_state(const mt_optimizer *opt, int index, int k, const char **state_name,
                       mt_ndarray **state) {
  if (!opt) return MT_ERR(MT_E_INVAL, "mt_optimizer_state: optimizer is NULL");
  MT_TRY(check_index(opt, index));
  if (k < 0 || k >= opt->nstates)
    return MT_ERR(MT_E_INVAL, "optimizer '%s': state %d out of range (it keeps %d per parameter)",
                  opt_names[opt->kind], k, opt->nstates);
  opt_param *p = find_param(opt, index);
  if (!p || !p->has_state)
    return MT_ERR(MT_E_STATE,
                  "optimizer '%s': parameter %d has no state yet (update it or call "
                  "mt_optimizer_create_state first)",
                  opt_names[opt->kind], index);
  if (state_name) *state_name = opt->state_names[k];
  if (state) *state = &p->states[k];
  return MT_OK;
}

int mt_optimizer_index_bound(const mt_optimizer *opt) { return opt ? opt->nparams : 0; }

const char *mt_optimizer_index_name(const mt_optimizer *opt, int index) {
  if (!opt) return NULL;
  opt_param *p = find_param(opt, index);
  return p ? p->name : NULL;
}

int mt_optimizer_get_update_count(const mt_optimizer *opt, int index, int64_t *count) {
  if (!opt || !count) return MT_ERR(MT_E_INVAL, "mt_optimizer_get_update_count: NULL argument");
  MT_TRY(check_index(opt, index));
  opt_param *p = find_param(opt, index);
  *count = (p && p->counted) ? p->count : opt->begin_num_update;
  return MT_OK;
}

int mt_optimizer_set_update_count(mt_optimizer *opt, int index, int64_t count) {
  if (!opt) return MT_ERR(MT_E_INVAL, "mt_optimizer_set_update_count: optimizer is NULL");
  if (count < 0 || count > MT_MAX_NUM_UPDATE)
    return MT_ERR(MT_E_INVAL,
                  "optimizer '%s': update count %lld of index %d is out of range [0, %lld]",
                  opt_names[opt->kind], (long long)count, index, (long long)MT_MAX_NUM_UPDATE);
  opt_param *p = NULL;
  MT_TRY(get_param(opt, index, NULL, &p));
  p->counted = 1;
  p->count = count;
  if (count > opt->num_update) opt->num_update = count;
  return MT_OK;
}

int64_t mt_optimizer_num_update(const mt_optimizer *opt) { return opt ? opt->num_update : 0; }
