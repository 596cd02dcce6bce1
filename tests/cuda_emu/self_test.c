/* self_test.c — the CPU emulation of CUDA (tests/cuda_emu) checks itself:
 * what it claims to model and to refuse (README.md), so the gpu tests that
 * run on it mean what they say. Built and run only with -DMT_CUDA_EMU=ON
 * (reading device memory from the host, as this does, faults on a GPU).
 *  - work on a stream waits until something synchronizes with the stream;
 *    legacy-stream work and cudaFree run it first; streams of one device
 *    run newest first;
 *  - copies whose kind does not match their pointers, cudaFree of an
 *    unknown pointer, cudaMemset on host memory and work on another
 *    device's stream are refused;
 *  - cudaMalloc'd memory starts as NaN;
 *  - NCCL sums a clique in rank order and refuses one device twice;
 *  - cuDNN (cudnn.cpp) refuses descriptors never set, shapes that do not
 *    fit, host operands, a short workspace, a stream or a current device
 *    other than the handle's, and queues its work on the handle's stream. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_runtime.h"
#include "cudnn.h"
#include "kernels/kernels.h"
#include "nccl.h"
#include "testutil.h"

static float *dev_alloc(int dev, size_t n) {
  float *p = mtk_cuda_alloc(dev, n * sizeof(float));
  assert_non_null(p);
  return p;
}

static void test_streams_defer_until_synchronized(void **state) {
  float *d = dev_alloc(0, 16);
  assert_true(isnan(d[0]));                    /* fresh device memory is NaN */
  MT_ASSERT_OK(mtk_cuda_fill(0, d, 16, 1.0f)); /* legacy stream: at once */
  assert_true(d[5] == 1.0f);
  mtk_cuda_stream *s, *t;
  MT_ASSERT_OK(mtk_cuda_stream_create(0, &s));
  MT_ASSERT_OK(mtk_cuda_stream_create(0, &t));
  mtk_cuda_stream *prev = mtk_cuda_stream_use(s);
  MT_ASSERT_OK(mtk_cuda_fill(0, d, 16, 2.0f));
  mtk_cuda_stream_use(t);
  MT_ASSERT_OK(mtk_cuda_fill(0, d, 8, 3.0f)); /* newer stream: runs first at a flush */
  mtk_cuda_stream_use(prev);
  assert_true(d[5] == 1.0f); /* queued, not run */
  MT_ASSERT_OK(mtk_cuda_stream_wait(s));
  assert_true(d[5] == 2.0f && d[12] == 2.0f);
  /* legacy-stream work on the device runs what t holds first */
  float h[16];
  MT_ASSERT_OK(mtk_cuda_copy(-1, h, 0, d, sizeof h));
  assert_true(h[5] == 3.0f && h[12] == 2.0f);
  /* two streams, then a flush of both: the newer's work runs first */
  mtk_cuda_stream_use(s);
  MT_ASSERT_OK(mtk_cuda_fill(0, d, 16, 4.0f));
  mtk_cuda_stream_use(t);
  MT_ASSERT_OK(mtk_cuda_fill(0, d, 16, 5.0f));
  mtk_cuda_stream_use(NULL);
  MT_ASSERT_OK(mtk_cuda_sync(0));
  assert_true(d[0] == 4.0f); /* s (older) ran last */
  /* a copy to host memory on a stream returns done (mtk_memcpy's contract) */
  mtk_cuda_stream_use(s);
  MT_ASSERT_OK(mtk_cuda_fill(0, d, 16, 6.0f));
  MT_ASSERT_OK(mtk_cuda_copy(-1, h, 0, d, sizeof h));
  mtk_cuda_stream_use(NULL);
  assert_true(h[3] == 6.0f);
  /* cudaFree synchronizes */
  mtk_cuda_stream_use(t);
  float *e = dev_alloc(0, 4);
  MT_ASSERT_OK(mtk_cuda_fill(0, d, 16, 7.0f));
  mtk_cuda_stream_use(NULL);
  mtk_cuda_free(0, e);
  assert_true(d[0] == 7.0f);
  mtk_cuda_stream_destroy(s);
  mtk_cuda_stream_destroy(t);
  mtk_cuda_free(0, d);
}

