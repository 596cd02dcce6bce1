/* conv.c — 2-D convolution on the CPU (see conv.h): oneDNN's primitives
 * when the build has oneDNN, else the reference path (im2col + sgemm),
 * which is also exported for tests. Holds the process's oneDNN engine,
 * stream and primitive cache, which pool.c uses too.
 *
 * Memory layouts. The executor's arrays are plain NCHW (data, output and
 * their gradients) and OIHW (weights; GOIHW with groups, the same bytes).
 * A geometry runs either on exactly those layouts (no reorder; oneDNN 2.6
 * then picks its GEMM-based convolution, x64:gemm:jit) or "blocked":
 * oneDNN picks the layouts (format_tag any: nChw16c data, OIhw16i16o-like
 * weights; its direct jit:avx512_core kernels), and each call reorders the
 * inputs in and the outputs out, into buffers the cache entry owns. The
 * choice is a fixed rule on the geometry (mtk_conv_blocked): groups 1 and
 * either a first layer (fewer than 8 input channels and at least 16
 * outputs: the source stays plain, only the output is reordered) or input
 * and output channels both multiples of 16. No timing decides it, so the
 * same geometry computes the same bits on every run on a machine.
 * Measured with bench/bench_cnn --conv --layout plain|blocked (one AMD EPYC
 * AVX-512 core, modtrain's kernels, forward + backward, reorders included;
 * the machine was shared, load ~3.5-4.4, so +-20%; bench/README.md):
 *   layer (batch)                  plain       blocked
 *   CIFAR 3->64 32x32 k3 (128)     30.7 ms     20.4 ms
 *   CIFAR 64->128 16x16 (128)     220.2 ms    198.7 ms
 *   CIFAR 128->128 8x8 (128)       90.8 ms     95.8 ms (noise; oneDNN's own
 *                                              primitive: 73 ms plain, 86
 *                                              ms blocked in those runs)
 *   LeNet 1->20 28x28 k5 (64)      3.23 ms     1.88 ms
 *   LeNet 20->50 12x12 k5 (64)    12.9 ms     14.3 ms (20, 50 pad the blocks)
 * and, by DNNL verbose on the whole CIFAR step, blocked primitives of 41,
 * 44, 41 ms (conv2 forward, backward weights, backward data) against 68,
 * 68, 61 ms plain. Weights are never kept blocked between calls: the
 * optimizer updates the plain OIHW array, and the reorder of the weights
 * is small (at most 0.2 ms here). What the blocked path pays is the
 * activations' reorders (memory-bound, 2-10 ms each on CIFAR): per step,
 * x in for forward and for backward weights, y out, dy in once (backward
 * data reads backward weights' copy), dx out.
 *
 * Accumulation (beta = 1): oneDNN's backward primitives overwrite their
 * outputs, so dx, dw and db with beta = 1 are computed into the cache
 * entry's scratch buffer and added. The bias gradient is fused into the
 * backward-weights primitive when dw is wanted too, else one vectorised
 * pass over dy here (mtk_conv_bias_grad). */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "kernels/cpu/simd.h"
#include "kernels/kernels.h"

#ifdef MT_HAVE_DNNL
#include <dlfcn.h>

#include <dnnl_debug.h>
#endif

/* ------------------------------------------------------------ shared */

static _Atomic int layout_setting = MTK_CONV_LAYOUT_AUTO;

int mtk_conv_set_layout(int layout) { return atomic_exchange(&layout_setting, layout); }

int mtk_conv_blocked(const mtk_conv_desc *d) {
  int s = atomic_load(&layout_setting);
  if (s != MTK_CONV_LAYOUT_AUTO) return s == MTK_CONV_LAYOUT_BLOCKED;
  /* the rule (measured: the header comment): a first layer (few input
   * channels: the source stays plain, oneDNN's direct kernel for it beats
   * im2col + GEMM), or input and output channels that fill oneDNN's
   * 16-wide blocks (other counts pad the blocks: LeNet's 20 -> 50 runs
   * slower blocked than plain) */
  return d->groups == 1 && ((d->c < 8 && d->k >= 16) || (d->c % 16 == 0 && d->k % 16 == 0));
}

