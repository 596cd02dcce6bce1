/* dist.c — the MPI kvstores (dist_sync, hier, nccl): one table of slots
 * each, sharing their code; the mode chosen by the backend's init.
 *
 *   dist_sync  every bucket: sum the process's devices into device 0, then
 *              MPI_Iallreduce over all ranks (non-blocking: it progresses
 *              while backward computes the next buckets).
 *   hier       every bucket: MPI_Ireduce to the node's first rank over the
 *              node-local communicator (MPI_Comm_split_type SHARED), then an
 *              allreduce among node leaders, then a broadcast inside the
 *              node. Only the node-local stage overlaps backward.
 *
 * Inside a node the sum goes through shared memory (kvstore/shm.c) rather
 * than MPI when the node has several ranks: dist_sync on a world that is
 * one node, and hier's node stage (then every node rank holds the node sum;
 * the leaders' allreduce and the broadcast follow at wait). That reduction
 * is blocking, done when the bucket starts. MODTRAIN_SHM=0 keeps MPI.
 *
 * GPU values in hier, with the node's ranks on distinct GPUs: the node's
 * sum through NCCL on the devices (kvstore/nccl_node.c), the leaders'
 * allreduce staged through pinned host memory, NCCL's broadcast back;
 * blocking. Ranks sharing a GPU (which NCCL refuses) stage every bucket
 * through host memory and MPI as above.
 *
 * Staging: GPU buckets reach MPI through pinned host buffers, unless MPI is
 * CUDA-aware (mt_mpi_cuda_aware: Open MPI's MPIX_Query_cuda_support on
 * every rank): then the blocking collectives (dist_sync's allreduce when
 * nothing overlaps, broadcasts, the NCCL node stage's cross-node allreduce)
 * take the device buffers themselves, after the device has finished the
 * kernels that made them. Open MPI's CUDA support does not cover the
 * non-blocking collectives (MPI_Iallreduce, MPI_Ireduce go through libnbc,
 * which works on host memory), nor does the node's shared-memory reduction:
 * those keep staging.
 *
 * All calls go through MT_CHECK_MPI, which records MPI's own error string;
 * communicators use MPI_ERRORS_RETURN so errors come back as codes. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "kvstore/kvstore.h"
#include "kvstore/mpi_check.h"
#include "kvstore/shm.h"
#include "kvstore/world.h"
#include "base/error.h"
#ifdef MT_HAVE_CUDA
#include "base/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kvstore/nccl_node.h"
#endif

/* MPI counts are int: large buffers go in chunks. */
#define MT_MPI_CHUNK ((int64_t)1 << 30)

typedef struct {
  float *buf;
  int64_t n;
} pending;

typedef struct {
  int hier;
  MPI_Comm world, node, leaders; /* leaders: MPI_COMM_NULL on non-leaders */
  MPI_Comm peers;                /* hier on several nodes of equal size: the ranks of this
                                    node rank on every node (the node-shared update's
                                    cross-node stage); else MPI_COMM_NULL */
  int node_rank, node_size;
  MPI_Request *reqs;
  int nreq, capreq;
  pending *pend; /* hier: buckets whose node-local stage was started */
  int npend, cappend;
  int agree_in, agree_out; /* the preemption flag's non-blocking allreduce */
  MPI_Request agree_req;
  /* GPU values go through MPI staged in pinned host buffers (MPI here is not
   * CUDA-aware): one buffer per started bucket, reused step after step, and
   * copied back to the device at wait. */
  struct stage {
    float *host, *dev;
    int64_t n, cap;
    int dev_id;
  } * stages;
  int nstage, capstage;
  int nccl;       /* the nccl kvstore: the devices of a process reduce through NCCL */
  int cuda_aware; /* every rank's MPI takes device pointers: no staging */
  int blocking;   /* set by mt_kvstore_set_blocking: nothing to overlap, blocking MPI */
  mt_shm *shm;    /* the node's shared-memory reduction, when it is used */
  int num_nodes;
#ifdef MT_HAVE_CUDA
  ncclComm_t *comms;
  int ncomm, comm_dev[64];
  /* hier's node stage for GPU values: NCCL among the node's ranks */
  mt_nccl_node *node_nccl;
  int node_nccl_tried;
#endif
} dist_impl;

