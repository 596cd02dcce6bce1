/* h5_check.h — MT_CHECK_H5, the check macro for HDF5 calls (one
 * check macro per foreign library). A failed call (a negative herr_t or
 * hid_t) records HDF5's own error text — its error stack, walked with
 * H5Ewalk2 from the API call down to where the error arose — together with
 * the failing expression and its file:line, and returns MT_E_HDF5:
 *
 *   HDF5 error in H5Fopen(path, H5F_ACC_RDONLY, fapl) at h5dataset.c:412:
 *   H5Fopen(): unable to open file: ...: truncated file: eof = 1000, ...
 *
 * Callers add the path with mt_error_prefix. HDF5's default printing of the
 * stack to stderr is switched off by mtio_h5_quiet() (the library never
 * prints); every entry point of io/h5dataset.c calls it.
 *
 * Thread safety: the Debian libhdf5-openmpi build is not thread-safe, and its
 * error stack is one global; hold mtio_h5_lock() (io/h5dataset.h) around
 * HDF5 calls and their checks in any process where another thread (an HDF5
 * iterator's prefetch thread) may use HDF5. */
#ifndef MT_IO_H5_CHECK_H
#define MT_IO_H5_CHECK_H
#include <hdf5.h>
#include <stdio.h>
#include <string.h>

#include "modtrain.h"

typedef struct {
  char *buf;
  size_t cap, len;
  char last[256]; /* the previous record's text: consecutive repeats are skipped */
} mtio_h5_walk;

/* Appends "func(): desc" for the first (API) record, then ": desc" for each
 * deeper record whose text differs from the one before. */
static inline herr_t mtio_h5_walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
  mtio_h5_walk *w = data;
  const char *desc = e->desc ? e->desc : "";
  if (n > 0 && strcmp(desc, w->last) == 0) return 0;
  snprintf(w->last, sizeof w->last, "%s", desc);
  if (w->len + 1 >= w->cap) return 0;
  int k = n == 0 ? snprintf(w->buf + w->len, w->cap - w->len, "%s(): %s",
                            e->func_name ? e->func_name : "?", desc)
                 : snprintf(w->buf + w->len, w->cap - w->len, ": %s", desc);
  if (k > 0) {
    size_t end = w->len + ((size_t)k < w->cap - w->len ? (size_t)k : w->cap - w->len - 1);
    for (; w->len < end; w->len++) /* one line: HDF5 puts newlines in some texts */
      if (w->buf[w->len] == '\n') w->buf[w->len] = ' ';
  }
  return 0;
}

/* Records the failure of `expr` at file:line with HDF5's error stack, clears
 * the stack, and returns MT_E_HDF5. */
static inline int mtio_h5_fail(const char *expr, const char *file, int line) {
  char text[1024] = "";
  mtio_h5_walk w = {text, sizeof text, 0, ""};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, mtio_h5_walk_cb, &w);
  H5Eclear2(H5E_DEFAULT);
  const char *base = strrchr(file, '/'); /* __FILE__ may be an absolute path */
  file = base ? base + 1 : file;
  return mt_error_set(MT_E_HDF5, "HDF5 error in %s at %s:%d: %s", expr, file, line,
                      text[0] ? text : "(HDF5 recorded no message)");
}

/* Turns off HDF5's automatic printing of error stacks to stderr. */
static inline void mtio_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* `expr` is an HDF5 call returning herr_t, hid_t or htri_t; < 0 fails. The
 * expression may assign (MT_CHECK_H5(f = H5Fopen(...))). */
#define MT_CHECK_H5(expr)                                                                          \
  do {                                                                                             \
    if ((expr) < 0) return mtio_h5_fail(#expr, __FILE__, __LINE__);                                \
  } while (0)
/* The form for functions that must release what they acquired: sets rc and
 * jumps to `label`. */
#define MT_CHECK_H5_GOTO(expr, rc, label)                                                          \
  do {                                                                                             \
    if ((expr) < 0) {                                                                              \
      (rc) = mtio_h5_fail(#expr, __FILE__, __LINE__);                                              \
      goto label;                                                                                  \
    }                                                                                              \
  } while (0)

#endif
