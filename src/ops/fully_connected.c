/* fully_connected.c — FullyConnected: y = x W^T + b.
 *   data   (N, d1, ...) flattened to (N, K) when flatten=true (default)
 *   weight (num_hidden, K)
 *   bias   (num_hidden,)         absent when no_bias=true
 *   output (N, num_hidden)
 * With flatten=false the op applies to the last axis and keeps the others. */
#include "base/error.h"
#include "base/shape.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  int64_t num_hidden;
  int no_bias;
  int flatten;
} fc_param;

static const char *const fc_keys[] = {"num_hidden", "no_bias", "flatten", NULL};

static int fc_parse(const mt_attrs *a, const char *node, void *p) {
  fc_param *fp = p;
  MT_TRY(mt_attr_check_known(a, "FullyConnected", node, fc_keys));
  MT_TRY(mt_attr_int_required(a, "FullyConnected", node, "num_hidden", &fp->num_hidden));
  if (fp->num_hidden <= 0)
    return MT_ERR(MT_E_INVAL, "FullyConnected '%s': num_hidden must be positive, got %lld", node,
                  (long long)fp->num_hidden);
  /* a dim of the weight and the output: base/shape.h's limit, which the
   * kernels' int sizes rely on */
  if (fp->num_hidden > MT_SHAPE_MAX_ELEMS)
    return MT_ERR(MT_E_INVAL,
                  "FullyConnected '%s': num_hidden=%lld is past the largest dim an array may "
                  "have (%lld, docs/design.md §2)",
                  node, (long long)fp->num_hidden, (long long)MT_SHAPE_MAX_ELEMS);
  MT_TRY(mt_attr_bool(a, "FullyConnected", node, "no_bias", 0, &fp->no_bias));
  MT_TRY(mt_attr_bool(a, "FullyConnected", node, "flatten", 1, &fp->flatten));
  return MT_OK;
}

static int fc_num_args(const void *p) { return ((const fc_param *)p)->no_bias ? 2 : 3; }
static const char *fc_arg_name(const void *p, int i) {
  static const char *const names[] = {"data", "weight", "bias"};
  return names[i];
}

/* rows and K of the data viewed as a matrix */
static void fc_dims(const fc_param *p, const mt_shape *d, int64_t *rows, int64_t *k) {
  if (p->flatten) {
    *rows = d->dim[0];
    *k = 1;
    for (int i = 1; i < d->ndim; i++) *k *= d->dim[i];
  } else {
    *k = d->dim[d->ndim - 1];
    *rows = 1;
    for (int i = 0; i < d->ndim - 1; i++) *rows *= d->dim[i];
  }
}

static int fc_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                          mt_shape *aux) {
  const fc_param *p = pp;
  mt_shape *d = &in[0];
  if (d->ndim == 0) return MT_ERR(MT_E_SHAPE, "FullyConnected '%s': shape of data unknown", node);
  if (d->ndim < 2 && p->flatten)
    return MT_ERR(MT_E_SHAPE, "FullyConnected '%s': data needs at least 2 dims (batch, features)",
                  node);
  int64_t rows, k;
  fc_dims(p, d, &rows, &k);
  mt_shape w = MT_SHAPE(p->num_hidden, k);
  MT_TRY(mt_shape_assign(&in[1], &w, "FullyConnected", node, "weight"));
  if (!p->no_bias) {
    mt_shape b = MT_SHAPE(p->num_hidden);
    MT_TRY(mt_shape_assign(&in[2], &b, "FullyConnected", node, "bias"));
  }
  if (p->flatten) {
    out[0] = (mt_shape)MT_SHAPE(d->dim[0], p->num_hidden);
  } else {
    out[0] = *d;
    out[0].dim[d->ndim - 1] = p->num_hidden;
  }
  return MT_OK;
}

/* CPU, float32 */

static int fc_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                          mt_ndarray *const *out, mt_ndarray *const *aux) {
  const fc_param *p = pp;
  int64_t rows, k;
  fc_dims(p, &in[0]->shape, &rows, &k);
  int n = (int)p->num_hidden;
  const float *bias = p->no_bias ? NULL : in[2]->data;
  /* out[rows, n] = data[rows, k] * weight[n, k]^T (+ bias) */
  mtk_sgemm(0, 1, (int)rows, n, (int)k, 1.0f, in[0]->data, (int)k, in[1]->data, (int)k, 0.0f,
            out[0]->data, n);
  if (c->fused_act)
    mtk_bias_act_forward((mtk_act_type)(c->fused_act - 1), out[0]->data, bias, rows, n);
  else if (bias) mtk_add_row_bias(out[0]->data, bias, rows, n);
  return MT_OK;
}

