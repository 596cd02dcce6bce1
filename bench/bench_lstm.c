/* bench_lstm.c — training throughput (tokens/s) of MXNet's
 * example/rnn/bucketing/lstm_bucketing.py language model, the modtrain side
 * of bench/run_lstm_bench.sh (the PyTorch side is bench/peer_pytorch_lstm.py,
 * which runs the same batches).
 *
 * The network: mt_lstm_lm_symbol (src/rnn_lm.c; Embedding, --layers
 * unrolled LSTMCell layers, FullyConnected over the vocabulary,
 * SoftmaxOutput), one symbol per bucket in a BucketingModule (the largest
 * bucket the default, parameters shared), bound on cpu(0),
 * Xavier(factor_type=in, magnitude=2.34), sgd learning_rate=0.01 momentum=0
 * wd=1e-5 (lstm_bucketing.py's defaults; rescale_grad 1/batch).
 * The batches: the first --nbatches batches of epoch 0 of the bucketed
 * sentence iterator over --data (a token-sequence file, e.g. the King James
 * Bible's data/kjv/train.h5; buckets --buckets, batch --batch, seed 1), so
 * the mix of lengths is the corpus's; their keys go to --keys-out for the
 * peer. A training step is mt_module_forward(is_train=1) +
 * mt_module_backward + mt_module_update; a repetition runs every batch once
 * after --warmup steps; tokens/s counts the padded tokens (batch x key) of
 * a pass over its time, the median over --reps; tokens per CPU second the
 * same over the process's CPU time (one thread: on a shared, loaded
 * machine the work done, where wall time also counts the waits).
 *
 * --phases: the share of a step's time in the recurrent GEMMs: the h2h
 * FullyConnected (batch, hidden) -> 4 hidden of every step and layer,
 * forward (one GEMM) and backward (two: the weight's and the state's
 * gradients), timed through the same op on the same shapes, summed over
 * the pass's keys, over the pass's time (CPU seconds both); the same for
 * every GEMM of the network (i2h, h2h and the vocabulary projection).
 *
 * Output: human-readable lines and one "RESULT key=value ..." line per
 * figure. One thread (--threads): mt_blas_set_threads, and the caller sets
 * OMP_NUM_THREADS=1 for oneDNN. Exit 1 on any error. */
#include <getopt.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_util.h"
#include "modtrain.h"
#include "src/attrs.h"
#include "src/ndarray.h"
#include "src/op.h"
#include "tools/check.h"

#define MAX_REPS 64

typedef struct {
  const char *data, *keys_out;
  int64_t buckets[MT_MAX_BUCKETS];
  int nbuckets;
  int batch, embed, hidden, layers, nbatches, warmup, reps, threads, phases;
} options;

/* ---------------------------------------------------------------- batches */

typedef struct {
  int n;
  mt_ndarray **data, **label;
  int64_t *key;
  int64_t tokens; /* batch x key, summed */
  int vocab;
} batch_set;

static void load_batches(const options *o, batch_set *bs) {
  mt_bucket_iter_options io;
  memset(&io, 0, sizeof io);
  io.buckets = o->buckets;
  io.nbuckets = o->nbuckets;
  io.batch_size = o->batch;
  io.invalid_label = 0;
  io.shuffle = 1;
  io.seed = 1;
  io.world = 1;
  mt_bucket_iter_info info;
  mt_data_iter *it;
  CHECK(mt_bucket_sentence_iter_create(o->data, &io, &info, &it));
  CHECK(mt_data_iter_reset(it));
  memset(bs, 0, sizeof *bs);
  bs->vocab = (int)info.vocab_size;
  bs->data = calloc((size_t)o->nbatches, sizeof *bs->data);
  bs->label = calloc((size_t)o->nbatches, sizeof *bs->label);
  bs->key = calloc((size_t)o->nbatches, sizeof *bs->key);
  if (!bs->data || !bs->label || !bs->key) {
    fprintf(stderr, "bench_lstm: out of memory\n");
    exit(1);
  }
  mt_batch b;
  while (bs->n < o->nbatches) {
    int rc = mt_data_iter_next(it, &b);
    CHECK(rc);
    if (rc == 0) break;
    int i = bs->n++;
    CHECK(mt_ndarray_create(mt_ndarray_shape(b.data[0]), mt_cpu(0), &bs->data[i]));
    CHECK(mt_ndarray_create(mt_ndarray_shape(b.label[0]), mt_cpu(0), &bs->label[i]));
    CHECK(mt_ndarray_copy(bs->data[i], b.data[0]));
    CHECK(mt_ndarray_copy(bs->label[i], b.label[0]));
    bs->key[i] = b.bucket_key;
    bs->tokens += (int64_t)o->batch * b.bucket_key;
  }
  mt_data_iter_free(it);
  if (bs->n < o->nbatches)
    fprintf(stderr, "bench_lstm: the epoch has %d batches, fewer than --nbatches %d\n", bs->n,
            o->nbatches);
  if (o->keys_out) {
    FILE *f = fopen(o->keys_out, "w");
    if (!f) {
      perror(o->keys_out);
      exit(1);
    }
    for (int i = 0; i < bs->n; i++) fprintf(f, "%lld\n", (long long)bs->key[i]);
    fclose(f);
  }
}

