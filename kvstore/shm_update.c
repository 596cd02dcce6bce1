/* shm_update.c — the node-shared update's part of the node reducer: memory
 * all node ranks map (one copy: the Module's parameters and optimizer
 * state), and a reduce-and-apply whose blocks go to whichever rank is free
 * (kvstore/shm.h has the contract).
 *
 * The counters live in a small window of their own, in memory the node's
 * ranks share, and only grow: update g (1, 2, ...) is over for chunk k
 * once ready[k] reaches g * p (p ranks), and its blocks are taken by
 * advancing `next` from (g - 1) * nblock to g * nblock with compare-and-swap.
 * A block is summed and applied by the one rank that took it, reading
 * every rank's gradient of that block and writing the sum into its own
 * buffer only, so no rank writes memory another one reads in the same
 * update. The update ends with an MPI_Allreduce over the node (the stop
 * codes), which is also the barrier: no rank starts the next forward
 * before every block is applied, and no rank overwrites its gradients in
 * the next backward before every block has been read.
 *
 * Several nodes (hier, mt_shm_set_cross): blocks cannot go to whoever is
 * free, since node rank r's peers on the other nodes must join the same
 * cross-node allreduce; so node rank r owns slice r of every chunk, and
 * walks the chunks in plan order: wait until the node made the chunk
 * ready, sum the slice over the node, MPI_Allreduce it with the peers,
 * apply it (apply_owned).
 *
 * Waiting for another rank's chunk spins with a pause instruction and
 * yields the core every few thousand turns (ranks oversubscribing the
 * cores must not starve the rank they wait for). A rank that dies leaves
 * the others spinning until mpirun ends the job, as it does for ranks
 * blocked in any MPI call. */
#include <mpi.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MT_SPIN_PAUSE() _mm_pause()
#else
#define MT_SPIN_PAUSE() ((void)0)
#endif

#include "kernels/kernels.h"
#include "kvstore/kvstore.h"
#include "kvstore/mpi_check.h"
#include "kvstore/shm.h"
#include "kvstore/shm_internal.h"

#define MT_SHM_BLOCK ((int64_t)1 << 14) /* floats summed, then applied (64 KiB) */

struct mt_shm_ctl {
  _Alignas(64) uint64_t next;    /* blocks taken, over all updates */
  _Alignas(64) uint64_t ready[]; /* per chunk: readiness given, over all ranks and updates */
};

float *mt_shm_alloc_shared(mt_shm *s, int64_t n) {
  if (s->size == 1 || s->shared_win != MPI_WIN_NULL || n <= 0) return NULL;
  if (!mt_shm_room(s, (n + MT_SHM_ALIGN_PAD) * (int64_t)sizeof(float))) return NULL;
  float *mine = NULL, *base = NULL;
  MPI_Aint bytes = s->rank == 0 ? (MPI_Aint)((n + MT_SHM_ALIGN_PAD) * (int64_t)sizeof(float)) : 0;
  if (MPI_Win_allocate_shared(bytes, sizeof(float), MPI_INFO_NULL, s->node, &mine,
                              &s->shared_win) != MPI_SUCCESS) {
    s->shared_win = MPI_WIN_NULL;
    return NULL;
  }
  int unit = 0;
  if (MPI_Win_lock_all(MPI_MODE_NOCHECK, s->shared_win) != MPI_SUCCESS ||
      MPI_Win_shared_query(s->shared_win, 0, &bytes, &unit, &base) != MPI_SUCCESS)
    return NULL;
  return mt_shm_align64(base);
}

