/* module.c — mt_module: MXNet's Module state machine (created -> binded ->
 * params initialized -> optimizer installed) over an executor group, with
 * gradients summed across contexts by a kvstore and one optimizer updating
 * context 0's parameters, which are then broadcast to the other contexts.
 * Calls out of order return MT_E_STATE with MXNet's message; repeated
 * initialisations warn and are ignored, as MXNet does. Data parallel
 * training's part (buckets, the ranks' agreement, the node-shared update)
 * is in module_dist.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/timeline.h"
#include "executor.h"
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define MT_HAVE_MXCSR 1
#endif
#include "kernels/kernels.h"
#include "module.h"
#include "op.h"
#include "optimizer.h"
#include "symbol.h"

/* Denormals flushed to zero while the module computes (restored after):
 * gradients and momenta of a converging net decay into subnormal floats,
 * which cost ~100 cycles an operation on x86 (3x on a whole update). Only
 * the calling thread's MXCSR is touched, and only for the call. */
static unsigned ftz_on(void) {
#ifdef MT_HAVE_MXCSR
  unsigned old = _mm_getcsr();
  _mm_setcsr(old | 0x8040u); /* FTZ | DAZ */
  return old;
#else
  return 0;
#endif
}
static void ftz_restore(unsigned old) {
#ifdef MT_HAVE_MXCSR
  _mm_setcsr(old);
#else
  (void)old;
#endif
}

static void free_names(char **names, int n) {
  if (!names) return;
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
}

int mt_module_find_name(char *const *names, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (!strcmp(names[i], name)) return i;
  return -1;
}

static char **dup_names(int n, const char *const *src) {
  char **d = calloc((size_t)n + 1, sizeof *d);
  if (!d) return NULL;
  for (int i = 0; i < n; i++)
    if (!(d[i] = strdup(src[i]))) {
      free_names(d, i);
      return NULL;
    }
  return d;
}

static const mt_module_vt module_vt;
static int mod_forward(mt_module *m, const mt_batch *b, int is_train);
static int mod_backward(mt_module *m, int nout_grads, mt_ndarray *const *out_grads);

static void mod_destroy(mt_module *m) {
  mt_exec_group_free(&m->group);
  mt_symbol_free(m->sym);
  free_names(m->data_names, m->ndata);
  free_names(m->label_names, m->nlabel);
  free_names(m->input_names, m->ninputs);
  free_names(m->output_names, m->nout);
  free_names(m->param_names, m->nparam);
  free_names(m->aux_names, m->naux);
  free(m->ctxs);
  free(m->data_shapes);
  free(m->label_shapes);
  free(m->output_shapes);
  if (!m->owner) { /* a borrowing bucket's are its owner's */
    mt_arena_free(m->arg_params);
    mt_arena_free(m->aux_params);
    mt_optimizer_free(m->opt);
    mt_kvstore_free(m->kv);
  }
  if (m->merged_out)
    for (int i = 0; i < m->nout; i++) mt_ndarray_free(m->merged_out[i]);
  if (m->merged_igrad)
    for (int i = 0; i < m->ndata; i++) mt_ndarray_free(m->merged_igrad[i]);
  free(m->merged_out);
  free(m->merged_igrad);
  free(m->buckets);
  free(m->param_bucket);
  free(m->arg_to_param);
  free(m->param_done);
}

static int mod_set_bucket_bytes(mt_module *m, int64_t bytes) {
  if (bytes < 0)
    return MT_ERR(MT_E_INVAL, "bucket size must be >= 0 bytes, got %lld", (long long)bytes);
  if (m->optimizer_initialized)
    return MT_ERR(MT_E_STATE, "set the bucket size before init_optimizer");
  m->bucket_bytes = bytes;
  return MT_OK;
}

static void mod_get_rng(const mt_module *m, uint64_t *seed, uint64_t *step) {
  *seed = m->seed;
  *step = m->step;
}
static void mod_set_rng(mt_module *m, uint64_t seed, uint64_t step) {
  m->seed = seed;
  m->step = step;
}

