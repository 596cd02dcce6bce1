/* watchdog.c — the stall watchdog: a thread that ends the whole job when
 * training makes no progress for T seconds (a hung collective, a dead
 * filesystem), printing what this rank was doing last. fit reports progress
 * after every batch; the check is a few atomic loads per second. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/exit_codes.h"
#include "modtrain.h"

static pthread_t wd_thread;
static atomic_int wd_running;
static atomic_long wd_last_ms;
static atomic_int wd_epoch, wd_batch;
static _Atomic(const char *) wd_what;
static double wd_timeout;
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond = PTHREAD_COND_INITIALIZER;

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void mt_watchdog_progress(const char *what, int epoch, int batch) {
  atomic_store(&wd_what, what ? what : "training");
  atomic_store(&wd_epoch, epoch);
  atomic_store(&wd_batch, batch);
  atomic_store(&wd_last_ms, now_ms());
}

static void *watch(void *arg) {
  pthread_mutex_lock(&wd_lock);
  while (atomic_load(&wd_running)) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_cond_timedwait(&wd_cond, &wd_lock, &until);
    if (!atomic_load(&wd_running)) break;
    double idle = (double)(now_ms() - atomic_load(&wd_last_ms)) / 1000.0;
    if (idle > wd_timeout) {
      fprintf(stderr,
              "modtrain: error (rank %d): no progress for %.0f s (watchdog %.0f s); last: %s, "
              "epoch %d, batch %d; ending the job\n",
              mt_dist_rank(), idle, wd_timeout, atomic_load(&wd_what), atomic_load(&wd_epoch),
              atomic_load(&wd_batch));
      fflush(stderr);
      mt_dist_abort(MT_EXIT_WATCHDOG);
    }
  }
  pthread_mutex_unlock(&wd_lock);
  return NULL;
}

int mt_watchdog_start(double seconds) {
  if (seconds <= 0 || atomic_load(&wd_running)) return MT_OK;
  wd_timeout = seconds;
  mt_watchdog_progress("start-up", 0, 0);
  atomic_store(&wd_running, 1);
  if (pthread_create(&wd_thread, NULL, watch, NULL) != 0) {
    atomic_store(&wd_running, 0);
    return mt_error_set(MT_E_INVAL, "watchdog: cannot start its thread");
  }
  return MT_OK;
}

void mt_watchdog_stop(void) {
  if (!atomic_load(&wd_running)) return;
  pthread_mutex_lock(&wd_lock);
  atomic_store(&wd_running, 0);
  pthread_cond_signal(&wd_cond);
  pthread_mutex_unlock(&wd_lock);
  pthread_join(wd_thread, NULL);
}
