/* bucketing_module.c — MXNet's BucketingModule (python/mxnet/module/
 * bucketing_module.py): one Module per bucket key, made from the user's
 * symbol generator the first time the key is seen. The default bucket's
 * Module owns the parameters, gradients (one flat buffer per context, the
 * kvstore's bucket layout), aux states, optimizer and kvstore; every other
 * bucket's Module is bound against it (mt_module_bind_shared) and uses those
 * arrays themselves, so there is one copy of each. The default bucket's
 * executors keep their intermediate buffers in one pool per context, and
 * the other buckets' executors use the same pools: memory is the largest
 * bucket's plan, not the sum (a bucket larger than every one before grows
 * the pool; docs/design.md §2). The calls work on the current bucket, as
 * MXNet's do; init_params, get_params, init_optimizer and checkpoints go to
 * the default bucket (the arrays are the same). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "executor.h"
#include "module.h"
#include "symbol.h"

typedef struct {
  int key;
  mt_module *mod;
} bucket_ent;

typedef struct {
  mt_sym_gen_fn gen;
  void *user;
  int default_key;
  int nctx;
  mt_context *ctxs;
  int nb, cap;
  bucket_ent *b; /* b[0]: the default bucket */
  mt_module *cur;
  int cur_key;
  int dirty; /* updated since the last get_params */
  uint64_t seed, step;
} bmod;

static const mt_module_vt bucketing_vt;

static bmod *B(const mt_module *m) { return m->impl; }
static mt_module *DEF(const mt_module *m) { return B(m)->b[0].mod; }

static void bm_destroy(mt_module *m) {
  bmod *bm = B(m);
  if (!bm) return;
  for (int i = bm->nb - 1; i >= 0; i--) mt_module_free(bm->b[i].mod); /* borrowers first */
  free(bm->b);
  free(bm->ctxs);
  free(bm);
}

/* A new (unbound) Module for key from the user's generator. */
static int make_module(bmod *bm, int key, mt_module **out) {
  static const char *const no_labels[] = {""};
  *out = NULL;
  mt_symbol *sym = NULL;
  int nd = 0, nl = 0;
  const char *const *dn = NULL, *const *ln = NULL;
  int rc = bm->gen(bm->user, key, &sym, &nd, &dn, &nl, &ln);
  if (rc < 0) {
    mt_symbol_free(sym);
    return mt_error_prefix(rc, "sym_gen(bucket key %d)", key);
  }
  if (!sym) return MT_ERR(MT_E_INVAL, "sym_gen(bucket key %d) gave no symbol", key);
  rc = mt_module_create(sym, nd, dn, nl,
                        ln        ? ln
                        : nl == 0 ? no_labels
                                  : NULL,
                        bm->nctx, bm->ctxs, out);
  mt_symbol_free(sym);
  if (rc < 0) return mt_error_prefix(rc, "bucket key %d", key);
  return MT_OK;
}

int mt_bucketing_module_create(mt_sym_gen_fn gen, void *user, int default_bucket_key, int ncontexts,
                               const mt_context *contexts, mt_module **out) {
  if (!out) return MT_ERR(MT_E_INVAL, "bucketing_module: NULL output");
  *out = NULL;
  if (!gen) return MT_ERR(MT_E_INVAL, "bucketing_module: no symbol generator (sym_gen)");
  if (ncontexts < 0 || (ncontexts > 0 && !contexts))
    return MT_ERR(MT_E_INVAL, "bucketing_module: %d contexts and no list", ncontexts);
  bmod *bm = calloc(1, sizeof *bm);
  if (!bm) return MT_NOMEM();
  bm->gen = gen;
  bm->user = user;
  bm->default_key = default_bucket_key;
  bm->nctx = ncontexts > 0 ? ncontexts : 1;
  bm->ctxs = calloc((size_t)bm->nctx, sizeof *bm->ctxs);
  bm->b = calloc(4, sizeof *bm->b);
  bm->cap = 4;
  mt_module *m = NULL;
  int rc = bm->ctxs && bm->b ? mt_module_new(&bucketing_vt, bm, &m) : MT_NOMEM();
  if (rc < 0) {
    free(bm->ctxs);
    free(bm->b);
    free(bm);
    return rc;
  }
  for (int i = 0; i < bm->nctx; i++) bm->ctxs[i] = ncontexts > 0 ? contexts[i] : mt_cpu(0);
  /* MXNet calls sym_gen(default_bucket_key) in the constructor: the names
   * are known before bind, and a generator that fails says so now */
  mt_module *def;
  MT_TRY_GOTO(make_module(bm, default_bucket_key, &def), rc, fail);
  bm->b[0].key = default_bucket_key;
  bm->b[0].mod = def;
  bm->nb = 1;
  MT_TRY_GOTO(mt_module_set_pooled(def), rc, fail);
  bm->cur = def;
  bm->cur_key = default_bucket_key;
  *out = m;
  return MT_OK;
fail:
  mt_module_free(m);
  return rc;
}