/* The sum of p[0..n): 16 float lanes (lane l adds p[l], p[l + 16], ...: a
 * GCC/Clang vector, one AVX-512 register), then the lanes and the tail
 * added in double in a fixed order: the same bits on every run. */
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));
static inline double lanes_sum(const float *p, int64_t n) {
  v16u acc = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc += *(const v16u *)(p + i);
  double s = 0;
  for (; i < n; i++) s += p[i];
  for (int l = 0; l < 16; l++) s += acc[l];
  return s;
}

MTK_CLONES void mtk_conv_bias_grad(const float *dy, int n, int k, int64_t hw, float *db,
                                   float beta) {
  for (int j = 0; j < k; j++) {
    double s = 0;
    for (int i = 0; i < n; i++) s += lanes_sum(dy + ((int64_t)i * k + j) * hw, hw);
    db[j] = (beta != 0.0f ? db[j] : 0.0f) + (float)s;
  }
}

/* ------------------------------------------------------ reference path */

/* col[(c kh + i) kw + j][oy ow + ox] = x[c][oy sh - ph + i dh][ox sw - pw + j dw]
 * (0 outside), for cg channels of one image. */
static void im2col(const mtk_conv_desc *d, const float *x, int cg, float *col) {
  int64_t ohw = (int64_t)d->oh * d->ow;
  for (int c = 0; c < cg; c++)
    for (int i = 0; i < d->kh; i++)
      for (int j = 0; j < d->kw; j++) {
        float *row = col + (((int64_t)c * d->kh + i) * d->kw + j) * ohw;
        const float *xc = x + (int64_t)c * d->h * d->w;
        for (int oy = 0; oy < d->oh; oy++) {
          int iy = oy * d->sh - d->ph + i * d->dh;
          float *r = row + (int64_t)oy * d->ow;
          if (iy < 0 || iy >= d->h) {
            memset(r, 0, sizeof(float) * (size_t)d->ow);
            continue;
          }
          const float *xr = xc + (int64_t)iy * d->w;
          for (int ox = 0; ox < d->ow; ox++) {
            int ix = ox * d->sw - d->pw + j * d->dw;
            r[ox] = (ix >= 0 && ix < d->w) ? xr[ix] : 0.0f;
          }
        }
      }
}

/* x[c][...] += the columns' contributions (the adjoint of im2col). */
static void col2im_add(const mtk_conv_desc *d, const float *col, int cg, float *x) {
  int64_t ohw = (int64_t)d->oh * d->ow;
  for (int c = 0; c < cg; c++)
    for (int i = 0; i < d->kh; i++)
      for (int j = 0; j < d->kw; j++) {
        const float *row = col + (((int64_t)c * d->kh + i) * d->kw + j) * ohw;
        float *xc = x + (int64_t)c * d->h * d->w;
        for (int oy = 0; oy < d->oh; oy++) {
          int iy = oy * d->sh - d->ph + i * d->dh;
          if (iy < 0 || iy >= d->h) continue;
          const float *r = row + (int64_t)oy * d->ow;
          float *xr = xc + (int64_t)iy * d->w;
          for (int ox = 0; ox < d->ow; ox++) {
            int ix = ox * d->sw - d->pw + j * d->dw;
            if (ix >= 0 && ix < d->w) xr[ix] += r[ox];
          }
        }
      }
}

/* The column buffer of one image's group: (cg kh kw) x (oh ow) floats. */
static float *col_alloc(const mtk_conv_desc *d) {
  int cg = d->c / d->groups;
  size_t n = (size_t)cg * (size_t)d->kh * (size_t)d->kw * (size_t)d->oh * (size_t)d->ow;
  float *col = malloc(sizeof(float) * (n ? n : 1));
  if (!col) MT_NOMEM();
  return col;
}

