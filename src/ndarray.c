/* ndarray.c — shapes, arrays (owning or views) and arenas. */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/error.h"
#include "base/shape.h"
#include "kernels/kernels.h"
#include "ndarray.h"

/* ---- arrays ---- */

void mt_ndarray_init_view(mt_ndarray *a, float *data, mt_shape shape, mt_context ctx) {
  a->data = data;
  a->shape = shape;
  a->size = mt_shape_size(&shape);
  a->ctx = ctx;
  a->flags = 0;
}

int mt_ndarray_create(mt_shape shape, mt_context ctx, mt_ndarray **out) {
  *out = NULL;
  if (shape.ndim < 1 || shape.ndim > MT_MAX_DIM)
    return MT_ERR(MT_E_SHAPE, "ndarray: ndim %d out of range [1, %d]", shape.ndim, MT_MAX_DIM);
  MT_TRY(mt_shape_check(&shape, "ndarray"));
  MT_TRY(mt_device_check(ctx));
  mt_ndarray *a = calloc(1, sizeof *a);
  if (!a) return MT_NOMEM();
  mt_ndarray_init_view(a, NULL, shape, ctx);
  a->data = mt_device_alloc(ctx, a->size);
  if (!a->data) {
    int64_t n = a->size;
    free(a);
    return MT_ERR(MT_E_NOMEM, "ndarray: cannot allocate %lld floats", (long long)n);
  }
  if (ctx.type != MT_CPU) {
    int rc = mt_device_memset0(ctx, a->data, a->size);
    if (rc < 0) {
      mt_device_free(ctx, a->data);
      free(a);
      return rc;
    }
  }
  a->flags = MT_ND_OWNS;
  *out = a;
  return MT_OK;
}

int mt_ndarray_slice(const mt_ndarray *src, int64_t begin, int64_t end, mt_ndarray **out) {
  *out = NULL;
  if (!src || src->shape.ndim < 1) return MT_ERR(MT_E_INVAL, "slice: empty array");
  if (begin < 0 || end > src->shape.dim[0] || begin > end)
    return MT_ERR(MT_E_INVAL, "slice [%lld, %lld) out of range for %lld rows", (long long)begin,
                  (long long)end, (long long)src->shape.dim[0]);
  mt_ndarray *a = calloc(1, sizeof *a);
  if (!a) return MT_NOMEM();
  int64_t row = src->shape.dim[0] ? src->size / src->shape.dim[0] : 0;
  mt_shape s = src->shape;
  s.dim[0] = end - begin;
  mt_ndarray_init_view(a, src->data + begin * row, s, src->ctx);
  *out = a;
  return MT_OK;
}

int mt_ndarray_reshape(const mt_ndarray *src, mt_shape shape, mt_ndarray **out) {
  *out = NULL;
  MT_TRY(mt_shape_check(&shape, "reshape"));
  if (mt_shape_size(&shape) != src->size) {
    char a[96], b[96];
    return MT_ERR(MT_E_SHAPE, "reshape: %s has %lld elements, %s has %lld",
                  mt_shape_str(&src->shape, a, sizeof a), (long long)src->size,
                  mt_shape_str(&shape, b, sizeof b), (long long)mt_shape_size(&shape));
  }
  mt_ndarray *a = calloc(1, sizeof *a);
  if (!a) return MT_NOMEM();
  mt_ndarray_init_view(a, src->data, shape, src->ctx);
  *out = a;
  return MT_OK;
}

void mt_ndarray_free(mt_ndarray *a) {
  if (!a) return;
  if (a->flags & MT_ND_OWNS) mt_device_free(a->ctx, a->data);
  free(a);
}

mt_shape mt_ndarray_shape(const mt_ndarray *a) { return a->shape; }
int64_t mt_ndarray_size(const mt_ndarray *a) { return a->size; }
mt_context mt_ndarray_context(const mt_ndarray *a) { return a->ctx; }
float *mt_ndarray_data(const mt_ndarray *a) { return a->ctx.type == MT_CPU ? a->data : NULL; }

int mt_ndarray_fill(mt_ndarray *a, float value) {
  if (a->ctx.type == MT_CPU) {
    mtk_fill(a->data, a->size, value);
    return MT_OK;
  }
#ifdef MT_HAVE_CUDA
  return mtk_cuda_fill(a->ctx.id, a->data, a->size, value);
#else
  return mt_device_check(a->ctx);
#endif
}

static int copy_raw(mt_context dctx, float *dst, mt_context sctx, const float *src, int64_t n) {
  if (dctx.type == MT_CPU && sctx.type == MT_CPU) {
    if (dst != src) memmove(dst, src, (size_t)n * sizeof(float));
    return MT_OK;
  }
#ifdef MT_HAVE_CUDA
  return mtk_cuda_copy(dctx.type == MT_GPU ? dctx.id : -1, dst, sctx.type == MT_GPU ? sctx.id : -1,
                       src, (size_t)n * sizeof(float));
#else
  MT_TRY(mt_device_check(dctx));
  return mt_device_check(sctx);
#endif
}

int mt_ndarray_copy_from(mt_ndarray *dst, const float *src, int64_t n) {
  if (n != dst->size)
    return MT_ERR(MT_E_SHAPE, "copy_from: %lld elements given, array holds %lld", (long long)n,
                  (long long)dst->size);
  return copy_raw(dst->ctx, dst->data, mt_cpu(0), src, n);
}

