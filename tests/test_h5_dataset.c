/* test_h5_dataset.c — dataset files and the HDF5 iterator: writer/reader
 * round trips ([N, D] and [N, d1, d2] samples, [N] and [N, k] labels),
 * row-list reads, the error table (each case's message names the path and
 * the problem), MT_CHECK_H5's message, `modtrain synth` (determinism, --part,
 * blockwise generation equal to the full generator, h5dump's view of the
 * layout, usage errors), the iterator against the in-memory NDArrayIter
 * (same batches for the same data, shuffle and seed; pad, discard,
 * roll_over), sharding across ranks, and the prefetch thread under many
 * resets and early frees (run under ASan with -DMT_SANITIZE=ON).
 * Comparisons of floats read back are exact: files store float32 and
 * nothing is computed on the way. */
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5_check.h"
#include "io/h5dataset.h"
#include "io/synthetic.h"
#include "src/data_iter.h"
#include "testutil.h"

int mt_cmd_synth(int argc, char **argv); /* cmd/cmd_synth.c */

static char tmpdir[64];

static const char *tpath(const char *name) {
  static char buf[8][256];
  static int k;
  k = (k + 1) % 8;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
  return buf[k];
}

static int setup_dir(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/mt_h5test_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

/* Fails unless the last error contains every fragment (NULL-terminated). */
static void assert_msg(const char *first, ...) {
  const char *msg = mt_last_error();
  va_list ap;
  va_start(ap, first);
  for (const char *f = first; f; f = va_arg(ap, const char *))
    if (!strstr(msg, f)) fail_msg("message \"%s\" lacks \"%s\"", msg, f);
  va_end(ap);
}

/* data (n, row) with x[i][d] = 1000 * i + d; labels i % classes (classes >
 * 0) or, for k-wide labels, y[i][j] = i + 0.25 * j. */
static float *pattern_x(int64_t n, int64_t row) {
  float *x = malloc((size_t)(n * row) * sizeof *x);
  for (int64_t i = 0; i < n; i++)
    for (int64_t d = 0; d < row; d++) x[i * row + d] = (float)(1000 * i + d);
  return x;
}

static float *pattern_y(int64_t n, int64_t k, int classes) {
  int64_t w = k ? k : 1;
  float *y = malloc((size_t)(n * w) * sizeof *y);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < w; j++)
      y[i * w + j] = classes > 0 ? (float)(i % classes) : (float)i + 0.25f * (float)j;
  return y;
}

/* Writes a pattern file with the writer API in appends of `block` rows. */
static void write_pattern(const char *path, int64_t n, int sndim, const int64_t *sdim, int k,
                          int classes, int64_t block) {
  int64_t row = 1;
  for (int i = 0; i < sndim; i++) row *= sdim[i];
  float *x = pattern_x(n, row), *y = pattern_y(n, k, classes);
  mtio_h5_writer *w;
  MT_ASSERT_OK(mtio_h5_writer_create(path, sndim, sdim, k, classes, 42, "pattern", &w));
  for (int64_t f = 0; f < n; f += block) {
    int64_t r = n - f < block ? n - f : block;
    MT_ASSERT_OK(mtio_h5_writer_append(w, r, x + f * row, y + f * (k ? k : 1)));
  }
  assert_int_equal(mtio_h5_writer_rows(w), n);
  MT_ASSERT_OK(mtio_h5_writer_close(w));
  free(x);
  free(y);
}

/* ------------------------------------------------------------ round trips */

static void test_roundtrip_2d(void **state) {
  (void)state;
  const char *p = tpath("rt2.h5");
  int64_t n = 37, D = 5;
  write_pattern(p, n, 1, &D, 0, 4, 10); /* appends of 10, 10, 10, 7 */
  mtio_h5_reader *r;
  MT_ASSERT_OK(mtio_h5_open(p, &r));
  const mtio_h5_meta *m = mtio_h5_reader_meta(r);
  assert_int_equal(m->ndim, 2);
  assert_int_equal(m->dim[0], n);
  assert_int_equal(m->dim[1], D);
  assert_int_equal(m->label_ndim, 1);
  assert_int_equal(m->label_dim[0], n);
  assert_int_equal(m->row, D);
  assert_int_equal(m->label_row, 1);
  assert_int_equal(m->num_classes, 4);
  assert_true(m->has_seed);
  assert_int_equal(m->seed, 42);
  assert_string_equal(m->generator, "pattern");
  assert_int_equal(m->part, -1);
  assert_int_equal(m->chunk_rows, MTIO_H5_CHUNK_BYTES / (D * 4)); /* ~4 KiB chunks */
  float *x = pattern_x(n, D), *y = pattern_y(n, 0, 4);
  float xr[37 * 5], yr[37];
  MT_ASSERT_OK(mtio_h5_read_range(r, 0, n, xr, yr));
  assert_memory_equal(xr, x, sizeof xr);
  assert_memory_equal(yr, y, sizeof yr);
  MT_ASSERT_OK(mtio_h5_read_range(r, 9, 12, xr, NULL)); /* across an append boundary */
  assert_memory_equal(xr, x + 9 * D, 3 * D * sizeof(float));
  MT_ASSERT_OK(mtio_h5_read_range(r, 5, 5, xr, yr)); /* empty */
  assert_int_equal(mtio_h5_read_range(r, 30, 38, xr, yr), MT_E_INVAL);
  assert_msg(p, "rows [30, 38)", NULL);
  mtio_h5_close(r);
  free(x);
  free(y);
}

/* [N, 3, 4] samples with [N, 2] regression labels through mt_dataset_write,
 * read back by the reader and by the iterator. */
static void test_roundtrip_3d_k_labels(void **state) {
  (void)state;
  const char *p = tpath("rt3.h5");
  int64_t n = 23;
  mt_ndarray *xa, *ya;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n, 3, 4), mt_cpu(0), &xa));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n, 2), mt_cpu(0), &ya));
  float *x = pattern_x(n, 12), *y = pattern_y(n, 2, 0);
  MT_ASSERT_OK(mt_ndarray_copy_from(xa, x, n * 12));
  MT_ASSERT_OK(mt_ndarray_copy_from(ya, y, n * 2));
  MT_ASSERT_OK(mt_dataset_write(p, xa, ya, 0, 7, NULL));

  mtio_h5_reader *r;
  MT_ASSERT_OK(mtio_h5_open(p, &r));
  const mtio_h5_meta *m = mtio_h5_reader_meta(r);
  assert_int_equal(m->ndim, 3);
  assert_int_equal(m->dim[1], 3);
  assert_int_equal(m->dim[2], 4);
  assert_int_equal(m->label_ndim, 2);
  assert_int_equal(m->label_dim[1], 2);
  assert_int_equal(m->num_classes, 0);
  assert_int_equal(m->seed, 7);
  assert_string_equal(m->generator, "");
  float xr[23 * 12], yr[23 * 2];
  MT_ASSERT_OK(mtio_h5_read_range(r, 0, n, xr, yr));
  assert_memory_equal(xr, x, sizeof xr);
  assert_memory_equal(yr, y, sizeof yr);
  mtio_h5_close(r);

  mt_data_iter *it;
  MT_ASSERT_OK(mt_h5_iter_create(p, 5, 0, 0, MT_LAST_BATCH_PAD, 0, 1, NULL, "lin_label", &it));
  int nd, nl;
  const mt_data_desc *dd, *ld;
  MT_ASSERT_OK(mt_data_iter_provide_data(it, &nd, &dd));
  MT_ASSERT_OK(mt_data_iter_provide_label(it, &nl, &ld));
  assert_int_equal(nd, 1);
  assert_int_equal(nl, 1);
  assert_string_equal(dd[0].name, "data");
  assert_string_equal(ld[0].name, "lin_label");
  assert_true(mt_shape_equal(&dd[0].shape, &MT_SHAPE(5, 3, 4)));
  assert_true(mt_shape_equal(&ld[0].shape, &MT_SHAPE(5, 2)));
  mt_batch b;
  for (int k = 0; k < 5; k++) {
    assert_int_equal(mt_data_iter_next(it, &b), 1);
    assert_int_equal(b.pad, k == 4 ? 2 : 0);
    for (int j = 0; j < 5; j++) {
      int64_t i = (5 * k + j) % n;
      assert_int_equal(b.index[j], i);
      assert_memory_equal(mt_ndarray_data(b.data[0]) + j * 12, x + i * 12, 12 * sizeof(float));
      assert_memory_equal(mt_ndarray_data(b.label[0]) + j * 2, y + i * 2, 2 * sizeof(float));
    }
  }
  assert_int_equal(mt_data_iter_next(it, &b), 0);
  mt_data_iter_free(it);
  mt_ndarray_free(xa);
  mt_ndarray_free(ya);
  free(x);
  free(y);
}

static void test_read_rows(void **state) {
  (void)state;
  const char *p = tpath("rows.h5");
  int64_t n = 300, D = 40; /* chunks of 25 rows */
  write_pattern(p, n, 1, &D, 0, 7, 64);
  float *x = pattern_x(n, D), *y = pattern_y(n, 0, 7);
  mtio_h5_reader *r;
  MT_ASSERT_OK(mtio_h5_open(p, &r));
  /* runs of 1, 3 (across a chunk boundary), 1, 2, 1 and the last row */
  int64_t rows[] = {0, 24, 25, 26, 100, 198, 199, 250, 299};
  int64_t nr = sizeof rows / sizeof *rows;
  float xr[9 * 40], yr[9];
  MT_ASSERT_OK(mtio_h5_read_rows(r, nr, rows, xr, yr));
  for (int64_t j = 0; j < nr; j++) {
    assert_memory_equal(xr + j * D, x + rows[j] * D, (size_t)D * sizeof(float));
    assert_true(yr[j] == y[rows[j]]);
  }
  MT_ASSERT_OK(mtio_h5_read_rows(r, 2, rows + 4, NULL, yr)); /* labels only */
  assert_true(yr[0] == y[100] && yr[1] == y[198]);
  int64_t unsorted[] = {5, 3}, dup[] = {3, 3}, outside[] = {3, 300};
  assert_int_equal(mtio_h5_read_rows(r, 2, unsorted, xr, yr), MT_E_INVAL);
  assert_msg(p, "strictly increasing", NULL);
  assert_int_equal(mtio_h5_read_rows(r, 2, dup, xr, yr), MT_E_INVAL);
  assert_int_equal(mtio_h5_read_rows(r, 2, outside, xr, yr), MT_E_INVAL);
  assert_msg("is 300", NULL);
  mtio_h5_close(r);
  free(x);
  free(y);
}

