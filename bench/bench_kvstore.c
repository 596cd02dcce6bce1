/* bench_kvstore.c — the MPI kvstore's allreduce against raw MPI_Allreduce of
 * the same bytes, in the same run (run under mpirun with >= 2 ranks; see
 * bench/run_mpi_bench.sh for the flags).
 *
 * Part 1, sizes --min-bytes .. --max-bytes (4 KiB .. 64 MiB, powers of 2):
 *   kvstore  mt_kvstore_pushpull(kv, 1 device, buf, n floats) on a
 *            "dist_sync" (or --type hier) kvstore: what update() costs per
 *            bucket when the bucket is reduced after backward.
 *   raw      MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM) on a
 *            duplicate of MPI_COMM_WORLD, on the same buffer as kvstore.
 *   resident mt_kvstore_pushpull of a buffer inside the kvstore's own
 *            memory (mt_kvstore_host_buffer: the node's shared window),
 *            where the Module keeps its gradients; "-" where the kvstore
 *            has none (one rank per node, MODTRAIN_SHM=0).
 * busbw = 2(N-1)/N * bytes / time (N ranks; NCCL-tests' convention, so the
 * figure is comparable across N). ratio = kvstore busbw / raw busbw.
 * Target: ratio >= 0.95 at every size >= 1 MiB.
 *
 * Part 2, --ntensors tensors of --tensor-bytes (100 x 4 KiB: the gradients
 * of a net of many small layers), laid out back to back in one flat buffer
 * as the Module's gradient arena holds them:
 *   bucket      one mt_kvstore_start over the whole flat buffer + one
 *               mt_kvstore_wait: what the Module does when all the
 *               tensors fit one bucket (the default 25 MiB bucket).
 *   per-tensor  one blocking MPI_Allreduce per tensor, in turn.
 * Printed for reference: one mt_kvstore_start per tensor and one wait (the
 * Module with a bucket per tensor: all in flight together), one raw
 * MPI_Allreduce of the whole flat buffer, and the one bucket in the
 * kvstore's own memory (where the Module's gradients live: reduced in
 * place in the node's shared window).
 * ratio = per-tensor time / bucket time; target >= 3.
 *
 * Method: before timing, every path reduces a buffer holding (rank + 1) *
 * pattern and must give the exact sum on every rank (small integers: exact
 * in float), else exit 1. Timed buffers hold zeros (sums stay finite).
 * A sample is one untimed operation, then a loop of `iters` operations
 * between two barriers, long
 * enough to last --min-ms (calibrated once per size, agreed across ranks);
 * its time is the slowest rank's. The paths' samples are interleaved within
 * each repetition, rotating which goes first; each figure is the median of
 * --reps repetitions, and each ratio the median of the per-repetition
 * ratios (samples taken back to back, so load drift cancels).
 *
 * Output: a table on rank 0 and one "RESULT ..." line per figure. Exit 0
 * when the run completes, even below target (BELOW TARGET is printed). */
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_util.h"
#include "kvstore/kvstore.h"
#define MT_CHECK_MPI
#include "tools/check.h"

#define MAX_REPS 64
#define MAX_PATHS 5

