/* convolution.c — Convolution, MXNet 1.x's 2-D convolution, NCHW.
 *   data   (N, C, H, W)
 *   weight (num_filter, C / num_group, kh, kw)
 *   bias   (num_filter,)                 absent when no_bias=true
 *   output (N, num_filter, OH, OW), OH = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1
 * Attributes as MXNet: kernel (required), stride (1s), dilate (1s), pad
 * (0s), num_filter (required), num_group (1), no_bias (false), layout (None
 * or NCHW; other layouts are not built). workspace, cudnn_tune and
 * cudnn_off are accepted and ignored (MXNet's JSON carries them; cuDNN's
 * algorithm is chosen by kernels/cuda). 1-D and 3-D kernels are not built.
 * Kernels: kernels/cpu/conv.h (oneDNN) and kernels/cuda/cudnn_kernels.h. */
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/shape.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  int64_t kernel[2], stride[2], dilate[2], pad[2];
  int64_t num_filter, num_group;
  int no_bias;
} conv_param;

static const char *const conv_keys[] = {"kernel",     "stride",     "dilate",    "pad",
                                        "num_filter", "num_group",  "no_bias",   "layout",
                                        "workspace",  "cudnn_tune", "cudnn_off", NULL};

/* A 2-tuple attribute: absent (or "None", "()") gives def in both places;
 * otherwise exactly 2 values in [lo, MT_SHAPE_MAX_ELEMS]. */
static int conv_tuple2(const mt_attrs *a, const char *op, const char *node, const char *key,
                       int64_t lo, int64_t def, int64_t *v) {
  int n = 0;
  int64_t t[3];
  MT_TRY(mt_attr_int_tuple(a, op, node, key, lo, MT_SHAPE_MAX_ELEMS, t, 3, &n));
  if (n == 0) {
    v[0] = v[1] = def;
    return MT_OK;
  }
  if (n != 2)
    return MT_ERR(MT_E_INVAL,
                  "%s '%s': %s='%s' has %d value%s; the kernel is 2-D (kh, kw), so "
                  "%s needs 2",
                  op, node, key, mt_attrs_get(a, key), n, n == 1 ? "" : "s", key);
  v[0] = t[0];
  v[1] = t[1];
  return MT_OK;
}

/* layout: absent, None or NCHW (shared with pooling.c's rule). */
static int conv_layout(const mt_attrs *a, const char *op, const char *node) {
  const char *l = mt_attrs_get(a, "layout");
  if (l && strcmp(l, "None") && strcmp(l, "NCHW"))
    return MT_ERR(MT_E_UNSUPPORTED,
                  "%s '%s': layout='%s' is not supported: only NCHW (or None) is built", op, node,
                  l);
  return MT_OK;
}

static int conv_parse(const mt_attrs *a, const char *node, void *pp) {
  conv_param *p = pp;
  const char *op = "Convolution";
  MT_TRY(mt_attr_check_known(a, op, node, conv_keys));
  int n = 0;
  int64_t k[4];
  if (!mt_attrs_get(a, "kernel"))
    return MT_ERR(MT_E_INVAL, "%s '%s': kernel is required (e.g. kernel=(3, 3))", op, node);
  MT_TRY(mt_attr_int_tuple(a, op, node, "kernel", 1, MT_SHAPE_MAX_ELEMS, k, 4, &n));
  if (n == 1 || n == 3)
    return MT_ERR(MT_E_UNSUPPORTED,
                  "%s '%s': kernel='%s' is a %d-D convolution; only 2-D (NCHW) is supported", op,
                  node, mt_attrs_get(a, "kernel"), n);
  if (n != 2)
    return MT_ERR(MT_E_INVAL, "%s '%s': kernel='%s' must have 2 values (kh, kw)", op, node,
                  mt_attrs_get(a, "kernel"));
  p->kernel[0] = k[0];
  p->kernel[1] = k[1];
  MT_TRY(conv_tuple2(a, op, node, "stride", 1, 1, p->stride));
  MT_TRY(conv_tuple2(a, op, node, "dilate", 1, 1, p->dilate));
  MT_TRY(conv_tuple2(a, op, node, "pad", 0, 0, p->pad));
  MT_TRY(mt_attr_int_required(a, op, node, "num_filter", &p->num_filter));
  if (p->num_filter <= 0 || p->num_filter > MT_SHAPE_MAX_ELEMS)
    return MT_ERR(MT_E_INVAL,
                  "%s '%s': num_filter=%lld must be in [1, %lld] (the largest dim an array may "
                  "have, docs/design.md §2)",
                  op, node, (long long)p->num_filter, (long long)MT_SHAPE_MAX_ELEMS);
  MT_TRY(mt_attr_int_range(a, op, node, "num_group", 1, 1, MT_SHAPE_MAX_ELEMS, &p->num_group));
  MT_TRY(mt_attr_bool(a, op, node, "no_bias", 0, &p->no_bias));
  MT_TRY(conv_layout(a, op, node));
  /* MXNet's cuDNN knobs: accepted, checked, ignored */
  int64_t workspace;
  int cudnn_off, tune;
  static const char *const tunes[] = {"None", "off", "limited_workspace", "fastest", NULL};
  MT_TRY(mt_attr_int_range(a, op, node, "workspace", 1024, 0, INT64_MAX, &workspace));
  MT_TRY(mt_attr_enum(a, op, node, "cudnn_tune", tunes, 0, &tune));
  MT_TRY(mt_attr_bool(a, op, node, "cudnn_off", 0, &cudnn_off));
  return MT_OK;
}

