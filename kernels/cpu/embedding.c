/* embedding.c — Embedding's CPU kernels: a row gather forward, a row
 * scatter-add backward in the order of the indices. */
#include "kernels/cpu/embedding.h"

#include <string.h>

void mtk_embedding_forward(float *out, const float *idx, const float *weight, int64_t n, int64_t V,
                           int64_t D) {
  for (int64_t i = 0; i < n; i++)
    memcpy(out + i * D, weight + mtk_embedding_row(idx[i], V) * D, sizeof(float) * (size_t)D);
}

void mtk_embedding_backward(float *dweight, const float *dy, const float *idx, int64_t n, int64_t V,
                            int64_t D, float beta) {
  if (beta == 0.0f) memset(dweight, 0, sizeof(float) * (size_t)(V * D));
  else if (beta != 1.0f)
    for (int64_t j = 0; j < V * D; j++) dweight[j] *= beta;
  for (int64_t i = 0; i < n; i++) {
    float *w = dweight + mtk_embedding_row(idx[i], V) * D;
    const float *g = dy + i * D;
    for (int64_t d = 0; d < D; d++) w[d] += g[d];
  }
}
