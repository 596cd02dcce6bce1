/* module_dist.c — the Module's part in data parallel training: gradient
 * buckets over the flat gradient buffer and their start as backward
 * produces them, the ranks' agreement on parameters and layout with rank
 * 0's parameters broadcast, and the node-shared update (parameters and
 * optimizer state in the node's shared memory, each gradient block summed
 * and applied by one rank). src/module.c calls these from init_optimizer,
 * backward and update. */
#include <stdlib.h>
#include <string.h>

#include "base/env.h"
#include "base/error.h"
#include "base/timeline.h"
#include "executor.h"
#include "module.h"
#include "optimizer.h"

/* Buckets of at most bucket_bytes over the flat gradient buffer, filled from
 * the last parameter backwards (the order backward produces gradients). */
int mt_module_build_buckets(mt_module *m) {
  free(m->buckets);
  free(m->param_bucket);
  free(m->arg_to_param);
  free(m->param_done);
  m->buckets = calloc((size_t)m->nparam + 1, sizeof *m->buckets);
  m->param_bucket = calloc((size_t)m->nparam + 1, sizeof *m->param_bucket);
  m->param_done = calloc((size_t)m->nparam + 1, 1);
  int nargs;
  const char *const *args;
  MT_TRY(mt_symbol_list_arguments(m->sym, &nargs, &args));
  m->arg_to_param = calloc((size_t)nargs + 1, sizeof *m->arg_to_param);
  if (!m->buckets || !m->param_bucket || !m->param_done || !m->arg_to_param) return MT_NOMEM();
  for (int a = 0; a < nargs; a++)
    m->arg_to_param[a] = mt_module_find_name(m->param_names, m->nparam, args[a]);
  m->nbuckets = 0;
  const mt_arena *ga = m->group.slots[0].grads;
  if (!ga || m->nparam == 0) return MT_OK;
  int64_t cap = m->bucket_bytes > 0 ? m->bucket_bytes / (int64_t)sizeof(float) : INT64_MAX;
  int last = m->nparam - 1;
  for (int p = m->nparam - 1; p >= 0; p--) {
    int64_t end = p == m->nparam - 1 ? mt_arena_size(ga) : mt_arena_offset(ga, p + 1);
    int64_t bucket_end = last == m->nparam - 1 ? mt_arena_size(ga) : mt_arena_offset(ga, last + 1);
    int64_t start = mt_arena_offset(ga, p);
    /* close the current bucket if adding p would exceed the cap */
    if (p < last && bucket_end - start > cap) {
      struct mt_bucket *b = &m->buckets[m->nbuckets++];
      b->first = p + 1;
      b->last = last;
      b->off = end;
      b->len = bucket_end - end;
      last = p;
    }
  }
  struct mt_bucket *b = &m->buckets[m->nbuckets++];
  b->first = 0;
  b->last = last;
  b->off = 0;
  b->len = last == m->nparam - 1 ? mt_arena_size(ga) : mt_arena_offset(ga, last + 1);
  for (int k = 0; k < m->nbuckets; k++)
    for (int p = m->buckets[k].first; p <= m->buckets[k].last; p++) m->param_bucket[p] = k;
  return MT_OK;
}

/* ------------------------------------------------ the node-shared update
 *
 * Where the world is one node reducing through shared memory, context 0's
 * parameters and the optimizer state move into memory the node's ranks
 * share (one copy), next to the gradients the kvstore already holds there.
 * Update is then mt_kvstore_reduce_apply: the gradient is summed over the
 * ranks 64 KiB block by block, and whichever rank sums a block updates the
 * parameters of that block at once, while the sum is in cache; the ranks
 * then wait for each other, and every rank's forward reads the one updated
 * copy. Against reducing everything everywhere and updating everywhere,
 * each rank updates about 1/p of the parameters and nobody copies summed
 * gradients back. Inside forward_backward, backward hands each parameter's
 * gradient over as soon as it is final (mt_kvstore_chunk_ready), so a rank
 * that ends backward early sums and applies what the others have produced
 * while they compute the rest: the ranks' unequal pace costs less. The
 * sums are the same rank-order sums, so results are bit-identical to the
 * plain path. Every rank counts every parameter's update
 * (mt_optimizer_begin_update), so counts, schedules and the checkpoint's
 * state (rank 0 reads the whole shared state) are the same as without it.
 * A block with NaN or Inf is not applied (the others are); the ranks agree
 * on the first parameter that had one, so all report the one the plain
 * path names. One CPU context per rank only; MODTRAIN_SHARED_UPDATE=0
 * turns it off. With hier on several nodes of one size, each node keeps
 * its own shared copy and node rank r sums slice r of each gradient over
 * the node and then over the nodes (kvstore/shm.h), in hier's own order
 * (node first, then nodes), so each rank sends 1/p of the gradient across
 * the network and updates 1/p of the parameters. */

/* mt_kvstore_reduce_apply's callback: the parameters overlapping flat
 * gradient range [lo, hi). Returns 1 + the first parameter whose gradient
 * in the range is not finite, else 0. */
