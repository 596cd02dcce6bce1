/* local.c — the `local` kvstore: sums the values of the devices of one
 * process (in device order, into device 0) with the device stage
 * (device_stage.c). Synchronous: start does the work; no state, no
 * ranks. */
#include "kvstore/kvstore.h"

static int local_start(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                       int64_t n) {
  (void)kv;
  return mt_kvstore_reduce_devices(ndev, bufs, ctxs, n);
}

static int local_broadcast(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                           int64_t n) {
  (void)kv;
  return mt_kvstore_copy_devices(ndev, bufs, ctxs, n);
}

const mt_kvstore_backend mt_kvstore_local = {
    .name = "local",
    .across_ranks = 0,
    .start = local_start,
    .broadcast = local_broadcast,
};
