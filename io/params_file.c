/* params_file.c — MXNet's NDArray-list (`.params`) reader and writer; the
 * byte layout is in params_file.h. The reader checks every count and length
 * against the bytes left in the file before allocating, so a damaged file
 * gives an error naming the array and offset instead of a huge allocation. */
#include "io/params_file.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/shape.h"
#include "io/h5_container.h"

/* ------------------------------------------------------------------ reader */

typedef struct {
  FILE *f;
  const char *path;
  int64_t off, size;
} preader;

/* Reads exactly n bytes; a short file is MT_E_FORMAT naming what was being
 * read ("shape of array 1") and where. */
static int rd(preader *r, void *buf, int64_t n, const char *what, int idx) {
  if (n > r->size - r->off) {
    char of[32] = "";
    if (idx >= 0) snprintf(of, sizeof of, " of array %d", idx);
    return mt_error_set(MT_E_FORMAT,
                        "'%s': truncated MXNet NDArray file: %s%s needs %lld bytes at offset %lld, "
                        "the file has %lld",
                        r->path, what, of, (long long)n, (long long)r->off, (long long)r->size);
  }
  if (n > 0 && fread(buf, 1, (size_t)n, r->f) != (size_t)n)
    return mt_error_set(MT_E_IO, "'%s': read error at offset %lld: %s", r->path, (long long)r->off,
                        ferror(r->f) ? strerror(errno) : "unexpected end of file");
  r->off += n;
  return MT_OK;
}

static int rd_u32(preader *r, uint32_t *v, const char *what, int idx) {
  return rd(r, v, 4, what, idx);
}

static int rd_u64(preader *r, uint64_t *v, const char *what, int idx) {
  return rd(r, v, 8, what, idx);
}

static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float f;
  if (exp == 0) f = ldexpf((float)man, -24); /* zero and subnormals */
  else if (exp == 31) f = man ? NAN : INFINITY;
  else {
    uint32_t bits = ((exp + 112) << 23) | (man << 13);
    memcpy(&f, &bits, 4);
  }
  uint32_t b;
  memcpy(&b, &f, 4);
  b |= sign;
  memcpy(&f, &b, 4);
  return f;
}

/* MXNet's type flags and their element sizes; 0 = unsupported. */
static int type_size(int32_t flag) {
  switch (flag) {
  case 0: return 4;  /* float32 */
  case 1: return 8;  /* float64 */
  case 2: return 2;  /* float16 */
  case 3: return 1;  /* uint8 */
  case 4: return 4;  /* int32 */
  case 5: return 1;  /* int8 */
  case 6: return 8;  /* int64 */
  case 12: return 2; /* bfloat16 */
  default: return 0;
  }
}

static void to_float(int32_t flag, const void *src, float *dst, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    switch (flag) {
    case 1: {
      double v;
      memcpy(&v, (const char *)src + 8 * i, 8);
      dst[i] = (float)v;
      break;
    }
    case 2: {
      uint16_t h;
      memcpy(&h, (const char *)src + 2 * i, 2);
      dst[i] = half_to_float(h);
      break;
    }
    case 3: dst[i] = (float)((const uint8_t *)src)[i]; break;
    case 4: {
      int32_t v;
      memcpy(&v, (const char *)src + 4 * i, 4);
      dst[i] = (float)v;
      break;
    }
    case 5: dst[i] = (float)((const int8_t *)src)[i]; break;
    case 6: {
      int64_t v;
      memcpy(&v, (const char *)src + 8 * i, 8);
      dst[i] = (float)v;
      break;
    }
    case 12: {
      uint16_t h;
      memcpy(&h, (const char *)src + 2 * i, 2);
      uint32_t b = (uint32_t)h << 16;
      memcpy(&dst[i], &b, 4);
      break;
    }
    default: dst[i] = 0; break;
    }
  }
}

