/* shape_ops.h — CPU kernels that move blocks between arrays (Concat and its
 * gradient). An array of shape (d0, ..., dk, ...) concatenated on axis k is
 * viewed as (outer, cols, inner) with outer = d0 * ... * d(k-1),
 * cols = dk, inner = d(k+1) * ...; the output then has
 * (outer, total_cols, inner) and input i fills columns
 * [offset_i, offset_i + cols_i) of every outer row. */
#ifndef MT_KERNELS_CPU_SHAPE_OPS_H
#define MT_KERNELS_CPU_SHAPE_OPS_H
#include <stdint.h>

/* out[outer, total_cols, inner][:, offset : offset + cols, :] = in[outer, cols, inner] */
void mtk_concat_copy(float *out, const float *in, int64_t outer, int64_t total_cols, int64_t offset,
                     int64_t cols, int64_t inner);
/* din[outer, cols, inner] = dout[:, offset : offset + cols, :] + beta * din
 * (beta 0 writes without reading din, 1 accumulates). */
void mtk_concat_grad(float *din, const float *dout, int64_t outer, int64_t total_cols,
                     int64_t offset, int64_t cols, int64_t inner, float beta);

#endif
