/* activation.c — elementwise activations and their gradients (see
 * activation.h for the formulas, which follow MXNet's mshadow_op.h). */
#include <math.h>

#include "kernels/cpu/simd.h"
#include "kernels/kernels.h"

/* MXNet's softrelu: above 20, log1p(exp(x)) equals x in float32, and exp
 * would overflow for large x; below, log1p keeps precision when exp(x) is
 * tiny. */
static inline float softrelu(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

/* tanh as a rational function (odd degree 13 over even degree 6, the
 * minimax fit Eigen uses) on [-7.905, 7.905], where float32 tanh reaches
 * +-1, and x itself below 4e-4: arithmetic and selects only, so the loop
 * vectorises (glibc's tanhf is a scalar call through expm1f, a third of
 * LeNet's step). Within 6 ulp (3.9e-7 absolute) of tanh over every float;
 * +-inf give +-1, NaN stays NaN. */
static inline float tanh_rational(float x) {
  const float clamp = 7.90531110763549805f;
  float xc = fabsf(x) > clamp ? copysignf(clamp, x) : x;
  float x2 = xc * xc;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * xc;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return fabsf(x) < 0.0004f ? x : p / q;
}

MTK_CLONES void mtk_activation_forward(mtk_act_type act, const float *x, float *y, int64_t n) {
  switch (act) {
  case MTK_ACT_RELU:
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    break;
  case MTK_ACT_SIGMOID:
    for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
    break;
  case MTK_ACT_TANH:
    for (int64_t i = 0; i < n; i++) y[i] = tanh_rational(x[i]);
    break;
  case MTK_ACT_SOFTRELU:
    for (int64_t i = 0; i < n; i++) y[i] = softrelu(x[i]);
    break;
  case MTK_ACT_SOFTSIGN:
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + fabsf(x[i]));
    break;
  }
}

/* The local derivative of element i (MXNet's *_grad functors). */
static inline float act_grad(mtk_act_type act, const float *x, const float *y, int64_t i) {
  switch (act) {
  case MTK_ACT_RELU: return y[i] > 0.0f ? 1.0f : 0.0f;
  case MTK_ACT_SIGMOID: return y[i] * (1.0f - y[i]);
  case MTK_ACT_TANH: return 1.0f - y[i] * y[i];
  case MTK_ACT_SOFTRELU: return -expm1f(-y[i]);
  case MTK_ACT_SOFTSIGN: {
    float d = 1.0f + fabsf(x[i]);
    return 1.0f / (d * d);
  }
  }
  return 0.0f;
}

MTK_CLONES void mtk_activation_backward(mtk_act_type act, const float *dy, const float *x,
                                        const float *y, float *dx, int64_t n, float beta) {
  if (act == MTK_ACT_RELU) {
    /* the hot case without the per-element switch, so it vectorises; the
     * multiply keeps a NaN in dy a NaN (as MXNet), where a select would not */
    if (beta == 0.0f)
      for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (y[i] > 0.0f ? 1.0f : 0.0f);
    else
      for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (y[i] > 0.0f ? 1.0f : 0.0f) + beta * dx[i];
    return;
  }
  if (beta == 0.0f)
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * act_grad(act, x, y, i);
  else
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * act_grad(act, x, y, i) + beta * dx[i];
}

void mtk_leaky_relu_forward(mtk_leaky_type act, float slope, const float *x, float *y, int64_t n) {
  if (act == MTK_LEAKY_ELU)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : slope * expm1f(x[i]);
  else
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

static inline float leaky_grad(mtk_leaky_type act, float slope, float y) {
  if (y > 0.0f) return 1.0f;
  return act == MTK_LEAKY_ELU ? y + slope : slope;
}

void mtk_leaky_relu_backward(mtk_leaky_type act, float slope, const float *dy, const float *y,
                             float *dx, int64_t n, float beta) {
  if (beta == 0.0f)
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * leaky_grad(act, slope, y[i]);
  else
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * leaky_grad(act, slope, y[i]) + beta * dx[i];
}
