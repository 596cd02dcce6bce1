/* bench_h5_iter.c — samples/s of the HDF5 iterator (src/h5_iter.c) against
 * the rate at which training consumes samples, in one process.
 *
 *  1. Writes a synthetic dataset (io/synthetic.h data, 10 classes, 784
 *     features, 65536 samples: ~205 MB) with the dataset writer, in blocks,
 *     to --path (default /tmp/mt_bench_h5_iter.h5; removed at the end unless
 *     --keep), and reports the write rate.
 *  2. Iterator rate: full epochs of mt_h5_iter_create(batch 256, shuffle,
 *     pad, world 1), the caller touching nothing but next(); the median
 *     epoch's samples/s. Reading runs on the prefetch thread; the file was
 *     just written, so it is read from the page cache (a shared file system
 *     or a cold cache is slower; see bench/README.md). An unshuffled epoch
 *     is reported too.
 *  3. Consumption rate: a Module for the 784-1024-1024-10 MLP (fc-relu-fc-
 *     relu-fc-SoftmaxOutput) bound at batch 256 on cpu(0) with 1 BLAS
 *     thread, forward_backward + update on one batch held in memory;
 *     median of --reps timings of --steps steps.
 *  4. Ratio = iterator rate / consumption rate (target >= 10).
 *  5. The same training fed by the HDF5 iterator (shuffled) instead of the
 *     in-memory batch: its rate over the in-memory rate shows how much of
 *     the reading the prefetch thread hides (1.0 = all of it).
 *
 *   bench_h5_iter [--samples N] [--batch B] [--epochs E] [--steps S]
 *                 [--reps R] [--path P] [--keep]
 * Exit status: 0 (figures printed; BELOW TARGET marks a missed target),
 * 1 on an error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/h5dataset.h"
#include "io/synthetic.h"
#include "bench/bench_util.h"
#include "modtrain.h"
#include "tools/check.h"

enum { DIM = 784, CLASSES = 10 };

static void write_file(const char *path, int64_t n) {
  int64_t block = 4096, dim = DIM;
  float *x = malloc((size_t)(block * DIM) * sizeof *x), *y = malloc((size_t)block * sizeof *y);
  if (!x || !y) exit(1);
  mtio_h5_writer *w;
  double t0 = bench_now();
  CHECK(mtio_h5_writer_create(path, 1, &dim, 0, CLASSES, 0, "bench_h5_iter", &w));
  double tgen = 0;
  for (int64_t f = 0; f < n; f += block) {
    int64_t r = n - f < block ? n - f : block;
    double g = bench_now();
    CHECK(mtio_synthetic_generate_range(CLASSES, DIM, n, 0, 0, f, r, x, y));
    tgen += bench_now() - g;
    CHECK(mtio_h5_writer_append(w, r, x, y));
  }
  CHECK(mtio_h5_writer_close(w));
  double t = bench_now() - t0, mb = (double)n * (DIM + 1) * 4 / 1e6;
  printf("wrote %s: %lld samples, %.0f MB in %.2f s (%.2f s generating; writing %.0f MB/s)\n", path,
         (long long)n, mb, t, tgen, mb / (t - tgen));
  free(x);
  free(y);
}

/* samples/s of one epoch of `it` (next() only). */
static double iter_epoch(mt_data_iter *it, int64_t bs) {
  mt_batch b;
  int rc;
  int64_t samples = 0;
  double t0 = bench_now();
  while ((rc = mt_data_iter_next(it, &b)) == 1) samples += bs - b.pad;
  CHECK(rc);
  double t = bench_now() - t0;
  CHECK(mt_data_iter_reset(it));
  return (double)samples / t;
}

static mt_module *make_mlp(int64_t bs) {
  mt_symbol *s[7];
  CHECK(mt_symbol_variable("data", &s[0]));
  CHECK(mt_symbol_create("FullyConnected", "fc1", "num_hidden=1024", 1, &s[0], &s[1]));
  CHECK(mt_symbol_create("Activation", "relu1", "act_type=relu", 1, &s[1], &s[2]));
  CHECK(mt_symbol_create("FullyConnected", "fc2", "num_hidden=1024", 1, &s[2], &s[3]));
  CHECK(mt_symbol_create("Activation", "relu2", "act_type=relu", 1, &s[3], &s[4]));
  CHECK(mt_symbol_create("FullyConnected", "fc3", "num_hidden=10", 1, &s[4], &s[5]));
  CHECK(mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &s[5], &s[6]));
  mt_module *mod;
  CHECK(mt_module_create(s[6], 0, NULL, 0, NULL, 1, (mt_context[]){mt_cpu(0)}, &mod));
  mt_data_desc dd = {"data", MT_SHAPE(bs, DIM)}, ld = {"softmax_label", MT_SHAPE(bs)};
  CHECK(mt_module_bind(mod, 1, &dd, 1, &ld, 1, 0, 0, MT_REQ_WRITE));
  mt_initializer *init;
  CHECK(mt_initializer_create("xavier magnitude=2", 0, &init));
  CHECK(mt_module_init_params(mod, init, NULL, NULL, 0, 0, 0));
  CHECK(mt_module_init_optimizer(mod, "local", "sgd", "learning_rate=0.01", 0));
  mt_initializer_free(init);
  for (int i = 0; i < 7; i++) mt_symbol_free(s[i]);
  return mod;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench_h5_iter [--samples N (65536)] [--batch B (256)] [--epochs E (3)]\n"
          "                     [--steps S (20)] [--reps R (5)]\n"
          "                     [--path P (/tmp/mt_bench_h5_iter.h5)] [--keep]\n");
}