int mtk_conv_ref_forward(const mtk_conv_desc *d, const float *x, const float *w, const float *bias,
                         float *y) {
  int g = d->groups, cg = d->c / g, kg = d->k / g;
  int ckk = cg * d->kh * d->kw, ohw = d->oh * d->ow;
  float *col = col_alloc(d);
  if (!col) return MT_E_NOMEM;
  for (int n = 0; n < d->n; n++)
    for (int gi = 0; gi < g; gi++) {
      im2col(d, x + ((int64_t)n * d->c + (int64_t)gi * cg) * d->h * d->w, cg, col);
      float *yg = y + ((int64_t)n * d->k + (int64_t)gi * kg) * ohw;
      /* y_g[kg, ohw] = w_g[kg, ckk] col[ckk, ohw] */
      mtk_sgemm(0, 0, kg, ohw, ckk, 1.0f, w + (int64_t)gi * kg * ckk, ckk, col, ohw, 0.0f, yg, ohw);
      if (bias)
        for (int k = 0; k < kg; k++) {
          float b = bias[gi * kg + k];
          for (int q = 0; q < ohw; q++) yg[(int64_t)k * ohw + q] += b;
        }
    }
  free(col);
  return 0;
}

int mtk_conv_ref_backward(const mtk_conv_desc *d, const float *x, const float *w, const float *dy,
                          float *dx, float beta_dx, float *dw, float beta_dw, float *db,
                          float beta_db) {
  int g = d->groups, cg = d->c / g, kg = d->k / g;
  int ckk = cg * d->kh * d->kw, ohw = d->oh * d->ow;
  if (db) mtk_conv_bias_grad(dy, d->n, d->k, ohw, db, beta_db);
  if (!dx && !dw) return 0;
  float *col = col_alloc(d);
  if (!col) return MT_E_NOMEM;
  if (dx && beta_dx == 0.0f) memset(dx, 0, sizeof(float) * (size_t)d->n * d->c * d->h * d->w);
  for (int n = 0; n < d->n; n++)
    for (int gi = 0; gi < g; gi++) {
      const float *dyg = dy + ((int64_t)n * d->k + (int64_t)gi * kg) * ohw;
      if (dw) {
        /* dw_g[kg, ckk] (+)= dy_g[kg, ohw] col[ckk, ohw]^T */
        im2col(d, x + ((int64_t)n * d->c + (int64_t)gi * cg) * d->h * d->w, cg, col);
        mtk_sgemm(0, 1, kg, ckk, ohw, 1.0f, dyg, ohw, col, ohw, n == 0 ? beta_dw : 1.0f,
                  dw + (int64_t)gi * kg * ckk, ckk);
      }
      if (dx) {
        /* col[ckk, ohw] = w_g[kg, ckk]^T dy_g[kg, ohw], then scattered */
        mtk_sgemm(1, 0, ckk, ohw, kg, 1.0f, w + (int64_t)gi * kg * ckk, ckk, dyg, ohw, 0.0f, col,
                  ohw);
        col2im_add(d, col, cg, dx + ((int64_t)n * d->c + (int64_t)gi * cg) * d->h * d->w);
      }
    }
  free(col);
  return 0;
}

#ifndef MT_HAVE_DNNL

int mtk_conv_forward(const mtk_conv_desc *d, const float *x, const float *w, const float *bias,
                     float *y) {
  return mtk_conv_ref_forward(d, x, w, bias, y);
}

int mtk_conv_backward(const mtk_conv_desc *d, const float *x, const float *w, const float *dy,
                      float *dx, float beta_dx, float *dw, float beta_dw, float *db,
                      float beta_db) {
  return mtk_conv_ref_backward(d, x, w, dy, dx, beta_dx, dw, beta_dw, db, beta_db);
}

int mtk_conv_uses_dnnl(void) { return 0; }
int64_t mtk_dnnl_primitives_created(void) { return 0; }

#else /* MT_HAVE_DNNL */

/* ------------------------------------------- engine, stream, the cache */