int mt_module_create(mt_symbol *sym, int ndata, const char *const *data_names, int nlabel,
                     const char *const *label_names, int nctx, const mt_context *contexts,
                     mt_module **out) {
  static const char *const default_data[] = {"data"}, *const default_label[] = {"softmax_label"};
  *out = NULL;
  if (!sym) return MT_ERR(MT_E_INVAL, "module: no symbol");
  if (!data_names) {
    data_names = default_data;
    ndata = 1;
  }
  if (!label_names) {
    label_names = default_label;
    nlabel = 1;
  }
  if (ndata < 1 || ndata > MT_MAX_BATCH_INPUTS || nlabel < 0 || nlabel > MT_MAX_BATCH_INPUTS)
    return MT_ERR(MT_E_INVAL, "module: %d data and %d label names (1..%d data, 0..%d labels)",
                  ndata, nlabel, MT_MAX_BATCH_INPUTS, MT_MAX_BATCH_INPUTS);
  mt_module *m;
  MT_TRY(mt_module_new(&module_vt, NULL, &m));
  int rc = MT_OK, nargs, nout, naux;
  const char *const *args, *const *outs, *const *aux;
  MT_TRY_GOTO(mt_symbol_copy(sym, &m->sym), rc, fail);
  MT_TRY_GOTO(mt_symbol_list_arguments(m->sym, &nargs, &args), rc, fail);
  MT_TRY_GOTO(mt_symbol_list_outputs(m->sym, &nout, &outs), rc, fail);
  MT_TRY_GOTO(mt_symbol_list_auxiliary_states(m->sym, &naux, &aux), rc, fail);
  for (int i = 0; i < ndata; i++) {
    int found = 0;
    for (int a = 0; a < nargs; a++) found |= !strcmp(args[a], data_names[i]);
    if (!found) {
      char list[1024] = "";
      for (int a = 0; a < nargs; a++) {
        if (a) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, args[a], sizeof list - strlen(list) - 1);
      }
      rc = MT_ERR(MT_E_INVAL,
                  "module: data name '%s' is not an argument of the symbol (arguments: %s)",
                  data_names[i], list);
      goto fail;
    }
  }
  m->data_names = dup_names(ndata, data_names);
  m->ndata = ndata;
  m->label_names = calloc((size_t)nlabel + 1, sizeof *m->label_names);
  m->input_names = calloc((size_t)(ndata + nlabel) + 1, sizeof *m->input_names);
  m->param_names = calloc((size_t)nargs + 1, sizeof *m->param_names);
  m->ctxs = calloc((size_t)(nctx > 0 ? nctx : 1), sizeof *m->ctxs);
  if (!m->data_names || !m->label_names || !m->input_names || !m->param_names || !m->ctxs) {
    rc = MT_NOMEM();
    goto fail;
  }
  for (int i = 0; i < nlabel; i++) {
    int found = 0;
    for (int a = 0; a < nargs; a++) found |= !strcmp(args[a], label_names[i]);
    if (!found) {
      mt_log(MT_LOG_WARN, "module", "label name '%s' is not an argument of the symbol; ignored",
             label_names[i]);
      continue;
    }
    if (!(m->label_names[m->nlabel++] = strdup(label_names[i]))) {
      rc = MT_NOMEM();
      goto fail;
    }
  }
  for (int i = 0; i < m->ndata; i++) m->input_names[m->ninputs++] = strdup(m->data_names[i]);
  for (int i = 0; i < m->nlabel; i++) m->input_names[m->ninputs++] = strdup(m->label_names[i]);
  for (int a = 0; a < nargs; a++)
    if (mt_module_find_name(m->input_names, m->ninputs, args[a]) < 0)
      m->param_names[m->nparam++] = strdup(args[a]);
  m->aux_names = dup_names(naux, aux);
  m->naux = naux;
  m->output_names = dup_names(nout, outs);
  m->nout = nout;
  if (!m->aux_names || !m->output_names) {
    rc = MT_NOMEM();
    goto fail;
  }
  m->nctx = nctx > 0 ? nctx : 1;
  for (int i = 0; i < m->nctx; i++) m->ctxs[i] = contexts && nctx > 0 ? contexts[i] : mt_cpu(0);
  m->grad_req = MT_REQ_WRITE;
  m->bucket_bytes = (int64_t)25 << 20;
  *out = m;
  return MT_OK;
fail:
  mt_module_free(m);
  return rc;
}

/* ------------------------------------------------------------------ bind */

/* Orders the given descriptions as `names`; a missing or extra name is an error. */
static int match_descs(const char *what, int nnames, char *const *names, int n,
                       const mt_data_desc *descs, mt_shape *out) {
  if (n != nnames)
    return MT_ERR(MT_E_INVAL, "bind: %d %s shapes given for %d %s names", n, what, nnames, what);
  for (int i = 0; i < nnames; i++) {
    int k = -1;
    for (int j = 0; j < n; j++)
      if (!strcmp(descs[j].name, names[i])) k = j;
    if (k < 0)
      return MT_ERR(MT_E_INVAL,
                    "bind: no %s shape for '%s' (the %s names are the module's %s_names)", what,
                    names[i], what, what);
    if (descs[k].shape.ndim < 1)
      return MT_ERR(MT_E_SHAPE, "bind: %s shape of '%s' is empty", what, names[i]);
    out[i] = descs[k].shape;
  }
  return MT_OK;
}

static int copy_params_to_devices(mt_module *m) {
  for (int s = 0; s < m->group.nslots; s++) {
    mt_exec_slot *sl = &m->group.slots[s];
    for (int i = 0; i < m->nparam; i++)
      MT_TRY(mt_ndarray_copy(mt_arena_at(sl->params, i), mt_arena_at(m->arg_params, i)));
    for (int i = 0; i < m->naux; i++)
      MT_TRY(mt_ndarray_copy(mt_arena_at(sl->aux, i), mt_arena_at(m->aux_params, i)));
  }
  return MT_OK;
}

static int set_descs(mt_data_desc **dst, int n, char *const *names, const mt_shape *shapes) {
  free(*dst);
  *dst = calloc((size_t)n + 1, sizeof **dst);
  if (!*dst) return MT_NOMEM();
  for (int i = 0; i < n; i++) {
    snprintf((*dst)[i].name, sizeof(*dst)[i].name, "%s", names[i]);
    (*dst)[i].shape = shapes[i];
  }
  return MT_OK;
}

/* (Re)binds the executor group for input shapes; records the module's shapes. */
static int bind_group(mt_module *m, const mt_shape *in_shapes, int have_labels) {
  m->group.pooled |= m->pooled;
  MT_TRY(mt_exec_group_bind(&m->group, m->sym, m->nctx, m->ctxs, m->ninputs, m->ndata,
                            (const char *const *)m->input_names, in_shapes, m->nparam,
                            (const char *const *)m->param_names, m->naux,
                            (const char *const *)m->aux_names, m->for_training, m->inputs_need_grad,
                            m->grad_req));
  MT_TRY(set_descs(&m->data_shapes, m->ndata, m->data_names, in_shapes));
  if (have_labels)
    MT_TRY(set_descs(&m->label_shapes, m->nlabel, m->label_names, in_shapes + m->ndata));
  else {
    free(m->label_shapes);
    m->label_shapes = NULL;
  }
  mt_shape os[64];
  int nout = m->nout < 64 ? m->nout : 64;
  for (int i = 0; i < nout; i++) {
    os[i] = mt_ndarray_shape(mt_executor_output(m->group.slots[0].exec, i));
    os[i].dim[0] = m->group.batch_size;
  }
  MT_TRY(set_descs(&m->output_shapes, nout, m->output_names, os));
  m->merged_valid = 0;
  return MT_OK;
}

