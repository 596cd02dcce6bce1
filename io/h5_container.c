/* h5_container.c — HDF5 files of named float32 arrays and scalar attributes,
 * written atomically (temporary name, fsync, rename, directory fsync); see
 * h5_container.h. Layout choices:
 *  - datasets are contiguous float32 (little endian); their elements go from
 *    the caller's buffer to the file with pwrite, not through HDF5 (see the
 *    writer's comment: HDF5 never writes to disk here), so writing costs
 *    about what a raw write() of the bytes costs;
 *  - groups track link creation order, so readers (and h5dump / h5py) list
 *    parameters in the order they were saved;
 *  - text attributes are variable-length UTF-8 strings, which live in the
 *    global heap and so have no 64 KiB object-header limit (a long symbol
 *    JSON or config fits);
 *  - the file format is HDF5 1.8's (libver bounds v18), readable by any
 *    HDF5 >= 1.8, h5py and h5dump;
 *  - file locking is off: checkpoints usually live on shared file systems
 *    where flock fails, and atomic rename already keeps readers safe;
 *  - every dataset and attribute carries an XXH3-64 digest (see "digests";
 *    files of older modtrain an XXH64 one, still read and checked):
 *    HDF5 1.8's format checksums object headers but neither raw data nor
 *    the global heap (text attributes), and Fletcher32 would need chunked
 *    datasets, which the pwrite path and the contiguous pread path avoid. */
#include "base/shape.h"
#include "io/h5_container.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "io/h5_check.h"
#include "io/h5dataset.h"
#include "io/xxh3.h"
#include "io/xxh64.h"

/* ------------------------------------------------------ HDF5 error checks */

/* The check macro (docs/design.md §3) on io/h5_check.h's recorder: a negative
 * HDF5 return records HDF5's error stack with the call and file:line,
 * prefixed with what failed and the path, and jumps to `fail` with rc set
 * to `code` (MT_E_FORMAT for a damaged file, MT_E_HDF5 otherwise). */
static int h5_fail(int code, const char *file, int line, const char *call, const char *what,
                   const char *path) {
  mtio_h5_fail(call, file, line);
  return mt_error_prefix(code, "%s '%s'", what, path);
}

#define MTIO_CHECK_H5_GOTO(expr, code, what, path)                                                 \
  do {                                                                                             \
    if ((expr) < 0) {                                                                              \
      rc = h5_fail((code), __FILE__, __LINE__, #expr, (what), (path));                             \
      goto fail;                                                                                   \
    }                                                                                              \
  } while (0)

/* Every public call holds the process-wide HDF5 lock (io/h5dataset.h: the
 * HDF5 build is not thread-safe and an HDF5 iterator's prefetch thread may
 * be reading while a checkpoint is saved), and silences HDF5's printing of
 * error stacks to stderr (a library must not print), restoring it after. */
typedef struct {
  H5E_auto2_t fn;
  void *data;
} h5_quiet;

static h5_quiet quiet_begin(void) {
  mtio_h5_lock();
  h5_quiet q = {NULL, NULL};
  H5Eget_auto2(H5E_DEFAULT, &q.fn, &q.data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  return q;
}

static void quiet_end(h5_quiet q) {
  H5Eset_auto2(H5E_DEFAULT, q.fn, q.data);
  mtio_h5_unlock();
}

/* ------------------------------------------------------------------ names */

int mtio_h5_escape(const char *name, char *out, size_t len) {
  if (!name || !*name) return mt_error_set(MT_E_INVAL, "checkpoint: empty array name");
  size_t o = 0;
  if (!strcmp(name, ".")) {
    if (len < 4) goto small;
    memcpy(out, "%2E", 4);
    return MT_OK;
  }
  for (const char *p = name; *p; p++) {
    const char *rep = *p == '%' ? "%25" : *p == '/' ? "%2F" : NULL;
    size_t k = rep ? 3 : 1;
    if (o + k + 1 > len) goto small;
    if (rep) memcpy(out + o, rep, 3);
    else out[o] = *p;
    o += k;
  }
  out[o] = '\0';
  return MT_OK;
small:
  return mt_error_set(MT_E_INVAL, "checkpoint: name '%s' is too long (limit %zu bytes escaped)",
                      name, len ? len - 1 : 0);
}

int mtio_h5_unescape(const char *name, char *out, size_t len) {
  size_t o = 0;
  for (const char *p = name; *p; p++) {
    char c = *p;
    if (c == '%') {
      if (!strncmp(p, "%25", 3)) c = '%';
      else if (!strncmp(p, "%2F", 3)) c = '/';
      else if (!strncmp(p, "%2E", 3)) c = '.';
      else return mt_error_set(MT_E_FORMAT, "checkpoint: malformed escape in link name '%s'", name);
      p += 2;
    }
    if (o + 2 > len) return mt_error_set(MT_E_INVAL, "checkpoint: name '%s' is too long", name);
    out[o++] = c;
  }
  out[o] = '\0';
  return MT_OK;
}

/* ---------------------------------------------------------------- digests */

/* Every file this container writes verifies itself (docs/design.md §6):
 *  - each dataset has a scalar uint64 attribute "xxh3", the XXH3-64 (seed 0,
 *    default secret) of its elements as stored (float32 little endian, in
 *    order);
 *  - each object that has attributes written through the API ("/", groups)
 *    has "attrs_xxh3", uint64 [k]: one XXH3-64 per attribute, over its
 *    object's path, its name, a type tag and its value (attr_hash). The
 *    root always has one (maybe empty): it marks a file with digests, and
 *    its name says which hash.
 * Files written before XXH3 (checkpoint format 2) carry the same with XXH64
 * (seed 0) under "xxh64" and "attrs_xxh64"; a reader checks those with
 * XXH64. A reader checks a dataset's digest on every read and an
 * attribute's on every read (its hash must be in its object's list). The
 * metadata trailer (meta_trailer_write) is XXH64 in every file. */
typedef struct {
  const char *dset, *attrs; /* the digest attributes' names; dset is the hash's name too */
} digest_names;

static const digest_names DIGEST_NAMES[] = {
    [MTIO_DIGEST_NONE] = {"", ""},
    [MTIO_DIGEST_XXH64] = {"xxh64", "attrs_xxh64"},
    [MTIO_DIGEST_XXH3] = {"xxh3", "attrs_xxh3"},
};
#define WRITE_DIGEST MTIO_DIGEST_XXH3 /* what the writer stores */

const char *mtio_digest_name(int kind) {
  return kind == MTIO_DIGEST_XXH3 ? "xxh3" : kind == MTIO_DIGEST_XXH64 ? "xxh64" : "none";
}

/* A hash in progress, of either kind. */
typedef struct {
  int kind;
  union {
    mtio_xxh64_state x64;
    mtio_xxh3_state x3;
  } u;
} dig_state;

static void dig_init(dig_state *s, int kind) {
  s->kind = kind;
  if (kind == MTIO_DIGEST_XXH3) mtio_xxh3_init(&s->u.x3);
  else mtio_xxh64_init(&s->u.x64, 0);
}

static void dig_update(dig_state *s, const void *p, size_t n) {
  if (s->kind == MTIO_DIGEST_XXH3) mtio_xxh3_update(&s->u.x3, p, n);
  else mtio_xxh64_update(&s->u.x64, p, n);
}

static uint64_t dig_final(const dig_state *s) {
  return s->kind == MTIO_DIGEST_XXH3 ? mtio_xxh3_digest(&s->u.x3) : mtio_xxh64_digest(&s->u.x64);
}

static uint64_t dig_once(int kind, const void *p, size_t n) {
  return kind == MTIO_DIGEST_XXH3 ? mtio_xxh3(p, n) : mtio_xxh64(p, n, 0);
}

/* Whether attribute `name` of a dataset (is_dset) or other object is the
 * digest of a file with digests of `kind`; in a file without digests, the
 * digest of either kind. */
static int is_digest_attr(const char *name, int kind, int is_dset) {
  for (int k = MTIO_DIGEST_XXH64; k <= MTIO_DIGEST_XXH3; k++)
    if ((kind == MTIO_DIGEST_NONE || kind == k) &&
        !strcmp(name, is_dset ? DIGEST_NAMES[k].dset : DIGEST_NAMES[k].attrs))
      return 1;
  return 0;
}

/* The attribute's hash: "/obj\0name\0" + tag ('i' int64, 'u' uint64, 's'
 * text) + the value (8 bytes little endian; the text's bytes, no NUL). */
static uint64_t attr_hash(int kind, const char *obj, const char *name, char tag, const void *val,
                          size_t n) {
  dig_state s;
  dig_init(&s, kind);
  if (obj[0] != '/') dig_update(&s, "/", 1);
  dig_update(&s, obj, strlen(obj) + 1);
  dig_update(&s, name, strlen(name) + 1);
  dig_update(&s, &tag, 1);
  dig_update(&s, val, n);
  return dig_final(&s);
}

/* A scalar uint64 attribute `name` on the open object o, created or
 * overwritten in place (same size: the object header keeps its layout). */
static int put_u64(hid_t o, const char *name, uint64_t v, const char *path) {
  int rc = MT_OK;
  hid_t space = -1, a = -1;
  htri_t ex;
  MTIO_CHECK_H5_GOTO(ex = H5Aexists(o, name), MT_E_HDF5, "cannot save", path);
  if (ex) {
    MTIO_CHECK_H5_GOTO(a = H5Aopen(o, name, H5P_DEFAULT), MT_E_HDF5, "cannot save", path);
  } else {
    MTIO_CHECK_H5_GOTO(space = H5Screate(H5S_SCALAR), MT_E_HDF5, "cannot save", path);
    MTIO_CHECK_H5_GOTO(a = H5Acreate2(o, name, H5T_STD_U64LE, space, H5P_DEFAULT, H5P_DEFAULT),
                       MT_E_HDF5, "cannot save", path);
  }
  MTIO_CHECK_H5_GOTO(H5Awrite(a, H5T_NATIVE_UINT64, &v), MT_E_HDF5, "cannot save", path);
fail:
  if (a >= 0) H5Aclose(a);
  if (space >= 0) H5Sclose(space);
  return rc;
}

/* ----------------------------------------------------------- atomic files */

static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

/* rename(tmp, path), then fsync the directory so the rename is durable. The
 * new file is in place once rename returns: a directory that refuses fsync
 * (EINVAL on some file systems) is only worth a warning. */
static int rename_durable(const char *tmp, const char *path) {
  if (rename(tmp, path) < 0)
    return mt_error_set(MT_E_IO, "cannot save '%s': rename from '%s': %s", path, tmp,
                        strerror(errno));
  char *dir = dir_of(path);
  int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  if (dfd >= 0) {
    if (fsync(dfd) < 0 && errno != EINVAL)
      mt_log(MT_LOG_WARN, "checkpoint", "fsync of directory '%s' after saving '%s': %s", dir, path,
             strerror(errno));
    close(dfd);
  }
  free(dir);
  return MT_OK;
}

int mtio_commit_file(const char *tmp, const char *path) {
  int rc = MT_OK;
  int fd = open(tmp, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    rc = mt_error_set(MT_E_IO, "cannot save '%s': open '%s' for fsync: %s", path, tmp,
                      strerror(errno));
    goto fail;
  }
  if (fsync(fd) < 0) {
    int e = errno;
    close(fd);
    rc = mt_error_set(MT_E_IO, "cannot save '%s': fsync '%s': %s", path, tmp, strerror(e));
    goto fail;
  }
  if (close(fd) < 0) {
    rc = mt_error_set(MT_E_IO, "cannot save '%s': close '%s': %s", path, tmp, strerror(errno));
    goto fail;
  }
  if ((rc = rename_durable(tmp, path)) < 0) goto fail;
  return MT_OK;
fail:
  unlink(tmp);
  return rc;
}

/* ----------------------------------------------------------------- writer */

/* HDF5 1.10 does not survive its own write errors: a failed flush or close
 * leaves a dangling file id that crashes a later close or the library's
 * shutdown at exit. So HDF5 never writes to disk here. The file is built
 * with the core (in-memory) driver, whose buffer the image callbacks below
 * hand to us; datasets get their file space at creation (alloc time early,
 * no fill), and their elements are never given to HDF5. At commit the
 * elements (straight from the caller's arrays, hashed as they go) and then
 * the metadata (the core buffer outside the datasets' extents, with the
 * digests filled in) are written with pwrite into the temporary file, so
 * every disk error is ours to report and clean up, and the elements cost
 * one write, as a raw write() would.
 *
 * The metadata must not land after the datasets (the core driver would then
 * zero-fill its buffer over them): text attributes are written before any
 * dataset, and the metadata block (H5Pset_meta_block_size) is sized by the
 * caller's bound, so object headers and links fill the block allocated at
 * the start of the file. */
typedef struct {
  unsigned char *p; /* the core driver's file image, ours after close */
  size_t n;
} core_image;

typedef struct {
  int64_t off, bytes;
  const void *data;
  char *dset;      /* its path, for the digest attribute */
  uint64_t digest; /* XXH3 of the bytes, computed while they are written */
} data_range;

/* An attribute written through the API, for its object's digest list. */
typedef struct {
  char *obj, *name;
  uint64_t h;
} attr_rec;

struct mtio_h5w {
  hid_t file;
  char *path, *tmp;
  core_image *img;
  data_range *ranges;
  int nranges, cap;
  attr_rec *attrs;
  int nattrs, attrs_cap;
};

static void *img_malloc(size_t size, H5FD_file_image_op_t op, void *udata) {
  core_image *im = udata;
  void *p = malloc(size ? size : 1);
  if (p) {
    im->p = p;
    im->n = size;
  }
  return p;
}

static void *img_memcpy(void *dst, const void *src, size_t size, H5FD_file_image_op_t op,
                        void *udata) {
  return memcpy(dst, src, size);
}

static void *img_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata) {
  core_image *im = udata;
  void *p = realloc(ptr, size ? size : 1);
  if (p) {
    im->p = p;
    im->n = size;
  }
  return p;
}

/* The image outlives the file: kept on close, freed by the writer. */
static herr_t img_free(void *ptr, H5FD_file_image_op_t op, void *udata) {
  core_image *im = udata;
  if (ptr != im->p) free(ptr);
  return 0;
}

static void *udata_copy(void *udata) { return udata; }
static herr_t udata_free(void *udata) { return 0; }

/* File access for reading: sec2, no file locking (checkpoints usually live
 * on shared file systems where flock fails; atomic rename keeps readers
 * safe). For writing: the core driver with the image callbacks. */
static hid_t make_fapl(core_image *img, int64_t meta_block) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return fapl;
  H5FD_file_image_callbacks_t cb = {img_malloc, img_memcpy, img_realloc, img_free,
                                    udata_copy, udata_free, img};
  if (H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
      (img ? H5Pset_fapl_core(fapl, 64 << 10, 0) < 0 ||
                 H5Pset_file_image_callbacks(fapl, &cb) < 0 ||
                 H5Pset_meta_block_size(fapl, (hsize_t)meta_block) < 0
           : H5Pset_fapl_sec2(fapl) < 0)
#if H5_VERSION_GE(1, 10, 7)
      || H5Pset_file_locking(fapl, 0, 1) < 0
#endif
  ) {
    H5Pclose(fapl);
    return -1;
  }
  return fapl;
}

