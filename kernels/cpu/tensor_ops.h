/* tensor_ops.h — CPU kernels of the shape and elementwise ops of
 * src/ops/ (transpose, SliceChannel, softmax / log_softmax, elemwise_mul /
 * elemwise_sub, the scalar ops, MakeLoss, BlockGrad). Row-major float32;
 * where a kernel writes a gradient, beta 0 overwrites (the old value is
 * never read) and 1 accumulates. Reshape, expand_dims and the forward of
 * BlockGrad / MakeLoss are copies (mtk_copy_beta). */
#ifndef MT_KERNELS_CPU_TENSOR_OPS_H
#define MT_KERNELS_CPU_TENSOR_OPS_H
#include <stdint.h>

/* Most axes a transpose handles (MT_MAX_DIM of modtrain.h). */
#define MTK_TRANSPOSE_MAX_DIM 6

/* out = x with its axes permuted: out has dims[axes[0]], ..., dims[axes[ndim-1]]
 * and out[i0, ..., i(k-1)] = x[j] where j's axis axes[d] is i_d;
 * + beta * out. ndim in [1, MTK_TRANSPOSE_MAX_DIM]; axes a permutation. */
void mtk_transpose(float *out, const float *x, int ndim, const int64_t *dims, const int *axes,
                   float beta);

/* Block copy between two arrays viewed as [outer, cols, inner]:
 * dst[:, dst_off : dst_off + cols, :] = src[:, src_off : src_off + cols, :]
 * + beta * dst, where dst has dst_cols and src src_cols columns
 * (SliceChannel: an output is a column range of its input). */
void mtk_block_copy(float *dst, const float *src, int64_t outer, int64_t dst_cols, int64_t dst_off,
                    int64_t src_cols, int64_t src_off, int64_t cols, int64_t inner, float beta);

/* softmax of x / temperature along the C axis of x[outer, C, inner]
 * (max-subtracted, sums in double); log_softmax when use_log. */
void mtk_softmax_t(float *out, const float *x, int64_t outer, int64_t C, int64_t inner,
                   float temperature, int use_log);
/* Gradient at x from y (the forward's output) and dy:
 *   softmax:     dx = y * (dy - sum_c dy * y) / temperature
 *   log_softmax: dx = (dy - exp(y) * sum_c dy) / temperature
 * + beta * dx. */
void mtk_softmax_t_grad(float *dx, const float *dy, const float *y, int64_t outer, int64_t C,
                        int64_t inner, float temperature, int use_log, float beta);

/* out = a * b + beta * out; out = a - b + beta * out */
void mtk_mul(float *out, const float *a, const float *b, int64_t n, float beta);
void mtk_sub(float *out, const float *a, const float *b, int64_t n, float beta);

/* The scalar ops, x op s + beta * out. */
typedef enum {
  MTK_SCALAR_PLUS = 0, /* x + s */
  MTK_SCALAR_MINUS,    /* x - s */
  MTK_SCALAR_MUL,      /* x * s */
  MTK_SCALAR_DIV       /* x / s */
} mtk_scalar_op;
void mtk_scalar(float *out, const float *x, int64_t n, int op, float s, float beta);

/* out = v + beta * out (a constant gradient: MakeLoss, BlockGrad's 0). */
void mtk_fill_beta(float *out, int64_t n, float v, float beta);
/* Number of x[i] > thresh (MakeLoss's normalization=valid). */
int64_t mtk_count_greater(const float *x, int64_t n, float thresh);

#endif
