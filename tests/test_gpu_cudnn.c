/* test_gpu_cudnn.c — the cuDNN kernels (kernels/cuda/cudnn_kernels.h) on
 * device buffers against naive loops in double here (label gpu; exits 77,
 * "skipped", when the build has no CUDA or no device is visible; in the
 * CUDA emulation it runs against tests/cuda_emu's reference cuDNN).
 *
 * Convolution: stride, padding, dilation, groups (depthwise too), 1x1,
 * non-square kernels and inputs, with and without bias. Forward writes y
 * (prefilled with NaN, so a kernel that reads it fails); backward runs
 * three times: every gradient with beta 0 onto NaN, every gradient with
 * beta 1 onto random values (accumulates), and dx alone. The algorithm is
 * asked for once per geometry, device and direction: the second call on a
 * shape must not ask again (mtk_cuda_conv_algo_queries).
 *
 * Pooling, MXNet's semantics (src/operator/nn/pool.h): max, avg with
 * count_include_pad 1 and 0, sum; the 'valid' output size (cuDNN's) and
 * the 'full' one (ceil: windows clipped at the right and bottom edges, the
 * hand kernels), global pooling, pad as large as the kernel; backward with
 * beta 0 and 1. Max routes to the window's first maximum; the inputs are
 * distinct random values, so no ties.
 *
 * Also: the same calls with an executor's stream current (queued there),
 * gpu(1) when there is one, and geometry the kernels refuse.
 * Tolerance: |gpu - ref| <= 1e-4 * max(|ref|, 1) (float sums in cuDNN's
 * order against double). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "testutil.h"

#ifdef MT_HAVE_CUDA

#define TOL 1e-4

/* ------------------------------------------------------------- helpers */

static float *host_alloc(int64_t n) {
  float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  assert_non_null(p);
  return p;
}

/* n floats on gpu(dev) holding h, or NaN when h is NULL */
static float *dev_from(int dev, const float *h, int64_t n) {
  float *d = mtk_cuda_alloc(dev, sizeof(float) * (size_t)n);
  assert_non_null(d);
  float *tmp = NULL;
  if (!h) {
    tmp = host_alloc(n);
    for (int64_t i = 0; i < n; i++) tmp[i] = NAN;
    h = tmp;
  }
  MT_ASSERT_OK(mtk_cuda_copy(dev, d, -1, h, sizeof(float) * (size_t)n));
  free(tmp);
  return d;
}

static float *dev_to_host(int dev, const float *d, int64_t n) {
  float *h = host_alloc(n);
  MT_ASSERT_OK(mtk_cuda_copy(-1, h, dev, d, sizeof(float) * (size_t)n));
  return h;
}

/* fails unless every |got - want| <= TOL * max(|want|, 1) */
static void expect_close(const char *what, const char *cs, const float *got, const double *want,
                         int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - want[i]) / fmax(fabs(want[i]), 1.0);
    if (!(d <= TOL))
      fail_msg("%s, %s: element %lld: gpu %.9g, reference %.9g", cs, what, (long long)i,
               (double)got[i], want[i]);
  }
}

static void expect_dev_close(int dev, const char *what, const char *cs, const float *d,
                             const double *want, int64_t n) {
  float *h = dev_to_host(dev, d, n);
  expect_close(what, cs, h, want, n);
  free(h);
}

/* --------------------------------------------------------- convolution */

typedef struct {
  const char *name;
  mtk_conv_desc d; /* oh, ow filled in by conv_fill */
  int bias;
} conv_case;

static void conv_fill(mtk_conv_desc *d) {
  d->oh = (d->h + 2 * d->ph - d->dh * (d->kh - 1) - 1) / d->sh + 1;
  d->ow = (d->w + 2 * d->pw - d->dw * (d->kw - 1) - 1) / d->sw + 1;
}

static int64_t xsize(const mtk_conv_desc *d) { return (int64_t)d->n * d->c * d->h * d->w; }
static int64_t wsize(const mtk_conv_desc *d) {
  return (int64_t)d->k * (d->c / d->groups) * d->kh * d->kw;
}
static int64_t ysize(const mtk_conv_desc *d) { return (int64_t)d->n * d->k * d->oh * d->ow; }

