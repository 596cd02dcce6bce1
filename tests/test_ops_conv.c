/* test_ops_conv.c — Convolution and Pooling on the CPU:
 *   forward   the op (oneDNN where built) and the reference kernels
 *             (mtk_conv_ref_*, mtk_pool_ref_*) against plain loops in
 *             double in this file: stride 2, pad 1, dilate 2, groups 2,
 *             no_bias, 1x1, non-square, batch 3; max / avg / sum pooling,
 *             valid and full, global, count_include_pad=false;
 *             tolerance max |out - ref| / max(1, |ref|) <= 1e-5
 *   backward  central finite differences (tu_gradcheck_run, which also
 *             checks MT_REQ_ADD onto a prefilled gradient), tolerance 2e-2;
 *             and the op's kernels against the reference kernels with
 *             beta 0 and 1 (1e-4); max pooling's tie rule (first maximum)
 *   shapes    inference, and every error message naming node and shapes
 *   cache     a second call on the same geometry creates no primitive
 *   training  Convolution -> Activation -> Pooling -> Flatten ->
 *             FullyConnected -> SoftmaxOutput through the Module: the loss
 *             falls. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "testutil.h"

#define FWD_TOL 1e-5
#define GRAD_TOL 2e-2
#define KERN_TOL 1e-4

/* ------------------------------------------------------------ helpers */

static void expect_close(const float *got, const float *ref, int64_t n, double tol,
                         const char *what) {
  double d = tu_max_rel_diff(got, ref, n, 1.0);
  if (!(d <= tol)) fail_msg("%s: max rel diff %g > %g", what, d, tol);
}

static float *fmalloc(int64_t n) {
  float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  assert_non_null(p);
  return p;
}

/* Parses attrs for node `node`, runs infer_shape on in[nargs]; returns the
 * status (out gets the output shape). */
static int parse_infer(const char *opname, const char *attrs, const char *node, int nargs,
                       mt_shape *in, mt_shape *out) {
  const mt_op *op = mt_op_find(opname);
  assert_non_null(op);
  mt_attrs a;
  MT_ASSERT_OK(mt_attrs_parse(attrs, &a));
  void *param = calloc(1, op->param_size);
  assert_non_null(param);
  mt_error_clear();
  int rc = op->parse(&a, node, param);
  mt_attrs_free(&a);
  if (rc == MT_OK && nargs >= 0) {
    assert_int_equal(op->num_args(param), nargs);
    mt_shape aux[8];
    memset(aux, 0, sizeof aux);
    memset(out, 0, sizeof *out);
    rc = op->infer_shape(param, node, in, out, aux);
  }
  free(param);
  return rc;
}

static void expect_msg_has(const char *needle) {
  if (!strstr(mt_last_error(), needle))
    fail_msg("error message lacks '%s': %s", needle, mt_last_error());
}

/* Expects parse (+ infer when data given) to fail with code, the message
 * holding each of the NULL-terminated needles. */
static void expect_error(const char *op, const char *attrs, int nargs, mt_shape data, int code,
                         const char *const *needles) {
  mt_shape in[3] = {data}, out;
  int rc = parse_infer(op, attrs, "n1", data.ndim ? nargs : -1, in, &out);
  if (rc != code)
    fail_msg("%s '%s': status %d (%s), expected %d", op, attrs, rc, mt_last_error(), code);
  expect_msg_has("'n1'");
  for (int i = 0; needles[i]; i++) expect_msg_has(needles[i]);
  print_message("  %s %s -> %s\n", op, attrs, mt_last_error());
}

/* ------------------------------------------------- naive references */

static void ref_conv(const mtk_conv_desc *d, const float *x, const float *w, const float *b,
                     float *y) {
  int cg = d->c / d->groups, kg = d->k / d->groups;
  for (int n = 0; n < d->n; n++)
    for (int k = 0; k < d->k; k++)
      for (int oy = 0; oy < d->oh; oy++)
        for (int ox = 0; ox < d->ow; ox++) {
          double s = b ? b[k] : 0.0;
          int g = k / kg;
          for (int c = 0; c < cg; c++)
            for (int i = 0; i < d->kh; i++)
              for (int j = 0; j < d->kw; j++) {
                int iy = oy * d->sh - d->ph + i * d->dh, ix = ox * d->sw - d->pw + j * d->dw;
                if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w) continue;
                s += (double)x[(((int64_t)n * d->c + g * cg + c) * d->h + iy) * d->w + ix] *
                     w[(((int64_t)k * cg + c) * d->kh + i) * d->kw + j];
              }
          y[(((int64_t)n * d->k + k) * d->oh + oy) * d->ow + ox] = (float)s;
        }
}

/* MXNet's pooling (src/operator/nn/pool.h), in double. */
static void ref_pool(const mtk_pool_desc *d, const float *x, float *y) {
  for (int p = 0; p < d->n * d->c; p++)
    for (int oy = 0; oy < d->oh; oy++)
      for (int ox = 0; ox < d->ow; ox++) {
        int hs = oy * d->sh - d->ph, ws = ox * d->sw - d->pw;
        int he = hs + d->kh < d->h + d->ph ? hs + d->kh : d->h + d->ph;
        int we = ws + d->kw < d->w + d->pw ? ws + d->kw : d->w + d->pw;
        int size = (he - hs) * (we - ws);
        hs = hs > 0 ? hs : 0;
        ws = ws > 0 ? ws : 0;
        he = he < d->h ? he : d->h;
        we = we < d->w ? we : d->w;
        if (!d->count_include_pad) size = (he - hs) * (we - ws);
        double r = d->type == MTK_POOL_MAX ? -INFINITY : 0.0;
        for (int iy = hs; iy < he; iy++)
          for (int ix = ws; ix < we; ix++) {
            double v = x[((int64_t)p * d->h + iy) * d->w + ix];
            if (d->type == MTK_POOL_MAX) r = v > r ? v : r;
            else r += v;
          }
        if (d->type == MTK_POOL_AVG) r /= size;
        y[((int64_t)p * d->oh + oy) * d->ow + ox] = (float)r;
      }
}

/* ---------------------------------------------------------- Convolution */

typedef struct {
  const char *attrs;
  int nargs;
  mt_shape data;
} conv_case;

