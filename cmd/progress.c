/* progress.c — the progress bar that replaces Speedometer lines when stderr
 * is a terminal: one line redrawn in place (at most 10 times a second) with
 * the epoch, a bar, samples/s and the time left in the epoch. The number of
 * batches per epoch is learnt from the first epoch (until then: a count). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cmd.h"

typedef struct {
  int64_t batch_size;
  int num_epoch, epoch, per_epoch, last_nbatch;
  double epoch_t0, last_draw;
} progress;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int progress_cb(const mt_batch_end_params *p, void *user) {
  progress *s = user;
  if (mt_log_rank() != 0) return 0;
  double t = now_s();
  if (p->epoch != s->epoch || p->nbatch < s->last_nbatch) { /* a new epoch */
    if (s->last_nbatch >= 0 && s->per_epoch == 0) s->per_epoch = s->last_nbatch + 1;
    s->epoch = p->epoch;
    s->epoch_t0 = t;
    s->last_draw = 0;
  }
  s->last_nbatch = p->nbatch;
  int done = p->nbatch + 1, last = s->per_epoch > 0 && done >= s->per_epoch;
  if (!last && t - s->last_draw < 0.1) return 0;
  s->last_draw = t;
  double el = t - s->epoch_t0, speed = el > 0 ? (double)done * (double)s->batch_size / el : 0;
  char bar[41] = "";
  if (s->per_epoch > 0) {
    int w = (int)(40.0 * done / s->per_epoch);
    for (int i = 0; i < 40; i++) bar[i] = i < w ? '#' : '-';
    bar[40] = '\0';
    double left = speed > 0 ? (double)(s->per_epoch - done) * (double)s->batch_size / speed : 0;
    fprintf(stderr, "\rEpoch %d/%d [%s] %3d%% %d/%d  %.0f samples/s  ETA %d:%02d ", p->epoch + 1,
            s->num_epoch, bar, 100 * done / s->per_epoch, done, s->per_epoch, speed, (int)left / 60,
            (int)left % 60);
  } else {
    fprintf(stderr, "\rEpoch %d/%d batch %d  %.0f samples/s ", p->epoch + 1, s->num_epoch, done,
            speed);
  }
  if (last) fputc('\n', stderr);
  fflush(stderr);
  return 0;
}

int cmd_progress_create(int64_t batch_size, int num_epoch, mt_batch_callback *out) {
  progress *s = calloc(1, sizeof *s);
  if (!s) return mt_error_set(MT_E_NOMEM, "progress: out of memory");
  s->batch_size = batch_size;
  s->num_epoch = num_epoch;
  s->epoch = -1;
  s->last_nbatch = -1;
  out->fn = progress_cb;
  out->user = s;
  out->frequent = -1; /* reads no metric: no reduction needed */
  return MT_OK;
}
