/* shape.c — mt_shape helpers of the public header (make, size, compare,
 * print) and base/shape.h's one rule for the shapes an array may have. */
#include "base/shape.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"

mt_shape mt_shape_make(int ndim, ...) {
  mt_shape s;
  memset(&s, 0, sizeof s);
  if (ndim < 0 || ndim > MT_MAX_DIM) return s;
  s.ndim = ndim;
  va_list ap;
  va_start(ap, ndim);
  for (int i = 0; i < ndim; i++) s.dim[i] = va_arg(ap, int);
  va_end(ap);
  return s;
}

/* -1 for a negative dim, too many dims or a product past INT64_MAX: a size
 * that no allocation takes (base/device.c refuses it), never an overflow. */
int64_t mt_shape_size(const mt_shape *s) {
  if (s->ndim <= 0) return 0;
  if (s->ndim > MT_MAX_DIM) return -1;
  int64_t n = 1;
  for (int i = 0; i < s->ndim; i++) {
    int64_t d = s->dim[i];
    if (d < 0) return -1;
    if (d == 0) return 0;
  }
  for (int i = 0; i < s->ndim; i++) {
    if (n > INT64_MAX / s->dim[i]) return -1;
    n *= s->dim[i];
  }
  return n;
}

int mt_shape_count(const mt_shape *s, int64_t *n, char *why, size_t len) {
  if (n) *n = 0;
  if (why && len) why[0] = '\0';
  if (s->ndim < 0 || s->ndim > MT_MAX_DIM) {
    if (why) snprintf(why, len, "has %d dims (0 to %d)", s->ndim, MT_MAX_DIM);
    return MT_E_SHAPE;
  }
  int64_t total = s->ndim > 0 ? 1 : 0;
  for (int i = 0; i < s->ndim; i++) {
    int64_t d = s->dim[i];
    if (d < 0) {
      if (why) snprintf(why, len, "has a negative dim %d (%lld)", i, (long long)d);
      return MT_E_SHAPE;
    }
    if (d > MT_SHAPE_MAX_ELEMS) {
      if (why)
        snprintf(why, len, "has dim %d = %lld, past the limit of %lld (docs/design.md §2)", i,
                 (long long)d, (long long)MT_SHAPE_MAX_ELEMS);
      return MT_E_SHAPE;
    }
  }
  /* each factor <= 2^31 - 1 and the running product <= 2^31 - 1 before
   * each step: no step overflows int64 */
  int over = 0;
  for (int i = 0; i < s->ndim && total; i++) {
    total *= s->dim[i];
    if (total > MT_SHAPE_MAX_ELEMS) over = 1, total = MT_SHAPE_MAX_ELEMS + 1;
  }
  for (int i = 0; over && i < s->ndim; i++)
    if (s->dim[i] == 0) over = 0, total = 0; /* a zero dim anywhere: nothing */
  if (over) {
    if (why)
      snprintf(why, len, "has more than %lld elements, the limit for one array (docs/design.md §2)",
               (long long)MT_SHAPE_MAX_ELEMS);
    return MT_E_SHAPE;
  }
  if (n) *n = total;
  return MT_OK;
}

int mt_shape_check(const mt_shape *s, const char *fmt, ...) {
  char why[160], what[512], str[160];
  if (mt_shape_count(s, NULL, why, sizeof why) == MT_OK) return MT_OK;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return MT_ERR(MT_E_SHAPE, "%s: shape %s %s", what, mt_shape_str(s, str, sizeof str), why);
}

int mt_shape_equal(const mt_shape *a, const mt_shape *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim && i < MT_MAX_DIM; i++)
    if (a->dim[i] != b->dim[i]) return 0;
  return 1;
}

char *mt_shape_str(const mt_shape *s, char *buf, size_t len) {
  size_t off = 0;
  if (len == 0) return buf;
  int nd = s->ndim < 0 ? 0 : s->ndim > MT_MAX_DIM ? MT_MAX_DIM : s->ndim;
  off += (size_t)snprintf(buf, len, "(");
  for (int i = 0; i < nd && off < len; i++)
    off += (size_t)snprintf(buf + off, len - off, i ? ", %lld" : "%lld", (long long)s->dim[i]);
  if (nd == 1 && off < len) off += (size_t)snprintf(buf + off, len - off, ",");
  if (off < len) snprintf(buf + off, len - off, ")");
  return buf;
}
