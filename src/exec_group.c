/* exec_group.c — see exec_group.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/env.h"
#include "base/error.h"
#include "exec_group.h"
#include "executor.h"
#include "kernels/kernels.h"
#include "op.h"

/* Python 3's round(): halves to even. */
static int64_t py_round(double x) {
  double r = nearbyint(x); /* default rounding mode: to nearest, ties to even */
  return (int64_t)r;
}

int mt_split_batch(int64_t batch, int n, int64_t *begin, int64_t *end) {
  int64_t sum = 0, *num = calloc((size_t)n, sizeof *num);
  if (!num) return MT_NOMEM();
  for (int i = 0; i < n; i++) {
    num[i] = py_round((double)batch / n);
    sum += num[i];
  }
  if (sum < batch) num[n - 1] += batch - sum;
  int64_t e = 0;
  for (int i = 0; i < n; i++) {
    int64_t b = e < batch ? e : batch;
    e = b + num[i] < batch ? b + num[i] : batch;
    begin[i] = b;
    end[i] = e;
    if (b >= e) {
      free(num);
      return MT_ERR(MT_E_INVAL,
                    "batch size %lld is too small for %d contexts: some would get no samples",
                    (long long)batch, n);
    }
  }
  free(num);
  return MT_OK;
}

static void slot_free_inputs(mt_exec_slot *s, int ninputs) {
  mt_executor_free(s->exec); /* first: it waits for its stream, which may use the inputs */
  s->exec = NULL;
  if (s->inputs)
    for (int i = 0; i < ninputs; i++) mt_ndarray_free(s->inputs[i]);
  if (s->input_grads)
    for (int i = 0; i < ninputs; i++) mt_ndarray_free(s->input_grads[i]);
  free(s->inputs);
  free(s->input_grads);
  s->inputs = s->input_grads = NULL;
}

void mt_exec_group_free(mt_exec_group *g) {
  if (!g->slots) return;
  for (int i = 0; i < g->nslots; i++) {
    slot_free_inputs(&g->slots[i], g->ninputs);
    if (!g->borrowed) {
      mt_arena_free(g->slots[i].params);
      mt_arena_free(g->slots[i].grads);
      mt_arena_free(g->slots[i].aux);
    }
    mt_mem_pool_release(g->slots[i].pool);
#ifdef MT_HAVE_CUDA
    mtk_cuda_stream_destroy(g->slots[i].stream); /* after its executor */
#endif
  }
  free(g->slots);
  free(g->param_unused);
  memset(g, 0, sizeof *g);
}

int mt_exec_group_borrow(mt_exec_group *g, const mt_exec_group *from) {
  if (g->slots) return MT_ERR(MT_E_STATE, "executor group: borrow before the first bind");
  if (!from->slots || !from->pooled)
    return MT_ERR(MT_E_STATE, "executor group: the group to borrow from is not bound and pooled");
  g->slots = calloc((size_t)from->nslots, sizeof *g->slots);
  if (!g->slots) return MT_NOMEM();
  g->nslots = from->nslots;
  for (int i = 0; i < g->nslots; i++) {
    const mt_exec_slot *f = &from->slots[i];
    g->slots[i].ctx = f->ctx;
    g->slots[i].params = f->params;
    g->slots[i].grads = f->grads;
    g->slots[i].aux = f->aux;
    g->slots[i].pool = mt_mem_pool_ref(f->pool);
  }
  g->pooled = g->borrowed = 1;
  return MT_OK;
}

int64_t mt_exec_group_pool_bytes(const mt_exec_group *g) {
  int64_t total = 0;
  for (int i = 0; i < g->nslots; i++) {
    const mt_exec_slot *s = &g->slots[i];
    if (s->pool) {
      int seen = 0; /* a pool listed twice (the same GPU twice) counts once */
      for (int j = 0; j < i; j++) seen |= g->slots[j].pool == s->pool;
      if (!seen) total += mt_mem_pool_bytes(s->pool);
    } else if (s->exec) {
      total += mt_executor_planned_bytes(s->exec, NULL);
    }
  }
  return total;
}

/* Index of name in names[n], searched from *from on (wrapping around), and
 * *from moved past it: the parameter names come in the order of the
 * arguments, so finding them all in turn is O(n), not O(n^2). */
static int find(const char *const *names, int n, const char *name, int *from) {
  for (int k = 0; k < n; k++) {
    int i = (*from + k) % n;
    if (!strcmp(names[i], name)) {
      *from = i + 1 < n ? i + 1 : 0;
      return i;
    }
  }
  return -1;
}

