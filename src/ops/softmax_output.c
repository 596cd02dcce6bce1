/* softmax_output.c — SoftmaxOutput: softmax forward, cross-entropy gradient
 * backward (a loss head: no output gradient is needed). Layouts:
 *   default        data (N, d1, ...) viewed as (N, C), C = d1*d2*...;
 *                  label (N,); softmax over C
 *   preserve_shape data (d0, ..., dk, C), softmax over the last axis;
 *                  label (d0, ..., dk)
 *   multi_output   data (N, C, d2, ...), softmax over axis 1;
 *                  label (N, d2, ...)
 *   output         same shape as data (probabilities)
 * Backward: d data = (p - onehot(label)) * grad_scale / norm, norm = 1
 * (normalization=null), the batch (batch; in preserve_shape mode MXNet divides
 * by every label position, which we follow) or the number of labels that are
 * not ignore_label (valid, at least 1). With multi_output, MXNet also divides
 * by the positions per sample (d2 * d3 * ...) unless normalization=valid:
 * null divides by them, batch by batch x them (checked against MXNet 1.9.1,
 * tests/test_ops_seq.c). With use_ignore, positions whose label
 * is ignore_label get a zero gradient. The label gets a zero gradient. */
#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

enum { SO_NORM_NULL, SO_NORM_BATCH, SO_NORM_VALID };

typedef struct {
  double grad_scale;
  double ignore_label;
  int use_ignore;
  int normalization;
  int multi_output;
  int preserve_shape;
} so_param;

static const char *const so_keys[] = {
    "grad_scale",   "ignore_label",   "use_ignore", "normalization",
    "multi_output", "preserve_shape", "out_grad",   NULL};
static const char *const so_norms[] = {"null", "batch", "valid", NULL};

static int so_parse(const mt_attrs *a, const char *node, void *pp) {
  so_param *p = pp;
  const char *op = "SoftmaxOutput";
  int out_grad;
  MT_TRY(mt_attr_check_known(a, op, node, so_keys));
  MT_TRY(mt_attr_float(a, op, node, "grad_scale", 1.0, &p->grad_scale));
  MT_TRY(mt_attr_float(a, op, node, "ignore_label", -1.0, &p->ignore_label));
  MT_TRY(mt_attr_bool(a, op, node, "use_ignore", 0, &p->use_ignore));
  MT_TRY(mt_attr_enum(a, op, node, "normalization", so_norms, SO_NORM_NULL, &p->normalization));
  MT_TRY(mt_attr_bool(a, op, node, "multi_output", 0, &p->multi_output));
  MT_TRY(mt_attr_bool(a, op, node, "preserve_shape", 0, &p->preserve_shape));
  MT_TRY(mt_attr_bool(a, op, node, "out_grad", 0, &out_grad));
  if (out_grad)
    return MT_ERR(MT_E_INVAL,
                  "SoftmaxOutput '%s': out_grad=true is not supported (the op is a loss head; "
                  "use softmax + a loss instead)",
                  node);
  return MT_OK;
}

static int so_num_args(const void *p) { return 2; }
static const char *so_arg_name(const void *p, int i) { return i == 0 ? "data" : "label"; }

/* The data as x[outer, C, inner] (softmax over C) and the label's shape. */
static void so_dims(const so_param *p, const mt_shape *d, int64_t *outer, int64_t *C,
                    int64_t *inner, mt_shape *label) {
  int64_t size = mt_shape_size(d);
  *inner = 1;
  if (p->multi_output) {
    *outer = d->dim[0];
    *C = d->dim[1];
    *inner = *outer * *C > 0 ? size / (*outer * *C) : 0;
    label->ndim = d->ndim - 1;
    label->dim[0] = d->dim[0];
    for (int i = 2; i < d->ndim; i++) label->dim[i - 1] = d->dim[i];
  } else if (p->preserve_shape) {
    *C = d->dim[d->ndim - 1];
    *outer = *C > 0 ? size / *C : 0;
    label->ndim = d->ndim - 1;
    for (int i = 0; i < d->ndim - 1; i++) label->dim[i] = d->dim[i];
  } else {
    *outer = d->dim[0];
    *C = *outer > 0 ? size / *outer : 0;
    *label = (mt_shape)MT_SHAPE(d->dim[0]);
  }
}

static int so_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                          mt_shape *aux) {
  const so_param *p = pp;
  const mt_shape *d = &in[0];
  if (d->ndim == 0) return MT_ERR(MT_E_SHAPE, "SoftmaxOutput '%s': shape of data unknown", node);
  if (d->ndim < 2)
    return MT_ERR(MT_E_SHAPE,
                  "SoftmaxOutput '%s': data needs at least 2 dims (batch, classes), got %d", node,
                  d->ndim);
  int64_t outer, C, inner;
  mt_shape want = {0};
  so_dims(p, d, &outer, &C, &inner, &want);
  mt_shape *l = &in[1];
  /* Besides the canonical label shape, accept any with the same batch and
   * number of positions, e.g. (N, 1) labels read from an (N, 1) dataset, or
   * multi_output's (N, d2*d3) and (N, 1, d2, ...) forms that MXNet accepts. */
  if (l->ndim != 0 && !mt_shape_equal(l, &want) &&
      (l->dim[0] != d->dim[0] || mt_shape_size(l) != mt_shape_size(&want)))
    return mt_shape_mismatch("SoftmaxOutput", node, "label", &want, l);
  if (l->ndim == 0) *l = want;
  out[0] = *d;
  return MT_OK;
}

