/* fused.c — see fused.h. Every expression below is the one the separate
 * kernels use (activation.c, elementwise.c), element for element, so the
 * fused pair gives their bits; the rows are walked once instead of twice. */
#include <math.h>

#include "kernels/cpu/fused.h"
#include "kernels/cpu/simd.h"

static inline float softrelu(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

MTK_CLONES void mtk_bias_act_forward(mtk_act_type act, float *y, const float *bias, int64_t rows,
                                     int64_t cols) {
  for (int64_t r = 0; r < rows; r++) {
    float *yr = y + r * cols;
    if (bias)
      for (int64_t c = 0; c < cols; c++) yr[c] += bias[c];
    /* the row is in L1 now: the activation reads it from there */
    switch (act) {
    case MTK_ACT_RELU:
      for (int64_t c = 0; c < cols; c++) yr[c] = yr[c] > 0.0f ? yr[c] : 0.0f;
      break;
    case MTK_ACT_SIGMOID:
      for (int64_t c = 0; c < cols; c++) yr[c] = 1.0f / (1.0f + expf(-yr[c]));
      break;
    case MTK_ACT_TANH:
      for (int64_t c = 0; c < cols; c++) yr[c] = tanhf(yr[c]);
      break;
    case MTK_ACT_SOFTRELU:
      for (int64_t c = 0; c < cols; c++) yr[c] = softrelu(yr[c]);
      break;
    case MTK_ACT_SOFTSIGN: /* not fused (fused.h); kept for completeness */
      for (int64_t c = 0; c < cols; c++) yr[c] = yr[c] / (1.0f + fabsf(yr[c]));
      break;
    }
  }
}

MTK_CLONES void mtk_act_bias_backward(mtk_act_type act, const float *dy, const float *y, float *g,
                                      float *db, float beta_db, int64_t rows, int64_t cols) {
  if (db && beta_db == 0.0f)
    for (int64_t c = 0; c < cols; c++) db[c] = 0.0f;
  for (int64_t r = 0; r < rows; r++) {
    const float *dr = dy + r * cols, *yr = y + r * cols;
    float *gr = g + r * cols;
    switch (act) {
    case MTK_ACT_RELU:
      for (int64_t c = 0; c < cols; c++) gr[c] = dr[c] * (yr[c] > 0.0f ? 1.0f : 0.0f);
      break;
    case MTK_ACT_SIGMOID:
      for (int64_t c = 0; c < cols; c++) gr[c] = dr[c] * (yr[c] * (1.0f - yr[c]));
      break;
    case MTK_ACT_TANH:
      for (int64_t c = 0; c < cols; c++) gr[c] = dr[c] * (1.0f - yr[c] * yr[c]);
      break;
    case MTK_ACT_SOFTRELU:
      for (int64_t c = 0; c < cols; c++) gr[c] = dr[c] * -expm1f(-yr[c]);
      break;
    case MTK_ACT_SOFTSIGN: /* needs the input: never fused; zero rather than garbage */
      for (int64_t c = 0; c < cols; c++) gr[c] = 0.0f;
      break;
    }
    if (db)
      for (int64_t c = 0; c < cols; c++) db[c] += gr[c];
  }
}
