/* fused.c — see fused.h. Row by row, the separate kernels' own functions do
 * the work (so the bits are theirs by construction) while the row is still
 * in L1: the bias add, then the activation; the activation's gradient, then
 * the row's share of the bias gradient. The matrix is walked once, not
 * twice. */
#include <stddef.h>

#include "kernels/cpu/fused.h"
#include "kernels/cpu/simd.h"

MTK_CLONES void mtk_bias_act_forward(mtk_act_type act, float *y, const float *bias, int64_t rows,
                                     int64_t cols) {
  for (int64_t r = 0; r < rows; r++) {
    float *yr = y + r * cols;
    if (bias)
      for (int64_t c = 0; c < cols; c++) yr[c] += bias[c];
    mtk_activation_forward(act, yr, yr, cols);
  }
}

MTK_CLONES void mtk_act_bias_backward(mtk_act_type act, const float *dy, const float *y, float *g,
                                      float *db, float beta_db, int64_t rows, int64_t cols) {
  if (db && beta_db == 0.0f)
    for (int64_t c = 0; c < cols; c++) db[c] = 0.0f;
  for (int64_t r = 0; r < rows; r++) {
    float *gr = g + r * cols;
    /* softsign reads the input, which the fused forward never kept: the
     * executor does not fuse it (fused.h) */
    mtk_activation_backward(act, dy + r * cols, NULL, y + r * cols, gr, cols, 0.0f);
    if (db)
      for (int64_t c = 0; c < cols; c++) db[c] += gr[c];
  }
}
