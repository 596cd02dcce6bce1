/* xxh3_impl.h — the body of one XXH3 path (io/xxh3.h), included by
 * io/xxh3_<path>.c after it defines XXH_VECTOR (xxHash's choice of vector
 * code; left undefined: xxhash.h picks from the compiler's target) and
 * MTIO_XXH3_PATH (the suffix of the four functions it defines). Each file
 * is compiled with its own -m flags (CMakeLists.txt), and XXH_INLINE_ALL
 * makes every xxHash function static in it, so the paths do not clash and
 * nothing links against libxxhash. */
#ifndef MTIO_XXH3_PATH
#error "define MTIO_XXH3_PATH before including io/xxh3_impl.h"
#endif
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "io/xxh3.h"

#if XXH_VERSION_NUMBER < 800
#error "XXH3 needs xxHash >= 0.8.0 (its output is stable from 0.8.0 on): libxxhash-dev"
#endif
_Static_assert(sizeof(XXH3_state_t) <= sizeof(mtio_xxh3_state), "mtio_xxh3_state too small");
_Static_assert(_Alignof(XXH3_state_t) <= _Alignof(mtio_xxh3_state), "mtio_xxh3_state alignment");

#define MTIO_XXH3_CAT2(a, b) a##_##b
#define MTIO_XXH3_CAT(a, b) MTIO_XXH3_CAT2(a, b)
#define MTIO_XXH3_FN(f) MTIO_XXH3_CAT(mtio_xxh3_##f, MTIO_XXH3_PATH)

uint64_t MTIO_XXH3_FN(oneshot)(const void *p, size_t n);
void MTIO_XXH3_FN(init)(mtio_xxh3_state *s);
void MTIO_XXH3_FN(update)(mtio_xxh3_state *s, const void *p, size_t n);
uint64_t MTIO_XXH3_FN(digest)(const mtio_xxh3_state *s);

uint64_t MTIO_XXH3_FN(oneshot)(const void *p, size_t n) { return XXH3_64bits(p, n); }

void MTIO_XXH3_FN(init)(mtio_xxh3_state *s) { (void)XXH3_64bits_reset((XXH3_state_t *)s->opaque); }

void MTIO_XXH3_FN(update)(mtio_xxh3_state *s, const void *p, size_t n) {
  (void)XXH3_64bits_update((XXH3_state_t *)s->opaque, p, n);
}

uint64_t MTIO_XXH3_FN(digest)(const mtio_xxh3_state *s) {
  return XXH3_64bits_digest((const XXH3_state_t *)s->opaque);
}
