/* bench_train.c — training throughput of a Module (samples/s), the modtrain
 * side of bench/run_train_bench.sh (the PyTorch side is bench/peer_pytorch.py).
 *
 * Nets (relu between the FullyConnected layers, SoftmaxOutput head):
 *   tutorial  128-64-10         (the tutorial's MLP), batch 32 by default
 *   mlp       784-1024-1024-10  batch 256 by default
 * A Module bound on cpu(0), Xavier(magnitude=2), sgd learning_rate=0.1
 * momentum=0.9 (rescale_grad = 1/batch, as MXNet). A training step is
 * mt_module_forward(is_train=1) + mt_module_backward + mt_module_update on
 * one of --nbatches batches generated before timing (the tutorial's synthetic
 * data: 10 classes, class means U(0,1), samples N(mean, 0.1), rows shuffled
 * once so batches mix classes). Each repetition times --steps steps after
 * --warmup untimed ones; the figure is the median over --reps repetitions.
 *
 * --gemm also times, interleaved with the step repetitions, the GEMMs of the
 * step alone: bare mtk_sgemm, the GEMM the step's operators call (same
 * process, so the same backend: oneDNN, or OpenBLAS with
 * MODTRAIN_GEMM=openblas) on buffers of the step's shapes, row-major as
 * modtrain stores:
 *   forward  y[N,n] = x[N,K] W[n,K]^T                 every layer
 *   backward dW[n,K] = dy[N,n]^T x[N,K]               every layer
 *            dx[N,K] = dy[N,n] W[n,K]                 every layer but the first
 * (the data needs no gradient, so the step computes 3L-1 GEMMs; the figure
 * for all 3L is printed too). step/gemm is the median of the per-repetition
 * ratios.
 *
 * --phases times forward, backward and update separately (extra clock reads
 * per step; a separate set of repetitions). --fit times mt_module_fit over an
 * mt_ndarray_iter of the same samples with the acc metric (iterator copy and
 * metric included), on its own module.
 *
 * --ftz sets FTZ|DAZ in MXCSR before anything runs (denormal results and
 * inputs become zero), as the peer's --ftz does with torch.set_flush_denormal:
 * the synthetic data is separable, the loss goes to ~0 within a few hundred
 * steps, and the gradients and momenta then decay into denormals, which cost
 * x86 cores ~100 cycles per operation in the scalar and SSE loops.
 *
 * Output: human-readable lines and one "RESULT key=value ..." line per figure
 * for the script. BLAS threads: 1 (--threads). Exit 1 on any error. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "bench/bench_net.h"
#include "bench/bench_util.h"
#include "modtrain.h"
#include "kernels/kernels.h" /* mtk_sgemm: the GEMM the operators call */
#include "src/ndarray.h"     /* mt_device_alloc: the GEMMs alone get the Module's kind of memory */
#include "tools/check.h"

#define MAX_LAYERS 8
#define MAX_REPS 64

typedef struct {
  const char *net;
  int nlayer;
  int width[MAX_LAYERS + 1]; /* width[0] = input features, width[nlayer] = classes */
  int batch, steps, warmup, reps, nbatches, threads;
  int gemm, phases, fit, fit_epochs, ftz;
} options;

static void net_string(const options *o, char *buf, size_t len) {
  size_t off = 0;
  for (int i = 0; i <= o->nlayer && off < len; i++)
    off += (size_t)snprintf(buf + off, len - off, "%s%d", i ? "-" : "", o->width[i]);
}

/* ------------------------------------------------------------------ model */

/* data -> fc1 -> relu1 -> ... -> fcL -> SoftmaxOutput("softmax"). */
static mt_symbol *build_net(const options *o) {
  mt_symbol *net;
  CHECK(bench_mlp(o->width + 1, o->nlayer, &net));
  return net;
}

