/* pool.c — 2-D pooling on the CPU (see pool.h): the reference loops, and
 * oneDNN's pooling primitives where the build has oneDNN and they compute
 * MXNet's values. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "kernels/cpu/simd.h"
#include "kernels/kernels.h"

/* ------------------------------------------------------ reference path */

/* The window of output cell o along one axis: [*lo, *hi) inside the input,
 * and the avg divisor's extent (clipped to the padded input). */
static inline void window(int o, int s, int p, int k, int n, int *lo, int *hi, int *padded) {
  int start = o * s - p;
  int end = start + k < n + p ? start + k : n + p;
  *padded = end - start;
  *lo = start > 0 ? start : 0;
  *hi = end < n ? end : n;
}

int mtk_pool_ref_forward(const mtk_pool_desc *d, const float *x, float *y) {
  int64_t planes = (int64_t)d->n * d->c, hw = (int64_t)d->h * d->w;
  int64_t ohw = (int64_t)d->oh * d->ow;
  for (int64_t pl = 0; pl < planes; pl++) {
    const float *xp = x + pl * hw;
    float *yp = y + pl * ohw;
    for (int oy = 0; oy < d->oh; oy++) {
      int y0, y1, py;
      window(oy, d->sh, d->ph, d->kh, d->h, &y0, &y1, &py);
      for (int ox = 0; ox < d->ow; ox++) {
        int x0, x1, px;
        window(ox, d->sw, d->pw, d->kw, d->w, &x0, &x1, &px);
        float r;
        if (y0 >= y1 || x0 >= x1) {
          r = 0.0f; /* no input cell in the window */
        } else if (d->type == MTK_POOL_MAX) {
          r = -FLT_MAX;
          for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++)
              if (xp[(int64_t)iy * d->w + ix] > r) r = xp[(int64_t)iy * d->w + ix];
        } else {
          float s = 0;
          for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) s += xp[(int64_t)iy * d->w + ix];
          if (d->type == MTK_POOL_AVG)
            s /= (float)(d->count_include_pad ? py * px : (y1 - y0) * (x1 - x0));
          r = s;
        }
        yp[(int64_t)oy * d->ow + ox] = r;
      }
    }
  }
  return 0;
}

int mtk_pool_ref_backward(const mtk_pool_desc *d, const float *x, const float *y, const float *dy,
                          float *dx, float beta) {
  int64_t planes = (int64_t)d->n * d->c, hw = (int64_t)d->h * d->w;
  int64_t ohw = (int64_t)d->oh * d->ow;
  if (beta == 0.0f) memset(dx, 0, sizeof(float) * (size_t)(planes * hw));
  for (int64_t pl = 0; pl < planes; pl++) {
    const float *xp = x + pl * hw, *gp = dy + pl * ohw;
    float *dp = dx + pl * hw;
    for (int oy = 0; oy < d->oh; oy++) {
      int y0, y1, py;
      window(oy, d->sh, d->ph, d->kh, d->h, &y0, &y1, &py);
      for (int ox = 0; ox < d->ow; ox++) {
        int x0, x1, px;
        window(ox, d->sw, d->pw, d->kw, d->w, &x0, &x1, &px);
        if (y0 >= y1 || x0 >= x1) continue;
        float g = gp[(int64_t)oy * d->ow + ox];
        if (d->type == MTK_POOL_MAX) {
          /* the first maximum in row-major order */
          int64_t at = (int64_t)y0 * d->w + x0;
          float m = xp[at];
          for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++)
              if (xp[(int64_t)iy * d->w + ix] > m) {
                m = xp[(int64_t)iy * d->w + ix];
                at = (int64_t)iy * d->w + ix;
              }
          dp[at] += g;
          continue;
        }
        if (d->type == MTK_POOL_AVG)
          g /= (float)(d->count_include_pad ? py * px : (y1 - y0) * (x1 - x0));
        for (int iy = y0; iy < y1; iy++)
          for (int ix = x0; ix < x1; ix++) dp[(int64_t)iy * d->w + ix] += g;
      }
    }
  }
  return 0;
}

/* -------------------------------------------- max 2x2, stride 2, no pad */

/* The common max pooling (kernel 2x2, stride 2, no padding, every window
 * inside the input): windows do not overlap, so backward writes each input
 * cell once. Branch-free selects the compiler vectorises (MTK_CLONES), with
 * the reference loops' rules exactly: forward starts from -FLT_MAX and
 * keeps a strictly greater value; backward routes to the first maximum in
 * row-major order (a, b on the upper row, c, e on the lower). */
