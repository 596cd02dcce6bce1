/* sequential_module.c — MXNet's SequentialModule: a chain of modules, each
 * one's outputs the next one's data. bind chains the output shapes into the
 * next child's data shapes (renamed to its data names with auto_wiring) and
 * binds the children after the first with inputs_need_grad when training;
 * forward feeds outputs forward, backward passes input gradients back;
 * init_params, init_optimizer and update fan out; update_metric goes to the
 * children that take labels; get_params merges the children's (a parameter
 * name used by two children is MXNet's "Duplicated parameter names" error).
 * Each child keeps its own optimizer and kvstore (gradients summed across
 * ranks child by child). docs/design.md §2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "module.h"

typedef struct {
  int n, cap;
  mt_module **mods;
  int *take_labels, *auto_wiring;
  int nlabel; /* label names: those of the children taking labels, first seen first */
  char *label_names[MT_MAX_BATCH_INPUTS];
  int nlabel_shapes; /* the label shapes given to bind, when a child takes labels */
  mt_data_desc label_shapes[MT_MAX_BATCH_INPUTS];
  mt_arena *args, *aux; /* get_params' merged CPU copies */
} seq_impl;

static const mt_module_vt seq_vt;

static seq_impl *S(const mt_module *m) { return m->impl; }

static void drop_merged(seq_impl *q) {
  mt_arena_free(q->args);
  mt_arena_free(q->aux);
  q->args = q->aux = NULL;
}

static void seq_destroy(mt_module *m) {
  seq_impl *q = S(m);
  if (!q) return;
  for (int i = 0; i < q->n; i++) {
    q->mods[i]->parent = NULL;
    mt_module_free(q->mods[i]);
  }
  for (int i = 0; i < q->nlabel; i++) free(q->label_names[i]);
  free(q->mods);
  free(q->take_labels);
  free(q->auto_wiring);
  drop_merged(q);
  free(q);
}

int mt_sequential_module_create(mt_module **out) {
  if (!out) return MT_ERR(MT_E_INVAL, "SequentialModule: NULL output");
  *out = NULL;
  seq_impl *q = calloc(1, sizeof *q);
  if (!q) return MT_NOMEM();
  int rc = mt_module_new(&seq_vt, q, out);
  if (rc < 0) free(q);
  return rc;
}

static int is_sequential(const mt_module *m) { return m && m->vt == &seq_vt; }

int mt_sequential_module_add(mt_module *seq, mt_module *child, int take_labels, int auto_wiring) {
  if (!is_sequential(seq))
    return MT_ERR(MT_E_INVAL, "SequentialModule.add: %s is not a SequentialModule",
                  seq ? mt_module_kind(seq) : "NULL");
  if (!child) return MT_ERR(MT_E_INVAL, "SequentialModule.add: NULL module");
  if (child == seq) return MT_ERR(MT_E_INVAL, "SequentialModule.add: a module cannot hold itself");
  for (mt_module *p = seq->parent; p; p = p->parent)
    if (p == child)
      return MT_ERR(MT_E_INVAL, "SequentialModule.add: the module already holds this one");
  if (child->parent)
    return MT_ERR(MT_E_INVAL,
                  "SequentialModule.add: the %s was already added to a SequentialModule (a "
                  "module belongs to one chain)",
                  mt_module_kind(child));
  seq_impl *q = S(seq);
  if (q->n == q->cap) {
    int cap = q->cap ? 2 * q->cap : 4;
    mt_module **mods = realloc(q->mods, sizeof *mods * (size_t)cap);
    if (!mods) return MT_NOMEM();
    q->mods = mods;
    int *tl = realloc(q->take_labels, sizeof *tl * (size_t)cap);
    if (!tl) return MT_NOMEM();
    q->take_labels = tl;
    int *aw = realloc(q->auto_wiring, sizeof *aw * (size_t)cap);
    if (!aw) return MT_NOMEM();
    q->auto_wiring = aw;
    q->cap = cap;
  }
  if (take_labels) { /* the chain's label names: the label-taking children's */
    int n;
    const char *const *names;
    MT_TRY(mt_module_label_names(child, &n, &names));
    for (int i = 0; i < n; i++) {
      int known = 0;
      for (int k = 0; k < q->nlabel; k++) known |= !strcmp(q->label_names[k], names[i]);
      if (known) continue;
      if (q->nlabel == MT_MAX_BATCH_INPUTS)
        return MT_ERR(MT_E_INVAL, "SequentialModule.add: more than %d label names",
                      MT_MAX_BATCH_INPUTS);
      if (!(q->label_names[q->nlabel] = strdup(names[i]))) return MT_NOMEM();
      q->nlabel++;
    }
  }
  q->mods[q->n] = child;
  q->take_labels[q->n] = take_labels != 0;
  q->auto_wiring[q->n] = auto_wiring != 0;
  q->n++;
  child->parent = seq;
  /* as MXNet: after adding, the chain needs bind, init_params, ... again */
  seq->binded = seq->params_initialized = seq->optimizer_initialized = 0;
  drop_merged(q);
  return MT_OK;
}

