/* bench_h5_layouts.c — the HDF5 iterator on users' files (issue 18): for
 * each dataset file given (written by h5py: contiguous, chunked, gzip,
 * uint8; bench/run_h5_layouts.sh writes them), shuffled epochs of
 *
 *   iter   the iterator alone (next() only), cache = memory and cache = none
 *          (a streaming window of --cache-frac of /data's bytes);
 *   train  a 784-256-10 MLP (fc-relu-fc-SoftmaxOutput, sgd, 1 BLAS thread)
 *          at batch --batch, fed by the iterator (each cache mode), against
 *          the same training fed from memory (NDArrayIter over the same
 *          float32 arrays, read once before timing).
 *
 * Prints per file and mode the median epoch time and the ratio
 * in-memory time / HDF5 time (1.0 = as fast as memory; targets: >= 1/1.1
 * when the data fit the cache, >= 0.8 streamed with a 10% window).
 * --rank R --world W: this process is rank R of W (its shard of every
 * global batch, trained alone: the readers of W ranks run side by side,
 * without gradient exchange; run them together, see run_h5_layouts.sh).
 *
 *   bench_h5_layouts [--batch B] [--epochs E] [--cache-frac F] [--rank R --world W]
 *                    [--scale S] FILE...
 * Exit status 0 (figures printed), 1 on an error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5dataset.h"
#include "bench/bench_util.h"
#include "modtrain.h"
#include "tools/check.h"

static mt_module *make_mlp(int64_t bs, const mt_shape *in) {
  mt_symbol *s[5];
  CHECK(mt_symbol_variable("data", &s[0]));
  CHECK(mt_symbol_create("FullyConnected", "fc1", "num_hidden=256", 1, &s[0], &s[1]));
  CHECK(mt_symbol_create("Activation", "relu1", "act_type=relu", 1, &s[1], &s[2]));
  CHECK(mt_symbol_create("FullyConnected", "fc2", "num_hidden=10", 1, &s[2], &s[3]));
  CHECK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &s[3], &s[4]));
  mt_module *mod;
  CHECK(mt_module_create(s[4], 0, NULL, 0, NULL, 1, (mt_context[]){mt_cpu(0)}, &mod));
  mt_data_desc dd = {"data", *in}, ld = {"softmax_label", MT_SHAPE(bs)};
  dd.shape.dim[0] = bs;
  CHECK(mt_module_bind(mod, 1, &dd, 1, &ld, 1, 0, 0, MT_REQ_WRITE));
  mt_initializer *init;
  CHECK(mt_initializer_create("xavier magnitude=2", 0, &init));
  CHECK(mt_module_init_params(mod, init, NULL, NULL, 0, 0, 0));
  CHECK(mt_module_init_optimizer(mod, "local", "sgd", "learning_rate=0.01", 0));
  mt_initializer_free(init);
  for (int i = 0; i < 5; i++) mt_symbol_free(s[i]);
  return mod;
}

/* Seconds of one epoch of `it`; with mod, training on every batch. */
static double epoch(mt_data_iter *it, mt_module *mod) {
  mt_batch b;
  int rc;
  double t0 = bench_now();
  while ((rc = mt_data_iter_next(it, &b)) == 1) {
    if (!mod) continue;
    CHECK(mt_module_forward_backward(mod, &b));
    CHECK(mt_module_update(mod));
  }
  CHECK(rc);
  double t = bench_now() - t0;
  CHECK(mt_data_iter_reset(it));
  return t;
}

static double median_epochs(mt_data_iter *it, mt_module *mod, int epochs) {
  double t[32];
  if (epochs > 32) epochs = 32;
  for (int e = 0; e < epochs; e++) t[e] = epoch(it, mod);
  return bench_median(t, epochs);
}