static mt_module *make_module(mt_symbol *net, const options *o, int bind) {
  mt_module *mod;
  CHECK(mt_module_create(net, 0, NULL, 0, NULL, 1, (mt_context[]){mt_cpu(0)}, &mod));
  if (!bind) return mod;
  mt_data_desc d = {"data", MT_SHAPE(o->batch, o->width[0])};
  mt_data_desc l = {"softmax_label", MT_SHAPE(o->batch)};
  CHECK(mt_module_bind(mod, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  mt_initializer *xavier;
  CHECK(mt_initializer_create("xavier magnitude=2", 0, &xavier));
  CHECK(mt_module_init_params(mod, xavier, NULL, NULL, 0, 0, 0));
  mt_initializer_free(xavier);
  CHECK(mt_module_init_optimizer(mod, "local", "sgd", "learning_rate=0.1 momentum=0.9", 0));
  return mod;
}

/* ------------------------------------------------------------------- data */

typedef struct {
  int n;
  float *x, *y;      /* all samples: (n * batch, features), (n * batch) */
  mt_batch *batches; /* batch i: rows [i * batch, (i + 1) * batch) */
} dataset;

static void make_data(const options *o, dataset *ds) {
  int64_t rows = (int64_t)o->nbatches * o->batch, f = o->width[0];
  float *x = malloc(sizeof(float) * (size_t)(rows * f)), *y = malloc(sizeof(float) * (size_t)rows);
  ds->x = malloc(sizeof(float) * (size_t)(rows * f));
  ds->y = malloc(sizeof(float) * (size_t)rows);
  ds->batches = calloc((size_t)o->nbatches, sizeof *ds->batches);
  if (!x || !y || !ds->x || !ds->y || !ds->batches) {
    fprintf(stderr, "bench_train: out of memory for %lld samples\n", (long long)rows);
    exit(1);
  }
  CHECK(mt_synthetic_generate(o->width[o->nlayer], (int)f, rows, 0, 0, x, y));
  /* the generator emits the classes in blocks: shuffle rows (Fisher-Yates, LCG) */
  int64_t *perm = malloc(sizeof(int64_t) * (size_t)rows);
  if (!perm) exit(1);
  for (int64_t i = 0; i < rows; i++) perm[i] = i;
  uint64_t s = 0x243f6a8885a308d3ull;
  for (int64_t i = rows - 1; i > 0; i--) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    int64_t j = (int64_t)((s >> 33) % (uint64_t)(i + 1));
    int64_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  for (int64_t i = 0; i < rows; i++) {
    memcpy(ds->x + i * f, x + perm[i] * f, sizeof(float) * (size_t)f);
    ds->y[i] = y[perm[i]];
  }
  free(perm);
  free(x);
  free(y);
  ds->n = o->nbatches;
  for (int b = 0; b < ds->n; b++) {
    mt_batch *bt = &ds->batches[b];
    bt->ndata = bt->nlabel = 1;
    CHECK(mt_ndarray_create(MT_SHAPE(o->batch, (int)f), mt_cpu(0), &bt->data[0]));
    CHECK(mt_ndarray_create(MT_SHAPE(o->batch), mt_cpu(0), &bt->label[0]));
    CHECK(mt_ndarray_copy_from(bt->data[0], ds->x + (int64_t)b * o->batch * f, o->batch * f));
    CHECK(mt_ndarray_copy_from(bt->label[0], ds->y + (int64_t)b * o->batch, o->batch));
  }
}

static void free_data(dataset *ds) {
  for (int b = 0; b < ds->n; b++) {
    mt_ndarray_free(ds->batches[b].data[0]);
    mt_ndarray_free(ds->batches[b].label[0]);
  }
  free(ds->batches);
  free(ds->x);
  free(ds->y);
}

/* ------------------------------------------------------------------- step */

static inline void step(mt_module *mod, const mt_batch *b) {
  CHECK(mt_module_forward(mod, b, 1));
  CHECK(mt_module_backward(mod, 0, NULL));
  CHECK(mt_module_update(mod));
}

/* Seconds for `steps` steps, cycling through the batches from *next. */
static double time_steps(mt_module *mod, const dataset *ds, int steps, int *next) {
  double t0 = bench_now();
  for (int s = 0; s < steps; s++) {
    step(mod, &ds->batches[*next]);
    *next = (*next + 1) % ds->n;
  }
  return bench_now() - t0;
}

/* Mean cross-entropy and accuracy of the module on batch 0 (inference). */
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
    const float *row = p + i * s.dim[1];
    int best = 0;
    for (int c = 1; c < s.dim[1]; c++) best = row[c] > row[best] ? c : best;
    correct += best == (int)y[i];
    l -= log(fmax((double)row[(int)y[i]], 1e-30));
  }
  *loss = l / (double)s.dim[0];
  *acc = (double)correct / (double)s.dim[0];
}

