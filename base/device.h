/* device.h — memory on a context (cpu(i) or gpu(i)) for every layer above
 * base: arrays, arenas, the executor's plan, optimizer state and the
 * kvstore's scratch all allocate here. */
#ifndef MT_BASE_DEVICE_H
#define MT_BASE_DEVICE_H
#include "base/mem_cache.h"
#include "modtrain.h"

/* nelem floats on ctx, zeroed on the CPU (64-byte aligned; 2 MiB-aligned
 * with transparent huge pages from 2 MiB up), uninitialised on a GPU; NULL
 * when out of memory or when ctx cannot be used in this build. */
float *mt_device_alloc(mt_context ctx, int64_t nelem);
void mt_device_free(mt_context ctx, float *p);
int mt_device_memset0(mt_context ctx, float *p, int64_t nelem);
/* MT_OK when ctx can hold arrays in this build and on this machine;
 * MT_E_UNSUPPORTED for a GPU in a build without CUDA, MT_E_INVAL for an
 * unknown device type or a negative GPU number. In a CUDA build, a GPU
 * context is MT_E_CUDA when no CUDA device is visible ("gpu(0): no CUDA
 * device is visible to this process (cudaGetDeviceCount: <the driver's
 * reason>); use context = cpu, or check CUDA_VISIBLE_DEVICES and the
 * driver") or when its number is past the visible devices ("gpu(3): only 2
 * CUDA devices are visible ..."); the devices are counted once per process.
 * Every array and arena is made through it, and the command may call it to
 * check a config's contexts before anything runs. */
int mt_device_check(mt_context ctx);
/* GPU memory goes through one caching allocator per device (mem_cache.h;
 * MODTRAIN_GPU_CACHE=0 makes it a pass-through). For tests and tools:
 * mt_device_cache_release gives a device's cached blocks back to CUDA,
 * mt_device_cache_stats reads its counters (all zero before the device's
 * first allocation). Both return MT_OK, MT_E_INVAL for a CPU context or a
 * device number out of range, MT_E_UNSUPPORTED in a build without CUDA. */
int mt_device_cache_release(mt_context ctx);
int mt_device_cache_stats(mt_context ctx, mt_mem_cache_stats *out);

#endif
