// batchnorm.cu — CUDA mirror of kernels/cpu/batchnorm.c. Data is
// x[outer, C, inner] (see kernels/cpu/batchnorm.h). Per-channel sums run one
// block per channel, accumulated in double and reduced in a fixed tree, so
// results are deterministic and match the CPU's double sums to float
// rounding. Elementwise parts round each operation on its own (no FMA
// contraction) so that, given the same statistics, they equal the CPU's bits.
#include <math.h>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

// mean[c] and biased var[c] over the m = outer * inner values of channel c:
// two passes, as the CPU (E[(x - mean)^2] does not cancel).
__global__ void mtk_bn_stats_kernel(const float *x, int64_t outer, int64_t C, int64_t inner,
                                    float *mean, float *var) {
  __shared__ double sh[256];
  int64_t c = blockIdx.x, m = outer * inner;
  double s = 0;
  for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
    int64_t o = j / inner, i = j - o * inner;
    s += x[(o * C + c) * inner + i];
  }
  s = mtk_block_sum(s, sh);
  double mu = m > 0 ? s / (double)m : 0.0, v = 0;
  for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
    int64_t o = j / inner, i = j - o * inner;
    double d = x[(o * C + c) * inner + i] - mu;
    v += d * d;
  }
  v = mtk_block_sum(v, sh);
  if (threadIdx.x == 0) {
    mean[c] = (float)mu;
    var[c] = m > 0 ? (float)(v / (double)m) : 0.0f;
  }
}

// batch_stats: moving = moving * momentum + batch * (1 - momentum) (as
// mtk_scale then mtk_axpy), invstd = 1 / sqrt(var + eps) written over var.
// Otherwise: mean = moving_mean, invstd = 1 / sqrt(moving_var + eps).
__global__ void mtk_bn_finish_kernel(int64_t C, float *mean, float *var_invstd, float *mmean,
                                     float *mvar, float momentum, float eps, int batch_stats) {
  MTK_FOR(c, C) {
    if (batch_stats) {
      float a = 1.0f - momentum;
      mmean[c] = __fadd_rn(__fmul_rn(mmean[c], momentum), __fmul_rn(a, mean[c]));
      mvar[c] = __fadd_rn(__fmul_rn(mvar[c], momentum), __fmul_rn(a, var_invstd[c]));
      var_invstd[c] = (float)(1.0 / sqrt((double)var_invstd[c] + (double)eps));
    } else {
      mean[c] = mmean[c];
      var_invstd[c] = (float)(1.0 / sqrt((double)mvar[c] + (double)eps));
    }
  }
}

// y = (x - mean[c]) * (invstd[c] * gamma[c]) + beta[c]; gamma NULL means 1.
__global__ void mtk_bn_forward_kernel(float *y, const float *x, const float *mean,
                                      const float *invstd, const float *gamma, const float *beta,
                                      int64_t outer, int64_t C, int64_t inner) {
  MTK_FOR(e, outer * C * inner) {
    int64_t c = (e / inner) % C;
    float a = __fmul_rn(invstd[c], gamma ? gamma[c] : 1.0f);
    y[e] = __fadd_rn(__fmul_rn(__fsub_rn(x[e], mean[c]), a), beta[c]);
  }
}