/* ------------------------------------------------------------------- GEMMs */

typedef struct {
  int N, K, n;
  float *x, *w, *y, *dy, *dw, *dx;
} gemm_layer;

/* Allocated as the Module's arrays are (mt_device_alloc: 2 MiB-aligned
 * blocks with transparent huge pages when large), so the GEMMs alone run on
 * the same kind of memory as the step's. */
static float *rand_buf(int64_t n, uint64_t seed) {
  float *p = mt_device_alloc((mt_context){MT_CPU, 0}, n);
  if (!p) {
    fprintf(stderr, "bench_train: out of memory\n");
    exit(1);
  }
  uint64_t s = 0x9e3779b97f4a7c15ull * (seed + 1);
  for (int64_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = (float)((double)(s >> 40) / (double)(1ull << 24)) - 0.5f;
  }
  return p;
}

static void gemm_setup(const options *o, gemm_layer *g) {
  for (int l = 0; l < o->nlayer; l++) {
    gemm_layer *L = &g[l];
    L->N = o->batch;
    L->K = o->width[l];
    L->n = o->width[l + 1];
    L->x = rand_buf((int64_t)L->N * L->K, 6 * l);
    L->w = rand_buf((int64_t)L->n * L->K, 6 * l + 1);
    L->y = rand_buf((int64_t)L->N * L->n, 6 * l + 2);
    L->dy = rand_buf((int64_t)L->N * L->n, 6 * l + 3);
    L->dw = rand_buf((int64_t)L->n * L->K, 6 * l + 4);
    L->dx = rand_buf((int64_t)L->N * L->K, 6 * l + 5);
  }
}

static void gemm_free(const options *o, gemm_layer *g) {
  for (int l = 0; l < o->nlayer; l++) {
    mt_device_free((mt_context){MT_CPU, 0}, g[l].x);
    mt_device_free((mt_context){MT_CPU, 0}, g[l].w);
    mt_device_free((mt_context){MT_CPU, 0}, g[l].y);
    mt_device_free((mt_context){MT_CPU, 0}, g[l].dy);
    mt_device_free((mt_context){MT_CPU, 0}, g[l].dw);
    mt_device_free((mt_context){MT_CPU, 0}, g[l].dx);
  }
}

/* The GEMMs of one step in the step's order; all_dx adds the first layer's dx. */
static void gemm_pass(const options *o, gemm_layer *g, int all_dx) {
  for (int l = 0; l < o->nlayer; l++) {
    gemm_layer *L = &g[l];
    mtk_sgemm(0, 1, L->N, L->n, L->K, 1.0f, L->x, L->K, L->w, L->K, 0.0f, L->y, L->n);
  }
  for (int l = o->nlayer - 1; l >= 0; l--) {
    gemm_layer *L = &g[l];
    mtk_sgemm(1, 0, L->n, L->K, L->N, 1.0f, L->dy, L->n, L->x, L->K, 0.0f, L->dw, L->K);
    if (l > 0 || all_dx)
      mtk_sgemm(0, 0, L->N, L->K, L->n, 1.0f, L->dy, L->n, L->w, L->K, 0.0f, L->dx, L->K);
  }
}

