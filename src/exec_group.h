/* exec_group.h — MXNet's DataParallelExecutorGroup: one executor per
 * context, each on its slice of the batch, with its own parameters,
 * gradients (one flat buffer per context) and aux states. */
#ifndef MT_SRC_EXEC_GROUP_H
#define MT_SRC_EXEC_GROUP_H
#include "modtrain.h"
#include "ndarray.h"

typedef struct {
  mt_context ctx;
  int64_t begin, end; /* rows [begin, end) of the batch */
  mt_executor *exec;
  mt_arena *params;               /* param_names on ctx */
  mt_arena *grads;                /* gradients of params, one flat buffer (NULL: not training) */
  mt_arena *aux;                  /* aux_names on ctx */
  mt_ndarray **inputs;            /* ninputs arrays (data then labels) of the slice */
  mt_ndarray **input_grads;       /* data gradients when inputs_need_grad, else NULL entries */
  struct mtk_cuda_stream *stream; /* the executor's CUDA stream, kept across rebinds (or NULL) */
  struct mt_mem_pool *pool;       /* the shared intermediate memory (pooled groups), or NULL */
} mt_exec_slot;

typedef struct {
  int nslots;
  mt_exec_slot *slots;
  int64_t batch_size;
  int ninputs, ndata; /* inputs: data names then label names bound in the symbol */
  const char *const *input_names;
  int nparam, naux;
  const char *const *param_names, *const *aux_names;
  int streams;       /* some slot's executor runs on a CUDA stream of its own */
  int stream_choice; /* decided at the first bind: 1 streams, -1 none (0: not yet) */
  /* BucketingModule (docs/design.md §2): a pooled group keeps each slot's
   * intermediate buffers in a shared pool (executor.h); a borrowing group
   * uses another group's parameters, gradients, aux states and pools, and
   * may leave some of those parameters out of its symbol (param_unused). */
  int pooled, borrowed;
  unsigned char *param_unused; /* borrowed: 1 for a parameter the symbol does not use */
} mt_exec_group;

/* MXNet's _split_input_slice with equal work loads: per context
 * round(batch / n) rows (Python rounding), the last takes the remainder. */
int mt_split_batch(int64_t batch, int n, int64_t *begin, int64_t *end);

/* Binds (or rebinds for new input shapes, keeping parameters, gradients and
 * aux states). input_shapes: whole-batch shapes of the inputs; label shapes
 * may be unknown (ndim 0) and are then inferred. */
int mt_exec_group_bind(mt_exec_group *g, mt_symbol *sym, int nctx, const mt_context *ctxs,
                       int ninputs, int ndata, const char *const *input_names,
                       const mt_shape *input_shapes, int nparam, const char *const *param_names,
                       int naux, const char *const *aux_names, int for_training,
                       int inputs_need_grad, mt_grad_req grad_req);
void mt_exec_group_free(mt_exec_group *g);
/* Before the first bind of g: g will borrow from's parameters, gradients,
 * aux states and intermediate memory pools (from must be bound and pooled,
 * and outlive g). The names given at bind must then be from's parameter and
 * aux names; a parameter the symbol does not use is left out of its
 * executors (param_unused), and an aux state of the symbol missing from
 * from is MT_E_INVAL naming it. */
int mt_exec_group_borrow(mt_exec_group *g, const mt_exec_group *from);
/* Intermediate memory of the group's executors in bytes (pools counted
 * once each, as large as they are now). */
int64_t mt_exec_group_pool_bytes(const mt_exec_group *g);
/* Waits for the GPU work queued on the slots' own streams (executor.h);
 * nothing to wait for when g->streams is 0. Anything that reads or writes a
 * slot's arrays outside its executor calls this first: the Module does at
 * the end of forward and backward, and before a bucket's reduction starts
 * during backward. */
int mt_exec_group_wait(const mt_exec_group *g);

#endif