/* dst = dst + src (n floats) */
static void add_into(float *dst, const float *src, int64_t n) {
  for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

static pthread_once_t dnnl_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static dnnl_status_t init_status = dnnl_success;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static mtk_dnnl_entry *cache;
static atomic_llong created;
static void (*omp_set)(int);
static int (*omp_get)(void);

static void dnnl_init(void) {
  omp_set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
  omp_get = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
  init_status = dnnl_engine_create(&engine, dnnl_cpu, 0);
  if (init_status == dnnl_success) init_status = dnnl_stream_create(&stream, engine, 0);
}

int mtk_dnnl_error(dnnl_status_t st, const char *what, const char *file, int line) {
  int code = st == dnnl_out_of_memory ? MT_E_NOMEM : MT_E_UNSUPPORTED;
  return MT_ERR(code, "oneDNN: %s failed: %s (%s:%d)", what, dnnl_status2str(st), file, line);
}

dnnl_engine_t mtk_dnnl_engine(void) {
  pthread_once(&dnnl_once, dnnl_init);
  if (init_status != dnnl_success) {
    mtk_dnnl_error(init_status, "creating the CPU engine and stream", __FILE__, __LINE__);
    return NULL;
  }
  return engine;
}

int mtk_dnnl_memory(dnnl_memory_t *m, const dnnl_memory_desc_t *md) {
  MTK_CHECK_DNNL(dnnl_memory_create(m, md, mtk_dnnl_engine(), DNNL_MEMORY_NONE));
  return 0;
}

static void entry_free(mtk_dnnl_entry *e) {
  if (e->prim) dnnl_primitive_destroy(e->prim);
  for (int i = 0; i < MTK_DNNL_MAX_ARGS; i++) {
    if (e->mem[i]) dnnl_memory_destroy(e->mem[i]);
    if (e->inner[i]) dnnl_memory_destroy(e->inner[i]);
    if (e->reorder[i]) dnnl_primitive_destroy(e->reorder[i]);
  }
  free(e->scratch);
  pthread_mutex_destroy(&e->lock);
  free(e);
}

/* The cache lives as long as the process: entries are few (one per
 * geometry and direction of each layer) and freed at exit. */
static void cache_free(void) {
  pthread_mutex_lock(&cache_lock);
  while (cache) {
    mtk_dnnl_entry *e = cache;
    cache = e->next;
    entry_free(e);
  }
  pthread_mutex_unlock(&cache_lock);
}

int mtk_dnnl_acquire(const int *key, mtk_dnnl_build_fn *build, const void *user,
                     mtk_dnnl_entry **out) {
  if (!mtk_dnnl_engine()) return MT_E_UNSUPPORTED;
  pthread_mutex_lock(&cache_lock);
  mtk_dnnl_entry *e = cache;
  while (e && memcmp(e->key, key, sizeof e->key)) e = e->next;
  if (!e) {
    e = calloc(1, sizeof *e);
    if (!e) {
      pthread_mutex_unlock(&cache_lock);
      return MT_NOMEM();
    }
    memcpy(e->key, key, sizeof e->key);
    pthread_mutex_init(&e->lock, NULL);
    int rc = build(e, user);
    if (rc < 0) {
      pthread_mutex_unlock(&cache_lock);
      entry_free(e);
      return rc;
    }
    static int registered;
    if (!registered) {
      atexit(cache_free);
      registered = 1;
    }
    e->next = cache;
    cache = e;
    atomic_fetch_add(&created, 1);
  }
  pthread_mutex_unlock(&cache_lock);
  pthread_mutex_lock(&e->lock);
  *out = e;
  return 0;
}

void mtk_dnnl_release(mtk_dnnl_entry *e) { pthread_mutex_unlock(&e->lock); }

float *mtk_dnnl_scratch(mtk_dnnl_entry *e, int64_t n) {
  if (e->scratch_elems < n) {
    float *s = realloc(e->scratch, sizeof(float) * (size_t)n);
    if (!s) {
      MT_NOMEM();
      return NULL;
    }
    e->scratch = s;
    e->scratch_elems = n;
  }
  return e->scratch;
}

/* mtk_dnnl_run, with argument gi (-1: none) read from `given`, a memory
 * already holding it in the layout the primitive wants (its reorder is
 * skipped); given NULL or of another layout: the usual reorder. */
static int run_given(mtk_dnnl_entry *e, void *const *ptr, int gi, dnnl_memory_t given) {
  if (gi >= 0) {
    const dnnl_memory_desc_t *a = NULL, *b = NULL;
    if (!given || !e->inner[gi] || dnnl_memory_get_memory_desc(given, &a) != dnnl_success ||
        dnnl_memory_get_memory_desc(e->inner[gi], &b) != dnnl_success ||
        !dnnl_memory_desc_equal(a, b))
      gi = -1;
  }
  /* oneDNN computes with OpenMP: the calling thread's thread count follows
   * mtk_blas_set_threads, as the GEMMs do (kernels/cpu/blas.c) */
  int t = mtk_blas_get_threads();
  if (t > 0 && omp_get && omp_set && omp_get() != t) omp_set(t);
  dnnl_exec_arg_t args[MTK_DNNL_MAX_ARGS];
  for (int i = 0; i < e->nargs; i++) {
    MTK_CHECK_DNNL(dnnl_memory_set_data_handle(e->mem[i], ptr[i]));
    args[i].arg = e->arg_id[i];
    args[i].memory = i == gi ? given : e->inner[i] ? e->inner[i] : e->mem[i];
  }
  for (int i = 0; i < e->nargs; i++)
    if (e->reorder[i] && i != gi && !(e->out_mask & 1u << i)) {
      dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, e->mem[i]}, {DNNL_ARG_TO, e->inner[i]}};
      MTK_CHECK_DNNL(dnnl_primitive_execute(e->reorder[i], stream, 2, r));
    }
  MTK_CHECK_DNNL(dnnl_primitive_execute(e->prim, stream, e->nargs, args));
  for (int i = 0; i < e->nargs; i++)
    if (e->reorder[i] && (e->out_mask & 1u << i)) {
      dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, e->inner[i]}, {DNNL_ARG_TO, e->mem[i]}};
      MTK_CHECK_DNNL(dnnl_primitive_execute(e->reorder[i], stream, 2, r));
    }
  MTK_CHECK_DNNL(dnnl_stream_wait(stream));
  return 0;
}

