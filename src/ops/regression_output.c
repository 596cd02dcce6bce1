/* regression_output.c — LinearRegressionOutput, LogisticRegressionOutput and
 * MAERegressionOutput: loss heads for regression (no output gradient needed).
 *   data   (N, d1, ...)
 *   label  same shape as data, or (N,) when data is (N, 1); any shape with
 *          the same batch and size is accepted (MXNet's rule)
 *   output same shape as data: data (linear, MAE) or sigmoid(data) (logistic)
 * Backward, as MXNet: d data = grad_scale / num_output * f(out - label), with
 * num_output = label size / N (outputs per sample) and f = identity (linear:
 * squared error; logistic: log-loss) or sign (MAE). The label gets a zero
 * gradient. */
#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

enum { REG_LINEAR, REG_LOGISTIC, REG_MAE };
static const char *const reg_names[] = {"LinearRegressionOutput", "LogisticRegressionOutput",
                                        "MAERegressionOutput"};

typedef struct {
  double grad_scale;
  int kind; /* REG_*: set by the op's parse function, not an attribute */
} reg_param;

static const char *const reg_keys[] = {"grad_scale", NULL};

static int reg_parse(const mt_attrs *a, const char *node, reg_param *p, int kind) {
  p->kind = kind;
  MT_TRY(mt_attr_check_known(a, reg_names[kind], node, reg_keys));
  MT_TRY(mt_attr_float(a, reg_names[kind], node, "grad_scale", 1.0, &p->grad_scale));
  return MT_OK;
}
static int linear_parse(const mt_attrs *a, const char *node, void *p) {
  return reg_parse(a, node, p, REG_LINEAR);
}
static int logistic_parse(const mt_attrs *a, const char *node, void *p) {
  return reg_parse(a, node, p, REG_LOGISTIC);
}
static int mae_parse(const mt_attrs *a, const char *node, void *p) {
  return reg_parse(a, node, p, REG_MAE);
}

static int reg_num_args(const void *p) { return 2; }
static const char *reg_arg_name(const void *p, int i) { return i == 0 ? "data" : "label"; }

static int reg_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                           mt_shape *aux) {
  const reg_param *p = pp;
  const char *op = reg_names[p->kind];
  const mt_shape *d = &in[0];
  if (d->ndim == 0) return MT_ERR(MT_E_SHAPE, "%s '%s': shape of data unknown", op, node);
  mt_shape want = *d;
  if (d->ndim == 2 && d->dim[1] == 1) want = (mt_shape)MT_SHAPE(d->dim[0]);
  mt_shape *l = &in[1];
  if (l->ndim == 0) *l = want;
  else if (l->dim[0] != d->dim[0] || mt_shape_size(l) != mt_shape_size(d))
    return mt_shape_mismatch(op, node, "label", &want, l);
  out[0] = *d;
  return MT_OK;
}

/* CPU, float32 */

static int reg_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                           mt_ndarray *const *out, mt_ndarray *const *aux) {
  const reg_param *p = pp;
  if (p->kind == REG_LOGISTIC) mtk_sigmoid(out[0]->data, in[0]->data, in[0]->size);
  else mtk_copy_beta(out[0]->data, in[0]->data, in[0]->size, 0.0f);
  return MT_OK;
}

static int reg_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                            mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                            mt_ndarray *const *ig, mt_ndarray *const *aux) {
  const reg_param *p = pp;
  const mt_ndarray *label = in[1];
  if (req[0]) {
    int64_t n = label->shape.dim[0];
    double num_output = n > 0 ? (double)label->size / (double)n : 1.0;
    mtk_regression_grad(ig[0]->data, out[0]->data, label->data, in[0]->size,
                        (float)(p->grad_scale / num_output), p->kind == REG_MAE,
                        req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
  }
  if (req[1] == MT_REQ_WRITE) mtk_fill(ig[1]->data, ig[1]->size, 0.0f);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/loss.cu */

MT_GPU_FN int reg_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                              mt_ndarray *const *out, mt_ndarray *const *aux) {
  const reg_param *p = pp;
  if (p->kind == REG_LOGISTIC)
    return mtk_cuda_sigmoid(c->ctx.id, out[0]->data, in[0]->data, in[0]->size);
  return mtk_cuda_copy_beta(c->ctx.id, out[0]->data, in[0]->data, in[0]->size, 0.0f);
}

MT_GPU_FN int reg_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                               mt_ndarray *const *in, mt_ndarray *const *out,
                               const mt_grad_req *req, mt_ndarray *const *ig,
                               mt_ndarray *const *aux) {
  const reg_param *p = pp;
  const mt_ndarray *label = in[1];
  if (req[0]) {
    int64_t n = label->shape.dim[0];
    double num_output = n > 0 ? (double)label->size / (double)n : 1.0;
    MT_TRY(mtk_cuda_regression_grad(c->ctx.id, ig[0]->data, out[0]->data, label->data, in[0]->size,
                                    (float)(p->grad_scale / num_output), p->kind == REG_MAE,
                                    req[0] == MT_REQ_ADD ? 1.0f : 0.0f));
  }
  if (req[1] == MT_REQ_WRITE) MT_TRY(mtk_cuda_fill(c->ctx.id, ig[1]->data, ig[1]->size, 0.0f));
  return MT_OK;
}

/* The three ops share the kernels (the param's kind tells them apart). */
#define REG_KERNELS                                                                                \
  {                                                                                                \
    MT_CPU_KERNEL(MT_FLOAT32, reg_forward_cpu, reg_backward_cpu),                                  \
        MT_GPU_KERNEL(MT_FLOAT32, reg_forward_gpu, reg_backward_gpu)                               \
  }

const mt_op mt_op_linear_regression_output = {
    .name = "LinearRegressionOutput",
    .param_size = sizeof(reg_param),
    .flags = MT_OP_LOSS,
    .parse = linear_parse,
    .num_args = reg_num_args,
    .arg_name = reg_arg_name,
    .infer_shape = reg_infer_shape,
    .kernels = REG_KERNELS,
};

const mt_op mt_op_logistic_regression_output = {
    .name = "LogisticRegressionOutput",
    .param_size = sizeof(reg_param),
    .flags = MT_OP_LOSS,
    .parse = logistic_parse,
    .num_args = reg_num_args,
    .arg_name = reg_arg_name,
    .infer_shape = reg_infer_shape,
    .kernels = REG_KERNELS,
};

const mt_op mt_op_mae_regression_output = {
    .name = "MAERegressionOutput",
    .param_size = sizeof(reg_param),
    .flags = MT_OP_LOSS,
    .parse = mae_parse,
    .num_args = reg_num_args,
    .arg_name = reg_arg_name,
    .infer_shape = reg_infer_shape,
    .kernels = REG_KERNELS,
};