static int is_bucketing(const mt_module *m) { return m && m->vt == &bucketing_vt; }

#define NEED_BM(m, what)                                                                           \
  do {                                                                                             \
    if (!is_bucketing(m))                                                                          \
      return MT_ERR(MT_E_INVAL, "%s: %s is not a BucketingModule", what, mt_module_kind(m));       \
  } while (0)

/* ------------------------------------------------------------------- bind */

static int bm_bind(mt_module *m, int ndata, const mt_data_desc *data_shapes, int nlabel,
                   const mt_data_desc *label_shapes, int for_training, int inputs_need_grad,
                   int force_rebind, mt_grad_req grad_req) {
  bmod *bm = B(m);
  if (m->binded && !force_rebind) {
    mt_log(MT_LOG_WARN, "module", "Already bound, ignoring bind()");
    return MT_OK;
  }
  /* MXNet's _reset_bind: the other buckets go; the default bucket rebinds
   * keeping its parameters (Module's force_rebind) */
  for (int i = bm->nb - 1; i > 0; i--) mt_module_free(bm->b[i].mod);
  bm->nb = 1;
  bm->cur = DEF(m);
  bm->cur_key = bm->default_key;
  m->binded = 0;
  mt_module_set_rng(DEF(m), bm->seed, bm->step);
  MT_TRY(mt_module_bind(DEF(m), ndata, data_shapes, nlabel, label_shapes, for_training,
                        inputs_need_grad, force_rebind, grad_req));
  m->binded = 1;
  m->for_training = for_training;
  m->inputs_need_grad = inputs_need_grad;
  m->params_initialized = DEF(m)->params_initialized;
  m->optimizer_initialized = DEF(m)->optimizer_initialized;
  return MT_OK;
}

/* The Module of bucket key (NULL: not made yet). */
static mt_module *find_bucket(const bmod *bm, int key) {
  for (int i = 0; i < bm->nb; i++)
    if (bm->b[i].key == key) return bm->b[i].mod;
  return NULL;
}

/* made: the new bucket's Module if the caller made it already (it is taken
 * over, also on error), else NULL. */
static int switch_bucket(mt_module *m, int key, mt_module *made, int ndata,
                         const mt_data_desc *data_shapes, int nlabel,
                         const mt_data_desc *label_shapes) {
  bmod *bm = B(m);
  if (!m->binded) {
    mt_module_free(made);
    return MT_ERR(MT_E_STATE, "call bind before switching bucket");
  }
  mt_module *mod = find_bucket(bm, key);
  if (mod) mt_module_free(made);
  else {
    mt_module *def = DEF(m);
    if (made) mod = made;
    else MT_TRY(make_module(bm, key, &mod));
    /* a parameter the default bucket lacks has nowhere to live */
    for (int i = 0; i < mod->nparam; i++)
      if (mt_module_find_name(def->param_names, def->nparam, mod->param_names[i]) < 0) {
        int rc = MT_ERR(MT_E_INVAL,
                        "bucket key %d: its symbol needs parameter '%s', which the default "
                        "bucket (key %d) does not have; every bucket's parameters must be the "
                        "default bucket's (make the default bucket the largest)",
                        key, mod->param_names[i], bm->default_key);
        mt_module_free(mod);
        return rc;
      }
    for (int i = 0; i < mod->naux; i++)
      if (mt_module_find_name(def->aux_names, def->naux, mod->aux_names[i]) < 0) {
        int rc = MT_ERR(MT_E_INVAL,
                        "bucket key %d: its symbol needs aux state '%s', which the default "
                        "bucket (key %d) does not have",
                        key, mod->aux_names[i], bm->default_key);
        mt_module_free(mod);
        return rc;
      }
    int rc = mt_module_bind_shared(mod, def, ndata, data_shapes, nlabel, label_shapes,
                                   def->for_training, def->inputs_need_grad, def->grad_req);
    if (rc == MT_OK && bm->nb == bm->cap) {
      bucket_ent *nb = realloc(bm->b, (size_t)bm->cap * 2 * sizeof *nb);
      if (!nb) rc = MT_NOMEM();
      else {
        bm->b = nb;
        bm->cap *= 2;
      }
    }
    if (rc < 0) {
      mt_module_free(mod);
      return mt_error_prefix(rc, "bucket key %d", key);
    }
    bm->b[bm->nb].key = key;
    bm->b[bm->nb].mod = mod;
    bm->nb++;
  }
  bm->cur = mod;
  bm->cur_key = key;
  return MT_OK;
}

