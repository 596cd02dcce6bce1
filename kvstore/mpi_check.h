/* mpi_check.h — MT_CHECK_MPI(call): returns MT_E_MPI with file:line, the
 * call and MPI's own error string when an MPI call fails (the kvstore's
 * communicators use MPI_ERRORS_RETURN, so errors come back as codes). */
#ifndef MT_KVSTORE_MPI_CHECK_H
#define MT_KVSTORE_MPI_CHECK_H
#include <mpi.h>

#include "modtrain.h"

#define MT_CHECK_MPI(call)                                                                         \
  do {                                                                                             \
    int e_ = (call);                                                                               \
    if (e_ != MPI_SUCCESS) {                                                                       \
      char s_[MPI_MAX_ERROR_STRING];                                                               \
      int l_ = 0;                                                                                  \
      MPI_Error_string(e_, s_, &l_);                                                               \
      return mt_error_set(MT_E_MPI, "%s:%d: %s: %s", __FILE__, __LINE__, #call, s_);               \
    }                                                                                              \
  } while (0)

#endif
