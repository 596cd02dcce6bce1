/* flatten.c — Flatten: collapses every axis after the first.
 *   data   (N, d1, d2, ...)
 *   output (N, d1 * d2 * ...)     ((N,) gives (N, 1), as in MXNet)
 * The elements keep their row-major order, so forward and backward are
 * copies (the executor may alias output and data; the copy then does
 * nothing). */
#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  int unused; /* Flatten has no parameters */
} flatten_param;

static const char *const flatten_keys[] = {NULL};

static int flatten_parse(const mt_attrs *a, const char *node, void *p) {
  MT_TRY(mt_attr_check_known(a, "Flatten", node, flatten_keys));
  return MT_OK;
}

static int flatten_num_args(const void *p) { return 1; }
static const char *flatten_arg_name(const void *p, int i) { return "data"; }

static int flatten_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                               mt_shape *aux) {
  const mt_shape *d = &in[0];
  if (d->ndim == 0) return MT_ERR(MT_E_SHAPE, "Flatten '%s': shape of data unknown", node);
  int64_t k = 1;
  for (int i = 1; i < d->ndim; i++) k *= d->dim[i];
  out[0] = (mt_shape)MT_SHAPE(d->dim[0], k);
  return MT_OK;
}

/* CPU, float32 */

static int flatten_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                               mt_ndarray *const *out, mt_ndarray *const *aux) {
  mtk_copy_beta(out[0]->data, in[0]->data, in[0]->size, 0.0f);
  return MT_OK;
}

static int flatten_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                mt_ndarray *const *in, mt_ndarray *const *out,
                                const mt_grad_req *req, mt_ndarray *const *ig,
                                mt_ndarray *const *aux) {
  if (!req[0]) return MT_OK;
  /* d data (N, d1, ...) = d out (N, d1 * ...) reshaped */
  mtk_copy_beta(ig[0]->data, og[0]->data, in[0]->size, req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/elementwise.cu */

MT_GPU_FN int flatten_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                  mt_ndarray *const *out, mt_ndarray *const *aux) {
  return mtk_cuda_copy_beta(c->ctx.id, out[0]->data, in[0]->data, in[0]->size, 0.0f);
}

MT_GPU_FN int flatten_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                   mt_ndarray *const *in, mt_ndarray *const *out,
                                   const mt_grad_req *req, mt_ndarray *const *ig,
                                   mt_ndarray *const *aux) {
  if (!req[0]) return MT_OK;
  return mtk_cuda_copy_beta(c->ctx.id, ig[0]->data, og[0]->data, in[0]->size,
                            req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
}

const mt_op mt_op_flatten = {
    .name = "Flatten",
    .param_size = sizeof(flatten_param),
    .parse = flatten_parse,
    .num_args = flatten_num_args,
    .arg_name = flatten_arg_name,
    .infer_shape = flatten_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, flatten_forward_cpu, flatten_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, flatten_forward_gpu, flatten_backward_gpu)},
};