int mt_sequential_module_add_meta(mt_module *seq, mt_module *child, const char *meta) {
  int take = 0, wire = 0;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", meta ? meta : "");
  for (char *save = NULL, *tok = strtok_r(buf, " ,\t", &save); tok;
       tok = strtok_r(NULL, " ,\t", &save)) {
    char *eq = strchr(tok, '=');
    int v = 1;
    if (eq) {
      *eq = 0;
      if (!strcmp(eq + 1, "1") || !strcmp(eq + 1, "true") || !strcmp(eq + 1, "True")) v = 1;
      else if (!strcmp(eq + 1, "0") || !strcmp(eq + 1, "false") || !strcmp(eq + 1, "False")) v = 0;
      else
        return MT_ERR(MT_E_INVAL, "SequentialModule.add: meta \"%s\" has value \"%s\" (0 or 1)",
                      tok, eq + 1);
    }
    if (!strcmp(tok, "take_labels")) take = v;
    else if (!strcmp(tok, "auto_wiring")) wire = v;
    else return MT_ERR(MT_E_INVAL, "Unknown meta \"%s\", a typo?", tok);
  }
  return mt_sequential_module_add(seq, child, take, wire);
}

int mt_sequential_module_num_children(const mt_module *seq) {
  return is_sequential(seq) ? S(seq)->n : 0;
}

mt_module *mt_sequential_module_child(mt_module *seq, int i) {
  if (!is_sequential(seq) || i < 0 || i >= S(seq)->n) return NULL;
  return S(seq)->mods[i];
}

/* ------------------------------------------------------------------ bind */