int main(int argc, char **argv) {
  int64_t n = 65536, bs = 256;
  int epochs = 3, steps = 20, reps = 5, keep = 0;
  const char *path = "/tmp/mt_bench_h5_iter.h5";
  static const struct option opts[] = {{"samples", required_argument, NULL, 'n'},
                                       {"batch", required_argument, NULL, 'b'},
                                       {"epochs", required_argument, NULL, 'e'},
                                       {"steps", required_argument, NULL, 's'},
                                       {"reps", required_argument, NULL, 'r'},
                                       {"path", required_argument, NULL, 'p'},
                                       {"keep", no_argument, NULL, 'k'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "n:b:e:s:r:p:kh", opts, NULL)) != -1) {
    switch (c) {
    case 'n': n = atoll(optarg); break;
    case 'b': bs = atoll(optarg); break;
    case 'e': epochs = atoi(optarg); break;
    case 's': steps = atoi(optarg); break;
    case 'r': reps = atoi(optarg); break;
    case 'p': path = optarg; break;
    case 'k': keep = 1; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 1;
    }
  }
  if (n < bs || bs < 1 || epochs < 1 || steps < 1 || reps < 1) {
    usage(stderr);
    return 1;
  }
  mt_blas_set_threads(1);
  printf("bench_h5_iter: %lld samples x %d floats, batch %lld, BLAS kernel %s, 1 BLAS thread\n",
         (long long)n, DIM, (long long)bs, mt_blas_init());
  write_file(path, n);

  /* 2. the iterator alone */
  double *rates = malloc((size_t)epochs * sizeof *rates);
  mt_data_iter *it;
  CHECK(mt_h5_iter_create(path, bs, 1, 1, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &it));
  for (int e = 0; e < epochs; e++) {
    rates[e] = iter_epoch(it, bs);
    printf("  iterator epoch %d (shuffled): %.0f samples/s\n", e, rates[e]);
  }
  double iter_rate = bench_median(rates, epochs);
  mt_data_iter_free(it);
  CHECK(mt_h5_iter_create(path, bs, 0, 0, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &it));
  double seq_rate = iter_epoch(it, bs);
  printf("  iterator epoch (in file order): %.0f samples/s\n", seq_rate);

  /* 3. training on a batch in memory */
  mt_module *mod = make_mlp(bs);
  mt_batch b;
  CHECK(mt_data_iter_next(it, &b)); /* one real batch, held in the iterator's slot */
  for (int i = 0; i < 3; i++) {     /* warm-up */
    CHECK(mt_module_forward_backward(mod, &b));
    CHECK(mt_module_update(mod));
  }
  double *t = malloc((size_t)reps * sizeof *t);
  for (int r = 0; r < reps; r++) {
    double t0 = bench_now();
    for (int i = 0; i < steps; i++) {
      CHECK(mt_module_forward_backward(mod, &b));
      CHECK(mt_module_update(mod));
    }
    t[r] = (double)(steps * bs) / (bench_now() - t0);
  }
  double train_rate = bench_median(t, reps);
  mt_data_iter_free(it);
  printf("  training 784-1024-1024-10, batch %lld, from memory: %.0f samples/s\n", (long long)bs,
         train_rate);

  /* 5. training fed by the iterator */
  CHECK(mt_h5_iter_create(path, bs, 1, 2, MT_LAST_BATCH_PAD, 0, 1, NULL, NULL, &it));
  for (int r = 0; r < reps; r++) {
    double t0 = bench_now();
    for (int i = 0; i < steps; i++) {
      int rc = mt_data_iter_next(it, &b);
      CHECK(rc);
      if (rc == 0) {
        CHECK(mt_data_iter_reset(it));
        CHECK(mt_data_iter_next(it, &b));
      }
      CHECK(mt_module_forward_backward(mod, &b));
      CHECK(mt_module_update(mod));
    }
    t[r] = (double)(steps * bs) / (bench_now() - t0);
  }
  double fed_rate = bench_median(t, reps);
  mt_data_iter_free(it);
  mt_module_free(mod);
  printf("  training fed by the HDF5 iterator: %.0f samples/s\n", fed_rate);

  double ratio = iter_rate / train_rate;
  printf("iterator %.0f samples/s / training %.0f samples/s = %.1fx (target >= 10x)%s\n", iter_rate,
         train_rate, ratio, ratio >= 10 ? "" : "  BELOW TARGET");
  printf("training fed by the iterator / from memory = %.3f\n", fed_rate / train_rate);
  if (!keep) unlink(path);
  free(rates);
  free(t);
  return 0;
}
