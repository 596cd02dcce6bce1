/* synthetic_iter.c — the tutorial's SyntheticData as a library call
 * (mt_synthetic_generate, a wrapper of io/synthetic.c's generator on raw
 * buffers) and as an iterator: the generated set wrapped in an NDArrayIter
 * with names "data" / "softmax_label" and last_batch_handle=pad. */
#include "base/error.h"
#include "io/synthetic.h"
#include "base/philox.h"
#include "symbol.h"

int mt_synthetic_generate(int num_classes, int dim, int64_t num_samples, uint64_t seed, int part,
                          float *x, float *y) {
  return mtio_synthetic_generate(num_classes, dim, num_samples, seed, part, x, y);
}

int mt_synthetic_iter_create(int num_classes, int dim, int64_t num_samples, int64_t batch_size,
                             uint64_t seed, int part, int shuffle, mt_data_iter **out) {
  if (!out) return MT_ERR(MT_E_INVAL, "synthetic iterator: NULL output pointer");
  *out = NULL;
  if (dim < 1) return MT_ERR(MT_E_INVAL, "synthetic: feature dim %d must be >= 1", dim);
  if (num_samples < 1)
    return MT_ERR(MT_E_INVAL, "synthetic: num_samples %lld must be >= 1", (long long)num_samples);
  mt_shape xs = {.ndim = 2, .dim = {num_samples, dim}};
  mt_shape ys = {.ndim = 1, .dim = {num_samples}};
  mt_ndarray *x = NULL, *y = NULL;
  int rc;
  MT_TRY_GOTO(mt_ndarray_create(xs, mt_cpu(0), &x), rc, done);
  MT_TRY_GOTO(mt_ndarray_create(ys, mt_cpu(0), &y), rc, done);
  MT_TRY_GOTO(mtio_synthetic_generate(num_classes, dim, num_samples, seed, part, mt_ndarray_data(x),
                                      mt_ndarray_data(y)),
              rc, done);
  /* The shuffle order is keyed by (seed, epoch), as the HDF5 iterator's: the
   * in-memory set and its `modtrain synth` file train identically. (The
   * permutation's Philox stream is not one the samples were drawn from.) */
  MT_TRY_GOTO(mt_ndarray_iter_create(x, y, batch_size, shuffle, seed, MT_LAST_BATCH_PAD, "data",
                                     "softmax_label", out),
              rc, done);
done:
  mt_ndarray_free(x);
  mt_ndarray_free(y);
  return rc;
}