// One block per channel: sums of dy and dy * xhat, then dgamma, dbeta and
// dx of that channel (formulas in kernels/cpu/batchnorm.h).
__global__ void mtk_bn_backward_kernel(const float *dy, const float *x, const float *mean,
                                       const float *invstd, const float *gamma, int64_t outer,
                                       int64_t C, int64_t inner, int batch_stats, float *dx,
                                       float beta_dx, float *dgamma, float beta_dgamma,
                                       float *dbeta, float beta_dbeta) {
  __shared__ double sh[256];
  int64_t c = blockIdx.x, m = outer * inner;
  float mu = mean[c], is = invstd[c], g = gamma ? gamma[c] : 1.0f;
  double sdy = 0, sdyx = 0;
  for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
    int64_t o = j / inner, i = j - o * inner, k = (o * C + c) * inner + i;
    sdy += dy[k];
    sdyx += (double)dy[k] * __fmul_rn(__fsub_rn(x[k], mu), is);
  }
  sdy = mtk_block_sum(sdy, sh);
  sdyx = mtk_block_sum(sdyx, sh);
  if (threadIdx.x == 0) {
    if (dbeta)
      dbeta[c] = __fadd_rn((float)sdy, beta_dbeta == 0.0f ? 0.0f : __fmul_rn(beta_dbeta, dbeta[c]));
    if (dgamma)
      dgamma[c] =
          __fadd_rn((float)sdyx, beta_dgamma == 0.0f ? 0.0f : __fmul_rn(beta_dgamma, dgamma[c]));
  }
  if (!dx) return;
  float kk = __fmul_rn(g, is);
  float mdy = batch_stats && m > 0 ? (float)(sdy / (double)m) : 0.0f;
  float mdyx = batch_stats && m > 0 ? (float)(sdyx / (double)m) : 0.0f;
  for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
    int64_t o = j / inner, i = j - o * inner, k = (o * C + c) * inner + i;
    float xh = __fmul_rn(__fmul_rn(__fsub_rn(x[k], mu), is), mdyx);
    float v = __fmul_rn(kk, __fsub_rn(__fsub_rn(dy[k], mdy), xh));
    dx[k] = __fadd_rn(v, beta_dx == 0.0f ? 0.0f : __fmul_rn(beta_dx, dx[k]));
  }
}

static int check_grid(int64_t C, const char *what) {
  if (C > 2147483647LL)
    return mt_error_set(MT_E_INVAL, "%s: %lld channels exceed the grid", what, (long long)C);
  return 0;
}

extern "C" int mtk_cuda_bn_stats(int dev, const float *x, int64_t outer, int64_t C, int64_t inner,
                                 float *mean, float *var) {
  MT_TRY(mtk_set_device(dev));
  MT_TRY(check_grid(C, "mtk_cuda_bn_stats"));
  if (C <= 0) return 0;
  mtk_bn_stats_kernel<<<(unsigned)C, mtk_reduce_threads(outer * inner), 0, mtk_stream(dev)>>>(
      x, outer, C, inner, mean, var);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_bn_finish_stats(int dev, int64_t C, float *mean, float *var_invstd,
                                        float *moving_mean, float *moving_var, float momentum,
                                        float eps, int batch_stats) {
  MT_TRY(mtk_set_device(dev));
  if (C <= 0) return 0;
  mtk_bn_finish_kernel<<<mtk_blocks(C), MTK_THREADS, 0, mtk_stream(dev)>>>(
      C, mean, var_invstd, moving_mean, moving_var, momentum, eps, batch_stats);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_bn_forward(int dev, float *y, const float *x, const float *mean,
                                   const float *invstd, const float *gamma, const float *beta,
                                   int64_t outer, int64_t C, int64_t inner) {
  MT_TRY(mtk_set_device(dev));
  int64_t n = outer * C * inner;
  if (n <= 0) return 0;
  mtk_bn_forward_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(
      y, x, mean, invstd, gamma, beta, outer, C, inner);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_bn_backward(int dev, const float *dy, const float *x, const float *mean,
                                    const float *invstd, const float *gamma, int64_t outer,
                                    int64_t C, int64_t inner, int batch_stats, float *dx,
                                    float beta_dx, float *dgamma, float beta_dgamma, float *dbeta,
                                    float beta_dbeta) {
  MT_TRY(mtk_set_device(dev));
  MT_TRY(check_grid(C, "mtk_cuda_bn_backward"));
  if (C <= 0 || (!dx && !dgamma && !dbeta)) return 0;
  mtk_bn_backward_kernel<<<(unsigned)C, mtk_reduce_threads(outer * inner), 0, mtk_stream(dev)>>>(
      dy, x, mean, invstd, gamma, outer, C, inner, batch_stats, dx, beta_dx, dgamma, beta_dgamma,
      dbeta, beta_dbeta);
  MT_CHECK_LAUNCH();
  return 0;
}
