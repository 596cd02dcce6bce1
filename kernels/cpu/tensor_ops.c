/* tensor_ops.c — see tensor_ops.h. */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"

static inline float beta_add(float v, const float *old, float beta) {
  return beta == 0.0f ? v : v + beta * *old;
}

void mtk_transpose(float *out, const float *x, int ndim, const int64_t *dims, const int *axes,
                   float beta) {
  /* walk out in order; in_stride[d] is x's stride of out's axis d */
  int64_t xs[MTK_TRANSPOSE_MAX_DIM], st[MTK_TRANSPOSE_MAX_DIM], od[MTK_TRANSPOSE_MAX_DIM];
  int64_t idx[MTK_TRANSPOSE_MAX_DIM] = {0};
  int64_t n = 1, s = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    xs[d] = s;
    s *= dims[d];
  }
  for (int d = 0; d < ndim; d++) {
    od[d] = dims[axes[d]];
    st[d] = xs[axes[d]];
    n *= od[d];
  }
  if (n <= 0) return;
  int64_t inner = od[ndim - 1], ist = st[ndim - 1], off = 0;
  for (int64_t base = 0; base < n; base += inner) {
    float *o = out + base;
    const float *xi = x + off;
    for (int64_t i = 0; i < inner; i++) o[i] = beta_add(xi[i * ist], &o[i], beta);
    /* next index of the outer axes (0 .. ndim-2), odometer style */
    for (int d = ndim - 2; d >= 0; d--) {
      off += st[d];
      if (++idx[d] < od[d]) break;
      off -= st[d] * od[d];
      idx[d] = 0;
    }
  }
}

void mtk_block_copy(float *dst, const float *src, int64_t outer, int64_t dst_cols, int64_t dst_off,
                    int64_t src_cols, int64_t src_off, int64_t cols, int64_t inner, float beta) {
  int64_t len = cols * inner;
  for (int64_t o = 0; o < outer; o++) {
    float *d = dst + (o * dst_cols + dst_off) * inner;
    const float *s = src + (o * src_cols + src_off) * inner;
    if (beta == 0.0f) memcpy(d, s, sizeof(float) * (size_t)len);
    else
      for (int64_t i = 0; i < len; i++) d[i] = s[i] + beta * d[i];
  }
}

void mtk_softmax_t(float *out, const float *x, int64_t outer, int64_t C, int64_t inner,
                   float temperature, int use_log) {
  if (C <= 0) return;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      const float *xs = x + o * C * inner + i;
      float *ys = out + o * C * inner + i;
      float mx = xs[0];
      for (int64_t c = 1; c < C; c++)
        if (xs[c * inner] > mx) mx = xs[c * inner];
      double sum = 0;
      for (int64_t c = 0; c < C; c++) sum += exp(((double)xs[c * inner] - mx) / temperature);
      if (use_log) {
        double ls = log(sum);
        for (int64_t c = 0; c < C; c++)
          ys[c * inner] = (float)(((double)xs[c * inner] - mx) / temperature - ls);
      } else {
        for (int64_t c = 0; c < C; c++)
          ys[c * inner] = (float)(exp(((double)xs[c * inner] - mx) / temperature) / sum);
      }
    }
}

void mtk_softmax_t_grad(float *dx, const float *dy, const float *y, int64_t outer, int64_t C,
                        int64_t inner, float temperature, int use_log, float beta) {
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t b = o * C * inner + i;
      const float *ds = dy + b, *ys = y + b;
      float *gs = dx + b;
      double s = 0;
      for (int64_t c = 0; c < C; c++)
        s += use_log ? (double)ds[c * inner] : (double)ds[c * inner] * ys[c * inner];
      for (int64_t c = 0; c < C; c++) {
        double g = use_log ? ((double)ds[c * inner] - exp((double)ys[c * inner]) * s) / temperature
                           : (double)ys[c * inner] * ((double)ds[c * inner] - s) / temperature;
        gs[c * inner] = beta_add((float)g, &gs[c * inner], beta);
      }
    }
}

void mtk_mul(float *out, const float *a, const float *b, int64_t n, float beta) {
  for (int64_t i = 0; i < n; i++) out[i] = beta_add(a[i] * b[i], &out[i], beta);
}

void mtk_sub(float *out, const float *a, const float *b, int64_t n, float beta) {
  for (int64_t i = 0; i < n; i++) out[i] = beta_add(a[i] - b[i], &out[i], beta);
}

void mtk_scalar(float *out, const float *x, int64_t n, int op, float s, float beta) {
  switch (op) {
  case MTK_SCALAR_PLUS:
    for (int64_t i = 0; i < n; i++) out[i] = beta_add(x[i] + s, &out[i], beta);
    break;
  case MTK_SCALAR_MINUS:
    for (int64_t i = 0; i < n; i++) out[i] = beta_add(x[i] - s, &out[i], beta);
    break;
  case MTK_SCALAR_MUL:
    for (int64_t i = 0; i < n; i++) out[i] = beta_add(x[i] * s, &out[i], beta);
    break;
  default:
    for (int64_t i = 0; i < n; i++) out[i] = beta_add(x[i] / s, &out[i], beta);
    break;
  }
}

void mtk_fill_beta(float *out, int64_t n, float v, float beta) {
  for (int64_t i = 0; i < n; i++) out[i] = beta_add(v, &out[i], beta);
}

int64_t mtk_count_greater(const float *x, int64_t n, float thresh) {
  int64_t k = 0;
  for (int64_t i = 0; i < n; i++) k += x[i] > thresh;
  return k;
}