/* Seconds of CPU time this process has used (one thread: the work done,
 * whatever else the machine runs). */
static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ----------------------------------------------------------------- module */

static mt_lstm_lm_config lm_cfg;

static mt_module *make_module(const options *o, const batch_set *bs, int64_t max_key) {
  lm_cfg = (mt_lstm_lm_config){o->layers, bs->vocab, o->embed, o->hidden};
  mt_context ctx = mt_cpu(0);
  mt_module *mod;
  CHECK(mt_bucketing_module_create(mt_lstm_lm_sym_gen, &lm_cfg, (int)max_key, 1, &ctx, &mod));
  mt_data_desc d = {"data", MT_SHAPE(o->batch, max_key)};
  mt_data_desc l = {"softmax_label", MT_SHAPE(o->batch, max_key)};
  CHECK(mt_module_bind(mod, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  mt_initializer *xavier;
  CHECK(mt_initializer_create("xavier factor_type=in magnitude=2.34", 0, &xavier));
  CHECK(mt_module_init_params(mod, xavier, NULL, NULL, 0, 0, 0));
  mt_initializer_free(xavier);
  CHECK(
      mt_module_init_optimizer(mod, "local", "sgd", "learning_rate=0.01 momentum=0 wd=0.00001", 0));
  return mod;
}

static mt_batch batch_at(const batch_set *bs, int i) {
  mt_batch b;
  memset(&b, 0, sizeof b);
  b.ndata = b.nlabel = 1;
  b.data[0] = bs->data[i];
  b.label[0] = bs->label[i];
  b.bucket_key = bs->key[i];
  return b;
}

static void step(mt_module *mod, const batch_set *bs, int i) {
  mt_batch b = batch_at(bs, i);
  CHECK(mt_module_forward(mod, &b, 1));
  CHECK(mt_module_backward(mod, 0, NULL));
  CHECK(mt_module_update(mod));
}

/* ------------------------------------------------------- GEMMs (--phases) */

/* One FullyConnected op driven directly: x (N, K) -> (N, n). */
typedef struct {
  const mt_op *op;
  void *param;
  mt_ndarray *in[3], *grad[3], *y, *dy;
} fc_op;

static void fc_setup(fc_op *f, int N, int K, int n) {
  memset(f, 0, sizeof *f);
  f->op = mt_op_find("FullyConnected");
  if (!f->op) {
    fprintf(stderr, "bench_lstm: no FullyConnected op\n");
    exit(1);
  }
  char attrs[64];
  snprintf(attrs, sizeof attrs, "num_hidden=%d", n);
  mt_attrs a;
  CHECK(mt_attrs_parse(attrs, &a));
  f->param = calloc(1, f->op->param_size);
  CHECK(f->op->parse(&a, "fc", f->param));
  mt_attrs_free(&a);
  mt_shape in[3] = {MT_SHAPE(N, K)}, out[1] = {{0}}, aux[1] = {{0}};
  CHECK(f->op->infer_shape(f->param, "fc", in, out, aux));
  for (int i = 0; i < 3; i++) {
    CHECK(mt_ndarray_create(in[i], mt_cpu(0), &f->in[i]));
    CHECK(mt_ndarray_create(in[i], mt_cpu(0), &f->grad[i]));
    CHECK(mt_ndarray_fill(f->in[i], 0.01f));
  }
  CHECK(mt_ndarray_create(out[0], mt_cpu(0), &f->y));
  CHECK(mt_ndarray_create(out[0], mt_cpu(0), &f->dy));
  CHECK(mt_ndarray_fill(f->dy, 0.01f));
}

static void fc_free(fc_op *f) {
  for (int i = 0; i < 3; i++) {
    mt_ndarray_free(f->in[i]);
    mt_ndarray_free(f->grad[i]);
  }
  mt_ndarray_free(f->y);
  mt_ndarray_free(f->dy);
  free(f->param);
}

/* CPU seconds of one forward + backward of the op (the median of 15
 * timings of loops of >= 2 ms). */
static double fc_time(fc_op *f) {
  mt_op_ctx c = {.ctx = mt_cpu(0), .is_train = 1};
  mt_ndarray *out[1] = {f->y}, *og[1] = {f->dy};
  mt_grad_req req[3] = {MT_REQ_WRITE, MT_REQ_WRITE, MT_REQ_WRITE};
  double t[15];
  int loops = 1;
  for (;;) {
    double t0 = bench_now();
    for (int i = 0; i < loops; i++) {
      CHECK(mt_op_forward(f->op, f->param, &c, f->in, out, NULL));
      CHECK(mt_op_backward(f->op, f->param, &c, og, f->in, out, req, f->grad, NULL));
    }
    double dt = bench_now() - t0;
    if (dt >= 2e-3) break;
    loops *= 2;
  }
  for (int r = 0; r < 15; r++) {
    double t0 = cpu_now();
    for (int i = 0; i < loops; i++) {
      CHECK(mt_op_forward(f->op, f->param, &c, f->in, out, NULL));
      CHECK(mt_op_backward(f->op, f->param, &c, og, f->in, out, req, f->grad, NULL));
    }
    t[r] = (cpu_now() - t0) / loops;
  }
  return bench_median(t, 15);
}

/* The GEMM seconds of one pass: recurrent (h2h) and all (i2h, h2h, pred). */
static void gemm_seconds(const options *o, const batch_set *bs, double *rec, double *all) {
  int B = o->batch, E = o->embed, H = o->hidden;
  fc_op h2h, i2h0, i2h;
  fc_setup(&h2h, B, H, 4 * H);
  fc_setup(&i2h0, B, E, 4 * H);
  fc_setup(&i2h, B, H, 4 * H);
  double th = fc_time(&h2h), ti0 = fc_time(&i2h0), ti = fc_time(&i2h);
  *rec = *all = 0;
  for (int k = 0; k < bs->n; k++) {
    int64_t T = bs->key[k];
    *rec += (double)T * o->layers * th;
    *all += (double)T * (o->layers * th + ti0 + (o->layers - 1) * ti);
  }
  /* the projection onto the vocabulary: one (B*T, H) -> V per batch, by key */
  int64_t seen[MT_MAX_BUCKETS];
  double tp[MT_MAX_BUCKETS];
  int nseen = 0;
  for (int k = 0; k < bs->n; k++) {
    int j = 0;
    while (j < nseen && seen[j] != bs->key[k]) j++;
    if (j == nseen) {
      fc_op p;
      fc_setup(&p, B * (int)bs->key[k], H, bs->vocab);
      seen[nseen] = bs->key[k];
      tp[nseen++] = fc_time(&p);
      fc_free(&p);
    }
    *all += tp[j];
  }
  fc_free(&h2h);
  fc_free(&i2h0);
  fc_free(&i2h);
}

/* ------------------------------------------------------------------- main */

static void usage(void) {
  fprintf(stderr,
          "usage: bench_lstm --data TRAIN.h5 [--buckets 10,20,...] [--batch B] [--embed E]\n"
          "                  [--hidden H] [--layers L] [--nbatches N] [--warmup W] [--reps R]\n"
          "                  [--threads T] [--keys-out FILE] [--phases]\n");
  exit(1);
}

static void parse_buckets(const char *s, options *o) {
  o->nbuckets = 0;
  for (const char *p = s; *p;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 1 || v > 64 || o->nbuckets == MT_MAX_BUCKETS) usage();
    o->buckets[o->nbuckets++] = v;
    p = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') usage();
  }
}

int main(int argc, char **argv) {
  options o = {.batch = 32,
               .embed = 200,
               .hidden = 200,
               .layers = 2,
               .nbatches = 60,
               .warmup = 6,
               .reps = 5,
               .threads = 1};
  parse_buckets("10,20,30,40,50,60", &o);
  static const struct option opts[] = {{"data", required_argument, 0, 'd'},
                                       {"buckets", required_argument, 0, 'k'},
                                       {"batch", required_argument, 0, 'b'},
                                       {"embed", required_argument, 0, 'e'},
                                       {"hidden", required_argument, 0, 'H'},
                                       {"layers", required_argument, 0, 'L'},
                                       {"nbatches", required_argument, 0, 'n'},
                                       {"warmup", required_argument, 0, 'w'},
                                       {"reps", required_argument, 0, 'r'},
                                       {"threads", required_argument, 0, 't'},
                                       {"keys-out", required_argument, 0, 'o'},
                                       {"phases", no_argument, 0, 'p'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'd': o.data = optarg; break;
    case 'k': parse_buckets(optarg, &o); break;
    case 'b': o.batch = atoi(optarg); break;
    case 'e': o.embed = atoi(optarg); break;
    case 'H': o.hidden = atoi(optarg); break;
    case 'L': o.layers = atoi(optarg); break;
    case 'n': o.nbatches = atoi(optarg); break;
    case 'w': o.warmup = atoi(optarg); break;
    case 'r': o.reps = atoi(optarg); break;
    case 't': o.threads = atoi(optarg); break;
    case 'o': o.keys_out = optarg; break;
    case 'p': o.phases = 1; break;
    default: usage();
    }
  }
  if (!o.data || o.batch < 1 || o.embed < 1 || o.hidden < 1 || o.layers < 1 || o.nbatches < 1 ||
      o.reps < 1 || o.reps > MAX_REPS || o.warmup < 0 || o.threads < 1)
    usage();
  const char *blas = mt_blas_init();
  mt_blas_set_threads(o.threads);

  batch_set bs;
  load_batches(&o, &bs);
  int64_t max_key = 0, hist[65] = {0};
  for (int i = 0; i < bs.n; i++) {
    if (bs.key[i] > max_key) max_key = bs.key[i];
    hist[bs.key[i]]++;
  }
  printf(
      "modtrain %s (BLAS kernel %s), %d thread(s): lstm_lm %d layers, embed %d, hidden %d, "
      "vocab %d, batch %d; %d batches of %s, %lld tokens per pass; keys",
      mt_version(), blas, o.threads, o.layers, o.embed, o.hidden, bs.vocab, o.batch, bs.n, o.data,
      (long long)bs.tokens);
  for (int k = 1; k <= 64; k++)
    if (hist[k]) printf(" %dx%lld", k, (long long)hist[k]);
  printf("\n");

  mt_module *mod = make_module(&o, &bs, max_key);
  for (int i = 0; i < o.warmup; i++) step(mod, &bs, i % bs.n);
  /* every bucket's executor exists before timing */
  for (int i = 0; i < bs.n; i++) {
    mt_batch b = batch_at(&bs, i);
    CHECK(mt_module_forward(mod, &b, 1));
  }
  double rate[MAX_REPS], crate[MAX_REPS], csecs[MAX_REPS];
  for (int r = 0; r < o.reps; r++) {
    double t0 = bench_now(), c0 = cpu_now();
    for (int i = 0; i < bs.n; i++) step(mod, &bs, i);
    csecs[r] = cpu_now() - c0;
    rate[r] = (double)bs.tokens / (bench_now() - t0);
    crate[r] = (double)bs.tokens / csecs[r];
  }
  double med = bench_median(rate, o.reps), cmed = bench_median(crate, o.reps);
  printf(
      "train: median %.0f tokens/s (min %.0f, max %.0f) over %d reps; %.0f tokens per CPU "
      "second\n",
      med, bench_min(rate, o.reps), bench_max(rate, o.reps), o.reps, cmed);
  printf(
      "RESULT impl=modtrain what=train tokens_per_s=%.3f min=%.3f max=%.3f "
      "tokens_per_cpu_s=%.3f batches=%d threads=%d\n",
      med, bench_min(rate, o.reps), bench_max(rate, o.reps), cmed, bs.n, o.threads);
  if (o.phases) {
    /* CPU seconds on both sides: the shares hold on a loaded machine */
    double rec, all, pass = bench_median(csecs, o.reps);
    gemm_seconds(&o, &bs, &rec, &all);
    printf(
        "phases (CPU time): a pass %.3f s; recurrent (h2h) GEMMs %.3f s = %.1f%%; all GEMMs "
        "(i2h, h2h, pred) %.3f s = %.1f%% (each FullyConnected timed alone on the pass's "
        "shapes)\n",
        pass, rec, 100 * rec / pass, all, 100 * all / pass);
    printf(
        "RESULT impl=modtrain what=phases pass_cpu_s=%.6f recurrent_gemm_s=%.6f "
        "recurrent_share=%.4f all_gemm_s=%.6f gemm_share=%.4f\n",
        pass, rec, rec / pass, all, all / pass);
  }
  mt_module_free(mod);
  for (int i = 0; i < bs.n; i++) {
    mt_ndarray_free(bs.data[i]);
    mt_ndarray_free(bs.label[i]);
  }
  free(bs.data);
  free(bs.label);
  free(bs.key);
  return 0;
}