#define CHECK_MPI(x)                                                                               \
  do {                                                                                             \
    if ((x) != MPI_SUCCESS) {                                                                      \
      fprintf(stderr, "bench_kvstore: rank %d: %s failed\n", rank, #x);                            \
      MPI_Abort(MPI_COMM_WORLD, 1);                                                                \
    }                                                                                              \
  } while (0)

typedef struct {
  const char *type;
  int64_t min_bytes, max_bytes, tensor_bytes;
  int reps, ntensors;
  double min_s;
} options;

static int rank, world;
static MPI_Comm raw_comm;
static mt_kvstore *kv;
static const mt_context cpu0 = {MT_CPU, 0};

static float *alloc_floats(int64_t n) {
  float *p = aligned_alloc(64, (size_t)((n * (int64_t)sizeof(float) + 63) / 64 * 64));
  if (!p) {
    fprintf(stderr, "bench_kvstore: rank %d: out of memory for %lld floats\n", rank, (long long)n);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  memset(p, 0, (size_t)n * sizeof(float)); /* touch every page before timing */
  return p;
}

/* ------------------------------------------------------------------ paths */

/* One operation of a path on buf (n floats; tensors of tn floats for the
 * per-tensor paths). */
typedef enum { KV_PUSHPULL, RAW_ALLREDUCE, KV_BUCKET, RAW_PER_TENSOR, KV_PER_TENSOR } path;

static void run_op(path p, float *buf, int64_t n, int64_t tn) {
  switch (p) {
  case KV_PUSHPULL: CHECK(mt_kvstore_pushpull(kv, 1, &buf, &cpu0, n)); break;
  case RAW_ALLREDUCE:
    CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, raw_comm));
    break;
  case KV_BUCKET: /* start_bucket + the wait in update, as src/module.c */
    CHECK(mt_kvstore_start(kv, 1, &buf, &cpu0, n));
    CHECK(mt_kvstore_wait(kv));
    break;
  case RAW_PER_TENSOR:
    for (int64_t off = 0; off < n; off += tn)
      CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)tn, MPI_FLOAT, MPI_SUM, raw_comm));
    break;
  case KV_PER_TENSOR:
    for (int64_t off = 0; off < n; off += tn) {
      float *b = buf + off;
      CHECK(mt_kvstore_start(kv, 1, &b, &cpu0, tn));
    }
    CHECK(mt_kvstore_wait(kv));
    break;
  }
}

/* Every rank fills (rank + 1) * (1 + i % 13); the sum must be exact. */
static void check_path(path p, const char *name, float *buf, int64_t n, int64_t tn) {
  for (int64_t i = 0; i < n; i++) buf[i] = (float)((rank + 1) * (1 + i % 13));
  run_op(p, buf, n, tn);
  const float tri = (float)(world * (world + 1) / 2);
  int64_t bad = -1;
  for (int64_t i = 0; i < n && bad < 0; i++)
    if (buf[i] != tri * (float)(1 + i % 13)) bad = i;
  if (bad >= 0) {
    fprintf(stderr, "bench_kvstore: rank %d: %s of %lld floats: element %lld is %g, want %g\n",
            rank, name, (long long)n, (long long)bad, (double)buf[bad],
            (double)(tri * (float)(1 + bad % 13)));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  memset(buf, 0, (size_t)n * sizeof(float));
}

/* Seconds per operation over `iters` operations, the slowest rank's. One
 * untimed operation first, so that the first timed one does not pay for
 * the caches the path before it left. */
static double sample(path p, float *buf, int64_t n, int64_t tn, int iters) {
  run_op(p, buf, n, tn);
  CHECK_MPI(MPI_Barrier(raw_comm));
  double t0 = bench_now();
  for (int i = 0; i < iters; i++) run_op(p, buf, n, tn);
  double t = bench_now() - t0, tmax;
  CHECK_MPI(MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, raw_comm));
  return tmax / iters;
}

/* Operations per sample so that the slowest path lasts about min_s; the same on every rank. */
static int calibrate(const path *ps, int np, float *const *bufs, int64_t n, int64_t tn,
                     double min_s) {
  double worst = 0;
  for (int k = 0; k < np; k++) {
    sample(ps[k], bufs[k], n, tn, 1); /* warm-up */
    double t = 1e30;                  /* the fastest of 3 trials: a disturbed one is ignored */
    for (int trial = 0; trial < 3; trial++) {
      double s = sample(ps[k], bufs[k], n, tn, 3);
      t = s < t ? s : t;
    }
    worst = t > worst ? t : worst;
  }
  int iters = (int)(min_s / (worst > 1e-9 ? worst : 1e-9)) + 1;
  if (iters > 100000) iters = 100000;
  CHECK_MPI(MPI_Bcast(&iters, 1, MPI_INT, 0, raw_comm));
  return iters;
}