/* ------------------------------------------------------------ error table */

#define NO_ATTR (-1000)

/* A raw HDF5 file: /data of type dt and dims ddims (rank dr; dr 0 = none,
 * dr -1 = a group named data), /label likewise, optional int attributes. */
typedef struct {
  hid_t dt;
  int dr;
  hsize_t dd[4];
  hid_t lt;
  int lr;
  hsize_t ld[4];
  int64_t num_classes; /* NO_ATTR: no attribute */
  int64_t version;     /* 0: no attribute */
  const float *labels; /* float label values (ld[0] of them), or NULL = 0 */
} raw_spec;

static void raw_dataset(hid_t f, const char *name, hid_t t, int rank, const hsize_t *dims,
                        const float *values) {
  if (rank == 0) return;
  if (rank < 0) {
    hid_t g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(g >= 0);
    H5Gclose(g);
    return;
  }
  hid_t sp = H5Screate_simple(rank, dims, NULL);
  hid_t d = H5Dcreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(d >= 0);
  /* written (zeros without values): a dataset never written has no rows
   * in the file, which the reader refuses (test_declared_rows) */
  size_t n = 1;
  for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
  float *zeros = values || n == 0 ? NULL : calloc(n, sizeof *zeros);
  if (values || zeros)
    assert_true(
        H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values ? values : zeros) >= 0);
  free(zeros);
  H5Dclose(d);
  H5Sclose(sp);
}

