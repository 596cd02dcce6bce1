/* bench_sgemm.c — GFLOP/s of the FullyConnected GEMMs of a 784-1024-1024-10
 * MLP at batch 256, through modtrain's own path against raw cblas_sgemm.
 *
 * For each layer (K inputs -> n outputs, batch N):
 *   forward   y[N,n]  = x[N,K] * W[n,K]^T (+ b)           2*N*n*K flops
 *   backward  dW[n,K] = dy[N,n]^T * x[N,K]                2*N*n*K flops
 *             dx[N,K] = dy[N,n] * W[n,K]                  2*N*n*K flops (+ db = sum of dy rows)
 * modtrain: the FullyConnected op found with mt_op_find, driven directly
 * (parse -> forward / backward, as tests/testutil.c does), after
 * mt_blas_init() has chosen OpenBLAS's best kernel; its GEMMs go through
 * the build's backend (oneDNN by default, OpenBLAS with
 * MODTRAIN_GEMM=openblas, which measures the op's own overhead alone).
 * OpenBLAS: cblas_sgemm with the same shapes, transposes and arrays, in the
 * same process (so on the same kernel). Only GEMM flops are counted; the op's bias work (add and
 * row sum) is part of its time unless --no-bias. Each figure is the median over
 * --reps repetitions, each timing a loop of calls long enough (>= 20 ms) for
 * the clock; modtrain and OpenBLAS samples are interleaved so drift hits both.
 * BLAS threads: 1 unless OPENBLAS_NUM_THREADS is set.
 *
 * Before timing, both paths run once on the same inputs (bias 0) and must
 * give the same outputs and gradients (relative 1e-5), so the two measure
 * the same computation.
 *
 *   bench_sgemm [--batch N] [--reps R] [--no-bias]
 * Exit status: 0 (figures printed), 1 on an error or a result mismatch. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "bench/bench_util.h"
#include "modtrain.h"
#include "src/attrs.h"
#include "src/ndarray.h"
#include "src/op.h"

#define NLAYER 3
enum { FWD = 0, BWD = 1, NPASS = 2 };
enum { IMPL_MT = 0, IMPL_BLAS = 1, NIMPL = 2 };
static const char *const pass_name[NPASS] = {"forward", "backward"};

typedef struct {
  char name[8];
  int N, K, n;
  const mt_op *op;
  void *param;
  int nargs;           /* 3 with bias, 2 without */
  mt_ndarray *in[3];   /* x (N,K), W (n,K), b (n) */
  mt_ndarray *grad[3]; /* dx (N,K), dW (n,K), db (n) */
  mt_ndarray *y;       /* (N, n) */
  mt_ndarray *dy;      /* (N, n) */
} layer;

static void fill(mt_ndarray *a, unsigned seed) {
  uint64_t s = 0x9e3779b97f4a7c15ull * (seed + 1);
  float *p = mt_ndarray_data(a);
  for (int64_t i = 0; i < mt_ndarray_size(a); i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = (float)((double)(s >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f; /* U(-1, 1) */
  }
}

static int layer_setup(layer *L, const char *name, int N, int K, int n, int no_bias) {
  memset(L, 0, sizeof *L);
  snprintf(L->name, sizeof L->name, "%s", name);
  L->N = N;
  L->K = K;
  L->n = n;
  L->op = mt_op_find("FullyConnected");
  if (!L->op) return mt_error_set(MT_E_NOTFOUND, "no FullyConnected op in this build");
  char attrs[64];
  snprintf(attrs, sizeof attrs, "num_hidden=%d no_bias=%s", n, no_bias ? "true" : "false");
  mt_attrs a;
  int rc = mt_attrs_parse(attrs, &a);
  if (rc < 0) return rc;
  L->param = calloc(1, L->op->param_size);
  if (!L->param) {
    mt_attrs_free(&a);
    return mt_error_set(MT_E_NOMEM, "param");
  }
  rc = L->op->parse(&a, name, L->param);
  mt_attrs_free(&a);
  if (rc < 0) return rc;
  L->nargs = L->op->num_args(L->param);
  /* shapes from the op's own inference: data given, weight and bias deduced */
  mt_shape in[3] = {MT_SHAPE(N, K)}, out[1] = {{0}}, aux[1] = {{0}};
  if ((rc = L->op->infer_shape(L->param, name, in, out, aux)) < 0) return rc;
  for (int i = 0; i < L->nargs; i++) {
    if ((rc = mt_ndarray_create(in[i], mt_cpu(0), &L->in[i])) < 0) return rc;
    if ((rc = mt_ndarray_create(in[i], mt_cpu(0), &L->grad[i])) < 0) return rc;
  }
  if ((rc = mt_ndarray_create(out[0], mt_cpu(0), &L->y)) < 0) return rc;
  if ((rc = mt_ndarray_create(out[0], mt_cpu(0), &L->dy)) < 0) return rc;
  fill(L->in[0], 1);
  fill(L->in[1], 2);
  fill(L->dy, 3);
  /* the bias stays 0, so the op's output equals the bare GEMM's */
  return MT_OK;
}

static void layer_free(layer *L) {
  for (int i = 0; i < 3; i++) {
    mt_ndarray_free(L->in[i]);
    mt_ndarray_free(L->grad[i]);
  }
  mt_ndarray_free(L->y);
  mt_ndarray_free(L->dy);
  free(L->param);
}

/* One call of the pass through modtrain's FullyConnected op. */
static int run_mt(layer *L, int pass) {
  mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = 1};
  mt_ndarray *out[1] = {L->y}, *og[1] = {L->dy};
  if (pass == FWD) return mt_op_forward(L->op, L->param, &c, L->in, out, NULL);
  mt_grad_req req[3] = {MT_REQ_WRITE, MT_REQ_WRITE, MT_REQ_WRITE};
  return mt_op_backward(L->op, L->param, &c, og, L->in, out, req, L->grad, NULL);
}

/* The same GEMMs as bare cblas_sgemm calls (row-major, as modtrain stores). */
static void run_blas(layer *L, int pass) {
  const float *x = mt_ndarray_data(L->in[0]), *w = mt_ndarray_data(L->in[1]);
  const float *dy = mt_ndarray_data(L->dy);
  int N = L->N, K = L->K, n = L->n;
  if (pass == FWD) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, n, K, 1.0f, x, K, w, K, 0.0f,
                mt_ndarray_data(L->y), n);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, K, N, 1.0f, dy, n, x, K, 0.0f,
              mt_ndarray_data(L->grad[1]), K);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, K, n, 1.0f, dy, n, w, K, 0.0f,
              mt_ndarray_data(L->grad[0]), K);
}

