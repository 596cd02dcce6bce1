/*
 * modtrain.h — the one public header of modtrain: MXNet's Module programming
 * model in C (symbol -> bind -> init_params -> init_optimizer ->
 * forward/backward/update), scaled out with MPI.
 *
 * Conventions
 *  - Every fallible function returns int: 0 (MT_OK) or a negative MT_E_* code,
 *    and records a message for mt_last_error() (thread-local).
 *  - Handles are opaque; every *_create / *_load has a matching *_free that
 *    accepts NULL.
 *  - Arrays are float32, row-major, up to MT_MAX_DIM dimensions; axis 0 is the
 *    batch axis.
 */
#ifndef MODTRAIN_H
#define MODTRAIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MT_BUILDING_LIB)
#define MT_API __attribute__((visibility("default")))
#else
#define MT_API
#endif

/* ------------------------------------------------------------------ errors */

enum {
  MT_OK = 0,
  MT_E_INVAL = -1,        /* bad argument or attribute value */
  MT_E_STATE = -2,        /* call out of order (e.g. forward before bind) */
  MT_E_SHAPE = -3,        /* shape mismatch or shape that cannot be inferred */
  MT_E_NOMEM = -4,        /* allocation failed */
  MT_E_IO = -5,           /* file system error */
  MT_E_FORMAT = -6,       /* malformed file, JSON or config */
  MT_E_NOTFOUND = -7,     /* unknown name (op, argument, key) */
  MT_E_MPI = -8,          /* MPI call failed */
  MT_E_CUDA = -9,         /* CUDA or cuBLAS call failed */
  MT_E_NCCL = -10,        /* NCCL call failed */
  MT_E_HDF5 = -11,        /* HDF5 call failed */
  MT_E_NUMERIC = -12,     /* NaN or Inf in loss or gradient */
  MT_E_UNSUPPORTED = -13, /* feature not built in (e.g. GPU without CUDA) */
  MT_E_INTERRUPTED = -14  /* stopped on request (SIGUSR1/SIGTERM); checkpoint written */
};

/* The message of the last failed call on this thread ("" if none). */
MT_API const char *mt_last_error(void);
/* A short name for an MT_E_* code. */
MT_API const char *mt_strerror(int code);
/* Records an error message (printf format) and returns `code`. Used by the
 * library and by user callbacks (custom modules, iterators). */
MT_API int mt_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends "; context" to the current message (for call chains), returns code. */
MT_API int mt_error_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
MT_API void mt_error_clear(void);

MT_API const char *mt_version(void);

/* ----------------------------------------------------------------- logging */

typedef enum { MT_LOG_ERROR = 0, MT_LOG_WARN = 1, MT_LOG_INFO = 2, MT_LOG_DEBUG = 3 } mt_log_level;

/* Level from MODTRAIN_LOG=error|warn|info|debug (default info). Messages go
 * to stderr as "[modtrain LEVEL subsystem] text"; info lines of the training
 * log (docs/design.md §8) are printed without prefix by the callers that own them. */