static int mod_bind(mt_module *m, int ndata, const mt_data_desc *data_shapes, int nlabel,
                    const mt_data_desc *label_shapes, int for_training, int inputs_need_grad,
                    int force_rebind, mt_grad_req grad_req) {
  if (m->binded && !force_rebind) {
    mt_log(MT_LOG_WARN, "module", "Already bound, ignoring bind()");
    return MT_OK;
  }
  if (!for_training && inputs_need_grad)
    return MT_ERR(MT_E_INVAL, "bind: inputs_need_grad requires for_training");
  if (m->owner)
    return MT_ERR(MT_E_STATE, "bind: a bucket's module is bound through its BucketingModule");
  if (force_rebind && m->binded) {
    if (m->params_initialized) MT_TRY(mt_module_sync_params(m));
    MT_TRY(mt_module_share_undo(m)); /* the new executors get parameters of their own */
    mt_exec_group_free(&m->group);
    m->binded = 0;
  }
  mt_shape in[2 * MT_MAX_BATCH_INPUTS];
  memset(in, 0, sizeof in);
  MT_TRY(match_descs("data", m->ndata, m->data_names, ndata, data_shapes, in));
  int have_labels = label_shapes && nlabel > 0;
  if (have_labels)
    MT_TRY(match_descs("label", m->nlabel, m->label_names, nlabel, label_shapes, in + m->ndata));
  m->for_training = for_training;
  m->inputs_need_grad = inputs_need_grad;
  m->grad_req = grad_req;
  int rc = bind_group(m, in, have_labels);
  if (rc < 0) {
    mt_exec_group_free(&m->group);
    return rc;
  }
  if (!m->arg_params) {
    mt_shape *ps = calloc((size_t)m->nparam + 1, sizeof *ps),
             *xs = calloc((size_t)m->naux + 1, sizeof *xs);
    if (!ps || !xs) rc = MT_NOMEM();
    for (int i = 0; rc == MT_OK && i < m->nparam; i++)
      ps[i] = mt_ndarray_shape(mt_arena_at(m->group.slots[0].params, i));
    for (int i = 0; rc == MT_OK && i < m->naux; i++)
      xs[i] = mt_ndarray_shape(mt_arena_at(m->group.slots[0].aux, i));
    if (rc == MT_OK)
      rc = mt_arena_create(mt_cpu(0), m->nparam, (const char *const *)m->param_names, ps,
                           &m->arg_params);
    if (rc == MT_OK)
      rc = mt_arena_create(mt_cpu(0), m->naux, (const char *const *)m->aux_names, xs,
                           &m->aux_params);
    free(ps);
    free(xs);
    if (rc < 0) return rc;
  } else if (m->params_initialized) {
    MT_TRY(copy_params_to_devices(m));
  }
  m->binded = 1;
  return MT_OK;
}

/* ---------------------------------------------- BucketingModule support */

int mt_module_set_pooled(mt_module *m) {
  if (m->binded) return MT_ERR(MT_E_STATE, "set_pooled: the module is bound already");
  m->pooled = 1;
  m->buckets_in_order = 1;
  return MT_OK;
}

int64_t mt_module_pool_bytes(const mt_module *m) { return mt_exec_group_pool_bytes(&m->group); }

int mt_module_borrow_optimizer(mt_module *m) {
  mt_module *o = m->owner;
  if (!o || !o->optimizer_initialized)
    return MT_ERR(MT_E_STATE, "borrow_optimizer: the default bucket has no optimizer yet");
  m->opt = o->opt;
  m->kv = o->kv;
  m->bucket_bytes = o->bucket_bytes;
  MT_TRY(mt_module_build_buckets(m)); /* the same arenas and names: the owner's layout */
  if (m->nbuckets != o->nbuckets)
    return MT_ERR(MT_E_STATE, "borrow_optimizer: %d gradient buckets against the default's %d",
                  m->nbuckets, o->nbuckets);
  m->shared_update = o->shared_update;
  m->optimizer_initialized = 1;
  return MT_OK;
}

