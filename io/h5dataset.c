/* h5dataset.c — dataset files (docs/design.md §6): the writer (create, append
 * rows, commit by rename) and the validating reader (row ranges and sorted
 * row lists by hyperslab reads). Layout and guarantees: io/h5dataset.h.
 *
 * Reads of row lists: each run of consecutive rows is one H5Dread of a
 * simple hyperslab. HDF5 1.10's union selections (H5S_SELECT_OR of one
 * block per row) measured 10-35k rows/s on 784-float rows, one read per run
 * about 300k rows/s, so runs are read one by one. */
#include "io/h5dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/shape.h"
#include "io/h5_check.h"

/* ------------------------------------------------------------ the lock */

static pthread_mutex_t h5_mutex;
static pthread_once_t h5_once = PTHREAD_ONCE_INIT;

static void h5_lock_init(void) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&h5_mutex, &a);
  pthread_mutexattr_destroy(&a);
}

void mtio_h5_lock(void) {
  pthread_once(&h5_once, h5_lock_init);
  pthread_mutex_lock(&h5_mutex);
  mtio_h5_quiet();
}

void mtio_h5_unlock(void) { pthread_mutex_unlock(&h5_mutex); }

static void close_id(hid_t id, herr_t (*fn)(hid_t)) {
  if (id >= 0) fn(id);
}

/* ------------------------------------------------------------ attributes */

static int write_attr(hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                      const void *value) {
  int rc = MT_OK;
  hid_t sp = -1, a = -1;
  MT_CHECK_H5_GOTO(sp = H5Screate(H5S_SCALAR), rc, done);
  MT_CHECK_H5_GOTO(a = H5Acreate2(loc, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT), rc, done);
  MT_CHECK_H5_GOTO(H5Awrite(a, mem_type, value), rc, done);
done:
  close_id(a, H5Aclose);
  close_id(sp, H5Sclose);
  return rc;
}

static int write_attr_str(hid_t loc, const char *name, const char *value) {
  int rc = MT_OK;
  hid_t t = -1;
  MT_CHECK_H5_GOTO(t = H5Tcopy(H5T_C_S1), rc, done);
  MT_CHECK_H5_GOTO(H5Tset_size(t, strlen(value) + 1), rc, done);
  MT_CHECK_H5_GOTO(H5Tset_strpad(t, H5T_STR_NULLTERM), rc, done);
  rc = write_attr(loc, name, t, t, value);
done:
  close_id(t, H5Tclose);
  return rc;
}

/* Reads an optional scalar integer attribute: 1 if present (value set), 0 if
 * absent, < 0 on error (not an integer, not one value). */
static int read_attr_int(hid_t loc, const char *path, const char *name, int is_unsigned,
                         void *value) {
  htri_t e;
  MT_CHECK_H5(e = H5Aexists(loc, name));
  if (!e) return 0;
  int rc = 1;
  hid_t a = -1, t = -1, sp = -1;
  MT_CHECK_H5_GOTO(a = H5Aopen(loc, name, H5P_DEFAULT), rc, done);
  MT_CHECK_H5_GOTO(t = H5Aget_type(a), rc, done);
  MT_CHECK_H5_GOTO(sp = H5Aget_space(a), rc, done);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  if (H5Tget_class(t) != H5T_INTEGER || n != 1) {
    rc = mt_error_set(MT_E_FORMAT, "%s: attribute '%s' must be one integer", path, name);
    goto done;
  }
  MT_CHECK_H5_GOTO(H5Aread(a, is_unsigned ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64, value), rc, done);
done:
  close_id(sp, H5Sclose);
  close_id(t, H5Tclose);
  close_id(a, H5Aclose);
  return rc;
}

/* Reads an optional string attribute into buf (truncated to len - 1). */
static int read_attr_str(hid_t loc, const char *path, const char *name, char *buf, size_t len) {
  buf[0] = '\0';
  htri_t e;
  MT_CHECK_H5(e = H5Aexists(loc, name));
  if (!e) return 0;
  int rc = 1;
  hid_t a = -1, t = -1, mt = -1;
  char *tmp = NULL;
  MT_CHECK_H5_GOTO(a = H5Aopen(loc, name, H5P_DEFAULT), rc, done);
  MT_CHECK_H5_GOTO(t = H5Aget_type(a), rc, done);
  if (H5Tget_class(t) != H5T_STRING) {
    rc = mt_error_set(MT_E_FORMAT, "%s: attribute '%s' must be a string", path, name);
    goto done;
  }
  htri_t vlen = H5Tis_variable_str(t);
  MT_CHECK_H5_GOTO(vlen, rc, done);
  MT_CHECK_H5_GOTO(mt = H5Tcopy(H5T_C_S1), rc, done);
  /* h5py writes UTF-8 text; HDF5 converts no ASCII <-> UTF-8 */
  MT_CHECK_H5_GOTO(H5Tset_cset(mt, H5Tget_cset(t)), rc, done);
  if (vlen) { /* h5py writes variable-length strings */
    MT_CHECK_H5_GOTO(H5Tset_size(mt, H5T_VARIABLE), rc, done);
    char *s = NULL;
    MT_CHECK_H5_GOTO(H5Aread(a, mt, &s), rc, done);
    snprintf(buf, len, "%s", s ? s : "");
    H5free_memory(s);
  } else {
    size_t n = H5Tget_size(t);
    tmp = calloc(n + 1, 1);
    if (!tmp) {
      rc = mt_error_set(MT_E_NOMEM, "%s: out of memory reading attribute '%s'", path, name);
      goto done;
    }
    MT_CHECK_H5_GOTO(H5Tset_size(mt, n + 1), rc, done);
    MT_CHECK_H5_GOTO(H5Aread(a, mt, tmp), rc, done);
    snprintf(buf, len, "%s", tmp);
  }
done:
  free(tmp);
  close_id(mt, H5Tclose);
  close_id(t, H5Tclose);
  close_id(a, H5Aclose);
  return rc;
}

/* File access: the sec2 driver, and HDF5's file locks where the file
 * system has them (shared file systems without flock are not an error). */
static int make_fapl(hid_t *out) {
  MT_CHECK_H5(*out = H5Pcreate(H5P_FILE_ACCESS));
#if H5_VERSION_GE(1, 10, 7)
  if (H5Pset_file_locking(*out, 1, 1) < 0) {
    int rc = mtio_h5_fail("H5Pset_file_locking", __FILE__, __LINE__);
    H5Pclose(*out);
    *out = -1;
    return rc;
  }
#endif
  return MT_OK;
}

/* ------------------------------------------------------------ labels */

/* Checks [N] labels of a class set: integers in [0, num_classes). `first` is
 * the file row of y[0]; rows (if not NULL) gives the file row of each. */
static int check_labels(const char *path, int64_t num_classes, int64_t n, const float *y,
                        int64_t first, const int64_t *rows) {
  for (int64_t i = 0; i < n; i++) {
    float v = y[i];
    if (v >= 0.0f && v < (float)num_classes && v == floorf(v)) continue;
    return mt_error_set(MT_E_FORMAT,
                        "%s: /label row %lld is %g, not a class index in [0, %lld) "
                        "(num_classes = %lld)",
                        path, (long long)(rows ? rows[i] : first + i), (double)v,
                        (long long)num_classes, (long long)num_classes);
  }
  return MT_OK;
}

/* ------------------------------------------------------------ writer */

struct mtio_h5_writer {
  char *path, *tmp;
  hid_t file, data, label;
  int ndim;                /* /data rank */
  hsize_t dim[MT_MAX_DIM]; /* current /data extent */
  int label_ndim;
  hsize_t label_dim[2];
  int64_t row, label_row, num_classes;
};

