/* pool.h — 2-D pooling on the CPU (float32, NCHW, dense), MXNet's Pooling.
 * The geometry is kernels/cuda/cudnn_kernels.h's mtk_pool_desc; the caller
 * computes oh, ow (valid: floor, full: ceil, global: 1).
 *
 * MXNet's window rule (src/operator/nn/pool.h): output cell (oy, ox) reads
 * rows [oy sh - ph, oy sh - ph + kh) clipped to the input; avg divides by
 * the window clipped to [-ph, h + ph) (count_include_pad = 1: padding cells
 * count, but not the cells a `full` window runs past the padding) or by the
 * cells inside the input (count_include_pad = 0); sum divides by nothing; a
 * window with no input cell gives 0.
 *
 * Max backward routes each output's gradient to its window's maximum; on
 * ties to the first one in row-major order within the window — the cell
 * oneDNN's forward keeps (it replaces its running maximum only on a strictly
 * greater value), and the rule kernels/cuda/cudnn_kernels.h states. The
 * argmax is recomputed from x in backward (no workspace is kept between
 * forward and backward: the op needs no hidden output, and its interface
 * is the GPU's): one pass over x, small next to the convolutions around a
 * pooling layer.
 *
 * Max pooling 2x2, stride 2, no padding (windows inside the input) has its
 * own loops in every build: branch-free selects the compiler vectorises
 * (forward) and AVX-512 rows where the CPU has it (backward), the reference
 * loops' values exactly (tests/test_ops_conv.c compares them bit for bit).
 *
 * Otherwise, with oneDNN (MT_HAVE_DNNL): forward of max and avg, and backward of avg,
 * through oneDNN's pooling primitives (cached as in conv.h); sum, max
 * backward and the geometries oneDNN does not take (padding not less than
 * the kernel; avg with count_include_pad where a `full` window runs past
 * the padding, whose divisor oneDNN counts differently) use the reference
 * loops. mtk_pool_ref_* are the loops alone, in every build. */
#ifndef MT_KERNELS_CPU_POOL_H
#define MT_KERNELS_CPU_POOL_H
#include "kernels/cuda/cudnn_kernels.h" /* mtk_pool_desc, MTK_POOL_* */

int mtk_pool_forward(const mtk_pool_desc *d, const float *x, float *y);
/* dx (+)= the gradient at x from dy (beta 0 overwrites, 1 adds); x and y
 * are forward's input and output. */
int mtk_pool_backward(const mtk_pool_desc *d, const float *x, const float *y, const float *dy,
                      float *dx, float beta);

int mtk_pool_ref_forward(const mtk_pool_desc *d, const float *x, float *y);
int mtk_pool_ref_backward(const mtk_pool_desc *d, const float *x, const float *y, const float *dy,
                          float *dx, float beta);

#endif
