/* test_mem_cache.c — the caching allocator (base/mem_cache.c) over a counting
 * malloc backend, which stands in for cudaMalloc: it counts calls and
 * outstanding bytes, and fails (recording an error, as mtk_cuda_alloc does)
 * when a request would take its outstanding bytes past a limit — an out of
 * memory GPU. Checked: rounding, reuse of a freed block without a backend
 * call, a small request not taking a big block, the out-of-memory retry
 * (succeeding and failing), release, pass-through mode, foreign pointers,
 * destroy giving everything back; then random alloc/free sequences (fixed
 * seeds) writing a pattern into every live block and checking it at free,
 * with the statistics checked against the backend after every step, once
 * in one thread and once from four threads at a time. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem_cache.h"
#include "testutil.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

/* ------------------------------------------------- the counting backend */

typedef struct {
  size_t limit;        /* 0: no limit */
  size_t out_bytes;    /* outstanding */
  long out_blocks;     /* outstanding */
  long allocs, frees;  /* successful calls */
  long failed;         /* alloc calls refused */
  size_t last_request; /* bytes of the last alloc call */
} counting;

#define HDR 64 /* the block's size is kept before it; 64 keeps alignment */

static void *cb_alloc(void *ctx, size_t bytes) {
  counting *k = ctx;
  k->last_request = bytes;
  if (k->limit && k->out_bytes + bytes > k->limit) {
    k->failed++;
    mt_error_set(MT_E_CUDA, "counting backend: %zu bytes over the limit", bytes);
    return NULL;
  }
  char *raw = malloc(bytes + HDR);
  assert_non_null(raw);
  memcpy(raw, &bytes, sizeof bytes);
  k->out_bytes += bytes;
  k->out_blocks++;
  k->allocs++;
  return raw + HDR;
}

static void cb_free(void *ctx, void *p) {
  counting *k = ctx;
  if (!p) return;
  char *raw = (char *)p - HDR;
  size_t bytes;
  memcpy(&bytes, raw, sizeof bytes);
  assert_true(k->out_bytes >= bytes);
  assert_true(k->out_blocks > 0);
  k->out_bytes -= bytes;
  k->out_blocks--;
  k->frees++;
  free(raw);
}

static mt_mem_cache *make(counting *k, int enabled) {
  memset(k, 0, sizeof *k);
  mt_mem_backend b = {cb_alloc, cb_free, k};
  mt_mem_cache *c = mt_mem_cache_create(b, enabled);
  assert_non_null(c);
  return c;
}

static mt_mem_cache_stats stats(const mt_mem_cache *c) {
  mt_mem_cache_stats s;
  mt_mem_cache_stats_get(c, &s);
  return s;
}

/* destroy must leave the backend with nothing outstanding */
static void destroy(mt_mem_cache *c, counting *k) {
  mt_mem_cache_destroy(c);
  assert_int_equal(k->out_bytes, 0);
  assert_int_equal(k->out_blocks, 0);
  assert_int_equal(k->allocs, k->frees);
}

/* ----------------------------------------------------------- the cases */

static void test_rounding(void **state) {
  (void)state;
  assert_int_equal(mt_mem_cache_round(0), 512);
  assert_int_equal(mt_mem_cache_round(1), 512);
  assert_int_equal(mt_mem_cache_round(512), 512);
  assert_int_equal(mt_mem_cache_round(513), 1024);
  assert_int_equal(mt_mem_cache_round(MIB - 1), MIB);
  assert_int_equal(mt_mem_cache_round(MIB), MIB);
  assert_int_equal(mt_mem_cache_round(MIB + 1), 2 * MIB);
  assert_int_equal(mt_mem_cache_round(2 * MIB + 1), 4 * MIB);
  assert_int_equal(mt_mem_cache_round(SIZE_MAX - 5), 0); /* would overflow */

  counting k;
  mt_mem_cache *c = make(&k, 1);
  void *a = mt_mem_cache_alloc(c, 1);
  assert_non_null(a);
  assert_int_equal(k.last_request, 512);
  assert_int_equal(mt_mem_cache_block_size(c, a), 512);
  mt_mem_cache_free(c, a);
  void *b = mt_mem_cache_alloc(c, 512); /* the same 512-byte block */
  assert_ptr_equal(a, b);
  assert_int_equal(k.allocs, 1);
  void *z = mt_mem_cache_alloc(c, 0); /* 0 bytes: a 512-byte block of its own */
  assert_non_null(z);
  assert_ptr_not_equal(z, b);
  assert_int_equal(k.last_request, 512);
  void *big = mt_mem_cache_alloc(c, MIB + 1);
  assert_non_null(big);
  assert_int_equal(k.last_request, 2 * MIB);
  mt_mem_cache_stats s = stats(c);
  assert_int_equal(s.in_use_bytes, 512 + 512 + 2 * MIB);
  assert_int_equal(s.peak_bytes, s.in_use_bytes);
  assert_int_equal(s.backend_allocs, 3);
  assert_int_equal(s.misses, 3);
  assert_int_equal(s.hits, 1);
  /* too large to round: NULL with MT_E_NOMEM, the backend not asked */
  assert_null(mt_mem_cache_alloc(c, SIZE_MAX - 5));
  assert_int_equal(k.allocs, 3);
  assert_non_null(strstr(mt_last_error(), "too large"));
  destroy(c, &k); /* live blocks too */
}

