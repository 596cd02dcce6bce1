/* executor.c — one symbol bound on one context: argument, gradient, aux and
 * output arrays; forward and backward over the topological order; and a
 * memory plan that lets intermediate buffers share storage where their
 * lifetimes do not overlap.
 *
 * Time steps: forward of node i is step i, backward of node i is step
 * 2n-1-i. A forward value of node p lives [p, 2n-1-p] when the executor
 * computes gradients (backward needs inputs and outputs), or until its last
 * consumer when it does not. The gradient of an entry lives from the
 * backward of its last consumer to the backward of its producer. Buffers are
 * then packed greedily into slots of one pool (MXNet's GraphPlan idea).
 *
 * Fusion: a FullyConnected whose output feeds one Activation (relu,
 * sigmoid, tanh or softrelu) and nothing else runs with it as one step
 * (kernels/cpu/fused.h): forward writes act(x W^T + b) straight into the
 * Activation's output, in one pass after the GEMM; backward, at the
 * FullyConnected's step, forms the Activation's gradient together with the
 * bias gradient in one pass. The Activation's own steps do nothing. The
 * results are the same bits as unfused. On a GPU this saves two kernel
 * launches and a pass over the layer's output each way, so GPU executors
 * fuse by default; on a CPU the output is still in cache between the two
 * passes and fusing measured no gain (bench/README.md), so CPU executors
 * fuse only with MODTRAIN_FUSE=1. MODTRAIN_FUSE=0: no fusion anywhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/env.h"
#include "base/error.h"
#include "base/timeline.h"
#include "executor.h"
#include "kernels/kernels.h"
#include "symbol.h"

struct mt_executor {
  mt_symbol *sym;
  mt_graph g;
  mt_context ctx;
  int nargs, naux;
  const char *const *arg_names, *const *aux_names;
  mt_ndarray **args, **grads, **aux; /* list order; grads[i] NULL if no gradient */
  mt_grad_req *reqs;
  mt_arena *arg_arena, *grad_arena, *aux_arena; /* simple_bind only */
  mt_ndarray **ev;                              /* value of each entry */
  mt_ndarray **eg;                              /* gradient of each entry (NULL: none) */
  mt_ndarray *views;                            /* storage for pool views: 2 * nentries */
  float *pool;                                  /* own pool (NULL with a shared one) */
  int64_t pool_elems, unplanned_elems;
  mt_mem_pool *shared; /* a pool shared with other executors (BucketingModule), or NULL */
  uint64_t shared_gen; /* the shared pool's generation the views point into */
  int64_t *view_off;   /* with a shared pool: each view's offset in it (-1: unused) */
  int *node_bwd;       /* node needs backward */
  int *arg_of_entry;   /* entry -> arg index or -1 */
  unsigned char *touched;
  uint64_t seed, step;
  int64_t sample_offset;
  int forward_train_done;
  int *arg_last_writer; /* node whose backward writes the argument's gradient last, or -1 */
  int *fuse_act;        /* per node: FullyConnected fused with an Activation: 1 + act, else 0 */
  int *partner;         /* per node: the other node of a fused pair, or -1 */
  mt_grad_ready_fn hook;
  void *hook_user;
#ifdef MT_HAVE_CUDA
  mtk_cuda_stream *stream; /* borrowed (the caller owns it); NULL: the legacy default stream */
#endif
};

/* ------------------------------------------------------------ shared pool
 *
 * MXNet's shared data pool (BucketingModule, docs/design.md §2): executors
 * bound against one pool (one at a time runs) keep their intermediate
 * buffers in it. The pool is as large as the largest plan bound to it so
 * far: a plan that needs more grows it (the old block is freed and a new
 * one allocated), and every executor on it re-points its views at the new
 * block before its next forward, backward or output read (a generation
 * count says when). Contents do not survive a bind of another executor on
 * the pool, nor another executor's forward: as in MXNet, the outputs of a
 * bucket are valid until another bucket runs. */
struct mt_mem_pool {
  mt_context ctx;
  float *data;
  int64_t elems;
  uint64_t gen;
  int refs;
};

int mt_mem_pool_create(mt_context ctx, mt_mem_pool **out) {
  *out = calloc(1, sizeof **out);
  if (!*out) return MT_NOMEM();
  (*out)->ctx = ctx;
  (*out)->refs = 1;
  (*out)->gen = 1;
  return MT_OK;
}

mt_mem_pool *mt_mem_pool_ref(mt_mem_pool *p) {
  if (p) p->refs++;
  return p;
}

void mt_mem_pool_release(mt_mem_pool *p) {
  if (!p || --p->refs > 0) return;
  mt_device_free(p->ctx, p->data);
  free(p);
}

int64_t mt_mem_pool_bytes(const mt_mem_pool *p) {
  return p ? p->elems * (int64_t)sizeof(float) : 0;
}

