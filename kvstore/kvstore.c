/* kvstore.c — creating kvstores by name and dispatching to the backend. */
#include <stdlib.h>
#include <string.h>

#include "kvstore/kvstore.h"

int mt_kvstore_create(const char *type, mt_kvstore **out) {
  *out = NULL;
  if (!type || !*type) type = "local";
  const mt_kvstore_backend *b = NULL;
  if (!strcmp(type, "local") || !strcmp(type, "device")) b = &mt_kvstore_local;
  if (!b)
    return mt_error_set(MT_E_INVAL, "unknown kvstore type '%s' (known: local, device)", type);
  mt_kvstore *kv = calloc(1, sizeof *kv);
  if (!kv) return mt_error_set(MT_E_NOMEM, "kvstore: out of memory");
  kv->backend = b;
  kv->rank = 0;
  kv->num_workers = 1;
  *out = kv;
  return MT_OK;
}

void mt_kvstore_free(mt_kvstore *kv) {
  if (!kv) return;
  if (kv->backend && kv->backend->destroy) kv->backend->destroy(kv);
  free(kv);
}

const char *mt_kvstore_type(const mt_kvstore *kv) { return kv->backend->name; }

int mt_kvstore_pushpull(mt_kvstore *kv, int key, int ndev, float *const *bufs,
                        const mt_context *ctxs, int64_t n) {
  return kv->backend->allreduce(kv, key, ndev, bufs, ctxs, n);
}

int mt_kvstore_broadcast(mt_kvstore *kv, int key, int ndev, float *const *bufs,
                         const mt_context *ctxs, int64_t n) {
  return kv->backend->broadcast(kv, key, ndev, bufs, ctxs, n);
}

int mt_kvstore_barrier(mt_kvstore *kv) { return kv->backend->barrier ? kv->backend->barrier(kv) : 0; }
