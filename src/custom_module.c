/* custom_module.c — modules written in C (MXNet's PythonModule and
 * PythonLossModule): user callbacks compute forward, backward, the outputs
 * and the input gradients; the module keeps MXNet's state machine around
 * them. No parameters unless the user's callbacks provide them. The loss
 * module is a custom module whose callbacks keep the scores and labels and
 * call a gradient function. docs/design.md §2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "module.h"

typedef struct {
  mt_custom_module_ops ops;
  void *user;
  int ndata, nlabel, nout;
  char *data_names[MT_MAX_BATCH_INPUTS], *label_names[MT_MAX_BATCH_INPUTS];
  char **output_names;
  int has_label_shapes;
  mt_data_desc data_shapes[MT_MAX_BATCH_INPUTS], label_shapes[MT_MAX_BATCH_INPUTS];
  mt_data_desc *output_shapes;
  mt_arena *no_args, *no_aux; /* get_params without the user's parameters: empty */
} custom_impl;

static custom_impl *C(const mt_module *m) { return m->impl; }

static void custom_destroy(mt_module *m) {
  custom_impl *c = C(m);
  if (!c) return;
  if (c->ops.destroy) c->ops.destroy(c->user);
  for (int i = 0; i < c->ndata; i++) free(c->data_names[i]);
  for (int i = 0; i < c->nlabel; i++) free(c->label_names[i]);
  for (int i = 0; c->output_names && i < c->nout; i++) free(c->output_names[i]);
  free(c->output_names);
  free(c->output_shapes);
  mt_arena_free(c->no_args);
  mt_arena_free(c->no_aux);
  free(c);
}

/* Orders the given descriptions as names (a missing name is an error). */
static int match(const char *what, int nnames, char *const *names, int n, const mt_data_desc *d,
                 mt_data_desc *out) {
  if (n != nnames)
    return MT_ERR(MT_E_INVAL, "bind: %d %s shapes given for %d %s names", n, what, nnames, what);
  for (int i = 0; i < nnames; i++) {
    int k = -1;
    for (int j = 0; j < n; j++)
      if (!strcmp(d[j].name, names[i])) k = j;
    if (k < 0)
      return MT_ERR(MT_E_INVAL,
                    "bind: no %s shape for '%s' (the %s names are the module's %s_names)", what,
                    names[i], what, what);
    out[i] = d[k];
  }
  return MT_OK;
}

static int custom_shapes_for(mt_module *m, int ndata, const mt_data_desc *data, int nlabel,
                             const mt_data_desc *label) {
  custom_impl *c = C(m);
  mt_data_desc ds[MT_MAX_BATCH_INPUTS], ls[MT_MAX_BATCH_INPUTS];
  MT_TRY(match("data", c->ndata, c->data_names, ndata, data, ds));
  int have = label && nlabel > 0;
  if (have) MT_TRY(match("label", c->nlabel, c->label_names, nlabel, label, ls));
  mt_data_desc *os = calloc((size_t)c->nout, sizeof *os);
  if (!os) return MT_NOMEM();
  int rc = MT_OK;
  if (c->ops.output_shapes)
    rc = c->ops.output_shapes(c->user, c->ndata, ds, have ? c->nlabel : 0, have ? ls : NULL,
                              c->nout, os);
  else
    for (int i = 0; i < c->nout; i++) os[i] = ds[0];
  if (rc < 0) {
    free(os);
    return rc;
  }
  for (int i = 0; i < c->nout; i++)
    snprintf(os[i].name, sizeof os[i].name, "%s", c->output_names[i]);
  memcpy(c->data_shapes, ds, sizeof *ds * (size_t)c->ndata);
  c->has_label_shapes = have;
  if (have) memcpy(c->label_shapes, ls, sizeof *ls * (size_t)c->nlabel);
  free(c->output_shapes);
  c->output_shapes = os;
  return MT_OK;
}