static int run(layer *L, int impl, int pass) {
  if (impl == IMPL_MT) return run_mt(L, pass);
  run_blas(L, pass);
  return MT_OK;
}

/* Seconds per call over `iters` calls. */
static double time_calls(layer *L, int impl, int pass, int iters) {
  double t0 = bench_now();
  for (int i = 0; i < iters; i++)
    if (run(L, impl, pass) < 0) return -1;
  return (bench_now() - t0) / iters;
}

static float *copy_of(const mt_ndarray *a) {
  size_t bytes = sizeof(float) * (size_t)mt_ndarray_size(a);
  float *p = malloc(bytes);
  if (p) memcpy(p, mt_ndarray_data(a), bytes);
  return p;
}

/* max |a - b| / max |b|: 0 when the paths agree bit for bit */
static double rel_diff(const float *a, const mt_ndarray *b) {
  const float *q = mt_ndarray_data(b);
  double d = 0, m = 0;
  for (int64_t i = 0; i < mt_ndarray_size(b); i++) {
    d = fmax(d, fabs((double)a[i] - q[i]));
    m = fmax(m, fabs((double)q[i]));
  }
  return m > 0 ? d / m : d;
}

/* Runs each pass through both paths and compares outputs and gradients. */
static int verify(layer *L) {
  int rc = run_mt(L, FWD);
  if (rc < 0) return rc;
  float *y = copy_of(L->y);
  run_blas(L, FWD);
  double e = y ? rel_diff(y, L->y) : INFINITY;
  free(y);
  if (!(e <= 1e-5))
    return mt_error_set(MT_E_NUMERIC, "%s forward: op and cblas differ by %g (relative)", L->name,
                        e);
  if ((rc = run_mt(L, BWD)) < 0) return rc;
  float *dx = copy_of(L->grad[0]), *dw = copy_of(L->grad[1]);
  run_blas(L, BWD);
  double ex = dx ? rel_diff(dx, L->grad[0]) : INFINITY;
  double ew = dw ? rel_diff(dw, L->grad[1]) : INFINITY;
  free(dx);
  free(dw);
  if (!(ex <= 1e-5 && ew <= 1e-5))
    return mt_error_set(MT_E_NUMERIC, "%s backward: op and cblas differ: dx %g, dW %g (relative)",
                        L->name, ex, ew);
  return MT_OK;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench_sgemm [--batch N] [--reps R] [--no-bias]\n"
          "  --batch N   batch size (default 256)\n"
          "  --reps R    repetitions; the median is reported (default 7)\n"
          "  --no-bias   FullyConnected without bias (GEMMs only on both sides)\n"
          "environment: OPENBLAS_NUM_THREADS (default here: 1), OPENBLAS_CORETYPE\n"
          "(default: modtrain picks the best kernel for this CPU)\n");
}