static void raw_attr(hid_t f, const char *name, int64_t v) {
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(f, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(a >= 0);
  H5Awrite(a, H5T_NATIVE_INT64, &v);
  H5Aclose(a);
  H5Sclose(sp);
}

static void raw_file(const char *path, const raw_spec *s) {
  mtio_h5_lock();
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  raw_dataset(f, "data", s->dt, s->dr, s->dd, NULL);
  raw_dataset(f, "label", s->lt, s->lr, s->ld, s->labels);
  if (s->num_classes != NO_ATTR) raw_attr(f, "num_classes", s->num_classes);
  if (s->version) raw_attr(f, "format_version", s->version);
  H5Fclose(f);
  mtio_h5_unlock();
}

static void expect_open_error(const char *path, int code, const char *frag1, const char *frag2) {
  mtio_h5_reader *r = (mtio_h5_reader *)1;
  int rc = mtio_h5_open(path, &r);
  if (rc != code) fail_msg("open %s -> %d (want %d): %s", path, rc, code, mt_last_error());
  assert_null(r);
  assert_msg(path, frag1, frag2, NULL);
  print_message("%s\n", mt_last_error());
  /* The iterator reports the same. */
  mt_data_iter *it = (mt_data_iter *)1;
  assert_int_equal(mt_h5_iter_create(path, 4, 1, 0, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &it),
                   code);
  assert_null(it);
  assert_msg(path, frag1, frag2, NULL);
}

/* h5py writes text attributes as variable-length UTF-8 strings
 * (f.attrs["generator"] = "..."); HDF5 converts no UTF-8 to ASCII, so the
 * reader asks for the file's own character set. Found by fuzz/fuzz_h5_dataset
 * on its h5py seed (fuzz/corpus/h5_dataset/h5py-chunked.h5), which failed
 * with "H5Aread(): ... can't find datatype conversion path". */
static void test_h5py_utf8_text_attr(void **state) {
  (void)state;
  const char *text =
      "h5py \xc3\xa9"
      "crit";
  for (int vlen = 1; vlen >= 0; vlen--) { /* h5py's default, then fixed-length */
    const char *path = tpath(vlen ? "h5py_utf8_vlen.h5" : "h5py_utf8_fixed.h5");
    raw_spec s = {H5T_IEEE_F32LE, 2, {4, 3}, H5T_IEEE_F32LE, 1, {4}, 2, 1, NULL};
    raw_file(path, &s);
    mtio_h5_lock();
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    assert_true(H5Tset_size(t, vlen ? H5T_VARIABLE : strlen(text) + 1) >= 0);
    assert_true(H5Tset_cset(t, H5T_CSET_UTF8) >= 0);
    hid_t a = H5Acreate2(f, "generator", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, t, vlen ? (const void *)&text : text) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(f);
    mtio_h5_unlock();
    mtio_h5_reader *r = NULL;
    int rc = mtio_h5_open(path, &r);
    if (rc != MT_OK) fail_msg("open %s: %s", path, mt_last_error());
    assert_string_equal(mtio_h5_reader_meta(r)->generator, text);
    mtio_h5_close(r);
  }
}

static void test_error_table(void **state) {
  (void)state;
  /* float64, uint8 ... int32 /data and integer /label are read (issue 18,
   * test_dtypes); int64 /data and a 6-byte float /label are not. */
  const hid_t F32 = H5T_IEEE_F32LE, I64 = H5T_STD_I64LE;
  hid_t F6 = H5Tcopy(H5T_IEEE_F32LE);
  assert_true(H5Tset_size(F6, 6) >= 0);
  struct {
    const char *name;
    raw_spec s;
    int code;
    const char *f1, *f2;
  } cases[] = {
      {"no_data.h5",
       {F32, 0, {0}, F32, 1, {10}, NO_ATTR, 0, NULL},
       MT_E_FORMAT,
       "no dataset /data",
       NULL},
      {"no_label.h5",
       {F32, 2, {10, 3}, F32, 0, {0}, NO_ATTR, 0, NULL},
       MT_E_FORMAT,
       "no dataset /label",
       NULL},
      {"data_group.h5",
       {F32, -1, {0}, F32, 1, {10}, NO_ATTR, 0, NULL},
       MT_E_FORMAT,
       "no dataset /data",
       NULL},
      {"i64.h5",
       {I64, 2, {10, 3}, F32, 1, {10}, NO_ATTR, 0, NULL},
       MT_E_FORMAT,
       "/data is int64",
       "expected float32"},
      {"f6_label.h5",
       {F32, 2, {10, 3}, F6, 1, {10}, NO_ATTR, 0, NULL},
       MT_E_FORMAT,
       "/label is a float type of 6 bytes",
       "expected float32"},
      {"rank1.h5",
       {F32, 1, {10}, F32, 1, {10}, NO_ATTR, 0, NULL},
       MT_E_FORMAT,
       "/data has rank 1",
       "[N, d1, ...]"},
      {"label_rank3.h5",
       {F32, 2, {10, 3}, F32, 3, {10, 2, 2}, NO_ATTR, 0, NULL},
       MT_E_FORMAT,
       "/label has rank 3",
       "[N] (class indices) or [N, k]"},
      {"n_mismatch.h5",
       {F32, 2, {10, 3}, F32, 1, {9}, NO_ATTR, 0, NULL},
       MT_E_FORMAT,
       "/data has 10 samples but /label has 9",
       NULL},
      {"zero_dim.h5",
       {F32, 2, {10, 0}, F32, 1, {10}, NO_ATTR, 0, NULL},
       MT_E_FORMAT,
       "sample dims must be >= 1",
       NULL},
      {"version.h5",
       {F32, 2, {10, 3}, F32, 1, {10}, NO_ATTR, 99, NULL},
       MT_E_FORMAT,
       "format_version 99",
       NULL},
      {"neg_classes.h5",
       {F32, 2, {10, 3}, F32, 1, {10}, -3, 0, NULL},
       MT_E_FORMAT,
       "num_classes -3",
       NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char *p = tpath(cases[i].name);
    raw_file(p, &cases[i].s);
    expect_open_error(p, cases[i].code, cases[i].f1, cases[i].f2);
  }

  /* A file by other tools (no format_version, num_classes absent) opens. */
  raw_spec ok = {F32, 2, {10, 3}, F32, 1, {10}, NO_ATTR, 0, NULL};
  raw_file(tpath("plain.h5"), &ok);
  mtio_h5_reader *r;
  MT_ASSERT_OK(mtio_h5_open(tpath("plain.h5"), &r));
  assert_int_equal(mtio_h5_reader_meta(r)->num_classes, 0);
  assert_false(mtio_h5_reader_meta(r)->has_seed);
  assert_int_equal(mtio_h5_reader_meta(r)->chunk_rows, 0); /* contiguous: fine */
  mtio_h5_close(r);

  /* Missing file, a directory, not HDF5. */
  expect_open_error(tpath("missing.h5"), MT_E_IO, "No such file", NULL);
  expect_open_error(tmpdir, MT_E_IO, "is a directory", NULL);
  const char *txt = tpath("text.h5");
  FILE *f = fopen(txt, "w");
  fputs("time,value\n1,2\n", f);
  fclose(f);
  expect_open_error(txt, MT_E_FORMAT, "not an HDF5 file", NULL);
  const char *empty = tpath("empty.h5");
  fclose(fopen(empty, "w"));
  expect_open_error(empty, MT_E_FORMAT, "not an HDF5 file", NULL);
  H5Tclose(F6);
}

static int64_t file_size(const char *p) {
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  return (int64_t)st.st_size;
}

static void copy_file(const char *from, const char *to) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
  assert_int_equal(system(cmd), 0);
}

/* Truncated and corrupted copies of a valid file. */
static void test_truncated_corrupted(void **state) {
  (void)state;
  const char *good = tpath("good.h5");
  int64_t n = 200, D = 64; /* 256-byte rows, 16-row chunks: ~51 KiB of raw data */
  write_pattern(good, n, 1, &D, 0, 10, 200);
  int64_t size = file_size(good);

  /* Truncated at several points: opening fails, naming the path. */
  int64_t cuts[] = {size / 2, size - 1, 600};
  for (int i = 0; i < 3; i++) {
    const char *p = tpath("trunc.h5");
    copy_file(good, p);
    assert_int_equal(truncate(p, (off_t)cuts[i]), 0);
    mtio_h5_reader *r = NULL;
    int rc = mtio_h5_open(p, &r);
    if (rc >= 0)
      fail_msg("truncated to %lld of %lld bytes: open succeeded", (long long)cuts[i],
               (long long)size);
    assert_int_equal(rc, MT_E_HDF5);
    assert_msg(p, "truncated or corrupted", "truncated file", "HDF5 error in H5Fopen", NULL);
    print_message("%s\n", mt_last_error());
  }

  /* 16 bytes overwritten in the middle (raw data): the open succeeds, the
   * read of the damaged chunk fails with HDF5's checksum message; the
   * iterator reports it from next(). */
  const char *p = tpath("corrupt.h5");
  copy_file(good, p);
  int fd = open(p, O_WRONLY);
  assert_true(fd >= 0);
  unsigned char junk[16];
  memset(junk, 0x5a, sizeof junk);
  assert_int_equal(pwrite(fd, junk, sizeof junk, (off_t)(size / 2)), (ssize_t)sizeof junk);
  close(fd);
  mtio_h5_reader *r;
  MT_ASSERT_OK(mtio_h5_open(p, &r));
  float *x = malloc((size_t)(n * D) * sizeof *x), y[200];
  assert_int_equal(mtio_h5_read_range(r, 0, n, x, y), MT_E_HDF5);
  assert_msg(p, "reading rows [0, 200)", "Fletcher32 checksum", NULL);
  print_message("%s\n", mt_last_error());
  mtio_h5_close(r);
  mt_data_iter *it;
  MT_ASSERT_OK(mt_h5_iter_create(p, 50, 0, 0, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &it));
  mt_batch b;
  int rc, got = 0;
  while ((rc = mt_data_iter_next(it, &b)) == 1) got++;
  assert_int_equal(rc, MT_E_HDF5);
  assert_true(got < 4);
  assert_msg(p, "Fletcher32 checksum", NULL);
  assert_int_equal(mt_data_iter_next(it, &b), MT_E_HDF5); /* sticky until reset */
  mt_data_iter_free(it);

  /* Damaged metadata (the superblock's checksummed fields, then the HDF5
   * signature itself). */
  copy_file(good, p);
  fd = open(p, O_WRONLY);
  assert_int_equal(pwrite(fd, junk, 8, 24), 8);
  close(fd);
  r = NULL;
  assert_true(mtio_h5_open(p, &r) < 0);
  assert_null(r);
  assert_msg(p, NULL);
  print_message("%s\n", mt_last_error());
  copy_file(good, p);
  fd = open(p, O_WRONLY);
  assert_int_equal(pwrite(fd, junk, 4, 0), 4);
  close(fd);
  expect_open_error(p, MT_E_FORMAT, "not an HDF5 file", NULL);
  free(x);
}

/* Labels outside [0, num_classes) are found by the read that meets them. */
static void test_bad_labels(void **state) {
  (void)state;
  float labels[10] = {0, 1, 2, 0, 1, 2, 5, 0, 1, 2};
  raw_spec s = {H5T_IEEE_F32LE, 2, {10, 3}, H5T_IEEE_F32LE, 1, {10}, 3, 1, labels};
  const char *p = tpath("badlabel.h5");
  raw_file(p, &s);
  mt_data_iter *it;
  MT_ASSERT_OK(mt_h5_iter_create(p, 3, 0, 0, MT_LAST_BATCH_DISCARD, 0, 1, NULL, NULL, &it));
  for (int epoch = 0; epoch < 2; epoch++) {
    mt_batch b;
    assert_int_equal(mt_data_iter_next(it, &b), 1); /* rows 0-2 */
    assert_int_equal(mt_data_iter_next(it, &b), 1); /* rows 3-5 */
    assert_int_equal(mt_data_iter_next(it, &b), MT_E_FORMAT);
    assert_msg(p, "/label row 6 is 5", "[0, 3)", NULL);
    if (epoch == 0) print_message("%s\n", mt_last_error());
    MT_ASSERT_OK(mt_data_iter_reset(it));
  }
  mt_data_iter_free(it);
  mtio_h5_reader *r;
  MT_ASSERT_OK(mtio_h5_open(p, &r));
  float x[30], y[10];
  MT_ASSERT_OK(mtio_h5_read_range(r, 0, 6, x, y));
  int64_t rows[] = {1, 6, 8};
  assert_int_equal(mtio_h5_read_rows(r, 3, rows, x, y), MT_E_FORMAT);
  assert_msg("row 6", NULL);
  mtio_h5_close(r);

  /* A negative and a fractional label. */
  labels[6] = 1;
  labels[2] = -1;
  raw_file(p, &s);
  MT_ASSERT_OK(mtio_h5_open(p, &r));
  assert_int_equal(mtio_h5_read_range(r, 0, 10, x, y), MT_E_FORMAT);
  assert_msg(p, "row 2 is -1", NULL);
  mtio_h5_close(r);
  labels[2] = 1.5f;
  raw_file(p, &s);
  MT_ASSERT_OK(mtio_h5_open(p, &r));
  assert_int_equal(mtio_h5_read_range(r, 0, 10, x, y), MT_E_FORMAT);
  assert_msg("row 2 is 1.5", NULL);
  mtio_h5_close(r);

  /* The writer refuses them before writing. */
  mtio_h5_writer *w;
  int64_t D = 3;
  MT_ASSERT_OK(mtio_h5_writer_create(tpath("w.h5"), 1, &D, 0, 3, 0, NULL, &w));
  float wx[30] = {0};
  labels[2] = 3;
  assert_int_equal(mtio_h5_writer_append(w, 10, wx, labels), MT_E_FORMAT);
  assert_msg("w.h5", "row 2 is 3", NULL);
  assert_int_equal(mtio_h5_writer_rows(w), 0);
  mtio_h5_writer_abort(w);
  assert_int_equal(access(tpath("w.h5"), F_OK), -1); /* nothing left behind */
}

static void test_writer_and_iter_args(void **state) {
  (void)state;
  mt_ndarray *x, *y, *y3;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(6, 2), mt_cpu(0), &x));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(5), mt_cpu(0), &y));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(6, 1, 1), mt_cpu(0), &y3));
  const char *p = tpath("args.h5");
  assert_int_equal(mt_dataset_write(p, x, y, 2, 0, NULL), MT_E_SHAPE);
  assert_msg(p, "label (5,)", "data (6, 2)", NULL);
  assert_int_equal(mt_dataset_write(p, x, y3, 2, 0, NULL), MT_E_SHAPE);
  assert_int_equal(mt_dataset_write(p, x, NULL, 2, 0, NULL), MT_E_INVAL);
  assert_int_equal(mt_dataset_write(p, y, y, 2, 0, NULL), MT_E_SHAPE); /* data needs rank >= 2 */
  assert_int_equal(access(p, F_OK), -1);
  mt_ndarray_free(y);
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(6), mt_cpu(0), &y));
  MT_ASSERT_OK(mt_dataset_write(p, x, y, 2, 0, "zeros"));
  /* Replacing an existing file works (rename over it). */
  MT_ASSERT_OK(mt_dataset_write(p, x, y, 2, 1, "zeros again"));
  mtio_h5_reader *r;
  MT_ASSERT_OK(mtio_h5_open(p, &r));
  assert_string_equal(mtio_h5_reader_meta(r)->generator, "zeros again");
  mtio_h5_close(r);

  mt_data_iter *it = NULL;
  assert_int_equal(mt_h5_iter_create(p, 6, 0, 0, MT_LAST_BATCH_PAD, 0, 4, NULL, NULL, &it),
                   MT_E_INVAL);
  assert_msg("batch_size 6 is not divisible by 4 ranks", "multiple of 4", NULL);
  assert_int_equal(mt_h5_iter_create(p, 4, 0, 0, MT_LAST_BATCH_PAD, 2, 2, NULL, NULL, &it),
                   MT_E_INVAL);
  assert_msg("rank 2", NULL);
  assert_int_equal(mt_h5_iter_create(p, 8, 0, 0, MT_LAST_BATCH_DISCARD, 0, 1, NULL, NULL, &it),
                   MT_E_INVAL);
  assert_msg(p, "larger than the 6 samples", NULL);
  assert_int_equal(mt_h5_iter_create(p, 2, 0, 0, (mt_last_batch)7, 0, 1, NULL, NULL, &it),
                   MT_E_INVAL);
  assert_null(it);
  mt_ndarray_free(x);
  mt_ndarray_free(y);
  mt_ndarray_free(y3);
}

/* MT_CHECK_H5 records HDF5's text with file:line, and nothing reaches stderr. */
static int failing_h5_call(const char *path) {
  hid_t f;
  MT_CHECK_H5(f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT));
  H5Fclose(f);
  return MT_OK;
}

static void test_check_macro(void **state) {
  (void)state;
  fflush(stderr);
  int saved = dup(2);
  const char *errfile = tpath("stderr.txt");
  int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 2);
  close(fd);
  mtio_h5_lock();
  int rc = failing_h5_call(tpath("nothing_here.h5"));
  mtio_h5_unlock();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  assert_int_equal(rc, MT_E_HDF5);
  assert_msg("HDF5 error in f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)",
             "test_h5_dataset.c:", "H5Fopen(): unable to open file", NULL);
  assert_int_equal(file_size(errfile), 0); /* HDF5 printed nothing */
}

/* ------------------------------------------------------------ synth */

static int run_synth(const char *a0, ...) {
  char *argv[16];
  int argc = 0;
  va_list ap;
  va_start(ap, a0);
  argv[argc++] = (char *)"synth";
  for (const char *a = a0; a && argc < 15; a = va_arg(ap, const char *)) argv[argc++] = (char *)a;
  va_end(ap);
  argv[argc] = NULL;
  fflush(stdout);
  return mt_cmd_synth(argc, argv);
}