static hid_t make_order_plist(hid_t cls) {
  hid_t p = H5Pcreate(cls);
  if (p < 0) return p;
  if (H5Pset_link_creation_order(p, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0) {
    H5Pclose(p);
    return -1;
  }
  return p;
}

/* Frees the writer; the caller holds the HDF5 lock if w->file is open. */
static void h5w_free(mtio_h5w *w) {
  if (w->file >= 0) { /* in memory: nothing to write that can fail */
    H5Fclose(w->file);
    H5Eclear2(H5E_DEFAULT);
  }
  if (w->img) free(w->img->p);
  free(w->img);
  for (int i = 0; i < w->nranges; i++) free(w->ranges[i].dset);
  free(w->ranges);
  for (int i = 0; i < w->nattrs; i++) {
    free(w->attrs[i].obj);
    free(w->attrs[i].name);
  }
  free(w->attrs);
  free(w->path);
  free(w->tmp);
  free(w);
}

static int h5w_create(const char *path, int64_t meta_bytes, mtio_h5w **out) {
  int rc = MT_OK;
  hid_t fapl = -1, fcpl = -1;
  mtio_h5w *w = calloc(1, sizeof *w);
  if (!w) return mt_error_set(MT_E_NOMEM, "checkpoint: out of memory for '%s'", path);
  w->file = -1;
  w->path = strdup(path);
  w->img = calloc(1, sizeof *w->img);
  size_t n = strlen(path) + 32;
  w->tmp = malloc(n);
  if (!w->path || !w->tmp || !w->img) {
    rc = mt_error_set(MT_E_NOMEM, "checkpoint: out of memory for '%s'", path);
    goto fail;
  }
  snprintf(w->tmp, n, "%s.tmp.%ld", path, (long)getpid());
  /* The directory must exist: say so now rather than at commit. */
  char *dir = dir_of(path);
  struct stat st;
  errno = 0;
  if (!dir || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
    const char *why = !dir ? "out of memory" : errno ? strerror(errno) : "not a directory";
    rc = mt_error_set(MT_E_IO, "cannot save '%s': directory '%s': %s", path, dir ? dir : "?", why);
    free(dir);
    goto fail;
  }
  free(dir);
  /* H5Fcreate first tries to open an existing file of that name (the core
   * driver would read it in): a stale temporary file of a dead process with
   * our pid goes first. */
  unlink(w->tmp);
  int64_t block = meta_bytes > 0 ? meta_bytes : (1 << 20);
  block = (block + (64 << 10) - 1) / (64 << 10) * (64 << 10);
  MTIO_CHECK_H5_GOTO(fapl = make_fapl(w->img, block), MT_E_HDF5, "cannot save", path);
  MTIO_CHECK_H5_GOTO(fcpl = make_order_plist(H5P_FILE_CREATE), MT_E_HDF5, "cannot save", path);
  MTIO_CHECK_H5_GOTO(w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, fcpl, fapl), MT_E_HDF5,
                     "cannot save", path);
  H5Pclose(fapl);
  H5Pclose(fcpl);
  *out = w;
  return MT_OK;
fail:
  if (fapl >= 0) H5Pclose(fapl);
  if (fcpl >= 0) H5Pclose(fcpl);
  h5w_free(w);
  return rc;
}

int mtio_h5w_create(const char *path, int64_t meta_bytes, mtio_h5w **out) {
  if (!path || !out) return mt_error_set(MT_E_INVAL, "mtio_h5w_create: NULL argument");
  *out = NULL;
  h5_quiet q = quiet_begin();
  int rc = h5w_create(path, meta_bytes, out);
  quiet_end(q);
  return rc;
}

/* Creates every missing group of `grp` ("/a/b"), tracking creation order. */
static int ensure_group(mtio_h5w *w, const char *grp) {
  int rc = MT_OK;
  hid_t gcpl = -1;
  size_t n = strlen(grp);
  char *buf = malloc(n + 1);
  if (!buf) return mt_error_set(MT_E_NOMEM, "checkpoint: out of memory");
  memcpy(buf, grp, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char c = buf[i];
    buf[i] = '\0';
    htri_t ex;
    MTIO_CHECK_H5_GOTO(ex = H5Lexists(w->file, buf, H5P_DEFAULT), MT_E_HDF5, "cannot save",
                       w->path);
    if (!ex) {
      if (gcpl < 0)
        MTIO_CHECK_H5_GOTO(gcpl = make_order_plist(H5P_GROUP_CREATE), MT_E_HDF5, "cannot save",
                           w->path);
      hid_t g;
      MTIO_CHECK_H5_GOTO(g = H5Gcreate2(w->file, buf, H5P_DEFAULT, gcpl, H5P_DEFAULT), MT_E_HDF5,
                         "cannot save", w->path);
      H5Gclose(g);
    }
    buf[i] = c;
  }
fail:
  if (gcpl >= 0) H5Pclose(gcpl);
  free(buf);
  return rc;
}