static const conv_case conv_cases[] = {
    {"kernel=(3,3) num_filter=4", 3, MT_SHAPE(2, 3, 7, 7)},
    {"kernel=(3,3) stride=(2,2) num_filter=5", 3, MT_SHAPE(2, 3, 9, 8)},
    {"kernel=(3,3) pad=(1,1) num_filter=4", 3, MT_SHAPE(2, 2, 6, 6)},
    {"kernel=(3,3) dilate=(2,2) pad=(2,2) num_filter=3", 3, MT_SHAPE(1, 2, 9, 9)},
    {"kernel=(3,3) num_group=2 num_filter=4 pad=(1,1)", 3, MT_SHAPE(2, 4, 6, 5)},
    {"kernel=(5,5) num_filter=6 no_bias=true", 2, MT_SHAPE(2, 1, 12, 12)},
    {"kernel=(1,1) num_filter=8", 3, MT_SHAPE(2, 6, 5, 5)},
    {"kernel=(3,2) stride=(2,1) pad=(1,0) dilate=(1,2) num_filter=3", 3, MT_SHAPE(1, 2, 7, 5)},
    {"kernel=(3,3) stride=(2,2) pad=(1,1) num_filter=4 num_group=2", 3, MT_SHAPE(3, 2, 8, 8)},
    {"kernel=(2,2) num_filter=2 workspace=512 cudnn_tune=fastest cudnn_off=false layout=NCHW", 3,
     MT_SHAPE(3, 1, 4, 4)},
};
#define N_CONV (sizeof conv_cases / sizeof conv_cases[0])

/* The op's geometry from a set-up tu_op. */
static mtk_conv_desc conv_desc_of(const tu_op *t, int groups) {
  const mt_shape *x = &t->in[0]->shape, *w = &t->in[1]->shape, *y = &t->out[0]->shape;
  mtk_conv_desc d = {.n = (int)x->dim[0],
                     .c = (int)x->dim[1],
                     .h = (int)x->dim[2],
                     .w = (int)x->dim[3],
                     .k = (int)w->dim[0],
                     .kh = (int)w->dim[2],
                     .kw = (int)w->dim[3],
                     .groups = groups,
                     .oh = (int)y->dim[2],
                     .ow = (int)y->dim[3]};
  return d;
}

/* Fills in the stride / pad / dilate / groups of case i (parsed from attrs
 * by the same rule as the op: read back through sscanf). */
static mtk_conv_desc conv_case_desc(const conv_case *cc, const tu_op *t) {
  int g = 1;
  const char *s = strstr(cc->attrs, "num_group=");
  if (s) g = atoi(s + 10);
  mtk_conv_desc d = conv_desc_of(t, g);
  d.sh = d.sw = d.dh = d.dw = 1;
  d.ph = d.pw = 0;
  if ((s = strstr(cc->attrs, "stride=("))) sscanf(s, "stride=(%d,%d)", &d.sh, &d.sw);
  if ((s = strstr(cc->attrs, "pad=("))) sscanf(s, "pad=(%d,%d)", &d.ph, &d.pw);
  if ((s = strstr(cc->attrs, "dilate=("))) sscanf(s, "dilate=(%d,%d)", &d.dh, &d.dw);
  return d;
}

static void test_conv_forward(void **state) {
  for (size_t ci = 0; ci < N_CONV; ci++) {
    const conv_case *cc = &conv_cases[ci];
    mt_shape shapes[3] = {cc->data};
    tu_op t;
    MT_ASSERT_OK(tu_op_setup(&t, "Convolution", cc->attrs, cc->nargs, shapes));
    for (int i = 0; i < t.nargs; i++)
      tu_fill_uniform(t.in[i]->data, t.in[i]->size, -1.0f, 1.0f, 10 + (uint64_t)i + 7 * ci);
    MT_ASSERT_OK(tu_op_forward(&t, 1));
    mtk_conv_desc d = conv_case_desc(cc, &t);
    /* the inferred output size is MXNet's */
    int oh = (d.h + 2 * d.ph - d.dh * (d.kh - 1) - 1) / d.sh + 1;
    int ow = (d.w + 2 * d.pw - d.dw * (d.kw - 1) - 1) / d.sw + 1;
    assert_int_equal(d.oh, oh);
    assert_int_equal(d.ow, ow);
    int64_t n = t.out[0]->size;
    float *ref = fmalloc(n), *kr = fmalloc(n);
    const float *bias = cc->nargs == 3 ? t.in[2]->data : NULL;
    ref_conv(&d, t.in[0]->data, t.in[1]->data, bias, ref);
    expect_close(t.out[0]->data, ref, n, FWD_TOL, cc->attrs);
    MT_ASSERT_OK(mtk_conv_ref_forward(&d, t.in[0]->data, t.in[1]->data, bias, kr));
    expect_close(kr, ref, n, FWD_TOL, cc->attrs);
    print_message("  Convolution %s: out (%d, %d, %d, %d) ok\n", cc->attrs, d.n, d.k, d.oh, d.ow);
    free(ref);
    free(kr);
    tu_op_free(&t);
  }
}

static void test_conv_gradcheck(void **state) {
  static const conv_case cases[] = {
      {"kernel=(3,3) num_filter=3", 3, MT_SHAPE(2, 2, 5, 5)},
      {"kernel=(3,3) stride=(2,2) pad=(1,1) num_filter=2", 3, MT_SHAPE(2, 2, 6, 5)},
      {"kernel=(2,3) dilate=(2,1) pad=(1,0) num_filter=3", 3, MT_SHAPE(1, 2, 6, 6)},
      {"kernel=(3,3) num_group=2 num_filter=4 pad=(1,1)", 3, MT_SHAPE(2, 4, 4, 4)},
      {"kernel=(1,1) num_filter=3 no_bias=true", 2, MT_SHAPE(3, 2, 3, 4)},
  };
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    tu_gradcheck g = {.op = "Convolution",
                      .attrs = cases[ci].attrs,
                      .nargs = cases[ci].nargs,
                      .shapes = {cases[ci].data},
                      .is_train = 1};
    double worst = tu_gradcheck_run(&g);
    print_message("  gradcheck Convolution %s: worst error %.3g\n", cases[ci].attrs, worst);
    if (!(worst <= GRAD_TOL)) fail_msg("%s: gradient error %g", cases[ci].attrs, worst);
  }
}

/* mtk_conv_backward (oneDNN where built) against mtk_conv_ref_backward,
 * write and add, every gradient, and each alone. */
