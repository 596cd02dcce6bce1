/* elementwise.c — plain loops the compiler vectorises. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/cpu/simd.h"
#include "kernels/kernels.h"

void mtk_fill(float *x, int64_t n, float v) {
  if (v == 0.0f) {
    memset(x, 0, (size_t)n * sizeof(float));
    return;
  }
  for (int64_t i = 0; i < n; i++) x[i] = v;
}

MTK_CLONES void mtk_copy_beta(float *y, const float *x, int64_t n, float beta) {
  if (beta == 0.0f) {
    if (y != x) memmove(y, x, (size_t)n * sizeof(float));
  } else {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] + beta * y[i];
  }
}

MTK_CLONES void mtk_axpy(float *y, float a, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

MTK_CLONES void mtk_scale(float *x, float a, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] *= a;
}

MTK_CLONES void mtk_add(float *out, const float *a, const float *b, int64_t n, float beta) {
  if (beta == 0.0f)
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
  else
    for (int64_t i = 0; i < n; i++) out[i] += a[i] + b[i];
}

MTK_CLONES void mtk_add_row_bias(float *y, const float *bias, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; r++) {
    float *yr = y + r * cols;
    for (int64_t c = 0; c < cols; c++) yr[c] += bias[c];
  }
}

MTK_CLONES void mtk_sum_rows(float *out, const float *x, int64_t rows, int64_t cols, float beta) {
  if (beta == 0.0f) memset(out, 0, (size_t)cols * sizeof(float));
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * cols;
    for (int64_t c = 0; c < cols; c++) out[c] += xr[c];
  }
}

MTK_CLONES int mtk_all_finite(const float *x, int64_t n) {
  /* Inf or NaN <=> exponent bits all ones. An OR over blocks vectorises
   * (isfinite's early exit does not); the bits are read through memcpy. */
  for (int64_t b = 0; b < n; b += 4096) {
    int64_t e = b + 4096 < n ? b + 4096 : n;
    uint32_t bad = 0;
    for (int64_t i = b; i < e; i++) {
      uint32_t u;
      memcpy(&u, &x[i], sizeof u);
      bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
    }
    if (bad) return 0;
  }
  return 1;
}

MTK_CLONES void mtk_sum_arrays(float *out, const float *const *src, int nsrc, int64_t n) {
  /* blocks through a stack buffer: out may be one of the sources */
  float t[512];
  for (int64_t b = 0; b < n; b += 512) {
    int64_t m = n - b < 512 ? n - b : 512;
    const float *s0 = src[0] + b;
    for (int64_t i = 0; i < m; i++) t[i] = s0[i];
    for (int j = 1; j < nsrc; j++) {
      const float *s = src[j] + b;
      for (int64_t i = 0; i < m; i++) t[i] += s[i];
    }
    memcpy(out + b, t, sizeof(float) * (size_t)m);
  }
}
