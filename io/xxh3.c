/* xxh3.c — the choice of XXH3 path (io/xxh3.h): the compiled paths
 * (io/xxh3_<path>.c) in a table, one picked once from what this CPU runs
 * (__builtin_cpu_supports, which also checks that the OS saves the vector
 * registers): AVX2 first, then AVX-512, SSE2 (or the target's own), scalar.
 * AVX2 before AVX-512: on the project's Cooper Lake VMs both hash 1 MiB
 * pieces from cache at the same speed (bench_checkpoint --hash), and 512-bit
 * multiplies can lower the clock of the whole core, which the reading thread
 * shares with the hashing one when the two vCPUs are one core's two threads.
 * Every path gives the same digest, so the choice changes only the speed. */
#include "io/xxh3.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define DECLARE_PATH(sfx)                                                                          \
  uint64_t mtio_xxh3_oneshot_##sfx(const void *p, size_t n);                                       \
  void mtio_xxh3_init_##sfx(mtio_xxh3_state *s);                                                   \
  void mtio_xxh3_update_##sfx(mtio_xxh3_state *s, const void *p, size_t n);                        \
  uint64_t mtio_xxh3_digest_##sfx(const mtio_xxh3_state *s);
#define PATH(name, sfx)                                                                            \
  {                                                                                                \
    name, 0, mtio_xxh3_oneshot_##sfx, mtio_xxh3_init_##sfx, mtio_xxh3_update_##sfx,                \
        mtio_xxh3_digest_##sfx                                                                     \
  }

#if defined(__x86_64__) || defined(_M_X64)
#define X86 1
#define BASE_NAME "sse2"
#else
#define X86 0
#define BASE_NAME "native"
#endif

DECLARE_PATH(scalar)
DECLARE_PATH(sse2)
#if X86 && defined(MTIO_XXH3_AVX2)
DECLARE_PATH(avx2)
#endif
#if X86 && defined(MTIO_XXH3_AVX512)
DECLARE_PATH(avx512)
#endif

static mtio_xxh3_path paths[] = {
    PATH("scalar", scalar),
    PATH(BASE_NAME, sse2),
#if X86 && defined(MTIO_XXH3_AVX2)
    PATH("avx2", avx2),
#endif
#if X86 && defined(MTIO_XXH3_AVX512)
    PATH("avx512", avx512),
#endif
};
#define NPATHS ((int)(sizeof paths / sizeof *paths))

static _Atomic(const mtio_xxh3_path *) chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

static int cpu_runs(const char *name) {
#if X86 && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (name[0] == 'a' && name[3] == '2') return __builtin_cpu_supports("avx2");
  if (name[0] == 'a' && name[3] == '5') return __builtin_cpu_supports("avx512f");
#endif
  return name[0] == 's' || name[0] == 'n'; /* scalar, sse2 (x86-64 baseline), native */
}

static const mtio_xxh3_path *find(const char *name) {
  for (int i = 0; i < NPATHS; i++)
    if (!strcmp(paths[i].name, name) && paths[i].usable) return &paths[i];
  return NULL;
}

/* Fills in `usable` and picks the preferred usable path, once. */
static void pick_once(void) {
  static const char *const order[] = {"avx2", "avx512", BASE_NAME, "scalar"};
  for (int i = 0; i < NPATHS; i++) paths[i].usable = cpu_runs(paths[i].name);
  const mtio_xxh3_path *p = NULL;
  for (int i = 0; i < 4 && !p; i++) p = find(order[i]);
  atomic_store_explicit(&chosen, p, memory_order_relaxed);
}

static const mtio_xxh3_path *pick(void) {
  pthread_once(&chosen_once, pick_once);
  return atomic_load_explicit(&chosen, memory_order_relaxed);
}

int mtio_xxh3_use(const char *name) {
  pick();
  const mtio_xxh3_path *p = name ? find(name) : NULL;
  if (!p) return -1;
  atomic_store_explicit(&chosen, p, memory_order_relaxed);
  return 0;
}

const mtio_xxh3_path *mtio_xxh3_paths(int *n) {
  pick();
  *n = NPATHS;
  return paths;
}

const mtio_xxh3_path *mtio_xxh3_chosen(void) { return pick(); }

void mtio_xxh3_init(mtio_xxh3_state *s) { pick()->init(s); }

void mtio_xxh3_update(mtio_xxh3_state *s, const void *p, size_t n) { pick()->update(s, p, n); }

uint64_t mtio_xxh3_digest(const mtio_xxh3_state *s) { return pick()->digest(s); }

uint64_t mtio_xxh3(const void *p, size_t n) { return pick()->oneshot(p, n); }