int mtk_dnnl_run(mtk_dnnl_entry *e, void *const *ptr) { return run_given(e, ptr, -1, NULL); }

int mtk_conv_uses_dnnl(void) { return 1; }
int64_t mtk_dnnl_primitives_created(void) { return (int64_t)atomic_load(&created); }

/* ------------------------------------------------ convolution primitives */

enum {
  KEY_CONV_FWD = 1,
  KEY_CONV_BWD_DATA,
  KEY_CONV_BWD_WEIGHTS,
  KEY_CONV_FWD_NOBIAS,
  KEY_CONV_BWD_WEIGHTS_BIAS
};
enum { KEY_LAYOUT = 17 }; /* key[KEY_LAYOUT]: 1 blocked, 0 plain */

static void conv_key(int kind, const mtk_conv_desc *d, int *key) {
  memset(key, 0, sizeof(int) * MTK_DNNL_KEY);
  int v[] = {kind,  d->n,  d->c,  d->h,  d->w,  d->k,      d->kh, d->kw, d->sh,
             d->sw, d->ph, d->pw, d->dh, d->dw, d->groups, d->oh, d->ow};
  memcpy(key, v, sizeof v);
  key[KEY_LAYOUT] = mtk_conv_blocked(d);
}

/* The memory descriptors of the executor's plain arrays (src_p, wei_p,
 * dst_p) and those the primitive descriptors are asked for (src, wei, dst:
 * the plain ones, or format_tag any where the geometry runs blocked). */
typedef struct {
  dnnl_memory_desc_t src, wei, bias, dst, src_p, wei_p, dst_p;
  dnnl_dims_t strides, dilates, pad_l, pad_r;
} conv_mds;

