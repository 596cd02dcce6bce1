/* leaky_relu.c — LeakyReLU with MXNet's act_type leaky (default) or elu:
 *   leaky: y = x > 0 ? x : slope * x
 *   elu:   y = x > 0 ? x : slope * (exp(x) - 1)
 * slope defaults to 0.25 as in MXNet.
 *   data   any shape
 *   output same shape as data
 * Backward uses the output y, as MXNet does (kernels/cpu/activation.h).
 * MXNet's other act_types (prelu, rrelu, gelu, selu) are rejected at parse
 * time; lower_bound/upper_bound (rrelu's range) are accepted and unused so
 * that MXNet JSON carrying them still loads. */
#include <string.h>

#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  int act_type; /* mtk_leaky_type */
  float slope;
} leaky_param;

static const char *const leaky_keys[] = {"act_type", "slope", "lower_bound", "upper_bound", NULL};
/* Same order as mtk_leaky_type. */
static const char *const leaky_types[] = {"leaky", "elu", NULL};
/* MXNet act_types this build does not implement. */
static const char *const leaky_unsupported[] = {"prelu", "rrelu", "gelu", "selu", NULL};

static int leaky_parse(const mt_attrs *a, const char *node, void *p) {
  leaky_param *lp = p;
  MT_TRY(mt_attr_check_known(a, "LeakyReLU", node, leaky_keys));
  const char *t = mt_attrs_get(a, "act_type");
  for (int i = 0; t && leaky_unsupported[i]; i++)
    if (!strcmp(t, leaky_unsupported[i]))
      return MT_ERR(MT_E_UNSUPPORTED,
                    "LeakyReLU '%s': act_type='%s' is not supported (supported: leaky, elu)", node,
                    t);
  MT_TRY(
      mt_attr_enum(a, "LeakyReLU", node, "act_type", leaky_types, MTK_LEAKY_LEAKY, &lp->act_type));
  double slope, lo, hi;
  MT_TRY(mt_attr_float(a, "LeakyReLU", node, "slope", 0.25, &slope));
  MT_TRY(mt_attr_float(a, "LeakyReLU", node, "lower_bound", 0.125, &lo));
  MT_TRY(mt_attr_float(a, "LeakyReLU", node, "upper_bound", 0.334, &hi));
  lp->slope = (float)slope;
  return MT_OK;
}

static int leaky_num_args(const void *p) { return 1; }
static const char *leaky_arg_name(const void *p, int i) { return "data"; }

static int leaky_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                             mt_shape *aux) {
  if (in[0].ndim == 0) return MT_ERR(MT_E_SHAPE, "LeakyReLU '%s': shape of data unknown", node);
  out[0] = in[0];
  return MT_OK;
}

/* CPU, float32 */

static int leaky_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                             mt_ndarray *const *out, mt_ndarray *const *aux) {
  const leaky_param *p = pp;
  mtk_leaky_relu_forward((mtk_leaky_type)p->act_type, p->slope, in[0]->data, out[0]->data,
                         in[0]->size);
  return MT_OK;
}

static int leaky_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                              mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                              mt_ndarray *const *ig, mt_ndarray *const *aux) {
  const leaky_param *p = pp;
  if (!req[0]) return MT_OK;
  /* d data = d out * f'(y) */
  mtk_leaky_relu_backward((mtk_leaky_type)p->act_type, p->slope, og[0]->data, out[0]->data,
                          ig[0]->data, in[0]->size, req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/activation.cu */

MT_GPU_FN int leaky_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                mt_ndarray *const *out, mt_ndarray *const *aux) {
  const leaky_param *p = pp;
  return mtk_cuda_leaky_relu_forward(c->ctx.id, p->act_type, p->slope, in[0]->data, out[0]->data,
                                     in[0]->size);
}

MT_GPU_FN int leaky_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                 mt_ndarray *const *in, mt_ndarray *const *out,
                                 const mt_grad_req *req, mt_ndarray *const *ig,
                                 mt_ndarray *const *aux) {
  const leaky_param *p = pp;
  if (!req[0]) return MT_OK;
  return mtk_cuda_leaky_relu_backward(c->ctx.id, p->act_type, p->slope, og[0]->data, out[0]->data,
                                      ig[0]->data, in[0]->size, req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
}

const mt_op mt_op_leaky_relu = {
    .name = "LeakyReLU",
    .param_size = sizeof(leaky_param),
    .parse = leaky_parse,
    .num_args = leaky_num_args,
    .arg_name = leaky_arg_name,
    .infer_shape = leaky_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, leaky_forward_cpu, leaky_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, leaky_forward_gpu, leaky_backward_gpu)},
};
