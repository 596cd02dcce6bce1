/* test_params_file.c — MXNet `.params` (NDArray list) import/export. The
 * reference is a file built here byte by byte from the format's definition
 * (MXNet src/ndarray/ndarray.cc: NDArray::Save / Load, kMXAPINDArrayListMagic
 * 0x112, NDARRAY_V2_MAGIC 0xF993FAC9), not by the code under test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/params_file.h"
#include "testutil.h"

/* ------------------------------------------------------------ byte builder */

typedef struct {
  unsigned char *p;
  size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    assert_non_null(b->p);
  }
  memcpy(b->p + b->n, src, n);
  b->n += n;
}
/* little endian, written byte by byte so the test does not lean on the host */
static void put_le(bytes *b, uint64_t v, int width) {
  for (int i = 0; i < width; i++) {
    unsigned char c = (unsigned char)(v >> (8 * i));
    put(b, &c, 1);
  }
}
static void put_f32(bytes *b, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  put_le(b, u, 4);
}
static void put_str(bytes *b, const char *s) {
  put_le(b, strlen(s), 8);
  put(b, s, strlen(s));
}
/* One dense V2 NDArray on cpu(0): magic, stype, ndim, int64 dims, dev_type,
 * dev_id, type flag 0, float32 data. */
static void put_v2_f32(bytes *b, int ndim, const int64_t *dims, const float *data) {
  put_le(b, 0xF993FAC9u, 4);
  put_le(b, 0, 4); /* kDefaultStorage */
  put_le(b, (uint64_t)ndim, 4);
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    put_le(b, (uint64_t)dims[i], 8);
    n *= dims[i];
  }
  put_le(b, 1, 4); /* kCPU */
  put_le(b, 0, 4); /* dev_id */
  put_le(b, 0, 4); /* kFloat32 */
  for (int64_t i = 0; i < n; i++) put_f32(b, data[i]);
}

static const float W[6] = {1.5f, -2.25f, 3.0f, 0.125f, -0.0f, 1e-30f}; /* fc1_weight (2, 3) */
static const float M[3] = {0.5f, 7.0f, -3.75f};                        /* bn_moving_mean (3,) */

/* The reference file: [arg:fc1_weight (2,3), aux:bn_moving_mean (3,)]. */
static bytes reference_file(void) {
  bytes b = {0};
  put_le(&b, 0x112, 8); /* kMXAPINDArrayListMagic */
  put_le(&b, 0, 8);     /* reserved */
  put_le(&b, 2, 8);     /* number of arrays */
  put_v2_f32(&b, 2, (int64_t[]){2, 3}, W);
  put_v2_f32(&b, 1, (int64_t[]){3}, M);
  put_le(&b, 2, 8); /* number of names */
  put_str(&b, "arg:fc1_weight");
  put_str(&b, "aux:bn_moving_mean");
  return b;
}

static char tmpdir[64];

static int setup(void **state) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/mt_params_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static unsigned char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *p = malloc(*n + 1);
  assert_non_null(p);
  assert_int_equal(fread(p, 1, *n, f), *n);
  fclose(f);
  return p;
}

static void expect_array(const mt_arena *a, int i, const char *name, mt_shape shape,
                         const float *vals) {
  assert_string_equal(mt_arena_name(a, i), name);
  mt_ndarray *x = mt_arena_at(a, i);
  mt_shape s = mt_ndarray_shape(x);
  assert_true(mt_shape_equal(&s, &shape));
  /* bit for bit: the file holds the float32 bytes themselves */
  assert_memory_equal(mt_ndarray_data(x), vals, sizeof(float) * (size_t)mt_shape_size(&shape));
}

