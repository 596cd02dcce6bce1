// optimizer.cu — CUDA mirrors of the optimizer kernels of
// kernels/cpu/optimizer.c (MXNet's SGDKernel, MultiSGDKernel, NAGMomKernel,
// AdamUpdateKernel, RMSPropUpdateKernel, RMSPropAlexUpdateKernel and
// AdaGrad's NDArray sequence; formulas in kernels/cpu/optimizer.h) and the
// device-side "all finite" check that guards an update.
//
// Bit-exactness: the CPU build does not contract a*b + c into FMAs (C11
// mode, -ffp-contract=off), nvcc does by default; every operation here is
// written with __fmul_rn / __fadd_rn / __fsub_rn / __fdiv_rn / __fsqrt_rn,
// which nvcc never contracts or approximates (whatever -use_fast_math or
// -prec-div/-prec-sqrt say), in the CPU's order and parenthesisation, so a
// GPU update equals the CPU update bit for bit given the same weights,
// gradients, states and scalars (denormals are kept: nvcc's default
// -ftz=false, like the CPU).
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

// The adaptive kernels below take their clip bounds already mapped by
// mtk_clip_bound: a bound < 0 (no clipping) becomes +inf, and clipping at
// +inf leaves every value (NaN and +-inf included) unchanged, as the CPU's
// rmsprop/adagrad loops do and as its unclipped branches compute. One
// branch-free kernel then serves every combination.
static inline float mtk_clip_bound(float c) { return c >= 0.f ? c : INFINITY; }

// nag_mom_update, in place (the second use of w reads the new weight):
//   m = momentum*m;  G = clip(rescale*g, c)
//   w = (w - m) + (momentum + 1)*(m - lr*(G + wd*w));  m = m - lr*(G + wd*w_new)
__global__ void mtk_nag_mom_kernel(float *w, const float *g, float *mom, int64_t n, float lr,
                                   float wd, float momentum, float rescale, float clip) {
  const float mp1 = __fadd_rn(momentum, 1.f);
  MTK_FOR(i, n) {
    float m = __fmul_rn(momentum, mom[i]);
    float gi = mtk_clipf_d(__fmul_rn(rescale, g[i]), clip);
    float wi = w[i];
    float nw =
        __fadd_rn(__fsub_rn(wi, m),
                  __fmul_rn(mp1, __fsub_rn(m, __fmul_rn(lr, __fadd_rn(gi, __fmul_rn(wd, wi))))));
    w[i] = nw;
    mom[i] = __fsub_rn(m, __fmul_rn(lr, __fadd_rn(gi, __fmul_rn(wd, nw))));
  }
}

// adam_update: G = clip(g*rescale + w*wd, c)
//   mean = beta1*mean + (1 - beta1)*G;  var = beta2*var + ((1 - beta2)*G)*G
//   w = w - (lr*mean) / (sqrt(var) + epsilon)
__global__ void mtk_adam_kernel(float *w, const float *g, float *mean, float *var, int64_t n,
                                float lr, float wd, float beta1, float beta2, float epsilon,
                                float rescale, float clip) {
  const float c1 = __fsub_rn(1.f, beta1), c2 = __fsub_rn(1.f, beta2);
  MTK_FOR(i, n) {
    float wi = w[i];
    float gr = mtk_clipf_d(__fadd_rn(__fmul_rn(g[i], rescale), __fmul_rn(wi, wd)), clip);
    float mi = __fadd_rn(__fmul_rn(beta1, mean[i]), __fmul_rn(c1, gr));
    float vi = __fadd_rn(__fmul_rn(beta2, var[i]), __fmul_rn(__fmul_rn(c2, gr), gr));
    mean[i] = mi;
    var[i] = vi;
    w[i] = __fsub_rn(wi, __fdiv_rn(__fmul_rn(lr, mi), __fadd_rn(__fsqrt_rn(vi), epsilon)));
  }
}

