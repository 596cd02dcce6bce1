/* bench_cnn.c — training throughput of convolutional nets (samples/s), the
 * modtrain side of bench/run_cnn_bench.sh (the PyTorch side is
 * bench/peer_pytorch_cnn.py, which builds the same nets).
 *
 * Nets (NCHW float32, SoftmaxOutput head, 10 classes):
 *   lenet  MXNet's LeNet on 1x28x28, batch 64:
 *          conv 5x5x20 - tanh - maxpool 2/2 - conv 5x5x50 - tanh - maxpool 2/2
 *          - flatten - fc 500 - tanh - fc 10
 *   cifar  a small CIFAR-style net on 3x32x32, batch 128:
 *          [conv 3x3 pad 1 - BatchNorm - relu - maxpool 2/2] with 64, 128, 128
 *          filters - flatten - fc 10
 * A Module bound on cpu(0), Xavier(magnitude=2) (conv fans: channels x
 * kernel area, as MXNet and PyTorch count them), BatchNorm with
 * fix_gamma=False eps=1e-3 momentum=0.9 (PyTorch: affine, eps 1e-3,
 * momentum 0.1), sgd learning_rate=0.05 momentum=0.9 (rescale_grad =
 * 1/batch). A training step is mt_module_forward(is_train=1) +
 * mt_module_backward + mt_module_update on one of --nbatches batches made
 * before timing (the tutorial's synthetic distribution over C*H*W features,
 * rows shuffled). Each repetition times --steps steps after --warmup; the
 * figure is the median over --reps repetitions.
 *
 * --phases times forward, backward and update separately. --gpu N binds
 * on gpu(N) (cuDNN; the batches stay in host memory and are copied in by
 * forward, as a training job's are).
 *
 * Output: human-readable lines and one "RESULT key=value ..." line per
 * figure. One thread (--threads): mt_blas_set_threads, and the caller sets
 * OMP_NUM_THREADS=1 for oneDNN. Exit 1 on any error. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_util.h"
#include "kernels/cpu/conv.h"
#include "modtrain.h"
#include "tools/check.h"

#ifdef MT_HAVE_DNNL
#include <dnnl.h>
#endif

#define MAX_REPS 64

typedef struct {
  const char *net;
  int c, h, w, classes;
  int batch, steps, warmup, reps, nbatches, threads, phases, conv;
  int layout; /* MTK_CONV_LAYOUT_* */
  int gpu;    /* -1: cpu(0), else gpu(gpu) */
} options;

/* ------------------------------------------------------------------ model */

/* Appends op(name, attrs) to *cur (the previous layer's output). */
static void add(mt_symbol **cur, const char *op, const char *name, const char *attrs) {
  mt_symbol *next;
  CHECK(mt_symbol_create(op, name, attrs, 1, cur, &next));
  mt_symbol_free(*cur);
  *cur = next;
}

static mt_symbol *build_net(const options *o) {
  mt_symbol *s;
  CHECK(mt_symbol_variable("data", &s));
  if (!strcmp(o->net, "lenet")) {
    add(&s, "Convolution", "conv1", "kernel=(5,5) num_filter=20");
    add(&s, "Activation", "tanh1", "act_type=tanh");
    add(&s, "Pooling", "pool1", "pool_type=max kernel=(2,2) stride=(2,2)");
    add(&s, "Convolution", "conv2", "kernel=(5,5) num_filter=50");
    add(&s, "Activation", "tanh2", "act_type=tanh");
    add(&s, "Pooling", "pool2", "pool_type=max kernel=(2,2) stride=(2,2)");
    add(&s, "Flatten", "flatten", NULL);
    add(&s, "FullyConnected", "fc1", "num_hidden=500");
    add(&s, "Activation", "tanh3", "act_type=tanh");
    add(&s, "FullyConnected", "fc2", "num_hidden=10");
  } else {
    static const int filters[3] = {64, 128, 128};
    for (int i = 0; i < 3; i++) {
      char name[32], attrs[96];
      snprintf(name, sizeof name, "conv%d", i + 1);
      snprintf(attrs, sizeof attrs, "kernel=(3,3) pad=(1,1) num_filter=%d", filters[i]);
      add(&s, "Convolution", name, attrs);
      snprintf(name, sizeof name, "bn%d", i + 1);
      add(&s, "BatchNorm", name, "fix_gamma=False eps=0.001 momentum=0.9");
      snprintf(name, sizeof name, "relu%d", i + 1);
      add(&s, "Activation", name, "act_type=relu");
      snprintf(name, sizeof name, "pool%d", i + 1);
      add(&s, "Pooling", name, "pool_type=max kernel=(2,2) stride=(2,2)");
    }
    add(&s, "Flatten", "flatten", NULL);
    add(&s, "FullyConnected", "fc1", "num_hidden=10");
  }
  add(&s, "SoftmaxOutput", "softmax", NULL);
  return s;
}

