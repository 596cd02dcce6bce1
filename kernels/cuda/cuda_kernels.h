/* cuda_kernels.h — CUDA mirrors of the CPU kernels (built when MT_HAVE_CUDA).
 * Every function returns 0 or a negative MT_E_* code with the CUDA/cuBLAS
 * error string recorded (file:line). `dev` is the CUDA device ordinal. */
#ifndef MT_KERNELS_CUDA_H
#define MT_KERNELS_CUDA_H
#include <stddef.h>
#include <stdint.h>

#include "base/cuda/device_runtime.h"
#include "kernels/cuda/cudnn_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Memory, copies and streams: base/cuda/device_runtime.h (included above). */
int mtk_cuda_fill(int dev, float *p, int64_t n, float v);

/* FullyConnected through cuBLAS (row-major, as the CPU path). */
int mtk_cuda_fc_forward(int dev, const float *x, const float *w, const float *b, float *y, int rows,
                        int n, int k);
int mtk_cuda_fc_backward(int dev, const float *dy, const float *x, const float *w, int rows, int n,
                         int k, float *dx, int dx_add, float *dw, int dw_add, float *db,
                         int db_add);

/* The kernels below mirror kernels/cpu/ (same arguments after `dev`, same
 * formulas; see the CPU headers). They run on the current stream (above),
 * in order with each other, cuBLAS and mtk_cuda_copy. `beta` 0 writes (the
 * old value is never read), 1 accumulates. Reductions are deterministic
 * (fixed-order trees, no float atomics): repeated runs give the same bits. */

/* activation.cu: act is an mtk_act_type (relu, sigmoid, tanh, softrelu,
 * softsign) or an mtk_leaky_type (leaky, elu). */
int mtk_cuda_activation_forward(int dev, int act, const float *x, float *y, int64_t n);
int mtk_cuda_activation_backward(int dev, int act, const float *dy, const float *x, const float *y,
                                 float *dx, int64_t n, float beta);
int mtk_cuda_leaky_relu_forward(int dev, int act, float slope, const float *x, float *y, int64_t n);
int mtk_cuda_leaky_relu_backward(int dev, int act, float slope, const float *dy, const float *y,
                                 float *dx, int64_t n, float beta);

/* activation.cu, FullyConnected's bias with the Activation after it
 * (kernels/cpu/fused.h; act relu, sigmoid, tanh or softrelu): y = act(y +
 * bias[col]) in place (bias NULL: act(y)); g = dy * act'(y) with db =
 * column sums of g (+ db where beta_db != 0; db NULL: none). */
int mtk_cuda_bias_act_forward(int dev, int act, float *y, const float *bias, int64_t rows,
                              int64_t cols);
int mtk_cuda_act_bias_backward(int dev, int act, const float *dy, const float *y, float *g,
                               float *db, float beta_db, int64_t rows, int64_t cols);

/* elementwise.cu: y = x + beta * y (beta 0: device-to-device copy, nothing
 * when y == x); out = a + b (+ out when beta != 0); y += a * x; x *= a;
 * Concat's block copies (layout in kernels/cpu/shape_ops.h). */
int mtk_cuda_copy_beta(int dev, float *y, const float *x, int64_t n, float beta);
int mtk_cuda_add(int dev, float *out, const float *a, const float *b, int64_t n, float beta);
int mtk_cuda_axpy(int dev, float *y, float a, const float *x, int64_t n);
int mtk_cuda_scale(int dev, float *x, float a, int64_t n);
int mtk_cuda_concat_copy(int dev, float *out, const float *in, int64_t outer, int64_t total_cols,
                         int64_t offset, int64_t cols, int64_t inner);
int mtk_cuda_concat_grad(int dev, float *din, const float *dout, int64_t outer, int64_t total_cols,
                         int64_t offset, int64_t cols, int64_t inner, float beta);

/* loss.cu: softmax over the C axis of x[outer, C, inner]. */
int mtk_cuda_softmax_axis(int dev, float *out, const float *x, int64_t outer, int64_t C,
                          int64_t inner);
