/* elemwise_sub.c — elemwise_sub (MXNet aliases _sub, _minus, _Minus): out = lhs - rhs.
 *   lhs    any shape
 *   rhs    same shape as lhs (no broadcasting)
 *   output same shape
 * Either input's shape may be unknown and is then taken from the other. */
#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  int unused; /* elemwise_sub has no parameters */
} esub_param;

static const char *const esub_keys[] = {NULL};

static int esub_parse(const mt_attrs *a, const char *node, void *p) {
  return mt_attr_check_known(a, "elemwise_sub", node, esub_keys);
}

static int esub_num_args(const void *p) { return 2; }
static const char *esub_arg_name(const void *p, int i) {
  static const char *const names[] = {"lhs", "rhs"};
  return names[i];
}

static int esub_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                            mt_shape *aux) {
  if (in[0].ndim == 0 && in[1].ndim == 0)
    return MT_ERR(MT_E_SHAPE, "elemwise_sub '%s': shapes of lhs and rhs unknown", node);
  if (in[0].ndim == 0) in[0] = in[1];
  MT_TRY(mt_shape_assign(&in[1], &in[0], "elemwise_sub", node, "rhs (same as lhs)"));
  out[0] = in[0];
  return MT_OK;
}

/* CPU, float32: d lhs = d out, d rhs = -d out */

static int esub_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                            mt_ndarray *const *out, mt_ndarray *const *aux) {
  mtk_sub(out[0]->data, in[0]->data, in[1]->data, out[0]->size, 0.0f);
  return MT_OK;
}

static int esub_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                             mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                             mt_ndarray *const *ig, mt_ndarray *const *aux) {
  if (req[0])
    mtk_copy_beta(ig[0]->data, og[0]->data, og[0]->size, req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
  if (req[1])
    mtk_scalar(ig[1]->data, og[0]->data, og[0]->size, MTK_SCALAR_MUL, -1.0f,
               req[1] == MT_REQ_ADD ? 1.0f : 0.0f);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/tensor_ops.cu */

MT_GPU_FN int esub_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                               mt_ndarray *const *out, mt_ndarray *const *aux) {
  return mtk_cuda_sub(c->ctx.id, out[0]->data, in[0]->data, in[1]->data, out[0]->size, 0.0f);
}

MT_GPU_FN int esub_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                mt_ndarray *const *in, mt_ndarray *const *out,
                                const mt_grad_req *req, mt_ndarray *const *ig,
                                mt_ndarray *const *aux) {
  if (req[0])
    MT_TRY(mtk_cuda_copy_beta(c->ctx.id, ig[0]->data, og[0]->data, og[0]->size,
                              req[0] == MT_REQ_ADD ? 1.0f : 0.0f));
  if (req[1])
    MT_TRY(mtk_cuda_scalar(c->ctx.id, ig[1]->data, og[0]->data, og[0]->size, MTK_SCALAR_MUL, -1.0f,
                           req[1] == MT_REQ_ADD ? 1.0f : 0.0f));
  return MT_OK;
}

const mt_op mt_op_elemwise_sub = {
    .name = "elemwise_sub",
    .param_size = sizeof(esub_param),
    .parse = esub_parse,
    .num_args = esub_num_args,
    .arg_name = esub_arg_name,
    .infer_shape = esub_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, esub_forward_cpu, esub_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, esub_forward_gpu, esub_backward_gpu)},
};
