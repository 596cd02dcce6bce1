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

/* What mt_h5_iter_create will hold for a file of n samples of row floats
 * (labels lrow floats), a global batch of batch_size over world ranks,
 * against this machine's physical memory: MT_E_NOMEM naming path and the
 * sizes when it does not fit, else MT_OK. The iterator checks it before it
 * allocates; the command before it scans the labels. */
int mt_h5_iter_check_memory(const char *path, int64_t n, int64_t batch_size, int world, int64_t row,
                            int64_t lrow);

/* The implementation of `it` when its next function is `next` (an iterator
 * of that kind), else NULL. */
#include "modtrain.h"
void *mt_data_iter_self_if(const mt_data_iter *it, int (*next)(void *, mt_batch *));

#endif