static void test_conv_backward_kernels(void **state) {
  for (size_t ci = 0; ci < N_CONV; ci++) {
    const conv_case *cc = &conv_cases[ci];
    mt_shape shapes[3] = {cc->data};
    tu_op t;
    MT_ASSERT_OK(tu_op_setup(&t, "Convolution", cc->attrs, cc->nargs, shapes));
    for (int i = 0; i < t.nargs; i++)
      tu_fill_uniform(t.in[i]->data, t.in[i]->size, -1.0f, 1.0f, 20 + (uint64_t)i);
    mtk_conv_desc d = conv_case_desc(cc, &t);
    int64_t nx = t.in[0]->size, nw = t.in[1]->size, ny = t.out[0]->size, nb = d.k;
    float *dy = fmalloc(ny);
    tu_fill_uniform(dy, ny, -1.0f, 1.0f, 31);
    for (int beta = 0; beta < 2; beta++)
      for (int mask = 1; mask < 8; mask++) {
        float *g[2][3];
        for (int v = 0; v < 2; v++) {
          g[v][0] = fmalloc(nx);
          g[v][1] = fmalloc(nw);
          g[v][2] = fmalloc(nb);
          tu_fill_uniform(g[v][0], nx, -1.0f, 1.0f, 41);
          tu_fill_uniform(g[v][1], nw, -1.0f, 1.0f, 42);
          tu_fill_uniform(g[v][2], nb, -1.0f, 1.0f, 43);
        }
        float b = (float)beta;
        MT_ASSERT_OK(mtk_conv_backward(&d, t.in[0]->data, t.in[1]->data, dy,
                                       mask & 1 ? g[0][0] : NULL, b, mask & 2 ? g[0][1] : NULL, b,
                                       mask & 4 ? g[0][2] : NULL, b));
        MT_ASSERT_OK(mtk_conv_ref_backward(&d, t.in[0]->data, t.in[1]->data, dy,
                                           mask & 1 ? g[1][0] : NULL, b, mask & 2 ? g[1][1] : NULL,
                                           b, mask & 4 ? g[1][2] : NULL, b));
        int64_t sizes[3] = {nx, nw, nb};
        for (int k = 0; k < 3; k++) {
          char what[256];
          snprintf(what, sizeof what, "%s: backward beta=%d grad %d (mask %d)", cc->attrs, beta, k,
                   mask);
          expect_close(g[0][k], g[1][k], sizes[k], KERN_TOL, what);
          free(g[0][k]);
          free(g[1][k]);
        }
      }
    free(dy);
    tu_op_free(&t);
  }
}

/* Both layouts of the oneDNN path (kernels/cpu/conv.c: plain NCHW, and
 * oneDNN's blocked layouts with reorders) against the reference path, at
 * geometries whose channels fill 16-wide blocks and at ones that do not,
 * forward and every backward gradient with beta 0 and 1. */
static void test_conv_layouts(void **state) {
  static const mtk_conv_desc geos[] = {
      {.n = 3,
       .c = 16,
       .h = 6,
       .w = 5,
       .k = 32,
       .kh = 3,
       .kw = 3,
       .sh = 1,
       .sw = 1,
       .ph = 1,
       .pw = 1,
       .dh = 1,
       .dw = 1,
       .groups = 1},
      {.n = 2,
       .c = 3,
       .h = 8,
       .w = 8,
       .k = 16,
       .kh = 3,
       .kw = 3,
       .sh = 1,
       .sw = 1,
       .ph = 1,
       .pw = 1,
       .dh = 1,
       .dw = 1,
       .groups = 1},
      {.n = 2,
       .c = 20,
       .h = 7,
       .w = 7,
       .k = 18,
       .kh = 5,
       .kw = 5,
       .sh = 2,
       .sw = 1,
       .ph = 0,
       .pw = 2,
       .dh = 1,
       .dw = 1,
       .groups = 1},
  };
  static const int layouts[] = {MTK_CONV_LAYOUT_PLAIN, MTK_CONV_LAYOUT_BLOCKED};
  for (size_t gi = 0; gi < sizeof geos / sizeof geos[0]; gi++)
    for (int li = 0; li < 2; li++) {
      mtk_conv_desc d = geos[gi];
      d.oh = (d.h + 2 * d.ph - d.dh * (d.kh - 1) - 1) / d.sh + 1;
      d.ow = (d.w + 2 * d.pw - d.dw * (d.kw - 1) - 1) / d.sw + 1;
      int prev = mtk_conv_set_layout(layouts[li]);
      assert_int_equal(mtk_conv_blocked(&d), li == 1);
      int64_t nx = (int64_t)d.n * d.c * d.h * d.w, nw = (int64_t)d.k * d.c * d.kh * d.kw;
      int64_t ny = (int64_t)d.n * d.k * d.oh * d.ow;
      float *x = fmalloc(nx), *w = fmalloc(nw), *b = fmalloc(d.k), *dy = fmalloc(ny);
      float *y[2] = {fmalloc(ny), fmalloc(ny)};
      tu_fill_uniform(x, nx, -1, 1, 51 + gi);
      tu_fill_uniform(w, nw, -1, 1, 52 + gi);
      tu_fill_uniform(b, d.k, -1, 1, 53 + gi);
      tu_fill_uniform(dy, ny, -1, 1, 54 + gi);
      char what[128];
      snprintf(what, sizeof what, "layout %s, geometry %zu: forward", li ? "blocked" : "plain", gi);
      MT_ASSERT_OK(mtk_conv_forward(&d, x, w, b, y[0]));
      MT_ASSERT_OK(mtk_conv_ref_forward(&d, x, w, b, y[1]));
      expect_close(y[0], y[1], ny, KERN_TOL, what);
      for (int beta = 0; beta < 2; beta++) {
        float *g[2][3];
        int64_t sizes[3] = {nx, nw, d.k};
        for (int v = 0; v < 2; v++)
          for (int k = 0; k < 3; k++) {
            g[v][k] = fmalloc(sizes[k]);
            tu_fill_uniform(g[v][k], sizes[k], -1, 1, 60 + (uint64_t)k);
          }
        MT_ASSERT_OK(mtk_conv_backward(&d, x, w, dy, g[0][0], (float)beta, g[0][1], (float)beta,
                                       g[0][2], (float)beta));
        MT_ASSERT_OK(mtk_conv_ref_backward(&d, x, w, dy, g[1][0], (float)beta, g[1][1], (float)beta,
                                           g[1][2], (float)beta));
        for (int k = 0; k < 3; k++) {
          snprintf(what, sizeof what, "layout %s, geometry %zu: beta %d grad %d",
                   li ? "blocked" : "plain", gi, beta, k);
          expect_close(g[0][k], g[1][k], sizes[k], KERN_TOL, what);
          free(g[0][k]);
          free(g[1][k]);
        }
      }
      free(x), free(w), free(b), free(dy), free(y[0]), free(y[1]);
      mtk_conv_set_layout(prev);
    }
  /* the default rule: blocked where the channels fill 16-wide blocks, or
   * for a first layer */
  mtk_conv_desc d = geos[0];
  assert_int_equal(mtk_conv_blocked(&d), 1);
  d.k = 20;
  assert_int_equal(mtk_conv_blocked(&d), 0);
  d.c = 1;
  assert_int_equal(mtk_conv_blocked(&d), 1);
  d.groups = 2;
  assert_int_equal(mtk_conv_blocked(&d), 0);
}