int mt_shm_set_plan(mt_shm *s, int nchunk, const int64_t *off, const int64_t *len) {
  if (s->size == 1 || !s->resident)
    return mt_error_set(MT_E_STATE, "kvstore shm: an update plan needs the resident buffer");
  if (s->ctl) return mt_error_set(MT_E_STATE, "kvstore shm: the update plan is set already");
  int nblock = 0;
  for (int k = 0; k < nchunk; k++) {
    if (off[k] < 0 || len[k] < 0 || off[k] + len[k] > s->cap)
      return mt_error_set(MT_E_INVAL, "kvstore shm: chunk %d [%lld, %lld) outside the %lld floats",
                          k, (long long)off[k], (long long)(off[k] + len[k]), (long long)s->cap);
    nblock += (int)((len[k] + MT_SHM_BLOCK - 1) / MT_SHM_BLOCK);
  }
  s->blocks = calloc((size_t)nblock + 1, sizeof *s->blocks);
  s->published = calloc((size_t)nchunk + 1, sizeof *s->published);
  s->chunk_off = calloc((size_t)nchunk + 1, sizeof *s->chunk_off);
  s->chunk_len = calloc((size_t)nchunk + 1, sizeof *s->chunk_len);
  if (!s->blocks || !s->published || !s->chunk_off || !s->chunk_len)
    return mt_error_set(MT_E_NOMEM, "kvstore shm: out of memory for the update plan");
  memcpy(s->chunk_off, off, sizeof *off * (size_t)nchunk);
  memcpy(s->chunk_len, len, sizeof *len * (size_t)nchunk);
  int b = 0;
  for (int k = 0; k < nchunk; k++)
    for (int64_t lo = off[k]; lo < off[k] + len[k]; lo += MT_SHM_BLOCK) {
      int64_t hi = off[k] + len[k] - lo < MT_SHM_BLOCK ? off[k] + len[k] : lo + MT_SHM_BLOCK;
      s->blocks[b++] = (mt_shm_block){k, lo, hi};
    }
  s->nchunk = nchunk;
  s->nblock = nblock;
  MPI_Aint bytes =
      s->rank == 0 ? (MPI_Aint)(64 + sizeof(struct mt_shm_ctl) + sizeof(uint64_t) * (size_t)nchunk)
                   : 0;
  if (!mt_shm_room(s,
                   (int64_t)(64 + sizeof(struct mt_shm_ctl) + sizeof(uint64_t) * (size_t)nchunk)))
    return mt_error_set(MT_E_NOMEM, "kvstore shm: no room for the update's counters");
  struct mt_shm_ctl *mine = NULL;
  MT_CHECK_MPI(MPI_Win_allocate_shared(bytes, 1, MPI_INFO_NULL, s->node, &mine, &s->ctl_win));
  MT_CHECK_MPI(MPI_Win_lock_all(MPI_MODE_NOCHECK, s->ctl_win));
  int unit = 0;
  struct mt_shm_ctl *ctl = NULL;
  MT_CHECK_MPI(MPI_Win_shared_query(s->ctl_win, 0, &bytes, &unit, &ctl));
  ctl = mt_shm_align64(ctl);
  if (s->rank == 0) memset(ctl, 0, sizeof *ctl + sizeof(uint64_t) * (size_t)nchunk);
  MT_CHECK_MPI(MPI_Win_sync(s->ctl_win));
  MT_CHECK_MPI(MPI_Barrier(s->node));
  MT_CHECK_MPI(MPI_Win_sync(s->ctl_win));
  s->ctl = ctl;
  return MT_OK;
}

void mt_shm_chunk_ready(mt_shm *s, int k) {
  if (!s->ctl || k < 0 || k >= s->nchunk || s->published[k] == s->gen + 1) return;
  s->published[k] = s->gen + 1;
  /* release: this rank's gradient stores of the chunk come before */
  __atomic_fetch_add(&s->ctl->ready[k], 1, __ATOMIC_RELEASE);
}

/* Spins until chunk k is ready on every rank for update g. */
static void wait_ready(mt_shm *s, int k, uint64_t g) {
  const uint64_t want = g * (uint64_t)s->size;
  for (unsigned spins = 0; __atomic_load_n(&s->ctl->ready[k], __ATOMIC_ACQUIRE) < want; spins++) {
    MT_SPIN_PAUSE();
    if ((spins & 4095) == 4095) sched_yield();
  }
}

/* Takes the next block of update g, or returns -1 when all are taken. */
static int take_block(mt_shm *s, uint64_t g) {
  const uint64_t end = g * (uint64_t)s->nblock;
  uint64_t c = __atomic_load_n(&s->ctl->next, __ATOMIC_RELAXED);
  while (c < end)
    if (__atomic_compare_exchange_n(&s->ctl->next, &c, c + 1, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED))
      return (int)(c - (g - 1) * (uint64_t)s->nblock);
  return -1;
}

void mt_shm_set_cross(mt_shm *s, MPI_Comm cross) { s->cross = cross; }

/* Several nodes: this rank's slice of every chunk, summed over the node
 * (rank order) and then over the nodes (MPI_Allreduce among the peers),
 * then applied. Node rank r of every node walks the same slices in the
 * same order, so the peers' collectives match. */
