/* world.c — the process's MPI world: initialising and finalizing MPI, the
 * rank, the world's size and its node topology, the default BLAS threads
 * per rank, ending the whole job, and whether MPI takes device pointers
 * (mt_dist_* in modtrain.h, world.h). Knows no kvstore. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/env.h"
#include "base/timeline.h"
#include "kvstore/mpi_check.h"
#include "kvstore/world.h"
#include "modtrain.h"
#if defined(MT_HAVE_CUDA) && defined(__has_include)
#if __has_include(<mpi-ext.h>)
#include <mpi-ext.h> /* Open MPI's extensions: MPIX_Query_cuda_support */
#endif
#endif

static int mt_mpi_owned; /* we called MPI_Init: finalize at exit */

static void finalize_at_exit(void) {
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Finalize();
}

int mt_dist_init(int *argc, char ***argv) {
  int init = 0;
  MPI_Initialized(&init);
  if (!init) {
    /* Open MPI's default non-blocking allreduce (libnbc) reduces to rank 0
     * and broadcasts for small worlds, moving the data twice: its ring
     * algorithm reaches the blocking allreduce's bandwidth (bench/README.md,
     * bench_kvstore). A user's own setting wins. */
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", 0);
    int provided;
    MT_CHECK_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    if (!mt_mpi_owned) atexit(finalize_at_exit);
    mt_mpi_owned = 1;
  }
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  mt_log_set_rank(rank);
  return MT_OK;
}

int mt_dist_finalize(void) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) MT_CHECK_MPI(MPI_Finalize());
  return MT_OK;
}

int mt_dist_mpi_up(void) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  return init && !fin;
}

int mt_dist_rank(void) {
  int r = 0;
  if (mt_dist_mpi_up()) MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int mt_dist_world_size(void) {
  int n = 1;
  if (mt_dist_mpi_up()) MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

int mt_dist_topology(mt_dist_topology_info *t) {
  memset(t, 0, sizeof *t);
  t->world_size = t->local_size = t->num_nodes = 1;
  if (!mt_dist_mpi_up()) return MT_OK;
  MPI_Comm node;
  MPI_Comm_rank(MPI_COMM_WORLD, &t->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &t->world_size);
  MT_CHECK_MPI(
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, t->rank, MPI_INFO_NULL, &node));
  MPI_Comm_rank(node, &t->local_rank);
  MPI_Comm_size(node, &t->local_size);
  MPI_Comm_free(&node);
  int leader = t->local_rank == 0;
  MT_CHECK_MPI(MPI_Allreduce(&leader, &t->num_nodes, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
  return MT_OK;
}

int mt_dist_default_blas_threads(void) {
  mt_dist_topology_info t;
  if (mt_dist_topology(&t) < 0) return 1;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int per = (int)(cores / (t.local_size > 0 ? t.local_size : 1));
  return per > 0 ? per : 1;
}

void mt_dist_abort(int exit_code) {
  if (mt_dist_mpi_up()) {
    int n = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    if (n > 1) MPI_Abort(MPI_COMM_WORLD, exit_code);
  }
  exit(exit_code);
}

int mt_mpi_cuda_aware(void) {
  if (mt_env_is_zero(MT_ENV_CUDA_AWARE_MPI)) return 0;
#if defined(MT_HAVE_CUDA) && defined(MPIX_CUDA_AWARE_SUPPORT) && MPIX_CUDA_AWARE_SUPPORT
  return MPIX_Query_cuda_support() == 1;
#else
  return 0; /* an MPI built without CUDA support (Debian's Open MPI) */
#endif
}

/* The timeline's clocks (base/timeline.h): after a barrier, rank 0 and each
 * other rank r in turn exchange 8 ping-pongs; rank 0 keeps the one with the
 * shortest round trip and estimates r's offset as the midpoint of its send
 * and receive times minus r's reply time (Cristian's method), sent back to
 * r with the bound (half that round trip). Rank 0's clock at the end is
 * every rank's ts 0. Collective over MPI_COMM_WORLD: every rank with the
 * timeline on calls it. */
int mt_dist_timeline_align(void) {
  if (!mt_dist_mpi_up()) return MT_OK;
  MPI_Comm c;
  MT_CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &c));
  int rank, size, rc = MT_OK;
  MPI_Comm_rank(c, &rank);
  MPI_Comm_size(c, &size);
  int64_t mine[2] = {0, 0}; /* offset, error bound */
  if (MPI_Barrier(c) != MPI_SUCCESS) rc = mt_error_set(MT_E_MPI, "timeline: clock barrier failed");
  for (int r = 1; r < size && rc == MT_OK; r++) {
    if (rank == 0) {
      int64_t best_rtt = INT64_MAX, best_off = 0;
      for (int i = 0; i < 8; i++) {
        int64_t t1 = mt_tl_now(), tr;
        MPI_Send(&t1, 1, MPI_INT64_T, r, 71, c);
        MPI_Recv(&tr, 1, MPI_INT64_T, r, 72, c, MPI_STATUS_IGNORE);
        int64_t t2 = mt_tl_now();
        if (t2 - t1 < best_rtt) {
          best_rtt = t2 - t1;
          best_off = t1 + (t2 - t1) / 2 - tr;
        }
      }
      int64_t res[2] = {best_off, best_rtt / 2};
      MPI_Send(res, 2, MPI_INT64_T, r, 73, c);
    } else if (rank == r) {
      for (int i = 0; i < 8; i++) {
        int64_t t1;
        MPI_Recv(&t1, 1, MPI_INT64_T, 0, 71, c, MPI_STATUS_IGNORE);
        int64_t tr = mt_tl_now();
        MPI_Send(&tr, 1, MPI_INT64_T, 0, 72, c);
      }
      MPI_Recv(mine, 2, MPI_INT64_T, 0, 73, c, MPI_STATUS_IGNORE);
    }
  }
  int64_t origin = mt_tl_now();
  if (rc == MT_OK && MPI_Bcast(&origin, 1, MPI_INT64_T, 0, c) != MPI_SUCCESS)
    rc = mt_error_set(MT_E_MPI, "timeline: clock broadcast failed");
  if (rc == MT_OK) mt_tl_set_clock(mine[0], origin, mine[1]);
  MPI_Comm_free(&c);
  return rc;
}