static int max2x2(const mtk_pool_desc *d) {
  return d->type == MTK_POOL_MAX && d->kh == 2 && d->kw == 2 && d->sh == 2 && d->sw == 2 &&
         d->ph == 0 && d->pw == 0 && 2 * d->oh <= d->h && 2 * d->ow <= d->w;
}

MTK_CLONES static void max2x2_forward(const mtk_pool_desc *d, const float *x, float *y) {
  int64_t planes = (int64_t)d->n * d->c, hw = (int64_t)d->h * d->w;
  int64_t ohw = (int64_t)d->oh * d->ow;
  for (int64_t pl = 0; pl < planes; pl++)
    for (int oy = 0; oy < d->oh; oy++) {
      const float *r0 = x + pl * hw + (int64_t)2 * oy * d->w, *r1 = r0 + d->w;
      float *yr = y + pl * ohw + (int64_t)oy * d->ow;
      for (int ox = 0; ox < d->ow; ox++) {
        float m = -FLT_MAX, a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], e = r1[2 * ox + 1];
        m = a > m ? a : m;
        m = b > m ? b : m;
        m = c > m ? c : m;
        m = e > m ? e : m;
        yr[ox] = m;
      }
    }
}

/* One row of windows: rows r0, r1 of x, gradients g (ow of them), into rows
 * d0, d1 of dx (written, or added to when add). */