/* Max pooling 2x2 stride 2 (its own kernels, kernels/cpu/pool.c) on ties
 * and on an odd size (a last row and column in no window): against the
 * reference loops, beta 0 and 1. */
static void test_max_pool_2x2(void **state) {
  mtk_pool_desc d = {.n = 2,
                     .c = 3,
                     .h = 7,
                     .w = 9,
                     .kh = 2,
                     .kw = 2,
                     .sh = 2,
                     .sw = 2,
                     .oh = 3,
                     .ow = 4,
                     .type = MTK_POOL_MAX,
                     .count_include_pad = 1};
  int64_t nx = (int64_t)d.n * d.c * d.h * d.w, ny = (int64_t)d.n * d.c * d.oh * d.ow;
  float *x = fmalloc(nx), *y = fmalloc(ny), *yr = fmalloc(ny), *dy = fmalloc(ny);
  for (int64_t i = 0; i < nx; i++) x[i] = (float)((i * 7) % 5) - 2.0f; /* many ties */
  tu_fill_uniform(dy, ny, -1, 1, 71);
  MT_ASSERT_OK(mtk_pool_forward(&d, x, y));
  MT_ASSERT_OK(mtk_pool_ref_forward(&d, x, yr));
  expect_close(y, yr, ny, 0.0, "max 2x2 forward");
  for (int beta = 0; beta < 2; beta++) {
    float *a = fmalloc(nx), *b = fmalloc(nx);
    tu_fill_uniform(a, nx, -1, 1, 72);
    memcpy(b, a, sizeof(float) * (size_t)nx);
    MT_ASSERT_OK(mtk_pool_backward(&d, x, y, dy, a, (float)beta));
    MT_ASSERT_OK(mtk_pool_ref_backward(&d, x, y, dy, b, (float)beta));
    expect_close(a, b, nx, 0.0, beta ? "max 2x2 backward, add" : "max 2x2 backward");
    free(a);
    free(b);
  }
  free(x), free(y), free(yr), free(dy);
}

/* ------------------------------------------------------------- Pooling */

typedef struct {
  const char *attrs;
  mt_shape data;
  int type, full, global, cip;
  int kh, kw, sh, sw, ph, pw;
} pool_case;

static const pool_case pool_cases[] = {
    {"kernel=(2,2) stride=(2,2)", MT_SHAPE(2, 3, 6, 6), MTK_POOL_MAX, 0, 0, 1, 2, 2, 2, 2, 0, 0},
    {"pool_type=max kernel=(3,3) stride=(2,2) pad=(1,1)", MT_SHAPE(2, 2, 7, 6), MTK_POOL_MAX, 0, 0,
     1, 3, 3, 2, 2, 1, 1},
    {"pool_type=max kernel=(3,3) stride=(2,2) pooling_convention=full", MT_SHAPE(1, 2, 8, 7),
     MTK_POOL_MAX, 1, 0, 1, 3, 3, 2, 2, 0, 0},
    {"pool_type=max kernel=(3,2)", MT_SHAPE(1, 2, 5, 4), MTK_POOL_MAX, 0, 0, 1, 3, 2, 1, 1, 0, 0},
    {"pool_type=avg kernel=(2,2) stride=(2,2)", MT_SHAPE(2, 3, 6, 6), MTK_POOL_AVG, 0, 0, 1, 2, 2,
     2, 2, 0, 0},
    {"pool_type=avg kernel=(3,3) stride=(2,2) pad=(1,1)", MT_SHAPE(2, 2, 7, 6), MTK_POOL_AVG, 0, 0,
     1, 3, 3, 2, 2, 1, 1},
    {"pool_type=avg kernel=(3,3) stride=(2,2) pad=(1,1) count_include_pad=false",
     MT_SHAPE(2, 2, 7, 6), MTK_POOL_AVG, 0, 0, 0, 3, 3, 2, 2, 1, 1},
    {"pool_type=avg kernel=(3,3) stride=(2,2) pooling_convention=full", MT_SHAPE(1, 2, 8, 7),
     MTK_POOL_AVG, 1, 0, 1, 3, 3, 2, 2, 0, 0},
    {"pool_type=avg kernel=(3,3) stride=(2,2) pad=(1,1) pooling_convention=full "
     "count_include_pad=false",
     MT_SHAPE(1, 2, 8, 7), MTK_POOL_AVG, 1, 0, 0, 3, 3, 2, 2, 1, 1},
    {"pool_type=sum kernel=(2,2) stride=(2,2)", MT_SHAPE(2, 2, 6, 5), MTK_POOL_SUM, 0, 0, 1, 2, 2,
     2, 2, 0, 0},
    {"pool_type=sum kernel=(3,3) stride=(2,2) pad=(1,1) pooling_convention=full",
     MT_SHAPE(1, 2, 7, 7), MTK_POOL_SUM, 1, 0, 1, 3, 3, 2, 2, 1, 1},
    {"global_pool=true pool_type=max", MT_SHAPE(2, 3, 5, 4), MTK_POOL_MAX, 0, 1, 1, 5, 4, 1, 1, 0,
     0},
    {"global_pool=true pool_type=avg kernel=(2,2) pad=(1,1) stride=(2,2)", MT_SHAPE(2, 3, 5, 4),
     MTK_POOL_AVG, 0, 1, 1, 5, 4, 1, 1, 0, 0},
    {"pool_type=max kernel=(2,2) stride=(2,2) cudnn_off=true p_value=None layout=None "
     "count_include_pad=None",
     MT_SHAPE(3, 1, 4, 4), MTK_POOL_MAX, 0, 0, 1, 2, 2, 2, 2, 0, 0},
};
#define N_POOL (sizeof pool_cases / sizeof pool_cases[0])