static int conv_mds_init(const mtk_conv_desc *d, int blocked, conv_mds *m) {
  dnnl_dims_t src = {d->n, d->c, d->h, d->w}, dst = {d->n, d->k, d->oh, d->ow};
  MTK_CHECK_DNNL(dnnl_memory_desc_init_by_tag(&m->src_p, 4, src, dnnl_f32, dnnl_nchw));
  MTK_CHECK_DNNL(dnnl_memory_desc_init_by_tag(&m->dst_p, 4, dst, dnnl_f32, dnnl_nchw));
  int wnd = 4;
  dnnl_dims_t w = {d->k, d->c, d->kh, d->kw};
  dnnl_format_tag_t wtag = dnnl_oihw;
  if (d->groups > 1) {
    dnnl_dims_t gw = {d->groups, d->k / d->groups, d->c / d->groups, d->kh, d->kw};
    memcpy(w, gw, sizeof gw);
    wnd = 5;
    wtag = dnnl_goihw;
  }
  MTK_CHECK_DNNL(dnnl_memory_desc_init_by_tag(&m->wei_p, wnd, w, dnnl_f32, wtag));
  if (blocked) {
    MTK_CHECK_DNNL(dnnl_memory_desc_init_by_tag(&m->src, 4, src, dnnl_f32, dnnl_format_tag_any));
    MTK_CHECK_DNNL(dnnl_memory_desc_init_by_tag(&m->dst, 4, dst, dnnl_f32, dnnl_format_tag_any));
    MTK_CHECK_DNNL(dnnl_memory_desc_init_by_tag(&m->wei, wnd, w, dnnl_f32, dnnl_format_tag_any));
  } else {
    m->src = m->src_p;
    m->dst = m->dst_p;
    m->wei = m->wei_p;
  }
  dnnl_dims_t b = {d->k};
  MTK_CHECK_DNNL(dnnl_memory_desc_init_by_tag(&m->bias, 1, b, dnnl_f32, dnnl_x));
  m->strides[0] = d->sh;
  m->strides[1] = d->sw;
  m->dilates[0] = d->dh - 1; /* oneDNN counts dilation from 0 */
  m->dilates[1] = d->dw - 1;
  m->pad_l[0] = d->ph;
  m->pad_l[1] = d->pw;
  /* symmetric: oneDNN floors (x + pl + pr - ker) / stride as MXNet does */
  m->pad_r[0] = d->ph;
  m->pad_r[1] = d->pw;
  return 0;
}

static int make_pd(dnnl_primitive_desc_t *pd, const void *desc, const_dnnl_primitive_desc_t hint) {
  MTK_CHECK_DNNL(dnnl_primitive_desc_create(pd, desc, NULL, mtk_dnnl_engine(), hint));
  return 0;
}

static int conv_fwd_desc(const mtk_conv_desc *d, conv_mds *m, int bias,
                         dnnl_convolution_desc_t *cd) {
  MTK_CHECK_DNNL(dnnl_dilated_convolution_forward_desc_init(
      cd, dnnl_forward_training, dnnl_convolution_direct, &m->src, &m->wei, bias ? &m->bias : NULL,
      &m->dst, m->strides, m->dilates, m->pad_l, m->pad_r));
  return 0;
}

/* A reorder primitive from layout `from` to layout `to`. */
static int make_reorder(dnnl_primitive_t *r, const dnnl_memory_desc_t *from,
                        const dnnl_memory_desc_t *to) {
  dnnl_primitive_desc_t rpd;
  MTK_CHECK_DNNL(dnnl_reorder_primitive_desc_create(&rpd, from, mtk_dnnl_engine(), to,
                                                    mtk_dnnl_engine(), NULL));
  dnnl_status_t st = dnnl_primitive_create(r, rpd);
  dnnl_primitive_desc_destroy(rpd);
  if (st != dnnl_success) return mtk_dnnl_error(st, "reorder primitive", __FILE__, __LINE__);
  return 0;
}

/* Fills e from a primitive descriptor (destroyed here) and the arguments'
 * plain descriptors; where the primitive wants argument i in another layout,
 * a buffer in that layout and the reorder (out_mask bit i: an output). */
static int entry_fill(mtk_dnnl_entry *e, dnnl_primitive_desc_t pd, int nargs, const int *ids,
                      const dnnl_memory_desc_t *const *mds, unsigned out_mask) {
  int rc = 0;
  e->nargs = nargs;
  e->out_mask = out_mask;
  for (int i = 0; i < nargs && rc == 0; i++) {
    e->arg_id[i] = ids[i];
    rc = mtk_dnnl_memory(&e->mem[i], mds[i]);
    const dnnl_memory_desc_t *want =
        dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, ids[i]);
    if (rc == 0 && want && !dnnl_memory_desc_equal(want, mds[i])) {
      dnnl_status_t st =
          dnnl_memory_create(&e->inner[i], want, mtk_dnnl_engine(), DNNL_MEMORY_ALLOCATE);
      if (st != dnnl_success) rc = mtk_dnnl_error(st, "blocked buffer", __FILE__, __LINE__);
      else if (out_mask & 1u << i) rc = make_reorder(&e->reorder[i], want, mds[i]);
      else rc = make_reorder(&e->reorder[i], mds[i], want);
    }
  }
  if (rc == 0) {
    dnnl_status_t st = dnnl_primitive_create(&e->prim, pd);
    if (st != dnnl_success) rc = mtk_dnnl_error(st, "dnnl_primitive_create", __FILE__, __LINE__);
  }
  dnnl_primitive_desc_destroy(pd);
  return rc;
}