static int conv_num_args(const void *p) { return ((const conv_param *)p)->no_bias ? 2 : 3; }
static const char *conv_arg_name(const void *p, int i) {
  static const char *const names[] = {"data", "weight", "bias"};
  return names[i];
}

/* "kernel=(3, 3) stride=(1, 1) dilate=(1, 1) pad=(0, 0)" for messages */
static const char *conv_geom(const conv_param *p, char *b, size_t len) {
  snprintf(b, len, "kernel=(%lld, %lld) stride=(%lld, %lld) dilate=(%lld, %lld) pad=(%lld, %lld)",
           (long long)p->kernel[0], (long long)p->kernel[1], (long long)p->stride[0],
           (long long)p->stride[1], (long long)p->dilate[0], (long long)p->dilate[1],
           (long long)p->pad[0], (long long)p->pad[1]);
  return b;
}

static int conv_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                            mt_shape *aux) {
  const conv_param *p = pp;
  const char *op = "Convolution";
  const mt_shape *d = &in[0];
  char b1[160], b2[160];
  if (d->ndim == 0) return MT_ERR(MT_E_SHAPE, "%s '%s': shape of data unknown", op, node);
  if (d->ndim != 4)
    return MT_ERR(MT_E_SHAPE, "%s '%s': data must be 4-D (N, C, H, W) for a 2-D kernel, got %s", op,
                  node, mt_shape_str(d, b1, sizeof b1));
  int64_t C = d->dim[1], g = p->num_group;
  if (C % g)
    return MT_ERR(MT_E_SHAPE,
                  "%s '%s': data %s has %lld channels, not a multiple of num_group=%lld", op, node,
                  mt_shape_str(d, b1, sizeof b1), (long long)C, (long long)g);
  if (p->num_filter % g)
    return MT_ERR(MT_E_SHAPE, "%s '%s': num_filter=%lld is not a multiple of num_group=%lld", op,
                  node, (long long)p->num_filter, (long long)g);
  int64_t o[2];
  for (int i = 0; i < 2; i++) {
    /* every term < 2^33: no overflow in int64 */
    int64_t span = p->dilate[i] * (p->kernel[i] - 1) + 1;
    int64_t room = d->dim[2 + i] + 2 * p->pad[i] - span;
    o[i] = room < 0 ? 0 : room / p->stride[i] + 1;
    if (o[i] <= 0)
      return MT_ERR(
          MT_E_SHAPE,
          "%s '%s': data %s with %s gives an output %s of %lld (the dilated kernel, %lld, "
          "is larger than the padded input, %lld)",
          op, node, mt_shape_str(d, b1, sizeof b1), conv_geom(p, b2, sizeof b2),
          i ? "width" : "height", (long long)o[i], (long long)span,
          (long long)(d->dim[2 + i] + 2 * p->pad[i]));
  }
  mt_shape w = MT_SHAPE(p->num_filter, C / g, p->kernel[0], p->kernel[1]);
  MT_TRY(mt_shape_check(&w, "%s '%s': weight", op, node));
  MT_TRY(mt_shape_assign(&in[1], &w, op, node, "weight"));
  if (!p->no_bias) {
    mt_shape bs = MT_SHAPE(p->num_filter);
    MT_TRY(mt_shape_assign(&in[2], &bs, op, node, "bias"));
  }
  out[0] = (mt_shape)MT_SHAPE(d->dim[0], p->num_filter, o[0], o[1]);
  MT_TRY(mt_shape_check(&out[0], "%s '%s': output", op, node));
  return MT_OK;
}

