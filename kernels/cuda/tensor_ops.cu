// tensor_ops.cu — CUDA mirrors of kernels/cpu/tensor_ops.c (transpose,
// SliceChannel's block copies, softmax / log_softmax with temperature,
// elemwise mul / sub, the scalar ops, MakeLoss's and BlockGrad's constant
// gradients). Elementwise kernels round each operation on their own
// (__f*_rn: no FMA contraction), so they equal the CPU's bits. Softmax runs
// one block per (outer, inner) row: max and sums with fixed-order trees
// (sums in double), so results are deterministic; they differ from the
// CPU's double-precision exp by the device expf's rounding. No float
// atomics anywhere.
#include <math.h>

#include "kernels/cpu/tensor_ops.h" /* mtk_scalar_op */
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

// ------------------------------------------------------------- transpose

// out's dims od[] and x's stride st[] of each of out's axes.
struct mtk_perm {
  int ndim;
  int64_t od[6], st[6];
};

__global__ void mtk_transpose_kernel(float *out, const float *x, int64_t n, mtk_perm p,
                                     float beta) {
  MTK_FOR(e, n) {
    int64_t r = e, off = 0;
    for (int d = p.ndim - 1; d >= 0; d--) {
      int64_t q = r / p.od[d];
      off += (r - q * p.od[d]) * p.st[d];
      r = q;
    }
    float v = x[off];
    out[e] = beta == 0.0f ? v : __fadd_rn(v, __fmul_rn(beta, out[e]));
  }
}

extern "C" int mtk_cuda_transpose(int dev, float *out, const float *x, int ndim,
                                  const int64_t *dims, const int *axes, float beta) {
  MT_TRY(mtk_set_device(dev));
  if (ndim < 1 || ndim > 6)
    return mt_error_set(MT_E_INVAL, "mtk_cuda_transpose: %d axes (1 to 6 supported)", ndim);
  mtk_perm p;
  p.ndim = ndim;
  int64_t xs[6], s = 1, n = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    xs[d] = s;
    s *= dims[d];
  }
  for (int d = 0; d < ndim; d++) {
    p.od[d] = dims[axes[d]];
    p.st[d] = xs[axes[d]];
    n *= p.od[d];
  }
  if (n <= 0) return 0;
  mtk_transpose_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(out, x, n, p, beta);
  MT_CHECK_LAUNCH();
  return 0;
}

// ------------------------------------------------------------ block copy

__global__ void mtk_block_copy_kernel(float *dst, const float *src, int64_t outer, int64_t dst_cols,
                                      int64_t dst_off, int64_t src_cols, int64_t src_off,
                                      int64_t cols, int64_t inner, float beta) {
  int64_t len = cols * inner;
  MTK_FOR(e, outer * len) {
    int64_t o = e / len, r = e - o * len;
    float v = src[(o * src_cols + src_off) * inner + r];
    float *d = dst + (o * dst_cols + dst_off) * inner + r;
    *d = beta == 0.0f ? v : __fadd_rn(v, __fmul_rn(beta, *d));
  }
}

extern "C" int mtk_cuda_block_copy(int dev, float *dst, const float *src, int64_t outer,
                                   int64_t dst_cols, int64_t dst_off, int64_t src_cols,
                                   int64_t src_off, int64_t cols, int64_t inner, float beta) {
  MT_TRY(mtk_set_device(dev));
  int64_t n = outer * cols * inner;
  if (n <= 0) return 0;
  mtk_block_copy_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(
      dst, src, outer, dst_cols, dst_off, src_cols, src_off, cols, inner, beta);
  MT_CHECK_LAUNCH();
  return 0;
}

// --------------------------------------------------------------- softmax

// Block-wide max in a fixed tree (blockDim.x a power of two, sh of blockDim.x).
__device__ inline float mtk_block_max(float v, float *sh) {
  unsigned t = threadIdx.x;
  sh[t] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] = fmaxf(sh[t], sh[t + s]);
    __syncthreads();
  }
  float r = sh[0];
  __syncthreads();
  return r;
}

