/* test_blas.c — OpenBLAS kernel selection (kernels/cpu/blas.c,
 * src/blas_select.c): the dynamic kernel table can be switched at run time
 * (what mt_blas_init does on CPUs OpenBLAS misdetects), each kernel gives
 * the same sgemm result as a plain loop, and a user's OPENBLAS_CORETYPE is
 * respected by mt_blas_init. */
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

static void test_switch_kernels(void **state) {
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
  const char *k = mt_blas_init();
  assert_int_equal(strcasecmp(k, "Prescott"), 0);
  check_sgemm();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_switch_kernels),
      cmocka_unit_test(test_init_picks_best_kernel),
      cmocka_unit_test(test_init_respects_user_choice),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
