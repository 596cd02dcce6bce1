/* exit_codes.h — the exit statuses of the modtrain command (and of a job
 * ended by the library's watchdog), declared once: `modtrain --help`, the
 * README and docs/failures.md are checked against this table by
 * tests/test_docs.sh. */
#ifndef MT_BASE_EXIT_CODES_H
#define MT_BASE_EXIT_CODES_H

/* X(ID, CODE, DOC) */
#define MT_EXIT_TABLE(X)                                                                           \
  X(OK, 0, "success")                                                                              \
  X(RUNTIME, 1, "runtime error (training or data failed)")                                         \
  X(USAGE, 2,                                                                                      \
    "usage or config error, nothing trained (a bad option, key or value; a feature this build "    \
    "lacks)")                                                                                      \
  X(REQUEUE, 3, "checkpoint written after SIGUSR1/SIGTERM, requeue me (resume continues exactly)") \
  X(WATCHDOG, 4, "the watchdog ended the job (no progress for [train] watchdog seconds)")

enum {
#define MT_EXIT_ID_(id, code, doc) MT_EXIT_##id = code,
  MT_EXIT_TABLE(MT_EXIT_ID_)
#undef MT_EXIT_ID_
};

#endif