static void max2x2_bwd_row(const float *r0, const float *r1, const float *g, float *d0, float *d1,
                           int ow, int add) {
  for (int ox = 0; ox < ow; ox++) {
    float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], e = r1[2 * ox + 1];
    int sb = b > a;
    float m = sb ? b : a;
    int sc = c > m;
    m = sc ? c : m;
    int se = e > m;
    int at = se ? 3 : sc ? 2 : sb ? 1 : 0;
    float *cell[4] = {d0 + 2 * ox, d0 + 2 * ox + 1, d1 + 2 * ox, d1 + 2 * ox + 1};
    if (!add) *cell[0] = *cell[1] = *cell[2] = *cell[3] = 0.0f;
    *cell[at] += g[ox];
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(MT_NO_CLONES)
#include <immintrin.h>
#define MAX2X2_AVX512 1

/* The same with AVX-512F, 8 windows a step: the rows' (a, b) pairs sit in
 * even/odd lanes; the comparisons run in the even lanes (ordered '>', as
 * the C loop's), the gradient goes to the selected lane of each pair. Rows
 * of a few windows (ow 4, 8) are the case that matters, which the
 * compiler's vectoriser leaves to branchy scalar code. */
__attribute__((target("avx512f"))) static void max2x2_bwd_row_avx512(const float *r0,
                                                                     const float *r1,
                                                                     const float *g, float *d0,
                                                                     float *d1, int ow, int add) {
  const __m512i pairs = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  const unsigned ev = 0x5555;
  for (int ox = 0; ox < ow; ox += 8) {
    int n = ow - ox < 8 ? ow - ox : 8;
    __mmask16 m16 = (__mmask16)((1u << 2 * n) - 1), m8 = (__mmask16)((1u << n) - 1);
    __m512 u = _mm512_maskz_loadu_ps(m16, r0 + 2 * ox), v = _mm512_maskz_loadu_ps(m16, r1 + 2 * ox);
    __m512 us = _mm512_permute_ps(u, 0xB1), vs = _mm512_permute_ps(v, 0xB1); /* pairs swapped */
    __m512 gg = _mm512_permutexvar_ps(pairs, _mm512_maskz_loadu_ps(m8, g + ox));
    unsigned sb = _mm512_mask_cmp_ps_mask((__mmask16)ev, us, u, _CMP_GT_OQ);
    __m512 m = _mm512_mask_blend_ps((__mmask16)sb, u, us);
    unsigned sc = _mm512_mask_cmp_ps_mask((__mmask16)ev, v, m, _CMP_GT_OQ);
    m = _mm512_mask_blend_ps((__mmask16)sc, m, v);
    unsigned se = _mm512_mask_cmp_ps_mask((__mmask16)ev, vs, m, _CMP_GT_OQ);
    __mmask16 k0 = (__mmask16)((ev & ~se & ~sc & ~sb) | (ev & ~se & ~sc & sb) << 1);
    __mmask16 k1 = (__mmask16)((ev & ~se & sc) | se << 1);
    __m512 o0, o1;
    if (add) {
      o0 = _mm512_maskz_loadu_ps(m16, d0 + 2 * ox);
      o1 = _mm512_maskz_loadu_ps(m16, d1 + 2 * ox);
      o0 = _mm512_mask_add_ps(o0, k0, o0, gg);
      o1 = _mm512_mask_add_ps(o1, k1, o1, gg);
    } else {
      o0 = _mm512_maskz_mov_ps(k0, gg);
      o1 = _mm512_maskz_mov_ps(k1, gg);
    }
    _mm512_mask_storeu_ps(d0 + 2 * ox, m16, o0);
    _mm512_mask_storeu_ps(d1 + 2 * ox, m16, o1);
  }
}
#endif

static void max2x2_backward(const mtk_pool_desc *d, const float *x, const float *dy, float *dx,
                            float beta) {
  int64_t planes = (int64_t)d->n * d->c, hw = (int64_t)d->h * d->w;
  int64_t ohw = (int64_t)d->oh * d->ow;
  int add = beta != 0.0f;
  /* cells outside every window (an odd last row or column) get nothing */
  if (!add && (2 * d->oh != d->h || 2 * d->ow != d->w))
    memset(dx, 0, sizeof(float) * (size_t)(planes * hw));
  void (*row)(const float *, const float *, const float *, float *, float *, int, int) =
      max2x2_bwd_row;
#ifdef MAX2X2_AVX512
  if (__builtin_cpu_supports("avx512f")) row = max2x2_bwd_row_avx512;
#endif
  for (int64_t pl = 0; pl < planes; pl++)
    for (int oy = 0; oy < d->oh; oy++) {
      int64_t at = pl * hw + (int64_t)2 * oy * d->w;
      row(x + at, x + at + d->w, dy + pl * ohw + (int64_t)oy * d->ow, dx + at, dx + at + d->w,
          d->ow, add);
    }
}

#ifndef MT_HAVE_DNNL

int mtk_pool_forward(const mtk_pool_desc *d, const float *x, float *y) {
  if (max2x2(d)) {
    max2x2_forward(d, x, y);
    return 0;
  }
  return mtk_pool_ref_forward(d, x, y);
}

int mtk_pool_backward(const mtk_pool_desc *d, const float *x, const float *y, const float *dy,
                      float *dx, float beta) {
  if (max2x2(d)) {
    max2x2_backward(d, x, dy, dx, beta);
    return 0;
  }
  return mtk_pool_ref_backward(d, x, y, dy, dx, beta);
}

#else /* MT_HAVE_DNNL */

enum { KEY_POOL_FWD = 101, KEY_POOL_BWD };

/* The right padding that gives exactly oh (>= ph: `full` adds cells). */
static int pad_right(int o, int s, int k, int n, int p) {
  int64_t r = (int64_t)(o - 1) * s + k - n - p;
  return r > p ? (int)r : p;
}

/* oneDNN computes MXNet's values for d: max and avg (not sum), padding
 * inside the kernel, and for avg with count_include_pad no window past the
 * padding (oneDNN then divides by kh kw, MXNet by the clipped window). */
static int pool_dnnl_ok(const mtk_pool_desc *d) {
  if (d->type != MTK_POOL_MAX && d->type != MTK_POOL_AVG) return 0;
  int rh = pad_right(d->oh, d->sh, d->kh, d->h, d->ph);
  int rw = pad_right(d->ow, d->sw, d->kw, d->w, d->pw);
  if (d->ph >= d->kh || d->pw >= d->kw || rh >= d->kh || rw >= d->kw) return 0;
  if (d->type == MTK_POOL_AVG && d->count_include_pad && (rh != d->ph || rw != d->pw)) return 0;
  return 1;
}

static void pool_key(int kind, const mtk_pool_desc *d, int *key) {
  memset(key, 0, sizeof(int) * MTK_DNNL_KEY);
  int v[] = {kind,  d->n,  d->c,  d->h,    d->w,
             d->kh, d->kw, d->sh, d->sw,   d->ph,
             d->pw, d->oh, d->ow, d->type, d->count_include_pad};
  memcpy(key, v, sizeof v);
}

static int pool_build(mtk_dnnl_entry *e, const void *user) {
  const mtk_pool_desc *d = user;
  dnnl_memory_desc_t src, dst;
  dnnl_dims_t sd = {d->n, d->c, d->h, d->w}, dd = {d->n, d->c, d->oh, d->ow};
  MTK_CHECK_DNNL(dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, dnnl_nchw));
  MTK_CHECK_DNNL(dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_nchw));
  dnnl_dims_t strides = {d->sh, d->sw}, kernel = {d->kh, d->kw}, dil = {0, 0};
  dnnl_dims_t pl = {d->ph, d->pw};
  dnnl_dims_t pr = {pad_right(d->oh, d->sh, d->kh, d->h, d->ph),
                    pad_right(d->ow, d->sw, d->kw, d->w, d->pw)};
  dnnl_alg_kind_t alg = d->type == MTK_POOL_MAX ? dnnl_pooling_max
                        : d->count_include_pad  ? dnnl_pooling_avg_include_padding
                                                : dnnl_pooling_avg_exclude_padding;
  dnnl_pooling_v2_desc_t fd;
  dnnl_primitive_desc_t pd;
  /* inference: max keeps no workspace (backward recomputes the argmax) */
  MTK_CHECK_DNNL(dnnl_pooling_v2_forward_desc_init(
      &fd, e->key[0] == KEY_POOL_FWD ? dnnl_forward_inference : dnnl_forward_training, alg, &src,
      &dst, strides, kernel, dil, pl, pr));
  MTK_CHECK_DNNL(dnnl_primitive_desc_create(&pd, &fd, NULL, mtk_dnnl_engine(), NULL));
  if (e->key[0] == KEY_POOL_BWD) {
    dnnl_pooling_v2_desc_t bd;
    dnnl_primitive_desc_t hint = pd;
    dnnl_status_t st =
        dnnl_pooling_v2_backward_desc_init(&bd, alg, &src, &dst, strides, kernel, dil, pl, pr);
    if (st == dnnl_success)
      st = dnnl_primitive_desc_create(&pd, &bd, NULL, mtk_dnnl_engine(), hint);
    dnnl_primitive_desc_destroy(hint);
    if (st != dnnl_success)
      return mtk_dnnl_error(st, "pooling backward primitive descriptor", __FILE__, __LINE__);
  }
  dnnl_status_t st = dnnl_primitive_create(&e->prim, pd);
  dnnl_primitive_desc_destroy(pd);
  if (st != dnnl_success) return mtk_dnnl_error(st, "dnnl_primitive_create", __FILE__, __LINE__);
  e->nargs = 2;
  if (e->key[0] == KEY_POOL_FWD) {
    e->arg_id[0] = DNNL_ARG_SRC;
    e->arg_id[1] = DNNL_ARG_DST;
    MT_TRY(mtk_dnnl_memory(&e->mem[0], &src));
    MT_TRY(mtk_dnnl_memory(&e->mem[1], &dst));
  } else {
    e->arg_id[0] = DNNL_ARG_DIFF_DST;
    e->arg_id[1] = DNNL_ARG_DIFF_SRC;
    MT_TRY(mtk_dnnl_memory(&e->mem[0], &dst));
    MT_TRY(mtk_dnnl_memory(&e->mem[1], &src));
  }
  return 0;
}

