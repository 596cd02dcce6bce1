/* elemwise_add.c — elemwise_add (MXNet aliases _Plus, _plus): out = lhs + rhs.
 *   lhs    any shape
 *   rhs    same shape as lhs (no broadcasting)
 *   output same shape
 * Either input's shape may be unknown and is then taken from the other. */
#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  int unused; /* elemwise_add has no parameters */
} eadd_param;

static const char *const eadd_keys[] = {NULL};

static int eadd_parse(const mt_attrs *a, const char *node, void *p) {
  MT_TRY(mt_attr_check_known(a, "elemwise_add", node, eadd_keys));
  return MT_OK;
}

static int eadd_num_args(const void *p) { return 2; }
static const char *eadd_arg_name(const void *p, int i) {
  static const char *const names[] = {"lhs", "rhs"};
  return names[i];
}

static int eadd_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                            mt_shape *aux) {
  if (in[0].ndim == 0 && in[1].ndim == 0)
    return MT_ERR(MT_E_SHAPE, "elemwise_add '%s': shapes of lhs and rhs unknown", node);
  if (in[0].ndim == 0) in[0] = in[1];
  /* rhs must equal lhs; the message names both shapes */
  MT_TRY(mt_shape_assign(&in[1], &in[0], "elemwise_add", node, "rhs (same as lhs)"));
  out[0] = in[0];
  return MT_OK;
}

/* CPU, float32 */

static int eadd_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                            mt_ndarray *const *out, mt_ndarray *const *aux) {
  mtk_add(out[0]->data, in[0]->data, in[1]->data, out[0]->size, 0.0f);
  return MT_OK;
}

static int eadd_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                             mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                             mt_ndarray *const *ig, mt_ndarray *const *aux) {
  /* d lhs = d rhs = d out */
  for (int i = 0; i < 2; i++)
    if (req[i])
      mtk_copy_beta(ig[i]->data, og[0]->data, og[0]->size, req[i] == MT_REQ_ADD ? 1.0f : 0.0f);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/elementwise.cu */

MT_GPU_FN int eadd_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                               mt_ndarray *const *out, mt_ndarray *const *aux) {
  return mtk_cuda_add(c->ctx.id, out[0]->data, in[0]->data, in[1]->data, out[0]->size, 0.0f);
}

MT_GPU_FN int eadd_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                mt_ndarray *const *in, mt_ndarray *const *out,
                                const mt_grad_req *req, mt_ndarray *const *ig,
                                mt_ndarray *const *aux) {
  for (int i = 0; i < 2; i++)
    if (req[i])
      MT_TRY(mtk_cuda_copy_beta(c->ctx.id, ig[i]->data, og[0]->data, og[0]->size,
                                req[i] == MT_REQ_ADD ? 1.0f : 0.0f));
  return MT_OK;
}

const mt_op mt_op_elemwise_add = {
    .name = "elemwise_add",
    .param_size = sizeof(eadd_param),
    .parse = eadd_parse,
    .num_args = eadd_num_args,
    .arg_name = eadd_arg_name,
    .infer_shape = eadd_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, eadd_forward_cpu, eadd_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, eadd_forward_gpu, eadd_backward_gpu)},
};