/* Rows per chunk: about MTIO_H5_CHUNK_BYTES, at least 1. */
static hsize_t chunk_rows(int64_t row_floats) {
  int64_t r = MTIO_H5_CHUNK_BYTES / (row_floats * (int64_t)sizeof(float));
  return r < 1 ? 1 : (hsize_t)r;
}

static int create_dataset(hid_t file, const char *name, int ndim, const hsize_t *dim, int64_t row,
                          hid_t *out) {
  int rc = MT_OK;
  hid_t sp = -1, dcpl = -1;
  hsize_t maxdim[MT_MAX_DIM], chunk[MT_MAX_DIM];
  for (int i = 0; i < ndim; i++) {
    maxdim[i] = i == 0 ? H5S_UNLIMITED : dim[i];
    chunk[i] = i == 0 ? chunk_rows(row) : dim[i];
  }
  MT_CHECK_H5_GOTO(sp = H5Screate_simple(ndim, dim, maxdim), rc, done);
  MT_CHECK_H5_GOTO(dcpl = H5Pcreate(H5P_DATASET_CREATE), rc, done);
  MT_CHECK_H5_GOTO(H5Pset_chunk(dcpl, ndim, chunk), rc, done);
  MT_CHECK_H5_GOTO(H5Pset_fletcher32(dcpl), rc, done);
  /* No modification times in the headers: the same rows give the same file. */
  MT_CHECK_H5_GOTO(H5Pset_obj_track_times(dcpl, 0), rc, done);
  MT_CHECK_H5_GOTO(*out =
                       H5Dcreate2(file, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                   rc, done);
done:
  close_id(dcpl, H5Pclose);
  close_id(sp, H5Sclose);
  return rc;
}

static void writer_release(mtio_h5_writer *w, int remove_tmp) {
  close_id(w->data, H5Dclose);
  close_id(w->label, H5Dclose);
  close_id(w->file, H5Fclose);
  w->data = w->label = w->file = -1;
  if (remove_tmp && w->tmp) unlink(w->tmp);
  free(w->path);
  free(w->tmp);
  free(w);
}

int mtio_h5_writer_create(const char *path, int sample_ndim, const int64_t *sample_dim, int label_k,
                          int64_t num_classes, uint64_t seed, const char *generator,
                          mtio_h5_writer **out) {
  if (!out) return mt_error_set(MT_E_INVAL, "dataset writer: NULL output pointer");
  *out = NULL;
  if (!path || !path[0]) return mt_error_set(MT_E_INVAL, "dataset writer: empty path");
  if (sample_ndim < 1 || sample_ndim > MT_MAX_DIM - 1 || !sample_dim)
    return mt_error_set(MT_E_INVAL,
                        "%s: a sample must have 1 to %d dims (got %d), as /data is [N, d1, ...]",
                        path, MT_MAX_DIM - 1, sample_ndim);
  int64_t row = 1;
  for (int i = 0; i < sample_ndim; i++) {
    if (sample_dim[i] < 1 || sample_dim[i] > INT64_MAX / 4 / row)
      return mt_error_set(MT_E_INVAL, "%s: sample dim %d is %lld; dims must be >= 1", path, i,
                          (long long)sample_dim[i]);
    row *= sample_dim[i];
  }
  if (row > (int64_t)(UINT32_MAX / sizeof(float)))
    return mt_error_set(MT_E_INVAL, "%s: a sample of %lld floats exceeds HDF5's 4 GiB chunk limit",
                        path, (long long)row);
  if (label_k < 0)
    return mt_error_set(MT_E_INVAL, "%s: label width %d must be 0 ([N] labels) or >= 1 ([N, k])",
                        path, label_k);
  if (num_classes < 0)
    return mt_error_set(MT_E_INVAL, "%s: num_classes %lld must be >= 0", path,
                        (long long)num_classes);

  mtio_h5_writer *w = calloc(1, sizeof *w);
  if (!w) return mt_error_set(MT_E_NOMEM, "%s: out of memory", path);
  w->file = w->data = w->label = -1;
  w->path = strdup(path);
  size_t tlen = strlen(path) + 32;
  w->tmp = malloc(tlen);
  if (!w->path || !w->tmp) {
    writer_release(w, 0);
    return mt_error_set(MT_E_NOMEM, "%s: out of memory", path);
  }
  snprintf(w->tmp, tlen, "%s.tmp-%ld", path, (long)getpid());
  w->ndim = sample_ndim + 1;
  w->dim[0] = 0;
  for (int i = 0; i < sample_ndim; i++) w->dim[i + 1] = (hsize_t)sample_dim[i];
  w->label_ndim = label_k ? 2 : 1;
  w->label_dim[0] = 0;
  w->label_dim[1] = (hsize_t)label_k;
  w->row = row;
  w->label_row = label_k ? label_k : 1;
  w->num_classes = num_classes;

  int rc = MT_OK;
  hid_t fapl = -1, fcpl = -1;
  int64_t version = MTIO_H5_FORMAT_VERSION;
  /* The plain reason (a missing directory, no permission) before HDF5's. */
  int fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    rc = mt_error_set(MT_E_IO, "%s: cannot create the dataset file: %s: %s", path, w->tmp,
                      strerror(errno));
    writer_release(w, 0);
    return rc;
  }
  close(fd);
  mtio_h5_lock();
  /* The 1.10 format: checksummed superblock, object headers and chunk index. */
  MT_TRY_GOTO(make_fapl(&fapl), rc, fail);
  MT_CHECK_H5_GOTO(H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), rc, fail);
  MT_CHECK_H5_GOTO(fcpl = H5Pcreate(H5P_FILE_CREATE), rc, fail);
  MT_CHECK_H5_GOTO(H5Pset_obj_track_times(fcpl, 0), rc, fail);
  MT_CHECK_H5_GOTO(w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, fcpl, fapl), rc, fail);
  MT_TRY_GOTO(create_dataset(w->file, "data", w->ndim, w->dim, w->row, &w->data), rc, fail);
  MT_TRY_GOTO(
      create_dataset(w->file, "label", w->label_ndim, w->label_dim, w->label_row, &w->label), rc,
      fail);
  MT_TRY_GOTO(write_attr(w->file, "format_version", H5T_STD_I64LE, H5T_NATIVE_INT64, &version), rc,
              fail);
  MT_TRY_GOTO(write_attr(w->file, "num_classes", H5T_STD_I64LE, H5T_NATIVE_INT64, &num_classes), rc,
              fail);
  MT_TRY_GOTO(write_attr(w->file, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &seed), rc, fail);
  if (generator && generator[0])
    MT_TRY_GOTO(write_attr_str(w->file, "generator", generator), rc, fail);
  close_id(fapl, H5Pclose);
  close_id(fcpl, H5Pclose);
  mtio_h5_unlock();
  *out = w;
  return MT_OK;
fail:
  close_id(fapl, H5Pclose);
  close_id(fcpl, H5Pclose);
  writer_release(w, 1);
  mtio_h5_unlock();
  return mt_error_prefix(rc, "%s: cannot create the dataset file", path);
}

