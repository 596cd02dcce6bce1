/* h5_container.h — HDF5 files of named float32 arrays and scalar attributes,
 * written atomically: the container that checkpoints (whose layout is
 * src/checkpoint.c's, docs/design.md §6) and predictions are stored in. Depends on the public
 * header, libhdf5, and io/'s HDF5 check macro and process-wide HDF5 lock (io/h5_check.h,
 * io/h5dataset.h): every function holds the lock while it calls HDF5, so a checkpoint can be saved
 * while an HDF5 iterator prefetches.
 *
 * Writing is atomic: mtio_h5w_commit writes "<path>.tmp.<pid>" in the same
 * directory, fsyncs it, renames it over <path> and fsyncs the directory.
 * Any failure (ENOSPC included) removes the temporary file, so <path> is
 * either the old file or the complete new one, never a partial one. HDF5
 * itself never writes to disk (it builds the metadata in memory), because
 * HDF5 1.10 does not recover from its own write errors.
 *
 * Every file verifies itself (docs/design.md §6): each dataset carries the
 * XXH3-64 of its elements (attribute "xxh3", computed while the elements are
 * written), each object with attributes the XXH3-64s of its attributes
 * ("attrs_xxh3", uint64 [k]); the root always has that list, which marks a
 * file with digests and says their hash. Files of older modtrain (checkpoint
 * format 2) carry XXH64s under "xxh64" / "attrs_xxh64" instead, checked the
 * same way with XXH64. A reader of a file with digests checks the digest of
 * every dataset it reads and every attribute it reads: a mismatch, or a
 * digest missing, is MT_E_FORMAT naming the file and the dataset or
 * attribute. Files without digests (other writers, older modtrain) are read
 * unchecked.
 *
 * Paths inside the file are HDF5 paths ("/arg/fc1_weight"). A name that is
 * one component of such a path goes through mtio_h5_escape first, so any
 * parameter name (even one holding '/') makes a valid link name.
 *
 * Every function returns 0 or a negative MT_E_* code with a message naming
 * the file (and, for HDF5 failures, HDF5's own error stack with file:line).
 * HDF5's automatic error printing is off inside these calls. */
#ifndef MT_IO_H5_CONTAINER_H
#define MT_IO_H5_CONTAINER_H
#include <stddef.h>
#include <stdint.h>

#include "modtrain.h"

/* ------------------------------------------------------------- names */

/* '%' -> "%25", '/' -> "%2F", and "." -> "%2E": a valid HDF5 link name.
 * MT_E_INVAL if name is empty or out is too short. */
int mtio_h5_escape(const char *name, char *out, size_t len);
/* The inverse; MT_E_FORMAT on a malformed escape. */
int mtio_h5_unescape(const char *name, char *out, size_t len);

/* ------------------------------------------------------------- writer */

typedef struct mtio_h5w mtio_h5w;

/* Starts a file to be committed as <path> (built in memory; written at
 * commit to "<path>.tmp.<pid>", then renamed). meta_bytes: an upper bound
 * of the metadata (object headers, links, attributes; 0 = 1 MiB), laid out
 * before the datasets. Text attributes must come before the datasets (a
 * text added later may be placed after them, and the in-memory image then
 * spans the whole file). */
int mtio_h5w_create(const char *path, int64_t meta_bytes, mtio_h5w **out);
/* A float32 dataset at `dset` (e.g. "/arg/fc1_weight") of the given shape
 * (1..MT_MAX_DIM dims), contiguous, holding `data` (mt_shape_size floats,
 * host memory), which must stay valid until commit or abort: it is written
 * then. Missing groups on the way are created (tracking link creation
 * order, so readers list members in the order written). */
int mtio_h5w_array(mtio_h5w *w, const char *dset, const mt_shape *shape, const float *data);
/* Scalar attributes on the object at `obj` ("/" or a group, created if
 * missing): int64, uint64, and variable-length UTF-8 text (any length).
 * The names "xxh3", "attrs_xxh3", "xxh64" and "attrs_xxh64" are the
 * digests' (MT_E_INVAL). */
