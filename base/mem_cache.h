/* mem_cache.h — a caching allocator over a backend (cudaMalloc/cudaFree for
 * gpu(i), see mt_device_alloc in src/ndarray.c), in the spirit of PyTorch's
 * CUDA caching allocator but small.
 *
 * Why: a training process reallocates the same sizes over and over — bind,
 * reshape and predict rebind executors, optimizer states are made per
 * parameter, the kvstore's scratch comes and goes — and cudaMalloc is slow
 * while cudaFree also synchronizes the whole device. Freed blocks are
 * therefore kept and handed out again to requests of (nearly) the same size;
 * they go back to the backend only on mt_mem_cache_release, on
 * mt_mem_cache_destroy, or when the backend runs out of memory.
 *
 * Reusing a block at once is safe on a GPU because every array is freed
 * when no stream but the device's legacy default stream can still use it:
 * kvstore, optimizer, copies and NCCL run on the legacy stream, whose work
 * runs in order; the executors' own streams (base/cuda/stream.cu) are
 * blocking streams, waited for by the Module after each forward and
 * backward and by mt_executor_free before it frees anything. Code that put
 * work on another stream would have to synchronize before freeing.
 *
 * Sizes: requests up to 1 MiB round up to a multiple of 512 bytes, larger
 * ones to a multiple of 2 MiB (0 bytes counts as 512). A request takes the
 * smallest cached block of at least its rounded size r and at most r + r/4
 * (that limit itself rounded up as r is), so a big block is not spent on a
 * small request; otherwise the backend is asked. When the backend returns
 * NULL, every cached block is given back to it and it is asked once more
 * (an oom_retry; only when something was cached). The backend records its
 * own error message; the cache does not overwrite it.
 *
 * Bookkeeping: live blocks in an open-addressing hash table (pointer ->
 * rounded size), cached blocks in an array sorted by size (binary search).
 * Every operation takes the cache's mutex: one cache may serve threads. */
#ifndef MT_SRC_MEM_CACHE_H
#define MT_SRC_MEM_CACHE_H
#include <stddef.h>
#include <stdint.h>

/* The memory below the cache. alloc returns NULL on failure (having
 * recorded why); free must accept any pointer alloc returned. ctx is passed
 * to both (e.g. the device ordinal). */
typedef struct mt_mem_backend {
  void *(*alloc)(void *ctx, size_t bytes);
  void (*free)(void *ctx, void *p);
  void *ctx;
} mt_mem_backend;

typedef struct mt_mem_cache mt_mem_cache;

typedef struct mt_mem_cache_stats {
  size_t in_use_bytes;     /* blocks handed out and not freed (mt_mem_cache_block_size each) */
  size_t cached_bytes;     /* free blocks kept for reuse (still held from the backend) */
  size_t peak_bytes;       /* the largest in_use_bytes seen */
  uint64_t hits;           /* allocations served from the cache */
  uint64_t misses;         /* allocations that asked the backend (failed ones too) */
  uint64_t backend_allocs; /* blocks the backend handed out */
  uint64_t backend_frees;  /* blocks handed back to the backend (unknown pointers too) */
  uint64_t oom_retries;    /* backend failures answered by releasing the cache */
} mt_mem_cache_stats;

/* Rounded size of a request (what a block for it holds): up to 1 MiB a
 * multiple of 512 bytes, above a multiple of 2 MiB; 0 for a request so
 * large that rounding would overflow. */
size_t mt_mem_cache_round(size_t bytes);

/* A cache over b (copied). enabled == 0: pass-through — blocks hold exactly
 * the bytes asked (0 as 512) and every free goes to the backend at once;
 * the statistics are kept all the same. NULL when out of host memory. The
 * caller frees it with mt_mem_cache_destroy. */
mt_mem_cache *mt_mem_cache_create(mt_mem_backend b, int enabled);
/* A block of at least `bytes`, from the cache or the backend; NULL when the
 * backend failed (its message recorded), or with MT_E_NOMEM recorded when
 * the request is too large or the bookkeeping has no host memory. */
void *mt_mem_cache_alloc(mt_mem_cache *c, size_t bytes);
/* Returns p to the cache (pass-through mode: to the backend). A pointer the
 * cache did not hand out goes straight to the backend; NULL does nothing. */
void mt_mem_cache_free(mt_mem_cache *c, void *p);
/* The size of the block p (its request rounded, or a cached block up to 25%
 * larger that it reused), 0 when p is not a live block of this cache. */
size_t mt_mem_cache_block_size(mt_mem_cache *c, const void *p);
/* Gives every cached (free) block back to the backend; live blocks stay. */
void mt_mem_cache_release(mt_mem_cache *c);
void mt_mem_cache_stats_get(const mt_mem_cache *c, mt_mem_cache_stats *s);
/* Gives every block back to the backend — cached ones and live ones (which
 * must no longer be used) — and frees the cache. NULL-safe. */
void mt_mem_cache_destroy(mt_mem_cache *c);

#endif