static mtk_pool_desc pool_case_desc(const pool_case *pc) {
  mtk_pool_desc d = {.n = (int)pc->data.dim[0],
                     .c = (int)pc->data.dim[1],
                     .h = (int)pc->data.dim[2],
                     .w = (int)pc->data.dim[3],
                     .kh = pc->kh,
                     .kw = pc->kw,
                     .sh = pc->sh,
                     .sw = pc->sw,
                     .ph = pc->ph,
                     .pw = pc->pw,
                     .type = pc->type,
                     .count_include_pad = pc->cip};
  if (pc->global) {
    d.oh = d.ow = 1;
  } else if (pc->full) { /* MXNet: 1 + ceil((x + 2p - k) / s) */
    d.oh = 1 + (int)ceil((double)(d.h + 2 * d.ph - d.kh) / d.sh);
    d.ow = 1 + (int)ceil((double)(d.w + 2 * d.pw - d.kw) / d.sw);
  } else {
    d.oh = 1 + (d.h + 2 * d.ph - d.kh) / d.sh;
    d.ow = 1 + (d.w + 2 * d.pw - d.kw) / d.sw;
  }
  return d;
}

static void test_pool_forward(void **state) {
  for (size_t ci = 0; ci < N_POOL; ci++) {
    const pool_case *pc = &pool_cases[ci];
    mt_shape shapes[1] = {pc->data};
    tu_op t;
    MT_ASSERT_OK(tu_op_setup(&t, "Pooling", pc->attrs, 1, shapes));
    tu_fill_uniform(t.in[0]->data, t.in[0]->size, -1.0f, 1.0f, 50 + ci);
    MT_ASSERT_OK(tu_op_forward(&t, 1));
    mtk_pool_desc d = pool_case_desc(pc);
    mt_shape want = MT_SHAPE(d.n, d.c, d.oh, d.ow);
    if (!mt_shape_equal(&t.out[0]->shape, &want)) {
      char a[64], b[64];
      fail_msg("%s: output %s, expected %s", pc->attrs, mt_shape_str(&t.out[0]->shape, a, 64),
               mt_shape_str(&want, b, 64));
    }
    int64_t n = t.out[0]->size;
    float *ref = fmalloc(n), *kr = fmalloc(n);
    ref_pool(&d, t.in[0]->data, ref);
    expect_close(t.out[0]->data, ref, n, FWD_TOL, pc->attrs);
    MT_ASSERT_OK(mtk_pool_ref_forward(&d, t.in[0]->data, kr));
    expect_close(kr, ref, n, FWD_TOL, pc->attrs);
    print_message("  Pooling %s: out (%d, %d, %d, %d) ok\n", pc->attrs, d.n, d.c, d.oh, d.ow);
    free(ref);
    free(kr);
    tu_op_free(&t);
  }
}

/* Distinct inputs 0.02 apart (a shuffled ramp), so that the finite
 * difference's steps never change a window's maximum. */
static void init_distinct(int arg, float *x, int64_t n, const mt_shape *s, void *user) {
  for (int64_t i = 0; i < n; i++) x[i] = (float)i;
  uint64_t key = mtk_philox_key(5, 6);
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)(mtk_philox_uniform(key, 0, (uint64_t)i) * (float)(i + 1));
    if (j > i) j = i;
    float tmp = x[i];
    x[i] = x[j];
    x[j] = tmp;
  }
  for (int64_t i = 0; i < n; i++) x[i] = (x[i] - (float)n / 2) * 0.02f;
}

static void test_pool_gradcheck(void **state) {
  for (size_t ci = 0; ci < N_POOL; ci++) {
    tu_gradcheck g = {.op = "Pooling",
                      .attrs = pool_cases[ci].attrs,
                      .nargs = 1,
                      .shapes = {pool_cases[ci].data},
                      .is_train = 1,
                      .init = init_distinct};
    double worst = tu_gradcheck_run(&g);
    print_message("  gradcheck Pooling %s: worst error %.3g\n", pool_cases[ci].attrs, worst);
    if (!(worst <= GRAD_TOL)) fail_msg("%s: gradient error %g", pool_cases[ci].attrs, worst);
  }
}

static void test_pool_backward_kernels(void **state) {
  for (size_t ci = 0; ci < N_POOL; ci++) {
    mtk_pool_desc d = pool_case_desc(&pool_cases[ci]);
    int64_t nx = (int64_t)d.n * d.c * d.h * d.w, ny = (int64_t)d.n * d.c * d.oh * d.ow;
    float *x = fmalloc(nx), *y = fmalloc(ny), *dy = fmalloc(ny);
    tu_fill_uniform(x, nx, -1.0f, 1.0f, 60);
    tu_fill_uniform(dy, ny, -1.0f, 1.0f, 61);
    MT_ASSERT_OK(mtk_pool_forward(&d, x, y));
    for (int beta = 0; beta < 2; beta++) {
      float *a = fmalloc(nx), *b = fmalloc(nx);
      tu_fill_uniform(a, nx, -1.0f, 1.0f, 62);
      memcpy(b, a, sizeof(float) * (size_t)nx);
      MT_ASSERT_OK(mtk_pool_backward(&d, x, y, dy, a, (float)beta));
      MT_ASSERT_OK(mtk_pool_ref_backward(&d, x, y, dy, b, (float)beta));
      char what[256];
      snprintf(what, sizeof what, "%s: backward beta=%d", pool_cases[ci].attrs, beta);
      expect_close(a, b, nx, KERN_TOL, what);
      free(a);
      free(b);
    }
    free(x);
    free(y);
    free(dy);
  }
}

