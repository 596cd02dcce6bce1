/* synthetic.c — the tutorial's synthetic classification data (class means
 * mu ~ U(0, 1), samples ~ N(mu[label], 0.1), labels in class blocks) drawn
 * from counter-based Philox streams (docs/design.md §5), so any rank can generate
 * any part, or any sample of it, and get the same bytes. */
#include "io/synthetic.h"

#include <stdint.h>
#include <stdlib.h>

#include "base/philox.h"

/* FNV-1a 64 of a stream name (the same hash src/ uses for parameter names). */
static uint64_t stream_id(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 0x100000001b3ull;
  }
  return h;
}

int mtio_synthetic_generate(int num_classes, int dim, int64_t n, uint64_t seed, int part, float *x,
                            float *y) {
  return mtio_synthetic_generate_range(num_classes, dim, n, seed, part, 0, n, x, y);
}

int mtio_synthetic_generate_range(int num_classes, int dim, int64_t n, uint64_t seed, int part,
                                  int64_t first, int64_t nrows, float *x, float *y) {
  if (num_classes < 1)
    return mt_error_set(MT_E_INVAL, "synthetic: num_classes %d must be >= 1", num_classes);
  if (dim < 1) return mt_error_set(MT_E_INVAL, "synthetic: feature dim %d must be >= 1", dim);
  if (n < 1)
    return mt_error_set(MT_E_INVAL, "synthetic: num_samples %lld must be >= 1", (long long)n);
  if (part < 0) return mt_error_set(MT_E_INVAL, "synthetic: part %d must be >= 0", part);
  if (n > INT64_MAX / num_classes)
    return mt_error_set(MT_E_INVAL, "synthetic: num_samples %lld x num_classes %d overflows",
                        (long long)n, num_classes);
  if (first < 0 || nrows < 0 || nrows > n - first)
    return mt_error_set(MT_E_INVAL, "synthetic: rows [%lld, %lld) are not inside [0, %lld)",
                        (long long)first, (long long)first + (long long)nrows, (long long)n);
  if (!x || !y) return mt_error_set(MT_E_INVAL, "synthetic: NULL output buffer");

  /* mu (num_classes, dim): small, drawn again by every call (a block of a
   * large file costs far more than the means). */
  size_t nmu = (size_t)num_classes * (size_t)dim;
  float *mu = malloc(nmu * sizeof *mu);
  if (!mu)
    return mt_error_set(MT_E_NOMEM, "synthetic: cannot allocate the %d x %d class means",
                        num_classes, dim);
  uint64_t kmu = mtk_philox_key(seed, stream_id("synthetic/mu"));
  for (size_t k = 0; k < nmu; k++) mu[k] = mtk_philox_uniform(kmu, 0, k);

  uint64_t kx = mtk_philox_key(seed, stream_id("synthetic/part") + (uint64_t)part);
  for (int64_t r = 0; r < nrows; r++) {
    int64_t i = first + r;                    /* the sample's row in the whole set */
    int64_t c = i * (int64_t)num_classes / n; /* exact: n * C < 2^63 was checked */
    y[r] = (float)c;
    const float *m = mu + (size_t)c * (size_t)dim;
    float *xi = x + (size_t)r * (size_t)dim;
    uint64_t base = (uint64_t)i * (uint64_t)dim;
    for (int d = 0; d < dim; d++)
      xi[d] = m[d] + MTIO_SYNTHETIC_SIGMA * mtk_philox_normal(kx, 0, base + (uint64_t)d);
  }
  free(mu);
  return MT_OK;
}
