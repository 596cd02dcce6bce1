// loss.cu — CUDA mirrors of kernels/cpu/loss.c: softmax along a class axis,
// SoftmaxOutput's gradient with its label check, sigmoid and the regression
// gradients. Layout as in kernels/cpu/loss.h: x[outer, C, inner], labels
// [outer, inner] holding float class indices.
//
// Softmax runs one block per (outer, inner) position: max and sum over the C
// classes with fixed-order tree reductions (the sum in double, as the CPU
// loop), so results are deterministic; they differ from the CPU's by the
// device expf's ulp. The gradient kernels are elementwise and round each
// operation on its own (__fmul_rn/__fadd_rn: no FMA contraction), so given
// the same probabilities they equal the CPU's bit for bit.
#include <math.h>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

// out[outer, C, inner] = softmax of x over C; one block per position r.
__global__ void mtk_softmax_kernel(float *out, const float *x, int64_t C, int64_t inner) {
  __shared__ float smax[256];
  __shared__ double ssum[256];
  int64_t r = blockIdx.x, o = r / inner, i = r - o * inner;
  const float *xs = x + o * C * inner + i;
  float *os = out + o * C * inner + i;
  unsigned t = threadIdx.x, T = blockDim.x;
  float mx = -INFINITY;
  for (int64_t c = t; c < C; c += T) mx = fmaxf(mx, xs[c * inner]);
  smax[t] = mx;
  __syncthreads();
  for (unsigned s = T / 2; s > 0; s >>= 1) {
    if (t < s) smax[t] = fmaxf(smax[t], smax[t + s]);
    __syncthreads();
  }
  mx = smax[0];
  double sum = 0;
  for (int64_t c = t; c < C; c += T) {
    float e = expf(xs[c * inner] - mx);
    os[c * inner] = e;
    sum += e;
  }
  sum = mtk_block_sum(sum, ssum);
  float inv = (float)(1.0 / sum);
  for (int64_t c = t; c < C; c += T) os[c * inner] *= inv;
}

extern "C" int mtk_cuda_softmax_axis(int dev, float *out, const float *x, int64_t outer, int64_t C,
                                     int64_t inner) {
  MT_TRY(mtk_set_device(dev));
  int64_t rows = outer * inner;
  if (C <= 0 || rows <= 0) return 0;
  if (rows > 2147483647LL)
    return mt_error_set(MT_E_INVAL, "mtk_cuda_softmax_axis: %lld positions exceed the grid",
                        (long long)rows);
  mtk_softmax_kernel<<<(unsigned)rows, mtk_reduce_threads(C), 0, mtk_stream(dev)>>>(out, x, C,
                                                                                    inner);
  MT_CHECK_LAUNCH();
  return 0;
}

// The class a label names (no range check), INT64_MIN when not finite or
// out of int64 range: loss.c's label_int.
__device__ inline int64_t mtk_label_int(float v) {
  if (!isfinite(v) || v > 9.2e18f || v < -9.2e18f) return INT64_MIN;
  return (int64_t)v;
}

// count[0] = number of labels whose int value differs from (int)value or is
// not finite (mtk_count_label_not); one block, fixed-order sum.
__global__ void mtk_count_label_not_kernel(long long *count, const float *label, int64_t n,
                                           float value) {
  __shared__ long long sh[256];
  int64_t v = mtk_label_int(value);
  long long cnt = 0;
  for (int64_t k = threadIdx.x; k < n; k += blockDim.x)
    cnt += mtk_label_int(label[k]) != v || !isfinite(label[k]);
  cnt = mtk_block_sum(cnt, sh);
  if (threadIdx.x == 0) *count = cnt;
}