/* The whole of /data and /label of a file. */
static void read_all(const char *p, float **x, float **y, int64_t *n, int64_t *row) {
  mtio_h5_reader *r;
  MT_ASSERT_OK(mtio_h5_open(p, &r));
  const mtio_h5_meta *m = mtio_h5_reader_meta(r);
  *n = m->dim[0];
  *row = m->row;
  *x = malloc((size_t)(*n * *row) * sizeof **x);
  *y = malloc((size_t)*n * sizeof **y);
  MT_ASSERT_OK(mtio_h5_read_range(r, 0, *n, *x, *y));
  mtio_h5_close(r);
}

static int files_identical(const char *a, const char *b) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
  return system(cmd) == 0;
}

static void test_synth(void **state) {
  (void)state;
  /* 2600 samples of 1024 floats: written in blocks of 1024 rows (4 MiB). */
  const char *a = tpath("s_a.h5"), *b = tpath("s_b.h5"), *c = tpath("s_c.h5");
  assert_int_equal(
      run_synth("--classes", "10", "--dim", "1024", "--samples", "2600", "--seed", "5", a, NULL),
      0);
  assert_int_equal(run_synth("-c", "10", "-d", "1024", "-n", "2600", "-s", "5", "-p", "0", b, NULL),
                   0);
  assert_int_equal(
      run_synth("--classes=10", "--dim=1024", "--samples=2600", "--seed=5", "--part=1", c, NULL),
      0);
  float *xa, *ya, *xb, *yb, *xc, *yc;
  int64_t n, row;
  read_all(a, &xa, &ya, &n, &row);
  assert_int_equal(n, 2600);
  assert_int_equal(row, 1024);
  read_all(b, &xb, &yb, &n, &row);
  read_all(c, &xc, &yc, &n, &row);
  /* Same arguments: the same datasets, byte for byte (and the same file). */
  assert_memory_equal(xa, xb, (size_t)(n * row) * sizeof(float));
  assert_memory_equal(ya, yb, (size_t)n * sizeof(float));
  assert_true(files_identical(a, b));
  /* Equal to the in-memory generator run over the whole set at once. */
  float *xr = malloc((size_t)(n * row) * sizeof *xr), *yr = malloc((size_t)n * sizeof *yr);
  MT_ASSERT_OK(mtio_synthetic_generate(10, 1024, n, 5, 0, xr, yr));
  assert_memory_equal(xa, xr, (size_t)(n * row) * sizeof(float));
  assert_memory_equal(ya, yr, (size_t)n * sizeof(float));
  /* --part 1: other samples around the same means, the same labels. */
  MT_ASSERT_OK(mtio_synthetic_generate(10, 1024, n, 5, 1, xr, yr));
  assert_memory_equal(xc, xr, (size_t)(n * row) * sizeof(float));
  assert_memory_equal(yc, ya, (size_t)n * sizeof(float));
  assert_memory_not_equal(xc, xa, (size_t)row * sizeof(float));
  /* class 3's mean of feature 0 agrees across parts (260 samples, sigma 0.1:
   * the two means differ by ~0.009 rms; 0.05 is > 5 sigma) */
  double m0 = 0, m1 = 0;
  for (int64_t i = 780; i < 1040; i++) {
    m0 += xa[i * row];
    m1 += xc[i * row];
  }
  assert_true(fabs(m0 / 260 - m1 / 260) < 0.05);
  /* A different seed: other data. */
  assert_int_equal(run_synth("-c", "10", "-d", "1024", "-n", "2600", "-s", "6", b, NULL), 0);
  free(xb);
  free(yb);
  read_all(b, &xb, &yb, &n, &row);
  assert_memory_not_equal(xa, xb, (size_t)row * sizeof(float));

  mtio_h5_reader *r;
  MT_ASSERT_OK(mtio_h5_open(c, &r));
  const mtio_h5_meta *m = mtio_h5_reader_meta(r);
  assert_int_equal(m->num_classes, 10);
  assert_int_equal(m->seed, 5);
  assert_int_equal(m->part, 1);
  assert_string_equal(m->generator,
                      "modtrain synth --classes 10 --dim 1024 --samples 2600 --seed 5 --part 1");
  assert_int_equal(m->chunk_rows, 1); /* 4 KiB rows: one row per chunk */
  mtio_h5_close(r);

  /* h5dump shows the layout (skipped where hdf5-tools is not installed). */
  if (system("h5dump --version > /dev/null 2>&1") == 0) {
    char cmd[600], out[16384] = "";
    snprintf(cmd, sizeof cmd, "h5dump -p -H '%s'", a);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t len = fread(out, 1, sizeof out - 1, f);
    out[len] = '\0';
    assert_int_equal(pclose(f), 0);
    const char *want[] = {"DATASET \"data\"",
                          "DATASET \"label\"",
                          "H5T_IEEE_F32LE",
                          "( 2600, 1024 ) / ( H5S_UNLIMITED, 1024 )",
                          "( 2600 ) / ( H5S_UNLIMITED )",
                          "CHUNKED ( 1, 1024 )",
                          "CHUNKED ( 1024 )",
                          "CHECKSUM FLETCHER32",
                          "ATTRIBUTE \"num_classes\"",
                          "ATTRIBUTE \"seed\"",
                          "ATTRIBUTE \"generator\"",
                          "ATTRIBUTE \"format_version\""};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
      if (!strstr(out, want[i])) fail_msg("h5dump -p -H lacks \"%s\":\n%s", want[i], out);
  } else {
    print_message("h5dump not installed: layout check skipped\n");
  }
  free(xa);
  free(ya);
  free(xb);
  free(yb);
  free(xc);
  free(yc);
  free(xr);
  free(yr);
}

/* The ranged generator: any split into blocks gives the full set's bytes. */
static void test_synthetic_range(void **state) {
  (void)state;
  int64_t n = 97;
  int C = 7, D = 13;
  float *x = malloc((size_t)(n * D) * sizeof *x), y[97];
  float *xb = malloc((size_t)(n * D) * sizeof *xb), yb[97];
  MT_ASSERT_OK(mtio_synthetic_generate(C, D, n, 11, 2, x, y));
  int64_t splits[] = {1, 5, 32, 96, 97};
  for (int s = 0; s < 5; s++) {
    memset(xb, 0, (size_t)(n * D) * sizeof *xb);
    for (int64_t f = 0; f < n; f += splits[s]) {
      int64_t r = n - f < splits[s] ? n - f : splits[s];
      MT_ASSERT_OK(mtio_synthetic_generate_range(C, D, n, 11, 2, f, r, xb + f * D, yb + f));
    }
    assert_memory_equal(xb, x, (size_t)(n * D) * sizeof *x);
    assert_memory_equal(yb, y, sizeof y);
  }
  assert_int_equal(mtio_synthetic_generate_range(C, D, n, 11, 2, 90, 8, xb, yb), MT_E_INVAL);
  assert_int_equal(mtio_synthetic_generate_range(C, D, n, 11, 2, -1, 1, xb, yb), MT_E_INVAL);
  free(x);
  free(xb);
}

static void test_synth_usage(void **state) {
  (void)state;
  const char *p = tpath("u.h5");
  assert_int_equal(run_synth("--help", NULL), 0);
  assert_int_equal(run_synth("--dim", "4", "--samples", "10", p, NULL), 2);     /* no classes */
  assert_int_equal(run_synth("-c", "2", "-d", "4", "-n", "10", NULL), 2);       /* no OUT */
  assert_int_equal(run_synth("-c", "2", "-d", "4", "-n", "10", p, p, NULL), 2); /* two OUTs */
  assert_int_equal(run_synth("-c", "0", "-d", "4", "-n", "10", p, NULL), 2);
  assert_int_equal(run_synth("-c", "2", "-d", "4x", "-n", "10", p, NULL), 2);
  assert_int_equal(run_synth("-c", "2", "-d", "4", "-n", "-5", p, NULL), 2);
  assert_int_equal(run_synth("-c", "2", "-d", "4", "-n", "10", "-s", "-1", p, NULL), 2);
  assert_int_equal(run_synth("-c", "2", "-d", "4", "-n", "10", "-p", "-1", p, NULL), 2);
  assert_int_equal(run_synth("-c", "2", "-d", "4", "-n", "10", "--bogus", p, NULL), 2);
  assert_int_equal(access(p, F_OK), -1);
  /* An unwritable place: exit 1 with the message. */
  assert_int_equal(run_synth("-c", "2", "-d", "4", "-n", "10", "/etc/passwd/x.h5", NULL), 1);
  assert_msg("/etc/passwd/x.h5", NULL);
  assert_int_equal(
      run_synth("-c", "2", "-d", "4", "-n", "10", "-s", "18446744073709551615", p, NULL), 0);
  mtio_h5_reader *r;
  MT_ASSERT_OK(mtio_h5_open(p, &r));
  assert_true(mtio_h5_reader_meta(r)->seed == UINT64_MAX);
  mtio_h5_close(r);
}

/* ------------------------------------------------------------ iterator */

typedef struct {
  int64_t n, row;
  int classes;
  mt_ndarray *x, *y;
  char path[256];
} dataset;

/* A pattern set written to a file and kept in memory. */
static dataset make_set(const char *name, int64_t n, int64_t row, int classes) {
  dataset d = {n, row, classes, NULL, NULL, ""};
  snprintf(d.path, sizeof d.path, "%s", tpath(name));
  float *x = pattern_x(n, row), *y = pattern_y(n, 0, classes);
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n, row), mt_cpu(0), &d.x));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_cpu(0), &d.y));
  MT_ASSERT_OK(mt_ndarray_copy_from(d.x, x, n * row));
  MT_ASSERT_OK(mt_ndarray_copy_from(d.y, y, n));
  MT_ASSERT_OK(mt_dataset_write(d.path, d.x, d.y, classes, 0, "pattern"));
  free(x);
  free(y);
  return d;
}

static void free_set(dataset *d) {
  mt_ndarray_free(d->x);
  mt_ndarray_free(d->y);
}

