/* h5_sequences.c — the token-sequence file (io/h5_sequences.h). */
#include "io/h5_sequences.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "base/error.h"
#include "io/h5_check.h"
#include "io/h5dataset.h"

static void close_id(hid_t id, herr_t (*fn)(hid_t)) {
  if (id >= 0) fn(id);
}

static int check_layout(const char *path, const int32_t *tokens, const int64_t *offsets,
                        int64_t nseq, int64_t vocab_size) {
  if (nseq < 0 || vocab_size < 1 || vocab_size > INT32_MAX)
    return MT_ERR(MT_E_INVAL, "%s: %lld sentences, vocab_size %lld (at least 1, at most 2^31-1)",
                  path, (long long)nseq, (long long)vocab_size);
  if (offsets[0] != 0)
    return MT_ERR(MT_E_FORMAT, "%s: offsets[0] is %lld, not 0", path, (long long)offsets[0]);
  for (int64_t i = 0; i < nseq; i++)
    if (offsets[i + 1] < offsets[i])
      return MT_ERR(MT_E_FORMAT, "%s: offsets[%lld] = %lld is below offsets[%lld] = %lld", path,
                    (long long)(i + 1), (long long)offsets[i + 1], (long long)i,
                    (long long)offsets[i]);
  for (int64_t t = 0; t < offsets[nseq]; t++)
    if (tokens[t] < 0 || tokens[t] >= vocab_size)
      return MT_ERR(MT_E_FORMAT, "%s: token %lld is %d, outside [0, vocab_size = %lld)", path,
                    (long long)t, tokens[t], (long long)vocab_size);
  return MT_OK;
}

static int write_int_attr(hid_t loc, const char *name, int64_t v) {
  int rc = MT_OK;
  hid_t sp = -1, a = -1;
  MT_CHECK_H5_GOTO(sp = H5Screate(H5S_SCALAR), rc, done);
  MT_CHECK_H5_GOTO(a = H5Acreate2(loc, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT), rc,
                   done);
  MT_CHECK_H5_GOTO(H5Awrite(a, H5T_NATIVE_INT64, &v), rc, done);
done:
  close_id(a, H5Aclose);
  close_id(sp, H5Sclose);
  return rc;
}

/* A 1-D dataset, chunked (64 KiB) with Fletcher32 checksums (but the
 * variable-length strings of /vocab, which HDF5's filters do not take). */
static int write_1d(hid_t f, const char *name, hid_t ftype, hid_t mtype, int64_t n, size_t esize,
                    const void *buf) {
  int rc = MT_OK;
  hid_t sp = -1, pl = -1, d = -1;
  hsize_t dim = (hsize_t)n, chunk = (hsize_t)(65536 / esize);
  if (chunk > dim) chunk = dim > 0 ? dim : 1;
  MT_CHECK_H5_GOTO(sp = H5Screate_simple(1, &dim, NULL), rc, done);
  MT_CHECK_H5_GOTO(pl = H5Pcreate(H5P_DATASET_CREATE), rc, done);
  MT_CHECK_H5_GOTO(H5Pset_chunk(pl, 1, &chunk), rc, done);
  if (H5Tis_variable_str(ftype) <= 0) MT_CHECK_H5_GOTO(H5Pset_fletcher32(pl), rc, done);
  MT_CHECK_H5_GOTO(d = H5Dcreate2(f, name, ftype, sp, H5P_DEFAULT, pl, H5P_DEFAULT), rc, done);
  if (n > 0) MT_CHECK_H5_GOTO(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), rc, done);
done:
  close_id(d, H5Dclose);
  close_id(pl, H5Pclose);
  close_id(sp, H5Sclose);
  return rc;
}

