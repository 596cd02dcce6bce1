/* nccl_node.c — NCCL among the ranks of one node (kvstore/nccl_node.h).
 *
 * The hier kvstore's node stage for GPU values: instead of copying each
 * bucket to pinned host memory and summing over MPI inside the node, the
 * node's ranks allreduce on their GPUs (NVLink / PCIe peer copies where the
 * node has them); only the node leaders' MPI allreduce across nodes goes
 * through host memory. The communicator is made once, on the first GPU
 * bucket (every rank starts the same buckets in the same order). Calls run
 * on the default stream, in order with the kernels that produced the
 * gradients, and are synchronized before returning. NCCL's reductions are
 * deterministic for a fixed communicator, so repeated runs give the same
 * bits. */
#ifdef MT_HAVE_CUDA
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cuda/check.h"
#include "kvstore/mpi_check.h"
#include "kvstore/nccl_node.h"

#define BUSID_LEN 32
#define MT_NCCL_CHUNK ((int64_t)1 << 30) /* counts are size_t, but keep calls bounded */

struct mt_nccl_node {
  ncclComm_t comm;
  int dev;
};

int mt_nccl_node_create(MPI_Comm node, int dev, mt_nccl_node **out) {
  *out = NULL;
  int rank = 0, size = 1;
  MPI_Comm_rank(node, &rank);
  MPI_Comm_size(node, &size);
  if (size < 2) return MT_OK;
  /* several ranks on one GPU: NCCL would refuse, every rank must know */
  char mine[BUSID_LEN] = {0};
  cudaError_t ce = cudaDeviceGetPCIBusId(mine, BUSID_LEN, dev);
  if (ce != cudaSuccess) snprintf(mine, sizeof mine, "?%d", dev);
  char *all = calloc((size_t)size, BUSID_LEN);
  if (!all) return mt_error_set(MT_E_NOMEM, "kvstore nccl node: out of memory");
  int e = MPI_Allgather(mine, BUSID_LEN, MPI_CHAR, all, BUSID_LEN, MPI_CHAR, node);
  int shared = 0;
  for (int i = 0; e == MPI_SUCCESS && i < size && !shared; i++)
    for (int j = 0; j < i && !shared; j++)
      shared = !strncmp(all + (size_t)i * BUSID_LEN, all + (size_t)j * BUSID_LEN, BUSID_LEN);
  free(all);
  MT_CHECK_MPI(e);
  if (rank == 0 && shared)
    mt_log(MT_LOG_DEBUG, "kvstore",
           "hier: ranks of this node share a GPU: their sum goes through MPI, not NCCL");
  else if (rank == 0)
    mt_log(MT_LOG_DEBUG, "kvstore",
           "hier: the node's %d ranks sit on distinct GPUs: their sum goes through NCCL", size);
  if (shared) return MT_OK;
  ncclUniqueId id;
  if (rank == 0) MT_CHECK_NCCL(ncclGetUniqueId(&id));
  MT_CHECK_MPI(MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, node));
  mt_nccl_node *c = calloc(1, sizeof *c);
  if (!c) return mt_error_set(MT_E_NOMEM, "kvstore nccl node: out of memory");
  c->dev = dev;
  int rc = MT_OK;
  cudaError_t se = cudaSetDevice(dev);
  if (se != cudaSuccess)
    rc = mt_error_set(MT_E_CUDA, "%s:%d: cudaSetDevice(%d): %s", __FILE__, __LINE__, dev,
                      cudaGetErrorString(se));
  ncclResult_t nr = ncclCommInitRank(&c->comm, size, id, rank);
  if (rc == MT_OK && nr != ncclSuccess)
    rc = mt_error_set(MT_E_NCCL, "%s:%d: ncclCommInitRank(%d ranks, rank %d, gpu %d): %s", __FILE__,
                      __LINE__, size, rank, dev, ncclGetErrorString(nr));
  if (rc < 0) {
    if (nr == ncclSuccess) ncclCommDestroy(c->comm);
    free(c);
    return rc;
  }
  *out = c;
  return MT_OK;
}

int mt_nccl_node_allreduce(mt_nccl_node *c, float *dev_buf, int64_t n) {
  MT_CHECK_CUDA(cudaSetDevice(c->dev));
  for (int64_t off = 0; off < n; off += MT_NCCL_CHUNK) {
    size_t cnt = (size_t)(n - off < MT_NCCL_CHUNK ? n - off : MT_NCCL_CHUNK);
    MT_CHECK_NCCL(ncclAllReduce(dev_buf + off, dev_buf + off, cnt, ncclFloat, ncclSum, c->comm, 0));
  }
  MT_CHECK_CUDA(cudaStreamSynchronize(0));
  return MT_OK;
}

int mt_nccl_node_broadcast(mt_nccl_node *c, float *dev_buf, int64_t n) {
  MT_CHECK_CUDA(cudaSetDevice(c->dev));
  for (int64_t off = 0; off < n; off += MT_NCCL_CHUNK) {
    size_t cnt = (size_t)(n - off < MT_NCCL_CHUNK ? n - off : MT_NCCL_CHUNK);
    MT_CHECK_NCCL(ncclBroadcast(dev_buf + off, dev_buf + off, cnt, ncclFloat, 0, c->comm, 0));
  }
  MT_CHECK_CUDA(cudaStreamSynchronize(0));
  return MT_OK;
}

void mt_nccl_node_destroy(mt_nccl_node *c) {
  if (!c) return;
  MT_WARN_NCCL(ncclCommDestroy(c->comm));
  free(c);
}
#else
typedef int mt_nccl_node_none; /* no CUDA: nothing to build */
#endif