static int custom_bind(mt_module *m, int ndata, const mt_data_desc *data, int nlabel,
                       const mt_data_desc *label, int for_training, int inputs_need_grad,
                       int force_rebind, mt_grad_req grad_req) {
  (void)grad_req;
  if (m->binded && !force_rebind) {
    mt_log(MT_LOG_WARN, "module", "Already bound, ignoring bind()");
    return MT_OK;
  }
  if (!for_training && inputs_need_grad)
    return MT_ERR(MT_E_INVAL, "bind: inputs_need_grad requires for_training");
  custom_impl *c = C(m);
  if (for_training && (!c->ops.backward || !c->ops.get_input_grads) && inputs_need_grad)
    return MT_ERR(MT_E_UNSUPPORTED,
                  "bind: inputs_need_grad=1, but the custom module has no backward / "
                  "get_input_grads callback");
  MT_TRY(custom_shapes_for(m, ndata, data, nlabel, label));
  if (c->ops.bind) {
    int have = c->has_label_shapes;
    MT_TRY(c->ops.bind(c->user, c->ndata, c->data_shapes, have ? c->nlabel : 0,
                       have ? c->label_shapes : NULL, for_training, inputs_need_grad));
  }
  m->for_training = for_training;
  m->inputs_need_grad = inputs_need_grad;
  m->binded = 1;
  return MT_OK;
}

static int custom_reshape(mt_module *m, int ndata, const mt_data_desc *data, int nlabel,
                          const mt_data_desc *label) {
  if (!m->binded) return MT_ERR(MT_E_STATE, "call bind before reshape");
  MT_TRY(custom_shapes_for(m, ndata, data, nlabel, label));
  custom_impl *c = C(m);
  if (c->ops.bind) {
    int have = c->has_label_shapes;
    MT_TRY(c->ops.bind(c->user, c->ndata, c->data_shapes, have ? c->nlabel : 0,
                       have ? c->label_shapes : NULL, m->for_training, m->inputs_need_grad));
  }
  return MT_OK;
}

static int custom_init_params(mt_module *m, const mt_initializer *init, const mt_arena *arg_params,
                              const mt_arena *aux_params, int allow_missing, int force_init,
                              int allow_extra) {
  (void)allow_extra;
  if (m->params_initialized && !force_init) {
    mt_log(MT_LOG_WARN, "module",
           "Parameters already initialized and force_init=False. init_params call ignored.");
    return MT_OK;
  }
  if (!m->binded) return MT_ERR(MT_E_STATE, "call bind before initializing the parameters");
  custom_impl *c = C(m);
  if (c->ops.init_params)
    MT_TRY(c->ops.init_params(c->user, init, arg_params, aux_params, allow_missing));
  m->params_initialized = 1;
  return MT_OK;
}

static int custom_get_params(mt_module *m, const mt_arena **args, const mt_arena **aux) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before get_params");
  custom_impl *c = C(m);
  const mt_arena *a = NULL, *x = NULL;
  if (c->ops.get_params) MT_TRY(c->ops.get_params(c->user, &a, &x));
  if (!a || !x) {
    if (!c->no_args) MT_TRY(mt_arena_create(mt_cpu(0), 0, NULL, NULL, &c->no_args));
    if (!c->no_aux) MT_TRY(mt_arena_create(mt_cpu(0), 0, NULL, NULL, &c->no_aux));
  }
  if (args) *args = a ? a : c->no_args;
  if (aux) *aux = x ? x : c->no_aux;
  return MT_OK;
}

/* PythonModule.init_optimizer: nothing to install unless the user updates. */
static int custom_init_optimizer(mt_module *m, const char *kvstore, const char *optimizer,
                                 const char *optimizer_params, int force_init) {
  (void)kvstore, (void)optimizer, (void)optimizer_params;
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before init_optimizer");
  if (m->optimizer_initialized && !force_init) {
    mt_log(MT_LOG_WARN, "module", "optimizer already initialized, ignoring.");
    return MT_OK;
  }
  m->optimizer_initialized = 1;
  return MT_OK;
}

