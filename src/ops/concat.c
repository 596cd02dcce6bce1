/* concat.c — Concat (MXNet alias concat): joins num_args arrays on axis dim.
 *   arg0 .. arg{num_args-1}   same ndim, equal on every axis but dim
 *   output                    as arg0, with dim = sum of the inputs' dim
 * dim defaults to 1; a negative dim counts from the end (dim + ndim).
 * Each input is viewed as (outer, cols_i, inner) around dim, so forward and
 * backward are block copies (kernels/cpu/shape_ops.h). */
#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  int64_t num_args;
  int64_t dim; /* as given; may be negative */
} concat_param;

static const char *const concat_keys[] = {"num_args", "dim", NULL};

static int concat_parse(const mt_attrs *a, const char *node, void *p) {
  concat_param *cp = p;
  MT_TRY(mt_attr_check_known(a, "Concat", node, concat_keys));
  MT_TRY(mt_attr_int_required(a, "Concat", node, "num_args", &cp->num_args));
  if (cp->num_args < 1 || cp->num_args > MT_OP_MAX_VARIADIC)
    return MT_ERR(MT_E_INVAL, "Concat '%s': num_args=%lld must be between 1 and %d", node,
                  (long long)cp->num_args, MT_OP_MAX_VARIADIC);
  MT_TRY(mt_attr_int(a, "Concat", node, "dim", 1, &cp->dim));
  if (cp->dim < -MT_MAX_DIM || cp->dim >= MT_MAX_DIM)
    return MT_ERR(MT_E_INVAL, "Concat '%s': dim=%lld is out of range [-%d, %d)", node,
                  (long long)cp->dim, MT_MAX_DIM, MT_MAX_DIM);
  return MT_OK;
}

static int concat_num_args(const void *p) { return (int)((const concat_param *)p)->num_args; }
static const char *concat_arg_name(const void *p, int i) { return mt_op_variadic_arg_name(i); }

/* outer (product of axes before `axis`) and inner (after) of shape s */
static void concat_dims(const mt_shape *s, int axis, int64_t *outer, int64_t *inner) {
  *outer = 1;
  *inner = 1;
  for (int i = 0; i < axis; i++) *outer *= s->dim[i];
  for (int i = axis + 1; i < s->ndim; i++) *inner *= s->dim[i];
}

static int concat_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                              mt_shape *aux) {
  const concat_param *p = pp;
  int n = (int)p->num_args;
  for (int i = 0; i < n; i++)
    if (in[i].ndim == 0) return MT_ERR(MT_E_SHAPE, "Concat '%s': shape of arg%d unknown", node, i);
  int ndim = in[0].ndim, axis = (int)(p->dim < 0 ? p->dim + ndim : p->dim);
  if (axis < 0 || axis >= ndim)
    return MT_ERR(MT_E_SHAPE, "Concat '%s': dim=%lld is out of range for %d-dim inputs", node,
                  (long long)p->dim, ndim);
  mt_shape o = in[0];
  for (int i = 1; i < n; i++) {
    int ok = in[i].ndim == ndim;
    for (int d = 0; ok && d < ndim; d++)
      if (d != axis && in[i].dim[d] != in[0].dim[d]) ok = 0;
    if (!ok) {
      char a[128], b[128];
      return MT_ERR(MT_E_SHAPE,
                    "Concat '%s': arg%d has shape %s, arg0 has shape %s; they must agree on "
                    "every axis except dim=%d",
                    node, i, mt_shape_str(&in[i], a, sizeof a), mt_shape_str(&in[0], b, sizeof b),
                    axis);
    }
    o.dim[axis] += in[i].dim[axis];
  }
  out[0] = o;
  return MT_OK;
}

/* CPU, float32 */

static int concat_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                              mt_ndarray *const *out, mt_ndarray *const *aux) {
  const concat_param *p = pp;
  const mt_shape *os = &out[0]->shape;
  int axis = (int)(p->dim < 0 ? p->dim + os->ndim : p->dim);
  int64_t outer, inner, offset = 0;
  concat_dims(os, axis, &outer, &inner);
  /* out[outer, total, inner][:, offset : offset + cols_i, :] = arg_i[outer, cols_i, inner] */
  for (int i = 0; i < (int)p->num_args; i++) {
    int64_t cols = in[i]->shape.dim[axis];
    mtk_concat_copy(out[0]->data, in[i]->data, outer, os->dim[axis], offset, cols, inner);
    offset += cols;
  }
  return MT_OK;
}

static int concat_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                               mt_ndarray *const *in, mt_ndarray *const *out,
                               const mt_grad_req *req, mt_ndarray *const *ig,
                               mt_ndarray *const *aux) {
  const concat_param *p = pp;
  const mt_shape *os = &og[0]->shape;
  int axis = (int)(p->dim < 0 ? p->dim + os->ndim : p->dim);
  int64_t outer, inner, offset = 0;
  concat_dims(os, axis, &outer, &inner);
  /* d arg_i = d out[:, offset : offset + cols_i, :] */
  for (int i = 0; i < (int)p->num_args; i++) {
    int64_t cols = in[i]->shape.dim[axis];
    if (req[i])
      mtk_concat_grad(ig[i]->data, og[0]->data, outer, os->dim[axis], offset, cols, inner,
                      req[i] == MT_REQ_ADD ? 1.0f : 0.0f);
    offset += cols;
  }
  return MT_OK;
}

/* GPU, float32: the same block copies with kernels/cuda/elementwise.cu's
 * mirrors; forward, or backward when og is given. */
MT_GPU_FN int concat_gpu(const concat_param *p, const mt_op_ctx *c, mt_ndarray *const *in,
                         mt_ndarray *const *out, const mt_ndarray *og, const mt_grad_req *req,
                         mt_ndarray *const *ig) {
  const mt_shape *os = og ? &og->shape : &out[0]->shape;
  int axis = (int)(p->dim < 0 ? p->dim + os->ndim : p->dim);
  int64_t outer, inner, offset = 0;
  concat_dims(os, axis, &outer, &inner);
  for (int i = 0; i < (int)p->num_args; i++) {
    int64_t cols = in[i]->shape.dim[axis];
    if (!og)
      MT_TRY(mtk_cuda_concat_copy(c->ctx.id, out[0]->data, in[i]->data, outer, os->dim[axis],
                                  offset, cols, inner));
    else if (req[i])
      MT_TRY(mtk_cuda_concat_grad(c->ctx.id, ig[i]->data, og->data, outer, os->dim[axis], offset,
                                  cols, inner, req[i] == MT_REQ_ADD ? 1.0f : 0.0f));
    offset += cols;
  }
  return MT_OK;
}

MT_GPU_FN int concat_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                 mt_ndarray *const *out, mt_ndarray *const *aux) {
  return concat_gpu(pp, c, in, out, NULL, NULL, NULL);
}

MT_GPU_FN int concat_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                  mt_ndarray *const *in, mt_ndarray *const *out,
                                  const mt_grad_req *req, mt_ndarray *const *ig,
                                  mt_ndarray *const *aux) {
  return concat_gpu(pp, c, in, out, og[0], req, ig);
}

const mt_op mt_op_concat = {
    .name = "Concat",
    .param_size = sizeof(concat_param),
    .flags = MT_OP_VARIADIC,
    .parse = concat_parse,
    .num_args = concat_num_args,
    .arg_name = concat_arg_name,
    .infer_shape = concat_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, concat_forward_cpu, concat_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, concat_forward_gpu, concat_backward_gpu)},
};
