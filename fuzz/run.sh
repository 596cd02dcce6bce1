#!/usr/bin/env bash
# fuzz/run.sh [SECONDS] [TARGET...] — builds the libFuzzer harnesses and runs
# each TARGET (default: all five) for SECONDS (default 60) from a copy of its
# seed corpus; exits non-zero if any target found something (a crash, an
# ASan/UBSan report, a leak, a timeout over 10 s, memory over 2 GiB) or
# could not run (findings inside libhdf5 itself: see below). fuzz/README.md
# says what each harness does.
#
#   bash fuzz/run.sh                 # CI: 60 s per target (5 min in all)
#   bash fuzz/run.sh 3600            # the longer run: an hour per target
#   bash fuzz/run.sh 300 params      # one target
#
# Build: FUZZ_BUILD_DIR (build-fuzz), CC=clang, -DMT_FUZZ=ON, no CUDA, no
# tests. Each target runs in a scratch directory (its own TMPDIR too) with
# -dict=fuzz/TARGET.dict -timeout=10 -rss_limit_mb=2048 -max_len=...; the
# repository's corpus is never written. Leaks inside libhdf5 itself are
# suppressed (fuzz/lsan.supp says which and why). Inputs that crash are copied to
# FUZZ_FINDINGS (FUZZ_BUILD_DIR/findings)/TARGET/; FUZZ_CORPUS_OUT=DIR keeps
# each grown corpus in DIR/TARGET/ (to merge new seeds by hand: README).
# Per target it prints the executions reached (libFuzzer's
# stat::number_of_executed_units, -print_final_stats=1), exec/s, the corpus
# size before and after, and each finding with its sanitizer summary.
# fuzz/triage.py sorts findings: a fault, hang or huge allocation inside
# libhdf5 itself (Debian 12's 1.10.8, found by the HDF5 targets on corrupted
# files within a minute) is listed and saved but does not fail the run, and
# the target goes on fuzzing; FUZZ_STRICT=1 fails on those too.
set -uo pipefail
cd "$(dirname "$0")/.."

ALL=(config symbol_json params h5_dataset checkpoint)
SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
case $SECONDS_EACH in
'' | *[!0-9]*)
  echo "usage: fuzz/run.sh [SECONDS] [TARGET...]   (targets: ${ALL[*]})" >&2
  exit 2
  ;;
esac
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
FINDINGS=${FUZZ_FINDINGS:-$BUILD/findings}
JOBS=${JOBS:-$(nproc)}

max_len() {
  case $1 in
  config) echo 4096 ;;
  symbol_json | params) echo 16384 ;;
  h5_dataset) echo 32768 ;;
  checkpoint) echo 300000 ;; # the real modtrain checkpoint seed is 268 KiB
  esac
}

for t in "${TARGETS[@]}"; do
  if [ -z "$(max_len "$t")" ]; then
    echo "fuzz/run.sh: unknown target '$t' (targets: ${ALL[*]})" >&2
    exit 2
  fi
done

command -v clang >/dev/null || {
  echo "fuzz/run.sh: clang not found (apt-get install clang)" >&2
  exit 1
}
echo "fuzz: building $BUILD (clang, -DMT_FUZZ=ON)"
CC=clang cmake -S . -B "$BUILD" -DMT_FUZZ=ON -DMT_CUDA=OFF -DMT_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD.cmake.log" 2>&1 ||
  {
    cat "$BUILD.cmake.log" >&2
    echo "fuzz/run.sh: cmake failed" >&2
    exit 1
  }
rm -f "$BUILD.cmake.log"
cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]/#/fuzz_}" || {
  echo "fuzz/run.sh: build failed" >&2
  exit 1
}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/mt-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
failed=0
report=()
for t in "${TARGETS[@]}"; do
  w=$scratch/$t
  mkdir -p "$w/corpus" "$w/artifacts" "$w/tmp"
  cp fuzz/corpus/"$t"/* "$w/corpus/"
  n0=$(ls "$w/corpus" | wc -l)
  echo
  echo "fuzz: $t for ${SECONDS_EACH} s ($n0 seeds)"
  execs=0
  ran=0
  tries=0
  own=0
  third=0
  result=ok
  # libFuzzer stops at its first finding. One of modtrain's ends the
  # target; one inside libhdf5 (fuzz/triage.py) is recorded and fuzzing
  # goes on from the grown corpus for the time that is left.
  while [ "$ran" -lt "$SECONDS_EACH" ] && [ "$tries" -lt 20 ]; do
    tries=$((tries + 1))
    log=$w/log.$tries
    t0=$(date +%s)
    # the outer timeout guards against a hang libFuzzer cannot interrupt
    TMPDIR=$w/tmp ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
      LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      timeout -k 10 $((SECONDS_EACH - ran + 120)) "$BUILD/fuzz/fuzz_$t" "$w/corpus" \
      -max_total_time=$((SECONDS_EACH - ran)) -dict="fuzz/$t.dict" -timeout=10 \
      -rss_limit_mb=2048 -max_len="$(max_len "$t")" -print_final_stats=1 \
      -artifact_prefix="$w/artifacts/" >"$log" 2>&1
    rc=$?
    ran=$((ran + $(date +%s) - t0))
    e=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    execs=$((execs + ${e:-0}))
    mapfile -t found < <(find "$w/artifacts" -type f ! -name 'slow-unit-*' | sort)
    [ "$rc" -ne 0 ] || [ ${#found[@]} -ne 0 ] || break
    mkdir -p "$FINDINGS/$t"
    verdict=$(python3 fuzz/triage.py "$log")
    for f in "${found[@]}"; do
      mv "$f" "$FINDINGS/$t/"
      f=$FINDINGS/$t/$(basename "$f")
    done
    [ ${#found[@]} -gt 0 ] || f="(no input saved)"
    echo "fuzz: $t: ${verdict%% *} finding after $ran s: $f"
    echo "fuzz: $t:   ${verdict#* }"
    if [ "${verdict%% *}" = libhdf5 ] && [ "${FUZZ_STRICT:-0}" != 1 ]; then
      third=$((third + 1))
      continue
    fi
    own=$((own + 1))
    tail -n 80 "$log"
    break
  done
  if [ "$own" -gt 0 ]; then
    result="FAILED"
    failed=1
  elif [ "$ran" -lt "$SECONDS_EACH" ] && [ "$tries" -ge 20 ]; then
    result="FAILED (20 restarts)"
    failed=1
  fi
  [ "$third" -eq 0 ] || result="$result ($third in libhdf5, not failing)"
  if [ -n "${FUZZ_CORPUS_OUT:-}" ]; then
    mkdir -p "$FUZZ_CORPUS_OUT/$t"
    cp "$w/corpus"/* "$FUZZ_CORPUS_OUT/$t/"
  fi
  n1=$(ls "$w/corpus" | wc -l)
  line=$(printf '%-12s %5s s  %10s execs  %6s exec/s  corpus %3s -> %4s  %s' "$t" "$ran" \
    "$execs" "$((execs / (ran > 0 ? ran : 1)))" "$n0" "$n1" "$result")
  echo "fuzz: $line"
  report+=("$line")
done

echo
echo "fuzz: summary (findings in $FINDINGS)"
printf '  %s\n' "${report[@]}"
exit $failed
