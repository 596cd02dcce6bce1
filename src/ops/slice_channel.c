/* slice_channel.c — SliceChannel (MXNet alias split): splits data into
 * num_outputs equal parts along axis.
 *   data        (..., d_axis, ...)
 *   num_outputs required, 1 to 64; d_axis must be a multiple of it
 *   axis        default 1; negative counts from the end
 *   squeeze_axis default false; true needs d_axis == num_outputs and drops
 *               the axis from every output
 *   outputs     output0 .. output{n-1} (list_outputs: <node>_output0 ...),
 *               each (..., d_axis / num_outputs, ...)
 * Data is viewed as [outer, d_axis, inner]; output i is the column block
 * [i * k, (i + 1) * k). Backward writes each output's gradient back into its
 * block; an output whose gradient the executor does not give (unused) adds
 * nothing (zeros). */
#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

#define SLICE_MAX_OUTPUTS 64

typedef struct {
  int64_t num_outputs;
  int64_t axis;
  int squeeze_axis;
} slice_param;

static const char *const slice_keys[] = {"num_outputs", "axis", "squeeze_axis", NULL};

static int slice_parse(const mt_attrs *a, const char *node, void *pp) {
  slice_param *p = pp;
  const char *op = "SliceChannel";
  MT_TRY(mt_attr_check_known(a, op, node, slice_keys));
  if (!mt_attrs_get(a, "num_outputs"))
    return MT_ERR(MT_E_INVAL, "%s '%s': num_outputs is required", op, node);
  MT_TRY(mt_attr_int_range(a, op, node, "num_outputs", 1, 1, SLICE_MAX_OUTPUTS, &p->num_outputs));
  MT_TRY(mt_attr_int(a, op, node, "axis", 1, &p->axis));
  MT_TRY(mt_attr_bool(a, op, node, "squeeze_axis", 0, &p->squeeze_axis));
  return MT_OK;
}

static int slice_num_args(const void *p) { return 1; }
static const char *slice_arg_name(const void *p, int i) { return "data"; }
static int slice_num_outputs(const void *pp) { return (int)((const slice_param *)pp)->num_outputs; }

/* clang-format off */
#define O10(t) "output" #t "0", "output" #t "1", "output" #t "2", "output" #t "3", "output" #t "4", \
               "output" #t "5", "output" #t "6", "output" #t "7", "output" #t "8", "output" #t "9"
static const char *const slice_names[SLICE_MAX_OUTPUTS] = {
    O10(), O10(1), O10(2), O10(3), O10(4), O10(5), "output60", "output61", "output62", "output63"};
#undef O10
/* clang-format on */
static const char *slice_output_name(const void *p, int i) {
  return i >= 0 && i < SLICE_MAX_OUTPUTS ? slice_names[i] : "output";
}

static int slice_axis(const slice_param *p, const mt_shape *d) {
  int64_t ax = p->axis < 0 ? p->axis + d->ndim : p->axis;
  return ax >= 0 && ax < d->ndim ? (int)ax : -1;
}

static int slice_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                             mt_shape *aux) {
  const slice_param *p = pp;
  const mt_shape *d = &in[0];
  char b[128];
  if (d->ndim == 0) return MT_ERR(MT_E_SHAPE, "SliceChannel '%s': shape of data unknown", node);
  int ax = slice_axis(p, d);
  if (ax < 0)
    return MT_ERR(MT_E_SHAPE, "SliceChannel '%s': axis=%lld is out of range for data of shape %s",
                  node, (long long)p->axis, mt_shape_str(d, b, sizeof b));
  int64_t n = p->num_outputs, len = d->dim[ax];
  if (len % n)
    return MT_ERR(MT_E_SHAPE,
                  "SliceChannel '%s': data %s has %lld along axis %d, not a multiple of "
                  "num_outputs=%lld",
                  node, mt_shape_str(d, b, sizeof b), (long long)len, ax, (long long)n);
  mt_shape o = *d;
  if (p->squeeze_axis) {
    if (len != n)
      return MT_ERR(MT_E_SHAPE,
                    "SliceChannel '%s': squeeze_axis=true needs num_outputs=%lld equal to the "
                    "size %lld of axis %d of data %s",
                    node, (long long)n, (long long)len, ax, mt_shape_str(d, b, sizeof b));
    if (d->ndim == 1)
      return MT_ERR(MT_E_SHAPE,
                    "SliceChannel '%s': squeeze_axis=true on 1-d data %s would give scalars", node,
                    mt_shape_str(d, b, sizeof b));
    for (int i = ax; i < d->ndim - 1; i++) o.dim[i] = d->dim[i + 1];
    o.ndim--;
  } else {
    o.dim[ax] = len / n;
  }
  for (int i = 0; i < n; i++) out[i] = o;
  return MT_OK;
}