// out = softmax (or log_softmax) of x / T over C, one block per row r of
// the outer * inner rows (grid-stride over rows).
__global__ void mtk_softmax_t_kernel(float *out, const float *x, int64_t rows, int64_t C,
                                     int64_t inner, float T, int use_log) {
  __shared__ float smax[256];
  __shared__ double ssum[256];
  unsigned t = threadIdx.x, B = blockDim.x;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    int64_t o = r / inner, i = r - o * inner;
    const float *xs = x + o * C * inner + i;
    float *ys = out + o * C * inner + i;
    float mx = -INFINITY;
    for (int64_t c = t; c < C; c += B) mx = fmaxf(mx, xs[c * inner]);
    mx = mtk_block_max(mx, smax);
    double sum = 0;
    for (int64_t c = t; c < C; c += B) sum += expf(__fdiv_rn(__fsub_rn(xs[c * inner], mx), T));
    sum = mtk_block_sum(sum, ssum);
    if (use_log) {
      float ls = (float)log(sum);
      for (int64_t c = t; c < C; c += B)
        ys[c * inner] = __fsub_rn(__fdiv_rn(__fsub_rn(xs[c * inner], mx), T), ls);
    } else {
      float inv = (float)(1.0 / sum);
      for (int64_t c = t; c < C; c += B)
        ys[c * inner] = __fmul_rn(expf(__fdiv_rn(__fsub_rn(xs[c * inner], mx), T)), inv);
    }
  }
}

// dx = y * (dy - sum dy * y) / T (softmax) or (dy - exp(y) * sum dy) / T
// (log_softmax), + beta * dx.
__global__ void mtk_softmax_t_grad_kernel(float *dx, const float *dy, const float *y, int64_t rows,
                                          int64_t C, int64_t inner, float T, int use_log,
                                          float beta) {
  __shared__ double ssum[256];
  unsigned t = threadIdx.x, B = blockDim.x;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    int64_t o = r / inner, i = r - o * inner, b = o * C * inner + i;
    double s = 0;
    for (int64_t c = t; c < C; c += B)
      s += use_log ? (double)dy[b + c * inner] : (double)dy[b + c * inner] * y[b + c * inner];
    s = mtk_block_sum(s, ssum);
    for (int64_t c = t; c < C; c += B) {
      int64_t k = b + c * inner;
      double g = use_log ? ((double)dy[k] - exp((double)y[k]) * s) / T
                         : (double)y[k] * ((double)dy[k] - s) / T;
      dx[k] = beta == 0.0f ? (float)g : __fadd_rn((float)g, __fmul_rn(beta, dx[k]));
    }
  }
}

static int softmax_grid(int64_t rows, const char *what, unsigned *grid) {
  if (rows <= 0) return mt_error_set(MT_E_INVAL, "%s: no rows", what);
  *grid = (unsigned)(rows < 65535 ? rows : 65535);
  return 0;
}

