/* reshape.c — Reshape (MXNet alias reshape): the same elements in a new
 * shape; forward and backward are copies.
 *   data   any shape
 *   output `shape`, whose values may be MXNet's special codes:
 *     d > 0  this dimension is d (consumes one input dimension)
 *     0      copy the next input dimension
 *     -1     infer from the remaining size (at most one; consumes one)
 *     -2     copy all remaining input dimensions
 *     -3     the product of the next two input dimensions
 *     -4     split the next input dimension into the two values that
 *            follow (-4, d1, d2); one of d1, d2 may be -1
 *   reverse=true applies the codes right to left (input and shape both
 *   reversed, as MXNet's InferReshapeShape does), e.g. (10, 5, 4) with
 *   shape=(-1, 0) gives (40, 5), with reverse=true (50, 4).
 * The deprecated target_shape / keep_highest are refused (use shape). The
 * input shape must be known (no inference from the output). */
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "../op.h"
#include "copy_kernels.h"
#include "kernels/kernels.h"

#define RESHAPE_MAX_CODES 32

typedef struct {
  int n;
  int64_t shape[RESHAPE_MAX_CODES];
  int reverse;
} reshape_param;

static const char *const reshape_keys[] = {"shape", "reverse", "target_shape", "keep_highest",
                                           NULL};

static int reshape_parse(const mt_attrs *a, const char *node, void *pp) {
  reshape_param *p = pp;
  const char *op = "Reshape";
  MT_TRY(mt_attr_check_known(a, op, node, reshape_keys));
  MT_TRY(
      mt_attr_int_tuple(a, op, node, "shape", -4, INT32_MAX, p->shape, RESHAPE_MAX_CODES, &p->n));
  MT_TRY(mt_attr_bool(a, op, node, "reverse", 0, &p->reverse));
  int64_t ts[RESHAPE_MAX_CODES];
  int nts, keep;
  MT_TRY(mt_attr_int_tuple(a, op, node, "target_shape", 0, INT32_MAX, ts, RESHAPE_MAX_CODES, &nts));
  MT_TRY(mt_attr_bool(a, op, node, "keep_highest", 0, &keep));
  if (nts > 0 || keep)
    return MT_ERR(MT_E_UNSUPPORTED,
                  "Reshape '%s': target_shape and keep_highest are deprecated in MXNet and not "
                  "supported; use shape (0 copies a dimension, -1 infers one)",
                  node);
  if (p->n == 0)
    return MT_ERR(MT_E_INVAL, "Reshape '%s': shape is required (e.g. shape=(0,-1))", node);
  return MT_OK;
}

static int reshape_num_args(const void *p) { return 1; }
static const char *reshape_arg_name(const void *p, int i) { return "data"; }

