/* nccl_node.h — NCCL among the ranks of one node, one GPU each: the
 * intra-node stage of the hier kvstore for GPU values (kvstore/nccl_node.c).
 * Only in CUDA builds (MT_HAVE_CUDA). */
#ifndef MT_KVSTORE_NCCL_NODE_H
#define MT_KVSTORE_NCCL_NODE_H
#include <mpi.h>
#include <stdint.h>

typedef struct mt_nccl_node mt_nccl_node;

/* Collective over the node communicator `node` (kept, not owned): every
 * rank gives the CUDA device it reduces on. NCCL refuses a communicator in
 * which two ranks share a GPU, so the ranks compare their devices' PCI bus
 * ids first: where any two match (several ranks on one GPU), or the node
 * has one rank, *out is NULL and 0 is returned on every rank alike (the
 * caller keeps its staged path). Otherwise node rank 0 makes a unique id,
 * MPI broadcasts it and every rank joins with ncclCommInitRank. */
int mt_nccl_node_create(MPI_Comm node, int dev, mt_nccl_node **out);
/* Collective over the node: dev_buf (n floats on this rank's device)
 * becomes the node's sum; blocking (the stream is synchronized). */
int mt_nccl_node_allreduce(mt_nccl_node *c, float *dev_buf, int64_t n);
/* Collective over the node: node rank 0's dev_buf to every rank's;
 * blocking. */
int mt_nccl_node_broadcast(mt_nccl_node *c, float *dev_buf, int64_t n);
void mt_nccl_node_destroy(mt_nccl_node *c);

#endif
