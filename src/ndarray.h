/* ndarray.h — the mt_ndarray and mt_arena structures, shared inside src/.
 * Outside src/ (kernels, kvstore, io) code works on raw pointers instead. */
#ifndef MT_SRC_NDARRAY_H
#define MT_SRC_NDARRAY_H
#include "mem_cache.h"
#include "modtrain.h"

#define MT_ND_OWNS 1u /* storage freed with the array */

struct mt_ndarray {
  float *data; /* host or device pointer, per ctx */
  mt_shape shape;
  int64_t size; /* elements */
  mt_context ctx;
  unsigned flags;
};

struct mt_arena {
  mt_context ctx;
  float *data;  /* one allocation */
  int64_t size; /* elements including padding */
  int n;
  char **names;
  int64_t *offsets;
  mt_ndarray *views; /* n views into data, not owning */
  int external;      /* data belongs to someone else (mt_arena_rehome) */
};

/* Moves a CPU arena's contents to `data` (size floats, owned by the caller,
 * e.g. a kvstore's shared-memory window; the arena will not free it), or
 * back to memory of its own when data is NULL; the views follow. */
int mt_arena_rehome(mt_arena *a, float *data);

/* Initializes a non-owning view in place (no allocation). */
void mt_ndarray_init_view(mt_ndarray *a, float *data, mt_shape shape, mt_context ctx);
/* Device-aware allocation used by arrays, arenas and the executor's plan. */
float *mt_device_alloc(mt_context ctx, int64_t nelem);
void mt_device_free(mt_context ctx, float *p);
int mt_device_memset0(mt_context ctx, float *p, int64_t nelem);
/* GPU memory goes through one caching allocator per device (mem_cache.h;
 * MODTRAIN_GPU_CACHE=0 makes it a pass-through). For tests and tools:
 * mt_device_cache_release gives a device's cached blocks back to CUDA,
 * mt_device_cache_stats reads its counters (all zero before the device's
 * first allocation). Both return MT_OK, MT_E_INVAL for a CPU context or a
 * device number out of range, MT_E_UNSUPPORTED in a build without CUDA. */
int mt_device_cache_release(mt_context ctx);
int mt_device_cache_stats(mt_context ctx, mt_mem_cache_stats *out);

#endif
