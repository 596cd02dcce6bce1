#!/usr/bin/env bash
# jobs/run-tests.sh — the project's test command (README) and CI's body
# (.ci/run). Stages, each named as it starts:
#   setup      jobs/setup.sh: the Debian packages, only those missing
#   build      jobs/build.sh: build/ (Release; CUDA when nvcc exists;
#              warnings are errors under CI=true)
#   ctest      every test in build/ (labels unit, mpi, gpu; gpu tests skip
#              themselves without a device)
#   asan       build-asan/ (Debug, ASan + UBSan, no CUDA): the unit tests
#   fuzz       fuzz/run.sh: the libFuzzer harnesses of fuzz/ (build-fuzz/,
#              clang, ASan + UBSan) on the config reader, symbol JSON,
#              .params, HDF5 dataset files and checkpoints, each from its
#              seed corpus for FUZZ_SECONDS (60 under CI=true, else 10);
#              any crash, sanitizer report, leak, timeout or OOM fails it
#   cuda-emu   build-emu/ (Debug, ASan + UBSan, kernels included): the CUDA
#              code built against tests/cuda_emu, a CPU emulation of the
#              CUDA runtime, cuBLAS and NCCL with two devices; the gpu tests
#              (test_gpu_ranks: the command on 1 and 2 ranks) and
#              test_checkpoint run there twice: with the caching allocator,
#              and without it, where every array is its own allocation and
#              ASan sees a kernel that runs past one (a check of host logic
#              and kernel arithmetic, not of a GPU)
#   format     clang-format --dry-run --Werror over the C sources
#   install    tests/install_check.sh: install build/ into a temporary prefix
#              and build a consumer with find_package and pkg-config
# A failing stage does not stop the later ones (stages that need a build it
# could not make are failed too); the script exits non-zero if any failed.
# The last line counts checks: each ctest test (in both builds) is one, the
# fuzz, format and install stages are one each, and a failed setup or build
# is one failure.
# Environment: BUILD_DIR (build), ASAN_BUILD_DIR (build-asan), EMU_BUILD_DIR
# (build-emu), FUZZ_BUILD_DIR (build-fuzz), FUZZ_SECONDS (per fuzz target),
# JOBS (nproc).
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
EMU_BUILD_DIR=${EMU_BUILD_DIR:-build-emu}
JOBS=${JOBS:-$(nproc)}
export BUILD_DIR JOBS

passed=0
failed=0
skipped=0
summary=()

stage() { printf '\n==== stage: %s ====\n' "$1"; }
# record NAME RC: remembers the stage's result for the summary
record() {
  if [ "$2" -eq 0 ]; then summary+=("ok      $1"); else summary+=("FAILED  $1"); fi
}
# ctest_counts JUNIT: adds the tests, failures and skips of a ctest JUnit file
ctest_counts() {
  local line t f s
  # the <testsuite ...> element's attributes, which ctest writes over several lines
  line=$(tr '\n\t' '  ' <"$1" 2>/dev/null | grep -o '<testsuite [^>]*>' | head -n 1)
  [ -n "$line" ] || return 1
  t=$(sed -n 's/.* tests="\([0-9]*\)".*/\1/p' <<<"$line")
  f=$(sed -n 's/.* failures="\([0-9]*\)".*/\1/p' <<<"$line")
  s=$(sed -n 's/.* skipped="\([0-9]*\)".*/\1/p' <<<"$line")
  [ -n "$t" ] && [ -n "$f" ] && [ -n "$s" ] || return 1
  last_total=$t
  passed=$((passed + t - f - s))
  failed=$((failed + f))
  skipped=$((skipped + s))
}
# run_ctest NAME DIR [ctest args...]: runs ctest, counts its tests
run_ctest() {
  local name=$1 dir=$2 rc
  shift 2
  rm -f "$dir/ctest-junit.xml"
  ctest --test-dir "$dir" --output-on-failure -j "$JOBS" --output-junit ctest-junit.xml "$@"
  rc=$?
  if ! ctest_counts "$dir/ctest-junit.xml"; then
    echo "run-tests: $name: no test results from ctest" >&2
    failed=$((failed + 1))
    rc=1
  elif [ "$last_total" -eq 0 ]; then
    echo "run-tests: $name: ctest ran no test" >&2
    failed=$((failed + 1))
    rc=1
  fi
  record "$name" "$rc"
}