static int h5w_array(mtio_h5w *w, const char *dset, const mt_shape *shape, const float *data) {
  int rc = MT_OK;
  hid_t space = -1, dcpl = -1, d = -1;
  if (shape->ndim < 1 || shape->ndim > MT_MAX_DIM)
    return mt_error_set(MT_E_SHAPE, "cannot save '%s': dataset '%s' has %d dims (1..%d)", w->path,
                        dset, shape->ndim, MT_MAX_DIM);
  hsize_t dims[MT_MAX_DIM];
  for (int i = 0; i < shape->ndim; i++) {
    if (shape->dim[i] < 0)
      return mt_error_set(MT_E_SHAPE, "cannot save '%s': dataset '%s' has a negative dim", w->path,
                          dset);
    dims[i] = (hsize_t)shape->dim[i];
  }
  if (w->nranges == w->cap) {
    int cap = w->cap ? 2 * w->cap : 64;
    data_range *r = realloc(w->ranges, sizeof *r * (size_t)cap);
    if (!r) return mt_error_set(MT_E_NOMEM, "checkpoint: out of memory");
    w->ranges = r;
    w->cap = cap;
  }
  const char *slash = strrchr(dset, '/');
  if (slash && slash != dset) {
    char *grp = strndup(dset, (size_t)(slash - dset));
    if (!grp) return mt_error_set(MT_E_NOMEM, "checkpoint: out of memory");
    rc = ensure_group(w, grp);
    free(grp);
    if (rc < 0) return rc;
  }
  MTIO_CHECK_H5_GOTO(space = H5Screate_simple(shape->ndim, dims, NULL), MT_E_HDF5, "cannot save",
                     w->path);
  /* contiguous, its file space allocated now, never filled by HDF5 */
  MTIO_CHECK_H5_GOTO(dcpl = H5Pcreate(H5P_DATASET_CREATE), MT_E_HDF5, "cannot save", w->path);
  MTIO_CHECK_H5_GOTO(H5Pset_layout(dcpl, H5D_CONTIGUOUS), MT_E_HDF5, "cannot save", w->path);
  MTIO_CHECK_H5_GOTO(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY), MT_E_HDF5, "cannot save",
                     w->path);
  MTIO_CHECK_H5_GOTO(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), MT_E_HDF5, "cannot save",
                     w->path);
  MTIO_CHECK_H5_GOTO(
      d = H5Dcreate2(w->file, dset, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
      MT_E_HDF5, "cannot save", w->path);
  int64_t bytes = 4 * mt_shape_size(shape);
  /* the digest: known now for an empty dataset, else a placeholder that
   * commit overwrites in place once the elements are written and hashed */
  if ((rc = put_u64(d, DIGEST_NAMES[WRITE_DIGEST].dset,
                    bytes > 0 ? 0 : dig_once(WRITE_DIGEST, "", 0), w->path)) < 0)
    goto fail;
  if (bytes > 0) {
    haddr_t off = H5Dget_offset(d);
    if (off == HADDR_UNDEF) {
      rc = h5_fail(MT_E_HDF5, __FILE__, __LINE__, "H5Dget_offset", "cannot save", w->path);
      goto fail;
    }
    char *name = strdup(dset);
    if (!name) {
      rc = mt_error_set(MT_E_NOMEM, "checkpoint: out of memory");
      goto fail;
    }
    w->ranges[w->nranges++] = (data_range){(int64_t)off, bytes, data, name, 0};
  }
fail:
  if (d >= 0) H5Dclose(d);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
  return rc;
}

int mtio_h5w_array(mtio_h5w *w, const char *dset, const mt_shape *shape, const float *data) {
  if (!w || !dset || !shape || (!data && mt_shape_size(shape) > 0))
    return mt_error_set(MT_E_INVAL, "mtio_h5w_array: NULL argument");
  h5_quiet q = quiet_begin();
  int rc = h5w_array(w, dset, shape, data);
  quiet_end(q);
  return rc;
}

/* Notes attribute (obj, name)'s hash h for its object's digest list,
 * replacing the hash of an earlier value. */
static int record_attr(mtio_h5w *w, const char *obj, const char *name, uint64_t h) {
  char *o = malloc(strlen(obj) + 2);
  if (!o) return mt_error_set(MT_E_NOMEM, "checkpoint: out of memory");
  snprintf(o, strlen(obj) + 2, "%s%s", obj[0] == '/' ? "" : "/", obj);
  for (int i = 0; i < w->nattrs; i++)
    if (!strcmp(w->attrs[i].obj, o) && !strcmp(w->attrs[i].name, name)) {
      w->attrs[i].h = h;
      free(o);
      return MT_OK;
    }
  char *n = strdup(name);
  if (w->nattrs == w->attrs_cap) {
    int cap = w->attrs_cap ? 2 * w->attrs_cap : 32;
    attr_rec *r = realloc(w->attrs, sizeof *r * (size_t)cap);
    if (r) {
      w->attrs = r;
      w->attrs_cap = cap;
    }
  }
  if (!n || w->nattrs == w->attrs_cap) {
    free(o);
    free(n);
    return mt_error_set(MT_E_NOMEM, "checkpoint: out of memory");
  }
  w->attrs[w->nattrs++] = (attr_rec){o, n, h};
  return MT_OK;
}

/* One scalar attribute of type `type` on `obj`, replacing an old one, and
 * its hash h noted for the object's digest list. */
static int h5w_attr(mtio_h5w *w, const char *obj, const char *name, hid_t type, const void *buf,
                    uint64_t h) {
  int rc = MT_OK;
  hid_t o = -1, space = -1, a = -1;
  if (is_digest_attr(name, MTIO_DIGEST_NONE, 0) || is_digest_attr(name, MTIO_DIGEST_NONE, 1))
    return mt_error_set(MT_E_INVAL, "cannot save '%s': attribute name '%s' is reserved for digests",
                        w->path, name);
  if (strcmp(obj, "/") && (rc = ensure_group(w, obj)) < 0) return rc;
  MTIO_CHECK_H5_GOTO(o = H5Oopen(w->file, obj, H5P_DEFAULT), MT_E_HDF5, "cannot save", w->path);
  htri_t ex;
  MTIO_CHECK_H5_GOTO(ex = H5Aexists(o, name), MT_E_HDF5, "cannot save", w->path);
  if (ex) MTIO_CHECK_H5_GOTO(H5Adelete(o, name), MT_E_HDF5, "cannot save", w->path);
  MTIO_CHECK_H5_GOTO(space = H5Screate(H5S_SCALAR), MT_E_HDF5, "cannot save", w->path);
  MTIO_CHECK_H5_GOTO(a = H5Acreate2(o, name, type, space, H5P_DEFAULT, H5P_DEFAULT), MT_E_HDF5,
                     "cannot save", w->path);
  MTIO_CHECK_H5_GOTO(H5Awrite(a, type, buf), MT_E_HDF5, "cannot save", w->path);
  rc = record_attr(w, obj, name, h);
fail:
  if (a >= 0) H5Aclose(a);
  if (space >= 0) H5Sclose(space);
  if (o >= 0) H5Oclose(o);
  return rc;
}

int mtio_h5w_attr_i64(mtio_h5w *w, const char *obj, const char *name, int64_t v) {
  if (!w || !obj || !name) return mt_error_set(MT_E_INVAL, "mtio_h5w_attr_i64: NULL argument");
  h5_quiet q = quiet_begin();
  int rc =
      h5w_attr(w, obj, name, H5T_STD_I64LE, &v, attr_hash(WRITE_DIGEST, obj, name, 'i', &v, 8));
  quiet_end(q);
  return rc;
}

int mtio_h5w_attr_u64(mtio_h5w *w, const char *obj, const char *name, uint64_t v) {
  if (!w || !obj || !name) return mt_error_set(MT_E_INVAL, "mtio_h5w_attr_u64: NULL argument");
  h5_quiet q = quiet_begin();
  int rc =
      h5w_attr(w, obj, name, H5T_STD_U64LE, &v, attr_hash(WRITE_DIGEST, obj, name, 'u', &v, 8));
  quiet_end(q);
  return rc;
}

int mtio_h5w_attr_str(mtio_h5w *w, const char *obj, const char *name, const char *s) {
  if (!w || !obj || !name) return mt_error_set(MT_E_INVAL, "mtio_h5w_attr_str: NULL argument");
  h5_quiet q = quiet_begin();
  int rc = MT_OK;
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)
    rc = h5_fail(MT_E_HDF5, __FILE__, __LINE__, "H5Tcopy(H5T_C_S1)", "cannot save", w->path);
  const char *p = s ? s : "";
  if (rc == MT_OK)
    rc = h5w_attr(w, obj, name, t, &p, attr_hash(WRITE_DIGEST, obj, name, 's', p, strlen(p)));
  if (t >= 0) H5Tclose(t);
  quiet_end(q);
  return rc;
}

static int cmp_range(const void *a, const void *b) {
  int64_t x = ((const data_range *)a)->off, y = ((const data_range *)b)->off;
  return (x > y) - (x < y);
}

static int pwrite_all(int fd, const void *buf, int64_t n, int64_t off, const mtio_h5w *w) {
  const char *p = buf;
  while (n > 0) {
    size_t chunk = n > (1 << 30) ? (size_t)1 << 30 : (size_t)n;
    ssize_t k = pwrite(fd, p, chunk, (off_t)off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0)
      return mt_error_set(MT_E_IO, "cannot save '%s': write '%s' at offset %lld: %s", w->path,
                          w->tmp, (long long)off, k < 0 ? strerror(errno) : "no progress");
    p += k;
    n -= k;
    off += k;
  }
  return MT_OK;
}

/* Space for the file's bytes [from, bytes) before writing them: a
 * checkpoint that does not fit fails at once with ENOSPC rather than after
 * writing most of itself. */
static int reserve_space(int fd, int64_t from, int64_t bytes, const mtio_h5w *w) {
  if (bytes <= from) return MT_OK;
  if (fallocate(fd, 0, (off_t)from, (off_t)(bytes - from)) == 0) return MT_OK;
  int e = errno;
  if (e == ENOSPC || e == EDQUOT)
    return mt_error_set(MT_E_IO, "cannot save '%s': %s (the checkpoint takes %lld bytes)", w->path,
                        strerror(e), (long long)bytes);
  struct statvfs sv; /* no fallocate here (EOPNOTSUPP ...): compare with the free space */
  if (fstatvfs(fd, &sv) == 0 && (int64_t)sv.f_bavail * (int64_t)sv.f_frsize < bytes - from)
    return mt_error_set(
        MT_E_IO, "cannot save '%s': %s (the checkpoint takes %lld bytes, %lld are free)", w->path,
        strerror(ENOSPC), (long long)bytes, (long long)sv.f_bavail * (long long)sv.f_frsize);
  if (ftruncate(fd, (off_t)bytes) < 0)
    return mt_error_set(MT_E_IO, "cannot save '%s': extend '%s': %s", w->path, w->tmp,
                        strerror(errno));
  return MT_OK;
}

/* The end-of-file address a version 2/3 superblock (libver v18 and later)
 * records, at byte 28 with 8-byte offsets; 0 if the image has another. */
static int64_t superblock_eoa(const core_image *im) {
  static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (im->n < 48 || memcmp(im->p, sig, 8) || (im->p[8] != 2 && im->p[8] != 3) || im->p[9] != 8)
    return 0;
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | im->p[28 + i];
  return (int64_t)v;
}

/* Elements go to the file in pieces of this size: each piece is handed to
 * the kernel, its writeback started (sync_file_range), and then hashed, so
 * the disk writes while the CPU hashes (XXH3 runs at 10+ GB/s, a disk at
 * well under 1), and the piece is still in cache when hashed. */
#define WRITE_PIECE ((int64_t)2 << 20)

/* Writes range r's elements at their offset and computes their digest. */
static int write_range(int fd, data_range *r, const mtio_h5w *w) {
  dig_state s;
  dig_init(&s, WRITE_DIGEST);
  const char *p = r->data;
  for (int64_t pos = 0; pos < r->bytes; pos += WRITE_PIECE) {
    int64_t k = r->bytes - pos < WRITE_PIECE ? r->bytes - pos : WRITE_PIECE;
    int rc = pwrite_all(fd, p + pos, k, r->off + pos, w);
    if (rc < 0) return rc;
#ifdef SYNC_FILE_RANGE_WRITE
    (void)sync_file_range(fd, (off_t)(r->off + pos), (off_t)k, SYNC_FILE_RANGE_WRITE); /* a hint */
#endif
    dig_update(&s, p + pos, (size_t)k);
  }
  r->digest = dig_final(&s);
  return MT_OK;
}