/* Binds (or reshapes, when reshape) the chain for the given shapes. */
static int chain(mt_module *m, int ndata, const mt_data_desc *data_shapes, int nlabel,
                 const mt_data_desc *label_shapes, int for_training, int inputs_need_grad,
                 int force_rebind, mt_grad_req grad_req, int reshape) {
  seq_impl *q = S(m);
  if (ndata < 0 || ndata > MT_MAX_BATCH_INPUTS || (ndata > 0 && !data_shapes))
    return MT_ERR(MT_E_INVAL, "bind: %d data shapes (0..%d)", ndata, MT_MAX_BATCH_INPUTS);
  if (nlabel < 0 || nlabel > MT_MAX_BATCH_INPUTS)
    return MT_ERR(MT_E_INVAL, "bind: %d label shapes (0..%d)", nlabel, MT_MAX_BATCH_INPUTS);
  mt_data_desc cur[MT_MAX_BATCH_INPUTS];
  int ncur = ndata, any_labels = 0;
  memcpy(cur, data_shapes, sizeof *cur * (size_t)ndata);
  for (int i = 0; i < q->n; i++) {
    mt_module *c = q->mods[i];
    int nl = q->take_labels[i] && label_shapes ? nlabel : 0;
    any_labels |= q->take_labels[i];
    if (q->auto_wiring[i]) {
      int nn;
      const char *const *names;
      MT_TRY(mt_module_data_names(c, &nn, &names));
      if (nn != ncur)
        return MT_ERR(MT_E_SHAPE,
                      "bind: auto_wiring module %d (%s) takes %d data inputs, the module before it "
                      "gives %d outputs",
                      i, mt_module_kind(c), nn, ncur);
      for (int k = 0; k < ncur; k++) snprintf(cur[k].name, sizeof cur[k].name, "%s", names[k]);
    }
    int rc = reshape ? mt_module_reshape(c, ncur, cur, nl, nl ? label_shapes : NULL)
                     : mt_module_bind(c, ncur, cur, nl, nl ? label_shapes : NULL, for_training,
                                      inputs_need_grad || (for_training && i > 0), force_rebind,
                                      grad_req);
    if (rc < 0) return mt_error_prefix(rc, "SequentialModule: module %d", i);
    /* the outputs of this module are the data of the next one */
    int no;
    const mt_data_desc *os;
    MT_TRY(mt_module_output_shapes(c, &no, &os));
    if (no > MT_MAX_BATCH_INPUTS && i + 1 < q->n)
      return MT_ERR(MT_E_INVAL, "bind: module %d has %d outputs; the next one takes at most %d", i,
                    no, MT_MAX_BATCH_INPUTS);
    ncur = no < MT_MAX_BATCH_INPUTS ? no : MT_MAX_BATCH_INPUTS;
    memcpy(cur, os, sizeof *cur * (size_t)ncur);
  }
  /* the same label shapes go to every child taking labels; none if none does */
  q->nlabel_shapes = any_labels && label_shapes ? nlabel : 0;
  memcpy(q->label_shapes, label_shapes ? label_shapes : cur,
         sizeof *cur * (size_t)q->nlabel_shapes);
  return MT_OK;
}

static int seq_bind(mt_module *m, int ndata, const mt_data_desc *data_shapes, int nlabel,
                    const mt_data_desc *label_shapes, int for_training, int inputs_need_grad,
                    int force_rebind, mt_grad_req grad_req) {
  if (m->binded && !force_rebind) {
    mt_log(MT_LOG_WARN, "module", "Already bound, ignoring bind()");
    return MT_OK;
  }
  if (!for_training && inputs_need_grad)
    return MT_ERR(MT_E_INVAL, "bind: inputs_need_grad requires for_training");
  if (S(m)->n == 0) return MT_ERR(MT_E_STATE, "Attempting to bind an empty SequentialModule");
  m->binded = 0;
  MT_TRY(chain(m, ndata, data_shapes, nlabel, label_shapes, for_training, inputs_need_grad,
               force_rebind, grad_req, 0));
  m->for_training = for_training;
  m->inputs_need_grad = inputs_need_grad;
  m->binded = 1;
  return MT_OK;
}

static int seq_reshape(mt_module *m, int ndata, const mt_data_desc *data_shapes, int nlabel,
                       const mt_data_desc *label_shapes) {
  if (!m->binded) return MT_ERR(MT_E_STATE, "call bind before reshape");
  return chain(m, ndata, data_shapes, nlabel, label_shapes, m->for_training, m->inputs_need_grad, 0,
               MT_REQ_WRITE, 1);
}

/* ------------------------------------------------------------ parameters */

/* MXNet's _check_name: a name of child i seen in an earlier child. */
static int check_names(mt_module *m, int which) {
  seq_impl *q = S(m);
  for (int i = 0; i < q->n; i++) {
    const mt_arena *a[2];
    MT_TRY(mt_module_get_params(q->mods[i], &a[0], &a[1]));
    for (int k = 0; k < mt_arena_count(a[which]); k++) {
      const char *name = mt_arena_name(a[which], k);
      for (int j = 0; j < i; j++) {
        const mt_arena *b[2];
        MT_TRY(mt_module_get_params(q->mods[j], &b[0], &b[1]));
        if (mt_arena_get(b[which], name))
          return MT_ERR(MT_E_INVAL,
                        "Duplicated parameter names: name \"%s\" in layer %d (%s) is already "
                        "used in layer %d (%s).",
                        name, i, mt_module_kind(q->mods[i]), j, mt_module_kind(q->mods[j]));
      }
    }
  }
  return MT_OK;
}