static void test_reuse(void **state) {
  (void)state;
  counting k;
  mt_mem_cache *c = make(&k, 1);
  void *a = mt_mem_cache_alloc(c, 3 * MIB); /* 4 MiB */
  mt_mem_cache_free(c, a);
  mt_mem_cache_stats s = stats(c);
  assert_int_equal(s.in_use_bytes, 0);
  assert_int_equal(s.cached_bytes, 4 * MIB);
  assert_int_equal(s.backend_frees, 0);
  void *b = mt_mem_cache_alloc(c, 4 * MIB);
  assert_ptr_equal(a, b);
  s = stats(c);
  assert_int_equal(s.hits, 1);
  assert_int_equal(s.misses, 1);
  assert_int_equal(s.backend_allocs, 1);
  assert_int_equal(s.cached_bytes, 0);
  assert_int_equal(s.in_use_bytes, 4 * MIB);
  mt_mem_cache_free(c, b);

  /* a cached 4 MiB block is too big for 64 KiB and for 1 MiB (a small
   * request: limit 1.25 MiB), not for 2 MiB (limit 2.5 MiB, rounded 4) */
  void *small = mt_mem_cache_alloc(c, 64 * KIB);
  assert_ptr_not_equal(small, a);
  void *mid = mt_mem_cache_alloc(c, MIB);
  assert_ptr_not_equal(mid, a);
  s = stats(c);
  assert_int_equal(s.hits, 1);
  assert_int_equal(s.cached_bytes, 4 * MIB);
  void *two = mt_mem_cache_alloc(c, 2 * MIB);
  assert_ptr_equal(two, a);
  assert_int_equal(mt_mem_cache_block_size(c, two), 4 * MIB);
  assert_int_equal(stats(c).in_use_bytes, 64 * KIB + MIB + 4 * MIB);
  mt_mem_cache_free(c, two);
  mt_mem_cache_free(c, mid);
  mt_mem_cache_free(c, small);

  /* best fit: of 8 MiB and 10 MiB blocks an 8 MiB request takes 8, a 9 MiB
   * request (10 MiB rounded, limit 12.5 -> 14) takes 10 */
  void *p10 = mt_mem_cache_alloc(c, 10 * MIB), *p8 = mt_mem_cache_alloc(c, 8 * MIB);
  mt_mem_cache_free(c, p10);
  mt_mem_cache_free(c, p8);
  assert_ptr_equal(mt_mem_cache_alloc(c, 8 * MIB), p8);
  assert_ptr_equal(mt_mem_cache_alloc(c, 9 * MIB), p10);
  mt_mem_cache_free(c, p8);
  mt_mem_cache_free(c, p10);

  /* small sizes: a 1536-byte block serves 1200 bytes (1536) and 1000
   * (1024, limit 1280 rounded 1536) but not 512 (limit 640 rounded 1024) */
  void *q = mt_mem_cache_alloc(c, 1536);
  mt_mem_cache_free(c, q);
  void *r = mt_mem_cache_alloc(c, 512);
  assert_ptr_not_equal(r, q);
  assert_ptr_equal(mt_mem_cache_alloc(c, 1000), q);
  mt_mem_cache_free(c, q);
  assert_ptr_equal(mt_mem_cache_alloc(c, 1200), q);
  mt_mem_cache_free(c, q);
  mt_mem_cache_free(c, r);
  destroy(c, &k);
}