/* mode: 0 dist_sync, 1 hier, 2 nccl (NCCL across the process's GPUs, then
 * MPI across ranks, staged through pinned host buffers). Fills kv->impl,
 * rank, num_workers; initialises MPI if the program has not. */
static int dist_init(mt_kvstore *kv, int mode) {
  int hierarchical = mode == 1;
  int rc = mt_dist_init(NULL, NULL);
  if (rc < 0) return rc;
  dist_impl *d = calloc(1, sizeof *d);
  if (!d) return mt_error_set(MT_E_NOMEM, "kvstore: out of memory");
  d->hier = hierarchical;
  d->nccl = mode == 2;
#ifndef MT_HAVE_CUDA
  if (d->nccl) {
    free(d);
    return mt_error_set(MT_E_UNSUPPORTED, "kvstore nccl: this build has no CUDA/NCCL");
  }
#endif
  d->node = d->leaders = d->peers = MPI_COMM_NULL;
  MT_CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &d->world));
  MPI_Comm_set_errhandler(d->world, MPI_ERRORS_RETURN);
  MPI_Comm_rank(d->world, &kv->rank);
  MPI_Comm_size(d->world, &kv->num_workers);
  kv->impl = d; /* from here dist_destroy frees what was made */
  MT_CHECK_MPI(
      MPI_Comm_split_type(d->world, MPI_COMM_TYPE_SHARED, kv->rank, MPI_INFO_NULL, &d->node));
  MPI_Comm_set_errhandler(d->node, MPI_ERRORS_RETURN);
  MPI_Comm_rank(d->node, &d->node_rank);
  MPI_Comm_size(d->node, &d->node_size);
  int leader = d->node_rank == 0;
  MT_CHECK_MPI(MPI_Allreduce(&leader, &d->num_nodes, 1, MPI_INT, MPI_SUM, d->world));
  /* device pointers to MPI only where every rank's MPI takes them */
  int aware = mt_mpi_cuda_aware();
  MT_CHECK_MPI(MPI_Allreduce(&aware, &d->cuda_aware, 1, MPI_INT, MPI_MIN, d->world));
  if (kv->rank == 0)
    mt_log(MT_LOG_DEBUG, "kvstore", "%s",
           d->cuda_aware ? "MPI is CUDA-aware on every rank: GPU buckets go to MPI from device "
                           "memory"
                         : "MPI is not CUDA-aware (on some rank): GPU buckets are staged through "
                           "pinned host memory");
  if (hierarchical) {
    MT_CHECK_MPI(
        MPI_Comm_split(d->world, d->node_rank == 0 ? 0 : MPI_UNDEFINED, kv->rank, &d->leaders));
    if (d->leaders != MPI_COMM_NULL) MPI_Comm_set_errhandler(d->leaders, MPI_ERRORS_RETURN);
  }
  /* every rank of the node decides alike: the same world, sizes and env */
  int one_node = d->node_size == kv->num_workers;
  if (!(d->node_size > 1 && (hierarchical || one_node) && mt_shm_wanted())) return MT_OK;
  MT_TRY(mt_shm_create(d->node, &d->shm));
  if (!hierarchical || one_node) return MT_OK;
  /* hier on several nodes: with every node the same size, node rank r of
   * each node forms a communicator with its peers, so the node-shared
   * update can sum slice r across nodes (all ranks decide alike) */
  int sizes[2] = {d->node_size, -d->node_size};
  MT_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, sizes, 2, MPI_INT, MPI_MAX, d->world));
  if (sizes[0] != -sizes[1]) return MT_OK;
  MT_CHECK_MPI(MPI_Comm_split(d->world, d->node_rank, kv->rank, &d->peers));
  MPI_Comm_set_errhandler(d->peers, MPI_ERRORS_RETURN);
  mt_shm_set_cross(d->shm, d->peers);
  return MT_OK;
}

