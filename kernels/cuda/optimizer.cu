// optimizer.cu — CUDA mirrors of the SGD kernels of kernels/cpu/optimizer.c
// (MXNet's SGDKernel and MultiSGDKernel; formulas in kernels/cpu/optimizer.h)
// and the device-side "all finite" check that guards an update.
//
// Bit-exactness: the CPU build does not contract a*b + c into FMAs (C11
// mode, -ffp-contract=off), nvcc does by default; every operation here is
// written with __fmul_rn / __fadd_rn / __fsub_rn, which nvcc never
// contracts, in the CPU's order, so a GPU update equals the CPU update bit
// for bit given the same weights, gradients and scalars.
//
// mtk_cuda_multi_sgd_update_flat updates a whole flat buffer (an mt_arena of
// parameters and its gradient arena, same layout) in one launch; each
// parameter is a segment with its own lr and wd (lr_mult, wd_mult) and its
// own update count on the host side, which is the caller's business.
#include <math.h>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

__device__ inline float mtk_clipf_d(float x, float c) { return x > c ? c : (x < -c ? -c : x); }

// sgd_update: w = (1 - lr*wd)*w - (lr*rescale)*g, or - lr*clip(rescale*g, c).
__global__ void mtk_sgd_kernel(float *w, const float *g, int64_t n, float lr, float wd,
                               float rescale, float clip) {
  const float keep = __fsub_rn(1.f, __fmul_rn(lr, wd)), step = __fmul_rn(lr, rescale);
  MTK_FOR(i, n) {
    float t = clip >= 0.f ? __fmul_rn(lr, mtk_clipf_d(__fmul_rn(rescale, g[i]), clip))
                          : __fmul_rn(step, g[i]);
    w[i] = __fsub_rn(__fmul_rn(keep, w[i]), t);
  }
}

// One element of multi_sgd[_mom]_update:
//   d = momentum*m - (lr*wd)*w - (lr*rescale)*g   (or - lr*clip(rescale*g, c))
//   m = d (with momentum); w = w + d. Without a momentum buffer m = +0.
__device__ inline void mtk_multi_sgd_elem(float *w, const float *g, float *mom, int64_t i, float lr,
                                          float wd, float momentum, float rescale, float clip) {
  const float decay = __fmul_rn(lr, wd), step = __fmul_rn(lr, rescale);
  float t = clip >= 0.f ? __fmul_rn(lr, mtk_clipf_d(__fmul_rn(rescale, g[i]), clip))
                        : __fmul_rn(step, g[i]);
  float m0 = mom ? __fmul_rn(momentum, mom[i]) : 0.f;
  float d = __fsub_rn(__fsub_rn(m0, __fmul_rn(decay, w[i])), t);
  if (mom) mom[i] = d;
  w[i] = __fadd_rn(w[i], d);
}

__global__ void mtk_multi_sgd_kernel(float *w, const float *g, float *mom, int64_t n, float lr,
                                     float wd, float momentum, float rescale, float clip) {
  MTK_FOR(i, n) mtk_multi_sgd_elem(w, g, mom, i, lr, wd, momentum, rescale, clip);
}

// Segments sorted by begin, not overlapping; elements outside every segment
// (arena padding) are left alone. Binary search for the segment of i.
__global__ void mtk_multi_sgd_flat_kernel(float *w, const float *g, float *mom, int64_t n,
                                          const mtk_sgd_segment *seg, int nseg, float momentum,
                                          float rescale, float clip) {
  MTK_FOR(i, n) {
    int lo = 0, hi = nseg - 1;
    while (lo < hi) { /* last segment with begin <= i */
      int mid = (lo + hi + 1) / 2;
      if (seg[mid].begin <= i) lo = mid;
      else hi = mid - 1;
    }
    if (i < seg[lo].begin || i >= seg[lo].end) continue;
    mtk_multi_sgd_elem(w, g, mom, i, seg[lo].lr, seg[lo].wd, momentum, rescale, clip);
  }
}

