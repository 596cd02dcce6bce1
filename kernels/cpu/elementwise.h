/* elementwise.h — plain loops over contiguous float32 buffers. */
#ifndef MT_KERNELS_CPU_ELEMENTWISE_H
#define MT_KERNELS_CPU_ELEMENTWISE_H
#include <stdint.h>

void mtk_fill(float *x, int64_t n, float v);
/* y = x + beta * y (beta 0: copy, 1: accumulate) */
void mtk_copy_beta(float *y, const float *x, int64_t n, float beta);
/* y += a * x */
void mtk_axpy(float *y, float a, const float *x, int64_t n);
void mtk_scale(float *x, float a, int64_t n);
/* out = a + b, or out += a + b when beta = 1 */
void mtk_add(float *out, const float *a, const float *b, int64_t n, float beta);
/* y[rows, cols] += bias[cols] for every row */
void mtk_add_row_bias(float *y, const float *bias, int64_t rows, int64_t cols);
/* out[cols] = sum over rows of x[rows, cols] + beta * out */
void mtk_sum_rows(float *out, const float *x, int64_t rows, int64_t cols, float beta);
/* 1 if all n values are finite */
int mtk_all_finite(const float *x, int64_t n);
/* out[i] = ((src[0][i] + src[1][i]) + ...) + src[nsrc-1][i], summed in that
 * order; out may be one of the sources. */
void mtk_sum_arrays(float *out, const float *const *src, int nsrc, int64_t n);

#endif