static int pool_reserve(mt_mem_pool *p, int64_t elems) {
  if (elems <= p->elems) return MT_OK;
  float *d = mt_device_alloc(p->ctx, elems);
  if (!d)
    return MT_ERR(MT_E_NOMEM,
                  "executor: cannot grow the shared intermediate memory to %lld bytes on %s(%d)",
                  (long long)elems * 4, p->ctx.type == MT_GPU ? "gpu" : "cpu", p->ctx.id);
  mt_device_free(p->ctx, p->data);
  p->data = d;
  p->elems = elems;
  p->gen++;
  return MT_OK;
}

/* Views back onto the shared pool's current block. */
static void rebase(const mt_executor *cex) {
  mt_executor *ex = (mt_executor *)cex;
  if (!ex->shared || ex->shared_gen == ex->shared->gen) return;
  for (int i = 0; i < 2 * ex->g.nentries; i++)
    if (ex->view_off[i] >= 0) ex->views[i].data = ex->shared->data + ex->view_off[i];
  ex->shared_gen = ex->shared->gen;
}

void mt_executor_set_grad_hook(mt_executor *ex, mt_grad_ready_fn fn, void *user) {
  ex->hook = fn;
  ex->hook_user = user;
}

/* ------------------------------------------------------------- memory plan */

typedef struct {
  int64_t size;
  int start, end;
  int slot;
  mt_ndarray **target; /* where the view goes */
  mt_shape shape;
} plan_buf;

static int cmp_start(const void *a, const void *b) {
  const plan_buf *x = *(plan_buf *const *)a, *y = *(plan_buf *const *)b;
  if (x->start != y->start) return x->start - y->start;
  return (x->size < y->size) - (x->size > y->size);
}

static int plan_and_alloc(mt_executor *ex, plan_buf *bufs, int nbufs) {
  plan_buf **order = calloc((size_t)nbufs + 1, sizeof *order);
  int64_t *slot_size = calloc((size_t)nbufs + 1, sizeof *slot_size);
  int *slot_end = calloc((size_t)nbufs + 1, sizeof *slot_end);
  int nslots = 0, rc = MT_OK;
  if (!order || !slot_size || !slot_end) {
    rc = MT_NOMEM();
    goto done;
  }
  for (int i = 0; i < nbufs; i++) order[i] = &bufs[i];
  qsort(order, (size_t)nbufs, sizeof *order, cmp_start);
  ex->unplanned_elems = 0;
  for (int i = 0; i < nbufs; i++) {
    plan_buf *b = order[i];
    int64_t need = (b->size + 15) / 16 * 16;
    ex->unplanned_elems += need;
    int best = -1;
    for (int s = 0; s < nslots; s++) {
      if (slot_end[s] >= b->start) continue; /* still in use */
      if (best < 0) best = s;
      else if (slot_size[s] >= need && (slot_size[best] < need || slot_size[s] < slot_size[best]))
        best = s;
      else if (slot_size[best] < need && slot_size[s] > slot_size[best]) best = s;
    }
    if (best < 0) {
      best = nslots++;
      slot_size[best] = 0;
    }
    if (slot_size[best] < need) slot_size[best] = need;
    slot_end[best] = b->end;
    b->slot = best;
  }
  int64_t *slot_off = calloc((size_t)nslots + 1, sizeof *slot_off);
  if (!slot_off) {
    rc = MT_NOMEM();
    goto done;
  }
  int64_t total = 0;
  for (int s = 0; s < nslots; s++) {
    slot_off[s] = total;
    total += slot_size[s];
  }
  ex->pool_elems = total;
  float *base;
  if (ex->shared) {
    if ((rc = pool_reserve(ex->shared, total)) < 0) {
      free(slot_off);
      goto done;
    }
    base = ex->shared->data;
    ex->shared_gen = ex->shared->gen;
  } else {
    base = ex->pool = mt_device_alloc(ex->ctx, total);
    if (!ex->pool) {
      free(slot_off);
      rc = MT_ERR(MT_E_NOMEM, "executor: cannot allocate %lld bytes of intermediate storage",
                  (long long)total * 4);
      goto done;
    }
  }
  for (int i = 0; i < nbufs; i++) {
    mt_ndarray *v = &ex->views[i];
    mt_ndarray_init_view(v, base + slot_off[bufs[i].slot], bufs[i].shape, ex->ctx);
    if (ex->view_off) ex->view_off[i] = slot_off[bufs[i].slot];
    *bufs[i].target = v;
  }
  free(slot_off);
done:
  free(order);
  free(slot_size);
  free(slot_end);
  return rc;
}

/* ------------------------------------------------------------------- bind */