/* The size HDF5 has laid out so far (every dataset's extent included). */
static int h5w_size(mtio_h5w *w, int64_t *size) {
  int rc = MT_OK;
  hsize_t sz = 0;
  MTIO_CHECK_H5_GOTO(H5Fget_filesize(w->file, &sz), MT_E_HDF5, "cannot save", w->path);
  *size = (int64_t)sz;
fail:
  return rc;
}

/* Creates the temporary file, reserves `size` bytes and writes the
 * elements of every dataset (no HDF5 calls), hashing them. *fd: the open
 * file on success; on failure it is closed and removed. */
static int h5w_write_elements(mtio_h5w *w, int64_t size, int *fd) {
  int rc = MT_OK;
  *fd = -1;
  if (w->nranges > 1) qsort(w->ranges, (size_t)w->nranges, sizeof *w->ranges, cmp_range);
  for (int i = 0; i < w->nranges; i++) {
    const data_range *r = &w->ranges[i];
    int64_t prev_end = i ? w->ranges[i - 1].off + w->ranges[i - 1].bytes : 0;
    if (r->off < prev_end || r->off + r->bytes > size)
      return mt_error_set(MT_E_HDF5, "cannot save '%s': dataset extents overlap or pass the end",
                          w->path);
  }
  *fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (*fd < 0)
    return mt_error_set(MT_E_IO, "cannot save '%s': create '%s': %s", w->path, w->tmp,
                        strerror(errno));
  if ((rc = reserve_space(*fd, 0, size, w)) < 0) goto fail;
  for (int i = 0; i < w->nranges; i++)
    if ((rc = write_range(*fd, &w->ranges[i], w)) < 0) goto fail;
  return MT_OK;
fail:
  close(*fd);
  *fd = -1;
  unlink(w->tmp);
  return rc;
}

static int cmp_attr(const void *a, const void *b) {
  const attr_rec *x = a, *y = b;
  int c = strcmp(x->obj, y->obj);
  return c ? c : strcmp(x->name, y->name);
}

/* obj's digest list: the hashes of attrs[0..k) (all of obj). */
static int put_attr_digests(mtio_h5w *w, const char *obj, const attr_rec *attrs, int k) {
  int rc = MT_OK;
  hid_t o = -1, space = -1, a = -1;
  hsize_t dim = (hsize_t)k;
  uint64_t *h = malloc(sizeof *h * (size_t)(k ? k : 1));
  if (!h) return mt_error_set(MT_E_NOMEM, "checkpoint: out of memory");
  for (int i = 0; i < k; i++) h[i] = attrs[i].h;
  MTIO_CHECK_H5_GOTO(o = H5Oopen(w->file, obj, H5P_DEFAULT), MT_E_HDF5, "cannot save", w->path);
  MTIO_CHECK_H5_GOTO(space = H5Screate_simple(1, &dim, NULL), MT_E_HDF5, "cannot save", w->path);
  MTIO_CHECK_H5_GOTO(a = H5Acreate2(o, DIGEST_NAMES[WRITE_DIGEST].attrs, H5T_STD_U64LE, space,
                                    H5P_DEFAULT, H5P_DEFAULT),
                     MT_E_HDF5, "cannot save", w->path);
  if (k > 0)
    MTIO_CHECK_H5_GOTO(H5Awrite(a, H5T_NATIVE_UINT64, h), MT_E_HDF5, "cannot save", w->path);
fail:
  if (a >= 0) H5Aclose(a);
  if (space >= 0) H5Sclose(space);
  if (o >= 0) H5Oclose(o);
  free(h);
  return rc;
}

/* The digests into the in-memory file (each dataset's, each object's
 * attribute list; both small, in the metadata block), then closes it,
 * which writes the last metadata into the image. *size: the file size it
 * needs. */
static int h5w_finish(mtio_h5w *w, int64_t *size) {
  int rc = MT_OK;
  for (int i = 0; i < w->nranges; i++) {
    hid_t o;
    MTIO_CHECK_H5_GOTO(o = H5Oopen(w->file, w->ranges[i].dset, H5P_DEFAULT), MT_E_HDF5,
                       "cannot save", w->path);
    rc = put_u64(o, DIGEST_NAMES[WRITE_DIGEST].dset, w->ranges[i].digest, w->path);
    H5Oclose(o);
    if (rc < 0) goto fail;
  }
  if (w->nattrs > 1) qsort(w->attrs, (size_t)w->nattrs, sizeof *w->attrs, cmp_attr);
  if (!w->nattrs || strcmp(w->attrs[0].obj, "/")) /* the root's list marks a file with digests */
    if ((rc = put_attr_digests(w, "/", NULL, 0)) < 0) goto fail;
  for (int i = 0, j; i < w->nattrs; i = j) {
    for (j = i + 1; j < w->nattrs && !strcmp(w->attrs[j].obj, w->attrs[i].obj); j++) {}
    if ((rc = put_attr_digests(w, w->attrs[i].obj, w->attrs + i, j - i)) < 0) goto fail;
  }
  if ((rc = h5w_size(w, size)) < 0) goto fail;
  hid_t f = w->file;
  w->file = -1;
  MTIO_CHECK_H5_GOTO(H5Fclose(f), MT_E_HDF5, "cannot save", w->path);
fail:
  return rc;
}

/* Writes the metadata (the image outside the datasets' extents) into the
 * file whose elements are written, fsyncs, closes and renames it (no HDF5
 * calls). size0: the bytes reserved; size: the file's size now. Closes fd
 * and, on failure, removes the temporary file. */
/* The metadata trailer: after the HDF5 file's last byte (HDF5 reads up to
 * its end-of-address and ignores what follows), a record of where the
 * metadata lies and a digest of it, so a reader checks every byte HDF5 will
 * parse (superblock, object headers, heaps, B-trees) with plain reads
 * before HDF5 sees the file: HDF5 1.10 can crash or hang on damaged
 * metadata (fuzz/README.md), and the per-object digests inside the file
 * are read only after HDF5 has parsed it. Layout, little endian:
 *   u64 nseg, nseg x (u64 offset, u64 length), u64 XXH64 of (the segment
 *   table, then each segment's bytes), u64 trailer bytes, "MTH5META".
 * A file without it (older modtrain, or rewritten by HDF5, which truncates
 * a file it edits to its end-of-address) is checked by the per-object
 * digests alone. */
#define TRAILER_MAGIC "MTH5META"
#define TRAILER_MAX_SEGS 65536

static int meta_trailer_write(int fd, int64_t at, const char *image, int nseg, const uint64_t *seg,
                              const mtio_h5w *w) {
  size_t tbytes = 8 + 16 * (size_t)nseg + 8 + 8 + 8;
  unsigned char *t = malloc(tbytes);
  if (!t) return mt_error_set(MT_E_NOMEM, "cannot save '%s': out of memory", w->path);
  uint64_t n = (uint64_t)nseg;
  memcpy(t, &n, 8);
  memcpy(t + 8, seg, 16 * (size_t)nseg);
  mtio_xxh64_state st;
  mtio_xxh64_init(&st, 0);
  mtio_xxh64_update(&st, t, 8 + 16 * (size_t)nseg);
  for (int i = 0; i < nseg; i++) mtio_xxh64_update(&st, image + seg[2 * i], (size_t)seg[2 * i + 1]);
  uint64_t d = mtio_xxh64_digest(&st), tb = (uint64_t)tbytes;
  memcpy(t + 8 + 16 * (size_t)nseg, &d, 8);
  memcpy(t + 16 + 16 * (size_t)nseg, &tb, 8);
  memcpy(t + 24 + 16 * (size_t)nseg, TRAILER_MAGIC, 8);
  int rc = pwrite_all(fd, t, (int64_t)tbytes, at, w);
  free(t);
  return rc;
}

/* MT_OK when the file has no trailer or its metadata matches it;
 * MT_E_FORMAT naming the file when they differ or the trailer is damaged. */
static int meta_trailer_check(const char *path, int fd, int64_t size) {
  unsigned char tail[24];
  if (size < 24 || pread(fd, tail, 24, (off_t)(size - 24)) != 24) return MT_OK;
  if (memcmp(tail + 16, TRAILER_MAGIC, 8)) return MT_OK; /* no trailer */
  uint64_t want, tb, n;
  memcpy(&want, tail, 8);
  memcpy(&tb, tail + 8, 8);
  int rc = MT_OK;
  unsigned char *t = NULL;
  char *buf = NULL;
  if (tb < 32 || tb > (uint64_t)size || (tb - 32) % 16 || (tb - 32) / 16 > TRAILER_MAX_SEGS)
    goto damaged;
  int64_t end = size - (int64_t)tb; /* the HDF5 file proper */
  if (!(t = malloc((size_t)tb)) || pread(fd, t, (size_t)tb, (off_t)end) != (ssize_t)tb) {
    rc = mt_error_set(MT_E_IO, "cannot read checkpoint '%s': %s", path,
                      t ? strerror(errno) : "out of memory");
    goto done;
  }
  memcpy(&n, t, 8);
  if (n != (tb - 32) / 16) goto damaged;
  mtio_xxh64_state st;
  mtio_xxh64_init(&st, 0);
  mtio_xxh64_update(&st, t, 8 + 16 * (size_t)n);
  uint64_t prev_end = 0;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t off, len;
    memcpy(&off, t + 8 + 16 * i, 8);
    memcpy(&len, t + 16 + 16 * i, 8);
    if (off < prev_end || len > (uint64_t)end || off > (uint64_t)end - len) goto damaged;
    prev_end = off + len;
    char piece[65536];
    for (uint64_t done = 0; done < len;) {
      size_t k = len - done < sizeof piece ? (size_t)(len - done) : sizeof piece;
      if (pread(fd, piece, k, (off_t)(off + done)) != (ssize_t)k) goto damaged;
      mtio_xxh64_update(&st, piece, k);
      done += k;
    }
  }
  if (mtio_xxh64_digest(&st) == want) goto done;
damaged:
  rc = mt_error_set(MT_E_FORMAT,
                    "'%s': its HDF5 metadata does not match the digest in its trailer: the file "
                    "is damaged (refused before HDF5 reads it)",
                    path);
done:
  free(t);
  free(buf);
  return rc;
}

