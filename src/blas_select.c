/* blas_select.c — make OpenBLAS use the best kernel this CPU supports
 * (docs/platform.md: the distro build falls back to ~32 GFLOP/s kernels on CPUs
 * it does not recognise, against ~160 with SkylakeX). A user's own
 * OPENBLAS_CORETYPE always wins. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/env.h"
#include "kernels/kernels.h"
#include "modtrain.h"

static pthread_once_t mt_blas_once = PTHREAD_ONCE_INIT;

/* Core names OpenBLAS reports that already use AVX-512 / AVX2 kernels. */
static int is_one_of(const char *name, const char *const *list) {
  for (int i = 0; list[i]; i++)
    if (!strcasecmp(name, list[i])) return 1;
  return 0;
}

static void blas_select(void) {
  static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
  static const char *const avx2[] = {"Haswell",        "Zen", "SkylakeX", "Cooperlake",
                                     "SapphireRapids", NULL};
  const char *before = mtk_blas_corename();
  const char *user = mt_env(MT_ENV_OPENBLAS_CORETYPE);
  if (user && *user) {
    mt_log(MT_LOG_DEBUG, "blas", "OPENBLAS_CORETYPE=%s set by the user; kernel %s", user, before);
    return;
  }
  __builtin_cpu_init();
  const char *want = NULL;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    if (!is_one_of(before, avx512)) want = "SkylakeX";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    if (!is_one_of(before, avx2)) want = "Haswell";
  }
  if (want && mtk_blas_force_core(want) == 0) {
    mt_log(MT_LOG_DEBUG, "blas", "OpenBLAS chose kernel %s; switched to %s for this CPU", before,
           mtk_blas_corename());
  } else {
    mt_log(MT_LOG_DEBUG, "blas", "OpenBLAS kernel %s", mtk_blas_corename());
  }
  mt_log(MT_LOG_DEBUG, "blas", "GEMM backend %s", mtk_gemm_name());
}

const char *mt_blas_init(void) {
  pthread_once(&mt_blas_once, blas_select);
  return mtk_blas_corename();
}

void mt_blas_set_threads(int n) { mtk_blas_set_threads(n); }

const char *mt_blas_gemm(void) { return mtk_gemm_name(); }