void mt_executor_free(mt_executor *ex) {
  if (!ex) return;
#ifdef MT_HAVE_CUDA
  if (ex->stream) /* nothing may still run on the pool below */
    (void)mtk_cuda_stream_wait(ex->stream);
#endif
  mt_graph_free(&ex->g);
  mt_symbol_free(ex->sym);
  free(ex->args);
  free(ex->grads);
  free(ex->aux);
  free(ex->reqs);
  mt_arena_free(ex->arg_arena);
  mt_arena_free(ex->grad_arena);
  mt_arena_free(ex->aux_arena);
  free(ex->ev);
  free(ex->eg);
  free(ex->views);
  mt_device_free(ex->ctx, ex->pool);
  mt_mem_pool_release(ex->shared);
  free(ex->view_off);
  free(ex->node_bwd);
  free(ex->arg_of_entry);
  free(ex->touched);
  free(ex->arg_last_writer);
  free(ex->fuse_act);
  free(ex->partner);
  free(ex);
}

static int input_entry(const mt_executor *ex, const mt_node *n, int k) {
  int idx = mt_graph_index(&ex->g, n->inputs[k].node);
  return ex->g.entry_ptr[idx] + n->inputs[k].index;
}

/* The FullyConnected + Activation pairs to fuse (file comment): the FC's
 * output is used by that Activation alone and is no head, and where backward
 * runs through the pair the Activation's output has a gradient. */
static void find_fusions(mt_executor *ex, const int *entry_node, const int *uses,
                         const int *is_head, const int *last_consumer) {
  mt_graph *g = &ex->g;
  for (int i = 0; i < g->nnodes; i++) ex->partner[i] = -1;
  const char *env = mt_env(MT_ENV_FUSE);
  int fuse = env && *env ? strcmp(env, "0") != 0 : ex->ctx.type == MT_GPU;
  if (!fuse) return;
  for (int a = 0; a < g->nnodes; a++) {
    mt_node *an = g->nodes[a];
    if (!an->op || strcmp(an->op->name, "Activation") || mt_node_num_args(an) != 1) continue;
    int act = mt_op_activation_fusable(an->param);
    int e = input_entry(ex, an, 0), f = entry_node[e], ea = g->entry_ptr[a];
    mt_node *fn = g->nodes[f];
    if (!act || !fn->op || strcmp(fn->op->name, "FullyConnected") || ex->partner[f] >= 0 ||
        mt_node_num_outputs(fn) != 1 || is_head[e] || uses[e] != 1)
      continue;
    if (ex->node_bwd[f] && last_consumer[ea] < 0 && !is_head[ea]) continue;
    ex->fuse_act[f] = act;
    ex->partner[f] = a;
    ex->partner[a] = f;
  }
}

