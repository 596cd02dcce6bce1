/* test_mpi_shm.c — the node's shared-memory allreduce (kvstore/shm.c), run
 * under mpirun with 1, 2 and 4 ranks: every result must be bit-identical to
 * the float sum of all ranks' inputs taken in rank order (gathered with
 * MPI_Allgather), on the copying path (small buffers), on the resident path
 * (a buffer inside the window, summed in place, elements around it
 * untouched), and the reducer must decline (return 0, touching nothing)
 * where MPI is to move the data. The node-shared update's parts: the
 * reduce-and-apply walk (each range summed when handed over, every element
 * handed to exactly one rank, stop codes agreed) and the one-copy memory
 * every rank maps. */
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
  const int64_t sizes[] = {1, 3, 1000, 100003, MT_SHM_COPY_MAX};
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
  int64_t n = MT_SHM_COPY_MAX + 1;
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

/* mt_shm_reduce_apply's callback: checks each range holds the node's sum
 * just when it is handed over, and records which elements it saw. */
typedef struct {
  const float *buf, *want;
  unsigned char *seen;
  int64_t next; /* ranges come in increasing order, without gaps */
  int calls, stop_at, stop_code, bad;
} apply_log;

static int on_range(void *user, int64_t lo, int64_t hi) {
  apply_log *a = user;
  if (a->calls > 0 && lo != a->next) a->bad = 1;
  if (hi <= lo || memcmp(a->buf + lo, a->want + lo, sizeof(float) * (size_t)(hi - lo))) a->bad = 1;
  for (int64_t i = lo; i < hi; i++) a->seen[i]++;
  a->next = hi;
  return ++a->calls == a->stop_at ? a->stop_code : 0;
}

static void test_reduce_apply(void **state) {
  mt_shm *s = NULL;
  MT_ASSERT_OK(mt_shm_create(node, &s));
  const int64_t cap = 300007, off = 16, n = 250003;
  float *home = mt_shm_alloc(s, cap);
  if (node_size == 1) { /* nothing to share: declined */
    int code = -1;
    float x[4] = {0};
    assert_int_equal(mt_shm_reduce_apply(s, x, 4, on_range, NULL, &code), 0);
    assert_int_equal(code, 0);
    mt_shm_destroy(s);
    return;
  }
  assert_non_null(home);
  int nr = 0;
  MPI_Comm_rank(node, &nr);
  float *want = expected(n, 11);
  for (int rep = 0; rep < 2; rep++) {
    fill(home + off, n, 11);
    apply_log a = {home + off, want, calloc((size_t)n, 1), 0, 0, 0, 0, 0};
    int code = -1;
    assert_int_equal(mt_shm_reduce_apply(s, home + off, n, on_range, &a, &code), 1);
    assert_int_equal(code, 0);
    assert_false(a.bad);
    assert_true(a.calls > 1); /* 64 KiB ranges: a slice of 62,500+ floats is several */
    /* every element handed to exactly one rank */
    unsigned char *all = malloc((size_t)n);
    MPI_Allreduce(a.seen, all, (int)n, MPI_UNSIGNED_CHAR, MPI_SUM, node);
    for (int64_t i = 0; i < n; i++)
      if (all[i] != 1) fail_msg("element %lld applied %d times", (long long)i, all[i]);
    free(all);
    free(a.seen);
  }
  /* stop codes: rank r stops at its first range with code 10 - r; every
   * rank learns the smallest, and the ranks that stopped saw one range */
  fill(home + off, n, 11);
  apply_log a = {home + off, want, calloc((size_t)n, 1), 0, 0, 1, 10 - nr, 0};
  int code = -1;
  assert_int_equal(mt_shm_reduce_apply(s, home + off, n, on_range, &a, &code), 1);
  assert_int_equal(code, 10 - (node_size - 1));
  assert_int_equal(a.calls, 1);
  free(a.seen);
  /* a buffer outside the window: declined, nothing called */
  float small[16];
  fill(small, 16, 1);
  apply_log none = {0};
  assert_int_equal(mt_shm_reduce_apply(s, small, 16, on_range, &none, &code), 0);
  assert_int_equal(none.calls, 0);
  free(want);
  mt_shm_destroy(s);
}

static void test_shared_memory(void **state) {
  mt_shm *s = NULL;
  MT_ASSERT_OK(mt_shm_create(node, &s));
  const int64_t n = 100000;
  float *sh = mt_shm_alloc_shared(s, n);
  if (node_size == 1) {
    assert_null(sh);
    mt_shm_destroy(s);
    return;
  }
  assert_non_null(sh);
  assert_null(mt_shm_alloc_shared(s, n)); /* one per reducer */
  int nr = 0;
  MPI_Comm_rank(node, &nr);
  /* each rank writes its own stripe; everyone then reads every stripe */
  for (int64_t i = nr; i < n; i += node_size) sh[i] = value(nr, i, 3);
  MPI_Barrier(node);
  for (int64_t i = 0; i < n; i++)
    if (sh[i] != value((int)(i % node_size), i, 3)) fail_msg("element %lld differs", (long long)i);
  MPI_Barrier(node);
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
      cmocka_unit_test(test_reduce_apply),
      cmocka_unit_test(test_shared_memory),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Comm_free(&node);
  MPI_Finalize();
  return any ? 1 : 0;
}
