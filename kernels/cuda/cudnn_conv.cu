// cudnn_conv.cu — Convolution forward and backward through cuDNN
// (cudnn_kernels.h): cudnnConvolutionForward + cudnnAddTensor for the bias,
// cudnnConvolutionBackwardData, BackwardFilter and BackwardBias; groups
// through cudnnSetConvolutionGroupCount, dilation through the convolution
// descriptor; cross-correlation, as MXNet's Convolution.
//
// Per geometry (the whole mtk_conv_desc) and device, a plan is made once
// and kept: the descriptors, and for each direction on its first use the
// algorithm and its workspace size.
//
// Exactness and determinism, the GPU path's guarantees (docs/gpu.md):
//   - math type CUDNN_FMA_MATH: float32 FMA kernels only. CUDNN_DEFAULT_MATH
//     would let cuDNN use TF32 tensor cores on Ampere and later (a 10-bit
//     mantissa for the products), which the CPU path never does;
//   - the algorithm comes from cudnnGet*Algorithm_v7 (cuDNN's heuristics,
//     the same answer on every run on one card and version), not from
//     cudnnFind* (timed runs: the choice, and with it the bits, could change
//     from run to run); of its ranked list the first that reports
//     CUDNN_DETERMINISTIC and no tensor-op math, with a workspace up to
//     MTK_CUDNN_WS_LIMIT when one is offered, is taken (the backward
//     algorithms with atomics are non-deterministic and skipped);
//   - workspaces: cudnn_common.cuh's per-device, per-stream buffers.
#include <string.h>

#include <new>
#include <vector>

#include "kernels/cuda/cudnn_common.cuh"
#include "kernels/cuda/cudnn_kernels.h"

