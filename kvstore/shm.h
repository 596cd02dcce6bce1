/* shm.h — allreduce among the ranks of one node through an MPI-3 shared
 * memory window (kvstore/shm.c). */
#ifndef MT_KVSTORE_SHM_H
#define MT_KVSTORE_SHM_H
#include <mpi.h>
#include <stdint.h>

typedef struct mt_shm mt_shm;

/* 1 unless MODTRAIN_SHM=0 in the environment. */
int mt_shm_wanted(void);
/* A reducer over the node communicator `node` (kept, not owned); the window
 * comes with the first allreduce. Not collective. */
int mt_shm_create(MPI_Comm node, mt_shm **out);
/* Collective over the node: buf (n floats, host memory) becomes the sum of
 * every node rank's buf, summed in rank order (the same bits everywhere).
 * Returns 1 when done, 0 when this buffer is better left to MPI (nothing
 * was touched; every node rank gets the same answer), < 0 on an error. */
int mt_shm_allreduce(mt_shm *s, float *buf, int64_t n);
/* Collective over the node: n floats of this rank's segment for the
 * caller's buffer (the same n on every rank); reductions of buffers inside
 * it run in place. NULL when the node has one rank, a buffer was already
 * given, or MPI failed. Freed with the reducer. */
float *mt_shm_alloc(mt_shm *s, int64_t n);
void mt_shm_destroy(mt_shm *s);

#endif
