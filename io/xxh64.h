/* xxh64.h — XXH64, the 64-bit hash of xxHash (Yann Collet, BSD-2; this is
 * an independent implementation of its published algorithm), one-shot and
 * streaming. The atomic HDF5 container (io/h5_container.h) stores it as the
 * digest of every dataset and attribute it writes; the streaming form lets a
 * reader hash a dataset piece by piece while the piece is still in cache.
 * Results equal the reference XXH64 (tests/test_checkpoint.c checks its
 * published vectors). Depends on nothing. */
#ifndef MT_IO_XXH64_H
#define MT_IO_XXH64_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t v[4], total, seed;
  unsigned char buf[32];
  unsigned nbuf;
} mtio_xxh64_state;

void mtio_xxh64_init(mtio_xxh64_state *s, uint64_t seed);
void mtio_xxh64_update(mtio_xxh64_state *s, const void *p, size_t n);
uint64_t mtio_xxh64_digest(const mtio_xxh64_state *s);
/* The same in one call. */
uint64_t mtio_xxh64(const void *p, size_t n, uint64_t seed);

#endif