static int custom_forward(mt_module *m, const mt_batch *b, int is_train) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before forward");
  if (is_train < 0) is_train = m->for_training;
  if (is_train && !m->for_training)
    return MT_ERR(MT_E_STATE, "forward(is_train=1) on a module bound with for_training=0");
  custom_impl *c = C(m);
  if (b->ndata != c->ndata)
    return MT_ERR(MT_E_INVAL, "forward: batch has %d data arrays, the module takes %d", b->ndata,
                  c->ndata);
  mt_batch in = *b;
  if (in.nlabel > c->nlabel) in.nlabel = c->nlabel;
  return c->ops.forward(c->user, &in, is_train);
}

static int custom_backward(mt_module *m, int nout_grads, mt_ndarray *const *out_grads) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before backward");
  if (!m->for_training)
    return MT_ERR(MT_E_STATE, "backward: re-bind with for_training=1 to run backward");
  custom_impl *c = C(m);
  if (!c->ops.backward)
    return MT_ERR(MT_E_UNSUPPORTED, "backward: the custom module has no backward callback");
  return c->ops.backward(c->user, nout_grads, out_grads);
}

static int custom_forward_backward(mt_module *m, const mt_batch *b) {
  MT_TRY(custom_forward(m, b, 1));
  return custom_backward(m, 0, NULL);
}

static int custom_update(mt_module *m) {
  if (!m->binded || !m->params_initialized || !m->optimizer_initialized)
    return MT_ERR(MT_E_STATE, "call bind, init_params and init_optimizer before update");
  custom_impl *c = C(m);
  return c->ops.update ? c->ops.update(c->user) : MT_OK;
}

static int custom_get_outputs(mt_module *m, int *n, mt_ndarray *const **outputs) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before get_outputs");
  custom_impl *c = C(m);
  return c->ops.get_outputs(c->user, n, outputs);
}

static int custom_get_input_grads(mt_module *m, int *n, mt_ndarray *const **grads) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before get_input_grads");
  if (!m->inputs_need_grad)
    return MT_ERR(MT_E_STATE, "get_input_grads: bind with inputs_need_grad=1");
  custom_impl *c = C(m);
  if (!c->ops.get_input_grads)
    return MT_ERR(MT_E_UNSUPPORTED, "get_input_grads: the custom module has no such callback");
  return c->ops.get_input_grads(c->user, n, grads);
}

/* PythonModule.update_metric: eval_metric.update(labels, get_outputs()). */
static int custom_update_metric(mt_module *m, mt_metric *metric, int nlabel,
                                mt_ndarray *const *labels) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before update_metric");
  custom_impl *c = C(m);
  if (c->ops.update_metric) return c->ops.update_metric(c->user, metric, nlabel, labels);
  int n;
  mt_ndarray *const *outs;
  MT_TRY(c->ops.get_outputs(c->user, &n, &outs));
  return mt_metric_update(metric, nlabel < n ? nlabel : n, labels, outs);
}

static int custom_names(const mt_module *m, int which, int *n, const char *const **names) {
  custom_impl *c = C(m);
  *n = which == 0 ? c->ndata : which == 1 ? c->nlabel : c->nout;
  *names = (const char *const *)(which == 0   ? c->data_names
                                 : which == 1 ? c->label_names
                                              : c->output_names);
  return MT_OK;
}

static int custom_shapes(const mt_module *m, int which, int *n, const mt_data_desc **d) {
  if (!m->binded) return MT_ERR(MT_E_STATE, "call bind before asking for shapes");
  custom_impl *c = C(m);
  if (which == 0) *n = c->ndata, *d = c->data_shapes;
  else if (which == 1)
    *n = c->has_label_shapes ? c->nlabel : 0, *d = c->has_label_shapes ? c->label_shapes : NULL;
  else *n = c->nout, *d = c->output_shapes;
  return MT_OK;
}