namespace {

const size_t MTK_CUDNN_WS_LIMIT = (size_t)1 << 30;

struct conv_plan {
  int dev;
  mtk_conv_desc d;
  cudnnTensorDescriptor_t x, y, b;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  int have_fwd, have_bwd_data, have_bwd_filter;
  cudnnConvolutionFwdAlgo_t fwd;
  cudnnConvolutionBwdDataAlgo_t bwd_data;
  cudnnConvolutionBwdFilterAlgo_t bwd_filter;
  size_t fwd_ws, bwd_data_ws, bwd_filter_ws;
};

std::vector<conv_plan *> plans;
long long algo_queries;

void plan_free(conv_plan *p) {
  if (p->x) MT_WARN_CUDNN(cudnnDestroyTensorDescriptor(p->x));
  if (p->y) MT_WARN_CUDNN(cudnnDestroyTensorDescriptor(p->y));
  if (p->b) MT_WARN_CUDNN(cudnnDestroyTensorDescriptor(p->b));
  if (p->w) MT_WARN_CUDNN(cudnnDestroyFilterDescriptor(p->w));
  if (p->conv) MT_WARN_CUDNN(cudnnDestroyConvolutionDescriptor(p->conv));
  delete p;
}

int check_desc(const mtk_conv_desc *d) {
  if (d->n < 1 || d->c < 1 || d->h < 1 || d->w < 1 || d->k < 1 || d->kh < 1 || d->kw < 1 ||
      d->sh < 1 || d->sw < 1 || d->ph < 0 || d->pw < 0 || d->dh < 1 || d->dw < 1 || d->groups < 1 ||
      d->c % d->groups || d->k % d->groups)
    return mt_error_set(MT_E_INVAL,
                        "Convolution on the GPU: bad geometry: input (%d, %d, %d, %d), %d "
                        "filters %dx%d, stride (%d, %d), pad (%d, %d), dilate (%d, %d), "
                        "%d groups",
                        d->n, d->c, d->h, d->w, d->k, d->kh, d->kw, d->sh, d->sw, d->ph, d->pw,
                        d->dh, d->dw, d->groups);
  int64_t oh = ((int64_t)d->h + 2 * d->ph - (int64_t)d->dh * (d->kh - 1) - 1) / d->sh + 1;
  int64_t ow = ((int64_t)d->w + 2 * d->pw - (int64_t)d->dw * (d->kw - 1) - 1) / d->sw + 1;
  if (oh != d->oh || ow != d->ow || oh < 1 || ow < 1)
    return mt_error_set(MT_E_SHAPE,
                        "Convolution on the GPU: output (%d, %d) given, the geometry makes "
                        "(%lld, %lld)",
                        d->oh, d->ow, (long long)oh, (long long)ow);
  return 0;
}

int plan_init(conv_plan *p) {
  const mtk_conv_desc *d = &p->d;
  MT_TRY(mtk_cudnn_tensor(&p->x, d->n, d->c, d->h, d->w));
  MT_TRY(mtk_cudnn_tensor(&p->y, d->n, d->k, d->oh, d->ow));
  MT_TRY(mtk_cudnn_tensor(&p->b, 1, d->k, 1, 1));
  MT_CHECK_CUDNN(cudnnCreateFilterDescriptor(&p->w));
  MT_CHECK_CUDNN(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d->k,
                                            d->c / d->groups, d->kh, d->kw));
  MT_CHECK_CUDNN(cudnnCreateConvolutionDescriptor(&p->conv));
  MT_CHECK_CUDNN(cudnnSetConvolution2dDescriptor(p->conv, d->ph, d->pw, d->sh, d->sw, d->dh, d->dw,
                                                 CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  MT_CHECK_CUDNN(cudnnSetConvolutionGroupCount(p->conv, d->groups));
  MT_CHECK_CUDNN(cudnnSetConvolutionMathType(p->conv, CUDNN_FMA_MATH));
  int n, c, h, w;
  MT_CHECK_CUDNN(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &c, &h, &w));
  if (n != d->n || c != d->k || h != d->oh || w != d->ow)
    return mt_error_set(MT_E_SHAPE,
                        "Convolution on the GPU: cuDNN makes the output (%d, %d, %d, %d), "
                        "(%d, %d, %d, %d) expected",
                        n, c, h, w, d->n, d->k, d->oh, d->ow);
  return 0;
}

// The plan of (dev, d), made now if new.
int plan_get(int dev, const mtk_conv_desc *d, conv_plan **out) {
  for (conv_plan *p : plans)
    if (p->dev == dev && !memcmp(&p->d, d, sizeof *d)) {
      *out = p;
      return 0;
    }
  conv_plan *p = new (std::nothrow) conv_plan();
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

// Index in perf[0, n) of the algorithm to use (see the top), -1 if none.
template <class Perf> int pick(const Perf *perf, int n) {
  int first = -1;
  for (int i = 0; i < n; i++) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].determinism != CUDNN_DETERMINISTIC ||
        perf[i].mathType == CUDNN_TENSOR_OP_MATH ||
        perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
      continue;
    if (perf[i].memory <= MTK_CUDNN_WS_LIMIT) return i;
    if (first < 0) first = i;
  }
  return first;
}

int no_algo(const conv_plan *p, const char *what) {
  const mtk_conv_desc *d = &p->d;
  return mt_error_set(MT_E_CUDA,
                      "Convolution on gpu(%d): cuDNN offers no deterministic float32 %s "
                      "algorithm for input (%d, %d, %d, %d), %d filters %dx%d, %d groups",
                      p->dev, what, d->n, d->c, d->h, d->w, d->k, d->kh, d->kw, d->groups);
}

