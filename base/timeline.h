/* timeline.h — the timeline recorder ([train] timeline, MODTRAIN_TIMELINE;
 * docs/design.md §11): spans of time per thread, written at the end as
 * Chrome/Perfetto Trace Event Format JSON ("ph":"X" complete events, "pid"
 * the rank, "tid" the lane, "ts"/"dur" in microseconds).
 *
 * The hot path: when off, MT_TL_BEGIN is one load and one predictable
 * branch and MT_TL_END a test of zero; when on, two CLOCK_MONOTONIC reads and
 * one fixed-size event appended to this thread's own buffer (no lock, no
 * formatting; a new block of events is allocated once per MT_TL_BLOCK
 * events). Names are copied (truncated to 39 bytes); `cat` and `detail` must
 * be string literals or otherwise live until mt_tl_write.
 *
 * Placement: the recorder here knows nothing above base/; the spans are
 * placed in src/ (executor, module, fit, checkpoint) and kvstore/ (bucket
 * start, wait); the clocks are aligned across ranks by kvstore/world.c
 * (mt_dist_timeline_align), which hands the offset to mt_tl_set_clock. */
#ifndef MT_BASE_TIMELINE_H
#define MT_BASE_TIMELINE_H
#include <stdint.h>

/* Lanes ("tid"): 0.. the threads in order of their first event (the
 * training thread first); MT_TL_LANE_BUCKET + k the gradient bucket k
 * (k < 64; later ones share the last lane). */
#define MT_TL_LANE_BUCKET 1000
#define MT_TL_BUCKET_LANES 64

extern int mt_tl_on_; /* 1 while recording: read through mt_tl_on() */

static inline int mt_tl_on(void) { return __builtin_expect(mt_tl_on_, 0); }

/* Nanoseconds of CLOCK_MONOTONIC. */
int64_t mt_tl_now(void);

/* Starts recording into memory (any earlier recording is discarded); the
 * file is written by mt_tl_write. rank and world: "pid" and the file name
 * (world > 1: PATH without a trailing ".json" + ".rank<N>.json"). */
int mt_tl_start(const char *path, int rank, int world);
/* The clock alignment (kvstore/world.c): this rank's clock + offset_ns is
 * rank 0's; origin_ns (rank 0's clock) becomes ts 0; err_ns the round trip
 * bound of the estimate (written as metadata). */
void mt_tl_set_clock(int64_t offset_ns, int64_t origin_ns, int64_t err_ns);
/* A span of this thread's lane from t0 (mt_tl_now) to now. arg: a number
 * shown as args.n (-1: none). */
void mt_tl_span(const char *cat, const char *name, const char *detail, int64_t t0, int64_t arg);
/* A span on an explicit lane from t0 to t1. */
void mt_tl_span_lane(int lane, const char *cat, const char *name, const char *detail, int64_t t0,
                     int64_t t1, int64_t arg);
/* An instant event ("ph":"i") on this thread's lane. */
void mt_tl_instant(const char *cat, const char *name, int64_t arg);
/* Stops recording and writes the file (every thread's events, sorted by
 * lane and time, process and lane names); frees the buffers. MT_OK when
 * not recording. */
int mt_tl_write(void);
/* The path of the file mt_tl_write writes (empty when off). */
const char *mt_tl_path(void);

/* int64_t t = MT_TL_BEGIN(); ...; MT_TL_END(t, "forward", name, op, -1); */
#define MT_TL_BEGIN() (mt_tl_on() ? mt_tl_now() : 0)
#define MT_TL_END(t0, cat, name, detail, arg)                                                      \
  do {                                                                                             \
    if (__builtin_expect((t0) != 0, 0)) mt_tl_span(cat, name, detail, t0, arg);                    \
  } while (0)

#endif