static int bind_slot(mt_exec_group *g, mt_exec_slot *s, mt_symbol *sym,
                     const mt_shape *input_shapes, int for_training, int inputs_need_grad,
                     mt_grad_req grad_req) {
  int nargs, nout, nsaux;
  const char *const *args, *const *outs, *const *saux;
  MT_TRY(mt_symbol_list_arguments(sym, &nargs, &args));
  MT_TRY(mt_symbol_list_outputs(sym, &nout, &outs));
  MT_TRY(mt_symbol_list_auxiliary_states(sym, &nsaux, &saux));
  if (nsaux != g->naux && !g->borrowed)
    return MT_ERR(MT_E_INVAL, "bind: the symbol has %d aux states, %d names given", nsaux, g->naux);
  int rc = MT_OK;
  mt_shape *as = calloc((size_t)nargs + 1, sizeof *as), *os = calloc((size_t)nout + 1, sizeof *os),
           *xs = calloc((size_t)nsaux + (size_t)g->naux + 1, sizeof *xs),
           *known = calloc((size_t)g->ninputs + 1, sizeof *known);
  const char **knames = calloc((size_t)g->ninputs + 1, sizeof *knames);
  mt_ndarray **argv = calloc((size_t)nargs + 1, sizeof *argv),
             **gradv = calloc((size_t)nargs + 1, sizeof *gradv),
             **auxv = calloc((size_t)nsaux + 1, sizeof *auxv);
  mt_grad_req *reqs = calloc((size_t)nargs + 1, sizeof *reqs);
  if (!as || !os || !xs || !known || !knames || !argv || !gradv || !auxv || !reqs) {
    rc = MT_NOMEM();
    goto done;
  }
  int nknown = 0;
  for (int i = 0; i < g->ninputs; i++) {
    if (input_shapes[i].ndim == 0) continue;
    knames[nknown] = g->input_names[i];
    known[nknown] = input_shapes[i];
    known[nknown].dim[0] = s->end - s->begin;
    nknown++;
  }
  MT_TRY_GOTO(mt_symbol_infer_shape(sym, nknown, knames, known, as, os, xs), rc, done);
  /* parameters, gradients, aux: created once, kept across rebinds */
  if (!s->params) {
    mt_shape *ps = calloc((size_t)g->nparam + 1, sizeof *ps);
    if (!ps) {
      rc = MT_NOMEM();
      goto done;
    }
    int from = 0;
    for (int i = 0; i < g->nparam; i++) ps[i] = as[find(args, nargs, g->param_names[i], &from)];
    rc = mt_arena_create(s->ctx, g->nparam, g->param_names, ps, &s->params);
    if (rc == MT_OK && for_training && grad_req != MT_REQ_NULL)
      rc = mt_arena_create(s->ctx, g->nparam, g->param_names, ps, &s->grads);
    free(ps);
    if (rc < 0) goto done;
    MT_TRY_GOTO(mt_arena_create(s->ctx, g->naux, g->aux_names, xs, &s->aux), rc, done);
  }
  s->inputs = calloc((size_t)g->ninputs + 1, sizeof *s->inputs);
  s->input_grads = calloc((size_t)g->ninputs + 1, sizeof *s->input_grads);
  if (!s->inputs || !s->input_grads) {
    rc = MT_NOMEM();
    goto done;
  }
  for (int i = 0; i < g->ninputs; i++) {
    int from = 0;
    int a = find(args, nargs, g->input_names[i], &from);
    MT_TRY_GOTO(mt_ndarray_create(as[a], s->ctx, &s->inputs[i]), rc, done);
    argv[a] = s->inputs[i];
    if (for_training && inputs_need_grad && i < g->ndata) {
      MT_TRY_GOTO(mt_ndarray_create(as[a], s->ctx, &s->input_grads[i]), rc, done);
      gradv[a] = s->input_grads[i];
      reqs[a] = MT_REQ_WRITE;
    }
  }
  int pfrom = 0;
  for (int i = 0; i < g->nparam; i++) {
    int a = find(args, nargs, g->param_names[i], &pfrom);
    if (g->borrowed && g->param_unused) g->param_unused[i] = a < 0;
    if (a < 0 && g->borrowed) continue; /* the default bucket's, not used here */
    argv[a] = mt_arena_at(s->params, i);
    if (!mt_shape_equal(&argv[a]->shape, &as[a])) {
      rc = mt_shape_mismatch("bind", g->param_names[i], "parameter", &argv[a]->shape, &as[a]);
      goto done;
    }
    if (s->grads) {
      gradv[a] = mt_arena_at(s->grads, i);
      reqs[a] = grad_req;
    }
  }
  for (int i = 0; i < nsaux; i++) {
    int afrom = 0, k = g->borrowed ? find(g->aux_names, g->naux, saux[i], &afrom) : i;
    if (k < 0) {
      rc = MT_ERR(MT_E_INVAL, "bind: aux state '%s' is not one of the shared module's", saux[i]);
      goto done;
    }
    auxv[i] = mt_arena_at(s->aux, k);
  }
  for (int a = 0; a < nargs; a++)
    if (!argv[a]) {
      rc = MT_ERR(MT_E_INVAL, "bind: argument '%s' is neither an input nor a parameter", args[a]);
      goto done;
    }
  if (g->pooled && !s->pool) MT_TRY_GOTO(mt_mem_pool_create(s->ctx, &s->pool), rc, done);
  MT_TRY_GOTO(mt_executor_bind_pooled(sym, s->ctx, nargs, argv, gradv, reqs, nsaux, auxv, s->pool,
                                      &s->exec),
              rc, done);
done:
  free(as);
  free(os);
  free(xs);
  free(known);
  free(knames);
  free(argv);
  free(gradv);
  free(auxv);
  free(reqs);
  return rc;
}

