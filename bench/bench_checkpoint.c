/* bench_checkpoint.c — checkpoint write and read throughput against raw file
 * I/O of the same bytes in the same directory.
 *
 * The parameter set: --mib MiB (default 256) of float32 in 16 weight
 * matrices (rows x 2048) plus a bias each, in one arena, as a model's
 * parameters are. A symbol (a small MLP) is saved with it, as in real use.
 *   write  modtrain: mt_save_checkpoint(prefix, e, sym, args, NULL, NULL):
 *          P-symbol.json and P-EEEE.h5, each to a temporary name, fsynced,
 *          renamed, directory fsynced; every dataset's XXH3 digest
 *          computed as its elements are written (docs/design.md §6).
 *          raw: open(O_CREAT|O_TRUNC) + write() of the arena's bytes + fsync
 *          + close, to a file in the same directory.
 *   read   modtrain: mt_load_checkpoint(prefix, e, NULL, &args, NULL, NULL)
 *          (a new arena, every /arg dataset read into it and its digest
 *          checked).
 *          raw: open + read() of the raw file into a new malloc'd buffer.
 *   read into memory
 *          the same reads into memory that already exists (as a restore
 *          into a model's arrays): modtrain: the checkpoint's /arg datasets
 *          read with io/h5_container.h (open, list, read each: pread and
 *          its digest checked) into one touched buffer; raw: read() into
 *          the same buffer. The difference
 *          to "read" is the cost of new memory: mt_arena_create zero-fills
 *          (user page faults + memset), where read() into a fresh malloc
 *          faults the pages in the kernel's copy.
 *          Files are dropped from the page cache before every read
 *          (posix_fadvise DONTNEED after fsync), so all reads come from
 *          disk; --warm keeps the cache (memory bandwidth instead).
 * Each figure is the median of --reps repetitions (default 5), modtrain and
 * raw interleaved, alternating which goes first; MB/s = 1e6 bytes/s of the
 * parameter bytes. The loaded arena is compared with the saved one (exit 1
 * on a mismatch).
 *
 *   bench_checkpoint [--dir /tmp] [--mib 256] [--reps 5] [--warm] [--hash]
 * Target: ratio modtrain/raw >= 0.8 for write and read. Exit 0 unless an
 * error or a mismatch.
 *
 * --hash instead times the digests alone, one thread: XXH64 (format 2) and
 * every XXH3 path this CPU runs (io/xxh3.h; format 3 uses the last one), in
 * GB/s (1e9 bytes/s), the median of --reps: over the whole parameter buffer
 * (from memory) and over its first MiB hashed 64 times (from cache).
 * --xxh3 PATH makes the checkpoints use that XXH3 path (same digests). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/h5_container.h"
#include "io/xxh3.h"
#include "io/xxh64.h"
#include "bench/bench_util.h"
#include "modtrain.h"

#define NMAT 16

static void die(const char *what) {
  fprintf(stderr, "bench_checkpoint: %s: %s\n", what, errno ? strerror(errno) : mt_last_error());
  exit(1);
}

static void drop_cache(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return;
  fdatasync(fd);
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

static double raw_write(const char *path, const float *p, int64_t bytes) {
  unlink(path); /* a new file, as the checkpoint's temporary file is */
  double t = bench_now();
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die(path);
  for (int64_t off = 0; off < bytes;) {
    ssize_t k = write(fd, (const char *)p + off, (size_t)(bytes - off));
    if (k <= 0) die("raw write");
    off += k;
  }
  if (fsync(fd) < 0 || close(fd) < 0) die("raw fsync");
  return bench_now() - t;
}

static double raw_read(const char *path, int64_t bytes) {
  double t = bench_now();
  int fd = open(path, O_RDONLY);
  if (fd < 0) die(path);
  char *buf = malloc((size_t)bytes);
  if (!buf) die("malloc");
  for (int64_t off = 0; off < bytes;) {
    ssize_t k = read(fd, buf + off, (size_t)(bytes - off));
    if (k <= 0) die("raw read");
    off += k;
  }
  close(fd);
  double dt = bench_now() - t;
  free(buf);
  return dt;
}

