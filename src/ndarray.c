/* ndarray.c — shapes, arrays (owning or views) and arenas. */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "error.h"
#include "kernels/kernels.h"
#include "ndarray.h"

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

/* ---- device memory ---- */

#define MT_HUGE_PAGE ((size_t)2 << 20)

/* GPU memory: one caching allocator per device over cudaMalloc/cudaFree
 * (mem_cache.h says why), made on the device's first allocation; the
 * environment's MODTRAIN_GPU_CACHE=0, read once, makes every cache a
 * pass-through. The caches live as long as the process. A device number
 * past MT_GPU_CACHES (kernels/cuda/launch.cuh's MTK_MAX_GPUS) goes to CUDA
 * directly, which reports it. */
#define MT_GPU_CACHES 64

#ifdef MT_HAVE_CUDA
static mt_mem_cache *gpu_cache[MT_GPU_CACHES];
static int gpu_cache_enabled = -1;
static pthread_mutex_t gpu_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static void *gpu_backend_alloc(void *dev, size_t bytes) {
  return mtk_cuda_alloc((int)(intptr_t)dev, bytes);
}
static void gpu_backend_free(void *dev, void *p) { mtk_cuda_free((int)(intptr_t)dev, p); }

/* gpu(dev)'s cache, made now when `create`; NULL for a device out of range,
 * one not used yet (create 0), or no host memory for it. */
static mt_mem_cache *gpu_cache_get(int dev, int create) {
  if (dev < 0 || dev >= MT_GPU_CACHES) return NULL;
  pthread_mutex_lock(&gpu_cache_lock);
  mt_mem_cache *c = gpu_cache[dev];
  if (!c && create) {
    if (gpu_cache_enabled < 0) {
      const char *e = getenv("MODTRAIN_GPU_CACHE");
      gpu_cache_enabled = !(e && !strcmp(e, "0"));
    }
    mt_mem_backend b = {gpu_backend_alloc, gpu_backend_free, (void *)(intptr_t)dev};
    c = gpu_cache[dev] = mt_mem_cache_create(b, gpu_cache_enabled);
  }
  pthread_mutex_unlock(&gpu_cache_lock);
  return c;
}
#endif

static int gpu_cache_ctx(mt_context ctx, const char *what) {
  if (ctx.type != MT_GPU)
    return MT_ERR(MT_E_INVAL, "%s: only gpu contexts have a memory cache", what);
  if (ctx.id < 0 || ctx.id >= MT_GPU_CACHES)
    return MT_ERR(MT_E_INVAL, "%s: gpu(%d) out of range [0, %d)", what, ctx.id, MT_GPU_CACHES);
#ifdef MT_HAVE_CUDA
  return MT_OK;
#else
  return MT_ERR(MT_E_UNSUPPORTED, "%s: gpu(%d): this build has no CUDA support", what, ctx.id);
#endif
}

int mt_device_cache_release(mt_context ctx) {
  MT_TRY(gpu_cache_ctx(ctx, "mt_device_cache_release"));
#ifdef MT_HAVE_CUDA
  mt_mem_cache *c = gpu_cache_get(ctx.id, 0);
  if (c) mt_mem_cache_release(c);
#endif
  return MT_OK;
}

int mt_device_cache_stats(mt_context ctx, mt_mem_cache_stats *out) {
  memset(out, 0, sizeof *out);
  MT_TRY(gpu_cache_ctx(ctx, "mt_device_cache_stats"));
#ifdef MT_HAVE_CUDA
  mt_mem_cache *c = gpu_cache_get(ctx.id, 0);
  if (c) mt_mem_cache_stats_get(c, out);
#endif
  return MT_OK;
}

/* CPU memory comes zeroed from calloc, 64-byte aligned by hand (the
 * pointer calloc gave is kept just before the aligned block). For large
 * blocks glibc's calloc maps fresh pages that the kernel zeroes on first
 * touch, so a big arena costs no memset pass (checkpoint loads, buffers). */
float *mt_device_alloc(mt_context ctx, int64_t nelem) {
  size_t bytes = (size_t)(nelem > 0 ? nelem : 1) * sizeof(float);
  if (ctx.type == MT_CPU) {
    /* blocks of 2 MiB or more start on a 2 MiB boundary and ask for
     * transparent huge pages (Linux's default THP mode is madvise): fewer
     * TLB misses in the GEMMs and update passes over weights and gradients */
    size_t align = bytes >= MT_HUGE_PAGE ? MT_HUGE_PAGE : 64;
    char *raw = calloc(1, bytes + align + sizeof(void *));
    if (!raw) return NULL;
    uintptr_t a = ((uintptr_t)raw + sizeof(void *) + align - 1) & ~(uintptr_t)(align - 1);
    ((void **)a)[-1] = raw;
#ifdef MADV_HUGEPAGE
    if (align == MT_HUGE_PAGE)
      (void)madvise((void *)a, bytes & ~(size_t)(MT_HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
    return (float *)a;
  }
#ifdef MT_HAVE_CUDA
  if (ctx.type == MT_GPU) {
    mt_mem_cache *c = gpu_cache_get(ctx.id, 1);
    return c ? mt_mem_cache_alloc(c, bytes) : mtk_cuda_alloc(ctx.id, bytes);
  }
#endif
  return NULL;
}

void mt_device_free(mt_context ctx, float *p) {
  if (!p) return;
  if (ctx.type == MT_CPU) {
    free(((void **)p)[-1]);
    return;
  }
#ifdef MT_HAVE_CUDA
  if (ctx.type == MT_GPU) {
    /* a pointer the cache does not know (one from before the cache could
     * be made) goes to cudaFree through it all the same */
    mt_mem_cache *c = gpu_cache_get(ctx.id, 0);
    if (c) mt_mem_cache_free(c, p);
    else mtk_cuda_free(ctx.id, p);
  }
#endif
}

int mt_device_memset0(mt_context ctx, float *p, int64_t nelem) {
  if (ctx.type == MT_CPU) {
    memset(p, 0, (size_t)nelem * sizeof(float));
    return MT_OK;
  }
#ifdef MT_HAVE_CUDA
  if (ctx.type == MT_GPU) return mtk_cuda_memset0(ctx.id, p, (size_t)nelem * sizeof(float));
#endif
  return MT_ERR(MT_E_UNSUPPORTED, "gpu(%d): this build has no CUDA support", ctx.id);
}

static int check_ctx(mt_context ctx) {
  if (ctx.type == MT_CPU) return MT_OK;
  if (ctx.type == MT_GPU) {
#ifdef MT_HAVE_CUDA
    return MT_OK;
#else
    return MT_ERR(
        MT_E_UNSUPPORTED,
        "gpu(%d): this build has no CUDA support (rebuild with nvcc present and -DMT_CUDA=ON)",
        ctx.id);
#endif
  }
  return MT_ERR(MT_E_INVAL, "unknown device type %d", (int)ctx.type);
}

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
  for (int i = 0; i < shape.ndim; i++)
    if (shape.dim[i] < 0)
      return MT_ERR(MT_E_SHAPE, "ndarray: negative dimension %lld", (long long)shape.dim[i]);
  MT_TRY(check_ctx(ctx));
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
  return check_ctx(a->ctx);
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
  MT_TRY(check_ctx(dctx));
  return check_ctx(sctx);
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
  MT_TRY(check_ctx(ctx));
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
nomem:
  mt_arena_free(a);
  return MT_ERR(MT_E_NOMEM, "arena: cannot allocate %d tensors", n);
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