int mt_module_bind_shared(mt_module *m, mt_module *owner, int ndata,
                          const mt_data_desc *data_shapes, int nlabel,
                          const mt_data_desc *label_shapes, int for_training, int inputs_need_grad,
                          mt_grad_req grad_req) {
  if (m->binded || m->owner || m->group.slots)
    return MT_ERR(MT_E_STATE, "bind_shared: the module is bound already");
  if (!owner->binded || !owner->pooled || owner->owner)
    return MT_ERR(MT_E_STATE, "bind_shared: the shared module is not a bound default bucket");
  if (!for_training && inputs_need_grad)
    return MT_ERR(MT_E_INVAL, "bind: inputs_need_grad requires for_training");
  if (m->nctx != owner->nctx)
    return MT_ERR(MT_E_INVAL, "bind_shared: %d contexts against the shared module's %d", m->nctx,
                  owner->nctx);
  for (int i = 0; i < m->nparam; i++)
    if (mt_module_find_name(owner->param_names, owner->nparam, m->param_names[i]) < 0)
      return MT_ERR(MT_E_INVAL, "bind: parameter '%s' is not one of the shared module's",
                    m->param_names[i]);
  for (int i = 0; i < m->naux; i++)
    if (mt_module_find_name(owner->aux_names, owner->naux, m->aux_names[i]) < 0)
      return MT_ERR(MT_E_INVAL, "bind: aux state '%s' is not one of the shared module's",
                    m->aux_names[i]);
  mt_shape in[2 * MT_MAX_BATCH_INPUTS];
  memset(in, 0, sizeof in);
  MT_TRY(match_descs("data", m->ndata, m->data_names, ndata, data_shapes, in));
  int have_labels = label_shapes && nlabel > 0;
  if (have_labels)
    MT_TRY(match_descs("label", m->nlabel, m->label_names, nlabel, label_shapes, in + m->ndata));
  char **pn = dup_names(owner->nparam, (const char *const *)owner->param_names),
       **an = dup_names(owner->naux, (const char *const *)owner->aux_names);
  if (!pn || !an) {
    free_names(pn, owner->nparam);
    free_names(an, owner->naux);
    return MT_NOMEM();
  }
  free_names(m->param_names, m->nparam);
  free_names(m->aux_names, m->naux);
  m->param_names = pn;
  m->nparam = owner->nparam;
  m->aux_names = an;
  m->naux = owner->naux;
  MT_TRY(mt_exec_group_borrow(&m->group, &owner->group));
  m->owner = owner;
  m->pooled = m->buckets_in_order = 1;
  m->arg_params = owner->arg_params;
  m->aux_params = owner->aux_params;
  m->for_training = for_training;
  m->inputs_need_grad = inputs_need_grad;
  m->grad_req = grad_req;
  int rc = bind_group(m, in, have_labels);
  if (rc < 0) {
    mt_exec_group_free(&m->group);
    return rc;
  }
  m->binded = 1;
  m->params_initialized = owner->params_initialized;
  m->seed = owner->seed;
  m->step = owner->step;
  if (owner->optimizer_initialized) MT_TRY(mt_module_borrow_optimizer(m));
  return MT_OK;
}

static int mod_reshape(mt_module *m, int ndata, const mt_data_desc *data_shapes, int nlabel,
                       const mt_data_desc *label_shapes) {
  if (!m->binded) return MT_ERR(MT_E_STATE, "call bind before reshape");
  mt_shape in[2 * MT_MAX_BATCH_INPUTS];
  memset(in, 0, sizeof in);
  MT_TRY(match_descs("data", m->ndata, m->data_names, ndata, data_shapes, in));
  int have_labels = label_shapes && nlabel > 0;
  if (have_labels)
    MT_TRY(match_descs("label", m->nlabel, m->label_names, nlabel, label_shapes, in + m->ndata));
  return bind_group(m, in, have_labels);
}

/* ------------------------------------------------------------ parameters */

/* A variable's __init__ attribute (MXNet's LSTMCell gives i2h_bias
 * '["lstmbias", ...]') wins over the initializer's rule for its name, as in
 * MXNet's Initializer.__call__. */
static int init_one(const mt_symbol *sym, const char *name, mt_ndarray *arr, const mt_arena *given,
                    const mt_initializer *init, int allow_missing) {
  mt_ndarray *src = given ? mt_arena_get(given, name) : NULL;
  if (src) {
    if (!mt_shape_equal(&src->shape, &arr->shape))
      return mt_shape_mismatch("init_params", name, "given parameter", &arr->shape, &src->shape);
    return mt_ndarray_copy(arr, src);
  }
  if (given && !allow_missing) return MT_ERR(MT_E_INVAL, "init_params: %s is not presented", name);
  if (init)
    return mt_initializer_init_attr(init, name, mt_symbol_var_attr(sym, name, "__init__"), arr);
  return MT_OK;
}

static int check_extra(const mt_arena *given, char *const *names, int n, const char *what) {
  if (!given) return MT_OK;
  for (int i = 0; i < mt_arena_count(given); i++)
    if (mt_module_find_name(names, n, mt_arena_name(given, i)) < 0)
      return MT_ERR(
          MT_E_INVAL,
          "init_params: found name '%s' that is not in the %s (use allow_extra to ignore it)",
          mt_arena_name(given, i), what);
  return MT_OK;
}

static int mod_init_params(mt_module *m, const mt_initializer *init, const mt_arena *arg_params,
                           const mt_arena *aux_params, int allow_missing, int force_init,
                           int allow_extra) {
  if (m->params_initialized && !force_init) {
    mt_log(MT_LOG_WARN, "module",
           "Parameters already initialized and force_init=False. init_params call ignored.");
    return MT_OK;
  }
  if (!m->binded) return MT_ERR(MT_E_STATE, "call bind before initializing the parameters");
  if (!allow_extra) {
    MT_TRY(check_extra(arg_params, m->param_names, m->nparam, "arguments"));
    MT_TRY(check_extra(aux_params, m->aux_names, m->naux, "auxiliary states"));
  }
  for (int i = 0; i < m->nparam; i++)
    MT_TRY(init_one(m->sym, m->param_names[i], mt_arena_at(m->arg_params, i), arg_params, init,
                    allow_missing));
  for (int i = 0; i < m->naux; i++)
    MT_TRY(init_one(m->sym, m->aux_names[i], mt_arena_at(m->aux_params, i), aux_params, init,
                    allow_missing));
  MT_TRY(copy_params_to_devices(m));
  m->params_initialized = 1;
  m->params_dirty = 0;
  return MT_OK;
}

