// elementwise.cu — CUDA mirrors of kernels/cpu/elementwise.c used by the ops
// (Flatten, elemwise_add, ElementWiseSum, regression outputs, BatchNorm's
// inference path) and of kernels/cpu/shape_ops.c (Concat). One thread per
// element over contiguous float32 buffers; results equal the CPU loops bit
// for bit (single additions, and 1 * x or 0-free forms where beta is used).
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

__global__ void mtk_copy_beta_kernel(float *y, const float *x, int64_t n, float beta) {
  MTK_FOR(i, n) y[i] = x[i] + beta * y[i];
}

__global__ void mtk_add_kernel(float *out, const float *a, const float *b, int64_t n, int acc) {
  MTK_FOR(i, n) {
    float s = a[i] + b[i];
    out[i] = acc ? out[i] + s : s;
  }
}

__global__ void mtk_axpy_kernel(float *y, float a, const float *x, int64_t n) {
  MTK_FOR(i, n) y[i] = __fadd_rn(y[i], __fmul_rn(a, x[i]));
}

__global__ void mtk_scale_kernel(float *x, float a, int64_t n) { MTK_FOR(i, n) x[i] *= a; }

extern "C" int mtk_cuda_copy_beta(int dev, float *y, const float *x, int64_t n, float beta) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  if (beta == 0.0f) {
    if (y != x)
      MT_CHECK_CUDA(cudaMemcpyAsync(y, x, (size_t)n * sizeof(float), cudaMemcpyDeviceToDevice,
                                    mtk_stream(dev)));
    return 0;
  }
  mtk_copy_beta_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(y, x, n, beta);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_add(int dev, float *out, const float *a, const float *b, int64_t n,
                            float beta) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_add_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(out, a, b, n, beta != 0.0f);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_axpy(int dev, float *y, float a, const float *x, int64_t n) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_axpy_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(y, a, x, n);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_scale(int dev, float *x, float a, int64_t n) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_scale_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(x, a, n);
  MT_CHECK_LAUNCH();
  return 0;
}

/* ---- Concat (layout in kernels/cpu/shape_ops.h) ---- */

// out[outer, total, inner][:, offset : offset + cols, :] = in[outer, cols, inner]
__global__ void mtk_concat_copy_kernel(float *out, const float *in, int64_t outer,
                                       int64_t total_cols, int64_t offset, int64_t block,
                                       int64_t inner) {
  MTK_FOR(k, outer * block) {
    int64_t o = k / block, j = k - o * block;
    out[(o * total_cols + offset) * inner + j] = in[k];
  }
}

// din[outer, cols, inner] = dout[:, offset : offset + cols, :] + beta * din
__global__ void mtk_concat_grad_kernel(float *din, const float *dout, int64_t outer,
                                       int64_t total_cols, int64_t offset, int64_t block,
                                       int64_t inner, float beta) {
  MTK_FOR(k, outer * block) {
    int64_t o = k / block, j = k - o * block;
    float v = dout[(o * total_cols + offset) * inner + j];
    din[k] = beta == 0.0f ? v : v + beta * din[k];
  }
}

extern "C" int mtk_cuda_concat_copy(int dev, float *out, const float *in, int64_t outer,
                                    int64_t total_cols, int64_t offset, int64_t cols,
                                    int64_t inner) {
  MT_TRY(mtk_set_device(dev));
  int64_t block = cols * inner, n = outer * block;
  if (n <= 0) return 0;
  mtk_concat_copy_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(
      out, in, outer, total_cols, offset, block, inner);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_concat_grad(int dev, float *din, const float *dout, int64_t outer,
                                    int64_t total_cols, int64_t offset, int64_t cols, int64_t inner,
                                    float beta) {
  MT_TRY(mtk_set_device(dev));
  int64_t block = cols * inner, n = outer * block;
  if (n <= 0) return 0;
  mtk_concat_grad_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(
      din, dout, outer, total_cols, offset, block, inner, beta);
  MT_CHECK_LAUNCH();
  return 0;
}
