/* dropout.c — Dropout's mask and its application (see dropout.h). */
#include "kernels/kernels.h"

void mtk_dropout_mask(float *mask, int64_t n, float p, float scale, uint64_t key, uint64_t hi,
                      uint64_t first) {
  /* One Philox call yields four uniforms (indices 4b .. 4b+3); draw each
   * block once instead of once per element. Same values as
   * mtk_philox_uniform(key, hi, first + j). */
  int64_t j = 0;
  while (j < n) {
    uint64_t idx = first + (uint64_t)j;
    mtk_philox4 r = mtk_philox(key, hi, idx >> 2);
    for (unsigned lane = (unsigned)(idx & 3); lane < 4 && j < n; lane++, j++)
      mask[j] = mtk_u01(r.v[lane]) >= p ? scale : 0.0f;
  }
}

void mtk_dropout_apply(float *y, const float *x, const float *mask, int64_t n, float beta) {
  if (beta == 0.0f)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * mask[i];
  else
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * mask[i] + beta * y[i];
}
