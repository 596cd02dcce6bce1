/* cuda_kernels.h — CUDA mirrors of the CPU kernels (built when MT_HAVE_CUDA).
 * Every function returns 0 or a negative MT_E_* code with the CUDA/cuBLAS
 * error string recorded (file:line). `dev` is the CUDA device ordinal. */
#ifndef MT_KERNELS_CUDA_H
#define MT_KERNELS_CUDA_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of visible devices (0 when there is no driver or device). */
int mtk_cuda_device_count(void);
float *mtk_cuda_alloc(int dev, size_t bytes);
void mtk_cuda_free(int dev, float *p);
int mtk_cuda_memset0(int dev, float *p, size_t bytes);
int mtk_cuda_fill(int dev, float *p, int64_t n, float v);
/* dst_dev/src_dev: device ordinal, or -1 for host memory. */
int mtk_cuda_copy(int dst_dev, float *dst, int src_dev, const float *src, size_t bytes);
int mtk_cuda_sync(int dev);

/* FullyConnected through cuBLAS (row-major, as the CPU path). */
int mtk_cuda_fc_forward(int dev, const float *x, const float *w, const float *b, float *y, int rows,
                        int n, int k);
int mtk_cuda_fc_backward(int dev, const float *dy, const float *x, const float *w, int rows, int n,
                         int k, float *dx, int dx_add, float *dw, int dw_add, float *db, int db_add);

#ifdef __cplusplus
}
#endif
#endif
