/* testutil.c — see testutil.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "testutil.h"

void tu_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed) {
  uint64_t key = mtk_philox_key(seed, 12345);
  for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * mtk_philox_uniform(key, 0, (uint64_t)i);
}

mt_symbol *tu_mlp(int hidden, const char *act_type, int classes) {
  mt_symbol *data, *fc1, *act, *fc2, *out;
  char a[64];
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  snprintf(a, sizeof a, "num_hidden=%d", hidden);
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc1", a, 1, &data, &fc1));
  snprintf(a, sizeof a, "act_type=%s", act_type);
  MT_ASSERT_OK(mt_symbol_create("Activation", "relu1", a, 1, &fc1, &act));
  snprintf(a, sizeof a, "num_hidden=%d", classes);
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc2", a, 1, &act, &fc2));
  MT_ASSERT_OK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &fc2, &out));
  mt_symbol_free(data);
  mt_symbol_free(fc1);
  mt_symbol_free(act);
  mt_symbol_free(fc2);
  return out;
}

double tu_max_abs_diff(const float *a, const float *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (d > m || isnan(d)) m = isnan(d) ? INFINITY : d;
  }
  return m;
}

double tu_max_rel_diff(const float *a, const float *b, int64_t n, double floor) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]) / fmax(fabs((double)b[i]), floor);
    if (d > m || isnan(d)) m = isnan(d) ? INFINITY : d;
  }
  return m;
}

/* On failure everything it took is released (*t zeroed), so a test that
 * expects an error needs no tu_op_free. */
static int tu_op_setup_(tu_op *t, const char *opname, const char *attrs, int nargs,
                        const mt_shape *shapes) {
  memset(t, 0, sizeof *t);
  t->op = mt_op_find(opname);
  if (!t->op) return mt_error_set(MT_E_NOTFOUND, "no op %s", opname);
  mt_attrs a;
  int rc = mt_attrs_parse(attrs, &a);
  if (rc < 0) return rc;
  t->param = calloc(1, t->op->param_size ? t->op->param_size : 1);
  if (!t->param) {
    mt_attrs_free(&a);
    return mt_error_set(MT_E_NOMEM, "tu_op_setup: out of memory");
  }
  rc = t->op->parse(&a, "t", t->param);
  mt_attrs_free(&a);
  if (rc < 0) return rc;
  t->nargs = t->op->num_args(t->param);
  if (t->nargs != nargs)
    return mt_error_set(MT_E_INVAL, "op %s takes %d args, test gave %d", opname, t->nargs, nargs);
  t->nout = mt_op_num_outputs(t->op, t->param);
  t->naux = mt_op_num_aux(t->op, t->param);
  mt_shape in[8], out[8], aux[8];
  memset(out, 0, sizeof out);
  memset(aux, 0, sizeof aux);
  if (nargs > 0) memcpy(in, shapes, sizeof(mt_shape) * (size_t)nargs);
  rc = t->op->infer_shape(t->param, "t", in, out, aux);
  if (rc < 0) return rc;
  for (int i = 0; i < t->nargs; i++)
    if ((rc = mt_ndarray_create(in[i], mt_cpu(0), &t->in[i])) < 0) return rc;
  for (int i = 0; i < t->nout; i++)
    if ((rc = mt_ndarray_create(out[i], mt_cpu(0), &t->out[i])) < 0) return rc;
  for (int i = 0; i < t->naux; i++)
    if ((rc = mt_ndarray_create(aux[i], mt_cpu(0), &t->aux[i])) < 0) return rc;
  return 0;
}

int tu_op_setup(tu_op *t, const char *opname, const char *attrs, int nargs,
                const mt_shape *shapes) {
  int rc = tu_op_setup_(t, opname, attrs, nargs, shapes);
  if (rc < 0) tu_op_free(t);
  return rc;
}

int tu_op_forward(tu_op *t, int is_train) {
  mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = is_train, .seed = 7, .node_key = 11, .step = 3};
  return mt_op_forward(t->op, t->param, &c, t->in, t->out, t->aux);
}

void tu_op_free(tu_op *t) {
  for (int i = 0; i < 8; i++) {
    mt_ndarray_free(t->in[i]);
    mt_ndarray_free(t->out[i]);
    mt_ndarray_free(t->aux[i]);
  }
  free(t->param);
  memset(t, 0, sizeof *t);
}

static double objective(const tu_gradcheck *g, tu_op *t, mt_ndarray *const *w) {
  int nvis = mt_op_num_visible_outputs(t->op, t->param);
  if (g->loss) return g->loss(t->out, nvis, t->in, g->user);
  double s = 0;
  for (int o = 0; o < nvis; o++)
    for (int64_t j = 0; j < t->out[o]->size; j++) s += (double)w[o]->data[j] * t->out[o]->data[j];
  return s;
}