extern "C" int mtk_cuda_sgd_update(int dev, float *w, const float *g, int64_t n, float lr, float wd,
                                   float rescale, float clip) {
  MTK_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_sgd_kernel<<<mtk_blocks(n), MTK_THREADS>>>(w, g, n, lr, wd, rescale, clip);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_multi_sgd_update(int dev, float *w, const float *g, float *mom, int64_t n,
                                         float lr, float wd, float momentum, float rescale,
                                         float clip) {
  MTK_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_multi_sgd_kernel<<<mtk_blocks(n), MTK_THREADS>>>(w, g, mom, n, lr, wd, momentum, rescale,
                                                       clip);
  MT_CHECK_LAUNCH();
  return 0;
}

/* The segment table lives in a per-device buffer that grows as needed. */
static mtk_sgd_segment *seg_buf[MTK_MAX_GPUS];
static int seg_cap[MTK_MAX_GPUS];

extern "C" int mtk_cuda_multi_sgd_update_flat(int dev, float *w, const float *g, float *mom,
                                              int64_t n, const mtk_sgd_segment *segs, int nseg,
                                              float momentum, float rescale, float clip) {
  MTK_TRY(mtk_set_device(dev));
  if (n <= 0 || nseg <= 0) return 0;
  for (int s = 0; s < nseg; s++)
    if (segs[s].begin < 0 || segs[s].end < segs[s].begin || segs[s].end > n ||
        (s > 0 && segs[s].begin < segs[s - 1].end))
      return mt_error_set(MT_E_INVAL,
                          "mtk_cuda_multi_sgd_update_flat: segment %d [%lld, %lld) is not sorted, "
                          "disjoint and inside [0, %lld)",
                          s, (long long)segs[s].begin, (long long)segs[s].end, (long long)n);
  if (seg_cap[dev] < nseg) {
    if (seg_buf[dev]) MT_CHECK_CUDA(cudaFree(seg_buf[dev]));
    seg_buf[dev] = NULL;
    seg_cap[dev] = 0;
    MT_CHECK_CUDA(cudaMalloc((void **)&seg_buf[dev], (size_t)nseg * sizeof(mtk_sgd_segment)));
    seg_cap[dev] = nseg;
  }
  /* pageable source: returns once the table is copied, so segs may be reused */
  MT_CHECK_CUDA(cudaMemcpy(seg_buf[dev], segs, (size_t)nseg * sizeof(mtk_sgd_segment),
                           cudaMemcpyHostToDevice));
  mtk_multi_sgd_flat_kernel<<<mtk_blocks(n), MTK_THREADS>>>(w, g, mom, n, seg_buf[dev], nseg,
                                                            momentum, rescale, clip);
  MT_CHECK_LAUNCH();
  return 0;
}

/* ---- all finite ---- */

// *flag = 1 if some value is NaN or Inf (every writer stores the same 1).
__global__ void mtk_nonfinite_kernel(const float *p, int64_t n, int *flag) {
  MTK_FOR(i, n) if (!isfinite(p[i])) *flag = 1;
}

extern "C" int mtk_cuda_all_finite(int dev, const float *p, int64_t n, int *out) {
  MTK_TRY(mtk_set_device(dev));
  *out = 1;
  if (n <= 0) return 0;
  void *scratch;
  MTK_TRY(mtk_scratch(dev, &scratch));
  int *flag = (int *)scratch;
  MT_CHECK_CUDA(cudaMemsetAsync(flag, 0, sizeof *flag, 0));
  mtk_nonfinite_kernel<<<mtk_blocks(n), MTK_THREADS>>>(p, n, flag);
  MT_CHECK_LAUNCH();
  int h = 0;
  MT_CHECK_CUDA(cudaMemcpy(&h, flag, sizeof h, cudaMemcpyDeviceToHost));
  *out = !h;
  return 0;
}
