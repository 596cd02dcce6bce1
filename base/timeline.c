/* timeline.c — the timeline recorder of timeline.h: per-thread append-only
 * blocks of fixed-size events, written out as Trace Event Format JSON. */
#include "base/timeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"

#define MT_TL_BLOCK 8192
#define MT_TL_MAX_PER_THREAD (2 * 1024 * 1024) /* events; later ones are counted, not kept */
#define MT_TL_NAME 39

typedef struct {
  int64_t t0, t1, arg;
  const char *cat, *detail;
  int32_t lane;
  char ph;
  char name[MT_TL_NAME];
} tl_event;

typedef struct tl_block {
  struct tl_block *next;
  int n;
  tl_event ev[MT_TL_BLOCK];
} tl_block;

typedef struct tl_thread {
  struct tl_thread *next;
  int lane;
  int64_t count, dropped;
  tl_block *head, *cur;
} tl_thread;

int mt_tl_on_ = 0;

static pthread_mutex_t tl_mu = PTHREAD_MUTEX_INITIALIZER;
static tl_thread *tl_threads;
static int tl_nthreads;
static unsigned tl_gen = 1;
static _Thread_local tl_thread *tl_mine;
static _Thread_local unsigned tl_mine_gen;
static char tl_file[4096];
static int tl_rank, tl_world = 1;
static int64_t tl_offset, tl_origin, tl_err;

int64_t mt_tl_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void free_all(void) {
  for (tl_thread *t = tl_threads, *tn; t; t = tn) {
    tn = t->next;
    for (tl_block *b = t->head, *bn; b; b = bn) {
      bn = b->next;
      free(b);
    }
    free(t);
  }
  tl_threads = NULL;
  tl_nthreads = 0;
}

int mt_tl_start(const char *path, int rank, int world) {
  pthread_mutex_lock(&tl_mu);
  mt_tl_on_ = 0;
  free_all();
  tl_gen++;
  pthread_mutex_unlock(&tl_mu);
  if (!path || !*path) return MT_OK;
  size_t n = strlen(path);
  if (world > 1) {
    if (n > 5 && !strcmp(path + n - 5, ".json")) n -= 5;
    if (snprintf(tl_file, sizeof tl_file, "%.*s.rank%d.json", (int)n, path, rank) >=
        (int)sizeof tl_file)
      return MT_ERR(MT_E_INVAL, "timeline %s: path too long", path);
  } else if (snprintf(tl_file, sizeof tl_file, "%s", path) >= (int)sizeof tl_file) {
    return MT_ERR(MT_E_INVAL, "timeline %s: path too long", path);
  }
  FILE *f = fopen(tl_file, "w"); /* fail now, not after the run */
  if (!f) return MT_ERR(MT_E_IO, "timeline %s: %s", tl_file, strerror(errno));
  fclose(f);
  tl_rank = rank;
  tl_world = world;
  tl_offset = tl_err = 0;
  tl_origin = mt_tl_now();
  mt_tl_on_ = 1;
  return MT_OK;
}

void mt_tl_set_clock(int64_t offset_ns, int64_t origin_ns, int64_t err_ns) {
  tl_offset = offset_ns;
  tl_origin = origin_ns;
  tl_err = err_ns;
}

const char *mt_tl_path(void) { return tl_file; }

/* This thread's buffer, registered on its first event of this recording. */
static tl_thread *mine(void) {
  if (tl_mine && tl_mine_gen == tl_gen) return tl_mine;
  tl_thread *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  pthread_mutex_lock(&tl_mu);
  t->lane = tl_nthreads++;
  t->next = tl_threads;
  tl_threads = t;
  tl_mine_gen = tl_gen;
  pthread_mutex_unlock(&tl_mu);
  tl_mine = t;
  return t;
}

static tl_event *slot(void) {
  if (!mt_tl_on_) return NULL;
  tl_thread *t = mine();
  if (!t) return NULL;
  if (t->count >= MT_TL_MAX_PER_THREAD) {
    t->dropped++;
    return NULL;
  }
  if (!t->cur || t->cur->n == MT_TL_BLOCK) {
    tl_block *b = malloc(sizeof *b);
    if (!b) {
      t->dropped++;
      return NULL;
    }
    b->next = NULL;
    b->n = 0;
    if (t->cur) t->cur->next = b;
    else t->head = b;
    t->cur = b;
  }
  t->count++;
  tl_event *e = &t->cur->ev[t->cur->n++];
  e->lane = t->lane;
  return e;
}

static void fill(tl_event *e, char ph, const char *cat, const char *name, const char *detail,
                 int64_t t0, int64_t t1, int64_t arg) {
  e->ph = ph;
  e->cat = cat;
  e->detail = detail;
  e->t0 = t0;
  e->t1 = t1;
  e->arg = arg;
  size_t i = 0;
  if (name)
    for (; i < MT_TL_NAME - 1 && name[i]; i++) e->name[i] = name[i];
  e->name[i] = 0;
}

void mt_tl_span(const char *cat, const char *name, const char *detail, int64_t t0, int64_t arg) {
  int64_t t1 = mt_tl_now();
  tl_event *e = slot();
  if (e) fill(e, 'X', cat, name, detail, t0, t1, arg);
}

void mt_tl_span_lane(int lane, const char *cat, const char *name, const char *detail, int64_t t0,
                     int64_t t1, int64_t arg) {
  tl_event *e = slot();
  if (!e) return;
  fill(e, 'X', cat, name, detail, t0, t1, arg);
  e->lane = lane;
}

void mt_tl_instant(const char *cat, const char *name, int64_t arg) {
  int64_t t = mt_tl_now();
  tl_event *e = slot();
  if (e) fill(e, 'i', cat, name, NULL, t, t, arg);
}