int mtio_h5_writer_attr_int(mtio_h5_writer *w, const char *name, int64_t value) {
  if (!w || !name || !name[0]) return mt_error_set(MT_E_INVAL, "dataset writer: bad attribute");
  mtio_h5_lock();
  int rc = write_attr(w->file, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
  mtio_h5_unlock();
  return rc < 0 ? mt_error_prefix(rc, "%s: attribute '%s'", w->path, name) : MT_OK;
}

/* Grows `d` (ndim dims, extent dim) by nrows and writes buf into the new rows. */
static int append_rows(hid_t d, int ndim, hsize_t *dim, int64_t nrows, const float *buf) {
  int rc = MT_OK;
  hid_t fs = -1, ms = -1;
  hsize_t start[MT_MAX_DIM] = {0}, count[MT_MAX_DIM];
  start[0] = dim[0];
  count[0] = (hsize_t)nrows;
  for (int i = 1; i < ndim; i++) count[i] = dim[i];
  hsize_t newdim[MT_MAX_DIM];
  memcpy(newdim, dim, (size_t)ndim * sizeof *dim);
  newdim[0] += (hsize_t)nrows;
  MT_CHECK_H5_GOTO(H5Dset_extent(d, newdim), rc, done);
  dim[0] = newdim[0];
  MT_CHECK_H5_GOTO(fs = H5Dget_space(d), rc, done);
  MT_CHECK_H5_GOTO(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL), rc, done);
  MT_CHECK_H5_GOTO(ms = H5Screate_simple(ndim, count, NULL), rc, done);
  MT_CHECK_H5_GOTO(H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, buf), rc, done);
done:
  close_id(ms, H5Sclose);
  close_id(fs, H5Sclose);
  return rc;
}

int mtio_h5_writer_append(mtio_h5_writer *w, int64_t nrows, const float *x, const float *y) {
  if (!w) return mt_error_set(MT_E_INVAL, "dataset writer: NULL writer");
  if (nrows < 0 || (nrows > 0 && (!x || !y)))
    return mt_error_set(MT_E_INVAL, "%s: append of %lld rows needs data and labels", w->path,
                        (long long)nrows);
  if (nrows == 0) return MT_OK;
  int64_t first = (int64_t)w->dim[0];
  if (w->num_classes > 0 && w->label_ndim == 1)
    MT_TRY(check_labels(w->path, w->num_classes, nrows, y, first, NULL));
  mtio_h5_lock();
  int rc = append_rows(w->data, w->ndim, w->dim, nrows, x);
  if (rc == MT_OK) rc = append_rows(w->label, w->label_ndim, w->label_dim, nrows, y);
  mtio_h5_unlock();
  if (rc < 0)
    return mt_error_prefix(rc, "%s: appending rows [%lld, %lld)", w->path, (long long)first,
                           (long long)(first + nrows));
  return MT_OK;
}

int64_t mtio_h5_writer_rows(const mtio_h5_writer *w) { return w ? (int64_t)w->dim[0] : 0; }

