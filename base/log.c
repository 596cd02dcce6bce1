/* log.c — leveled log to stderr, level from MODTRAIN_LOG. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/env.h"
#include "modtrain.h"

static int mt_level = -1;

static mt_log_level level_from_env(void) {
  const char *e = mt_env(MT_ENV_LOG);
  if (!e || !*e) return MT_LOG_INFO;
  if (!strcmp(e, "error")) return MT_LOG_ERROR;
  if (!strcmp(e, "warn") || !strcmp(e, "warning")) return MT_LOG_WARN;
  if (!strcmp(e, "debug")) return MT_LOG_DEBUG;
  return MT_LOG_INFO;
}

mt_log_level mt_log_get_level(void) {
  if (mt_level < 0) mt_level = level_from_env();
  return (mt_log_level)mt_level;
}

void mt_log_set_level(mt_log_level level) { mt_level = level; }

void mt_log(mt_log_level level, const char *subsystem, const char *fmt, ...) {
  static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
  if (level > mt_log_get_level()) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "[modtrain %s %s] %s\n", names[level], subsystem ? subsystem : "-", msg);
}

static int mt_rank = 0;

void mt_log_set_rank(int rank) { mt_rank = rank; }
int mt_log_rank(void) { return mt_rank; }

void mt_log_train(const char *fmt, ...) {
  if (mt_rank != 0) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  fflush(stdout);
}