int main(int argc, char **argv) {
  int batch = 256, reps = 7, no_bias = 0;
  static const struct option opts[] = {{"batch", required_argument, NULL, 'b'},
                                       {"reps", required_argument, NULL, 'r'},
                                       {"no-bias", no_argument, NULL, 'n'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "b:r:nh", opts, NULL)) != -1) {
    switch (ch) {
    case 'b': batch = atoi(optarg); break;
    case 'r': reps = atoi(optarg); break;
    case 'n': no_bias = 1; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (batch <= 0 || reps <= 0 || reps > 1000 || optind != argc) {
    usage(stderr);
    return 2;
  }

  /* Kernel choice first (it re-initialises OpenBLAS), then the thread count. */
  mt_blas_init();
  /* both backends on the same thread count */
  const char *nt = getenv("OPENBLAS_NUM_THREADS");
  mt_blas_set_threads(nt && atoi(nt) > 0 ? atoi(nt) : 1);

  static const int dims[NLAYER + 1] = {784, 1024, 1024, 10};
  layer L[NLAYER];
  memset(L, 0, sizeof L);
  int status = 1;
  for (int l = 0; l < NLAYER; l++) {
    char name[8];
    snprintf(name, sizeof name, "fc%d", l + 1);
    if (layer_setup(&L[l], name, batch, dims[l], dims[l + 1], no_bias) < 0 || verify(&L[l]) < 0) {
      fprintf(stderr, "bench_sgemm: %s\n", mt_last_error());
      goto out;
    }
  }

  /* Calibrate each (layer, pass): enough calls for >= 20 ms per sample. */
  int iters[NLAYER][NPASS];
  for (int l = 0; l < NLAYER; l++)
    for (int p = 0; p < NPASS; p++) {
      time_calls(&L[l], IMPL_BLAS, p, 2); /* warm caches and threads */
      double t = time_calls(&L[l], IMPL_BLAS, p, 3);
      int it = (int)(0.02 / fmax(t, 1e-7)) + 1;
      iters[l][p] = it > 100000 ? 100000 : it;
    }

  double *samples = calloc((size_t)NLAYER * NPASS * NIMPL * (size_t)reps, sizeof(double));
  if (!samples) {
    fprintf(stderr, "bench_sgemm: out of memory\n");
    goto out;
  }
#define SAMPLE(l, p, i, r) samples[(((size_t)(l)*NPASS + (p)) * NIMPL + (i)) * (size_t)reps + (r)]
  for (int r = 0; r < reps; r++)
    for (int l = 0; l < NLAYER; l++)
      for (int p = 0; p < NPASS; p++)
        for (int i = 0; i < NIMPL; i++) {
          /* alternate which path goes first, so neither always runs on a cold cache */
          int impl = (r + l + p) % 2 ? NIMPL - 1 - i : i;
          double t = time_calls(&L[l], impl, p, iters[l][p]);
          if (t < 0) {
            fprintf(stderr, "bench_sgemm: %s %s: %s\n", L[l].name, pass_name[p], mt_last_error());
            free(samples);
            goto out;
          }
          SAMPLE(l, p, impl, r) = t;
        }

  printf("bench_sgemm: FullyConnected GEMMs of a %d-%d-%d-%d MLP, batch %d%s\n", dims[0], dims[1],
         dims[2], dims[3], batch, no_bias ? ", no bias" : " (bias work included in modtrain)");
  printf("modtrain's GEMM: %s; OpenBLAS kernel %s, %d thread(s), median of %d repetitions\n",
         mt_blas_gemm(), openblas_get_corename(), openblas_get_num_threads(), reps);
  printf("%-6s %-22s %-9s %8s %12s %12s %7s\n", "layer", "GEMM shapes", "pass", "GFLOP", "modtrain",
         "OpenBLAS", "ratio");
  printf("%-6s %-22s %-9s %8s %12s %12s %7s\n", "", "", "", "", "GFLOP/s", "GFLOP/s", "");
  double total_flop = 0, total_t[NIMPL] = {0, 0};
  for (int l = 0; l < NLAYER; l++)
    for (int p = 0; p < NPASS; p++) {
      double flop = (p == FWD ? 2.0 : 4.0) * L[l].N * L[l].n * L[l].K;
      double t[NIMPL];
      for (int i = 0; i < NIMPL; i++) {
        t[i] = bench_median(&SAMPLE(l, p, i, 0), reps);
        total_t[i] += t[i];
      }
      total_flop += flop;
      char shape[32];
      snprintf(shape, sizeof shape, "N%d K%d -> n%d", L[l].N, L[l].K, L[l].n);
      printf("%-6s %-22s %-9s %8.4f %12.1f %12.1f %7.3f\n", L[l].name, shape, pass_name[p],
             flop * 1e-9, flop / t[IMPL_MT] * 1e-9, flop / t[IMPL_BLAS] * 1e-9,
             t[IMPL_BLAS] / t[IMPL_MT]);
    }
#undef SAMPLE
  double ratio = total_t[IMPL_BLAS] / total_t[IMPL_MT];
  printf("%-6s %-22s %-9s %8.4f %12.1f %12.1f %7.3f\n", "total", "", "fwd+bwd", total_flop * 1e-9,
         total_flop / total_t[IMPL_MT] * 1e-9, total_flop / total_t[IMPL_BLAS] * 1e-9, ratio);
  printf("ratio modtrain/OpenBLAS = %.3f (target >= 0.95)%s\n", ratio,
         ratio >= 0.95 ? "" : "  BELOW TARGET");
  free(samples);
  status = 0;
out:
  for (int l = 0; l < NLAYER; l++) layer_free(&L[l]);
  return status;
}
