// cudnn.cpp — a CPU reference of the cuDNN 9 legacy calls modtrain makes
// (include/cudnn.h; kernels/cuda/cudnn_*.cu), for the CUDA emulation
// (README.md). Plain loops accumulating in double; float32 NCHW only.
//
// Descriptors store their numbers; a call refuses, as cuDNN does, what it
// would refuse or silently get wrong: a descriptor never set, geometry that
// does not fit (input channels against filter channels x groups, the output
// size against the convolution's or the pooling's), an operand that is not
// device memory of the handle's device big enough for its descriptor (as
// runtime.cpp's cuBLAS does), a handle used while another device is
// current, a stream of another device, a workspace smaller than the
// algorithm's or not in device memory.
//
// The algorithm queries (cudnnGet*Algorithm_v7) answer like cuDNN's
// heuristics, ranked: for the backward passes the non-deterministic
// ALGO_0 (atomics on a GPU) first, then the deterministic ALGO_1; every
// algorithm wants a workspace (a size that grows with the filter), so the
// callers' workspace path runs. The emulated kernels overwrite the
// workspace with NaN bytes when they run, so a workspace shared with live
// data shows.
//
// Work is queued on the handle's stream (mtk_emu_submit), as runtime.cpp's
// cuBLAS does: alpha and beta are read at the call, the descriptors copied.
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "cudnn.h"
#include "device.h"

// runtime.cpp
int mtk_emu_where(const void *p, size_t bytes);
int mtk_emu_current_device(void);
int mtk_emu_stream_device(cudaStream_t stream);

struct cudnnContext {
  int device;
  cudaStream_t stream;
};
struct cudnnTensorStruct {
  int set, n, c, h, w;
};
struct cudnnFilterStruct {
  int set, k, c, h, w;
};
struct cudnnConvolutionStruct {
  int set, ph, pw, sh, sw, dh, dw, groups;
  cudnnMathType_t math;
};
struct cudnnPoolingStruct {
  int set;
  cudnnPoolingMode_t mode;
  int kh, kw, ph, pw, sh, sw;
};

