/* bench_scaling.c — data-parallel training over MPI: weak scaling of the
 * 784-1024-1024-10 MLP and the share of gradient communication hidden
 * behind backward (run under mpirun; see bench/run_mpi_bench.sh).
 *
 * The net: data -> fc1(1024) -> relu -> fc2(1024) -> relu -> fc3(10) ->
 * SoftmaxOutput, batch --batch (256) per rank, Xavier(magnitude=2), sgd
 * learning_rate=0.1 momentum=0.9 (rescale_grad = 1/global batch, set by the
 * Module). 1 BLAS thread per rank (--threads), OpenBLAS's best kernel
 * (mt_blas_init). Every rank trains on its own synthetic shard (the
 * tutorial's data, part = rank, rows shuffled). A step is
 * mt_module_forward_backward + mt_module_update, as fit takes it (part 2
 * calls forward and backward apart, to time them).
 *
 * Part 1, weak scaling (samples/s), interleaved in each repetition:
 *   1 process  rank 0 alone trains a Module with kvstore "local" (no
 *              communication) while the other ranks sleep (they poll an
 *              MPI_Ibarrier every 0.2 ms: no busy core).
 *   N ranks    every rank trains a Module with kvstore --kvstore
 *              (dist_sync) and the Module's defaults: on one node the
 *              node-shared update (src/module.c), else 25 MiB buckets (or
 *              --scaling-bucket); samples/s =
 *              N * batch * steps / the slowest rank's time.
 *   shared=0   the same with MODTRAIN_SHARED_UPDATE=0: every rank reduces
 *              (bucketed, overlapping backward) and updates everything.
 *   no comm    every rank trains its own Module with kvstore "local" at
 *              the same time: the ceiling the N ranks reach without any
 *              communication (the ranks share the machine's memory
 *              bandwidth and caches). Rank 0 uses the 1-process phase's
 *              Module: the same buffers, so the two phases differ only in
 *              the other ranks' work (with separate Modules, rank 0 ran one
 *              25% slower than the other in some runs on the 2-core VM,
 *              likely through memory layout).
 * ratio = N-rank samples/s / 1-process samples/s (median of the
 * per-repetition ratios); target >= 1.8 for N = 2.
 *
 * Part 2, communication hidden behind backward. All ranks train, one
 * Module per configuration, each step timed phase by phase (forward,
 * backward, update; per-rank times averaged over ranks):
 *   compute   kvstore "local": no communication, every rank at its own pace.
 *   sync      kvstore "local" and an MPI_Barrier after each update: no
 *             data moves, but the ranks wait for the slowest one every
 *             step, as the reductions make them do (its "wait" is the
 *             barrier's time: the ranks' unequal pace).
 *   b=0       dist_sync, bucket_bytes 0: one bucket, which starts when its
 *             last gradient is final, i.e. at the end of backward: update
 *             waits for the whole reduction (no overlap).
 *   b=XMiB    dist_sync with buckets of at most X MiB, started during
 *             backward as soon as their gradients are final (overlap).
 *             The b= rows run with MODTRAIN_SHARED_UPDATE=0: they measure
 *             the bucketed path.
 *   shared    dist_sync with the node-shared update (where it is on),
 *             backward run as forward_backward runs it (the Module's
 *             in_forward_backward flag set around it): each gradient is
 *             handed to the other rank as it is final, and update sums and
 *             applies what is left.
 * The dist Modules' kvstores carry a probe (their backend table swapped for
 * a copy whose start / progress / wait are timed), so the training thread's
 * time in the kvstore is measured directly: kv.bwd (start + progress,
 * inside backward: the device sum, the MPI start, its copies) and wait
 * (mt_kvstore_wait, inside update). With b=0 this is the whole reduction,
 * blocking, after backward (the total); with overlapping buckets, what is
 * left exposed:
 *   hidden share = 1 - (kv.bwd + wait)(cfg) / (kv.bwd + wait)(b=0)
 * Also printed: the same for the wait alone, 1 - wait(cfg) / wait(b=0);
 * the step's communication cost from the phase times, comm(cfg) =
 * (backward + update)(cfg) - (backward + update)(sync), with 1 - comm(cfg)
 * / comm(b=0); and a bare blocking mt_kvstore_pushpull of a buffer the size
 * of the whole gradient (no training around it).
 * For this net (1.86 M parameters, 7.1 MiB of gradient) a 25 MiB bucket
 * holds every gradient, so b=25MiB is also the no-overlap case.
 *
 * Each figure: the median of --reps repetitions of --steps steps after
 * --warmup untimed steps per Module; configurations are interleaved in
 * each repetition, rotating which goes first. Output: a table on rank 0
 * and "RESULT ..." lines. Exit 1 on any error, 0 otherwise (below target
 * included; BELOW TARGET is printed). */
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvstore/kvstore.h"
#include "bench/bench_net.h"
#include "bench/bench_util.h"
#include "modtrain.h"
#include "src/module.h"
#define MT_CHECK_MPI
#include "tools/check.h"