static double raw_read_into(const char *path, char *buf, int64_t bytes) {
  double t = bench_now();
  int fd = open(path, O_RDONLY);
  if (fd < 0) die(path);
  for (int64_t off = 0; off < bytes;) {
    ssize_t k = read(fd, buf + off, (size_t)(bytes - off));
    if (k <= 0) die("raw read");
    off += k;
  }
  close(fd);
  return bench_now() - t;
}

/* The checkpoint's /arg datasets, in file order, into buf. */
static double ckpt_read_into(const char *path, char *buf, int64_t bytes) {
  double t = bench_now();
  mtio_h5r *r;
  int n;
  char **links;
  if (mtio_h5r_open(path, &r) < 0 || mtio_h5r_list(r, "/arg", &n, &links) < 0) die("open");
  int64_t off = 0;
  for (int i = 0; i < n; i++) {
    char dset[256];
    mt_shape s;
    snprintf(dset, sizeof dset, "/arg/%s", links[i]);
    if (mtio_h5r_shape(r, dset, &s) < 0) die("shape");
    int64_t k = mt_shape_size(&s);
    if (off + 4 * k > bytes || mtio_h5r_read(r, dset, (float *)(buf + off), k) < 0) die("read");
    off += 4 * k;
  }
  mtio_names_free(n, links);
  mtio_h5r_close(r);
  return bench_now() - t;
}

/* Seconds to hash n bytes of p `times` times with XXH64 (path NULL) or an
 * XXH3 path; the digests go to *sink so nothing is optimised away. */
static double hash_time(const mtio_xxh3_path *path, const char *p, int64_t n, int times,
                        uint64_t *sink) {
  double t = bench_now();
  for (int i = 0; i < times; i++)
    *sink ^= path ? path->oneshot(p, (size_t)n) : mtio_xxh64(p, (size_t)n, 0);
  return bench_now() - t;
}

static void hash_speed(const char *buf, int64_t bytes, int reps) {
  const int64_t piece = bytes < (1 << 20) ? bytes : (1 << 20);
  const int times = 64;
  int np;
  const mtio_xxh3_path *paths = mtio_xxh3_paths(&np);
  double *tm = calloc((size_t)reps, sizeof(double)), *tc = calloc((size_t)reps, sizeof(double));
  if (!tm || !tc) die("calloc");
  uint64_t sink = 0;
  printf(
      "single-thread hash speed, GB/s: memory = %.1f MiB once, cache = 1 MiB x %d; median of "
      "%d\n",
      (double)bytes / (1 << 20), times, reps);
  printf("%-22s %10s %10s\n", "", "memory", "cache");
  for (int k = -1; k < np; k++) {
    const mtio_xxh3_path *path = k < 0 ? NULL : &paths[k];
    char name[64];
    snprintf(name, sizeof name, "%s%s%s", path ? "xxh3 " : "xxh64 (format 2)",
             path ? path->name : "", path == mtio_xxh3_chosen() ? " (format 3)" : "");
    if (path && !path->usable) {
      printf("%-22s %10s %10s\n", name, "-", "-");
      continue;
    }
    for (int r = 0; r < reps; r++) {
      tm[r] = hash_time(path, buf, bytes, 1, &sink);
      tc[r] = hash_time(path, buf, piece, times, &sink);
    }
    printf("%-22s %10.2f %10.2f\n", name, (double)bytes / 1e9 / bench_median(tm, reps),
           (double)piece * times / 1e9 / bench_median(tc, reps));
  }
  printf("(digest sink %016llx)\n", (unsigned long long)sink);
  free(tm);
  free(tc);
}

