/* pooling.c — Pooling, MXNet 1.x's 2-D pooling, NCHW.
 *   data   (N, C, H, W)
 *   output (N, C, OH, OW)
 *     valid (default): OH = floor((H + 2 ph - kh) / sh) + 1
 *     full:            OH = ceil((H + 2 ph - kh) / sh) + 1 (windows past the
 *                      padding are clipped)
 *     global_pool:     the whole H x W: OH = OW = 1 (kernel, pad and stride
 *                      are ignored; kernel may be absent)
 * Attributes as MXNet 1.x: pool_type max (default), avg or sum; kernel,
 * stride (1s: MXNet 1.x's default, not the kernel), pad (0s), global_pool
 * (false), pooling_convention valid or full, count_include_pad (true; avg
 * divides by the window clipped to the padded input, or with false by its
 * cells inside the input), layout None or NCHW. cudnn_off is accepted and
 * ignored, as is p_value (lp pooling itself, and the 'same' convention, are
 * not built). Max backward sends each output's gradient to the first
 * maximum of its window in row-major order (kernels/cpu/pool.h).
 * Kernels: kernels/cpu/pool.h (oneDNN) and kernels/cuda/cudnn_kernels.h. */
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/shape.h"
#include "../op.h"
#include "kernels/kernels.h"

enum { CONV_VALID = 0, CONV_FULL = 1, CONV_SAME = 2 };
enum { POOL_LP = 3 }; /* after MTK_POOL_MAX, _AVG, _SUM */

typedef struct {
  int type; /* MTK_POOL_* */
  int64_t kernel[2], stride[2], pad[2];
  int global;
  int convention;
  int count_include_pad;
} pool_param;

static const char *const pool_keys[] = {
    "pool_type",         "kernel",    "stride",  "pad",    "global_pool", "pooling_convention",
    "count_include_pad", "cudnn_off", "p_value", "layout", NULL};

/* A 2-tuple attribute as in convolution.c: absent gives def. */
static int pool_tuple2(const mt_attrs *a, const char *node, const char *key, int64_t lo,
                       int64_t def, int64_t *v) {
  int n = 0;
  int64_t t[4];
  MT_TRY(mt_attr_int_tuple(a, "Pooling", node, key, lo, MT_SHAPE_MAX_ELEMS, t, 4, &n));
  if (n == 0) {
    v[0] = v[1] = def;
    return MT_OK;
  }
  if (n == 1 || n == 3)
    return MT_ERR(MT_E_UNSUPPORTED,
                  "Pooling '%s': %s='%s' is %d-D; only 2-D pooling (NCHW) is supported", node, key,
                  mt_attrs_get(a, key), n);
  if (n != 2)
    return MT_ERR(MT_E_INVAL, "Pooling '%s': %s='%s' must have 2 values", node, key,
                  mt_attrs_get(a, key));
  v[0] = t[0];
  v[1] = t[1];
  return MT_OK;
}

static int pool_parse(const mt_attrs *a, const char *node, void *pp) {
  pool_param *p = pp;
  const char *op = "Pooling";
  MT_TRY(mt_attr_check_known(a, op, node, pool_keys));
  static const char *const types[] = {"max", "avg", "sum", "lp", NULL};
  MT_TRY(mt_attr_enum(a, op, node, "pool_type", types, MTK_POOL_MAX, &p->type));
  if (p->type == POOL_LP)
    return MT_ERR(MT_E_UNSUPPORTED,
                  "Pooling '%s': pool_type='lp' is not supported (max, avg and sum are)", node);
  MT_TRY(mt_attr_bool(a, op, node, "global_pool", 0, &p->global));
  if (!p->global && !mt_attrs_get(a, "kernel"))
    return MT_ERR(MT_E_INVAL,
                  "Pooling '%s': kernel is required unless global_pool=true (e.g. kernel=(2, 2))",
                  node);
  MT_TRY(pool_tuple2(a, node, "kernel", 1, 0, p->kernel));
  if (!p->global && p->kernel[0] == 0)
    return MT_ERR(MT_E_INVAL, "Pooling '%s': kernel='%s' must have 2 values", node,
                  mt_attrs_get(a, "kernel"));
  MT_TRY(pool_tuple2(a, node, "stride", 1, 1, p->stride));
  MT_TRY(pool_tuple2(a, node, "pad", 0, 0, p->pad));
  static const char *const conventions[] = {"valid", "full", "same", NULL};
  MT_TRY(mt_attr_enum(a, op, node, "pooling_convention", conventions, CONV_VALID, &p->convention));
  if (p->convention == CONV_SAME)
    return MT_ERR(MT_E_UNSUPPORTED,
                  "Pooling '%s': pooling_convention='same' is not supported (valid and full are)",
                  node);
  /* MXNet 1.x writes count_include_pad=None for its default, true */
  const char *cip = mt_attrs_get(a, "count_include_pad");
  if (cip && !strcmp(cip, "None")) p->count_include_pad = 1;
  else MT_TRY(mt_attr_bool(a, op, node, "count_include_pad", 1, &p->count_include_pad));
  int cudnn_off;
  MT_TRY(mt_attr_bool(a, op, node, "cudnn_off", 0, &cudnn_off));
  const char *pv = mt_attrs_get(a, "p_value");
  if (pv && strcmp(pv, "None")) {
    int64_t v;
    MT_TRY(mt_attr_int(a, op, node, "p_value", 2, &v)); /* only lp reads it */
  }
  const char *l = mt_attrs_get(a, "layout");
  if (l && strcmp(l, "None") && strcmp(l, "NCHW"))
    return MT_ERR(MT_E_UNSUPPORTED,
                  "Pooling '%s': layout='%s' is not supported: only NCHW (or None) is built", node,
                  l);
  return MT_OK;
}