/* Ties: every window's gradient goes to its first cell in row-major order. */
static void test_max_pool_ties(void **state) {
  mt_shape shapes[1] = {MT_SHAPE(1, 2, 4, 6)};
  tu_op t;
  MT_ASSERT_OK(tu_op_setup(&t, "Pooling", "kernel=(2,3) stride=(2,3)", 1, shapes));
  for (int64_t i = 0; i < t.in[0]->size; i++) t.in[0]->data[i] = 0.5f;
  MT_ASSERT_OK(tu_op_forward(&t, 1));
  for (int64_t i = 0; i < t.out[0]->size; i++) assert_true(t.out[0]->data[i] == 0.5f);
  mt_ndarray *og, *ig;
  MT_ASSERT_OK(mt_ndarray_create(t.out[0]->shape, mt_cpu(0), &og));
  MT_ASSERT_OK(mt_ndarray_create(t.in[0]->shape, mt_cpu(0), &ig));
  for (int64_t i = 0; i < og->size; i++) og->data[i] = (float)(i + 1);
  mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = 1};
  mt_grad_req req = MT_REQ_WRITE;
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, &og, t.in, t.out, &req, &ig, t.aux));
  for (int p = 0; p < 2; p++)
    for (int yy = 0; yy < 4; yy++)
      for (int xx = 0; xx < 6; xx++) {
        float want = 0;
        if (yy % 2 == 0 && xx % 3 == 0) want = og->data[(p * 2 + yy / 2) * 2 + xx / 3];
        float got = ig->data[(p * 4 + yy) * 6 + xx];
        if (got != want)
          fail_msg("tie at plane %d (%d, %d): gradient %g, expected %g", p, yy, xx, got, want);
      }
  mt_ndarray_free(og);
  mt_ndarray_free(ig);
  tu_op_free(&t);
}

/* ------------------------------------------------ shapes and errors */

static void test_conv_shapes(void **state) {
  mt_shape in[3] = {MT_SHAPE(8, 6, 28, 24)}, out;
  MT_ASSERT_OK(parse_infer("Convolution",
                           "kernel=(5,3) stride=(2,1) pad=(2,1) dilate=(1,2) num_filter=10 "
                           "num_group=2",
                           "c1", 3, in, &out));
  mt_shape w = MT_SHAPE(10, 3, 5, 3), b = MT_SHAPE(10), o = MT_SHAPE(8, 10, 14, 22);
  assert_true(mt_shape_equal(&in[1], &w));
  assert_true(mt_shape_equal(&in[2], &b));
  assert_true(mt_shape_equal(&out, &o));
  /* a given weight must match */
  mt_shape in2[3] = {MT_SHAPE(8, 6, 28, 24), MT_SHAPE(10, 6, 5, 3)};
  assert_int_equal(
      parse_infer("Convolution", "kernel=(5,3) num_filter=10 num_group=2", "c1", 3, in2, &out),
      MT_E_SHAPE);
  expect_msg_has("weight");
  expect_msg_has("(10, 3, 5, 3)");
  expect_msg_has("(10, 6, 5, 3)");
  /* no_bias: two arguments */
  mt_shape in3[2] = {MT_SHAPE(1, 1, 3, 3)};
  MT_ASSERT_OK(
      parse_infer("Convolution", "kernel=(3,3) num_filter=1 no_bias=True", "c1", 2, in3, &out));
  mt_shape o3 = MT_SHAPE(1, 1, 1, 1);
  assert_true(mt_shape_equal(&out, &o3));
  const mt_op *op = mt_op_find("Convolution");
  assert_non_null(op);
}

static void test_conv_errors(void **state) {
  mt_shape none = {0}, d4 = MT_SHAPE(2, 6, 10, 10);
  expect_error("Convolution", "num_filter=4", 3, none, MT_E_INVAL,
               (const char *[]){"kernel", "required", NULL});
  expect_error("Convolution", "kernel=(3,3)", 3, none, MT_E_INVAL,
               (const char *[]){"num_filter", NULL});
  expect_error("Convolution", "kernel=(3,) num_filter=4", 3, none, MT_E_UNSUPPORTED,
               (const char *[]){"1-D", "only 2-D", NULL});
  expect_error("Convolution", "kernel=(3,3,3) num_filter=4", 3, none, MT_E_UNSUPPORTED,
               (const char *[]){"3-D", "only 2-D", NULL});
  expect_error("Convolution", "kernel=(3,3) num_filter=4 layout=NHWC", 3, none, MT_E_UNSUPPORTED,
               (const char *[]){"layout='NHWC'", "NCHW", NULL});
  expect_error("Convolution", "kernel=(3,3) num_filter=4 stride=(2,2,2)", 3, none, MT_E_INVAL,
               (const char *[]){"stride", "needs 2", NULL});
  expect_error("Convolution", "kernel=(3,3) num_filter=4 stride=(0,1)", 3, none, MT_E_INVAL,
               (const char *[]){"stride", NULL});
  expect_error("Convolution", "kernel=(3,3) num_filter=4 pad=(-1,1)", 3, none, MT_E_INVAL,
               (const char *[]){"pad", NULL});
  expect_error("Convolution", "kernel=(3,3) num_filter=0", 3, none, MT_E_INVAL,
               (const char *[]){"num_filter=0", NULL});
  expect_error("Convolution", "kernel=(3,3) num_filter=4 num_group=0", 3, none, MT_E_INVAL,
               (const char *[]){"num_group", NULL});
  expect_error("Convolution", "kernel=(3,3) num_filter=4 cudnn_tune=sometimes", 3, none, MT_E_INVAL,
               (const char *[]){"cudnn_tune", NULL});
  expect_error("Convolution", "kernel=(3,3) num_filter=4 bogus=1", 3, none, MT_E_INVAL,
               (const char *[]){"bogus", NULL});
  expect_error("Convolution", "kernel=(3,3) num_filter=4 num_group=4", 3, d4, MT_E_SHAPE,
               (const char *[]){"(2, 6, 10, 10)", "6 channels", "num_group=4", NULL});
  expect_error("Convolution", "kernel=(3,3) num_filter=5 num_group=2", 3, d4, MT_E_SHAPE,
               (const char *[]){"num_filter=5", "num_group=2", NULL});
  expect_error("Convolution", "kernel=(11,3) num_filter=4", 3, d4, MT_E_SHAPE,
               (const char *[]){"(2, 6, 10, 10)", "kernel=(11, 3)", "height", NULL});
  expect_error("Convolution", "kernel=(3,5) dilate=(1,3) num_filter=4", 3, d4, MT_E_SHAPE,
               (const char *[]){"dilate=(1, 3)", "width", NULL});
  expect_error("Convolution", "kernel=(3,3) num_filter=4", 3, (mt_shape)MT_SHAPE(2, 6, 10),
               MT_E_SHAPE, (const char *[]){"4-D", "(2, 6, 10)", NULL});
  /* the output past base/shape.h's limit */
  expect_error("Convolution", "kernel=(1,1) num_filter=2000000", 3,
               (mt_shape)MT_SHAPE(64, 1, 100, 100), MT_E_SHAPE,
               (const char *[]){"output", "2147483647", NULL});
}

