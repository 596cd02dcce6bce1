/* mem_cache.c — the caching allocator of mem_cache.h: blocks handed out are
 * remembered in a hash table (pointer -> size), freed blocks kept in an
 * array sorted by size and reused by best fit within a 25% slack. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mem_cache.h"

#define SMALL_MAX ((size_t)1 << 20)   /* requests up to this round to SMALL_ROUND */
#define SMALL_ROUND ((size_t)512)     /* cudaMalloc's own alignment */
#define LARGE_ROUND ((size_t)2 << 20) /* larger ones: the GPU's 2 MiB pages */
#define LIVE_MIN_CAP 64

typedef struct {
  void *p; /* NULL: an empty slot of the live table */
  size_t size;
} mc_block;

struct mt_mem_cache {
  pthread_mutex_t mu;
  mt_mem_backend b;
  int enabled;
  /* live blocks: open addressing, linear probing, at most half full;
   * deletion shifts entries back (no tombstones) */
  mc_block *live;
  size_t live_cap, live_n;
  /* cached blocks sorted by (size, address) */
  mc_block *cached;
  size_t cached_cap, cached_n;
  mt_mem_cache_stats st;
};

static size_t round_up(size_t x, size_t g) {
  if (x > SIZE_MAX - (g - 1)) return 0;
  return (x + g - 1) / g * g;
}

size_t mt_mem_cache_round(size_t bytes) {
  if (bytes == 0) bytes = SMALL_ROUND;
  return round_up(bytes, bytes <= SMALL_MAX ? SMALL_ROUND : LARGE_ROUND);
}

/* The largest cached block a request of rounded size r may take: r + r/4,
 * rounded up with r's granularity. */
static size_t reuse_limit(size_t r) {
  if (r > SIZE_MAX - r / 4) return SIZE_MAX;
  size_t lim = round_up(r + r / 4, r <= SMALL_MAX ? SMALL_ROUND : LARGE_ROUND);
  return lim ? lim : SIZE_MAX;
}

/* ---- live table ---- */

static size_t ptr_hash(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p; /* splitmix64's finalizer */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return (size_t)x;
}

/* Slot of p, or live_cap when absent. */
static size_t live_find(const mt_mem_cache *c, const void *p) {
  if (!c->live_cap) return 0;
  size_t mask = c->live_cap - 1;
  for (size_t i = ptr_hash(p) & mask;; i = (i + 1) & mask) {
    if (c->live[i].p == p) return i;
    if (!c->live[i].p) return c->live_cap;
  }
}

static void live_put(mc_block *tab, size_t cap, mc_block b) {
  size_t mask = cap - 1, i = ptr_hash(b.p) & mask;
  while (tab[i].p) i = (i + 1) & mask;
  tab[i] = b;
}

/* Room for one more entry; -1 when out of host memory. */
static int live_reserve(mt_mem_cache *c) {
  if ((c->live_n + 1) * 2 <= c->live_cap) return 0;
  size_t cap = c->live_cap ? c->live_cap * 2 : LIVE_MIN_CAP;
  mc_block *tab = calloc(cap, sizeof *tab);
  if (!tab) return -1;
  for (size_t i = 0; i < c->live_cap; i++)
    if (c->live[i].p) live_put(tab, cap, c->live[i]);
  free(c->live);
  c->live = tab;
  c->live_cap = cap;
  return 0;
}

/* Empties slot i, moving later entries of its probe run back so that every
 * entry stays reachable from its home slot. */
static void live_remove(mt_mem_cache *c, size_t i) {
  size_t mask = c->live_cap - 1;
  c->live[i].p = NULL;
  c->live_n--;
  for (size_t j = (i + 1) & mask; c->live[j].p; j = (j + 1) & mask) {
    size_t home = ptr_hash(c->live[j].p) & mask;
    /* stays if home lies cyclically in (i, j] */
    int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    c->live[i] = c->live[j];
    c->live[j].p = NULL;
    i = j;
  }
}

/* ---- cached blocks ---- */

