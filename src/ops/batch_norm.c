/* batch_norm.c — BatchNorm with MXNet's semantics.
 *   data   (N, C, ...)   channel axis = `axis` (default 1), viewed as
 *                        x[outer, C, inner]
 *   gamma, beta          (C,) arguments
 *   moving_mean, moving_var (C,) auxiliary states
 *   output (N, C, ...)   visible
 *   mean, var (C,)       hidden: the mean and the inverse standard deviation
 *                        1/sqrt(var + eps) that the forward used (like MXNet's
 *                        CPU op, the "var" output holds the inverse std), kept
 *                        for backward
 * Training (and not use_global_stats): batch mean and biased variance;
 * moving = moving * momentum + batch * (1 - momentum), in forward (MXNet
 * also uses the biased variance here). Inference or use_global_stats: the
 * moving statistics, and backward treats them as constants. fix_gamma=true
 * uses gamma = 1 and gives gamma a zero gradient. */
#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  double eps;
  double momentum;
  int fix_gamma;
  int use_global_stats;
  int64_t axis;
} bn_param;

static const char *const bn_keys[] = {"eps",  "momentum",        "fix_gamma", "use_global_stats",
                                      "axis", "output_mean_var", "cudnn_off", NULL};

static int bn_parse(const mt_attrs *a, const char *node, void *pp) {
  bn_param *p = pp;
  const char *op = "BatchNorm";
  int output_mean_var, cudnn_off;
  MT_TRY(mt_attr_check_known(a, op, node, bn_keys));
  MT_TRY(mt_attr_float(a, op, node, "eps", 1e-3, &p->eps));
  if (p->eps < 0)
    return MT_ERR(MT_E_INVAL, "BatchNorm '%s': eps='%s' must be >= 0", node,
                  mt_attrs_get(a, "eps"));
  MT_TRY(mt_attr_float(a, op, node, "momentum", 0.9, &p->momentum));
  if (p->momentum < 0 || p->momentum > 1)
    return MT_ERR(MT_E_INVAL, "BatchNorm '%s': momentum='%s' must be in [0, 1]", node,
                  mt_attrs_get(a, "momentum"));
  MT_TRY(mt_attr_bool(a, op, node, "fix_gamma", 1, &p->fix_gamma));
  MT_TRY(mt_attr_bool(a, op, node, "use_global_stats", 0, &p->use_global_stats));
  MT_TRY(mt_attr_int(a, op, node, "axis", 1, &p->axis));
  MT_TRY(mt_attr_bool(a, op, node, "output_mean_var", 0, &output_mean_var));
  if (output_mean_var)
    return MT_ERR(MT_E_INVAL, "BatchNorm '%s': output_mean_var=true is not supported", node);
  MT_TRY(mt_attr_bool(a, op, node, "cudnn_off", 0, &cudnn_off)); /* no cuDNN: nothing to do */
  return MT_OK;
}

static int bn_num_args(const void *p) { return 3; }
static const char *bn_arg_name(const void *p, int i) {
  static const char *const names[] = {"data", "gamma", "beta"};
  return names[i];
}
static int bn_num_aux(const void *p) { return 2; }
static const char *bn_aux_name(const void *p, int i) {
  return i == 0 ? "moving_mean" : "moving_var";
}
static int bn_num_outputs(const void *p) { return 3; }
static int bn_num_visible_outputs(const void *p) { return 1; }
static const char *bn_output_name(const void *p, int i) {
  static const char *const names[] = {"output", "mean", "var"};
  return names[i];
}

/* Channel axis in [0, ndim) (negative counts from the end), or -1. */
static int bn_axis(const bn_param *p, const mt_shape *d) {
  int64_t ax = p->axis < 0 ? p->axis + d->ndim : p->axis;
  return ax >= 0 && ax < d->ndim ? (int)ax : -1;
}

static void bn_dims(int ax, const mt_shape *d, int64_t *outer, int64_t *C, int64_t *inner) {
  *outer = 1;
  *inner = 1;
  for (int i = 0; i < ax; i++) *outer *= d->dim[i];
  *C = d->dim[ax];
  for (int i = ax + 1; i < d->ndim; i++) *inner *= d->dim[i];
}

static int bn_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                          mt_shape *aux) {
  const bn_param *p = pp;
  const mt_shape *d = &in[0];
  if (d->ndim == 0) return MT_ERR(MT_E_SHAPE, "BatchNorm '%s': shape of data unknown", node);
  int ax = bn_axis(p, d);
  if (ax < 0) {
    char b[128];
    return MT_ERR(MT_E_SHAPE, "BatchNorm '%s': axis=%lld is out of range for data of shape %s",
                  node, (long long)p->axis, mt_shape_str(d, b, sizeof b));
  }
  mt_shape c = MT_SHAPE(d->dim[ax]);
  MT_TRY(mt_shape_assign(&in[1], &c, "BatchNorm", node, "gamma"));
  MT_TRY(mt_shape_assign(&in[2], &c, "BatchNorm", node, "beta"));
  MT_TRY(mt_shape_assign(&aux[0], &c, "BatchNorm", node, "moving_mean"));
  MT_TRY(mt_shape_assign(&aux[1], &c, "BatchNorm", node, "moving_var"));
  out[0] = *d;
  out[1] = c;
  out[2] = c;
  return MT_OK;
}

/* Statistics come from the batch (and depend on the data) in this pass. */
static int bn_batch_stats(const bn_param *p, const mt_op_ctx *c) {
  return c->is_train && !p->use_global_stats;
}