/* fsync of a file or directory by name (a directory: its entries). */
static int fsync_path(const char *p, int dir) {
  int fd = open(p, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return -1;
  int r = fsync(fd);
  close(fd);
  return r;
}

int mtio_h5_writer_close(mtio_h5_writer *w) {
  if (!w) return mt_error_set(MT_E_INVAL, "dataset writer: NULL writer");
  int rc = MT_OK;
  mtio_h5_lock();
  if (w->data >= 0 && H5Dclose(w->data) < 0 && rc == MT_OK)
    rc = mtio_h5_fail("H5Dclose(data)", __FILE__, __LINE__);
  if (w->label >= 0 && H5Dclose(w->label) < 0 && rc == MT_OK)
    rc = mtio_h5_fail("H5Dclose(label)", __FILE__, __LINE__);
  if (w->file >= 0 && H5Fclose(w->file) < 0 && rc == MT_OK)
    rc = mtio_h5_fail("H5Fclose(file)", __FILE__, __LINE__);
  w->data = w->label = w->file = -1;
  mtio_h5_unlock();
  if (rc == MT_OK && fsync_path(w->tmp, 0) != 0)
    rc = mt_error_set(MT_E_IO, "fsync of %s: %s", w->tmp, strerror(errno));
  if (rc == MT_OK && rename(w->tmp, w->path) != 0)
    rc = mt_error_set(MT_E_IO, "rename of %s to %s: %s", w->tmp, w->path, strerror(errno));
  if (rc == MT_OK) {
    /* The directory entry: a crash after close returned keeps the file. */
    char *dir = strdup(w->path);
    if (dir) {
      char *slash = strrchr(dir, '/');
      const char *d = slash ? (slash == dir ? "/" : (*slash = '\0', dir)) : ".";
      fsync_path(d, 1); /* best effort: some file systems refuse directory fsync */
      free(dir);
    }
    writer_release(w, 0);
    return MT_OK;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s", w->path);
  writer_release(w, 1);
  return mt_error_prefix(rc, "%s: cannot complete the dataset file", path);
}

void mtio_h5_writer_abort(mtio_h5_writer *w) {
  if (!w) return;
  mtio_h5_lock();
  writer_release(w, 1);
  mtio_h5_unlock();
}

/* ------------------------------------------------------------ reader */

struct mtio_h5_reader {
  char *path;
  int64_t file_size; /* bytes, at open */
  hid_t file, data, label;
  hid_t dspace, lspace; /* file dataspaces, reused for the selections */
  hid_t dmem;           /* /data's native memory type (meta.dtype) */
  mtio_h5_meta meta;
  int fd;               /* meta.direct: the file, for pread */
  int64_t offset;       /* meta.direct: /data's address in the file */
  void *band;           /* chunked: one band of chunk_rows rows (raw) */
  int64_t nread, nused; /* raw reads: bytes from storage, bytes returned */
};

const char *mtio_dtype_name(mtio_dtype t) {
  static const char *n[] = {"float32", "float64", "uint8", "int8", "uint16", "int16", "int32"};
  return (unsigned)t < 7 ? n[t] : "?";
}

int mtio_dtype_size(mtio_dtype t) {
  static const int z[] = {4, 8, 1, 1, 2, 2, 4};
  return (unsigned)t < 7 ? z[t] : 0;
}

static hid_t dtype_native(mtio_dtype t) {
  switch (t) {
  case MTIO_F64: return H5T_NATIVE_DOUBLE;
  case MTIO_U8: return H5T_NATIVE_UINT8;
  case MTIO_I8: return H5T_NATIVE_INT8;
  case MTIO_U16: return H5T_NATIVE_UINT16;
  case MTIO_I16: return H5T_NATIVE_INT16;
  case MTIO_I32: return H5T_NATIVE_INT32;
  default: return H5T_NATIVE_FLOAT;
  }
}

/* /data's element types: 0 and *out set, or -1. */
static int data_dtype(hid_t t, mtio_dtype *out) {
  size_t z = H5Tget_size(t);
  H5T_class_t c = H5Tget_class(t);
  int u = c == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_NONE;
  if (c == H5T_FLOAT && (z == 4 || z == 8)) {
    *out = z == 4 ? MTIO_F32 : MTIO_F64;
    return 0;
  }
  if (c != H5T_INTEGER) return -1;
  if (z == 1) *out = u ? MTIO_U8 : MTIO_I8;
  else if (z == 2) *out = u ? MTIO_U16 : MTIO_I16;
  else if (z == 4 && !u) *out = MTIO_I32;
  else return -1;
  return 0;
}

static const char *file_kind(mode_t m) {
  return S_ISFIFO(m)   ? "a FIFO (named pipe)"
         : S_ISCHR(m)  ? "a character device"
         : S_ISBLK(m)  ? "a block device"
         : S_ISSOCK(m) ? "a socket"
                       : "not a file";
}

/* numpy's name of an HDF5 type ("float64", "int8", "uint16"); a number type
 * of another size (a damaged or hand-made header) is said in bytes. */
static const char *type_name(hid_t t, char *buf, size_t len) {
  size_t size = H5Tget_size(t);
  int usual = size == 1 || size == 2 || size == 4 || size == 8 || size == 16;
  switch (H5Tget_class(t)) {
  case H5T_INTEGER: {
    const char *sign = H5Tget_sign(t) == H5T_SGN_NONE ? "uint" : "int";
    if (usual) snprintf(buf, len, "%s%zu", sign, size * 8);
    else snprintf(buf, len, "%s %s type of %zu bytes", sign[0] == 'u' ? "a" : "an", sign, size);
    break;
  }
  case H5T_FLOAT:
    if (usual) snprintf(buf, len, "float%zu", size * 8);
    else snprintf(buf, len, "a float type of %zu bytes", size);
    break;
  case H5T_STRING: snprintf(buf, len, "string"); break;
  case H5T_COMPOUND: snprintf(buf, len, "compound"); break;
  case H5T_ENUM: snprintf(buf, len, "enum"); break;
  case H5T_ARRAY: snprintf(buf, len, "array"); break;
  default: snprintf(buf, len, "a non-numeric type"); break;
  }
  return buf;
}

static const char *dims_str(int ndim, const hsize_t *d, char *buf, size_t len) {
  size_t k = (size_t)snprintf(buf, len, "(");
  for (int i = 0; i < ndim && k < len; i++)
    k += (size_t)snprintf(buf + k, len - k, "%s%llu", i ? ", " : "", (unsigned long long)d[i]);
  if (k < len) snprintf(buf + k, len - k, ")");
  return buf;
}

/* The rows a dataset declares must be in the file: a header may claim 2^40
 * rows in a file of a few KiB (a shape damaged, or a dataset created and
 * never written, which HDF5 reads as zeros), and whatever sizes memory from
 * N would believe it. Checked cheaply at open: the shape's bytes fit in
 * int64; contiguous storage exists and lies inside the file; for chunked
 * storage, the chunk holding the last row exists (mtio_h5_scan counts
 * every chunk). Compact, external and virtual layouts are not checked.
 * Caller holds the lock. */
static int check_extent(const mtio_h5_reader *r, const char *name, hid_t d, int nd,
                        const hsize_t *dim) {
  const char *path = r->path;
  char db[160];
  uint64_t bytes = sizeof(float);
  for (int i = nd - 1; i >= 0; i--) /* sample dims first: a row's size is checked even at N = 0 */
    if (__builtin_mul_overflow(bytes, (uint64_t)dim[i], &bytes) || bytes > (uint64_t)INT64_MAX)
      return mt_error_set(MT_E_FORMAT,
                          "%s: /%s has shape %s: more than 2^63 bytes of float32 (a damaged "
                          "header?)",
                          path, name, dims_str(nd, dim, db, sizeof db));
  if (bytes == 0) return MT_OK;
  hid_t dcpl = H5Dget_create_plist(d);
  if (dcpl < 0) return mtio_h5_fail("H5Dget_create_plist", __FILE__, __LINE__);
  int rc = MT_OK;
  H5D_layout_t layout = H5Pget_layout(dcpl);
  if (layout == H5D_CONTIGUOUS && H5Pget_external_count(dcpl) == 0) {
    hsize_t stored = H5Dget_storage_size(d);
    haddr_t off = H5Dget_offset(d);
    H5Eclear2(H5E_DEFAULT); /* H5Dget_offset of unallocated storage records an error */
    if (stored == 0)
      rc = mt_error_set(MT_E_FORMAT,
                        "%s: /%s declares shape %s (%llu bytes) but holds no data: it was "
                        "created and never written",
                        path, name, dims_str(nd, dim, db, sizeof db), (unsigned long long)bytes);
    else if (off != HADDR_UNDEF &&
             (off > (haddr_t)r->file_size || stored > (hsize_t)r->file_size - (hsize_t)off))
      rc = mt_error_set(MT_E_FORMAT,
                        "%s: /%s declares shape %s, %llu bytes at offset %llu, but the file has "
                        "%lld bytes (truncated, or a damaged shape)",
                        path, name, dims_str(nd, dim, db, sizeof db), (unsigned long long)stored,
                        (unsigned long long)off, (long long)r->file_size);
  } else if (layout == H5D_CHUNKED) {
    hsize_t c[H5S_MAX_RANK], last[H5S_MAX_RANK], nbytes = 0;
    if (H5Pget_chunk(dcpl, nd, c) != nd) {
      rc = mtio_h5_fail("H5Pget_chunk", __FILE__, __LINE__);
    } else {
      for (int i = 0; i < nd; i++) last[i] = c[i] ? (dim[i] - 1) / c[i] * c[i] : 0;
      herr_t e = H5Dget_chunk_storage_size(d, last, &nbytes);
      H5Eclear2(H5E_DEFAULT);
      if (e < 0 || nbytes == 0)
        rc = mt_error_set(MT_E_FORMAT,
                          "%s: /%s declares shape %s but the chunk holding its last row (row "
                          "%llu) is not in the file: the rows were never written, or the shape "
                          "is damaged",
                          path, name, dims_str(nd, dim, db, sizeof db),
                          (unsigned long long)(dim[0] - 1));
    }
  }
  H5Pclose(dcpl);
  return rc;
}

/* Opens dataset `name` ("data" or "label") and checks it is float32 of rank
 * min_rank..max_rank; fills dims. */
static int open_dataset(mtio_h5_reader *r, const char *name, int min_rank, int max_rank,
                        const char *want, hid_t dapl, hid_t *out, int *ndim, hsize_t *dim) {
  const char *path = r->path;
  htri_t e = H5Lexists(r->file, name, H5P_DEFAULT);
  if (e < 0)
    return mt_error_prefix(mtio_h5_fail("H5Lexists", __FILE__, __LINE__), "%s: looking up /%s",
                           path, name);
  H5O_info_t info;
  if (e > 0 && H5Oget_info_by_name(r->file, name, &info, H5P_DEFAULT) < 0)
    return mt_error_prefix(mtio_h5_fail("H5Oget_info_by_name", __FILE__, __LINE__),
                           "%s: reading the header of /%s", path, name);
  if (!e || info.type != H5O_TYPE_DATASET)
    return mt_error_set(MT_E_FORMAT,
                        "%s: no dataset /%s; a dataset file holds /data float32 [N, d1, ...] and "
                        "/label float32 [N] or [N, k] (write one with `modtrain synth` or "
                        "mt_dataset_write)",
                        path, name);
  *out = H5Dopen2(r->file, name, dapl);
  if (*out < 0)
    return mt_error_prefix(mtio_h5_fail("H5Dopen2", __FILE__, __LINE__), "%s: opening /%s", path,
                           name);
  int rc = MT_OK;
  hid_t t = -1, sp = -1;
  char tb[64], db[160];
  MT_CHECK_H5_GOTO(t = H5Dget_type(*out), rc, done);
  int is_label = strcmp(name, "label") == 0;
  size_t tz = H5Tget_size(t);
  H5T_class_t tc = H5Tget_class(t);
  mtio_dtype dt;
  int ok = is_label ? (tc == H5T_FLOAT && (tz == 4 || tz == 8)) ||
                          (tc == H5T_INTEGER && (tz == 1 || tz == 2 || tz == 4 || tz == 8))
                    : data_dtype(t, &dt) == 0;
  if (!ok) {
    rc = mt_error_set(MT_E_FORMAT,
                      "%s: /%s is %s, expected float32 (or %s; convert it, e.g. with numpy's "
                      ".astype('float32'))",
                      path, name, type_name(t, tb, sizeof tb),
                      is_label ? "float64 or an integer type"
                               : "float64, uint8, int8, uint16, int16, int32");
    goto done;
  }
  if (!is_label) {
    r->meta.dtype = dt;
    r->meta.elem = mtio_dtype_size(dt);
  }
  MT_CHECK_H5_GOTO(sp = H5Dget_space(*out), rc, done);
  int nd = H5Sget_simple_extent_ndims(sp);
  MT_CHECK_H5_GOTO(nd, rc, done);
  hsize_t d[H5S_MAX_RANK];
  if (nd > 0) MT_CHECK_H5_GOTO(H5Sget_simple_extent_dims(sp, d, NULL), rc, done);
  if (nd < min_rank || nd > max_rank) {
    rc = mt_error_set(MT_E_FORMAT, "%s: /%s has rank %d, shape %s; expected %s", path, name, nd,
                      nd > 0 ? dims_str(nd, d, db, sizeof db) : "scalar", want);
    goto done;
  }
  for (int i = 1; i < nd; i++)
    if (d[i] == 0) {
      rc = mt_error_set(MT_E_FORMAT, "%s: /%s has shape %s: sample dims must be >= 1", path, name,
                        dims_str(nd, d, db, sizeof db));
      goto done;
    }
  if (nd > 1) { /* one sample (1, d1, ...) within the array limit (docs/design.md §2) */
    mt_shape one = {.ndim = nd};
    one.dim[0] = 1;
    for (int i = 1; i < nd; i++) one.dim[i] = d[i] > (hsize_t)INT64_MAX ? INT64_MAX : (int64_t)d[i];
    char why[192];
    if (mt_shape_count(&one, NULL, why, sizeof why) < 0) {
      rc = mt_error_set(MT_E_FORMAT, "%s: /%s has shape %s: one sample %s", path, name,
                        dims_str(nd, d, db, sizeof db), why);
      goto done;
    }
  }
  rc = check_extent(r, name, *out, nd, d);
  if (rc < 0) goto done;
  *ndim = nd;
  memcpy(dim, d, (size_t)nd * sizeof *d);
done:
  close_id(sp, H5Sclose);
  close_id(t, H5Tclose);
  return rc < 0 && rc != MT_E_FORMAT ? mt_error_prefix(rc, "%s: /%s", path, name) : rc;
}

static void reader_release(mtio_h5_reader *r) {
  close_id(r->dspace, H5Sclose);
  close_id(r->lspace, H5Sclose);
  close_id(r->data, H5Dclose);
  close_id(r->label, H5Dclose);
  close_id(r->file, H5Fclose);
  if (r->fd >= 0) close(r->fd);
  free(r->band);
  free(r->path);
  free(r);
}

/* /data's storage: layout, chunk shape, filters, stored size; contiguous
 * storage in native byte order is read with pread (meta.direct). Caller
 * holds the lock. */
static int read_layout(mtio_h5_reader *r) {
  mtio_h5_meta *m = &r->meta;
  r->dmem = dtype_native(m->dtype);
  m->stored_bytes = (int64_t)H5Dget_storage_size(r->data);
  hid_t dcpl = H5Dget_create_plist(r->data);
  if (dcpl < 0) return mtio_h5_fail("H5Dget_create_plist", __FILE__, __LINE__);
  H5D_layout_t lay = H5Pget_layout(dcpl);
  m->layout = lay == H5D_CHUNKED      ? MTIO_CHUNKED
              : lay == H5D_CONTIGUOUS ? MTIO_CONTIGUOUS
                                      : MTIO_OTHER_LAYOUT;
  if (m->layout == MTIO_CHUNKED) {
    hsize_t c[H5S_MAX_RANK];
    int nd = H5Pget_chunk(dcpl, H5S_MAX_RANK, c);
    if (nd > 0) {
      m->chunk_rows = (int64_t)c[0];
      m->chunk_bytes = m->elem;
      m->band_chunks = 1;
      for (int i = 0; i < nd; i++) {
        m->chunk_bytes *= (int64_t)c[i];
        if (i > 0 && i < m->ndim && c[i] > 0)
          m->band_chunks *= (m->dim[i] + (int64_t)c[i] - 1) / (int64_t)c[i];
      }
    }
  }
  int nf = H5Pget_nfilters(dcpl);
  size_t k = 0;
  m->filters[0] = '\0';
  for (int i = 0; i < nf && k < sizeof m->filters; i++) {
    unsigned flags, cd[8];
    size_t ncd = 8;
    char fname[64] = "";
    H5Z_filter_t f = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof fname, fname, NULL);
    const char *nm = f == H5Z_FILTER_DEFLATE       ? "gzip"
                     : f == H5Z_FILTER_SHUFFLE     ? "shuffle"
                     : f == H5Z_FILTER_FLETCHER32  ? "fletcher32"
                     : f == H5Z_FILTER_SZIP        ? "szip"
                     : f == H5Z_FILTER_NBIT        ? "nbit"
                     : f == H5Z_FILTER_SCALEOFFSET ? "scaleoffset"
                                                   : "filter";
    k += (size_t)snprintf(m->filters + k, sizeof m->filters - k, "%s%s", k ? "+" : "", nm);
  }
  H5Eclear2(H5E_DEFAULT);
  if (m->layout == MTIO_CONTIGUOUS && H5Pget_external_count(dcpl) == 0) {
    hid_t ft = H5Dget_type(r->data);
    htri_t same = ft >= 0 ? H5Tequal(ft, r->dmem) : 0;
    if (ft >= 0) H5Tclose(ft);
    haddr_t off = H5Dget_offset(r->data);
    H5Eclear2(H5E_DEFAULT);
    if (same > 0 && off != HADDR_UNDEF && m->stored_bytes > 0) {
      r->fd = open(r->path, O_RDONLY | O_CLOEXEC);
      if (r->fd >= 0) {
        r->offset = (int64_t)off;
        m->direct = 1;
      }
    }
  }
  H5Pclose(dcpl);
  return MT_OK;
}

static int reader_validate(mtio_h5_reader *r, hid_t dapl_data, hid_t dapl_label) {
  const char *path = r->path;
  mtio_h5_meta *m = &r->meta;
  hsize_t d[MT_MAX_DIM], ld[2];
  char want[64];
  snprintf(want, sizeof want, "[N, d1, ...] with 2 to %d dims", MT_MAX_DIM);
  MT_TRY(open_dataset(r, "data", 2, MT_MAX_DIM, want, dapl_data, &r->data, &m->ndim, d));
  MT_TRY(open_dataset(r, "label", 1, 2, "[N] (class indices) or [N, k]", dapl_label, &r->label,
                      &m->label_ndim, ld));
  if (d[0] != ld[0])
    return mt_error_set(MT_E_FORMAT,
                        "%s: /data has %llu samples but /label has %llu; both need the same N",
                        path, (unsigned long long)d[0], (unsigned long long)ld[0]);
  m->row = 1;
  for (int i = 0; i < m->ndim; i++) {
    m->dim[i] = (int64_t)d[i];
    if (i > 0) m->row *= m->dim[i];
  }
  for (int i = 0; i < m->label_ndim; i++) m->label_dim[i] = (int64_t)ld[i];
  m->label_row = m->label_ndim == 2 ? m->label_dim[1] : 1;

  int64_t version = 0;
  int rc;
  MT_TRY(rc = read_attr_int(r->file, path, "format_version", 0, &version));
  if (rc > 0 && (version < 1 || version > MTIO_H5_FORMAT_VERSION))
    return mt_error_set(MT_E_FORMAT,
                        "%s: format_version %lld is not supported (this modtrain reads up to %d)",
                        path, (long long)version, MTIO_H5_FORMAT_VERSION);
  MT_TRY(rc = read_attr_int(r->file, path, "num_classes", 0, &m->num_classes));
  if (rc > 0 && m->num_classes < 0)
    return mt_error_set(MT_E_FORMAT, "%s: num_classes %lld must be >= 0", path,
                        (long long)m->num_classes);
  MT_TRY(rc = read_attr_int(r->file, path, "seed", 1, &m->seed));
  m->has_seed = rc > 0;
  m->part = -1;
  MT_TRY(read_attr_int(r->file, path, "part", 0, &m->part));
  MT_TRY(read_attr_str(r->file, path, "generator", m->generator, sizeof m->generator));

  MT_TRY(read_layout(r));
  /* The chunk cache of /data, sized from the layout: one row per chunk is
   * never read twice in an epoch, so no cache (caching cost 8% of a
   * shuffled epoch); otherwise room for one band of chunk_rows rows (the
   * unit of mtio_h5_read_rows_raw), at least 4 MiB, at most 64 MiB. */
  if (m->layout == MTIO_CHUNKED) {
    size_t bytes = 0, slots = 0;
    if (m->chunk_rows > 1) {
      int64_t band = m->chunk_bytes * m->band_chunks;
      bytes = band < ((int64_t)4 << 20)    ? (size_t)4 << 20
              : band > ((int64_t)64 << 20) ? (size_t)64 << 20
                                           : (size_t)band;
      slots =
          (size_t)(100 * (m->band_chunks + bytes / (size_t)(m->chunk_bytes ? m->chunk_bytes : 1)) +
                   1);
    }
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl < 0) return mtio_h5_fail("H5Pcreate", __FILE__, __LINE__);
    H5Pset_chunk_cache(dapl, slots, bytes, 1.0);
    hid_t d = H5Dopen2(r->file, "data", dapl);
    H5Pclose(dapl);
    if (d < 0) return mtio_h5_fail("H5Dopen2(data)", __FILE__, __LINE__);
    H5Dclose(r->data);
    r->data = d;
  }
  MT_CHECK_H5(r->dspace = H5Dget_space(r->data));
  MT_CHECK_H5(r->lspace = H5Dget_space(r->label));
  return MT_OK;
}