int mt_exec_group_bind(mt_exec_group *g, mt_symbol *sym, int nctx, const mt_context *ctxs,
                       int ninputs, int ndata, const char *const *input_names,
                       const mt_shape *input_shapes, int nparam, const char *const *param_names,
                       int naux, const char *const *aux_names, int for_training,
                       int inputs_need_grad, mt_grad_req grad_req) {
  /* every context usable before anything is made: "gpu(0): no CUDA device
   * is visible ..." rather than an allocation failure further down */
  for (int i = 0; i < nctx; i++) MT_TRY(mt_device_check(ctxs[i]));
  if (!g->slots) {
    g->slots = calloc((size_t)nctx, sizeof *g->slots);
    if (!g->slots) return MT_NOMEM();
    g->nslots = nctx;
    for (int i = 0; i < nctx; i++) g->slots[i].ctx = ctxs[i];
  }
  for (int i = 0; i < g->nslots; i++) slot_free_inputs(&g->slots[i], g->ninputs);
  g->ninputs = ninputs;
  g->ndata = ndata;
  g->input_names = input_names;
  g->nparam = nparam;
  g->param_names = param_names;
  g->naux = naux;
  g->aux_names = aux_names;
  g->batch_size = input_shapes[0].dim[0];
  if (g->borrowed && !g->param_unused &&
      !(g->param_unused = calloc((size_t)nparam + 1, sizeof *g->param_unused)))
    return MT_NOMEM();
  int64_t *b = calloc((size_t)nctx, sizeof *b), *e = calloc((size_t)nctx, sizeof *e);
  int rc = (b && e) ? mt_split_batch(g->batch_size, nctx, b, e) : MT_NOMEM();
  for (int i = 0; rc == MT_OK && i < nctx; i++) {
    g->slots[i].begin = b[i];
    g->slots[i].end = e[i];
    rc = bind_slot(g, &g->slots[i], sym, input_shapes, for_training, inputs_need_grad, grad_req);
  }
  free(b);
  free(e);
  /* several GPU contexts: a stream for each executor (MODTRAIN_GPU_STREAMS=0:
   * all on the legacy default stream). One context keeps the legacy stream:
   * there is nothing to overlap, and no wait is added. The streams (and
   * their cuBLAS handles) are made on the first bind and kept for the
   * rebinds a new batch shape brings. */
  g->streams = 0;
  if (!g->stream_choice) { /* the environment is read once, at the first bind */
    g->stream_choice = nctx > 1 && !mt_env_is_zero(MT_ENV_GPU_STREAMS) ? 1 : -1;
  }
  int want = g->stream_choice > 0;
  for (int i = 0; rc == MT_OK && want && i < nctx; i++) {
    mt_exec_slot *s = &g->slots[i];
    if (s->ctx.type != MT_GPU) continue;
#ifdef MT_HAVE_CUDA
    if (!s->stream) rc = mtk_cuda_stream_create(s->ctx.id, &s->stream);
#endif
    if (rc == MT_OK) rc = mt_executor_set_stream(s->exec, s->stream);
    g->streams |= rc == MT_OK && s->stream;
  }
  return rc;
}

int mt_exec_group_wait(const mt_exec_group *g) {
  int rc = MT_OK;
  for (int i = 0; g->streams && i < g->nslots; i++) {
    int r = g->slots[i].exec ? mt_executor_wait(g->slots[i].exec) : MT_OK;
    if (rc == MT_OK) rc = r;
  }
  return rc;
}