int mt_module_sync_params(mt_module *m) {
  if (!m->params_dirty) return MT_OK;
  mt_exec_slot *s0 = &m->group.slots[0];
  for (int i = 0; i < m->nparam; i++)
    MT_TRY(mt_ndarray_copy(mt_arena_at(m->arg_params, i), mt_arena_at(s0->params, i)));
  /* aux states (BatchNorm's moving stats) differ per context: average them, as MXNet */
  for (int i = 0; i < m->naux; i++) {
    mt_ndarray *dst = mt_arena_at(m->aux_params, i);
    MT_TRY(mt_ndarray_copy(dst, mt_arena_at(s0->aux, i)));
    if (m->group.nslots == 1) continue;
    mt_ndarray *tmp;
    MT_TRY(mt_ndarray_create(dst->shape, mt_cpu(0), &tmp));
    for (int s = 1; s < m->group.nslots; s++) {
      int rc = mt_ndarray_copy(tmp, mt_arena_at(m->group.slots[s].aux, i));
      if (rc < 0) {
        mt_ndarray_free(tmp);
        return rc;
      }
      mtk_axpy(dst->data, 1.0f, tmp->data, dst->size);
    }
    mtk_scale(dst->data, 1.0f / (float)m->group.nslots, dst->size);
    mt_ndarray_free(tmp);
  }
  m->params_dirty = 0;
  return MT_OK;
}

static int mod_get_params(mt_module *m, const mt_arena **arg_params, const mt_arena **aux_params) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before get_params");
  MT_TRY(mt_module_sync_params(m));
  if (arg_params) *arg_params = m->arg_params;
  if (aux_params) *aux_params = m->aux_params;
  return MT_OK;
}

/* -------------------------------------------------------------- optimizer */

static int mod_init_optimizer(mt_module *m, const char *kvstore, const char *optimizer,
                              const char *optimizer_params, int force_init) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before init_optimizer");
  if (m->optimizer_initialized && !force_init) {
    mt_log(MT_LOG_WARN, "module", "optimizer already initialized, ignoring...");
    return MT_OK;
  }
  if (m->owner)
    return MT_ERR(MT_E_STATE,
                  "init_optimizer: a bucket's module borrows the default bucket's optimizer");
  mt_kvstore *kv = NULL;
  MT_TRY(mt_kvstore_create(kvstore, &kv));
  char params[2048];
  const char *given = optimizer_params ? optimizer_params : "";
  if (strstr(given, "rescale_grad=")) snprintf(params, sizeof params, "%s", given);
  else
    snprintf(params, sizeof params, "%s rescale_grad=%.17g", given,
             1.0 / ((double)m->group.batch_size * kv->num_workers));
  mt_optimizer *opt = NULL;
  int rc = mt_optimizer_create(optimizer ? optimizer : "sgd", params, &opt);
  if (rc < 0) {
    mt_kvstore_free(kv);
    return rc;
  }
  /* gradients, parameters and state living in the old kvstore's memory
   * move out before it goes */
  mt_arena *gr0 = m->group.nslots > 0 ? m->group.slots[0].grads : NULL;
  if ((rc = mt_module_share_undo(m)) < 0 ||
      (gr0 && gr0->external && (rc = mt_arena_rehome(gr0, NULL)) < 0)) {
    mt_kvstore_free(kv);
    mt_optimizer_free(opt);
    return rc;
  }
  mt_optimizer_free(m->opt);
  mt_kvstore_free(m->kv);
  m->opt = opt;
  m->kv = kv;
  rc = mt_module_build_buckets(m);
  if (rc == MT_OK && mt_kvstore_is_dist(kv)) rc = mt_module_dist_setup(m);
  if (rc < 0) return rc;
  m->optimizer_initialized = 1;
  return MT_OK;
}

/* ------------------------------------------------------ forward/backward */

static int batch_reshape_if_needed(mt_module *m, const mt_batch *b) {
  int differs = 0;
  for (int i = 0; i < m->ndata; i++)
    differs |= !mt_shape_equal(&b->data[i]->shape, &m->data_shapes[i].shape);
  if (!differs) return MT_OK;
  mt_data_desc d[MT_MAX_BATCH_INPUTS], l[MT_MAX_BATCH_INPUTS];
  for (int i = 0; i < m->ndata; i++) {
    snprintf(d[i].name, sizeof d[i].name, "%s", m->data_names[i]);
    d[i].shape = b->data[i]->shape;
  }
  int nl = b->nlabel >= m->nlabel ? m->nlabel : 0;
  for (int i = 0; i < nl; i++) {
    snprintf(l[i].name, sizeof l[i].name, "%s", m->label_names[i]);
    l[i].shape = b->label[i]->shape;
  }
  return mod_reshape(m, m->ndata, d, nl, l);
}

static int copy_rows(mt_ndarray *dst, const mt_ndarray *src, int64_t begin, int64_t end) {
  if (dst->ctx.type == MT_CPU && src->ctx.type == MT_CPU) {
    int64_t row = src->shape.dim[0] ? src->size / src->shape.dim[0] : 0;
    memcpy(dst->data, src->data + begin * row, (size_t)((end - begin) * row) * sizeof(float));
    return MT_OK;
  }
  mt_ndarray *view;
  MT_TRY(mt_ndarray_slice(src, begin, end, &view));
  int rc = mt_ndarray_copy(dst, view);
  mt_ndarray_free(view);
  return rc;
}

