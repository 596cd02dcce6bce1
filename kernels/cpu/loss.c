/* loss.c — softmax, SoftmaxOutput gradient and regression-output kernels
 * (see loss.h). Reductions over the class axis run in double: C can be tens
 * of thousands (language-model vocabularies). */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"

/* One softmax over C values spaced `stride` apart. */
static void softmax_strided(float *out, const float *x, int64_t C, int64_t stride) {
  float mx = x[0];
  for (int64_t c = 1; c < C; c++)
    if (x[c * stride] > mx) mx = x[c * stride];
  double sum = 0;
  for (int64_t c = 0; c < C; c++) {
    float e = expf(x[c * stride] - mx);
    out[c * stride] = e;
    sum += e;
  }
  float inv = (float)(1.0 / sum);
  for (int64_t c = 0; c < C; c++) out[c * stride] *= inv;
}

void mtk_softmax_axis(float *out, const float *x, int64_t outer, int64_t C, int64_t inner) {
  if (C <= 0) return;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++)
      softmax_strided(out + o * C * inner + i, x + o * C * inner + i, C, inner);
}

/* The class a label names, or -1 if it is not finite; no range check. */
static int64_t label_int(float v) {
  if (!isfinite(v) || v > 9.2e18f || v < -9.2e18f) return INT64_MIN;
  return (int64_t)v;
}

int64_t mtk_softmax_output_grad(float *grad, const float *p, const float *label, int64_t outer,
                                int64_t C, int64_t inner, int use_ignore, float ignore_label,
                                float scale, float beta) {
  int64_t bad = -1, ign = label_int(ignore_label);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t li = o * inner + i, base = o * C * inner + i;
      int64_t k = label_int(label[li]);
      float *g = grad + base;
      const float *pp = p + base;
      if (use_ignore && k == ign) {
        if (beta == 0.0f)
          for (int64_t c = 0; c < C; c++) g[c * inner] = 0.0f;
        continue;
      }
      if ((k < 0 || k >= C) && bad < 0) bad = li;
      if (beta == 0.0f)
        for (int64_t c = 0; c < C; c++) g[c * inner] = scale * pp[c * inner];
      else
        for (int64_t c = 0; c < C; c++) g[c * inner] += scale * pp[c * inner];
      if (k >= 0 && k < C) g[k * inner] -= scale;
    }
  return bad;
}

int64_t mtk_count_label_not(const float *label, int64_t n, float value) {
  int64_t v = label_int(value), cnt = 0;
  for (int64_t i = 0; i < n; i++) cnt += label_int(label[i]) != v || !isfinite(label[i]);
  return cnt;
}

void mtk_sigmoid(float *out, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    /* exp of a non-positive number only: no overflow either way */
    if (v >= 0.0f) {
      out[i] = 1.0f / (1.0f + expf(-v));
    } else {
      float e = expf(v);
      out[i] = e / (1.0f + e);
    }
  }
}

void mtk_regression_grad(float *grad, const float *out, const float *label, int64_t n, float scale,
                         int use_sign, float beta) {
  for (int64_t i = 0; i < n; i++) {
    float d = out[i] - label[i];
    if (use_sign) d = (float)((d > 0.0f) - (d < 0.0f));
    grad[i] = scale * d + (beta == 0.0f ? 0.0f : beta * grad[i]);
  }
}