static int h5w_write_meta(mtio_h5w *w, int fd, int64_t size0, int64_t size) {
  int rc = MT_OK;
  core_image *im = w->img;
  int64_t total = size, eoa = superblock_eoa(im);
  if (!im->p || eoa <= 0) {
    rc = mt_error_set(MT_E_HDF5, "cannot save '%s': HDF5 produced no file image", w->path);
    goto fail;
  }
  if (eoa > total) total = eoa;
  if (size0 > total) total = size0;
  if ((rc = reserve_space(fd, size0, total, w)) < 0) goto fail;
  /* the metadata: the image outside the datasets' extents (beyond the
   * image's end the file is zeros already); each piece also goes into the
   * metadata trailer (meta_trailer) */
  uint64_t *seg = malloc(sizeof *seg * 2 * (size_t)(w->nranges + 1));
  if (!seg) {
    rc = mt_error_set(MT_E_NOMEM, "cannot save '%s': out of memory", w->path);
    goto fail;
  }
  int nseg = 0;
  int64_t pos = 0;
  for (int i = 0; i <= w->nranges; i++) {
    int64_t gap_end = i < w->nranges ? w->ranges[i].off : total;
    int64_t stop = gap_end < (int64_t)im->n ? gap_end : (int64_t)im->n;
    if (stop > pos) {
      if ((rc = pwrite_all(fd, im->p + pos, stop - pos, pos, w)) < 0) {
        free(seg);
        goto fail;
      }
      seg[2 * nseg] = (uint64_t)pos;
      seg[2 * nseg + 1] = (uint64_t)(stop - pos);
      nseg++;
    }
    if (i < w->nranges) pos = w->ranges[i].off + w->ranges[i].bytes;
  }
  rc = meta_trailer_write(fd, total, (const char *)im->p, nseg, seg, w);
  free(seg);
  if (rc < 0) goto fail;
  if (fsync(fd) < 0) {
    rc =
        mt_error_set(MT_E_IO, "cannot save '%s': fsync '%s': %s", w->path, w->tmp, strerror(errno));
    goto fail;
  }
  int c = close(fd);
  fd = -1;
  if (c < 0) {
    rc =
        mt_error_set(MT_E_IO, "cannot save '%s': close '%s': %s", w->path, w->tmp, strerror(errno));
    goto fail;
  }
  if ((rc = rename_durable(w->tmp, w->path)) < 0) goto fail;
  mt_log(MT_LOG_DEBUG, "checkpoint",
         "saved '%s': %lld bytes, %d datasets, metadata image %zu bytes", w->path, (long long)total,
         w->nranges, im->n);
  return MT_OK;
fail:
  if (fd >= 0) close(fd);
  unlink(w->tmp);
  return rc;
}

/* The elements first (hashed as they go to the kernel, without the HDF5
 * lock: other threads may use HDF5 meanwhile), then the digests into the
 * metadata, then the metadata. */
int mtio_h5w_commit(mtio_h5w *w) {
  if (!w) return mt_error_set(MT_E_INVAL, "mtio_h5w_commit: NULL writer");
  int fd = -1;
  int64_t size0 = 0, size = 0;
  h5_quiet q = quiet_begin();
  int rc = h5w_size(w, &size0);
  quiet_end(q);
  if (rc == MT_OK) rc = h5w_write_elements(w, size0, &fd);
  if (rc == MT_OK) {
    q = quiet_begin();
    rc = h5w_finish(w, &size);
    quiet_end(q);
    if (rc < 0) {
      close(fd);
      unlink(w->tmp);
    }
  }
  if (rc == MT_OK) rc = h5w_write_meta(w, fd, size0, size);
  q = quiet_begin(); /* the in-memory file is still open after a failure */
  h5w_free(w);
  quiet_end(q);
  return rc;
}

void mtio_h5w_abort(mtio_h5w *w) {
  if (!w) return;
  h5_quiet q = quiet_begin();
  h5w_free(w);
  quiet_end(q);
}

/* ----------------------------------------------------------------- reader */

struct mtio_h5r {
  hid_t file;
  char *path;
  int fd;     /* the elements of verified datasets are read with pread */
  int digest; /* MTIO_DIGEST_*: the root has an attrs_xxh3 (attrs_xxh64) list: every read
               * is verified with XXH3 (XXH64); NONE: no list, nothing to verify */
};

const char *mtio_h5r_path(const mtio_h5r *r) { return r ? r->path : ""; }
int mtio_h5r_digested(const mtio_h5r *r) { return r ? r->digest != MTIO_DIGEST_NONE : 0; }
int mtio_h5r_digest(const mtio_h5r *r) { return r ? r->digest : MTIO_DIGEST_NONE; }

