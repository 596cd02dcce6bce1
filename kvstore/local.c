/* local.c — the `local` kvstore: sums the values of the devices of one
 * process (in device order, into device 0). Synchronous: start does the
 * work. */
#include "kvstore/kvstore.h"

static int local_start(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                       int64_t n) {
  return mt_kvstore_reduce_devices(ndev, bufs, ctxs, n);
}

static int local_broadcast(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                           int64_t n) {
  return mt_kvstore_copy_devices(ndev, bufs, ctxs, n);
}

const mt_kvstore_backend mt_kvstore_local = {
    .name = "local",
    .start = local_start,
    .broadcast = local_broadcast,
};