int choose_fwd(cudnnHandle_t h, conv_plan *p) {
  if (p->have_fwd) return 0;
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int n = 0;
  algo_queries++;
  MT_CHECK_CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(
      h, p->x, p->w, p->conv, p->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
  int i = pick(perf, n);
  if (i < 0) return no_algo(p, "forward");
  MT_CHECK_CUDNN(cudnnGetConvolutionForwardWorkspaceSize(h, p->x, p->w, p->conv, p->y, perf[i].algo,
                                                         &p->fwd_ws));
  p->fwd = perf[i].algo;
  p->have_fwd = 1;
  return 0;
}

int choose_bwd_data(cudnnHandle_t h, conv_plan *p) {
  if (p->have_bwd_data) return 0;
  cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
  int n = 0;
  algo_queries++;
  MT_CHECK_CUDNN(cudnnGetConvolutionBackwardDataAlgorithm_v7(
      h, p->w, p->y, p->conv, p->x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
  int i = pick(perf, n);
  if (i < 0) return no_algo(p, "backward-data");
  MT_CHECK_CUDNN(cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->w, p->y, p->conv, p->x,
                                                              perf[i].algo, &p->bwd_data_ws));
  p->bwd_data = perf[i].algo;
  p->have_bwd_data = 1;
  return 0;
}

int choose_bwd_filter(cudnnHandle_t h, conv_plan *p) {
  if (p->have_bwd_filter) return 0;
  cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
  int n = 0;
  algo_queries++;
  MT_CHECK_CUDNN(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
      h, p->x, p->y, p->conv, p->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
  int i = pick(perf, n);
  if (i < 0) return no_algo(p, "backward-filter");
  MT_CHECK_CUDNN(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p->x, p->y, p->conv, p->w,
                                                                perf[i].algo, &p->bwd_filter_ws));
  p->bwd_filter = perf[i].algo;
  p->have_bwd_filter = 1;
  return 0;
}

} // namespace

extern "C" int mtk_cuda_conv_forward(int dev, const mtk_conv_desc *d, const float *x,
                                     const float *w, const float *bias, float *y) {
  MT_TRY(check_desc(d));
  std::lock_guard<std::mutex> lock(mtk_cudnn_lock());
  cudnnHandle_t h;
  MT_TRY(mtk_cudnn_handle(dev, &h));
  conv_plan *p;
  MT_TRY(plan_get(dev, d, &p));
  MT_TRY(choose_fwd(h, p));
  void *ws;
  MT_TRY(mtk_cudnn_workspace(dev, p->fwd_ws, &ws));
  const float one = 1.0f, zero = 0.0f;
  MT_CHECK_CUDNN(cudnnConvolutionForward(h, &one, p->x, x, p->w, w, p->conv, p->fwd, ws, p->fwd_ws,
                                         &zero, p->y, y));
  if (bias) MT_CHECK_CUDNN(cudnnAddTensor(h, &one, p->b, bias, &one, p->y, y));
  return 0;
}

extern "C" int mtk_cuda_conv_backward(int dev, const mtk_conv_desc *d, const float *x,
                                      const float *w, const float *dy, float *dx, float beta_dx,
                                      float *dw, float beta_dw, float *db, float beta_db) {
  MT_TRY(check_desc(d));
  if (!dx && !dw && !db) return 0;
  std::lock_guard<std::mutex> lock(mtk_cudnn_lock());
  cudnnHandle_t h;
  MT_TRY(mtk_cudnn_handle(dev, &h));
  conv_plan *p;
  MT_TRY(plan_get(dev, d, &p));
  size_t need = 0;
  if (dx) {
    MT_TRY(choose_bwd_data(h, p));
    need = p->bwd_data_ws;
  }
  if (dw) {
    MT_TRY(choose_bwd_filter(h, p));
    if (p->bwd_filter_ws > need) need = p->bwd_filter_ws;
  }
  void *ws; // one buffer for both calls: they run one after the other on the stream
  MT_TRY(mtk_cudnn_workspace(dev, need, &ws));
  const float one = 1.0f;
  if (dx)
    MT_CHECK_CUDNN(cudnnConvolutionBackwardData(h, &one, p->w, w, p->y, dy, p->conv, p->bwd_data,
                                                ws, p->bwd_data_ws, &beta_dx, p->x, dx));
  if (dw)
    MT_CHECK_CUDNN(cudnnConvolutionBackwardFilter(h, &one, p->x, x, p->y, dy, p->conv,
                                                  p->bwd_filter, ws, p->bwd_filter_ws, &beta_dw,
                                                  p->w, dw));
  if (db) MT_CHECK_CUDNN(cudnnConvolutionBackwardBias(h, &one, p->y, dy, &beta_db, p->b, db));
  return 0;
}

extern "C" long long mtk_cuda_conv_algo_queries(void) {
  std::lock_guard<std::mutex> lock(mtk_cudnn_lock());
  return algo_queries;
}
