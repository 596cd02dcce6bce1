/* batchnorm.c — BatchNorm statistics, normalisation and gradient (see
 * batchnorm.h). Loops go channel by channel; each (o, c) slice of `inner`
 * values is contiguous, which is the NCHW case that matters.
 *
 * Where a slice holds at least 16 values (NCHW with H*W >= 16), each slice's
 * sums run in 16 float lanes (one AVX-512 register; the loops are built
 * for several vector widths by MTK_CLONES, bit-identical with
 * -ffp-contract=off), and the lanes and the slices are added in double, in
 * a fixed order: the results are the same bits on every run. A slice's
 * float lane adds at most inner / 16 values, so its rounding stays near
 * float's epsilon; the sums over slices are double as before. Smaller
 * slices ((N, C) data) take the scalar double loops. */
#include <math.h>

#include "kernels/cpu/simd.h"
#include "kernels/kernels.h"

#define LANES 16

/* 16 float lanes as one GCC/Clang vector (one AVX-512 register; four SSE
 * ones in the baseline clone); LV loads 16 unaligned floats (v16u may
 * alias float and needs float's alignment only). Vectors are never passed
 * to or returned from functions (no ABI difference between the clones). */
typedef float v16 __attribute__((vector_size(LANES * sizeof(float))));
typedef float v16u __attribute__((vector_size(LANES * sizeof(float)), aligned(4), may_alias));
#define LV(p) (*(const v16u *)(p))
static inline double lanes_total(const v16 *a) {
  double s = 0;
  for (int l = 0; l < LANES; l++) s += (*a)[l];
  return s;
}

/* sum of p[0..n) (n >= 0): lanes, then the lanes and the tail in double */
static inline double lanes_sum(const float *p, int64_t n) {
  v16 acc = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES) acc += LV(p + i);
  double s = 0;
  for (; i < n; i++) s += p[i];
  return s + lanes_total(&acc);
}

/* sum of (p[i] - mu)^2 */
static inline double lanes_sqdev(const float *p, int64_t n, float mu) {
  v16 acc = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    v16 d = LV(p + i) - mu;
    acc += d * d;
  }
  double s = 0;
  for (; i < n; i++) {
    double d = (double)p[i] - mu;
    s += d * d;
  }
  return s + lanes_total(&acc);
}

/* *sdy += sum dy, *sdyx += sum dy * (x - mu) * is */
static inline void lanes_dy(const float *dy, const float *x, int64_t n, float mu, float is,
                            double *sdy, double *sdyx) {
  v16 a = {0}, b = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    v16 g = LV(dy + i);
    a += g;
    b += g * ((LV(x + i) - mu) * is);
  }
  double s = 0, t = 0;
  for (; i < n; i++) {
    s += dy[i];
    t += (double)dy[i] * ((x[i] - mu) * is);
  }
  *sdy += s + lanes_total(&a);
  *sdyx += t + lanes_total(&b);
}

MTK_CLONES void mtk_bn_stats(const float *x, int64_t outer, int64_t C, int64_t inner, float *mean,
                             float *var) {
  double m = (double)(outer * inner);
  for (int64_t c = 0; c < C; c++) {
    /* two passes: E[(x - mean)^2] does not cancel like E[x^2] - mean^2 */
    double s = 0;
    if (inner >= LANES) {
      for (int64_t o = 0; o < outer; o++) s += lanes_sum(x + (o * C + c) * inner, inner);
    } else {
      for (int64_t o = 0; o < outer; o++) {
        const float *xs = x + (o * C + c) * inner;
        for (int64_t i = 0; i < inner; i++) s += xs[i];
      }
    }
    double mu = m > 0 ? s / m : 0.0, v = 0;
    if (inner >= LANES) {
      for (int64_t o = 0; o < outer; o++)
        v += lanes_sqdev(x + (o * C + c) * inner, inner, (float)mu);
    } else {
      for (int64_t o = 0; o < outer; o++) {
        const float *xs = x + (o * C + c) * inner;
        for (int64_t i = 0; i < inner; i++) {
          double d = xs[i] - mu;
          v += d * d;
        }
      }
    }
    mean[c] = (float)mu;
    var[c] = m > 0 ? (float)(v / m) : 0.0f;
  }
}

void mtk_bn_invstd(float *invstd, const float *var, int64_t C, float eps) {
  for (int64_t c = 0; c < C; c++) invstd[c] = (float)(1.0 / sqrt((double)var[c] + (double)eps));
}

MTK_CLONES void mtk_bn_forward(float *y, const float *x, const float *mean, const float *invstd,
                               const float *gamma, const float *beta, int64_t outer, int64_t C,
                               int64_t inner) {
  for (int64_t c = 0; c < C; c++) {
    float a = invstd[c] * (gamma ? gamma[c] : 1.0f), mu = mean[c], b = beta[c];
    for (int64_t o = 0; o < outer; o++) {
      const float *xs = x + (o * C + c) * inner;
      float *ys = y + (o * C + c) * inner;
      for (int64_t i = 0; i < inner; i++) ys[i] = (xs[i] - mu) * a + b;
    }
  }
}

MTK_CLONES void mtk_bn_backward(const float *dy, const float *x, const float *mean,
                                const float *invstd, const float *gamma, int64_t outer, int64_t C,
                                int64_t inner, int batch_stats, float *dx, float beta_dx,
                                float *dgamma, float beta_dgamma, float *dbeta, float beta_dbeta) {
  double m = (double)(outer * inner);
  for (int64_t c = 0; c < C; c++) {
    float mu = mean[c], is = invstd[c], g = gamma ? gamma[c] : 1.0f;
    double sdy = 0, sdyx = 0; /* sum dy, sum dy * xhat */
    if (inner >= LANES) {
      for (int64_t o = 0; o < outer; o++)
        lanes_dy(dy + (o * C + c) * inner, x + (o * C + c) * inner, inner, mu, is, &sdy, &sdyx);
    } else {
      for (int64_t o = 0; o < outer; o++) {
        const float *xs = x + (o * C + c) * inner, *ds = dy + (o * C + c) * inner;
        for (int64_t i = 0; i < inner; i++) {
          sdy += ds[i];
          sdyx += (double)ds[i] * ((xs[i] - mu) * is);
        }
      }
    }
    if (dbeta) dbeta[c] = (float)sdy + (beta_dbeta == 0.0f ? 0.0f : beta_dbeta * dbeta[c]);
    if (dgamma) dgamma[c] = (float)sdyx + (beta_dgamma == 0.0f ? 0.0f : beta_dgamma * dgamma[c]);
    if (!dx) continue;
    float k = g * is;
    float mdy = batch_stats && m > 0 ? (float)(sdy / m) : 0.0f;
    float mdyx = batch_stats && m > 0 ? (float)(sdyx / m) : 0.0f;
    for (int64_t o = 0; o < outer; o++) {
      const float *xs = x + (o * C + c) * inner, *ds = dy + (o * C + c) * inner;
      float *gs = dx + (o * C + c) * inner;
      if (beta_dx == 0.0f)
        for (int64_t i = 0; i < inner; i++) gs[i] = k * (ds[i] - mdy - (xs[i] - mu) * is * mdyx);
      else
        for (int64_t i = 0; i < inner; i++)
          gs[i] = k * (ds[i] - mdy - (xs[i] - mu) * is * mdyx) + beta_dx * gs[i];
    }
  }
}
