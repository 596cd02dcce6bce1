/* expand_dims.c — expand_dims: inserts an axis of size 1.
 *   data   (d0, ..., d(n-1)), n < 6
 *   axis   required, in [-n-1, n]; a negative axis counts from the end of
 *          the output (-1 appends), as MXNet
 *   output data's shape with 1 inserted at axis
 * The elements keep their order: forward and backward are copies. */
#include "base/error.h"
#include "../op.h"
#include "copy_kernels.h"
#include "kernels/kernels.h"

typedef struct {
  int64_t axis;
} expand_dims_param;

static const char *const expand_dims_keys[] = {"axis", NULL};

static int expand_dims_parse(const mt_attrs *a, const char *node, void *pp) {
  expand_dims_param *p = pp;
  MT_TRY(mt_attr_check_known(a, "expand_dims", node, expand_dims_keys));
  return mt_attr_int_required(a, "expand_dims", node, "axis", &p->axis);
}

static int expand_dims_num_args(const void *p) { return 1; }
static const char *expand_dims_arg_name(const void *p, int i) { return "data"; }

static int expand_dims_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                                   mt_shape *aux) {
  const expand_dims_param *p = pp;
  const mt_shape *d = &in[0];
  char b[128];
  if (d->ndim == 0) return MT_ERR(MT_E_SHAPE, "expand_dims '%s': shape of data unknown", node);
  int nd = d->ndim;
  if (p->axis < -nd - 1 || p->axis > nd)
    return MT_ERR(MT_E_SHAPE, "expand_dims '%s': axis=%lld is out of range [%d, %d] for data %s",
                  node, (long long)p->axis, -nd - 1, nd, mt_shape_str(d, b, sizeof b));
  if (nd >= MT_MAX_DIM)
    return MT_ERR(MT_E_SHAPE, "expand_dims '%s': data %s already has %d axes (at most %d)", node,
                  mt_shape_str(d, b, sizeof b), nd, MT_MAX_DIM);
  int ax = (int)(p->axis < 0 ? p->axis + nd + 1 : p->axis);
  mt_shape o = {.ndim = nd + 1};
  for (int i = 0, j = 0; i <= nd; i++) o.dim[i] = i == ax ? 1 : d->dim[j++];
  out[0] = o;
  return MT_OK;
}

/* Kernels: copies (copy_kernels.h). */

const mt_op mt_op_expand_dims = {
    .name = "expand_dims",
    .param_size = sizeof(expand_dims_param),
    .parse = expand_dims_parse,
    .num_args = expand_dims_num_args,
    .arg_name = expand_dims_arg_name,
    .infer_shape = expand_dims_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, copy_op_forward_cpu, copy_op_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, copy_op_forward_gpu, copy_op_backward_gpu)},
};