static void test_free_null_and_foreign(void **state) {
  (void)state;
  counting k;
  mt_mem_cache *c = make(&k, 1);
  mt_mem_cache_free(c, NULL);
  assert_int_equal(stats(c).backend_frees, 0);
  /* a block the backend gave someone else: handed back to it */
  void *f = cb_alloc(&k, 1000);
  assert_int_equal(k.out_blocks, 1);
  assert_int_equal(mt_mem_cache_block_size(c, f), 0);
  mt_mem_cache_free(c, f);
  assert_int_equal(k.out_blocks, 0);
  mt_mem_cache_stats s = stats(c);
  assert_int_equal(s.backend_frees, 1);
  assert_int_equal(s.cached_bytes, 0);
  assert_int_equal(s.in_use_bytes, 0);
  /* the same once the cache holds blocks of its own */
  void *a = mt_mem_cache_alloc(c, 100);
  f = cb_alloc(&k, 100);
  mt_mem_cache_free(c, f);
  assert_int_equal(k.out_blocks, 1);
  mt_mem_cache_free(c, a);
  assert_int_equal(stats(c).cached_bytes, 512);
  destroy(c, &k);
  mt_mem_cache_destroy(NULL);
}

static void test_oom_retry(void **state) {
  (void)state;
  counting k;
  mt_mem_cache *c = make(&k, 1);
  k.limit = 8 * MIB;
  void *a = mt_mem_cache_alloc(c, 6 * MIB);
  assert_non_null(a);
  mt_mem_cache_free(c, a);                      /* 6 MiB cached */
  void *small = mt_mem_cache_alloc(c, 2 * MIB); /* limit 2.5 -> 4 MiB: not the 6 */
  assert_ptr_not_equal(small, a);
  assert_int_equal(k.out_bytes, 8 * MIB);
  assert_int_equal(k.failed, 0);

  /* 8 MiB held + 1.5 KiB > 8: the 6 MiB block goes back, the retry fits */
  void *h = mt_mem_cache_alloc(c, 1536);
  assert_non_null(h);
  mt_mem_cache_stats s = stats(c);
  assert_int_equal(s.oom_retries, 1);
  assert_int_equal(k.failed, 1);
  assert_int_equal(s.cached_bytes, 0);
  assert_int_equal(s.backend_frees, 1);
  assert_int_equal(k.out_bytes, 2 * MIB + 1536);
  mt_mem_cache_free(c, h); /* 1.5 KiB cached */

  void *live = mt_mem_cache_alloc(c, 5 * MIB); /* 6 MiB: fits once the 1.5 KiB went back */
  assert_non_null(live);
  assert_int_equal(stats(c).oom_retries, 2);
  assert_int_equal(k.out_bytes, 8 * MIB);

  /* not enough even after the release: NULL, the backend's message kept */
  mt_mem_cache_free(c, small); /* 2 MiB cached, 6 MiB live */
  mt_error_set(MT_E_INVAL, "marker");
  assert_null(mt_mem_cache_alloc(c, 3 * MIB)); /* 4 MiB; the 2 MiB block is too small */
  assert_non_null(strstr(mt_last_error(), "counting backend"));
  s = stats(c);
  assert_int_equal(s.oom_retries, 3);
  assert_int_equal(k.failed, 4);       /* the first try and the retry */
  assert_int_equal(s.cached_bytes, 0); /* released on the way */
  assert_int_equal(s.in_use_bytes, 6 * MIB);
  assert_int_equal(k.out_bytes, 6 * MIB);
  /* with nothing cached there is nothing to retry with */
  assert_null(mt_mem_cache_alloc(c, 3 * MIB));
  assert_int_equal(stats(c).oom_retries, 3);
  assert_int_equal(k.failed, 5);
  /* and within the limit all is well again */
  void *ok = mt_mem_cache_alloc(c, MIB);
  assert_non_null(ok);
  mt_mem_cache_free(c, ok);
  mt_mem_cache_free(c, live);
  s = stats(c);
  assert_int_equal(s.peak_bytes, 8 * MIB);
  assert_int_equal(s.misses + s.oom_retries, s.backend_allocs + (uint64_t)k.failed);
  destroy(c, &k);
}

static void test_release(void **state) {
  (void)state;
  counting k;
  mt_mem_cache *c = make(&k, 1);
  void *p[6];
  size_t sizes[6] = {1, 700, 100 * KIB, MIB, 3 * MIB, 9 * MIB};
  for (int i = 0; i < 6; i++) p[i] = mt_mem_cache_alloc(c, sizes[i]);
  void *keep = mt_mem_cache_alloc(c, 5000);
  for (int i = 0; i < 6; i++) mt_mem_cache_free(c, p[i]);
  mt_mem_cache_stats s = stats(c);
  assert_int_equal(s.cached_bytes, 512 + 1024 + 100 * KIB + MIB + 4 * MIB + 10 * MIB);
  assert_int_equal(s.backend_frees, 0);
  mt_mem_cache_release(c);
  s = stats(c);
  assert_int_equal(s.backend_frees, 6);
  assert_int_equal(s.cached_bytes, 0);
  assert_int_equal(s.in_use_bytes, 5120);
  assert_int_equal(k.out_blocks, 1); /* the live one stays */
  assert_int_equal(k.out_bytes, 5120);
  mt_mem_cache_release(c); /* twice: nothing more */
  assert_int_equal(stats(c).backend_frees, 6);
  mt_mem_cache_free(c, keep);
  destroy(c, &k);
}