static void assert_same_batch(const mt_batch *a, const mt_batch *b, int64_t bs, int64_t row) {
  assert_int_equal(a->ndata, 1);
  assert_int_equal(a->nlabel, 1);
  assert_int_equal(a->pad, b->pad);
  for (int64_t j = 0; j < bs; j++) assert_int_equal(a->index[j], b->index[j]);
  assert_int_equal(mt_ndarray_size(a->data[0]), bs * row);
  assert_memory_equal(mt_ndarray_data(a->data[0]), mt_ndarray_data(b->data[0]),
                      (size_t)(bs * row) * sizeof(float));
  assert_memory_equal(mt_ndarray_data(a->label[0]), mt_ndarray_data(b->label[0]),
                      (size_t)bs * sizeof(float));
}

/* Runs both iterators for `epochs` epochs, batch by batch; also calls next
 * past the end (which moves roll_over's cursor) when extra_next. Returns
 * the number of batches compared. */
static int compare_iters(mt_data_iter *h, mt_data_iter *m, int64_t bs, int64_t row, int epochs,
                         int extra_next) {
  int total = 0;
  for (int e = 0; e < epochs; e++) {
    for (;;) {
      mt_batch a, b;
      int ra = mt_data_iter_next(h, &a), rb = mt_data_iter_next(m, &b);
      if (ra < 0) fail_msg("HDF5 iterator: %s", mt_last_error());
      assert_int_equal(ra, rb);
      if (ra == 0) break;
      assert_same_batch(&a, &b, bs, row);
      total++;
    }
    if (extra_next && e % 2 == 1) {
      mt_batch a, b;
      assert_int_equal(mt_data_iter_next(h, &a), 0);
      assert_int_equal(mt_data_iter_next(m, &b), 0);
    }
    MT_ASSERT_OK(mt_data_iter_reset(h));
    MT_ASSERT_OK(mt_data_iter_reset(m));
  }
  return total;
}

static void test_iter_equals_ndarray_iter(void **state) {
  (void)state;
  dataset d = make_set("eq.h5", 37, 3, 5);
  const mt_last_batch modes[] = {MT_LAST_BATCH_PAD, MT_LAST_BATCH_DISCARD, MT_LAST_BATCH_ROLL_OVER};
  const int64_t sizes[] = {1, 5, 8, 37, 50};
  for (int mi = 0; mi < 3; mi++)
    for (int si = 0; si < 5; si++)
      for (int shuffle = 0; shuffle < 2; shuffle++) {
        int64_t bs = sizes[si];
        if (bs > d.n && modes[mi] != MT_LAST_BATCH_PAD) continue;
        mt_data_iter *h, *m;
        MT_ASSERT_OK(mt_h5_iter_create(d.path, bs, shuffle, 99, modes[mi], 0, 1, NULL, NULL, &h));
        MT_ASSERT_OK(mt_ndarray_iter_create(d.x, d.y, bs, shuffle, 99, modes[mi], NULL, NULL, &m));
        int nb = compare_iters(h, m, bs, d.row, 4, 1);
        assert_true(nb >= 4);
        mt_data_iter_free(h);
        mt_data_iter_free(m);
      }
  /* Shuffled batches really differ from the file order and between epochs. */
  mt_data_iter *h;
  MT_ASSERT_OK(mt_h5_iter_create(d.path, 37, 1, 3, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &h));
  mt_batch b;
  int64_t first[37];
  assert_int_equal(mt_data_iter_next(h, &b), 1);
  memcpy(first, b.index, sizeof first);
  int moved = 0;
  for (int j = 0; j < 37; j++) moved += first[j] != j;
  assert_true(moved > 20);
  MT_ASSERT_OK(mt_data_iter_reset(h));
  assert_int_equal(mt_data_iter_next(h, &b), 1);
  assert_memory_not_equal(b.index, first, sizeof first);
  mt_data_iter_free(h);
  free_set(&d);
}

/* world ranks' shards, concatenated, are the world = 1 batch. */
static void test_sharding(void **state) {
  (void)state;
  dataset d = make_set("shard.h5", 45, 4, 3);
  const int worlds[] = {2, 4};
  const mt_last_batch modes[] = {MT_LAST_BATCH_PAD, MT_LAST_BATCH_DISCARD, MT_LAST_BATCH_ROLL_OVER};
  for (int wi = 0; wi < 2; wi++)
    for (int mi = 0; mi < 3; mi++) {
      int world = worlds[wi];
      int64_t B = 8, bl = B / world;
      mt_data_iter *full, *rk[4];
      MT_ASSERT_OK(mt_h5_iter_create(d.path, B, 1, 17, modes[mi], 0, 1, NULL, NULL, &full));
      for (int r = 0; r < world; r++) {
        MT_ASSERT_OK(mt_h5_iter_create(d.path, B, 1, 17, modes[mi], r, world, NULL, NULL, &rk[r]));
        int n;
        const mt_data_desc *dd;
        MT_ASSERT_OK(mt_data_iter_provide_data(rk[r], &n, &dd));
        assert_true(mt_shape_equal(&dd[0].shape, &MT_SHAPE(bl, 4)));
        assert_int_equal(mt_data_iter_batch_size(rk[r]), bl);
      }
      int batches = 0, padded = 0;
      for (int epoch = 0; epoch < 3; epoch++) {
        for (;;) {
          mt_batch fb, sb;
          int rf = mt_data_iter_next(full, &fb);
          MT_ASSERT_OK(rf);
          int padsum = 0;
          for (int r = 0; r < world; r++) {
            int rr = mt_data_iter_next(rk[r], &sb);
            MT_ASSERT_OK(rr);
            assert_int_equal(rr, rf);
            if (rf == 0) continue;
            for (int64_t j = 0; j < bl; j++) assert_int_equal(sb.index[j], fb.index[r * bl + j]);
            assert_memory_equal(mt_ndarray_data(sb.data[0]),
                                mt_ndarray_data(fb.data[0]) + r * bl * 4,
                                (size_t)(bl * 4) * sizeof(float));
            assert_memory_equal(mt_ndarray_data(sb.label[0]), mt_ndarray_data(fb.label[0]) + r * bl,
                                (size_t)bl * sizeof(float));
            /* the shard's padding is its part of the global batch's tail */
            int64_t tail = r * bl + bl - (B - fb.pad);
            assert_int_equal(sb.pad, tail < 0 ? 0 : tail > bl ? bl : tail);
            padsum += sb.pad;
          }
          if (rf == 0) break;
          assert_int_equal(padsum, fb.pad);
          padded += fb.pad > 0;
          batches++;
        }
        MT_ASSERT_OK(mt_data_iter_reset(full));
        for (int r = 0; r < world; r++) MT_ASSERT_OK(mt_data_iter_reset(rk[r]));
      }
      assert_true(batches >= 15);
      if (modes[mi] == MT_LAST_BATCH_PAD) assert_int_equal(padded, 3); /* 45 = 5 * 8 + 5 */
      mt_data_iter_free(full);
      for (int r = 0; r < world; r++) mt_data_iter_free(rk[r]);
    }
  free_set(&d);
}

/* Image datasets, /data [N, C, H, W]: written by the project's writer
 * (chunked, in appends) and by h5py the ordinary way (f["data"] = array:
 * contiguous, no attributes), each read back by rows and row lists, and
 * through the iterator: batches (B, C, H, W) equal to the in-memory
 * NDArrayIter's of the same 4-D arrays, and 2 ranks' shards (B / 2, C, H,
 * W) that concatenate to the one-rank batch. */
static void check_image_file(const char *p, int64_t n, int64_t C, int64_t H, int64_t W) {
  int64_t row = C * H * W;
  float *x = pattern_x(n, row), *y = pattern_y(n, 0, 10);
  mtio_h5_reader *r;
  MT_ASSERT_OK(mtio_h5_open(p, &r));
  const mtio_h5_meta *m = mtio_h5_reader_meta(r);
  assert_int_equal(m->ndim, 4);
  assert_int_equal(m->dim[0], n);
  assert_int_equal(m->dim[1], C);
  assert_int_equal(m->dim[2], H);
  assert_int_equal(m->dim[3], W);
  assert_int_equal(m->row, row);
  float *xr = malloc((size_t)(n * row) * sizeof *xr), yr[64];
  MT_ASSERT_OK(mtio_h5_read_range(r, 0, n, xr, yr));
  assert_memory_equal(xr, x, (size_t)(n * row) * sizeof(float));
  assert_memory_equal(yr, y, (size_t)n * sizeof(float));
  const int64_t rows[] = {1, 2, 3, 17, n - 1};
  MT_ASSERT_OK(mtio_h5_read_rows(r, 5, rows, xr, yr));
  for (int j = 0; j < 5; j++) {
    assert_memory_equal(xr + j * row, x + rows[j] * row, (size_t)row * sizeof(float));
    assert_true(yr[j] == y[rows[j]]);
  }
  mtio_h5_close(r);

  mt_ndarray *xa, *ya;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n, C, H, W), mt_cpu(0), &xa));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_cpu(0), &ya));
  MT_ASSERT_OK(mt_ndarray_copy_from(xa, x, n * row));
  MT_ASSERT_OK(mt_ndarray_copy_from(ya, y, n));
  const int64_t B = 6;
  mt_data_iter *h, *mem, *rk[2];
  MT_ASSERT_OK(mt_h5_iter_create(p, B, 1, 5, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &h));
  MT_ASSERT_OK(mt_ndarray_iter_create(xa, ya, B, 1, 5, MT_LAST_BATCH_PAD, NULL, NULL, &mem));
  int nd;
  const mt_data_desc *dd;
  MT_ASSERT_OK(mt_data_iter_provide_data(h, &nd, &dd));
  assert_true(mt_shape_equal(&dd[0].shape, &MT_SHAPE(B, C, H, W)));
  assert_true(compare_iters(h, mem, B, row, 2, 0) >= 2 * (n / B));
  mt_data_iter_free(h); /* a fresh one at epoch 0, as the ranks' */
  MT_ASSERT_OK(mt_h5_iter_create(p, B, 1, 5, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &h));
  for (int k = 0; k < 2; k++) {
    MT_ASSERT_OK(mt_h5_iter_create(p, B, 1, 5, MT_LAST_BATCH_PAD, k, 2, NULL, NULL, &rk[k]));
    MT_ASSERT_OK(mt_data_iter_provide_data(rk[k], &nd, &dd));
    assert_true(mt_shape_equal(&dd[0].shape, &MT_SHAPE(B / 2, C, H, W)));
  }
  int batches = 0;
  for (;;) {
    mt_batch fb, sb[2];
    int rf = mt_data_iter_next(h, &fb);
    MT_ASSERT_OK(rf);
    for (int k = 0; k < 2; k++) assert_int_equal(mt_data_iter_next(rk[k], &sb[k]), rf);
    if (rf == 0) break;
    for (int k = 0; k < 2; k++) {
      mt_shape bs = mt_ndarray_shape(sb[k].data[0]);
      assert_true(mt_shape_equal(&bs, &MT_SHAPE(B / 2, C, H, W)));
      assert_memory_equal(mt_ndarray_data(sb[k].data[0]),
                          mt_ndarray_data(fb.data[0]) + k * (B / 2) * row,
                          (size_t)(B / 2 * row) * sizeof(float));
    }
    batches++;
  }
  assert_int_equal(batches, (n + B - 1) / B);
  for (int k = 0; k < 2; k++) mt_data_iter_free(rk[k]);
  mt_data_iter_free(h);
  mt_data_iter_free(mem);
  mt_ndarray_free(xa);
  mt_ndarray_free(ya);
  free(xr);
  free(x);
  free(y);
}

