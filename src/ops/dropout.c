/* dropout.c — Dropout: y = x * mask, mask = (u >= p) / (1 - p).
 *   data   (N, d1, ...)
 *   output (N, d1, ...)  visible
 *   mask   (N, d1, ...)  hidden, kept for backward
 * Applied in training (mode=training) or always (mode=always); otherwise the
 * identity. u comes from Philox keyed by (seed, node) with counter hi = step
 * and element index sample_offset * row_size + i, so each sample's mask is the
 * same whichever rank or context holds it (docs/design.md §5). MXNet's axes
 * (shared masks along axes) is not supported; cudnn_off is accepted and has
 * no effect. */
#include <string.h>

#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

enum { DROP_TRAINING, DROP_ALWAYS };

typedef struct {
  double p;
  int mode;
} drop_param;

static const char *const drop_keys[] = {"p", "mode", "axes", "cudnn_off", NULL};
static const char *const drop_modes[] = {"training", "always", NULL};

/* axes is empty when absent or written as (), [] or "" (MXNet's default). */
static int axes_empty(const char *v) {
  for (; *v; v++)
    if (!strchr("()[] ,", *v)) return 0;
  return 1;
}

static int drop_parse(const mt_attrs *a, const char *node, void *pp) {
  drop_param *p = pp;
  int cudnn_off;
  MT_TRY(mt_attr_check_known(a, "Dropout", node, drop_keys));
  MT_TRY(mt_attr_float(a, "Dropout", node, "p", 0.5, &p->p));
  if (!(p->p >= 0.0 && p->p <= 1.0))
    return MT_ERR(MT_E_INVAL, "Dropout '%s': p='%s' must be in [0, 1]", node, mt_attrs_get(a, "p"));
  MT_TRY(mt_attr_enum(a, "Dropout", node, "mode", drop_modes, DROP_TRAINING, &p->mode));
  MT_TRY(mt_attr_bool(a, "Dropout", node, "cudnn_off", 0, &cudnn_off));
  const char *axes = mt_attrs_get(a, "axes");
  if (axes && !axes_empty(axes))
    return MT_ERR(MT_E_INVAL,
                  "Dropout '%s': axes='%s' is not supported (only the default axes=() of "
                  "independent elements)",
                  node, axes);
  return MT_OK;
}

static int drop_num_args(const void *p) { return 1; }
static const char *drop_arg_name(const void *p, int i) { return "data"; }
static int drop_num_outputs(const void *p) { return 2; }
static int drop_num_visible_outputs(const void *p) { return 1; }
static const char *drop_output_name(const void *p, int i) { return i == 0 ? "output" : "mask"; }

static int drop_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                            mt_shape *aux) {
  if (in[0].ndim == 0) return MT_ERR(MT_E_SHAPE, "Dropout '%s': shape of data unknown", node);
  out[0] = in[0];
  out[1] = in[0];
  return MT_OK;
}

/* Whether this pass drops anything; backward asks the same question with the
 * same context as its forward. */
static int drop_active(const drop_param *p, const mt_op_ctx *c) {
  return (c->is_train || p->mode == DROP_ALWAYS) && p->p > 0.0;
}

/* CPU, float32 */

static int drop_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                            mt_ndarray *const *out, mt_ndarray *const *aux) {
  const drop_param *p = pp;
  const mt_ndarray *x = in[0];
  if (!drop_active(p, c)) {
    mtk_copy_beta(out[0]->data, x->data, x->size, 0.0f);
    return MT_OK;
  }
  int64_t n = x->shape.dim[0], row = n > 0 ? x->size / n : 0;
  float scale = p->p < 1.0 ? (float)(1.0 / (1.0 - p->p)) : 0.0f;
  uint64_t key = mtk_philox_key(c->seed, c->node_key);
  mtk_dropout_mask(out[1]->data, x->size, (float)p->p, scale, key, c->step,
                   (uint64_t)c->sample_offset * (uint64_t)row);
  mtk_dropout_apply(out[0]->data, x->data, out[1]->data, x->size, 0.0f);
  return MT_OK;
}

static int drop_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                             mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                             mt_ndarray *const *ig, mt_ndarray *const *aux) {
  const drop_param *p = pp;
  if (!req[0]) return MT_OK;
  float beta = req[0] == MT_REQ_ADD ? 1.0f : 0.0f;
  if (drop_active(p, c))
    mtk_dropout_apply(ig[0]->data, og[0]->data, out[1]->data, ig[0]->size, beta);
  else mtk_copy_beta(ig[0]->data, og[0]->data, ig[0]->size, beta);
  return MT_OK;
}

/* GPU, float32: the same Philox stream and element index as the CPU, so the
 * mask is the CPU's bit for bit (kernels/cuda/dropout.cu). */

MT_GPU_FN int drop_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                               mt_ndarray *const *out, mt_ndarray *const *aux) {
  const drop_param *p = pp;
  const mt_ndarray *x = in[0];
  int dev = c->ctx.id;
  if (!drop_active(p, c)) return mtk_cuda_copy_beta(dev, out[0]->data, x->data, x->size, 0.0f);
  int64_t n = x->shape.dim[0], row = n > 0 ? x->size / n : 0;
  float scale = p->p < 1.0 ? (float)(1.0 / (1.0 - p->p)) : 0.0f;
  uint64_t key = mtk_philox_key(c->seed, c->node_key);
  MT_TRY(mtk_cuda_dropout_mask(dev, out[1]->data, x->size, (float)p->p, scale, key, c->step,
                               (uint64_t)c->sample_offset * (uint64_t)row));
  return mtk_cuda_dropout_apply(dev, out[0]->data, x->data, out[1]->data, x->size, 0.0f);
}

MT_GPU_FN int drop_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                mt_ndarray *const *in, mt_ndarray *const *out,
                                const mt_grad_req *req, mt_ndarray *const *ig,
                                mt_ndarray *const *aux) {
  const drop_param *p = pp;
  if (!req[0]) return MT_OK;
  float b = req[0] == MT_REQ_ADD ? 1.0f : 0.0f;
  if (drop_active(p, c))
    return mtk_cuda_dropout_apply(c->ctx.id, ig[0]->data, og[0]->data, out[1]->data, ig[0]->size,
                                  b);
  return mtk_cuda_copy_beta(c->ctx.id, ig[0]->data, og[0]->data, ig[0]->size, b);
}

const mt_op mt_op_dropout = {
    .name = "Dropout",
    .param_size = sizeof(drop_param),
    .parse = drop_parse,
    .num_args = drop_num_args,
    .arg_name = drop_arg_name,
    .num_outputs = drop_num_outputs,
    .num_visible_outputs = drop_num_visible_outputs,
    .output_name = drop_output_name,
    .infer_shape = drop_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, drop_forward_cpu, drop_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, drop_forward_gpu, drop_backward_gpu)},
};