/* The hand-built file loads with the right names, shapes and values. */
static void test_load_reference(void **state) {
  char path[128];
  path_of(path, sizeof path, "ref.params");
  bytes b = reference_file();
  write_file(path, b.p, b.n);
  mt_arena *args, *aux;
  MT_ASSERT_OK(mt_params_load(path, &args, &aux));
  assert_int_equal(mt_arena_count(args), 1);
  assert_int_equal(mt_arena_count(aux), 1);
  expect_array(args, 0, "fc1_weight", MT_SHAPE(2, 3), W);
  expect_array(aux, 0, "bn_moving_mean", MT_SHAPE(3), M);
  mt_arena_free(args);
  mt_arena_free(aux);
  free(b.p);
}

static void make_reference_arenas(mt_arena **args, mt_arena **aux) {
  MT_ASSERT_OK(mt_arena_create(mt_cpu(0), 1, (const char *[]){"fc1_weight"},
                               (mt_shape[]){MT_SHAPE(2, 3)}, args));
  MT_ASSERT_OK(mt_arena_create(mt_cpu(0), 1, (const char *[]){"bn_moving_mean"},
                               (mt_shape[]){MT_SHAPE(3)}, aux));
  MT_ASSERT_OK(mt_ndarray_copy_from(mt_arena_at(*args, 0), W, 6));
  MT_ASSERT_OK(mt_ndarray_copy_from(mt_arena_at(*aux, 0), M, 3));
}

/* Saving the same parameters writes exactly the reference bytes. */
static void test_save_matches_reference_bytes(void **state) {
  char path[128];
  path_of(path, sizeof path, "saved.params");
  mt_arena *args, *aux;
  make_reference_arenas(&args, &aux);
  MT_ASSERT_OK(mt_params_save(path, args, aux));
  bytes ref = reference_file();
  size_t n;
  unsigned char *got = read_file(path, &n);
  assert_int_equal(n, ref.n);
  assert_memory_equal(got, ref.p, n);
  /* no temporary file is left behind */
  char tmp[160];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  assert_int_not_equal(access(tmp, F_OK), 0);
  free(got);
  free(ref.p);
  mt_arena_free(args);
  mt_arena_free(aux);
}

/* save -> load of a larger random set keeps names, order, shapes and bits. */
static void test_round_trip(void **state) {
  char path[128];
  path_of(path, sizeof path, "rt.params");
  const char *an[] = {"fc1_weight", "fc1_bias", "conv_weight", "x/y%z"};
  mt_shape as[] = {MT_SHAPE(64, 128), MT_SHAPE(64), MT_SHAPE(8, 3, 5, 5),
                   MT_SHAPE(1, 2, 1, 2, 1, 2)};
  const char *xn[] = {"bn_moving_mean", "bn_moving_var"};
  mt_shape xs[] = {MT_SHAPE(8), MT_SHAPE(8)};
  mt_arena *args, *aux;
  MT_ASSERT_OK(mt_arena_create(mt_cpu(0), 4, an, as, &args));
  MT_ASSERT_OK(mt_arena_create(mt_cpu(0), 2, xn, xs, &aux));
  for (int i = 0; i < 4; i++)
    tu_fill_uniform(mt_ndarray_data(mt_arena_at(args, i)), mt_shape_size(&as[i]), -3, 3, 10 + i);
  for (int i = 0; i < 2; i++)
    tu_fill_uniform(mt_ndarray_data(mt_arena_at(aux, i)), 8, 0, 1, 20 + i);
  MT_ASSERT_OK(mt_params_save(path, args, aux));
  mt_arena *a2, *x2;
  MT_ASSERT_OK(mt_params_load(path, &a2, &x2));
  assert_int_equal(mt_arena_count(a2), 4);
  assert_int_equal(mt_arena_count(x2), 2);
  for (int i = 0; i < 4; i++)
    expect_array(a2, i, an[i], as[i], mt_ndarray_data(mt_arena_at(args, i)));
  for (int i = 0; i < 2; i++)
    expect_array(x2, i, xn[i], xs[i], mt_ndarray_data(mt_arena_at(aux, i)));
  mt_arena_free(args);
  mt_arena_free(aux);
  mt_arena_free(a2);
  mt_arena_free(x2);
}

