/* shm_room.c — mt_shm_room: whether the file system Open MPI backs the
 * node's shared windows with has room for one more, asked on every rank
 * before shm.c and shm_update.c allocate a window. */
#include <mpi.h>
#include <stdlib.h>
#include <sys/statvfs.h>

#include "kvstore/shm_internal.h"
#include "modtrain.h"

/* The directory Open MPI backs shared windows with (its osc_sm_backing_directory). */
static const char *backing_dir(void) {
  const char *e = getenv("OMPI_MCA_osc_sm_backing_directory");
  return e && *e ? e : "/dev/shm";
}

int mt_shm_room(mt_shm *s, int64_t bytes) {
  /* Open MPI's shared-window allocation fails on the rank that creates the
   * backing file when its file system is full, while the others wait in
   * the allocation for it: a hang. So the ranks look first, and agree. A
   * directory that cannot be examined is Open MPI's business. */
  const int64_t margin = (int64_t)8 << 20;
  struct statvfs v;
  const char *dir = backing_dir();
  int64_t avail = statvfs(dir, &v) == 0 ? (int64_t)v.f_bavail * (int64_t)v.f_frsize : -1;
  int ok = avail < 0 || avail >= bytes + margin, all = ok;
  if (MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, s->node) != MPI_SUCCESS) return 0;
  if (!all && s->rank == 0 && !s->warned_room) {
    s->warned_room = 1;
    mt_log(MT_LOG_WARN, "kvstore",
           "shared memory: %s has %lld MiB free, %lld MiB are needed: the ranks of this node "
           "reduce through MPI messages instead (give it more room: Docker's --shm-size, or "
           "OMPI_MCA_osc_sm_backing_directory=<a local directory with room>)",
           dir, (long long)(avail >> 20), (long long)((bytes + margin) >> 20));
  }
  return all;
}