static mt_module *make_module(mt_symbol *net, const options *o) {
  mt_module *mod;
  mt_context ctx = o->gpu >= 0 ? mt_gpu(o->gpu) : mt_cpu(0);
  CHECK(mt_module_create(net, 0, NULL, 0, NULL, 1, &ctx, &mod));
  mt_data_desc d = {"data", MT_SHAPE(o->batch, o->c, o->h, o->w)};
  mt_data_desc l = {"softmax_label", MT_SHAPE(o->batch)};
  CHECK(mt_module_bind(mod, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  mt_initializer *xavier;
  CHECK(mt_initializer_create("xavier magnitude=2", 0, &xavier));
  CHECK(mt_module_init_params(mod, xavier, NULL, NULL, 0, 0, 0));
  mt_initializer_free(xavier);
  CHECK(mt_module_init_optimizer(mod, "local", "sgd", "learning_rate=0.05 momentum=0.9", 0));
  return mod;
}

/* ------------------------------------------------------------------- data */

typedef struct {
  int n;
  mt_batch *batches;
} dataset;

static void make_data(const options *o, dataset *ds) {
  int64_t rows = (int64_t)o->nbatches * o->batch, f = (int64_t)o->c * o->h * o->w;
  float *x = malloc(sizeof(float) * (size_t)(rows * f)), *y = malloc(sizeof(float) * (size_t)rows);
  int64_t *perm = malloc(sizeof(int64_t) * (size_t)rows);
  ds->batches = calloc((size_t)o->nbatches, sizeof *ds->batches);
  if (!x || !y || !perm || !ds->batches) {
    fprintf(stderr, "bench_cnn: out of memory for %lld samples\n", (long long)rows);
    exit(1);
  }
  CHECK(mt_synthetic_generate(o->classes, (int)f, rows, 0, 0, x, y));
  /* the generator emits the classes in blocks: shuffle rows (Fisher-Yates, LCG) */
  for (int64_t i = 0; i < rows; i++) perm[i] = i;
  uint64_t s = 0x243f6a8885a308d3ull;
  for (int64_t i = rows - 1; i > 0; i--) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    int64_t j = (int64_t)((s >> 33) % (uint64_t)(i + 1)), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  ds->n = o->nbatches;
  float *row = malloc(sizeof(float) * (size_t)(o->batch * f)),
        *lab = malloc(sizeof(float) * (size_t)o->batch);
  if (!row || !lab) exit(1);
  for (int b = 0; b < ds->n; b++) {
    for (int i = 0; i < o->batch; i++) {
      int64_t r = perm[(int64_t)b * o->batch + i];
      memcpy(row + i * f, x + r * f, sizeof(float) * (size_t)f);
      lab[i] = y[r];
    }
    mt_batch *bt = &ds->batches[b];
    bt->ndata = bt->nlabel = 1;
    CHECK(mt_ndarray_create(MT_SHAPE(o->batch, o->c, o->h, o->w), mt_cpu(0), &bt->data[0]));
    CHECK(mt_ndarray_create(MT_SHAPE(o->batch), mt_cpu(0), &bt->label[0]));
    CHECK(mt_ndarray_copy_from(bt->data[0], row, o->batch * f));
    CHECK(mt_ndarray_copy_from(bt->label[0], lab, o->batch));
  }
  free(row);
  free(lab);
  free(perm);
  free(x);
  free(y);
}

static void free_data(dataset *ds) {
  for (int b = 0; b < ds->n; b++) {
    mt_ndarray_free(ds->batches[b].data[0]);
    mt_ndarray_free(ds->batches[b].label[0]);
  }
  free(ds->batches);
}

/* ------------------------------------------------------------------- step */

static double time_steps(mt_module *mod, const dataset *ds, int steps, int *next) {
  double t0 = bench_now();
  for (int s = 0; s < steps; s++) {
    const mt_batch *b = &ds->batches[*next];
    CHECK(mt_module_forward(mod, b, 1));
    CHECK(mt_module_backward(mod, 0, NULL));
    CHECK(mt_module_update(mod));
    *next = (*next + 1) % ds->n;
  }
  return bench_now() - t0;
}

/* Mean cross-entropy and accuracy on batch 0 (inference). */
static void evaluate(mt_module *mod, const dataset *ds, double *loss, double *acc) {
  const mt_batch *b = &ds->batches[0];
  CHECK(mt_module_forward(mod, b, 0));
  int n;
  mt_ndarray *const *outs;
  CHECK(mt_module_get_outputs(mod, &n, &outs));
  mt_shape s = mt_ndarray_shape(outs[0]);
  const float *p = mt_ndarray_data(outs[0]), *y = mt_ndarray_data(b->label[0]);
  double l = 0;
  int correct = 0;
  for (int64_t i = 0; i < s.dim[0]; i++) {
    const float *r = p + i * s.dim[1];
    int best = 0;
    for (int c = 1; c < s.dim[1]; c++) best = r[c] > r[best] ? c : best;
    correct += best == (int)y[i];
    l -= log(fmax((double)r[(int)y[i]], 1e-30));
  }
  *loss = l / (double)s.dim[0];
  *acc = (double)correct / (double)s.dim[0];
}

/* ----------------------------------------------------------------- --conv */

/* The Convolution layers of build_net's nets (keep the two in step). */
typedef struct {
  const char *name;
  int c, h, w, k, ker, pad;
} conv_layer;

static int net_convs(const options *o, conv_layer *l) {
  if (!strcmp(o->net, "lenet")) {
    l[0] = (conv_layer){"conv1", 1, 28, 28, 20, 5, 0};
    l[1] = (conv_layer){"conv2", 20, 12, 12, 50, 5, 0};
    return 2;
  }
  l[0] = (conv_layer){"conv1", 3, 32, 32, 64, 3, 1};
  l[1] = (conv_layer){"conv2", 64, 16, 16, 128, 3, 1};
  l[2] = (conv_layer){"conv3", 128, 8, 8, 128, 3, 1};
  return 3;
}

static mtk_conv_desc layer_desc(const conv_layer *l, int n) {
  mtk_conv_desc d = {.n = n,
                     .c = l->c,
                     .h = l->h,
                     .w = l->w,
                     .k = l->k,
                     .kh = l->ker,
                     .kw = l->ker,
                     .sh = 1,
                     .sw = 1,
                     .ph = l->pad,
                     .pw = l->pad,
                     .dh = 1,
                     .dw = 1,
                     .groups = 1};
  d.oh = l->h + 2 * l->pad - l->ker + 1;
  d.ow = l->w + 2 * l->pad - l->ker + 1;
  return d;
}

/* n floats in [-0.5, 0.5) from an LCG (the values do not matter, only that
 * they are ordinary numbers: no denormals, no NaN). */
static void fill(float *p, size_t n, uint64_t *s) {
  for (size_t i = 0; i < n; i++) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = (float)((double)(*s >> 40) / (double)(1ull << 24)) - 0.5f;
  }
}

static float *rand_buf(int64_t n, uint64_t *s) {
  float *p = malloc(sizeof(float) * (size_t)n);
  if (!p) {
    fprintf(stderr, "bench_cnn: out of memory\n");
    exit(1);
  }
  fill(p, (size_t)n, s);
  return p;
}

/* (a) modtrain's kernels at one layer's shapes, as src/ops/convolution.c
 * calls them in a training step: forward with bias; backward weights and
 * bias, and data except on the net's first layer (its input is the data,
 * which wants no gradient). Median us per call over reps of iters calls. */
static void time_mt_layer(const mtk_conv_desc *d, int first, int reps, int iters, double *fwd,
                          double *bwd) {
  uint64_t s = 1;
  int64_t nx = (int64_t)d->n * d->c * d->h * d->w, nw = (int64_t)d->k * d->c * d->kh * d->kw;
  int64_t ny = (int64_t)d->n * d->k * d->oh * d->ow;
  float *x = rand_buf(nx, &s), *w = rand_buf(nw, &s), *b = rand_buf(d->k, &s);
  float *y = rand_buf(ny, &s), *dy = rand_buf(ny, &s), *dx = rand_buf(nx, &s);
  float *dw = rand_buf(nw, &s), *db = rand_buf(d->k, &s);
  double f[MAX_REPS], g[MAX_REPS];
  CHECK(mtk_conv_forward(d, x, w, b, y)); /* creates the primitives */
  CHECK(mtk_conv_backward(d, x, w, dy, first ? NULL : dx, 0, dw, 0, db, 0));
  for (int r = 0; r < reps; r++) {
    double t0 = bench_now();
    for (int i = 0; i < iters; i++) CHECK(mtk_conv_forward(d, x, w, b, y));
    double t1 = bench_now();
    for (int i = 0; i < iters; i++)
      CHECK(mtk_conv_backward(d, x, w, dy, first ? NULL : dx, 0, dw, 0, db, 0));
    double t2 = bench_now();
    f[r] = 1e6 * (t1 - t0) / iters;
    g[r] = 1e6 * (t2 - t1) / iters;
  }
  *fwd = bench_median(f, reps);
  *bwd = bench_median(g, reps);
  free(x), free(w), free(b), free(y), free(dy), free(dx), free(dw), free(db);
}

#ifdef MT_HAVE_DNNL
#define DNNL_OK(call)                                                                              \
  do {                                                                                             \
    dnnl_status_t st_ = (call);                                                                    \
    if (st_ != dnnl_success) {                                                                     \
      fprintf(stderr, "bench_cnn: %s failed (%d)\n", #call, (int)st_);                             \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

/* A primitive with its arguments, each a memory of the layout the primitive
 * asks for (format_tag any), filled once. */
typedef struct {
  dnnl_primitive_t prim;
  int n;
  dnnl_exec_arg_t arg[4];
} prim_args;

static void prim_make(prim_args *p, dnnl_engine_t eng, dnnl_primitive_desc_t pd, int n,
                      const int *ids, uint64_t *s) {
  DNNL_OK(dnnl_primitive_create(&p->prim, pd));
  p->n = n;
  for (int i = 0; i < n; i++) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, ids[i]);
    p->arg[i].arg = ids[i];
    DNNL_OK(dnnl_memory_create(&p->arg[i].memory, md, eng, DNNL_MEMORY_ALLOCATE));
    void *h;
    DNNL_OK(dnnl_memory_get_data_handle(p->arg[i].memory, &h));
    fill(h, dnnl_memory_desc_get_size(md) / sizeof(float), s);
  }
  dnnl_primitive_desc_destroy(pd);
}

static void prim_free(prim_args *p) {
  if (!p->prim) return;
  dnnl_primitive_destroy(p->prim);
  for (int i = 0; i < p->n; i++) dnnl_memory_destroy(p->arg[i].memory);
}

/* (b) oneDNN's own primitives for the same computation: src, weights and
 * dst in the layouts oneDNN picks (format_tag any), backward weights with
 * the bias gradient fused, created once; only executions are timed (no
 * reorders). */
static void time_dnnl_layer(const mtk_conv_desc *d, int first, int reps, int iters, double *fwd,
                            double *bwd) {
  dnnl_engine_t eng;
  dnnl_stream_t str;
  DNNL_OK(dnnl_engine_create(&eng, dnnl_cpu, 0));
  DNNL_OK(dnnl_stream_create(&str, eng, 0));
  dnnl_memory_desc_t src, wei, bias, dst;
  dnnl_dims_t sd = {d->n, d->c, d->h, d->w}, wd = {d->k, d->c, d->kh, d->kw}, bd = {d->k};
  dnnl_dims_t dd = {d->n, d->k, d->oh, d->ow};
  DNNL_OK(dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, dnnl_format_tag_any));
  DNNL_OK(dnnl_memory_desc_init_by_tag(&wei, 4, wd, dnnl_f32, dnnl_format_tag_any));
  DNNL_OK(dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_format_tag_any));
  DNNL_OK(dnnl_memory_desc_init_by_tag(&bias, 1, bd, dnnl_f32, dnnl_x));
  dnnl_dims_t st = {d->sh, d->sw}, dil = {d->dh - 1, d->dw - 1}, pad = {d->ph, d->pw};
  dnnl_convolution_desc_t fd, bdd, bwd_w;
  dnnl_primitive_desc_t fpd, hint, dpd, wpd;
  DNNL_OK(dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training,
                                                     dnnl_convolution_direct, &src, &wei, &bias,
                                                     &dst, st, dil, pad, pad));
  DNNL_OK(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
  DNNL_OK(dnnl_primitive_desc_create(&hint, &fd, NULL, eng, NULL));
  DNNL_OK(dnnl_dilated_convolution_backward_data_desc_init(&bdd, dnnl_convolution_direct, &src,
                                                           &wei, &dst, st, dil, pad, pad));
  DNNL_OK(dnnl_primitive_desc_create(&dpd, &bdd, NULL, eng, hint));
  DNNL_OK(dnnl_dilated_convolution_backward_weights_desc_init(
      &bwd_w, dnnl_convolution_direct, &src, &wei, &bias, &dst, st, dil, pad, pad));
  DNNL_OK(dnnl_primitive_desc_create(&wpd, &bwd_w, NULL, eng, hint));
  dnnl_primitive_desc_destroy(hint);
  uint64_t s = 2;
  prim_args pf = {0}, pdd = {0}, pw = {0};
  prim_make(&pf, eng, fpd, 4, (int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST},
            &s);
  if (!first)
    prim_make(&pdd, eng, dpd, 3, (int[]){DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC},
              &s);
  else dnnl_primitive_desc_destroy(dpd);
  prim_make(&pw, eng, wpd, 4,
            (int[]){DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS},
            &s);
  double f[MAX_REPS], g[MAX_REPS];
  for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
    double t0 = bench_now();
    for (int i = 0; i < iters; i++) DNNL_OK(dnnl_primitive_execute(pf.prim, str, pf.n, pf.arg));
    DNNL_OK(dnnl_stream_wait(str));
    double t1 = bench_now();
    for (int i = 0; i < iters; i++) {
      if (!first) DNNL_OK(dnnl_primitive_execute(pdd.prim, str, pdd.n, pdd.arg));
      DNNL_OK(dnnl_primitive_execute(pw.prim, str, pw.n, pw.arg));
    }
    DNNL_OK(dnnl_stream_wait(str));
    double t2 = bench_now();
    if (r < 0) continue;
    f[r] = 1e6 * (t1 - t0) / iters;
    g[r] = 1e6 * (t2 - t1) / iters;
  }
  *fwd = bench_median(f, reps);
  *bwd = bench_median(g, reps);
  prim_free(&pf), prim_free(&pdd), prim_free(&pw);
  dnnl_stream_destroy(str);
  dnnl_engine_destroy(eng);
}
#endif

