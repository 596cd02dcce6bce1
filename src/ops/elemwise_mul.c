/* elemwise_mul.c — elemwise_mul (MXNet aliases _mul, _Mul): out = lhs * rhs.
 *   lhs    any shape
 *   rhs    same shape as lhs (no broadcasting)
 *   output same shape
 * Either input's shape may be unknown and is then taken from the other. */
#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  int unused; /* elemwise_mul has no parameters */
} emul_param;

static const char *const emul_keys[] = {NULL};

static int emul_parse(const mt_attrs *a, const char *node, void *p) {
  return mt_attr_check_known(a, "elemwise_mul", node, emul_keys);
}

static int emul_num_args(const void *p) { return 2; }
static const char *emul_arg_name(const void *p, int i) {
  static const char *const names[] = {"lhs", "rhs"};
  return names[i];
}

static int emul_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                            mt_shape *aux) {
  if (in[0].ndim == 0 && in[1].ndim == 0)
    return MT_ERR(MT_E_SHAPE, "elemwise_mul '%s': shapes of lhs and rhs unknown", node);
  if (in[0].ndim == 0) in[0] = in[1];
  MT_TRY(mt_shape_assign(&in[1], &in[0], "elemwise_mul", node, "rhs (same as lhs)"));
  out[0] = in[0];
  return MT_OK;
}

/* CPU, float32: d lhs = d out * rhs, d rhs = d out * lhs */

static int emul_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                            mt_ndarray *const *out, mt_ndarray *const *aux) {
  mtk_mul(out[0]->data, in[0]->data, in[1]->data, out[0]->size, 0.0f);
  return MT_OK;
}

static int emul_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                             mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                             mt_ndarray *const *ig, mt_ndarray *const *aux) {
  for (int i = 0; i < 2; i++)
    if (req[i])
      mtk_mul(ig[i]->data, og[0]->data, in[1 - i]->data, og[0]->size,
              req[i] == MT_REQ_ADD ? 1.0f : 0.0f);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/tensor_ops.cu */

MT_GPU_FN int emul_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                               mt_ndarray *const *out, mt_ndarray *const *aux) {
  return mtk_cuda_mul(c->ctx.id, out[0]->data, in[0]->data, in[1]->data, out[0]->size, 0.0f);
}

MT_GPU_FN int emul_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                mt_ndarray *const *in, mt_ndarray *const *out,
                                const mt_grad_req *req, mt_ndarray *const *ig,
                                mt_ndarray *const *aux) {
  for (int i = 0; i < 2; i++)
    if (req[i])
      MT_TRY(mtk_cuda_mul(c->ctx.id, ig[i]->data, og[0]->data, in[1 - i]->data, og[0]->size,
                          req[i] == MT_REQ_ADD ? 1.0f : 0.0f));
  return MT_OK;
}

const mt_op mt_op_elemwise_mul = {
    .name = "elemwise_mul",
    .param_size = sizeof(emul_param),
    .parse = emul_parse,
    .num_args = emul_num_args,
    .arg_name = emul_arg_name,
    .infer_shape = emul_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, emul_forward_cpu, emul_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, emul_forward_gpu, emul_backward_gpu)},
};