static void test_image_4d(void **state) {
  (void)state;
  const int64_t n = 29, sdim[3] = {3, 5, 4}; /* [N, C, H, W] */
  const char *p = tpath("img4d.h5");
  write_pattern(p, n, 3, sdim, 0, 10, 8);
  check_image_file(p, n, 3, 5, 4);

  /* h5py, the ordinary way: x[i, c, h, w] = 1000 i + (c H + h) W + w */
  const char *q = tpath("img4d_h5py.h5");
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c 'import h5py, numpy as np\n"
           "n, C, H, W = %lld, 3, 5, 4\n"
           "x = (1000 * np.arange(n)[:, None] + np.arange(C * H * W)[None, :]).astype(\"f4\")\n"
           "with h5py.File(\"%s\", \"w\") as f:\n"
           "    f[\"data\"] = x.reshape(n, C, H, W)\n"
           "    f[\"label\"] = (np.arange(n) %% 10).astype(\"f4\")'",
           (long long)n, q);
  if (system(cmd) != 0)
    fail_msg("/usr/bin/python3 with h5py could not write %s (jobs/setup.sh)", q);
  check_image_file(q, n, 3, 5, 4);
  mtio_h5_reader *r;
  MT_ASSERT_OK(mtio_h5_open(q, &r));
  assert_int_equal(mtio_h5_reader_meta(r)->chunk_rows, 0); /* contiguous: h5py's default */
  assert_int_equal(mtio_h5_reader_meta(r)->num_classes, 0);
  mtio_h5_close(r);
}

/* The prefetch thread: early frees (before any next, after one batch, at
 * the end), resets at every point of an epoch, resets back to back, and
 * two iterators reading the same file at once. Checked against the
 * in-memory iterator after each reset; leaks and races show under ASan. */
static void test_prefetch_resets_and_frees(void **state) {
  (void)state;
  dataset d = make_set("stress.h5", 103, 16, 4);
  for (int k = 0; k < 60; k++) {
    mt_data_iter *h;
    MT_ASSERT_OK(mt_h5_iter_create(d.path, 8, 1, 5, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &h));
    mt_batch b;
    for (int j = 0; j < k % 4; j++) assert_int_equal(mt_data_iter_next(h, &b), 1);
    if (k % 3 == 0) MT_ASSERT_OK(mt_data_iter_reset(h));
    mt_data_iter_free(h); /* with a prefetch in flight or done */
  }
  mt_data_iter *h, *m, *h2;
  MT_ASSERT_OK(mt_h5_iter_create(d.path, 8, 1, 5, MT_LAST_BATCH_ROLL_OVER, 0, 1, NULL, NULL, &h));
  MT_ASSERT_OK(mt_h5_iter_create(d.path, 8, 0, 0, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &h2));
  MT_ASSERT_OK(mt_ndarray_iter_create(d.x, d.y, 8, 1, 5, MT_LAST_BATCH_ROLL_OVER, NULL, NULL, &m));
  for (int round = 0; round < 40; round++) {
    int steps = (round * 7) % 15; /* 0..14 batches, past the 12-13 of an epoch */
    for (int j = 0; j < steps; j++) {
      mt_batch a, b, c;
      int ra = mt_data_iter_next(h, &a), rb = mt_data_iter_next(m, &b);
      MT_ASSERT_OK(ra);
      assert_int_equal(ra, rb);
      if (ra) assert_same_batch(&a, &b, 8, d.row);
      int rc = mt_data_iter_next(h2, &c); /* the other iterator's thread reads too */
      MT_ASSERT_OK(rc);
      if (rc == 0) MT_ASSERT_OK(mt_data_iter_reset(h2));
    }
    int resets = 1 + round % 3; /* back-to-back resets */
    for (int j = 0; j < resets; j++) {
      MT_ASSERT_OK(mt_data_iter_reset(h));
      MT_ASSERT_OK(mt_data_iter_reset(m));
    }
  }
  mt_data_iter_free(h);
  mt_data_iter_free(h2);
  mt_data_iter_free(m);
  free_set(&d);
}

/* ------------------------------------------------- hostile files (issue 14) */

/* A FIFO (or a device) is no dataset file: refused at once by its kind, never
 * opened (a FIFO's open blocks until a writer comes). alarm() turns a
 * regression into a failure instead of a hang. */
static void test_not_regular(void **state) {
  (void)state;
  const char *fifo = tpath("fifo.h5");
  assert_int_equal(mkfifo(fifo, 0600), 0);
  alarm(20);
  expect_open_error(fifo, MT_E_IO, "is a FIFO", "not a regular file");
  expect_open_error("/dev/null", MT_E_IO, "is a character device", "not a regular file");
  alarm(0);
  unlink(fifo);
}

/* /data and /label of shape dims, layout chunked (chunk rows crow) or
 * contiguous (crow 0); rows [w0, w1) written (zeros), the others not. */
static void sparse_file(const char *path, hsize_t n, hsize_t crow, hsize_t w0, hsize_t w1) {
  mtio_h5_lock();
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  for (int i = 0; i < 2; i++) {
    int rank = i == 0 ? 2 : 1;
    hsize_t dims[2] = {n, 2}, chunk[2] = {crow, 2};
    hid_t sp = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (crow) assert_true(H5Pset_chunk(dcpl, rank, chunk) >= 0);
    hid_t d = H5Dcreate2(f, i == 0 ? "data" : "label", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl,
                         H5P_DEFAULT);
    assert_true(d >= 0);
    if (w1 > w0) {
      hsize_t start[2] = {w0, 0}, count[2] = {w1 - w0, 2};
      float *z = calloc((size_t)(w1 - w0) * 2, sizeof *z);
      hid_t ms = H5Screate_simple(rank, count, NULL);
      assert_true(H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL) >= 0);
      assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, ms, sp, H5P_DEFAULT, z) >= 0);
      H5Sclose(ms);
      free(z);
    }
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
  }
  H5Fclose(f);
  mtio_h5_unlock();
}

/* A header declaring rows the file does not hold: 2^40 rows in a file of a
 * few KiB (contiguous or chunked, never written) is an error naming the
 * file at open, from the reader and the iterator alike (no 8 TiB
 * allocation, no "out of memory at h5_iter.c"); a chunk missing in the
 * middle is found by the scan. */
