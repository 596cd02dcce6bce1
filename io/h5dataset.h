/* h5dataset.h — dataset files (docs/design.md §6) on raw buffers: a writer that
 * creates a file and appends rows, and a reader that validates a file and
 * reads ranges or sorted lists of rows (never the whole file). Depends only
 * on the public header and libhdf5; src/h5_iter.c builds the HDF5 iterator
 * and mt_dataset_write on it, `modtrain synth` writes with it.
 *
 * File layout (readable by h5py / h5dump with no modtrain code):
 *   /data   float32 [N, d1, ...]  2..MT_MAX_DIM dims; N unlimited (appends)
 *   /label  float32 [N] (class index) or [N, k] (regression targets)
 *   attributes on /:
 *     format_version  int64   MTIO_H5_FORMAT_VERSION; a reader refuses newer
 *     num_classes     int64   classes of [N] labels; 0 = not a class set
 *     seed            uint64  the generator's seed (0 for users' arrays)
 *     generator       string  what made the data (`modtrain synth ...`), or absent
 *     part            int64   synthetic sets only: the --part
 * Both datasets are chunked along N with chunks of about MTIO_H5_CHUNK_BYTES
 * (at least one row), each chunk guarded by HDF5's Fletcher32 checksum, and
 * the file uses HDF5's 1.10 format, whose metadata is checksummed too: a
 * corrupted byte anywhere is reported on read instead of yielding wrong
 * samples. Small chunks keep a shuffled read cheap: a random row costs one
 * chunk of ~4 KiB (one row for rows of 4 KiB or more), read and verified.
 *
 * Files written elsewhere are read if they hold /data of float32, float64,
 * uint8, int8, uint16, int16 or int32 and /label of any integer or float
 * type, of those ranks (any layout, filters, byte order or chunking);
 * format_version and num_classes may be absent (no label range check then).
 * The float reads convert (HDF5's conversions, exact for these types but
 * int32 beyond 2^24 and float64's rounding); mtio_h5_read_rows_raw reads
 * /data in its own type, whole chunks at a time (read amplification:
 * bytes_read / bytes_used).
 *
 * Thread safety: libhdf5-openmpi is not thread-safe. Every function here
 * holds the process-wide HDF5 lock (mtio_h5_lock) while it calls HDF5;
 * other HDF5 code in the process (checkpoints) must take it too. */
#ifndef MT_IO_H5DATASET_H
#define MT_IO_H5DATASET_H
#include <stdint.h>

#include "modtrain.h"

#define MTIO_H5_FORMAT_VERSION 1
#define MTIO_H5_CHUNK_BYTES 4096

/* The process-wide HDF5 lock (recursive): hold it around any HDF5 call in a
 * process where an HDF5 iterator's prefetch thread may run. */
void mtio_h5_lock(void);
void mtio_h5_unlock(void);

/* The element type of /data, as read into memory (native byte order). */
typedef enum { MTIO_F32 = 0, MTIO_F64, MTIO_U8, MTIO_I8, MTIO_U16, MTIO_I16, MTIO_I32 } mtio_dtype;

/* numpy's name of a dtype ("uint8") and its size in bytes. */
const char *mtio_dtype_name(mtio_dtype t);
int mtio_dtype_size(mtio_dtype t);

/* Storage of /data. */
typedef enum { MTIO_CONTIGUOUS = 0, MTIO_CHUNKED, MTIO_OTHER_LAYOUT } mtio_layout;

/* What a dataset file holds. */
typedef struct {
  int ndim;                /* rank of /data, 2..MT_MAX_DIM */
  int64_t dim[MT_MAX_DIM]; /* shape of /data; dim[0] = N */
  int label_ndim;          /* 1: [N] class indices; 2: [N, k] */
  int64_t label_dim[2];    /* shape of /label */
  int64_t row, label_row;  /* floats per sample in /data (d1 * d2 ...) and /label */
  int64_t num_classes;     /* 0: absent or not a class set */
  int has_seed;
  uint64_t seed;
  int64_t part;        /* -1 when absent */
  char generator[256]; /* "" when absent */
  int64_t chunk_rows;  /* rows per chunk of /data; 0 when not chunked */
  mtio_dtype dtype;    /* /data's element type */
  int elem;            /* its bytes */
  mtio_layout layout;
  int64_t chunk_bytes;  /* bytes of one /data chunk in memory (0: not chunked) */
  int64_t band_chunks;  /* chunks across one band of chunk_rows rows (chunked) */
  int64_t stored_bytes; /* /data's bytes in the file (compressed size) */
  char filters[64];     /* "gzip+shuffle+fletcher32", "" when none */
  int direct;           /* contiguous, native byte order: rows read with pread */
} mtio_h5_meta;

/* ------------------------------------------------------------------ writer */

typedef struct mtio_h5_writer mtio_h5_writer;

/* Starts a dataset file for samples of shape sample_dim[0..sample_ndim)
 * (1 to MT_MAX_DIM - 1 dims, each >= 1) and labels [N] (label_k = 0) or
 * [N, label_k]. num_classes >= 0 (0: not a class set; with [N] labels
 * and num_classes > 0, appended labels must be integers in
 * [0, num_classes)). generator NULL or "": no generator attribute.
 * The file is written under a temporary name beside `path`
 * ("PATH.tmp-PID") and appears at `path` only when close succeeds. */