/* SoftmaxOutput's gradient (mtk_softmax_output_grad) with scale =
 * (float)(grad_scale / norm); norm <= 0 means normalization=valid: norm =
 * the number of the outer*inner labels whose int value is not
 * (int)ignore_label (at least 1), counted on the device. *bad = -1 when every
 * label is a class in [0, C) or ignored, else the flat label index of the
 * first that is not, with its value in *bad_label (may be NULL). Reads the
 * result back, so it waits for the stream it runs on. */
int mtk_cuda_softmax_output_grad(int dev, float *grad, const float *p, const float *label,
                                 int64_t outer, int64_t C, int64_t inner, int use_ignore,
                                 float ignore_label, double grad_scale, double norm, float beta,
                                 int64_t *bad, float *bad_label);
int mtk_cuda_sigmoid(int dev, float *out, const float *x, int64_t n);
int mtk_cuda_regression_grad(int dev, float *grad, const float *out, const float *label, int64_t n,
                             float scale, int use_sign, float beta);

/* dropout.cu: the CPU's mask bit for bit (same Philox stream and index). */
int mtk_cuda_dropout_mask(int dev, float *mask, int64_t n, float p, float scale, uint64_t key,
                          uint64_t hi, uint64_t first);
int mtk_cuda_dropout_apply(int dev, float *y, const float *x, const float *mask, int64_t n,
                           float beta);

/* batchnorm.cu (kernels/cpu/batchnorm.h): batch mean and biased variance;
 * then finish_stats: with batch_stats, moving = moving * momentum + batch *
 * (1 - momentum) and var_invstd = 1 / sqrt(var + eps) in place; without,
 * mean = moving_mean and var_invstd = 1 / sqrt(moving_var + eps). */
int mtk_cuda_bn_stats(int dev, const float *x, int64_t outer, int64_t C, int64_t inner, float *mean,
                      float *var);
int mtk_cuda_bn_finish_stats(int dev, int64_t C, float *mean, float *var_invstd, float *moving_mean,
                             float *moving_var, float momentum, float eps, int batch_stats);
int mtk_cuda_bn_forward(int dev, float *y, const float *x, const float *mean, const float *invstd,
                        const float *gamma, const float *beta, int64_t outer, int64_t C,
                        int64_t inner);
int mtk_cuda_bn_backward(int dev, const float *dy, const float *x, const float *mean,
                         const float *invstd, const float *gamma, int64_t outer, int64_t C,
                         int64_t inner, int batch_stats, float *dx, float beta_dx, float *dgamma,
                         float beta_dgamma, float *dbeta, float beta_dbeta);

/* optimizer.cu: MXNet's sgd_update and multi_sgd[_mom]_update
 * (kernels/cpu/optimizer.h), equal to the CPU kernels bit for bit. mom NULL:
 * no momentum buffer. clip < 0: no clipping. */
int mtk_cuda_sgd_update(int dev, float *w, const float *g, int64_t n, float lr, float wd,
                        float rescale, float clip);
int mtk_cuda_multi_sgd_update(int dev, float *w, const float *g, float *mom, int64_t n, float lr,
                              float wd, float momentum, float rescale, float clip);
/* The other optimizers' kernels (kernels/cpu/optimizer.h), equal to the CPU
 * kernels bit for bit: nag_mom_update, adam_update (lr carries the bias
 * correction), rmsprop_update, rmspropalex_update (centered RMSProp) and
 * AdaGrad's dense update. States are device arrays of n elements, updated in
 * place with the weight. clip, clip_weights < 0: no clipping. */
int mtk_cuda_nag_mom_update(int dev, float *w, const float *g, float *mom, int64_t n, float lr,
                            float wd, float momentum, float rescale, float clip);
int mtk_cuda_adam_update(int dev, float *w, const float *g, float *mean, float *var, int64_t n,
                         float lr, float wd, float beta1, float beta2, float epsilon, float rescale,
                         float clip);
