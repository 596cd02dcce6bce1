/* kvstore.h — gradient aggregation behind one interface (MXNet's KVStore).
 *
 * Values are raw float buffers, one per device of this process, all of the
 * same length. Backends sum across the devices of a process (`local`) and
 * across ranks (`dist_sync`: flat MPI allreduce; `hier`: reduce inside each
 * node, allreduce among node leaders, broadcast inside the node; `nccl`:
 * NCCL across the process's GPUs, then MPI across ranks).
 *
 * Gradient buckets: a bucket is started with mt_kvstore_start as soon as
 * backward has produced it; started buckets progress while backward goes on
 * (mt_kvstore_progress) and mt_kvstore_wait completes all of them. Every
 * rank starts the same buckets in the same order (checked at set-up).
 *
 * The files: kvstore.c dispatches the functions below through the backend's
 * table; factory.c creates a kvstore by type name; device_stage.c is the
 * in-process stage the backends share (device_stage.h); local.c and dist.c
 * are the backends (dist.c with the node stages of shm.c, shm_update.c,
 * shm_room.c and nccl_node.c); world.c holds the process-level MPI
 * helpers (mt_dist_*, world.h).
 *
 * Every function returns 0 or a negative MT_E_* code with the message
 * recorded. Backends see the public header's types, raw pointers, the
 * kernels and the error macros (base/error.h), never the Module's
 * internals. */
#ifndef MT_KVSTORE_H
#define MT_KVSTORE_H
#include "base/timeline.h"
#include "kvstore/device_stage.h"
#include "modtrain.h"

typedef struct mt_kvstore mt_kvstore;

typedef int (*mt_kvstore_range_fn)(void *user, int64_t lo, int64_t hi);

/* A backend: everything the factory and the callers know of it. A NULL
 * slot means what its comment says; the dispatch in kvstore.c applies it. */
typedef struct {
  const char *name;
  /* 1: reduces across the ranks of the MPI world (a distributed kvstore);
   * 0: only across the devices of this process. */
  int across_ranks;
  /* Sets up kv->impl, kv->rank, kv->num_workers (rank 0 of 1 already
   * filled in). On failure the factory calls destroy when kv->impl is set.
   * NULL: no state. */
  int (*init)(mt_kvstore *kv);
  /* Starts the sum of bufs[0..ndev) (n floats each) over devices and ranks,
   * result into bufs[0] (devices summed in index order: bitwise
   * repeatable). The buffers must not be touched until wait. */
  int (*start)(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs, int64_t n);
  int (*progress)(mt_kvstore *kv); /* NULL: nothing to drive */
  int (*wait)(mt_kvstore *kv);     /* completes every started reduction; NULL: start did */
  /* Reductions started while set may use blocking calls (nothing left to
   * overlap). NULL: start always completes at once. */
  int (*set_blocking)(mt_kvstore *kv, int blocking);
  /* bufs[0] of rank 0 to bufs[0..ndev) of every rank. */
  int (*broadcast)(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs, int64_t n);
  /* Elementwise sum of doubles over ranks (metric states), in place. NULL:
   * one process. */
  int (*allreduce_f64)(mt_kvstore *kv, double *buf, int64_t n);
  /* Every rank's 64-bit value; MT_E_INVAL naming the first rank whose value
   * differs from rank 0's ("what" names the thing compared). NULL: one
   * process. */
  int (*check_same)(mt_kvstore *kv, uint64_t value, const char *what);
  int (*barrier)(mt_kvstore *kv); /* NULL: one process */
  /* Non-blocking agreement on a flag (preemption): start with this rank's
   * flag; wait gives the OR over ranks. NULL: one process. */
  int (*agree_start)(mt_kvstore *kv, int flag);
  int (*agree_wait)(mt_kvstore *kv, int *any);
  /* The kvstore's own memory and the node-shared update: see
   * mt_kvstore_host_buffer and mt_kvstore_shared_buffer .. _reduce_apply
   * below. NULL: the backend has none (no memory, the update refused). */
  float *(*host_buffer)(mt_kvstore *kv, int64_t n);
  float *(*shared_buffer)(mt_kvstore *kv, int64_t n);
  int (*apply_plan)(mt_kvstore *kv, int nchunk, const int64_t *off, const int64_t *len);
  void (*chunk_ready)(mt_kvstore *kv, int k);
  int (*reduce_apply)(mt_kvstore *kv, float *buf, int64_t n, mt_kvstore_range_fn fn, void *user,
                      int *code);
  void (*destroy)(mt_kvstore *kv); /* frees kv->impl; NULL: nothing to free */
} mt_kvstore_backend;