static int h5r_open(const char *path, mtio_h5r **out) {
  int rc = MT_OK;
  hid_t fapl = -1;
  mtio_h5r *r = NULL;
  struct stat st;
  if (stat(path, &st) < 0)
    return mt_error_set(MT_E_IO, "cannot open checkpoint '%s': %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return mt_error_set(MT_E_IO, "cannot open checkpoint '%s': not a regular file", path);
  if (access(path, R_OK) < 0)
    return mt_error_set(MT_E_IO, "cannot open checkpoint '%s': %s", path, strerror(errno));
  {
    int tfd = open(path, O_RDONLY | O_CLOEXEC);
    if (tfd < 0)
      return mt_error_set(MT_E_IO, "cannot open checkpoint '%s': %s", path, strerror(errno));
    rc = meta_trailer_check(path, tfd, (int64_t)st.st_size);
    close(tfd);
    if (rc < 0) return rc;
  }
  htri_t is = H5Fis_hdf5(path);
  H5Eclear2(H5E_DEFAULT);
  if (is <= 0)
    return mt_error_set(MT_E_FORMAT, "'%s' is not an HDF5 file (%lld bytes, no HDF5 signature)",
                        path, (long long)st.st_size);
  r = calloc(1, sizeof *r);
  if (!r || !(r->path = strdup(path))) {
    free(r);
    return mt_error_set(MT_E_NOMEM, "checkpoint: out of memory opening '%s'", path);
  }
  r->file = -1;
  r->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (r->fd < 0) {
    rc = mt_error_set(MT_E_IO, "cannot open checkpoint '%s': %s", path, strerror(errno));
    goto fail;
  }
  MTIO_CHECK_H5_GOTO(fapl = make_fapl(NULL, 0), MT_E_HDF5, "cannot open", path);
  /* A truncated or damaged file fails here ("truncated file: eof = ...") */
  MTIO_CHECK_H5_GOTO(r->file = H5Fopen(path, H5F_ACC_RDONLY, fapl), MT_E_FORMAT,
                     "damaged or truncated HDF5 file", path);
  r->digest = MTIO_DIGEST_NONE;
  for (int k = MTIO_DIGEST_XXH3; k >= MTIO_DIGEST_XXH64 && r->digest == MTIO_DIGEST_NONE; k--) {
    htri_t dig;
    MTIO_CHECK_H5_GOTO(dig = H5Aexists_by_name(r->file, "/", DIGEST_NAMES[k].attrs, H5P_DEFAULT),
                       MT_E_FORMAT, "damaged HDF5 file (its root's attributes do not read)", path);
    if (dig > 0) r->digest = k;
  }
  H5Pclose(fapl);
  *out = r;
  return MT_OK;
fail:
  if (fapl >= 0) H5Pclose(fapl);
  if (r->file >= 0) H5Fclose(r->file);
  if (r->fd >= 0) close(r->fd);
  free(r->path);
  free(r);
  return rc;
}

int mtio_h5r_open(const char *path, mtio_h5r **out) {
  if (!path || !out) return mt_error_set(MT_E_INVAL, "mtio_h5r_open: NULL argument");
  *out = NULL;
  h5_quiet q = quiet_begin();
  int rc = h5r_open(path, out);
  quiet_end(q);
  return rc;
}

void mtio_h5r_close(mtio_h5r *r) {
  if (!r) return;
  h5_quiet q = quiet_begin();
  if (r->file >= 0) H5Fclose(r->file);
  H5Eclear2(H5E_DEFAULT);
  quiet_end(q);
  if (r->fd >= 0) close(r->fd);
  free(r->path);
  free(r);
}

static int h5r_exists(mtio_h5r *r, const char *obj) {
  if (!strcmp(obj, "/")) return 1;
  size_t n = strlen(obj);
  char *buf = strdup(obj);
  if (!buf) return mt_error_set(MT_E_NOMEM, "checkpoint: out of memory");
  int res = 1;
  for (size_t i = 1; i <= n && res == 1; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char c = buf[i];
    buf[i] = '\0';
    htri_t ex = H5Lexists(r->file, buf, H5P_DEFAULT);
    if (ex < 0)
      res = h5_fail(MT_E_FORMAT, __FILE__, __LINE__, "H5Lexists", "damaged checkpoint", r->path);
    else if (!ex) res = 0;
    buf[i] = c;
  }
  free(buf);
  return res;
}

int mtio_h5r_exists(mtio_h5r *r, const char *obj) {
  if (!r || !obj) return mt_error_set(MT_E_INVAL, "mtio_h5r_exists: NULL argument");
  h5_quiet q = quiet_begin();
  int rc = h5r_exists(r, obj);
  quiet_end(q);
  return rc;
}

/* What failed, naming the attribute, for the check macro's message. */
static const char *attr_what(char *buf, size_t n, const char *obj, const char *name) {
  snprintf(buf, n, "damaged file: attribute '%s' of '%s' does not read in", name, obj);
  return buf;
}

/* Opens attribute `name` of `obj`: MT_E_NOTFOUND when missing. */
static int open_attr(mtio_h5r *r, const char *obj, const char *name, hid_t *o, hid_t *a) {
  int rc = MT_OK;
  char what[512];
  *o = *a = -1;
  int ex = h5r_exists(r, obj);
  if (ex < 0) return ex;
  if (!ex)
    return mt_error_set(MT_E_NOTFOUND, "checkpoint '%s': no object '%s' (for attribute '%s')",
                        r->path, obj, name);
  attr_what(what, sizeof what, obj, name);
  MTIO_CHECK_H5_GOTO(*o = H5Oopen(r->file, obj, H5P_DEFAULT), MT_E_FORMAT, what, r->path);
  htri_t has;
  MTIO_CHECK_H5_GOTO(has = H5Aexists(*o, name), MT_E_FORMAT, what, r->path);
  if (!has) {
    rc = mt_error_set(MT_E_NOTFOUND, "checkpoint '%s': attribute '%s' missing on '%s'", r->path,
                      name, obj);
    goto fail;
  }
  MTIO_CHECK_H5_GOTO(*a = H5Aopen(*o, name, H5P_DEFAULT), MT_E_FORMAT, what, r->path);
  return MT_OK;
fail:
  if (*o >= 0) H5Oclose(*o);
  *o = -1;
  return rc;
}

/* In a file with digests: the hash of attribute (obj, name) with this
 * value must be in obj's list (o: obj, open). MT_E_FORMAT naming the file
 * and the attribute otherwise. */
static int verify_attr(mtio_h5r *r, hid_t o, const char *obj, const char *name, char tag,
                       const void *val, size_t n) {
  if (r->digest == MTIO_DIGEST_NONE) return MT_OK;
  const char *list_name = DIGEST_NAMES[r->digest].attrs;
  int rc = MT_OK;
  hid_t a = -1, t = -1, s = -1;
  uint64_t *list = NULL;
  char what[512];
  attr_what(what, sizeof what, obj, list_name);
  htri_t has;
  MTIO_CHECK_H5_GOTO(has = H5Aexists(o, list_name), MT_E_FORMAT, what, r->path);
  if (!has) {
    rc = mt_error_set(MT_E_FORMAT,
                      "'%s': attribute '%s' of '%s' has no digest ('%s' has no %s list, while "
                      "the file has digests): the file was altered or damaged",
                      r->path, name, obj, obj, list_name);
    goto fail;
  }
  MTIO_CHECK_H5_GOTO(a = H5Aopen(o, list_name, H5P_DEFAULT), MT_E_FORMAT, what, r->path);
  MTIO_CHECK_H5_GOTO(t = H5Aget_type(a), MT_E_FORMAT, what, r->path);
  MTIO_CHECK_H5_GOTO(s = H5Aget_space(a), MT_E_FORMAT, what, r->path);
  hssize_t k = H5Sget_simple_extent_npoints(s);
  if (H5Tget_class(t) != H5T_INTEGER || H5Tget_size(t) != 8 || k < 0 || k > (1 << 24)) {
    rc = mt_error_set(MT_E_FORMAT, "'%s': %s of '%s' is not a list of 64-bit digests", r->path,
                      list_name, obj);
    goto fail;
  }
  if (!(list = malloc(sizeof *list * (size_t)(k ? k : 1)))) {
    rc = mt_error_set(MT_E_NOMEM, "checkpoint: out of memory");
    goto fail;
  }
  if (k > 0) MTIO_CHECK_H5_GOTO(H5Aread(a, H5T_NATIVE_UINT64, list), MT_E_FORMAT, what, r->path);
  uint64_t h = attr_hash(r->digest, obj, name, tag, val, n);
  int found = 0;
  for (hssize_t i = 0; i < k && !found; i++) found = list[i] == h;
  if (!found)
    rc = mt_error_set(MT_E_FORMAT,
                      "'%s': attribute '%s' of '%s' does not match its digest (%s): the file "
                      "is damaged",
                      r->path, name, obj, mtio_digest_name(r->digest));
fail:
  free(list);
  if (s >= 0) H5Sclose(s);
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  return rc;
}

/* An integer attribute, verified, into *v as int64 (is_signed) or uint64: a
 * stored value the other type cannot hold (a negative one read as uint64)
 * is MT_E_FORMAT naming it, never clamped. */
static int read_int_attr(mtio_h5r *r, const char *obj, const char *name, int is_signed, void *v) {
  hid_t o, a, t = -1, s = -1;
  char what[512];
  int rc = open_attr(r, obj, name, &o, &a);
  if (rc < 0) return rc;
  attr_what(what, sizeof what, obj, name);
  MTIO_CHECK_H5_GOTO(t = H5Aget_type(a), MT_E_FORMAT, what, r->path);
  MTIO_CHECK_H5_GOTO(s = H5Aget_space(a), MT_E_FORMAT, what, r->path);
  if (H5Tget_class(t) != H5T_INTEGER || H5Sget_simple_extent_npoints(s) != 1) {
    rc = mt_error_set(MT_E_FORMAT, "checkpoint '%s': attribute '%s' of '%s' is not one integer",
                      r->path, name, obj);
    goto fail;
  }
  int stored_signed = H5Tget_sign(t) != H5T_SGN_NONE;
  int64_t iv = 0;
  uint64_t uv = 0;
  if (stored_signed) {
    MTIO_CHECK_H5_GOTO(H5Aread(a, H5T_NATIVE_INT64, &iv), MT_E_FORMAT, what, r->path);
    rc = verify_attr(r, o, obj, name, 'i', &iv, 8);
  } else {
    MTIO_CHECK_H5_GOTO(H5Aread(a, H5T_NATIVE_UINT64, &uv), MT_E_FORMAT, what, r->path);
    rc = verify_attr(r, o, obj, name, 'u', &uv, 8);
  }
  if (rc < 0) goto fail;
  if (is_signed && !stored_signed && uv > (uint64_t)INT64_MAX)
    rc = mt_error_set(MT_E_FORMAT, "'%s': attribute '%s' of '%s' is %llu, out of range", r->path,
                      name, obj, (unsigned long long)uv);
  else if (!is_signed && stored_signed && iv < 0)
    rc = mt_error_set(MT_E_FORMAT,
                      "'%s': attribute '%s' of '%s' is %lld, out of range (must be >= 0)", r->path,
                      name, obj, (long long)iv);
  else if (is_signed) *(int64_t *)v = stored_signed ? iv : (int64_t)uv;
  else *(uint64_t *)v = stored_signed ? (uint64_t)iv : uv;
fail:
  if (s >= 0) H5Sclose(s);
  if (t >= 0) H5Tclose(t);
  H5Aclose(a);
  H5Oclose(o);
  return rc;
}

int mtio_h5r_attr_i64(mtio_h5r *r, const char *obj, const char *name, int64_t *v) {
  if (!r || !obj || !name || !v)
    return mt_error_set(MT_E_INVAL, "mtio_h5r_attr_i64: NULL argument");
  h5_quiet q = quiet_begin();
  int rc = read_int_attr(r, obj, name, 1, v);
  quiet_end(q);
  return rc;
}

int mtio_h5r_attr_u64(mtio_h5r *r, const char *obj, const char *name, uint64_t *v) {
  if (!r || !obj || !name || !v)
    return mt_error_set(MT_E_INVAL, "mtio_h5r_attr_u64: NULL argument");
  h5_quiet q = quiet_begin();
  int rc = read_int_attr(r, obj, name, 0, v);
  quiet_end(q);
  return rc;
}

/* Variable-length or fixed-length string attribute into a malloc'd copy,
 * verified. */
static int read_str_attr(mtio_h5r *r, const char *obj, const char *name, char **out) {
  hid_t o, a, t = -1, s = -1, mt = -1;
  char what[512];
  int rc = open_attr(r, obj, name, &o, &a);
  if (rc < 0) return rc;
  attr_what(what, sizeof what, obj, name);
  MTIO_CHECK_H5_GOTO(t = H5Aget_type(a), MT_E_FORMAT, what, r->path);
  MTIO_CHECK_H5_GOTO(s = H5Aget_space(a), MT_E_FORMAT, what, r->path);
  if (H5Tget_class(t) != H5T_STRING || H5Sget_simple_extent_npoints(s) != 1) {
    rc = mt_error_set(MT_E_FORMAT, "checkpoint '%s': attribute '%s' of '%s' is not one string",
                      r->path, name, obj);
    goto fail;
  }
  MTIO_CHECK_H5_GOTO(mt = H5Tcopy(H5T_C_S1), MT_E_HDF5, "cannot read", r->path);
  if (H5Tis_variable_str(t) > 0) {
    char *p = NULL;
    MTIO_CHECK_H5_GOTO(H5Tset_size(mt, H5T_VARIABLE), MT_E_HDF5, "cannot read", r->path);
    MTIO_CHECK_H5_GOTO(H5Tset_cset(mt, H5Tget_cset(t)), MT_E_HDF5, "cannot read", r->path);
    MTIO_CHECK_H5_GOTO(H5Aread(a, mt, &p), MT_E_FORMAT, what, r->path);
    *out = strdup(p ? p : "");
    H5Dvlen_reclaim(mt, s, H5P_DEFAULT, &p);
  } else {
    size_t n = H5Tget_size(t);
    char *p = calloc(n + 1, 1);
    if (!p) {
      rc = mt_error_set(MT_E_NOMEM, "checkpoint: out of memory");
      goto fail;
    }
    MTIO_CHECK_H5_GOTO(H5Tset_size(mt, n + 1), MT_E_HDF5, "cannot read", r->path);
    if (H5Aread(a, mt, p) < 0) {
      free(p);
      rc = h5_fail(MT_E_FORMAT, __FILE__, __LINE__, "H5Aread", what, r->path);
      goto fail;
    }
    *out = p;
  }
  if (!*out) rc = mt_error_set(MT_E_NOMEM, "checkpoint: out of memory");
  else rc = verify_attr(r, o, obj, name, 's', *out, strlen(*out));
  if (rc < 0) {
    free(*out);
    *out = NULL;
  }
fail:
  if (mt >= 0) H5Tclose(mt);
  if (s >= 0) H5Sclose(s);
  if (t >= 0) H5Tclose(t);
  H5Aclose(a);
  H5Oclose(o);
  return rc;
}

int mtio_h5r_attr_str(mtio_h5r *r, const char *obj, const char *name, char **s) {
  if (!r || !obj || !name || !s)
    return mt_error_set(MT_E_INVAL, "mtio_h5r_attr_str: NULL argument");
  *s = NULL;
  h5_quiet q = quiet_begin();
  int rc = read_str_attr(r, obj, name, s);
  quiet_end(q);
  return rc;
}

void mtio_names_free(int n, char **names) {
  if (!names) return;
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
}

static int h5r_list(mtio_h5r *r, const char *grp, int *n, char ***names) {
  int rc = MT_OK;
  hid_t g = -1, gcpl = -1;
  char **list = NULL;
  H5G_info_t info;
  int ex = h5r_exists(r, grp);
  if (ex < 0) return ex;
  if (!ex) return mt_error_set(MT_E_FORMAT, "checkpoint '%s': group '%s' is missing", r->path, grp);
  MTIO_CHECK_H5_GOTO(g = H5Gopen2(r->file, grp, H5P_DEFAULT), MT_E_FORMAT, "damaged checkpoint",
                     r->path);
  MTIO_CHECK_H5_GOTO(H5Gget_info(g, &info), MT_E_FORMAT, "damaged checkpoint", r->path);
  unsigned flags = 0;
  MTIO_CHECK_H5_GOTO(gcpl = H5Gget_create_plist(g), MT_E_FORMAT, "damaged checkpoint", r->path);
  MTIO_CHECK_H5_GOTO(H5Pget_link_creation_order(gcpl, &flags), MT_E_FORMAT, "damaged checkpoint",
                     r->path);
  H5_index_t idx = (flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  list = calloc((size_t)info.nlinks + 1, sizeof *list);
  if (!list) {
    rc = mt_error_set(MT_E_NOMEM, "checkpoint: out of memory");
    goto fail;
  }
  for (hsize_t i = 0; i < info.nlinks; i++) {
    ssize_t len;
    MTIO_CHECK_H5_GOTO(len = H5Lget_name_by_idx(g, ".", idx, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT),
                       MT_E_FORMAT, "damaged checkpoint", r->path);
    list[i] = malloc((size_t)len + 1);
    if (!list[i]) {
      rc = mt_error_set(MT_E_NOMEM, "checkpoint: out of memory");
      goto fail;
    }
    MTIO_CHECK_H5_GOTO(
        H5Lget_name_by_idx(g, ".", idx, H5_ITER_INC, i, list[i], (size_t)len + 1, H5P_DEFAULT),
        MT_E_FORMAT, "damaged checkpoint", r->path);
  }
  *n = (int)info.nlinks;
  *names = list;
  list = NULL;
fail:
  if (list) mtio_names_free((int)info.nlinks, list);
  if (gcpl >= 0) H5Pclose(gcpl);
  if (g >= 0) H5Gclose(g);
  return rc;
}

int mtio_h5r_list(mtio_h5r *r, const char *grp, int *n, char ***names) {
  if (!r || !grp || !n || !names) return mt_error_set(MT_E_INVAL, "mtio_h5r_list: NULL argument");
  *n = 0;
  *names = NULL;
  h5_quiet q = quiet_begin();
  int rc = h5r_list(r, grp, n, names);
  quiet_end(q);
  return rc;
}

/* Opens dataset `dset` and checks it holds floats of at most MT_MAX_DIM
 * dims; fills shape. */
static int open_float_dset(mtio_h5r *r, const char *dset, hid_t *d, mt_shape *shape) {
  int rc = MT_OK;
  hid_t t = -1, s = -1;
  *d = -1;
  int ex = h5r_exists(r, dset);
  if (ex < 0) return ex;
  if (!ex)
    return mt_error_set(MT_E_FORMAT, "checkpoint '%s': dataset '%s' is missing", r->path, dset);
  MTIO_CHECK_H5_GOTO(*d = H5Dopen2(r->file, dset, H5P_DEFAULT), MT_E_FORMAT, "damaged checkpoint",
                     r->path);
  MTIO_CHECK_H5_GOTO(t = H5Dget_type(*d), MT_E_FORMAT, "damaged checkpoint", r->path);
  MTIO_CHECK_H5_GOTO(s = H5Dget_space(*d), MT_E_FORMAT, "damaged checkpoint", r->path);
  if (H5Tget_class(t) != H5T_FLOAT) {
    rc = mt_error_set(MT_E_FORMAT, "checkpoint '%s': dataset '%s' is not floating point", r->path,
                      dset);
    goto fail;
  }
  int nd = H5Sget_simple_extent_ndims(s);
  if (nd < 1 || nd > MT_MAX_DIM) {
    rc = mt_error_set(MT_E_FORMAT, "checkpoint '%s': dataset '%s' has %d dims (1..%d supported)",
                      r->path, dset, nd, MT_MAX_DIM);
    goto fail;
  }
  hsize_t dims[MT_MAX_DIM];
  H5Sget_simple_extent_dims(s, dims, NULL);
  memset(shape, 0, sizeof *shape);
  shape->ndim = nd;
  for (int i = 0; i < nd; i++)
    shape->dim[i] = dims[i] > (hsize_t)INT64_MAX ? INT64_MAX : (int64_t)dims[i];
  char why[192];
  if (mt_shape_count(shape, NULL, why, sizeof why) < 0) { /* docs/design.md §2 */
    rc = mt_error_set(MT_E_FORMAT, "checkpoint '%s': dataset '%s' %s", r->path, dset, why);
    goto fail;
  }
  H5Sclose(s);
  H5Tclose(t);
  return MT_OK;
fail:
  if (s >= 0) H5Sclose(s);
  if (t >= 0) H5Tclose(t);
  if (*d >= 0) H5Dclose(*d);
  *d = -1;
  return rc;
}

int mtio_h5r_shape(mtio_h5r *r, const char *dset, mt_shape *shape) {
  if (!r || !dset || !shape) return mt_error_set(MT_E_INVAL, "mtio_h5r_shape: NULL argument");
  h5_quiet q = quiet_begin();
  hid_t d;
  int rc = open_float_dset(r, dset, &d, shape);
  if (rc == MT_OK) H5Dclose(d);
  quiet_end(q);
  return rc;
}

/* How a dataset's elements are read and checked. */
typedef struct {
  int64_t off;   /* >= 0: contiguous float32 LE at this offset, read with pread; else done */
  int64_t bytes; /* 4 * elements */
  int has;       /* a digest to check */
  uint64_t want;
} read_plan;

/* The digest attribute of dataset d, in a file with digests. */
static int dset_digest(mtio_h5r *r, hid_t d, const char *dset, read_plan *p) {
  p->has = 0;
  if (r->digest == MTIO_DIGEST_NONE) return MT_OK;
  const char *dig_name = DIGEST_NAMES[r->digest].dset;
  int rc = MT_OK;
  hid_t a = -1, t = -1, s = -1;
  char what[512];
  attr_what(what, sizeof what, dset, dig_name);
  htri_t has;
  MTIO_CHECK_H5_GOTO(has = H5Aexists(d, dig_name), MT_E_FORMAT, what, r->path);
  if (!has) {
    rc = mt_error_set(MT_E_FORMAT,
                      "'%s': dataset '%s' has no digest (no %s attribute, while the file has "
                      "digests): the file was altered or damaged",
                      r->path, dset, dig_name);
    goto fail;
  }
  MTIO_CHECK_H5_GOTO(a = H5Aopen(d, dig_name, H5P_DEFAULT), MT_E_FORMAT, what, r->path);
  MTIO_CHECK_H5_GOTO(t = H5Aget_type(a), MT_E_FORMAT, what, r->path);
  MTIO_CHECK_H5_GOTO(s = H5Aget_space(a), MT_E_FORMAT, what, r->path);
  if (H5Tget_class(t) != H5T_INTEGER || H5Tget_size(t) != 8 ||
      H5Sget_simple_extent_npoints(s) != 1) {
    rc =
        mt_error_set(MT_E_FORMAT, "'%s': the %s attribute of dataset '%s' is not one 64-bit digest",
                     r->path, dig_name, dset);
    goto fail;
  }
  MTIO_CHECK_H5_GOTO(H5Aread(a, H5T_NATIVE_UINT64, &p->want), MT_E_FORMAT, what, r->path);
  p->has = 1;
fail:
  if (s >= 0) H5Sclose(s);
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  return rc;
}

static int digest_mismatch(const mtio_h5r *r, const char *dset, uint64_t want, uint64_t got) {
  return mt_error_set(MT_E_FORMAT,
                      "'%s': dataset '%s' does not match its digest (%s %016llx stored, "
                      "%016llx computed): the file is damaged",
                      r->path, dset, mtio_digest_name(r->digest), (unsigned long long)want,
                      (unsigned long long)got);
}

/* Under the HDF5 lock: opens dset, checks it holds n elements and gets its
 * digest. A contiguous float32 LE dataset with a digest is left to the
 * pread path (p->off >= 0); any other is read here with H5Dread into data
 * (n elements; data NULL: into a buffer of its own) and checked. */
static int h5r_read_begin(mtio_h5r *r, const char *dset, float *data, int64_t n, read_plan *p) {
  hid_t d, dcpl = -1, t = -1;
  mt_shape shape;
  float *own = NULL;
  int rc = open_float_dset(r, dset, &d, &shape);
  if (rc < 0) return rc;
  p->off = -1;
  if (n < 0) n = mt_shape_size(&shape); /* verify only */
  p->bytes = 4 * n;
  if (mt_shape_size(&shape) != n) {
    char s[96];
    rc = mt_error_set(
        MT_E_SHAPE, "checkpoint '%s': dataset '%s' %s has %lld elements, expected %lld", r->path,
        dset, mt_shape_str(&shape, s, sizeof s), (long long)mt_shape_size(&shape), (long long)n);
    goto fail;
  }
  if ((rc = dset_digest(r, d, dset, p)) < 0) goto fail;
  if (p->has && n > 0) {
    haddr_t off = H5Dget_offset(d);
    MTIO_CHECK_H5_GOTO(dcpl = H5Dget_create_plist(d), MT_E_FORMAT, "damaged checkpoint", r->path);
    MTIO_CHECK_H5_GOTO(t = H5Dget_type(d), MT_E_FORMAT, "damaged checkpoint", r->path);
    if (H5Pget_layout(dcpl) == H5D_CONTIGUOUS && H5Tequal(t, H5T_IEEE_F32LE) > 0 &&
        off != HADDR_UNDEF)
      p->off = (int64_t)off;
    H5Eclear2(H5E_DEFAULT);
    if (p->off >= 0) goto fail; /* rc OK: the elements are read by the caller */
  }
  if (n > 0) {
    if (!data && !(data = own = malloc((size_t)p->bytes))) {
      rc =
          mt_error_set(MT_E_NOMEM, "checkpoint: out of memory reading '%s' of '%s'", dset, r->path);
      goto fail;
    }
    MTIO_CHECK_H5_GOTO(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
                       MT_E_FORMAT, "damaged checkpoint", r->path);
  }
  if (p->has) {
    uint64_t got = dig_once(r->digest, data, (size_t)p->bytes);
    if (got != p->want) rc = digest_mismatch(r, dset, p->want, got);
  }
fail:
  free(own);
  if (t >= 0) H5Tclose(t);
  if (dcpl >= 0) H5Pclose(dcpl);
  H5Dclose(d);
  return rc;
}

/* pread of exactly n bytes at off; MT_E_FORMAT if the file ends first. */
static int pread_all(mtio_h5r *r, const char *dset, char *dst, int64_t n, int64_t off) {
  for (int64_t got = 0; got < n;) {
    int64_t want = n - got < ((int64_t)1 << 30) ? n - got : ((int64_t)1 << 30);
    ssize_t m = pread(r->fd, dst + got, (size_t)want, (off_t)(off + got));
    if (m < 0 && errno == EINTR) continue;
    if (m < 0)
      return mt_error_set(MT_E_IO, "cannot read dataset '%s' of '%s': %s", dset, r->path,
                          strerror(errno));
    if (m == 0)
      return mt_error_set(MT_E_FORMAT,
                          "'%s': dataset '%s' extends past the end of the file (truncated)",
                          r->path, dset);
    got += m;
  }
  return MT_OK;
}

/* A dataset of at least PIPE_MIN bytes is read in pieces of PIPE_PIECE
 * while a second thread hashes the pieces already read: on a machine with
 * a free core the digest costs no time. A smaller one is read with one
 * pread and then hashed. (Smaller pieces in one thread do not help: the
 * kernel's readahead does not overlap the hashing on the machines
 * measured, bench/README.md.) */
#define PIPE_MIN ((int64_t)2 << 20)
#define PIPE_PIECE ((int64_t)1 << 20)
#define VERIFY_PIECE ((int64_t)8 << 20)

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  const char *data;
  int64_t bytes, ready; /* ready: bytes read so far; -1: the reader failed */
  int kind;             /* MTIO_DIGEST_* */
  uint64_t digest;
} hash_pipe;

static void *hash_behind(void *arg) {
  hash_pipe *hp = arg;
  dig_state st;
  dig_init(&st, hp->kind);
  for (int64_t done = 0; done < hp->bytes;) {
    pthread_mutex_lock(&hp->mu);
    while (hp->ready >= 0 && hp->ready <= done) pthread_cond_wait(&hp->cv, &hp->mu);
    int64_t ready = hp->ready;
    pthread_mutex_unlock(&hp->mu);
    if (ready < 0) return NULL;
    dig_update(&st, hp->data + done, (size_t)(ready - done));
    done = ready;
  }
  hp->digest = dig_final(&st);
  return NULL;
}

static void pipe_publish(hash_pipe *hp, int64_t ready) {
  pthread_mutex_lock(&hp->mu);
  hp->ready = ready;
  pthread_cond_signal(&hp->cv);
  pthread_mutex_unlock(&hp->mu);
}

/* The pread path of plan p (no HDF5 calls): into data, or with data NULL
 * through a buffer of one piece (verify only). */
static int read_verified(mtio_h5r *r, const char *dset, char *data, const read_plan *p) {
  int rc = MT_OK;
  uint64_t got;
  if (!data) {
    char *buf = malloc((size_t)(p->bytes < VERIFY_PIECE ? p->bytes : VERIFY_PIECE));
    if (!buf)
      return mt_error_set(MT_E_NOMEM, "checkpoint: out of memory reading '%s' of '%s'", dset,
                          r->path);
    dig_state st;
    dig_init(&st, r->digest);
    for (int64_t pos = 0; pos < p->bytes && rc == MT_OK; pos += VERIFY_PIECE) {
      int64_t k = p->bytes - pos < VERIFY_PIECE ? p->bytes - pos : VERIFY_PIECE;
      if ((rc = pread_all(r, dset, buf, k, p->off + pos)) == MT_OK) dig_update(&st, buf, (size_t)k);
    }
    free(buf);
    got = dig_final(&st);
  } else if (p->bytes < PIPE_MIN) {
    rc = pread_all(r, dset, data, p->bytes, p->off);
    got = rc == MT_OK ? dig_once(r->digest, data, (size_t)p->bytes) : 0;
  } else {
    hash_pipe hp = {.data = data, .bytes = p->bytes, .kind = r->digest};
    pthread_t th;
    int threaded = pthread_mutex_init(&hp.mu, NULL) == 0;
    if (threaded && pthread_cond_init(&hp.cv, NULL) != 0) {
      pthread_mutex_destroy(&hp.mu);
      threaded = 0;
    }
    if (threaded && pthread_create(&th, NULL, hash_behind, &hp) != 0) {
      pthread_cond_destroy(&hp.cv);
      pthread_mutex_destroy(&hp.mu);
      threaded = 0;
    }
    if (!threaded) { /* no thread to be had: read, then hash */
      rc = pread_all(r, dset, data, p->bytes, p->off);
      got = rc == MT_OK ? dig_once(r->digest, data, (size_t)p->bytes) : 0;
    } else {
      for (int64_t pos = 0; pos < p->bytes && rc == MT_OK; pos += PIPE_PIECE) {
        int64_t k = p->bytes - pos < PIPE_PIECE ? p->bytes - pos : PIPE_PIECE;
        rc = pread_all(r, dset, data + pos, k, p->off + pos);
        pipe_publish(&hp, rc == MT_OK ? pos + k : -1);
      }
      pthread_join(th, NULL);
      pthread_cond_destroy(&hp.cv);
      pthread_mutex_destroy(&hp.mu);
      got = hp.digest;
    }
  }
  if (rc < 0) return rc;
  return got == p->want ? MT_OK : digest_mismatch(r, dset, p->want, got);
}

/* Reads (data) or only checks (data NULL, n < 0) dataset dset. */
static int h5r_read(mtio_h5r *r, const char *dset, float *data, int64_t n) {
  read_plan p;
  h5_quiet q = quiet_begin();
  int rc = h5r_read_begin(r, dset, data, n, &p);
  quiet_end(q);
  if (rc == MT_OK && p.off >= 0) rc = read_verified(r, dset, (char *)data, &p);
  return rc;
}

int mtio_h5r_read(mtio_h5r *r, const char *dset, float *data, int64_t n) {
  if (!r || !dset || (!data && n > 0) || n < 0)
    return mt_error_set(MT_E_INVAL, "mtio_h5r_read: NULL argument");
  return h5r_read(r, dset, data, n);
}

/* ----------------------------------------------------------------- verify */

static herr_t collect_attr(hid_t loc, const char *name, const H5A_info_t *info, void *ud) {
  char ***list = ud;
  size_t n = 0;
  while ((*list)[n]) n++;
  char **l = realloc(*list, sizeof *l * (n + 2));
  if (!l) return -1;
  *list = l;
  if (!(l[n] = strdup(name))) return -1;
  l[n + 1] = NULL;
  return 0;
}

static void free_list(char **l) {
  for (size_t i = 0; l && l[i]; i++) free(l[i]);
  free(l);
}

/* Under the lock: the attributes of object `path` (NULL-terminated list),
 * whether it is a dataset, and, in a file with digests, the length of its
 * digest list (-1: none). */
static int object_info(mtio_h5r *r, const char *path, char ***attrs, int *is_dset, int64_t *k) {
  int rc = MT_OK;
  hid_t o = -1;
  char what[512];
  snprintf(what, sizeof what, "damaged file: object '%s' does not read in", path);
  *attrs = calloc(1, sizeof **attrs);
  *k = -1;
  if (!*attrs) return mt_error_set(MT_E_NOMEM, "checkpoint: out of memory");
  MTIO_CHECK_H5_GOTO(o = H5Oopen(r->file, path, H5P_DEFAULT), MT_E_FORMAT, what, r->path);
  *is_dset = H5Iget_type(o) == H5I_DATASET;
  hsize_t idx = 0;
  MTIO_CHECK_H5_GOTO(H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attr, attrs),
                     MT_E_FORMAT, what, r->path);
  if (r->digest != MTIO_DIGEST_NONE && H5Aexists(o, DIGEST_NAMES[r->digest].attrs) > 0) {
    hid_t a = H5Aopen(o, DIGEST_NAMES[r->digest].attrs, H5P_DEFAULT),
          s = a >= 0 ? H5Aget_space(a) : -1;
    *k = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
    if (s >= 0) H5Sclose(s);
    if (a >= 0) H5Aclose(a);
  }
fail:
  if (o >= 0) H5Oclose(o);
  H5Eclear2(H5E_DEFAULT);
  return rc;
}

