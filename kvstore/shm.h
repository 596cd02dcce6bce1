/* shm.h — allreduce among the ranks of one node through an MPI-3 shared
 * memory window (kvstore/shm.c). */
#ifndef MT_KVSTORE_SHM_H
#define MT_KVSTORE_SHM_H
#include <mpi.h>
#include <stdint.h>

typedef struct mt_shm mt_shm;

/* The largest buffer (floats: 512 KiB) mt_shm_allreduce copies through the
 * window; larger ones outside it are left to MPI. */
#define MT_SHM_COPY_MAX ((int64_t)1 << 17)

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
/* Collective over the node: n floats of memory every node rank maps, one
 * copy for the node (node rank 0's segment of a second window). NULL when
 * the node has one rank, it was already given, or MPI failed. Freed with
 * the reducer. */
float *mt_shm_alloc_shared(mt_shm *s, int64_t n);
/* Called on consecutive ranges [lo, hi) of this rank's slice of a buffer
 * right after each range is summed over the node: 0 to go on, > 0 to stop
 * (the rest of the slice is left), < 0 an error. */
typedef int (*mt_shm_range_fn)(void *user, int64_t lo, int64_t hi);
/* Collective over the node, for a buffer inside this rank's segment
 * (mt_shm_alloc): every rank sums its slice of the node's n floats, in rank
 * order, into its own buffer, range by range, calling fn on each; then the
 * ranks wait for each other. *code: the smallest stop code fn returned on
 * any rank (0: none). After it, buf holds the node's sum in this rank's
 * slice only. Returns 1 when done, 0 when buf is not in the window
 * (nothing done), < 0 on an error (this rank still took part in the
 * final wait, so the others do not hang). */
int mt_shm_reduce_apply(mt_shm *s, float *buf, int64_t n, mt_shm_range_fn fn, void *user,
                        int *code);
void mt_shm_destroy(mt_shm *s);

#endif
