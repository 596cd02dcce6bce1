/* fuzz_common.h — what the libFuzzer harnesses of fuzz/ share: a private
 * scratch directory per process (under $TMPDIR, else /dev/shm, else /tmp;
 * removed at exit) where each input is written as a file, and the library's
 * process-wide settings made quiet once (warnings off, HDF5's automatic
 * error printing off). Every harness removes the files it wrote before it
 * returns, and frees everything it got, so that libFuzzer's leak check
 * (ASan's LeakSanitizer) sees only the library's own leaks. */
#ifndef MT_FUZZ_COMMON_H
#define MT_FUZZ_COMMON_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "modtrain.h"

static char fz_dir[1024];
static int fz_verbose; /* MT_FUZZ_VERBOSE=1: print why each input was refused */

static int fz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void fz_cleanup(void) {
  if (fz_dir[0]) nftw(fz_dir, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes the scratch directory and quiets the library; call once from
 * LLVMFuzzerInitialize. */
static void fz_init(void) {
  const char *bases[] = {getenv("TMPDIR"), "/dev/shm", "/tmp"};
  for (size_t i = 0; i < sizeof bases / sizeof *bases && !fz_dir[0]; i++) {
    if (!bases[i] || !*bases[i]) continue;
    snprintf(fz_dir, sizeof fz_dir, "%s/mtfuzz-XXXXXX", bases[i]);
    if (!mkdtemp(fz_dir)) fz_dir[0] = '\0';
  }
  if (!fz_dir[0]) {
    fprintf(stderr, "fuzz: cannot make a scratch directory: %s\n", strerror(errno));
    abort();
  }
  atexit(fz_cleanup);
  fz_verbose = getenv("MT_FUZZ_VERBOSE") && atoi(getenv("MT_FUZZ_VERBOSE")) > 0;
  mt_log_set_level(MT_LOG_ERROR);
  H5open();
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* fz_dir/name into buf. */
static const char *fz_path(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/%s", fz_dir, name);
  return buf;
}

/* Writes the bytes to a new file at path; aborts if it cannot (the harness,
 * not the library, is broken then). */
static void fz_write(const char *path, const void *data, size_t size) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    fprintf(stderr, "fuzz: cannot create %s: %s\n", path, strerror(errno));
    abort();
  }
  const char *p = data;
  while (size > 0) {
    ssize_t w = write(fd, p, size);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
      abort();
    }
    p += w;
    size -= (size_t)w;
  }
  close(fd);
}

/* An error the library reported for an input: fine, but it must say what
 * failed; printed with MT_FUZZ_VERBOSE=1 (to see how far seeds get). */
#define FZ_REFUSED(rc, what)                                                                       \
  do {                                                                                             \
    FZ_CHECK(mt_last_error()[0], "%s: error %d without a message", what, rc);                      \
    if (fz_verbose) fprintf(stderr, "fuzz: %s: %d: %s\n", what, rc, mt_last_error());              \
  } while (0)

/* A property the library promises does not hold: report and crash, so that
 * libFuzzer saves the input. */
#define FZ_CHECK(cond, ...)                                                                        \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz: check failed: %s: ", #cond);                                          \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fprintf(stderr, "\n");                                                                       \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

#endif