/* For each (n, k, oy, ox) and each tap (c, ky, kx) inside the input, calls
 * f with the flat indices of x, w and y. */
#define CONV_TAPS(d, XI, WI, YI, BODY)                                                             \
  do {                                                                                             \
    int cg_ = (d)->c / (d)->groups, kg_ = (d)->k / (d)->groups;                                    \
    for (int n_ = 0; n_ < (d)->n; n_++)                                                            \
      for (int k_ = 0; k_ < (d)->k; k_++)                                                          \
        for (int oy_ = 0; oy_ < (d)->oh; oy_++)                                                    \
          for (int ox_ = 0; ox_ < (d)->ow; ox_++)                                                  \
            for (int c_ = 0; c_ < cg_; c_++)                                                       \
              for (int ky_ = 0; ky_ < (d)->kh; ky_++)                                              \
                for (int kx_ = 0; kx_ < (d)->kw; kx_++) {                                          \
                  int iy_ = oy_ * (d)->sh - (d)->ph + ky_ * (d)->dh;                               \
                  int ix_ = ox_ * (d)->sw - (d)->pw + kx_ * (d)->dw;                               \
                  if (iy_ < 0 || iy_ >= (d)->h || ix_ < 0 || ix_ >= (d)->w) continue;              \
                  int64_t XI =                                                                     \
                      (((int64_t)n_ * (d)->c + k_ / kg_ * cg_ + c_) * (d)->h + iy_) * (d)->w +     \
                      ix_;                                                                         \
                  int64_t WI = (((int64_t)k_ * cg_ + c_) * (d)->kh + ky_) * (d)->kw + kx_;         \
                  int64_t YI = (((int64_t)n_ * (d)->k + k_) * (d)->oh + oy_) * (d)->ow + ox_;      \
                  BODY;                                                                            \
                }                                                                                  \
  } while (0)