MT_API void mt_log(mt_log_level level, const char *subsystem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
MT_API mt_log_level mt_log_get_level(void);
/* The training log (docs/design.md §8: "Epoch[0] Train-accuracy=...", Speedometer
 * lines, "Saved checkpoint to ..."): printed to stdout, one flushed line per
 * call, by rank 0 only (mt_log_set_rank; default rank 0). */
MT_API void mt_log_train(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
MT_API void mt_log_set_rank(int rank);
MT_API int mt_log_rank(void);
MT_API void mt_log_set_level(mt_log_level level);

/* ------------------------------------------------------- contexts, shapes */

typedef enum { MT_CPU = 1, MT_GPU = 2 } mt_devtype;
typedef struct {
  mt_devtype type;
  int id;
} mt_context;

static inline mt_context mt_cpu(int id) {
  mt_context c = {MT_CPU, id};
  return c;
}
static inline mt_context mt_gpu(int id) {
  mt_context c = {MT_GPU, id};
  return c;
}

#define MT_MAX_DIM 6
typedef struct {
  int ndim; /* 0 = unknown */
  int64_t dim[MT_MAX_DIM];
} mt_shape;

/* mt_shape_make(2, 32, 128) -> (32, 128); the dims are passed as int.
 * MT_SHAPE(32, 128) builds the same as a compound literal. */
MT_API mt_shape mt_shape_make(int ndim, ...);
#define MT_NARGS_(a, b, c, d, e, f, n, ...) n
#define MT_NARGS(...) MT_NARGS_(__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0)
#define MT_SHAPE(...) ((mt_shape){.ndim = MT_NARGS(__VA_ARGS__), .dim = {__VA_ARGS__}})
/* Elements of s (0 for ndim 0); -1 for a negative dim, more than MT_MAX_DIM
 * dims or a product past INT64_MAX (never an overflow). An array holds at
 * most 2^31 - 1 elements (docs/design.md §2). */
MT_API int64_t mt_shape_size(const mt_shape *s);
MT_API int mt_shape_equal(const mt_shape *a, const mt_shape *b);
/* Writes "(32, 128)" into buf; returns buf. */
MT_API char *mt_shape_str(const mt_shape *s, char *buf, size_t len);

/* ----------------------------------------------------------------- ndarray */

typedef struct mt_ndarray mt_ndarray;

/* A new zero-filled array owning its storage. */
MT_API int mt_ndarray_create(mt_shape shape, mt_context ctx, mt_ndarray **out);
/* A view of rows [begin, end) of axis 0; shares storage with `src`, which
 * must outlive it. Free the view with mt_ndarray_free (storage untouched). */
MT_API int mt_ndarray_slice(const mt_ndarray *src, int64_t begin, int64_t end, mt_ndarray **out);
/* A view with another shape of the same size. */
MT_API int mt_ndarray_reshape(const mt_ndarray *src, mt_shape shape, mt_ndarray **out);
MT_API void mt_ndarray_free(mt_ndarray *a);

MT_API mt_shape mt_ndarray_shape(const mt_ndarray *a);
MT_API int64_t mt_ndarray_size(const mt_ndarray *a);
MT_API mt_context mt_ndarray_context(const mt_ndarray *a);
/* Host pointer to the elements (CPU arrays only; NULL for GPU arrays). */
MT_API float *mt_ndarray_data(const mt_ndarray *a);

MT_API int mt_ndarray_fill(mt_ndarray *a, float value);
/* Copies n = size elements between host memory and the array. */
MT_API int mt_ndarray_copy_from(mt_ndarray *dst, const float *src, int64_t n);
MT_API int mt_ndarray_copy_to(const mt_ndarray *src, float *dst, int64_t n);
/* Same size required; devices may differ. */
MT_API int mt_ndarray_copy(mt_ndarray *dst, const mt_ndarray *src);

/* An arena: one allocation holding a group of named tensors (parameters,
 * gradients, optimizer state), each view aligned to 64 bytes, the padding
 * zero. The flat buffer is what kvstore buckets reduce. */
typedef struct mt_arena mt_arena;
MT_API int mt_arena_create(mt_context ctx, int n, const char *const *names, const mt_shape *shapes,
                           mt_arena **out);
MT_API void mt_arena_free(mt_arena *a);
MT_API int mt_arena_count(const mt_arena *a);
MT_API mt_ndarray *mt_arena_at(const mt_arena *a, int i);
MT_API const char *mt_arena_name(const mt_arena *a, int i);
/* NULL if no tensor has that name. */
MT_API mt_ndarray *mt_arena_get(const mt_arena *a, const char *name);
/* The whole flat buffer (elements, padding included) and its length. */
MT_API float *mt_arena_data(const mt_arena *a);
MT_API int64_t mt_arena_size(const mt_arena *a);
/* Element offset of tensor i inside the flat buffer. */
MT_API int64_t mt_arena_offset(const mt_arena *a, int i);

/* ------------------------------------------------------------------ symbol */

typedef struct mt_symbol mt_symbol;

/* A free variable (mx.sym.Variable). */
MT_API int mt_symbol_variable(const char *name, mt_symbol **out);
/* An operator node, as mx.sym.<op>(inputs..., name=..., **attrs).
 * attrs: "key=value key2=value2" (MXNet's attribute strings; NULL = none).
 * inputs: ninputs symbols in the op's argument order (data, weight, bias, ...);
 * missing or NULL inputs become variables named "<name>_<argument>"
 * (fc1_weight, softmax_label), as in MXNet. A NULL or empty name is
 * auto-made from the op name ("fullyconnected0"). The new symbol holds
 * references; the inputs may be freed afterwards. */
MT_API int mt_symbol_create(const char *op, const char *name, const char *attrs, int ninputs,
                            mt_symbol *const *inputs, mt_symbol **out);
/* The symbol grouping all outputs of the given symbols (mx.sym.Group). */
MT_API int mt_symbol_group(int n, mt_symbol *const *syms, mt_symbol **out);
MT_API int mt_symbol_copy(const mt_symbol *sym, mt_symbol **out);
MT_API void mt_symbol_free(mt_symbol *sym);

/* Name lists are owned by the symbol and valid until it is freed. */
MT_API int mt_symbol_list_arguments(mt_symbol *sym, int *n, const char *const **names);
MT_API int mt_symbol_list_outputs(mt_symbol *sym, int *n, const char *const **names);
MT_API int mt_symbol_list_auxiliary_states(mt_symbol *sym, int *n, const char *const **names);
/* Given shapes of some arguments (by name), infers all. The out arrays are
 * caller-allocated with the lengths of the three lists above. */
MT_API int mt_symbol_infer_shape(mt_symbol *sym, int nknown, const char *const *names,
                                 const mt_shape *shapes, mt_shape *arg_shapes, mt_shape *out_shapes,
                                 mt_shape *aux_shapes);

/* MXNet symbol JSON. tojson returns a malloc'd string (caller frees). */
MT_API int mt_symbol_tojson(const mt_symbol *sym, char **json);
MT_API int mt_symbol_load_json(const char *json, mt_symbol **out);
MT_API int mt_symbol_save(const mt_symbol *sym, const char *path);
MT_API int mt_symbol_load(const char *path, mt_symbol **out);

/* ---------------------------------------------------------------- executor */

typedef enum { MT_REQ_NULL = 0, MT_REQ_WRITE = 1, MT_REQ_ADD = 2 } mt_grad_req;

typedef struct mt_executor mt_executor;

/* Binds with arrays given by the caller, in list_arguments / list_aux order.
 * arg_grads may be NULL (no gradients) or hold NULL entries; reqs may be NULL
 * (MT_REQ_WRITE wherever a gradient array is given). The executor keeps
 * pointers to the arrays; they must outlive it. */
MT_API int mt_executor_bind(mt_symbol *sym, mt_context ctx, int nargs, mt_ndarray *const *args,
                            mt_ndarray *const *arg_grads, const mt_grad_req *reqs, int naux,
                            mt_ndarray *const *aux, mt_executor **out);
/* Allocates everything from the given input shapes: arguments in one arena,
 * gradients in one flat arena (req for every argument not named in
 * `known` names; inputs named in `known` get MT_REQ_NULL unless
 * `inputs_need_grad`), aux states in one arena. */
MT_API int mt_executor_simple_bind(mt_symbol *sym, mt_context ctx, mt_grad_req req, int nknown,
                                   const char *const *names, const mt_shape *shapes,
                                   int inputs_need_grad, mt_executor **out);
MT_API void mt_executor_free(mt_executor *ex);

MT_API int mt_executor_forward(mt_executor *ex, int is_train);
/* out_grads: one per visible output, or NULL when every head is a loss
 * (SoftmaxOutput, *RegressionOutput) whose gradient is implicit. */
MT_API int mt_executor_backward(mt_executor *ex, int nout_grads, mt_ndarray *const *out_grads);

MT_API int mt_executor_num_outputs(const mt_executor *ex);
MT_API mt_ndarray *mt_executor_output(const mt_executor *ex, int i);
/* By name; NULL if unknown (or no gradient for that argument). */
MT_API mt_ndarray *mt_executor_arg(const mt_executor *ex, const char *name);
MT_API mt_ndarray *mt_executor_grad(const mt_executor *ex, const char *name);
MT_API mt_ndarray *mt_executor_aux(const mt_executor *ex, const char *name);
/* Seed and step for random ops (Dropout): keyed by (seed, node, step, sample). */
MT_API void mt_executor_set_rng(mt_executor *ex, uint64_t seed, uint64_t step,
                                int64_t sample_offset);
/* Bytes of intermediate storage after memory planning, and without it. */
MT_API int64_t mt_executor_planned_bytes(const mt_executor *ex, int64_t *unplanned_bytes);

/* -------------------------------------------------------------- optimizer */
/* (section: optimizer and lr schedulers) */

/* Learning-rate schedulers (mx.lr_scheduler, MXNet 1.x). A scheduler maps
 * num_update (the optimizer's max per-parameter update count) to a rate. */
typedef struct mt_lr_scheduler mt_lr_scheduler;

/* spec: the kind, then key=value pairs, as a config line:
 *   "factor step=1000 factor=0.9 stop_factor_lr=1e-8"   FactorScheduler
 *   "multifactor step=100,200 factor=0.1"               MultiFactorScheduler
 *   "poly max_update=1000 pwr=2 final_lr=0"             PolyScheduler
 *   "cosine max_update=1000 final_lr=0"                 CosineScheduler
 * each also taking warmup_steps=N warmup_begin_lr=X warmup_mode=linear|constant.
 * The kind is case-insensitive and may be MXNet's class name
 * ("FactorScheduler"). base_lr is the constructor's base_lr. Defaults and
 * checks are MXNet's (step >= 1, factor <= 1, increasing multifactor steps,
 * warmup_begin_lr <= base_lr, warmup_steps >= 0); in addition poly/cosine
 * require warmup_steps < max_update (MXNet divides by zero or misbehaves).
 * Unknown kinds or keys and bad values give MT_E_INVAL naming them. */
MT_API int mt_lr_scheduler_create(const char *spec, double base_lr, mt_lr_scheduler **out);
MT_API void mt_lr_scheduler_free(mt_lr_scheduler *s);
/* The rate at num_update (MXNet's __call__). Stateful as in MXNet: factor and
 * multifactor decay their base_lr as num_update passes each step (a while
 * loop, so a fresh scheduler asked at N after a resume gives bit-for-bit the
 * rate of an uninterrupted run). Warmup (num_update < warmup_steps) returns
 * warmup_begin_lr + (base_lr_at_creation - warmup_begin_lr) * n / warmup_steps
 * (linear) or warmup_begin_lr (constant). Poly/cosine past max_update keep
 * the rate at max_update (MXNet keeps its last computed value; the same in
 * an uninterrupted run, and also right after a resume). */
MT_API double mt_lr_scheduler_lr(mt_lr_scheduler *s, int64_t num_update);
/* The current base_lr (MXNet's scheduler.base_lr). */
MT_API double mt_lr_scheduler_base_lr(const mt_lr_scheduler *s);

/* Optimizers (mx.optimizer, MXNet 1.x update rules and kernels, float32).
 * Parameters are known by index (MXNet's updater index) and name; state is
 * created on a parameter's first update (MXNet's create_state). */
typedef struct mt_optimizer mt_optimizer;

/* name: sgd | nag | adam | rmsprop | adagrad (case-insensitive, as
 * mx.optimizer.create). params: "key=value ..." (NULL or "" = defaults) with
 * exactly MXNet's keyword arguments for that optimizer:
 *   all:     learning_rate (0.01; adam, rmsprop: 0.001), wd (0), rescale_grad (1),
 *            clip_gradient (None), begin_num_update (0, at most
 *            MT_MAX_NUM_UPDATE), multi_precision (false; no effect on float32)
 *   sgd:     momentum (0), lazy_update (true; no effect on dense arrays)
 *   nag:     momentum (0)
 *   adam:    beta1 (0.9), beta2 (0.999), epsilon (1e-8), lazy_update (true)
 *   rmsprop: gamma1 (0.9), gamma2 (0.9), epsilon (1e-8), centered (false),
 *            clip_weights (None)
 *   adagrad: eps (1e-7)
 * "None" clears clip_gradient / clip_weights. Unknown names, unknown keys and
 * bad values give MT_E_INVAL naming the key. lr_scheduler is set with
 * mt_optimizer_set_lr_scheduler; per-parameter multipliers with
 * mt_optimizer_set_lr_mult / _wd_mult. */
MT_API int mt_optimizer_create(const char *name, const char *params, mt_optimizer **out);
/* The most updates an update count holds: 2^53, where a double (the lr
 * schedulers' and adam's arithmetic on the count) stops counting exactly.
 * begin_num_update and restored counts past it are MT_E_INVAL; an update
 * that would pass it is MT_E_INVAL (never a wrap). */
#define MT_MAX_NUM_UPDATE ((int64_t)1 << 53)
/* Frees the optimizer, its states and its scheduler. */
MT_API void mt_optimizer_free(mt_optimizer *opt);
/* The lower-case name given at creation ("sgd"). */
MT_API const char *mt_optimizer_name(const mt_optimizer *opt);

MT_API void mt_optimizer_set_rescale_grad(mt_optimizer *opt, double rescale_grad);
MT_API double mt_optimizer_rescale_grad(const mt_optimizer *opt);
/* Sets learning_rate; MT_E_STATE if a scheduler is installed (as MXNet's
 * set_learning_rate). */
MT_API int mt_optimizer_set_learning_rate(mt_optimizer *opt, double lr);
/* MXNet's optimizer.learning_rate: the scheduler's rate at num_update, or
 * learning_rate without a scheduler. */
MT_API double mt_optimizer_learning_rate(mt_optimizer *opt);
/* Installs `sched` (NULL removes), taking ownership (also on error) and
 * freeing the previous one. As MXNet's Optimizer.__init__, sets the
 * scheduler's base_lr to the optimizer's learning_rate; the warmup target and
 * poly/cosine start stay the base_lr given at scheduler creation, so create
 * it with base_lr = learning_rate. */
MT_API int mt_optimizer_set_lr_scheduler(mt_optimizer *opt, mt_lr_scheduler *sched);
/* Multipliers by parameter name (set_lr_mult / set_wd_mult, or the
 * __lr_mult__ / __wd_mult__ attributes of a variable). The default wd_mult
 * is 0 for names not ending in _weight or _gamma (MXNet's rule: biases, beta,
 * ... get no weight decay), 1 otherwise and for unnamed parameters. */
MT_API int mt_optimizer_set_lr_mult(mt_optimizer *opt, const char *name, double mult);
MT_API int mt_optimizer_set_wd_mult(mt_optimizer *opt, const char *name, double mult);

/* One update of parameter `index` (>= 0) in place: weight -= f(grad, state).
 * Counts the update (index's count starts at begin_num_update; num_update =
 * max over indices), takes lr = scheduler(num_update) or learning_rate times
 * lr_mult, wd = wd * wd_mult, then applies MXNet's kernel (sgd: multi_sgd
 * [_mom]_update; nag: nag_mom_update, or sgd_update without momentum; adam:
 * adam_update with lr * sqrt(1 - beta2^t) / (1 - beta1^t), t = the index's
 * count; rmsprop: rmsprop_update or rmspropalex_update when centered;
 * adagrad: MXNet's dense NDArray sequence). `name` (may be NULL) is bound to
 * the index on its first use; a later different name is MT_E_INVAL. The
 * state is allocated on first use, nothing after. weight and grad: same
 * size, on the same device: CPU, or one GPU in a CUDA build (the state is
 * made there; a state made on another device is MT_E_INVAL). Without CUDA,
 * GPU arrays are MT_E_UNSUPPORTED. */
MT_API int mt_optimizer_update(mt_optimizer *opt, int index, const char *name, mt_ndarray *weight,
                               const mt_ndarray *grad);
/* Creates the zero state of `index` shaped like `weight` if it has none
 * (MXNet's create_state), without updating: used before restoring states. */
MT_API int mt_optimizer_create_state(mt_optimizer *opt, int index, const char *name,
                                     const mt_ndarray *weight);

/* Checkpoint access. num_states: how many state arrays each parameter has
 * (sgd/nag: 1 "momentum" when momentum != 0, else 0; adam: "mean", "var";
 * rmsprop: "n", or "n", "g", "delta" when centered; adagrad: "history"). */
MT_API int mt_optimizer_num_states(const mt_optimizer *opt, int index);
/* State k of `index`: its name and the array (owned by the optimizer, valid
 * until it is freed; write into it to restore). MT_E_STATE if the index has
 * no state yet (see mt_optimizer_create_state). */
MT_API int mt_optimizer_state(const mt_optimizer *opt, int index, int k, const char **state_name,
                              mt_ndarray **state);
/* One past the highest index seen (by update, create_state or
 * set_update_count), and the name bound to an index (NULL if none). */
MT_API int mt_optimizer_index_bound(const mt_optimizer *opt);
MT_API const char *mt_optimizer_index_name(const mt_optimizer *opt, int index);
/* The update count of `index` (begin_num_update if never updated). Setting
 * it (0 to MT_MAX_NUM_UPDATE, else MT_E_INVAL) also raises num_update to at
 * least `count`; restoring every index's
 * count and states into a fresh optimizer continues bit-for-bit. */
MT_API int mt_optimizer_get_update_count(const mt_optimizer *opt, int index, int64_t *count);
MT_API int mt_optimizer_set_update_count(mt_optimizer *opt, int index, int64_t count);
MT_API int64_t mt_optimizer_num_update(const mt_optimizer *opt);

/* ------------------------------------------------------------ initializer */
/* (section: initializers) */

/* mx.init.*: how a parameter's first values are drawn. */
typedef struct mt_initializer mt_initializer;

/* spec is a config line: a name, then key=value pairs with MXNet's defaults:
 *   xavier [rnd_type=uniform|gaussian] [factor_type=avg|in|out] [magnitude=3]
 *   uniform [scale=0.07]          U(-scale, scale)
 *   normal [sigma=0.01]           N(0, sigma^2)
 *   constant value=V              (value required)
 *   zero | zeros, one | ones
 *   msra_prelu | msraprelu [factor_type=avg] [slope=0.25]
 *                                 xavier gaussian, magnitude 2/(1+slope^2)
 *   lstmbias [forget_bias=1]      zeros, rows [H, 2H) of shape[0] = 4H
 *                                 forget_bias (LSTM gates i, f, c, o)
 * Names are case-insensitive. An unknown name or key, or a bad value, is
 * MT_E_INVAL naming it. Random values come from Philox keyed by
 * (seed, hash of the parameter name), element i from counter i (docs/design.md §5):
 * the same seed gives the same parameters in any process, for any number of
 * ranks or contexts, in any order of initialisation. The caller frees *out. */
MT_API int mt_initializer_create(const char *spec, uint64_t seed, mt_initializer **out);
/* Fills arr (CPU or GPU) by MXNet's dispatch on the name's suffix:
 * ...weight -> the initializer's rule; ...bias, ...beta, ...moving_mean,
 * ...moving_inv_var, ...moving_avg -> 0; ...gamma, ...moving_var -> 1.
 * Another name is MT_E_INVAL ("Unknown initialization pattern for <name>").
 * xavier/msra_prelu need a weight of at least 2 dims (MT_E_SHAPE otherwise):
 * fan_in = shape[1] * hw, fan_out = shape[0] * hw, hw = product of dims 2.. */
MT_API int mt_initializer_init(const mt_initializer *init, const char *name, mt_ndarray *arr);
/* mt_initializer_init for a variable with MXNet's __init__ attribute
 * (init_attr; NULL or "" = none): as Initializer.__call__, the attribute's
 * initializer replaces the suffix dispatch and init's rule. init_attr is
 * what Initializer.dumps() writes, e.g. '["lstmbias", {"forget_bias": 1.0}]'
 * (MXNet's LSTMCell puts it on its i2h_bias), or a spec as above. It draws
 * with init's seed. A malformed attribute is MT_E_FORMAT naming it. */
MT_API int mt_initializer_init_attr(const mt_initializer *init, const char *name,
                                    const char *init_attr, mt_ndarray *arr);
/* The spec with every default filled in ("xavier rnd_type=uniform
 * factor_type=avg magnitude=3"), owned by the initializer. */
MT_API const char *mt_initializer_str(const mt_initializer *init);
MT_API void mt_initializer_free(mt_initializer *init);

/* ----------------------------------------------------------------- metric */
/* (section: evaluation metrics) */

/* mx.metric.*: evaluation metrics accumulated over batches. A metric keeps
 * local sums (since reset or reset_local) and global sums (since reset), as
 * MXNet 1.x's EvalMetric does; Speedometer reads and resets the local ones,
 * the epoch summary reads the global ones. */
typedef struct mt_metric mt_metric;

/* spec: a metric name as MXNet's metric.create accepts it (case-insensitive),
 * optional key=value pairs after it, and a comma-separated list of such for a
 * composite ("acc,mse", "top_k_acc top_k=5, f1 average=micro").
 *   acc | accuracy [axis=1]                    name "accuracy"
 *   top_k_accuracy | top_k_acc | topkaccuracy top_k=N (N > 1)
 *                                              name "top_k_accuracy_N"
 *   mse, mae, rmse                             names "mse", "mae", "rmse"
 *   ce | cross-entropy | crossentropy [eps=1e-12]      name "cross-entropy"
 *   nll_loss | nll-loss | negativeloglikelihood [eps=1e-12]  name "nll-loss"
 *   f1 [average=macro|micro]                   name "f1"
 *   perplexity [ignore_label=none|INT] [axis=-1]  name "perplexity"
 * Every metric also takes name=NAME (the display name). Unknown names, keys
 * or bad values are MT_E_INVAL naming them. The caller frees *out. */
MT_API int mt_metric_create(const char *spec, mt_metric **out);
MT_API void mt_metric_free(mt_metric *m);
/* MXNet's update(labels, preds): n label arrays and n prediction arrays
 * (CPU or GPU), labels[i] paired with preds[i]. Accuracy takes the argmax of
 * preds along axis when the shapes differ; the regression metrics broadcast
 * as numpy does after making 1-d arrays (N, 1); ce/nll/perplexity pick the
 * label's probability. Mismatched shapes are MT_E_SHAPE naming both shapes;
 * a failed update leaves the sums unchanged. */
MT_API int mt_metric_update(mt_metric *m, int n, mt_ndarray *const *labels,
                            mt_ndarray *const *preds);
/* reset clears local and global sums; reset_local only the local ones. */
MT_API void mt_metric_reset(mt_metric *m);
MT_API void mt_metric_reset_local(mt_metric *m);
/* Number of (name, value) pairs: 1 for a metric, the children for a
 * composite. */
MT_API int mt_metric_num(const mt_metric *m);
/* Pair i of get() (local) or get_global(); NaN when nothing was counted.
 * name is owned by the metric. */
MT_API int mt_metric_get(const mt_metric *m, int i, const char **name, double *value);
MT_API int mt_metric_get_global(const mt_metric *m, int i, const char **name, double *value);
/* Distributed reduction: the metric's sums (local then global, for each
 * child: sum_metric/num_inst, or f1 micro's tp/fp/fn/tn) as a vector of
 * state_size doubles. The elementwise sum of the vectors of all ranks,
 * written back with state_set, makes get/get_global return the metric of
 * all ranks' data together. */
MT_API int mt_metric_state_size(const mt_metric *m);
MT_API int mt_metric_state_get(const mt_metric *m, double *buf);
MT_API int mt_metric_state_set(mt_metric *m, const double *buf);

/* ---------------------------------------------------------- data iterators */

/* Name and shape of one input as a whole batch ("data", (32, 128)).
 * float32, layout N first (MXNet's DataDesc with dtype float32, layout NC). */
typedef struct {
  char name[64];
  mt_shape shape;
} mt_data_desc;

#define MT_MAX_BATCH_INPUTS 8

/* One batch (MXNet's DataBatch). Arrays are owned by the iterator and valid
 * until its next call. `pad` = number of trailing samples that are padding
 * (the last batch with last_batch_handle=pad); `index` = sample indices of
 * the batch (batch_size entries) or NULL. */
typedef struct {
  int ndata, nlabel;
  mt_ndarray *data[MT_MAX_BATCH_INPUTS];
  mt_ndarray *label[MT_MAX_BATCH_INPUTS];
  int pad;
  const int64_t *index;
  /* The bucket key (BucketingModule): the sequence length of a bucketed
   * sentence iterator's batch; 0 for the other iterators. */
  int64_t bucket_key;
} mt_batch;

/* The iterator interface (a vtable): custom iterators implement it. */
typedef struct {
  /* 1 and fills *batch; 0 at the end of the epoch; < 0 error. */
  int (*next)(void *self, mt_batch *batch);
  int (*reset)(void *self);
  /* Descriptions valid for the iterator's lifetime. */
  int (*provide_data)(void *self, int *n, const mt_data_desc **descs);
  int (*provide_label)(void *self, int *n, const mt_data_desc **descs);
  void (*destroy)(void *self);
} mt_data_iter_vtable;

typedef struct mt_data_iter mt_data_iter;
/* Wraps a custom implementation; the iterator owns `self` (destroy frees it). */
MT_API int mt_data_iter_create(const mt_data_iter_vtable *vt, void *self, mt_data_iter **out);
MT_API void mt_data_iter_free(mt_data_iter *it);
MT_API int mt_data_iter_next(mt_data_iter *it, mt_batch *batch);
MT_API int mt_data_iter_reset(mt_data_iter *it);
MT_API int mt_data_iter_provide_data(mt_data_iter *it, int *n, const mt_data_desc **descs);
MT_API int mt_data_iter_provide_label(mt_data_iter *it, int *n, const mt_data_desc **descs);
/* Batch size = dim 0 of the first data description. */
MT_API int64_t mt_data_iter_batch_size(mt_data_iter *it);
/* Puts a fresh iterator at the start of epoch `epoch` (for resume): as the
 * `epoch` resets of an uninterrupted run (shuffle is keyed by the epoch). */
MT_API int mt_data_iter_set_epoch(mt_data_iter *it, int64_t epoch);

typedef enum {
  MT_LAST_BATCH_PAD = 0,      /* fill the last batch from the start; batch.pad says how many */
  MT_LAST_BATCH_DISCARD = 1,  /* drop an incomplete last batch */
  MT_LAST_BATCH_ROLL_OVER = 2 /* carry the remainder into the next epoch */
} mt_last_batch;

/* MXNet's NDArrayIter over in-memory arrays (CPU). data (N, ...), label
 * (N,) or (N, k) or NULL. The iterator copies both. shuffle: a new seeded
 * permutation each epoch (epoch e uses key (seed, e)). Names NULL ->
 * "data" / "softmax_label". */
MT_API int mt_ndarray_iter_create(const mt_ndarray *data, const mt_ndarray *label,
                                  int64_t batch_size, int shuffle, uint64_t seed,
                                  mt_last_batch last_batch_handle, const char *data_name,
                                  const char *label_name, mt_data_iter **out);

/* The tutorial's synthetic classification data: class means mu ~ U(0, 1)
 * per class and feature (drawn from seed), samples ~ N(mu[label], 0.1)
 * (drawn from seed and `part`: part 0 for training, 1 for validation, ...
 * share the means, not the samples). Labels go class by class in equal
 * blocks (sample i has label i * num_classes / num_samples), as the
 * tutorial's SyntheticData. Fills x (num_samples, dim) and y (num_samples). */
MT_API int mt_synthetic_generate(int num_classes, int dim, int64_t num_samples, uint64_t seed,
                                 int part, float *x, float *y);
/* An NDArrayIter over mt_synthetic_generate's data. */
MT_API int mt_synthetic_iter_create(int num_classes, int dim, int64_t num_samples,
                                    int64_t batch_size, uint64_t seed, int part, int shuffle,
                                    mt_data_iter **out);

/* A rank's shard of every global batch of `inner`: rows
 * [rank*B/world, (rank+1)*B/world) of each batch (views, no copies), with
 * the padding that falls into them. Every rank must run the same inner
 * iterator (same data, order and seed). Takes ownership of inner on
 * success; on error the caller still owns it. */
MT_API int mt_data_iter_shard(mt_data_iter *inner, int rank, int world, mt_data_iter **out);

/* MXNet's BucketSentenceIter (python/mxnet/rnn/io.py, layout NT) over a
 * token-sequence file (docs/design.md §6 "Token sequences"). Each sentence
 * goes to the smallest bucket (a length) that holds it, padded with
 * invalid_label; longer ones are dropped (counted in info, logged once).
 * The label is the sentence shifted left by one with invalid_label last.
 * Only full batches: a bucket of n sentences gives n / batch_size of them.
 * Each epoch e (reset), with shuffle, the sentences of every bucket and the
 * order of the batches are shuffled (Philox keyed by (seed, e), §5), the
 * same on every rank; rank r of `world` takes rows [r*B/W, (r+1)*B/W) of
 * each global batch of B = batch_size (B % W must be 0). A batch's data and
 * label are (B/W, key) with bucket_key = key; index holds the rows'
 * sentence numbers in the file. provide_data / provide_label give the
 * largest bucket (MXNet's default_bucket_key). */
#define MT_MAX_BUCKETS 64
typedef struct {
  const int64_t *buckets; /* lengths, any order; NULL / 0: MXNet's automatic */
  int nbuckets;           /* buckets: every length with >= batch_size sentences */
  int64_t batch_size;     /* the global batch */
  float invalid_label;    /* padding and the last label (lstm_bucketing.py: 0) */
  int shuffle;
  uint64_t seed;
  int rank, world;                    /* world 0 is taken as 1 */
  const char *data_name, *label_name; /* NULL: "data", "softmax_label" */
} mt_bucket_iter_options;
typedef struct {
  int64_t nsentences, ndiscarded, nbatches; /* in the file, dropped, per epoch */
  int nbuckets;
  int64_t buckets[MT_MAX_BUCKETS];          /* sorted */
  int64_t bucket_sentences[MT_MAX_BUCKETS]; /* sentences in each */
  int64_t vocab_size;
} mt_bucket_iter_info;
/* info may be NULL. Errors: MT_E_INVAL (bad options, a batch that does not
 * split over the ranks, no bucket with a full batch), the file's errors. */
MT_API int mt_bucket_sentence_iter_create(const char *path, const mt_bucket_iter_options *opt,
                                          mt_bucket_iter_info *info, mt_data_iter **out);

/* MXNet's example/rnn/bucketing/lstm_bucketing.py network for one bucket
 * (its sym_gen(seq_len), src/rnn_lm.c): Embedding "embed" (vocab ->
 * num_embed), num_layers mx.rnn.LSTMCell layers (prefix "lstm_l%d_", hidden
 * num_hidden, begin states _zeros (0, H), i2h_bias with __init__ lstmbias
 * forget_bias 1) in a SequentialRNNCell unrolled over seq_len steps with
 * merge_outputs=True, Reshape (-1, num_hidden), FullyConnected "pred"
 * (vocab), the label Reshape (-1,), SoftmaxOutput "softmax". Inputs "data"
 * and "softmax_label", both (batch, seq_len). Node names, attributes and
 * order are MXNet's (its JSON for a fresh name scope). seq_len in [1, 64];
 * MT_E_INVAL for sizes out of range. The caller frees *out. */
MT_API int mt_lstm_lm_symbol(int seq_len, int num_layers, int vocab, int num_embed, int num_hidden,
                             mt_symbol **out);
typedef struct {
  int num_layers, vocab, num_embed, num_hidden;
} mt_lstm_lm_config;
/* The same as a BucketingModule symbol generator (mt_sym_gen_fn; user is
 * an mt_lstm_lm_config that outlives the module): the bucket key is the
 * sequence length; data names {"data"}, label names {"softmax_label"}
 * (static). */
MT_API int mt_lstm_lm_sym_gen(void *user, int bucket_key, mt_symbol **sym, int *ndata,
                              const char *const **data_names, int *nlabel,
                              const char *const **label_names);

/* ------------------------------------------------------------------ module */

typedef struct mt_module mt_module;

/* MXNet's Module(symbol, data_names, label_names, context). data_names NULL
 * -> {"data"}; label_names NULL -> {"softmax_label"} (nlabel 0 with a
 * non-NULL array: no labels). An unknown data name is an error, an unknown
 * label name a warning (as MXNet). contexts NULL -> cpu(0). The module keeps
 * its own copy of the symbol. */
MT_API int mt_module_create(mt_symbol *sym, int ndata, const char *const *data_names, int nlabel,
                            const char *const *label_names, int nctx, const mt_context *contexts,
                            mt_module **out);
MT_API void mt_module_free(mt_module *mod);

/* State machine (calls out of order return MT_E_STATE with MXNet's hint). */
MT_API int mt_module_bind(mt_module *mod, int ndata, const mt_data_desc *data_shapes, int nlabel,
                          const mt_data_desc *label_shapes, int for_training, int inputs_need_grad,
                          int force_rebind, mt_grad_req grad_req);

/* Parameter dictionaries are arenas of named arrays (mt_arena). Missing
 * names come from `init` when allow_missing (or when no dict is given). */
MT_API int mt_module_init_params(mt_module *mod, const mt_initializer *init,
                                 const mt_arena *arg_params, const mt_arena *aux_params,
                                 int allow_missing, int force_init, int allow_extra);
/* kvstore: "local" (also "device") or NULL for local. optimizer: a name for
 * mt_optimizer_create and its params ("learning_rate=0.1 momentum=0.9");
 * rescale_grad defaults to 1/global batch. */
MT_API int mt_module_init_optimizer(mt_module *mod, const char *kvstore, const char *optimizer,
                                    const char *optimizer_params, int force_init);

/* is_train: 1, 0, or -1 for the module's for_training. A batch of another
 * size reshapes the module first (as MXNet). */
MT_API int mt_module_forward(mt_module *mod, const mt_batch *batch, int is_train);
MT_API int mt_module_backward(mt_module *mod, int nout_grads, mt_ndarray *const *out_grads);
/* One training step's forward and backward, to be followed by update. Under
 * the node-shared update (ranks of one node sharing their parameters, see
 * README) it hands each gradient to the other ranks as soon as backward
 * makes it, so a further backward or forward_backward before update is
 * refused (MT_E_STATE); plain backward hands nothing over early. */
MT_API int mt_module_forward_backward(mt_module *mod, const mt_batch *batch);
MT_API int mt_module_update(mt_module *mod);
MT_API int mt_module_update_metric(mt_module *mod, mt_metric *metric, int nlabel,
                                   mt_ndarray *const *labels);
/* Outputs merged across contexts; owned by the module, valid until the next
 * forward. */
MT_API int mt_module_get_outputs(mt_module *mod, int *n, mt_ndarray *const **outputs);
MT_API int mt_module_get_input_grads(mt_module *mod, int *n, mt_ndarray *const **grads);
/* The module's CPU copy of the parameters, synced from the devices. */
MT_API int mt_module_get_params(mt_module *mod, const mt_arena **arg_params,
                                const mt_arena **aux_params);
MT_API int mt_module_set_params(mt_module *mod, const mt_arena *arg_params,
                                const mt_arena *aux_params, int allow_missing, int force_init,
                                int allow_extra);
MT_API int mt_module_reshape(mt_module *mod, int ndata, const mt_data_desc *data_shapes, int nlabel,
                             const mt_data_desc *label_shapes);

/* Properties. Name lists and descriptions are owned by the module. */
MT_API int mt_module_data_names(const mt_module *mod, int *n, const char *const **names);
MT_API int mt_module_label_names(const mt_module *mod, int *n, const char *const **names);
MT_API int mt_module_output_names(const mt_module *mod, int *n, const char *const **names);
MT_API int mt_module_data_shapes(const mt_module *mod, int *n, const mt_data_desc **descs);
MT_API int mt_module_label_shapes(const mt_module *mod, int *n, const mt_data_desc **descs);
MT_API int mt_module_output_shapes(const mt_module *mod, int *n, const mt_data_desc **descs);
MT_API int mt_module_binded(const mt_module *mod);
MT_API int mt_module_for_training(const mt_module *mod);
MT_API int mt_module_params_initialized(const mt_module *mod);
MT_API int mt_module_optimizer_initialized(const mt_module *mod);
MT_API int mt_module_inputs_need_grad(const mt_module *mod);
MT_API mt_symbol *mt_module_symbol(const mt_module *mod);

/* The module's optimizer (NULL before init_optimizer), e.g. to attach an
 * lr scheduler; owned by the module. A SequentialModule: its first child's
 * (each child has its own; fit's lr_scheduler goes to all of them). */
typedef struct mt_optimizer mt_optimizer;
MT_API mt_optimizer *mt_module_get_optimizer(mt_module *mod);

/* ------------------------------------------------------ module kinds */

/* Every mt_module_* call above, fit, score, predict, iter_predict, the
 * checkpoint calls and callbacks work on every kind of module: a Module
 * (mt_module_create), a SequentialModule, a custom module, a loss module.
 * Each kind answers with MXNet's errors where a call does not apply. */

/* MXNet's SequentialModule: a chain of modules, each one's outputs the next
 * one's data. A new, empty chain; free it with mt_module_free, which frees
 * its children. */
MT_API int mt_sequential_module_create(mt_module **out);
/* SequentialModule.add(module, take_labels=, auto_wiring=). The chain takes
 * ownership of child on success (the caller must not free it, nor add it to
 * another chain: MT_E_INVAL); on error the caller still owns it. take_labels:
 * the child gets the batch's labels (bind: the label shapes; update_metric:
 * its outputs against them); auto_wiring: the previous child's output shapes
 * are renamed to this child's data names at bind (their counts must match).
 * Adding resets the chain to unbound, as MXNet.
 *   bind: children bound in order, child i > 0 with inputs_need_grad when
 *     training; binding an empty chain is MT_E_STATE ("Attempting to bind
 *     an empty SequentialModule").
 *   forward / backward: outputs fed forward, input gradients passed back.
 *   init_params, init_optimizer, update, set_bucket_bytes, set_seed: every
 *     child (each child has its own optimizer and kvstore; under dist_sync
 *     each child's gradients are summed across ranks by its own kvstore).
 *   get_params: the children's merged (owned by the chain, refreshed on
 *     every call); a parameter name in two children is MT_E_INVAL
 *     ("Duplicated parameter names: ...") at init_params.
 *   update_metric: the children that take labels.
 *   get_outputs: the last child's; get_input_grads: the first child's (bind
 *     with inputs_need_grad=1; MXNet's always asserts).
 *   data names and shapes: the first child's; output names and shapes: the
 *     last child's; label names: those of the children taking labels.
 *   mt_module_symbol: NULL (no one symbol): checkpoints hold the merged
 *     parameters and every child's optimizer state, and no symbol. */
MT_API int mt_sequential_module_add(mt_module *seq, mt_module *child, int take_labels,
                                    int auto_wiring);
/* The same with MXNet's meta keywords as text: "take_labels auto_wiring",
 * "take_labels=1, auto_wiring=0". An unknown key is MT_E_INVAL
 * ("Unknown meta \"KEY\", a typo?"). */
MT_API int mt_sequential_module_add_meta(mt_module *seq, mt_module *child, const char *meta);
/* Children of a chain (0 for another kind); child i is owned by the chain. */
MT_API int mt_sequential_module_num_children(const mt_module *seq);
MT_API mt_module *mt_sequential_module_child(mt_module *seq, int i);

/* MXNet's BucketingModule: one Module per bucket key (e.g. a sequence
 * length), all sharing the default bucket's parameters.
 *
 * A bucket's network, called once for each new bucket key: *sym is a new
 * symbol the module takes over; the name arrays stay the caller's (static
 * storage is typical). 0 or MT_E_* with a message. */
typedef int (*mt_sym_gen_fn)(void *user, int bucket_key, mt_symbol **sym, int *ndata,
                             const char *const **data_names, int *nlabel,
                             const char *const **label_names);
/* BucketingModule(sym_gen, default_bucket_key, context): calls
 * gen(default_bucket_key) now (the names are known before bind; a failing
 * generator fails here). user stays the caller's and must outlive the
 * module. The default bucket should be the largest (MXNet's advice).
 *   bind: binds the default bucket (the shapes given are its shapes).
 *   forward / forward_backward: switch to batch->bucket_key (0: the default
 *     bucket) with the shapes of the batch's arrays, making the bucket's
 *     Module on first use, bound against the default bucket's: the same
 *     parameter, gradient and aux arrays (no second copy), the same
 *     optimizer, kvstore and gradient buckets, and the same intermediate
 *     memory pool on each context (as large as the largest bucket so far).
 *     A bucket whose symbol needs a parameter the default lacks is
 *     MT_E_INVAL naming both keys and the parameter. A default-bucket
 *     parameter a bucket does not use gets a zero gradient there.
 *   backward, update, update_metric, get_outputs, get_input_grads, the
 *     names, shapes and mt_module_symbol: the current bucket's.
 *   init_params, set_params, get_params, init_optimizer: the shared arrays
 *     (through the default bucket). fit, score, predict, checkpoints (a
 *     symbol per bucket, docs/design.md §6) work unchanged. */
MT_API int mt_bucketing_module_create(mt_sym_gen_fn gen, void *user, int default_bucket_key,
                                      int ncontexts, const mt_context *contexts, mt_module **out);
/* BucketingModule.switch_bucket: makes bucket_key current, binding its
 * Module with these shapes if it is new (MT_E_STATE before bind). */
MT_API int mt_bucketing_module_switch_bucket(mt_module *mod, int bucket_key, int ndata,
                                             const mt_data_desc *data_shapes, int nlabel,
                                             const mt_data_desc *label_shapes);
/* The current bucket key; MT_E_INVAL for another kind of module. */
MT_API int mt_bucketing_module_current_key(const mt_module *mod, int *key);
/* Buckets made so far (the default one included); 0 for another kind. */
MT_API int mt_bucketing_module_num_buckets(const mt_module *mod);
/* The Module of a bucket (owned by the BucketingModule), or NULL. */
MT_API mt_module *mt_bucketing_module_bucket(mt_module *mod, int bucket_key);
/* Memory of all buckets together, each array counted once: parameters,
 * gradients, aux states on the contexts and their CPU copies
 * (param_bytes), and the executors' intermediate memory (pool_bytes).
 * Either pointer may be NULL. */
MT_API int mt_bucketing_module_memory(const mt_module *mod, int64_t *param_bytes,
                                      int64_t *pool_bytes);

/* A module written in C (MXNet's PythonModule): user callbacks do the work.
 * user is the callbacks' first argument. Arrays the callbacks hand out stay
 * owned by the user and must stay valid until the next forward. */
typedef struct {
  /* Required: computes the outputs of batch (data in the module's data
   * name order; labels when it takes labels and the batch has them). */
  int (*forward)(void *user, const mt_batch *batch, int is_train);
  int (*get_outputs)(void *user, int *n, mt_ndarray *const **outputs);
  /* Required for training: out_grads NULL (nout_grads 0) for a module at
   * the end of a chain (a loss), else one gradient per output. */
  int (*backward)(void *user, int nout_grads, mt_ndarray *const *out_grads);
  int (*get_input_grads)(void *user, int *n, mt_ndarray *const **grads);
  /* Optional (NULL: each output shaped as data input 0, MXNet's
   * PythonLossModule): fills out[0..nout) (names are set by the module). */
  int (*output_shapes)(void *user, int ndata, const mt_data_desc *data, int nlabel,
                       const mt_data_desc *label, int nout, mt_data_desc *out);
  /* Optional: told the shapes at bind (allocate buffers here). */
  int (*bind)(void *user, int ndata, const mt_data_desc *data, int nlabel,
              const mt_data_desc *label, int for_training, int inputs_need_grad);
  /* Optional (NULL: mt_metric_update(metric, labels, outputs)). */
  int (*update_metric)(void *user, mt_metric *metric, int nlabel, mt_ndarray *const *labels);
  /* Optional parameters (NULL: none, as PythonModule): init_params gets the
   * module's init_params arguments; get_params hands out arenas the user
   * owns; update applies the user's own rule after backward. */
  int (*init_params)(void *user, const mt_initializer *init, const mt_arena *arg_params,
                     const mt_arena *aux_params, int allow_missing);
  int (*get_params)(void *user, const mt_arena **arg_params, const mt_arena **aux_params);
  int (*update)(void *user);
  /* Optional: frees user with the module. */
  void (*destroy)(void *user);
} mt_custom_module_ops;

/* ndata data names (1..8), nlabel label names (0..8), nout output names
 * (1..64); the names are copied, ops is copied. The module owns user from
 * the call on (ops->destroy frees it, also when create fails). */
MT_API int mt_custom_module_create(const mt_custom_module_ops *ops, void *user, int ndata,
                                   const char *const *data_names, int nlabel,
                                   const char *const *label_names, int nout,
                                   const char *const *output_names, mt_module **out);

/* MXNet's PythonLossModule's grad_func: the gradient of the loss with
 * respect to scores (the module's input, shape of scores) into grad. labels
 * as the batch gave them. Returns MT_OK or a negative MT_E_* code. */
typedef int (*mt_loss_grad_fn)(const mt_ndarray *scores, const mt_ndarray *labels, mt_ndarray *grad,
                               void *user);
/* MXNet's PythonLossModule(name, data_names=(data_name,),
 * label_names=(label_name,), grad_func): forward keeps a copy of its data
 * (the scores) and, when training, of the labels; its one output
 * "<name>_output" is the scores; backward (no out_grads) computes the input
 * gradient with grad_fn; update_metric compares the labels with the scores.
 * name NULL -> "pyloss", data_name NULL -> "data", label_name NULL ->
 * "softmax_label". grad_fn NULL: backward is MT_E_UNSUPPORTED (MXNet's
 * NotImplementedError). user is passed to grad_fn and stays the caller's. */
MT_API int mt_loss_module_create(const char *name, const char *data_name, const char *label_name,
                                 mt_loss_grad_fn grad_fn, void *user, mt_module **out);

/* ------------------------------------------------ fit, score, predict, callbacks */

/* What a batch-end callback sees (MXNet's BatchEndParam). */
typedef struct {
  int epoch;
  int nbatch;             /* batches done in this epoch, counting from 0 */
  mt_metric *eval_metric; /* the training metric (local sums of the epoch so far) */
  int64_t batch_size;     /* global batch */
} mt_batch_end_params;
typedef int (*mt_batch_end_fn)(const mt_batch_end_params *p, void *user);
/* epoch: the epoch just finished (0-based); params synced to CPU. */
typedef int (*mt_epoch_end_fn)(int epoch, mt_symbol *sym, const mt_arena *arg_params,
                               const mt_arena *aux_params, void *user);
typedef struct {
  mt_batch_end_fn fn;
  void *user;
  /* When the callback reads the metric: every `frequent` batches (0: every
   * batch; < 0: never). Under MPI, fit sums the metric across ranks before
   * those calls. */
  int frequent;
} mt_batch_callback;
typedef struct {
  mt_epoch_end_fn fn;
  void *user;
} mt_epoch_callback;

#define MT_MAX_CALLBACKS 8

/* fit()'s keyword arguments; mt_fit_options_init sets MXNet's defaults
 * (eval_metric "acc", kvstore "local", optimizer "sgd" with
 * learning_rate=0.01, initializer Uniform(0.01), begin_epoch 0). */
typedef struct {
  mt_data_iter *eval_data;       /* NULL: no validation */
  const char *eval_metric;       /* metric spec for mt_metric_create */
  const char *validation_metric; /* NULL: same as eval_metric */
  const char *kvstore;
  const char *optimizer;
  const char *optimizer_params;
  const char *lr_scheduler;          /* spec for mt_lr_scheduler_create, or NULL */
  const mt_initializer *initializer; /* NULL: uniform scale=0.01 */
  const mt_arena *arg_params, *aux_params;
  int allow_missing, force_rebind, force_init;
  int begin_epoch, num_epoch;
  int n_epoch_end_callback;
  mt_epoch_callback epoch_end_callback[MT_MAX_CALLBACKS];
  int n_batch_end_callback;
  mt_batch_callback batch_end_callback[MT_MAX_CALLBACKS];
  int n_eval_end_callback; /* called after validation with its metric */
  mt_batch_callback eval_end_callback[MT_MAX_CALLBACKS];
  int n_eval_batch_end_callback;
  mt_batch_callback eval_batch_end_callback[MT_MAX_CALLBACKS];
  /* JSON lines of metrics (rank 0 appends, one flushed object per event):
   * {"event": "train_batch"|"train_epoch"|"validation", "epoch", "batch",
   * "samples", "samples_per_sec", "time" (s since fit began), "metrics":
   * {name: value}}. NULL: none. train_batch every metrics_every batches
   * (0: epoch events only). */
  const char *metrics_file;
  int metrics_every;
  /* Preemption: when *stop_requested becomes non-zero on any rank (a signal
   * handler sets it), every rank stops at the same batch boundary; with
   * stop_checkpoint_prefix set, rank 0 saves the position inside the epoch
   * (mt_module_save_checkpoint_at, with stop_checkpoint_config) and fit
   * returns MT_E_INTERRUPTED after all ranks have it. */
  volatile int *stop_requested;
  const char *stop_checkpoint_prefix;
  const char *stop_checkpoint_config;
  /* Resume inside begin_epoch: skip this many batches of it first. */
  int64_t begin_batch;
  /* A timeline of the run (Chrome/Perfetto Trace Event Format JSON: every
   * operator's forward and backward, gradient buckets, waits, the
   * optimizer, data waits, checkpoints, batches and epochs), written when
   * fit ends; with several ranks each writes PATH.rank<N>.json (a trailing
   * .json replaced). NULL: MODTRAIN_TIMELINE, else none. Every rank must
   * have it (the clocks are aligned collectively). */
  const char *timeline;
} mt_fit_options;

MT_API void mt_fit_options_init(mt_fit_options *o);
/* Trains as MXNet's BaseModule.fit: bind, init_params, init_optimizer, then
 * per epoch: forward_backward/update/update_metric per batch, batch-end
 * callbacks, "Epoch[e] Train-<metric>=<v>" and "Epoch[e] Time cost=<s>"
 * lines, epoch-end callbacks with synced params, validation
 * ("Epoch[e] Validation-<metric>=<v>"), and reset of the iterators. */
MT_API int mt_module_fit(mt_module *mod, mt_data_iter *train, const mt_fit_options *o);
/* Evaluates `metric` over eval (num_batch < 0: all); reset: reset the
 * iterator first. The results are read from the metric. */
MT_API int mt_module_score(mt_module *mod, mt_data_iter *eval, mt_metric *metric, int num_batch,
                           int reset, int epoch, int ncb, const mt_batch_callback *cbs);
/* Runs prediction over eval and returns, per output, one array with every
 * sample (padding stripped, batches concatenated). The caller frees the
 * arrays with mt_ndarray_free and the list with free(). */
MT_API int mt_module_predict(mt_module *mod, mt_data_iter *eval, int num_batch, int reset,
                             int *nout, mt_ndarray ***outputs);
/* Calls fn(outputs, nbatch, batch) for each batch (outputs with padding
 * stripped; valid during the call). A non-zero return from fn stops. */
typedef int (*mt_iter_predict_fn)(int nout, mt_ndarray *const *outputs, int nbatch,
                                  const mt_batch *batch, void *user);
MT_API int mt_module_iter_predict(mt_module *mod, mt_data_iter *eval, int num_batch, int reset,
                                  mt_iter_predict_fn fn, void *user);

/* Speedometer (MXNet's callback.Speedometer): every `frequent` batches logs
 * "Epoch[e] Batch [a-b]\tSpeed: S samples/sec\t<metric>=<v>" (rank 0) and,
 * with auto_reset, resets the metric's local sums. Allocates its state;
 * free it with mt_batch_callback_free. */
MT_API int mt_speedometer_create(int64_t batch_size, int frequent, int auto_reset,
                                 mt_batch_callback *out);
MT_API void mt_batch_callback_free(mt_batch_callback *cb);

/* ------------------------------------------------------------- distributed */

/* MPI for data-parallel training (docs/design.md §4). mt_dist_init initialises
 * MPI (MPI_THREAD_FUNNELED) unless the program already did, finalizes it at
 * exit if it initialised it, and makes rank 0 the only rank that prints the
 * training log. Without mpirun it runs as a world of one. The kvstores
 * "dist_sync" and "hier" call it themselves. */
MT_API int mt_dist_init(int *argc, char ***argv);
MT_API int mt_dist_finalize(void);
/* 0 and 1 when MPI is not initialised. */
MT_API int mt_dist_rank(void);
MT_API int mt_dist_world_size(void);
typedef struct {
  int rank, world_size;
  int local_rank, local_size; /* inside this node (MPI_COMM_TYPE_SHARED) */
  int num_nodes;
} mt_dist_topology_info;
/* Collective over MPI_COMM_WORLD when MPI is up. */
MT_API int mt_dist_topology(mt_dist_topology_info *t);
/* Cores of this node / ranks on this node (at least 1): the default number
 * of BLAS threads per rank (no oversubscription). Collective. */
MT_API int mt_dist_default_blas_threads(void);
/* Ends the whole job: MPI_Abort when several ranks run, else exit(). */
MT_API void mt_dist_abort(int exit_code) __attribute__((noreturn));

/* The stall watchdog: ends the whole job (exit status 4, MPI_Abort under
 * mpirun) when no progress is reported for `seconds`, printing what the rank
 * did last. fit reports progress after every batch. seconds <= 0: off. */
MT_API int mt_watchdog_start(double seconds);
MT_API void mt_watchdog_progress(const char *what, int epoch, int batch);
MT_API void mt_watchdog_stop(void);

/* Gradient buckets: gradients are reduced in buckets of at most this many
 * bytes, each started as soon as backward has produced it (default 25 MiB;
 * 0 = one bucket). Set before init_optimizer. */
MT_API int mt_module_set_bucket_bytes(mt_module *mod, int64_t bytes);
/* Seed of random operators (Dropout), keyed with the step (docs/design.md §5). */
MT_API void mt_module_set_seed(mt_module *mod, uint64_t seed);

/* ------------------------------------------------------------- checkpoints */

/* Checkpoints (docs/design.md §6) for prefix P and epoch E: P-symbol.json (the
 * symbol, MXNet JSON) and P-EEEE.h5 (HDF5; E with at least 4 digits):
 *   /arg/<name>, /aux/<name>        float32 datasets of the parameters' shapes
 *   /optimizer/<param>/<state>      e.g. momentum, Adam's mean / var; the
 *                                   group's attributes: index, count, has_state
 *   attributes on /: format_version (3), epoch, num_update,
 *   world_size_at_save, data_epoch, data_batch, rng_seed, rng_step,
 *   symbol (JSON text), config (text)
 *   and the digests: "xxh3" on each dataset, "attrs_xxh3" on each group
 *   (XXH3-64 of the elements / of each attribute), checked on every load;
 *   format 2 files (XXH64s under "xxh64" / "attrs_xxh64") and format 1
 *   files (no digests) still load
 * Both files are written to "<name>.tmp.<pid>", fsynced and renamed, and the
 * directory fsynced: a crash or a full disk leaves the previous checkpoint
 * intact and never a partial P-EEEE.h5 (temporary files may stay behind;
 * they are never read). Write failures are MT_E_IO naming the path and the
 * cause ("No space left on device"). A checkpoint does not depend on the
 * world size that wrote it. Readable by h5py / h5dump without modtrain. */

/* What a checkpoint holds besides symbol and parameters. */
typedef struct {
  int64_t num_update; /* optimizer updates so far; on save taken from `optimizer` if given */
  int world_size;     /* ranks of the run that saved (informative) */
  int64_t data_epoch; /* the data iterator epoch to continue with */
  int64_t data_batch; /* batches of that epoch already consumed (0 at an epoch's end) */
  uint64_t rng_seed, rng_step; /* the module's random stream (Dropout keys) */
  const char *config;          /* save: the run's config text (NULL = none) */
  char *loaded_config;         /* load: the saved config text, malloc'd (caller frees) */
  /* save: its per-parameter states and update counts are stored; load: they
   * are restored into it by saved index (create it with the same name and
   * settings, e.g. momentum). NULL: neither. */
  mt_optimizer *optimizer;
} mt_checkpoint_extra;

/* Zeroes *e (world_size 1). */
MT_API void mt_checkpoint_extra_init(mt_checkpoint_extra *e);
/* "P-0003.h5" for (P, 3) into buf. */
MT_API int mt_checkpoint_path(const char *prefix, int epoch, char *buf, size_t len);
/* mx.model.save_checkpoint: writes P-symbol.json (if sym) and P-EEEE.h5.
 * Arrays may be on any device. extra may be NULL. */
MT_API int mt_save_checkpoint(const char *prefix, int epoch, const mt_symbol *sym,
                              const mt_arena *arg_params, const mt_arena *aux_params,
                              const mt_checkpoint_extra *extra);
/* The buckets a BucketingModule's checkpoint holds (docs/design.md §6):
 * the default key, and each bucket's key and symbol, the default bucket
 * first (new arrays and symbols: free each symbol, then both arrays).
 * MT_E_NOTFOUND for a checkpoint of another kind of module. */
MT_API int mt_load_checkpoint_buckets(const char *prefix, int epoch, int *default_key,
                                      int *nbuckets, int **keys, mt_symbol ***syms);
/* mx.model.load_checkpoint: new CPU arenas (caller frees with mt_arena_free)
 * in saved order, and the symbol (the file's own copy, else P-symbol.json).
 * Any output may be NULL (not loaded). extra (may be NULL) receives the
 * scalars and config, and restores into extra->optimizer when set.
 * Errors name the path: missing file (MT_E_IO), not HDF5, truncated or
 * damaged, a dataset or attribute that fails its digest (naming it), no
 * /arg group, unknown format_version, epoch attribute not E, a position
 * attribute out of range (with extra: num_update < 0, world_size_at_save
 * < 1, data_epoch outside [0, E], data_batch < 0, rng_step negative)
 * (MT_E_FORMAT). */
MT_API int mt_load_checkpoint(const char *prefix, int epoch, mt_symbol **sym, mt_arena **arg_params,
                              mt_arena **aux_params, mt_checkpoint_extra *extra);
/* The newest complete checkpoint under prefix: scans P's directory for
 * P-EEEE.h5, newest first; one that does not open, has an unknown
 * format_version, an epoch attribute other than its name, a position
 * attribute out of range, or a dataset or attribute that does not read
 * back or fails its digest is skipped with a warning naming it and why.
 * MT_E_NOTFOUND if there is none; MT_E_FORMAT if every one is damaged. */
MT_API int mt_checkpoint_latest(const char *prefix, int *epoch);
/* The same among the checkpoints of epochs < before: the one to go back to
 * when the newest could not be restored. */
MT_API int mt_checkpoint_latest_before(const char *prefix, int before, int *epoch);

/* The module calls below take any module kind (a SequentialModule saves its
 * merged parameters and every child's optimizer state, and no symbol;
 * docs/design.md §2). */

/* Module.save_checkpoint(prefix, epoch, save_optimizer_states): the
 * module's symbol and synced parameters, its RNG step, data_epoch = epoch,
 * and with save_optimizer_states the optimizer's states and counts. */
MT_API int mt_module_save_checkpoint(mt_module *mod, const char *prefix, int epoch,
                                     int save_optimizer_states);
/* The same with optimizer states, inside epoch `epoch` after `data_batch`
 * batches (a preempted run: resuming skips those batches), and the config. */
MT_API int mt_module_save_checkpoint_at(mt_module *mod, const char *prefix, int epoch,
                                        int64_t data_batch, const char *config);
/* Module.load_optimizer_states: restores the optimizer's states and update
 * counts from P-EEEE.h5, matching parameters by name. Needs init_optimizer;
 * the optimizer must have the saved name and number of states. */
MT_API int mt_module_load_optimizer_states(mt_module *mod, const char *prefix, int epoch);
/* Resume: after bind, init_params and init_optimizer, loads P-EEEE.h5's
 * parameters (set_params, every context), optimizer states and counts and
 * the module's RNG step. Then fit with begin_epoch = epoch (its own
 * init_params / init_optimizer calls are then ignored, as in MXNet) and a
 * training iterator at epoch `epoch` (a fresh NDArrayIter reset `epoch`
 * times: its shuffle is keyed by its epoch) continues bit for bit as the
 * uninterrupted run on the same world size and contexts. */
MT_API int mt_module_restore_checkpoint(mt_module *mod, const char *prefix, int epoch);

/* callback.do_checkpoint(prefix, period): at the end of epoch e (0-based)
 * with (e + 1) % period == 0, saves symbol and parameters as checkpoint
 * e + 1 and logs `Saved checkpoint to "P-00EE.h5"` (rank 0 only, by
 * mt_log_rank). No optimizer state: use mt_module_checkpoint to resume
 * bit for bit. Free with mt_epoch_callback_free. */
MT_API int mt_do_checkpoint(const char *prefix, int period, mt_epoch_callback *out);
/* callback.module_checkpoint(mod, prefix, period, save_optimizer_states):
 * the same through mt_module_save_checkpoint (rank 0 of the module's
 * kvstore only), also storing `config` (the run's config text, copied; may
 * be NULL) in the checkpoint. The module must outlive the callback. */
MT_API int mt_module_checkpoint(mt_module *mod, const char *prefix, int period,
                                int save_optimizer_states, const char *config,
                                mt_epoch_callback *out);
/* Frees a callback made by mt_do_checkpoint / mt_module_checkpoint. */
MT_API void mt_epoch_callback_free(mt_epoch_callback *cb);

/* MXNet's binary NDArray-list files (mx.nd.save / load, `.params`): keys
 * "arg:<name>" and "aux:<name>"; float32 V2 NDArrays on save (atomic, as
 * checkpoints). Load accepts V1/V2/V3 and legacy NDArrays, converts
 * float64/float16/bfloat16/integer data to float32, and puts keys without
 * a prefix (Gluon's save_parameters) into arg_params. New CPU arenas in file
 * order. Errors name the path (bad magic, truncated, sparse arrays). */
MT_API int mt_params_save(const char *path, const mt_arena *arg_params, const mt_arena *aux_params);
MT_API int mt_params_load(const char *path, mt_arena **arg_params, mt_arena **aux_params);

/* ---------------------------------------------------------- HDF5 datasets */

/* Dataset files (docs/design.md §6), as `modtrain synth` writes them:
 *   /data  float32 [N, d1, ...]   /label float32 [N] (class index) or [N, k]
 *   attributes on /: format_version, num_classes, seed, generator (and part
 *   for synthetic sets). Chunked along N with Fletcher32 checksums, so
 *   corrupted bytes are reported instead of read; h5py / h5dump read it. */

/* Writes data (N, d1, ...) and label (N,) or (N, k) (CPU or GPU arrays) to
 * a new dataset file at `path` (replaced if it exists; written under a
 * temporary name and renamed, so `path` is never half-written). num_classes
 * >= 0: with (N,) labels and num_classes > 0 every label must be an integer
 * in [0, num_classes) (an error names the first bad row); 0 = regression or
 * unspecified. seed and generator (NULL = none) are recorded as attributes. */
MT_API int mt_dataset_write(const char *path, const mt_ndarray *data, const mt_ndarray *label,
                            int num_classes, uint64_t seed, const char *generator);

/* The HDF5 iterator: MXNet's NDArrayIter over a dataset file, sharded for
 * data-parallel training. batch_size is the *global* batch B; this rank
 * (0 <= rank < world) gets samples [rank * B / world, (rank + 1) * B / world)
 * of every global batch and reads only those rows (B % world != 0 is an
 * error). The epoch order (shuffle: a permutation keyed by (seed, epoch)),
 * the cursor and last_batch_handle pad / discard / roll_over are exactly
 * mt_ndarray_iter_create's, so world = 1 gives the batches of the same
 * arrays in memory, and the shards of all ranks concatenated give the
 * world = 1 batch. provide_data / provide_label describe this rank's
 * shard: (B / world, d1, ...) and (B / world) or (B / world, k). batch.pad
 * counts the padding samples inside the shard. A background thread reads
 * the next batch while the current one is used; a batch stays valid until
 * the next call to next, reset or free. Names NULL -> "data" /
 * "softmax_label". Errors name the path and the problem: missing file, not
 * HDF5, missing /data or /label, not float32, wrong rank, N mismatch,
 * truncated or corrupted file (at open, or from the next() whose rows are
 * damaged), labels outside [0, num_classes) (from the next() that reads
 * them, naming the row). */
MT_API int mt_h5_iter_create(const char *path, int64_t batch_size, int shuffle, uint64_t seed,
                             mt_last_batch last_batch_handle, int rank, int world,
                             const char *data_name, const char *label_name, mt_data_iter **out);

/* The HDF5 iterator with options: the in-memory cache, and /data's
 * conversion to float32 (docs/design.md §6, docs/config.md [data]).
 * cache: MEMORY reads /data whole at create (in its file type: uint8 stays
 * 1 byte a value) with large sequential reads, and serves every epoch from
 * memory; NONE streams (whole chunks, grouped over a window of batches of
 * about cache_bytes, each chunk read once per window); AUTO is MEMORY when
 * /data's bytes fit the budget, else NONE. cache_bytes: the budget (0: a
 * quarter of the memory available at create for AUTO, 64 MiB for the
 * streaming window). When MPI is up and (rank, world) are the MPI world's
 * (world > 1), the ranks of a node share one copy in POSIX shared memory,
 * each reading a slice of it, and create is then collective over the
 * world (every rank creates the iterator, as the command does); otherwise,
 * or with MODTRAIN_SHM=0, each rank keeps its own copy. Every value x of /data
 * becomes (x - mean[c]) * (scale / std[c]) in float32, c its index along
 * axis 1 (the channel of [N, C, H, W]); nmean / nstd are 0 (mean 0, std 1),
 * 1 (every channel) or d1 values (MXNet's scale, mean_r/g/b, std_r/g/b). */
typedef enum { MT_H5_CACHE_AUTO = 0, MT_H5_CACHE_MEMORY, MT_H5_CACHE_NONE } mt_h5_cache;
#define MT_H5_MAX_CHANNELS 16
typedef struct {
  mt_h5_cache cache;
  int64_t cache_bytes;
  float scale;
  int nmean, nstd;
  float mean[MT_H5_MAX_CHANNELS], std[MT_H5_MAX_CHANNELS];
  /* Augmentation of [N, C, H, W] data (MXNet ImageRecordIter's data_shape,
   * pad, rand_crop, rand_mirror), applied to the float32 values after
   * scale / mean / std. data_shape {C, h, w} (all 0: the file's C, H, W)
   * is the shape of a sample handed out: each image gets a border of `pad`
   * zeros (0 after normalisation) on every side, then the h x w window at a
   * random position (rand_crop) or at the center is cut out, then flipped
   * left-right with probability 1/2 (rand_mirror). The draws are Philox
   * values keyed by (seed, epoch, sample index in the file): the same
   * whatever the rank count, prefetch, cache, or a resume. */
  int64_t data_shape[3];
  int pad, rand_crop, rand_mirror;
} mt_h5_iter_opts;
/* Defaults: cache NONE (mt_h5_iter_create's), budget 0, scale 1, no mean/std. */
MT_API void mt_h5_iter_opts_init(mt_h5_iter_opts *o);
MT_API int mt_h5_iter_create_opts(const char *path, int64_t batch_size, int shuffle, uint64_t seed,
                                  mt_last_batch last_batch_handle, int rank, int world,
                                  const char *data_name, const char *label_name,
                                  const mt_h5_iter_opts *opts, mt_data_iter **out);
/* One line on an HDF5 iterator: layout, type, cache chosen, bytes read per
 * byte used (expected, and measured so far); *warn (if not NULL) is 1 when
 * a shuffled epoch reads more than 2 bytes per byte used, and the line then
 * ends with the fix. MT_E_INVAL for another kind of iterator. */
MT_API int mt_h5_iter_info(const mt_data_iter *it, char *buf, size_t len, int *warn);

/* ------------------------------------------------------------------- BLAS */

/* Chooses OpenBLAS's best kernel for this CPU (AVX-512 -> SkylakeX,
 * AVX2 -> Haswell) unless OPENBLAS_CORETYPE is set; idempotent and called by
 * every entry point that computes. Returns the kernel name in use. */
MT_API const char *mt_blas_init(void);
/* Threads of the GEMM backend (and OpenBLAS's pool), for the calling
 * thread's GEMMs; n <= 0 leaves them as they are. */
MT_API void mt_blas_set_threads(int n);
/* The library behind every GEMM: "oneDNN X.Y.Z" when the build found
 * Debian's libdnnl (the default: faster JIT sgemm kernels), or "OpenBLAS"
 * (a build without oneDNN, or MODTRAIN_GEMM=openblas in the environment). */
MT_API const char *mt_blas_gemm(void);

#ifdef __cplusplus
}
#endif
#endif /* MODTRAIN_H */