namespace {

cudnnStatus_t refuse(cudnnStatus_t s, const char *fn, const char *what) {
  fprintf(stderr, "[cuda-emu] %s: %s\n", fn, what);
  return s;
}

size_t tensor_bytes(const cudnnTensorStruct &t) {
  return (size_t)t.n * t.c * t.h * t.w * sizeof(float);
}
size_t filter_bytes(const cudnnFilterStruct &f) {
  return (size_t)f.k * f.c * f.h * f.w * sizeof(float);
}

cudnnStatus_t check_handle(cudnnHandle_t h, const char *fn) {
  if (!h) return refuse(CUDNN_STATUS_NOT_INITIALIZED, fn, "no handle");
  if (mtk_emu_current_device() != h->device)
    return refuse(CUDNN_STATUS_BAD_PARAM, fn, "the handle's device is not the current one");
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t check_operand(cudnnHandle_t h, const void *p, size_t bytes, const char *fn,
                            const char *name) {
  if (!p) {
    fprintf(stderr, "[cuda-emu] %s: %s is NULL\n", fn, name);
    return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
  }
  if (mtk_emu_where(p, bytes) != h->device) {
    fprintf(stderr, "[cuda-emu] %s: %s (%zu bytes) is not in the handle's device memory\n", fn,
            name, bytes);
    return CUDNN_STATUS_BAD_PARAM;
  }
  return CUDNN_STATUS_SUCCESS;
}

#define TRY(call)                                                                                  \
  do {                                                                                             \
    cudnnStatus_t s_ = (call);                                                                     \
    if (s_ != CUDNN_STATUS_SUCCESS) return s_;                                                     \
  } while (0)

int conv_out(int in, int k, int pad, int stride, int dil) {
  int span = dil * (k - 1) + 1;
  return in + 2 * pad < span ? 0 : (in + 2 * pad - span) / stride + 1;
}

// x, w, conv, y set and consistent (y may be NULL: not checked)
cudnnStatus_t check_conv(const cudnnTensorStruct *x, const cudnnFilterStruct *w,
                         const cudnnConvolutionStruct *cv, const cudnnTensorStruct *y,
                         const char *fn) {
  if (!x || !w || !cv || !x->set || !w->set || !cv->set || (y && !y->set))
    return refuse(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED, fn, "a descriptor was never set");
  if (x->c != w->c * cv->groups || w->k % cv->groups)
    return refuse(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH, fn,
                  "input channels != filter channels x groups, or filters not divisible by groups");
  int oh = conv_out(x->h, w->h, cv->ph, cv->sh, cv->dh);
  int ow = conv_out(x->w, w->w, cv->pw, cv->sw, cv->dw);
  if (oh < 1 || ow < 1)
    return refuse(CUDNN_STATUS_BAD_PARAM, fn, "the dilated filter is larger than the padded input");
  if (y && (y->n != x->n || y->c != w->k || y->h != oh || y->w != ow))
    return refuse(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH, fn,
                  "the output descriptor is not the convolution's output");
  return CUDNN_STATUS_SUCCESS;
}

// Every emulated algorithm wants this much workspace.
size_t ws_size(const cudnnFilterStruct *w) {
  return 64 + (size_t)w->c * w->h * w->w * sizeof(float);
}

cudnnStatus_t check_ws(cudnnHandle_t h, const cudnnFilterStruct *w, void *ws, size_t ws_bytes,
                       const char *fn) {
  size_t need = ws_size(w);
  if (ws_bytes < need)
    return refuse(CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT, fn,
                  "workspace smaller than the algorithm's");
  return check_operand(h, ws, ws_bytes, fn, "workspace");
}

// The workspace is used: NaN bytes (what it holds afterwards is garbage).
void scribble(void *ws, size_t bytes) { memset(ws, 0xFF, bytes); }

// out = alpha * v + beta * out, never reading out when beta is 0
inline float blend(double alpha, double v, double beta, float out) {
  return (float)(beta == 0.0 ? alpha * v : alpha * v + beta * (double)out);
}

int pool_out(int in, int k, int pad, int stride) {
  return in + 2 * pad < k ? 0 : (in + 2 * pad - k) / stride + 1;
}

} // namespace

extern "C" {

size_t cudnnGetVersion(void) { return CUDNN_VERSION; }

const char *cudnnGetErrorString(cudnnStatus_t status) {
  switch (status) {
  case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
  case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
  case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
  case CUDNN_STATUS_BAD_PARAM_NULL_POINTER: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
  case CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED: return "CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED";
  case CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT: return "CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT";
  case CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH: return "CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH";
  case CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH: return "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH";
  case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
  case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
  }
  return "CUDNN_STATUS_UNKNOWN";
}

cudnnStatus_t cudnnCreate(cudnnHandle_t *handle) {
  if (!handle) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0)
    return refuse(CUDNN_STATUS_NOT_INITIALIZED, "cudnnCreate", "no device");
  *handle = new cudnnContext{mtk_emu_current_device(), nullptr};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  if (!handle) return CUDNN_STATUS_BAD_PARAM;
  delete handle;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId) {
  if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
  if (streamId && mtk_emu_stream_device(streamId) != handle->device)
    return refuse(CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH, "cudnnSetStream",
                  "a stream of another device than the handle's");
  handle->stream = streamId;
  return CUDNN_STATUS_SUCCESS;
}

/* ----------------------------------------------------------- descriptors */

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *t) {
  if (!t) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
  *t = new cudnnTensorStruct();
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t t, cudnnTensorFormat_t format,
                                         cudnnDataType_t dataType, int n, int c, int h, int w) {
  if (!t) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
  if (n < 1 || c < 1 || h < 1 || w < 1)
    return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnSetTensor4dDescriptor", "a dimension below 1");
  if (format != CUDNN_TENSOR_NCHW || dataType != CUDNN_DATA_FLOAT)
    return refuse(CUDNN_STATUS_NOT_SUPPORTED, "cudnnSetTensor4dDescriptor",
                  "the emulation has float32 NCHW only");
  *t = cudnnTensorStruct{1, n, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t t) {
  delete t;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *f) {
  if (!f) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
  *f = new cudnnFilterStruct();
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t f, cudnnDataType_t dataType,
                                         cudnnTensorFormat_t format, int k, int c, int h, int w) {
  if (!f) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
  if (k < 1 || c < 1 || h < 1 || w < 1)
    return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnSetFilter4dDescriptor", "a dimension below 1");
  if (format != CUDNN_TENSOR_NCHW || dataType != CUDNN_DATA_FLOAT)
    return refuse(CUDNN_STATUS_NOT_SUPPORTED, "cudnnSetFilter4dDescriptor",
                  "the emulation has float32 NCHW only");
  *f = cudnnFilterStruct{1, k, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t f) {
  delete f;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *cv) {
  if (!cv) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
  *cv = new cudnnConvolutionStruct();
  (*cv)->groups = 1;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t cv, int pad_h, int pad_w,
                                              int u, int v, int dilation_h, int dilation_w,
                                              cudnnConvolutionMode_t mode,
                                              cudnnDataType_t computeType) {
  if (!cv) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
  if (pad_h < 0 || pad_w < 0 || u < 1 || v < 1 || dilation_h < 1 || dilation_w < 1)
    return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnSetConvolution2dDescriptor",
                  "negative padding, or a stride or dilation below 1");
  if (mode != CUDNN_CROSS_CORRELATION || computeType != CUDNN_DATA_FLOAT)
    return refuse(CUDNN_STATUS_NOT_SUPPORTED, "cudnnSetConvolution2dDescriptor",
                  "the emulation has float32 cross-correlation only");
  cv->set = 1;
  cv->ph = pad_h;
  cv->pw = pad_w;
  cv->sh = u;
  cv->sw = v;
  cv->dh = dilation_h;
  cv->dw = dilation_w;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t cv, int groupCount) {
  if (!cv) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
  if (groupCount < 1)
    return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnSetConvolutionGroupCount", "groups below 1");
  cv->groups = groupCount;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t cv,
                                          cudnnMathType_t mathType) {
  if (!cv) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
  if (mathType < CUDNN_DEFAULT_MATH || mathType > CUDNN_FMA_MATH) return CUDNN_STATUS_BAD_PARAM;
  cv->math = mathType;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(const cudnnConvolutionDescriptor_t cv,
                                                    const cudnnTensorDescriptor_t x,
                                                    const cudnnFilterDescriptor_t w, int *n, int *c,
                                                    int *h, int *wo) {
  TRY(check_conv(x, w, cv, nullptr, "cudnnGetConvolution2dForwardOutputDim"));
  *n = x->n;
  *c = w->k;
  *h = conv_out(x->h, w->h, cv->ph, cv->sh, cv->dh);
  *wo = conv_out(x->w, w->w, cv->pw, cv->sw, cv->dw);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t cv) {
  delete cv;
  return CUDNN_STATUS_SUCCESS;
}

/* ------------------------------------------------------------ algorithms */

cudnnStatus_t cudnnGetConvolutionForwardAlgorithmMaxCount(cudnnHandle_t handle, int *count) {
  *count = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  return handle ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_NOT_INITIALIZED;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithmMaxCount(cudnnHandle_t handle, int *count) {
  *count = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
  return handle ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_NOT_INITIALIZED;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(cudnnHandle_t handle, int *count) {
  *count = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  return handle ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_NOT_INITIALIZED;
}

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,
    const cudnnConvolutionDescriptor_t cv, const cudnnTensorDescriptor_t y, const int requested,
    int *returned, cudnnConvolutionFwdAlgoPerf_t *perf) {
  const char *fn = "cudnnGetConvolutionForwardAlgorithm_v7";
  if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
  TRY(check_conv(x, w, cv, y, fn));
  if (requested < 1 || !returned || !perf) return refuse(CUDNN_STATUS_BAD_PARAM, fn, "no room");
  perf[0] = cudnnConvolutionFwdAlgoPerf_t{CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
                                          CUDNN_STATUS_SUCCESS,
                                          0.0f,
                                          ws_size(w),
                                          CUDNN_DETERMINISTIC,
                                          cv->math,
                                          {0, 0, 0}};
  *returned = 1;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(
    cudnnHandle_t handle, const cudnnFilterDescriptor_t w, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t cv, const cudnnTensorDescriptor_t dx, const int requested,
    int *returned, cudnnConvolutionBwdDataAlgoPerf_t *perf) {
  const char *fn = "cudnnGetConvolutionBackwardDataAlgorithm_v7";
  if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
  TRY(check_conv(dx, w, cv, dy, fn));
  if (requested < 1 || !returned || !perf) return refuse(CUDNN_STATUS_BAD_PARAM, fn, "no room");
  cudnnConvolutionBwdDataAlgoPerf_t all[2] = {{CUDNN_CONVOLUTION_BWD_DATA_ALGO_0,
                                               CUDNN_STATUS_SUCCESS,
                                               0.0f,
                                               ws_size(w),
                                               CUDNN_NON_DETERMINISTIC,
                                               cv->math,
                                               {0, 0, 0}},
                                              {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1,
                                               CUDNN_STATUS_SUCCESS,
                                               0.0f,
                                               ws_size(w),
                                               CUDNN_DETERMINISTIC,
                                               cv->math,
                                               {0, 0, 0}}};
  *returned = requested < 2 ? requested : 2;
  for (int i = 0; i < *returned; i++) perf[i] = all[i];
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t x, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t cv, const cudnnFilterDescriptor_t dw, const int requested,
    int *returned, cudnnConvolutionBwdFilterAlgoPerf_t *perf) {
  const char *fn = "cudnnGetConvolutionBackwardFilterAlgorithm_v7";
  if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
  TRY(check_conv(x, dw, cv, dy, fn));
  if (requested < 1 || !returned || !perf) return refuse(CUDNN_STATUS_BAD_PARAM, fn, "no room");
  cudnnConvolutionBwdFilterAlgoPerf_t all[2] = {{CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0,
                                                 CUDNN_STATUS_SUCCESS,
                                                 0.0f,
                                                 ws_size(dw),
                                                 CUDNN_NON_DETERMINISTIC,
                                                 cv->math,
                                                 {0, 0, 0}},
                                                {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1,
                                                 CUDNN_STATUS_SUCCESS,
                                                 0.0f,
                                                 ws_size(dw),
                                                 CUDNN_DETERMINISTIC,
                                                 cv->math,
                                                 {0, 0, 0}}};
  *returned = requested < 2 ? requested : 2;
  for (int i = 0; i < *returned; i++) perf[i] = all[i];
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,
    const cudnnConvolutionDescriptor_t cv, const cudnnTensorDescriptor_t y,
    cudnnConvolutionFwdAlgo_t algo, size_t *bytes) {
  if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
  TRY(check_conv(x, w, cv, y, "cudnnGetConvolutionForwardWorkspaceSize"));
  if (algo < 0 || algo >= CUDNN_CONVOLUTION_FWD_ALGO_COUNT) return CUDNN_STATUS_BAD_PARAM;
  *bytes = ws_size(w);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(
    cudnnHandle_t handle, const cudnnFilterDescriptor_t w, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t cv, const cudnnTensorDescriptor_t dx,
    cudnnConvolutionBwdDataAlgo_t algo, size_t *bytes) {
  if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
  TRY(check_conv(dx, w, cv, dy, "cudnnGetConvolutionBackwardDataWorkspaceSize"));
  if (algo < 0 || algo >= CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT) return CUDNN_STATUS_BAD_PARAM;
  *bytes = ws_size(w);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t x, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t cv, const cudnnFilterDescriptor_t dw,
    cudnnConvolutionBwdFilterAlgo_t algo, size_t *bytes) {
  if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
  TRY(check_conv(x, dw, cv, dy, "cudnnGetConvolutionBackwardFilterWorkspaceSize"));
  if (algo < 0 || algo >= CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT) return CUDNN_STATUS_BAD_PARAM;
  *bytes = ws_size(dw);
  return CUDNN_STATUS_SUCCESS;
}

/* ---------------------------------------------------------- convolution */

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void *alpha,
                                      const cudnnTensorDescriptor_t xDesc, const void *x,
                                      const cudnnFilterDescriptor_t wDesc, const void *w,
                                      const cudnnConvolutionDescriptor_t convDesc,
                                      cudnnConvolutionFwdAlgo_t algo, void *workSpace,
                                      size_t workSpaceSizeInBytes, const void *beta,
                                      const cudnnTensorDescriptor_t yDesc, void *y) {
  const char *fn = "cudnnConvolutionForward";
  TRY(check_handle(handle, fn));
  TRY(check_conv(xDesc, wDesc, convDesc, yDesc, fn));
  if (algo < 0 || algo >= CUDNN_CONVOLUTION_FWD_ALGO_COUNT)
    return refuse(CUDNN_STATUS_BAD_PARAM, fn, "no such algorithm");
  TRY(check_operand(handle, x, tensor_bytes(*xDesc), fn, "x"));
  TRY(check_operand(handle, w, filter_bytes(*wDesc), fn, "w"));
  TRY(check_operand(handle, y, tensor_bytes(*yDesc), fn, "y"));
  TRY(check_ws(handle, wDesc, workSpace, workSpaceSizeInBytes, fn));
  double a = *(const float *)alpha, b = *(const float *)beta;
  cudnnTensorStruct X = *xDesc, Y = *yDesc;
  cudnnFilterStruct W = *wDesc;
  cudnnConvolutionStruct C = *convDesc;
  const float *xp = (const float *)x, *wp = (const float *)w;
  float *yp = (float *)y;
  size_t wsb = ws_size(wDesc);
  mtk_emu_submit(handle->stream, [=]() {
    scribble(workSpace, wsb);
    int kg = W.k / C.groups, cg = W.c;
    for (int n = 0; n < X.n; n++)
      for (int k = 0; k < W.k; k++) {
        int g = k / kg;
        for (int oy = 0; oy < Y.h; oy++)
          for (int ox = 0; ox < Y.w; ox++) {
            double s = 0;
            for (int c = 0; c < cg; c++)
              for (int ky = 0; ky < W.h; ky++)
                for (int kx = 0; kx < W.w; kx++) {
                  int iy = oy * C.sh - C.ph + ky * C.dh, ix = ox * C.sw - C.pw + kx * C.dw;
                  if (iy < 0 || iy >= X.h || ix < 0 || ix >= X.w) continue;
                  s += (double)xp[(((size_t)n * X.c + g * cg + c) * X.h + iy) * X.w + ix] *
                       wp[(((size_t)k * cg + c) * W.h + ky) * W.w + kx];
                }
            float &out = yp[(((size_t)n * Y.c + k) * Y.h + oy) * Y.w + ox];
            out = blend(a, s, b, out);
          }
      }
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t handle, const void *alpha,
                                           const cudnnFilterDescriptor_t wDesc, const void *w,
                                           const cudnnTensorDescriptor_t dyDesc, const void *dy,
                                           const cudnnConvolutionDescriptor_t convDesc,
                                           cudnnConvolutionBwdDataAlgo_t algo, void *workSpace,
                                           size_t workSpaceSizeInBytes, const void *beta,
                                           const cudnnTensorDescriptor_t dxDesc, void *dx) {
  const char *fn = "cudnnConvolutionBackwardData";
  TRY(check_handle(handle, fn));
  TRY(check_conv(dxDesc, wDesc, convDesc, dyDesc, fn));
  if (algo < 0 || algo >= CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT)
    return refuse(CUDNN_STATUS_BAD_PARAM, fn, "no such algorithm");
  TRY(check_operand(handle, w, filter_bytes(*wDesc), fn, "w"));
  TRY(check_operand(handle, dy, tensor_bytes(*dyDesc), fn, "dy"));
  TRY(check_operand(handle, dx, tensor_bytes(*dxDesc), fn, "dx"));
  TRY(check_ws(handle, wDesc, workSpace, workSpaceSizeInBytes, fn));
  double a = *(const float *)alpha, b = *(const float *)beta;
  cudnnTensorStruct X = *dxDesc, Y = *dyDesc;
  cudnnFilterStruct W = *wDesc;
  cudnnConvolutionStruct C = *convDesc;
  const float *wp = (const float *)w, *dyp = (const float *)dy;
  float *dxp = (float *)dx;
  size_t wsb = ws_size(wDesc);
  mtk_emu_submit(handle->stream, [=]() {
    scribble(workSpace, wsb);
    std::vector<double> acc((size_t)X.n * X.c * X.h * X.w, 0.0);
    int kg = W.k / C.groups, cg = W.c;
    for (int n = 0; n < X.n; n++)
      for (int k = 0; k < W.k; k++) {
        int g = k / kg;
        for (int oy = 0; oy < Y.h; oy++)
          for (int ox = 0; ox < Y.w; ox++) {
            double d = dyp[(((size_t)n * Y.c + k) * Y.h + oy) * Y.w + ox];
            for (int c = 0; c < cg; c++)
              for (int ky = 0; ky < W.h; ky++)
                for (int kx = 0; kx < W.w; kx++) {
                  int iy = oy * C.sh - C.ph + ky * C.dh, ix = ox * C.sw - C.pw + kx * C.dw;
                  if (iy < 0 || iy >= X.h || ix < 0 || ix >= X.w) continue;
                  acc[(((size_t)n * X.c + g * cg + c) * X.h + iy) * X.w + ix] +=
                      d * wp[(((size_t)k * cg + c) * W.h + ky) * W.w + kx];
                }
          }
      }
    for (size_t i = 0; i < acc.size(); i++) dxp[i] = blend(a, acc[i], b, dxp[i]);
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t handle, const void *alpha,
                                             const cudnnTensorDescriptor_t xDesc, const void *x,
                                             const cudnnTensorDescriptor_t dyDesc, const void *dy,
                                             const cudnnConvolutionDescriptor_t convDesc,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void *workSpace,
                                             size_t workSpaceSizeInBytes, const void *beta,
                                             const cudnnFilterDescriptor_t dwDesc, void *dw) {
  const char *fn = "cudnnConvolutionBackwardFilter";
  TRY(check_handle(handle, fn));
  TRY(check_conv(xDesc, dwDesc, convDesc, dyDesc, fn));
  if (algo < 0 || algo >= CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT)
    return refuse(CUDNN_STATUS_BAD_PARAM, fn, "no such algorithm");
  TRY(check_operand(handle, x, tensor_bytes(*xDesc), fn, "x"));
  TRY(check_operand(handle, dy, tensor_bytes(*dyDesc), fn, "dy"));
  TRY(check_operand(handle, dw, filter_bytes(*dwDesc), fn, "dw"));
  TRY(check_ws(handle, dwDesc, workSpace, workSpaceSizeInBytes, fn));
  double a = *(const float *)alpha, b = *(const float *)beta;
  cudnnTensorStruct X = *xDesc, Y = *dyDesc;
  cudnnFilterStruct W = *dwDesc;
  cudnnConvolutionStruct C = *convDesc;
  const float *xp = (const float *)x, *dyp = (const float *)dy;
  float *dwp = (float *)dw;
  size_t wsb = ws_size(dwDesc);
  mtk_emu_submit(handle->stream, [=]() {
    scribble(workSpace, wsb);
    int kg = W.k / C.groups, cg = W.c;
    for (int k = 0; k < W.k; k++) {
      int g = k / kg;
      for (int c = 0; c < cg; c++)
        for (int ky = 0; ky < W.h; ky++)
          for (int kx = 0; kx < W.w; kx++) {
            double s = 0;
            for (int n = 0; n < X.n; n++)
              for (int oy = 0; oy < Y.h; oy++)
                for (int ox = 0; ox < Y.w; ox++) {
                  int iy = oy * C.sh - C.ph + ky * C.dh, ix = ox * C.sw - C.pw + kx * C.dw;
                  if (iy < 0 || iy >= X.h || ix < 0 || ix >= X.w) continue;
                  s += (double)dyp[(((size_t)n * Y.c + k) * Y.h + oy) * Y.w + ox] *
                       xp[(((size_t)n * X.c + g * cg + c) * X.h + iy) * X.w + ix];
                }
            float &out = dwp[(((size_t)k * cg + c) * W.h + ky) * W.w + kx];
            out = blend(a, s, b, out);
          }
    }
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardBias(cudnnHandle_t handle, const void *alpha,
                                           const cudnnTensorDescriptor_t dyDesc, const void *dy,
                                           const void *beta, const cudnnTensorDescriptor_t dbDesc,
                                           void *db) {
  const char *fn = "cudnnConvolutionBackwardBias";
  TRY(check_handle(handle, fn));
  if (!dyDesc || !dbDesc || !dyDesc->set || !dbDesc->set)
    return refuse(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED, fn, "a descriptor was never set");
  if (dbDesc->n != 1 || dbDesc->c != dyDesc->c || dbDesc->h != 1 || dbDesc->w != 1)
    return refuse(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH, fn, "db is not (1, C, 1, 1)");
  TRY(check_operand(handle, dy, tensor_bytes(*dyDesc), fn, "dy"));
  TRY(check_operand(handle, db, tensor_bytes(*dbDesc), fn, "db"));
  double a = *(const float *)alpha, b = *(const float *)beta;
  cudnnTensorStruct Y = *dyDesc;
  const float *dyp = (const float *)dy;
  float *dbp = (float *)db;
  mtk_emu_submit(handle->stream, [=]() {
    for (int k = 0; k < Y.c; k++) {
      double s = 0;
      for (int n = 0; n < Y.n; n++)
        for (size_t i = 0; i < (size_t)Y.h * Y.w; i++)
          s += dyp[((size_t)n * Y.c + k) * Y.h * Y.w + i];
      dbp[k] = blend(a, s, b, dbp[k]);
    }
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnAddTensor(cudnnHandle_t handle, const void *alpha,
                             const cudnnTensorDescriptor_t aDesc, const void *A, const void *beta,
                             const cudnnTensorDescriptor_t cDesc, void *C) {
  const char *fn = "cudnnAddTensor";
  TRY(check_handle(handle, fn));
  if (!aDesc || !cDesc || !aDesc->set || !cDesc->set)
    return refuse(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED, fn, "a descriptor was never set");
  const cudnnTensorStruct &a_ = *aDesc, &c_ = *cDesc;
  if ((a_.n != 1 && a_.n != c_.n) || (a_.c != 1 && a_.c != c_.c) || (a_.h != 1 && a_.h != c_.h) ||
      (a_.w != 1 && a_.w != c_.w))
    return refuse(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH, fn, "A does not broadcast to C");
  TRY(check_operand(handle, A, tensor_bytes(a_), fn, "A"));
  TRY(check_operand(handle, C, tensor_bytes(c_), fn, "C"));
  double a = *(const float *)alpha, b = *(const float *)beta;
  cudnnTensorStruct AD = a_, CD = c_;
  const float *ap = (const float *)A;
  float *cp = (float *)C;
  mtk_emu_submit(handle->stream, [=]() {
    for (int n = 0; n < CD.n; n++)
      for (int c = 0; c < CD.c; c++)
        for (int h = 0; h < CD.h; h++)
          for (int w = 0; w < CD.w; w++) {
            size_t ai = (((size_t)(AD.n == 1 ? 0 : n) * AD.c + (AD.c == 1 ? 0 : c)) * AD.h +
                         (AD.h == 1 ? 0 : h)) *
                            AD.w +
                        (AD.w == 1 ? 0 : w);
            float &out = cp[(((size_t)n * CD.c + c) * CD.h + h) * CD.w + w];
            out = blend(a, ap[ai], b, out);
          }
  });
  return CUDNN_STATUS_SUCCESS;
}

/* -------------------------------------------------------------- pooling */

cudnnStatus_t cudnnCreatePoolingDescriptor(cudnnPoolingDescriptor_t *p) {
  if (!p) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
  *p = new cudnnPoolingStruct();
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetPooling2dDescriptor(cudnnPoolingDescriptor_t p, cudnnPoolingMode_t mode,
                                          cudnnNanPropagation_t nanOpt, int kh, int kw, int ph,
                                          int pw, int sh, int sw) {
  if (!p) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
  if (mode < CUDNN_POOLING_MAX || mode > CUDNN_POOLING_MAX_DETERMINISTIC ||
      (nanOpt != CUDNN_NOT_PROPAGATE_NAN && nanOpt != CUDNN_PROPAGATE_NAN))
    return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnSetPooling2dDescriptor", "no such mode");
  if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0)
    return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnSetPooling2dDescriptor",
                  "a window or stride below 1, or negative padding");
  *p = cudnnPoolingStruct{1, mode, kh, kw, ph, pw, sh, sw};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetPooling2dForwardOutputDim(const cudnnPoolingDescriptor_t p,
                                                const cudnnTensorDescriptor_t x, int *n, int *c,
                                                int *h, int *w) {
  if (!p || !x || !p->set || !x->set)
    return refuse(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED, "cudnnGetPooling2dForwardOutputDim",
                  "a descriptor was never set");
  *n = x->n;
  *c = x->c;
  *h = pool_out(x->h, p->kh, p->ph, p->sh);
  *w = pool_out(x->w, p->kw, p->pw, p->sw);
  if (*h < 1 || *w < 1)
    return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnGetPooling2dForwardOutputDim",
                  "the window is larger than the padded input");
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyPoolingDescriptor(cudnnPoolingDescriptor_t p) {
  delete p;
  return CUDNN_STATUS_SUCCESS;
}

} // extern "C"

namespace {

cudnnStatus_t check_pool(const cudnnPoolingStruct *p, const cudnnTensorStruct *x,
                         const cudnnTensorStruct *y, const char *fn) {
  if (!p || !x || !y || !p->set || !x->set || !y->set)
    return refuse(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED, fn, "a descriptor was never set");
  if (y->n != x->n || y->c != x->c || y->h != pool_out(x->h, p->kh, p->ph, p->sh) ||
      y->w != pool_out(x->w, p->kw, p->pw, p->sw) || y->h < 1 || y->w < 1)
    return refuse(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH, fn,
                  "the output descriptor is not the pooling's output");
  return CUDNN_STATUS_SUCCESS;
}

// Output (oy, ox)'s window inside the input and cuDNN's divisor for it.
void window(const cudnnPoolingStruct &P, const cudnnTensorStruct &X, int oy, int ox, int *hs,
            int *he, int *ws, int *we, int *div) {
  int h0 = oy * P.sh - P.ph, w0 = ox * P.sw - P.pw;
  *hs = h0 < 0 ? 0 : h0;
  *ws = w0 < 0 ? 0 : w0;
  *he = h0 + P.kh < X.h ? h0 + P.kh : X.h;
  *we = w0 + P.kw < X.w ? w0 + P.kw : X.w;
  int inside = (*he > *hs ? *he - *hs : 0) * (*we > *ws ? *we - *ws : 0);
  *div = P.mode == CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING ? P.kh * P.kw : inside;
}

bool is_max(const cudnnPoolingStruct &P) {
  return P.mode == CUDNN_POOLING_MAX || P.mode == CUDNN_POOLING_MAX_DETERMINISTIC;
}

} // namespace

extern "C" {

cudnnStatus_t cudnnPoolingForward(cudnnHandle_t handle, const cudnnPoolingDescriptor_t poolingDesc,
                                  const void *alpha, const cudnnTensorDescriptor_t xDesc,
                                  const void *x, const void *beta,
                                  const cudnnTensorDescriptor_t yDesc, void *y) {
  const char *fn = "cudnnPoolingForward";
  TRY(check_handle(handle, fn));
  TRY(check_pool(poolingDesc, xDesc, yDesc, fn));
  TRY(check_operand(handle, x, tensor_bytes(*xDesc), fn, "x"));
  TRY(check_operand(handle, y, tensor_bytes(*yDesc), fn, "y"));
  double a = *(const float *)alpha, b = *(const float *)beta;
  cudnnPoolingStruct P = *poolingDesc;
  cudnnTensorStruct X = *xDesc, Y = *yDesc;
  const float *xp = (const float *)x;
  float *yp = (float *)y;
  mtk_emu_submit(handle->stream, [=]() {
    for (size_t plane = 0; plane < (size_t)X.n * X.c; plane++) {
      const float *xs = xp + plane * X.h * X.w;
      for (int oy = 0; oy < Y.h; oy++)
        for (int ox = 0; ox < Y.w; ox++) {
          int hs, he, ws, we, div;
          window(P, X, oy, ox, &hs, &he, &ws, &we, &div);
          double v;
          if (is_max(P)) {
            v = -FLT_MAX;
            for (int r = hs; r < he; r++)
              for (int s = ws; s < we; s++)
                if (xs[r * X.w + s] > v) v = xs[r * X.w + s];
          } else {
            double sum = 0;
            for (int r = hs; r < he; r++)
              for (int s = ws; s < we; s++) sum += xs[r * X.w + s];
            v = div > 0 ? sum / div : 0.0;
          }
          float &out = yp[(plane * Y.h + oy) * Y.w + ox];
          out = blend(a, v, b, out);
        }
    }
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnPoolingBackward(cudnnHandle_t handle, const cudnnPoolingDescriptor_t poolingDesc,
                                   const void *alpha, const cudnnTensorDescriptor_t yDesc,
                                   const void *y, const cudnnTensorDescriptor_t dyDesc,
                                   const void *dy, const cudnnTensorDescriptor_t xDesc,
                                   const void *x, const void *beta,
                                   const cudnnTensorDescriptor_t dxDesc, void *dx) {
  const char *fn = "cudnnPoolingBackward";
  TRY(check_handle(handle, fn));
  TRY(check_pool(poolingDesc, xDesc, yDesc, fn));
  TRY(check_pool(poolingDesc, dxDesc, dyDesc, fn));
  TRY(check_operand(handle, y, tensor_bytes(*yDesc), fn, "y"));
  TRY(check_operand(handle, dy, tensor_bytes(*dyDesc), fn, "dy"));
  TRY(check_operand(handle, x, tensor_bytes(*xDesc), fn, "x"));
  TRY(check_operand(handle, dx, tensor_bytes(*dxDesc), fn, "dx"));
  double a = *(const float *)alpha, b = *(const float *)beta;
  cudnnPoolingStruct P = *poolingDesc;
  cudnnTensorStruct X = *xDesc, Y = *yDesc;
  const float *xp = (const float *)x, *dyp = (const float *)dy;
  float *dxp = (float *)dx;
  mtk_emu_submit(handle->stream, [=]() {
    std::vector<double> acc((size_t)X.h * X.w);
    for (size_t plane = 0; plane < (size_t)X.n * X.c; plane++) {
      const float *xs = xp + plane * X.h * X.w;
      const float *dys = dyp + plane * Y.h * Y.w;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int oy = 0; oy < Y.h; oy++)
        for (int ox = 0; ox < Y.w; ox++) {
          int hs, he, ws, we, div;
          window(P, X, oy, ox, &hs, &he, &ws, &we, &div);
          double d = dys[oy * Y.w + ox];
          if (is_max(P)) { // the first maximum of the window, row-major
            int at = -1;
            for (int r = hs; r < he; r++)
              for (int s = ws; s < we; s++)
                if (at < 0 || xs[r * X.w + s] > xs[at]) at = r * X.w + s;
            if (at >= 0) acc[(size_t)at] += d;
          } else if (div > 0) {
            for (int r = hs; r < he; r++)
              for (int s = ws; s < we; s++) acc[(size_t)(r * X.w + s)] += d / div;
          }
        }
      float *dxs = dxp + plane * X.h * X.w;
      for (size_t i = 0; i < acc.size(); i++) dxs[i] = blend(a, acc[i], b, dxs[i]);
    }
  });
  return CUDNN_STATUS_SUCCESS;
}

} // extern "C"