static void conv_case_run(int dev, const conv_case *cs) {
  const mtk_conv_desc *d = &cs->d;
  int64_t nx = xsize(d), nw = wsize(d), ny = ysize(d), nb = d->k;
  float *x = host_alloc(nx), *w = host_alloc(nw), *b = host_alloc(nb), *dy = host_alloc(ny);
  tu_fill_uniform(x, nx, -1, 1, 11);
  tu_fill_uniform(w, nw, -1, 1, 12);
  tu_fill_uniform(b, nb, -1, 1, 13);
  tu_fill_uniform(dy, ny, -1, 1, 14);
  double *ry = calloc((size_t)ny, sizeof(double)), *rdx = calloc((size_t)nx, sizeof(double));
  double *rdw = calloc((size_t)nw, sizeof(double)), *rdb = calloc((size_t)nb, sizeof(double));
  assert_true(ry && rdx && rdw && rdb);
  CONV_TAPS(d, xi, wi, yi, {
    ry[yi] += (double)x[xi] * w[wi];
    rdx[xi] += (double)dy[yi] * w[wi];
    rdw[wi] += (double)dy[yi] * x[xi];
  });
  for (int64_t i = 0; i < ny; i++) {
    int k = (int)(i / ((int64_t)d->oh * d->ow) % d->k);
    if (cs->bias) ry[i] += b[k];
    rdb[k] += dy[i];
  }

  float *gx = dev_from(dev, x, nx), *gw = dev_from(dev, w, nw), *gb = dev_from(dev, b, nb);
  float *gdy = dev_from(dev, dy, ny), *gy = dev_from(dev, NULL, ny);
  /* forward: one algorithm query for a new geometry, none for the repeat */
  long long q0 = mtk_cuda_conv_algo_queries();
  MT_ASSERT_OK(mtk_cuda_conv_forward(dev, d, gx, gw, cs->bias ? gb : NULL, gy));
  assert_int_equal(mtk_cuda_conv_algo_queries(), q0 + 1);
  expect_dev_close(dev, "forward", cs->name, gy, ry, ny);
  MT_ASSERT_OK(mtk_cuda_conv_forward(dev, d, gx, gw, cs->bias ? gb : NULL, gy));
  assert_int_equal(mtk_cuda_conv_algo_queries(), q0 + 1);
  expect_dev_close(dev, "forward again", cs->name, gy, ry, ny);

  /* backward, beta 0 onto NaN: backward-data and backward-filter asked once */
  float *gdx = dev_from(dev, NULL, nx), *gdw = dev_from(dev, NULL, nw),
        *gdb = dev_from(dev, NULL, nb);
  MT_ASSERT_OK(mtk_cuda_conv_backward(dev, d, gx, gw, gdy, gdx, 0.0f, gdw, 0.0f, gdb, 0.0f));
  assert_int_equal(mtk_cuda_conv_algo_queries(), q0 + 3);
  expect_dev_close(dev, "dx (beta 0)", cs->name, gdx, rdx, nx);
  expect_dev_close(dev, "dw (beta 0)", cs->name, gdw, rdw, nw);
  expect_dev_close(dev, "db (beta 0)", cs->name, gdb, rdb, nb);

  /* beta 1 onto random values: accumulates */
  float *px = host_alloc(nx), *pw = host_alloc(nw), *pb = host_alloc(nb);
  tu_fill_uniform(px, nx, -1, 1, 21);
  tu_fill_uniform(pw, nw, -1, 1, 22);
  tu_fill_uniform(pb, nb, -1, 1, 23);
  MT_ASSERT_OK(mtk_cuda_copy(dev, gdx, -1, px, sizeof(float) * (size_t)nx));
  MT_ASSERT_OK(mtk_cuda_copy(dev, gdw, -1, pw, sizeof(float) * (size_t)nw));
  MT_ASSERT_OK(mtk_cuda_copy(dev, gdb, -1, pb, sizeof(float) * (size_t)nb));
  MT_ASSERT_OK(mtk_cuda_conv_backward(dev, d, gx, gw, gdy, gdx, 1.0f, gdw, 1.0f, gdb, 1.0f));
  assert_int_equal(mtk_cuda_conv_algo_queries(), q0 + 3);
  double *acc = malloc(sizeof(double) * (size_t)(nx > nw ? nx : nw));
  assert_non_null(acc);
  for (int64_t i = 0; i < nx; i++) acc[i] = px[i] + rdx[i];
  expect_dev_close(dev, "dx (beta 1)", cs->name, gdx, acc, nx);
  for (int64_t i = 0; i < nw; i++) acc[i] = pw[i] + rdw[i];
  expect_dev_close(dev, "dw (beta 1)", cs->name, gdw, acc, nw);
  for (int64_t i = 0; i < nb; i++) acc[i] = pb[i] + rdb[i];
  expect_dev_close(dev, "db (beta 1)", cs->name, gdb, acc, nb);

  /* dx alone (no weight or bias gradient wanted) */
  float *gdx2 = dev_from(dev, NULL, nx);
  MT_ASSERT_OK(mtk_cuda_conv_backward(dev, d, gx, gw, gdy, gdx2, 0.0f, NULL, 0.0f, NULL, 0.0f));
  expect_dev_close(dev, "dx alone", cs->name, gdx2, rdx, nx);
  assert_int_equal(mtk_cuda_conv_algo_queries(), q0 + 3);

  float *all[] = {gx, gw, gb, gdy, gy, gdx, gdw, gdb, gdx2};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) mtk_cuda_free(dev, all[i]);
  free(x), free(w), free(b), free(dy), free(px), free(pw), free(pb);
  free(ry), free(rdx), free(rdw), free(rdb), free(acc);
}

/*                            n  c  h  w   k kh kw sh sw ph pw dh dw groups */
static const conv_case conv_cases[] = {
    {"3x3 pad 1", {2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0}, 1},
    {"3x2 stride (2, 1), non-square input", {2, 2, 9, 7, 3, 3, 2, 2, 1, 1, 0, 1, 1, 1, 0, 0}, 0},
    {"dilate (2, 3)", {1, 3, 10, 9, 2, 3, 3, 1, 1, 2, 1, 2, 3, 1, 0, 0}, 1},
    {"groups 2, stride 2", {2, 4, 8, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 2, 0, 0}, 1},
    {"depthwise", {2, 3, 6, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, 0, 0}, 0},
    {"1x1", {3, 5, 4, 4, 7, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0}, 1},
    {"5x5 stride 3 pad 2, no bias", {1, 2, 11, 13, 3, 5, 5, 3, 3, 2, 2, 1, 1, 1, 0, 0}, 0},
};

