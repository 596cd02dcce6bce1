/* data_iter.h — the part of the NDArrayIter (src/data_iter.c) that the other
 * iterators share so they visit samples in exactly its order: the epoch's
 * sample permutation (docs/design.md §5). src/h5_iter.c uses it so that an HDF5
 * file and the same arrays in memory give identical batches. */
#ifndef MT_SRC_DATA_ITER_H
#define MT_SRC_DATA_ITER_H
#include <stdint.h>

/* Fills order (n,) with epoch `epoch`'s sample order: 0..n-1 when !shuffle,
 * else a Fisher–Yates shuffle of 0..n-1 whose step i (i = n-1 .. 1) swaps i
 * with j = r mod (i + 1), r the 64-bit Philox draw at counter i of key
 * mtk_philox_key(seed, epoch). A function of (n, shuffle, seed, epoch)
 * alone, so every rank computes the same order. */
void mt_data_iter_order(int64_t *order, int64_t n, int shuffle, uint64_t seed, uint64_t epoch);

/* The HDF5 iterator's augmentation draw for one sample of one epoch
 * (src/h5_iter.c): Philox at key mtk_philox_key(seed, 0x6175676d656e7400)
 * ("augment"), counter (epoch, sample) = v; *y0 = v[0] % span_y, *x0 =
 * v[1] % span_x (0 for a span <= 1), *mirror = v[2] & 1. */
void mt_h5_augment_draw(uint64_t seed, uint64_t epoch, int64_t sample, int64_t span_y,
                        int64_t span_x, int64_t *y0, int64_t *x0, int *mirror);

/* What mt_h5_iter_create will hold for a file of n samples of row floats
 * (labels lrow floats), a global batch of batch_size over world ranks,
 * against this machine's physical memory: MT_E_NOMEM naming path and the
 * sizes when it does not fit, else MT_OK. The iterator checks it before it
 * allocates; the command before it scans the labels. */
int mt_h5_iter_check_memory(const char *path, int64_t n, int64_t batch_size, int world, int64_t row,
                            int64_t lrow);

/* The HDF5 iterator's in-memory cache (for tests): *ptr its first byte
 * (NULL when streaming), *bytes its size, *shared_by the ranks of the
 * node mapping that same block (0: this rank's own copy). MT_E_INVAL for
 * another kind of iterator. */
#include "modtrain.h"
int mt_h5_iter_mem(const mt_data_iter *it, const void **ptr, int64_t *bytes, int *shared_by);

/* The implementation of `it` when its next function is `next` (an iterator
 * of that kind), else NULL. */
#include "modtrain.h"
void *mt_data_iter_self_if(const mt_data_iter *it, int (*next)(void *, mt_batch *));

#endif