int mtio_h5_open(const char *path, mtio_h5_reader **out) {
  if (!out) return mt_error_set(MT_E_INVAL, "dataset reader: NULL output pointer");
  *out = NULL;
  if (!path || !path[0]) return mt_error_set(MT_E_INVAL, "dataset reader: empty path");
  struct stat st;
  if (stat(path, &st) != 0)
    return mt_error_set(MT_E_IO, "%s: cannot open the dataset file: %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode))
    return mt_error_set(MT_E_IO, "%s: is a directory, not a dataset file", path);
  /* A FIFO's open blocks until a writer comes (forever, for a job); a
   * device or socket is no dataset file either. */
  if (!S_ISREG(st.st_mode))
    return mt_error_set(MT_E_IO, "%s: is %s, not a regular file: a dataset file must be one", path,
                        file_kind(st.st_mode));
  if (access(path, R_OK) != 0)
    return mt_error_set(MT_E_IO, "%s: cannot read the dataset file: %s", path, strerror(errno));

  mtio_h5_reader *r = calloc(1, sizeof *r);
  if (!r || !(r->path = strdup(path))) {
    free(r);
    return mt_error_set(MT_E_NOMEM, "%s: out of memory", path);
  }
  r->file = r->data = r->label = r->dspace = r->lspace = -1;
  r->fd = -1;
  r->file_size = (int64_t)st.st_size;
  int rc = MT_OK;
  hid_t dapl_d = -1, dapl_l = -1, fapl = -1;
  mtio_h5_lock();
  htri_t is = H5Fis_hdf5(path);
  if (is <= 0) {
    H5Eclear2(H5E_DEFAULT);
    rc = mt_error_set(MT_E_FORMAT,
                      "%s: not an HDF5 file (no HDF5 signature; %lld bytes); a dataset file is "
                      "written by `modtrain synth`, mt_dataset_write or h5py",
                      path, (long long)st.st_size);
    goto fail;
  }
  MT_TRY_GOTO(make_fapl(&fapl), rc, fail);
  r->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (r->file < 0) {
    rc = mt_error_prefix(mtio_h5_fail("H5Fopen(path, H5F_ACC_RDONLY)", __FILE__, __LINE__),
                         "%s: cannot open the HDF5 file (truncated or corrupted?)", path);
    goto fail;
  }
  /* Chunk caches: labels are small and read one element per sample, so a
   * cache holding many label chunks serves a shuffled epoch from memory;
   * a data chunk of several (small) rows may serve several reads. */
  MT_CHECK_H5_GOTO(dapl_d = H5Pcreate(H5P_DATASET_ACCESS), rc, fail);
  MT_CHECK_H5_GOTO(dapl_l = H5Pcreate(H5P_DATASET_ACCESS), rc, fail);
  MT_CHECK_H5_GOTO(H5Pset_chunk_cache(dapl_d, 4099, (size_t)4 << 20, 0.75), rc, fail);
  MT_CHECK_H5_GOTO(H5Pset_chunk_cache(dapl_l, 40009, (size_t)16 << 20, 0.75), rc, fail);
  MT_TRY_GOTO(reader_validate(r, dapl_d, dapl_l), rc, fail);
  H5Pclose(dapl_d);
  H5Pclose(dapl_l);
  H5Pclose(fapl);
  mtio_h5_unlock();
  *out = r;
  return MT_OK;
fail:
  close_id(dapl_d, H5Pclose);
  close_id(dapl_l, H5Pclose);
  close_id(fapl, H5Pclose);
  reader_release(r);
  mtio_h5_unlock();
  if (rc == MT_E_HDF5 && strncmp(mt_last_error(), path, strlen(path)) != 0)
    return mt_error_prefix(rc, "%s", path);
  return rc;
}

void mtio_h5_close(mtio_h5_reader *r) {
  if (!r) return;
  mtio_h5_lock();
  reader_release(r);
  mtio_h5_unlock();
}

const mtio_h5_meta *mtio_h5_reader_meta(const mtio_h5_reader *r) { return &r->meta; }

const char *mtio_h5_reader_path(const mtio_h5_reader *r) { return r->path; }

/* One run: rows [a, a + n) of dataset d (file space fs, rank ndim) into
 * buf. The memory space has the hyperslab's own shape: HDF5 then maps
 * chunks to memory block-wise, where a flat memory space costs it a walk
 * over every element (10x slower on 784-float rows). Caller holds the lock. */
static int read_run_t(hid_t d, hid_t fs, int ndim, const int64_t *dim, int64_t a, int64_t n,
                      hid_t mtype, void *buf) {
  hsize_t start[MT_MAX_DIM] = {0}, count[MT_MAX_DIM];
  start[0] = (hsize_t)a;
  count[0] = (hsize_t)n;
  for (int i = 1; i < ndim; i++) count[i] = (hsize_t)dim[i];
  int rc = MT_OK;
  hid_t ms = -1;
  MT_CHECK_H5_GOTO(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL), rc, done);
  MT_CHECK_H5_GOTO(ms = H5Screate_simple(ndim, count, NULL), rc, done);
  MT_CHECK_H5_GOTO(H5Dread(d, mtype, ms, fs, H5P_DEFAULT, buf), rc, done);
done:
  close_id(ms, H5Sclose);
  return rc;
}

