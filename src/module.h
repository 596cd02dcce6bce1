/* module.h — the module interface (a table of function slots every module
 * kind fills: Module, SequentialModule, custom modules) and the mt_module
 * structure. module_iface.c dispatches the public mt_module_* calls through
 * the table; module.c (the Module's state machine), module_dist.c (buckets,
 * the ranks' agreement and the node-shared update), sequential_module.c and
 * custom_module.c implement kinds; fit.c (fit/score/predict) and
 * checkpoint.c use only the interface (docs/design.md §2). */
#ifndef MT_SRC_MODULE_H
#define MT_SRC_MODULE_H
#include "exec_group.h"
#include "kvstore/kvstore.h"
#include "modtrain.h"

/* One optimizer and the parameters it updates (checkpoints save and restore
 * optimizer states by these names; the lr scheduler goes to every one). */
typedef struct {
  mt_optimizer *opt;
  int nparam;
  char *const *names;
  const mt_arena *weights; /* the arrays the optimizer updates (context 0's) */
} mt_module_opt_group;

#define MT_MODULE_MAX_OPT_GROUPS 64

/* The slots of a module kind. Every slot but `buckets` is filled (module_iface.c checks
 * the module's state flags only where all kinds share the rule). */
typedef struct mt_module_vt {
  const char *kind; /* "Module", "SequentialModule", "CustomModule", "BucketingModule" */
  void (*destroy)(mt_module *m); /* the kind's own state; the interface frees m */
  int (*bind)(mt_module *m, int ndata, const mt_data_desc *data_shapes, int nlabel,
              const mt_data_desc *label_shapes, int for_training, int inputs_need_grad,
              int force_rebind, mt_grad_req grad_req);
  int (*reshape)(mt_module *m, int ndata, const mt_data_desc *data_shapes, int nlabel,
                 const mt_data_desc *label_shapes);
  int (*init_params)(mt_module *m, const mt_initializer *init, const mt_arena *arg_params,
                     const mt_arena *aux_params, int allow_missing, int force_init,
                     int allow_extra);
  int (*get_params)(mt_module *m, const mt_arena **arg_params, const mt_arena **aux_params);
  int (*init_optimizer)(mt_module *m, const char *kvstore, const char *optimizer,
                        const char *optimizer_params, int force_init);
  int (*forward)(mt_module *m, const mt_batch *batch, int is_train);
  int (*backward)(mt_module *m, int nout_grads, mt_ndarray *const *out_grads);
  int (*forward_backward)(mt_module *m, const mt_batch *batch);
  int (*update)(mt_module *m);
  int (*update_metric)(mt_module *m, mt_metric *metric, int nlabel, mt_ndarray *const *labels);
  int (*get_outputs)(mt_module *m, int *n, mt_ndarray *const **outputs);
  int (*get_input_grads)(mt_module *m, int *n, mt_ndarray *const **grads);
  /* which: 0 data, 1 label, 2 output */
  int (*names)(const mt_module *m, int which, int *n, const char *const **names);
  int (*shapes)(const mt_module *m, int which, int *n, const mt_data_desc **descs);
  mt_symbol *(*symbol)(const mt_module *m); /* NULL: the kind has no one symbol */
  /* what fit and checkpoints need besides the calls above */
  mt_kvstore *(*kvstore)(const mt_module *m); /* the one fit's collectives use; NULL before
                                                 init_optimizer */
  /* Fills up to max groups; returns how many (after init_optimizer). */
  int (*opt_groups)(mt_module *m, int max, mt_module_opt_group *out);
  void (*get_rng)(const mt_module *m, uint64_t *seed, uint64_t *step);
  void (*set_rng)(mt_module *m, uint64_t seed, uint64_t step);
  int (*set_bucket_bytes)(mt_module *m, int64_t bytes);
  int (*num_contexts)(const mt_module *m); /* the most contexts of any Module inside */
  /* Optional (NULL: no buckets): a BucketingModule's default key and up to
   * max (key, symbol) pairs, the default bucket first; returns how many
   * buckets there are (checkpoints write a symbol per bucket, §6). */
  int (*buckets)(const mt_module *m, int *default_key, int max, int *keys, mt_symbol **syms);
} mt_module_vt;

/* Every module kind: vt, impl (the kind's own state) and the state flags
 * (binded ... optimizer_initialized) that the public property calls read.
 * The fields after them are the Module's (module.c); other kinds leave
 * them zero. */
struct mt_module {
  const mt_module_vt *vt;
  void *impl;
  mt_module *parent; /* the SequentialModule holding it, or NULL */
  int binded, for_training, inputs_need_grad, params_initialized, optimizer_initialized;
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
  /* BucketingModule (bucketing_module.c, docs/design.md §2): the default
   * bucket's Module is pooled (its executors' intermediate memory is a
   * shared pool); another bucket's Module has owner = the default's and
   * borrows its parameters, gradients, aux states, CPU copies, pools,
   * optimizer and kvstore (never freeing them). Both start gradient buckets
   * strictly in index order (next_bucket), so ranks running different
   * buckets' symbols start the same reductions in the same order. */
  int pooled, buckets_in_order, next_bucket;
  mt_module *owner;
};

/* A new module of kind vt (zeroed, flags clear) holding impl. */
int mt_module_new(const mt_module_vt *vt, void *impl, mt_module **out);
/* The kvstore fit's collectives use (rank, world size, metric sums, the stop
 * agreement), or NULL before init_optimizer. */
mt_kvstore *mt_module_kvstore(const mt_module *m);
/* The optimizer groups of m (0 before init_optimizer). */
int mt_module_opt_groups(mt_module *m, int max, mt_module_opt_group *out);
void mt_module_get_rng(const mt_module *m, uint64_t *seed, uint64_t *step);
void mt_module_set_rng(mt_module *m, uint64_t seed, uint64_t step);
int mt_module_num_contexts(const mt_module *m);
/* The buckets of m (0 and nothing filled for a kind without them). */
int mt_module_buckets(const mt_module *m, int *default_key, int max, int *keys, mt_symbol **syms);
/* "SequentialModule" etc. */
const char *mt_module_kind(const mt_module *m);

/* BucketingModule support (module.c). Before m's first bind: its executors'
 * intermediate memory goes to shared pools, and gradient buckets start in
 * index order. */
int mt_module_set_pooled(mt_module *m);
/* Binds m (a new Module, never bound) against owner (a bound, pooled
 * Module): m's parameter and aux names become owner's (a parameter of m's
 * symbol that owner lacks is MT_E_INVAL naming it), and m uses owner's
 * parameters, gradients, aux states, CPU copies and pools; its state flags
 * follow owner's, and with owner's optimizer installed m borrows it
 * (mt_module_borrow_optimizer). Owner must outlive m. */
int mt_module_bind_shared(mt_module *m, mt_module *owner, int ndata,
                          const mt_data_desc *data_shapes, int nlabel,
                          const mt_data_desc *label_shapes, int for_training, int inputs_need_grad,
                          mt_grad_req grad_req);
/* m uses its owner's optimizer and kvstore (after the owner's
 * init_optimizer): the same gradient bucket layout, the owner's state
 * flags. */
int mt_module_borrow_optimizer(mt_module *m);
/* Bytes of m's intermediate memory (shared pools counted once). */
int64_t mt_module_pool_bytes(const mt_module *m);

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