int mtio_seq_write(const char *path, const int32_t *tokens, const int64_t *offsets, int64_t nseq,
                   int64_t vocab_size, const char *const *vocab) {
  if (!path || !offsets || (!tokens && nseq > 0 && offsets[nseq] > 0))
    return MT_ERR(MT_E_INVAL, "mtio_seq_write: NULL argument");
  MT_TRY(check_layout(path, tokens, offsets, nseq, vocab_size));
  size_t tlen = strlen(path) + 32;
  char *tmp = malloc(tlen);
  if (!tmp) return MT_NOMEM();
  snprintf(tmp, tlen, "%s.tmp-%ld", path, (long)getpid());
  int rc = MT_OK;
  hid_t f = -1, fapl = -1, st = -1;
  mtio_h5_lock();
  MT_CHECK_H5_GOTO(fapl = H5Pcreate(H5P_FILE_ACCESS), rc, done);
  MT_CHECK_H5_GOTO(H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST), rc, done);
  MT_CHECK_H5_GOTO(f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl), rc, done);
  MT_TRY_GOTO(write_int_attr(f, "format_version", MTIO_SEQ_FORMAT_VERSION), rc, done);
  MT_TRY_GOTO(write_int_attr(f, "vocab_size", vocab_size), rc, done);
  MT_TRY_GOTO(write_1d(f, "tokens", H5T_STD_I32LE, H5T_NATIVE_INT32, offsets[nseq], 4, tokens), rc,
              done);
  MT_TRY_GOTO(write_1d(f, "offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, nseq + 1, 8, offsets), rc,
              done);
  if (vocab) {
    MT_CHECK_H5_GOTO(st = H5Tcopy(H5T_C_S1), rc, done);
    MT_CHECK_H5_GOTO(H5Tset_size(st, H5T_VARIABLE), rc, done);
    MT_CHECK_H5_GOTO(H5Tset_cset(st, H5T_CSET_UTF8), rc, done);
    MT_TRY_GOTO(write_1d(f, "vocab", st, st, vocab_size, sizeof(char *), vocab), rc, done);
  }
done:
  close_id(st, H5Tclose);
  if (f >= 0 && H5Fclose(f) < 0 && rc == MT_OK) rc = mtio_h5_fail("H5Fclose", __FILE__, __LINE__);
  close_id(fapl, H5Pclose);
  mtio_h5_unlock();
  if (rc == MT_OK) {
    int fd = open(tmp, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0)
      rc = mt_error_set(MT_E_IO, "fsync of %s: %s", tmp, strerror(errno));
    if (fd >= 0) close(fd);
  }
  if (rc == MT_OK && rename(tmp, path) != 0)
    rc = mt_error_set(MT_E_IO, "rename of %s to %s: %s", tmp, path, strerror(errno));
  if (rc < 0) {
    unlink(tmp);
    rc = mt_error_prefix(rc, "writing the sequence file %s", path);
  }
  free(tmp);
  return rc;
}

static int read_int_attr(hid_t f, const char *path, const char *name, int64_t *v) {
  int rc = MT_OK;
  hid_t a = -1;
  htri_t e;
  MT_CHECK_H5(e = H5Aexists(f, name));
  if (!e)
    return MT_ERR(MT_E_FORMAT, "%s: no attribute '%s' on / (not a token-sequence file)", path,
                  name);
  MT_CHECK_H5_GOTO(a = H5Aopen(f, name, H5P_DEFAULT), rc, done);
  MT_CHECK_H5_GOTO(H5Aread(a, H5T_NATIVE_INT64, v), rc, done);
done:
  close_id(a, H5Aclose);
  return rc;
}

/* A 1-D integer dataset read whole into *buf (malloc'd), *n its length. */
static int read_1d(hid_t f, const char *path, const char *name, hid_t mtype, size_t esize,
                   void **buf, int64_t *n) {
  int rc = MT_OK;
  hid_t d = -1, sp = -1, t = -1;
  htri_t e;
  *buf = NULL;
  MT_CHECK_H5(e = H5Lexists(f, name, H5P_DEFAULT));
  if (!e)
    return MT_ERR(MT_E_FORMAT, "%s: no dataset '/%s' (not a token-sequence file)", path, name);
  MT_CHECK_H5_GOTO(d = H5Dopen2(f, name, H5P_DEFAULT), rc, done);
  MT_CHECK_H5_GOTO(t = H5Dget_type(d), rc, done);
  MT_CHECK_H5_GOTO(sp = H5Dget_space(d), rc, done);
  if (H5Tget_class(t) != H5T_INTEGER || H5Sget_simple_extent_ndims(sp) != 1) {
    rc = MT_ERR(MT_E_FORMAT, "%s: '/%s' is not a 1-D integer dataset", path, name);
    goto done;
  }
  hsize_t dim;
  MT_CHECK_H5_GOTO(H5Sget_simple_extent_dims(sp, &dim, NULL), rc, done);
  if (dim > (hsize_t)INT32_MAX) {
    rc = MT_ERR(MT_E_FORMAT, "%s: '/%s' has %llu elements (at most 2^31-1)", path, name,
                (unsigned long long)dim);
    goto done;
  }
  *n = (int64_t)dim;
  *buf = malloc(esize * (size_t)(dim > 0 ? dim : 1));
  if (!*buf) {
    rc = MT_NOMEM();
    goto done;
  }
  if (dim > 0) MT_CHECK_H5_GOTO(H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *buf), rc, done);