/* One NDArray (NDArray::Load / LegacyLoad) into a. */
static int read_array(preader *r, int idx, mtio_named_array *a) {
  uint32_t magic;
  int rc = rd_u32(r, &magic, "magic", idx);
  if (rc < 0) return rc;
  int64_t dims[MT_MAX_DIM];
  int64_t ndim;
  if (magic == MTIO_NDARRAY_V2_MAGIC || magic == MTIO_NDARRAY_V3_MAGIC) {
    int32_t stype;
    if ((rc = rd(r, &stype, 4, "storage type", idx)) < 0) return rc;
    if (stype != 0)
      return mt_error_set(
          MT_E_UNSUPPORTED,
          "'%s': array %d has storage type %d (%s); only dense arrays are supported", r->path, idx,
          stype,
          stype == 1   ? "row_sparse"
          : stype == 2 ? "csr"
                       : "unknown");
  }
  if (magic == MTIO_NDARRAY_V1_MAGIC || magic == MTIO_NDARRAY_V2_MAGIC ||
      magic == MTIO_NDARRAY_V3_MAGIC) {
    int32_t nd; /* uint32 in V1/V2, int in V3 (-1 = unknown shape) */
    if ((rc = rd(r, &nd, 4, "ndim", idx)) < 0) return rc;
    ndim = nd;
    if (magic == MTIO_NDARRAY_V3_MAGIC ? nd < 0 : nd == 0)
      return mt_error_set(MT_E_FORMAT, "'%s': array %d is empty (an NDArray with no shape)",
                          r->path, idx);
    if (nd < 0 || nd > MT_MAX_DIM)
      return mt_error_set(MT_E_UNSUPPORTED, "'%s': array %d has %lld dims (at most %d supported)",
                          r->path, idx, (long long)ndim, MT_MAX_DIM);
    if ((rc = rd(r, dims, 8 * nd, "shape", idx)) < 0) return rc;
  } else {
    /* Legacy NDArray: the first word is ndim, then uint32 dims. */
    ndim = magic;
    if (ndim == 0)
      return mt_error_set(MT_E_FORMAT, "'%s': array %d is empty (an NDArray with no shape)",
                          r->path, idx);
    if (ndim > MT_MAX_DIM)
      return mt_error_set(MT_E_FORMAT,
                          "'%s': array %d at offset %lld: bad magic 0x%08X (not an MXNet NDArray: "
                          "expected 0x%08X)",
                          r->path, idx, (long long)(r->off - 4), magic, MTIO_NDARRAY_V2_MAGIC);
    uint32_t d32[MT_MAX_DIM];
    if ((rc = rd(r, d32, 4 * ndim, "shape", idx)) < 0) return rc;
    for (int i = 0; i < ndim; i++) dims[i] = d32[i];
  }
  int32_t ctx[2], flag;
  if ((rc = rd(r, ctx, 8, "context", idx)) < 0) return rc;
  if ((rc = rd(r, &flag, 4, "type flag", idx)) < 0) return rc;
  int ts = type_size(flag);
  if (!ts)
    return mt_error_set(MT_E_UNSUPPORTED,
                        "'%s': array %d has type flag %d (supported: float32, "
                        "float64, float16, bfloat16, uint8, int8, int32, int64)",
                        r->path, idx, flag);
  memset(&a->shape, 0, sizeof a->shape);
  a->shape.ndim = ndim == 0 ? 1 : (int)ndim; /* a V3 scalar becomes (1,) */
  a->shape.dim[0] = 1;
  for (int i = 0; i < ndim; i++) {
    if (dims[i] < 0)
      return mt_error_set(MT_E_FORMAT, "'%s': array %d has unknown dim %d", r->path, idx, i);
    a->shape.dim[i] = dims[i];
  }
  /* the one size rule (base/shape.h) before any byte count: dims of 2^62
   * are an error naming the array, not an overflow */
  int64_t count;
  char why[160], s[160];
  if (mt_shape_count(&a->shape, &count, why, sizeof why) < 0)
    return mt_error_set(MT_E_FORMAT, "'%s': array %d: shape %s %s", r->path, idx,
                        mt_shape_str(&a->shape, s, sizeof s), why);
  if (count > (r->size - r->off) / ts)
    return mt_error_set(MT_E_FORMAT,
                        "'%s': truncated MXNet NDArray file: data of array %d %s needs %lld bytes "
                        "at offset %lld, the file has %lld",
                        r->path, idx, mt_shape_str(&a->shape, s, sizeof s), (long long)(count * ts),
                        (long long)r->off, (long long)r->size);
  a->data = malloc((size_t)(count ? count : 1) * sizeof(float));
  if (!a->data) return mt_error_set(MT_E_NOMEM, "'%s': out of memory for array %d", r->path, idx);
  if (flag == 0) return rd(r, a->data, 4 * count, "data", idx);
  void *tmp = malloc((size_t)(count ? count : 1) * (size_t)ts);
  if (!tmp) return mt_error_set(MT_E_NOMEM, "'%s': out of memory for array %d", r->path, idx);
  rc = rd(r, tmp, count * ts, "data", idx);
  if (rc == MT_OK) to_float(flag, tmp, a->data, count);
  free(tmp);
  return rc;
}

