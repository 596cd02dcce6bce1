/* registry.c — the operator table, built from op_list.h, plus MXNet aliases;
 * and the dispatch of an op's forward/backward to the kernel registered for
 * the device and dtype. */
#include <string.h>

#include "base/error.h"
#include "../op.h"

#define MT_OP(var) extern const mt_op var;
#include "op_list.h"
#undef MT_OP

static const mt_op *const mt_ops[] = {
#define MT_OP(var) &var,
#include "op_list.h"
#undef MT_OP
};

/* Other names MXNet accepts for the same op. */
static const struct {
  const char *alias, *name;
} mt_aliases[] = {
    {"Softmax", "SoftmaxOutput"}, {"elemwise_add", "elemwise_add"}, {"_Plus", "elemwise_add"},
    {"_plus", "elemwise_add"},    {"add_n", "ElementWiseSum"},      {"concat", "Concat"},
    {"flatten", "Flatten"},
};

/* The shape and elementwise ops' aliases (kept apart so that op families
 * can add theirs without touching the lines of others). */
static const struct {
  const char *alias, *name;
} mt_aliases_tensor[] = {
    {"reshape", "Reshape"},
    {"split", "SliceChannel"},
    {"make_loss", "MakeLoss"},
    {"stop_gradient", "BlockGrad"},
    {"_mul", "elemwise_mul"},
    {"_Mul", "elemwise_mul"},
    {"_sub", "elemwise_sub"},
    {"_minus", "elemwise_sub"},
    {"_Minus", "elemwise_sub"},
    {"_PlusScalar", "_plus_scalar"},
    {"_MinusScalar", "_minus_scalar"},
    {"_MulScalar", "_mul_scalar"},
    {"_DivScalar", "_div_scalar"},
};

int mt_op_count(void) { return (int)(sizeof mt_ops / sizeof mt_ops[0]); }
const mt_op *mt_op_at(int i) { return i >= 0 && i < mt_op_count() ? mt_ops[i] : NULL; }

const mt_op *mt_op_find(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < mt_op_count(); i++)
    if (!strcmp(mt_ops[i]->name, name)) return mt_ops[i];
  for (size_t i = 0; i < sizeof mt_aliases / sizeof mt_aliases[0]; i++)
    if (!strcmp(mt_aliases[i].alias, name) && strcmp(mt_aliases[i].name, name))
      return mt_op_find(mt_aliases[i].name);
  for (size_t i = 0; i < sizeof mt_aliases_tensor / sizeof mt_aliases_tensor[0]; i++)
    if (!strcmp(mt_aliases_tensor[i].alias, name)) return mt_op_find(mt_aliases_tensor[i].name);
  return NULL;
}

const char *mt_dtype_name(mt_dtype t) {
  switch (t) {
  case MT_FLOAT32: return "float32";
  case MT_FLOAT16: return "float16";
  case MT_BFLOAT16: return "bfloat16";
  }
  return "?";
}

static const char *devtype_name(mt_devtype d) {
  return d == MT_CPU ? "cpu" : d == MT_GPU ? "gpu" : "?";
}

const mt_op_kernel *mt_op_kernel_find(const mt_op *op, mt_devtype dev, mt_dtype dtype) {
  for (int i = 0; i < MT_OP_MAX_KERNELS; i++) {
    const mt_op_kernel *k = &op->kernels[i];
    if (k->dev == dev && k->dtype == dtype && (k->forward || k->backward)) return k;
  }
  return NULL;
}

/* The one error for a kernel that is not there. */
static int no_kernel(const mt_op *op, const char *pass, const mt_op_ctx *c) {
  return MT_ERR(MT_E_UNSUPPORTED, "operator '%s' has no %s kernel for %s %s in this build",
                op->name, pass, devtype_name(c->ctx.type), mt_dtype_name(c->dtype));
}

int mt_op_forward(const mt_op *op, const void *param, const mt_op_ctx *c, mt_ndarray *const *in,
                  mt_ndarray *const *out, mt_ndarray *const *aux) {
  const mt_op_kernel *k = mt_op_kernel_find(op, c->ctx.type, c->dtype);
  if (!k || !k->forward) return no_kernel(op, "forward", c);
  return k->forward(param, c, in, out, aux);
}

int mt_op_backward(const mt_op *op, const void *param, const mt_op_ctx *c,
                   mt_ndarray *const *out_grad, mt_ndarray *const *in, mt_ndarray *const *out,
                   const mt_grad_req *req, mt_ndarray *const *in_grad, mt_ndarray *const *aux) {
  const mt_op_kernel *k = mt_op_kernel_find(op, c->ctx.type, c->dtype);
  if (!k || !k->backward) return no_kernel(op, "backward", c);
  return k->backward(param, c, out_grad, in, out, req, in_grad, aux);
}

int mt_op_num_outputs(const mt_op *op, const void *param) {
  return op->num_outputs ? op->num_outputs(param) : 1;
}
int mt_op_num_visible_outputs(const mt_op *op, const void *param) {
  return op->num_visible_outputs ? op->num_visible_outputs(param) : mt_op_num_outputs(op, param);
}
int mt_op_num_aux(const mt_op *op, const void *param) {
  return op->num_aux ? op->num_aux(param) : 0;
}
const char *mt_op_output_name(const mt_op *op, const void *param, int i) {
  return op->output_name ? op->output_name(param, i) : "output";
}

int mt_shape_mismatch(const char *op, const char *node, const char *what, const mt_shape *expected,
                      const mt_shape *got) {
  char a[128], b[128];
  return MT_ERR(MT_E_SHAPE, "%s '%s': %s expected shape %s, got %s", op, node, what,
                mt_shape_str(expected, a, sizeof a), mt_shape_str(got, b, sizeof b));
}

int mt_shape_assign(mt_shape *s, const mt_shape *want, const char *op, const char *node,
                    const char *what) {
  if (s->ndim == 0) {
    *s = *want;
    return MT_OK;
  }
  if (!mt_shape_equal(s, want)) return mt_shape_mismatch(op, node, what, want, s);
  return MT_OK;
}

/* Kept static so arg_name can return them without storage in the param. */
/* clang-format off */
#define D10(t) "arg" #t "0", "arg" #t "1", "arg" #t "2", "arg" #t "3", "arg" #t "4", \
               "arg" #t "5", "arg" #t "6", "arg" #t "7", "arg" #t "8", "arg" #t "9"
static const char *const variadic_names[MT_OP_MAX_VARIADIC] = {
    D10(), D10(1), D10(2), D10(3), D10(4), D10(5), D10(6), D10(7), D10(8), D10(9), D10(10),
    D10(11), D10(12), D10(13), D10(14), D10(15), D10(16), D10(17), D10(18), D10(19), D10(20),
    D10(21), D10(22), D10(23), D10(24), "arg250", "arg251", "arg252", "arg253", "arg254", "arg255"};
#undef D10
/* clang-format on */

const char *mt_op_variadic_arg_name(int i) {
  return i >= 0 && i < MT_OP_MAX_VARIADIC ? variadic_names[i] : NULL;
}
