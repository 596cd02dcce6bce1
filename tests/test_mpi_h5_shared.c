/* test_mpi_h5_shared.c — the HDF5 iterator's in-memory cache shared by the
 * ranks of a node (issue 18 item 2), under mpirun with 1, 2 and 4 ranks:
 * with cache = memory and with auto choosing memory, every rank's shard
 * (augmented: random crops and mirrors) equals its slice of the one-rank
 * batch of a streaming iterator, for two epochs; with several ranks the
 * ranks map one block (the same shared-memory object: one inode in
 * /proc/self/maps), the info line says "shared by N ranks of the node",
 * and nothing stays in /dev/shm; with one rank each keeps its own copy. */
#include <dirent.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/h5dataset.h"
#include "src/data_iter.h"
#include "testutil.h"

static int rank, world;
static char path[128];

enum { N = 37, C = 2, H = 5, W = 6, ROW = C * H * W, GBS = 8 };

static void write_file(void) {
  if (rank == 0) {
    snprintf(path, sizeof path, "/tmp/mt_mpi_h5_shared_%ld.h5", (long)getpid());
    float *x = malloc(sizeof(float) * N * ROW), y[N];
    for (int i = 0; i < N; i++) {
      y[i] = (float)(i % 10);
      for (int d = 0; d < ROW; d++) x[i * ROW + d] = (float)((7 * i + d) % 251);
    }
    const int64_t sdim[3] = {C, H, W};
    mtio_h5_writer *w;
    MT_ASSERT_OK(mtio_h5_writer_create(path, 3, sdim, 0, 10, 1, "pattern", &w));
    MT_ASSERT_OK(mtio_h5_writer_append(w, N, x, y));
    MT_ASSERT_OK(mtio_h5_writer_close(w));
    free(x);
  }
  MPI_Bcast(path, sizeof path, MPI_CHAR, 0, MPI_COMM_WORLD);
}

static void aug_opts(mt_h5_iter_opts *o, mt_h5_cache cache) {
  mt_h5_iter_opts_init(o);
  o->cache = cache;
  o->scale = 1.0f / 255.0f;
  o->data_shape[0] = C;
  o->data_shape[1] = 4;
  o->data_shape[2] = 4;
  o->pad = 1;
  o->rand_crop = 1;
  o->rand_mirror = 1;
}

/* The inode of the mapping holding p (0: none found). */
static unsigned long mapping_inode(const void *p) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[512];
  unsigned long ino = 0;
  uintptr_t a = (uintptr_t)p;
  while (f && fgets(line, sizeof line, f)) {
    unsigned long lo, hi, off, inode;
    char perms[8], dev[16];
    if (sscanf(line, "%lx-%lx %7s %lx %15s %lu", &lo, &hi, perms, &off, dev, &inode) == 6 &&
        a >= lo && a < hi) {
      ino = inode;
      break;
    }
  }
  if (f) fclose(f);
  return ino;
}

static int leftovers(void) {
  DIR *d = opendir("/dev/shm");
  int n = 0;
  struct dirent *e;
  char mine[64];
  snprintf(mine, sizeof mine, "modtrain_data_");
  while (d && (e = readdir(d)))
    if (!strncmp(e->d_name, mine, strlen(mine))) n++;
  if (d) closedir(d);
  return n;
}

static void check_mode(mt_h5_cache cache) {
  mt_h5_iter_opts o, r;
  aug_opts(&o, cache);
  aug_opts(&r, MT_H5_CACHE_NONE);
  mt_data_iter *it, *ref;
  MT_ASSERT_OK(
      mt_h5_iter_create_opts(path, GBS, 1, 3, MT_LAST_BATCH_PAD, rank, world, NULL, NULL, &o, &it));
  MT_ASSERT_OK(
      mt_h5_iter_create_opts(path, GBS, 1, 3, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &r, &ref));
  const void *p;
  int64_t bytes;
  int shared;
  MT_ASSERT_OK(mt_h5_iter_mem(it, &p, &bytes, &shared));
  assert_non_null(p); /* memory: asked, or auto (the file is tiny) */
  assert_int_equal(bytes, (int64_t)N * ROW * 4);
  char info[1024];
  MT_ASSERT_OK(mt_h5_iter_info(it, info, sizeof info, NULL));
  if (world > 1) {
    int node_size;
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &node_size);
    assert_int_equal(shared, node_size);
    char want[64];
    snprintf(want, sizeof want, "shared by %d ranks of the node", node_size);
    if (!strstr(info, want)) fail_msg("rank %d: no '%s' in: %s", rank, want, info);
    /* one object for the node: every rank's block is the same inode */
    unsigned long ino = mapping_inode(p), lo = 0, hi = 0;
    assert_true(ino != 0);
    MPI_Allreduce(&ino, &lo, 1, MPI_UNSIGNED_LONG, MPI_MIN, node);
    MPI_Allreduce(&ino, &hi, 1, MPI_UNSIGNED_LONG, MPI_MAX, node);
    assert_true(lo == ino && hi == ino);
    MPI_Comm_free(&node);
    assert_int_equal(leftovers(), 0); /* unlinked once mapped */
  } else {
    assert_int_equal(shared, 0);
    assert_non_null(strstr(info, "each rank its own copy"));
  }
  const int64_t bs = GBS / world, orow = C * 4 * 4;
  for (int e = 0; e < 2; e++) {
    for (;;) {
      mt_batch a, b;
      int ga = mt_data_iter_next(it, &a), gb = mt_data_iter_next(ref, &b);
      assert_int_equal(ga, gb);
      if (!ga) break;
      assert_memory_equal(a.index, b.index + rank * bs, (size_t)bs * sizeof(int64_t));
      assert_memory_equal(mt_ndarray_data(a.data[0]),
                          (const float *)mt_ndarray_data(b.data[0]) + rank * bs * orow,
                          (size_t)(bs * orow) * sizeof(float));
    }
    MT_ASSERT_OK(mt_data_iter_reset(it));
    MT_ASSERT_OK(mt_data_iter_reset(ref));
  }
  mt_data_iter_free(it);
  mt_data_iter_free(ref);
}

static void test_memory(void **state) {
  (void)state;
  check_mode(MT_H5_CACHE_MEMORY);
}

static void test_auto(void **state) {
  (void)state;
  check_mode(MT_H5_CACHE_AUTO);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  write_file();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_memory),
      cmocka_unit_test(test_auto),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) unlink(path);
  MPI_Finalize();
  return any ? 1 : 0;
}