int main(int argc, char **argv) {
  int64_t bs = 100;
  int epochs = 3, rank = 0, world = 1;
  double frac = 0.1;
  float scale = 1.0f;
  static const struct option lo[] = {{"batch", required_argument, NULL, 'b'},
                                     {"epochs", required_argument, NULL, 'e'},
                                     {"cache-frac", required_argument, NULL, 'f'},
                                     {"rank", required_argument, NULL, 'r'},
                                     {"world", required_argument, NULL, 'w'},
                                     {"scale", required_argument, NULL, 's'},
                                     {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "b:e:f:r:w:s:", lo, NULL)) != -1) {
    switch (c) {
    case 'b': bs = atoll(optarg); break;
    case 'e': epochs = atoi(optarg); break;
    case 'f': frac = atof(optarg); break;
    case 'r': rank = atoi(optarg); break;
    case 'w': world = atoi(optarg); break;
    case 's': scale = (float)atof(optarg); break;
    default:
      fprintf(stderr,
              "usage: bench_h5_layouts [--batch B] [--epochs E] [--cache-frac F] "
              "[--rank R --world W] [--scale S] FILE...\n");
      return 1;
    }
  }
  mt_blas_set_threads(1);
  for (int fi = optind; fi < argc; fi++) {
    const char *path = argv[fi];
    mtio_h5_reader *r;
    CHECK(mtio_h5_open(path, &r));
    mtio_h5_meta m = *mtio_h5_reader_meta(r);
    char lay[128];
    mtio_h5_layout_str(r, lay, sizeof lay);
    mt_shape xs = {.ndim = m.ndim}, ys = MT_SHAPE(m.dim[0]);
    for (int i = 0; i < m.ndim; i++) xs.dim[i] = m.dim[i];
    /* the in-memory reference: the same values as float32 */
    mt_ndarray *xa, *ya;
    CHECK(mt_ndarray_create(xs, mt_cpu(0), &xa));
    CHECK(mt_ndarray_create(ys, mt_cpu(0), &ya));
    CHECK(mtio_h5_read_range(r, 0, m.dim[0], mt_ndarray_data(xa), mt_ndarray_data(ya)));
    mtio_h5_close(r);
    float *xv = mt_ndarray_data(xa);
    if (scale != 1.0f)
      for (int64_t i = 0; i < mt_ndarray_size(xa); i++) xv[i] = (xv[i] - 0.0f) * scale;
    double data_bytes = (double)m.dim[0] * (double)m.row * m.elem;
    printf("%s: %lld x %lld %s, %s, %.1f MB; batch %lld, rank %d of %d\n", path,
           (long long)m.dim[0], (long long)m.row, mtio_dtype_name(m.dtype), lay, data_bytes / 1e6,
           (long long)bs, rank, world);
    mt_module *mod = make_mlp(bs / world, &xs);

    /* from memory: NDArrayIter, this rank's shard */
    mt_data_iter *mem, *sh;
    CHECK(mt_ndarray_iter_create(xa, ya, bs, 1, 7, MT_LAST_BATCH_PAD, NULL, NULL, &mem));
    if (world > 1) {
      CHECK(mt_data_iter_shard(mem, rank, world, &sh));
      mem = sh;
    }
    epoch(mem, mod); /* warm-up */
    double tmem = median_epochs(mem, mod, epochs);
    mt_data_iter_free(mem);
    printf("  train from memory:          %.3f s/epoch\n", tmem);

    const struct {
      mt_h5_cache cache;
      const char *name;
    } modes[] = {{MT_H5_CACHE_MEMORY, "cache=memory"}, {MT_H5_CACHE_NONE, "cache=none"}};
    for (int k = 0; k < 2; k++) {
      mt_h5_iter_opts o;
      mt_h5_iter_opts_init(&o);
      o.cache = modes[k].cache;
      o.scale = scale;
      if (o.cache == MT_H5_CACHE_NONE) o.cache_bytes = (int64_t)(frac * data_bytes) + 1;
      mt_data_iter *it;
      double t0 = bench_now();
      CHECK(mt_h5_iter_create_opts(path, bs, 1, 7, MT_LAST_BATCH_PAD, rank, world, NULL, NULL, &o,
                                   &it));
      double topen = bench_now() - t0;
      char info[1024];
      CHECK(mt_h5_iter_info(it, info, sizeof info, NULL));
      double titer = median_epochs(it, NULL, epochs);
      double ttrain = median_epochs(it, mod, epochs);
      int64_t rd, used;
      mt_data_iter_free(it);
      (void)rd;
      (void)used;
      printf(
          "  %-13s%s: open %.3f s, iterator %.3f s/epoch, train %.3f s/epoch, "
          "memory/hdf5 = %.3f\n    %s\n",
          modes[k].name, k == 1 ? (frac < 1 ? " (window)" : "") : "", topen, titer, ttrain,
          tmem / ttrain, info);
    }
    mt_module_free(mod);
    mt_ndarray_free(xa);
    mt_ndarray_free(ya);
  }
  return 0;
}