// grad[outer, C, inner] = scale * (p - onehot(label)) + beta * grad, as
// mtk_softmax_output_grad; scale = grad_scale / norm, or grad_scale / the
// count in *count (at least 1) when norm <= 0. The first position whose label
// is neither a class nor ignored lands in *bad (atomicMin: order-free).
__global__ void mtk_softmax_output_grad_kernel(float *grad, const float *p, const float *label,
                                               int64_t outer, int64_t C, int64_t inner,
                                               int use_ignore, float ignore_label,
                                               double grad_scale, double norm,
                                               const long long *count, float beta,
                                               unsigned long long *bad) {
  if (norm <= 0) norm = *count > 0 ? (double)*count : 1.0;
  float scale = (float)(grad_scale / norm);
  int64_t ign = mtk_label_int(ignore_label), ci = C * inner;
  MTK_FOR(e, outer * ci) {
    int64_t o = e / ci, rem = e - o * ci, c = rem / inner, i = rem - c * inner;
    int64_t li = o * inner + i, k = mtk_label_int(label[li]);
    if (use_ignore && k == ign) {
      if (beta == 0.0f) grad[e] = 0.0f;
      continue;
    }
    if (c == 0 && (k < 0 || k >= C)) atomicMin(bad, (unsigned long long)li);
    float v = __fmul_rn(scale, p[e]);
    float g = beta == 0.0f ? v : __fadd_rn(grad[e], v);
    if (c == k) g = __fsub_rn(g, scale);
    grad[e] = g;
  }
}

extern "C" int mtk_cuda_softmax_output_grad(int dev, float *grad, const float *p,
                                            const float *label, int64_t outer, int64_t C,
                                            int64_t inner, int use_ignore, float ignore_label,
                                            double grad_scale, double norm, float beta,
                                            int64_t *bad, float *bad_label) {
  MT_TRY(mtk_set_device(dev));
  *bad = -1;
  int64_t n = outer * C * inner;
  if (n <= 0) return 0;
  void *scratch;
  MT_TRY(mtk_scratch(dev, &scratch));
  unsigned long long *dbad = (unsigned long long *)scratch;
  long long *dcount = (long long *)scratch + 1;
  MT_CHECK_CUDA(cudaMemsetAsync(dbad, 0xFF, sizeof *dbad, mtk_stream(dev))); /* no bad label yet */
  if (norm <= 0) {
    mtk_count_label_not_kernel<<<1, mtk_reduce_threads(outer * inner), 0, mtk_stream(dev)>>>(
        dcount, label, outer * inner, ignore_label);
    MT_CHECK_LAUNCH();
  }
  mtk_softmax_output_grad_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(
      grad, p, label, outer, C, inner, use_ignore, ignore_label, grad_scale, norm, dcount, beta,
      dbad);
  MT_CHECK_LAUNCH();
  unsigned long long hbad;
  MT_CHECK_CUDA(mtk_memcpy(&hbad, dbad, sizeof hbad, cudaMemcpyDeviceToHost, mtk_stream(dev)));
  if (hbad != ~0ULL) {
    *bad = (int64_t)hbad;
    if (bad_label)
      MT_CHECK_CUDA(mtk_memcpy(bad_label, label + hbad, sizeof(float), cudaMemcpyDeviceToHost,
                               mtk_stream(dev)));
  }
  return 0;
}

/* ---- regression outputs ---- */

// out = 1 / (1 + exp(-x)) without overflow (mtk_sigmoid).
__global__ void mtk_sigmoid_kernel(float *out, const float *x, int64_t n) {
  MTK_FOR(i, n) {
    float v = x[i];
    if (v >= 0.0f) {
      out[i] = 1.0f / (1.0f + expf(-v));
    } else {
      float e = expf(v);
      out[i] = e / (1.0f + e);
    }
  }
}

// grad = scale * f(out - label) + beta * grad, f = identity or sign.
__global__ void mtk_regression_grad_kernel(float *grad, const float *out, const float *label,
                                           int64_t n, float scale, int use_sign, float beta) {
  MTK_FOR(i, n) {
    float d = __fsub_rn(out[i], label[i]);
    if (use_sign) d = (float)((d > 0.0f) - (d < 0.0f));
    grad[i] = __fadd_rn(__fmul_rn(scale, d), beta == 0.0f ? 0.0f : __fmul_rn(beta, grad[i]));
  }
}

extern "C" int mtk_cuda_sigmoid(int dev, float *out, const float *x, int64_t n) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_sigmoid_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(out, x, n);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_regression_grad(int dev, float *grad, const float *out, const float *label,
                                        int64_t n, float scale, int use_sign, float beta) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_regression_grad_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(
      grad, out, label, n, scale, use_sign, beta);
  MT_CHECK_LAUNCH();
  return 0;
}
