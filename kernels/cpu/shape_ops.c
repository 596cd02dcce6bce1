/* shape_ops.c — block copies for Concat (see shape_ops.h for the layout). */
#include <string.h>

#include "kernels/kernels.h"

void mtk_concat_copy(float *out, const float *in, int64_t outer, int64_t total_cols, int64_t offset,
                     int64_t cols, int64_t inner) {
  int64_t block = cols * inner; /* contiguous run per outer row in both arrays */
  for (int64_t o = 0; o < outer; o++)
    memcpy(out + (o * total_cols + offset) * inner, in + o * block, (size_t)block * sizeof(float));
}

void mtk_concat_grad(float *din, const float *dout, int64_t outer, int64_t total_cols,
                     int64_t offset, int64_t cols, int64_t inner, float beta) {
  int64_t block = cols * inner;
  for (int64_t o = 0; o < outer; o++) {
    const float *src = dout + (o * total_cols + offset) * inner;
    float *dst = din + o * block;
    if (beta == 0.0f) memcpy(dst, src, (size_t)block * sizeof(float));
    else
      for (int64_t j = 0; j < block; j++) dst[j] = src[j] + beta * dst[j];
  }
}