static void test_conv(void **state) {
  for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++) {
    conv_case cs = conv_cases[i];
    conv_fill(&cs.d);
    conv_case_run(0, &cs);
  }
}

/* ------------------------------------------------------------- pooling */

typedef struct {
  const char *name;
  mtk_pool_desc d; /* oh, ow from `full` when 0 */
  int full;        /* 1: ceil ('full'), 0: floor ('valid') */
} pool_case;

static void pool_fill(mtk_pool_desc *d, int full) {
  if (d->oh && d->ow) return;
  int ah = d->h + 2 * d->ph - d->kh, aw = d->w + 2 * d->pw - d->kw;
  d->oh = 1 + (full ? (ah + d->sh - 1) / d->sh : ah / d->sh);
  d->ow = 1 + (full ? (aw + d->sw - 1) / d->sw : aw / d->sw);
}

/* MXNet's pooling of one plane, in double: y and, from dy, the gradient g */
static void pool_ref(const mtk_pool_desc *d, const float *x, const float *dy, double *y,
                     double *g) {
  for (int i = 0; i < d->h * d->w; i++) g[i] = 0;
  for (int oy = 0; oy < d->oh; oy++)
    for (int ox = 0; ox < d->ow; ox++) {
      int hs = oy * d->sh - d->ph, ws = ox * d->sw - d->pw;
      int padded = 0, inside = 0, at = -1;
      double sum = 0, best = -FLT_MAX;
      for (int ky = 0; ky < d->kh; ky++)
        for (int kx = 0; kx < d->kw; kx++) {
          int iy = hs + ky, ix = ws + kx;
          if (iy >= d->h + d->ph || ix >= d->w + d->pw) continue; /* past the padded input */
          padded++;
          if (iy < 0 || ix < 0 || iy >= d->h || ix >= d->w) continue;
          inside++;
          double v = x[iy * d->w + ix];
          sum += v;
          if (v > best) best = v, at = iy * d->w + ix;
        }
      int o = oy * d->ow + ox, div = d->count_include_pad ? padded : inside;
      if (d->type == MTK_POOL_MAX) {
        y[o] = best;
        if (at >= 0) g[at] += dy[o];
      } else if (d->type == MTK_POOL_SUM) {
        y[o] = sum;
      } else {
        y[o] = div ? sum / div : 0;
      }
      if (d->type != MTK_POOL_MAX)
        for (int ky = 0; ky < d->kh; ky++)
          for (int kx = 0; kx < d->kw; kx++) {
            int iy = hs + ky, ix = ws + kx;
            if (iy < 0 || ix < 0 || iy >= d->h || ix >= d->w) continue;
            g[iy * d->w + ix] += d->type == MTK_POOL_SUM ? dy[o] : (double)dy[o] / div;
          }
    }
}