int mt_bucketing_module_switch_bucket(mt_module *mod, int bucket_key, int ndata,
                                      const mt_data_desc *data_shapes, int nlabel,
                                      const mt_data_desc *label_shapes) {
  NEED_BM(mod, "switch_bucket");
  return switch_bucket(mod, bucket_key, NULL, ndata, data_shapes, nlabel, label_shapes);
}

/* forward's switch: the batch's key (0, what iterators without buckets
 * give: the default bucket) and its arrays' shapes */
static int switch_for_batch(mt_module *m, const mt_batch *b) {
  bmod *bm = B(m);
  int key = b->bucket_key ? (int)b->bucket_key : bm->default_key;
  if (!m->binded) return MT_ERR(MT_E_STATE, "call bind before switching bucket");
  if (find_bucket(bm, key)) return switch_bucket(m, key, NULL, 0, NULL, 0, NULL);
  /* a new bucket: its names come from its generator; the shapes from the batch */
  mt_module *tmp;
  MT_TRY(make_module(bm, key, &tmp));
  mt_data_desc d[MT_MAX_BATCH_INPUTS], l[MT_MAX_BATCH_INPUTS];
  int nd = tmp->ndata, nl = b->nlabel >= tmp->nlabel ? tmp->nlabel : 0, rc = MT_OK;
  if (b->ndata != nd)
    rc = MT_ERR(MT_E_INVAL, "forward: batch has %d data arrays, bucket key %d takes %d", b->ndata,
                key, nd);
  for (int i = 0; rc == MT_OK && i < nd; i++) {
    snprintf(d[i].name, sizeof d[i].name, "%s", tmp->data_names[i]);
    d[i].shape = b->data[i]->shape;
  }
  for (int i = 0; rc == MT_OK && i < nl; i++) {
    snprintf(l[i].name, sizeof l[i].name, "%s", tmp->label_names[i]);
    l[i].shape = b->label[i]->shape;
  }
  if (rc < 0) {
    mt_module_free(tmp);
    return rc;
  }
  return switch_bucket(m, key, tmp, nd, d, nl, l);
}

static int bm_reshape(mt_module *m, int ndata, const mt_data_desc *data_shapes, int nlabel,
                      const mt_data_desc *label_shapes) {
  if (!m->binded) return MT_ERR(MT_E_STATE, "call bind before reshape");
  return mt_module_reshape(B(m)->cur, ndata, data_shapes, nlabel, label_shapes);
}

/* ------------------------------------------------------------- parameters */

static void sync_flags(mt_module *m) {
  bmod *bm = B(m);
  for (int i = 1; i < bm->nb; i++) bm->b[i].mod->params_initialized = m->params_initialized;
}

static int bm_init_params(mt_module *m, const mt_initializer *init, const mt_arena *arg_params,
                          const mt_arena *aux_params, int allow_missing, int force_init,
                          int allow_extra) {
  if (m->params_initialized && !force_init) {
    mt_log(MT_LOG_WARN, "module",
           "Parameters already initialized and force_init=False. init_params call ignored.");
    return MT_OK;
  }
  if (!m->binded) return MT_ERR(MT_E_STATE, "call bind before initializing the parameters");
  /* the default bucket's Module holds the arrays (and its symbol the
   * variables' __init__ attributes) */
  MT_TRY(
      mt_module_init_params(DEF(m), init, arg_params, aux_params, allow_missing, 1, allow_extra));
  m->params_initialized = 1;
  B(m)->dirty = 0;
  sync_flags(m);
  return MT_OK;
}

