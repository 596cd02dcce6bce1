/* optimizer.h — per-element optimizer updates on contiguous float32 buffers,
 * the arithmetic of MXNet 1.x's kernels (src/operator/optimizer_op-inl.h)
 * written out in the same order of operations, so results match MXNet's CPU
 * build to the bit where the compiler does not contract into FMAs (C11 mode:
 * -ffp-contract=off). All buffers hold n elements and are updated in place.
 *
 * clip(x, c) = x > c ? c : (x < -c ? -c : x)   (mshadow_op::clip)
 * A clip bound < 0 means "no clipping" (MXNet's clip_gradient = -1 default).
 * Scalars arrive as float, as MXNet's operators parse them. */
#ifndef MT_KERNELS_CPU_OPTIMIZER_H
#define MT_KERNELS_CPU_OPTIMIZER_H
#include <stdint.h>

/* sgd_update (SGDKernel), used by NAG without momentum:
 *   w = (1 - lr*wd)*w - (lr*rescale)*g          or, clipping,
 *   w = (1 - lr*wd)*w - lr*clip(rescale*g, c) */
void mtk_sgd_update(float *w, const float *g, int64_t n, float lr, float wd, float rescale,
                    float clip);

/* multi_sgd_update / multi_sgd_mom_update (MultiSGDKernel), what MXNet 1.5+'s
 * SGD runs on dense arrays:
 *   d = momentum*m - (lr*wd)*w - (lr*rescale)*g   (or - lr*clip(rescale*g, c))
 *   m = d (when mom != NULL);  w = w + d
 * mom == NULL: no momentum buffer (m = 0, momentum ignored). */
void mtk_multi_sgd_update(float *w, const float *g, float *mom, int64_t n, float lr, float wd,
                          float momentum, float rescale, float clip);

/* nag_mom_update (NAGMomKernel), in place (out aliases weight, so the second
 * use of the weight reads the updated value, exactly as MXNet's kernel does):
 *   m = momentum*m
 *   w = w - m + (momentum + 1)*(m - lr*(G + wd*w))     G = rescale*g or clip(rescale*g, c)
 *   m = m - lr*(G + wd*w)                              (w: the new weight) */
void mtk_nag_mom_update(float *w, const float *g, float *mom, int64_t n, float lr, float wd,
                        float momentum, float rescale, float clip);

/* adam_update (AdamUpdateKernel); lr already carries the bias correction:
 *   G = g*rescale + w*wd, clipped;  mean = beta1*mean + (1 - beta1)*G
 *   var = beta2*var + (1 - beta2)*G*G;  w = w - lr*mean / (sqrt(var) + epsilon) */
void mtk_adam_update(float *w, const float *g, float *mean, float *var, int64_t n, float lr,
                     float wd, float beta1, float beta2, float epsilon, float rescale, float clip);

/* rmsprop_update (RMSPropUpdateKernel, Tieleman & Hinton):
 *   G = rescale*g + wd*w, clipped;  n = (1 - gamma1)*(G*G) + gamma1*n
 *   w = w - lr*(G / sqrt(n + epsilon)), then clip(w, clip_weights) */
void mtk_rmsprop_update(float *w, const float *g, float *state_n, int64_t n, float lr, float wd,
                        float gamma1, float epsilon, float rescale, float clip, float clip_weights);

/* rmspropalex_update (RMSPropAlexUpdateKernel, Graves 2013, "centered"):
 *   G = rescale*g + wd*w, clipped
 *   n = (1 - gamma1)*G*G + gamma1*n;  gs = (1 - gamma1)*G + gamma1*gs
 *   delta = gamma2*delta - lr*G / sqrt(n - gs*gs + epsilon)
 *   w = w + delta, then clip(w, clip_weights) */
void mtk_rmspropalex_update(float *w, const float *g, float *state_n, float *state_g, float *delta,
                            int64_t n, float lr, float wd, float gamma1, float gamma2,
                            float epsilon, float rescale, float clip, float clip_weights);

/* AdaGrad on dense arrays, MXNet's sequence of NDArray operations:
 *   G = g*rescale, clipped when clip >= 0 (Python's `is not None`);
 *   h = h + G*G;  div = G / sqrt(h + eps);  w = w + (div + w*wd)*(-lr) */
void mtk_adagrad_update(float *w, const float *g, float *history, int64_t n, float lr, float wd,
                        float eps, float rescale, float clip);

#endif