static void pool_case_run(int dev, const pool_case *cs) {
  const mtk_pool_desc *d = &cs->d;
  int64_t planes = (int64_t)d->n * d->c, nx = planes * d->h * d->w, ny = planes * d->oh * d->ow;
  float *x = host_alloc(nx), *dy = host_alloc(ny), *pre = host_alloc(nx);
  tu_fill_uniform(x, nx, -1, 1, 31);
  tu_fill_uniform(dy, ny, -1, 1, 32);
  tu_fill_uniform(pre, nx, -1, 1, 33);
  double *ry = malloc(sizeof(double) * (size_t)ny), *rg = malloc(sizeof(double) * (size_t)nx);
  assert_true(ry && rg);
  for (int64_t p = 0; p < planes; p++)
    pool_ref(d, x + p * d->h * d->w, dy + p * d->oh * d->ow, ry + p * d->oh * d->ow,
             rg + p * d->h * d->w);
  float *gx = dev_from(dev, x, nx), *gdy = dev_from(dev, dy, ny), *gy = dev_from(dev, NULL, ny);
  MT_ASSERT_OK(mtk_cuda_pool_forward(dev, d, gx, gy));
  expect_dev_close(dev, "forward", cs->name, gy, ry, ny);
  float *gdx = dev_from(dev, NULL, nx);
  MT_ASSERT_OK(mtk_cuda_pool_backward(dev, d, gx, gy, gdy, gdx, 0.0f));
  expect_dev_close(dev, "dx (beta 0)", cs->name, gdx, rg, nx);
  MT_ASSERT_OK(mtk_cuda_copy(dev, gdx, -1, pre, sizeof(float) * (size_t)nx));
  MT_ASSERT_OK(mtk_cuda_pool_backward(dev, d, gx, gy, gdy, gdx, 1.0f));
  for (int64_t i = 0; i < nx; i++) rg[i] += pre[i];
  expect_dev_close(dev, "dx (beta 1)", cs->name, gdx, rg, nx);
  mtk_cuda_free(dev, gx), mtk_cuda_free(dev, gdy), mtk_cuda_free(dev, gy), mtk_cuda_free(dev, gdx);
  free(x), free(dy), free(pre), free(ry), free(rg);
}

enum { MAX = MTK_POOL_MAX, AVG = MTK_POOL_AVG, SUM = MTK_POOL_SUM };
/*                                     n  c  h  w kh kw sh sw ph pw oh ow type incl */
static const pool_case pool_cases[] = {
    {"max 2x2 stride 2", {2, 3, 8, 8, 2, 2, 2, 2, 0, 0, 0, 0, MAX, 1}, 0},
    {"max 3x3 stride 2 pad 1", {2, 2, 7, 6, 3, 3, 2, 2, 1, 1, 0, 0, MAX, 1}, 0},
    {"max 3x3 stride 2 full", {1, 2, 8, 8, 3, 3, 2, 2, 0, 0, 0, 0, MAX, 1}, 1},
    {"max 3x2 stride (1, 2) pad (1, 0) full", {2, 2, 6, 9, 3, 2, 1, 2, 1, 0, 0, 0, MAX, 1}, 1},
    {"max 1x1 pad 1 (windows in the padding)", {1, 2, 3, 4, 1, 1, 1, 1, 1, 1, 0, 0, MAX, 1}, 0},
    {"avg 3x3 stride 2 pad 1, include pad", {2, 2, 7, 6, 3, 3, 2, 2, 1, 1, 0, 0, AVG, 1}, 0},
    {"avg 3x3 stride 2 pad 1, exclude pad", {2, 2, 7, 6, 3, 3, 2, 2, 1, 1, 0, 0, AVG, 0}, 0},
    {"avg 3x3 stride 2 pad 1 full, include pad", {2, 2, 6, 6, 3, 3, 2, 2, 1, 1, 0, 0, AVG, 1}, 1},
    {"avg 3x3 stride 2 pad 1 full, exclude pad", {2, 2, 6, 6, 3, 3, 2, 2, 1, 1, 0, 0, AVG, 0}, 1},
    {"avg 2x3 stride (2, 3) full", {1, 3, 7, 8, 2, 3, 2, 3, 0, 0, 0, 0, AVG, 1}, 1},
    {"sum 3x3 stride 1 pad 1", {2, 2, 5, 6, 3, 3, 1, 1, 1, 1, 0, 0, SUM, 1}, 0},
    {"sum 3x3 stride 2 full", {1, 2, 8, 7, 3, 3, 2, 2, 0, 0, 0, 0, SUM, 1}, 1},
    {"global avg", {2, 4, 5, 7, 5, 7, 1, 1, 0, 0, 0, 0, AVG, 1}, 0},
    {"global max", {2, 4, 5, 7, 5, 7, 1, 1, 0, 0, 0, 0, MAX, 1}, 0},
};

