// cudnn_pool.cu — Pooling forward and backward (cudnn_kernels.h), through
// cuDNN where cuDNN computes MXNet's result, else through the two kernels
// below.
//
// MXNet's windows (src/operator/nn/pool.h): output o's window starts at
// o * stride - pad and spans `kernel` cells, clipped to the padded input
// [-pad, size + pad); max and sum look at the cells inside the input; avg
// divides the sum by the clipped window's size (count_include_pad, MXNet's
// default) or by the number of its cells inside the input. cuDNN has the
// same windows with symmetric padding and an output of
// floor((size + 2 pad - kernel) / stride) + 1: there a window never passes
// size + pad, so its AVERAGE_COUNT_INCLUDE_PADDING divisor kernel_h *
// kernel_w is MXNet's. cuDNN is used when the caller's output size is that
// floor size (pooling_convention 'valid', global pooling, and 'full' where
// it comes out the same) and pad < kernel:
//   max  CUDNN_POOLING_MAX_DETERMINISTIC (the backward is deterministic)
//   avg  AVERAGE_COUNT_INCLUDE_PADDING / AVERAGE_COUNT_EXCLUDE_PADDING
//   sum  AVERAGE_COUNT_INCLUDE_PADDING with alpha = kernel_h * kernel_w
// Otherwise ('full' with windows clipped at the right or bottom edge, or a
// pad as large as the kernel, where a window can lie wholly in the padding)
// mtk_pool_fwd_kernel / mtk_pool_bwd_kernel compute MXNet's formulas: one
// thread per output, and for the backward one thread per input cell that
// gathers from the outputs whose windows hold it, in a fixed order (no
// atomics). A window with no cell inside the input gives max -FLT_MAX
// (MXNet's) and avg 0.
#include <float.h>
#include <string.h>

#include <new>
#include <vector>

#include "kernels/cuda/cudnn_common.cuh"
#include "kernels/cuda/cudnn_kernels.h"
#include "kernels/cuda/launch.cuh"

