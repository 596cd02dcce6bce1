/* node_mem.h — one block of memory shared by the ranks of a node (POSIX
 * shared memory, named and unlinked at once), for data that the node reads
 * once instead of once per rank: the HDF5 iterator's in-memory cache
 * (src/h5_iter.c, docs/design.md §6). src/ sees plain pointers and sizes. */
#ifndef MT_KVSTORE_NODE_MEM_H
#define MT_KVSTORE_NODE_MEM_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  void *ptr;     /* the block, mapped by every rank of the node */
  size_t bytes;  /* its size */
  int node_rank; /* this rank's index on the node */
  int node_size; /* ranks on the node */
  void *comm;    /* the node communicator until mt_node_mem_done */
} mt_node_mem;

/* 1 when MPI is up and this process is rank `rank` of a world of `world`
 * ranks (the MPI world itself), world > 1, and MODTRAIN_SHM is not 0. */
int mt_node_mem_possible(int rank, int world);
/* Collective over MPI_COMM_WORLD: the minimum of v over every rank. */
int mt_node_mem_world_min(int v, int *out);
/* Collective over MPI_COMM_WORLD (every rank, the same bytes): a block of
 * `bytes` that every rank of this node maps, one copy a node. Returns 1
 * with *m filled; 0 when it is not shared (one rank on the node, or the
 * shared-memory file system lacks room, or creating or mapping failed on
 * one of the node's ranks: all of them get 0, and a warning says why), *m
 * zeroed; < 0 on an MPI error. */
int mt_node_mem_create(int64_t bytes, mt_node_mem *m);
/* Collective over the node, after each rank wrote its part: rc (this
 * rank's MT_OK or error) is agreed (the most negative wins: every rank of
 * the node returns an error when one had one, the message saying which),
 * then the node communicator is freed. */
int mt_node_mem_done(mt_node_mem *m, int rc);
/* Unmaps the block (not collective). */
void mt_node_mem_free(mt_node_mem *m);

#endif