/* Shared second half of both binds: args/grads/aux/reqs are set. */
static int bind_common(mt_executor *ex) {
  mt_graph *g = &ex->g;
  int n = g->nnodes, ne = g->nentries, rc = MT_OK;
  mt_shape *es = calloc((size_t)ne + 1, sizeof *es);
  const char **names = calloc((size_t)ex->nargs + 1, sizeof *names);
  mt_shape *shapes = calloc((size_t)ex->nargs + 1, sizeof *shapes);
  plan_buf *bufs = calloc((size_t)2 * ne + 1, sizeof *bufs);
  int *entry_node = calloc((size_t)ne + 1, sizeof *entry_node);
  int *last_use = calloc((size_t)ne + 1, sizeof *last_use);
  int *last_consumer = calloc((size_t)ne + 1, sizeof *last_consumer);
  int *is_head = calloc((size_t)ne + 1, sizeof *is_head);
  int *uses = calloc((size_t)ne + 1, sizeof *uses);
  ex->fuse_act = calloc((size_t)n + 1, sizeof *ex->fuse_act);
  ex->partner = calloc((size_t)n + 1, sizeof *ex->partner);
  ex->ev = calloc((size_t)ne + 1, sizeof *ex->ev);
  ex->eg = calloc((size_t)ne + 1, sizeof *ex->eg);
  ex->views = calloc((size_t)2 * ne + 1, sizeof *ex->views);
  if (ex->shared && ex->views) {
    ex->view_off = malloc(((size_t)2 * ne + 1) * sizeof *ex->view_off);
    if (!ex->view_off) {
      rc = MT_NOMEM();
      goto done;
    }
    for (int i = 0; i < 2 * ne + 1; i++) ex->view_off[i] = -1;
  }
  ex->node_bwd = calloc((size_t)n + 1, sizeof *ex->node_bwd);
  ex->arg_of_entry = calloc((size_t)ne + 1, sizeof *ex->arg_of_entry);
  ex->touched = calloc((size_t)ne + 1, 1);
  if (!es || !names || !shapes || !bufs || !entry_node || !last_use || !last_consumer || !is_head ||
      !uses || !ex->fuse_act || !ex->partner || !ex->ev || !ex->eg || !ex->views || !ex->node_bwd ||
      !ex->arg_of_entry || !ex->touched) {
    rc = MT_NOMEM();
    goto done;
  }
  /* shapes: infer from the argument arrays and check every one */
  for (int i = 0; i < ex->nargs; i++) {
    names[i] = ex->arg_names[i];
    shapes[i] = ex->args[i]->shape;
  }
  MT_TRY_GOTO(mt_graph_infer_shape(g, ex->nargs, names, shapes, es), rc, done);
  for (int i = 0; i < ex->naux; i++) {
    const mt_shape *want = &es[g->entry_ptr[g->aux_nodes[i]]];
    if (!mt_shape_equal(want, &ex->aux[i]->shape))
      MT_TRY_GOTO(
          mt_shape_mismatch("bind", ex->aux_names[i], "aux state", want, &ex->aux[i]->shape), rc,
          done);
  }
  for (int i = 0; i < ex->nargs; i++)
    if (ex->grads[i] && ex->reqs[i] != MT_REQ_NULL &&
        !mt_shape_equal(&ex->grads[i]->shape, &ex->args[i]->shape))
      MT_TRY_GOTO(mt_shape_mismatch("bind", ex->arg_names[i], "gradient", &ex->args[i]->shape,
                                    &ex->grads[i]->shape),
                  rc, done);
  /* variable entries point at the user's arrays */
  for (int e = 0; e < ne; e++) ex->arg_of_entry[e] = -1;
  for (int i = 0; i < ex->nargs; i++) {
    int e = g->entry_ptr[g->arg_nodes[i]];
    ex->ev[e] = ex->args[i];
    ex->arg_of_entry[e] = i;
    if (ex->reqs[i] != MT_REQ_NULL && ex->grads[i]) ex->eg[e] = ex->grads[i];
  }
  for (int i = 0; i < ex->naux; i++) ex->ev[g->entry_ptr[g->aux_nodes[i]]] = ex->aux[i];
  /* which nodes need backward: any input carries a gradient */
  int any_bwd = 0;
  for (int i = 0; i < n; i++) {
    mt_node *nd = g->nodes[i];
    for (int o = 0; o < mt_node_num_outputs(nd); o++) entry_node[g->entry_ptr[i] + o] = i;
    if (!nd->op) continue;
    int nargs = mt_node_num_args(nd);
    for (int k = 0; k < nargs; k++) {
      int e = input_entry(ex, nd, k);
      int src = entry_node[e];
      if (g->nodes[src]->op ? ex->node_bwd[src] : ex->eg[e] != NULL) ex->node_bwd[i] = 1;
    }
    any_bwd |= ex->node_bwd[i];
  }
  for (int h = 0; h < g->nheads; h++) is_head[g->heads[h]] = 1;
  /* the last backward to write each argument's gradient: its smallest consumer */
  ex->arg_last_writer = calloc((size_t)ex->nargs + 1, sizeof *ex->arg_last_writer);
  if (!ex->arg_last_writer) {
    rc = MT_NOMEM();
    goto done;
  }
  for (int a = 0; a < ex->nargs; a++) ex->arg_last_writer[a] = -1;
  for (int i = n - 1; i >= 0; i--) {
    mt_node *nd = g->nodes[i];
    if (!nd->op || !ex->node_bwd[i]) continue;
    for (int k = 0; k < mt_node_num_args(nd); k++) {
      int a = ex->arg_of_entry[input_entry(ex, nd, k)];
      if (a >= 0) ex->arg_last_writer[a] = i;
    }
  }
  /* lifetimes */
  for (int e = 0; e < ne; e++) last_use[e] = last_consumer[e] = -1;
  for (int i = 0; i < n; i++) {
    mt_node *nd = g->nodes[i];
    for (int k = 0; k < nd->ninputs; k++) {
      int e = input_entry(ex, nd, k);
      uses[e]++;
      if (i > last_use[e]) last_use[e] = i;
      if (k < mt_node_num_args(nd) && ex->node_bwd[i] && i > last_consumer[e]) last_consumer[e] = i;
    }
  }
  find_fusions(ex, entry_node, uses, is_head, last_consumer);
  int nb = 0, T = 2 * n; /* T: beyond the last step */
  for (int i = 0; i < n; i++) {
    mt_node *nd = g->nodes[i];
    if (!nd->op) continue;
    for (int o = 0; o < mt_node_num_outputs(nd); o++) {
      int e = g->entry_ptr[i] + o;
      plan_buf *b = &bufs[nb++];
      b->shape = es[e];
      b->size = mt_shape_size(&es[e]);
      b->start = i;
      if (is_head[e]) b->end = T;
      else if (any_bwd) b->end = 2 * n - 1 - i;
      else b->end = last_use[e] >= 0 ? last_use[e] : i;
      b->target = &ex->ev[e];
      int f = ex->partner[i];
      if (f >= 0 && ex->fuse_act[f]) {
        /* a fused Activation: its FullyConnected writes the output at step f
         * and reads it, with its gradient, at backward step 2n-1-f */
        b->start = f;
        if (!is_head[e] && any_bwd) b->end = 2 * n - 1 - f;
      }
      if (ex->fuse_act[i]) b->end = b->start; /* the fused FC's own output is never written */
      /* gradient of this output, if some consumer's backward produces it or a head */
      int needs_grad = ex->node_bwd[i] && !(nd->op->flags & MT_OP_LOSS) &&
                       o < mt_op_num_visible_outputs(nd->op, nd->param) &&
                       (last_consumer[e] >= 0 || is_head[e]);
      if (needs_grad) {
        plan_buf *gb = &bufs[nb++];
        gb->shape = es[e];
        gb->size = b->size;
        gb->start = is_head[e] ? 0 : 2 * n - 1 - last_consumer[e];
        gb->end = 2 * n - 1 - (f >= 0 && ex->fuse_act[f] ? f : i);
        gb->target = &ex->eg[e];
      }
    }
  }
  MT_TRY_GOTO(plan_and_alloc(ex, bufs, nb), rc, done);
done:
  free(es);
  free(names);
  free(shapes);
  free(bufs);
  free(entry_node);
  free(last_use);
  free(last_consumer);
  free(is_head);
  free(uses);
  return rc;
}

