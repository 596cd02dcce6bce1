/* bench_gpu_train.c — training samples/s of an MLP through the Module on
 * gpu(0): forward + backward + update (sgd, momentum 0.9), batches resident
 * on the GPU, as bench/peer_pytorch_gpu.py does for PyTorch eager.
 * usage: bench_gpu_train BATCH DIM HIDDEN... CLASSES [--steps N] [--contexts LIST]
 * --contexts: GPU ids of the Module's contexts, e.g. 0,0 (the same GPU twice:
 * two executors, each on its own stream unless MODTRAIN_GPU_STREAMS=0);
 * default 0.
 * prints: "modtrain-gpu <net> batch B: S samples/s (T us/step)" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_net.h"
#include "bench/bench_util.h"
#include "kernels/kernels.h"
#include "modtrain.h"
#include "tools/check.h"

int main(int argc, char **argv) {
#ifndef MT_HAVE_CUDA
  fprintf(stderr, "bench_gpu_train: built without CUDA\n");
  return 77;
#else
  int dims[16], nd = 0, steps = 300, nctx = 0;
  mt_context ctxs[8];
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--contexts") && i + 1 < argc) {
      for (char *p = argv[++i]; *p && nctx < 8;) {
        ctxs[nctx++] = mt_gpu((int)strtol(p, &p, 10));
        if (*p == ',') p++;
        else if (*p) {
          fprintf(stderr, "bench_gpu_train: --contexts takes ids like 0,0\n");
          return 2;
        }
      }
    } else if (nd < 16) dims[nd++] = atoi(argv[i]);
  }
  if (nctx == 0) ctxs[nctx++] = mt_gpu(0);
  if (nd < 3) {
    fprintf(stderr,
            "usage: bench_gpu_train BATCH DIM HIDDEN... CLASSES [--steps N] [--contexts LIST]\n");
    return 2;
  }
  if (mtk_cuda_device_count() == 0) {
    fprintf(stderr, "bench_gpu_train: no CUDA device\n");
    return 77;
  }
  int batch = dims[0], dim = dims[1];
  char net[256];
  int off = snprintf(net, sizeof net, "%d", dim);
  for (int l = 2; l < nd; l++) off += snprintf(net + off, sizeof net - (size_t)off, "-%d", dims[l]);
  mt_symbol *out;
  CHECK(bench_mlp(dims + 2, nd - 2, &out));
  mt_module *m;
  mt_context ctx = ctxs[0];
  CHECK(mt_module_create(out, 0, NULL, 0, NULL, nctx, ctxs, &m));
  mt_data_desc d = {"data", MT_SHAPE(batch, dim)}, l = {"softmax_label", MT_SHAPE(batch)};
  CHECK(mt_module_bind(m, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  mt_initializer *init;
  CHECK(mt_initializer_create("xavier magnitude=2", 0, &init));
  CHECK(mt_module_init_params(m, init, NULL, NULL, 0, 0, 0));
  CHECK(mt_module_init_optimizer(m, "local", "sgd", "learning_rate=0.1 momentum=0.9", 0));
  enum { NB = 8 };
  mt_batch b[NB];
  int classes = dims[nd - 1];
  float *hx = malloc(sizeof(float) * (size_t)batch * dim),
        *hy = malloc(sizeof(float) * (size_t)batch);
  for (int k = 0; k < NB; k++) {
    memset(&b[k], 0, sizeof b[k]);
    b[k].ndata = b[k].nlabel = 1;
    CHECK(mt_ndarray_create(MT_SHAPE(batch, dim), ctx, &b[k].data[0]));
    CHECK(mt_ndarray_create(MT_SHAPE(batch), ctx, &b[k].label[0]));
    for (int64_t i = 0; i < (int64_t)batch * dim; i++)
      hx[i] = (float)((i * 7919 + k) % 1000) / 1000.0f;
    for (int i = 0; i < batch; i++) hy[i] = (float)((i + k) % classes);
    CHECK(mt_ndarray_copy_from(b[k].data[0], hx, (int64_t)batch * dim));
    CHECK(mt_ndarray_copy_from(b[k].label[0], hy, batch));
  }
  for (int s = 0; s < 30; s++) {
    CHECK(mt_module_forward_backward(m, &b[s % NB]));
    CHECK(mt_module_update(m));
  }
  for (int c = 0; c < nctx; c++) CHECK(mtk_cuda_sync(ctxs[c].id));
  double best = 1e30;
  for (int rep = 0; rep < 5; rep++) {
    double t0 = bench_now();
    for (int s = 0; s < steps; s++) {
      CHECK(mt_module_forward_backward(m, &b[s % NB]));
      CHECK(mt_module_update(m));
    }
    for (int c = 0; c < nctx; c++) CHECK(mtk_cuda_sync(ctxs[c].id));
    double t = (bench_now() - t0) / steps;
    if (t < best) best = t;
  }
  const char *st = getenv("MODTRAIN_GPU_STREAMS");
  char cl[64] = "";
  if (nctx > 1) {
    int o = snprintf(cl, sizeof cl, " contexts gpu:");
    for (int c = 0; c < nctx && o < (int)sizeof cl - 4; c++)
      o += snprintf(cl + o, sizeof cl - (size_t)o, "%s%d", c ? "," : "", ctxs[c].id);
    snprintf(cl + o, sizeof cl - (size_t)o, " streams %s", st && !strcmp(st, "0") ? "off" : "on");
  }
  printf("modtrain-gpu %s batch %d%s: %.0f samples/s (%.1f us/step, best of 5 x %d steps)\n", net,
         batch, cl, batch / best, best * 1e6, steps);
  return 0;
#endif
}
