/* activation.h — CPU kernels of the elementwise activations (Activation and
 * LeakyReLU ops), on contiguous float32 buffers of n elements. Formulas are
 * MXNet's (mshadow_op.h); backward kernels take the forward output where
 * MXNet's gradient is written in terms of it, so they need no recompute.
 * Gradient outputs: dx = grad + beta * dx (beta 0 writes, 1 accumulates;
 * with beta 0 the old dx is never read). */
#ifndef MT_KERNELS_CPU_ACTIVATION_H
#define MT_KERNELS_CPU_ACTIVATION_H
#include <stdint.h>

/* Activation's act_type, in the order of its attribute values. */
typedef enum {
  MTK_ACT_RELU = 0,     /* max(x, 0);                 grad (y > 0)          */
  MTK_ACT_SIGMOID = 1,  /* 1 / (1 + exp(-x));         grad y (1 - y)        */
  MTK_ACT_TANH = 2,     /* tanh(x);                   grad 1 - y^2          */
  MTK_ACT_SOFTRELU = 3, /* x > 20 ? x : log1p(exp(x)); grad -expm1(-y)      */
  MTK_ACT_SOFTSIGN = 4  /* x / (1 + |x|);             grad 1 / (1 + |x|)^2  */
} mtk_act_type;

/* y[n] = act(x[n]); y may alias x. */
void mtk_activation_forward(mtk_act_type act, const float *x, float *y, int64_t n);
/* dx[n] = dy * act'(.) + beta * dx. x is read by softsign only, y by the
 * others (either may be NULL where it is not read). */
void mtk_activation_backward(mtk_act_type act, const float *dy, const float *x, const float *y,
                             float *dx, int64_t n, float beta);

/* LeakyReLU's supported act_types. */
typedef enum {
  MTK_LEAKY_LEAKY = 0, /* x > 0 ? x : slope x;              grad y > 0 ? 1 : slope  */
  MTK_LEAKY_ELU = 1    /* x > 0 ? x : slope (exp(x) - 1);   grad y > 0 ? 1 : y + slope */
} mtk_leaky_type;

/* y[n] = f(x[n]); y may alias x. */
void mtk_leaky_relu_forward(mtk_leaky_type act, float slope, const float *x, float *y, int64_t n);
/* dx[n] = dy * f'(.) + beta * dx, with f' written in terms of the output y. */
void mtk_leaky_relu_backward(mtk_leaky_type act, float slope, const float *dy, const float *y,
                             float *dx, int64_t n, float beta);

#endif
