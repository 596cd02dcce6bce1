/* device_stage.h — the in-process stage every kvstore backend shares:
 * summing and copying one value between the contexts (devices) of this
 * process (kvstore/device_stage.c). Calls no backend. */
#ifndef MT_KVSTORE_DEVICE_STAGE_H
#define MT_KVSTORE_DEVICE_STAGE_H
#include "modtrain.h"

/* Sums bufs[1..ndev) (n floats each) into bufs[0], in device order
 * (bitwise repeatable). GPU values: each is staged onto device 0's GPU
 * first. CPU and GPU contexts mixed: MT_E_UNSUPPORTED. */
int mt_kvstore_reduce_devices(int ndev, float *const *bufs, const mt_context *ctxs, int64_t n);
/* bufs[0] to bufs[1..ndev). */
int mt_kvstore_copy_devices(int ndev, float *const *bufs, const mt_context *ctxs, int64_t n);

#endif