static void dist_destroy(mt_kvstore *kv) {
  dist_impl *d = kv->impl;
  if (!d) return;
  mt_shm_destroy(d->shm); /* frees its window only while MPI is up */
  if (mt_dist_mpi_up()) {
    if (d->nreq) MPI_Waitall(d->nreq, d->reqs, MPI_STATUSES_IGNORE);
    if (kv->agree_pending) MPI_Wait(&d->agree_req, MPI_STATUS_IGNORE);
    if (d->leaders != MPI_COMM_NULL) MPI_Comm_free(&d->leaders);
    if (d->peers != MPI_COMM_NULL) MPI_Comm_free(&d->peers);
    if (d->node != MPI_COMM_NULL) MPI_Comm_free(&d->node);
    MPI_Comm_free(&d->world);
  }
  free(d->reqs);
  free(d->pend);
#ifdef MT_HAVE_CUDA
  for (int i = 0; i < d->capstage; i++) mtk_cuda_host_free(d->stages[i].host);
  for (int i = 0; i < d->ncomm; i++) MT_WARN_NCCL(ncclCommDestroy(d->comms[i]));
  free(d->comms);
  mt_nccl_node_destroy(d->node_nccl);
#endif
  free(d->stages);
  free(d);
  kv->impl = NULL;
}

static MPI_Request *new_req(dist_impl *d) {
  if (d->nreq == d->capreq) {
    int cap = d->capreq ? d->capreq * 2 : 16;
    MPI_Request *r = realloc(d->reqs, sizeof *r * (size_t)cap);
    if (!r) return NULL;
    d->reqs = r;
    d->capreq = cap;
  }
  return &d->reqs[d->nreq++];
}

/* Copies a device bucket into the next pinned staging buffer (*host); with
 * a CUDA-aware MPI and `direct` (MPI alone touches the buffer), waits for
 * the device instead and hands MPI the device buffer itself. */
static int stage_out(dist_impl *d, float *dev, int dev_id, int64_t n, int direct, float **host) {
#ifdef MT_HAVE_CUDA
  if (d->cuda_aware && direct) {
    MT_TRY(mtk_cuda_sync(dev_id));
    *host = dev;
    return MT_OK;
  }
  if (d->nstage == d->capstage) {
    int cap = d->capstage ? 2 * d->capstage : 16;
    struct stage *st = realloc(d->stages, sizeof *st * (size_t)cap);
    if (!st) return mt_error_set(MT_E_NOMEM, "kvstore: out of memory");
    memset(st + d->capstage, 0, sizeof *st * (size_t)(cap - d->capstage));
    d->stages = st;
    d->capstage = cap;
  }
  struct stage *s = &d->stages[d->nstage];
  if (s->cap < n) {
    mtk_cuda_host_free(s->host);
    s->host = mtk_cuda_host_alloc((size_t)n * sizeof(float));
    if (!s->host) {
      s->cap = 0;
      return MT_E_CUDA;
    }
    s->cap = n;
  }
  s->dev = dev;
  s->dev_id = dev_id;
  s->n = n;
  MT_TRY(mtk_cuda_copy(-1, s->host, dev_id, dev, (size_t)n * sizeof(float)));
  d->nstage++;
  *host = s->host;
  return MT_OK;
#else
  return mt_error_set(MT_E_UNSUPPORTED, "kvstore: GPU values in a build without CUDA");
#endif
}

/* After the MPI stage: the reduced buckets back to their devices. */
static int stage_back(dist_impl *d) {
#ifdef MT_HAVE_CUDA
  for (int i = 0; i < d->nstage; i++) {
    struct stage *s = &d->stages[i];
    MT_TRY(mtk_cuda_copy(s->dev_id, s->dev, -1, s->host, (size_t)s->n * sizeof(float)));
  }
#endif
  d->nstage = 0;
  return MT_OK;
}

/* The nccl kvstore's device stage: the GPUs of this process (distinct
 * devices, as NCCL requires) allreduce with one communicator each
 * (ncclCommInitAll, grouped calls); a GPU listed twice falls back to the
 * staged device sum of mt_kvstore_reduce_devices. */