static double time_gemms(const options *o, gemm_layer *g, int iters, int all_dx) {
  double t0 = bench_now();
  for (int i = 0; i < iters; i++) gemm_pass(o, g, all_dx);
  return bench_now() - t0;
}

static double step_gflop(const options *o, int all_dx) {
  double f = 0;
  for (int l = 0; l < o->nlayer; l++)
    f += (double)o->batch * o->width[l] * o->width[l + 1] * 2.0 * ((l > 0 || all_dx) ? 3 : 2);
  return f * 1e-9;
}

/* -------------------------------------------------------------------- fit */

static void run_fit(const options *o, mt_symbol *net, const dataset *ds, const char *netstr) {
  int64_t rows = (int64_t)ds->n * o->batch;
  mt_ndarray *x, *y;
  CHECK(mt_ndarray_create(MT_SHAPE((int)rows, o->width[0]), mt_cpu(0), &x));
  CHECK(mt_ndarray_create(MT_SHAPE((int)rows), mt_cpu(0), &y));
  CHECK(mt_ndarray_copy_from(x, ds->x, rows * o->width[0]));
  CHECK(mt_ndarray_copy_from(y, ds->y, rows));
  mt_data_iter *it;
  CHECK(mt_ndarray_iter_create(x, y, o->batch, 0, 0, MT_LAST_BATCH_DISCARD, NULL, NULL, &it));
  mt_module *mod = make_module(net, o, 0);
  mt_initializer *xavier;
  CHECK(mt_initializer_create("xavier magnitude=2", 0, &xavier));
  mt_fit_options fo;
  mt_fit_options_init(&fo);
  fo.optimizer = "sgd";
  fo.optimizer_params = "learning_rate=0.1 momentum=0.9";
  fo.eval_metric = "acc";
  fo.initializer = xavier;
  /* silence the training log and the "already bound/initialized" warnings of
   * the repeated fit calls: only the timing is of interest here */
  mt_log_level level = mt_log_get_level();
  int rank = mt_log_rank();
  mt_log_set_level(MT_LOG_ERROR);
  mt_log_set_rank(1);
  fo.num_epoch = 1; /* warm-up: bind, init_params, init_optimizer */
  CHECK(mt_module_fit(mod, it, &fo));
  double sps[MAX_REPS];
  for (int r = 0; r < o->reps; r++) {
    fo.num_epoch = o->fit_epochs;
    double t0 = bench_now();
    CHECK(mt_module_fit(mod, it, &fo));
    sps[r] = (double)o->fit_epochs * (double)rows / (bench_now() - t0);
  }
  mt_log_set_level(level);
  mt_log_set_rank(rank);
  double med = bench_median(sps, o->reps);
  printf(
      "%s batch %d: mt_module_fit (iterator copy + acc metric + update), %d reps of %d "
      "epochs x %d batches: median %.0f samples/s (%.2f us/step; min %.0f, max %.0f)\n",
      netstr, o->batch, o->reps, o->fit_epochs, ds->n, med, 1e6 * o->batch / med,
      bench_min(sps, o->reps), bench_max(sps, o->reps));
  printf("RESULT impl=modtrain what=fit net=%s batch=%d samples_per_s=%.1f step_us=%.3f\n", netstr,
         o->batch, med, 1e6 * o->batch / med);
  mt_initializer_free(xavier);
  mt_module_free(mod);
  mt_data_iter_free(it);
  mt_ndarray_free(x);
  mt_ndarray_free(y);
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench_train [--net tutorial|mlp] [--batch N] [--steps S] [--warmup W]\n"
          "                   [--reps R] [--nbatches B] [--threads T] [--gemm] [--phases]\n"
          "                   [--fit] [--fit-epochs E] [--ftz]\n"
          "  tutorial: 128-64-10, batch 32, 3000 steps, 300 warm-up (default)\n"
          "  mlp:      784-1024-1024-10, batch 256, 300 steps, 20 warm-up\n"
          "  reps 7, nbatches 16, threads 1\n");
}