/* Interleaved repetitions of np paths: med[k] = median seconds per op of
 * path k; ratio_to_ref[k] = median over repetitions of t[ref] / t[k]. */
static void measure(const path *ps, int np, float *const *bufs, int64_t n, int64_t tn,
                    const options *o, int ref, double *med, double *ratio_to_ref, int *iters_out) {
  double t[MAX_PATHS][MAX_REPS], r[MAX_PATHS][MAX_REPS];
  int iters = calibrate(ps, np, bufs, n, tn, o->min_s);
  for (int rep = 0; rep < o->reps; rep++)
    for (int j = 0; j < np; j++) {
      int k = (j + rep) % np; /* rotate which path goes first */
      t[k][rep] = sample(ps[k], bufs[k], n, tn, iters);
    }
  for (int k = 0; k < np; k++) {
    for (int rep = 0; rep < o->reps; rep++) r[k][rep] = t[ref][rep] / t[k][rep];
    med[k] = bench_median(t[k], o->reps);
    ratio_to_ref[k] = bench_median(r[k], o->reps);
  }
  *iters_out = iters;
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *f) {
  fprintf(f,
          "usage: mpirun -n N bench_kvstore [--type dist_sync|hier] [--min-bytes B]\n"
          "                                 [--max-bytes B] [--reps R] [--min-ms MS]\n"
          "                                 [--ntensors T] [--tensor-bytes B]\n"
          "  defaults: dist_sync, 4096 .. 67108864 bytes (powers of 2), 9 reps,\n"
          "  50 ms per sample, 100 tensors of 4096 bytes\n");
}

static int parse_args(int argc, char **argv, options *o) {
  *o = (options){"dist_sync", 4096, (int64_t)64 << 20, 4096, 9, 100, 0.050};
  static const struct option longopts[] = {{"type", required_argument, 0, 't'},
                                           {"min-bytes", required_argument, 0, 'a'},
                                           {"max-bytes", required_argument, 0, 'b'},
                                           {"reps", required_argument, 0, 'r'},
                                           {"min-ms", required_argument, 0, 'm'},
                                           {"ntensors", required_argument, 0, 'n'},
                                           {"tensor-bytes", required_argument, 0, 's'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 't': o->type = optarg; break;
    case 'a': o->min_bytes = atoll(optarg); break;
    case 'b': o->max_bytes = atoll(optarg); break;
    case 'r': o->reps = atoi(optarg); break;
    case 'm': o->min_s = atof(optarg) * 1e-3; break;
    case 'n': o->ntensors = atoi(optarg); break;
    case 's': o->tensor_bytes = atoll(optarg); break;
    case 'h': usage(stdout); return 1;
    default: usage(stderr); return -1;
    }
  }
  if (o->reps < 1 || o->reps > MAX_REPS || o->min_bytes < 4 || o->max_bytes < o->min_bytes ||
      o->max_bytes > ((int64_t)1 << 33) || o->ntensors < 1 || o->tensor_bytes < 4 ||
      o->min_s <= 0 || (int64_t)o->ntensors * o->tensor_bytes / 4 > INT32_MAX) {
    fprintf(stderr, "bench_kvstore: bad option value (reps 1..%d, sizes >= 4 bytes)\n", MAX_REPS);
    return -1;
  }
  return 0;
}