extern "C" int mtk_cuda_softmax_t(int dev, float *out, const float *x, int64_t outer, int64_t C,
                                  int64_t inner, float temperature, int use_log) {
  MT_TRY(mtk_set_device(dev));
  int64_t rows = outer * inner;
  if (C <= 0 || rows <= 0) return 0;
  unsigned grid;
  MT_TRY(softmax_grid(rows, "mtk_cuda_softmax_t", &grid));
  mtk_softmax_t_kernel<<<grid, mtk_reduce_threads(C), 0, mtk_stream(dev)>>>(out, x, rows, C, inner,
                                                                            temperature, use_log);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_softmax_t_grad(int dev, float *dx, const float *dy, const float *y,
                                       int64_t outer, int64_t C, int64_t inner, float temperature,
                                       int use_log, float beta) {
  MT_TRY(mtk_set_device(dev));
  int64_t rows = outer * inner;
  if (C <= 0 || rows <= 0) return 0;
  unsigned grid;
  MT_TRY(softmax_grid(rows, "mtk_cuda_softmax_t_grad", &grid));
  mtk_softmax_t_grad_kernel<<<grid, mtk_reduce_threads(C), 0, mtk_stream(dev)>>>(
      dx, dy, y, rows, C, inner, temperature, use_log, beta);
  MT_CHECK_LAUNCH();
  return 0;
}

// ------------------------------------------------------------ elementwise

__global__ void mtk_mul_kernel(float *out, const float *a, const float *b, int64_t n, float beta) {
  MTK_FOR(i, n) {
    float v = __fmul_rn(a[i], b[i]);
    out[i] = beta == 0.0f ? v : __fadd_rn(v, __fmul_rn(beta, out[i]));
  }
}

__global__ void mtk_sub_kernel(float *out, const float *a, const float *b, int64_t n, float beta) {
  MTK_FOR(i, n) {
    float v = __fsub_rn(a[i], b[i]);
    out[i] = beta == 0.0f ? v : __fadd_rn(v, __fmul_rn(beta, out[i]));
  }
}

__global__ void mtk_scalar_kernel(float *out, const float *x, int64_t n, int op, float s,
                                  float beta) {
  MTK_FOR(i, n) {
    float v = op == MTK_SCALAR_PLUS    ? __fadd_rn(x[i], s)
              : op == MTK_SCALAR_MINUS ? __fsub_rn(x[i], s)
              : op == MTK_SCALAR_MUL   ? __fmul_rn(x[i], s)
                                       : __fdiv_rn(x[i], s);
    out[i] = beta == 0.0f ? v : __fadd_rn(v, __fmul_rn(beta, out[i]));
  }
}

// out = v / d + beta * out, d = 1 or max(1, *count).
__global__ void mtk_fill_beta_kernel(float *out, int64_t n, float v, const long long *count,
                                     float beta) {
  float w = count ? __fdiv_rn(v, (float)(*count > 0 ? *count : 1)) : v;
  MTK_FOR(i, n) out[i] = beta == 0.0f ? w : __fadd_rn(w, __fmul_rn(beta, out[i]));
}

// count[0] = number of x[i] > thresh; one block, fixed-order sum.
__global__ void mtk_count_greater_kernel(long long *count, const float *x, int64_t n,
                                         float thresh) {
  __shared__ long long sh[256];
  long long k = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) k += x[i] > thresh;
  k = mtk_block_sum(k, sh);
  if (threadIdx.x == 0) *count = k;
}

extern "C" int mtk_cuda_mul(int dev, float *out, const float *a, const float *b, int64_t n,
                            float beta) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_mul_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(out, a, b, n, beta);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_sub(int dev, float *out, const float *a, const float *b, int64_t n,
                            float beta) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_sub_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(out, a, b, n, beta);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_scalar(int dev, float *out, const float *x, int64_t n, int op, float s,
                               float beta) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_scalar_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(out, x, n, op, s, beta);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_fill_beta(int dev, float *out, int64_t n, float v, float beta) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_fill_beta_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(out, n, v, NULL, beta);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_make_loss_grad(int dev, float *out, int64_t n, float v,
                                       const float *thresh_x, float thresh, float beta) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  long long *count = NULL;
  if (thresh_x) {
    void *p;
    MT_TRY(mtk_scratch(dev, &p));
    count = (long long *)p;
    mtk_count_greater_kernel<<<1, mtk_reduce_threads(n), 0, mtk_stream(dev)>>>(count, thresh_x, n,
                                                                               thresh);
    MT_CHECK_LAUNCH();
  }
  mtk_fill_beta_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(out, n, v, count, beta);
  MT_CHECK_LAUNCH();
  return 0;
}
