// activation.cu — CUDA mirrors of kernels/cpu/activation.c: Activation
// (relu, sigmoid, tanh, softrelu, softsign) and LeakyReLU (leaky, elu),
// forward and backward, one thread per element. Same formulas as the CPU
// file (MXNet's mshadow_op.h); the device's expf/tanhf/log1pf differ from
// glibc's by an ulp or two, hence the tests' 1e-5 relative tolerance.
// Gradients: dx = dy * f'(.) + beta * dx, with dx never read when beta == 0.
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

// act: mtk_act_type order (relu, sigmoid, tanh, softrelu, softsign).
__device__ inline float mtk_act_f(int act, float x) {
  switch (act) {
  case 0: return x > 0.0f ? x : 0.0f;
  case 1: return 1.0f / (1.0f + expf(-x));
  case 2: return tanhf(x);
  case 3: return x > 20.0f ? x : log1pf(expf(x));
  default: return x / (1.0f + fabsf(x));
  }
}

__device__ inline float mtk_act_grad(int act, float x, float y) {
  switch (act) {
  case 0: return y > 0.0f ? 1.0f : 0.0f;
  case 1: return y * (1.0f - y);
  case 2: return 1.0f - y * y;
  case 3: return -expm1f(-y);
  default: {
    float d = 1.0f + fabsf(x);
    return 1.0f / (d * d);
  }
  }
}

__global__ void mtk_act_fwd_kernel(int act, const float *x, float *y, int64_t n) {
  MTK_FOR(i, n) y[i] = mtk_act_f(act, x[i]);
}

// x is read by softsign only, y by the others (the unused one may be NULL).
__global__ void mtk_act_bwd_kernel(int act, const float *dy, const float *x, const float *y,
                                   float *dx, int64_t n, float beta) {
  MTK_FOR(i, n) {
    float g = dy[i] * mtk_act_grad(act, act == 4 ? x[i] : 0.0f, act == 4 ? 0.0f : y[i]);
    dx[i] = beta == 0.0f ? g : g + beta * dx[i];
  }
}

__global__ void mtk_leaky_fwd_kernel(int act, float slope, const float *x, float *y, int64_t n) {
  MTK_FOR(i, n) {
    float v = x[i];
    y[i] = v > 0.0f ? v : (act == 1 ? slope * expm1f(v) : slope * v);
  }
}

__global__ void mtk_leaky_bwd_kernel(int act, float slope, const float *dy, const float *y,
                                     float *dx, int64_t n, float beta) {
  MTK_FOR(i, n) {
    float yv = y[i];
    float d = yv > 0.0f ? 1.0f : (act == 1 ? yv + slope : slope);
    float g = dy[i] * d;
    dx[i] = beta == 0.0f ? g : g + beta * dx[i];
  }
}

static int check_act(int act, int max, const char *what) {
  if (act < 0 || act > max) return mt_error_set(MT_E_INVAL, "%s: bad act_type %d", what, act);
  return 0;
}

extern "C" int mtk_cuda_activation_forward(int dev, int act, const float *x, float *y, int64_t n) {
  MT_TRY(check_act(act, 4, "mtk_cuda_activation_forward"));
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_act_fwd_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(act, x, y, n);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_activation_backward(int dev, int act, const float *dy, const float *x,
                                            const float *y, float *dx, int64_t n, float beta) {
  MT_TRY(check_act(act, 4, "mtk_cuda_activation_backward"));
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_act_bwd_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(act, dy, x, y, dx, n,
                                                                         beta);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_leaky_relu_forward(int dev, int act, float slope, const float *x, float *y,
                                           int64_t n) {
  MT_TRY(check_act(act, 1, "mtk_cuda_leaky_relu_forward"));
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_leaky_fwd_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(act, slope, x, y, n);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_leaky_relu_backward(int dev, int act, float slope, const float *dy,
                                            const float *y, float *dx, int64_t n, float beta) {
  MT_TRY(check_act(act, 1, "mtk_cuda_leaky_relu_backward"));
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_leaky_bwd_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(act, slope, dy, y, dx, n,
                                                                           beta);
  MT_CHECK_LAUNCH();
  return 0;
}

/* ---- FullyConnected's bias with the Activation after it (kernels/cpu/fused.h) ---- */

// y = act(y + b[col]) in place: the bits of mtk_add_bias_kernel then
// mtk_act_fwd_kernel (the same single addition, the same mtk_act_f).
__global__ void mtk_bias_act_fwd_kernel(int act, float *y, const float *b, int64_t rows,
                                        int64_t cols) {
  MTK_FOR(i, rows * cols) {
    float v = y[i];
    if (b) v += b[i % cols];
    y[i] = mtk_act_f(act, v);
  }
}

// One thread per column: g = dy * act'(y) down the column, and its sum, in
// the order of fully_connected.cu's mtk_sum_rows_kernel (explicit roundings:
// no multiply-add may form across the product and the sum).
__global__ void mtk_act_bias_bwd_kernel(int act, const float *dy, const float *y, float *g,
                                        float *db, int add, int64_t rows, int64_t cols) {
  int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float s = 0.0f;
  for (int64_t r = 0; r < rows; r++) {
    int64_t i = r * cols + c;
    float v = __fmul_rn(dy[i], mtk_act_grad(act, 0.0f, y[i]));
    g[i] = v;
    s = __fadd_rn(s, v);
  }
  if (db) db[c] = add ? db[c] + s : s;
}

extern "C" int mtk_cuda_bias_act_forward(int dev, int act, float *y, const float *bias,
                                         int64_t rows, int64_t cols) {
  MT_TRY(check_act(act, 3, "mtk_cuda_bias_act_forward"));
  MT_TRY(mtk_set_device(dev));
  int64_t n = rows * cols;
  if (n <= 0) return 0;
  mtk_bias_act_fwd_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(act, y, bias, rows,
                                                                              cols);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_act_bias_backward(int dev, int act, const float *dy, const float *y,
                                          float *g, float *db, float beta_db, int64_t rows,
                                          int64_t cols) {
  MT_TRY(check_act(act, 3, "mtk_cuda_act_bias_backward"));
  MT_TRY(mtk_set_device(dev));
  if (rows <= 0 || cols <= 0) {
    if (db && cols > 0 && beta_db == 0.0f)
      MT_CHECK_CUDA(cudaMemsetAsync(db, 0, (size_t)cols * sizeof(float), mtk_stream(dev)));
    return 0;
  }
  if (!db) { /* no bias gradient: the elementwise kernel, every thread busy */
    mtk_act_bwd_kernel<<<mtk_blocks(rows * cols), MTK_THREADS, 0, mtk_stream(dev)>>>(
        act, dy, NULL, y, g, rows * cols, 0.0f);
    MT_CHECK_LAUNCH();
    return 0;
  }
  mtk_act_bias_bwd_kernel<<<(unsigned)((cols + 255) / 256), 256, 0, mtk_stream(dev)>>>(
      act, dy, y, g, db, beta_db != 0.0f, rows, cols);
  MT_CHECK_LAUNCH();
  return 0;
}
