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
  MT_E_INVAL = -1,       /* bad argument or attribute value */
  MT_E_STATE = -2,       /* call out of order (e.g. forward before bind) */
  MT_E_SHAPE = -3,       /* shape mismatch or shape that cannot be inferred */
  MT_E_NOMEM = -4,       /* allocation failed */
  MT_E_IO = -5,          /* file system error */
  MT_E_FORMAT = -6,      /* malformed file, JSON or config */
  MT_E_NOTFOUND = -7,    /* unknown name (op, argument, key) */
  MT_E_MPI = -8,         /* MPI call failed */
  MT_E_CUDA = -9,        /* CUDA or cuBLAS call failed */
  MT_E_NCCL = -10,       /* NCCL call failed */
  MT_E_HDF5 = -11,       /* HDF5 call failed */
  MT_E_NUMERIC = -12,    /* NaN or Inf in loss or gradient */
  MT_E_UNSUPPORTED = -13 /* feature not built in (e.g. GPU without CUDA) */
};

/* The message of the last failed call on this thread ("" if none). */
MT_API const char *mt_last_error(void);
/* A short name for an MT_E_* code. */
MT_API const char *mt_strerror(int code);
/* Records an error message (printf format) and returns `code`. Used by the
 * library and by user callbacks (custom modules, iterators). */
MT_API int mt_error_set(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends "; context" to the current message (for call chains), returns code. */
MT_API int mt_error_prefix(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
MT_API void mt_error_clear(void);

MT_API const char *mt_version(void);

/* ----------------------------------------------------------------- logging */

typedef enum {
  MT_LOG_ERROR = 0,
  MT_LOG_WARN = 1,
  MT_LOG_INFO = 2,
  MT_LOG_DEBUG = 3
} mt_log_level;

/* Level from MODTRAIN_LOG=error|warn|info|debug (default info). Messages go
 * to stderr as "[modtrain LEVEL subsystem] text"; info lines of the training
 * log (DESIGN.md §8) are printed without prefix by the callers that own them. */
MT_API void mt_log(mt_log_level level, const char *subsystem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
MT_API mt_log_level mt_log_get_level(void);
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
                                 const mt_shape *shapes, mt_shape *arg_shapes,
                                 mt_shape *out_shapes, mt_shape *aux_shapes);

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
MT_API void mt_executor_set_rng(mt_executor *ex, uint64_t seed, uint64_t step, int64_t sample_offset);
/* Bytes of intermediate storage after memory planning, and without it. */
MT_API int64_t mt_executor_planned_bytes(const mt_executor *ex, int64_t *unplanned_bytes);

/* ------------------------------------------------------------------- BLAS */

/* Chooses OpenBLAS's best kernel for this CPU (AVX-512 -> SkylakeX,
 * AVX2 -> Haswell) unless OPENBLAS_CORETYPE is set; idempotent and called by
 * every entry point that computes. Returns the kernel name in use. */
MT_API const char *mt_blas_init(void);
MT_API void mt_blas_set_threads(int n);

#ifdef __cplusplus
}
#endif
#endif /* MODTRAIN_H */