static int nccl_reduce_devices(dist_impl *d, int ndev, float *const *bufs, const mt_context *ctxs,
                               int64_t n) {
#ifdef MT_HAVE_CUDA
  int distinct = ndev > 1 && ndev <= 64;
  for (int i = 0; i < ndev && distinct; i++) {
    if (ctxs[i].type != MT_GPU) distinct = 0;
    for (int j = 0; j < i && distinct; j++)
      if (ctxs[j].id == ctxs[i].id) distinct = 0;
  }
  if (!distinct) return mt_kvstore_reduce_devices(ndev, bufs, ctxs, n);
  if (!d->comms) {
    int devs[64];
    for (int i = 0; i < ndev; i++) devs[i] = d->comm_dev[i] = ctxs[i].id;
    d->comms = calloc((size_t)ndev, sizeof *d->comms);
    if (!d->comms) return mt_error_set(MT_E_NOMEM, "kvstore: out of memory");
    MT_CHECK_NCCL(ncclCommInitAll(d->comms, ndev, devs));
    d->ncomm = ndev;
  }
  if (ndev != d->ncomm)
    return mt_error_set(MT_E_INVAL, "kvstore nccl: %d devices now, %d when it started", ndev,
                        d->ncomm);
  MT_CHECK_NCCL(ncclGroupStart());
  for (int i = 0; i < ndev; i++)
    MT_CHECK_NCCL(ncclAllReduce(bufs[i], bufs[i], (size_t)n, ncclFloat, ncclSum, d->comms[i], 0));
  MT_CHECK_NCCL(ncclGroupEnd());
  for (int i = 0; i < ndev; i++) MT_TRY(mtk_cuda_sync(ctxs[i].id));
  return MT_OK;
#else
  return mt_kvstore_reduce_devices(ndev, bufs, ctxs, n);
#endif
}

/* hier with GPU values and ranks on distinct GPUs of a node: the node's sum
 * through NCCL on the devices, the leaders' MPI allreduce across nodes
 * staged through pinned host memory, then NCCL's broadcast inside the node.
 * Blocking. Returns 1 when done, 0 when this path does not apply (several
 * ranks on one GPU, one rank per node: decided alike on a node's ranks). */
static int nccl_node_stage(dist_impl *d, float *dev_buf, int dev, int64_t n) {
#ifdef MT_HAVE_CUDA
  if (!d->hier || d->node_size < 2) return 0;
  if (!d->node_nccl_tried) {
    d->node_nccl_tried = 1;
    MT_TRY(mt_nccl_node_create(d->node, dev, &d->node_nccl));
  }
  if (!d->node_nccl) return 0;
  MT_TRY(mt_nccl_node_allreduce(d->node_nccl, dev_buf, n));
  if (d->num_nodes == 1) return 1;
  if (d->leaders != MPI_COMM_NULL) {
    float *host = NULL;
    MT_TRY(stage_out(d, dev_buf, dev, n, 1, &host));
    for (int64_t off = 0; off < n; off += MT_MPI_CHUNK) {
      int cnt = (int)(n - off < MT_MPI_CHUNK ? n - off : MT_MPI_CHUNK);
      MT_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, host + off, cnt, MPI_FLOAT, MPI_SUM, d->leaders));
    }
    MT_TRY(stage_back(d));
  }
  MT_TRY(mt_nccl_node_broadcast(d->node_nccl, dev_buf, n));
  return 1;
#else
  (void)d, (void)dev_buf, (void)dev, (void)n;
  return 0;
#endif
}

static int dist_start(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                      int64_t n) {
  dist_impl *d = kv->impl;
  int rc = d->nccl ? nccl_reduce_devices(d, ndev, bufs, ctxs, n)
                   : mt_kvstore_reduce_devices(ndev, bufs, ctxs, n);
  if (rc < 0) return rc;
  if (kv->num_workers == 1) return MT_OK;
  if (ctxs[0].type == MT_GPU) {
    int k = nccl_node_stage(d, bufs[0], ctxs[0].id, n);
    if (k != 0) return k < 0 ? k : MT_OK;
  }
  float *base = bufs[0];
  /* directly to MPI only for the blocking allreduce (file comment) */
  int direct = !d->shm && !d->hier && d->blocking;
  if (ctxs[0].type == MT_GPU) MT_TRY(stage_out(d, bufs[0], ctxs[0].id, n, direct, &base));
  int node_done = 0;
  if (d->shm) {
    int k = mt_shm_allreduce(d->shm, base, n);
    MT_TRY(k);
    if (k == 1 && !d->hier) return MT_OK; /* the node is the world: done */
    node_done = k == 1;
  }
  for (int64_t off = 0; off < n; off += MT_MPI_CHUNK) {
    int cnt = (int)(n - off < MT_MPI_CHUNK ? n - off : MT_MPI_CHUNK);
    MPI_Request *r = new_req(d);
    if (!r) return mt_error_set(MT_E_NOMEM, "kvstore: out of memory");
    if (!d->hier && d->blocking) {
      d->nreq--;
      MT_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, base + off, cnt, MPI_FLOAT, MPI_SUM, d->world));
      continue;
    }
    if (!d->hier) {
      MT_CHECK_MPI(MPI_Iallreduce(MPI_IN_PLACE, base + off, cnt, MPI_FLOAT, MPI_SUM, d->world, r));
      continue;
    }
    if (node_done) {
      d->nreq--; /* the node sum is there already */
    } else if (d->node_size > 1) {
      void *send = d->node_rank == 0 ? MPI_IN_PLACE : (void *)(base + off);
      MT_CHECK_MPI(MPI_Ireduce(send, base + off, cnt, MPI_FLOAT, MPI_SUM, 0, d->node, r));
    } else {
      d->nreq--; /* nothing to do inside a node of one rank */
    }
    if (d->npend == d->cappend) {
      int cap = d->cappend ? d->cappend * 2 : 16;
      pending *p = realloc(d->pend, sizeof *p * (size_t)cap);
      if (!p) return mt_error_set(MT_E_NOMEM, "kvstore: out of memory");
      d->pend = p;
      d->cappend = cap;
    }
    d->pend[d->npend++] = (pending){base + off, cnt};
  }
  return MT_OK;
}

