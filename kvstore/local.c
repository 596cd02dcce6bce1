/* local.c — the `local` kvstore: sums the values of the devices of one
 * process. CPU values are summed in device order into device 0 and copied
 * back. (GPU values come with the CUDA issue: the nccl backend.) */
#include <string.h>

#include "kernels/kernels.h"
#include "kvstore/kvstore.h"

static int check_cpu(int ndev, const mt_context *ctxs) {
  for (int d = 0; d < ndev; d++)
    if (ctxs[d].type != MT_CPU)
      return mt_error_set(MT_E_UNSUPPORTED,
                          "kvstore local: gpu(%d) values need the nccl kvstore (CUDA issue)",
                          ctxs[d].id);
  return MT_OK;
}

static int local_allreduce(mt_kvstore *kv, int key, int ndev, float *const *bufs,
                           const mt_context *ctxs, int64_t n) {
  int rc = check_cpu(ndev, ctxs);
  if (rc) return rc;
  for (int d = 1; d < ndev; d++) mtk_axpy(bufs[0], 1.0f, bufs[d], n);
  for (int d = 1; d < ndev; d++) memcpy(bufs[d], bufs[0], (size_t)n * sizeof(float));
  return MT_OK;
}

static int local_broadcast(mt_kvstore *kv, int key, int ndev, float *const *bufs,
                           const mt_context *ctxs, int64_t n) {
  int rc = check_cpu(ndev, ctxs);
  if (rc) return rc;
  for (int d = 1; d < ndev; d++) memcpy(bufs[d], bufs[0], (size_t)n * sizeof(float));
  return MT_OK;
}

const mt_kvstore_backend mt_kvstore_local = {
    .name = "local",
    .allreduce = local_allreduce,
    .broadcast = local_broadcast,
};