static int shard_apply(void *user, int64_t lo, int64_t hi) {
  mt_module *m = user;
  const mt_exec_slot *s0 = &m->group.slots[0];
  int a = 0, b = m->nparam; /* the last parameter starting at or before lo */
  while (b - a > 1) {
    int mid = (a + b) / 2;
    if (mt_arena_offset(s0->grads, mid) <= lo) a = mid;
    else b = mid;
  }
  int bad = 0;
  int64_t tl = MT_TL_BEGIN();
  for (int i = a; i < m->nparam; i++) {
    mt_ndarray *wt = mt_arena_at(s0->params, i);
    int64_t off = mt_arena_offset(s0->grads, i), end = off + wt->size;
    if (off >= hi) break;
    if (end <= lo) continue;
    int64_t x = lo > off ? lo : off, y = hi < end ? hi : end;
    int finite = 1;
    MT_TRY(mt_optimizer_apply_range(m->opt, i, wt, mt_arena_at(s0->grads, i), x - off, y - x,
                                    &finite));
    if (!finite && !bad) bad = i + 1;
  }
  MT_TL_END(tl, "optimizer", "optimizer", NULL, hi - lo);
  return bad;
}

/* Backward must not overwrite gradients the other ranks may be reading. */
int mt_module_check_not_handed_over(const mt_module *m, const char *what) {
  if (!m->handed_over) return MT_OK;
  return MT_ERR(MT_E_STATE,
                "%s: the last forward_backward handed its gradients to the other ranks (the "
                "node-shared update): call update first, or run with MODTRAIN_SHARED_UPDATE=0",
                what);
}

/* Backward's hook under the node-shared update (inside forward_backward):
 * parameter p's gradient is final, hand it to the other ranks. Chunks are
 * the parameters in reverse order, the order backward produces them. */
int mt_module_grad_handover(void *user, int arg) {
  mt_module *m = user;
  int p = m->arg_to_param[arg];
  if (p >= 0) mt_kvstore_chunk_ready(m->kv, m->nparam - 1 - p);
  return MT_OK;
}

static int64_t round16(int64_t n) { return (n + 15) & ~(int64_t)15; }

/* Collective, at init_optimizer: parameters and optimizer state into the
 * node's shared memory where every rank can (a CPU context each, gradients
 * already in the kvstore's window). */
static int share_setup(mt_module *m) {
  mt_exec_group *g = &m->group;
  mt_arena *pa = g->slots[0].params, *gr = g->slots[0].grads;
  double able = g->nslots == 1 && pa->ctx.type == MT_CPU && gr && gr->external && m->nparam > 0 &&
                !mt_env_is_zero(MT_ENV_SHARED_UPDATE);
  MT_TRY(mt_kvstore_allreduce_f64(m->kv, &able, 1)); /* all ranks, or none */
  if (able < m->kv->num_workers) return MT_OK;
  int64_t total = round16(mt_arena_size(pa));
  for (int i = 0; i < m->nparam; i++)
    total += mt_optimizer_state_floats(m->opt, mt_arena_at(pa, i)->size);
  float *shared = mt_kvstore_shared_buffer(m->kv, total);
  if (!shared) return MT_OK;
  MT_TRY(mt_arena_rehome(pa, shared)); /* every rank copies the same bytes (broadcast) */
  float *st = shared + round16(mt_arena_size(pa));
  for (int i = 0; i < m->nparam; i++) {
    mt_ndarray *wt = mt_arena_at(pa, i);
    MT_TRY(mt_optimizer_place_state(m->opt, i, m->param_names[i], wt, st));
    st += mt_optimizer_state_floats(m->opt, wt->size);
  }
  /* the plan: every parameter's gradient, in the order backward ends them */
  int64_t *off = calloc((size_t)m->nparam, sizeof *off),
          *len = calloc((size_t)m->nparam, sizeof *len);
  int rc = off && len ? MT_OK : MT_NOMEM();
  for (int k = 0; rc == MT_OK && k < m->nparam; k++) {
    off[k] = mt_arena_offset(gr, m->nparam - 1 - k);
    len[k] = mt_arena_at(gr, m->nparam - 1 - k)->size;
  }
  if (rc == MT_OK) rc = mt_kvstore_apply_plan(m->kv, m->nparam, off, len);
  free(off);
  free(len);
  MT_TRY(rc);
  MT_TRY(mt_kvstore_barrier(m->kv)); /* nobody updates before everyone has moved in */
  m->shared_update = 1;
  if (m->kv->rank == 0)
    mt_log(MT_LOG_DEBUG, "module",
           "node-shared update: %lld floats of parameters and optimizer state shared by %d "
           "ranks, each updating 1/%d",
           (long long)total, m->kv->num_workers, m->kv->num_workers);
  return MT_OK;
}

/* Not collective: parameters and optimizer state back to memory of this
 * rank's own (the ranks hold the same values after an update). */
