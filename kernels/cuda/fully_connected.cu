// fully_connected.cu — FullyConnected through cuBLAS. cuBLAS is column-major:
// a row-major X[rows, k] is a column-major X^T[k, rows], so
// Y[rows, n] = X W^T is computed as Y^T[n, rows] = W[n, k] X^T.
#include "base/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

static cublasHandle_t mt_cublas[MTK_MAX_GPUS];

/* The running executor's handle (bound to its stream) when it is on `dev`,
 * else the device's handle on the legacy default stream. */
static int handle(int dev, cublasHandle_t *h) {
  MT_TRY(mtk_set_device(dev));
  mtk_cuda_stream *s = mtk_cur_stream;
  if (s && s->dev == dev) {
    *h = s->blas;
    return 0;
  }
  if (!mt_cublas[dev]) MT_CHECK_CUBLAS(cublasCreate(&mt_cublas[dev]));
  *h = mt_cublas[dev];
  return 0;
}

__global__ void mtk_add_bias_kernel(float *y, const float *b, int rows, int n) {
  int64_t total = (int64_t)rows * n;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
       i += (int64_t)gridDim.x * blockDim.x)
    y[i] += b[i % n];
}

// db[n] (+)= sum over rows of dy[rows, n]: one thread per column, fixed order (deterministic)
__global__ void mtk_sum_rows_kernel(float *db, const float *dy, int rows, int n, int add) {
  int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= n) return;
  float s = 0.0f;
  for (int r = 0; r < rows; r++) s += dy[(int64_t)r * n + c];
  db[c] = add ? db[c] + s : s;
}

extern "C" int mtk_cuda_fc_forward(int dev, const float *x, const float *w, const float *b,
                                   float *y, int rows, int n, int k) {
  cublasHandle_t h;
  int rc = handle(dev, &h);
  if (rc) return rc;
  const float one = 1.0f, zero = 0.0f;
  MT_CHECK_CUBLAS(
      cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, n, rows, k, &one, w, k, x, k, &zero, y, n));
  if (b) {
    int64_t total = (int64_t)rows * n;
    int blocks = (int)((total + 255) / 256);
    if (blocks > 65535) blocks = 65535;
    mtk_add_bias_kernel<<<blocks, 256, 0, mtk_stream(dev)>>>(y, b, rows, n);
    MT_CHECK_LAUNCH();
  }
  return 0;
}

extern "C" int mtk_cuda_fc_backward(int dev, const float *dy, const float *x, const float *w,
                                    int rows, int n, int k, float *dx, int dx_add, float *dw,
                                    int dw_add, float *db, int db_add) {
  cublasHandle_t h;
  int rc = handle(dev, &h);
  if (rc) return rc;
  const float one = 1.0f, zero = 0.0f;
  // dW[n, k] = dY^T X  ->  column-major dW^T[k, n] = X^T[k, rows] dY[rows, n]
  if (dw)
    MT_CHECK_CUBLAS(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, k, n, rows, &one, x, k, dy, n,
                                dw_add ? &one : &zero, dw, k));
  // dX[rows, k] = dY W  ->  column-major dX^T[k, rows] = W^T[k, n] dY^T[n, rows]
  if (dx)
    MT_CHECK_CUBLAS(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, k, rows, n, &one, w, k, dy, n,
                                dx_add ? &one : &zero, dx, k));
  if (db) {
    mtk_sum_rows_kernel<<<(n + 255) / 256, 256, 0, mtk_stream(dev)>>>(db, dy, rows, n, db_add);
    MT_CHECK_LAUNCH();
  }
  return 0;
}
