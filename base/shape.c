/* shape.c — mt_shape helpers of the public header: make, size, compare, print. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "modtrain.h"

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

int64_t mt_shape_size(const mt_shape *s) {
  if (s->ndim <= 0) return 0;
  int64_t n = 1;
  for (int i = 0; i < s->ndim; i++) n *= s->dim[i];
  return n;
}

int mt_shape_equal(const mt_shape *a, const mt_shape *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->dim[i] != b->dim[i]) return 0;
  return 1;
}

char *mt_shape_str(const mt_shape *s, char *buf, size_t len) {
  size_t off = 0;
  if (len == 0) return buf;
  off += (size_t)snprintf(buf, len, "(");
  for (int i = 0; i < s->ndim && off < len; i++)
    off += (size_t)snprintf(buf + off, len - off, i ? ", %lld" : "%lld", (long long)s->dim[i]);
  if (s->ndim == 1 && off < len) off += (size_t)snprintf(buf + off, len - off, ",");
  if (off < len) snprintf(buf + off, len - off, ")");
  return buf;
}