int main(int argc, char **argv) {
  const char *dir = "/tmp";
  int mib = 256, reps = 5, warm = 0, hash = 0;
  const char *xxh3 = NULL;
  static const struct option opts[] = {
      {"dir", required_argument, 0, 'd'},  {"mib", required_argument, 0, 'm'},
      {"reps", required_argument, 0, 'r'}, {"warm", no_argument, 0, 'w'},
      {"hash", no_argument, 0, 'H'},       {"xxh3", required_argument, 0, 'x'},
      {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "d:m:r:wHx:h", opts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 'm': mib = atoi(optarg); break;
    case 'r': reps = atoi(optarg); break;
    case 'w': warm = 1; break;
    case 'H': hash = 1; break;
    case 'x': xxh3 = optarg; break;
    default:
      printf(
          "usage: bench_checkpoint [--dir /tmp] [--mib 256] [--reps 5] [--warm] [--hash]\n"
          "                        [--xxh3 PATH]\n"
          "  --dir   directory for the files (default /tmp)\n"
          "  --mib   parameter set size in MiB (default 256)\n"
          "  --reps  repetitions, median reported (default 5)\n"
          "  --warm  read with the page cache warm (default: dropped)\n"
          "  --hash  time the digests alone (XXH64, each XXH3 path), no files\n"
          "  --xxh3  the XXH3 path the checkpoints use: scalar, sse2, avx2, avx512\n"
          "          (default: modtrain's choice; the same digests)\n");
      return c == 'h' ? 0 : 1;
    }
  }
  if (mib < 1 || reps < 1) {
    fprintf(stderr, "bench_checkpoint: --mib and --reps must be >= 1\n");
    return 1;
  }
  if (xxh3 && mtio_xxh3_use(xxh3) < 0) {
    fprintf(stderr, "bench_checkpoint: --xxh3 %s: not a path this build and CPU run\n", xxh3);
    return 1;
  }
  /* 16 matrices (rows, 2048) + 16 biases (rows): rows from the size */
  int64_t rows = ((int64_t)mib << 20) / 4 / NMAT / 2049;
  const char *names[2 * NMAT];
  mt_shape shapes[2 * NMAT];
  char nbuf[2 * NMAT][32];
  for (int i = 0; i < NMAT; i++) {
    snprintf(nbuf[2 * i], sizeof nbuf[0], "fc%d_weight", i);
    snprintf(nbuf[2 * i + 1], sizeof nbuf[0], "fc%d_bias", i);
    names[2 * i] = nbuf[2 * i];
    names[2 * i + 1] = nbuf[2 * i + 1];
    shapes[2 * i] = MT_SHAPE((int)rows, 2048);
    shapes[2 * i + 1] = MT_SHAPE((int)rows);
  }
  mt_arena *args;
  if (mt_arena_create(mt_cpu(0), 2 * NMAT, names, shapes, &args) < 0) die("arena");
  int64_t bytes = 0;
  for (int i = 0; i < 2 * NMAT; i++) {
    mt_ndarray *a = mt_arena_at(args, i);
    float *p = mt_ndarray_data(a);
    for (int64_t k = 0; k < mt_ndarray_size(a); k++)
      p[k] = (float)((k * 2654435761u + (uint64_t)i) >> 12);
    bytes += 4 * mt_ndarray_size(a);
  }
  /* the raw side writes the same bytes: one contiguous buffer */
  float *flat = malloc((size_t)bytes);
  if (!flat) die("malloc");
  for (int64_t i = 0, off = 0; i < 2 * NMAT; i++) {
    mt_ndarray *a = mt_arena_at(args, i);
    memcpy((char *)flat + off, mt_ndarray_data(a), 4 * (size_t)mt_ndarray_size(a));
    off += 4 * mt_ndarray_size(a);
  }
  if (hash) {
    hash_speed((const char *)flat, bytes, reps);
    free(flat);
    mt_arena_free(args);
    return 0;
  }
  mt_symbol *data, *fc, *net;
  if (mt_symbol_variable("data", &data) < 0 ||
      mt_symbol_create("FullyConnected", "fc1", "num_hidden=64", 1, &data, &fc) < 0 ||
      mt_symbol_create("SoftmaxOutput", "softmax", NULL, 1, &fc, &net) < 0)
    die("symbol");

  char prefix[3072], raw[4096], h5[4096];
  snprintf(prefix, sizeof prefix, "%s/bench_ckpt_%ld", dir, (long)getpid());
  snprintf(raw, sizeof raw, "%s/bench_raw_%ld.bin", dir, (long)getpid());
  printf(
      "bench_checkpoint: %.1f MiB in %d arrays, directory %s, %d reps, %s cache for reads, "
      "digests xxh3 (%s)\n",
      (double)bytes / (1 << 20), 2 * NMAT, dir, reps, warm ? "warm" : "dropped",
      mtio_xxh3_chosen()->name);
  double *tw[2], *tr[2], *ti[2];
  for (int k = 0; k < 2; k++) {
    tw[k] = calloc((size_t)reps, sizeof(double));
    tr[k] = calloc((size_t)reps, sizeof(double));
    ti[k] = calloc((size_t)reps, sizeof(double));
  }
  char *into = malloc((size_t)bytes);
  if (!into) die("malloc");
  memset(into, 1, (size_t)bytes);
  int bad = 0;
  for (int r = 0; r < reps; r++) {
    for (int o = 0; o < 2; o++) {
      int k = (o + r) % 2; /* 0 = modtrain, 1 = raw */
      if (k == 0) {
        double t = bench_now();
        if (mt_save_checkpoint(prefix, r + 1, net, args, NULL, NULL) < 0) die("mt_save_checkpoint");
        tw[0][r] = bench_now() - t;
      } else {
        tw[1][r] = raw_write(raw, flat, bytes);
      }
    }
    mt_checkpoint_path(prefix, r + 1, h5, sizeof h5);
    if (!warm) {
      drop_cache(h5);
      drop_cache(raw);
    }
    for (int o = 0; o < 2; o++) {
      int k = (o + r + 1) % 2;
      if (k == 0) {
        mt_arena *back;
        double t = bench_now();
        if (mt_load_checkpoint(prefix, r + 1, NULL, &back, NULL, NULL) < 0)
          die("mt_load_checkpoint");
        tr[0][r] = bench_now() - t;
        for (int i = 0; i < 2 * NMAT; i++)
          if (memcmp(mt_ndarray_data(mt_arena_at(back, i)), mt_ndarray_data(mt_arena_at(args, i)),
                     4 * (size_t)mt_ndarray_size(mt_arena_at(args, i))))
            bad = 1;
        mt_arena_free(back);
      } else {
        tr[1][r] = raw_read(raw, bytes);
      }
    }
    for (int o = 0; o < 2; o++) {
      int k = (o + r) % 2;
      if (!warm) drop_cache(k == 0 ? h5 : raw);
      ti[k][r] = k == 0 ? ckpt_read_into(h5, into, bytes) : raw_read_into(raw, into, bytes);
      if (k == 0 && memcmp(into, flat, (size_t)bytes)) bad = 1;
    }
    unlink(h5);
  }
  unlink(raw);
  snprintf(h5, sizeof h5, "%s-symbol.json", prefix);
  unlink(h5);
  if (bad) {
    fprintf(stderr, "bench_checkpoint: the loaded parameters differ from the saved ones\n");
    return 1;
  }
  double w0 = bench_median(tw[0], reps), w1 = bench_median(tw[1], reps),
         r0 = bench_median(tr[0], reps), r1 = bench_median(tr[1], reps),
         i0 = bench_median(ti[0], reps), i1 = bench_median(ti[1], reps);
  double mb = (double)bytes / 1e6;
  printf("%-18s %14s %14s %8s\n", "", "modtrain MB/s", "raw MB/s", "ratio");
  printf("%-18s %14.1f %14.1f %8.3f%s\n", "write", mb / w0, mb / w1, w1 / w0,
         w1 / w0 < 0.8 ? "  BELOW TARGET 0.8" : "");
  printf("%-18s %14.1f %14.1f %8.3f%s\n", "read", mb / r0, mb / r1, r1 / r0,
         r1 / r0 < 0.8 ? "  BELOW TARGET 0.8" : "");
  printf("%-18s %14.1f %14.1f %8.3f%s\n", "read into memory", mb / i0, mb / i1, i1 / i0,
         i1 / i0 < 0.8 ? "  BELOW TARGET 0.8" : "");
  for (int k = 0; k < 2; k++) {
    free(tw[k]);
    free(tr[k]);
    free(ti[k]);
  }
  free(into);
  free(flat);
  mt_arena_free(args);
  mt_symbol_free(net);
  mt_symbol_free(fc);
  mt_symbol_free(data);
  return 0;
}