int mt_ndarray_copy_to(const mt_ndarray *src, float *dst, int64_t n) {
  if (n != src->size)
    return MT_ERR(MT_E_SHAPE, "copy_to: %lld elements asked, array holds %lld", (long long)n,
                  (long long)src->size);
  return copy_raw(mt_cpu(0), dst, src->ctx, src->data, n);
}

int mt_ndarray_copy(mt_ndarray *dst, const mt_ndarray *src) {
  if (dst->size != src->size) {
    char a[96], b[96];
    return MT_ERR(MT_E_SHAPE, "copy: source %s and destination %s differ in size",
                  mt_shape_str(&src->shape, a, sizeof a), mt_shape_str(&dst->shape, b, sizeof b));
  }
  return copy_raw(dst->ctx, dst->data, src->ctx, src->data, src->size);
}

/* ---- arenas ---- */

#define MT_ARENA_ALIGN 16 /* floats = 64 bytes */

int mt_arena_create(mt_context ctx, int n, const char *const *names, const mt_shape *shapes,
                    mt_arena **out) {
  *out = NULL;
  if (n < 0) return MT_ERR(MT_E_INVAL, "arena: %d tensors", n);
  /* each tensor within the limit (base/shape.h), so the offsets below, at
   * most n x 2^31 elements, never overflow */
  for (int i = 0; i < n; i++)
    MT_TRY(mt_shape_check(&shapes[i], "arena: tensor %d ('%s')", i,
                          names && names[i] ? names[i] : ""));
  MT_TRY(mt_device_check(ctx));
  mt_arena *a = calloc(1, sizeof *a);
  if (!a) return MT_NOMEM();
  a->ctx = ctx;
  a->n = n;
  a->names = calloc((size_t)n + 1, sizeof *a->names);
  a->offsets = calloc((size_t)n + 1, sizeof *a->offsets);
  a->views = calloc((size_t)n + 1, sizeof *a->views);
  if (!a->names || !a->offsets || !a->views) goto nomem;
  int64_t off = 0;
  for (int i = 0; i < n; i++) {
    a->names[i] = strdup(names && names[i] ? names[i] : "");
    if (!a->names[i]) goto nomem;
    a->offsets[i] = off;
    int64_t sz = mt_shape_size(&shapes[i]);
    off += (sz + MT_ARENA_ALIGN - 1) / MT_ARENA_ALIGN * MT_ARENA_ALIGN;
  }
  a->size = off;
  a->data = mt_device_alloc(ctx, off);
  if (!a->data) goto nomem;
  if (ctx.type != MT_CPU && mt_device_memset0(ctx, a->data, off) < 0) goto nomem;
  for (int i = 0; i < n; i++)
    mt_ndarray_init_view(&a->views[i], a->data + a->offsets[i], shapes[i], ctx);
  *out = a;
  return MT_OK;
nomem:;
  int64_t total = a->size;
  mt_arena_free(a);
  return MT_ERR(MT_E_NOMEM, "arena: cannot allocate %d tensors (%lld floats) on %s(%d)", n,
                (long long)total, ctx.type == MT_GPU ? "gpu" : "cpu", ctx.id);
}

void mt_arena_free(mt_arena *a) {
  if (!a) return;
  if (a->names)
    for (int i = 0; i < a->n; i++) free(a->names[i]);
  free(a->names);
  free(a->offsets);
  free(a->views);
  if (!a->external) mt_device_free(a->ctx, a->data);
  free(a);
}

int mt_arena_rehome(mt_arena *a, float *data) {
  if (a->ctx.type != MT_CPU) return MT_ERR(MT_E_UNSUPPORTED, "arena: rehome of a GPU arena");
  float *to = data ? data : mt_device_alloc(a->ctx, a->size);
  if (!to) return MT_ERR(MT_E_NOMEM, "arena: cannot allocate %lld floats", (long long)a->size);
  memcpy(to, a->data, (size_t)a->size * sizeof(float));
  if (!a->external) mt_device_free(a->ctx, a->data);
  a->data = to;
  a->external = data != NULL;
  for (int i = 0; i < a->n; i++) a->views[i].data = to + a->offsets[i];
  return MT_OK;
}

int mt_arena_count(const mt_arena *a) { return a->n; }
mt_ndarray *mt_arena_at(const mt_arena *a, int i) {
  return i >= 0 && i < a->n ? &a->views[i] : NULL;
}
const char *mt_arena_name(const mt_arena *a, int i) {
  return i >= 0 && i < a->n ? a->names[i] : NULL;
}
mt_ndarray *mt_arena_get(const mt_arena *a, const char *name) {
  for (int i = 0; i < a->n; i++)
    if (!strcmp(a->names[i], name)) return &a->views[i];
  return NULL;
}
float *mt_arena_data(const mt_arena *a) { return a->data; }
int64_t mt_arena_size(const mt_arena *a) { return a->size; }
int64_t mt_arena_offset(const mt_arena *a, int i) { return a->offsets[i]; }

int mt_ndarray_host_view(const mt_ndarray *a, const float **p, float **tmp) {
  *tmp = NULL;
  float *d = mt_ndarray_data(a);
  if (d) {
    *p = d;
    return MT_OK;
  }
  int64_t n = mt_ndarray_size(a);
  *tmp = malloc((size_t)(n ? n : 1) * sizeof(float));
  if (!*tmp) return MT_NOMEM();
  int rc = mt_ndarray_copy_to(a, *tmp, n);
  if (rc < 0) {
    free(*tmp);
    *tmp = NULL;
    return rc;
  }
  *p = *tmp;
  return MT_OK;
}
