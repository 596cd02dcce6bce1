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

/* A pool of intermediate memory shared by executors of which one runs at a
 * time (MXNet's shared data pool; the BucketingModule's buckets on one
 * context): as large as the largest plan bound to it, grown when a larger
 * one is bound (executors on it re-point their views before their next
 * forward, backward or output read). Reference counted: each executor
 * bound on it holds a reference; release drops the creator's. */
typedef struct mt_mem_pool mt_mem_pool;
int mt_mem_pool_create(mt_context ctx, mt_mem_pool **out);
mt_mem_pool *mt_mem_pool_ref(mt_mem_pool *p);
void mt_mem_pool_release(mt_mem_pool *p);
int64_t mt_mem_pool_bytes(const mt_mem_pool *p);
/* mt_executor_bind with the intermediate buffers in pool (NULL: a pool of
 * the executor's own, as mt_executor_bind). */
int mt_executor_bind_pooled(mt_symbol *sym, mt_context ctx, int nargs, mt_ndarray *const *args,
                            mt_ndarray *const *arg_grads, const mt_grad_req *reqs, int naux,
                            mt_ndarray *const *aux, mt_mem_pool *pool, mt_executor **out);
/* The shared pool the executor was bound on, or NULL. */
mt_mem_pool *mt_executor_pool(const mt_executor *ex);

#endif