/* Creates the primitive of kind e->key[0] for the geometry d, on blocked
 * layouts when e->key[KEY_LAYOUT] says so. */
static int conv_build(mtk_dnnl_entry *e, const void *user) {
  const mtk_conv_desc *d = user;
  conv_mds m;
  MT_TRY(conv_mds_init(d, e->key[KEY_LAYOUT], &m));
  dnnl_convolution_desc_t cd;
  dnnl_primitive_desc_t pd;
  switch (e->key[0]) {
  case KEY_CONV_FWD:
  case KEY_CONV_FWD_NOBIAS: {
    int bias = e->key[0] == KEY_CONV_FWD;
    MT_TRY(conv_fwd_desc(d, &m, bias, &cd));
    MT_TRY(make_pd(&pd, &cd, NULL));
    int ids[] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
    const dnnl_memory_desc_t *mds[] = {&m.src_p, &m.wei_p, &m.dst_p, &m.bias};
    return entry_fill(e, pd, bias ? 4 : 3, ids, mds, 1u << 2);
  }
  case KEY_CONV_BWD_DATA:
  case KEY_CONV_BWD_WEIGHTS:
  case KEY_CONV_BWD_WEIGHTS_BIAS: {
    dnnl_primitive_desc_t hint;
    MT_TRY(conv_fwd_desc(d, &m, 0, &cd));
    MT_TRY(make_pd(&hint, &cd, NULL));
    dnnl_convolution_desc_t bd;
    dnnl_status_t st;
    if (e->key[0] == KEY_CONV_BWD_DATA)
      st = dnnl_dilated_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &m.src,
                                                            &m.wei, &m.dst, m.strides, m.dilates,
                                                            m.pad_l, m.pad_r);
    else
      st = dnnl_dilated_convolution_backward_weights_desc_init(
          &bd, dnnl_convolution_direct, &m.src, &m.wei,
          e->key[0] == KEY_CONV_BWD_WEIGHTS_BIAS ? &m.bias : NULL, &m.dst, m.strides, m.dilates,
          m.pad_l, m.pad_r);
    int rc = st == dnnl_success
                 ? make_pd(&pd, &bd, hint)
                 : mtk_dnnl_error(st, "convolution backward desc", __FILE__, __LINE__);
    dnnl_primitive_desc_destroy(hint);
    MT_TRY(rc);
    if (e->key[0] == KEY_CONV_BWD_DATA) {
      int ids[] = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC};
      const dnnl_memory_desc_t *mds[] = {&m.dst_p, &m.wei_p, &m.src_p};
      return entry_fill(e, pd, 3, ids, mds, 1u << 2);
    }
    /* the bias gradient fused (one pass over dy less) */
    int ids[] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS};
    const dnnl_memory_desc_t *mds[] = {&m.src_p, &m.dst_p, &m.wei_p, &m.bias};
    int bias = e->key[0] == KEY_CONV_BWD_WEIGHTS_BIAS;
    return entry_fill(e, pd, bias ? 4 : 3, ids, mds, bias ? 3u << 2 : 1u << 2);
  }
  }
  return MT_ERR(MT_E_INVAL, "conv.c: unknown primitive kind %d", e->key[0]);
}

int mtk_conv_forward(const mtk_conv_desc *d, const float *x, const float *w, const float *bias,
                     float *y) {
  int key[MTK_DNNL_KEY];
  conv_key(bias ? KEY_CONV_FWD : KEY_CONV_FWD_NOBIAS, d, key);
  mtk_dnnl_entry *e = NULL;
  MT_TRY(mtk_dnnl_acquire(key, conv_build, d, &e));
  void *ptr[] = {(void *)x, (void *)w, y, (void *)bias};
  int rc = mtk_dnnl_run(e, ptr);
  mtk_dnnl_release(e);
  return rc;
}