/* --conv: per Convolution layer, (a) modtrain's kernels, (b) oneDNN's own
 * primitives; then the conv layers' share of the step (step_us: the
 * training step measured in this run) and the closeness (b)/(a). */
static void conv_report(const options *o, double step_us) {
  conv_layer l[4];
  int nl = net_convs(o, l), iters = o->steps;
  double sum_mt = 0, sum_dn = 0;
  printf(
      "%s batch %d: Convolution layers, median us per call over %d reps of %d calls (layouts "
      "%s)\n",
      o->net, o->batch, o->reps, iters,
      o->layout == MTK_CONV_LAYOUT_PLAIN     ? "plain"
      : o->layout == MTK_CONV_LAYOUT_BLOCKED ? "blocked"
                                             : "auto");
  for (int i = 0; i < nl; i++) {
    mtk_conv_desc d = layer_desc(&l[i], o->batch);
    double mf, mb, df = NAN, db = NAN;
    time_mt_layer(&d, i == 0, o->reps, iters, &mf, &mb);
#ifdef MT_HAVE_DNNL
    time_dnnl_layer(&d, i == 0, o->reps, iters, &df, &db);
#endif
    double close = (df + db) / (mf + mb);
    sum_mt += mf + mb;
    sum_dn += df + db;
    printf(
        "  %s %dx%dx%d -> %d k%d pad %d (%s): modtrain fwd %.1f + bwd %.1f = %.1f us; oneDNN "
        "fwd %.1f + bwd %.1f = %.1f us; closeness %.3f\n",
        l[i].name, l[i].c, l[i].h, l[i].w, l[i].k, l[i].ker, l[i].pad,
        mtk_conv_blocked(&d) ? "blocked" : "plain", mf, mb, mf + mb, df, db, df + db, close);
    printf(
        "RESULT impl=modtrain what=conv net=%s batch=%d layer=%s blocked=%d fwd_us=%.3f "
        "bwd_us=%.3f us=%.3f dnnl_fwd_us=%.3f dnnl_bwd_us=%.3f dnnl_us=%.3f closeness=%.4f\n",
        o->net, o->batch, l[i].name, mtk_conv_blocked(&d), mf, mb, mf + mb, df, db, df + db, close);
  }
  printf(
      "%s batch %d: conv layers %.1f us of a %.1f us step (share %.3f); oneDNN's own %.1f us, "
      "closeness %.3f (target >= 0.9)\n",
      o->net, o->batch, sum_mt, step_us, sum_mt / step_us, sum_dn, sum_dn / sum_mt);
  printf(
      "RESULT impl=modtrain what=convsum net=%s batch=%d conv_us=%.3f step_us=%.3f share=%.4f "
      "dnnl_us=%.3f closeness=%.4f\n",
      o->net, o->batch, sum_mt, step_us, sum_mt / step_us, sum_dn, sum_dn / sum_mt);
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench_cnn [--net lenet|cifar] [--batch N] [--steps S] [--warmup W]\n"
          "                 [--reps R] [--nbatches B] [--threads T] [--phases] [--gpu N]\n"
          "                 [--conv] [--layout auto|plain|blocked]\n"
          "  lenet: 1x28x28, batch 64, 100 steps, 10 warm-up (default)\n"
          "  cifar: 3x32x32, batch 128, 10 steps, 2 warm-up\n"
          "  reps 7, nbatches 8, threads 1\n");
}