double tu_gradcheck_run(const tu_gradcheck *g) {
  tu_op t;
  if (tu_op_setup(&t, g->op, g->attrs, g->nargs, g->shapes) < 0)
    fail_msg("gradcheck setup %s: %s", g->op, mt_last_error());
  double eps = g->eps > 0 ? g->eps : 1e-3;
  int maxc = g->max_checks > 0 ? g->max_checks : 400;
  for (int i = 0; i < t.nargs; i++) {
    if (g->init) g->init(i, t.in[i]->data, t.in[i]->size, &t.in[i]->shape, g->user);
    else tu_fill_uniform(t.in[i]->data, t.in[i]->size, -1.0f, 1.0f, 100 + (uint64_t)i);
  }
  for (int i = 0; i < t.naux; i++) {
    if (g->init) g->init(100 + i, t.aux[i]->data, t.aux[i]->size, &t.aux[i]->shape, g->user);
  }
  int nvis = mt_op_num_visible_outputs(t.op, t.param);
  int is_loss = (t.op->flags & MT_OP_LOSS) != 0;
  mt_ndarray *w[8] = {0}, *og[8] = {0};
  for (int o = 0; o < nvis; o++) {
    if (mt_ndarray_create(t.out[o]->shape, mt_cpu(0), &w[o]) < 0) fail_msg("%s", mt_last_error());
    tu_fill_uniform(w[o]->data, w[o]->size, -1.0f, 1.0f, 900 + (uint64_t)o);
    if (!is_loss) og[o] = w[o];
  }
  /* analytic gradients, write then add */
  mt_ndarray *grad[8] = {0}, *grad2[8] = {0};
  mt_grad_req req[8], req2[8];
  for (int i = 0; i < t.nargs; i++) {
    int skip = (g->no_grad >> i) & 1;
    req[i] = skip ? MT_REQ_NULL : MT_REQ_WRITE;
    req2[i] = skip ? MT_REQ_NULL : MT_REQ_ADD;
    if (!skip) {
      mt_ndarray_create(t.in[i]->shape, mt_cpu(0), &grad[i]);
      mt_ndarray_create(t.in[i]->shape, mt_cpu(0), &grad2[i]);
      tu_fill_uniform(grad2[i]->data, grad2[i]->size, -1.0f, 1.0f, 500 + (uint64_t)i);
    }
  }
  mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = g->is_train, .seed = 7, .node_key = 11, .step = 3};
  /* Aux states may be updated by training forwards; keep a copy to restore before each call so
   * every evaluation sees the same state. */
  float *aux0[8] = {0};
  for (int i = 0; i < t.naux; i++) {
    aux0[i] = malloc(sizeof(float) * (size_t)t.aux[i]->size);
    memcpy(aux0[i], t.aux[i]->data, sizeof(float) * (size_t)t.aux[i]->size);
  }
#define RESTORE_AUX()                                                                              \
  for (int ai = 0; ai < t.naux; ai++)                                                              \
  memcpy(t.aux[ai]->data, aux0[ai], sizeof(float) * (size_t)t.aux[ai]->size)
  RESTORE_AUX();
  if (mt_op_forward(t.op, t.param, &c, t.in, t.out, t.aux) < 0)
    fail_msg("forward: %s", mt_last_error());
  if (mt_op_backward(t.op, t.param, &c, og, t.in, t.out, req, grad, t.aux) < 0)
    fail_msg("backward: %s", mt_last_error());
  float *pre[8] = {0};
  for (int i = 0; i < t.nargs; i++)
    if (grad2[i]) {
      pre[i] = malloc(sizeof(float) * (size_t)grad2[i]->size);
      memcpy(pre[i], grad2[i]->data, sizeof(float) * (size_t)grad2[i]->size);
    }
  RESTORE_AUX();
  if (mt_op_forward(t.op, t.param, &c, t.in, t.out, t.aux) < 0)
    fail_msg("forward: %s", mt_last_error());
  if (mt_op_backward(t.op, t.param, &c, og, t.in, t.out, req2, grad2, t.aux) < 0)
    fail_msg("backward (add): %s", mt_last_error());
  double worst = 0;
  for (int i = 0; i < t.nargs; i++) {
    if (!grad[i]) continue;
    for (int64_t j = 0; j < grad[i]->size; j++) {
      double want = (double)pre[i][j] + grad[i]->data[j];
      double d = fabs(want - grad2[i]->data[j]) / fmax(1.0, fabs(want));
      if (d > 1e-5)
        fail_msg("%s: req=add differs from write+prefill at arg %d elem %lld: %g vs %g", g->op, i,
                 (long long)j, grad2[i]->data[j], want);
    }
    int64_t n = grad[i]->size, stride = n > maxc ? n / maxc : 1;
    for (int64_t j = 0; j < n; j += stride) {
      float *x = &t.in[i]->data[j];
      float x0 = *x;
      *x = x0 + (float)eps;
      RESTORE_AUX();
      mt_op_forward(t.op, t.param, &c, t.in, t.out, t.aux);
      double lp = objective(g, &t, w);
      *x = x0 - (float)eps;
      RESTORE_AUX();
      mt_op_forward(t.op, t.param, &c, t.in, t.out, t.aux);
      double lm = objective(g, &t, w);
      *x = x0;
      double h = (double)(x0 + (float)eps) - (double)(x0 - (float)eps);
      double num = (lp - lm) / h;
      double ana = grad[i]->data[j];
      double err = fabs(num - ana) / fmax(1.0, fabs(num));
      if (err > worst || isnan(err)) worst = isnan(err) ? INFINITY : err;
      if (err > 2e-2)
        print_message("  %s arg %d (%s) elem %lld: numerical %.6g analytic %.6g\n", g->op, i,
                      t.op->arg_name(t.param, i), (long long)j, num, ana);
    }
  }
  RESTORE_AUX();
  for (int i = 0; i < 8; i++) {
    mt_ndarray_free(w[i]);
    mt_ndarray_free(grad[i]);
    mt_ndarray_free(grad2[i]);
    free(pre[i]);
    free(aux0[i]);
  }
  tu_op_free(&t);
  return worst;
}
