/* embedding.c — Embedding: looks up rows of a table by index.
 *   data    (d0, ..., dk), float32 values holding integer indices
 *   weight  (input_dim, output_dim)
 *   output  (d0, ..., dk, output_dim)
 * Attributes as MXNet 1.x: input_dim, output_dim (required, positive),
 * dtype (float32 only), sparse_grad (false only). An index is truncated
 * toward zero and clipped to [0, input_dim) as MXNet does (-1 reads row 0,
 * input_dim reads the last row; kernels/cpu/embedding.h). Backward: the
 * weight's gradient sums each output row's gradient into the row it read
 * (in the order of the indices, deterministic on both devices); the data
 * (indices) gets no gradient: a zero one where one is asked for. */
#include "base/error.h"
#include "base/shape.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  int64_t input_dim, output_dim;
} embedding_param;

static const char *const embedding_keys[] = {"input_dim", "output_dim", "dtype", "sparse_grad",
                                             NULL};
static const char *const embedding_dtypes[] = {"float32", NULL};

static int embedding_dim(const mt_attrs *a, const char *node, const char *key, int64_t *out) {
  MT_TRY(mt_attr_int_required(a, "Embedding", node, key, out));
  if (*out <= 0 || *out > MT_SHAPE_MAX_ELEMS)
    return MT_ERR(MT_E_INVAL, "Embedding '%s': %s=%lld must be in [1, %lld]", node, key,
                  (long long)*out, (long long)MT_SHAPE_MAX_ELEMS);
  return MT_OK;
}

static int embedding_parse(const mt_attrs *a, const char *node, void *pp) {
  embedding_param *p = pp;
  int dtype, sparse;
  MT_TRY(mt_attr_check_known(a, "Embedding", node, embedding_keys));
  MT_TRY(embedding_dim(a, node, "input_dim", &p->input_dim));
  MT_TRY(embedding_dim(a, node, "output_dim", &p->output_dim));
  MT_TRY(mt_attr_enum(a, "Embedding", node, "dtype", embedding_dtypes, 0, &dtype));
  MT_TRY(mt_attr_bool(a, "Embedding", node, "sparse_grad", 0, &sparse));
  if (sparse)
    return MT_ERR(MT_E_UNSUPPORTED,
                  "Embedding '%s': sparse_grad=true is not supported (row_sparse gradients; "
                  "modtrain's arrays are dense)",
                  node);
  return MT_OK;
}

static int embedding_num_args(const void *p) { return 2; }
static const char *embedding_arg_name(const void *p, int i) { return i == 0 ? "data" : "weight"; }

static int embedding_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                                 mt_shape *aux) {
  const embedding_param *p = pp;
  const mt_shape *d = &in[0];
  char b[128];
  mt_shape w = MT_SHAPE(p->input_dim, p->output_dim);
  MT_TRY(mt_shape_assign(&in[1], &w, "Embedding", node, "weight"));
  if (d->ndim == 0) return MT_ERR(MT_E_SHAPE, "Embedding '%s': shape of data unknown", node);
  if (d->ndim >= MT_MAX_DIM)
    return MT_ERR(MT_E_SHAPE,
                  "Embedding '%s': data %s has %d axes; the output would have %d (at "
                  "most %d)",
                  node, mt_shape_str(d, b, sizeof b), d->ndim, d->ndim + 1, MT_MAX_DIM);
  mt_shape o = *d;
  o.dim[o.ndim++] = p->output_dim;
  out[0] = o;
  return MT_OK;
}

/* CPU, float32 */

static int embedding_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                 mt_ndarray *const *out, mt_ndarray *const *aux) {
  const embedding_param *p = pp;
  mtk_embedding_forward(out[0]->data, in[0]->data, in[1]->data, in[0]->size, p->input_dim,
                        p->output_dim);
  return MT_OK;
}

static int embedding_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                  mt_ndarray *const *in, mt_ndarray *const *out,
                                  const mt_grad_req *req, mt_ndarray *const *ig,
                                  mt_ndarray *const *aux) {
  const embedding_param *p = pp;
  if (req[0] == MT_REQ_WRITE) mtk_fill(ig[0]->data, ig[0]->size, 0.0f);
  if (req[1])
    mtk_embedding_backward(ig[1]->data, og[0]->data, in[0]->data, in[0]->size, p->input_dim,
                           p->output_dim, req[1] == MT_REQ_ADD ? 1.0f : 0.0f);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/embedding.cu */

MT_GPU_FN int embedding_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                    mt_ndarray *const *out, mt_ndarray *const *aux) {
  const embedding_param *p = pp;
  return mtk_cuda_embedding_forward(c->ctx.id, out[0]->data, in[0]->data, in[1]->data, in[0]->size,
                                    p->input_dim, p->output_dim);
}

MT_GPU_FN int embedding_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                     mt_ndarray *const *in, mt_ndarray *const *out,
                                     const mt_grad_req *req, mt_ndarray *const *ig,
                                     mt_ndarray *const *aux) {
  const embedding_param *p = pp;
  if (req[0] == MT_REQ_WRITE) MT_TRY(mtk_cuda_fill(c->ctx.id, ig[0]->data, ig[0]->size, 0.0f));
  if (req[1])
    MT_TRY(mtk_cuda_embedding_backward(c->ctx.id, ig[1]->data, og[0]->data, in[0]->data,
                                       in[0]->size, p->input_dim, p->output_dim,
                                       req[1] == MT_REQ_ADD ? 1.0f : 0.0f));
  return MT_OK;
}

const mt_op mt_op_embedding = {
    .name = "Embedding",
    .param_size = sizeof(embedding_param),
    .parse = embedding_parse,
    .num_args = embedding_num_args,
    .arg_name = embedding_arg_name,
    .infer_shape = embedding_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, embedding_forward_cpu, embedding_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, embedding_forward_gpu, embedding_backward_gpu)},
};