/* CPU, float32 */

static int so_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                          mt_ndarray *const *out, mt_ndarray *const *aux) {
  const so_param *p = pp;
  int64_t outer, C, inner;
  mt_shape l = {0};
  so_dims(p, &in[0]->shape, &outer, &C, &inner, &l);
  mtk_softmax_axis(out[0]->data, in[0]->data, outer, C, inner);
  return MT_OK;
}

static int so_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                           mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                           mt_ndarray *const *ig, mt_ndarray *const *aux) {
  const so_param *p = pp;
  int64_t outer, C, inner;
  mt_shape l = {0};
  so_dims(p, &in[0]->shape, &outer, &C, &inner, &l);
  const mt_ndarray *label = in[1];
  if (req[0]) {
    /* MXNet's multi_output divides by the positions per sample (inner) too,
     * unless normalization=valid */
    double norm = p->multi_output ? (double)inner : 1.0;
    if (p->normalization == SO_NORM_BATCH) {
      norm = p->multi_output ? (double)(outer * inner) : (double)label->size;
    } else if (p->normalization == SO_NORM_VALID) {
      int64_t n = mtk_count_label_not(label->data, label->size, (float)p->ignore_label);
      norm = n > 0 ? (double)n : 1.0;
    }
    int64_t bad = mtk_softmax_output_grad(
        ig[0]->data, out[0]->data, label->data, outer, C, inner, p->use_ignore,
        (float)p->ignore_label, (float)(p->grad_scale / norm), req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
    if (bad >= 0)
      return MT_ERR(MT_E_INVAL,
                    "SoftmaxOutput: label %g at position %lld is not a class in [0, %lld)%s",
                    (double)label->data[bad], (long long)bad, (long long)C,
                    p->use_ignore ? " nor ignore_label" : "");
  }
  if (req[1] == MT_REQ_WRITE) mtk_fill(ig[1]->data, ig[1]->size, 0.0f);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/loss.cu. Backward as the CPU; normalization=
 * valid counts the labels on the device, and the label check reads its
 * result back. */

MT_GPU_FN int so_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                             mt_ndarray *const *out, mt_ndarray *const *aux) {
  const so_param *p = pp;
  int64_t outer, C, inner;
  mt_shape l = {0};
  so_dims(p, &in[0]->shape, &outer, &C, &inner, &l);
  return mtk_cuda_softmax_axis(c->ctx.id, out[0]->data, in[0]->data, outer, C, inner);
}

MT_GPU_FN int so_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                              mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                              mt_ndarray *const *ig, mt_ndarray *const *aux) {
  const so_param *p = pp;
  int64_t outer, C, inner;
  mt_shape l = {0};
  so_dims(p, &in[0]->shape, &outer, &C, &inner, &l);
  const mt_ndarray *label = in[1];
  if (req[0]) {
    double norm = p->multi_output ? (double)inner : 1.0;
    if (p->normalization == SO_NORM_BATCH)
      norm = p->multi_output ? (double)(outer * inner) : (double)label->size;
    else if (p->normalization == SO_NORM_VALID) norm = 0.0; /* counted on the device */
    int64_t bad;
    float bad_label = 0.0f;
    MT_TRY(mtk_cuda_softmax_output_grad(c->ctx.id, ig[0]->data, out[0]->data, label->data, outer, C,
                                        inner, p->use_ignore, (float)p->ignore_label, p->grad_scale,
                                        norm, req[0] == MT_REQ_ADD ? 1.0f : 0.0f, &bad,
                                        &bad_label));
    if (bad >= 0)
      return MT_ERR(MT_E_INVAL,
                    "SoftmaxOutput: label %g at position %lld is not a class in [0, %lld)%s",
                    (double)bad_label, (long long)bad, (long long)C,
                    p->use_ignore ? " nor ignore_label" : "");
  }
  if (req[1] == MT_REQ_WRITE) MT_TRY(mtk_cuda_fill(c->ctx.id, ig[1]->data, ig[1]->size, 0.0f));
  return MT_OK;
}

const mt_op mt_op_softmax_output = {
    .name = "SoftmaxOutput",
    .param_size = sizeof(so_param),
    .flags = MT_OP_LOSS,
    .parse = so_parse,
    .num_args = so_num_args,
    .arg_name = so_arg_name,
    .infer_shape = so_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, so_forward_cpu, so_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, so_forward_gpu, so_backward_gpu)},
};