static void test_pool_shapes(void **state) {
  mt_shape in[1] = {MT_SHAPE(4, 3, 11, 10)}, out;
  MT_ASSERT_OK(parse_infer("Pooling", "kernel=(3,3) stride=(2,2)", "p1", 1, in, &out));
  mt_shape v = MT_SHAPE(4, 3, 5, 4);
  assert_true(mt_shape_equal(&out, &v));
  MT_ASSERT_OK(parse_infer("Pooling", "kernel=(3,3) stride=(2,2) pooling_convention=full", "p1", 1,
                           in, &out));
  mt_shape f = MT_SHAPE(4, 3, 5, 5);
  assert_true(mt_shape_equal(&out, &f));
  /* stride defaults to 1 (MXNet 1.x), not to the kernel */
  MT_ASSERT_OK(parse_infer("Pooling", "kernel=(2,2)", "p1", 1, in, &out));
  mt_shape s1 = MT_SHAPE(4, 3, 10, 9);
  assert_true(mt_shape_equal(&out, &s1));
  MT_ASSERT_OK(parse_infer("Pooling", "global_pool=True pool_type=avg", "p1", 1, in, &out));
  mt_shape g = MT_SHAPE(4, 3, 1, 1);
  assert_true(mt_shape_equal(&out, &g));
}

static void test_pool_errors(void **state) {
  mt_shape none = {0}, d4 = MT_SHAPE(2, 3, 5, 5);
  expect_error("Pooling", "pool_type=max", 1, none, MT_E_INVAL,
               (const char *[]){"kernel", "global_pool", NULL});
  expect_error("Pooling", "pool_type=lp kernel=(2,2)", 1, none, MT_E_UNSUPPORTED,
               (const char *[]){"lp", NULL});
  expect_error("Pooling", "pool_type=median kernel=(2,2)", 1, none, MT_E_INVAL,
               (const char *[]){"pool_type", "median", NULL});
  expect_error("Pooling", "kernel=(2,2) pooling_convention=same", 1, none, MT_E_UNSUPPORTED,
               (const char *[]){"same", NULL});
  expect_error("Pooling", "kernel=(2,)", 1, none, MT_E_UNSUPPORTED,
               (const char *[]){"1-D", "only 2-D", NULL});
  expect_error("Pooling", "kernel=(2,2,2)", 1, none, MT_E_UNSUPPORTED,
               (const char *[]){"3-D", NULL});
  expect_error("Pooling", "kernel=(2,2) layout=NHWC", 1, none, MT_E_UNSUPPORTED,
               (const char *[]){"layout='NHWC'", NULL});
  expect_error("Pooling", "kernel=(2,2) stride=(0,2)", 1, none, MT_E_INVAL,
               (const char *[]){"stride", NULL});
  expect_error("Pooling", "kernel=(2,2) count_include_pad=maybe", 1, none, MT_E_INVAL,
               (const char *[]){"count_include_pad", NULL});
  expect_error("Pooling", "kernel=(2,2) p_value=x", 1, none, MT_E_INVAL,
               (const char *[]){"p_value", NULL});
  expect_error("Pooling", "kernel=(7,2)", 1, d4, MT_E_SHAPE,
               (const char *[]){"kernel=(7, 2)", "(2, 3, 5, 5)", "height 5", NULL});
  expect_error("Pooling", "kernel=(2,9) pad=(0,1)", 1, d4, MT_E_SHAPE,
               (const char *[]){"width 7", NULL});
  expect_error("Pooling", "kernel=(2,2)", 1, (mt_shape)MT_SHAPE(2, 3, 5), MT_E_SHAPE,
               (const char *[]){"4-D", "(2, 3, 5)", NULL});
}

/* ------------------------------------------------------- the cache */

static void test_primitive_cache(void **state) {
  mt_shape shapes[3] = {MT_SHAPE(2, 3, 13, 11)};
  tu_op t;
  /* a geometry no other test uses */
  MT_ASSERT_OK(tu_op_setup(&t, "Convolution", "kernel=(3,3) num_filter=7 pad=(1,1)", 3, shapes));
  tu_fill_uniform(t.in[0]->data, t.in[0]->size, -1, 1, 1);
  tu_fill_uniform(t.in[1]->data, t.in[1]->size, -1, 1, 2);
  int64_t n0 = mtk_dnnl_primitives_created();
  MT_ASSERT_OK(tu_op_forward(&t, 1));
  int64_t n1 = mtk_dnnl_primitives_created();
  MT_ASSERT_OK(tu_op_forward(&t, 1));
  MT_ASSERT_OK(tu_op_forward(&t, 0));
  int64_t n2 = mtk_dnnl_primitives_created();
  mt_ndarray *og, *ig[3];
  MT_ASSERT_OK(mt_ndarray_create(t.out[0]->shape, mt_cpu(0), &og));
  tu_fill_uniform(og->data, og->size, -1, 1, 3);
  for (int i = 0; i < 3; i++) MT_ASSERT_OK(mt_ndarray_create(t.in[i]->shape, mt_cpu(0), &ig[i]));
  mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = 1};
  mt_grad_req req[3] = {MT_REQ_WRITE, MT_REQ_WRITE, MT_REQ_ADD};
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, &og, t.in, t.out, req, ig, t.aux));
  int64_t n3 = mtk_dnnl_primitives_created();
  req[0] = MT_REQ_ADD; /* the add path reuses the same primitive */
  MT_ASSERT_OK(mt_op_backward(t.op, t.param, &c, &og, t.in, t.out, req, ig, t.aux));
  int64_t n4 = mtk_dnnl_primitives_created();
  /* pooling too */
  tu_op p;
  mt_shape ps[1] = {MT_SHAPE(2, 3, 13, 11)};
  MT_ASSERT_OK(tu_op_setup(&p, "Pooling", "pool_type=avg kernel=(3,3) stride=(2,2)", 1, ps));
  MT_ASSERT_OK(tu_op_forward(&p, 1));
  int64_t n5 = mtk_dnnl_primitives_created();
  MT_ASSERT_OK(tu_op_forward(&p, 1));
  int64_t n6 = mtk_dnnl_primitives_created();
  print_message(
      "  primitives created: %lld -> fwd %lld -> again %lld -> bwd %lld -> again %lld; "
      "pool %lld -> again %lld\n",
      (long long)n0, (long long)n1, (long long)n2, (long long)n3, (long long)n4, (long long)n5,
      (long long)n6);
  if (mtk_conv_uses_dnnl()) {
    assert_int_equal(n1, n0 + 1); /* forward with bias */
    assert_int_equal(n2, n1);
    assert_int_equal(n3, n2 + 2); /* backward data, backward weights */
    assert_int_equal(n4, n3);
    assert_int_equal(n5, n4 + 1);
    assert_int_equal(n6, n5);
  } else { /* the reference path creates nothing */
    assert_int_equal(n6, 0);
  }
  mt_ndarray_free(og);
  for (int i = 0; i < 3; i++) mt_ndarray_free(ig[i]);
  tu_op_free(&t);
  tu_op_free(&p);
}