static int apply_owned(mt_shm *s, float *buf, uint64_t g, mt_shm_range_fn fn, void *user,
                       int *mine) {
  int rc = MT_OK;
  for (int k = 0; k < s->nchunk; k++) {
    int64_t lo = s->chunk_off[k], len = s->chunk_len[k], hi = lo + len,
            a = lo + len / 16 * s->rank / s->size * 16,
            z = s->rank == s->size - 1 ? hi : lo + len / 16 * (s->rank + 1) / s->size * 16;
    if (a >= z) continue; /* every node's rank r skips alike */
    wait_ready(s, k, g);
    if (rc == MT_OK) {
      for (int r = 0; r < s->size; r++) s->src[r] = s->seg[r] + a;
      mtk_sum_arrays(buf + a, s->src, s->size, z - a);
    }
    for (int64_t off = a; off < z; off += ((int64_t)1 << 30)) { /* MPI counts are int */
      int cnt = (int)(z - off < ((int64_t)1 << 30) ? z - off : ((int64_t)1 << 30));
      int e = MPI_Allreduce(MPI_IN_PLACE, buf + off, cnt, MPI_FLOAT, MPI_SUM, s->cross);
      if (e != MPI_SUCCESS && rc == MT_OK) {
        char m[MPI_MAX_ERROR_STRING];
        int l = 0;
        MPI_Error_string(e, m, &l);
        rc = mt_error_set(MT_E_MPI, "kvstore shm: MPI_Allreduce across nodes: %s", m);
      }
    }
    if (rc < 0) continue; /* after an error: keep the peers' collectives matched */
    int c = fn(user, a, z);
    if (c < 0) rc = c;
    else if (c > 0 && c < *mine) *mine = c;
  }
  return rc;
}

int mt_shm_reduce_apply(mt_shm *s, float *buf, int64_t n, mt_shm_range_fn fn, void *user,
                        int *code) {
  *code = 0;
  if (!s->ctl || buf != s->seg[s->rank] || n > s->cap) return 0;
  const uint64_t g = (uint64_t)++s->gen;
  for (int k = 0; k < s->nchunk; k++) /* what backward did not hand over yet */
    if (s->published[k] != (int64_t)g) {
      s->published[k] = (int64_t)g;
      __atomic_fetch_add(&s->ctl->ready[k], 1, __ATOMIC_RELEASE);
    }
  int rc = MT_OK, mine = INT32_MAX;
  if (s->cross != MPI_COMM_NULL) {
    for (int k = 0; k < s->nchunk; k++)
      if (s->chunk_off[k] + s->chunk_len[k] > n)
        return mt_error_set(MT_E_INVAL, "kvstore shm: plan past the buffer");
    rc = apply_owned(s, buf, g, fn, user, &mine);
  }
  for (int b; s->cross == MPI_COMM_NULL && (b = take_block(s, g)) >= 0;) {
    const mt_shm_block *blk = &s->blocks[b];
    wait_ready(s, blk->chunk, g);
    if (rc < 0) continue; /* after an error: take blocks, apply nothing */
    if (blk->hi > n) {
      rc = mt_error_set(MT_E_INVAL, "kvstore shm: block [%lld, %lld) past the buffer's %lld",
                        (long long)blk->lo, (long long)blk->hi, (long long)n);
      continue;
    }
    for (int r = 0; r < s->size; r++) s->src[r] = s->seg[r] + blk->lo;
    mtk_sum_arrays(buf + blk->lo, s->src, s->size, blk->hi - blk->lo);
    int k = fn(user, blk->lo, blk->hi);
    if (k < 0) rc = k;
    else if (k > 0 && k < mine) mine = k;
  }
  /* every block applied before anyone reads the shared memory again */
  int all = mine;
  MPI_Win_sync(s->win);
  if (s->shared_win != MPI_WIN_NULL) MPI_Win_sync(s->shared_win);
  int agree = MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, s->node);
  if (agree == MPI_SUCCESS && s->cross != MPI_COMM_NULL) /* and over the nodes */
    agree = MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_MIN, s->cross);
  MPI_Win_sync(s->win);
  if (s->shared_win != MPI_WIN_NULL) MPI_Win_sync(s->shared_win);
  if (rc < 0) return rc;
  MT_CHECK_MPI(agree);
  *code = all == INT32_MAX ? 0 : all;
  return 1;
}

void mt_shm_update_free_windows(mt_shm *s) {
  MPI_Win *w[2] = {&s->shared_win, &s->ctl_win};
  for (int i = 0; i < 2; i++)
    if (*w[i] != MPI_WIN_NULL) {
      MPI_Win_unlock_all(*w[i]);
      MPI_Win_free(w[i]);
    }
  s->ctl = NULL;
}

void mt_shm_update_free(mt_shm *s) {
  free(s->blocks);
  free(s->published);
  free(s->chunk_off);
  free(s->chunk_len);
  s->blocks = NULL;
  s->published = NULL;
  s->chunk_off = s->chunk_len = NULL;
}