void mtio_named_arrays_free(int n, mtio_named_array *arrays) {
  if (!arrays) return;
  for (int i = 0; i < n; i++) {
    free(arrays[i].name);
    free(arrays[i].data);
  }
  free(arrays);
}

int mtio_params_read(const char *path, int *n, mtio_named_array **arrays) {
  if (!path || !n || !arrays) return mt_error_set(MT_E_INVAL, "mtio_params_read: NULL argument");
  *n = 0;
  *arrays = NULL;
  preader r = {NULL, path, 0, 0};
  /* a FIFO would block fopen until a writer came: refused before opening */
  struct stat st0;
  if (stat(path, &st0) < 0)
    return mt_error_set(MT_E_IO, "cannot open '%s': %s", path, strerror(errno));
  if (!S_ISREG(st0.st_mode))
    return mt_error_set(MT_E_IO, "cannot read '%s': not a regular file", path);
  r.f = fopen(path, "rb");
  if (!r.f) return mt_error_set(MT_E_IO, "cannot open '%s': %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(r.f), &st) < 0 || !S_ISREG(st.st_mode)) {
    int e = errno;
    fclose(r.f);
    return mt_error_set(MT_E_IO, "cannot read '%s': %s", path,
                        e ? strerror(e) : "not a regular file");
  }
  r.size = st.st_size;
  mtio_named_array *list = NULL;
  uint64_t header, reserved, count = 0, nkeys;
  int rc;
  if ((rc = rd_u64(&r, &header, "header", -1)) < 0) goto fail;
  if (header != MTIO_NDARRAY_LIST_MAGIC) {
    rc = mt_error_set(MT_E_FORMAT,
                      "'%s' is not an MXNet NDArray file (.params): bad magic 0x%llX, expected "
                      "0x112",
                      path, (unsigned long long)header);
    goto fail;
  }
  if ((rc = rd_u64(&r, &reserved, "reserved word", -1)) < 0) goto fail;
  if ((rc = rd_u64(&r, &count, "array count", -1)) < 0) goto fail;
  /* each array takes at least 4 + 4 + 8 + 4 bytes */
  if (count > (uint64_t)(r.size - r.off) / 20 || count > INT_MAX) {
    rc = mt_error_set(MT_E_FORMAT,
                      "'%s': truncated or damaged MXNet NDArray file: %llu arrays cannot fit in "
                      "its %lld bytes",
                      path, (unsigned long long)count, (long long)r.size);
    goto fail;
  }
  list = calloc(count ? count : 1, sizeof *list);
  if (!list) {
    rc = mt_error_set(MT_E_NOMEM, "'%s': out of memory", path);
    goto fail;
  }
  for (uint64_t i = 0; i < count; i++)
    if ((rc = read_array(&r, (int)i, &list[i])) < 0) goto fail;
  if ((rc = rd_u64(&r, &nkeys, "name count", -1)) < 0) goto fail;
  if (nkeys != 0 && nkeys != count) {
    rc = mt_error_set(MT_E_FORMAT, "'%s': %llu names for %llu arrays (must be 0 or equal)", path,
                      (unsigned long long)nkeys, (unsigned long long)count);
    goto fail;
  }
  for (uint64_t i = 0; i < nkeys; i++) {
    uint64_t len;
    if ((rc = rd_u64(&r, &len, "name length", (int)i)) < 0) goto fail;
    if (len > (uint64_t)(r.size - r.off)) {
      rc = mt_error_set(MT_E_FORMAT,
                        "'%s': truncated MXNet NDArray file: name %llu needs %llu bytes at offset "
                        "%lld, the file has %lld",
                        path, (unsigned long long)i, (unsigned long long)len, (long long)r.off,
                        (long long)r.size);
      goto fail;
    }
    list[i].name = malloc(len + 1);
    if (!list[i].name) {
      rc = mt_error_set(MT_E_NOMEM, "'%s': out of memory", path);
      goto fail;
    }
    if ((rc = rd(&r, list[i].name, (int64_t)len, "name", (int)i)) < 0) goto fail;
    list[i].name[len] = '\0';
    if (strlen(list[i].name) != len) {
      rc = mt_error_set(MT_E_FORMAT, "'%s': name %llu holds a NUL byte", path,
                        (unsigned long long)i);
      goto fail;
    }
    /* "" or a bare "arg:" / "aux:" names no parameter */
    const char *bare = list[i].name;
    if (!strncmp(bare, "arg:", 4) || !strncmp(bare, "aux:", 4)) bare += 4;
    if (!*bare) {
      rc = mt_error_set(MT_E_FORMAT, "'%s': array %llu has an empty name%s%s%s", path,
                        (unsigned long long)i, len ? " ('" : "", list[i].name, len ? "')" : "");
      goto fail;
    }
  }
  fclose(r.f);
  *n = (int)count;
  *arrays = list;
  return MT_OK;
fail:
  fclose(r.f);
  mtio_named_arrays_free((int)count, list);
  return rc;
}