/* ------------------------------------------------------- training */

/* Class 0: a bright square in the top-left quadrant, class 1: bottom-right,
 * class 2: top-right; noise elsewhere. */
static void make_images(float *x, float *label, int n, uint64_t seed) {
  tu_fill_uniform(x, (int64_t)n * 12 * 12, -0.2f, 0.2f, seed);
  for (int i = 0; i < n; i++) {
    int cls = i % 3;
    int y0 = cls == 1 ? 6 : 1, x0 = cls == 0 ? 1 : 6;
    for (int yy = y0; yy < y0 + 4; yy++)
      for (int xx = x0; xx < x0 + 4; xx++) x[(int64_t)i * 144 + yy * 12 + xx] += 1.0f;
    label[i] = (float)cls;
  }
}

static void test_module_trains_cnn(void **state) {
  mt_symbol *data, *conv, *act, *pool, *flat, *fc, *out;
  MT_ASSERT_OK(mt_symbol_variable("data", &data));
  MT_ASSERT_OK(mt_symbol_create("Convolution", "conv1", "kernel=(3,3) num_filter=4 pad=(1,1)", 1,
                                &data, &conv));
  MT_ASSERT_OK(mt_symbol_create("Activation", "relu1", "act_type=relu", 1, &conv, &act));
  MT_ASSERT_OK(mt_symbol_create("Pooling", "pool1", "pool_type=max kernel=(2,2) stride=(2,2)", 1,
                                &act, &pool));
  MT_ASSERT_OK(mt_symbol_create("Flatten", "flat", NULL, 1, &pool, &flat));
  MT_ASSERT_OK(mt_symbol_create("FullyConnected", "fc1", "num_hidden=3", 1, &flat, &fc));
  MT_ASSERT_OK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &fc, &out));
  int nargs;
  const char *const *names;
  MT_ASSERT_OK(mt_symbol_list_arguments(out, &nargs, &names));
  assert_int_equal(nargs, 6); /* data, conv1_weight, conv1_bias, fc1_weight, fc1_bias, label */
  assert_string_equal(names[1], "conv1_weight");
  assert_string_equal(names[2], "conv1_bias");

  const int B = 12;
  mt_data_desc dd = {"data", {4, {B, 1, 12, 12}}}, ld = {"softmax_label", {1, {B}}};
  mt_module *m;
  MT_ASSERT_OK(mt_module_create(out, 0, NULL, 0, NULL, 0, NULL, &m));
  MT_ASSERT_OK(mt_module_bind(m, 1, &dd, 1, &ld, 1, 0, 0, MT_REQ_WRITE));
  mt_initializer *init;
  MT_ASSERT_OK(mt_initializer_create("xavier magnitude=2", 3, &init));
  MT_ASSERT_OK(mt_module_init_params(m, init, NULL, NULL, 0, 0, 0));
  MT_ASSERT_OK(mt_module_init_optimizer(m, "local", "sgd", "learning_rate=0.1 momentum=0.9", 0));
  mt_batch b;
  memset(&b, 0, sizeof b);
  b.ndata = b.nlabel = 1;
  MT_ASSERT_OK(mt_ndarray_create(dd.shape, mt_cpu(0), &b.data[0]));
  MT_ASSERT_OK(mt_ndarray_create(ld.shape, mt_cpu(0), &b.label[0]));
  double first = 0, last = 0;
  for (int step = 0; step < 30; step++) {
    make_images(mt_ndarray_data(b.data[0]), mt_ndarray_data(b.label[0]), B, 1000 + step);
    MT_ASSERT_OK(mt_module_forward_backward(m, &b));
    int no;
    mt_ndarray *const *outs;
    MT_ASSERT_OK(mt_module_get_outputs(m, &no, &outs));
    const float *prob = mt_ndarray_data(outs[0]);
    const float *lab = mt_ndarray_data(b.label[0]);
    double loss = 0;
    for (int i = 0; i < B; i++) loss -= log(fmax(prob[i * 3 + (int)lab[i]], 1e-12));
    loss /= B;
    assert_true(isfinite(loss));
    if (step < 3) first += loss / 3;
    if (step >= 27) last += loss / 3;
    MT_ASSERT_OK(mt_module_update(m));
  }
  print_message("  CNN loss: first 3 steps %.4f, last 3 steps %.4f\n", first, last);
  if (!(last < 0.5 * first)) fail_msg("loss did not fall: %.4f -> %.4f", first, last);
  mt_ndarray_free(b.data[0]);
  mt_ndarray_free(b.label[0]);
  mt_initializer_free(init);
  mt_module_free(m);
  mt_symbol *syms[] = {data, conv, act, pool, flat, fc, out};
  for (int i = 0; i < 7; i++) mt_symbol_free(syms[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_forward),          cmocka_unit_test(test_conv_gradcheck),
      cmocka_unit_test(test_conv_backward_kernels), cmocka_unit_test(test_pool_forward),
      cmocka_unit_test(test_pool_gradcheck),        cmocka_unit_test(test_pool_backward_kernels),
      cmocka_unit_test(test_max_pool_ties),         cmocka_unit_test(test_conv_shapes),
      cmocka_unit_test(test_conv_errors),           cmocka_unit_test(test_pool_shapes),
      cmocka_unit_test(test_pool_errors),           cmocka_unit_test(test_primitive_cache),
      cmocka_unit_test(test_module_trains_cnn),     cmocka_unit_test(test_conv_layouts),
      cmocka_unit_test(test_max_pool_2x2),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