static mt_symbol *custom_symbol(const mt_module *m) {
  (void)m;
  return NULL;
}
static mt_kvstore *custom_kvstore(const mt_module *m) {
  (void)m;
  return NULL;
}
static int custom_opt_groups(mt_module *m, int max, mt_module_opt_group *out) {
  (void)m, (void)max, (void)out;
  return 0;
}
static void custom_get_rng(const mt_module *m, uint64_t *seed, uint64_t *step) {
  (void)m;
  *seed = *step = 0;
}
static void custom_set_rng(mt_module *m, uint64_t seed, uint64_t step) {
  (void)m, (void)seed, (void)step;
}
static int custom_set_bucket_bytes(mt_module *m, int64_t bytes) {
  (void)m;
  if (bytes < 0)
    return MT_ERR(MT_E_INVAL, "bucket size must be >= 0 bytes, got %lld", (long long)bytes);
  return MT_OK;
}
static int custom_num_contexts(const mt_module *m) {
  (void)m;
  return 1;
}

static const mt_module_vt custom_vt = {
    .kind = "CustomModule",
    .destroy = custom_destroy,
    .bind = custom_bind,
    .reshape = custom_reshape,
    .init_params = custom_init_params,
    .get_params = custom_get_params,
    .init_optimizer = custom_init_optimizer,
    .forward = custom_forward,
    .backward = custom_backward,
    .forward_backward = custom_forward_backward,
    .update = custom_update,
    .update_metric = custom_update_metric,
    .get_outputs = custom_get_outputs,
    .get_input_grads = custom_get_input_grads,
    .names = custom_names,
    .shapes = custom_shapes,
    .symbol = custom_symbol,
    .kvstore = custom_kvstore,
    .opt_groups = custom_opt_groups,
    .get_rng = custom_get_rng,
    .set_rng = custom_set_rng,
    .set_bucket_bytes = custom_set_bucket_bytes,
    .num_contexts = custom_num_contexts,
};

int mt_custom_module_create(const mt_custom_module_ops *ops, void *user, int ndata,
                            const char *const *data_names, int nlabel,
                            const char *const *label_names, int nout,
                            const char *const *output_names, mt_module **out) {
  if (!out) return MT_ERR(MT_E_INVAL, "custom module: NULL output");
  *out = NULL;
  int rc = MT_OK;
  if (!ops || !ops->forward || !ops->get_outputs)
    rc = MT_ERR(MT_E_INVAL, "custom module: the forward and get_outputs callbacks are required");
  else if (ndata < 1 || ndata > MT_MAX_BATCH_INPUTS || !data_names)
    rc = MT_ERR(MT_E_INVAL, "custom module: %d data names (1..%d)", ndata, MT_MAX_BATCH_INPUTS);
  else if (nlabel < 0 || nlabel > MT_MAX_BATCH_INPUTS || (nlabel > 0 && !label_names))
    rc = MT_ERR(MT_E_INVAL, "custom module: %d label names (0..%d)", nlabel, MT_MAX_BATCH_INPUTS);
  else if (nout < 1 || nout > 64 || !output_names)
    rc = MT_ERR(MT_E_INVAL, "custom module: %d output names (1..64)", nout);
  if (rc < 0) {
    if (ops && ops->destroy) ops->destroy(user);
    return rc;
  }
  custom_impl *c = calloc(1, sizeof *c);
  if (!c) {
    if (ops->destroy) ops->destroy(user);
    return MT_NOMEM();
  }
  c->ops = *ops;
  c->user = user;
  if ((rc = mt_module_new(&custom_vt, c, out)) < 0) {
    custom_destroy(&(mt_module){.impl = c});
    return rc;
  }
  c->output_names = calloc((size_t)nout, sizeof *c->output_names);
  if (!c->output_names) goto nomem;
  for (int i = 0; i < ndata; i++, c->ndata++)
    if (!(c->data_names[i] = strdup(data_names[i]))) goto nomem;
  for (int i = 0; i < nlabel; i++, c->nlabel++)
    if (!(c->label_names[i] = strdup(label_names[i]))) goto nomem;
  for (int i = 0; i < nout; i++, c->nout++)
    if (!(c->output_names[i] = strdup(output_names[i]))) goto nomem;
  return MT_OK;
nomem:
  mt_module_free(*out);
  *out = NULL;
  return MT_NOMEM();
}

/* ------------------------------------------------------------ loss module */