/* allow_extra=0: every given name must be some child's parameter. */
static int check_extra(mt_module *m, const mt_arena *given, int which, const char *what) {
  seq_impl *q = S(m);
  for (int k = 0; given && k < mt_arena_count(given); k++) {
    const char *name = mt_arena_name(given, k);
    int found = 0;
    for (int i = 0; i < q->n && !found; i++) {
      const mt_arena *a[2];
      MT_TRY(mt_module_get_params(q->mods[i], &a[0], &a[1]));
      found = mt_arena_get(a[which], name) != NULL;
    }
    if (!found)
      return MT_ERR(
          MT_E_INVAL,
          "init_params: found name '%s' that is not in the %s (use allow_extra to ignore it)", name,
          what);
  }
  return MT_OK;
}

static int seq_init_params(mt_module *m, const mt_initializer *init, const mt_arena *arg_params,
                           const mt_arena *aux_params, int allow_missing, int force_init,
                           int allow_extra) {
  if (m->params_initialized && !force_init) {
    mt_log(MT_LOG_WARN, "module",
           "Parameters already initialized and force_init=False. init_params call ignored.");
    return MT_OK;
  }
  if (!m->binded) return MT_ERR(MT_E_STATE, "call bind before initializing the parameters");
  seq_impl *q = S(m);
  /* each child takes its own names from the dictionaries: the others' are
   * extra to it, and checked against the whole chain below */
  for (int i = 0; i < q->n; i++) {
    int rc = mt_module_init_params(q->mods[i], init, arg_params, aux_params, allow_missing,
                                   force_init, 1);
    if (rc < 0) return mt_error_prefix(rc, "SequentialModule: module %d", i);
  }
  MT_TRY(check_names(m, 0));
  MT_TRY(check_names(m, 1));
  if (!allow_extra) {
    MT_TRY(check_extra(m, arg_params, 0, "arguments"));
    MT_TRY(check_extra(m, aux_params, 1, "auxiliary states"));
  }
  m->params_initialized = 1;
  return MT_OK;
}

/* The merged dictionaries: one arena of every child's names, in chain
 * order, refreshed from the children on every call. */
static int merge_into(mt_module *m, int which, mt_arena **dst) {
  seq_impl *q = S(m);
  int total = 0;
  for (int i = 0; i < q->n; i++) {
    const mt_arena *a[2];
    MT_TRY(mt_module_get_params(q->mods[i], &a[0], &a[1]));
    total += mt_arena_count(a[which]);
  }
  if (*dst && mt_arena_count(*dst) != total) { /* a child rebound with other parameters */
    mt_arena_free(*dst);
    *dst = NULL;
  }
  if (!*dst) {
    const char **names = calloc((size_t)total + 1, sizeof *names);
    mt_shape *shapes = calloc((size_t)total + 1, sizeof *shapes);
    int rc = names && shapes ? MT_OK : MT_NOMEM(), k = 0;
    for (int i = 0; i < q->n && rc == MT_OK; i++) {
      const mt_arena *a[2];
      rc = mt_module_get_params(q->mods[i], &a[0], &a[1]);
      for (int j = 0; rc == MT_OK && j < mt_arena_count(a[which]); j++, k++) {
        names[k] = mt_arena_name(a[which], j);
        shapes[k] = mt_ndarray_shape(mt_arena_at(a[which], j));
      }
    }
    if (rc == MT_OK) rc = mt_arena_create(mt_cpu(0), total, names, shapes, dst);
    free(names);
    free(shapes);
    MT_TRY(rc);
  }
  for (int i = 0, k = 0; i < q->n; i++) {
    const mt_arena *a[2];
    MT_TRY(mt_module_get_params(q->mods[i], &a[0], &a[1]));
    for (int j = 0; j < mt_arena_count(a[which]); j++, k++)
      MT_TRY(mt_ndarray_copy(mt_arena_at(*dst, k), mt_arena_at(a[which], j)));
  }
  return MT_OK;
}

