/* kvstore.h — gradient aggregation behind one interface (MXNet's KVStore).
 *
 * Values are raw float buffers, one per device of this process, all of the
 * same length; a key names one such group (the executor-group uses key 0
 * for its whole flat gradient buffer, or one key per bucket). Backends sum
 * across the devices of a process (`local`) and, in later backends, across
 * ranks (`dist_sync` over MPI, `nccl`, `hier`). Every function returns 0 or a
 * negative MT_E_* code with the message recorded. Backends see only the
 * public header's types and raw pointers, never src/ internals. */
#ifndef MT_KVSTORE_H
#define MT_KVSTORE_H
#include "modtrain.h"

typedef struct mt_kvstore mt_kvstore;

typedef struct {
  const char *name;
  /* In place: every bufs[d] (n floats on ctxs[d]) becomes the sum over all
   * devices (and ranks). Devices are summed in index order, so results are
   * bitwise repeatable. */
  int (*allreduce)(mt_kvstore *kv, int key, int ndev, float *const *bufs, const mt_context *ctxs,
                   int64_t n);
  /* bufs[0] of rank 0 is copied to every device of every rank. */
  int (*broadcast)(mt_kvstore *kv, int key, int ndev, float *const *bufs, const mt_context *ctxs,
                   int64_t n);
  int (*barrier)(mt_kvstore *kv);
  void (*destroy)(mt_kvstore *kv);
} mt_kvstore_backend;

struct mt_kvstore {
  const mt_kvstore_backend *backend;
  int rank, num_workers;
  void *impl; /* backend state */
};

/* Creates a kvstore by MXNet's type name: "local" and "device" (both the
 * in-process local backend here). Unknown names: MT_E_INVAL listing the
 * known ones. */
int mt_kvstore_create(const char *type, mt_kvstore **out);
void mt_kvstore_free(mt_kvstore *kv);
const char *mt_kvstore_type(const mt_kvstore *kv);

/* MXNet's pushpull: sum of the values over all devices and workers, written
 * back into every value. */
int mt_kvstore_pushpull(mt_kvstore *kv, int key, int ndev, float *const *bufs,
                        const mt_context *ctxs, int64_t n);
int mt_kvstore_broadcast(mt_kvstore *kv, int key, int ndev, float *const *bufs,
                         const mt_context *ctxs, int64_t n);
int mt_kvstore_barrier(mt_kvstore *kv);

extern const mt_kvstore_backend mt_kvstore_local;

#endif