static int read_run(hid_t d, hid_t fs, int ndim, const int64_t *dim, int64_t a, int64_t n,
                    float *buf) {
  return read_run_t(d, fs, ndim, dim, a, n, H5T_NATIVE_FLOAT, buf);
}

/* Reads runs of rows for one dataset (is_label picks /label). */
static int read_list(mtio_h5_reader *r, int is_label, int64_t n, const int64_t *rows, int64_t first,
                     float *buf) {
  const mtio_h5_meta *m = &r->meta;
  hid_t d = is_label ? r->label : r->data, fs = is_label ? r->lspace : r->dspace;
  int ndim = is_label ? m->label_ndim : m->ndim;
  const int64_t *dim = is_label ? m->label_dim : m->dim;
  int64_t row = is_label ? m->label_row : m->row;
  if (!rows) return read_run(d, fs, ndim, dim, first, n, buf);
  for (int64_t i = 0; i < n;) {
    int64_t j = i + 1;
    while (j < n && rows[j] == rows[j - 1] + 1) j++;
    int rc = read_run(d, fs, ndim, dim, rows[i], j - i, buf + i * row);
    if (rc < 0) {
      return mt_error_prefix(rc, "%s: reading /%s rows [%lld, %lld)", r->path,
                             is_label ? "label" : "data", (long long)rows[i],
                             (long long)rows[j - 1] + 1);
    }
    i = j;
  }
  return MT_OK;
}

