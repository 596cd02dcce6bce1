/* dropout.h — CPU kernels of Dropout (src/ops/dropout.c). The mask is drawn
 * from the counter-based Philox stream (key, hi): element j of the mask uses
 * the uniform number with index first + j, so a sample's mask depends only on
 * its global position, never on how the batch was split (docs/design.md §5). */
#ifndef MT_KERNELS_CPU_DROPOUT_H
#define MT_KERNELS_CPU_DROPOUT_H
#include <stdint.h>

/* mask[j] = (u >= p) * scale, u = mtk_philox_uniform(key, hi, first + j),
 * for j in [0, n). scale is 1 / (1 - p) normally (0 when p = 1). */
void mtk_dropout_mask(float *mask, int64_t n, float p, float scale, uint64_t key, uint64_t hi,
                      uint64_t first);

/* y = x * mask + beta * y (forward: x = data; backward: x = out_grad). */
void mtk_dropout_apply(float *y, const float *x, const float *mask, int64_t n, float beta);

#endif
