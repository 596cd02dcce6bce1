/* shm_internal.h — the node reducer's state, shared by kvstore/shm.c (the
 * allreduce), kvstore/shm_update.c (the node-shared update) and
 * kvstore/shm_room.c (the room check before a window is allocated). */
#ifndef MT_KVSTORE_SHM_INTERNAL_H
#define MT_KVSTORE_SHM_INTERNAL_H
#include <mpi.h>
#include <stdint.h>

#include "kvstore/shm.h"

/* One block of the update plan: elements [lo, hi) of chunk `chunk`. */
typedef struct {
  int chunk;
  int64_t lo, hi;
} mt_shm_block;

struct mt_shm_ctl; /* the update's counters, in memory the node shares */

struct mt_shm {
  MPI_Comm node;
  int rank, size;
  MPI_Win win;
  int64_t cap;  /* floats per segment, 0 before the first use */
  int resident; /* the window holds the caller's buffer (mt_shm_alloc) */
  float **seg;  /* every rank's segment, mapped into this process */
  const float **src;
  /* the node-shared update (shm_update.c) */
  MPI_Win shared_win;     /* mt_shm_alloc_shared's: one segment, node rank 0's */
  MPI_Win ctl_win;        /* the counters' */
  struct mt_shm_ctl *ctl; /* NULL until mt_shm_set_plan */
  int nchunk, nblock;
  mt_shm_block *blocks;           /* the plan's chunks cut in blocks, in chunk order */
  int64_t *chunk_off, *chunk_len; /* the plan itself */
  int64_t gen;                    /* updates begun on this rank (the same on every rank) */
  int64_t *published;             /* per chunk: the update whose readiness this rank gave */
  MPI_Comm cross;                 /* node rank r's peers on the other nodes, or MPI_COMM_NULL */
  int warned_room;                /* the no-room warning was given */
};

/* Shared windows start where MPI puts them (Open MPI: 0x108 bytes into a
 * page); their users want 64-byte lines. Every process maps a window at a
 * page boundary, so the same rounding holds in all of them. */
#define MT_SHM_ALIGN_PAD 16 /* floats allocated beyond the size asked */
static inline void *mt_shm_align64(void *p) {
  return (void *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
}

/* shm_room.c. Collective over the node: 1 when the file system Open MPI
 * backs shared windows with has room for `bytes` more on every rank's view
 * (plus a margin), else 0 with a warning from node rank 0 (once). */
int mt_shm_room(mt_shm *s, int64_t bytes);

/* Makes the other ranks' stores visible (MPI's unified model: sync,
 * barrier, sync). */
int mt_shm_fence(mt_shm *s);
/* shm_update.c's part of mt_shm_destroy: the windows (only while MPI is
 * up), then the memory. */
void mt_shm_update_free_windows(mt_shm *s);
void mt_shm_update_free(mt_shm *s);

#endif