static void test_declared_rows(void **state) {
  (void)state;
  const hsize_t huge = (hsize_t)1 << 40;
  const char *p = tpath("huge_contig.h5");
  sparse_file(p, huge, 0, 0, 0);
  assert_true(file_size(p) < 65536);
  expect_open_error(p, MT_E_FORMAT, "/data declares shape (1099511627776, 2)", "never written");
  p = tpath("huge_chunked.h5");
  sparse_file(p, huge, 1024, 0, 0);
  assert_true(file_size(p) < 65536);
  expect_open_error(p, MT_E_FORMAT, "/data declares shape (1099511627776, 2)",
                    "last row (row 1099511627775) is not in the file");
  /* the first rows written, the rest never */
  p = tpath("head_only.h5");
  sparse_file(p, 4096, 64, 0, 64);
  expect_open_error(p, MT_E_FORMAT, "/data declares shape (4096, 2)", "is not in the file");
  /* first and last chunk written, a hole between: opens, the scan finds it */
  p = tpath("hole.h5");
  sparse_file(p, 4096, 64, 0, 64);
  mtio_h5_lock();
  hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
  for (int i = 0; i < 2; i++) {
    hid_t d = H5Dopen2(f, i == 0 ? "data" : "label", H5P_DEFAULT), sp = H5Dget_space(d);
    hsize_t start[2] = {4032, 0}, count[2] = {64, 2};
    float z[128] = {0};
    hid_t ms = H5Screate_simple(i == 0 ? 2 : 1, count, NULL);
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
    assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, ms, sp, H5P_DEFAULT, z) >= 0);
    H5Sclose(ms);
    H5Sclose(sp);
    H5Dclose(d);
  }
  H5Fclose(f);
  mtio_h5_unlock();
  mtio_h5_reader *r;
  MT_ASSERT_OK(mtio_h5_open(p, &r));
  assert_int_equal(mtio_h5_scan(r, NULL), MT_E_FORMAT);
  assert_msg(p, "/data has 2 of its 64 chunks in the file", "never written", NULL);
  print_message("%s\n", mt_last_error());
  mtio_h5_close(r);
  /* a shape whose bytes overflow int64 */
  raw_spec big = {H5T_IEEE_F32LE, 3, {2, (hsize_t)1 << 40, (hsize_t)1 << 40},
                  H5T_IEEE_F32LE, 1, {2},
                  NO_ATTR,        0, NULL};
  mtio_h5_lock();
  f = H5Fcreate(tpath("overflow.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t chunk[3] = {1, 1, 1};
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 3, chunk);
  hid_t sp = H5Screate_simple(3, big.dd, NULL);
  hid_t d = H5Dcreate2(f, "data", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  assert_true(d >= 0);
  H5Dclose(d);
  H5Sclose(sp);
  H5Pclose(dcpl);
  raw_dataset(f, "label", H5T_IEEE_F32LE, 1, big.ld, NULL);
  H5Fclose(f);
  mtio_h5_unlock();
  expect_open_error(tpath("overflow.h5"), MT_E_FORMAT,
                    "one sample has dim 1 = 1099511627776, past the limit", NULL);
  /* samples within the limit, but so many rows that their bytes overflow int64 */
  mtio_h5_lock();
  f = H5Fcreate(tpath("overflow_rows.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t rows[2] = {(hsize_t)1 << 62, 4}, chunk2[2] = {1, 4};
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 2, chunk2);
  sp = H5Screate_simple(2, rows, NULL);
  d = H5Dcreate2(f, "data", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  assert_true(d >= 0);
  H5Dclose(d);
  H5Sclose(sp);
  H5Pclose(dcpl);
  hsize_t chunk1[1] = {1};
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, chunk1);
  hid_t lsp = H5Screate_simple(1, rows, NULL);
  d = H5Dcreate2(f, "label", H5T_IEEE_F32LE, lsp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  assert_true(d >= 0);
  H5Dclose(d);
  H5Sclose(lsp);
  H5Pclose(dcpl);
  H5Fclose(f);
  mtio_h5_unlock();
  expect_open_error(tpath("overflow_rows.h5"), MT_E_FORMAT, "more than 2^63 bytes", NULL);
}

/* The type in a wrong-type message is numpy's name, or in bytes for a size
 * no numpy type has (a damaged header printed "float33151778848"). */
static void test_dtype_names(void **state) {
  (void)state;
  hid_t f6 = H5Tcopy(H5T_IEEE_F32LE);
  assert_true(H5Tset_size(f6, 6) >= 0); /* float32 bits padded to 6 bytes */
  hid_t i3 = H5Tcopy(H5T_STD_U8LE);
  assert_true(H5Tset_size(i3, 3) >= 0);
  struct {
    hid_t t;
    const char *want;
  } cases[] = {{H5T_STD_I64LE, "/data is int64,"},        {H5T_STD_U32BE, "/data is uint32,"},
               {H5T_STD_U64LE, "/data is uint64,"},       {H5T_STD_I64BE, "/data is int64,"},
               {f6, "/data is a float type of 6 bytes,"}, {i3, "/data is a uint type of 3 bytes,"}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    raw_spec s = {cases[i].t, 2, {4, 3}, H5T_IEEE_F32LE, 1, {4}, NO_ATTR, 0, NULL};
    const char *p = tpath("dtype.h5");
    mtio_h5_lock();
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    raw_dataset(f, "data", s.dt, s.dr, s.dd, NULL);
    raw_dataset(f, "label", s.lt, s.lr, s.ld, NULL);
    H5Fclose(f);
    mtio_h5_unlock();
    expect_open_error(p, MT_E_FORMAT, cases[i].want, "expected float32");
  }
  H5Tclose(f6);
  H5Tclose(i3);
}

/* mtio_h5_scan: every label read once; the first bad one named by file,
 * row (and column) and value. */
static void test_scan_labels(void **state) {
  (void)state;
  const char *p = tpath("scan.h5");
  int64_t n = 3000, D = 3; /* the bad row past the first chunks */
  float *y = pattern_y(n, 0, 10);
  mtio_h5_label_rule rule = {10, 0, -1.0f, "the network's SoftmaxOutput 'sm' has 10 classes"};
  struct {
    float v;
    const char *want;
  } bad[] = {{1.5f, "/label row 2345 is 1.5, not a class index in [0, 10)"},
             {NAN, "/label row 2345 is nan: labels must be finite"},
             {-1.0f, "/label row 2345 is -1, not a class index in [0, 10)"},
             {10.0f, "/label row 2345 is 10, not a class index in [0, 10)"}};
  float *x = calloc((size_t)(n * D), sizeof *x);
  mt_ndarray *xa, *ya;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n, D), mt_cpu(0), &xa));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_cpu(0), &ya));
  MT_ASSERT_OK(mt_ndarray_copy_from(xa, x, n * D));
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    y[2345] = bad[i].v;
    MT_ASSERT_OK(mt_ndarray_copy_from(ya, y, n));
    MT_ASSERT_OK(mt_dataset_write(p, xa, ya, 0, 0, NULL)); /* no num_classes: anything goes */
    mtio_h5_reader *r;
    MT_ASSERT_OK(mtio_h5_open(p, &r));
    assert_int_equal(mtio_h5_scan(r, &rule), MT_E_FORMAT);
    assert_msg(p, bad[i].want, i == 1 ? "" : "(the network's SoftmaxOutput 'sm' has 10 classes)",
               NULL);
    print_message("%s\n", mt_last_error());
    if (i != 1) MT_ASSERT_OK(mtio_h5_scan(r, NULL)); /* finite: fine without a rule */
    /* ignore_label takes -1 */
    rule.use_ignore = 1;
    assert_int_equal(mtio_h5_scan(r, &rule), i == 2 ? MT_OK : MT_E_FORMAT);
    rule.use_ignore = 0;
    mtio_h5_close(r);
  }
  y[2345] = 3;
  MT_ASSERT_OK(mt_ndarray_copy_from(ya, y, n));
  MT_ASSERT_OK(mt_dataset_write(p, xa, ya, 10, 0, NULL));
  mtio_h5_reader *r;
  MT_ASSERT_OK(mtio_h5_open(p, &r));
  MT_ASSERT_OK(mtio_h5_scan(r, &rule));
  rule.classes = 3; /* a network with fewer outputs than the file's classes */
  assert_int_equal(mtio_h5_scan(r, &rule), MT_E_FORMAT);
  assert_msg(p, "/label row 3 is 3, not a class index in [0, 3)", NULL);
  mtio_h5_close(r);
  /* [N, k] labels: non-finite named by row and column, across scan blocks */
  int64_t k = 600, n2 = 2000; /* 1.2M floats: two blocks of 1747 rows */
  float *yk = calloc((size_t)(n2 * k), sizeof *yk);
  yk[1800 * k + 7] = INFINITY;
  mt_ndarray *xb, *yb;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n2, 1), mt_cpu(0), &xb));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n2, k), mt_cpu(0), &yb));
  MT_ASSERT_OK(mt_ndarray_copy_from(yb, yk, n2 * k));
  MT_ASSERT_OK(mt_dataset_write(p, xb, yb, 0, 0, NULL));
  MT_ASSERT_OK(mtio_h5_open(p, &r));
  assert_int_equal(mtio_h5_scan(r, NULL), MT_E_FORMAT);
  assert_msg(p, "/label row 1800 column 7 is inf", NULL);
  mtio_h5_close(r);
  mt_ndarray_free(xa);
  mt_ndarray_free(ya);
  mt_ndarray_free(xb);
  mt_ndarray_free(yb);
  free(yk);
  free(x);
  free(y);
}

/* The iterator's memory, sized from the file, is checked against the
 * machine's before anything is allocated; the error names the file. */
static void test_iter_memory_bound(void **state) {
  (void)state;
  assert_int_equal(mt_h5_iter_check_memory("big.h5", (int64_t)1 << 40, 32, 1, 2, 1), MT_E_NOMEM);
  assert_msg("big.h5", "1099511627776 samples", "GiB", "more than this machine's", NULL);
  print_message("%s\n", mt_last_error());
  assert_int_equal(mt_h5_iter_check_memory("wide.h5", 100, 64, 2, (int64_t)1 << 40, 1), MT_E_NOMEM);
  assert_msg("wide.h5", NULL);
  MT_ASSERT_OK(mt_h5_iter_check_memory("small.h5", 1000000, 256, 4, 784, 1));
}

/* ------------------------------------------------- users' files (issue 18) */

/* One h5py file per /data dtype x layout (contiguous; chunks of 7 rows;
 * gzip + shuffle + Fletcher32 chunks of 7 rows), labels int64 / uint8 /
 * float64: x[i, c, h, w] = (7 i + 3 (c H + h) W + w) % 100 (fits every
 * dtype), y = i % 10. Each read back as float32 exactly; through the
 * iterator (cache none with windows of 1 and of several batches, memory,
 * auto) with scale and per-channel mean/std, the same batches as the
 * in-memory NDArrayIter of the converted arrays, for 3 shuffled epochs, on
 * 1 rank and as 2 ranks' shards; an iterator that skips to epoch 2 (as a
 * resume does) gives epoch 2's batches. */