static void expect_error(const char *path, int code, const char *needle) {
  mt_arena *a = (mt_arena *)1, *x = (mt_arena *)1;
  int rc = mt_params_load(path, &a, &x);
  if (rc != code)
    fail_msg("loading %s: expected %d (%s), got %d: %s", path, code, mt_strerror(code), rc,
             mt_last_error());
  assert_null(a);
  assert_null(x);
  if (!strstr(mt_last_error(), path))
    fail_msg("message does not name the path: %s", mt_last_error());
  if (needle && !strstr(mt_last_error(), needle))
    fail_msg("message lacks '%s': %s", needle, mt_last_error());
}

static void test_bad_magic(void **state) {
  char path[128];
  path_of(path, sizeof path, "bad.params");
  bytes b = reference_file();
  b.p[0] = 0x13; /* list magic 0x113 */
  write_file(path, b.p, b.n);
  expect_error(path, MT_E_FORMAT, "bad magic");
  /* an array whose magic is neither V1/V2/V3 nor a small legacy ndim */
  free(b.p);
  b = reference_file();
  b.p[24] = 0x00; /* first array's magic 0xF993FA00 */
  write_file(path, b.p, b.n);
  expect_error(path, MT_E_FORMAT, "bad magic");
  /* a text file */
  write_file(path, "hello, world\n", 13);
  expect_error(path, MT_E_FORMAT, "bad magic");
  free(b.p);
}

/* Every truncation of the reference file is an error naming the path
 * (never a crash, never a silent partial load). */
static void test_truncated(void **state) {
  char path[128];
  path_of(path, sizeof path, "trunc.params");
  bytes b = reference_file();
  for (size_t cut = 0; cut < b.n; cut++) {
    write_file(path, b.p, cut);
    expect_error(path, MT_E_FORMAT, "truncated");
  }
  free(b.p);
}

static void test_missing_file(void **state) {
  char path[128];
  path_of(path, sizeof path, "nope.params");
  expect_error(path, MT_E_IO, "No such file");
}

/* Other encodings MXNet has written: V1 (no storage type), legacy (uint32
 * shape, no magic), V3 (numpy shapes), float64 / float16 data, bare names. */
static void test_other_versions_and_types(void **state) {
  char path[128];
  path_of(path, sizeof path, "old.params");
  bytes b = {0};
  put_le(&b, 0x112, 8);
  put_le(&b, 0, 8);
  put_le(&b, 4, 8);
  /* V1: magic, ndim, int64 dims, context, type flag (float64), data */
  put_le(&b, 0xF993FAC8u, 4);
  put_le(&b, 1, 4);
  put_le(&b, 2, 8);
  put_le(&b, 1, 4);
  put_le(&b, 0, 4);
  put_le(&b, 1, 4);
  double d[2] = {0.1, -2.5};
  for (int i = 0; i < 2; i++) {
    uint64_t u;
    memcpy(&u, &d[i], 8);
    put_le(&b, u, 8);
  }
  /* legacy: ndim 2 as the first word, uint32 dims, context, float32 */
  put_le(&b, 2, 4);
  put_le(&b, 1, 4);
  put_le(&b, 2, 4);
  put_le(&b, 2, 4); /* a gpu context: loads to the CPU, as MXNet without CUDA */
  put_le(&b, 1, 4);
  put_le(&b, 0, 4);
  put_f32(&b, 4.0f);
  put_f32(&b, 5.0f);
  /* V3 float16: 1.0 = 0x3C00, -2.0 = 0xC000, 0.5 = 0x3800 */
  put_le(&b, 0xF993FACAu, 4);
  put_le(&b, 0, 4);
  put_le(&b, 1, 4);
  put_le(&b, 3, 8);
  put_le(&b, 1, 4);
  put_le(&b, 0, 4);
  put_le(&b, 2, 4);
  put_le(&b, 0x3C00, 2);
  put_le(&b, 0xC000, 2);
  put_le(&b, 0x3800, 2);
  /* V2 float32 with a bare name (Gluon's save_parameters) */
  put_v2_f32(&b, 1, (int64_t[]){1}, (float[]){42.0f});
  put_le(&b, 4, 8);
  put_str(&b, "arg:v1_weight");
  put_str(&b, "aux:legacy_state");
  put_str(&b, "arg:half_bias");
  put_str(&b, "dense0_bias");
  write_file(path, b.p, b.n);
  mt_arena *args, *aux;
  MT_ASSERT_OK(mt_params_load(path, &args, &aux));
  assert_int_equal(mt_arena_count(args), 3);
  assert_int_equal(mt_arena_count(aux), 1);
  expect_array(args, 0, "v1_weight", MT_SHAPE(2), (float[]){(float)0.1, -2.5f});
  expect_array(aux, 0, "legacy_state", MT_SHAPE(1, 2), (float[]){4.0f, 5.0f});
  expect_array(args, 1, "half_bias", MT_SHAPE(3), (float[]){1.0f, -2.0f, 0.5f});
  expect_array(args, 2, "dense0_bias", MT_SHAPE(1), (float[]){42.0f});
  mt_arena_free(args);
  mt_arena_free(aux);
  free(b.p);
}

