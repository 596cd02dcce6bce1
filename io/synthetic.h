/* synthetic.h — the tutorial's synthetic classification data on raw buffers
 * (used by mt_synthetic_generate in src/ and by `modtrain synth`, which
 * writes it to HDF5). Depends only on the public header and Philox. */
#ifndef MT_IO_SYNTHETIC_H
#define MT_IO_SYNTHETIC_H
#include <stdint.h>

#include "modtrain.h"

/* Fills x (n, dim) and y (n,) for classification into num_classes classes.
 *   mu[c][d]  = uniform(0, 1), element c * dim + d of the Philox stream
 *               key = mtk_philox_key(seed, FNV-1a("synthetic/mu"))
 *   y[i]      = floor(i * num_classes / n)   (equal class blocks, as the
 *               tutorial's SyntheticData: n = 320, C = 10 -> 32 per class)
 *   x[i][d]   = mu[y[i]][d] + 0.1 * normal, element i * dim + d of the stream
 *               key = mtk_philox_key(seed, FNV-1a("synthetic/part") + part)
 * Each value is a function of (seed, part, i, d) alone: the same arguments
 * give byte-identical buffers; parts share mu but not the samples.
 * Returns 0, or MT_E_INVAL (num_classes, dim, n < 1, part < 0, NULL buffers). */
int mtio_synthetic_generate(int num_classes, int dim, int64_t n, uint64_t seed, int part, float *x,
                            float *y);

/* Rows [first, first + nrows) of the same set of n samples: x (nrows, dim)
 * and y (nrows,) hold exactly the bytes mtio_synthetic_generate(.., n, ..)
 * puts at those rows, so a set larger than memory can be generated and
 * written block by block. MT_E_INVAL as above, or for a range outside
 * [0, n). */
int mtio_synthetic_generate_range(int num_classes, int dim, int64_t n, uint64_t seed, int part,
                                  int64_t first, int64_t nrows, float *x, float *y);

/* The standard deviation of the samples around their class mean. */
#define MTIO_SYNTHETIC_SIGMA 0.1f

#endif
