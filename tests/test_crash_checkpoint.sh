#!/bin/bash
# test_crash_checkpoint.sh — crash safety of checkpoints with real processes
# and real files (docs/design.md §6, issue 4 item 7).
#
#   test_crash_checkpoint.sh PATH/TO/crash_trainer
#
# 1. kill -9: a trainer checkpointing a 52 MB model (105 MB files with the
#    momentum) every epoch is killed MT_CRASH_TRIALS times (default 8): odd
#    trials at a random time, even trials while a temporary checkpoint file
#    of the process exists (mid-write). After each kill every P-EEEE.h5 must
#    load completely, the newest must be what mt_checkpoint_latest picks, and
#    resuming from it must train; the next trial resumes the same run.
# 2. full disk: a 2 MiB tmpfs (mount needs root; otherwise skipped with a
#    message) holds a small checkpoint; saving a too-large one, and saving
#    into a nearly full disk, must fail with "No space left on device" naming
#    the file, leave no temporary file and no open descriptor, and leave the
#    previous checkpoint loadable with the same values.
# 3. injected write errors (runs whenever a C compiler exists): an
#    LD_PRELOAD shim makes write()/pwrite() fail with ENOSPC after N bytes,
#    for N across every stage of a save (the symbol file, the HDF5 metadata,
#    the elements, the last byte; the shim first counts a save's bytes);
#    each must fail cleanly as in 2, and a save within the budget succeeds.
# Exit 0 = pass, 1 = fail.
set -u
TRAINER=${1:?usage: test_crash_checkpoint.sh PATH/TO/crash_trainer}
TRIALS=${MT_CRASH_TRIALS:-8}
WORK=$(mktemp -d /tmp/mt_crash_XXXXXX)
MNT=""
PID=""

cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM # a ctest timeout still unmounts and cleans up

fail() {
  echo "FAIL: $*"
  exit 1
}

rand_delay() { # seconds in [lo, hi)
  awk -v s="$RANDOM" -v lo="$1" -v hi="$2" 'BEGIN { srand(s); printf "%.2f", lo + (hi - lo) * rand() }'
}

# ------------------------------------------------------------ 1. kill -9
echo "== kill -9 trials ($TRIALS)"
mkdir -p "$WORK/run"
P="$WORK/run/mlp"
midwrite=0
for t in $(seq 1 "$TRIALS"); do
  "$TRAINER" train "$P" > "$WORK/train.$t.log" 2>&1 &
  PID=$!
  # the first trial waits for a first checkpoint, so there is one to check
  if [ "$t" = 1 ]; then
    for _ in $(seq 1 600); do
      [ -e "$P-0001.h5" ] && break
      kill -0 "$PID" 2>/dev/null || break
      sleep 0.1
    done
  fi
  if [ $((t % 2)) = 0 ]; then
    # mid-write: wait for this process's temporary file, then a little more
    # (a 105 MB checkpoint is written in 40-100 ms now: kill within 10 ms)
    for _ in $(seq 1 1000); do
      ls "$WORK/run" | grep -q "\.tmp\.$PID\$" && break
      kill -0 "$PID" 2>/dev/null || break
      sleep 0.01
    done
    sleep "$(rand_delay 0 0.01)"
  else
    sleep "$(rand_delay 0.3 4.0)"
  fi
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/train.$t.log"; fail "trial $t: the trainer exited by itself"; }
  kill -9 "$PID"
  wait "$PID" 2>/dev/null
  left=$(ls "$WORK/run" | grep "\.tmp\." | tr '\n' ' ')
  # this process's temporary file still there: it died mid-write
  if ls "$WORK/run" | grep -q "\.tmp\.$PID\$"; then midwrite=$((midwrite + 1)); fi
  echo "trial $t: killed after $(grep -c '^Saved checkpoint' "$WORK/train.$t.log") checkpoints; temporary files: ${left:-none}"
  PID=""
  "$TRAINER" check "$P" > "$WORK/check.$t.log" 2>&1 || { cat "$WORK/check.$t.log"; fail "trial $t: check after kill -9"; }
  grep '^check:' "$WORK/check.$t.log"
done
echo "kills during a checkpoint write: $midwrite of $TRIALS"
[ "$midwrite" -ge 1 ] || fail "no kill landed during a checkpoint write"

# ------------------------------------------------------ helpers for 2 and 3
# expect_enospc LABEL EPOCH FLOATS [env...]: the save fails with ENOSPC
# naming the file, leaves nothing behind (crash_trainer exit 1, not 2).
expect_enospc() {
  local label=$1 prefix=$2 epoch=$3 floats=$4
  shift 4
  local out rc
  out=$(env "$@" "$TRAINER" save "$prefix" "$epoch" "$floats" 2>&1)
  rc=$?
  [ $rc = 1 ] || { echo "$out"; fail "$label: save of $floats floats: exit $rc (expected a clean failure, 1)"; }
  echo "$out" | grep -q "No space left on device" || { echo "$out"; fail "$label: no ENOSPC message"; }
  echo "$out" | grep -qF "$prefix-" || { echo "$out"; fail "$label: the message does not name the file"; }
  [ -e "$(printf '%s-%04d.h5' "$prefix" "$epoch")" ] && fail "$label: a final file of the failed save exists"
  ls "$(dirname "$prefix")" | grep -q "\.tmp\." && fail "$label: temporary files left: $(ls "$(dirname "$prefix")")"
  echo "$label: $(echo "$out" | head -1 | cut -c1-240)"
}

