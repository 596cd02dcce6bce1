/* zeros.c — _zeros (mx.sym.zeros) and zeros_like.
 *   _zeros      no inputs; attributes shape (required), dtype (float32
 *               only), ctx (accepted, ignored: the executor's context
 *               decides); output: zeros of that shape
 *   zeros_like  data (any shape); output: zeros of data's shape; data gets
 *               a zero gradient (MXNet's MakeZeroGradNodes)
 * A 0 in _zeros' shape is an unknown dim, as in MXNet 1.x: RNN cells make
 * their begin states as _zeros (0, num_hidden) and the batch is inferred.
 * MXNet infers it in both directions from the ops the state meets; modtrain's
 * inference runs forward only, so the op carries MT_OP_INFER_ZERO_DIMS and
 * the graph's inference (src/symbol.c) fills every 0 dim of such outputs with
 * the one value, taken from the dims of the given shapes, for which the
 * whole graph infers (docs/design.md §10). */
#include "base/error.h"
#include "base/shape.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  int ndim;
  int64_t dim[MT_MAX_DIM];
} zeros_param;

static const char *const zeros_keys[] = {"shape", "dtype", "ctx", NULL};
static const char *const zeros_dtypes[] = {"float32", NULL};

static int zeros_parse(const mt_attrs *a, const char *node, void *pp) {
  zeros_param *p = pp;
  int dtype;
  MT_TRY(mt_attr_check_known(a, "_zeros", node, zeros_keys));
  if (!mt_attrs_get(a, "shape"))
    return MT_ERR(MT_E_INVAL, "_zeros '%s': the attribute shape is required", node);
  MT_TRY(mt_attr_int_tuple(a, "_zeros", node, "shape", 0, MT_SHAPE_MAX_ELEMS, p->dim, MT_MAX_DIM,
                           &p->ndim));
  MT_TRY(mt_attr_enum(a, "_zeros", node, "dtype", zeros_dtypes, 0, &dtype));
  return MT_OK;
}

static int zeros_num_args(const void *p) { return 0; }
static const char *zeros_arg_name(const void *p, int i) { return "?"; }

static int zeros_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                             mt_shape *aux) {
  const zeros_param *p = pp;
  if (p->ndim == 0)
    return MT_ERR(MT_E_SHAPE,
                  "_zeros '%s': shape=() has no axes (a scalar; modtrain's arrays "
                  "have at least one)",
                  node);
  out[0].ndim = p->ndim;
  for (int i = 0; i < p->ndim; i++) out[0].dim[i] = p->dim[i];
  return MT_OK;
}

static int zeros_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                             mt_ndarray *const *out, mt_ndarray *const *aux) {
  mtk_fill(out[0]->data, out[0]->size, 0.0f);
  return MT_OK;
}

static int zeros_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                              mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                              mt_ndarray *const *ig, mt_ndarray *const *aux) {
  return MT_OK;
}

MT_GPU_FN int zeros_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                mt_ndarray *const *out, mt_ndarray *const *aux) {
  return mtk_cuda_fill(c->ctx.id, out[0]->data, out[0]->size, 0.0f);
}

MT_GPU_FN int zeros_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                 mt_ndarray *const *in, mt_ndarray *const *out,
                                 const mt_grad_req *req, mt_ndarray *const *ig,
                                 mt_ndarray *const *aux) {
  return MT_OK;
}

const mt_op mt_op_zeros = {
    .name = "_zeros",
    .param_size = sizeof(zeros_param),
    .flags = MT_OP_INFER_ZERO_DIMS,
    .parse = zeros_parse,
    .num_args = zeros_num_args,
    .arg_name = zeros_arg_name,
    .infer_shape = zeros_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, zeros_forward_cpu, zeros_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, zeros_forward_gpu, zeros_backward_gpu)},
};

/* ------------------------------------------------------------ zeros_like */

static const char *const zeros_like_keys[] = {NULL};

static int zeros_like_parse(const mt_attrs *a, const char *node, void *pp) {
  return mt_attr_check_known(a, "zeros_like", node, zeros_like_keys);
}

static int zeros_like_num_args(const void *p) { return 1; }
static const char *zeros_like_arg_name(const void *p, int i) { return "data"; }

static int zeros_like_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                                  mt_shape *aux) {
  if (in[0].ndim == 0) return MT_ERR(MT_E_SHAPE, "zeros_like '%s': shape of data unknown", node);
  out[0] = in[0];
  return MT_OK;
}

static int zeros_like_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                   mt_ndarray *const *in, mt_ndarray *const *out,
                                   const mt_grad_req *req, mt_ndarray *const *ig,
                                   mt_ndarray *const *aux) {
  if (req[0] == MT_REQ_WRITE) mtk_fill(ig[0]->data, ig[0]->size, 0.0f);
  return MT_OK;
}

MT_GPU_FN int zeros_like_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                      mt_ndarray *const *in, mt_ndarray *const *out,
                                      const mt_grad_req *req, mt_ndarray *const *ig,
                                      mt_ndarray *const *aux) {
  if (req[0] == MT_REQ_WRITE) return mtk_cuda_fill(c->ctx.id, ig[0]->data, ig[0]->size, 0.0f);
  return MT_OK;
}

const mt_op mt_op_zeros_like = {
    .name = "zeros_like",
    .param_size = 1,
    .parse = zeros_like_parse,
    .num_args = zeros_like_num_args,
    .arg_name = zeros_like_arg_name,
    .infer_shape = zeros_like_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, zeros_forward_cpu, zeros_like_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, zeros_forward_gpu, zeros_like_backward_gpu)},
};