static int exec_alloc(mt_symbol *sym, mt_context ctx, mt_executor **out) {
  *out = NULL;
  mt_executor *ex = calloc(1, sizeof *ex);
  if (!ex) return MT_NOMEM();
  ex->ctx = ctx;
  int rc = mt_symbol_copy(sym, &ex->sym);
  if (rc < 0) goto fail;
  int nout;
  const char *const *outs;
  MT_TRY_GOTO(mt_symbol_list_arguments(ex->sym, &ex->nargs, &ex->arg_names), rc, fail);
  MT_TRY_GOTO(mt_symbol_list_auxiliary_states(ex->sym, &ex->naux, &ex->aux_names), rc, fail);
  MT_TRY_GOTO(mt_symbol_list_outputs(ex->sym, &nout, &outs), rc, fail);
  MT_TRY_GOTO(mt_graph_build(ex->sym, &ex->g), rc, fail);
  ex->args = calloc((size_t)ex->nargs + 1, sizeof *ex->args);
  ex->grads = calloc((size_t)ex->nargs + 1, sizeof *ex->grads);
  ex->reqs = calloc((size_t)ex->nargs + 1, sizeof *ex->reqs);
  ex->aux = calloc((size_t)ex->naux + 1, sizeof *ex->aux);
  if (!ex->args || !ex->grads || !ex->reqs || !ex->aux) {
    rc = MT_NOMEM();
    goto fail;
  }
  *out = ex;
  return MT_OK;
fail:
  mt_executor_free(ex);
  return rc;
}

int mt_executor_bind(mt_symbol *sym, mt_context ctx, int nargs, mt_ndarray *const *args,
                     mt_ndarray *const *arg_grads, const mt_grad_req *reqs, int naux,
                     mt_ndarray *const *aux, mt_executor **out) {
  return mt_executor_bind_pooled(sym, ctx, nargs, args, arg_grads, reqs, naux, aux, NULL, out);
}

int mt_executor_bind_pooled(mt_symbol *sym, mt_context ctx, int nargs, mt_ndarray *const *args,
                            mt_ndarray *const *arg_grads, const mt_grad_req *reqs, int naux,
                            mt_ndarray *const *aux, mt_mem_pool *pool, mt_executor **out) {
  *out = NULL;
  mt_executor *ex;
  MT_TRY(exec_alloc(sym, ctx, &ex));
  int rc = MT_OK;
  ex->shared = mt_mem_pool_ref(pool);
  if (nargs != ex->nargs || naux != ex->naux) {
    rc = MT_ERR(MT_E_INVAL, "bind: the symbol has %d arguments and %d aux states; %d and %d given",
                ex->nargs, ex->naux, nargs, naux);
    goto fail;
  }
  for (int i = 0; i < nargs; i++) {
    if (!args[i]) {
      rc = MT_ERR(MT_E_INVAL, "bind: no array for argument '%s'", ex->arg_names[i]);
      goto fail;
    }
    ex->args[i] = args[i];
    ex->grads[i] = arg_grads ? arg_grads[i] : NULL;
    ex->reqs[i] = reqs ? reqs[i] : (ex->grads[i] ? MT_REQ_WRITE : MT_REQ_NULL);
    if (ex->reqs[i] != MT_REQ_NULL && !ex->grads[i]) {
      rc = MT_ERR(MT_E_INVAL, "bind: argument '%s' has grad_req %s but no gradient array",
                  ex->arg_names[i], ex->reqs[i] == MT_REQ_ADD ? "add" : "write");
      goto fail;
    }
  }
  for (int i = 0; i < naux; i++) {
    if (!aux[i]) {
      rc = MT_ERR(MT_E_INVAL, "bind: no array for aux state '%s'", ex->aux_names[i]);
      goto fail;
    }
    ex->aux[i] = aux[i];
  }
  MT_TRY_GOTO(bind_common(ex), rc, fail);
  *out = ex;
  return MT_OK;
fail:
  mt_executor_free(ex);
  return rc;
}