static void test_disabled(void **state) {
  (void)state;
  counting k;
  mt_mem_cache *c = make(&k, 0);
  void *a = mt_mem_cache_alloc(c, 1000);
  assert_int_equal(k.last_request, 1000); /* exactly what was asked */
  assert_int_equal(mt_mem_cache_block_size(c, a), 1000);
  mt_mem_cache_free(c, a);
  assert_int_equal(k.out_blocks, 0);
  void *b = mt_mem_cache_alloc(c, 1000);
  assert_non_null(b);
  mt_mem_cache_free(c, b);
  void *z = mt_mem_cache_alloc(c, 0);
  assert_int_equal(k.last_request, 512);
  mt_mem_cache_stats s = stats(c);
  assert_int_equal(s.hits, 0);
  assert_int_equal(s.misses, 3);
  assert_int_equal(s.backend_allocs, 3);
  assert_int_equal(s.backend_frees, 2);
  assert_int_equal(s.cached_bytes, 0);
  assert_int_equal(s.in_use_bytes, 512);
  assert_int_equal(s.peak_bytes, 1000);
  /* out of memory: nothing cached, so no retry */
  k.limit = 1024;
  assert_null(mt_mem_cache_alloc(c, 1000));
  assert_int_equal(stats(c).oom_retries, 0);
  mt_mem_cache_free(c, z);
  destroy(c, &k);
}

/* ------------------------------------------------ randomized sequences */

typedef struct {
  void *p;
  size_t bytes; /* asked */
  uint64_t tag;
} live_block;

static uint64_t rng_next(uint64_t *s) { /* xorshift64* */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545f4914f6cdd1dull;
}

/* mostly small (activations, biases), some up to 1 MiB, a few large */
static size_t random_size(uint64_t *s) {
  uint64_t u = rng_next(s) % 100;
  if (u < 75) return (size_t)(rng_next(s) % (64 * KIB));
  if (u < 95) return (size_t)(rng_next(s) % (2 * MIB));
  return (size_t)(rng_next(s) % (6 * MIB)) + 1;
}

/* The tag in a word every 256 bytes and in the last whole word. */
static void pattern_write(const live_block *b) {
  size_t words = b->bytes / 8;
  uint64_t *w = b->p;
  for (size_t i = 0; i < words; i += 32) w[i] = b->tag ^ i;
  if (words) w[words - 1] = ~b->tag;
}

static void pattern_check(const live_block *b) {
  size_t words = b->bytes / 8;
  const uint64_t *w = b->p;
  if (words && w[words - 1] != ~b->tag) fail_msg("block %p: last word overwritten", b->p);
  for (size_t i = 0; i + 1 < words; i += 32)
    if (w[i] != (b->tag ^ i))
      fail_msg("block %p (%zu bytes): word %zu overwritten", b->p, b->bytes, i);
}

#define MAX_LIVE 48

/* The block a request of `bytes` gets at least, and at most (the cache's
 * reuse limit: r + r/4 rounded up as r is); pass-through: exactly bytes. */
static size_t block_min(int enabled, size_t bytes) {
  return enabled ? mt_mem_cache_round(bytes) : (bytes ? bytes : 512);
}
static size_t block_max(int enabled, size_t bytes) {
  size_t r = block_min(enabled, bytes), g = r <= MIB ? 512 : 2 * MIB;
  return enabled ? (r + r / 4 + g - 1) / g * g : r;
}

/* nops random operations on c; checks the statistics against the backend
 * after each one when k is given (one thread). Frees what is left. */
