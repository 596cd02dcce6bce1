/* check.h — the one check macro of modtrain's executables (examples,
 * benchmarks, test drivers): a library call that returns a negative status
 * ends the program with the call, its file:line, the status's name and
 * mt_last_error(). Under MPI (define MT_CHECK_MPI before including this), the
 * whole job ends with MPI_Abort so no rank is left waiting; otherwise
 * exit(1). Header-only; the library itself never exits (it returns). */
#ifndef MT_TOOLS_CHECK_H
#define MT_TOOLS_CHECK_H
#include <stdio.h>
#include <stdlib.h>

#include "modtrain.h"
#ifdef MT_CHECK_MPI
#include <mpi.h>
static inline void mt_check_fail_(void) {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  fprintf(stderr, "(rank %d)\n", rank);
  MPI_Abort(MPI_COMM_WORLD, 1);
}
#else
static inline void mt_check_fail_(void) { exit(1); }
#endif

#define CHECK(x)                                                                                   \
  do {                                                                                             \
    int check_rc_ = (x);                                                                           \
    if (check_rc_ < 0) {                                                                           \
      fprintf(stderr, "%s:%d: %s failed (%s): %s\n", __FILE__, __LINE__, #x,                       \
              mt_strerror(check_rc_), mt_last_error());                                            \
      mt_check_fail_();                                                                            \
    }                                                                                              \
  } while (0)

#endif