static int seq_get_params(mt_module *m, const mt_arena **arg_params, const mt_arena **aux_params) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before get_params");
  seq_impl *q = S(m);
  MT_TRY(merge_into(m, 0, &q->args));
  MT_TRY(merge_into(m, 1, &q->aux));
  if (arg_params) *arg_params = q->args;
  if (aux_params) *aux_params = q->aux;
  return MT_OK;
}

static int seq_init_optimizer(mt_module *m, const char *kvstore, const char *optimizer,
                              const char *optimizer_params, int force_init) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before init_optimizer");
  if (m->optimizer_initialized && !force_init) {
    mt_log(MT_LOG_WARN, "module", "optimizer already initialized, ignoring.");
    return MT_OK;
  }
  seq_impl *q = S(m);
  for (int i = 0; i < q->n; i++) {
    int rc = mt_module_init_optimizer(q->mods[i], kvstore, optimizer, optimizer_params, force_init);
    if (rc < 0) return mt_error_prefix(rc, "SequentialModule: module %d", i);
  }
  m->optimizer_initialized = 1;
  return MT_OK;
}

/* ------------------------------------------------------ forward/backward */

static int seq_forward(mt_module *m, const mt_batch *b, int is_train) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before forward");
  seq_impl *q = S(m);
  mt_batch cur = *b;
  for (int i = 0; i < q->n; i++) {
    mt_batch in = cur;
    if (!q->take_labels[i]) in.nlabel = 0; /* a child bound without labels gets none */
    int rc = mt_module_forward(q->mods[i], &in, is_train);
    if (rc < 0) return mt_error_prefix(rc, "SequentialModule: module %d", i);
    if (i + 1 == q->n) break;
    int no;
    mt_ndarray *const *outs;
    MT_TRY(mt_module_get_outputs(q->mods[i], &no, &outs));
    if (no > MT_MAX_BATCH_INPUTS)
      return MT_ERR(MT_E_INVAL, "forward: module %d has %d outputs (at most %d)", i, no,
                    MT_MAX_BATCH_INPUTS);
    cur.ndata = no;
    for (int k = 0; k < no; k++) cur.data[k] = outs[k];
  }
  return MT_OK;
}

static int seq_backward(mt_module *m, int nout_grads, mt_ndarray *const *out_grads) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before backward");
  seq_impl *q = S(m);
  for (int i = q->n - 1; i >= 0; i--) {
    int rc = mt_module_backward(q->mods[i], nout_grads, out_grads);
    if (rc < 0) return mt_error_prefix(rc, "SequentialModule: module %d", i);
    if (i == 0) break;
    MT_TRY(mt_module_get_input_grads(q->mods[i], &nout_grads, &out_grads));
  }
  return MT_OK;
}

static int seq_forward_backward(mt_module *m, const mt_batch *b) {
  MT_TRY(seq_forward(m, b, 1));
  return seq_backward(m, 0, NULL);
}

static int seq_update(mt_module *m) {
  if (!m->binded || !m->params_initialized || !m->optimizer_initialized)
    return MT_ERR(MT_E_STATE, "call bind, init_params and init_optimizer before update");
  seq_impl *q = S(m);
  for (int i = 0; i < q->n; i++) {
    int rc = mt_module_update(q->mods[i]);
    if (rc < 0) return mt_error_prefix(rc, "SequentialModule: module %d", i);
  }
  return MT_OK;
}

static int seq_update_metric(mt_module *m, mt_metric *metric, int nlabel,
                             mt_ndarray *const *labels) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before update_metric");
  seq_impl *q = S(m);
  for (int i = 0; i < q->n; i++)
    if (q->take_labels[i]) MT_TRY(mt_module_update_metric(q->mods[i], metric, nlabel, labels));
  return MT_OK;
}

static int seq_get_outputs(mt_module *m, int *n, mt_ndarray *const **outputs) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before get_outputs");
  return mt_module_get_outputs(S(m)->mods[S(m)->n - 1], n, outputs);
}

/* MXNet asserts here always (it never records inputs_need_grad); the useful
 * answer is the first child's input gradients. */