static int dist_progress(mt_kvstore *kv) {
  dist_impl *d = kv->impl;
  if (!d->nreq) return MT_OK;
  int flag;
  MT_CHECK_MPI(MPI_Testall(d->nreq, d->reqs, &flag, MPI_STATUSES_IGNORE));
  if (flag) d->nreq = 0;
  return MT_OK;
}

static int dist_wait(mt_kvstore *kv) {
  dist_impl *d = kv->impl;
  if (d->nreq) MT_CHECK_MPI(MPI_Waitall(d->nreq, d->reqs, MPI_STATUSES_IGNORE));
  d->nreq = 0;
  for (int i = 0; i < d->npend; i++) {
    pending *p = &d->pend[i];
    if (d->leaders != MPI_COMM_NULL)
      MT_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, p->buf, (int)p->n, MPI_FLOAT, MPI_SUM, d->leaders));
    if (d->node_size > 1) MT_CHECK_MPI(MPI_Bcast(p->buf, (int)p->n, MPI_FLOAT, 0, d->node));
  }
  d->npend = 0;
  return stage_back(d);
}

static int dist_broadcast(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                          int64_t n) {
  dist_impl *d = kv->impl;
  float *base = bufs[0];
  if (ctxs[0].type == MT_GPU) MT_TRY(stage_out(d, bufs[0], ctxs[0].id, n, 1, &base));
  for (int64_t off = 0; off < n; off += MT_MPI_CHUNK) {
    int cnt = (int)(n - off < MT_MPI_CHUNK ? n - off : MT_MPI_CHUNK);
    MT_CHECK_MPI(MPI_Bcast(base + off, cnt, MPI_FLOAT, 0, d->world));
  }
  MT_TRY(stage_back(d));
  return mt_kvstore_copy_devices(ndev, bufs, ctxs, n);
}

static int dist_allreduce_f64(mt_kvstore *kv, double *buf, int64_t n) {
  dist_impl *d = kv->impl;
  MT_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, d->world));
  return MT_OK;
}

static int dist_check_same(mt_kvstore *kv, uint64_t value, const char *what) {
  dist_impl *d = kv->impl;
  uint64_t *all = calloc((size_t)kv->num_workers, sizeof *all);
  if (!all) return mt_error_set(MT_E_NOMEM, "kvstore: out of memory");
  int e = MPI_Allgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, d->world);
  if (e != MPI_SUCCESS) {
    free(all);
    char s[MPI_MAX_ERROR_STRING];
    int l = 0;
    MPI_Error_string(e, s, &l);
    return mt_error_set(MT_E_MPI, "MPI_Allgather (checking %s): %s", what, s);
  }
  int bad = -1;
  for (int r = 1; r < kv->num_workers && bad < 0; r++)
    if (all[r] != all[0]) bad = r;
  free(all);
  if (bad >= 0)
    return mt_error_set(MT_E_INVAL, "ranks disagree on the %s: rank %d differs from rank 0", what,
                        bad);
  return MT_OK;
}