static int bm_get_params(mt_module *m, const mt_arena **arg_params, const mt_arena **aux_params) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before get_params");
  mt_module *def = DEF(m);
  if (B(m)->dirty) def->params_dirty = 1; /* some bucket updated the shared arrays */
  MT_TRY(mt_module_get_params(def, arg_params, aux_params));
  B(m)->dirty = 0;
  return MT_OK;
}

static int bm_init_optimizer(mt_module *m, const char *kvstore, const char *optimizer,
                             const char *optimizer_params, int force_init) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before init_optimizer");
  if (m->optimizer_initialized && !force_init) {
    mt_log(MT_LOG_WARN, "module", "optimizer already initialized, ignoring...");
    return MT_OK;
  }
  bmod *bm = B(m);
  if (bm->dirty) DEF(m)->params_dirty = 1;
  MT_TRY(mt_module_init_optimizer(DEF(m), kvstore, optimizer, optimizer_params, 1));
  for (int i = 1; i < bm->nb; i++) MT_TRY(mt_module_borrow_optimizer(bm->b[i].mod));
  m->optimizer_initialized = 1;
  return MT_OK;
}

/* ------------------------------------------------------- forward/backward */

static int bm_forward(mt_module *m, const mt_batch *b, int is_train) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before forward");
  bmod *bm = B(m);
  MT_TRY(switch_for_batch(m, b));
  mt_module_set_rng(bm->cur, bm->seed, bm->step);
  int rc = mt_module_forward(bm->cur, b, is_train);
  uint64_t seed;
  mt_module_get_rng(bm->cur, &seed, &bm->step);
  return rc;
}

static int bm_backward(mt_module *m, int nout_grads, mt_ndarray *const *out_grads) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before backward");
  return mt_module_backward(B(m)->cur, nout_grads, out_grads);
}

static int bm_forward_backward(mt_module *m, const mt_batch *b) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before forward");
  bmod *bm = B(m);
  MT_TRY(switch_for_batch(m, b));
  mt_module_set_rng(bm->cur, bm->seed, bm->step);
  int rc = mt_module_forward_backward(bm->cur, b);
  uint64_t seed;
  mt_module_get_rng(bm->cur, &seed, &bm->step);
  return rc;
}

static int bm_update(mt_module *m) {
  if (!m->binded || !m->params_initialized || !m->optimizer_initialized)
    return MT_ERR(MT_E_STATE, "call bind, init_params and init_optimizer before update");
  B(m)->dirty = 1;
  return mt_module_update(B(m)->cur);
}

static int bm_update_metric(mt_module *m, mt_metric *metric, int nlabel,
                            mt_ndarray *const *labels) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before update_metric");
  return mt_module_update_metric(B(m)->cur, metric, nlabel, labels);
}

static int bm_get_outputs(mt_module *m, int *n, mt_ndarray *const **outputs) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before get_outputs");
  return mt_module_get_outputs(B(m)->cur, n, outputs);
}

static int bm_get_input_grads(mt_module *m, int *n, mt_ndarray *const **grads) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before get_input_grads");
  if (!m->inputs_need_grad)
    return MT_ERR(MT_E_STATE, "get_input_grads: bind with inputs_need_grad=1");
  return mt_module_get_input_grads(B(m)->cur, n, grads);
}

/* ------------------------------------------------------------- properties */

static int bm_names(const mt_module *m, int which, int *n, const char *const **names) {
  const mt_module *c = B(m)->cur;
  return c->vt->names(c, which, n, names);
}
static int bm_shapes(const mt_module *m, int which, int *n, const mt_data_desc **descs) {
  if (!m->binded) return MT_ERR(MT_E_STATE, "call bind before asking for shapes");
  const mt_module *c = B(m)->cur;
  return c->vt->shapes(c, which, n, descs);
}
static mt_symbol *bm_symbol(const mt_module *m) { return mt_module_symbol(B(m)->cur); }
static mt_kvstore *bm_kvstore(const mt_module *m) { return mt_module_kvstore(DEF(m)); }
static int bm_opt_groups(mt_module *m, int max, mt_module_opt_group *out) {
  return mt_module_opt_groups(DEF(m), max, out);
}
static void bm_get_rng(const mt_module *m, uint64_t *seed, uint64_t *step) {
  *seed = B(m)->seed;
  *step = B(m)->step;
}
static void bm_set_rng(mt_module *m, uint64_t seed, uint64_t step) {
  B(m)->seed = seed;
  B(m)->step = step;
  mt_module_set_rng(B(m)->cur, seed, step);
}
static int bm_set_bucket_bytes(mt_module *m, int64_t bytes) {
  if (m->optimizer_initialized)
    return MT_ERR(MT_E_STATE, "set the bucket size before init_optimizer");
  return mt_module_set_bucket_bytes(DEF(m), bytes);
}
static int bm_num_contexts(const mt_module *m) { return B(m)->nctx; }

