/* block_grad.c — BlockGrad (MXNet alias stop_gradient): the identity in
 * forward, and no gradient flows back through it.
 *   data    any shape
 *   output  data (a copy)
 * Backward writes zeros to d data (req=add adds nothing: the buffer is left
 * as it is). As its backward needs no output gradient, it is flagged like
 * the loss heads (MT_OP_LOSS): a head such as the BlockGrad(pred) of
 * Group([MakeLoss(loss), BlockGrad(pred)]) needs no out_grad in
 * Module.backward(), as in MXNet, where the zero gradient does not read the
 * head gradient. */
#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  int unused; /* BlockGrad has no parameters */
} block_grad_param;

static const char *const block_grad_keys[] = {NULL};

static int block_grad_parse(const mt_attrs *a, const char *node, void *p) {
  return mt_attr_check_known(a, "BlockGrad", node, block_grad_keys);
}

static int block_grad_num_args(const void *p) { return 1; }
static const char *block_grad_arg_name(const void *p, int i) { return "data"; }

static int block_grad_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                                  mt_shape *aux) {
  if (in[0].ndim == 0) return MT_ERR(MT_E_SHAPE, "BlockGrad '%s': shape of data unknown", node);
  out[0] = in[0];
  return MT_OK;
}

/* CPU, float32 */

static int block_grad_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                  mt_ndarray *const *out, mt_ndarray *const *aux) {
  mtk_copy_beta(out[0]->data, in[0]->data, in[0]->size, 0.0f);
  return MT_OK;
}

static int block_grad_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                   mt_ndarray *const *in, mt_ndarray *const *out,
                                   const mt_grad_req *req, mt_ndarray *const *ig,
                                   mt_ndarray *const *aux) {
  if (req[0] == MT_REQ_WRITE) mtk_fill(ig[0]->data, ig[0]->size, 0.0f);
  return MT_OK;
}

/* GPU, float32 */

MT_GPU_FN int block_grad_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                     mt_ndarray *const *out, mt_ndarray *const *aux) {
  return mtk_cuda_copy_beta(c->ctx.id, out[0]->data, in[0]->data, in[0]->size, 0.0f);
}

MT_GPU_FN int block_grad_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                      mt_ndarray *const *in, mt_ndarray *const *out,
                                      const mt_grad_req *req, mt_ndarray *const *ig,
                                      mt_ndarray *const *aux) {
  if (req[0] == MT_REQ_WRITE) return mtk_cuda_fill(c->ctx.id, ig[0]->data, ig[0]->size, 0.0f);
  return MT_OK;
}

const mt_op mt_op_block_grad = {
    .name = "BlockGrad",
    .param_size = sizeof(block_grad_param),
    .flags = MT_OP_LOSS,
    .parse = block_grad_parse,
    .num_args = block_grad_num_args,
    .arg_name = block_grad_arg_name,
    .infer_shape = block_grad_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, block_grad_forward_cpu, block_grad_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, block_grad_forward_gpu, block_grad_backward_gpu)},
};