int mt_executor_simple_bind(mt_symbol *sym, mt_context ctx, mt_grad_req req, int nknown,
                            const char *const *names, const mt_shape *shapes, int inputs_need_grad,
                            mt_executor **out) {
  *out = NULL;
  mt_executor *ex;
  MT_TRY(exec_alloc(sym, ctx, &ex));
  int rc = MT_OK;
  mt_shape *as = calloc((size_t)ex->nargs + 1, sizeof *as);
  mt_shape *xs = calloc((size_t)ex->naux + 1, sizeof *xs);
  int nout;
  const char *const *outs;
  if (!as || !xs) {
    rc = MT_NOMEM();
    goto fail;
  }
  MT_TRY_GOTO(mt_symbol_list_outputs(ex->sym, &nout, &outs), rc, fail);
  mt_shape *os = calloc((size_t)nout + 1, sizeof *os);
  if (!os) {
    rc = MT_NOMEM();
    goto fail;
  }
  rc = mt_symbol_infer_shape(ex->sym, nknown, names, shapes, as, os, xs);
  free(os);
  if (rc < 0) goto fail;
  MT_TRY_GOTO(mt_arena_create(ctx, ex->nargs, ex->arg_names, as, &ex->arg_arena), rc, fail);
  MT_TRY_GOTO(mt_arena_create(ctx, ex->naux, ex->aux_names, xs, &ex->aux_arena), rc, fail);
  if (req != MT_REQ_NULL)
    MT_TRY_GOTO(mt_arena_create(ctx, ex->nargs, ex->arg_names, as, &ex->grad_arena), rc, fail);
  for (int i = 0; i < ex->nargs; i++) {
    int is_input = 0;
    for (int k = 0; k < nknown; k++)
      if (!strcmp(names[k], ex->arg_names[i])) is_input = 1;
    ex->args[i] = mt_arena_at(ex->arg_arena, i);
    ex->reqs[i] = (is_input && !inputs_need_grad) ? MT_REQ_NULL : req;
    ex->grads[i] = ex->reqs[i] != MT_REQ_NULL ? mt_arena_at(ex->grad_arena, i) : NULL;
  }
  for (int i = 0; i < ex->naux; i++) ex->aux[i] = mt_arena_at(ex->aux_arena, i);
  MT_TRY_GOTO(bind_common(ex), rc, fail);
  free(as);
  free(xs);
  *out = ex;
  return MT_OK;
fail:
  free(as);
  free(xs);
  mt_executor_free(ex);
  return rc;
}

/* ----------------------------------------------------------------- streams */

int mt_executor_set_stream(mt_executor *ex, struct mtk_cuda_stream *s) {
#ifdef MT_HAVE_CUDA
  if (s && ex->ctx.type != MT_GPU)
    return MT_ERR(MT_E_INVAL, "executor on cpu(%d): a CUDA stream is for GPU executors",
                  ex->ctx.id);
  ex->stream = s;
  return MT_OK;
#else
  (void)ex;
  return s ? MT_ERR(MT_E_UNSUPPORTED, "CUDA streams: this build has no CUDA") : MT_OK;
#endif
}

int mt_executor_has_stream(const mt_executor *ex) {
#ifdef MT_HAVE_CUDA
  return ex->stream != NULL;
#else
  (void)ex;
  return 0;
#endif
}

void *mt_executor_stream_enter(const mt_executor *ex) {
#ifdef MT_HAVE_CUDA
  return mtk_cuda_stream_use(ex->stream);
#else
  (void)ex;
  return NULL;
#endif
}

void mt_executor_stream_leave(void *prev) {
#ifdef MT_HAVE_CUDA
  mtk_cuda_stream_use(prev);
#else
  (void)prev;
#endif
}

int mt_executor_wait(const mt_executor *ex) {
#ifdef MT_HAVE_CUDA
  return mtk_cuda_stream_wait(ex->stream);
#else
  (void)ex;
  return MT_OK;
#endif
}

/* -------------------------------------------------------- forward/backward */

static mt_op_ctx op_ctx(const mt_executor *ex, const mt_node *n, int is_train) {
  mt_op_ctx c = {.ctx = ex->ctx,
                 .is_train = is_train,
                 .seed = ex->seed,
                 .node_key = mt_hash64(n->name),
                 .step = ex->step,
                 .sample_offset = ex->sample_offset};
  return c;
}