int mtk_cuda_rmsprop_update(int dev, float *w, const float *g, float *state_n, int64_t n, float lr,
                            float wd, float gamma1, float epsilon, float rescale, float clip,
                            float clip_weights);
int mtk_cuda_rmspropalex_update(int dev, float *w, const float *g, float *state_n, float *state_g,
                                float *delta, int64_t n, float lr, float wd, float gamma1,
                                float gamma2, float epsilon, float rescale, float clip,
                                float clip_weights);
int mtk_cuda_adagrad_update(int dev, float *w, const float *g, float *history, int64_t n, float lr,
                            float wd, float eps, float rescale, float clip);
/* One parameter inside a flat buffer: elements [begin, end), its lr and wd
 * (lr_mult and wd_mult applied). */
typedef struct {
  int64_t begin, end;
  float lr, wd;
} mtk_sgd_segment;
/* multi_sgd over a whole flat buffer of n elements (w, g and mom share the
 * layout; mom may be NULL) in one launch: segments sorted, disjoint, inside
 * [0, n) (else MT_E_INVAL); elements outside every segment are untouched.
 * segs is a host array, copied before the call returns. */
int mtk_cuda_multi_sgd_update_flat(int dev, float *w, const float *g, float *mom, int64_t n,
                                   const mtk_sgd_segment *segs, int nseg, float momentum,
                                   float rescale, float clip);
/* *out = 1 if all n values at p are finite, else 0 (synchronizes). */
int mtk_cuda_all_finite(int dev, const float *p, int64_t n, int *out);

/* tensor_ops.cu (kernels/cpu/tensor_ops.h): transpose (dims and axes are
 * host arrays of ndim <= 6, passed by value to the kernel), SliceChannel's
 * block copies, softmax / log_softmax with temperature and their gradients
 * (one block per row, fixed-order tree sums in double), elemwise mul / sub,
 * the scalar ops (op is an mtk_scalar_op), a constant fill with beta, and
 * MakeLoss's gradient: out = v / d + beta * out with d = 1 when thresh_x is
 * NULL, else d = max(1, number of thresh_x[i] > thresh over n values),
 * counted on the device (no read back, no float atomics). */
int mtk_cuda_transpose(int dev, float *out, const float *x, int ndim, const int64_t *dims,
                       const int *axes, float beta);
int mtk_cuda_block_copy(int dev, float *dst, const float *src, int64_t outer, int64_t dst_cols,
                        int64_t dst_off, int64_t src_cols, int64_t src_off, int64_t cols,
                        int64_t inner, float beta);
int mtk_cuda_softmax_t(int dev, float *out, const float *x, int64_t outer, int64_t C, int64_t inner,
                       float temperature, int use_log);
int mtk_cuda_softmax_t_grad(int dev, float *dx, const float *dy, const float *y, int64_t outer,
                            int64_t C, int64_t inner, float temperature, int use_log, float beta);
int mtk_cuda_mul(int dev, float *out, const float *a, const float *b, int64_t n, float beta);
int mtk_cuda_sub(int dev, float *out, const float *a, const float *b, int64_t n, float beta);
int mtk_cuda_scalar(int dev, float *out, const float *x, int64_t n, int op, float s, float beta);
int mtk_cuda_fill_beta(int dev, float *out, int64_t n, float v, float beta);
int mtk_cuda_make_loss_grad(int dev, float *out, int64_t n, float v, const float *thresh_x,
                            float thresh, float beta);

/* embedding.cu (kernels/cpu/embedding.h): Embedding's row gather and its
 * weight gradient, the CPU's bits (each row's sum in the order of the
 * indices, no float atomics). */
int mtk_cuda_embedding_forward(int dev, float *out, const float *idx, const float *weight,
                               int64_t n, int64_t V, int64_t D);
int mtk_cuda_embedding_backward(int dev, float *dweight, const float *dy, const float *idx,
                                int64_t n, int64_t V, int64_t D, float beta);

#ifdef __cplusplus
}
#endif
#endif