int mtk_pool_forward(const mtk_pool_desc *d, const float *x, float *y) {
  if (max2x2(d)) {
    max2x2_forward(d, x, y);
    return 0;
  }
  if (!pool_dnnl_ok(d)) return mtk_pool_ref_forward(d, x, y);
  int key[MTK_DNNL_KEY];
  pool_key(KEY_POOL_FWD, d, key);
  mtk_dnnl_entry *e = NULL;
  MT_TRY(mtk_dnnl_acquire(key, pool_build, d, &e));
  void *ptr[] = {(void *)x, y};
  int rc = mtk_dnnl_run(e, ptr);
  mtk_dnnl_release(e);
  return rc;
}

int mtk_pool_backward(const mtk_pool_desc *d, const float *x, const float *y, const float *dy,
                      float *dx, float beta) {
  if (max2x2(d)) {
    max2x2_backward(d, x, dy, dx, beta);
    return 0;
  }
  if (d->type != MTK_POOL_AVG || !pool_dnnl_ok(d))
    return mtk_pool_ref_backward(d, x, y, dy, dx, beta);
  int key[MTK_DNNL_KEY];
  pool_key(KEY_POOL_BWD, d, key);
  mtk_dnnl_entry *e = NULL;
  MT_TRY(mtk_dnnl_acquire(key, pool_build, d, &e));
  int64_t n = (int64_t)d->n * d->c * d->h * d->w;
  float *dst = dx;
  int rc = 0;
  if (beta != 0.0f && !(dst = mtk_dnnl_scratch(e, n))) rc = MT_E_NOMEM;
  if (rc == 0) {
    void *ptr[] = {(void *)dy, dst};
    rc = mtk_dnnl_run(e, ptr);
  }
  if (rc == 0 && dst != dx)
    for (int64_t i = 0; i < n; i++) dx[i] += dst[i];
  mtk_dnnl_release(e);
  return rc;
}

#endif /* MT_HAVE_DNNL */