/* ------------------------------------------------------------------ output */

static void put_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static int by_lane_time(const void *a, const void *b) {
  const tl_event *x = *(tl_event *const *)a, *y = *(tl_event *const *)b;
  if (x->lane != y->lane) return x->lane < y->lane ? -1 : 1;
  if (x->t0 != y->t0) return x->t0 < y->t0 ? -1 : 1;
  if (x->t1 != y->t1) return x->t1 > y->t1 ? -1 : 1; /* the enclosing span first */
  return 0;
}

static void put_ts(FILE *f, const char *key, int64_t ns) {
  /* microseconds with nanosecond digits, exact from the integer */
  const char *sign = ns < 0 ? "-" : "";
  int64_t a = ns < 0 ? -ns : ns;
  fprintf(f, "\"%s\":%s%lld.%03lld", key, sign, (long long)(a / 1000), (long long)(a % 1000));
}

static void put_meta(FILE *f, const char *what, int tid, const char *name, int *first) {
  fprintf(f, "%s\n{\"name\":\"%s\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":",
          *first ? "" : ",", what, tl_rank, tid);
  put_str(f, name);
  fputs("}}", f);
  *first = 0;
}

int mt_tl_write(void) {
  if (!mt_tl_on_) return MT_OK;
  mt_tl_on_ = 0;
  pthread_mutex_lock(&tl_mu);
  int64_t total = 0, dropped = 0;
  for (tl_thread *t = tl_threads; t; t = t->next) {
    total += t->count;
    dropped += t->dropped;
  }
  tl_event **all = malloc(sizeof *all * (size_t)(total ? total : 1));
  if (!all) {
    free_all();
    tl_gen++;
    pthread_mutex_unlock(&tl_mu);
    return MT_ERR(MT_E_NOMEM, "timeline %s: out of memory for %lld events", tl_file,
                  (long long)total);
  }
  int64_t k = 0;
  unsigned char bucket_used[MT_TL_BUCKET_LANES] = {0};
  for (tl_thread *t = tl_threads; t; t = t->next)
    for (tl_block *b = t->head; b; b = b->next)
      for (int i = 0; i < b->n; i++) {
        all[k++] = &b->ev[i];
        int bl = b->ev[i].lane - MT_TL_LANE_BUCKET;
        if (bl >= 0 && bl < MT_TL_BUCKET_LANES) bucket_used[bl] = 1;
      }
  qsort(all, (size_t)total, sizeof *all, by_lane_time);
  int rc = MT_OK;
  FILE *f = fopen(tl_file, "w");
  if (!f) {
    rc = MT_ERR(MT_E_IO, "timeline %s: %s", tl_file, strerror(errno));
    goto out;
  }
  fprintf(f,
          "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"rank\":%d,\"world\":%d,"
          "\"clock_offset_ns\":%lld,\"clock_error_ns\":%lld,\"events\":%lld,\"dropped\":%lld},"
          "\n\"traceEvents\":[",
          tl_rank, tl_world, (long long)tl_offset, (long long)tl_err, (long long)total,
          (long long)dropped);
  int first = 1;
  char nm[64];
  snprintf(nm, sizeof nm, "rank %d", tl_rank);
  put_meta(f, "process_name", 0, nm, &first);
  fprintf(f,
          ",\n{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
          "\"args\":{\"sort_index\":%d}}",
          tl_rank, tl_rank);
  for (int l = 0; l < tl_nthreads; l++) {
    snprintf(nm, sizeof nm, l == 0 ? "training" : "thread %d", l);
    put_meta(f, "thread_name", l, nm, &first);
  }
  for (int l = 0; l < MT_TL_BUCKET_LANES; l++)
    if (bucket_used[l]) {
      snprintf(nm, sizeof nm, l == MT_TL_BUCKET_LANES - 1 ? "bucket %d+" : "bucket %d", l);
      put_meta(f, "thread_name", MT_TL_LANE_BUCKET + l, nm, &first);
    }
  for (int64_t i = 0; i < total; i++) {
    const tl_event *e = all[i];
    fputs(",\n{\"name\":", f);
    put_str(f, e->name);
    fputs(",\"cat\":", f);
    put_str(f, e->cat ? e->cat : "");
    fprintf(f, ",\"ph\":\"%c\",\"pid\":%d,\"tid\":%d,", e->ph, tl_rank, (int)e->lane);
    put_ts(f, "ts", e->t0 + tl_offset - tl_origin);
    if (e->ph == 'X') {
      fputc(',', f);
      put_ts(f, "dur", e->t1 - e->t0);
    } else {
      fputs(",\"s\":\"p\"", f);
    }
    if (e->detail || e->arg >= 0) {
      fputs(",\"args\":{", f);
      if (e->detail) {
        fputs("\"op\":", f);
        put_str(f, e->detail);
      }
      if (e->arg >= 0) fprintf(f, "%s\"n\":%lld", e->detail ? "," : "", (long long)e->arg);
      fputc('}', f);
    }
    fputc('}', f);
  }
  fputs("\n]}\n", f);
  errno = 0;
  if (fflush(f) != 0 || ferror(f))
    rc = MT_ERR(MT_E_IO, "timeline %s: writing failed: %s", tl_file, strerror(errno ? errno : EIO));
  if (fclose(f) != 0 && rc == MT_OK)
    rc = MT_ERR(MT_E_IO, "timeline %s: closing failed: %s", tl_file, strerror(errno));
out:
  free(all);
  free_all();
  tl_gen++;
  pthread_mutex_unlock(&tl_mu);
  return rc;
}
