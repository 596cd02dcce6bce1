/* batchnorm.h — CPU kernels of BatchNorm (src/ops/batch_norm.c). Data is
 * viewed as x[outer, C, inner] with C the channel axis: (N, C) -> (N, C, 1),
 * (N, C, H, W) -> (N, C, H*W). Statistics are per channel over the
 * m = outer * inner values of that channel, accumulated in double. */
#ifndef MT_KERNELS_CPU_BATCHNORM_H
#define MT_KERNELS_CPU_BATCHNORM_H
#include <stdint.h>

/* mean[C] and biased variance var[C] (divided by m, as MXNet) of x. */
void mtk_bn_stats(const float *x, int64_t outer, int64_t C, int64_t inner, float *mean, float *var);

/* invstd[c] = 1 / sqrt(var[c] + eps). invstd may equal var. */
void mtk_bn_invstd(float *invstd, const float *var, int64_t C, float eps);

/* y = (x - mean[c]) * invstd[c] * gamma[c] + beta[c]; gamma NULL means 1
 * (fix_gamma). y may equal x. */
void mtk_bn_forward(float *y, const float *x, const float *mean, const float *invstd,
                    const float *gamma, const float *beta, int64_t outer, int64_t C, int64_t inner);

/* Gradients from dy[outer, C, inner], with xhat = (x - mean) * invstd:
 *   dbeta[c]  = sum dy                     (+ beta_dbeta * dbeta)
 *   dgamma[c] = sum dy * xhat              (+ beta_dgamma * dgamma)
 *   dx = g * invstd * (dy - sum dy / m - xhat * sum(dy * xhat) / m)
 *        when batch_stats (mean/var were the batch's own, so they depend
 *        on x), else dx = g * invstd * dy (moving stats are constants);
 *        (+ beta_dx * dx). g = gamma[c], or 1 when gamma is NULL.
 * Any of dx, dgamma, dbeta may be NULL (not wanted). */
void mtk_bn_backward(const float *dy, const float *x, const float *mean, const float *invstd,
                     const float *gamma, int64_t outer, int64_t C, int64_t inner, int batch_stats,
                     float *dx, float beta_dx, float *dgamma, float beta_dgamma, float *dbeta,
                     float beta_dbeta);

#endif