static int mt_module_forward_impl(mt_module *m, const mt_batch *b, int is_train) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before forward");
  if (is_train < 0) is_train = m->for_training;
  if (is_train && !m->for_training)
    return MT_ERR(MT_E_STATE, "forward(is_train=1) on a module bound with for_training=0");
  if (b->ndata != m->ndata)
    return MT_ERR(MT_E_INVAL, "forward: batch has %d data arrays, the module takes %d", b->ndata,
                  m->ndata);
  MT_TRY(batch_reshape_if_needed(m, b));
  int nl = b->nlabel < m->nlabel ? b->nlabel : m->nlabel;
  for (int i = 0; i < nl; i++)
    if (b->label[i]->shape.dim[0] != m->group.batch_size)
      return MT_ERR(MT_E_SHAPE, "forward: label '%s' has %lld rows for a batch of %lld",
                    m->label_names[i], (long long)b->label[i]->shape.dim[0],
                    (long long)m->group.batch_size);
  /* Random operators draw by the sample's place in the global batch (docs/
   * design.md §5): under a distributed kvstore this rank holds rows
   * [rank * B, (rank + 1) * B) of it (B = this rank's batch), as the sharded
   * iterators give them, so Dropout's masks do not depend on the number of
   * ranks. */
  int64_t sample_base =
      m->kv && mt_kvstore_is_dist(m->kv) ? (int64_t)m->kv->rank * m->group.batch_size : 0;
  for (int s = 0; s < m->group.nslots; s++) {
    mt_exec_slot *sl = &m->group.slots[s];
    /* the slice's copy on the executor's stream (if it has one), so the
     * next slot's copy overlaps this slot's forward */
    void *prev = mt_executor_stream_enter(sl->exec);
    int rc = MT_OK;
    for (int i = 0; i < m->ndata && rc == MT_OK; i++)
      rc = copy_rows(sl->inputs[i], b->data[i], sl->begin, sl->end);
    for (int i = 0; i < nl && rc == MT_OK; i++)
      rc = copy_rows(sl->inputs[m->ndata + i], b->label[i], sl->begin, sl->end);
    mt_executor_stream_leave(prev);
    MT_TRY(rc);
    mt_executor_set_rng(sl->exec, m->seed, m->step, sample_base + sl->begin);
    MT_TRY(mt_executor_forward(sl->exec, is_train));
  }
  if (is_train) m->step++;
  m->merged_valid = 0;
  return MT_OK;
}

static int mt_module_backward_impl(mt_module *m, int nout_grads, mt_ndarray *const *out_grads) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before backward");
  if (!m->for_training)
    return MT_ERR(MT_E_STATE, "backward: re-bind with for_training=1 to run backward");
  /* Overlap: with grad_req write, buckets start reducing as soon as the last
   * context's backward has produced them. (With add, gradients accumulate
   * over several backwards and are reduced in update.) */
  int overlap = m->optimizer_initialized && m->grad_req == MT_REQ_WRITE && m->nbuckets > 0 &&
                (m->group.nslots > 1 || mt_kvstore_is_dist(m->kv)) && !m->shared_update;
  /* the node-shared update: gradients go to the other ranks as they are
   * final, when update is sure to follow (forward_backward) */
  int handover = m->shared_update && m->in_forward_backward && m->grad_req == MT_REQ_WRITE;
  MT_TRY(mt_module_check_not_handed_over(m, "backward"));
  if (m->reduce_in_flight) { /* a previous backward's buckets: finish before overwriting */
    MT_TRY(mt_kvstore_wait(m->kv));
    m->reduce_in_flight = 0;
  }
  if (m->group.param_unused && m->grad_req == MT_REQ_WRITE) {
    /* the default bucket's parameters this bucket's symbol does not use:
     * a zero gradient (every rank sums and updates the whole set) */
    for (int s = 0; s < m->group.nslots; s++)
      for (int i = 0; i < m->nparam; i++)
        if (m->group.param_unused[i] && m->group.slots[s].grads)
          MT_TRY(mt_ndarray_fill(mt_arena_at(m->group.slots[s].grads, i), 0.0f));
  }
  if (overlap) {
    memset(m->param_done, 0, (size_t)m->nparam);
    for (int k = 0; k < m->nbuckets; k++)
      m->buckets[k].pending = m->buckets[k].last - m->buckets[k].first + 1;
    m->buckets_started = 0;
    m->next_bucket = 0;
  }
  for (int s = 0; s < m->group.nslots; s++) {
    mt_exec_slot *sl = &m->group.slots[s];
    int last = s == m->group.nslots - 1;
    mt_executor_set_grad_hook(sl->exec,
                              overlap && last ? mt_module_grad_ready
                              : handover      ? mt_module_grad_handover
                                              : NULL,
                              m);
    if (!out_grads || nout_grads == 0) {
      MT_TRY(mt_executor_backward(sl->exec, 0, NULL));
      continue;
    }
    mt_ndarray *views[64] = {0};
    int n = nout_grads < 64 ? nout_grads : 64, rc = MT_OK;
    for (int i = 0; i < n && rc == MT_OK; i++)
      if (out_grads[i]) rc = mt_ndarray_slice(out_grads[i], sl->begin, sl->end, &views[i]);
    if (rc == MT_OK) rc = mt_executor_backward(sl->exec, n, views);
    for (int i = 0; i < n; i++) mt_ndarray_free(views[i]);
    if (rc < 0) return rc;
  }
  if (handover) m->handed_over = 1;
  if (overlap) {
    /* parameters no backward wrote (none in a connected net) go now, in
     * bucket order, once the slots' streams are done */
    MT_TRY(mt_exec_group_wait(&m->group));
    for (int k = m->buckets_in_order ? m->next_bucket : 0; k < m->nbuckets; k++)
      if (m->buckets_in_order || m->buckets[k].pending > 0) {
        m->buckets[k].pending = 0;
        MT_TRY(mt_module_start_bucket(m, k));
      }
    m->next_bucket = m->nbuckets;
    m->reduce_in_flight = 1;
  }
  return MT_OK;
}