static int read_common(mtio_h5_reader *r, int64_t n, const int64_t *rows, int64_t first, float *x,
                       float *y) {
  int rc = MT_OK;
  mtio_h5_lock();
  if (x) rc = read_list(r, 0, n, rows, first, x);
  if (rc == MT_OK && y) rc = read_list(r, 1, n, rows, first, y);
  mtio_h5_unlock();
  if (rc < 0) {
    if (!rows)
      mt_error_prefix(rc, "%s: reading rows [%lld, %lld)", r->path, (long long)first,
                      (long long)(first + n));
    return rc;
  }
  if (y && r->meta.num_classes > 0 && r->meta.label_ndim == 1)
    return check_labels(r->path, r->meta.num_classes, n, y, first, rows);
  return MT_OK;
}

/* ------------------------------------------------------------ the scan */

/* Every chunk of a chunked dataset is in the file (chunks never written
 * read as zeros). O(chunks in the file). Caller holds the lock. */
static int check_all_chunks(const mtio_h5_reader *r, const char *name, hid_t d, hid_t fs, int nd,
                            const int64_t *dim) {
  if (dim[0] == 0) return MT_OK;
  hid_t dcpl = H5Dget_create_plist(d);
  if (dcpl < 0) return mtio_h5_fail("H5Dget_create_plist", __FILE__, __LINE__);
  int rc = MT_OK;
  hsize_t c[H5S_MAX_RANK];
  if (H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, nd, c) == nd) {
    uint64_t want = 1;
    for (int i = 0; i < nd; i++) {
      uint64_t k = c[i] ? ((uint64_t)dim[i] + c[i] - 1) / c[i] : 1;
      if (__builtin_mul_overflow(want, k, &want)) want = UINT64_MAX;
    }
    hsize_t have = 0;
    if (H5Dget_num_chunks(d, fs, &have) < 0) {
      rc = mtio_h5_fail("H5Dget_num_chunks", __FILE__, __LINE__);
    } else if (have < want) {
      rc = mt_error_set(MT_E_FORMAT,
                        "%s: /%s has %llu of its %llu chunks in the file: some of its %lld rows "
                        "were never written (HDF5 would read them as zeros)",
                        r->path, name, (unsigned long long)have, (unsigned long long)want,
                        (long long)dim[0]);
    }
  }
  H5Pclose(dcpl);
  return rc;
}

/* The first bad value of a block of labels (rows first .. first + n), or
 * MT_OK. */
static int check_label_block(const mtio_h5_reader *r, const mtio_h5_label_rule *rule, int64_t first,
                             int64_t n, const float *y) {
  const mtio_h5_meta *m = &r->meta;
  int64_t k = m->label_row, file_classes = m->label_ndim == 1 ? m->num_classes : 0;
  for (int64_t i = 0; i < n * k; i++) {
    float v = y[i];
    int64_t row = first + i / k;
    char col[48] = "";
    if (k > 1) snprintf(col, sizeof col, " column %lld", (long long)(i % k));
    if (!isfinite(v))
      return mt_error_set(MT_E_FORMAT, "%s: /label row %lld%s is %g: labels must be finite numbers",
                          r->path, (long long)row, col, (double)v);
    int whole = v == floorf(v);
    if (file_classes > 0 && !(whole && v >= 0.0f && v < (float)file_classes))
      return check_labels(r->path, file_classes, 1, &v, row, NULL);
    if (rule && rule->classes > 0 && !(whole && v >= 0.0f && v < (float)rule->classes) &&
        !(rule->use_ignore && v == rule->ignore_label))
      return mt_error_set(MT_E_FORMAT,
                          "%s: /label row %lld%s is %.9g, not a class index in [0, %lld)%s%s%s",
                          r->path, (long long)row, col, (double)v, (long long)rule->classes,
                          rule->why ? " (" : "", rule->why ? rule->why : "", rule->why ? ")" : "");
  }
  return MT_OK;
}

int mtio_h5_scan(mtio_h5_reader *r, const mtio_h5_label_rule *rule) {
  if (!r) return mt_error_set(MT_E_INVAL, "dataset reader: NULL reader");
  const mtio_h5_meta *m = &r->meta;
  int rc = MT_OK;
  mtio_h5_lock();
  rc = check_all_chunks(r, "data", r->data, r->dspace, m->ndim, m->dim);
  if (rc == MT_OK)
    rc = check_all_chunks(r, "label", r->label, r->lspace, m->label_ndim, m->label_dim);
  mtio_h5_unlock();
  if (rc < 0) return rc == MT_E_FORMAT ? rc : mt_error_prefix(rc, "%s", r->path);
  /* blocks of about 4 MiB of labels (at least one row) */
  int64_t n = m->dim[0], k = m->label_row, block = ((int64_t)1 << 20) / k;
  if (block < 1) block = 1;
  if (block > n) block = n;
  if (n == 0) return MT_OK;
  float *y = malloc((size_t)(block * k) * sizeof *y);
  if (!y)
    return mt_error_set(MT_E_NOMEM, "%s: out of memory for %lld labels of %lld floats", r->path,
                        (long long)block, (long long)k);
  for (int64_t b = 0; b < n && rc == MT_OK; b += block) {
    int64_t nb = n - b < block ? n - b : block;
    mtio_h5_lock();
    rc = read_run(r->label, r->lspace, m->label_ndim, m->label_dim, b, nb, y);
    mtio_h5_unlock();
    if (rc < 0)
      rc = mt_error_prefix(rc, "%s: reading /label rows [%lld, %lld)", r->path, (long long)b,
                           (long long)(b + nb));
    else rc = check_label_block(r, rule, b, nb, y);
  }
  free(y);
  return rc;
}

int mtio_h5_read_range(mtio_h5_reader *r, int64_t begin, int64_t end, float *x, float *y) {
  if (!r) return mt_error_set(MT_E_INVAL, "dataset reader: NULL reader");
  if (begin < 0 || end < begin || end > r->meta.dim[0])
    return mt_error_set(MT_E_INVAL, "%s: rows [%lld, %lld) are not inside the %lld samples",
                        r->path, (long long)begin, (long long)end, (long long)r->meta.dim[0]);
  if (end == begin) return MT_OK;
  return read_common(r, end - begin, NULL, begin, x, y);
}