static void slice_dims(const slice_param *p, const mt_shape *d, int64_t *outer, int64_t *cols,
                       int64_t *inner) {
  int ax = slice_axis(p, d);
  *outer = *inner = 1;
  for (int i = 0; i < ax; i++) *outer *= d->dim[i];
  *cols = d->dim[ax];
  for (int i = ax + 1; i < d->ndim; i++) *inner *= d->dim[i];
}

/* CPU, float32 */

static int slice_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                             mt_ndarray *const *out, mt_ndarray *const *aux) {
  const slice_param *p = pp;
  int64_t outer, cols, inner, n = p->num_outputs;
  slice_dims(p, &in[0]->shape, &outer, &cols, &inner);
  int64_t k = cols / n;
  for (int64_t i = 0; i < n; i++)
    mtk_block_copy(out[i]->data, in[0]->data, outer, k, 0, cols, i * k, k, inner, 0.0f);
  return MT_OK;
}

static int slice_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                              mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                              mt_ndarray *const *ig, mt_ndarray *const *aux) {
  const slice_param *p = pp;
  if (!req[0]) return MT_OK;
  int64_t outer, cols, inner, n = p->num_outputs;
  slice_dims(p, &in[0]->shape, &outer, &cols, &inner);
  int64_t k = cols / n;
  float beta = req[0] == MT_REQ_ADD ? 1.0f : 0.0f;
  for (int64_t i = 0; i < n; i++)
    if (!og[i] && beta == 0.0f) {
      /* a missing gradient is zeros: clear, then add the others (0 + g = g) */
      mtk_fill(ig[0]->data, ig[0]->size, 0.0f);
      beta = 1.0f;
    }
  for (int64_t i = 0; i < n; i++)
    if (og[i]) mtk_block_copy(ig[0]->data, og[i]->data, outer, cols, i * k, k, 0, k, inner, beta);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/tensor_ops.cu */

MT_GPU_FN int slice_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                mt_ndarray *const *out, mt_ndarray *const *aux) {
  const slice_param *p = pp;
  int64_t outer, cols, inner, n = p->num_outputs;
  slice_dims(p, &in[0]->shape, &outer, &cols, &inner);
  int64_t k = cols / n;
  for (int64_t i = 0; i < n; i++)
    MT_TRY(mtk_cuda_block_copy(c->ctx.id, out[i]->data, in[0]->data, outer, k, 0, cols, i * k, k,
                               inner, 0.0f));
  return MT_OK;
}

MT_GPU_FN int slice_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                 mt_ndarray *const *in, mt_ndarray *const *out,
                                 const mt_grad_req *req, mt_ndarray *const *ig,
                                 mt_ndarray *const *aux) {
  const slice_param *p = pp;
  if (!req[0]) return MT_OK;
  int64_t outer, cols, inner, n = p->num_outputs;
  slice_dims(p, &in[0]->shape, &outer, &cols, &inner);
  int64_t k = cols / n;
  float beta = req[0] == MT_REQ_ADD ? 1.0f : 0.0f;
  for (int64_t i = 0; i < n; i++)
    if (!og[i] && beta == 0.0f) {
      MT_TRY(mtk_cuda_fill(c->ctx.id, ig[0]->data, ig[0]->size, 0.0f));
      beta = 1.0f;
    }
  for (int64_t i = 0; i < n; i++)
    if (og[i])
      MT_TRY(mtk_cuda_block_copy(c->ctx.id, ig[0]->data, og[i]->data, outer, cols, i * k, k, 0, k,
                                 inner, beta));
  return MT_OK;
}

const mt_op mt_op_slice_channel = {
    .name = "SliceChannel",
    .param_size = sizeof(slice_param),
    .parse = slice_parse,
    .num_args = slice_num_args,
    .arg_name = slice_arg_name,
    .num_outputs = slice_num_outputs,
    .output_name = slice_output_name,
    .infer_shape = slice_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, slice_forward_cpu, slice_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, slice_forward_gpu, slice_backward_gpu)},
};
