/* factory.c — creating and freeing kvstores: the type name (MXNet's
 * spellings) looked up in one table of backends, then the backend's own
 * init. No backend is treated apart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvstore/kvstore.h"

static const struct {
  const char *name;
  const mt_kvstore_backend *backend;
  int listed; /* named in the error for an unknown type; 0: a quiet alias */
} kvstore_types[] = {
    {"local", &mt_kvstore_local, 1},
    {"device", &mt_kvstore_local, 1},
    {"dist_sync", &mt_kvstore_dist_sync, 1},
    {"dist", &mt_kvstore_dist_sync, 0},
    {"dist_sync_device", &mt_kvstore_dist_sync, 0},
    {"hier", &mt_kvstore_hier, 1},
    {"nccl", &mt_kvstore_nccl, 1},
};
enum { NTYPES = sizeof kvstore_types / sizeof kvstore_types[0] };

static int unknown_type(const char *type) {
  char known[128] = "";
  size_t len = 0;
  for (int i = 0; i < NTYPES; i++)
    if (kvstore_types[i].listed && len < sizeof known)
      len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", len ? ", " : "",
                              kvstore_types[i].name);
  return mt_error_set(MT_E_INVAL, "unknown kvstore type '%s' (known: %s)", type, known);
}

int mt_kvstore_create(const char *type, mt_kvstore **out) {
  *out = NULL;
  if (!type || !*type) type = "local";
  const mt_kvstore_backend *b = NULL;
  for (int i = 0; i < NTYPES && !b; i++)
    if (!strcmp(type, kvstore_types[i].name)) b = kvstore_types[i].backend;
  if (!b) return unknown_type(type);
  mt_kvstore *kv = calloc(1, sizeof *kv);
  if (!kv) return mt_error_set(MT_E_NOMEM, "kvstore: out of memory");
  kv->backend = b;
  kv->rank = 0;
  kv->num_workers = 1;
  if (b->init) {
    int rc = b->init(kv);
    if (rc < 0) {
      if (kv->impl && b->destroy) b->destroy(kv); /* what init made before it failed */
      free(kv);
      return rc;
    }
  }
  *out = kv;
  return MT_OK;
}

void mt_kvstore_free(mt_kvstore *kv) {
  if (!kv) return;
  if (kv->backend && kv->backend->destroy) kv->backend->destroy(kv);
  free(kv);
}