typedef struct {
  mt_loss_grad_fn grad_fn;
  void *user;
  mt_ndarray *scores, *labels, *grad;
  int has_labels;
} loss_state;

/* arr holds a copy of src (same shape and context), reallocated when needed. */
static int keep_copy(mt_ndarray **arr, const mt_ndarray *src) {
  if (!*arr || !mt_shape_equal(&(*arr)->shape, &src->shape) || (*arr)->ctx.type != src->ctx.type ||
      (*arr)->ctx.id != src->ctx.id) {
    mt_ndarray_free(*arr);
    *arr = NULL;
    MT_TRY(mt_ndarray_create(src->shape, src->ctx, arr));
  }
  return mt_ndarray_copy(*arr, src);
}

static int loss_forward(void *user, const mt_batch *b, int is_train) {
  loss_state *s = user;
  MT_TRY(keep_copy(&s->scores, b->data[0]));
  s->has_labels = 0;
  if (is_train && b->nlabel > 0) {
    MT_TRY(keep_copy(&s->labels, b->label[0]));
    s->has_labels = 1;
  }
  return MT_OK;
}

static int loss_get_outputs(void *user, int *n, mt_ndarray *const **outputs) {
  loss_state *s = user;
  if (!s->scores) return MT_ERR(MT_E_STATE, "get_outputs: call forward first");
  *n = 1;
  *outputs = &s->scores;
  return MT_OK;
}

static int loss_backward(void *user, int nout_grads, mt_ndarray *const *out_grads) {
  loss_state *s = user;
  if (nout_grads > 0 && out_grads)
    return MT_ERR(MT_E_INVAL,
                  "loss module backward: out_grads must be NULL (a loss module ends "
                  "the chain; MXNet asserts out_grads is None)");
  if (!s->grad_fn)
    return MT_ERR(MT_E_UNSUPPORTED, "loss module: no grad_func given (NotImplementedError)");
  if (!s->scores || !s->has_labels)
    return MT_ERR(MT_E_STATE, "loss module backward: call forward(is_train=1) with labels first");
  if (!s->grad || !mt_shape_equal(&s->grad->shape, &s->scores->shape) ||
      s->grad->ctx.type != s->scores->ctx.type || s->grad->ctx.id != s->scores->ctx.id) {
    mt_ndarray_free(s->grad);
    s->grad = NULL;
    MT_TRY(mt_ndarray_create(s->scores->shape, s->scores->ctx, &s->grad));
  }
  return s->grad_fn(s->scores, s->labels, s->grad, s->user);
}

static int loss_get_input_grads(void *user, int *n, mt_ndarray *const **grads) {
  loss_state *s = user;
  if (!s->grad) return MT_ERR(MT_E_STATE, "get_input_grads: call backward first");
  *n = 1;
  *grads = &s->grad;
  return MT_OK;
}

static void loss_destroy(void *user) {
  loss_state *s = user;
  if (!s) return;
  mt_ndarray_free(s->scores);
  mt_ndarray_free(s->labels);
  mt_ndarray_free(s->grad);
  free(s);
}

int mt_loss_module_create(const char *name, const char *data_name, const char *label_name,
                          mt_loss_grad_fn grad_fn, void *user, mt_module **out) {
  if (!out) return MT_ERR(MT_E_INVAL, "loss module: NULL output");
  *out = NULL;
  loss_state *s = calloc(1, sizeof *s);
  if (!s) return MT_NOMEM();
  s->grad_fn = grad_fn;
  s->user = user;
  char oname[256];
  snprintf(oname, sizeof oname, "%s_output", name ? name : "pyloss");
  const char *dn = data_name ? data_name : "data", *ln = label_name ? label_name : "softmax_label",
             *on = oname;
  mt_custom_module_ops ops = {
      .forward = loss_forward,
      .get_outputs = loss_get_outputs,
      .backward = loss_backward,
      .get_input_grads = loss_get_input_grads,
      .destroy = loss_destroy,
  };
  return mt_custom_module_create(&ops, s, 1, &dn, 1, &ln, 1, &on, out);
}