static int bm_buckets(const mt_module *m, int *default_key, int max, int *keys, mt_symbol **syms) {
  const bmod *bm = B(m);
  *default_key = bm->default_key;
  int n = 0;
  for (int i = 0; i < bm->nb && n < max; i++, n++) {
    keys[n] = bm->b[i].key;
    syms[n] = mt_module_symbol(bm->b[i].mod);
  }
  return bm->nb;
}

static const mt_module_vt bucketing_vt = {
    .kind = "BucketingModule",
    .destroy = bm_destroy,
    .bind = bm_bind,
    .reshape = bm_reshape,
    .init_params = bm_init_params,
    .get_params = bm_get_params,
    .init_optimizer = bm_init_optimizer,
    .forward = bm_forward,
    .backward = bm_backward,
    .forward_backward = bm_forward_backward,
    .update = bm_update,
    .update_metric = bm_update_metric,
    .get_outputs = bm_get_outputs,
    .get_input_grads = bm_get_input_grads,
    .names = bm_names,
    .shapes = bm_shapes,
    .symbol = bm_symbol,
    .kvstore = bm_kvstore,
    .opt_groups = bm_opt_groups,
    .get_rng = bm_get_rng,
    .set_rng = bm_set_rng,
    .set_bucket_bytes = bm_set_bucket_bytes,
    .num_contexts = bm_num_contexts,
    .buckets = bm_buckets,
};

/* ------------------------------------------------------------ inspection */

int mt_bucketing_module_current_key(const mt_module *mod, int *key) {
  NEED_BM(mod, "current_key");
  *key = B(mod)->cur_key;
  return MT_OK;
}

int mt_bucketing_module_num_buckets(const mt_module *mod) {
  return is_bucketing(mod) ? B(mod)->nb : 0;
}

mt_module *mt_bucketing_module_bucket(mt_module *mod, int bucket_key) {
  return is_bucketing(mod) ? find_bucket(B(mod), bucket_key) : NULL;
}

/* Distinct arenas of parameters, gradients, aux states and CPU copies over
 * every bucket, each counted once; pools likewise. */
int mt_bucketing_module_memory(const mt_module *mod, int64_t *param_bytes, int64_t *pool_bytes) {
  NEED_BM(mod, "memory");
  const bmod *bm = B(mod);
  const void *seen[4096];
  int nseen = 0;
  int64_t pb = 0, qb = 0;
#define COUNT(ptr, bytes)                                                                          \
  do {                                                                                             \
    const void *p_ = (ptr);                                                                        \
    int dup_ = !p_;                                                                                \
    for (int j_ = 0; j_ < nseen && !dup_; j_++) dup_ = seen[j_] == p_;                             \
    if (!dup_ && nseen < 4096) {                                                                   \
      seen[nseen++] = p_;                                                                          \
      bytes;                                                                                       \
    }                                                                                              \
  } while (0)
  for (int i = 0; i < bm->nb; i++) {
    const mt_module *b = bm->b[i].mod;
    COUNT(b->arg_params, pb += mt_arena_size(b->arg_params) * (int64_t)sizeof(float));
    COUNT(b->aux_params, pb += mt_arena_size(b->aux_params) * (int64_t)sizeof(float));
    for (int s = 0; s < b->group.nslots; s++) {
      const mt_exec_slot *sl = &b->group.slots[s];
      COUNT(sl->params, pb += mt_arena_size(sl->params) * (int64_t)sizeof(float));
      COUNT(sl->grads, pb += mt_arena_size(sl->grads) * (int64_t)sizeof(float));
      COUNT(sl->aux, pb += mt_arena_size(sl->aux) * (int64_t)sizeof(float));
      COUNT(sl->pool, qb += mt_mem_pool_bytes(sl->pool));
      if (!sl->pool && sl->exec) qb += mt_executor_planned_bytes(sl->exec, NULL);
    }
  }
#undef COUNT
  if (param_bytes) *param_bytes = pb;
  if (pool_bytes) *pool_bytes = qb;
  return MT_OK;
}