/* Runs the backward primitive `kind` writing `out` (n floats), directly
 * (beta 0) or through the entry's scratch and an add (beta 1). */
static int conv_bwd_run(int kind, const mtk_conv_desc *d, const float *a, const float *b,
                        float *out, float beta, int64_t n, dnnl_memory_t given_a) {
  int key[MTK_DNNL_KEY];
  conv_key(kind, d, key);
  mtk_dnnl_entry *e = NULL;
  MT_TRY(mtk_dnnl_acquire(key, conv_build, d, &e));
  float *dst = out;
  int rc = 0;
  if (beta != 0.0f && !(dst = mtk_dnnl_scratch(e, n))) rc = MT_E_NOMEM;
  if (rc == 0) {
    void *ptr[] = {(void *)a, (void *)b, dst};
    rc = run_given(e, ptr, 0, given_a);
  }
  if (rc == 0 && dst != out) add_into(out, dst, n);
  mtk_dnnl_release(e);
  return rc;
}

/* Backward weights with the bias gradient fused: dw and db, each written
 * directly (beta 0) or through the entry's scratch and an add. */
static int conv_bwd_wb_run(const mtk_conv_desc *d, const float *x, const float *dy, float *dw,
                           float beta_dw, float *db, float beta_db, mtk_dnnl_entry **keep) {
  int64_t nw = (int64_t)d->k * (d->c / d->groups) * d->kh * d->kw;
  int key[MTK_DNNL_KEY];
  conv_key(KEY_CONV_BWD_WEIGHTS_BIAS, d, key);
  mtk_dnnl_entry *e = NULL;
  MT_TRY(mtk_dnnl_acquire(key, conv_build, d, &e));
  float *tw = dw, *tb = db, *s = NULL;
  int rc = 0;
  if ((beta_dw != 0.0f || beta_db != 0.0f) && !(s = mtk_dnnl_scratch(e, nw + d->k)))
    rc = MT_E_NOMEM;
  if (s && beta_dw != 0.0f) tw = s;
  if (s && beta_db != 0.0f) tb = s + nw;
  if (rc == 0) {
    void *ptr[] = {(void *)x, (void *)dy, tw, tb};
    rc = mtk_dnnl_run(e, ptr);
  }
  if (rc == 0 && tw != dw) add_into(dw, tw, nw);
  if (rc == 0 && tb != db) add_into(db, tb, d->k);
  if (rc == 0 && keep) *keep = e; /* still locked: the caller releases */
  else mtk_dnnl_release(e);
  return rc;
}

int mtk_conv_backward(const mtk_conv_desc *d, const float *x, const float *w, const float *dy,
                      float *dx, float beta_dx, float *dw, float beta_dw, float *db,
                      float beta_db) {
  /* Backward weights first; on blocked layouts its entry stays locked so
   * that backward data reads dy from its reordered copy (one reorder of dy,
   * not two). Locks are taken weights-then-data only: no deadlock. */
  mtk_dnnl_entry *ew = NULL;
  if (dw && db) {
    MT_TRY(conv_bwd_wb_run(d, x, dy, dw, beta_dw, db, beta_db, dx ? &ew : NULL));
  } else {
    if (db) mtk_conv_bias_grad(dy, d->n, d->k, (int64_t)d->oh * d->ow, db, beta_db);
    if (dw)
      MT_TRY(conv_bwd_run(KEY_CONV_BWD_WEIGHTS, d, x, dy, dw, beta_dw,
                          (int64_t)d->k * (d->c / d->groups) * d->kh * d->kw, NULL));
  }
  int rc = 0;
  if (dx)
    rc = conv_bwd_run(KEY_CONV_BWD_DATA, d, dy, w, dx, beta_dx, (int64_t)d->n * d->c * d->h * d->w,
                      ew ? ew->inner[1] : NULL);
  if (ew) mtk_dnnl_release(ew);
  return rc;
}

#endif /* MT_HAVE_DNNL */