static int mod_forward_backward(mt_module *m, const mt_batch *b) {
  MT_TRY(mt_module_check_not_handed_over(m, "forward_backward"));
  MT_TRY(mod_forward(m, b, 1));
  m->in_forward_backward = 1;
  int rc = mod_backward(m, 0, NULL);
  m->in_forward_backward = 0;
  return rc;
}

static int mt_module_update_impl(mt_module *m) {
  if (!m->binded || !m->params_initialized || !m->optimizer_initialized)
    return MT_ERR(MT_E_STATE, "call bind, init_params and init_optimizer before update");
  mt_exec_group *g = &m->group;
  if (!g->slots[0].grads)
    return MT_ERR(MT_E_STATE, "update: the module has no gradients (bound with grad_req null)");
  m->params_dirty = 1;
  if (m->shared_update) return mt_module_shared_update(m);
  float *bufs[64];
  mt_context ctxs[64];
  int n = g->nslots < 64 ? g->nslots : 64;
  if (m->reduce_in_flight) {
    MT_TRY(mt_kvstore_wait(m->kv));
    m->reduce_in_flight = 0;
  } else if (n > 1 || mt_kvstore_is_dist(m->kv)) {
    /* nothing left to overlap: blocking collectives */
    mt_kvstore_set_blocking(m->kv, 1);
    int rc = MT_OK;
    for (int k = 0; k < m->nbuckets && rc == MT_OK; k++) rc = mt_module_start_bucket(m, k);
    mt_kvstore_set_blocking(m->kv, 0);
    MT_TRY(rc);
    MT_TRY(mt_kvstore_wait(m->kv));
  }
  mt_exec_slot *s0 = &g->slots[0];
  int64_t tl = MT_TL_BEGIN();
  if (s0->ctx.type == MT_CPU) {
    /* the NaN/Inf check rides along the update, block by block */
    for (int i = 0; i < m->nparam; i++) {
      int finite = 1;
      MT_TRY(mt_optimizer_update_finite(m->opt, i, m->param_names[i], mt_arena_at(s0->params, i),
                                        mt_arena_at(s0->grads, i), &finite));
      if (!finite)
        return MT_ERR(MT_E_NUMERIC, "gradient of '%s' has NaN or Inf", m->param_names[i]);
    }
  }
#ifdef MT_HAVE_CUDA
  else {
    int finite = 1;
    MT_TRY(mtk_cuda_all_finite(s0->ctx.id, mt_arena_data(s0->grads), mt_arena_size(s0->grads),
                               &finite));
    if (!finite) return MT_ERR(MT_E_NUMERIC, "a gradient on gpu(%d) has NaN or Inf", s0->ctx.id);
    for (int i = 0; i < m->nparam; i++)
      MT_TRY(mt_optimizer_update(m->opt, i, m->param_names[i], mt_arena_at(s0->params, i),
                                 mt_arena_at(s0->grads, i)));
  }
#endif
  MT_TL_END(tl, "optimizer", "optimizer", NULL, m->nparam);
  if (n > 1) {
    for (int s = 0; s < n; s++) {
      bufs[s] = mt_arena_data(g->slots[s].params);
      ctxs[s] = g->slots[s].ctx;
    }
    MT_TRY(mt_kvstore_copy_devices(n, bufs, ctxs, mt_arena_size(s0->params)));
  }
  return MT_OK;
}

static int mod_update_metric(mt_module *m, mt_metric *metric, int nlabel,
                             mt_ndarray *const *labels) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before update_metric");
  int n = nlabel < m->nout ? nlabel : m->nout;
  for (int s = 0; s < m->group.nslots; s++) {
    mt_exec_slot *sl = &m->group.slots[s];
    mt_ndarray *lv[MT_MAX_BATCH_INPUTS] = {0}, *pv[MT_MAX_BATCH_INPUTS];
    int rc = MT_OK;
    for (int i = 0; i < n && i < MT_MAX_BATCH_INPUTS && rc == MT_OK; i++) {
      rc = mt_ndarray_slice(labels[i], sl->begin, sl->end, &lv[i]);
      pv[i] = mt_executor_output(sl->exec, i);
    }
    if (rc == MT_OK) rc = mt_metric_update(metric, n, lv, pv);
    for (int i = 0; i < n && i < MT_MAX_BATCH_INPUTS; i++) mt_ndarray_free(lv[i]);
    if (rc < 0) return rc;
  }
  return MT_OK;
}

/* Concatenates per-slot arrays (rows) into merged arrays on context 0. */
static int merge(mt_module *m, mt_ndarray ***merged, int n,
                 mt_ndarray *(*get)(mt_exec_slot *, int)) {
  if (!*merged) {
    *merged = calloc((size_t)n + 1, sizeof **merged);
    if (!*merged) return MT_NOMEM();
  }
  for (int i = 0; i < n; i++) {
    mt_shape want = get(&m->group.slots[0], i)->shape;
    want.dim[0] = m->group.batch_size;
    if (!(*merged)[i] || !mt_shape_equal(&(*merged)[i]->shape, &want)) {
      mt_ndarray_free((*merged)[i]);
      (*merged)[i] = NULL;
      MT_TRY(mt_ndarray_create(want, m->group.slots[0].ctx, &(*merged)[i]));
    }
    for (int s = 0; s < m->group.nslots; s++) {
      mt_exec_slot *sl = &m->group.slots[s];
      mt_ndarray *view;
      MT_TRY(mt_ndarray_slice((*merged)[i], sl->begin, sl->end, &view));
      int rc = mt_ndarray_copy(view, get(sl, i));
      mt_ndarray_free(view);
      if (rc < 0) return rc;
    }
  }
  return MT_OK;
}

