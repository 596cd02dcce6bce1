/* test_mpi_shm.c — the node's shared-memory allreduce (kvstore/shm.c), run
 * under mpirun with 1, 2 and 4 ranks: every result must be bit-identical to
 * the float sum of all ranks' inputs taken in rank order (gathered with
 * MPI_Allgather), on the copying path (small buffers), on the resident path
 * (a buffer inside the window, summed in place, elements around it
 * untouched), and the reducer must decline (return 0, touching nothing)
 * where MPI is to move the data. The node-shared update's parts: the
 * reduce-and-apply of a plan of chunks (each block summed when handed
 * over, every element of every chunk handed to exactly one rank, nothing
 * outside the chunks touched, chunks made ready early or twice, stop codes
 * agreed) and the one-copy memory every rank maps. */
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
  const float *buf, *want; /* want[i]: the sum at buf[base + i] */
  int64_t base;
  unsigned char *seen; /* per want element */
  int calls, stop_code, bad;
} apply_log;

static int on_range(void *user, int64_t lo, int64_t hi) {
  apply_log *a = user;
  if (hi <= lo || hi - lo > (1 << 14) || lo < a->base ||
      memcmp(a->buf + lo, a->want + (lo - a->base), sizeof(float) * (size_t)(hi - lo)))
    a->bad = 1;
  for (int64_t i = lo; i < hi; i++) a->seen[i - a->base]++;
  return a->calls++ == 0 ? a->stop_code : 0;
}

/* The update plan: three chunks in reverse order of the buffer, with a gap
 * of 100 floats no chunk covers. */
enum { GAP = 100 };
static void plan(int64_t n, int64_t off[3], int64_t len[3]) {
  int64_t t = (n - GAP) / 3;
  off[0] = 2 * t + GAP, len[0] = n - off[0];
  off[1] = t + GAP, len[1] = t;
  off[2] = 0, len[2] = t;
}

static void test_reduce_apply(void **state) {
  mt_shm *s = NULL;
  MT_ASSERT_OK(mt_shm_create(node, &s));
  const int64_t cap = 300007, off = 16, n = 250003;
  float *home = mt_shm_alloc(s, cap);
  int64_t co[3], cl[3];
  plan(n, co, cl);
  if (node_size == 1) { /* nothing to share: no plan, declined */
    int code = -1;
    float x[4] = {0};
    assert_int_equal(mt_shm_set_plan(s, 3, co, cl), MT_E_STATE);
    assert_int_equal(mt_shm_reduce_apply(s, x, 4, on_range, NULL, &code), 0);
    assert_int_equal(code, 0);
    mt_shm_destroy(s);
    return;
  }
  assert_non_null(home);
  for (int k = 0; k < 3; k++) co[k] += off; /* offsets from the window's start */
  assert_int_equal(mt_shm_reduce_apply(s, home, off + n, on_range, NULL, &(int){0}), 0);
  MT_ASSERT_OK(mt_shm_set_plan(s, 3, co, cl));
  int nr = 0;
  MPI_Comm_rank(node, &nr);
  float *want = expected(n, 11);
  unsigned char *all = malloc((size_t)n);
  for (int rep = 0; rep < 4; rep++) {
    fill(home + off, n, 11);
    float gap[GAP];
    memcpy(gap, home + off + cl[2], sizeof gap);
    /* some ranks hand chunks over early, as backward's hooks do */
    if ((rep + nr) % 2) mt_shm_chunk_ready(s, 0);
    if (rep == 3) mt_shm_chunk_ready(s, 2), mt_shm_chunk_ready(s, 2); /* twice: counted once */
    apply_log a = {home, want, off, calloc((size_t)n, 1), 0, 0, 0};
    int code = -1;
    assert_int_equal(mt_shm_reduce_apply(s, home, off + n, on_range, &a, &code), 1);
    assert_int_equal(code, 0);
    assert_false(a.bad);
    /* every element of every chunk handed to exactly one rank, the gap to none */
    MPI_Allreduce(a.seen, all, (int)n, MPI_UNSIGNED_CHAR, MPI_SUM, node);
    for (int64_t i = 0; i < n; i++) {
      int in_gap = i >= cl[2] && i < cl[2] + GAP;
      if (all[i] != !in_gap) fail_msg("element %lld applied %d times", (long long)i, all[i]);
    }
    assert_memory_equal(home + off + cl[2], gap, sizeof gap); /* not summed either */
    free(a.seen);
  }
  /* stop codes: rank r's first block returns 10 - r; every rank learns the
   * smallest code of the ranks that took a block, and the other blocks
   * are still all handed over */
  fill(home + off, n, 11);
  apply_log a = {home, want, off, calloc((size_t)n, 1), 0, 10 - nr, 0};
  int code = -1;
  assert_int_equal(mt_shm_reduce_apply(s, home, off + n, on_range, &a, &code), 1);
  int mine = a.calls > 0 ? 10 - nr : 1000, least = 0;
  MPI_Allreduce(&mine, &least, 1, MPI_INT, MPI_MIN, node);
  assert_int_equal(code, least);
  MPI_Allreduce(a.seen, all, (int)n, MPI_UNSIGNED_CHAR, MPI_SUM, node);
  int64_t covered = 0;
  for (int64_t i = 0; i < n; i++) covered += all[i];
  assert_int_equal(covered, n - GAP);
  free(a.seen);
  free(all);
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