/* First index whose block is not below (size, p) in (size, address) order. */
static size_t cached_lower_bound(const mt_mem_cache *c, size_t size, const void *p) {
  size_t lo = 0, hi = c->cached_n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const mc_block *b = &c->cached[mid];
    if (b->size < size || (b->size == size && (uintptr_t)b->p < (uintptr_t)p)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Keeps b for reuse; -1 when the array cannot grow (out of host memory). */
static int cached_insert(mt_mem_cache *c, mc_block b) {
  if (c->cached_n == c->cached_cap) {
    size_t cap = c->cached_cap ? c->cached_cap * 2 : 64;
    mc_block *a = realloc(c->cached, cap * sizeof *a);
    if (!a) return -1;
    c->cached = a;
    c->cached_cap = cap;
  }
  size_t i = cached_lower_bound(c, b.size, b.p);
  memmove(&c->cached[i + 1], &c->cached[i], (c->cached_n - i) * sizeof *c->cached);
  c->cached[i] = b;
  c->cached_n++;
  c->st.cached_bytes += b.size;
  return 0;
}

static mc_block cached_take(mt_mem_cache *c, size_t i) {
  mc_block b = c->cached[i];
  memmove(&c->cached[i], &c->cached[i + 1], (c->cached_n - i - 1) * sizeof *c->cached);
  c->cached_n--;
  c->st.cached_bytes -= b.size;
  return b;
}

static void release_locked(mt_mem_cache *c) {
  for (size_t i = 0; i < c->cached_n; i++) {
    c->b.free(c->b.ctx, c->cached[i].p);
    c->st.backend_frees++;
  }
  c->cached_n = 0;
  c->st.cached_bytes = 0;
}

/* ---- the interface ---- */

mt_mem_cache *mt_mem_cache_create(mt_mem_backend b, int enabled) {
  mt_mem_cache *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  if (pthread_mutex_init(&c->mu, NULL) != 0) {
    free(c);
    return NULL;
  }
  c->b = b;
  c->enabled = enabled != 0;
  return c;
}

void *mt_mem_cache_alloc(mt_mem_cache *c, size_t bytes) {
  /* pass-through keeps the caller's size, so MODTRAIN_GPU_CACHE=0 asks
   * cudaMalloc for exactly what it did before the cache existed */
  size_t r = c->enabled ? mt_mem_cache_round(bytes) : (bytes ? bytes : SMALL_ROUND);
  if (!r) {
    MT_ERR(MT_E_NOMEM, "memory cache: a request of %zu bytes is too large", bytes);
    return NULL;
  }
  mc_block b = {NULL, r};
  pthread_mutex_lock(&c->mu);
  if (live_reserve(c) < 0) { /* before taking a block: nothing to undo */
    MT_NOMEM();
    goto out;
  }
  if (c->enabled) {
    size_t i = cached_lower_bound(c, r, NULL);
    if (i < c->cached_n && c->cached[i].size <= reuse_limit(r)) {
      b = cached_take(c, i);
      c->st.hits++;
    }
  }
  if (!b.p) {
    c->st.misses++;
    b.p = c->b.alloc(c->b.ctx, r);
    if (!b.p && c->cached_n > 0) { /* out of memory: give back what is cached, try again */
      release_locked(c);
      c->st.oom_retries++;
      b.p = c->b.alloc(c->b.ctx, r);
    }
    if (!b.p) goto out; /* the backend said why */
    c->st.backend_allocs++;
  }
  live_put(c->live, c->live_cap, b);
  c->live_n++;
  c->st.in_use_bytes += b.size;
  if (c->st.in_use_bytes > c->st.peak_bytes) c->st.peak_bytes = c->st.in_use_bytes;
out:
  pthread_mutex_unlock(&c->mu);
  return b.p;
}

void mt_mem_cache_free(mt_mem_cache *c, void *p) {
  if (!p) return;
  pthread_mutex_lock(&c->mu);
  size_t i = live_find(c, p);
  if (i == c->live_cap) { /* not ours: the backend's to judge */
    c->b.free(c->b.ctx, p);
    c->st.backend_frees++;
    goto out;
  }
  mc_block b = c->live[i];
  live_remove(c, i);
  c->st.in_use_bytes -= b.size;
  if (!c->enabled || cached_insert(c, b) < 0) {
    c->b.free(c->b.ctx, b.p);
    c->st.backend_frees++;
  }
out:
  pthread_mutex_unlock(&c->mu);
}

size_t mt_mem_cache_block_size(mt_mem_cache *c, const void *p) {
  if (!p) return 0;
  pthread_mutex_lock(&c->mu);
  size_t i = live_find(c, p);
  size_t size = i == c->live_cap ? 0 : c->live[i].size;
  pthread_mutex_unlock(&c->mu);
  return size;
}

void mt_mem_cache_release(mt_mem_cache *c) {
  pthread_mutex_lock(&c->mu);
  release_locked(c);
  pthread_mutex_unlock(&c->mu);
}

void mt_mem_cache_stats_get(const mt_mem_cache *c, mt_mem_cache_stats *s) {
  /* the mutex is the one mutable part of a const cache */
  pthread_mutex_t *mu = (pthread_mutex_t *)&c->mu;
  pthread_mutex_lock(mu);
  *s = c->st;
  pthread_mutex_unlock(mu);
}

void mt_mem_cache_destroy(mt_mem_cache *c) {
  if (!c) return;
  pthread_mutex_lock(&c->mu);
  release_locked(c);
  for (size_t i = 0; i < c->live_cap; i++)
    if (c->live[i].p) c->b.free(c->b.ctx, c->live[i].p);
  pthread_mutex_unlock(&c->mu);
  pthread_mutex_destroy(&c->mu);
  free(c->live);
  free(c->cached);
  free(c);
}
