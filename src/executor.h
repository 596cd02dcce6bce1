/* executor.h — internal executor hooks used by the module. */
#ifndef MT_SRC_EXECUTOR_H
#define MT_SRC_EXECUTOR_H
#include "modtrain.h"

/* Called during backward as soon as the gradient of argument `arg` (index
 * in list_arguments order) is final: after the last node that writes it,
 * which lets gradient buckets start reducing while backward goes on. */
typedef int (*mt_grad_ready_fn)(void *user, int arg);
void mt_executor_set_grad_hook(mt_executor *ex, mt_grad_ready_fn fn, void *user);

/* FullyConnected + Activation pairs this executor runs fused (executor.c). */
int mt_executor_num_fused(const mt_executor *ex);

/* A CUDA stream for the executor (base/cuda/stream.cu), owned by the
 * caller, who keeps it alive as long as the executor (the executor group
 * keeps one per slot across rebinds). Without one (the default, and always
 * on a CPU) the executor's GPU work goes on the device's legacy default
 * stream. With one, forward and backward queue their kernels, cuBLAS calls
 * and copies on it and return without waiting for it; so do the caller's
 * copies between mt_executor_stream_enter and mt_executor_stream_leave. The
 * grad hook runs with the stream not current; mt_executor_free waits for
 * the stream. The module gives each executor of a group with several GPU
 * contexts a stream, and waits for them (mt_executor_wait) before anything
 * else reads what they wrote. s NULL: back to the legacy stream. */
struct mtk_cuda_stream;
int mt_executor_set_stream(mt_executor *ex, struct mtk_cuda_stream *s);
int mt_executor_has_stream(const mt_executor *ex);
/* Makes the executor's stream current on this thread; returns the old
 * current stream for mt_executor_stream_leave (NULL without CUDA). */
void *mt_executor_stream_enter(const mt_executor *ex);
void mt_executor_stream_leave(void *prev);
/* Blocks until the executor's queued GPU work is done (no stream: nothing). */
int mt_executor_wait(const mt_executor *ex);

#endif