stage setup
bash jobs/setup.sh
rc=$?
record setup $rc
[ $rc -eq 0 ] || failed=$((failed + 1))

stage build
build_ok=0
if [ $rc -eq 0 ] && bash jobs/build.sh; then build_ok=1; fi
if [ $build_ok -eq 1 ]; then record build 0; else record build 1; failed=$((failed + 1)); fi

stage ctest
if [ $build_ok -eq 1 ]; then
  run_ctest ctest "$BUILD_DIR"
else
  echo "run-tests: skipped: no build"
  record ctest 1
fi

stage asan
# Debug + AddressSanitizer/UBSan, CPU only; leaks are errors.
asan_opts=(-DCMAKE_BUILD_TYPE=Debug -DMT_SANITIZE=ON -DMT_CUDA=OFF)
[ "${CI:-}" = true ] && asan_opts+=(-DMT_WERROR=ON)
if cmake -S . -B "$ASAN_BUILD_DIR" "${asan_opts[@]}" && cmake --build "$ASAN_BUILD_DIR" -j "$JOBS"; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    run_ctest asan "$ASAN_BUILD_DIR" -L unit
else
  record asan 1
  failed=$((failed + 1))
fi

stage fuzz
# Each libFuzzer target for FUZZ_SECONDS from a scratch copy of its corpus
# (fuzz/README.md; the longer run is `bash fuzz/run.sh 3600`).
fuzz_secs=${FUZZ_SECONDS:-10}
[ "${CI:-}" = true ] && fuzz_secs=${FUZZ_SECONDS:-60}
bash fuzz/run.sh "$fuzz_secs"
rc=$?
record fuzz $rc
if [ $rc -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

stage cuda-emu
# The gpu tests on the CPU emulation (tests/cuda_emu/README.md): there they
# must run, not skip (tests/CMakeLists.txt drops their skip code).
emu_opts=(-DMT_CUDA_EMU=ON -DMT_CUDA=OFF -DCMAKE_BUILD_TYPE=Debug -DMT_SANITIZE=ON)
[ "${CI:-}" = true ] && emu_opts+=(-DMT_WERROR=ON)
# every tests/test_gpu_*.c, so a new gpu test is built (and run) without a change here
mapfile -t gpu_tests < <(cd tests && ls test_gpu_*.c | sed 's/\.c$//')
emu_tests=(cuda_emu_self_test "${gpu_tests[@]}" test_checkpoint modtrain_cmd)
if cmake -S . -B "$EMU_BUILD_DIR" "${emu_opts[@]}" &&
  cmake --build "$EMU_BUILD_DIR" -j "$JOBS" --target "${emu_tests[@]}"; then
  # leaks off: Open MPI's own allocations (the asan stage checks leaks)
  emu_re='^(cuda_emu_self_test|test_gpu_.*|test_checkpoint)$'
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
    run_ctest cuda-emu "$EMU_BUILD_DIR" -R "$emu_re"
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 MODTRAIN_GPU_CACHE=0 \
    run_ctest cuda-emu-nocache "$EMU_BUILD_DIR" -R "$emu_re"
else
  record cuda-emu 1
  failed=$((failed + 1))
fi

stage format
# Every C/CUDA source of the project; clang-format reads .clang-format.
mapfile -t srcs < <(find base src kernels kvstore io include tools tests examples bench fuzz \
  \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) -type f 2>/dev/null | sort)
if [ ${#srcs[@]} -eq 0 ]; then
  echo "run-tests: no sources found" >&2
  rc=1
else
  echo "clang-format --dry-run --Werror over ${#srcs[@]} files"
  clang-format --dry-run --Werror "${srcs[@]}"
  rc=$?
fi
record format $rc
if [ $rc -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

stage install
if [ $build_ok -eq 1 ]; then
  bash tests/install_check.sh "$BUILD_DIR"
  rc=$?
else
  echo "run-tests: skipped: no build"
  rc=1
fi
record install $rc
if [ $rc -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

printf '\n==== summary ====\n'
printf '%s\n' "${summary[@]}"
echo "total: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && ! printf '%s\n' "${summary[@]}" | grep -q '^FAILED'
