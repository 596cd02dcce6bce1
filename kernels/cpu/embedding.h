/* embedding.h — Embedding's CPU kernels (src/ops/embedding.c). Indices are
 * float32 values holding integers, as MXNet's Embedding takes them: an
 * index is truncated toward zero and clipped to [0, V) (MXNet's clip mode:
 * -1 reads row 0, V reads row V-1, NaN reads row 0). */
#ifndef MT_KERNELS_CPU_EMBEDDING_H
#define MT_KERNELS_CPU_EMBEDDING_H
#include <stdint.h>

#include "base/philox.h" /* MTK_HD: host and device in CUDA */

/* The row an index value reads in a table of V rows. */
static inline MTK_HD int64_t mtk_embedding_row(float v, int64_t V) {
  if (!(v >= 1.0f)) return 0; /* negative, below 1, NaN */
  if (!(v < (float)V)) return V - 1;
  int64_t r = (int64_t)v;
  return r < V ? r : V - 1;
}

/* out[i, :] = weight[row(idx[i]), :] for i < n; weight (V, D), out (n, D). */
void mtk_embedding_forward(float *out, const float *idx, const float *weight, int64_t n, int64_t V,
                           int64_t D);
/* dweight = beta * dweight + sum over i of dy[i, :] into row(idx[i]); the
 * rows' sums are taken in the order of i (ascending), starting from beta *
 * dweight (beta 0: 0, the old value never read), so the GPU kernel gives
 * the same bits. */
void mtk_embedding_backward(float *dweight, const float *dy, const float *idx, int64_t n, int64_t V,
                            int64_t D, float beta);

#endif