static void test_sparse_and_unnamed(void **state) {
  char path[128];
  path_of(path, sizeof path, "sparse.params");
  bytes b = {0};
  put_le(&b, 0x112, 8);
  put_le(&b, 0, 8);
  put_le(&b, 1, 8);
  put_le(&b, 0xF993FAC9u, 4);
  put_le(&b, 1, 4); /* row_sparse */
  for (int i = 0; i < 64; i++) put_le(&b, 0, 1);
  write_file(path, b.p, b.n);
  expect_error(path, MT_E_UNSUPPORTED, "row_sparse");
  free(b.p);
  /* an unnamed list (mx.nd.save of a list) has no parameter names */
  b = (bytes){0};
  put_le(&b, 0x112, 8);
  put_le(&b, 0, 8);
  put_le(&b, 1, 8);
  put_v2_f32(&b, 1, (int64_t[]){2}, M);
  put_le(&b, 0, 8);
  write_file(path, b.p, b.n);
  expect_error(path, MT_E_FORMAT, "unnamed");
  free(b.p);
}

/* A V2 array header with the given dims and no data (the file ends there). */
static void put_v2_header(bytes *b, int ndim, const int64_t *dims) {
  put_le(b, 0xF993FAC9u, 4);
  put_le(b, 0, 4);
  put_le(b, (uint64_t)ndim, 4);
  for (int i = 0; i < ndim; i++) put_le(b, (uint64_t)dims[i], 8);
  put_le(b, 1, 4);
  put_le(b, 0, 4);
  put_le(b, 0, 4);
}

/* Issue 14 F2: dims whose product or byte count overflows int64 (2^62; 2^40
 * x 2^22; 2^31 x 2^31 x 4) were a signed overflow and a message saying
 * "needs 0 bytes"; now the shape is refused before any byte count, naming
 * the array, and a large shape within the limit that the file cannot hold
 * says how many bytes it needs. */
