// dropout.cu — CUDA mirror of kernels/cpu/dropout.c. Element j of the mask
// is (u >= p) * scale with u = mtk_philox_uniform(key, hi, first + j), the
// same header-only Philox (base/philox.h, MTK_HD) and the same exact
// float arithmetic as the CPU, so the GPU mask equals the CPU mask bit for
// bit. Each thread draws one Philox block of four uniforms and writes the
// (up to) four mask elements it covers.
#include "base/philox.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

// Thread b covers uniform indices [4*(q0 + b), 4*(q0 + b) + 4) intersected
// with [first, first + n), q0 = first / 4.
__global__ void mtk_dropout_mask_kernel(float *mask, int64_t n, float p, float scale, uint64_t key,
                                        uint64_t hi, uint64_t first) {
  uint64_t q0 = first >> 2, qend = (first + (uint64_t)n + 3) >> 2;
  MTK_FOR(b, (int64_t)(qend - q0)) {
    uint64_t q = q0 + (uint64_t)b;
    mtk_philox4 r = mtk_philox(key, hi, q);
    for (unsigned lane = 0; lane < 4; lane++) {
      uint64_t idx = q * 4 + lane;
      if (idx < first || idx >= first + (uint64_t)n) continue;
      mask[idx - first] = mtk_u01(r.v[lane]) >= p ? scale : 0.0f;
    }
  }
}

// y = x * mask + beta * y
__global__ void mtk_dropout_apply_kernel(float *y, const float *x, const float *mask, int64_t n,
                                         float beta) {
  MTK_FOR(i, n) {
    float v = __fmul_rn(x[i], mask[i]);
    y[i] = beta == 0.0f ? v : __fadd_rn(v, __fmul_rn(beta, y[i]));
  }
}

extern "C" int mtk_cuda_dropout_mask(int dev, float *mask, int64_t n, float p, float scale,
                                     uint64_t key, uint64_t hi, uint64_t first) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_dropout_mask_kernel<<<mtk_blocks((n + 7) / 4), MTK_THREADS, 0, mtk_stream(dev)>>>(
      mask, n, p, scale, key, hi, first);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_dropout_apply(int dev, float *y, const float *x, const float *mask,
                                      int64_t n, float beta) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_dropout_apply_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(y, x, mask, n, beta);
  MT_CHECK_LAUNCH();
  return 0;
}