# ------------------------------------------------------------ 2. tmpfs
echo "== full disk (tmpfs)"
mkdir -p "$WORK/full"
if mount -t tmpfs -o size=2m tmpfs "$WORK/full" 2>/dev/null; then
  MNT="$WORK/full"
  F="$WORK/full/m"
  "$TRAINER" save "$F" 1 100000 || fail "tmpfs: first (small) save"
  "$TRAINER" verify "$F" 1 100000 || fail "tmpfs: first save does not verify"
  expect_enospc "tmpfs, 4 MB checkpoint on a 2 MiB disk" "$F" 2 1000000
  "$TRAINER" verify "$F" 1 100000 || fail "tmpfs: previous checkpoint damaged"
  # nearly full: leave ~K KiB free, then save a checkpoint a bit larger
  for free_kib in 64 300 700; do
    avail=$(df -k --output=avail "$WORK/full" | tail -1)
    dd if=/dev/zero of="$WORK/full/filler" bs=1k count=$((avail - free_kib)) status=none 2>/dev/null
    expect_enospc "tmpfs, ${free_kib} KiB free" "$F" 3 $((free_kib * 256 + 30000))
    "$TRAINER" verify "$F" 1 100000 || fail "tmpfs: previous checkpoint damaged ($free_kib KiB free)"
    rm -f "$WORK/full/filler"
  done
  "$TRAINER" save "$F" 3 100000 > /dev/null || fail "tmpfs: save after freeing space"
  "$TRAINER" verify "$F" 3 100000 || fail "tmpfs: save after freeing space does not verify"
  umount "$WORK/full"
  MNT=""
else
  echo "SKIP tmpfs part: mount -t tmpfs is not permitted here (needs root / CAP_SYS_ADMIN)"
fi

# ----------------------------------------------------- 3. injected ENOSPC
echo "== injected write failures (LD_PRELOAD)"
CC=${CC:-cc}
if command -v "$CC" > /dev/null 2>&1; then
  cat > "$WORK/enospc.c" << 'EOF'
/* write()/pwrite() fail with ENOSPC once MT_FAIL_WRITE_AFTER bytes have
 * been written to files (not stdout / stderr), as a full disk does. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>
#include <stdio.h>
static long long budget = -2, written = 0;
/* MT_WRITE_COUNT=FILE: record the bytes written to files at exit */
__attribute__((destructor)) static void report(void) {
  const char *f = getenv("MT_WRITE_COUNT");
  FILE *o = f ? fopen(f, "w") : NULL;
  if (o) { fprintf(o, "%lld\n", written); fclose(o); }
}
static ssize_t cut(int fd, size_t n) {
  if (budget == -2) {
    const char *e = getenv("MT_FAIL_WRITE_AFTER");
    budget = e ? atoll(e) : -1;
  }
  if (fd <= 2) return (ssize_t)n;
  written += (long long)n;
  if (budget < 0) return (ssize_t)n;
  if (budget == 0) { errno = ENOSPC; return -1; }
  if ((long long)n > budget) n = (size_t)budget; /* a short write, then ENOSPC */
  budget -= (long long)n;
  return (ssize_t)n;
}
ssize_t write(int fd, const void *b, size_t n) {
  static ssize_t (*real)(int, const void *, size_t);
  if (!real) real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
  ssize_t k = cut(fd, n);
  return k < 0 ? k : real(fd, b, (size_t)k);
}
ssize_t pwrite(int fd, const void *b, size_t n, off_t off) {
  static ssize_t (*real)(int, const void *, size_t, off_t);
  if (!real) real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
  ssize_t k = cut(fd, n);
  return k < 0 ? k : real(fd, b, (size_t)k, off);
}
ssize_t pwrite64(int fd, const void *b, size_t n, off_t off) { return pwrite(fd, b, n, off); }
EOF
  "$CC" -shared -fPIC -O1 -o "$WORK/enospc.so" "$WORK/enospc.c" -ldl || fail "cannot build the LD_PRELOAD shim"
  # a sanitizer build needs its runtime first in the preload list
  ASAN_RT=$(ldd "$TRAINER" 2>/dev/null | awk '/libasan/ {print $3}')
  PRE="$WORK/enospc.so"
  [ -n "$ASAN_RT" ] && PRE="$ASAN_RT:$WORK/enospc.so"
  mkdir -p "$WORK/inj" "$WORK/count"
  I="$WORK/inj/m"
  "$TRAINER" save "$I" 1 50000 > /dev/null || fail "inject: first save"
  # bytes a save writes (symbol JSON first, then HDF5), counted by the shim
  env LD_PRELOAD="$PRE" MT_WRITE_COUNT="$WORK/count/n" "$TRAINER" save "$WORK/count/m" 2 50000 \
    > /dev/null || fail "inject: counting save"
  total=$(cat "$WORK/count/n")
  json=$(stat -c %s "$WORK/count/m-symbol.json")
  echo "a save writes $total bytes ($json of symbol JSON)"
  for n in 0 100 $((json - 1)) $((json + 1)) $((json + 700)) $((json + 5000)) $((total / 2)) \
           $((total - 5000)) $((total - 2000)) $((total - 700)) $((total - 100)) $((total - 1)); do
    expect_enospc "inject after $n of $total bytes" "$I" 2 50000 LD_PRELOAD="$PRE" MT_FAIL_WRITE_AFTER=$n
    "$TRAINER" verify "$I" 1 50000 > /dev/null || fail "inject after $n bytes: previous checkpoint damaged"
  done
  env LD_PRELOAD="$PRE" MT_FAIL_WRITE_AFTER="$total" "$TRAINER" save "$I" 2 50000 > /dev/null \
    || fail "inject: a save within the budget failed"
  "$TRAINER" verify "$I" 2 50000 > /dev/null || fail "inject: save within budget does not verify"
else
  echo "SKIP injection part: no C compiler ($CC) to build the shim"
fi
echo "PASS"