struct mt_kvstore {
  const mt_kvstore_backend *backend;
  int rank, num_workers;
  int agree_flag, agree_pending; /* one-process agreement */
  void *impl;                    /* backend state */
  /* the timeline (base/timeline.h): buckets started since the last wait */
  int tl_nb;
  int64_t tl_t0[MT_TL_BUCKET_LANES], tl_len[MT_TL_BUCKET_LANES];
};

/* By MXNet's type name: "local" / "device" (one process), "dist_sync" /
 * "dist" / "dist_sync_device" (MPI allreduce), "hier" (node-aware), "nccl"
 * (CUDA builds). The MPI ones initialise MPI if the program has not (the
 * factory, kvstore/factory.c). Unknown names: MT_E_INVAL listing the known
 * ones. */
int mt_kvstore_create(const char *type, mt_kvstore **out);
void mt_kvstore_free(mt_kvstore *kv);
const char *mt_kvstore_type(const mt_kvstore *kv);
/* The backend's across_ranks: 1 for the MPI kvstores, even on one rank. */
int mt_kvstore_is_dist(const mt_kvstore *kv);

int mt_kvstore_start(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                     int64_t n);
int mt_kvstore_progress(mt_kvstore *kv);
int mt_kvstore_wait(mt_kvstore *kv);
/* Reductions started while set use blocking calls (the MPI kvstores: the
 * blocking collectives); no effect on a backend without the slot. */
int mt_kvstore_set_blocking(mt_kvstore *kv, int blocking);
/* start + wait, then bufs[0] copied to the other devices (MXNet's pushpull). */
int mt_kvstore_pushpull(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                        int64_t n);
int mt_kvstore_broadcast(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                         int64_t n);
int mt_kvstore_allreduce_f64(mt_kvstore *kv, double *buf, int64_t n);
int mt_kvstore_check_same(mt_kvstore *kv, uint64_t value, const char *what);
int mt_kvstore_barrier(mt_kvstore *kv);
/* Agreement across ranks, started at one batch boundary and completed at
 * the next: every rank sees the same answer at the same batch. */
int mt_kvstore_agree_start(mt_kvstore *kv, int flag);
int mt_kvstore_agree_wait(mt_kvstore *kv, int *any);

/* The backends' tables (local.c, dist.c). */
extern const mt_kvstore_backend mt_kvstore_local, mt_kvstore_dist_sync, mt_kvstore_hier,
    mt_kvstore_nccl;

/* Collective (every rank, the same n): host memory for n floats in which
 * the kvstore reduces fastest (the node's shared-memory window, reduced in
 * place), owned by the kvstore and valid until it is freed; NULL when it
 * has none (local, one rank per node, several nodes with dist_sync,
 * MODTRAIN_SHM=0). */
float *mt_kvstore_host_buffer(mt_kvstore *kv, int64_t n);

/* The node-shared update, where the world is one node whose ranks reduce
 * through shared memory (dist_sync or hier, MODTRAIN_SHM not 0), or hier on
 * several nodes with the same number of ranks each (then each node keeps
 * its own copy, node rank r sums its slice of every chunk over its node and
 * then over the nodes with its peers, and applies it):
 *
 * mt_kvstore_shared_buffer (collective, the same n everywhere): n floats
 * that every rank maps, one copy on the node (the Module keeps its
 * parameters and optimizer state there). NULL where there is no such
 * memory; then the rest below is refused or returns 0.
 *
 * mt_kvstore_apply_plan (collective, the same plan everywhere): the chunks
 * of the mt_kvstore_host_buffer memory, [off[k], off[k] + len[k]), in the
 * order backward makes them final. mt_kvstore_chunk_ready: this rank's
 * chunk k is final for the coming update (from backward's hooks).
 *
 * mt_kvstore_reduce_apply (collective): every chunk summed over the ranks
 * and handed to fn(user, lo, hi) block by block, each block by whichever
 * rank is free first once every rank made its chunk ready (a rank that
 * ends backward early applies what the others have produced while they
 * compute the rest); then the ranks wait for each other, so every block is
 * applied once on the node before any rank goes on. fn returns 0, > 0 a
 * stop code (that block is bad, the others go on), < 0 an error; *code is
 * the smallest stop code of any rank (0: none), the same on every rank.
 * Afterwards buf holds summed values in the blocks this rank took only.
 * Returns 1 when done, 0 when this kvstore cannot (no plan: nothing was
 * done; use start / wait), < 0 on an error (kvstore/shm.h has the rest). */
float *mt_kvstore_shared_buffer(mt_kvstore *kv, int64_t n);
int mt_kvstore_apply_plan(mt_kvstore *kv, int nchunk, const int64_t *off, const int64_t *len);
void mt_kvstore_chunk_ready(mt_kvstore *kv, int k);
int mt_kvstore_reduce_apply(mt_kvstore *kv, float *buf, int64_t n, mt_kvstore_range_fn fn,
                            void *user, int *code);

#endif