static void test_pool(void **state) {
  int hand = 0;
  for (size_t i = 0; i < sizeof pool_cases / sizeof *pool_cases; i++) {
    pool_case cs = pool_cases[i];
    pool_fill(&cs.d, cs.full);
    mtk_pool_desc v = cs.d;
    v.oh = v.ow = 0;
    pool_fill(&v, 0);
    hand += v.oh != cs.d.oh || v.ow != cs.d.ow; /* 'full' differing from 'valid' */
    pool_case_run(0, &cs);
  }
  assert_true(hand >= 4); /* the clipped windows were exercised */
}

/* ------------------------------------- streams, a second device, refusals */

static void test_on_a_stream(void **state) {
  mtk_cuda_stream *s;
  MT_ASSERT_OK(mtk_cuda_stream_create(0, &s));
  mtk_cuda_stream *prev = mtk_cuda_stream_use(s);
  conv_case cs = {"on a stream", {2, 3, 9, 8, 5, 3, 3, 1, 2, 1, 1, 1, 1, 1, 0, 0}, 1};
  conv_fill(&cs.d);
  conv_case_run(0, &cs);
  pool_case ps = {"avg full on a stream", {2, 2, 6, 6, 3, 3, 2, 2, 1, 1, 0, 0, AVG, 1}, 1};
  pool_fill(&ps.d, 1);
  pool_case_run(0, &ps);
  mtk_cuda_stream_use(prev);
  MT_ASSERT_OK(mtk_cuda_stream_wait(s));
  mtk_cuda_stream_destroy(s);
}

static void test_second_device(void **state) {
  if (mtk_cuda_device_count() < 2) {
    printf("test_gpu_cudnn: one device visible, gpu(1) not tested\n");
    return;
  }
  /* a geometry gpu(0) has already planned: gpu(1) asks for its own algorithms */
  conv_case cs = conv_cases[0];
  conv_fill(&cs.d);
  cs.name = "3x3 pad 1 on gpu(1)";
  conv_case_run(1, &cs);
  pool_case ps = pool_cases[7];
  pool_fill(&ps.d, ps.full);
  pool_case_run(1, &ps);
}

static void test_refusals(void **state) {
  mtk_conv_desc d = {1, 2, 5, 5, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0};
  conv_fill(&d);
  float *buf = mtk_cuda_alloc(0, 4096);
  assert_non_null(buf);
  mtk_conv_desc bad = d;
  bad.oh++;
  assert_int_equal(mtk_cuda_conv_forward(0, &bad, buf, buf, NULL, buf), MT_E_SHAPE);
  assert_non_null(strstr(mt_last_error(), "Convolution"));
  bad = d;
  bad.groups = 2;
  bad.k = 3; /* 3 filters in 2 groups */
  assert_int_equal(mtk_cuda_conv_forward(0, &bad, buf, buf, NULL, buf), MT_E_INVAL);
  assert_int_equal(
      mtk_cuda_conv_backward(0, &bad, buf, buf, buf, buf, 0.0f, NULL, 0.0f, NULL, 0.0f),
      MT_E_INVAL);
  mtk_pool_desc p = {1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 2, 2, 7, 1};
  assert_int_equal(mtk_cuda_pool_forward(0, &p, buf, buf), MT_E_INVAL);
  assert_non_null(strstr(mt_last_error(), "Pooling"));
  p.type = MTK_POOL_MAX;
  p.sh = 0;
  assert_int_equal(mtk_cuda_pool_backward(0, &p, buf, buf, buf, buf, 0.0f), MT_E_INVAL);
  mtk_cuda_free(0, buf);
}

#endif /* MT_HAVE_CUDA */

int main(void) {
#ifndef MT_HAVE_CUDA
  printf("SKIP: no CUDA device visible (test_gpu_cudnn needs a GPU; this build has no CUDA)\n");
  return 77;
#else
  int ndev = mtk_cuda_device_count();
  if (ndev == 0) {
    printf("SKIP: no CUDA device visible (test_gpu_cudnn needs a GPU)\n");
    return 77;
  }
  printf("test_gpu_cudnn: %d CUDA device(s) visible\n", ndev);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv),        cmocka_unit_test(test_pool),
      cmocka_unit_test(test_on_a_stream), cmocka_unit_test(test_second_device),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
