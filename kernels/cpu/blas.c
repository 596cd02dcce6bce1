/* blas.c — row-major sgemm through OpenBLAS, and OpenBLAS kernel control.
 *
 * OpenBLAS built with DYNAMIC_ARCH picks its kernel table (gotoblas) once,
 * when the library loads. On CPUs it does not recognise it falls back to old
 * SSE kernels (≈5x slower sgemm on AVX-512 parts), and the choice can only
 * be changed through OPENBLAS_CORETYPE before load — too early for a
 * library. Its exported gotoblas_dynamic_quit/init pair re-runs the choice,
 * so we set OPENBLAS_CORETYPE and re-initialise, found with dlsym so a
 * non-OpenBLAS BLAS still links (and simply cannot switch). */
#include <dlfcn.h>
#include <stdlib.h>

#include <cblas.h>

#include "kernels/kernels.h"

void mtk_sgemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
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
}

int mtk_blas_get_threads(void) {
  int (*get)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
  return get ? get() : 1;
}
