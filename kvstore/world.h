/* world.h — the process-level MPI helpers (kvstore/world.c) beyond the
 * public mt_dist_* functions of modtrain.h (init, finalize, rank, world
 * size, node topology, abort). */
#ifndef MT_KVSTORE_WORLD_H
#define MT_KVSTORE_WORLD_H

/* 1 while MPI is initialised and not yet finalized. */
int mt_dist_mpi_up(void);
/* 1 when this process's MPI takes device pointers (Open MPI built with CUDA:
 * MPIX_Query_cuda_support), unless MODTRAIN_CUDA_AWARE_MPI=0; 0 for an MPI
 * without CUDA support. The dist kvstores use device buffers directly only
 * when every rank says 1. */
int mt_mpi_cuda_aware(void);

/* Aligns the timeline's clocks across ranks (base/timeline.h; the method
 * in world.c). Collective over the world; MT_OK without MPI. */
int mt_dist_timeline_align(void);

#endif
