/* test_mpi_shm.c — the node's shared-memory allreduce (kvstore/shm.c), run
 * under mpirun with 1, 2 and 4 ranks: every result must be bit-identical to
 * the float sum of all ranks' inputs taken in rank order (gathered with
 * MPI_Allgather), on the copying path (small buffers), on the resident path
 * (a buffer inside the window, summed in place, elements around it
 * untouched), and the reducer must decline (return 0, touching nothing)
 * where MPI is to move the data. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "kvstore/shm.h"
#include "testutil.h"

static int rank, world;
static MPI_Comm node;
static int node_size;

static float value(int r, int64_t i, int salt) {
  uint64_t h = (uint64_t)(r + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)i * 0xbf58476d1ce4e5b9ull ^
               (uint64_t)salt * 0x94d049bb133111ebull;
  h ^= h >> 31;
  return (float)((double)(h >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

/* The rank-order float sum of every node rank's value(r, i, salt). */
static float *expected(int64_t n, int salt) {
  float *e = malloc(sizeof(float) * (size_t)n);
  assert_non_null(e);
  for (int64_t i = 0; i < n; i++) {
    float s = value(0, i, salt);
    for (int r = 1; r < node_size; r++) s += value(r, i, salt);
    e[i] = s;
  }
  return e;
}

static void fill(float *x, int64_t n, int salt) {
  int nr = 0;
  MPI_Comm_rank(node, &nr);
  for (int64_t i = 0; i < n; i++) x[i] = value(nr, i, salt);
}

static void test_copy_path(void **state) {
  mt_shm *s = NULL;
  MT_ASSERT_OK(mt_shm_create(node, &s));
  const int64_t sizes[] = {1, 3, 1000, 100003, 1 << 19};
  for (int k = 0; k < 5; k++) {
    int64_t n = sizes[k];
    float *x = malloc(sizeof(float) * (size_t)n);
    fill(x, n, k);
    assert_int_equal(mt_shm_allreduce(s, x, n), 1);
    float *e = expected(n, k);
    assert_memory_equal(x, e, sizeof(float) * (size_t)n);
    free(x);
    free(e);
  }
  /* larger than the copying path takes: left to MPI, nothing touched */
  int64_t n = (1 << 19) + 1;
  float *x = malloc(sizeof(float) * (size_t)n);
  fill(x, n, 9);
  float *before = malloc(sizeof(float) * (size_t)n);
  memcpy(before, x, sizeof(float) * (size_t)n);
  int r = mt_shm_allreduce(s, x, n);
  assert_int_equal(r, node_size == 1 ? 1 : 0);
  assert_memory_equal(x, before, sizeof(float) * (size_t)n);
  free(x);
  free(before);
  mt_shm_destroy(s);
}

static void test_resident_path(void **state) {
  mt_shm *s = NULL;
  MT_ASSERT_OK(mt_shm_create(node, &s));
  const int64_t cap = 700001, off = 1003, n = 500007;
  float *home = mt_shm_alloc(s, cap);
  if (node_size == 1) {
    assert_null(home); /* one rank: nothing to share */
    mt_shm_destroy(s);
    return;
  }
  assert_non_null(home);
  assert_null(mt_shm_alloc(s, cap)); /* one buffer per reducer */
  fill(home, cap, 5);
  float *around = malloc(sizeof(float) * (size_t)cap);
  memcpy(around, home, sizeof(float) * (size_t)cap);
  for (int rep = 0; rep < 3; rep++) { /* the window is reused step after step */
    fill(home + off, n, 6 + rep);
    assert_int_equal(mt_shm_allreduce(s, home + off, n), 1);
    float *e = expected(n, 6 + rep);
    assert_memory_equal(home + off, e, sizeof(float) * (size_t)n);
    free(e);
    assert_memory_equal(home, around, sizeof(float) * (size_t)off);
    assert_memory_equal(home + off + n, around + off + n, sizeof(float) * (size_t)(cap - off - n));
  }
  /* the window is taken: any other buffer is left to MPI */
  float small[16];
  fill(small, 16, 1);
  assert_int_equal(mt_shm_allreduce(s, small, 16), 0);
  free(around);
  mt_shm_destroy(s);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &node_size);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_copy_path),
      cmocka_unit_test(test_resident_path),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Comm_free(&node);
  MPI_Finalize();
  return any ? 1 : 0;
}
