/* blas.c — row-major sgemm, and control of the libraries behind it.
 *
 * GEMM backends: oneDNN's dnnl_sgemm (Debian's libdnnl, when the build
 * found it: MT_HAVE_DNNL) or OpenBLAS's cblas_sgemm. oneDNN's JIT kernels
 * ran the 784-1024-1024-10 MLP's eight GEMMs at batch 256 about 13% faster
 * than OpenBLAS on one AVX-512 core, and never slower on the small ones, so
 * it is the default; MODTRAIN_GEMM=openblas (or mtk_gemm_select) picks
 * OpenBLAS. Only one of them computes at a time, so their thread pools never
 * compete for the cores. Both partition the work the same way for a given
 * thread count, so a run repeats bit for bit.
 *
 * OpenBLAS built with DYNAMIC_ARCH picks its kernel table (gotoblas) once,
 * when the library loads. On CPUs it does not recognise it falls back to old
 * SSE kernels (≈5x slower sgemm on AVX-512 parts), and the choice can only
 * be changed through OPENBLAS_CORETYPE before load — too early for a
 * library. Its exported gotoblas_dynamic_quit/init pair re-runs the choice,
 * so we set OPENBLAS_CORETYPE and re-initialise, found with dlsym so a
 * non-OpenBLAS BLAS still links (and simply cannot switch). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cblas.h>
#ifdef MT_HAVE_DNNL
#include <dnnl.h>
#endif

#include "base/env.h"
#include "kernels/kernels.h"

/* MTK_GEMM_ONEDNN or MTK_GEMM_OPENBLAS; -1 until first use. */
static int gemm_backend = -1;
static pthread_once_t gemm_once = PTHREAD_ONCE_INIT;
/* Threads for oneDNN's OpenMP regions (0: OpenMP's default). */
static int gemm_threads;
static void (*omp_set)(int);
static int (*omp_get)(void);

static void gemm_init(void) {
  omp_set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
  omp_get = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
  if (gemm_backend >= 0) return; /* mtk_gemm_select came first */
  const char *env = mt_env(MT_ENV_GEMM);
#ifdef MT_HAVE_DNNL
  gemm_backend = (env && !strcasecmp(env, "openblas")) ? MTK_GEMM_OPENBLAS : MTK_GEMM_ONEDNN;
#else
  (void)env;
  gemm_backend = MTK_GEMM_OPENBLAS;
#endif
}

int mtk_gemm_select(int backend) {
  pthread_once(&gemm_once, gemm_init);
#ifndef MT_HAVE_DNNL
  if (backend == MTK_GEMM_ONEDNN) return -1;
#endif
  if (backend != MTK_GEMM_ONEDNN && backend != MTK_GEMM_OPENBLAS) return -1;
  gemm_backend = backend;
  return 0;
}

int mtk_gemm_backend(void) {
  pthread_once(&gemm_once, gemm_init);
  return gemm_backend;
}

const char *mtk_gemm_name(void) {
  static char name[64];
  if (mtk_gemm_backend() == MTK_GEMM_OPENBLAS) return "OpenBLAS";
#ifdef MT_HAVE_DNNL
  const dnnl_version_t *v = dnnl_version();
  snprintf(name, sizeof name, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
#endif
  return name;
}

void mtk_sgemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
#ifdef MT_HAVE_DNNL
  if (mtk_gemm_backend() == MTK_GEMM_ONEDNN) {
    /* omp_set_num_threads acts on the calling thread's ICVs: set them here,
     * on the thread that computes, whenever they differ */
    if (gemm_threads > 0 && omp_get && omp_set && omp_get() != gemm_threads) omp_set(gemm_threads);
    if (dnnl_sgemm(transa ? 'T' : 'N', transb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C,
                   ldc) == dnnl_success)
      return;
    /* oneDNN refused the arguments: OpenBLAS computes it (same contract) */
  }
#endif
  cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans, transb ? CblasTrans : CblasNoTrans,
              M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char *mtk_blas_corename(void) {
  char *(*corename)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
  return corename ? corename() : "unknown";
}

int mtk_blas_force_core(const char *coretype) {
  void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
  void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
  if (!quit || !init) return -1;
  quit();
  setenv("OPENBLAS_CORETYPE", coretype, 1);
  init();
  return 0;
}

void mtk_blas_set_threads(int n) {
  void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
  if (set && n > 0) set(n);
  if (n > 0) gemm_threads = n;
}

int mtk_blas_get_threads(void) {
  if (gemm_threads > 0) return gemm_threads;
  if (mtk_gemm_backend() == MTK_GEMM_ONEDNN && omp_get) return omp_get();
  int (*get)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
  return get ? get() : 1;
}
