/* op.h — the operator interface and registry.
 *
 * An operator is one file in src/ops/ that defines one `const mt_op` and
 * lists it in src/ops/op_list.h. The file holds what the op computes: the
 * parameters (parsed from MXNet's string attributes), argument names and
 * shape inference; then its kernels, one forward/backward pair per device
 * and dtype, each a driver of the numeric kernels of kernels.h; and last
 * the table that registers them (MT_CPU_KERNEL / MT_GPU_KERNEL lines). The
 * executor runs an op through mt_op_forward / mt_op_backward, which pick
 * the kernel for the context's device and the arrays' dtype.
 *
 * This header is the one place that knows whether the build has CUDA: an
 * op file's GPU kernels are MT_GPU_FN functions, compiled (and type-checked)
 * in every build but emitted only where MT_GPU_KERNEL registers them.
 *
 * Inputs of a node are its arguments followed by its auxiliary states, as in
 * MXNet's JSON (BatchNorm: data, gamma, beta | moving_mean, moving_var).
 * Outputs include hidden ones (BatchNorm's saved mean/var, Dropout's mask)
 * after the visible ones; only visible outputs appear in list_outputs.
 */
#ifndef MT_SRC_OP_H
#define MT_SRC_OP_H
#include "attrs.h"
#include "modtrain.h"
#include "ndarray.h"

/* Element types an op's kernel is registered for. Arrays are float32
 * today; the others are the kernels that mixed precision will add. */
typedef enum { MT_FLOAT32 = 0, MT_FLOAT16, MT_BFLOAT16 } mt_dtype;
/* "float32", "float16", "bfloat16" ("?" for anything else). */
const char *mt_dtype_name(mt_dtype t);

/* Everything an op's compute needs besides its arrays. */
typedef struct {
  mt_context ctx;
  mt_dtype dtype; /* element type of the node's arrays (0: float32) */
  int is_train;
  /* Random ops key their stream by (seed, node_key, step, sample index):
   * results do not depend on how the batch is split (docs/design.md §5). */
  uint64_t seed;
  uint64_t node_key; /* hash of the node name */
  uint64_t step;
  int64_t sample_offset; /* global index of row 0 of this batch slice */
  /* FullyConnected fused with the Activation that consumes it (executor.c):
   * 0 none, else 1 + the Activation's mtk_act_type (relu, sigmoid, tanh or
   * softrelu). Forward then writes act(data weight^T + bias) to out[0] (the
   * Activation's output); backward gets the Activation's output gradient
   * and output as out_grad[0] and out[0], and writes the gradient at the
   * Activation's input to fused_grad on the way. */
  int fused_act;
  mt_ndarray *fused_grad;
} mt_op_ctx;

/* A forward kernel. in: num_args arrays; out: num_outputs; aux: num_aux
 * (may be updated in training, e.g. BatchNorm's moving averages). */
typedef int mt_op_forward_fn(const void *param, const mt_op_ctx *c, mt_ndarray *const *in,
                             mt_ndarray *const *out, mt_ndarray *const *aux);
/* A backward kernel. out_grad: num_outputs entries (hidden outputs' grads
 * are NULL; for MT_OP_LOSS ops all are NULL). in_grad[i] is NULL where
 * req[i] is MT_REQ_NULL; MT_REQ_ADD adds to what is there. */
typedef int mt_op_backward_fn(const void *param, const mt_op_ctx *c, mt_ndarray *const *out_grad,
                              mt_ndarray *const *in, mt_ndarray *const *out, const mt_grad_req *req,
                              mt_ndarray *const *in_grad, mt_ndarray *const *aux);

/* An op's kernels for arrays of one dtype on one device type. A NULL
 * function is a kernel this build lacks (a GPU kernel without CUDA). */
typedef struct {
  mt_devtype dev; /* 0: unused slot */
  mt_dtype dtype;
  mt_op_forward_fn *forward;
  mt_op_backward_fn *backward;
} mt_op_kernel;

/* Kernel slots per op: (cpu, gpu) x (float32, float16, bfloat16) fit. */
#define MT_OP_MAX_KERNELS 8

/* The lines of an op's .kernels table: one per (device, dtype). */
#define MT_CPU_KERNEL(dtype, forward, backward)                                                    \
  { MT_CPU, (dtype), (forward), (backward) }
#ifdef MT_HAVE_CUDA
#define MT_GPU_KERNEL(dtype, forward, backward)                                                    \
  { MT_GPU, (dtype), (forward), (backward) }
#else
#define MT_GPU_KERNEL(dtype, forward, backward)                                                    \
  { MT_GPU, (dtype), NULL, NULL }