int mtio_h5_read_rows(mtio_h5_reader *r, int64_t n, const int64_t *rows, float *x, float *y) {
  if (!r) return mt_error_set(MT_E_INVAL, "dataset reader: NULL reader");
  if (n < 0 || (n > 0 && !rows))
    return mt_error_set(MT_E_INVAL, "%s: read of %lld rows without a row list", r->path,
                        (long long)n);
  for (int64_t i = 0; i < n; i++)
    if (rows[i] < 0 || rows[i] >= r->meta.dim[0] || (i > 0 && rows[i] <= rows[i - 1]))
      return mt_error_set(MT_E_INVAL,
                          "%s: row list entry %lld is %lld: rows must be strictly increasing "
                          "and inside [0, %lld)",
                          r->path, (long long)i, (long long)rows[i], (long long)r->meta.dim[0]);
  if (n == 0) return MT_OK;
  return read_common(r, n, rows, 0, x, y);
}

/* ------------------------------------------------------------ raw reads */

int mtio_h5_check_labels(const mtio_h5_reader *r, int64_t n, const float *y, int64_t first,
                         const int64_t *rows) {
  if (r->meta.num_classes <= 0 || r->meta.label_ndim != 1) return MT_OK;
  return check_labels(r->path, r->meta.num_classes, n, y, first, rows);
}

void mtio_h5_io_counters(const mtio_h5_reader *r, int64_t *bytes_read, int64_t *bytes_used) {
  if (bytes_read) *bytes_read = r->nread;
  if (bytes_used) *bytes_used = r->nused;
}

const char *mtio_h5_layout_str(const mtio_h5_reader *r, char *buf, size_t len) {
  const mtio_h5_meta *m = &r->meta;
  if (m->layout == MTIO_CHUNKED)
    snprintf(buf, len, "chunked, %lld rows a chunk (%.3g MiB)%s%s", (long long)m->chunk_rows,
             (double)m->chunk_bytes / 1048576.0, m->filters[0] ? ", " : "", m->filters);
  else snprintf(buf, len, "%s", m->layout == MTIO_CONTIGUOUS ? "contiguous" : "compact/virtual");
  return buf;
}

/* pread of exactly len bytes at off. */
static int pread_all(const mtio_h5_reader *r, void *buf, size_t len, int64_t off) {
  char *p = buf;
  while (len > 0) {
    ssize_t k = pread(r->fd, p, len, (off_t)off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0)
      return mt_error_set(MT_E_IO, "%s: reading /data at byte %lld: %s", r->path, (long long)off,
                          k < 0 ? strerror(errno) : "unexpected end of file");
    p += k;
    len -= (size_t)k;
    off += k;
  }
  return MT_OK;
}

/* Rows [a, a + n) of /data, raw, by pread or one hyperslab read. */
static int raw_run(mtio_h5_reader *r, int64_t a, int64_t n, void *buf) {
  const mtio_h5_meta *m = &r->meta;
  int64_t rb = m->row * m->elem;
  r->nread += n * rb;
  if (m->direct) return pread_all(r, buf, (size_t)(n * rb), r->offset + a * rb);
  mtio_h5_lock();
  int rc = read_run_t(r->data, r->dspace, m->ndim, m->dim, a, n, r->dmem, buf);
  mtio_h5_unlock();
  if (rc < 0)
    rc = mt_error_prefix(rc, "%s: reading /data rows [%lld, %lld)", r->path, (long long)a,
                         (long long)(a + n));
  return rc;
}

int mtio_h5_read_range_raw(mtio_h5_reader *r, int64_t begin, int64_t end, void *x) {
  if (!r) return mt_error_set(MT_E_INVAL, "dataset reader: NULL reader");
  const mtio_h5_meta *m = &r->meta;
  if (begin < 0 || end < begin || end > m->dim[0])
    return mt_error_set(MT_E_INVAL, "%s: rows [%lld, %lld) are not inside the %lld samples",
                        r->path, (long long)begin, (long long)end, (long long)m->dim[0]);
  int64_t rb = m->row * m->elem;
  /* blocks of about 64 MiB, whole bands of chunks */
  int64_t step = ((int64_t)64 << 20) / (rb ? rb : 1);
  if (m->chunk_rows > 1) step = (step / m->chunk_rows + 1) * m->chunk_rows;
  if (step < 1) step = 1;
  char *p = x;
  for (int64_t a = begin; a < end; a += step) {
    int64_t n = end - a < step ? end - a : step;
    MT_TRY(raw_run(r, a, n, p + (a - begin) * rb));
  }
  r->nused += (end - begin) * rb;
  return MT_OK;
}

int mtio_h5_read_rows_raw(mtio_h5_reader *r, int64_t n, const int64_t *rows, void *x) {
  if (!r) return mt_error_set(MT_E_INVAL, "dataset reader: NULL reader");
  const mtio_h5_meta *m = &r->meta;
  for (int64_t i = 0; i < n; i++)
    if (rows[i] < 0 || rows[i] >= m->dim[0] || (i > 0 && rows[i] <= rows[i - 1]))
      return mt_error_set(MT_E_INVAL,
                          "%s: row list entry %lld is %lld: rows must be strictly increasing "
                          "and inside [0, %lld)",
                          r->path, (long long)i, (long long)rows[i], (long long)m->dim[0]);
  int64_t rb = m->row * m->elem, cr = m->chunk_rows;
  char *out = x;
  if (m->layout != MTIO_CHUNKED || cr <= 1) {
    for (int64_t i = 0; i < n;) { /* runs of consecutive rows */
      int64_t j = i + 1;
      while (j < n && rows[j] == rows[j - 1] + 1) j++;
      MT_TRY(raw_run(r, rows[i], j - i, out + i * rb));
      i = j;
    }
    r->nused += n * rb;
    return MT_OK;
  }
  /* Chunked: each band of cr rows that holds wanted rows is read once,
   * whole (every chunk of it read and decoded once), then its rows copied. */
  for (int64_t i = 0; i < n;) {
    int64_t b0 = rows[i] / cr * cr, b1 = b0 + cr < m->dim[0] ? b0 + cr : m->dim[0];
    int64_t j = i;
    while (j < n && rows[j] < b1) j++;
    if (j - i == b1 - b0) { /* the whole band is wanted: straight into x */
      MT_TRY(raw_run(r, b0, b1 - b0, out + i * rb));
    } else {
      if (!r->band && !(r->band = malloc((size_t)(cr * rb))))
        return mt_error_set(MT_E_NOMEM, "%s: out of memory for a band of %lld rows of /data",
                            r->path, (long long)cr);
      MT_TRY(raw_run(r, b0, b1 - b0, r->band));
      for (int64_t k = i; k < j; k++)
        memcpy(out + k * rb, (char *)r->band + (rows[k] - b0) * rb, (size_t)rb);
    }
    i = j;
  }
  r->nused += n * rb;
  return MT_OK;
}

int mtio_h5_read_labels(mtio_h5_reader *r, int64_t begin, int64_t end, float *y) {
  if (!r) return mt_error_set(MT_E_INVAL, "dataset reader: NULL reader");
  const mtio_h5_meta *m = &r->meta;
  if (begin < 0 || end < begin || end > m->dim[0])
    return mt_error_set(MT_E_INVAL, "%s: rows [%lld, %lld) are not inside the %lld samples",
                        r->path, (long long)begin, (long long)end, (long long)m->dim[0]);
  if (end == begin) return MT_OK;
  mtio_h5_lock();
  int rc = read_run(r->label, r->lspace, m->label_ndim, m->label_dim, begin, end - begin, y);
  mtio_h5_unlock();
  if (rc < 0)
    rc = mt_error_prefix(rc, "%s: reading /label rows [%lld, %lld)", r->path, (long long)begin,
                         (long long)end);
  return rc;
}