static int pool_num_args(const void *p) { return 1; }
static const char *pool_arg_name(const void *p, int i) { return "data"; }

/* The kernel geometry for data d (4-D), output size included (also in
 * *oh, *ow as int64_t, before any narrowing); 0 or MT_E_SHAPE naming node,
 * data and the attributes. */
static int pool_geometry(const pool_param *p, const char *node, const mt_shape *d, mtk_pool_desc *g,
                         int64_t *oh, int64_t *ow) {
  int64_t k[2], s[2], pd[2], o[2];
  for (int i = 0; i < 2; i++) {
    int64_t x = d->dim[2 + i];
    if (p->global) {
      k[i] = x;
      s[i] = 1;
      pd[i] = 0;
      o[i] = 1;
      continue;
    }
    k[i] = p->kernel[i];
    s[i] = p->stride[i];
    pd[i] = p->pad[i];
    int64_t room = x + 2 * pd[i] - k[i]; /* terms < 2^33 */
    if (room < 0) {
      char b[128];
      return MT_ERR(MT_E_SHAPE,
                    "Pooling '%s': kernel=(%lld, %lld) is larger than the padded input: data %s "
                    "with pad=(%lld, %lld) has %s %lld",
                    node, (long long)p->kernel[0], (long long)p->kernel[1],
                    mt_shape_str(d, b, sizeof b), (long long)p->pad[0], (long long)p->pad[1],
                    i ? "width" : "height", (long long)(x + 2 * pd[i]));
    }
    o[i] = (p->convention == CONV_FULL ? (room + s[i] - 1) / s[i] : room / s[i]) + 1;
  }
  *oh = o[0];
  *ow = o[1];
  *g = (mtk_pool_desc){.n = (int)d->dim[0],
                       .c = (int)d->dim[1],
                       .h = (int)d->dim[2],
                       .w = (int)d->dim[3],
                       .kh = (int)k[0],
                       .kw = (int)k[1],
                       .sh = (int)s[0],
                       .sw = (int)s[1],
                       .ph = (int)pd[0],
                       .pw = (int)pd[1],
                       .oh = (int)o[0],
                       .ow = (int)o[1],
                       .type = p->type,
                       .count_include_pad = p->count_include_pad};
  return MT_OK;
}

static int pool_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                            mt_shape *aux) {
  const pool_param *p = pp;
  const mt_shape *d = &in[0];
  char b[128];
  if (d->ndim == 0) return MT_ERR(MT_E_SHAPE, "Pooling '%s': shape of data unknown", node);
  if (d->ndim != 4)
    return MT_ERR(MT_E_SHAPE, "Pooling '%s': data must be 4-D (N, C, H, W) for 2-D pooling, got %s",
                  node, mt_shape_str(d, b, sizeof b));
  mtk_pool_desc g;
  int64_t oh = 0, ow = 0;
  MT_TRY(pool_geometry(p, node, d, &g, &oh, &ow));
  out[0] = (mt_shape)MT_SHAPE(d->dim[0], d->dim[1], oh, ow);
  MT_TRY(mt_shape_check(&out[0], "Pooling '%s': output", node));
  return MT_OK;
}

static float beta_of(mt_grad_req r) { return r == MT_REQ_ADD ? 1.0f : 0.0f; }

/* CPU, float32: kernels/cpu/pool.c */

static int pool_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                            mt_ndarray *const *out, mt_ndarray *const *aux) {
  mtk_pool_desc g;
  int64_t oh = 0, ow = 0;
  MT_TRY(pool_geometry(pp, "?", &in[0]->shape, &g, &oh, &ow));
  return mtk_pool_forward(&g, in[0]->data, out[0]->data);
}

static int pool_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                             mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                             mt_ndarray *const *ig, mt_ndarray *const *aux) {
  if (!req[0]) return MT_OK;
  mtk_pool_desc g;
  int64_t oh = 0, ow = 0;
  MT_TRY(pool_geometry(pp, "?", &in[0]->shape, &g, &oh, &ow));
  return mtk_pool_backward(&g, in[0]->data, out[0]->data, og[0]->data, ig[0]->data,
                           beta_of(req[0]));
}

/* GPU, float32: cuDNN (kernels/cuda/cudnn_kernels.h) */

MT_GPU_FN int pool_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                               mt_ndarray *const *out, mt_ndarray *const *aux) {
  mtk_pool_desc g;
  int64_t oh = 0, ow = 0;
  MT_TRY(pool_geometry(pp, "?", &in[0]->shape, &g, &oh, &ow));
  return mtk_cuda_pool_forward(c->ctx.id, &g, in[0]->data, out[0]->data);
}

MT_GPU_FN int pool_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                mt_ndarray *const *in, mt_ndarray *const *out,
                                const mt_grad_req *req, mt_ndarray *const *ig,
                                mt_ndarray *const *aux) {
  if (!req[0]) return MT_OK;
  mtk_pool_desc g;
  int64_t oh = 0, ow = 0;
  MT_TRY(pool_geometry(pp, "?", &in[0]->shape, &g, &oh, &ow));
  return mtk_cuda_pool_backward(c->ctx.id, &g, in[0]->data, out[0]->data, og[0]->data, ig[0]->data,
                                beta_of(req[0]));
}

const mt_op mt_op_pooling = {
    .name = "Pooling",
    .param_size = sizeof(pool_param),
    .parse = pool_parse,
    .num_args = pool_num_args,
    .arg_name = pool_arg_name,
    .infer_shape = pool_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, pool_forward_cpu, pool_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, pool_forward_gpu, pool_backward_gpu)},
};