int mtio_h5_writer_create(const char *path, int sample_ndim, const int64_t *sample_dim, int label_k,
                          int64_t num_classes, uint64_t seed, const char *generator,
                          mtio_h5_writer **out);
/* An extra int64 attribute on / (e.g. "part"). */
int mtio_h5_writer_attr_int(mtio_h5_writer *w, const char *name, int64_t value);
/* Appends nrows samples: x (nrows, d1, ...) and y (nrows,) or (nrows, k),
 * row-major float32. Labels are checked first (a bad label names its row
 * and nothing is appended). */
int mtio_h5_writer_append(mtio_h5_writer *w, int64_t nrows, const float *x, const float *y);
/* Rows appended so far. */
int64_t mtio_h5_writer_rows(const mtio_h5_writer *w);
/* Closes the file, fsyncs it, renames it to `path` and fsyncs the directory.
 * Frees w in every case; on failure the temporary file is removed and an
 * existing file at `path` is left as it was. */
int mtio_h5_writer_close(mtio_h5_writer *w);
/* Drops the file being written (removes the temporary); NULL-safe. */
void mtio_h5_writer_abort(mtio_h5_writer *w);

/* ------------------------------------------------------------------ reader */

typedef struct mtio_h5_reader mtio_h5_reader;

/* Opens `path` and validates it: the file exists, is a regular file (a
 * FIFO, device or socket is refused without being opened: a FIFO's open
 * blocks) and is HDF5 (truncated or corrupted metadata fails here), /data
 * and /label exist, are float32, have ranks [N, d1, ...] (2..MT_MAX_DIM)
 * and [N] or [N, k], the same N, shapes whose bytes fit in int64 and whose
 * rows are in the file (contiguous storage written and inside the file, the
 * chunk of the last row present: a header declaring 2^40 rows in a tiny
 * file is refused), and supported attributes. Errors (MT_E_IO, MT_E_FORMAT,
 * MT_E_HDF5) name the path and the problem. The caller closes the reader. */
int mtio_h5_open(const char *path, mtio_h5_reader **out);
void mtio_h5_close(mtio_h5_reader *r);
const mtio_h5_meta *mtio_h5_reader_meta(const mtio_h5_reader *r);
const char *mtio_h5_reader_path(const mtio_h5_reader *r);

/* Reads rows [begin, end) into x ((end - begin) * row floats) and y
 * ((end - begin) * label_row floats); either may be NULL to skip it. */
int mtio_h5_read_range(mtio_h5_reader *r, int64_t begin, int64_t end, float *x, float *y);
/* Reads the n rows rows[0] < rows[1] < ... (strictly increasing, in
 * [0, N)) into x (n, row) and y (n, label_row), in that order. Each run of
 * consecutive rows is one hyperslab read. */
int mtio_h5_read_rows(mtio_h5_reader *r, int64_t n, const int64_t *rows, float *x, float *y);
/* Reads the n rows rows[0] < ... < rows[n-1] of /data in its own type
 * (meta.dtype, meta.elem bytes an element) into x (n, row): contiguous
 * storage by pread of each run of consecutive rows, chunked storage by
 * whole bands of chunk_rows rows, each band read once whatever number of
 * its rows is wanted. No label check. Adds to the counters below. */
int mtio_h5_read_rows_raw(mtio_h5_reader *r, int64_t n, const int64_t *rows, void *x);
/* Rows [begin, end) of /data in its own type, in large reads. */
int mtio_h5_read_range_raw(mtio_h5_reader *r, int64_t begin, int64_t end, void *x);
/* Rows [begin, end) of /label as float32, unchecked. */
int mtio_h5_read_labels(mtio_h5_reader *r, int64_t begin, int64_t end, float *y);
/* The class-index check of the reads on n labels y[i] of file rows rows[i]
 * (rows NULL: first + i); MT_OK when the file has no num_classes. */
int mtio_h5_check_labels(const mtio_h5_reader *r, int64_t n, const float *y, int64_t first,
                         const int64_t *rows);
/* Bytes of /data the raw reads took from storage (uncompressed: whole
 * chunks or runs) and bytes of rows they returned, since open. */
void mtio_h5_io_counters(const mtio_h5_reader *r, int64_t *bytes_read, int64_t *bytes_used);
/* "contiguous" / "chunked 1000x784 gzip+shuffle" into buf. */
const char *mtio_h5_layout_str(const mtio_h5_reader *r, char *buf, size_t len);

/* Both reads check [N] labels of a class set (num_classes > 0) and fail
 * with MT_E_FORMAT naming the path and the first bad row if a label is not
 * an integer in [0, num_classes). */

/* What labels must be, beyond what the file says (mtio_h5_scan). */
typedef struct {
  int64_t classes; /* > 0: every label value an integer in [0, classes) */
  int use_ignore;  /* ... or equal to ignore_label */
  float ignore_label;
  const char *why; /* where `classes` comes from, put in the message; NULL: nothing */
} mtio_h5_label_rule;

/* The checks too slow for open, done once before training (O(N)): every
 * chunk of /data and /label is in the file (a chunk never written reads as
 * zeros; O(chunks)), then /label read once in blocks of about 4 MiB, every
 * value finite, an integer in [0, num_classes) for [N] labels of a class
 * set (as the reads check), and the rule's (NULL: none). MT_E_FORMAT names
 * the path, the first bad row (and column of [N, k] labels) and the value. */
int mtio_h5_scan(mtio_h5_reader *r, const mtio_h5_label_rule *rule);

#endif
