/* device_runtime.h — the CUDA device runtime of base/ (built when
 * MT_HAVE_CUDA): device count, memory, copies, page-locked host memory and
 * the per-executor streams (memory.cu, stream.cu). Every function returns 0
 * or a negative MT_E_* code with the CUDA error string recorded
 * (file:line), or NULL for the allocators. `dev` is the CUDA ordinal. */
#ifndef MT_BASE_CUDA_DEVICE_RUNTIME_H
#define MT_BASE_CUDA_DEVICE_RUNTIME_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of visible devices (0 when there is no driver or device). */
int mtk_cuda_device_count(void);
/* The same, and when it is 0 because cudaGetDeviceCount failed, the
 * driver's reason in *why (cudaGetErrorString: "no CUDA-capable device is
 * detected", "CUDA driver version is insufficient for CUDA runtime
 * version"; a static string), else NULL. */
int mtk_cuda_device_query(const char **why);
float *mtk_cuda_alloc(int dev, size_t bytes);
void mtk_cuda_free(int dev, float *p);
int mtk_cuda_memset0(int dev, float *p, size_t bytes);
/* dst_dev/src_dev: device ordinal, or -1 for host memory. */
int mtk_cuda_copy(int dst_dev, float *dst, int src_dev, const float *src, size_t bytes);
int mtk_cuda_sync(int dev);
/* Page-locked host memory (staging for MPI); NULL with the error recorded. */
float *mtk_cuda_host_alloc(size_t bytes);
void mtk_cuda_host_free(float *p);

/* Streams (stream.cu): an executor's own CUDA stream, with a cuBLAS handle
 * bound to it. While a stream is current on the calling thread
 * (mtk_cuda_stream_use), every function here that works on the stream's
 * device queues its kernels, cuBLAS calls and copies on it (copies that
 * involve host memory still return when done); on other devices, and with
 * no current stream, on the legacy default stream. Streams are blocking
 * streams: work on the legacy default stream of the device waits for them
 * and they for it. */
typedef struct mtk_cuda_stream mtk_cuda_stream;
int mtk_cuda_stream_create(int dev, mtk_cuda_stream **out);
/* Waits for the stream's work, then frees it (NULL: nothing). */
void mtk_cuda_stream_destroy(mtk_cuda_stream *s);
/* Makes s (NULL: none) current for the calling thread; returns the old one. */
mtk_cuda_stream *mtk_cuda_stream_use(mtk_cuda_stream *s);
/* Blocks until the stream's queued work is done (NULL: nothing to wait for). */
int mtk_cuda_stream_wait(mtk_cuda_stream *s);

#ifdef __cplusplus
}
#endif
#endif