static int parse_args(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  o->net = "tutorial";
  o->reps = 7;
  o->nbatches = 16;
  o->threads = 1;
  int batch = 0, steps = 0, warmup = -1, epochs = 0;
  static const struct option longopts[] = {{"net", required_argument, 0, 'n'},
                                           {"batch", required_argument, 0, 'b'},
                                           {"steps", required_argument, 0, 's'},
                                           {"warmup", required_argument, 0, 'w'},
                                           {"reps", required_argument, 0, 'r'},
                                           {"nbatches", required_argument, 0, 'B'},
                                           {"threads", required_argument, 0, 't'},
                                           {"gemm", no_argument, 0, 'g'},
                                           {"phases", no_argument, 0, 'p'},
                                           {"fit", no_argument, 0, 'f'},
                                           {"fit-epochs", required_argument, 0, 'e'},
                                           {"ftz", no_argument, 0, 'z'},
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
    case 'g': o->gemm = 1; break;
    case 'p': o->phases = 1; break;
    case 'f': o->fit = 1; break;
    case 'e': epochs = atoi(optarg); break;
    case 'z': o->ftz = 1; break;
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); return -1;
    }
  }
  if (!strcmp(o->net, "tutorial")) {
    o->nlayer = 2;
    o->width[0] = 128, o->width[1] = 64, o->width[2] = 10;
    o->batch = 32, o->steps = 3000, o->warmup = 300;
  } else if (!strcmp(o->net, "mlp")) {
    o->nlayer = 3;
    o->width[0] = 784, o->width[1] = 1024, o->width[2] = 1024, o->width[3] = 10;
    o->batch = 256, o->steps = 300, o->warmup = 20;
  } else {
    fprintf(stderr, "bench_train: unknown --net '%s' (tutorial or mlp)\n", o->net);
    return -1;
  }
  if (batch) o->batch = batch;
  if (steps) o->steps = steps;
  if (warmup >= 0) o->warmup = warmup;
  o->fit_epochs = epochs > 0 ? epochs : (o->steps + o->nbatches - 1) / o->nbatches;
  if (o->batch < 1 || o->steps < 1 || o->reps < 1 || o->reps > MAX_REPS || o->nbatches < 1 ||
      o->threads < 1) {
    fprintf(stderr, "bench_train: batch, steps, nbatches, threads >= 1 and reps in 1..%d\n",
            MAX_REPS);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  options o;
  if (parse_args(argc, argv, &o) < 0) return 1;
  if (o.ftz) {
#if defined(__SSE__)
    _mm_setcsr(_mm_getcsr() | 0x8040); /* FTZ | DAZ */
#else
    fprintf(stderr, "bench_train: --ftz needs an x86 CPU\n");
    return 1;
#endif
  }
  const char *kernel = mt_blas_init();
  mt_blas_set_threads(o.threads);
  char netstr[64];
  net_string(&o, netstr, sizeof netstr);
  printf("modtrain %s, GEMM %s, OpenBLAS kernel %s, %d BLAS thread(s)\n", mt_version(),
         mt_blas_gemm(), kernel, o.threads);

  mt_symbol *net = build_net(&o);
  dataset ds;
  make_data(&o, &ds);
  mt_module *mod = make_module(net, &o, 1);
  gemm_layer g[MAX_LAYERS];
  if (o.gemm) gemm_setup(&o, g);

  int next = 0;
  time_steps(mod, &ds, o.warmup, &next);
  if (o.gemm) time_gemms(&o, g, o.warmup > 0 ? o.warmup : 1, 0);
  double sps[MAX_REPS], gemm_s[MAX_REPS], ratio[MAX_REPS], step_s[MAX_REPS], all_s[MAX_REPS];
  for (int r = 0; r < o.reps; r++) {
    step_s[r] = time_steps(mod, &ds, o.steps, &next) / o.steps;
    sps[r] = o.batch / step_s[r];
    if (o.gemm) {
      gemm_s[r] = time_gemms(&o, g, o.steps, 0) / o.steps;
      ratio[r] = step_s[r] / gemm_s[r];
      all_s[r] = time_gemms(&o, g, o.steps, 1) / o.steps;
    }
  }
  double med = bench_median(sps, o.reps);
  printf(
      "%s batch %d: training step (forward + backward + update), %d reps of %d steps after "
      "%d warm-up: median %.0f samples/s (%.2f us/step; min %.0f, max %.0f)\n",
      netstr, o.batch, o.reps, o.steps, o.warmup, med, 1e6 * o.batch / med, bench_min(sps, o.reps),
      bench_max(sps, o.reps));
  printf(
      "RESULT impl=modtrain what=step net=%s batch=%d samples_per_s=%.1f step_us=%.3f "
      "min=%.1f max=%.1f\n",
      netstr, o.batch, med, 1e6 * o.batch / med, bench_min(sps, o.reps), bench_max(sps, o.reps));

  if (o.gemm) {
    double gm = bench_median(gemm_s, o.reps), rm = bench_median(ratio, o.reps);
    double all = bench_median(all_s, o.reps);
    printf(
        "%s batch %d: the step's %d GEMMs alone (mtk_sgemm, %s): median %.2f us "
        "(%.1f GFLOP/s); step/gemm median %.3f (min %.3f, max %.3f)\n",
        netstr, o.batch, 3 * o.nlayer - 1, mt_blas_gemm(), 1e6 * gm, step_gflop(&o, 0) / gm, rm,
        bench_min(ratio, o.reps), bench_max(ratio, o.reps));
    printf(
        "%s batch %d: all %d GEMMs (3 per layer, with the first layer's dx): median %.2f us "
        "(%.1f GFLOP/s); step/that %.3f\n",
        netstr, o.batch, 3 * o.nlayer, 1e6 * all, step_gflop(&o, 1) / all,
        bench_median(step_s, o.reps) / all);
    printf(
        "RESULT impl=modtrain what=gemm net=%s batch=%d gemm_us=%.3f gemm_gflops=%.1f "
        "step_over_gemm=%.4f gemm_all_us=%.3f step_over_gemm_all=%.4f\n",
        netstr, o.batch, 1e6 * gm, step_gflop(&o, 0) / gm, rm, 1e6 * all,
        bench_median(step_s, o.reps) / all);
  }

  if (o.phases) {
    /* the same steps with clock reads between the three calls */
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
    printf("%s batch %d: phases (median us/step): forward %.2f, backward %.2f, update %.2f\n",
           netstr, o.batch, bench_median(f, o.reps), bench_median(b, o.reps),
           bench_median(u, o.reps));
    printf(
        "RESULT impl=modtrain what=phases net=%s batch=%d forward_us=%.3f backward_us=%.3f "
        "update_us=%.3f\n",
        netstr, o.batch, bench_median(f, o.reps), bench_median(b, o.reps), bench_median(u, o.reps));
  }

  double loss, acc;
  evaluate(mod, &ds, &loss, &acc);
  printf("after %d steps: batch 0 loss %.4f, accuracy %.3f\n", o.warmup + o.reps * o.steps, loss,
         acc);
  printf("RESULT impl=modtrain what=check net=%s batch=%d loss=%.5f acc=%.4f\n", netstr, o.batch,
         loss, acc);
  if (o.fit) run_fit(&o, net, &ds, netstr);

  if (o.gemm) gemm_free(&o, g);
  mt_module_free(mod);
  free_data(&ds);
  mt_symbol_free(net);
  return 0;
}