// rmsprop_update: G = clip(rescale*g + wd*w, c)
//   n = (1 - gamma1)*(G*G) + gamma1*n;  w = clip(w - lr*(G / sqrt(n + epsilon)), cw)
__global__ void mtk_rmsprop_kernel(float *w, const float *g, float *state_n, int64_t n, float lr,
                                   float wd, float gamma1, float epsilon, float rescale, float clip,
                                   float clip_weights) {
  const float c1 = __fsub_rn(1.f, gamma1);
  MTK_FOR(i, n) {
    float wi = w[i];
    float gr = mtk_clipf_d(__fadd_rn(__fmul_rn(rescale, g[i]), __fmul_rn(wd, wi)), clip);
    float ni = __fadd_rn(__fmul_rn(c1, __fmul_rn(gr, gr)), __fmul_rn(gamma1, state_n[i]));
    state_n[i] = ni;
    w[i] =
        mtk_clipf_d(__fsub_rn(wi, __fmul_rn(lr, __fdiv_rn(gr, __fsqrt_rn(__fadd_rn(ni, epsilon))))),
                    clip_weights);
  }
}

// rmspropalex_update (centered): G = clip(rescale*g + wd*w, c)
//   n = ((1 - gamma1)*G)*G + gamma1*n;  gs = (1 - gamma1)*G + gamma1*gs
//   delta = gamma2*delta - (lr*G) / sqrt((n - gs*gs) + epsilon);  w = clip(w + delta, cw)
__global__ void mtk_rmspropalex_kernel(float *w, const float *g, float *state_n, float *state_g,
                                       float *delta, int64_t n, float lr, float wd, float gamma1,
                                       float gamma2, float epsilon, float rescale, float clip,
                                       float clip_weights) {
  const float c1 = __fsub_rn(1.f, gamma1);
  MTK_FOR(i, n) {
    float wi = w[i];
    float gr = mtk_clipf_d(__fadd_rn(__fmul_rn(rescale, g[i]), __fmul_rn(wd, wi)), clip);
    float ni = __fadd_rn(__fmul_rn(__fmul_rn(c1, gr), gr), __fmul_rn(gamma1, state_n[i]));
    float gi = __fadd_rn(__fmul_rn(c1, gr), __fmul_rn(gamma1, state_g[i]));
    float di =
        __fsub_rn(__fmul_rn(gamma2, delta[i]),
                  __fdiv_rn(__fmul_rn(lr, gr),
                            __fsqrt_rn(__fadd_rn(__fsub_rn(ni, __fmul_rn(gi, gi)), epsilon))));
    state_n[i] = ni;
    state_g[i] = gi;
    delta[i] = di;
    w[i] = mtk_clipf_d(__fadd_rn(wi, di), clip_weights);
  }
}

// AdaGrad (dense): G = clip(g*rescale, c);  h = h + G*G
//   w = w + (G / sqrt(h + eps) + w*wd)*(-lr)
__global__ void mtk_adagrad_kernel(float *w, const float *g, float *history, int64_t n, float lr,
                                   float wd, float eps, float rescale, float clip) {
  const float neg_lr = -lr;
  MTK_FOR(i, n) {
    float wi = w[i];
    float gr = mtk_clipf_d(__fmul_rn(g[i], rescale), clip);
    float hi = __fadd_rn(history[i], __fmul_rn(gr, gr));
    history[i] = hi;
    float div = __fdiv_rn(gr, __fsqrt_rn(__fadd_rn(hi, eps)));
    w[i] = __fadd_rn(wi, __fmul_rn(__fadd_rn(div, __fmul_rn(wi, wd)), neg_lr));
  }
}