namespace {

struct pool_plan {
  int dev;
  mtk_pool_desc d;
  int use_cudnn;
  float alpha; // kernel_h * kernel_w for sum, else 1
  cudnnTensorDescriptor_t x, y;
  cudnnPoolingDescriptor_t pool;
};

std::vector<pool_plan *> plans;

void plan_free(pool_plan *p) {
  if (p->x) MT_WARN_CUDNN(cudnnDestroyTensorDescriptor(p->x));
  if (p->y) MT_WARN_CUDNN(cudnnDestroyTensorDescriptor(p->y));
  if (p->pool) MT_WARN_CUDNN(cudnnDestroyPoolingDescriptor(p->pool));
  delete p;
}

int check_desc(const mtk_pool_desc *d) {
  if (d->n < 1 || d->c < 1 || d->h < 1 || d->w < 1 || d->kh < 1 || d->kw < 1 || d->sh < 1 ||
      d->sw < 1 || d->ph < 0 || d->pw < 0 || d->oh < 1 || d->ow < 1 ||
      (d->type != MTK_POOL_MAX && d->type != MTK_POOL_AVG && d->type != MTK_POOL_SUM))
    return mt_error_set(MT_E_INVAL,
                        "Pooling on the GPU: bad geometry: input (%d, %d, %d, %d), kernel "
                        "(%d, %d), stride (%d, %d), pad (%d, %d), output (%d, %d), type %d",
                        d->n, d->c, d->h, d->w, d->kh, d->kw, d->sh, d->sw, d->ph, d->pw, d->oh,
                        d->ow, d->type);
  return 0;
}

int plan_init(pool_plan *p) {
  const mtk_pool_desc *d = &p->d;
  p->alpha = d->type == MTK_POOL_SUM ? (float)d->kh * (float)d->kw : 1.0f;
  // cuDNN's own output size: floor
  int64_t fh = ((int64_t)d->h + 2 * d->ph - d->kh) / d->sh + 1;
  int64_t fw = ((int64_t)d->w + 2 * d->pw - d->kw) / d->sw + 1;
  if (fh != d->oh || fw != d->ow || d->h + 2 * d->ph < d->kh || d->w + 2 * d->pw < d->kw ||
      d->ph >= d->kh || d->pw >= d->kw)
    return 0; // the hand kernels
  cudnnPoolingMode_t mode = d->type == MTK_POOL_MAX   ? CUDNN_POOLING_MAX_DETERMINISTIC
                            : d->type == MTK_POOL_SUM ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                            : d->count_include_pad    ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                                      : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
  MT_TRY(mtk_cudnn_tensor(&p->x, d->n, d->c, d->h, d->w));
  MT_TRY(mtk_cudnn_tensor(&p->y, d->n, d->c, d->oh, d->ow));
  MT_CHECK_CUDNN(cudnnCreatePoolingDescriptor(&p->pool));
  MT_CHECK_CUDNN(cudnnSetPooling2dDescriptor(p->pool, mode, CUDNN_NOT_PROPAGATE_NAN, d->kh, d->kw,
                                             d->ph, d->pw, d->sh, d->sw));
  int n, c, h, w;
  MT_CHECK_CUDNN(cudnnGetPooling2dForwardOutputDim(p->pool, p->x, &n, &c, &h, &w));
  if (n != d->n || c != d->c || h != d->oh || w != d->ow)
    return mt_error_set(MT_E_SHAPE,
                        "Pooling on the GPU: cuDNN makes the output (%d, %d, %d, %d), "
                        "(%d, %d, %d, %d) expected",
                        n, c, h, w, d->n, d->c, d->oh, d->ow);
  p->use_cudnn = 1;
  return 0;
}

int plan_get(int dev, const mtk_pool_desc *d, pool_plan **out) {
  for (pool_plan *p : plans)
    if (p->dev == dev && !memcmp(&p->d, d, sizeof *d)) {
      *out = p;
      return 0;
    }
  pool_plan *p = new (std::nothrow) pool_plan();
  if (!p) return mt_error_set(MT_E_NOMEM, "out of memory at %s:%d", __FILE__, __LINE__);
  p->dev = dev;
  p->d = *d;
  int rc = plan_init(p);
  if (rc < 0) {
    plan_free(p);
    return rc;
  }
  plans.push_back(p);
  *out = p;
  return 0;
}

__device__ inline int imin(int a, int b) { return a < b ? a : b; }
__device__ inline int imax(int a, int b) { return a > b ? a : b; }

// Output (oy, ox)'s window: [*hs, *he) x [*ws, *we) inside the input, and
// avg's divisor in *cnt (0: no cell counts).
__device__ inline void pool_window(const mtk_pool_desc &d, int oy, int ox, int *hs, int *he,
                                   int *ws, int *we, int *cnt) {
  int h0 = oy * d.sh - d.ph, w0 = ox * d.sw - d.pw;
  int h1 = imin(h0 + d.kh, d.h + d.ph), w1 = imin(w0 + d.kw, d.w + d.pw);
  *hs = imax(h0, 0);
  *ws = imax(w0, 0);
  *he = imin(h1, d.h);
  *we = imin(w1, d.w);
  int ch = d.count_include_pad ? h1 - h0 : *he - *hs,
      cw = d.count_include_pad ? w1 - w0 : *we - *ws;
  *cnt = ch > 0 && cw > 0 ? ch * cw : 0;
}

} // namespace

__global__ void mtk_pool_fwd_kernel(mtk_pool_desc d, const float *x, float *y) {
  int64_t total = (int64_t)d.n * d.c * d.oh * d.ow;
  MTK_FOR(i, total) {
    int ox = (int)(i % d.ow), oy = (int)(i / d.ow % d.oh);
    const float *xp = x + i / ((int64_t)d.oh * d.ow) * d.h * d.w;
    int hs, he, ws, we, cnt;
    pool_window(d, oy, ox, &hs, &he, &ws, &we, &cnt);
    if (d.type == MTK_POOL_MAX) {
      float m = -FLT_MAX;
      for (int r = hs; r < he; r++)
        for (int s = ws; s < we; s++)
          if (xp[r * d.w + s] > m) m = xp[r * d.w + s];
      y[i] = m;
    } else {
      float sum = 0.0f;
      for (int r = hs; r < he; r++)
        for (int s = ws; s < we; s++) sum += xp[r * d.w + s];
      y[i] = d.type == MTK_POOL_SUM ? sum : cnt > 0 ? sum / (float)cnt : 0.0f;
    }
  }
}