#endif
/* Declares an op file's GPU kernels (and their helpers). Static inline and
 * maybe unused: a build without CUDA compiles and type-checks them against
 * kernels/cuda/cuda_kernels.h, but as MT_GPU_KERNEL takes no reference to
 * them there, the compiler emits nothing for them and nothing links to the
 * mtk_cuda_* functions they call. */
#define MT_GPU_FN __attribute__((unused)) static inline

typedef struct mt_op {
  const char *name;  /* MXNet's op name: "FullyConnected" */
  size_t param_size; /* bytes of the op's parameter struct */
  unsigned flags;    /* MT_OP_* */
  /* Fills *param (param_size bytes, zeroed) from attrs; errors name the node,
   * the key and the bad value. Unknown keys are errors. */
  int (*parse)(const mt_attrs *attrs, const char *node_name, void *param);
  /* Argument names in order ("data", "weight", "bias"): count and names. */
  int (*num_args)(const void *param);
  const char *(*arg_name)(const void *param, int i);
  int (*num_aux)(const void *param); /* NULL = 0 */
  const char *(*aux_name)(const void *param, int i);
  int (*num_outputs)(const void *param);                /* NULL = 1, all visible */
  int (*num_visible_outputs)(const void *param);        /* NULL = num_outputs */
  const char *(*output_name)(const void *param, int i); /* NULL = "output" */
  /* in[num_args]: known shapes have ndim > 0; the op fills the shapes it can
   * deduce (weights from data) and checks the others. Fills out[num_outputs]
   * and aux[num_aux]. A mismatch returns MT_E_SHAPE naming both shapes. */
  int (*infer_shape)(const void *param, const char *node_name, mt_shape *in, mt_shape *out,
                     mt_shape *aux);
  /* The kernels, one entry per (device, dtype) (MT_CPU_KERNEL, MT_GPU_KERNEL);
   * unused slots are zero. */
  mt_op_kernel kernels[MT_OP_MAX_KERNELS];
} mt_op;

/* A loss head: backward needs no output gradient (SoftmaxOutput, *RegressionOutput). */
#define MT_OP_LOSS 1u
/* num_args depends on the attrs (Concat's num_args, ElementWiseSum). */
#define MT_OP_VARIADIC 2u
/* An output dim of 0 is unknown (MXNet's _zeros begin states, shape (0, H)):
 * the graph's inference fills it (src/symbol.c, docs/design.md §10). */
#define MT_OP_INFER_ZERO_DIMS 4u

/* Variadic ops (Concat, ElementWiseSum) take at most this many inputs,
 * named "arg0".."arg255" as in MXNet. */
#define MT_OP_MAX_VARIADIC 256
const char *mt_op_variadic_arg_name(int i);

/* The op's kernel entry for (dev, dtype) with a forward or a backward, or
 * NULL when none is registered in this build. */
const mt_op_kernel *mt_op_kernel_find(const mt_op *op, mt_devtype dev, mt_dtype dtype);
/* Run the op's forward / backward kernel for c->ctx.type and c->dtype (the
 * arguments as mt_op_forward_fn / mt_op_backward_fn). Without one:
 * MT_E_UNSUPPORTED, "operator '<op>' has no forward kernel for gpu float32
 * in this build". */
int mt_op_forward(const mt_op *op, const void *param, const mt_op_ctx *c, mt_ndarray *const *in,
                  mt_ndarray *const *out, mt_ndarray *const *aux);
int mt_op_backward(const mt_op *op, const void *param, const mt_op_ctx *c,
                   mt_ndarray *const *out_grad, mt_ndarray *const *in, mt_ndarray *const *out,
                   const mt_grad_req *req, mt_ndarray *const *in_grad, mt_ndarray *const *aux);

/* NULL if no op has that name (MXNet aliases included). */
const mt_op *mt_op_find(const char *name);
int mt_op_count(void);
const mt_op *mt_op_at(int i);

/* 1 + the act_type of an Activation node's param when FullyConnected may
 * fuse it (relu, sigmoid, tanh, softrelu: gradients in terms of the
 * output); 0 for softsign. */
int mt_op_activation_fusable(const void *param);

/* Helpers with the defaults above. */
int mt_op_num_outputs(const mt_op *op, const void *param);
int mt_op_num_visible_outputs(const mt_op *op, const void *param);
int mt_op_num_aux(const mt_op *op, const void *param);
const char *mt_op_output_name(const mt_op *op, const void *param, int i);

/* Shape check helper: MT_E_SHAPE with "<op> '<node>': <what> expected (a, b), got (c, d)". */
int mt_shape_mismatch(const char *op, const char *node, const char *what, const mt_shape *expected,
                      const mt_shape *got);
/* If *s is unknown set it to want; otherwise it must equal want. */
int mt_shape_assign(mt_shape *s, const mt_shape *want, const char *op, const char *node,
                    const char *what);

#endif
