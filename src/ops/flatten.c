/* flatten.c — Flatten: collapses every axis after the first.
 *   data   (N, d1, d2, ...)
 *   output (N, d1 * d2 * ...)     ((N,) gives (N, 1), as in MXNet)
 * The elements keep their row-major order, so forward and backward are
 * copies (the executor may alias output and data; the copy then does
 * nothing). */
#include "base/error.h"
#include "../op.h"
#include "copy_kernels.h"
#include "kernels/kernels.h"

typedef struct {
  int unused; /* Flatten has no parameters */
} flatten_param;

static const char *const flatten_keys[] = {NULL};

static int flatten_parse(const mt_attrs *a, const char *node, void *p) {
  MT_TRY(mt_attr_check_known(a, "Flatten", node, flatten_keys));
  return MT_OK;
}

static int flatten_num_args(const void *p) { return 1; }
static const char *flatten_arg_name(const void *p, int i) { return "data"; }

static int flatten_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                               mt_shape *aux) {
  const mt_shape *d = &in[0];
  if (d->ndim == 0) return MT_ERR(MT_E_SHAPE, "Flatten '%s': shape of data unknown", node);
  int64_t k = 1;
  for (int i = 1; i < d->ndim; i++) k *= d->dim[i];
  out[0] = (mt_shape)MT_SHAPE(d->dim[0], k);
  return MT_OK;
}

/* Kernels: copies (copy_kernels.h). */

const mt_op mt_op_flatten = {
    .name = "Flatten",
    .param_size = sizeof(flatten_param),
    .parse = flatten_parse,
    .num_args = flatten_num_args,
    .arg_name = flatten_arg_name,
    .infer_shape = flatten_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, copy_op_forward_cpu, copy_op_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, copy_op_forward_gpu, copy_op_backward_gpu)},
};
