/* loss.h — CPU kernels of the loss heads: SoftmaxOutput and the
 * *RegressionOutput family (src/ops/softmax_output.c, regression_output.c).
 * Tensors are row-major float32; a "class axis" layout is x[outer, C, inner]
 * (inner = 1 for the usual (N, C) case; multi_output uses (N, C, d1*d2...)).
 * Labels are float class indices, cast to int as MXNet does. */
#ifndef MT_KERNELS_CPU_LOSS_H
#define MT_KERNELS_CPU_LOSS_H
#include <stdint.h>

/* out[outer, C, inner] = softmax of x along the C axis (max-subtracted, so
 * large logits do not overflow). out may equal x. */
void mtk_softmax_axis(float *out, const float *x, int64_t outer, int64_t C, int64_t inner);

/* SoftmaxOutput's data gradient for p[outer, C, inner] and
 * label[outer, inner]:
 *   grad = scale * (p - onehot(label)) + beta * grad
 * Where use_ignore and (int)label == (int)ignore_label, the scale * (...)
 * term is 0 for every class of that position. Returns -1 when every label is
 * a class in [0, C) or ignored, else the flat index (into label) of the first
 * label that is not (that position then contributes scale * p, as MXNet). */
int64_t mtk_softmax_output_grad(float *grad, const float *p, const float *label, int64_t outer,
                                int64_t C, int64_t inner, int use_ignore, float ignore_label,
                                float scale, float beta);

/* Number of labels whose int value differs from (int)value (SoftmaxOutput's
 * normalization=valid); NaN/Inf labels count as different. */
int64_t mtk_count_label_not(const float *label, int64_t n, float value);

/* out = 1 / (1 + exp(-x)), overflow-safe for large |x|. out may equal x. */
void mtk_sigmoid(float *out, const float *x, int64_t n);

/* Regression-output gradient: grad = scale * f(out - label) + beta * grad,
 * f = identity (use_sign 0: linear and logistic) or sign (use_sign 1: MAE;
 * sign(0) = 0). */
void mtk_regression_grad(float *grad, const float *out, const float *label, int64_t n, float scale,
                         int use_sign, float beta);

#endif
