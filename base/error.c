/* error.c — thread-local error messages behind mt_last_error(). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "modtrain.h"

#define MT_ERRMSG_LEN 2048
static _Thread_local char mt_errmsg[MT_ERRMSG_LEN];

const char *mt_last_error(void) { return mt_errmsg; }

void mt_error_clear(void) { mt_errmsg[0] = '\0'; }

int mt_error_set(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(mt_errmsg, sizeof mt_errmsg, fmt, ap);
  va_end(ap);
  return code;
}

int mt_error_prefix(int code, const char *fmt, ...) {
  char prefix[512], old[MT_ERRMSG_LEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, mt_errmsg, sizeof old);
  size_t n = strlen(prefix);
  if (n > sizeof mt_errmsg - 3) n = sizeof mt_errmsg - 3;
  memcpy(mt_errmsg, prefix, n);
  mt_errmsg[n] = ':';
  mt_errmsg[n + 1] = ' ';
  size_t rest = sizeof mt_errmsg - n - 2;
  memcpy(mt_errmsg + n + 2, old, rest - 1);
  mt_errmsg[sizeof mt_errmsg - 1] = '\0';
  return code;
}

const char *mt_strerror(int code) {
  switch (code) {
  case MT_OK: return "ok";
  case MT_E_INVAL: return "invalid argument";
  case MT_E_STATE: return "call out of order";
  case MT_E_SHAPE: return "shape error";
  case MT_E_NOMEM: return "out of memory";
  case MT_E_IO: return "I/O error";
  case MT_E_FORMAT: return "format error";
  case MT_E_NOTFOUND: return "not found";
  case MT_E_MPI: return "MPI error";
  case MT_E_CUDA: return "CUDA error";
  case MT_E_NCCL: return "NCCL error";
  case MT_E_HDF5: return "HDF5 error";
  case MT_E_NUMERIC: return "NaN or Inf";
  case MT_E_UNSUPPORTED: return "not supported in this build";
  case MT_E_INTERRUPTED: return "stopped on request";
  default: return "unknown error";
  }
}

const char *mt_version(void) { return MT_VERSION_STRING; }
