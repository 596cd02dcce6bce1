/* node_mem.c — one block of memory for the ranks of a node (node_mem.h):
 * node rank 0 creates a POSIX shared-memory object of the size asked,
 * the name goes to the node's ranks, each maps it, and after a node
 * barrier rank 0 unlinks the name, so the memory goes away with the last
 * mapping (a crash leaves nothing in /dev/shm past that barrier). */
#include <errno.h>
#include <fcntl.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "kvstore/node_mem.h"
#include "base/error.h"
#include "kvstore/shm.h"
#include "kvstore/world.h"
#include "modtrain.h"

int mt_node_mem_possible(int rank, int world) {
  return world > 1 && mt_dist_mpi_up() && mt_dist_world_size() == world && mt_dist_rank() == rank &&
         mt_shm_wanted();
}

int mt_node_mem_world_min(int v, int *out) {
  if (MPI_Allreduce(&v, out, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
    return mt_error_set(MT_E_IO, "node memory: MPI_Allreduce failed");
  return MT_OK;
}

int mt_node_mem_create(int64_t bytes, mt_node_mem *m) {
  memset(m, 0, sizeof *m);
  MPI_Comm node;
  int wr;
  MPI_Comm_rank(MPI_COMM_WORLD, &wr);
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, wr, MPI_INFO_NULL, &node) !=
      MPI_SUCCESS)
    return mt_error_set(MT_E_IO, "node memory: MPI_Comm_split_type failed");
  int nr, ns;
  MPI_Comm_rank(node, &nr);
  MPI_Comm_size(node, &ns);
  if (ns < 2) {
    MPI_Comm_free(&node);
    return 0;
  }
  char name[64] = "", why[256] = "";
  if (nr == 0) {
    /* room first: a tmpfs too small would fail later, at a page fault */
    struct statvfs v;
    if (statvfs("/dev/shm", &v) == 0 &&
        (double)v.f_bavail * (double)v.f_frsize < (double)bytes + 8.0 * 1048576.0)
      snprintf(why, sizeof why, "/dev/shm has %.4g MiB free, %.4g MiB are needed",
               (double)v.f_bavail * (double)v.f_frsize / 1048576.0, (double)bytes / 1048576.0);
    if (!why[0]) {
      snprintf(name, sizeof name, "/modtrain_data_%ld_%d", (long)getpid(), wr);
      int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
      if (fd < 0 || ftruncate(fd, (off_t)(bytes > 0 ? bytes : 1)) != 0) {
        snprintf(why, sizeof why, "%s: %s", name, strerror(errno));
        if (fd >= 0) shm_unlink(name);
        name[0] = 0;
      }
      if (fd >= 0) close(fd);
    }
  }
  MPI_Bcast(name, sizeof name, MPI_CHAR, 0, node);
  void *p = NULL;
  int ok = 0;
  if (name[0]) {
    int fd = shm_open(name, O_RDWR, 0600);
    if (fd >= 0) {
      p = mmap(NULL, (size_t)(bytes > 0 ? bytes : 1), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      close(fd);
      if (p == MAP_FAILED) p = NULL;
    }
    ok = p != NULL;
    if (!ok) snprintf(why, sizeof why, "mapping %s: %s", name, strerror(errno));
  }
  int all = 0;
  int rc = MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, node);
  if (nr == 0 && name[0]) shm_unlink(name); /* every rank has mapped it, or gives up */
  if (rc != MPI_SUCCESS || !all) {
    if (p) munmap(p, (size_t)(bytes > 0 ? bytes : 1));
    if (why[0])
      mt_log(MT_LOG_WARN, "data",
             "node-shared memory for %.4g MiB failed (%s): each rank keeps its own copy "
             "(give /dev/shm more room: Docker's --shm-size)",
             (double)bytes / 1048576.0, why);
    MPI_Comm_free(&node);
    return rc == MPI_SUCCESS ? 0 : mt_error_set(MT_E_IO, "node memory: MPI_Allreduce failed");
  }
  MPI_Comm *keep = malloc(sizeof *keep);
  if (!keep) {
    munmap(p, (size_t)(bytes > 0 ? bytes : 1));
    MPI_Comm_free(&node);
    return mt_error_set(MT_E_NOMEM, "node memory: out of memory");
  }
  *keep = node;
  m->ptr = p;
  m->bytes = (size_t)(bytes > 0 ? bytes : 1);
  m->node_rank = nr;
  m->node_size = ns;
  m->comm = keep;
  return 1;
}

int mt_node_mem_done(mt_node_mem *m, int rc) {
  if (!m->comm) return rc;
  MPI_Comm *node = m->comm;
  int worst = rc;
  if (MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MIN, *node) != MPI_SUCCESS && rc >= 0)
    rc = mt_error_set(MT_E_IO, "node memory: MPI_Allreduce failed");
  MPI_Comm_free(node);
  free(node);
  m->comm = NULL;
  if (rc < 0) return rc;
  if (worst < 0)
    return mt_error_set(worst,
                        "another rank of this node failed to read its part of the data "
                        "(its error says why)");
  return MT_OK;
}

void mt_node_mem_free(mt_node_mem *m) {
  if (!m) return;
  if (m->comm) { /* never done: not collective here, the communicator is only dropped */
    free(m->comm);
    m->comm = NULL;
  }
  if (m->ptr) munmap(m->ptr, m->bytes);
  m->ptr = NULL;
}
