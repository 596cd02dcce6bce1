/* xxh3.h — XXH3-64 (xxHash 0.8's 64-bit XXH3, seed 0, default secret), one-shot
 * and streaming: the digest of format 3 checkpoints (io/h5_container.h,
 * docs/design.md §6). The hashing itself is libxxhash-dev's xxhash.h, inlined
 * (XXH_INLINE_ALL: no link dependency), compiled once per vector width in
 * io/xxh3_<path>.c (scalar, SSE2, AVX2, AVX-512 on x86-64) and picked at run
 * time from what the CPU supports (__builtin_cpu_supports; AVX2 preferred, see
 * io/xxh3.c). XXH3's result does
 * not depend on the path (tests/test_checkpoint.c checks xxHash's published
 * vectors and that every compiled path agrees). Depends on nothing else. */
#ifndef MT_IO_XXH3_H
#define MT_IO_XXH3_H
#include <stddef.h>
#include <stdint.h>

/* xxHash's XXH3_state_t (576 bytes, 64-byte aligned in 0.8.x), kept opaque so
 * that xxhash.h stays inside io/xxh3*.c (checked there at compile time). */
typedef struct {
  _Alignas(64) unsigned char opaque[576];
} mtio_xxh3_state;

void mtio_xxh3_init(mtio_xxh3_state *s);
void mtio_xxh3_update(mtio_xxh3_state *s, const void *p, size_t n);
uint64_t mtio_xxh3_digest(const mtio_xxh3_state *s);
/* The same in one call. */
uint64_t mtio_xxh3(const void *p, size_t n);

/* One compiled path (tests and benchmarks call each one directly). */
typedef struct {
  const char *name; /* "scalar", "sse2", "avx2", "avx512" ("native" off x86-64) */
  int usable;       /* this CPU runs it */
  uint64_t (*oneshot)(const void *p, size_t n);
  void (*init)(mtio_xxh3_state *s);
  void (*update)(mtio_xxh3_state *s, const void *p, size_t n);
  uint64_t (*digest)(const mtio_xxh3_state *s);
} mtio_xxh3_path;

/* Every compiled path, slowest first (*n of them), usable set for this CPU. */
const mtio_xxh3_path *mtio_xxh3_paths(int *n);
/* The path mtio_xxh3* use (AVX2 where the CPU has it, io/xxh3.c). */
const mtio_xxh3_path *mtio_xxh3_chosen(void);
/* Makes mtio_xxh3* use path `name` from now on (benchmarks: the digests are
 * the same whichever path). -1 if no usable path has that name. A state
 * keeps working across the switch (every path has the same state layout).
 * Not for the library itself. */
int mtio_xxh3_use(const char *name);

#endif