/* Under the lock: whether attribute `name` of `path` is an integer
 * (*kind 'i' signed, 'u' unsigned), a string ('s') or other ('?'). */
static int attr_kind(mtio_h5r *r, const char *path, const char *name, char *kind) {
  hid_t o, a, t = -1;
  int rc = open_attr(r, path, name, &o, &a);
  if (rc < 0) return rc;
  char what[512];
  attr_what(what, sizeof what, path, name);
  MTIO_CHECK_H5_GOTO(t = H5Aget_type(a), MT_E_FORMAT, what, r->path);
  H5T_class_t c = H5Tget_class(t);
  *kind = c == H5T_STRING                  ? 's'
          : c != H5T_INTEGER               ? '?'
          : H5Tget_sign(t) == H5T_SGN_NONE ? 'u'
                                           : 'i';
fail:
  if (t >= 0) H5Tclose(t);
  H5Aclose(a);
  H5Oclose(o);
  return rc;
}

/* Checks object `path` and, for a group, its members (hard links only). */
static int verify_object(mtio_h5r *r, const char *path, int depth) {
  if (depth > 32)
    return mt_error_set(MT_E_FORMAT, "'%s': groups nested more than 32 deep at '%s'", r->path,
                        path);
  char **attrs = NULL, **links = NULL;
  int is_dset = 0, nl = 0, nattr = 0;
  int64_t k = -1;
  h5_quiet q = quiet_begin();
  int rc = object_info(r, path, &attrs, &is_dset, &k);
  for (int i = 0; rc == MT_OK && attrs[i]; i++) {
    if (is_digest_attr(attrs[i], r->digest, is_dset)) continue;
    nattr++;
    char kind = '?';
    if ((rc = attr_kind(r, path, attrs[i], &kind)) < 0) break;
    if (kind == 'i' || kind == 'u') {
      int64_t v;
      rc = read_int_attr(r, path, attrs[i], kind == 'i', &v);
    } else if (kind == 's') {
      char *v = NULL;
      rc = read_str_attr(r, path, attrs[i], &v);
      free(v);
    } else if (r->digest != MTIO_DIGEST_NONE && !is_dset) {
      rc = mt_error_set(MT_E_FORMAT,
                        "'%s': attribute '%s' of '%s' has a type this writer never writes and no "
                        "digest: the file was altered",
                        r->path, attrs[i], path);
    }
  }
  if (rc == MT_OK && r->digest != MTIO_DIGEST_NONE && !is_dset && k >= 0 && k != nattr)
    rc = mt_error_set(MT_E_FORMAT,
                      "'%s': '%s' has %d attributes, its digest list %lld: attributes were added "
                      "or removed",
                      r->path, path, nattr, (long long)k);
  if (rc == MT_OK && !is_dset) rc = h5r_list(r, path, &nl, &links);
  quiet_end(q);
  if (rc == MT_OK && is_dset) rc = h5r_read(r, path, NULL, -1);
  for (int i = 0; rc == MT_OK && i < nl; i++) {
    size_t len = strlen(path) + strlen(links[i]) + 2;
    char *child = malloc(len);
    if (!child) {
      rc = mt_error_set(MT_E_NOMEM, "checkpoint: out of memory");
      break;
    }
    snprintf(child, len, "%s/%s", strcmp(path, "/") ? path : "", links[i]);
    q = quiet_begin();
#if H5_VERSION_GE(1, 12, 0)
    H5L_info2_t li;
    herr_t e = H5Lget_info2(r->file, child, &li, H5P_DEFAULT);
#else
    H5L_info_t li;
    herr_t e = H5Lget_info(r->file, child, &li, H5P_DEFAULT);
#endif
    if (e < 0)
      rc = h5_fail(MT_E_FORMAT, __FILE__, __LINE__, "H5Lget_info",
                   "damaged file: a link does not read in", r->path);
    quiet_end(q);
    if (rc == MT_OK && li.type == H5L_TYPE_HARD) rc = verify_object(r, child, depth + 1);
    free(child);
  }
  mtio_names_free(nl, links);
  free_list(attrs);
  return rc;
}

int mtio_h5r_verify(mtio_h5r *r) {
  if (!r) return mt_error_set(MT_E_INVAL, "mtio_h5r_verify: NULL argument");
  return verify_object(r, "/", 0);
}