/* CPU, float32 */

static int bn_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                          mt_ndarray *const *out, mt_ndarray *const *aux) {
  const bn_param *p = pp;
  int64_t outer, C, inner;
  bn_dims(bn_axis(p, &in[0]->shape), &in[0]->shape, &outer, &C, &inner);
  float *mean = out[1]->data, *invstd = out[2]->data;
  float *mmean = aux[0]->data, *mvar = aux[1]->data;
  if (bn_batch_stats(p, c)) {
    mtk_bn_stats(in[0]->data, outer, C, inner, mean, invstd); /* invstd holds var for now */
    float m = (float)p->momentum;
    mtk_scale(mmean, m, C);
    mtk_axpy(mmean, 1.0f - m, mean, C);
    mtk_scale(mvar, m, C);
    mtk_axpy(mvar, 1.0f - m, invstd, C);
    mtk_bn_invstd(invstd, invstd, C, (float)p->eps);
  } else {
    mtk_copy_beta(mean, mmean, C, 0.0f);
    mtk_bn_invstd(invstd, mvar, C, (float)p->eps);
  }
  mtk_bn_forward(out[0]->data, in[0]->data, mean, invstd, p->fix_gamma ? NULL : in[1]->data,
                 in[2]->data, outer, C, inner);
  return MT_OK;
}

static int bn_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                           mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                           mt_ndarray *const *ig, mt_ndarray *const *aux) {
  const bn_param *p = pp;
  int64_t outer, C, inner;
  bn_dims(bn_axis(p, &in[0]->shape), &in[0]->shape, &outer, &C, &inner);
  int want_dgamma = req[1] && !p->fix_gamma;
  if (req[0] || want_dgamma || req[2])
    mtk_bn_backward(og[0]->data, in[0]->data, out[1]->data, out[2]->data,
                    p->fix_gamma ? NULL : in[1]->data, outer, C, inner, bn_batch_stats(p, c),
                    req[0] ? ig[0]->data : NULL, req[0] == MT_REQ_ADD ? 1.0f : 0.0f,
                    want_dgamma ? ig[1]->data : NULL, req[1] == MT_REQ_ADD ? 1.0f : 0.0f,
                    req[2] ? ig[2]->data : NULL, req[2] == MT_REQ_ADD ? 1.0f : 0.0f);
  /* fix_gamma: gamma is not used, its gradient is 0 (adding 0 changes nothing) */
  if (p->fix_gamma && req[1] == MT_REQ_WRITE) mtk_fill(ig[1]->data, C, 0.0f);
  return MT_OK;
}

/* GPU, float32: the CPU steps with kernels/cuda/batchnorm.cu's mirrors (the
 * moving averages and invstd in one small kernel). */

MT_GPU_FN int bn_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                             mt_ndarray *const *out, mt_ndarray *const *aux) {
  const bn_param *p = pp;
  int dev = c->ctx.id, batch = bn_batch_stats(p, c);
  int64_t outer, C, inner;
  bn_dims(bn_axis(p, &in[0]->shape), &in[0]->shape, &outer, &C, &inner);
  float *mean = out[1]->data, *invstd = out[2]->data;
  if (batch) MT_TRY(mtk_cuda_bn_stats(dev, in[0]->data, outer, C, inner, mean, invstd));
  MT_TRY(mtk_cuda_bn_finish_stats(dev, C, mean, invstd, aux[0]->data, aux[1]->data,
                                  (float)p->momentum, (float)p->eps, batch));
  return mtk_cuda_bn_forward(dev, out[0]->data, in[0]->data, mean, invstd,
                             p->fix_gamma ? NULL : in[1]->data, in[2]->data, outer, C, inner);
}

MT_GPU_FN int bn_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                              mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                              mt_ndarray *const *ig, mt_ndarray *const *aux) {
  const bn_param *p = pp;
  int dev = c->ctx.id;
  int64_t outer, C, inner;
  bn_dims(bn_axis(p, &in[0]->shape), &in[0]->shape, &outer, &C, &inner);
  int want_dgamma = req[1] && !p->fix_gamma;
  if (req[0] || want_dgamma || req[2])
    MT_TRY(mtk_cuda_bn_backward(
        dev, og[0]->data, in[0]->data, out[1]->data, out[2]->data,
        p->fix_gamma ? NULL : in[1]->data, outer, C, inner, bn_batch_stats(p, c),
        req[0] ? ig[0]->data : NULL, req[0] == MT_REQ_ADD ? 1.0f : 0.0f,
        want_dgamma ? ig[1]->data : NULL, req[1] == MT_REQ_ADD ? 1.0f : 0.0f,
        req[2] ? ig[2]->data : NULL, req[2] == MT_REQ_ADD ? 1.0f : 0.0f));
  if (p->fix_gamma && req[1] == MT_REQ_WRITE) MT_TRY(mtk_cuda_fill(dev, ig[1]->data, C, 0.0f));
  return MT_OK;
}

const mt_op mt_op_batch_norm = {
    .name = "BatchNorm",
    .param_size = sizeof(bn_param),
    .parse = bn_parse,
    .num_args = bn_num_args,
    .arg_name = bn_arg_name,
    .num_aux = bn_num_aux,
    .aux_name = bn_aux_name,
    .num_outputs = bn_num_outputs,
    .num_visible_outputs = bn_num_visible_outputs,
    .output_name = bn_output_name,
    .infer_shape = bn_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, bn_forward_cpu, bn_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, bn_forward_gpu, bn_backward_gpu)},
};
