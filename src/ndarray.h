/* ndarray.h — the mt_ndarray and mt_arena structures, shared inside src/.
 * Outside src/ (kernels, kvstore, io) code works on raw pointers instead;
 * memory itself comes from base/device.h. */
#ifndef MT_SRC_NDARRAY_H
#define MT_SRC_NDARRAY_H
#include "base/device.h"
#include "modtrain.h"

#define MT_ND_OWNS 1u /* storage freed with the array */

struct mt_ndarray {
  float *data; /* host or device pointer, per ctx */
  mt_shape shape;
  int64_t size; /* elements */
  mt_context ctx;
  unsigned flags;
};

struct mt_arena {
  mt_context ctx;
  float *data;  /* one allocation */
  int64_t size; /* elements including padding */
  int n;
  char **names;
  int64_t *offsets;
  mt_ndarray *views; /* n views into data, not owning */
  int external;      /* data belongs to someone else (mt_arena_rehome) */
};

/* Moves a CPU arena's contents to `data` (size floats, owned by the caller,
 * e.g. a kvstore's shared-memory window; the arena will not free it), or
 * back to memory of its own when data is NULL; the views follow. */
int mt_arena_rehome(mt_arena *a, float *data);

/* The elements of a on the host: a's own storage for a CPU array, else a
 * malloc'd copy returned in *tmp too (the caller frees *tmp; NULL when none
 * was needed). */
int mt_ndarray_host_view(const mt_ndarray *a, const float **p, float **tmp);

/* Initializes a non-owning view in place (no allocation). */
void mt_ndarray_init_view(mt_ndarray *a, float *data, mt_shape shape, mt_context ctx);
#endif