#define MT_MAX_IO 64

static int executor_forward(mt_executor *ex, int is_train) {
  mt_graph *g = &ex->g;
  for (int i = 0; i < g->nnodes; i++) {
    mt_node *n = g->nodes[i];
    if (!n->op) continue;
    if (ex->partner[i] >= 0 && !ex->fuse_act[i]) continue; /* done by its FullyConnected */
    int nargs = mt_node_num_args(n), naux = mt_node_num_aux(n), nout = mt_node_num_outputs(n);
    mt_ndarray *in[MT_MAX_IO], *aux[MT_MAX_IO], *out[MT_MAX_IO];
    for (int k = 0; k < nargs + naux; k++) {
      mt_ndarray *v = ex->ev[input_entry(ex, n, k)];
      if (k < nargs) in[k] = v;
      else aux[k - nargs] = v;
    }
    for (int o = 0; o < nout; o++) out[o] = ex->ev[g->entry_ptr[i] + o];
    mt_op_ctx c = op_ctx(ex, n, is_train);
    if (ex->fuse_act[i]) { /* straight into the Activation's output */
      out[0] = ex->ev[g->entry_ptr[ex->partner[i]]];
      c.fused_act = ex->fuse_act[i];
    }
    int64_t tl = MT_TL_BEGIN();
    int rc = mt_op_forward(n->op, n->param, &c, in, out, aux);
    MT_TL_END(tl, "forward", n->name, n->op->name, -1);
    if (rc < 0) return mt_error_prefix(rc, "forward of %s '%s'", n->op->name, n->name);
  }
  ex->forward_train_done = is_train;
  return MT_OK;
}

int mt_executor_forward(mt_executor *ex, int is_train) {
  rebase(ex);
  void *prev = mt_executor_stream_enter(ex);
  int64_t tl = MT_TL_BEGIN();
  int rc = executor_forward(ex, is_train);
  MT_TL_END(tl, "executor", is_train ? "forward (train)" : "forward", NULL, -1);
  mt_executor_stream_leave(prev);
  return rc;
}

/* The grad hook, run with the executor's stream not current (it reduces
 * gradients through the kvstore, on the legacy stream). */
static int call_hook(mt_executor *ex, int arg) {
#ifdef MT_HAVE_CUDA
  mtk_cuda_stream *mine = mtk_cuda_stream_use(NULL);
  int rc = ex->hook(ex->hook_user, arg);
  mtk_cuda_stream_use(mine);
  return rc;
#else
  return ex->hook(ex->hook_user, arg);
#endif
}

