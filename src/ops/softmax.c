/* softmax.c — softmax and log_softmax (MXNet 1.x's plain ops, not the
 * SoftmaxOutput loss head): backward takes the output gradient.
 *   data        any shape
 *   axis        default -1 (the last); negative counts from the end
 *   temperature optional ("None" = 1): softmax of data / temperature;
 *               must be > 0 here
 *   dtype       only None or float32 (arrays are float32)
 *   use_length  only false (no length input)
 *   output      data's shape
 * Data is viewed as [outer, C, inner] with C the axis. Gradients:
 *   softmax      dx = y * (dy - sum_C dy * y) / T
 *   log_softmax  dx = (dy - exp(y) * sum_C dy) / T  */
#include <string.h>

#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  int64_t axis;
  double temperature;
  int use_log;
} softmax_param;

static const char *const softmax_keys[] = {"axis", "temperature", "dtype", "use_length", NULL};

static int softmax_parse_common(const mt_attrs *a, const char *op, const char *node,
                                softmax_param *p) {
  MT_TRY(mt_attr_check_known(a, op, node, softmax_keys));
  MT_TRY(mt_attr_int(a, op, node, "axis", -1, &p->axis));
  const char *t = mt_attrs_get(a, "temperature");
  p->temperature = 1.0;
  if (t && strcmp(t, "None")) {
    MT_TRY(mt_attr_float(a, op, node, "temperature", 1.0, &p->temperature));
    if (!(p->temperature > 0))
      return MT_ERR(MT_E_INVAL, "%s '%s': temperature='%s' must be > 0", op, node, t);
  }
  const char *dt = mt_attrs_get(a, "dtype");
  if (dt && strcmp(dt, "None") && strcmp(dt, "float32"))
    return MT_ERR(MT_E_UNSUPPORTED, "%s '%s': dtype='%s' is not supported (arrays are float32)", op,
                  node, dt);
  int use_length;
  MT_TRY(mt_attr_bool(a, op, node, "use_length", 0, &use_length));
  if (use_length)
    return MT_ERR(MT_E_UNSUPPORTED, "%s '%s': use_length=true (a length input) is not supported",
                  op, node);
  return MT_OK;
}

static int softmax_parse(const mt_attrs *a, const char *node, void *pp) {
  return softmax_parse_common(a, "softmax", node, pp);
}

static int log_softmax_parse(const mt_attrs *a, const char *node, void *pp) {
  softmax_param *p = pp;
  MT_TRY(softmax_parse_common(a, "log_softmax", node, p));
  p->use_log = 1;
  return MT_OK;
}

static int softmax_num_args(const void *p) { return 1; }
static const char *softmax_arg_name(const void *p, int i) { return "data"; }

static int softmax_axis(const softmax_param *p, const mt_shape *d) {
  int64_t ax = p->axis < 0 ? p->axis + d->ndim : p->axis;
  return ax >= 0 && ax < d->ndim ? (int)ax : -1;
}

static int softmax_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                               mt_shape *aux) {
  const softmax_param *p = pp;
  const char *op = p->use_log ? "log_softmax" : "softmax";
  const mt_shape *d = &in[0];
  if (d->ndim == 0) return MT_ERR(MT_E_SHAPE, "%s '%s': shape of data unknown", op, node);
  if (softmax_axis(p, d) < 0) {
    char b[128];
    return MT_ERR(MT_E_SHAPE, "%s '%s': axis=%lld is out of range for data of shape %s", op, node,
                  (long long)p->axis, mt_shape_str(d, b, sizeof b));
  }
  out[0] = *d;
  return MT_OK;
}

static void softmax_dims(const softmax_param *p, const mt_shape *d, int64_t *outer, int64_t *C,
                         int64_t *inner) {
  int ax = softmax_axis(p, d);
  *outer = *inner = 1;
  for (int i = 0; i < ax; i++) *outer *= d->dim[i];
  *C = d->dim[ax];
  for (int i = ax + 1; i < d->ndim; i++) *inner *= d->dim[i];
}

/* CPU, float32 */

static int softmax_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                               mt_ndarray *const *out, mt_ndarray *const *aux) {
  const softmax_param *p = pp;
  int64_t outer, C, inner;
  softmax_dims(p, &in[0]->shape, &outer, &C, &inner);
  mtk_softmax_t(out[0]->data, in[0]->data, outer, C, inner, (float)p->temperature, p->use_log);
  return MT_OK;
}

static int softmax_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                mt_ndarray *const *in, mt_ndarray *const *out,
                                const mt_grad_req *req, mt_ndarray *const *ig,
                                mt_ndarray *const *aux) {
  const softmax_param *p = pp;
  if (!req[0]) return MT_OK;
  int64_t outer, C, inner;
  softmax_dims(p, &in[0]->shape, &outer, &C, &inner);
  mtk_softmax_t_grad(ig[0]->data, og[0]->data, out[0]->data, outer, C, inner, (float)p->temperature,
                     p->use_log, req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/tensor_ops.cu */

MT_GPU_FN int softmax_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                  mt_ndarray *const *out, mt_ndarray *const *aux) {
  const softmax_param *p = pp;
  int64_t outer, C, inner;
  softmax_dims(p, &in[0]->shape, &outer, &C, &inner);
  return mtk_cuda_softmax_t(c->ctx.id, out[0]->data, in[0]->data, outer, C, inner,
                            (float)p->temperature, p->use_log);
}

MT_GPU_FN int softmax_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                   mt_ndarray *const *in, mt_ndarray *const *out,
                                   const mt_grad_req *req, mt_ndarray *const *ig,
                                   mt_ndarray *const *aux) {
  const softmax_param *p = pp;
  if (!req[0]) return MT_OK;
  int64_t outer, C, inner;
  softmax_dims(p, &in[0]->shape, &outer, &C, &inner);
  return mtk_cuda_softmax_t_grad(c->ctx.id, ig[0]->data, og[0]->data, out[0]->data, outer, C, inner,
                                 (float)p->temperature, p->use_log,
                                 req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
}

const mt_op mt_op_softmax = {
    .name = "softmax",
    .param_size = sizeof(softmax_param),
    .parse = softmax_parse,
    .num_args = softmax_num_args,
    .arg_name = softmax_arg_name,
    .infer_shape = softmax_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, softmax_forward_cpu, softmax_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, softmax_forward_gpu, softmax_backward_gpu)},
};

const mt_op mt_op_log_softmax = {
    .name = "log_softmax",
    .param_size = sizeof(softmax_param),
    .parse = log_softmax_parse,
    .num_args = softmax_num_args,
    .arg_name = softmax_arg_name,
    .infer_shape = softmax_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, softmax_forward_cpu, softmax_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, softmax_forward_gpu, softmax_backward_gpu)},
};
