/* batchnorm.c — BatchNorm statistics, normalisation and gradient (see
 * batchnorm.h). Loops go channel by channel; each (o, c) slice of `inner`
 * values is contiguous, which is the NCHW case that matters. */
#include <math.h>

#include "kernels/kernels.h"

void mtk_bn_stats(const float *x, int64_t outer, int64_t C, int64_t inner, float *mean,
                  float *var) {
  double m = (double)(outer * inner);
  for (int64_t c = 0; c < C; c++) {
    /* two passes: E[(x - mean)^2] does not cancel like E[x^2] - mean^2 */
    double s = 0;
    for (int64_t o = 0; o < outer; o++) {
      const float *xs = x + (o * C + c) * inner;
      for (int64_t i = 0; i < inner; i++) s += xs[i];
    }
    double mu = m > 0 ? s / m : 0.0, v = 0;
    for (int64_t o = 0; o < outer; o++) {
      const float *xs = x + (o * C + c) * inner;
      for (int64_t i = 0; i < inner; i++) {
        double d = xs[i] - mu;
        v += d * d;
      }
    }
    mean[c] = (float)mu;
    var[c] = m > 0 ? (float)(v / m) : 0.0f;
  }
}

void mtk_bn_invstd(float *invstd, const float *var, int64_t C, float eps) {
  for (int64_t c = 0; c < C; c++) invstd[c] = (float)(1.0 / sqrt((double)var[c] + (double)eps));
}

void mtk_bn_forward(float *y, const float *x, const float *mean, const float *invstd,
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

void mtk_bn_backward(const float *dy, const float *x, const float *mean, const float *invstd,
                     const float *gamma, int64_t outer, int64_t C, int64_t inner, int batch_stats,
                     float *dx, float beta_dx, float *dgamma, float beta_dgamma, float *dbeta,
                     float beta_dbeta) {
  double m = (double)(outer * inner);
  for (int64_t c = 0; c < C; c++) {
    float mu = mean[c], is = invstd[c], g = gamma ? gamma[c] : 1.0f;
    double sdy = 0, sdyx = 0; /* sum dy, sum dy * xhat */
    for (int64_t o = 0; o < outer; o++) {
      const float *xs = x + (o * C + c) * inner, *ds = dy + (o * C + c) * inner;
      for (int64_t i = 0; i < inner; i++) {
        sdy += ds[i];
        sdyx += (double)ds[i] * ((xs[i] - mu) * is);
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
      for (int64_t i = 0; i < inner; i++) {
        float v = k * (ds[i] - mdy - (xs[i] - mu) * is * mdyx);
        gs[i] = v + (beta_dx == 0.0f ? 0.0f : beta_dx * gs[i]);
      }
    }
  }
}
