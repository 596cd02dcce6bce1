/* check.h — one check macro per CUDA library: records the library's own
 * error string with file:line through mt_error_set and returns. */
#ifndef MT_KERNELS_CUDA_CHECK_H
#define MT_KERNELS_CUDA_CHECK_H
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nccl.h>

#include "modtrain.h"

#define MT_CHECK_CUDA(call)                                                                        \
  do {                                                                                             \
    cudaError_t e_ = (call);                                                                       \
    if (e_ != cudaSuccess)                                                                         \
      return mt_error_set(MT_E_CUDA, "%s:%d: %s: %s", __FILE__, __LINE__, #call,                   \
                          cudaGetErrorString(e_));                                                 \
  } while (0)

#define MT_CHECK_CUBLAS(call)                                                                      \
  do {                                                                                             \
    cublasStatus_t s_ = (call);                                                                    \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                               \
      return mt_error_set(MT_E_CUDA, "%s:%d: %s: %s", __FILE__, __LINE__, #call,                   \
                          cublasGetStatusString(s_));                                              \
  } while (0)

#define MT_CHECK_CUDNN(call)                                                                       \
  do {                                                                                             \
    cudnnStatus_t s_ = (call);                                                                     \
    if (s_ != CUDNN_STATUS_SUCCESS)                                                                \
      return mt_error_set(MT_E_CUDA, "%s:%d: %s: %s", __FILE__, __LINE__, #call,                   \
                          cudnnGetErrorString(s_));                                                \
  } while (0)

#define MT_CHECK_NCCL(call)                                                                        \
  do {                                                                                             \
    ncclResult_t r_ = (call);                                                                      \
    if (r_ != ncclSuccess)                                                                         \
      return mt_error_set(MT_E_NCCL, "%s:%d: %s: %s", __FILE__, __LINE__, #call,                   \
                          ncclGetErrorString(r_));                                                 \
  } while (0)

/* Where nothing can be returned (frees, destroys): a failure is logged as a
 * warning with file:line and the library's string, and work goes on. */
#define MT_WARN_CUDA(call)                                                                         \
  do {                                                                                             \
    cudaError_t e_ = (call);                                                                       \
    if (e_ != cudaSuccess)                                                                         \
      mt_log(MT_LOG_WARN, "cuda", "%s:%d: %s: %s", __FILE__, __LINE__, #call,                      \
             cudaGetErrorString(e_));                                                              \
  } while (0)

#define MT_WARN_CUBLAS(call)                                                                       \
  do {                                                                                             \
    cublasStatus_t s_ = (call);                                                                    \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                               \
      mt_log(MT_LOG_WARN, "cuda", "%s:%d: %s: %s", __FILE__, __LINE__, #call,                      \
             cublasGetStatusString(s_));                                                           \
  } while (0)

#define MT_WARN_CUDNN(call)                                                                        \
  do {                                                                                             \
    cudnnStatus_t s_ = (call);                                                                     \
    if (s_ != CUDNN_STATUS_SUCCESS)                                                                \
      mt_log(MT_LOG_WARN, "cuda", "%s:%d: %s: %s", __FILE__, __LINE__, #call,                      \
             cudnnGetErrorString(s_));                                                             \
  } while (0)

#define MT_WARN_NCCL(call)                                                                         \
  do {                                                                                             \
    ncclResult_t r_ = (call);                                                                      \
    if (r_ != ncclSuccess)                                                                         \
      mt_log(MT_LOG_WARN, "nccl", "%s:%d: %s: %s", __FILE__, __LINE__, #call,                      \
             ncclGetErrorString(r_));                                                              \
  } while (0)

/* After a kernel launch. */
#define MT_CHECK_LAUNCH() MT_CHECK_CUDA(cudaGetLastError())

#endif