/* ------------------------------------------------------------------ writer */

int mtio_params_write(const char *path, int n, const char *const *names, const mt_shape *shapes,
                      const float *const *data) {
  if (!path || n < 0 || (n > 0 && (!shapes || !data)))
    return mt_error_set(MT_E_INVAL, "mtio_params_write: NULL argument");
  for (int i = 0; i < n; i++) {
    if (shapes[i].ndim < 1 || shapes[i].ndim > MT_MAX_DIM)
      return mt_error_set(MT_E_SHAPE, "cannot save '%s': array %d ('%s') has %d dims", path, i,
                          names && names[i] ? names[i] : "", shapes[i].ndim);
    if (names && (!names[i] || !names[i][0]))
      return mt_error_set(MT_E_INVAL, "cannot save '%s': array %d has no name", path, i);
    char why[160], s[160];
    if (mt_shape_count(&shapes[i], NULL, why, sizeof why) < 0)
      return mt_error_set(MT_E_SHAPE, "cannot save '%s': array %d ('%s'): shape %s %s", path, i,
                          names && names[i] ? names[i] : "", mt_shape_str(&shapes[i], s, sizeof s),
                          why);
  }
  size_t tl = strlen(path) + 32;
  char *tmp = malloc(tl);
  if (!tmp) return mt_error_set(MT_E_NOMEM, "cannot save '%s': out of memory", path);
  snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    int rc = mt_error_set(MT_E_IO, "cannot save '%s': create '%s': %s", path, tmp, strerror(errno));
    free(tmp);
    return rc;
  }
  setvbuf(f, NULL, _IOFBF, 1 << 20);
  int ok = 1;
#define PUT(ptr, bytes) (ok = ok && fwrite((ptr), 1, (bytes), f) == (size_t)(bytes))
  uint64_t header = MTIO_NDARRAY_LIST_MAGIC, reserved = 0, count = (uint64_t)n;
  PUT(&header, 8);
  PUT(&reserved, 8);
  PUT(&count, 8);
  for (int i = 0; i < n && ok; i++) {
    uint32_t magic = MTIO_NDARRAY_V2_MAGIC, ndim = (uint32_t)shapes[i].ndim;
    int32_t stype = 0, ctx[2] = {1, 0}, flag = 0;
    PUT(&magic, 4);
    PUT(&stype, 4);
    PUT(&ndim, 4);
    PUT(shapes[i].dim, 8 * (size_t)ndim);
    PUT(ctx, 8);
    PUT(&flag, 4);
    PUT(data[i], sizeof(float) * (size_t)mt_shape_size(&shapes[i]));
  }
  uint64_t nkeys = names ? (uint64_t)n : 0;
  PUT(&nkeys, 8);
  for (uint64_t i = 0; i < nkeys && ok; i++) {
    uint64_t len = strlen(names[i]);
    PUT(&len, 8);
    PUT(names[i], len);
  }
#undef PUT
  int e = ok ? 0 : errno;
  if (fflush(f) != 0 && ok) {
    ok = 0;
    e = errno;
  }
  if (fclose(f) != 0 && ok) {
    ok = 0;
    e = errno;
  }
  int rc = MT_OK;
  if (!ok) {
    unlink(tmp);
    rc = mt_error_set(MT_E_IO, "cannot save '%s': write '%s': %s", path, tmp,
                      e ? strerror(e) : "short write");
  } else {
    rc = mtio_commit_file(tmp, path);
  }
  free(tmp);
  return rc;
}
