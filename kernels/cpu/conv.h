/* conv.h — 2-D convolution on the CPU (float32, NCHW, dense), MXNet's
 * Convolution. The geometry is kernels/cuda/cudnn_kernels.h's
 * mtk_conv_desc (the GPU kernels take the same one).
 *
 * With oneDNN (MT_HAVE_DNNL in kernels/cpu/conv.c): oneDNN's convolution
 * primitives (forward with bias, backward data, backward weights with the
 * bias gradient) on the caller's plain NCHW / OIHW (GOIHW with groups)
 * memory, or on oneDNN's blocked layouts with reorders in and out at each
 * call (a fixed rule on the geometry, mtk_conv_blocked), created once per
 * geometry and kept in a small process-wide table (mtk_dnnl_primitives_created counts
 * creations, for tests). Without oneDNN: the reference path, im2col + the
 * project's sgemm (kernels/cpu/blas.h). The reference path is exported in
 * every build (mtk_conv_ref_*) so that tests compare the two.
 *
 * Threads: any number of threads may call; a cached primitive runs under
 * its own lock (its memory objects and scratch buffer are shared state), so
 * two threads on the same geometry take turns, and different geometries run
 * in parallel. The intended use is one training thread per executor.
 *
 * Each call returns 0 or a negative MT_E_* code with a message recorded. */
#ifndef MT_KERNELS_CPU_CONV_H
#define MT_KERNELS_CPU_CONV_H
#include <stdint.h>

#include "kernels/cuda/cudnn_kernels.h" /* mtk_conv_desc, mtk_pool_desc */

/* y = conv(x, w) + bias (bias NULL: none); y is overwritten. */
int mtk_conv_forward(const mtk_conv_desc *d, const float *x, const float *w, const float *bias,
                     float *y);
/* Gradients from dy: dx (data), dw (weight), db (bias); a NULL pointer is a
 * gradient not wanted. Each beta: 0 overwrites, 1 accumulates. */
int mtk_conv_backward(const mtk_conv_desc *d, const float *x, const float *w, const float *dy,
                      float *dx, float beta_dx, float *dw, float beta_dw, float *db, float beta_db);

/* The reference path (im2col + sgemm), same contracts. */
int mtk_conv_ref_forward(const mtk_conv_desc *d, const float *x, const float *w, const float *bias,
                         float *y);
int mtk_conv_ref_backward(const mtk_conv_desc *d, const float *x, const float *w, const float *dy,
                          float *dx, float beta_dx, float *dw, float beta_dw, float *db,
                          float beta_db);

/* 1 when mtk_conv_* and mtk_pool_* run through oneDNN in this build. */
int mtk_conv_uses_dnnl(void);
/* oneDNN primitives created so far by conv.c and pool.c (0 without oneDNN):
 * a second call on a cached geometry leaves it unchanged. */
int64_t mtk_dnnl_primitives_created(void);

/* The layouts the oneDNN primitives compute in (no effect without oneDNN):
 * MTK_CONV_LAYOUT_AUTO, the rule of kernels/cpu/conv.c's header comment
 * (the default); _PLAIN, the executor's NCHW / OIHW arrays directly;
 * _BLOCKED, oneDNN's preferred layouts with reorders in and out at every
 * call. For tests and benchmarks, set before the geometries' first use (the
 * layout is part of the cache key, so switching is safe, not free). Returns
 * the previous setting. */
enum { MTK_CONV_LAYOUT_AUTO = 0, MTK_CONV_LAYOUT_PLAIN = 1, MTK_CONV_LAYOUT_BLOCKED = 2 };
int mtk_conv_set_layout(int layout);
/* 1 when geometry d runs on blocked layouts under the current setting. */
int mtk_conv_blocked(const mtk_conv_desc *d);

/* db[k] = beta * db[k] + sum over n, pixels of dy[n, k, :] (dy is
 * (n, k, hw)); shared by both paths. */
void mtk_conv_bias_grad(const float *dy, int n, int k, int64_t hw, float *db, float beta);

#ifdef MT_HAVE_DNNL
/* ---- internal to kernels/cpu (conv.c, pool.c): the primitive cache ---- */
#include <pthread.h>

#include <dnnl.h>

#define MTK_DNNL_KEY 24
#define MTK_DNNL_MAX_ARGS 6

/* One cached primitive and the memory objects its arguments bind to (their
 * data handles are set at each run). */
typedef struct mtk_dnnl_entry {
  int key[MTK_DNNL_KEY];
  dnnl_primitive_t prim;
  int nargs;
  int arg_id[MTK_DNNL_MAX_ARGS];        /* DNNL_ARG_* */
  dnnl_memory_t mem[MTK_DNNL_MAX_ARGS]; /* the caller's plain arrays (handles set per run) */
  /* Where the primitive wants argument i in another layout (oneDNN's blocked
   * ones): inner[i] (its own buffer) and the reorder between mem[i] and
   * inner[i], run before the primitive for an input, after it for an output
   * (bit i of out_mask). NULL: the primitive reads mem[i] itself. */
  dnnl_memory_t inner[MTK_DNNL_MAX_ARGS];
  dnnl_primitive_t reorder[MTK_DNNL_MAX_ARGS];
  unsigned out_mask;
  float *scratch; /* the op's own scratch (beta = 1 paths), scratch_elems floats */
  int64_t scratch_elems;
  pthread_mutex_t lock;
  struct mtk_dnnl_entry *next;
} mtk_dnnl_entry;

/* The process's CPU engine (created once). NULL with an error recorded if
 * oneDNN cannot create one. */
dnnl_engine_t mtk_dnnl_engine(void);
/* Builds e->prim, e->nargs, e->arg_id and e->mem (memory objects with no
 * data) for e->key; returns 0 or a negative MT_E_* code. */
typedef int mtk_dnnl_build_fn(mtk_dnnl_entry *e, const void *user);
/* The entry for key (created by build on first use, then cached), locked
 * for the caller; release with mtk_dnnl_release. */
int mtk_dnnl_acquire(const int *key, mtk_dnnl_build_fn *build, const void *user,
                     mtk_dnnl_entry **out);
void mtk_dnnl_release(mtk_dnnl_entry *e);
/* Runs e with the data pointers ptr[0..e->nargs) (in arg_id order) on the
 * process's stream, with the reorders in and out, and waits. */
int mtk_dnnl_run(mtk_dnnl_entry *e, void *const *ptr);
/* e->scratch of at least n floats (kept for the next call). */
float *mtk_dnnl_scratch(mtk_dnnl_entry *e, int64_t n);
/* A memory object of plain layout (tag) with no data; records an error. */
int mtk_dnnl_memory(dnnl_memory_t *m, const dnnl_memory_desc_t *md);
/* Records oneDNN's status string for `what`; returns the MT_E_* code. */
int mtk_dnnl_error(dnnl_status_t st, const char *what, const char *file, int line);
#define MTK_CHECK_DNNL(call)                                                                       \
  do {                                                                                             \
    dnnl_status_t st_ = (call);                                                                    \
    if (st_ != dnnl_success) return mtk_dnnl_error(st_, #call, __FILE__, __LINE__);                \
  } while (0)
#endif

#endif