static mtk_conv_desc conv_desc(const conv_param *p, const mt_shape *d, const mt_shape *o) {
  mtk_conv_desc c = {
      .n = (int)d->dim[0],
      .c = (int)d->dim[1],
      .h = (int)d->dim[2],
      .w = (int)d->dim[3],
      .k = (int)p->num_filter,
      .kh = (int)p->kernel[0],
      .kw = (int)p->kernel[1],
      .sh = (int)p->stride[0],
      .sw = (int)p->stride[1],
      .ph = (int)p->pad[0],
      .pw = (int)p->pad[1],
      .dh = (int)p->dilate[0],
      .dw = (int)p->dilate[1],
      .groups = (int)p->num_group,
      .oh = (int)o->dim[2],
      .ow = (int)o->dim[3],
  };
  return c;
}

static float beta_of(mt_grad_req r) { return r == MT_REQ_ADD ? 1.0f : 0.0f; }

/* CPU, float32: kernels/cpu/conv.c */

static int conv_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                            mt_ndarray *const *out, mt_ndarray *const *aux) {
  const conv_param *p = pp;
  mtk_conv_desc d = conv_desc(p, &in[0]->shape, &out[0]->shape);
  return mtk_conv_forward(&d, in[0]->data, in[1]->data, p->no_bias ? NULL : in[2]->data,
                          out[0]->data);
}

static int conv_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                             mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                             mt_ndarray *const *ig, mt_ndarray *const *aux) {
  const conv_param *p = pp;
  mtk_conv_desc d = conv_desc(p, &in[0]->shape, &out[0]->shape);
  int want_db = !p->no_bias && req[2];
  return mtk_conv_backward(&d, in[0]->data, in[1]->data, og[0]->data, req[0] ? ig[0]->data : NULL,
                           beta_of(req[0]), req[1] ? ig[1]->data : NULL, beta_of(req[1]),
                           want_db ? ig[2]->data : NULL, want_db ? beta_of(req[2]) : 0.0f);
}

/* GPU, float32: cuDNN (kernels/cuda/cudnn_kernels.h) */

MT_GPU_FN int conv_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                               mt_ndarray *const *out, mt_ndarray *const *aux) {
  const conv_param *p = pp;
  mtk_conv_desc d = conv_desc(p, &in[0]->shape, &out[0]->shape);
  return mtk_cuda_conv_forward(c->ctx.id, &d, in[0]->data, in[1]->data,
                               p->no_bias ? NULL : in[2]->data, out[0]->data);
}

MT_GPU_FN int conv_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                mt_ndarray *const *in, mt_ndarray *const *out,
                                const mt_grad_req *req, mt_ndarray *const *ig,
                                mt_ndarray *const *aux) {
  const conv_param *p = pp;
  mtk_conv_desc d = conv_desc(p, &in[0]->shape, &out[0]->shape);
  int want_db = !p->no_bias && req[2];
  if (!req[0] && !req[1] && !want_db) return MT_OK;
  return mtk_cuda_conv_backward(c->ctx.id, &d, in[0]->data, in[1]->data, og[0]->data,
                                req[0] ? ig[0]->data : NULL, beta_of(req[0]),
                                req[1] ? ig[1]->data : NULL, beta_of(req[1]),
                                want_db ? ig[2]->data : NULL, want_db ? beta_of(req[2]) : 0.0f);
}

const mt_op mt_op_convolution = {
    .name = "Convolution",
    .param_size = sizeof(conv_param),
    .parse = conv_parse,
    .num_args = conv_num_args,
    .arg_name = conv_arg_name,
    .infer_shape = conv_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, conv_forward_cpu, conv_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, conv_forward_gpu, conv_backward_gpu)},
};