static int reshape_infer_shape(const void *pp, const char *node, mt_shape *in, mt_shape *out,
                               mt_shape *aux) {
  const reshape_param *p = pp;
  const mt_shape *d = &in[0];
  char b1[128], b2[160];
  if (d->ndim == 0) return MT_ERR(MT_E_SHAPE, "Reshape '%s': shape of data unknown", node);
  mt_shape_str(d, b1, sizeof b1);
  /* the codes as written, for messages */
  int k = snprintf(b2, sizeof b2, "(");
  for (int i = 0; i < p->n && k < (int)sizeof b2; i++)
    k += snprintf(b2 + k, sizeof b2 - (size_t)k, "%s%lld", i ? "," : "", (long long)p->shape[i]);
  if (k < (int)sizeof b2) snprintf(b2 + k, sizeof b2 - (size_t)k, ")");

  int64_t ds[MT_MAX_DIM], ps[RESHAPE_MAX_CODES], tmp[RESHAPE_MAX_CODES * 2];
  int dn = d->ndim, pn = p->n, tn = 0, src = 0, inf = -1;
  for (int i = 0; i < dn; i++) ds[i] = d->dim[p->reverse ? dn - 1 - i : i];
  for (int i = 0; i < pn; i++) ps[i] = p->shape[p->reverse ? pn - 1 - i : i];
#define RS_FAIL(...)                                                                               \
  return MT_ERR(MT_E_SHAPE, "Reshape '%s': cannot reshape data %s to shape=%s%s: " __VA_ARGS__)
  const char *rv = p->reverse ? " (reverse)" : "";
  for (int i = 0; i < pn; i++) {
    int64_t v = ps[i];
    if (v == 0) {
      if (src >= dn)
        RS_FAIL("0 at position %d has no input dimension left to copy", node, b1, b2, rv, i);
      tmp[tn++] = ds[src++];
    } else if (v == -1) {
      if (inf >= 0) RS_FAIL("more than one -1", node, b1, b2, rv);
      inf = tn;
      tmp[tn++] = 1;
      src++;
    } else if (v == -2) {
      while (src < dn) tmp[tn++] = ds[src++];
    } else if (v == -3) {
      if (src + 1 >= dn) RS_FAIL("-3 needs two input dimensions left", node, b1, b2, rv);
      tmp[tn++] = ds[src] * ds[src + 1];
      src += 2;
    } else if (v == -4) {
      if (i + 2 >= pn) RS_FAIL("-4 must be followed by two values", node, b1, b2, rv);
      if (src >= dn) RS_FAIL("-4 has no input dimension left to split", node, b1, b2, rv);
      int64_t d0 = ds[src++], d1 = ps[++i], d2 = ps[++i];
      if (d1 == -1 && d2 == -1)
        RS_FAIL("the two values after -4 cannot both be -1", node, b1, b2, rv);
      if (d1 < -1 || d2 < -1 || d1 == 0 || d2 == 0)
        RS_FAIL("the values after -4 must be positive or -1, got %lld, %lld", node, b1, b2, rv,
                (long long)d1, (long long)d2);
      if (d1 == -1) d1 = d0 / d2;
      if (d2 == -1) d2 = d0 / d1;
      if (d1 * d2 != d0)
        RS_FAIL("-4 splits %lld into %lld x %lld, which does not multiply back", node, b1, b2, rv,
                (long long)d0, (long long)d1, (long long)d2);
      tmp[tn++] = d1;
      tmp[tn++] = d2;
    } else {
      tmp[tn++] = v;
      src++;
    }
    if (tn > MT_MAX_DIM) RS_FAIL("more than %d dimensions", node, b1, b2, rv, MT_MAX_DIM);
  }
  int64_t total = mt_shape_size(d);
  if (inf >= 0) {
    int64_t rest = 1;
    for (int i = 0; i < tn; i++) rest *= tmp[i];
    if (rest <= 0 || total % rest)
      RS_FAIL("-1 cannot be inferred (%lld elements do not divide by %lld)", node, b1, b2, rv,
              (long long)total, (long long)rest);
    tmp[inf] = total / rest;
  }
  if (tn == 0) RS_FAIL("no output dimension", node, b1, b2, rv);
  mt_shape o = {.ndim = tn};
  for (int i = 0; i < tn; i++) o.dim[i] = tmp[p->reverse ? tn - 1 - i : i];
  if (mt_shape_size(&o) != total) {
    char b3[128];
    RS_FAIL("the result %s has %lld elements, data %lld", node, b1, b2, rv,
            mt_shape_str(&o, b3, sizeof b3), (long long)mt_shape_size(&o), (long long)total);
  }
#undef RS_FAIL
  out[0] = o;
  return MT_OK;
}

/* Kernels: copies (copy_kernels.h). */

const mt_op mt_op_reshape = {
    .name = "Reshape",
    .param_size = sizeof(reshape_param),
    .parse = reshape_parse,
    .num_args = reshape_num_args,
    .arg_name = reshape_arg_name,
    .infer_shape = reshape_infer_shape,
    .kernels = {MT_CPU_KERNEL(MT_FLOAT32, copy_op_forward_cpu, copy_op_backward_cpu),
                MT_GPU_KERNEL(MT_FLOAT32, copy_op_forward_gpu, copy_op_backward_gpu)},
};
