/* cudnn_kernels.h — Convolution and Pooling on the GPU through cuDNN 9
 * (kernels/cuda/cudnn_*.cu; in the CUDA emulation, tests/cuda_emu's
 * reference cuDNN). Declared in every build (plain C types), defined with
 * CUDA, like the rest of cuda_kernels.h. Arrays are float32, NCHW, dense.
 * Every call runs on mtk_stream(dev), in order with the other kernels, and
 * returns 0 or a negative MT_E_* code with cuDNN's error string recorded.
 * Descriptors, the algorithm choice and the workspace size are cached per
 * shape; the workspace comes from the caching allocator. */
#ifndef MT_KERNELS_CUDNN_H
#define MT_KERNELS_CUDNN_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One 2-D convolution's geometry: input (n, c, h, w), weight
 * (k, c / groups, kh, kw), output (n, k, oh, ow) with
 * oh = (h + 2 ph - dh (kh - 1) - 1) / sh + 1 (and ow alike). */
typedef struct {
  int n, c, h, w;
  int k, kh, kw;
  int sh, sw, ph, pw, dh, dw;
  int groups;
  int oh, ow;
} mtk_conv_desc;

/* y = conv(x, w) + bias (bias NULL: none). y is overwritten. */
int mtk_cuda_conv_forward(int dev, const mtk_conv_desc *d, const float *x, const float *w,
                          const float *bias, float *y);
/* Gradients from dy: dx (data), dw (weight), db (bias); a NULL pointer is a
 * gradient not wanted. Each beta: 0 overwrites, 1 accumulates. */
int mtk_cuda_conv_backward(int dev, const mtk_conv_desc *d, const float *x, const float *w,
                           const float *dy, float *dx, float beta_dx, float *dw, float beta_dw,
                           float *db, float beta_db);
/* How many times this process asked cuDNN for a convolution algorithm
 * (cudnnGet*Algorithm_v7): once per geometry, device and direction (forward,
 * backward-data, backward-filter); a repeated shape reuses the cached
 * choice. For tests. */
long long mtk_cuda_conv_algo_queries(void);

/* Pooling types, MXNet's pool_type. */
enum { MTK_POOL_MAX = 0, MTK_POOL_AVG = 1, MTK_POOL_SUM = 2 };

/* One 2-D pooling window's geometry: input (n, c, h, w), output
 * (n, c, oh, ow). The caller computes oh/ow (valid: floor, full: ceil, or
 * global); windows that run past h + ph (full convention) are clipped.
 * count_include_pad: avg divides by kh*kw (1) or by the window's cells
 * inside the unpadded input (0). */
typedef struct {
  int n, c, h, w;
  int kh, kw, sh, sw, ph, pw;
  int oh, ow;
  int type; /* MTK_POOL_* */
  int count_include_pad;
} mtk_pool_desc;

int mtk_cuda_pool_forward(int dev, const mtk_pool_desc *d, const float *x, float *y);
/* dx (+)= the gradient at x from dy; x and y are forward's input and
 * output (max pooling routes to the window's maximum, first one on ties). */
int mtk_cuda_pool_backward(int dev, const mtk_pool_desc *d, const float *x, const float *y,
                           const float *dy, float *dx, float beta);

#ifdef __cplusplus
}
#endif
#endif
