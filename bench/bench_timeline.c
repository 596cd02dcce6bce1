/* bench_timeline.c — the timeline recorder's cost per span (base/timeline.h):
 * a loop of MT_TL_BEGIN/MT_TL_END pairs with recording off against the same
 * loop without them, then with recording on (two clock reads and one event
 * appended), then mt_tl_write's cost per event (sorting and JSON).
 *
 *   bench_timeline [--spans N] [--reps R]     (defaults 1000000, 7)
 *
 * Output: one line per figure and "RESULT what=timeline ..." (ns, medians
 * over R repetitions). With the spans per batch of a run's trace this bounds
 * the timeline's share of a step (docs/design.md §11). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/timeline.h"
#include "bench/bench_util.h"

#define MAX_REPS 64

static volatile int64_t sink;

static double loop_plain(int64_t n) {
  double t0 = bench_now();
  int64_t x = 0;
  for (int64_t i = 0; i < n; i++) {
    x += i;
    __asm__ volatile("" : "+r"(x));
  }
  sink = x;
  return (bench_now() - t0) * 1e9 / (double)n;
}

static double loop_spans(int64_t n) {
  double t0 = bench_now();
  int64_t x = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t t = MT_TL_BEGIN();
    x += i;
    __asm__ volatile("" : "+r"(x));
    MT_TL_END(t, "forward", "fc1", "FullyConnected", -1);
  }
  sink = x;
  return (bench_now() - t0) * 1e9 / (double)n;
}

int main(int argc, char **argv) {
  int64_t n = 1000000;
  int reps = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--spans")) n = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
  }
  if (n < 1 || reps < 1 || reps > MAX_REPS) {
    fprintf(stderr, "bench_timeline: --spans >= 1, --reps 1..%d\n", MAX_REPS);
    return 1;
  }
  char path[] = "/tmp/bench_timeline.XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return 1;
  close(fd);
  double plain[MAX_REPS], off[MAX_REPS], on[MAX_REPS], wr[MAX_REPS];
  for (int r = 0; r < reps; r++) {
    plain[r] = loop_plain(n);
    off[r] = loop_spans(n);
    if (mt_tl_start(path, 0, 1) < 0) return 1;
    on[r] = loop_spans(n);
    double t0 = bench_now();
    if (mt_tl_write() < 0) return 1;
    wr[r] = (bench_now() - t0) * 1e9 / (double)n;
  }
  unlink(path);
  double p = bench_median(plain, reps), f = bench_median(off, reps), o = bench_median(on, reps),
         w = bench_median(wr, reps);
  printf(
      "%lld spans, median of %d reps: loop %.2f ns/iter; off %.2f ns (+%.2f); on %.1f ns "
      "(+%.1f per span); write %.1f ns per event\n",
      (long long)n, reps, p, f, f - p, o, o - p, w);
  printf("RESULT what=timeline spans=%lld loop_ns=%.3f off_ns=%.3f on_ns=%.3f write_ns=%.3f\n",
         (long long)n, p, f, o, w);
  return 0;
}
