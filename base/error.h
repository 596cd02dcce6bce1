/* error.h — check macros for the library's own calls (style: NCCL's NCCLCHECK). */
#ifndef MT_SRC_ERROR_H
#define MT_SRC_ERROR_H
#include "modtrain.h"

/* Propagate a negative status. */
#define MT_TRY(expr)                                                                               \
  do {                                                                                             \
    int mt_rc_ = (expr);                                                                           \
    if (mt_rc_ < 0) return mt_rc_;                                                                 \
  } while (0)
/* Propagate into `rc` and jump to a cleanup label. */
#define MT_TRY_GOTO(expr, rc, label)                                                               \
  do {                                                                                             \
    (rc) = (expr);                                                                                 \
    if ((rc) < 0) goto label;                                                                      \
  } while (0)
#define MT_ERR(code, ...) mt_error_set((code), __VA_ARGS__)
#define MT_NOMEM() mt_error_set(MT_E_NOMEM, "out of memory at %s:%d", __FILE__, __LINE__)

#endif
