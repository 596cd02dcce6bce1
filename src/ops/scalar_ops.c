/* scalar_ops.c — the scalar ops MXNet's symbol arithmetic writes
 * (x + 2, x * 0.5, ...):
 *   _plus_scalar  (alias _PlusScalar)   out = data + scalar
 *   _minus_scalar (alias _MinusScalar)  out = data - scalar
 *   _mul_scalar   (alias _MulScalar)    out = data * scalar
 *   _div_scalar   (alias _DivScalar)    out = data / scalar
 *   data    any shape; output the same
 *   scalar  default 1, used in single precision (as MXNet casts it to
 *           the float32 data type)
 *   is_int  accepted (MXNet 1.8+ writes it), no effect on float32 data
 * Gradients: d data = d out for plus / minus, d out * scalar for mul,
 * d out / scalar for div. */
#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  float scalar;
  int op; /* mtk_scalar_op */
} scalar_param;

static const char *const scalar_keys[] = {"scalar", "is_int", NULL};
static const char *const scalar_op_names[] = {"_plus_scalar", "_minus_scalar", "_mul_scalar",
                                              "_div_scalar"};

static int scalar_parse_op(const mt_attrs *a, const char *node, scalar_param *p, int op) {
  const char *name = scalar_op_names[op];
  double s;
  int is_int;
  MT_TRY(mt_attr_check_known(a, name, node, scalar_keys));
  MT_TRY(mt_attr_float(a, name, node, "scalar", 1.0, &s));
  MT_TRY(mt_attr_bool(a, name, node, "is_int", 1, &is_int));
  p->scalar = (float)s;
  p->op = op;
  return MT_OK;
}
static int plus_parse(const mt_attrs *a, const char *n, void *p) {
  return scalar_parse_op(a, n, p, MTK_SCALAR_PLUS);
}
static int minus_parse(const mt_attrs *a, const char *n, void *p) {
  return scalar_parse_op(a, n, p, MTK_SCALAR_MINUS);
}
static int mul_parse(const mt_attrs *a, const char *n, void *p) {
  return scalar_parse_op(a, n, p, MTK_SCALAR_MUL);
}
static int div_parse(const mt_attrs *a, const char *n, void *p) {
  return scalar_parse_op(a, n, p, MTK_SCALAR_DIV);
}

static int scalar_num_args(const void *p) { return 1; }
static const char *scalar_arg_name(const void *p, int i) { return "data"; }

static int scalar_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                              mt_shape *aux) {
  const scalar_param *p = pp;
  if (in[0].ndim == 0)
    return MT_ERR(MT_E_SHAPE, "%s '%s': shape of data unknown", scalar_op_names[p->op], node);
  out[0] = in[0];
  return MT_OK;
}

/* The backward as a scalar op on d out: copy (x + 0 is x exactly), * s, / s. */
static int scalar_grad_op(const scalar_param *p, float *s) {
  *s = p->op == MTK_SCALAR_MUL || p->op == MTK_SCALAR_DIV ? p->scalar : 0.0f;
  return p->op == MTK_SCALAR_MUL || p->op == MTK_SCALAR_DIV ? p->op : MTK_SCALAR_PLUS;
}

/* CPU, float32 */

static int scalar_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                              mt_ndarray *const *out, mt_ndarray *const *aux) {
  const scalar_param *p = pp;
  mtk_scalar(out[0]->data, in[0]->data, in[0]->size, p->op, p->scalar, 0.0f);
  return MT_OK;
}

static int scalar_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                               mt_ndarray *const *in, mt_ndarray *const *out,
                               const mt_grad_req *req, mt_ndarray *const *ig,
                               mt_ndarray *const *aux) {
  if (!req[0]) return MT_OK;
  float s;
  int op = scalar_grad_op(pp, &s);
  mtk_scalar(ig[0]->data, og[0]->data, in[0]->size, op, s, req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/tensor_ops.cu */

MT_GPU_FN int scalar_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                 mt_ndarray *const *out, mt_ndarray *const *aux) {
  const scalar_param *p = pp;
  return mtk_cuda_scalar(c->ctx.id, out[0]->data, in[0]->data, in[0]->size, p->op, p->scalar, 0.0f);
}

MT_GPU_FN int scalar_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                  mt_ndarray *const *in, mt_ndarray *const *out,
                                  const mt_grad_req *req, mt_ndarray *const *ig,
                                  mt_ndarray *const *aux) {
  if (!req[0]) return MT_OK;
  float s;
  int op = scalar_grad_op(pp, &s);
  return mtk_cuda_scalar(c->ctx.id, ig[0]->data, og[0]->data, in[0]->size, op, s,
                         req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
}

#define SCALAR_OP(var, opname, parsefn)                                                            \
  const mt_op var = {                                                                              \
      .name = opname,                                                                              \
      .param_size = sizeof(scalar_param),                                                          \
      .parse = parsefn,                                                                            \
      .num_args = scalar_num_args,                                                                 \
      .arg_name = scalar_arg_name,                                                                 \
      .infer_shape = scalar_infer_shape,                                                           \
      .kernels = {MT_CPU_KERNEL(MT_FLOAT32, scalar_forward_cpu, scalar_backward_cpu),              \
                  MT_GPU_KERNEL(MT_FLOAT32, scalar_forward_gpu, scalar_backward_gpu)},             \
  };
SCALAR_OP(mt_op_plus_scalar, "_plus_scalar", plus_parse)
SCALAR_OP(mt_op_minus_scalar, "_minus_scalar", minus_parse)
SCALAR_OP(mt_op_mul_scalar, "_mul_scalar", mul_parse)
SCALAR_OP(mt_op_div_scalar, "_div_scalar", div_parse)