extern "C" int mtk_cuda_sgd_update(int dev, float *w, const float *g, int64_t n, float lr, float wd,
                                   float rescale, float clip) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_sgd_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(w, g, n, lr, wd, rescale,
                                                                     clip);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_multi_sgd_update(int dev, float *w, const float *g, float *mom, int64_t n,
                                         float lr, float wd, float momentum, float rescale,
                                         float clip) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_multi_sgd_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(w, g, mom, n, lr, wd,
                                                                           momentum, rescale, clip);
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_nag_mom_update(int dev, float *w, const float *g, float *mom, int64_t n,
                                       float lr, float wd, float momentum, float rescale,
                                       float clip) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_nag_mom_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(
      w, g, mom, n, lr, wd, momentum, rescale, mtk_clip_bound(clip));
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_adam_update(int dev, float *w, const float *g, float *mean, float *var,
                                    int64_t n, float lr, float wd, float beta1, float beta2,
                                    float epsilon, float rescale, float clip) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_adam_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(
      w, g, mean, var, n, lr, wd, beta1, beta2, epsilon, rescale, mtk_clip_bound(clip));
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_rmsprop_update(int dev, float *w, const float *g, float *state_n, int64_t n,
                                       float lr, float wd, float gamma1, float epsilon,
                                       float rescale, float clip, float clip_weights) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_rmsprop_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(
      w, g, state_n, n, lr, wd, gamma1, epsilon, rescale, mtk_clip_bound(clip),
      mtk_clip_bound(clip_weights));
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_rmspropalex_update(int dev, float *w, const float *g, float *state_n,
                                           float *state_g, float *delta, int64_t n, float lr,
                                           float wd, float gamma1, float gamma2, float epsilon,
                                           float rescale, float clip, float clip_weights) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_rmspropalex_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(
      w, g, state_n, state_g, delta, n, lr, wd, gamma1, gamma2, epsilon, rescale,
      mtk_clip_bound(clip), mtk_clip_bound(clip_weights));
  MT_CHECK_LAUNCH();
  return 0;
}

extern "C" int mtk_cuda_adagrad_update(int dev, float *w, const float *g, float *history, int64_t n,
                                       float lr, float wd, float eps, float rescale, float clip) {
  MT_TRY(mtk_set_device(dev));
  if (n <= 0) return 0;
  mtk_adagrad_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(
      w, g, history, n, lr, wd, eps, rescale, mtk_clip_bound(clip));
  MT_CHECK_LAUNCH();
  return 0;
}

/* The segment table lives in a per-device buffer that grows as needed. */
static mtk_sgd_segment *seg_buf[MTK_MAX_GPUS];
static int seg_cap[MTK_MAX_GPUS];

extern "C" int mtk_cuda_multi_sgd_update_flat(int dev, float *w, const float *g, float *mom,
                                              int64_t n, const mtk_sgd_segment *segs, int nseg,
                                              float momentum, float rescale, float clip) {
  MT_TRY(mtk_set_device(dev));
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
  MT_CHECK_CUDA(mtk_memcpy(seg_buf[dev], segs, (size_t)nseg * sizeof(mtk_sgd_segment),
                           cudaMemcpyHostToDevice, mtk_stream(dev)));
  mtk_multi_sgd_flat_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(
      w, g, mom, n, seg_buf[dev], nseg, momentum, rescale, clip);
  MT_CHECK_LAUNCH();
  return 0;
}

/* ---- all finite ---- */

// *flag = 1 if some value is NaN or Inf (every writer stores the same 1).
__global__ void mtk_nonfinite_kernel(const float *p, int64_t n, int *flag) {
  MTK_FOR(i, n) if (!isfinite(p[i])) *flag = 1;
}

extern "C" int mtk_cuda_all_finite(int dev, const float *p, int64_t n, int *out) {
  MT_TRY(mtk_set_device(dev));
  *out = 1;
  if (n <= 0) return 0;
  void *scratch;
  MT_TRY(mtk_scratch(dev, &scratch));
  int *flag = (int *)scratch;
  MT_CHECK_CUDA(cudaMemsetAsync(flag, 0, sizeof *flag, mtk_stream(dev)));
  mtk_nonfinite_kernel<<<mtk_blocks(n), MTK_THREADS, 0, mtk_stream(dev)>>>(p, n, flag);
  MT_CHECK_LAUNCH();
  int h = 0;
  MT_CHECK_CUDA(mtk_memcpy(&h, flag, sizeof h, cudaMemcpyDeviceToHost, mtk_stream(dev)));
  *out = !h;
  return 0;
}
