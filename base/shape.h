/* shape.h — the one rule for the shapes an array may have, checked where a
 * shape comes in from outside (shape inference, arrays and arenas, the
 * readers of .params, HDF5 datasets and checkpoints), so that no size
 * computation downstream can overflow (docs/design.md §2, "Shapes"):
 *
 *   0 .. MT_MAX_DIM dims (0: unknown / nothing), every dim in
 *   [0, MT_SHAPE_MAX_ELEMS], and at most MT_SHAPE_MAX_ELEMS elements.
 *
 * MT_SHAPE_MAX_ELEMS is 2^31 - 1, the tensor size limit of MXNet 1.x's
 * default builds (without USE_INT64_TENSOR_SIZE): every product of dims
 * then fits an int, as the GEMMs' M, N, K and leading dimensions (BLAS,
 * cuBLAS) require, and a byte count (elements x 8 at most) fits int64_t
 * and size_t with room to spare. */
#ifndef MT_BASE_SHAPE_H
#define MT_BASE_SHAPE_H
#include <stddef.h>
#include <stdint.h>

#include "modtrain.h"

#define MT_SHAPE_MAX_ELEMS ((int64_t)INT32_MAX)

/* MT_OK with the element count in *n (may be NULL) when s keeps the rule;
 * else MT_E_SHAPE with the reason in why[len] ("has dim 1 = 4611686018427387904,
 * past the limit of 2147483647 ...") and nothing recorded: for readers that
 * word their own error (a file's MT_E_FORMAT). Never overflows. */
int mt_shape_count(const mt_shape *s, int64_t *n, char *why, size_t len);

/* mt_shape_count that records the error: MT_E_SHAPE, "WHAT: shape S has
 * more than 2147483647 elements, the limit for one array (docs/design.md
 * §2)", WHAT formatted from fmt (the node and its input, the array and its
 * file). */
int mt_shape_check(const mt_shape *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