static int seq_get_input_grads(mt_module *m, int *n, mt_ndarray *const **grads) {
  if (!m->binded || !m->params_initialized)
    return MT_ERR(MT_E_STATE, "call bind and init_params before get_input_grads");
  if (!m->inputs_need_grad)
    return MT_ERR(MT_E_STATE, "get_input_grads: bind with inputs_need_grad=1");
  return mt_module_get_input_grads(S(m)->mods[0], n, grads);
}

/* ------------------------------------------------------------- properties */

static int seq_names(const mt_module *m, int which, int *n, const char *const **names) {
  seq_impl *q = S(m);
  static const char *const none[] = {NULL};
  if (which == 1) {
    *n = q->nlabel;
    *names = (const char *const *)q->label_names;
    return MT_OK;
  }
  if (q->n == 0) {
    *n = 0;
    *names = none;
    return MT_OK;
  }
  return which == 0 ? mt_module_data_names(q->mods[0], n, names)
                    : mt_module_output_names(q->mods[q->n - 1], n, names);
}

static int seq_shapes(const mt_module *m, int which, int *n, const mt_data_desc **descs) {
  if (!m->binded) return MT_ERR(MT_E_STATE, "call bind before asking for shapes");
  seq_impl *q = S(m);
  if (which == 1) {
    *n = q->nlabel_shapes;
    *descs = q->nlabel_shapes ? q->label_shapes : NULL;
    return MT_OK;
  }
  return which == 0 ? mt_module_data_shapes(q->mods[0], n, descs)
                    : mt_module_output_shapes(q->mods[q->n - 1], n, descs);
}

static mt_symbol *seq_symbol(const mt_module *m) {
  (void)m;
  return NULL;
}

static mt_kvstore *seq_kvstore(const mt_module *m) {
  seq_impl *q = S(m);
  for (int i = 0; i < q->n; i++) {
    mt_kvstore *kv = mt_module_kvstore(q->mods[i]);
    if (kv) return kv;
  }
  return NULL;
}

static int seq_opt_groups(mt_module *m, int max, mt_module_opt_group *out) {
  seq_impl *q = S(m);
  int k = 0;
  for (int i = 0; i < q->n && k < max; i++) k += mt_module_opt_groups(q->mods[i], max - k, out + k);
  return k;
}

static void seq_get_rng(const mt_module *m, uint64_t *seed, uint64_t *step) {
  seq_impl *q = S(m);
  *seed = *step = 0;
  if (q->n > 0) mt_module_get_rng(q->mods[0], seed, step);
}

static void seq_set_rng(mt_module *m, uint64_t seed, uint64_t step) {
  seq_impl *q = S(m);
  for (int i = 0; i < q->n; i++) mt_module_set_rng(q->mods[i], seed, step);
}

static int seq_set_bucket_bytes(mt_module *m, int64_t bytes) {
  seq_impl *q = S(m);
  for (int i = 0; i < q->n; i++) MT_TRY(mt_module_set_bucket_bytes(q->mods[i], bytes));
  return MT_OK;
}

static int seq_num_contexts(const mt_module *m) {
  seq_impl *q = S(m);
  int n = 1;
  for (int i = 0; i < q->n; i++) {
    int c = mt_module_num_contexts(q->mods[i]);
    if (c > n) n = c;
  }
  return n;
}

static const mt_module_vt seq_vt = {
    .kind = "SequentialModule",
    .destroy = seq_destroy,
    .bind = seq_bind,
    .reshape = seq_reshape,
    .init_params = seq_init_params,
    .get_params = seq_get_params,
    .init_optimizer = seq_init_optimizer,
    .forward = seq_forward,
    .backward = seq_backward,
    .forward_backward = seq_forward_backward,
    .update = seq_update,
    .update_metric = seq_update_metric,
    .get_outputs = seq_get_outputs,
    .get_input_grads = seq_get_input_grads,
    .names = seq_names,
    .shapes = seq_shapes,
    .symbol = seq_symbol,
    .kvstore = seq_kvstore,
    .opt_groups = seq_opt_groups,
    .get_rng = seq_get_rng,
    .set_rng = seq_set_rng,
    .set_bucket_bytes = seq_set_bucket_bytes,
    .num_contexts = seq_num_contexts,
};
