/* transpose.c — transpose: permutes the axes of data.
 *   data   (d0, ..., d(n-1)), n <= 6
 *   axes   a permutation of 0 .. n-1 (negative values count from the end);
 *          empty (the default) reverses the axes, as MXNet
 *   output (d[axes[0]], ..., d[axes[n-1]])
 * Backward transposes the output gradient with the inverse permutation. */
#include "base/error.h"
#include "../op.h"
#include "kernels/kernels.h"

typedef struct {
  int n;
  int64_t axes[MT_MAX_DIM];
} transpose_param;

static const char *const transpose_keys[] = {"axes", NULL};

static int transpose_parse(const mt_attrs *a, const char *node, void *pp) {
  transpose_param *p = pp;
  MT_TRY(mt_attr_check_known(a, "transpose", node, transpose_keys));
  return mt_attr_int_tuple(a, "transpose", node, "axes", -MT_MAX_DIM, MT_MAX_DIM - 1, p->axes,
                           MT_MAX_DIM, &p->n);
}

static int transpose_num_args(const void *p) { return 1; }
static const char *transpose_arg_name(const void *p, int i) { return "data"; }

/* The permutation for ndim axes into perm[]; MT_E_SHAPE naming the node. */
static int transpose_perm(const transpose_param *p, const char *node, const mt_shape *d,
                          int *perm) {
  int nd = d->ndim;
  if (p->n == 0) {
    for (int i = 0; i < nd; i++) perm[i] = nd - 1 - i;
    return MT_OK;
  }
  char b[128];
  if (p->n != nd)
    return MT_ERR(MT_E_SHAPE, "transpose '%s': axes has %d values for data of shape %s (%d axes)",
                  node, p->n, mt_shape_str(d, b, sizeof b), nd);
  int seen[MT_MAX_DIM] = {0};
  for (int i = 0; i < nd; i++) {
    int64_t ax = p->axes[i] < 0 ? p->axes[i] + nd : p->axes[i];
    if (ax < 0 || ax >= nd || seen[ax])
      return MT_ERR(MT_E_SHAPE,
                    "transpose '%s': axes is not a permutation of the %d axes of data %s (axis "
                    "%lld %s)",
                    node, nd, mt_shape_str(d, b, sizeof b), (long long)p->axes[i],
                    ax < 0 || ax >= nd ? "out of range" : "repeated");
    seen[ax] = 1;
    perm[i] = (int)ax;
  }
  return MT_OK;
}

static int transpose_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                                 mt_shape *aux) {
  const mt_shape *d = &in[0];
  if (d->ndim == 0) return MT_ERR(MT_E_SHAPE, "transpose '%s': shape of data unknown", node);
  int perm[MT_MAX_DIM];
  MT_TRY(transpose_perm(pp, node, d, perm));
  mt_shape o = {.ndim = d->ndim};
  for (int i = 0; i < d->ndim; i++) o.dim[i] = d->dim[perm[i]];
  out[0] = o;
  return MT_OK;
}

/* perm and the output's dims (for backward: the inverse on the output). */
static void transpose_plan(const transpose_param *p, const mt_shape *d, int *perm, int *inv,
                           int64_t *odims) {
  transpose_perm(p, "", d, perm); /* checked by infer_shape */
  for (int i = 0; i < d->ndim; i++) {
    inv[perm[i]] = i;
    odims[i] = d->dim[perm[i]];
  }
}

/* CPU, float32 */

static int transpose_forward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                 mt_ndarray *const *out, mt_ndarray *const *aux) {
  int perm[MT_MAX_DIM], inv[MT_MAX_DIM];
  int64_t od[MT_MAX_DIM];
  transpose_plan(pp, &in[0]->shape, perm, inv, od);
  mtk_transpose(out[0]->data, in[0]->data, in[0]->shape.ndim, in[0]->shape.dim, perm, 0.0f);
  return MT_OK;
}

static int transpose_backward_cpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                  mt_ndarray *const *in, mt_ndarray *const *out,
                                  const mt_grad_req *req, mt_ndarray *const *ig,
                                  mt_ndarray *const *aux) {
  if (!req[0]) return MT_OK;
  int perm[MT_MAX_DIM], inv[MT_MAX_DIM];
  int64_t od[MT_MAX_DIM];
  transpose_plan(pp, &in[0]->shape, perm, inv, od);
  mtk_transpose(ig[0]->data, og[0]->data, in[0]->shape.ndim, od, inv,
                req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
  return MT_OK;
}

/* GPU, float32: kernels/cuda/tensor_ops.cu */

MT_GPU_FN int transpose_forward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *in,
                                    mt_ndarray *const *out, mt_ndarray *const *aux) {
  int perm[MT_MAX_DIM], inv[MT_MAX_DIM];
  int64_t od[MT_MAX_DIM];
  transpose_plan(pp, &in[0]->shape, perm, inv, od);
  return mtk_cuda_transpose(c->ctx.id, out[0]->data, in[0]->data, in[0]->shape.ndim,
                            in[0]->shape.dim, perm, 0.0f);
}

MT_GPU_FN int transpose_backward_gpu(const void *pp, const mt_op_ctx *c, mt_ndarray *const *og,
                                     mt_ndarray *const *in, mt_ndarray *const *out,
                                     const mt_grad_req *req, mt_ndarray *const *ig,
                                     mt_ndarray *const *aux) {
  if (!req[0]) return MT_OK;
  int perm[MT_MAX_DIM], inv[MT_MAX_DIM];
  int64_t od[MT_MAX_DIM];
  transpose_plan(pp, &in[0]->shape, perm, inv, od);
  return mtk_cuda_transpose(c->ctx.id, ig[0]->data, og[0]->data, in[0]->shape.ndim, od, inv,
                            req[0] == MT_REQ_ADD ? 1.0f : 0.0f);
}

const mt_op mt_op_transpose = {
    .name = "transpose",
    .param_size = sizeof(transpose_param),
    .parse = transpose_parse,
    .num_args = transpose_num_args,
    .arg_name = transpose_arg_name,
    .infer_shape = transpose_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, transpose_forward_cpu, transpose_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, transpose_forward_gpu, transpose_backward_gpu)},
};
