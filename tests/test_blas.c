/* test_blas.c — the GEMM backends and OpenBLAS kernel selection
 * (kernels/cpu/blas.c, src/blas_select.c): MODTRAIN_GEMM picks the backend;
 * oneDNN and OpenBLAS both match a plain loop for every transpose, stride,
 * alpha and beta, and repeat bit for bit on 1 and 2 threads; OpenBLAS's
 * dynamic kernel table can be switched at run time (what mt_blas_init does
 * on CPUs OpenBLAS misdetects), each kernel gives the same sgemm result as a
 * plain loop, and a user's OPENBLAS_CORETYPE is respected by mt_blas_init. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "testutil.h"

enum { M = 37, N = 29, K = 41 };

static void check_sgemm(void) {
  float a[M * K], b[K * N], c[M * N];
  tu_fill_uniform(a, M * K, -1, 1, 1);
  tu_fill_uniform(b, K * N, -1, 1, 2);
  mtk_sgemm(0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = 0;
      for (int k = 0; k < K; k++) s += (double)a[i * K + k] * b[k * N + j];
      assert_true(fabs(c[i * N + j] - s) < 1e-4);
    }
}

/* C = alpha op(A) op(B) + beta C with row strides wider than the matrices,
 * against a double loop, for all four transpose pairs. */
static void check_gemm_general(void) {
  enum { m = 33, n = 47, k = 19, pad = 5 };
  static float a[64 * 64], b[64 * 64], c[m * (n + pad)], c0[m * (n + pad)];
  tu_fill_uniform(a, 64 * 64, -1, 1, 3);
  tu_fill_uniform(b, 64 * 64, -1, 1, 4);
  tu_fill_uniform(c0, m * (n + pad), -1, 1, 5);
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
      const float alpha = 0.75f, beta = ta == tb ? 0.0f : -0.5f;
      memcpy(c, c0, sizeof c);
      mtk_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
          double s = 0;
          for (int q = 0; q < k; q++)
            s += (double)(ta ? a[q * lda + i] : a[i * lda + q]) *
                 (tb ? b[j * ldb + q] : b[q * ldb + j]);
          double want = alpha * s + (beta != 0.0f ? beta * c0[i * ldc + j] : 0.0);
          assert_true(fabs(c[i * ldc + j] - want) < 1e-4);
        }
        for (int j = n; j < ldc; j++) assert_true(c[i * ldc + j] == c0[i * ldc + j]); /* padding */
      }
    }
}

/* The first test, before anything in this process has used a GEMM: in a
 * child, MODTRAIN_GEMM=openblas set before the first GEMM selects OpenBLAS. */
static void test_env_selects_backend(void **state) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    setenv("MODTRAIN_GEMM", "openblas", 1);
    _exit(mtk_gemm_backend() == MTK_GEMM_OPENBLAS && !strcmp(mtk_gemm_name(), "OpenBLAS") ? 0 : 1);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_backends_match_loops(void **state) {
  int have_dnnl = mtk_gemm_select(MTK_GEMM_ONEDNN) == 0;
  print_message("oneDNN in this build: %s\n", have_dnnl ? mtk_gemm_name() : "no");
  if (have_dnnl) {
    assert_true(!strncmp(mtk_gemm_name(), "oneDNN ", 7));
    check_sgemm();
    check_gemm_general();
  }
  assert_int_equal(mtk_gemm_select(MTK_GEMM_OPENBLAS), 0);
  assert_string_equal(mtk_gemm_name(), "OpenBLAS");
  check_sgemm();
  check_gemm_general();
  assert_int_equal(mtk_gemm_select(7), -1);
}

/* The MLP's largest GEMM twice on the same inputs: bit-identical outputs,
 * for each backend on 1 and 2 threads (runs repeat bit for bit). */
static void test_backends_repeat_bitwise(void **state) {
  enum { m = 256, n = 1024, k = 1024 };
  float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n);
  float *c1 = malloc(sizeof(float) * m * n), *c2 = malloc(sizeof(float) * m * n);
  assert_non_null(a && b && c1 && c2);
  tu_fill_uniform(a, m * k, -1, 1, 6);
  tu_fill_uniform(b, k * n, -1, 1, 7);
  for (int be = 0; be < 2; be++) {
    if (mtk_gemm_select(be) != 0) continue;
    for (int t = 1; t <= 2; t++) {
      mtk_blas_set_threads(t);
      mtk_sgemm(0, 1, m, n, k, 1.0f, a, k, b, k, 0.0f, c1, n);
      mtk_sgemm(0, 1, m, n, k, 1.0f, a, k, b, k, 0.0f, c2, n);
      assert_memory_equal(c1, c2, sizeof(float) * m * n);
    }
  }
  mtk_blas_set_threads(1);
  free(a);
  free(b);
  free(c1);
  free(c2);
}

static void test_switch_kernels(void **state) {
  assert_int_equal(mtk_gemm_select(MTK_GEMM_OPENBLAS), 0); /* the kernels are OpenBLAS's */
  const char *user = getenv("OPENBLAS_CORETYPE");
  print_message("OpenBLAS kernel at start: %s (OPENBLAS_CORETYPE=%s)\n", mtk_blas_corename(),
                user ? user : "unset");
  const char *cores[] = {"Prescott", "Haswell", "SkylakeX"};
  __builtin_cpu_init();
  for (int i = 0; i < 3; i++) {
    if (i == 1 && !__builtin_cpu_supports("avx2")) continue;
    if (i == 2 && !__builtin_cpu_supports("avx512f")) continue;
    if (mtk_blas_force_core(cores[i]) != 0) skip(); /* not a dynamic OpenBLAS */
    print_message("switched to %s: kernel %s\n", cores[i], mtk_blas_corename());
    assert_int_equal(strcasecmp(mtk_blas_corename(), cores[i]), 0);
    check_sgemm();
  }
}

/* In a child process (mt_blas_init runs once per process): OpenBLAS on an
 * old kernel, as on a CPU it misdetects, and no user choice: mt_blas_init
 * must move it to the best kernel this CPU supports. */
static void test_init_picks_best_kernel(void **state) {
  __builtin_cpu_init();
  const char *want = __builtin_cpu_supports("avx512f") ? "SkylakeX"
                     : __builtin_cpu_supports("avx2")  ? "Haswell"
                                                       : NULL;
  if (!want) skip();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (mtk_blas_force_core("Prescott") != 0) _exit(77);
    unsetenv("OPENBLAS_CORETYPE");
    const char *k = mt_blas_init();
    _exit(strcasecmp(k, want) == 0 ? 0 : 1);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 77) skip();
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_init_respects_user_choice(void **state) {
  /* set before the first mt_blas_init of this process: a user's choice wins */
  setenv("OPENBLAS_CORETYPE", "Prescott", 1);
  mtk_blas_force_core("Prescott");
  assert_int_equal(mtk_gemm_select(MTK_GEMM_OPENBLAS), 0);
  const char *k = mt_blas_init();
  assert_int_equal(strcasecmp(k, "Prescott"), 0);
  check_sgemm();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_env_selects_backend), /* first: no GEMM has run yet */
      cmocka_unit_test(test_backends_match_loops),
      cmocka_unit_test(test_backends_repeat_bitwise),
      cmocka_unit_test(test_switch_kernels),
      cmocka_unit_test(test_init_picks_best_kernel),
      cmocka_unit_test(test_init_respects_user_choice),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