static void random_ops(mt_mem_cache *c, int enabled, counting *k, uint64_t seed, int nops,
                       uint64_t tag0) {
  live_block live[MAX_LIVE];
  int n = 0;
  uint64_t s = seed;
  for (int op = 0; op < nops; op++) {
    uint64_t u = rng_next(&s) % 100;
    if (n > 0 && (n == MAX_LIVE || u < 45)) {
      int i = (int)(rng_next(&s) % (uint64_t)n);
      pattern_check(&live[i]);
      mt_mem_cache_free(c, live[i].p);
      live[i] = live[--n];
    } else if (u < 47) {
      mt_mem_cache_release(c);
      if (k) assert_int_equal(stats(c).cached_bytes, 0);
    } else {
      live_block b = {NULL, random_size(&s), tag0 + (uint64_t)op};
      size_t before = k ? stats(c).in_use_bytes : 0;
      b.p = mt_mem_cache_alloc(c, b.bytes);
      if (!b.p) {
        /* only when the limit would truly be passed, the cache emptied */
        assert_non_null(k);
        assert_true(k->limit > 0);
        assert_int_equal(stats(c).cached_bytes, 0);
        assert_true(before + block_min(enabled, b.bytes) > k->limit);
        continue;
      }
      size_t got = mt_mem_cache_block_size(c, b.p);
      if (got < block_min(enabled, b.bytes) || got > block_max(enabled, b.bytes))
        fail_msg("%zu bytes asked: a block of %zu", b.bytes, got);
      pattern_write(&b);
      live[n++] = b;
    }
    if (k) {
      mt_mem_cache_stats st = stats(c);
      size_t sum = 0;
      for (int i = 0; i < n; i++) sum += mt_mem_cache_block_size(c, live[i].p);
      assert_int_equal(st.in_use_bytes, sum);
      assert_int_equal(st.in_use_bytes + st.cached_bytes, k->out_bytes);
      assert_int_equal(st.backend_allocs - st.backend_frees, (uint64_t)k->out_blocks);
      assert_int_equal(st.misses + st.oom_retries, st.backend_allocs + (uint64_t)k->failed);
      assert_true(st.peak_bytes >= st.in_use_bytes);
      if (!enabled) assert_int_equal(st.cached_bytes, 0);
    }
  }
  while (n > 0) {
    pattern_check(&live[n - 1]);
    mt_mem_cache_free(c, live[--n].p);
  }
}

static void test_random(void **state) {
  (void)state;
  counting k;
  mt_mem_cache *c = make(&k, 1);
  random_ops(c, 1, &k, 0x9e3779b97f4a7c15ull, 4000, 1);
  mt_mem_cache_stats s = stats(c);
  assert_int_equal(s.in_use_bytes, 0);
  assert_true(s.hits > 0);
  print_message("  unlimited: %llu hits, %llu misses, %.1f MiB peak\n", (unsigned long long)s.hits,
                (unsigned long long)s.misses, (double)s.peak_bytes / (double)MIB);
  destroy(c, &k);

  /* the same with a backend of 24 MiB: retries, and failures only where
   * the live blocks alone leave no room */
  c = make(&k, 1);
  k.limit = 24 * MIB;
  random_ops(c, 1, &k, 12345, 4000, 1ull << 40);
  s = stats(c);
  assert_true(s.oom_retries > 0);
  print_message("  24 MiB: %llu hits, %llu misses, %llu retries, %ld refused\n",
                (unsigned long long)s.hits, (unsigned long long)s.misses,
                (unsigned long long)s.oom_retries, k.failed);
  destroy(c, &k);

  /* pass-through under the same sequence */
  c = make(&k, 0);
  random_ops(c, 0, &k, 777, 2000, 1ull << 41);
  s = stats(c);
  assert_int_equal(s.hits, 0);
  assert_int_equal(s.cached_bytes, 0);
  destroy(c, &k);
}

typedef struct {
  mt_mem_cache *c;
  uint64_t seed;
} thread_arg;

static void *thread_main(void *p) {
  thread_arg *a = p;
  random_ops(a->c, 1, NULL, a->seed, 2000, a->seed << 32);
  return NULL;
}

/* Four threads on one cache: every block checked at its free, and at the
 * end the counters agree with the backend. */
static void test_threads(void **state) {
  (void)state;
  counting k;
  mt_mem_cache *c = make(&k, 1);
  pthread_t t[4];
  thread_arg a[4];
  for (int i = 0; i < 4; i++) {
    a[i] = (thread_arg){c, (uint64_t)(i + 1) * 0x1234567ull};
    assert_int_equal(pthread_create(&t[i], NULL, thread_main, &a[i]), 0);
  }
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  mt_mem_cache_stats s = stats(c);
  assert_int_equal(s.in_use_bytes, 0);
  assert_int_equal(s.cached_bytes, k.out_bytes);
  assert_int_equal(s.backend_allocs - s.backend_frees, (uint64_t)k.out_blocks);
  destroy(c, &k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rounding),
      cmocka_unit_test(test_reuse),
      cmocka_unit_test(test_free_null_and_foreign),
      cmocka_unit_test(test_oom_retry),
      cmocka_unit_test(test_release),
      cmocka_unit_test(test_disabled),
      cmocka_unit_test(test_random),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