static mt_ndarray *slot_output(mt_exec_slot *s, int i) { return mt_executor_output(s->exec, i); }
static mt_ndarray *slot_input_grad(mt_exec_slot *s, int i) { return s->input_grads[i]; }

static int mod_get_outputs(mt_module *m, int *n, mt_ndarray *const **outputs) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before get_outputs");
  *n = m->nout;
  if (m->group.nslots == 1) {
    if (!m->merged_out) {
      m->merged_out = calloc((size_t)m->nout + 1, sizeof *m->merged_out);
      if (!m->merged_out) return MT_NOMEM();
    }
    /* one context: hand out views of the executor's outputs (no copy) */
    for (int i = 0; i < m->nout; i++) {
      mt_ndarray *o = mt_executor_output(m->group.slots[0].exec, i);
      if (!m->merged_out[i]) {
        m->merged_out[i] = calloc(1, sizeof(mt_ndarray));
        if (!m->merged_out[i]) return MT_NOMEM();
      }
      *m->merged_out[i] = *o;
      m->merged_out[i]->flags = 0;
    }
  } else if (!m->merged_valid) {
    MT_TRY(merge(m, &m->merged_out, m->nout, slot_output));
    m->merged_valid = 1;
  }
  *outputs = m->merged_out;
  return MT_OK;
}

static int mod_get_input_grads(mt_module *m, int *n, mt_ndarray *const **grads) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before get_input_grads");
  if (!m->inputs_need_grad)
    return MT_ERR(MT_E_STATE, "get_input_grads: bind with inputs_need_grad=1");
  MT_TRY(merge(m, &m->merged_igrad, m->ndata, slot_input_grad));
  *n = m->ndata;
  *grads = m->merged_igrad;
  return MT_OK;
}

/* ------------------------------------------------------------- properties */

static int mod_names(const mt_module *m, int which, int *n, const char *const **names) {
  *n = which == 0 ? m->ndata : which == 1 ? m->nlabel : m->nout;
  *names = (const char *const *)(which == 0   ? m->data_names
                                 : which == 1 ? m->label_names
                                              : m->output_names);
  return MT_OK;
}
static int mod_shapes(const mt_module *m, int which, int *n, const mt_data_desc **descs) {
  if (!m->binded) return MT_ERR(MT_E_STATE, "call bind before asking for shapes");
  const mt_data_desc *d = which == 0   ? m->data_shapes
                          : which == 1 ? m->label_shapes
                                       : m->output_shapes;
  *n = d ? (which == 0 ? m->ndata : which == 1 ? m->nlabel : m->nout) : 0;
  *descs = d;
  return MT_OK;
}
static mt_symbol *mod_symbol(const mt_module *m) { return m->sym; }
static mt_kvstore *mod_kvstore(const mt_module *m) { return m->kv; }
static int mod_opt_groups(mt_module *m, int max, mt_module_opt_group *out) {
  if (!m->opt || max < 1) return 0;
  out[0].opt = m->opt;
  out[0].nparam = m->nparam;
  out[0].names = m->param_names;
  out[0].weights = m->group.nslots > 0 ? m->group.slots[0].params : NULL;
  return 1;
}
static int mod_num_contexts(const mt_module *m) { return m->nctx; }

/* After forward or backward (also after an error, before anything is freed):
 * the executors' own streams are done, so whatever reads the slots' arrays
 * next (outputs, metrics, the kvstore, the optimizer, another device's copy)
 * sees their work. Nothing to wait for without streams. */
static int wait_slots(mt_module *m, int rc) {
  int w = mt_exec_group_wait(&m->group);
  return rc < 0 ? rc : w;
}

static int mod_forward(mt_module *m, const mt_batch *b, int is_train) {
  unsigned csr = ftz_on();
  int rc = mt_module_forward_impl(m, b, is_train);
  ftz_restore(csr);
  return wait_slots(m, rc);
}

static int mod_backward(mt_module *m, int nout_grads, mt_ndarray *const *out_grads) {
  unsigned csr = ftz_on();
  int rc = mt_module_backward_impl(m, nout_grads, out_grads);
  ftz_restore(csr);
  return wait_slots(m, rc);
}

static int mod_update(mt_module *m) {
  unsigned csr = ftz_on();
  int rc = mt_module_update_impl(m);
  ftz_restore(csr);
  return rc;
}

static const mt_module_vt module_vt = {
    .kind = "Module",
    .destroy = mod_destroy,
    .bind = mod_bind,
    .reshape = mod_reshape,
    .init_params = mod_init_params,
    .get_params = mod_get_params,
    .init_optimizer = mod_init_optimizer,
    .forward = mod_forward,
    .backward = mod_backward,
    .forward_backward = mod_forward_backward,
    .update = mod_update,
    .update_metric = mod_update_metric,
    .get_outputs = mod_get_outputs,
    .get_input_grads = mod_get_input_grads,
    .names = mod_names,
    .shapes = mod_shapes,
    .symbol = mod_symbol,
    .kvstore = mod_kvstore,
    .opt_groups = mod_opt_groups,
    .get_rng = mod_get_rng,
    .set_rng = mod_set_rng,
    .set_bucket_bytes = mod_set_bucket_bytes,
    .num_contexts = mod_num_contexts,
};
