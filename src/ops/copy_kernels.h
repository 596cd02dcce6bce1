/* copy_kernels.h — the kernels of the ops whose output is their input's
 * elements in the same row-major order under another shape (Flatten,
 * Reshape, expand_dims): forward copies, backward copies the gradient back
 * (MT_REQ_ADD adds it). One definition, included by each such op file. */
#ifndef MT_SRC_OPS_COPY_KERNELS_H
#define MT_SRC_OPS_COPY_KERNELS_H
#include "../op.h"
#include "kernels/kernels.h"

/* CPU, float32 */

__attribute__((unused)) static int copy_op_forward_cpu(const void *pp, const mt_op_ctx *c,
                                                       mt_ndarray *const *in,
                                                       mt_ndarray *const *out,
                                                       mt_ndarray *const *aux) {
  mtk_copy_beta(out[0]->data, in[0]->data, in[0]->size, 0.0f);
  return MT_OK;
}

__attribute__((unused)) static int
copy_op_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                     mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                     mt_ndarray *const *ig, mt_ndarray *const *aux) {
  if (!req[0]) return MT_OK;
  mtk_copy_beta(ig[0]->data, og[0]->data, in[0]->size, req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/elementwise.cu */

MT_GPU_FN int copy_op_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                  mt_ndarray *const *out, mt_ndarray *const *aux) {
  return mtk_cuda_copy_beta(c->ctx.id, out[0]->data, in[0]->data, in[0]->size, 0.0f);
}

MT_GPU_FN int copy_op_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                   mt_ndarray *const *in, mt_ndarray *const *out,
                                   const mt_grad_req *req, mt_ndarray *const *ig,
                                   mt_ndarray *const *aux) {
  if (!req[0]) return MT_OK;
  return mtk_cuda_copy_beta(c->ctx.id, ig[0]->data, og[0]->data, in[0]->size,
                            req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
}

#endif
