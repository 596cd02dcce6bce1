/* module.h — the mt_module structure, shared by module.c (the state
 * machine), module_dist.c (buckets, the ranks' agreement and the
 * node-shared update), fit.c (fit/score/predict), checkpoint.c and
 * params.c (saving and loading a module's parameters). */
#ifndef MT_SRC_MODULE_H
#define MT_SRC_MODULE_H
#include "exec_group.h"
#include "kvstore/kvstore.h"
#include "modtrain.h"

struct mt_module {
  mt_symbol *sym;
  int ndata, nlabel; /* label names found in the symbol's arguments */
  char **data_names, **label_names;
  int ninputs;
  char **input_names; /* data names then (bound) label names */
  int nout;
  char **output_names;
  int nparam, naux;
  char **param_names, **aux_names;
  int nctx;
  mt_context *ctxs;
  int binded, for_training, inputs_need_grad, params_initialized, optimizer_initialized;
  mt_grad_req grad_req;
  mt_data_desc *data_shapes, *label_shapes, *output_shapes;
  mt_exec_group group;
  mt_arena *arg_params, *aux_params; /* CPU copies (MXNet's _arg_params) */
  int params_dirty;                  /* devices hold newer values than the CPU copies */
  mt_optimizer *opt;
  mt_kvstore *kv;
  mt_ndarray **merged_out, **merged_igrad;
  int merged_valid;
  uint64_t seed, step;
  /* gradient buckets over the flat gradient buffer, in reverse parameter order */
  int64_t bucket_bytes;
  int nbuckets;
  struct mt_bucket {
    int first, last;  /* parameter index range */
    int64_t off, len; /* element range in the flat gradient buffer */
    int pending;      /* parameters not yet final in this backward */
  } * buckets;
  int *param_bucket; /* parameter -> bucket */
  int *arg_to_param; /* executor argument -> parameter, or -1 */
  unsigned char *param_done;
  int reduce_in_flight; /* buckets were started during backward */
  int buckets_started;
  /* the node-shared update (module_dist.c): context 0's parameters and the
   * optimizer state live in memory the node's ranks share, and each rank
   * updates the slice of them whose gradient it sums */
  int shared_update;
  int in_forward_backward; /* backward runs inside forward_backward: update follows */
  int handed_over;         /* backward gave the gradients to the other ranks; update next */
};

/* Index of `name` in names[0..n), or -1. */
int mt_module_find_name(char *const *names, int n, const char *name);
/* Copies device parameters to the CPU copies when they are stale. */
int mt_module_sync_params(mt_module *mod);

/* module_dist.c: data parallel training's part of the Module. */
/* Buckets of at most bucket_bytes over the flat gradient buffer, filled from
 * the last parameter backwards (the order backward produces gradients). */
int mt_module_build_buckets(mt_module *m);
/* Collective, at init_optimizer with an MPI kvstore: the ranks agree on the
 * parameters and bucket layout, take rank 0's parameters, and move into
 * the node's shared memory where they can (the node-shared update). */
int mt_module_dist_setup(mt_module *m);
int mt_module_start_bucket(mt_module *m, int k);
/* Executor hooks, a parameter's gradient final: start its bucket once the
 * bucket is complete (grad_ready); hand it to the other ranks under the
 * node-shared update (grad_handover). */
int mt_module_grad_ready(void *user, int arg);
int mt_module_grad_handover(void *user, int arg);
/* MT_E_STATE naming `what` when forward_backward handed gradients over and
 * update has not run yet. */
int mt_module_check_not_handed_over(const mt_module *m, const char *what);
/* Not collective: parameters and optimizer state back to this rank's own
 * memory (before the kvstore goes, or a rebind). */
int mt_module_share_undo(mt_module *m);
/* update() under the node-shared update. */
int mt_module_shared_update(mt_module *m);

#endif