#define MAX_REPS 64
#define MAX_CFG 8
#define NCLASS 10
#define NFEAT 784

typedef struct {
  const char *kvstore;
  int batch, steps, warmup, reps, nbatches, threads;
  int nbucket_cfg;
  int64_t bucket_cfg[MAX_CFG]; /* dist configurations of part 2, bytes */
  int skip_scaling, skip_overlap;
  int64_t scaling_bucket; /* part 1's buckets, bytes; < 0: the Module's default (25 MiB) */
} options;

static int rank, world;

static double max_over_ranks(double v) {
  double m;
  MPI_Allreduce(&v, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return m;
}

static double mean_over_ranks(double v) {
  double s;
  MPI_Allreduce(&v, &s, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return s / world;
}

/* A barrier whose waiters sleep instead of spinning (Open MPI's blocking
 * calls busy-poll, which would take the idle ranks' cores from rank 0). */
static void lazy_barrier(void) {
  MPI_Request r;
  MPI_Ibarrier(MPI_COMM_WORLD, &r);
  int done = 0;
  while (!done) {
    MPI_Test(&r, &done, MPI_STATUS_IGNORE);
    /* 0.2 ms; spinning instead, or 20 ms, gave the same figures on the 2-core VM */
    if (!done) nanosleep(&(struct timespec){0, 200000}, NULL);
  }
}

/* ------------------------------------------------------------------ model */

static mt_symbol *build_net(void) {
  static const int width[] = {1024, 1024, NCLASS};
  mt_symbol *net;
  CHECK(bench_mlp(width, 3, &net));
  return net;
}

/* bucket_bytes < 0: the Module's default. shared 0: MODTRAIN_SHARED_UPDATE=0
 * while the optimizer is set up (every rank updates all parameters). */
static mt_module *make_module_ex(mt_symbol *net, const options *o, const char *kv,
                                 int64_t bucket_bytes, int shared) {
  mt_module *mod;
  CHECK(mt_module_create(net, 0, NULL, 0, NULL, 1, (mt_context[]){mt_cpu(0)}, &mod));
  mt_data_desc d = {"data", MT_SHAPE(o->batch, NFEAT)}, l = {"softmax_label", MT_SHAPE(o->batch)};
  CHECK(mt_module_bind(mod, 1, &d, 1, &l, 1, 0, 0, MT_REQ_WRITE));
  mt_initializer *xavier;
  CHECK(mt_initializer_create("xavier magnitude=2", 0, &xavier));
  CHECK(mt_module_init_params(mod, xavier, NULL, NULL, 0, 0, 0));
  mt_initializer_free(xavier);
  if (bucket_bytes >= 0) CHECK(mt_module_set_bucket_bytes(mod, bucket_bytes));
  if (!shared) setenv("MODTRAIN_SHARED_UPDATE", "0", 1);
  CHECK(mt_module_init_optimizer(mod, kv, "sgd", "learning_rate=0.1 momentum=0.9", 0));
  if (!shared) unsetenv("MODTRAIN_SHARED_UPDATE");
  return mod;
}

static mt_module *make_module(mt_symbol *net, const options *o, const char *kv,
                              int64_t bucket_bytes) {
  return make_module_ex(net, o, kv, bucket_bytes, 1);
}

static int64_t param_floats(mt_module *mod) {
  const mt_arena *ap;
  CHECK(mt_module_get_params(mod, &ap, NULL));
  return mt_arena_size(ap);
}

/* ------------------------------------------------------------------- data */

typedef struct {
  int n;
  mt_batch *b;
} dataset;

/* This rank's shard: nbatches batches of the tutorial's synthetic data
 * (part = rank, so ranks see different samples of the same classes). */
static void make_data(const options *o, dataset *ds) {
  int64_t rows = (int64_t)o->nbatches * o->batch;
  float *x = malloc(sizeof(float) * (size_t)(rows * NFEAT)),
        *y = malloc(sizeof(float) * (size_t)rows);
  int64_t *perm = malloc(sizeof(int64_t) * (size_t)rows);
  ds->b = calloc((size_t)o->nbatches, sizeof *ds->b);
  if (!x || !y || !perm || !ds->b) {
    fprintf(stderr, "bench_scaling: rank %d: out of memory for the data\n", rank);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  CHECK(mt_synthetic_generate(NCLASS, NFEAT, rows, 0, rank, x, y));
  /* the generator emits the classes in blocks: shuffle rows (Fisher-Yates, LCG) */
  for (int64_t i = 0; i < rows; i++) perm[i] = i;
  uint64_t s = 0x243f6a8885a308d3ull + (uint64_t)rank;
  for (int64_t i = rows - 1; i > 0; i--) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    int64_t j = (int64_t)((s >> 33) % (uint64_t)(i + 1)), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  ds->n = o->nbatches;
  for (int k = 0; k < ds->n; k++) {
    mt_batch *b = &ds->b[k];
    b->ndata = b->nlabel = 1;
    CHECK(mt_ndarray_create(MT_SHAPE(o->batch, NFEAT), mt_cpu(0), &b->data[0]));
    CHECK(mt_ndarray_create(MT_SHAPE(o->batch), mt_cpu(0), &b->label[0]));
    float *bx = mt_ndarray_data(b->data[0]), *by = mt_ndarray_data(b->label[0]);
    for (int r = 0; r < o->batch; r++) {
      int64_t src = perm[(int64_t)k * o->batch + r];
      memcpy(bx + (int64_t)r * NFEAT, x + src * NFEAT, sizeof(float) * NFEAT);
      by[r] = y[src];
    }
  }
  free(perm);
  free(x);
  free(y);
}

static void free_data(dataset *ds) {
  for (int k = 0; k < ds->n; k++) {
    mt_ndarray_free(ds->b[k].data[0]);
    mt_ndarray_free(ds->b[k].label[0]);
  }
  free(ds->b);
}

/* ------------------------------------------------------------------ steps */

typedef struct {
  double fwd, bwd, upd, step; /* seconds, summed over the steps */
  int barrier;                /* an MPI_Barrier ends each update (the "sync" baseline) */
  int as_fb;                  /* backward as inside forward_backward (gradients handed over
                                 as they are final, under the node-shared update) */
  double sync;                /* seconds in that barrier (included in upd) */
} phases;

/* `steps` steps from batch *next on; per-phase times when ph != NULL. */
static double run_steps(mt_module *mod, const dataset *ds, int steps, int *next, phases *ph) {
  double t0 = bench_now();
  for (int s = 0; s < steps; s++) {
    const mt_batch *b = &ds->b[*next];
    *next = (*next + 1) % ds->n;
    if (!ph) { /* a training step as fit takes it */
      CHECK(mt_module_forward_backward(mod, b));
      CHECK(mt_module_update(mod));
      continue;
    }
    double a = bench_now();
    CHECK(mt_module_forward(mod, b, 1));
    double f = bench_now();
    mod->in_forward_backward = ph->as_fb; /* what mt_module_forward_backward sets */
    CHECK(mt_module_backward(mod, 0, NULL));
    mod->in_forward_backward = 0;
    double g = bench_now();
    CHECK(mt_module_update(mod));
    double h = bench_now();
    if (ph->barrier) {
      MPI_Barrier(MPI_COMM_WORLD);
      ph->sync += bench_now() - h;
      h = bench_now();
    }
    ph->fwd += f - a;
    ph->bwd += g - f;
    ph->upd += h - g;
  }
  double t = bench_now() - t0;
  if (ph) ph->step += t;
  return t;
}

/* ------------------------------------------------------- part 1: scaling */

static void part_scaling(const options *o, mt_symbol *net, const dataset *ds) {
  /* "alone" serves the 1-process phase (rank 0's) and the no-communication
   * phase (every rank's): rank 0 runs the same buffers in both, so the two
   * differ only in whether the other ranks compute too */
  mt_module *alone = make_module(net, o, "local", -1);
  mt_module *dist = make_module(net, o, o->kvstore, o->scaling_bucket);
  mt_module *plain = make_module_ex(net, o, o->kvstore, o->scaling_bucket, 0);
  int next_d = 0, next_a = 0, next_p = 0;
  run_steps(dist, ds, o->warmup, &next_d, NULL);
  run_steps(plain, ds, o->warmup, &next_p, NULL);
  run_steps(alone, ds, o->warmup, &next_a, NULL);
  double sps1[MAX_REPS], spsn[MAX_REPS], spsa[MAX_REPS], spsp[MAX_REPS], ratio[MAX_REPS],
      ratio_a[MAX_REPS], ratio_p[MAX_REPS];
  for (int rep = 0; rep < o->reps; rep++) {
    for (int j = 0; j < 4; j++) {
      int phase = (j + rep) % 4;
      if (phase == 0) { /* 1 process: rank 0 alone */
        lazy_barrier();
        double t = rank == 0 ? run_steps(alone, ds, o->steps, &next_a, NULL) : 0;
        lazy_barrier();
        MPI_Bcast(&t, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        sps1[rep] = (double)o->batch * o->steps / t;
      } else { /* N ranks: data parallel (shared update on or off), or each on its own */
        MPI_Barrier(MPI_COMM_WORLD);
        mt_module *m = phase == 1 ? dist : phase == 2 ? alone : plain;
        int *next = phase == 1 ? &next_d : phase == 2 ? &next_a : &next_p;
        double t = max_over_ranks(run_steps(m, ds, o->steps, next, NULL));
        (phase == 1   ? spsn
         : phase == 2 ? spsa
                      : spsp)[rep] = (double)world * o->batch * o->steps / t;
      }
    }
    ratio[rep] = spsn[rep] / sps1[rep];
    ratio_a[rep] = spsa[rep] / sps1[rep];
    ratio_p[rep] = spsp[rep] / sps1[rep];
  }
  if (rank == 0) {
    double m1 = bench_median(sps1, o->reps), mn = bench_median(spsn, o->reps),
           ma = bench_median(spsa, o->reps), mp = bench_median(spsp, o->reps);
    double r = bench_median(ratio, o->reps), ra = bench_median(ratio_a, o->reps),
           rp = bench_median(ratio_p, o->reps);
    printf(
        "\n== weak scaling, 784-1024-1024-10, batch %d per rank, %d BLAS thread(s) per rank ==\n",
        o->batch, o->threads);
    printf("%-44s %9.0f samples/s  %7.2f ms/step\n", "1 process (kvstore local)", m1,
           1e3 * o->batch / m1);
    char what[96], bucket[32];
    if (o->scaling_bucket < 0) snprintf(bucket, sizeof bucket, "25 MiB (default)");
    else snprintf(bucket, sizeof bucket, "%.2f MiB", (double)o->scaling_bucket / (1 << 20));
    if (dist->shared_update)
      snprintf(what, sizeof what, "%d ranks (%s, node-shared update)", world, o->kvstore);
    else snprintf(what, sizeof what, "%d ranks (%s, %s buckets)", world, o->kvstore, bucket);
    printf("%-44s %9.0f samples/s  %7.2f ms/step  speed-up %.3fx\n", what, mn,
           1e3 * world * o->batch / mn, r);
    snprintf(what, sizeof what, "%d ranks, MODTRAIN_SHARED_UPDATE=0", world);
    printf("%-44s %9.0f samples/s  %7.2f ms/step  speed-up %.3fx\n", what, mp,
           1e3 * world * o->batch / mp, rp);
    snprintf(what, sizeof what, "%d ranks, no communication (kvstore local)", world);
    printf("%-44s %9.0f samples/s  %7.2f ms/step  speed-up %.3fx\n", what, ma,
           1e3 * world * o->batch / ma, ra);
    double lo = ratio[0], hi = ratio[0];
    for (int rep = 1; rep < o->reps; rep++) {
      lo = ratio[rep] < lo ? ratio[rep] : lo;
      hi = ratio[rep] > hi ? ratio[rep] : hi;
    }
    /* the target, 90% efficiency (1.8x for 2 ranks), means nothing for 1 rank */
    const char *verdict = world < 2 ? "none for 1 rank" : r >= 0.9 * world ? "met" : "BELOW TARGET";
    printf(
        "speed-up %.3fx (repetitions %.3f..%.3f; efficiency %.1f%%; target >= %.1fx: %s); "
        "without communication the ranks reach %.3fx\n",
        r, lo, hi, 100.0 * r / world, 0.9 * world, verdict, ra);
    printf(
        "RESULT what=weak_scaling kvstore=%s ranks=%d batch_per_rank=%d threads=%d "
        "bucket_bytes=%lld shared_update=%d single_sps=%.1f dist_sps=%.1f nocomm_sps=%.1f "
        "ratio=%.4f nocomm_ratio=%.4f plain_sps=%.1f plain_ratio=%.4f\n",
        o->kvstore, world, o->batch, o->threads,
        (long long)(o->scaling_bucket < 0 ? (int64_t)25 << 20 : o->scaling_bucket),
        dist->shared_update, m1, mn, ma, r, ra, mp, rp);
    fflush(stdout);
  }
  mt_module_free(dist);
  mt_module_free(plain);
  mt_module_free(alone);
}

/* ------------------------------------------------------- part 2: overlap */

/* A probe on a Module's kvstore: its backend table replaced by a copy whose
 * start / progress / wait call the original ones and add up their time.
 * start + progress run inside backward (the grad_ready hook), wait inside
 * update: the time update waits for the reduction is measured directly,
 * without touching src/. */
typedef struct {
  mt_kvstore *kv;
  const mt_kvstore_backend *orig;
  mt_kvstore_backend table;
  double t_start, t_wait; /* seconds: start + progress, wait */
} kv_probe;

static kv_probe probes[MAX_CFG];
static int nprobes;

static kv_probe *probe_of(mt_kvstore *kv) {
  for (int i = 0; i < nprobes; i++)
    if (probes[i].kv == kv) return &probes[i];
  fprintf(stderr, "bench_scaling: rank %d: kvstore without a probe\n", rank);
  MPI_Abort(MPI_COMM_WORLD, 1);
  return NULL;
}

static int probe_start(mt_kvstore *kv, int ndev, float *const *bufs, const mt_context *ctxs,
                       int64_t n) {
  kv_probe *p = probe_of(kv);
  double t0 = bench_now();
  int rc = p->orig->start(kv, ndev, bufs, ctxs, n);
  p->t_start += bench_now() - t0;
  return rc;
}

static int probe_progress(mt_kvstore *kv) {
  kv_probe *p = probe_of(kv);
  double t0 = bench_now();
  int rc = p->orig->progress ? p->orig->progress(kv) : 0;
  p->t_start += bench_now() - t0;
  return rc;
}

static int probe_wait(mt_kvstore *kv) {
  kv_probe *p = probe_of(kv);
  double t0 = bench_now();
  int rc = p->orig->wait ? p->orig->wait(kv) : 0;
  p->t_wait += bench_now() - t0;
  return rc;
}

static kv_probe *probe_install(mt_module *m) {
  kv_probe *p = &probes[nprobes++];
  p->kv = m->kv;
  p->orig = m->kv->backend;
  p->table = *p->orig; /* name, broadcast, destroy, ...: the original ones */
  p->table.start = probe_start;
  p->table.progress = probe_progress;
  p->table.wait = probe_wait;
  m->kv->backend = &p->table;
  return p;
}

static void print_buckets(const char *name, const mt_module *m) {
  printf("  %-9s %d bucket(s):", name, m->nbuckets);
  for (int k = 0; k < m->nbuckets; k++) /* m->buckets[0] is the first started (last parameters) */
    printf(" %s..%s %.2f MiB%s", m->param_names[m->buckets[k].first],
           m->param_names[m->buckets[k].last], (double)m->buckets[k].len * 4 / (1 << 20),
           k + 1 < m->nbuckets ? "," : "");
  printf("\n");
}

enum { NBASE = 2 }; /* configurations 0 (compute) and 1 (sync) come before the bucket sizes */
enum { F_FWD, F_BWD, F_UPD, F_STEP, F_KVBWD, F_WAIT, F_COMM, NFIG };

static void part_overlap(const options *o, mt_symbol *net, const dataset *ds) {
  int ncfg = NBASE + o->nbucket_cfg + 1; /* the last: the node-shared update */
  mt_module *mods[MAX_CFG + NBASE + 1];
  kv_probe *probe[MAX_CFG + NBASE + 1] = {0};
  char names[MAX_CFG + NBASE + 1][32];
  snprintf(names[0], sizeof names[0], "compute");
  snprintf(names[1], sizeof names[1], "sync");
  mods[0] = make_module(net, o, "local", -1);
  mods[1] = make_module(net, o, "local", -1);
  for (int c = NBASE; c < ncfg - 1; c++) {
    int64_t b = o->bucket_cfg[c - NBASE];
    if (b == 0) snprintf(names[c], sizeof names[c], "b=0");
    else if (b % (1 << 20) == 0)
      snprintf(names[c], sizeof names[c], "b=%lldMiB", (long long)(b >> 20));
    else snprintf(names[c], sizeof names[c], "b=%lldB", (long long)b);
    mods[c] = make_module_ex(net, o, o->kvstore, b, 0);
    probe[c] = probe_install(mods[c]);
  }
  snprintf(names[ncfg - 1], sizeof names[ncfg - 1], "shared");
  mods[ncfg - 1] = make_module(net, o, o->kvstore, -1);
  int base = -1; /* the no-overlap configuration: bucket 0 */
  for (int c = NBASE; c < ncfg - 1; c++)
    if (o->bucket_cfg[c - NBASE] == 0 && base < 0) base = c;
  /* a bare pushpull of the whole gradient, on its own kvstore and buffer */
  int64_t n = param_floats(mods[0]);
  float *buf = calloc((size_t)n, sizeof(float));
  mt_kvstore *kv;
  CHECK(mt_kvstore_create(o->kvstore, &kv));
  const mt_context cpu0 = mt_cpu(0);
  if (!buf) {
    fprintf(stderr, "bench_scaling: rank %d: out of memory\n", rank);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  int next[MAX_CFG + NBASE + 1] = {0};
  for (int c = 0; c < ncfg; c++) {
    MPI_Barrier(MPI_COMM_WORLD);
    run_steps(mods[c], ds, o->warmup, &next[c], NULL);
  }
  /* fig[c][f][rep]: seconds per step, averaged over ranks */
  static double fig[MAX_CFG + NBASE + 1][NFIG][MAX_REPS], bare[MAX_REPS];
  for (int rep = 0; rep < o->reps; rep++) {
    for (int j = 0; j <= ncfg; j++) {
      int c = (j + rep) % (ncfg + 1);
      MPI_Barrier(MPI_COMM_WORLD);
      if (c == ncfg) { /* bare pushpull */
        double t0 = bench_now();
        for (int s = 0; s < o->steps; s++) CHECK(mt_kvstore_pushpull(kv, 1, &buf, &cpu0, n));
        bare[rep] = max_over_ranks(bench_now() - t0) / o->steps;
        continue;
      }
      phases ph = {.barrier = c == 1, .as_fb = c == ncfg - 1};
      if (probe[c]) probe[c]->t_start = probe[c]->t_wait = 0;
      run_steps(mods[c], ds, o->steps, &next[c], &ph);
      double v[NFIG] = {ph.fwd,
                        ph.bwd,
                        ph.upd,
                        ph.step,
                        probe[c] ? probe[c]->t_start : 0,
                        probe[c] ? probe[c]->t_wait : ph.sync,
                        0};
      for (int f = 0; f < F_COMM; f++) fig[c][f][rep] = mean_over_ranks(v[f]) / o->steps;
    }
    for (int c = 0; c < ncfg; c++)
      fig[c][F_COMM][rep] =
          fig[c][F_BWD][rep] + fig[c][F_UPD][rep] - fig[1][F_BWD][rep] - fig[1][F_UPD][rep];
  }
  if (rank == 0) {
    double med[MAX_CFG + NBASE + 1][NFIG];
    for (int c = 0; c < ncfg; c++)
      for (int f = 0; f < NFIG; f++) med[c][f] = bench_median(fig[c][f], o->reps);
    printf(
        "\n== communication hidden behind backward, %d ranks, kvstore %s, batch %d per rank ==\n",
        world, o->kvstore, o->batch);
    printf("gradient: %lld floats (%.2f MiB); buckets in the order they start:\n", (long long)n,
           (double)n * 4 / (1 << 20));
    for (int c = NBASE; c < ncfg - 1; c++) print_buckets(names[c], mods[c]);
    double bare_med = bench_median(bare, o->reps);
    printf("bare blocking pushpull of the whole gradient: %.3f ms (busbw %.2f GB/s)\n",
           bare_med * 1e3, 2.0 * (world - 1) / world * (double)n * 4 / bare_med * 1e-9);
    printf("%-9s %6s %6s %6s %6s %9s %6s %6s %6s %7s %7s %6s %7s\n", "config", "fwd", "bwd", "upd",
           "step", "samples/s", "kv.bwd", "wait", "kv", "hidden", "hid.w", "comm", "hid.c");
    double K0 = base >= 0 ? med[base][F_KVBWD] + med[base][F_WAIT] : 0;
    double W0 = base >= 0 ? med[base][F_WAIT] : 0, T = base >= 0 ? med[base][F_COMM] : 0;
    for (int c = 0; c < ncfg; c++) {
      double *m = med[c];
      printf("%-9s %6.2f %6.2f %6.2f %6.2f %9.0f", names[c], m[F_FWD] * 1e3, m[F_BWD] * 1e3,
             m[F_UPD] * 1e3, m[F_STEP] * 1e3, world * o->batch / m[F_STEP]);
      if (c == 0) {
        printf(" %6s %6s %6s %7s %7s %6s %7s\n", "-", "-", "-", "-", "-", "-", "-");
        continue;
      }
      if (c == 1) {
        printf(" %6s %6.2f %6s %7s %7s %6s %7s\n", "-", m[F_WAIT] * 1e3, "-", "-", "-", "-", "-");
        continue;
      }
      if (c == ncfg - 1) { /* no kvstore start / wait to probe: the sum is in update */
        double hidc = T > 0 ? 1 - m[F_COMM] / T : 0;
        printf(" %6s %6s %6s %7s %7s %6.2f %6.1f%%\n", "-", "-", "-", "-", "-", m[F_COMM] * 1e3,
               100 * hidc);
        printf(
            "RESULT what=overlap kvstore=%s ranks=%d batch_per_rank=%d config=shared "
            "shared_update=%d fwd_ms=%.4f bwd_ms=%.4f upd_ms=%.4f step_ms=%.4f comm_ms=%.4f "
            "hidden_share_comm=%.4f\n",
            o->kvstore, world, o->batch, mods[c]->shared_update, m[F_FWD] * 1e3, m[F_BWD] * 1e3,
            m[F_UPD] * 1e3, m[F_STEP] * 1e3, m[F_COMM] * 1e3, hidc);
        continue;
      }
      double kvall = m[F_KVBWD] + m[F_WAIT];
      double hid = K0 > 0 ? 1 - kvall / K0 : 0, hidw = W0 > 0 ? 1 - m[F_WAIT] / W0 : 0;
      double hidc = T > 0 ? 1 - m[F_COMM] / T : 0;
      printf(" %6.2f %6.2f %6.2f %6.1f%% %6.1f%% %6.2f %6.1f%%\n", m[F_KVBWD] * 1e3,
             m[F_WAIT] * 1e3, kvall * 1e3, 100 * hid, 100 * hidw, m[F_COMM] * 1e3, 100 * hidc);
      printf(
          "RESULT what=overlap kvstore=%s ranks=%d batch_per_rank=%d config=%s nbuckets=%d "
          "fwd_ms=%.4f bwd_ms=%.4f upd_ms=%.4f step_ms=%.4f kv_in_backward_ms=%.4f "
          "wait_ms=%.4f kv_ms=%.4f hidden_share=%.4f hidden_share_wait=%.4f comm_ms=%.4f "
          "hidden_share_comm=%.4f\n",
          o->kvstore, world, o->batch, names[c], mods[c]->nbuckets, m[F_FWD] * 1e3, m[F_BWD] * 1e3,
          m[F_UPD] * 1e3, m[F_STEP] * 1e3, m[F_KVBWD] * 1e3, m[F_WAIT] * 1e3, kvall * 1e3, hid,
          hidw, m[F_COMM] * 1e3, hidc);
    }
    printf(
        "ms per step (mean of the ranks, median of %d repetitions). kv.bwd: in the kvstore's "
        "start + progress\nduring backward; wait: in mt_kvstore_wait during update (sync: in its "
        "barrier); kv = kv.bwd + wait,\nthe training thread's time in the kvstore; hidden = 1 - "
        "kv / kv(b=0); hid.w = 1 - wait / wait(b=0);\ncomm = (bwd + upd) - sync's; hid.c = 1 - "
        "comm / comm(b=0)\nb=...: the bucketed path (MODTRAIN_SHARED_UPDATE=0); shared: the "
        "node-shared update (blocks summed\nand applied by whichever rank is free, gradients "
        "handed over as backward makes them; %s)\n",
        o->reps, mods[ncfg - 1]->shared_update ? "on" : "not available, so off");
    printf("RESULT what=bare_pushpull kvstore=%s ranks=%d floats=%lld ms=%.4f\n", o->kvstore, world,
           (long long)n, bare_med * 1e3);
    fflush(stdout);
  }
  mt_kvstore_free(kv);
  free(buf);
  for (int c = 0; c < ncfg; c++) mt_module_free(mods[c]);
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *f) {
  fprintf(f,
          "usage: mpirun -n N bench_scaling [--kvstore dist_sync|hier] [--batch B] [--steps S]\n"
          "                                 [--warmup W] [--reps R] [--nbatches K] [--threads T]\n"
          "                                 [--buckets LIST] [--scaling-bucket B]\n"
          "                                 [--no-scaling] [--no-overlap]\n"
          "  defaults: dist_sync, batch 256 per rank, 20 steps, 5 warm-up, 9 reps, 8 batches,\n"
          "  1 thread, part 2's buckets 0,25M,4M,1M (bytes; K and M suffixes: KiB, MiB),\n"
          "  part 1's buckets the Module's default (25 MiB)\n");
}

/* "4M", "512K", "1000": bytes; *end is left after the number. */
static int parse_size(const char *s, char **end, int64_t *out) {
  long long v = strtoll(s, end, 10);
  if (*end == s || v < 0) return -1;
  if (**end == 'K' || **end == 'k') v <<= 10, (*end)++;
  else if (**end == 'M' || **end == 'm') v <<= 20, (*end)++;
  *out = v;
  return 0;
}

static int parse_buckets(const char *s, options *o) {
  o->nbucket_cfg = 0;
  while (*s) {
    char *end;
    int64_t v;
    if (parse_size(s, &end, &v) < 0 || o->nbucket_cfg == MAX_CFG) return -1;
    o->bucket_cfg[o->nbucket_cfg++] = v;
    if (*end == ',') end++;
    else if (*end) return -1;
    s = end;
  }
  return o->nbucket_cfg > 0 ? 0 : -1;
}

static int parse_args(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  *o = (options){.kvstore = "dist_sync",
                 .batch = 256,
                 .steps = 20,
                 .warmup = 5,
                 .reps = 9,
                 .nbatches = 8,
                 .threads = 1,
                 .scaling_bucket = -1};
  parse_buckets("0,25M,4M,1M", o);
  static const struct option longopts[] = {{"kvstore", required_argument, 0, 'k'},
                                           {"batch", required_argument, 0, 'b'},
                                           {"steps", required_argument, 0, 's'},
                                           {"warmup", required_argument, 0, 'w'},
                                           {"reps", required_argument, 0, 'r'},
                                           {"nbatches", required_argument, 0, 'B'},
                                           {"threads", required_argument, 0, 't'},
                                           {"buckets", required_argument, 0, 'u'},
                                           {"no-scaling", no_argument, 0, 'S'},
                                           {"no-overlap", no_argument, 0, 'O'},
                                           {"scaling-bucket", required_argument, 0, 'x'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'k': o->kvstore = optarg; break;
    case 'b': o->batch = atoi(optarg); break;
    case 's': o->steps = atoi(optarg); break;
    case 'w': o->warmup = atoi(optarg); break;
    case 'r': o->reps = atoi(optarg); break;
    case 'B': o->nbatches = atoi(optarg); break;
    case 't': o->threads = atoi(optarg); break;
    case 'u':
      if (parse_buckets(optarg, o) < 0) {
        fprintf(stderr, "bench_scaling: --buckets wants up to %d sizes like 0,25M,4M\n", MAX_CFG);
        return -1;
      }
      break;
    case 'x': {
      char *end;
      if (parse_size(optarg, &end, &o->scaling_bucket) < 0 || *end) {
        fprintf(stderr, "bench_scaling: --scaling-bucket wants a size like 4M\n");
        return -1;
      }
      break;
    }
    case 'S': o->skip_scaling = 1; break;
    case 'O': o->skip_overlap = 1; break;
    case 'h': usage(stdout); return 1;
    default: usage(stderr); return -1;
    }
  }
  if (o->batch < 1 || o->steps < 1 || o->warmup < 0 || o->reps < 1 || o->reps > MAX_REPS ||
      o->nbatches < 1 || o->threads < 1) {
    fprintf(stderr, "bench_scaling: bad option value (reps 1..%d, the rest >= 1)\n", MAX_REPS);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  options o;
  int pa = parse_args(argc, argv, &o);
  if (pa) return pa > 0 ? 0 : 2;
  CHECK(mt_dist_init(&argc, &argv));
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const char *kernel = mt_blas_init();
  mt_blas_set_threads(o.threads);
  if (rank == 0) {
    char host[MPI_MAX_PROCESSOR_NAME];
    int len;
    MPI_Get_processor_name(host, &len);
    printf(
        "bench_scaling: %d rank(s) on %s, kvstore %s, OpenBLAS kernel %s, %d thread(s) per rank, "
        "%d reps x %d steps (+%d warm-up)\n",
        world, host, o.kvstore, kernel, o.threads, o.reps, o.steps, o.warmup);
    fflush(stdout);
  }
  mt_symbol *net = build_net();
  dataset ds;
  make_data(&o, &ds);
  if (!o.skip_scaling) part_scaling(&o, net, &ds);
  if (!o.skip_overlap) part_overlap(&o, net, &ds);
  free_data(&ds);
  mt_symbol_free(net);
  return 0;
}
