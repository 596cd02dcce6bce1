/* activation.c — Activation: y = act(x) elementwise, MXNet's act_type
 * relu | sigmoid | tanh | softrelu | softsign (required, no default).
 *   data   any shape
 *   output same shape as data
 * Backward uses the output y for relu, sigmoid, tanh and softrelu, and the
 * input x for softsign, as MXNet does; formulas in kernels/cpu/activation.h. */
#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  int act_type; /* mtk_act_type */
} act_param;

static const char *const act_keys[] = {"act_type", NULL};
/* Same order as mtk_act_type. */
static const char *const act_types[] = {"relu", "sigmoid", "tanh", "softrelu", "softsign", NULL};

static int act_parse(const mt_attrs *a, const char *node, void *p) {
  act_param *ap = p;
  MT_TRY(mt_attr_check_known(a, "Activation", node, act_keys));
  if (!mt_attrs_get(a, "act_type"))
    return MT_ERR(MT_E_INVAL,
                  "Activation '%s': required attribute 'act_type' is missing "
                  "(relu, sigmoid, tanh, softrelu or softsign)",
                  node);
  MT_TRY(mt_attr_enum(a, "Activation", node, "act_type", act_types, 0, &ap->act_type));
  return MT_OK;
}

static int act_num_args(const void *p) { return 1; }
static const char *act_arg_name(const void *p, int i) { return "data"; }

static int act_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                           mt_shape *aux) {
  if (in[0].ndim == 0) return MT_ERR(MT_E_SHAPE, "Activation '%s': shape of data unknown", node);
  out[0] = in[0];
  return MT_OK;
}

/* CPU, float32 */

static int act_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                           mt_ndarray *const *out, mt_ndarray *const *aux) {
  const act_param *p = pp;
  mtk_activation_forward((mtk_act_type)p->act_type, in[0]->data, out[0]->data, in[0]->size);
  return MT_OK;
}

static int act_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                            mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                            mt_ndarray *const *ig, mt_ndarray *const *aux) {
  const act_param *p = pp;
  if (!req[0]) return MT_OK;
  /* d data = d out * act'(x or y) */
  mtk_activation_backward((mtk_act_type)p->act_type, og[0]->data, in[0]->data, out[0]->data,
                          ig[0]->data, in[0]->size, req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/activation.cu */

MT_GPU_FN int act_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                              mt_ndarray *const *out, mt_ndarray *const *aux) {
  const act_param *p = pp;
  return mtk_cuda_activation_forward(c->ctx.id, p->act_type, in[0]->data, out[0]->data,
                                     in[0]->size);
}

MT_GPU_FN int act_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                               mt_ndarray *const *in, mt_ndarray *const *out,
                               const mt_grad_req *req, mt_ndarray *const *ig,
                               mt_ndarray *const *aux) {
  const act_param *p = pp;
  if (!req[0]) return MT_OK;
  return mtk_cuda_activation_backward(c->ctx.id, p->act_type, og[0]->data, in[0]->data,
                                      out[0]->data, ig[0]->data, in[0]->size,
                                      req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
}

int mt_op_activation_fusable(const void *param) {
  int act = ((const act_param *)param)->act_type;
  return act == MTK_ACT_SOFTSIGN ? 0 : 1 + act;
}

const mt_op mt_op_activation = {
    .name = "Activation",
    .param_size = sizeof(act_param),
    .parse = act_parse,
    .num_args = act_num_args,
    .arg_name = act_arg_name,
    .infer_shape = act_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, act_forward_cpu, act_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, act_forward_gpu, act_backward_gpu)},
};
