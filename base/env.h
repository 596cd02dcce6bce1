/* env.h — every environment variable modtrain reads, declared once (in the
 * spirit of NCCL's NCCL_PARAM): name, default and a one-line doc in one
 * table. `modtrain --help` prints the table; tests/test_docs.sh checks that
 * the README's and docs/config.md's tables list exactly these names; code
 * reads a variable only through mt_env() with its id, never with getenv. */
#ifndef MT_BASE_ENV_H
#define MT_BASE_ENV_H

/* X(ID, NAME, DEFAULT, DOC): DEFAULT and DOC are what --help shows; DEFAULT
 * is also docs/config.md's default column, word for word. */
#define MT_ENV_TABLE(X)                                                                            \
  X(LOG, "MODTRAIN_LOG", "info", "log level: error, warn, info or debug")                          \
  X(GEMM, "MODTRAIN_GEMM", "oneDNN where built",                                                   \
    "openblas: every GEMM through OpenBLAS instead of oneDNN")                                     \
  X(OPENBLAS_CORETYPE, "OPENBLAS_CORETYPE", "the best kernel for the CPU",                         \
    "force an OpenBLAS kernel (e.g. Haswell)")                                                     \
  X(OPENBLAS_NUM_THREADS, "OPENBLAS_NUM_THREADS", "cores per node / ranks per node",               \
    "GEMM threads per rank (oneDNN and OpenBLAS); wins over OMP_NUM_THREADS")                      \
  X(OMP_NUM_THREADS, "OMP_NUM_THREADS", "cores per node / ranks per node",                         \
    "GEMM threads per rank when OPENBLAS_NUM_THREADS is unset")                                    \
  X(SHM, "MODTRAIN_SHM", "on",                                                                     \
    "0: ranks of a node reduce through MPI, not shared memory, and each caches its own data")      \
  X(SHARED_UPDATE, "MODTRAIN_SHARED_UPDATE", "on where it applies",                                \
    "0: every rank keeps and updates all parameters (no node-shared update)")                      \
  X(FUSE, "MODTRAIN_FUSE", "GPU contexts only",                                                    \
    "FullyConnected + Activation in one step: 0 never, 1 on CPU contexts too")                     \
  X(GPU_STREAMS, "MODTRAIN_GPU_STREAMS", "on",                                                     \
    "0: several GPU contexts share the legacy default stream")                                     \
  X(GPU_CACHE, "MODTRAIN_GPU_CACHE", "on", "0: plain cudaMalloc/cudaFree, no caching allocator")   \
  X(CUDA_AWARE_MPI, "MODTRAIN_CUDA_AWARE_MPI", "on where MPI is CUDA-aware",                       \
    "0: GPU buckets always staged through pinned host memory")                                     \
  X(NO_PROGRESS, "MODTRAIN_NO_PROGRESS", "unset", "set: no progress bar even on a terminal")       \
  X(TIMELINE, "MODTRAIN_TIMELINE", "unset",                                                        \
    "a Trace Event JSON timeline of fit to this file, when [train] timeline is unset")             \
  X(FAULT, "MODTRAIN_FAULT", "unset",                                                              \
    "failure injection for tests: rank=R,epoch=E,batch=B,kind=error|exit|hang|nan")

typedef enum {
#define MT_ENV_ID_(id, name, def, doc) MT_ENV_##id,
  MT_ENV_TABLE(MT_ENV_ID_)
#undef MT_ENV_ID_
      MT_ENV_COUNT
} mt_env_id;

typedef struct {
  const char *name;
  const char *def;
  const char *doc;
} mt_env_knob;

/* The table, MT_ENV_COUNT entries in declaration order. */
const mt_env_knob *mt_env_knobs(void);
/* The variable's value, NULL when unset (an empty value is returned as ""). */
const char *mt_env(mt_env_id id);
/* 1 when the variable is set to exactly "0" (the "turn it off" knobs). */
int mt_env_is_zero(mt_env_id id);

#endif