static int executor_backward(mt_executor *ex, int nout_grads, mt_ndarray *const *out_grads) {
  mt_graph *g = &ex->g;
  if (!ex->forward_train_done)
    return MT_ERR(MT_E_STATE, "backward: call forward(is_train=1) first");
  memset(ex->touched, 0, (size_t)g->nentries);
  for (int h = 0; h < g->nheads; h++) {
    int e = g->heads[h];
    mt_node *n = g->nodes[g->head_node[h]];
    if (!n->op || (n->op->flags & MT_OP_LOSS) || !ex->eg[e]) continue;
    if (!out_grads || h >= nout_grads || !out_grads[h])
      return MT_ERR(MT_E_INVAL, "backward: head %d (%s '%s') is not a loss; give its out_grad", h,
                    n->op->name, n->name);
    if (out_grads[h]->size != ex->eg[e]->size)
      return mt_shape_mismatch("backward", n->name, "out_grad", &ex->eg[e]->shape,
                               &out_grads[h]->shape);
    MT_TRY(mt_ndarray_copy(ex->eg[e], out_grads[h]));
    ex->touched[e] = 1;
  }
  for (int i = g->nnodes - 1; i >= 0; i--) {
    mt_node *n = g->nodes[i];
    if (!n->op || !ex->node_bwd[i]) continue;
    if (ex->partner[i] >= 0 && !ex->fuse_act[i]) continue; /* done by its FullyConnected */
    int nargs = mt_node_num_args(n), naux = mt_node_num_aux(n), nout = mt_node_num_outputs(n);
    mt_ndarray *in[MT_MAX_IO], *aux[MT_MAX_IO], *out[MT_MAX_IO], *og[MT_MAX_IO], *ig[MT_MAX_IO];
    mt_grad_req req[MT_MAX_IO];
    for (int o = 0; o < nout; o++) {
      /* fused: the Activation's output and gradient stand for the FC's */
      int e = ex->fuse_act[i] ? g->entry_ptr[ex->partner[i]] : g->entry_ptr[i] + o;
      out[o] = ex->ev[e];
      og[o] = NULL;
      if (!(n->op->flags & MT_OP_LOSS) && ex->eg[e]) {
        if (!ex->touched[e]) MT_TRY(mt_device_memset0(ex->ctx, ex->eg[e]->data, ex->eg[e]->size));
        og[o] = ex->eg[e];
      }
    }
    for (int k = 0; k < nargs + naux; k++) {
      int e = input_entry(ex, n, k);
      if (k >= nargs) {
        aux[k - nargs] = ex->ev[e];
        continue;
      }
      in[k] = ex->ev[e];
      ig[k] = ex->eg[e];
      if (!ig[k]) req[k] = MT_REQ_NULL;
      else {
        int a = ex->arg_of_entry[e];
        int add = ex->touched[e] || (a >= 0 && ex->reqs[a] == MT_REQ_ADD);
        req[k] = add ? MT_REQ_ADD : MT_REQ_WRITE;
        ex->touched[e] = 1;
      }
    }
    mt_op_ctx c = op_ctx(ex, n, 1);
    if (ex->fuse_act[i]) {
      c.fused_act = ex->fuse_act[i];
      c.fused_grad = ex->eg[g->entry_ptr[i]];
    }
    int64_t tl = MT_TL_BEGIN();
    int rc = mt_op_backward(n->op, n->param, &c, og, in, out, req, ig, aux);
    MT_TL_END(tl, "backward", n->name, n->op->name, -1);
    if (rc < 0) return mt_error_prefix(rc, "backward of %s '%s'", n->op->name, n->name);
    if (ex->hook)
      for (int k = 0; k < nargs; k++) {
        int a = ex->arg_of_entry[input_entry(ex, n, k)];
        if (a >= 0 && ex->arg_last_writer[a] == i && ex->eg[g->entry_ptr[g->arg_nodes[a]]])
          MT_TRY(call_hook(ex, a));
      }
  }
  /* arguments whose gradient no node wrote (unused) are zero for req=write */
  for (int a = 0; a < ex->nargs; a++) {
    int e = g->entry_ptr[g->arg_nodes[a]];
    if (ex->eg[e] && !ex->touched[e] && ex->reqs[a] == MT_REQ_WRITE)
      MT_TRY(mt_device_memset0(ex->ctx, ex->eg[e]->data, ex->eg[e]->size));
    if (ex->eg[e] && ex->arg_last_writer[a] < 0 && ex->hook) MT_TRY(call_hook(ex, a));
  }
  return MT_OK;
}

int mt_executor_backward(mt_executor *ex, int nout_grads, mt_ndarray *const *out_grads) {
  rebase(ex);
  void *prev = mt_executor_stream_enter(ex);
  int64_t tl = MT_TL_BEGIN();
  int rc = executor_backward(ex, nout_grads, out_grads);
  MT_TL_END(tl, "executor", "backward", NULL, -1);
  mt_executor_stream_leave(prev);
  return rc;
}

/* ---------------------------------------------------------------- accessors */

int mt_executor_num_outputs(const mt_executor *ex) { return ex->g.nheads; }

int mt_executor_num_fused(const mt_executor *ex) {
  int k = 0;
  for (int i = 0; i < ex->g.nnodes; i++) k += ex->fuse_act[i] != 0;
  return k;
}

mt_ndarray *mt_executor_output(const mt_executor *ex, int i) {
  rebase(ex);
  return i >= 0 && i < ex->g.nheads ? ex->ev[ex->g.heads[i]] : NULL;
}

mt_ndarray *mt_executor_arg(const mt_executor *ex, const char *name) {
  for (int i = 0; i < ex->nargs; i++)
    if (!strcmp(ex->arg_names[i], name)) return ex->args[i];
  return NULL;
}

mt_ndarray *mt_executor_grad(const mt_executor *ex, const char *name) {
  for (int i = 0; i < ex->nargs; i++)
    if (!strcmp(ex->arg_names[i], name)) return ex->reqs[i] != MT_REQ_NULL ? ex->grads[i] : NULL;
  return NULL;
}

mt_ndarray *mt_executor_aux(const mt_executor *ex, const char *name) {
  for (int i = 0; i < ex->naux; i++)
    if (!strcmp(ex->aux_names[i], name)) return ex->aux[i];
  return NULL;
}

void mt_executor_set_rng(mt_executor *ex, uint64_t seed, uint64_t step, int64_t sample_offset) {
  ex->seed = seed;
  ex->step = step;
  ex->sample_offset = sample_offset;
}

int64_t mt_executor_planned_bytes(const mt_executor *ex, int64_t *unplanned_bytes) {
  if (unplanned_bytes) *unplanned_bytes = ex->unplanned_elems * (int64_t)sizeof(float);
  return ex->pool_elems * (int64_t)sizeof(float);
}

mt_mem_pool *mt_executor_pool(const mt_executor *ex) { return ex->shared; }
