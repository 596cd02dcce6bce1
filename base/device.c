/* device.c — memory on a context: host memory aligned for the kernels, GPU
 * memory through one caching allocator per device (mem_cache.h), fills and
 * the check that a context can be used in this build. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/env.h"
#include "base/device.h"
#include "base/error.h"
#ifdef MT_HAVE_CUDA
#include "base/cuda/device_runtime.h"
#endif

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
      gpu_cache_enabled = !mt_env_is_zero(MT_ENV_GPU_CACHE);
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
  /* a negative count, or one whose bytes (plus the alignment slack) would
   * wrap size_t, is no allocation: callers report "cannot allocate" */
  if (nelem < 0 || (uint64_t)nelem > (SIZE_MAX - MT_HUGE_PAGE - sizeof(void *)) / sizeof(float) / 2)
    return NULL;
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
  if (nelem < 0)
    return MT_ERR(MT_E_INVAL, "mt_device_memset0: negative count %lld", (long long)nelem);
  if (ctx.type == MT_CPU) {
    memset(p, 0, (size_t)nelem * sizeof(float));
    return MT_OK;
  }
#ifdef MT_HAVE_CUDA
  if (ctx.type == MT_GPU) return mtk_cuda_memset0(ctx.id, p, (size_t)nelem * sizeof(float));
#endif
  return MT_ERR(MT_E_UNSUPPORTED, "gpu(%d): this build has no CUDA support", ctx.id);
}

#ifdef MT_HAVE_CUDA
/* The CUDA devices this process sees, asked once (the count does not change
 * while a process runs): the count and, when there are none, the driver's
 * reason (cudaGetDeviceCount's error string). */
static pthread_once_t gpu_count_once = PTHREAD_ONCE_INIT;
static int gpu_count;
static const char *gpu_count_why;
static void gpu_count_query(void) { gpu_count = mtk_cuda_device_query(&gpu_count_why); }
#endif

int mt_device_check(mt_context ctx) {
  if (ctx.type == MT_CPU) return MT_OK;
  if (ctx.type == MT_GPU) {
#ifdef MT_HAVE_CUDA
    if (ctx.id < 0) return MT_ERR(MT_E_INVAL, "gpu(%d): a device number is >= 0", ctx.id);
    pthread_once(&gpu_count_once, gpu_count_query);
    if (gpu_count == 0)
      return MT_ERR(MT_E_CUDA,
                    "gpu(%d): no CUDA device is visible to this process (cudaGetDeviceCount: %s); "
                    "use context = cpu, or check CUDA_VISIBLE_DEVICES and the driver",
                    ctx.id, gpu_count_why ? gpu_count_why : "no device");
    if (ctx.id >= gpu_count) {
      char range[48] = "gpu(0)";
      if (gpu_count > 1) snprintf(range, sizeof range, "gpu(0) to gpu(%d)", gpu_count - 1);
      return MT_ERR(MT_E_CUDA,
                    "gpu(%d): only %d CUDA device%s visible to this process (%s); check the "
                    "contexts and CUDA_VISIBLE_DEVICES",
                    ctx.id, gpu_count, gpu_count == 1 ? " is" : "s are", range);
    }
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
