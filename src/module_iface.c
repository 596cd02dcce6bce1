/* module_iface.c — the public mt_module_* calls, dispatched through the
 * module's table of slots (module.h) so that fit, score, predict,
 * checkpoints and resume work on every module kind: Module (module.c),
 * SequentialModule (sequential_module.c), custom modules (custom_module.c).
 * docs/design.md §2. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "module.h"

int mt_module_new(const mt_module_vt *vt, void *impl, mt_module **out) {
  *out = NULL;
  mt_module *m = calloc(1, sizeof *m);
  if (!m) return MT_NOMEM();
  m->vt = vt;
  m->impl = impl;
  *out = m;
  return MT_OK;
}

void mt_module_free(mt_module *m) {
  if (!m) return;
  if (m->vt && m->vt->destroy) m->vt->destroy(m);
  free(m);
}

#define NEED(m, what)                                                                              \
  do {                                                                                             \
    if (!(m)) return MT_ERR(MT_E_INVAL, "%s: NULL module", what);                                  \
  } while (0)

const char *mt_module_kind(const mt_module *m) { return m ? m->vt->kind : "(null)"; }

int mt_module_bind(mt_module *m, int ndata, const mt_data_desc *data_shapes, int nlabel,
                   const mt_data_desc *label_shapes, int for_training, int inputs_need_grad,
                   int force_rebind, mt_grad_req grad_req) {
  NEED(m, "bind");
  return m->vt->bind(m, ndata, data_shapes, nlabel, label_shapes, for_training, inputs_need_grad,
                     force_rebind, grad_req);
}

int mt_module_reshape(mt_module *m, int ndata, const mt_data_desc *data_shapes, int nlabel,
                      const mt_data_desc *label_shapes) {
  NEED(m, "reshape");
  return m->vt->reshape(m, ndata, data_shapes, nlabel, label_shapes);
}

int mt_module_init_params(mt_module *m, const mt_initializer *init, const mt_arena *arg_params,
                          const mt_arena *aux_params, int allow_missing, int force_init,
                          int allow_extra) {
  NEED(m, "init_params");
  return m->vt->init_params(m, init, arg_params, aux_params, allow_missing, force_init,
                            allow_extra);
}

/* BaseModule.set_params: init_params without an initializer. */
int mt_module_set_params(mt_module *m, const mt_arena *arg_params, const mt_arena *aux_params,
                         int allow_missing, int force_init, int allow_extra) {
  NEED(m, "set_params");
  return m->vt->init_params(m, NULL, arg_params, aux_params, allow_missing, force_init,
                            allow_extra);
}

int mt_module_get_params(mt_module *m, const mt_arena **arg_params, const mt_arena **aux_params) {
  NEED(m, "get_params");
  return m->vt->get_params(m, arg_params, aux_params);
}

int mt_module_init_optimizer(mt_module *m, const char *kvstore, const char *optimizer,
                             const char *optimizer_params, int force_init) {
  NEED(m, "init_optimizer");
  return m->vt->init_optimizer(m, kvstore, optimizer, optimizer_params, force_init);
}

int mt_module_forward(mt_module *m, const mt_batch *batch, int is_train) {
  NEED(m, "forward");
  if (!batch) return MT_ERR(MT_E_INVAL, "forward: NULL batch");
  return m->vt->forward(m, batch, is_train);
}

int mt_module_backward(mt_module *m, int nout_grads, mt_ndarray *const *out_grads) {
  NEED(m, "backward");
  return m->vt->backward(m, nout_grads, out_grads);
}

int mt_module_forward_backward(mt_module *m, const mt_batch *batch) {
  NEED(m, "forward_backward");
  if (!batch) return MT_ERR(MT_E_INVAL, "forward_backward: NULL batch");
  return m->vt->forward_backward(m, batch);
}

int mt_module_update(mt_module *m) {
  NEED(m, "update");
  return m->vt->update(m);
}

int mt_module_update_metric(mt_module *m, mt_metric *metric, int nlabel,
                            mt_ndarray *const *labels) {
  NEED(m, "update_metric");
  return m->vt->update_metric(m, metric, nlabel, labels);
}

int mt_module_get_outputs(mt_module *m, int *n, mt_ndarray *const **outputs) {
  NEED(m, "get_outputs");
  return m->vt->get_outputs(m, n, outputs);
}

int mt_module_get_input_grads(mt_module *m, int *n, mt_ndarray *const **grads) {
  NEED(m, "get_input_grads");
  return m->vt->get_input_grads(m, n, grads);
}

/* ------------------------------------------------------------- properties */

int mt_module_data_names(const mt_module *m, int *n, const char *const **names) {
  NEED(m, "data_names");
  return m->vt->names(m, 0, n, names);
}
int mt_module_label_names(const mt_module *m, int *n, const char *const **names) {
  NEED(m, "label_names");
  return m->vt->names(m, 1, n, names);
}
int mt_module_output_names(const mt_module *m, int *n, const char *const **names) {
  NEED(m, "output_names");
  return m->vt->names(m, 2, n, names);
}
int mt_module_data_shapes(const mt_module *m, int *n, const mt_data_desc **d) {
  NEED(m, "data_shapes");
  return m->vt->shapes(m, 0, n, d);
}
int mt_module_label_shapes(const mt_module *m, int *n, const mt_data_desc **d) {
  NEED(m, "label_shapes");
  return m->vt->shapes(m, 1, n, d);
}
int mt_module_output_shapes(const mt_module *m, int *n, const mt_data_desc **d) {
  NEED(m, "output_shapes");
  return m->vt->shapes(m, 2, n, d);
}
int mt_module_binded(const mt_module *m) { return m && m->binded; }
int mt_module_for_training(const mt_module *m) { return m && m->for_training; }
int mt_module_params_initialized(const mt_module *m) { return m && m->params_initialized; }
int mt_module_optimizer_initialized(const mt_module *m) { return m && m->optimizer_initialized; }
int mt_module_inputs_need_grad(const mt_module *m) { return m && m->inputs_need_grad; }
mt_symbol *mt_module_symbol(const mt_module *m) { return m ? m->vt->symbol(m) : NULL; }

mt_optimizer *mt_module_get_optimizer(mt_module *m) {
  mt_module_opt_group g;
  return m && m->vt->opt_groups(m, 1, &g) > 0 ? g.opt : NULL;
}

int mt_module_set_bucket_bytes(mt_module *m, int64_t bytes) {
  NEED(m, "set_bucket_bytes");
  return m->vt->set_bucket_bytes(m, bytes);
}

void mt_module_set_seed(mt_module *m, uint64_t seed) {
  if (!m) return;
  uint64_t s, step;
  m->vt->get_rng(m, &s, &step);
  m->vt->set_rng(m, seed, step);
}

/* --------------------------------------------- what fit and checkpoints use */

mt_kvstore *mt_module_kvstore(const mt_module *m) { return m->vt->kvstore(m); }
int mt_module_opt_groups(mt_module *m, int max, mt_module_opt_group *out) {
  return m->vt->opt_groups(m, max, out);
}
void mt_module_get_rng(const mt_module *m, uint64_t *seed, uint64_t *step) {
  m->vt->get_rng(m, seed, step);
}
void mt_module_set_rng(mt_module *m, uint64_t seed, uint64_t step) {
  m->vt->set_rng(m, seed, step);
}
int mt_module_num_contexts(const mt_module *m) { return m->vt->num_contexts(m); }
int mt_module_buckets(const mt_module *m, int *default_key, int max, int *keys, mt_symbol **syms) {
  return m->vt->buckets ? m->vt->buckets(m, default_key, max, keys, syms) : 0;
}
