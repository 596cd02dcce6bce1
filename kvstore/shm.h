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
/* The node-shared update. mt_shm_set_plan (collective, the same plan on
 * every rank): the resident buffer's chunks [off[k], off[k] + len[k]), in
 * the order backward makes them final. mt_shm_chunk_ready: this rank's
 * chunk k is final for the coming update (any order; once per update).
 *
 * mt_shm_reduce_apply (collective) then sums every chunk over the node's
 * ranks and hands it to fn, block by block (64 KiB): the blocks are taken
 * in plan order by whichever rank is free first, each as soon as every
 * rank has made its chunk ready (mt_shm_chunk_ready, or this call for the
 * chunks not made ready before it). buf: the resident buffer itself (the
 * plan's offsets are from its start), n: its floats in use. So a rank that finishes backward early
 * sums and applies the chunks the others have already produced while they
 * compute the rest. The taker sums a block in rank order into its own
 * buffer (the same bits whoever takes it) and calls fn(user, lo, hi) on it
 * (lo, hi: offsets in the buffer); fn returns 0, > 0 a stop code (the
 * block is bad; the other blocks go on), or < 0 an error (this rank
 * applies nothing more). Then the ranks wait for each other. *code: the
 * smallest stop code any rank's fn returned (0: none), the same on every
 * rank. Afterwards the buffer holds summed values in the blocks this rank
 * took only. Returns 1 when done, 0 when there is no plan or buf is not
 * the resident buffer (nothing done), < 0 on an error (this rank still
 * took its part in the final wait, so the others do not hang). */
typedef int (*mt_shm_range_fn)(void *user, int64_t lo, int64_t hi);
/* Several nodes: `cross` (kept, not owned) joins node rank r of every node,
 * all nodes having the same number of ranks. mt_shm_reduce_apply then
 * sums across nodes too: node rank r owns slice r of every chunk (16-float
 * boundaries), sums it over its node in rank order, then over the nodes
 * with MPI_Allreduce on `cross`, and hands it to fn; chunks in plan order,
 * each as soon as the node's ranks made it ready. *code is then agreed
 * over every rank of every node. */
void mt_shm_set_cross(mt_shm *s, MPI_Comm cross);
int mt_shm_set_plan(mt_shm *s, int nchunk, const int64_t *off, const int64_t *len);
void mt_shm_chunk_ready(mt_shm *s, int k);
int mt_shm_reduce_apply(mt_shm *s, float *buf, int64_t n, mt_shm_range_fn fn, void *user,
                        int *code);
void mt_shm_destroy(mt_shm *s);

#endif
