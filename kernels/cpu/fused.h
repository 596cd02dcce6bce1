/* fused.h — FullyConnected's bias with the Activation that follows it, in
 * one pass over the layer's output each way (the executor fuses the pair,
 * src/executor.c). Results are the same bits as the separate kernels:
 *   forward   mtk_add_row_bias, then mtk_activation_forward;
 *   backward  mtk_activation_backward (beta 0), then mtk_sum_rows.
 * act: relu, sigmoid, tanh or softrelu, whose gradient is written in terms
 * of the output (softsign's needs the input, which the fused forward never
 * stores). */
#ifndef MT_KERNELS_CPU_FUSED_H
#define MT_KERNELS_CPU_FUSED_H
#include <stdint.h>

#include "kernels/cpu/activation.h"

/* y[rows, cols] = act(y + bias[col]) in place; bias NULL: act(y). */
void mtk_bias_act_forward(mtk_act_type act, float *y, const float *bias, int64_t rows,
                          int64_t cols);
/* g[rows, cols] = dy * act'(y) (written, never read; may alias dy), and
 * db[cols] = column sums of g, added to db where beta_db != 0 (db NULL:
 * none), in mtk_sum_rows's order. */
void mtk_act_bias_backward(mtk_act_type act, const float *dy, const float *y, float *g, float *db,
                           float beta_db, int64_t rows, int64_t cols);

#endif
