/* cmd_synth.c — `modtrain synth`: writes the tutorial's synthetic
 * classification data (io/synthetic.h: class means mu ~ U(0, 1) drawn from
 * the seed, samples ~ N(mu[label], 0.1) drawn from seed and part, labels in
 * equal class blocks) to a dataset file (io/h5dataset.h): /data float32
 * [N, D], /label float32 [N], attributes num_classes, seed, part, generator.
 *
 * The generator is counter-based, so the set is generated and written in
 * blocks of about 4 MiB: files larger than memory work, and the bytes of
 * /data and /label depend only on (classes, dim, samples, seed, part).
 * The file appears under its name only once complete (written to a
 * temporary name, fsynced, renamed).
 *
 * Exit status: 0 written, 1 the file could not be written, 2 bad usage. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5dataset.h"
#include "io/synthetic.h"
#include "cmd.h"
#include "base/error.h"

#define SYNTH_BLOCK_BYTES ((int64_t)4 << 20)

static void synth_usage(FILE *f) {
  fprintf(f,
          "usage: modtrain synth --classes C --dim D --samples N [--seed S] [--part K] OUT.h5\n"
          "\n"
          "Writes the tutorial's synthetic classification set to OUT.h5: /data float32\n"
          "[N, D] with samples ~ N(mu[label], 0.1), class means mu ~ U(0, 1) drawn from\n"
          "the seed; /label float32 [N] with labels in equal class blocks; attributes\n"
          "num_classes, seed, part, generator. The same arguments give the same bytes.\n"
          "\n"
          "  -c, --classes C   number of classes, >= 1 (required)\n"
          "  -d, --dim D       features per sample, >= 1 (required)\n"
          "  -n, --samples N   number of samples, >= 1 (required)\n"
          "  -s, --seed S      generator seed, 0..2^64-1 (default 0)\n"
          "  -p, --part K      which sample set around the same means, >= 0 (default 0;\n"
          "                    e.g. 0 for training, 1 for validation)\n"
          "  -h, --help        show this help\n"
          "\n"
          "Exit status: 0 written, 1 the file could not be written, 2 bad usage.\n");
}

/* Parses a whole decimal integer in [lo, hi]; 0 ok, -1 bad. */
static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
  char *end;
  if (!s || !*s) return -1;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

/* Parses a whole decimal uint64 (no sign); 0 ok, -1 bad. */
static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  if (!s || !*s || *s == '-' || *s == '+') return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

/* What to write. */
typedef struct {
  int64_t classes, dim, samples, part;
  uint64_t seed;
  const char *out;
} synth_args;

/* The options into a. Returns -1 to go on, or the exit code (--help, a bad
 * or missing option or argument). */
