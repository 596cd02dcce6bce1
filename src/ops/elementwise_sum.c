/* elementwise_sum.c — ElementWiseSum (MXNet's add_n): out = sum of num_args
 * arrays of one shape.
 *   arg0 .. arg{num_args-1}   same shape (unknown ones take it from a known one)
 *   output                    same shape
 * Every input's gradient is the output gradient. */
#include <stdio.h>

#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  int64_t num_args;
} esum_param;

static const char *const esum_keys[] = {"num_args", NULL};

static int esum_parse(const mt_attrs *a, const char *node, void *p) {
  esum_param *ep = p;
  MT_TRY(mt_attr_check_known(a, "ElementWiseSum", node, esum_keys));
  MT_TRY(mt_attr_int_required(a, "ElementWiseSum", node, "num_args", &ep->num_args));
  if (ep->num_args < 1 || ep->num_args > MT_OP_MAX_VARIADIC)
    return MT_ERR(MT_E_INVAL, "ElementWiseSum '%s': num_args=%lld must be between 1 and %d", node,
                  (long long)ep->num_args, MT_OP_MAX_VARIADIC);
  return MT_OK;
}

static int esum_num_args(const void *p) { return (int)((const esum_param *)p)->num_args; }
static const char *esum_arg_name(const void *p, int i) { return mt_op_variadic_arg_name(i); }

static int esum_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                            mt_shape *aux) {
  const esum_param *p = pp;
  int n = (int)p->num_args, known = -1;
  for (int i = 0; i < n && known < 0; i++)
    if (in[i].ndim > 0) known = i;
  if (known < 0)
    return MT_ERR(MT_E_SHAPE, "ElementWiseSum '%s': shapes of all inputs unknown", node);
  mt_shape s = in[known];
  for (int i = 0; i < n; i++) {
    char what[64];
    snprintf(what, sizeof what, "arg%d (same as arg%d)", i, known);
    MT_TRY(mt_shape_assign(&in[i], &s, "ElementWiseSum", node, what));
  }
  out[0] = s;
  return MT_OK;
}

/* CPU, float32 */

static int esum_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                            mt_ndarray *const *out, mt_ndarray *const *aux) {
  const esum_param *p = pp;
  int64_t n = out[0]->size;
  /* out = arg0 + arg1 + ..., summed left to right */
  if (p->num_args == 1) {
    mtk_copy_beta(out[0]->data, in[0]->data, n, 0.0f);
    return MT_OK;
  }
  mtk_add(out[0]->data, in[0]->data, in[1]->data, n, 0.0f);
  for (int i = 2; i < (int)p->num_args; i++) mtk_axpy(out[0]->data, 1.0f, in[i]->data, n);
  return MT_OK;
}

static int esum_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                             mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                             mt_ndarray *const *ig, mt_ndarray *const *aux) {
  const esum_param *p = pp;
  /* d arg_i = d out */
  for (int i = 0; i < (int)p->num_args; i++)
    if (req[i])
      mtk_copy_beta(ig[i]->data, og[0]->data, og[0]->size, req[i] == MT_REQ_ADD ? 1.0f : 0.0f);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/elementwise.cu */

MT_GPU_FN int esum_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                               mt_ndarray *const *out, mt_ndarray *const *aux) {
  const esum_param *p = pp;
  /* as the CPU: arg0 + arg1, then the others added left to right */
  int64_t n = out[0]->size;
  if (p->num_args == 1) return mtk_cuda_copy_beta(c->ctx.id, out[0]->data, in[0]->data, n, 0.0f);
  MT_TRY(mtk_cuda_add(c->ctx.id, out[0]->data, in[0]->data, in[1]->data, n, 0.0f));
  for (int i = 2; i < (int)p->num_args; i++)
    MT_TRY(mtk_cuda_axpy(c->ctx.id, out[0]->data, 1.0f, in[i]->data, n));
  return MT_OK;
}

MT_GPU_FN int esum_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                mt_ndarray *const *in, mt_ndarray *const *out,
                                const mt_grad_req *req, mt_ndarray *const *ig,
                                mt_ndarray *const *aux) {
  const esum_param *p = pp;
  for (int i = 0; i < (int)p->num_args; i++)
    if (req[i])
      MT_TRY(mtk_cuda_copy_beta(c->ctx.id, ig[i]->data, og[0]->data, og[0]->size,
                                req[i] == MT_REQ_ADD ? 1.0f : 0.0f));
  return MT_OK;
}

const mt_op mt_op_elementwise_sum = {
    .name = "ElementWiseSum",
    .param_size = sizeof(esum_param),
    .flags = MT_OP_VARIADIC,
    .parse = esum_parse,
    .num_args = esum_num_args,
    .arg_name = esum_arg_name,
    .infer_shape = esum_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, esum_forward_cpu, esum_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, esum_forward_gpu, esum_backward_gpu)},
};