static void part_sizes(const options *o, float *res) {
  if (rank == 0) {
    printf("\n== pushpull vs MPI_Allreduce, %d ranks, busbw = 2(N-1)/N * bytes / time ==\n", world);
    printf("%10s %8s %12s %12s %10s %10s %7s %12s %7s\n", "bytes", "iters", "kvstore us", "raw us",
           "kv GB/s", "raw GB/s", "ratio", "resident us", "ratio");
  }
  const double factor = 2.0 * (world - 1) / world;
  /* the kvstore and raw MPI reduce the same buffer: the ratio is the
   * kvstore's own cost, not where two buffers' pages happen to lie (with a
   * buffer each, the ratio swung between 0.85 and 1.15 at 4-64 MiB from run
   * to run, whichever side had which) */
  float *buf = alloc_floats(o->max_bytes / 4);

  double worst = 1e30;
  int below = 0;
  for (int64_t bytes = o->min_bytes; bytes <= o->max_bytes; bytes *= 2) {
    int64_t n = bytes / 4;
    check_path(KV_PUSHPULL, "kvstore pushpull", buf, n, n);
    check_path(RAW_ALLREDUCE, "MPI_Allreduce", buf, n, n);
    if (res) check_path(KV_PUSHPULL, "kvstore pushpull of its own memory", res, n, n);
    const path ps[2] = {KV_PUSHPULL, RAW_ALLREDUCE};
    float *bufs[2] = {buf, buf};
    double med[3] = {0}, ratio[3] = {0};
    int iters;
    /* ratio[0] = median of t_raw / t_kv = kv busbw / raw busbw. The
     * resident path is measured against raw on its own: whichever path
     * followed it in one rotation of three lost 6 % at 16 MiB (it sweeps
     * the 2 x 64 MiB window; an untimed first operation did not undo that) */
    measure(ps, 2, bufs, n, n, o, 1, med, ratio, &iters);
    if (res) {
      float *rbufs[2] = {res, buf};
      double rmed[2], rratio[2];
      int riters;
      measure(ps, 2, rbufs, n, n, o, 1, rmed, rratio, &riters);
      med[2] = rmed[0];
      ratio[2] = rratio[0];
    }
    double bw_kv = factor * (double)bytes / med[0] * 1e-9,
           bw_raw = factor * (double)bytes / med[1] * 1e-9;
    int counts = bytes >= ((int64_t)1 << 20);
    if (counts && ratio[0] < worst) worst = ratio[0];
    if (counts && ratio[0] < 0.95) below++;
    if (rank == 0) {
      if (res)
        printf("%10lld %8d %12.1f %12.1f %10.3f %10.3f %7.3f %12.1f %7.3f%s\n", (long long)bytes,
               iters, med[0] * 1e6, med[1] * 1e6, bw_kv, bw_raw, ratio[0], med[2] * 1e6, ratio[2],
               counts && ratio[0] < 0.95 ? "  BELOW TARGET" : "");
      else
        printf("%10lld %8d %12.1f %12.1f %10.3f %10.3f %7.3f %12s %7s%s\n", (long long)bytes, iters,
               med[0] * 1e6, med[1] * 1e6, bw_kv, bw_raw, ratio[0], "-", "-",
               counts && ratio[0] < 0.95 ? "  BELOW TARGET" : "");
      printf(
          "RESULT what=pushpull kvstore=%s ranks=%d bytes=%lld kv_us=%.2f raw_us=%.2f "
          "kv_busbw_GBps=%.4f raw_busbw_GBps=%.4f ratio=%.4f resident_us=%.2f "
          "resident_ratio=%.4f\n",
          o->type, world, (long long)bytes, med[0] * 1e6, med[1] * 1e6, bw_kv, bw_raw, ratio[0],
          med[2] * 1e6, ratio[2]);
      fflush(stdout);
    }
  }
  if (rank == 0 && worst < 1e30)
    printf("lowest ratio at >= 1 MiB: %.3f (target >= 0.95: %s)\n", worst,
           below ? "BELOW TARGET" : "met");
  free(buf); /* res is the kvstore's */
}