static int synth_options(int argc, char **argv, synth_args *a) {
  static const struct option opts[] = {{"classes", required_argument, NULL, 'c'},
                                       {"dim", required_argument, NULL, 'd'},
                                       {"samples", required_argument, NULL, 'n'},
                                       {"seed", required_argument, NULL, 's'},
                                       {"part", required_argument, NULL, 'p'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  optind = 0; /* glibc: restart scanning (the command may run more than once) */
  int c;
  while ((c = getopt_long(argc, argv, "c:d:n:s:p:h", opts, NULL)) != -1) {
    int bad = 0;
    switch (c) {
    case 'c': bad = parse_i64(optarg, 1, INT32_MAX, &a->classes); break;
    case 'd': bad = parse_i64(optarg, 1, INT32_MAX, &a->dim); break;
    case 'n': bad = parse_i64(optarg, 1, INT64_MAX, &a->samples); break;
    case 's': bad = parse_u64(optarg, &a->seed); break;
    case 'p': bad = parse_i64(optarg, 0, INT32_MAX, &a->part); break;
    case 'h': synth_usage(stdout); return 0;
    default: synth_usage(stderr); return 2;
    }
    if (bad) {
      const char *name = c == 'c'   ? "--classes"
                         : c == 'd' ? "--dim"
                         : c == 'n' ? "--samples"
                         : c == 's' ? "--seed"
                                    : "--part";
      fprintf(stderr, "modtrain synth: %s '%s' is not a valid %s\n", name, optarg,
              c == 's'   ? "seed (an integer 0..2^64-1)"
              : c == 'p' ? "part (an integer >= 0)"
                         : "count (an integer >= 1)");
      return 2;
    }
  }
  const char *missing = !a->classes   ? "--classes"
                        : !a->dim     ? "--dim"
                        : !a->samples ? "--samples"
                                      : NULL;
  if (missing) {
    fprintf(stderr, "modtrain synth: %s is required (see modtrain synth --help)\n", missing);
    return 2;
  }
  if (optind != argc - 1) {
    fprintf(stderr, "modtrain synth: expected one output file OUT.h5, got %d arguments\n",
            argc - optind);
    return 2;
  }
  a->out = argv[optind];
  return -1;
}

/* Like the checkpoint prefix: the output's directory is created if missing. */
static void make_out_dir(const char *out) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", out);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return;
  *slash = '\0';
  for (char *c = dir + 1; *c; c++)
    if (*c == '/') {
      *c = '\0';
      mkdir(dir, 0777);
      *c = '/';
    }
  mkdir(dir, 0777);
}

/* The set generated and appended block by block, then the file committed. */
static int synth_write(const synth_args *a) {
  char gen[256];
  snprintf(gen, sizeof gen,
           "modtrain synth --classes %" PRId64 " --dim %" PRId64 " --samples %" PRId64
           " --seed %" PRIu64 " --part %" PRId64,
           a->classes, a->dim, a->samples, a->seed, a->part);
  int64_t block = SYNTH_BLOCK_BYTES / (a->dim * (int64_t)sizeof(float));
  if (block < 1) block = 1;
  if (block > a->samples) block = a->samples;
  float *x = malloc((size_t)block * (size_t)a->dim * sizeof *x);
  float *y = malloc((size_t)block * sizeof *y);
  mtio_h5_writer *w = NULL;
  int64_t d = a->dim;
  int rc;
  if (!x || !y) {
    rc = mt_error_set(MT_E_NOMEM, "cannot allocate a block of %" PRId64 " samples", block);
    goto done;
  }
  MT_TRY_GOTO(mtio_h5_writer_create(a->out, 1, &d, 0, a->classes, a->seed, gen, &w), rc, done);
  MT_TRY_GOTO(mtio_h5_writer_attr_int(w, "part", a->part), rc, done);
  for (int64_t first = 0; first < a->samples; first += block) {
    int64_t rows = a->samples - first < block ? a->samples - first : block;
    MT_TRY_GOTO(mtio_synthetic_generate_range((int)a->classes, (int)a->dim, a->samples, a->seed,
                                              (int)a->part, first, rows, x, y),
                rc, done);
    MT_TRY_GOTO(mtio_h5_writer_append(w, rows, x, y), rc, done);
  }
  rc = mtio_h5_writer_close(w);
  w = NULL;
done:
  mtio_h5_writer_abort(w);
  free(x);
  free(y);
  return rc;
}

int mt_cmd_synth(int argc, char **argv) {
  synth_args a = {0};
  int code = synth_options(argc, argv, &a);
  if (code >= 0) return code;
  make_out_dir(a.out);
  if (a.samples > INT64_MAX / a.classes) {
    fprintf(stderr, "modtrain synth: --samples %" PRId64 " x --classes %" PRId64 " overflows\n",
            a.samples, a.classes);
    return 2;
  }
  if (synth_write(&a) < 0) {
    fprintf(stderr, "modtrain synth: %s\n", mt_last_error());
    return 1;
  }
  printf("wrote %" PRId64 " samples (%" PRId64 " classes, %" PRId64 " features, seed %" PRIu64
         ", part %" PRId64 ") to %s\n",
         a.samples, a.classes, a.dim, a.seed, a.part, a.out);
  return 0;
}