static int dist_barrier(mt_kvstore *kv) {
  dist_impl *d = kv->impl;
  MT_CHECK_MPI(MPI_Barrier(d->world));
  return MT_OK;
}

static int dist_agree_start(mt_kvstore *kv, int flag) {
  dist_impl *d = kv->impl;
  d->agree_in = flag;
  MT_CHECK_MPI(
      MPI_Iallreduce(&d->agree_in, &d->agree_out, 1, MPI_INT, MPI_MAX, d->world, &d->agree_req));
  return MT_OK;
}

static int dist_agree_wait(mt_kvstore *kv, int *any) {
  dist_impl *d = kv->impl;
  MT_CHECK_MPI(MPI_Wait(&d->agree_req, MPI_STATUS_IGNORE));
  *any = d->agree_out;
  return MT_OK;
}

static int dist_sync_init(mt_kvstore *kv) { return dist_init(kv, 0); }
static int hier_init(mt_kvstore *kv) { return dist_init(kv, 1); }
static int nccl_init(mt_kvstore *kv) { return dist_init(kv, 2); }

/* Blocking reduction (nothing left to overlap): the blocking collective is
 * faster than the non-blocking one on small worlds. */
static int dist_set_blocking(mt_kvstore *kv, int blocking) {
  ((dist_impl *)kv->impl)->blocking = blocking;
  return MT_OK;
}

static float *dist_host_buffer(mt_kvstore *kv, int64_t n) {
  dist_impl *d = kv->impl;
  return d->shm ? mt_shm_alloc(d->shm, n) : NULL;
}

/* The node-shared update needs the node to be the whole world, or hier
 * with nodes of one size (then node rank r sums slice r across nodes). */
static mt_shm *world_shm(mt_kvstore *kv) {
  dist_impl *d = kv->impl;
  return d->shm && (d->node_size == kv->num_workers || d->peers != MPI_COMM_NULL) ? d->shm : NULL;
}

static float *dist_shared_buffer(mt_kvstore *kv, int64_t n) {
  mt_shm *s = world_shm(kv);
  return s ? mt_shm_alloc_shared(s, n) : NULL;
}

static int dist_apply_plan(mt_kvstore *kv, int nchunk, const int64_t *off, const int64_t *len) {
  mt_shm *s = world_shm(kv);
  if (!s) return mt_error_set(MT_E_UNSUPPORTED, "kvstore: no node-shared update here");
  return mt_shm_set_plan(s, nchunk, off, len);
}

static void dist_chunk_ready(mt_kvstore *kv, int k) {
  mt_shm *s = world_shm(kv);
  if (s) mt_shm_chunk_ready(s, k);
}

static int dist_reduce_apply(mt_kvstore *kv, float *buf, int64_t n, mt_kvstore_range_fn fn,
                             void *user, int *code) {
  mt_shm *s = world_shm(kv);
  return s ? mt_shm_reduce_apply(s, buf, n, fn, user, code) : 0;
}

/* The three MPI kvstores share their code; the mode their init sets
 * (dist_impl's hier / nccl) chooses the device and node stages. */
#define MT_DIST_BACKEND(type_name, init_fn)                                                        \
  {                                                                                                \
    .name = type_name, .across_ranks = 1, .init = init_fn, .start = dist_start,                    \
    .progress = dist_progress, .wait = dist_wait, .set_blocking = dist_set_blocking,               \
    .broadcast = dist_broadcast, .allreduce_f64 = dist_allreduce_f64,                              \
    .check_same = dist_check_same, .barrier = dist_barrier, .agree_start = dist_agree_start,       \
    .agree_wait = dist_agree_wait, .host_buffer = dist_host_buffer,                                \
    .shared_buffer = dist_shared_buffer, .apply_plan = dist_apply_plan,                            \
    .chunk_ready = dist_chunk_ready, .reduce_apply = dist_reduce_apply, .destroy = dist_destroy    \
  }

const mt_kvstore_backend mt_kvstore_dist_sync = MT_DIST_BACKEND("dist_sync", dist_sync_init);
const mt_kvstore_backend mt_kvstore_hier = MT_DIST_BACKEND("hier", hier_init);
const mt_kvstore_backend mt_kvstore_nccl = MT_DIST_BACKEND("nccl", nccl_init);