static int fc_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                           mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                           mt_ndarray *const *ig, mt_ndarray *const *aux) {
  const fc_param *p = pp;
  int64_t rows, k;
  fc_dims(p, &in[0]->shape, &rows, &k);
  int n = (int)p->num_hidden;
  const float *dy = og[0]->data;
  float *db = (!p->no_bias && req[2]) ? ig[2]->data : NULL;
  float beta_db = (!p->no_bias && req[2] == MT_REQ_ADD) ? 1.0f : 0.0f;
  if (c->fused_act) {
    /* the Activation's gradient and the bias gradient in one pass; the
     * GEMMs below then take that gradient */
    float *g = c->fused_grad->data;
    mtk_act_bias_backward((mtk_act_type)(c->fused_act - 1), dy, out[0]->data, g, db, beta_db, rows,
                          n);
    dy = g;
    db = NULL;
  }
  /* d weight[n, k] = dy[rows, n]^T * data[rows, k] */
  if (req[1])
    mtk_sgemm(1, 0, n, (int)k, (int)rows, 1.0f, dy, n, in[0]->data, (int)k,
              req[1] == MT_REQ_ADD ? 1.0f : 0.0f, ig[1]->data, (int)k);
  /* d data[rows, k] = dy[rows, n] * weight[n, k] */
  if (req[0])
    mtk_sgemm(0, 0, (int)rows, (int)k, n, 1.0f, dy, n, in[1]->data, (int)k,
              req[0] == MT_REQ_ADD ? 1.0f : 0.0f, ig[0]->data, (int)k);
  if (db) mtk_sum_rows(db, dy, rows, n, beta_db);
  return MT_OK;
}

/* GPU, float32: cuBLAS (kernels/cuda/fully_connected.cu) and, fused, the
 * bias and activation passes of kernels/cuda/activation.cu. */

MT_GPU_FN int fc_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                             mt_ndarray *const *out, mt_ndarray *const *aux) {
  const fc_param *p = pp;
  int64_t rows, k;
  fc_dims(p, &in[0]->shape, &rows, &k);
  int n = (int)p->num_hidden;
  const float *bias = p->no_bias ? NULL : in[2]->data;
  if (c->fused_act) { /* the GEMM, then bias and activation in one pass */
    MT_TRY(mtk_cuda_fc_forward(c->ctx.id, in[0]->data, in[1]->data, NULL, out[0]->data, (int)rows,
                               n, (int)k));
    return mtk_cuda_bias_act_forward(c->ctx.id, c->fused_act - 1, out[0]->data, bias, rows, n);
  }
  return mtk_cuda_fc_forward(c->ctx.id, in[0]->data, in[1]->data, bias, out[0]->data, (int)rows, n,
                             (int)k);
}

MT_GPU_FN int fc_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                              mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                              mt_ndarray *const *ig, mt_ndarray *const *aux) {
  const fc_param *p = pp;
  int64_t rows, k;
  fc_dims(p, &in[0]->shape, &rows, &k);
  int n = (int)p->num_hidden;
  const float *dy = og[0]->data;
  float *db = (!p->no_bias && req[2]) ? ig[2]->data : NULL;
  float beta_db = (!p->no_bias && req[2] == MT_REQ_ADD) ? 1.0f : 0.0f;
  if (c->fused_act) { /* as the CPU */
    float *g = c->fused_grad->data;
    MT_TRY(mtk_cuda_act_bias_backward(c->ctx.id, c->fused_act - 1, dy, out[0]->data, g, db, beta_db,
                                      rows, n));
    dy = g;
    db = NULL;
  }
  return mtk_cuda_fc_backward(
      c->ctx.id, dy, in[0]->data, in[1]->data, (int)rows, n, (int)k, req[0] ? ig[0]->data : NULL,
      req[0] == MT_REQ_ADD, req[1] ? ig[1]->data : NULL, req[1] == MT_REQ_ADD, db, beta_db != 0.0f);
}

const mt_op mt_op_fully_connected = {
    .name = "FullyConnected",
    .param_size = sizeof(fc_param),
    .parse = fc_parse,
    .num_args = fc_num_args,
    .arg_name = fc_arg_name,
    .infer_shape = fc_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, fc_forward_cpu, fc_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, fc_forward_gpu, fc_backward_gpu)},
};