// dx (+)= the gradient at each input cell, gathered over the outputs whose
// windows hold it (oy, then ox ascending); max routes to the first cell of
// the window (row-major) equal to the output, as MXNet's unpool does.
__global__ void mtk_pool_bwd_kernel(mtk_pool_desc d, const float *x, const float *y,
                                    const float *dy, float *dx, float beta) {
  int64_t total = (int64_t)d.n * d.c * d.h * d.w;
  MTK_FOR(i, total) {
    int ix = (int)(i % d.w), iy = (int)(i / d.w % d.h);
    int64_t plane = i / ((int64_t)d.h * d.w);
    const float *xp = x + plane * d.h * d.w;
    const float *yp = y + plane * d.oh * d.ow, *dyp = dy + plane * d.oh * d.ow;
    // o with o * s - p <= i < o * s - p + k
    int ay = iy + d.ph - d.kh + 1, ax = ix + d.pw - d.kw + 1;
    int oy0 = ay <= 0 ? 0 : (ay + d.sh - 1) / d.sh, ox0 = ax <= 0 ? 0 : (ax + d.sw - 1) / d.sw;
    int oy1 = imin((iy + d.ph) / d.sh, d.oh - 1), ox1 = imin((ix + d.pw) / d.sw, d.ow - 1);
    float g = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++)
      for (int ox = ox0; ox <= ox1; ox++) {
        int o = oy * d.ow + ox, hs, he, ws, we, cnt;
        pool_window(d, oy, ox, &hs, &he, &ws, &we, &cnt);
        if (d.type == MTK_POOL_MAX) {
          int at = -1;
          for (int r = hs; r < he && at < 0; r++)
            for (int s = ws; s < we; s++)
              if (xp[r * d.w + s] == yp[o]) {
                at = r * d.w + s;
                break;
              }
          if (at == iy * d.w + ix) g += dyp[o];
        } else if (d.type == MTK_POOL_SUM) {
          g += dyp[o];
        } else if (cnt > 0) {
          g += dyp[o] / (float)cnt;
        }
      }
    dx[i] = beta == 0.0f ? g : beta * dx[i] + g;
  }
}

extern "C" int mtk_cuda_pool_forward(int dev, const mtk_pool_desc *d, const float *x, float *y) {
  MT_TRY(check_desc(d));
  std::lock_guard<std::mutex> lock(mtk_cudnn_lock());
  cudnnHandle_t h;
  MT_TRY(mtk_cudnn_handle(dev, &h));
  pool_plan *p;
  MT_TRY(plan_get(dev, d, &p));
  if (p->use_cudnn) {
    const float zero = 0.0f;
    MT_CHECK_CUDNN(cudnnPoolingForward(h, p->pool, &p->alpha, p->x, x, &zero, p->y, y));
    return 0;
  }
  const mtk_pool_desc g = *d; // by value: the launch may run after the caller's desc is gone
  int64_t total = (int64_t)g.n * g.c * g.oh * g.ow;
  mtk_pool_fwd_kernel<<<mtk_blocks(total), MTK_THREADS, 0, mtk_stream(dev)>>>(g, x, y);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_pool_backward(int dev, const mtk_pool_desc *d, const float *x,
                                      const float *y, const float *dy, float *dx, float beta) {
  MT_TRY(check_desc(d));
  std::lock_guard<std::mutex> lock(mtk_cudnn_lock());
  cudnnHandle_t h;
  MT_TRY(mtk_cudnn_handle(dev, &h));
  pool_plan *p;
  MT_TRY(plan_get(dev, d, &p));
  if (p->use_cudnn) {
    MT_CHECK_CUDNN(
        cudnnPoolingBackward(h, p->pool, &p->alpha, p->y, y, p->y, dy, p->x, x, &beta, p->x, dx));
    return 0;
  }
  const mtk_pool_desc g = *d;
  int64_t total = (int64_t)g.n * g.c * g.h * g.w;
  mtk_pool_bwd_kernel<<<mtk_blocks(total), MTK_THREADS, 0, mtk_stream(dev)>>>(g, x, y, dy, dx,
                                                                              beta);
  MT_CHECK_LAUNCH();
  return 0;
}