static int parse_args(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  o->net = "lenet";
  o->reps = 7;
  o->nbatches = 8;
  o->threads = 1;
  o->classes = 10;
  o->gpu = -1;
  int batch = 0, steps = 0, warmup = -1;
  static const struct option longopts[] = {{"net", required_argument, 0, 'n'},
                                           {"batch", required_argument, 0, 'b'},
                                           {"steps", required_argument, 0, 's'},
                                           {"warmup", required_argument, 0, 'w'},
                                           {"reps", required_argument, 0, 'r'},
                                           {"nbatches", required_argument, 0, 'B'},
                                           {"threads", required_argument, 0, 't'},
                                           {"phases", no_argument, 0, 'p'},
                                           {"gpu", required_argument, 0, 'g'},
                                           {"conv", no_argument, 0, 'c'},
                                           {"layout", required_argument, 0, 'l'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'n': o->net = optarg; break;
    case 'b': batch = atoi(optarg); break;
    case 's': steps = atoi(optarg); break;
    case 'w': warmup = atoi(optarg); break;
    case 'r': o->reps = atoi(optarg); break;
    case 'B': o->nbatches = atoi(optarg); break;
    case 't': o->threads = atoi(optarg); break;
    case 'p': o->phases = 1; break;
    case 'g': o->gpu = atoi(optarg); break;
    case 'c': o->conv = 1; break;
    case 'l':
      o->layout = !strcmp(optarg, "plain")     ? MTK_CONV_LAYOUT_PLAIN
                  : !strcmp(optarg, "blocked") ? MTK_CONV_LAYOUT_BLOCKED
                  : !strcmp(optarg, "auto")    ? MTK_CONV_LAYOUT_AUTO
                                               : -1;
      if (o->layout < 0) {
        fprintf(stderr, "bench_cnn: --layout auto, plain or blocked\n");
        return -1;
      }
      break;
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); return -1;
    }
  }
  if (!strcmp(o->net, "lenet")) {
    o->c = 1, o->h = o->w = 28;
    o->batch = 64, o->steps = 100, o->warmup = 10;
  } else if (!strcmp(o->net, "cifar")) {
    o->c = 3, o->h = o->w = 32;
    o->batch = 128, o->steps = 10, o->warmup = 2;
  } else {
    fprintf(stderr, "bench_cnn: unknown --net '%s' (lenet or cifar)\n", o->net);
    return -1;
  }
  if (batch) o->batch = batch;
  if (steps) o->steps = steps;
  if (warmup >= 0) o->warmup = warmup;
  if (o->batch < 1 || o->steps < 1 || o->reps < 1 || o->reps > MAX_REPS || o->nbatches < 1 ||
      o->threads < 1) {
    fprintf(stderr, "bench_cnn: batch, steps, nbatches, threads >= 1 and reps in 1..%d\n",
            MAX_REPS);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  options o;
  if (parse_args(argc, argv, &o) < 0) return 1;
  const char *kernel = mt_blas_init();
  mt_blas_set_threads(o.threads);
  mtk_conv_set_layout(o.layout);
  printf("modtrain %s, GEMM %s, OpenBLAS kernel %s, %d thread(s), context %s\n", mt_version(),
         mt_blas_gemm(), kernel, o.threads, o.gpu >= 0 ? "gpu" : "cpu(0)");
  mt_symbol *net = build_net(&o);
  dataset ds;
  make_data(&o, &ds);
  mt_module *mod = make_module(net, &o);

  int next = 0;
  time_steps(mod, &ds, o.warmup, &next);
  double sps[MAX_REPS];
  for (int r = 0; r < o.reps; r++)
    sps[r] = o.batch * o.steps / time_steps(mod, &ds, o.steps, &next);
  double med = bench_median(sps, o.reps);
  printf(
      "%s batch %d: training step (forward + backward + update), %d reps of %d steps after %d "
      "warm-up: median %.1f samples/s (%.1f us/step; min %.1f, max %.1f)\n",
      o.net, o.batch, o.reps, o.steps, o.warmup, med, 1e6 * o.batch / med, bench_min(sps, o.reps),
      bench_max(sps, o.reps));
  printf(
      "RESULT impl=modtrain what=step net=%s batch=%d samples_per_s=%.1f step_us=%.3f "
      "min=%.1f max=%.1f\n",
      o.net, o.batch, med, 1e6 * o.batch / med, bench_min(sps, o.reps), bench_max(sps, o.reps));

  if (o.phases) {
    double f[MAX_REPS], b[MAX_REPS], u[MAX_REPS];
    for (int r = 0; r < o.reps; r++) {
      double tf = 0, tb = 0, tu = 0;
      for (int s = 0; s < o.steps; s++) {
        const mt_batch *bt = &ds.batches[next];
        next = (next + 1) % ds.n;
        double t0 = bench_now();
        CHECK(mt_module_forward(mod, bt, 1));
        double t1 = bench_now();
        CHECK(mt_module_backward(mod, 0, NULL));
        double t2 = bench_now();
        CHECK(mt_module_update(mod));
        double t3 = bench_now();
        tf += t1 - t0, tb += t2 - t1, tu += t3 - t2;
      }
      f[r] = 1e6 * tf / o.steps, b[r] = 1e6 * tb / o.steps, u[r] = 1e6 * tu / o.steps;
    }
    printf("%s batch %d: phases (median us/step): forward %.1f, backward %.1f, update %.1f\n",
           o.net, o.batch, bench_median(f, o.reps), bench_median(b, o.reps),
           bench_median(u, o.reps));
    printf(
        "RESULT impl=modtrain what=phases net=%s batch=%d forward_us=%.3f backward_us=%.3f "
        "update_us=%.3f\n",
        o.net, o.batch, bench_median(f, o.reps), bench_median(b, o.reps), bench_median(u, o.reps));
  }

  if (o.conv) conv_report(&o, 1e6 * o.batch / med);

  double loss, acc;
  evaluate(mod, &ds, &loss, &acc);
  printf("after %d steps: batch 0 loss %.4f, accuracy %.3f\n", o.warmup + o.reps * o.steps, loss,
         acc);
  printf("RESULT impl=modtrain what=check net=%s batch=%d loss=%.5f acc=%.4f\n", o.net, o.batch,
         loss, acc);
  mt_module_free(mod);
  free_data(&ds);
  mt_symbol_free(net);
  return 0;
}