static void test_refusals(void **state) {
  float *d = dev_alloc(0, 4), h[4] = {0};
  assert_int_equal(cudaMemcpy(d, h, sizeof h, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  assert_int_equal(cudaMemcpy(h, d, sizeof h, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  assert_int_equal(cudaMemcpy(d, d, 8 * sizeof(float), cudaMemcpyDeviceToDevice),
                   cudaErrorInvalidValue); /* past the block */
  assert_int_equal(cudaMemset(h, 0, sizeof h), cudaErrorInvalidValue);
  assert_int_equal(cudaFree(h), cudaErrorInvalidValue);
  assert_int_equal(cudaFree(d + 1), cudaErrorInvalidValue);
  /* a stream of gpu(1) used while gpu(0) is current */
  cudaStream_t s1;
  assert_int_equal(cudaSetDevice(1), cudaSuccess);
  assert_int_equal(cudaStreamCreate(&s1), cudaSuccess);
  assert_int_equal(cudaSetDevice(0), cudaSuccess);
  assert_int_equal(cudaMemsetAsync(d, 0, sizeof h, s1), cudaErrorInvalidResourceHandle);
  assert_int_equal(cudaStreamDestroy(s1), cudaSuccess);
  cudaGetLastError();
  mtk_cuda_free(0, d);
}

static void test_nccl_cliques(void **state) {
  float *a = dev_alloc(0, 3), *b = dev_alloc(1, 3);
  float ha[3] = {1, 2, 3}, hb[3] = {10, 20, 30}, out[3];
  MT_ASSERT_OK(mtk_cuda_copy(0, a, -1, ha, sizeof ha));
  MT_ASSERT_OK(mtk_cuda_copy(1, b, -1, hb, sizeof hb));
  ncclComm_t c[2];
  int devs[2] = {0, 1}, same[2] = {0, 0};
  assert_int_equal(ncclCommInitAll(c, 2, same), ncclInvalidUsage);
  assert_int_equal(ncclCommInitAll(c, 2, devs), ncclSuccess);
  /* one rank alone, outside a group: refused (it would hang on a GPU) */
  assert_int_equal(ncclAllReduce(a, a, 3, ncclFloat, ncclSum, c[0], NULL), ncclInvalidUsage);
  assert_int_equal(ncclGroupStart(), ncclSuccess);
  assert_int_equal(ncclAllReduce(a, a, 3, ncclFloat, ncclSum, c[0], NULL), ncclSuccess);
  assert_int_equal(ncclAllReduce(b, b, 3, ncclFloat, ncclSum, c[1], NULL), ncclSuccess);
  assert_int_equal(ncclGroupEnd(), ncclSuccess);
  MT_ASSERT_OK(mtk_cuda_copy(-1, out, 1, b, sizeof out));
  assert_true(out[0] == 11 && out[1] == 22 && out[2] == 33);
  ncclCommDestroy(c[0]);
  ncclCommDestroy(c[1]);
  mtk_cuda_free(0, a);
  mtk_cuda_free(1, b);
}

static void test_cudnn(void **state) {
  cudnnHandle_t h;
  assert_int_equal(cudaSetDevice(0), cudaSuccess);
  assert_int_equal(cudnnCreate(&h), CUDNN_STATUS_SUCCESS);
  cudnnTensorDescriptor_t x, y, bad_y;
  cudnnFilterDescriptor_t w, unset;
  cudnnConvolutionDescriptor_t cv;
  assert_int_equal(cudnnCreateTensorDescriptor(&x), CUDNN_STATUS_SUCCESS);
  assert_int_equal(cudnnCreateTensorDescriptor(&y), CUDNN_STATUS_SUCCESS);
  assert_int_equal(cudnnCreateTensorDescriptor(&bad_y), CUDNN_STATUS_SUCCESS);
  assert_int_equal(cudnnCreateFilterDescriptor(&w), CUDNN_STATUS_SUCCESS);
  assert_int_equal(cudnnCreateFilterDescriptor(&unset), CUDNN_STATUS_SUCCESS);
  assert_int_equal(cudnnCreateConvolutionDescriptor(&cv), CUDNN_STATUS_SUCCESS);
  assert_int_equal(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 3, 3),
                   CUDNN_STATUS_SUCCESS);
  assert_int_equal(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 3, 3),
                   CUDNN_STATUS_SUCCESS);
  assert_int_equal(
      cudnnSetTensor4dDescriptor(bad_y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 2, 3),
      CUDNN_STATUS_SUCCESS);
  assert_int_equal(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 0, 1, 3, 3),
                   CUDNN_STATUS_BAD_PARAM);
  assert_int_equal(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 1, 1, 3, 3),
                   CUDNN_STATUS_SUCCESS);
  assert_int_equal(cudnnSetConvolution2dDescriptor(cv, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                                   CUDNN_DATA_FLOAT),
                   CUDNN_STATUS_SUCCESS);
  int n, c, oh, ow;
  assert_int_equal(cudnnGetConvolution2dForwardOutputDim(cv, x, unset, &n, &c, &oh, &ow),
                   CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED);
  assert_int_equal(cudnnGetConvolution2dForwardOutputDim(cv, x, w, &n, &c, &oh, &ow),
                   CUDNN_STATUS_SUCCESS);
  assert_true(n == 1 && c == 1 && oh == 3 && ow == 3);
  size_t need;
  assert_int_equal(cudnnGetConvolutionForwardWorkspaceSize(
                       h, x, w, cv, y, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, &need),
                   CUDNN_STATUS_SUCCESS);
  assert_true(need > 0);
  float *dx = dev_alloc(0, 9), *dw = dev_alloc(0, 9), *dy = dev_alloc(0, 9);
  float *ws = dev_alloc(0, need / sizeof(float) + 1), hx[9], hy[9];
  for (int i = 0; i < 9; i++) hx[i] = 1.0f;
  MT_ASSERT_OK(mtk_cuda_copy(0, dx, -1, hx, sizeof hx));
  MT_ASSERT_OK(mtk_cuda_copy(0, dw, -1, hx, sizeof hx));
  const float one = 1.0f, zero = 0.0f;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  /* host operands, a short workspace, a workspace in host memory, a wrong output shape */
  assert_int_equal(cudnnConvolutionForward(h, &one, x, hx, w, dw, cv, algo, ws, need, &zero, y, dy),
                   CUDNN_STATUS_BAD_PARAM);
  assert_int_equal(
      cudnnConvolutionForward(h, &one, x, dx, w, dw, cv, algo, ws, need - 1, &zero, y, dy),
      CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT);
  float *hws = malloc(need);
  assert_int_equal(
      cudnnConvolutionForward(h, &one, x, dx, w, dw, cv, algo, hws, need, &zero, y, dy),
      CUDNN_STATUS_BAD_PARAM);
  free(hws);
  assert_int_equal(
      cudnnConvolutionForward(h, &one, x, dx, w, dw, cv, algo, ws, need, &zero, bad_y, dy),
      CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH);
  /* the handle used while gpu(1) is current; a stream of gpu(1) */
  cudaStream_t s1, s0;
  assert_int_equal(cudaSetDevice(1), cudaSuccess);
  assert_int_equal(cudaStreamCreate(&s1), cudaSuccess);
  assert_int_equal(cudnnConvolutionForward(h, &one, x, dx, w, dw, cv, algo, ws, need, &zero, y, dy),
                   CUDNN_STATUS_BAD_PARAM);
  assert_int_equal(cudaSetDevice(0), cudaSuccess);
  assert_int_equal(cudnnSetStream(h, s1), CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH);
  /* work on the handle's stream waits there until the stream is synchronized */
  assert_int_equal(cudaStreamCreate(&s0), cudaSuccess);
  assert_int_equal(cudnnSetStream(h, s0), CUDNN_STATUS_SUCCESS);
  assert_int_equal(cudnnConvolutionForward(h, &one, x, dx, w, dw, cv, algo, ws, need, &zero, y, dy),
                   CUDNN_STATUS_SUCCESS);
  assert_true(isnan(dy[4])); /* queued, not run */
  assert_int_equal(cudaStreamSynchronize(s0), cudaSuccess);
  MT_ASSERT_OK(mtk_cuda_copy(-1, hy, 0, dy, sizeof hy));
  assert_true(hy[4] == 9.0f && hy[0] == 4.0f && hy[1] == 6.0f); /* 3x3 ones, pad 1 */
  assert_int_equal(cudnnSetStream(h, NULL), CUDNN_STATUS_SUCCESS);
  assert_int_equal(cudaStreamDestroy(s0), cudaSuccess);
  assert_int_equal(cudaStreamDestroy(s1), cudaSuccess);
  cudaGetLastError();
  cudnnDestroyTensorDescriptor(x);
  cudnnDestroyTensorDescriptor(y);
  cudnnDestroyTensorDescriptor(bad_y);
  cudnnDestroyFilterDescriptor(w);
  cudnnDestroyFilterDescriptor(unset);
  cudnnDestroyConvolutionDescriptor(cv);
  cudnnDestroy(h);
  mtk_cuda_free(0, dx);
  mtk_cuda_free(0, dw);
  mtk_cuda_free(0, dy);
  mtk_cuda_free(0, ws);
}

int main(void) {
  if (mtk_cuda_device_count() < 2) {
    printf("cuda_emu self test: needs MT_CUDA_EMU_DEVICES >= 2\n");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_streams_defer_until_synchronized),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_nccl_cliques),
      cmocka_unit_test(test_cudnn),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