int mtio_h5w_attr_i64(mtio_h5w *w, const char *obj, const char *name, int64_t v);
int mtio_h5w_attr_u64(mtio_h5w *w, const char *obj, const char *name, uint64_t v);
int mtio_h5w_attr_str(mtio_h5w *w, const char *obj, const char *name, const char *s);
/* Writes the file: reserves its whole size (fallocate; a statvfs check
 * where unsupported), so a checkpoint that cannot fit fails before writing
 * with ENOSPC; writes the elements with pwrite, hashing them as they go;
 * puts the digests into the metadata and writes it with pwrite; fsyncs;
 * renames over <path>; fsyncs the directory. Any failure is MT_E_IO naming the path
 * and strerror, and removes the temporary file. Frees w in every case. */
int mtio_h5w_commit(mtio_h5w *w);
/* Drops an unfinished file (nothing is on disk yet); NULL-safe. */
void mtio_h5w_abort(mtio_h5w *w);

/* Makes a finished temporary file durable under its final name: fsync tmp,
 * rename(tmp, path), fsync the directory of path. On failure tmp is
 * removed and path is untouched. Used for every atomic file of io/. */
int mtio_commit_file(const char *tmp, const char *path);

/* ------------------------------------------------------------- reader */

typedef struct mtio_h5r mtio_h5r;

/* Opens an existing file read-only. Missing file: MT_E_IO with strerror;
 * not HDF5 or truncated: MT_E_FORMAT with HDF5's message. */
int mtio_h5r_open(const char *path, mtio_h5r **out);
void mtio_h5r_close(mtio_h5r *r);
const char *mtio_h5r_path(const mtio_h5r *r);
/* 1 if the file carries digests (every read below is then verified). */
int mtio_h5r_digested(const mtio_h5r *r);
/* Which digests: MTIO_DIGEST_XXH3 (what this writer writes), _XXH64 (older
 * modtrain), _NONE. mtio_digest_name: "xxh3", "xxh64", "none". */
enum { MTIO_DIGEST_NONE = 0, MTIO_DIGEST_XXH64 = 1, MTIO_DIGEST_XXH3 = 2 };
int mtio_h5r_digest(const mtio_h5r *r);
const char *mtio_digest_name(int kind);
/* Reads every attribute and every dataset of the file (hard links from the
 * root), checking each digest, and that each object's digest list has one
 * entry per attribute. Without digests it still reads everything (HDF5's
 * own metadata checksums apply). The first problem: MT_E_FORMAT naming the
 * file and the object. */
int mtio_h5r_verify(mtio_h5r *r);
/* 1 if a link `obj` exists (every component), 0 if not, < 0 on error. */
int mtio_h5r_exists(mtio_h5r *r, const char *obj);
/* Scalar integer / text attributes; MT_E_NOTFOUND if the attribute is
 * missing, MT_E_FORMAT if it has another type, a value the asked type
 * cannot hold (a negative one as uint64) or fails its digest. *s is
 * malloc'd. */
int mtio_h5r_attr_i64(mtio_h5r *r, const char *obj, const char *name, int64_t *v);
int mtio_h5r_attr_u64(mtio_h5r *r, const char *obj, const char *name, uint64_t *v);
int mtio_h5r_attr_str(mtio_h5r *r, const char *obj, const char *name, char **s);
/* The link names (still escaped) of the members of group `grp`, in creation
 * order when tracked, else by name. Free with mtio_names_free. */
int mtio_h5r_list(mtio_h5r *r, const char *grp, int *n, char ***names);
void mtio_names_free(int n, char **names);
/* The shape of a float dataset (MT_E_FORMAT if not floating point or more
 * than MT_MAX_DIM dims), and its elements read into data (n must equal the
 * size; converted to float32 if stored as another float type), their
 * digest checked (a contiguous float32 dataset is read with pread in
 * pieces, each hashed as it arrives, the next one's read already started). */
int mtio_h5r_shape(mtio_h5r *r, const char *dset, mt_shape *shape);
int mtio_h5r_read(mtio_h5r *r, const char *dset, float *data, int64_t n);

#endif