done:
  if (rc < 0) {
    free(*buf);
    *buf = NULL;
  }
  close_id(sp, H5Sclose);
  close_id(t, H5Tclose);
  close_id(d, H5Dclose);
  return rc;
}

int mtio_seq_read(const char *path, mtio_seq_data *out) {
  memset(out, 0, sizeof *out);
  if (access(path, R_OK) != 0)
    return MT_ERR(MT_E_IO, "cannot read the sequence file %s: %s", path, strerror(errno));
  int rc = MT_OK;
  hid_t f = -1;
  int64_t version = 0, noff = 0;
  void *tok = NULL, *off = NULL;
  mtio_h5_lock();
  MT_CHECK_H5_GOTO(f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), rc, done);
  MT_TRY_GOTO(read_int_attr(f, path, "format_version", &version), rc, done);
  if (version < 1 || version > MTIO_SEQ_FORMAT_VERSION) {
    rc = MT_ERR(MT_E_FORMAT, "%s: format_version %lld (this modtrain reads 1 to %d)", path,
                (long long)version, MTIO_SEQ_FORMAT_VERSION);
    goto done;
  }
  MT_TRY_GOTO(read_int_attr(f, path, "vocab_size", &out->vocab_size), rc, done);
  MT_TRY_GOTO(read_1d(f, path, "tokens", H5T_NATIVE_INT32, 4, &tok, &out->ntokens), rc, done);
  MT_TRY_GOTO(read_1d(f, path, "offsets", H5T_NATIVE_INT64, 8, &off, &noff), rc, done);
done:
  close_id(f, H5Fclose);
  mtio_h5_unlock();
  out->tokens = tok;
  out->offsets = off;
  if (rc == MT_OK && noff < 1) rc = MT_ERR(MT_E_FORMAT, "%s: /offsets is empty", path);
  if (rc == MT_OK) {
    out->nseq = noff - 1;
    if (out->offsets[out->nseq] != out->ntokens)
      rc = MT_ERR(MT_E_FORMAT, "%s: the last offset is %lld but /tokens holds %lld", path,
                  (long long)out->offsets[out->nseq], (long long)out->ntokens);
  }
  if (rc == MT_OK) rc = check_layout(path, out->tokens, out->offsets, out->nseq, out->vocab_size);
  if (rc < 0) {
    mtio_seq_free(out);
    if (rc == MT_E_HDF5) rc = mt_error_prefix(rc, "reading the sequence file %s", path);
  }
  return rc;
}

void mtio_seq_free(mtio_seq_data *d) {
  if (!d) return;
  free(d->tokens);
  free(d->offsets);
  memset(d, 0, sizeof *d);
}

int mtio_seq_probe(const char *path) {
  /* a regular file only: opening a FIFO or a device could block */
  struct stat st;
  if (!path || stat(path, &st) != 0 || !S_ISREG(st.st_mode) || access(path, R_OK) != 0) return 0;
  int yes = 0;
  mtio_h5_lock();
  H5E_auto2_t fn;
  void *data;
  H5Eget_auto2(H5E_DEFAULT, &fn, &data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f >= 0) {
    yes = H5Lexists(f, "tokens", H5P_DEFAULT) > 0 && H5Lexists(f, "offsets", H5P_DEFAULT) > 0;
    H5Fclose(f);
  }
  H5Eset_auto2(H5E_DEFAULT, fn, data);
  mtio_h5_unlock();
  return yes;
}