static void test_huge_dims(void **state) {
  char path[128];
  path_of(path, sizeof path, "huge.params");
  const int64_t cases[][3] = {{(int64_t)1 << 62, 0, 0},
                              {(int64_t)1 << 40, (int64_t)1 << 22, 0},
                              {(int64_t)1 << 31, (int64_t)1 << 31, 4},
                              {INT64_MAX, 2, 0},
                              {(int64_t)1 << 16, (int64_t)1 << 16, 0}};
  const int nd[] = {1, 2, 3, 2, 2};
  for (int c = 0; c < 5; c++) {
    bytes b = {0};
    put_le(&b, 0x112, 8);
    put_le(&b, 0, 8);
    put_le(&b, 2, 8);
    put_v2_f32(&b, 1, (int64_t[]){3}, M);
    put_v2_header(&b, nd[c], cases[c]);
    write_file(path, b.p, b.n);
    expect_error(path, MT_E_FORMAT, "array 1");
    assert_null(strstr(mt_last_error(), "needs 0 bytes"));
    if (c < 4) assert_non_null(strstr(mt_last_error(), "limit"));
    free(b.p);
  }
  /* (65536, 65536) is 2^32 elements: past the limit as well */
  assert_non_null(strstr(mt_last_error(), "(65536, 65536) has more than 2147483647 elements"));
  /* within the limit, but not in the file: the true byte count */
  bytes b = {0};
  put_le(&b, 0x112, 8);
  put_le(&b, 0, 8);
  put_le(&b, 1, 8);
  put_v2_header(&b, 2, (int64_t[]){(int64_t)1 << 15, (int64_t)1 << 15});
  write_file(path, b.p, b.n);
  expect_error(path, MT_E_FORMAT, "needs 4294967296 bytes");
  free(b.p);
}

/* Issue 14 F11: an empty name, or a bare "arg:" / "aux:", names no
 * parameter; it was accepted as a parameter called "". */
static void test_empty_names(void **state) {
  char path[128];
  path_of(path, sizeof path, "noname.params");
  const char *bad[] = {"", "arg:", "aux:"};
  for (int k = 0; k < 3; k++) {
    bytes b = {0};
    put_le(&b, 0x112, 8);
    put_le(&b, 0, 8);
    put_le(&b, 2, 8);
    put_v2_f32(&b, 2, (int64_t[]){2, 3}, W);
    put_v2_f32(&b, 1, (int64_t[]){3}, M);
    put_le(&b, 2, 8);
    put_str(&b, "arg:fc1_weight");
    put_str(&b, bad[k]);
    write_file(path, b.p, b.n);
    expect_error(path, MT_E_FORMAT, "array 1 has an empty name");
    free(b.p);
  }
  /* the writer refuses to make such a file */
  mt_shape s = MT_SHAPE(3);
  const char *names[] = {""};
  const float *data[] = {M};
  assert_int_equal(mtio_params_write(path, 1, names, &s, data), MT_E_INVAL);
}

static void test_save_error_names_path(void **state) {
  mt_arena *args, *aux;
  make_reference_arenas(&args, &aux);
  int rc = mt_params_save("/nonexistent_dir_mt/x.params", args, aux);
  assert_int_equal(rc, MT_E_IO);
  assert_non_null(strstr(mt_last_error(), "/nonexistent_dir_mt/x.params"));
  mt_arena_free(args);
  mt_arena_free(aux);
}

/* Issue 14: a FIFO as a .params file is refused at once, never a hang. */
static void test_fifo_params_file(void **state) {
  (void)state;
  char dir[] = "/tmp/mt_parfifo.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[128];
  snprintf(path, sizeof path, "%s/net-0001.params", dir);
  assert_int_equal(mkfifo(path, 0600), 0);
  int n = -1;
  mtio_named_array *a = NULL;
  assert_int_equal(mtio_params_read(path, &n, &a), MT_E_IO);
  assert_int_equal(n, 0);
  assert_non_null(strstr(mt_last_error(), "not a regular file"));
  assert_non_null(strstr(mt_last_error(), path));
  unlink(path);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_reference),
      cmocka_unit_test(test_save_matches_reference_bytes),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_bad_magic),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_other_versions_and_types),
      cmocka_unit_test(test_sparse_and_unnamed),
      cmocka_unit_test(test_save_error_names_path),
      cmocka_unit_test(test_huge_dims),
      cmocka_unit_test(test_empty_names),
      cmocka_unit_test(test_fifo_params_file),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