static void test_dtypes_layouts(void **state) {
  (void)state;
  const int64_t n = 53, C = 3, H = 2, W = 2, row = C * H * W;
  const char *dtypes[] = {"f4", "f8", "u1", "i1", "u2", "i2", "i4"};
  const mtio_dtype want[] = {MTIO_F32, MTIO_F64, MTIO_U8, MTIO_I8, MTIO_U16, MTIO_I16, MTIO_I32};
  const char *layouts[] = {"{}", "{\"chunks\": (7, 3, 2, 2)}",
                           "{\"chunks\": (7, 3, 2, 2), \"compression\": \"gzip\", \"shuffle\": "
                           "True, \"fletcher32\": True}"};
  const char *ltypes[] = {"i8", "u1", "f8"};
  float *x = malloc((size_t)(n * row) * sizeof *x), y[53];
  for (int64_t i = 0; i < n; i++) {
    y[i] = (float)(i % 10);
    for (int64_t e = 0; e < row; e++) x[i * row + e] = (float)((7 * i + 3 * e) % 100);
  }
  mt_h5_iter_opts o;
  mt_h5_iter_opts_init(&o);
  o.scale = 0.5f;
  o.nmean = 3;
  o.mean[0] = 10, o.mean[1] = 20, o.mean[2] = 30;
  o.nstd = 1;
  o.std[0] = 4;
  float *xn = malloc((size_t)(n * row) * sizeof *xn);
  for (int64_t i = 0; i < n * row; i++) {
    int64_t c = (i % row) / (H * W);
    xn[i] = (x[i] - o.mean[c]) * (o.scale / o.std[0]);
  }
  mt_ndarray *xa, *ya;
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n, C, H, W), mt_cpu(0), &xa));
  MT_ASSERT_OK(mt_ndarray_create(MT_SHAPE(n), mt_cpu(0), &ya));
  MT_ASSERT_OK(mt_ndarray_copy_from(xa, xn, n * row));
  MT_ASSERT_OK(mt_ndarray_copy_from(ya, y, n));
  float *xr = malloc((size_t)(n * row) * sizeof *xr), yr[53];
  for (int di = 0; di < 7; di++)
    for (int li = 0; li < 3; li++) {
      const char *p = tpath("dl.h5");
      char cmd[2048];
      snprintf(cmd, sizeof cmd,
               "/usr/bin/python3 -c 'import h5py, numpy as np\n"
               "n, C, H, W = %lld, 3, 2, 2\n"
               "i = np.arange(n)[:, None]; e = np.arange(C * H * W)[None, :]\n"
               "x = ((7 * i + 3 * e) %% 100).astype(\"%s\").reshape(n, C, H, W)\n"
               "with h5py.File(\"%s\", \"w\") as f:\n"
               "    f.create_dataset(\"data\", data=x, **%s)\n"
               "    f.create_dataset(\"label\", data=(np.arange(n) %% 10).astype(\"%s\"))'",
               (long long)n, dtypes[di], p, layouts[li], ltypes[li]);
      if (system(cmd) != 0) fail_msg("/usr/bin/python3 with h5py could not write %s", p);
      mtio_h5_reader *r;
      MT_ASSERT_OK(mtio_h5_open(p, &r));
      const mtio_h5_meta *m = mtio_h5_reader_meta(r);
      assert_int_equal(m->dtype, want[di]);
      assert_int_equal(m->layout, li == 0 ? MTIO_CONTIGUOUS : MTIO_CHUNKED);
      assert_int_equal(m->chunk_rows, li == 0 ? 0 : 7);
      if (li == 2) assert_non_null(strstr(m->filters, "gzip"));
      MT_ASSERT_OK(mtio_h5_read_range(r, 0, n, xr, yr));
      assert_memory_equal(xr, x, (size_t)(n * row) * sizeof(float));
      assert_memory_equal(yr, y, (size_t)n * sizeof(float));
      mtio_h5_close(r);

      const struct {
        mt_h5_cache cache;
        int64_t bytes;
      } modes[] = {{MT_H5_CACHE_NONE, 1}, /* windows of one batch */
                   {MT_H5_CACHE_NONE, 8 * 3 * row * 8},
                   {MT_H5_CACHE_MEMORY, 0},
                   {MT_H5_CACHE_AUTO, 0}};
      for (int mi = 0; mi < 4; mi++) {
        o.cache = modes[mi].cache;
        o.cache_bytes = modes[mi].bytes;
        const int64_t B = 8;
        mt_data_iter *h, *mem, *rk[2], *sh;
        MT_ASSERT_OK(
            mt_h5_iter_create_opts(p, B, 1, 11, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &o, &h));
        MT_ASSERT_OK(mt_ndarray_iter_create(xa, ya, B, 1, 11, MT_LAST_BATCH_PAD, NULL, NULL, &mem));
        assert_true(compare_iters(h, mem, B, row, 3, 0) >= 3 * (n / B));
        mt_data_iter_free(h);
        /* 2 ranks: each the in-memory iterator's shard */
        MT_ASSERT_OK(mt_data_iter_reset(mem));
        for (int k = 0; k < 2; k++)
          MT_ASSERT_OK(
              mt_h5_iter_create_opts(p, B, 1, 11, MT_LAST_BATCH_PAD, k, 2, NULL, NULL, &o, &rk[k]));
        mt_data_iter_free(mem);
        MT_ASSERT_OK(mt_ndarray_iter_create(xa, ya, B, 1, 11, MT_LAST_BATCH_PAD, NULL, NULL, &mem));
        for (int k = 0; k < 2; k++) {
          mt_data_iter *m2;
          MT_ASSERT_OK(
              mt_ndarray_iter_create(xa, ya, B, 1, 11, MT_LAST_BATCH_PAD, NULL, NULL, &m2));
          MT_ASSERT_OK(mt_data_iter_shard(m2, k, 2, &sh));
          assert_true(compare_iters(rk[k], sh, B / 2, row, 2, 0) >= 2 * (n / B));
          mt_data_iter_free(sh);
          mt_data_iter_free(rk[k]);
        }
        /* resume: a fresh iterator moved to epoch 2 by resets */
        MT_ASSERT_OK(
            mt_h5_iter_create_opts(p, B, 1, 11, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &o, &h));
        for (int e = 0; e < 2; e++) {
          MT_ASSERT_OK(mt_data_iter_reset(h));
          MT_ASSERT_OK(mt_data_iter_reset(mem));
        }
        assert_true(compare_iters(h, mem, B, row, 1, 0) >= n / B);
        char info[1024];
        MT_ASSERT_OK(mt_h5_iter_info(h, info, sizeof info, NULL));
        assert_non_null(strstr(info, mtio_dtype_name(want[di])));
        assert_non_null(strstr(info, modes[mi].cache == MT_H5_CACHE_NONE ? "streamed" : "memory"));
        mt_data_iter_free(h);
        mt_data_iter_free(mem);
      }
    }
  /* mean / std that do not fit axis 1 */
  o.cache = MT_H5_CACHE_NONE;
  o.nmean = 2;
  mt_data_iter *h = NULL;
  assert_int_equal(
      mt_h5_iter_create_opts(tpath("dl.h5"), 8, 1, 1, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &o, &h),
      MT_E_INVAL);
  assert_msg("mean has 2 values", "axis 1 has 3", NULL);
  assert_null(h);
  mt_ndarray_free(xa);
  mt_ndarray_free(ya);
  free(x);
  free(xn);
  free(xr);
}

/* A chunked file read in windows: each band of chunks is read once per
 * window, never more (bytes read / bytes used at most what whole bands
 * give), and the warning with the fix appears when the expected cost is
 * high. */
static void test_window_amplification(void **state) {
  (void)state;
  const char *p = tpath("amp.h5");
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c 'import h5py, numpy as np\n"
           "x = np.arange(4000 * 16, dtype=\"f4\").reshape(4000, 16)\n"
           "with h5py.File(\"%s\", \"w\") as f:\n"
           "    f.create_dataset(\"data\", data=x, chunks=(500, 16), compression=\"gzip\")\n"
           "    f[\"label\"] = (np.arange(4000) %% 10).astype(\"f4\")'",
           p);
  if (system(cmd) != 0) fail_msg("/usr/bin/python3 with h5py could not write %s", p);
  mt_h5_iter_opts o;
  mt_h5_iter_opts_init(&o);
  o.cache_bytes = 40 * 16 * 4 * 20; /* windows of 20 batches of 40 */
  mt_data_iter *h;
  MT_ASSERT_OK(mt_h5_iter_create_opts(p, 40, 1, 3, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &o, &h));
  mt_batch b;
  int rc, nb = 0;
  while ((rc = mt_data_iter_next(h, &b)) == 1) nb++;
  MT_ASSERT_OK(rc);
  assert_int_equal(nb, 100);
  char info[2048];
  int warn;
  MT_ASSERT_OK(mt_h5_iter_info(h, info, sizeof info, &warn));
  print_message("%s\n", info);
  assert_true(warn); /* 800-row windows over 500-row chunks: about 5x */
  assert_non_null(strstr(info, "h5repack -l data:CHRK=1x16"));
  assert_non_null(strstr(info, "cache = memory"));
  mt_data_iter_free(h);
  /* 5 windows of 8 bands read at most once each: 5 * 4000 rows at most */
  mtio_h5_reader *r;
  MT_ASSERT_OK(mtio_h5_open(p, &r));
  int64_t rows[800];
  for (int i = 0; i < 800; i++) rows[i] = i * 5; /* every band */
  float *xr = malloc(800 * 16 * sizeof *xr);
  MT_ASSERT_OK(mtio_h5_read_rows_raw(r, 800, rows, xr));
  for (int i = 0; i < 800; i++) assert_true(xr[i * 16 + 3] == (float)(rows[i] * 16 + 3));
  int64_t rd, used;
  mtio_h5_io_counters(r, &rd, &used);
  assert_int_equal(rd, 4000 * 16 * 4); /* each band once */
  assert_int_equal(used, 800 * 16 * 4);
  free(xr);
  mtio_h5_close(r);
  /* in memory: no warning */
  o.cache = MT_H5_CACHE_MEMORY;
  MT_ASSERT_OK(mt_h5_iter_create_opts(p, 40, 1, 3, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &o, &h));
  MT_ASSERT_OK(mt_h5_iter_info(h, info, sizeof info, &warn));
  assert_false(warn);
  mt_data_iter_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_2d),
      cmocka_unit_test(test_roundtrip_3d_k_labels),
      cmocka_unit_test(test_read_rows),
      cmocka_unit_test(test_error_table),
      cmocka_unit_test(test_h5py_utf8_text_attr),
      cmocka_unit_test(test_truncated_corrupted),
      cmocka_unit_test(test_bad_labels),
      cmocka_unit_test(test_writer_and_iter_args),
      cmocka_unit_test(test_check_macro),
      cmocka_unit_test(test_synth),
      cmocka_unit_test(test_synthetic_range),
      cmocka_unit_test(test_synth_usage),
      cmocka_unit_test(test_iter_equals_ndarray_iter),
      cmocka_unit_test(test_sharding),
      cmocka_unit_test(test_image_4d),
      cmocka_unit_test(test_prefetch_resets_and_frees),
      cmocka_unit_test(test_not_regular),
      cmocka_unit_test(test_declared_rows),
      cmocka_unit_test(test_dtype_names),
      cmocka_unit_test(test_scan_labels),
      cmocka_unit_test(test_iter_memory_bound),
      cmocka_unit_test(test_dtypes_layouts),
      cmocka_unit_test(test_window_amplification),
  };
  return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