static void part_tensors(const options *o, float *res) {
  int64_t tn = o->tensor_bytes / 4, n = tn * o->ntensors;
  const path ps[5] = {KV_BUCKET, RAW_PER_TENSOR, KV_PER_TENSOR, RAW_ALLREDUCE, KV_BUCKET};
  const char *names[5] = {"kvstore, one bucket (start + wait)", "MPI_Allreduce per tensor",
                          "kvstore, bucket per tensor (all started, one wait)",
                          "MPI_Allreduce of the flat buffer",
                          "kvstore, one bucket in its own memory (Module)"};
  float *bufs[5] = {0};
  int np = res && n <= o->max_bytes / 4 ? 5 : 4;
  for (int k = 0; k < np; k++) {
    bufs[k] = k == 4 ? res : alloc_floats(n);
    check_path(ps[k], names[k], bufs[k], n, tn);
  }
  double med[5], ratio[5];
  int iters;
  measure(ps, np, bufs, n, tn, o, 1, med, ratio, &iters); /* ratio[k] = t(per tensor) / t(k) */
  if (rank == 0) {
    printf("\n== %d tensors of %lld bytes (%lld bytes in all), %d ranks, %d ops per sample ==\n",
           o->ntensors, (long long)o->tensor_bytes, (long long)(n * 4), world, iters);
    printf("%-52s %12s %22s\n", "path", "us", "per-tensor / this");
    for (int k = 0; k < np; k++) printf("%-52s %12.1f %22.3f\n", names[k], med[k] * 1e6, ratio[k]);
    printf("bucketed vs one MPI_Allreduce per tensor: %.2fx faster (target >= 3x: %s)\n", ratio[0],
           ratio[0] >= 3.0 ? "met" : "BELOW TARGET");
    const char *keys[4] = {"kv_bucket", "raw_per_tensor", "kv_per_tensor", "raw_fused"};
    printf("RESULT what=small_tensors kvstore=%s ranks=%d ntensors=%d tensor_bytes=%lld", o->type,
           world, o->ntensors, (long long)o->tensor_bytes);
    for (int k = 0; k < 4; k++) printf(" %s_us=%.2f", keys[k], med[k] * 1e6);
    printf(" ratio=%.4f", ratio[0]);
    if (np == 5) printf(" kv_resident_us=%.2f resident_ratio=%.4f", med[4] * 1e6, ratio[4]);
    printf("\n");
    fflush(stdout);
  }
  for (int k = 0; k < 4; k++) free(bufs[k]); /* bufs[4] is the kvstore's */
}

int main(int argc, char **argv) {
  options o;
  int pa = parse_args(argc, argv, &o);
  if (pa) return pa > 0 ? 0 : 2;
  CHECK(mt_dist_init(&argc, &argv));
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world < 2) {
    if (rank == 0) fprintf(stderr, "bench_kvstore: run under mpirun with at least 2 ranks\n");
    return 2;
  }
  CHECK(mt_kvstore_create(o.type, &kv));
  if (!mt_kvstore_is_dist(kv)) {
    if (rank == 0) fprintf(stderr, "bench_kvstore: --type %s is not an MPI kvstore\n", o.type);
    return 2;
  }
  CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &raw_comm));
  if (rank == 0) {
    char host[MPI_MAX_PROCESSOR_NAME];
    int len;
    MPI_Get_processor_name(host, &len);
    printf("bench_kvstore: kvstore %s, %d ranks, host %s, %d reps, samples >= %.0f ms\n",
           mt_kvstore_type(kv), world, host, o.reps, o.min_s * 1e3);
  }
  /* the Module's case: its gradients live in the kvstore's own memory (the
   * node's shared window, reduced in place), where it has some */
  float *res = mt_kvstore_host_buffer(kv, o.max_bytes / 4 > (int64_t)o.ntensors * o.tensor_bytes / 4
                                              ? o.max_bytes / 4
                                              : (int64_t)o.ntensors * o.tensor_bytes / 4);
  part_sizes(&o, res);
  part_tensors(&o, res);
  MPI_Comm_free(&raw_comm);
  mt_kvstore_free(kv);
  return 0;
}
