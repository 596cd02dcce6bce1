/* make_loss.c — MakeLoss (MXNet alias make_loss): marks data as a loss.
 *   data    any shape
 *   output  data (a copy)
 *   grad_scale    default 1
 *   normalization null (default), batch or valid
 *   valid_thresh  default 0
 * A loss head (MT_OP_LOSS): backward takes no output gradient and writes a
 * constant to d data, as MXNet's MakeLossOp:
 *   null   grad_scale
 *   batch  grad_scale / rows, rows = the product of every dimension but the
 *          last (MXNet's FlatTo2D: N for (N, K), N * T for (N, T, K), 1 for
 *          (N,))
 *   valid  grad_scale / max(1, number of data elements > valid_thresh)
 * in single precision. So a net ending in MakeLoss trains with
 * Module.backward() and no out_grads. */
#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

enum { ML_NULL = 0, ML_BATCH, ML_VALID };

typedef struct {
  float grad_scale;
  float valid_thresh;
  int normalization;
} make_loss_param;

static const char *const make_loss_keys[] = {"grad_scale", "normalization", "valid_thresh", NULL};
static const char *const make_loss_norms[] = {"null", "batch", "valid", NULL};

static int make_loss_parse(const mt_attrs *a, const char *node, void *pp) {
  make_loss_param *p = pp;
  const char *op = "MakeLoss";
  double gs, vt;
  MT_TRY(mt_attr_check_known(a, op, node, make_loss_keys));
  MT_TRY(mt_attr_float(a, op, node, "grad_scale", 1.0, &gs));
  MT_TRY(mt_attr_float(a, op, node, "valid_thresh", 0.0, &vt));
  MT_TRY(mt_attr_enum(a, op, node, "normalization", make_loss_norms, ML_NULL, &p->normalization));
  p->grad_scale = (float)gs;
  p->valid_thresh = (float)vt;
  return MT_OK;
}

static int make_loss_num_args(const void *p) { return 1; }
static const char *make_loss_arg_name(const void *p, int i) { return "data"; }

static int make_loss_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                                 mt_shape *aux) {
  if (in[0].ndim == 0) return MT_ERR(MT_E_SHAPE, "MakeLoss '%s': shape of data unknown", node);
  out[0] = in[0];
  return MT_OK;
}

/* The gradient value for null and batch (valid counts first). */
static float make_loss_value(const make_loss_param *p, const mt_shape *d) {
  if (p->normalization != ML_BATCH) return p->grad_scale;
  int64_t rows = 1;
  for (int i = 0; i + 1 < d->ndim; i++) rows *= d->dim[i];
  return p->grad_scale / (float)rows;
}

/* CPU, float32 */

static int make_loss_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                 mt_ndarray *const *out, mt_ndarray *const *aux) {
  mtk_copy_beta(out[0]->data, in[0]->data, in[0]->size, 0.0f);
  return MT_OK;
}

static int make_loss_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                  mt_ndarray *const *in, mt_ndarray *const *out,
                                  const mt_grad_req *req, mt_ndarray *const *ig,
                                  mt_ndarray *const *aux) {
  const make_loss_param *p = pp;
  if (!req[0]) return MT_OK;
  float v = make_loss_value(p, &in[0]->shape);
  if (p->normalization == ML_VALID) {
    int64_t k = mtk_count_greater(in[0]->data, in[0]->size, p->valid_thresh);
    v = p->grad_scale / (float)(k > 0 ? k : 1);
  }
  mtk_fill_beta(ig[0]->data, ig[0]->size, v, req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/tensor_ops.cu (valid counts on the device) */

MT_GPU_FN int make_loss_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                    mt_ndarray *const *out, mt_ndarray *const *aux) {
  return mtk_cuda_copy_beta(c->ctx.id, out[0]->data, in[0]->data, in[0]->size, 0.0f);
}

MT_GPU_FN int make_loss_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                     mt_ndarray *const *in, mt_ndarray *const *out,
                                     const mt_grad_req *req, mt_ndarray *const *ig,
                                     mt_ndarray *const *aux) {
  const make_loss_param *p = pp;
  if (!req[0]) return MT_OK;
  int valid = p->normalization == ML_VALID;
  return mtk_cuda_make_loss_grad(c->ctx.id, ig[0]->data, ig[0]->size,
                                 make_loss_value(p, &in[0]->shape), valid ? in[0]->data : NULL,
                                 p->valid_thresh, req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
}

const mt_op mt_op_make_loss = {
    .name = "MakeLoss",
    .param_size = sizeof(make_loss_param),
    .flags = MT_OP_LOSS,
    .parse = make_loss_parse,
    .num_args = make_loss_num_args,
    .arg_name = make_loss_arg_name,
    .infer_shape = make_loss_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, make_loss_forward_cpu, make_loss_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, make_loss_forward_gpu, make_loss_backward_gpu)},
};