int mt_module_share_undo(mt_module *m) {
  if (!m->shared_update) return MT_OK;
  mt_arena *pa = m->group.nslots > 0 ? m->group.slots[0].params : NULL;
  if (pa && pa->external) MT_TRY(mt_arena_rehome(pa, NULL));
  MT_TRY(mt_optimizer_own_states(m->opt));
  m->shared_update = m->handed_over = 0;
  return MT_OK;
}

int mt_module_shared_update(mt_module *m) {
  mt_exec_slot *s0 = &m->group.slots[0];
  for (int i = 0; i < m->nparam; i++)
    MT_TRY(mt_optimizer_begin_update(m->opt, i, m->param_names[i], mt_arena_at(s0->params, i),
                                     mt_arena_at(s0->grads, i)));
  int code = 0;
  m->handed_over = 0;
  int rc = mt_kvstore_reduce_apply(m->kv, mt_arena_data(s0->grads), mt_arena_size(s0->grads),
                                   shard_apply, m, &code);
  if (rc < 0) return rc;
  if (rc == 0)
    return MT_ERR(MT_E_STATE, "update: the kvstore no longer shares memory with the module");
  if (code > 0)
    return MT_ERR(MT_E_NUMERIC, "gradient of '%s' has NaN or Inf", m->param_names[code - 1]);
  return MT_OK;
}

/* Ranks agree on the parameters and the bucket layout (else collectives
 * would mismatch and hang), then take rank 0's parameters. */
int mt_module_dist_setup(mt_module *m) {
  uint64_t h = 0xcbf29ce484222325ull;
#define MIX(v) (h = (h ^ (uint64_t)(v)) * 0x100000001b3ull)
  for (int i = 0; i < m->nparam; i++) {
    for (const char *c = m->param_names[i]; *c; c++) MIX((unsigned char)*c);
    mt_shape sh = mt_ndarray_shape(mt_arena_at(m->arg_params, i));
    for (int d = 0; d < sh.ndim; d++) MIX(sh.dim[d]);
  }
  for (int k = 0; k < m->nbuckets; k++) {
    MIX(m->buckets[k].off);
    MIX(m->buckets[k].len);
  }
#undef MIX
  MT_TRY(mt_kvstore_check_same(m->kv, h, "parameters and gradient bucket layout"));
  mt_exec_group *g = &m->group;
  /* Context 0's gradients move into the kvstore's fastest memory where it
   * has some (the node's shared-memory window: reduced in place, no
   * copies). Collective: every rank asks, with the size the check above
   * made equal. */
  float *home = mt_kvstore_host_buffer(m->kv, mt_arena_size(g->slots[0].params));
  mt_arena *gr0 = g->slots[0].grads;
  if (home && gr0 && gr0->ctx.type == MT_CPU &&
      mt_arena_size(gr0) <= mt_arena_size(g->slots[0].params))
    MT_TRY(mt_arena_rehome(gr0, home));
  float *bufs[64];
  mt_context ctxs[64];
  int n = g->nslots < 64 ? g->nslots : 64;
  for (int s = 0; s < n; s++) {
    bufs[s] = mt_arena_data(g->slots[s].params);
    ctxs[s] = g->slots[s].ctx;
  }
  MT_TRY(mt_kvstore_broadcast(m->kv, n, bufs, ctxs, mt_arena_size(g->slots[0].params)));
  if (m->naux > 0) {
    for (int s = 0; s < n; s++) bufs[s] = mt_arena_data(g->slots[s].aux);
    MT_TRY(mt_kvstore_broadcast(m->kv, n, bufs, ctxs, mt_arena_size(g->slots[0].aux)));
  }
  m->params_dirty = 1;
  return share_setup(m);
}

int mt_module_start_bucket(mt_module *m, int k) {
  mt_exec_group *g = &m->group;
  float *bufs[64];
  mt_context ctxs[64];
  int n = g->nslots < 64 ? g->nslots : 64;
  for (int s = 0; s < n; s++) {
    bufs[s] = mt_arena_data(g->slots[s].grads) + m->buckets[k].off;
    ctxs[s] = g->slots[s].ctx;
  }
  MT_TRY(mt_kvstore_start(m->kv, n, bufs, ctxs, m->buckets[k].len));
  m->buckets_started++;
  return MT_OK;
}

/* Executor hook: a parameter's gradient is final on the last context. */
int mt_module_grad_ready(void *user, int arg) {
  mt_module *m = user;
  int p = m->arg_to_param[arg];
  if (p < 0 || m->param_done[p]) return MT_OK;
  m->param_done[p] = 1;
  int k = m->param_bucket[p];
  if (--m->buckets[k].pending == 0) {
    /* the other slots' streams may still be writing their gradients */
    MT_TRY(mt_exec_group_wait(&m->group));
    if (!m->buckets_in_order) MT_TRY(mt_module_start_bucket(m, k));
    else /* BucketingModule: in index order, whatever order this bucket's symbol ends them */
      while (m->next_bucket < m->nbuckets && m->buckets[m->next_bucket].pending == 0)
        MT_TRY(mt_module_start_bucket(m, m->next_bucket++));
  }
  return mt_kvstore_progress(m->kv);
}
