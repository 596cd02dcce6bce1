#!/usr/bin/env bash
# run_train_bench.sh — training samples/s of modtrain (bench/bench_train.c)
# against PyTorch (bench/peer_pytorch.py) on the same nets, batch, optimizer,
# thread count and machine, in the same run; prints the ratios, modtrain's
# step time over the time of its GEMMs alone, and the peak RSS of both.
#
#   (a) 128-64-10 (the tutorial MLP), batch 32       target modtrain >= 10x PyTorch
#   (b) 784-1024-1024-10, batch 256                  target modtrain >= 1.1x PyTorch
#                                                    and step <= 1.15x its GEMMs
#
# The peer is installed here, never by the project's build or tests:
#   1. a venv at $BENCH_VENV (default build/bench-venv) with `pip install torch`
#      from PyPI (the wheel runs on CPUs; about 5 GB with its CUDA libraries);
#   2. if that fails, Debian's python3-torch (apt), run with OPENBLAS_CORETYPE
#      set to the CPU's best kernel (SkylakeX with AVX-512, Haswell with AVX2)
#      so its OpenBLAS is not on the slow fallback kernels (docs/platform.md).
# PEER=pypi or PEER=debian forces one. One thread everywhere:
# OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=MKL_NUM_THREADS=1, torch.set_num_threads(1),
# modtrain's mt_blas_set_threads(1).
#
# Environment: BUILD_DIR (build; configured Release if new), BENCH_VENV,
# PEER, REPS (7), ROUNDS (1: each round runs both sides once per net; the
# summary takes the median over rounds), STEPS_A (3000), STEPS_B (200),
# FTZ=1 (flush denormals to zero on both sides: bench_train --ftz and
# torch.set_flush_denormal(True)), OUT (folder for the raw outputs; default a
# temporary one, printed). Peak RSS: /usr/bin/time -v, "Maximum resident set
# size", of the runs without --gemm. Run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
BENCH_VENV=${BENCH_VENV:-build/bench-venv}
PEER=${PEER:-auto}
REPS=${REPS:-7}
ROUNDS=${ROUNDS:-1}
STEPS_A=${STEPS_A:-3000}
STEPS_B=${STEPS_B:-200}
OUT=${OUT:-$(mktemp -d /tmp/train-bench.XXXXXX)}
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
ftz=()
[ "${FTZ:-0}" = 1 ] && ftz=(--ftz)

die() {
  echo "run_train_bench: $*" >&2
  exit 1
}
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"

# ---- modtrain side ----
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake.log" 2>&1 ||
    die "cmake configure failed, see $OUT/cmake.log"
fi
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")
[ "$btype" = Release ] || echo "run_train_bench: warning: $BUILD_DIR is a '$btype' build, not Release" >&2
cmake --build "$BUILD_DIR" --target bench_train -j "$(getconf _NPROCESSORS_ONLN)" >"$OUT/build.log" 2>&1 ||
  die "building bench_train failed, see $OUT/build.log"
MT="$BUILD_DIR/bench_train"

# ---- the peer ----
torch_ok() { "$1" -c 'import torch; a = torch.ones(4, 4); assert float((a @ a).sum()) == 64.0' \
  >/dev/null 2>&1; }
PY="" SOURCE="" peer_env=()
if [ "$PEER" = auto ] || [ "$PEER" = pypi ]; then
  if ! torch_ok "$BENCH_VENV/bin/python"; then
    echo "run_train_bench: installing torch from PyPI into $BENCH_VENV (large download)"
    { python3 -m venv "$BENCH_VENV" && "$BENCH_VENV/bin/pip" install torch; } \
      >"$OUT/pip.log" 2>&1 || echo "run_train_bench: pip install torch failed, see $OUT/pip.log" >&2
  fi
  if torch_ok "$BENCH_VENV/bin/python"; then
    PY="$BENCH_VENV/bin/python" SOURCE="PyPI wheel (pip install torch, venv $BENCH_VENV)"
  elif [ "$PEER" = pypi ]; then
    die "no usable PyPI torch in $BENCH_VENV"
  fi
fi
if [ -z "$PY" ]; then
  if ! torch_ok /usr/bin/python3; then
    echo "run_train_bench: installing Debian's python3-torch"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch; } \
      >"$OUT/apt.log" 2>&1 || die "apt-get install python3-torch failed, see $OUT/apt.log"
    torch_ok /usr/bin/python3 || die "python3-torch does not import"
  fi
  PY=/usr/bin/python3 SOURCE="Debian python3-torch (apt)"
  # Debian's torch uses the distro OpenBLAS: give it this CPU's best kernel
  if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    if grep -qw avx512f /proc/cpuinfo; then
      peer_env=(OPENBLAS_CORETYPE=SkylakeX)
    elif grep -qw avx2 /proc/cpuinfo; then
      peer_env=(OPENBLAS_CORETYPE=Haswell)
    fi
  fi
fi

# ---- runs ----
# run NAME CMD...: stdout to $OUT/NAME.out, /usr/bin/time -v to $OUT/NAME.time
run() {
  local name=$1
  shift
  /usr/bin/time -v -o "$OUT/$name.time" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" ||
    die "$name failed: $(tail -3 "$OUT/$name.err")"
  grep -v '^RESULT' "$OUT/$name.out" | sed 's/^/  /'
}
echo "== $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(getconf _NPROCESSORS_ONLN) cores," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg); raw outputs in $OUT"
for r in $(seq 1 "$ROUNDS"); do
  for net in tutorial mlp; do
    steps=$STEPS_A
    [ $net = mlp ] && steps=$STEPS_B
    echo "== round $r, net $net: modtrain"
    run "mt-$net-$r" "$MT" --net $net --steps "$steps" --reps "$REPS" "${ftz[@]}"
    echo "== round $r, net $net: PyTorch"
    run "pt-$net-$r" env "${peer_env[@]}" "$PY" bench/peer_pytorch.py --net $net --steps "$steps" \
      --reps "$REPS" --source "$SOURCE" "${ftz[@]}"
  done
  echo "== round $r, net tutorial: modtrain through mt_module_fit (iterator + acc metric)"
  run "fit-tutorial-$r" "$MT" --net tutorial --steps "$STEPS_A" --reps "$REPS" --fit "${ftz[@]}"
  echo "== round $r, net mlp: modtrain step against its GEMMs alone (interleaved)"
  run "gemm-mlp-$r" "$MT" --net mlp --steps 100 --reps "$REPS" --warmup 10 --gemm --phases "${ftz[@]}"
done

# ---- summary ----
# field FILE... WHAT NET KEY: the KEY values of matching RESULT lines, one per line
field() {
  local what=${*: -3:1} net=${*: -2:1} key=${*: -1}
  awk -v what="$what" -v net="$net" -v key="$key" '
    /^RESULT/ {
      ok = 0; v = ""
      for (i = 2; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == "what" && kv[2] == what) ok++
        if (kv[1] == "net" && kv[2] == net) ok++
        if (kv[1] == key) v = kv[2]
      }
      if (ok == 2 && v != "") print v
    }' "${@:1:$#-3}"
}
med() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
rss_mib() { for f in "$@"; do sed -n 's/.*Maximum resident set size (kbytes): //p' "$f"; done |
  med | awk '{printf "%.1f", $1 / 1024}'; }

A=128-64-10 B=784-1024-1024-10
mt_a=$(field "$OUT"/mt-tutorial-*.out step $A samples_per_s | med)
pt_a=$(field "$OUT"/pt-tutorial-*.out step $A samples_per_s | med)
mt_b=$(field "$OUT"/mt-mlp-*.out step $B samples_per_s | med)
pt_b=$(field "$OUT"/pt-mlp-*.out step $B samples_per_s | med)
sg=$(field "$OUT"/gemm-mlp-*.out gemm $B step_over_gemm | med)
sg_all=$(field "$OUT"/gemm-mlp-*.out gemm $B step_over_gemm_all | med)
g_us=$(field "$OUT"/gemm-mlp-*.out gemm $B gemm_us | med)
g_fl=$(field "$OUT"/gemm-mlp-*.out gemm $B gemm_gflops | med)
torch_v=$(field "$OUT"/pt-mlp-1.out step $B torch | head -1)

verdict() { awk -v x="$1" -v t="$2" -v op="$3" 'BEGIN {
  ok = (op == ">=") ? (x >= t) : (x <= t); print ok ? "met" : "MISSED" }'; }
ra=$(awk -v a="$mt_a" -v b="$pt_a" 'BEGIN {printf "%.2f", a / b}')
rb=$(awk -v a="$mt_b" -v b="$pt_b" 'BEGIN {printf "%.2f", a / b}')
echo
echo "== summary ($ROUNDS round(s) x $REPS reps; 1 thread; FTZ=${FTZ:-0})"
echo "PyTorch: torch $torch_v, $SOURCE${peer_env:+, ${peer_env[*]}}"
printf '%-18s %5s %16s %16s %8s  %s\n' net batch "modtrain samp/s" "PyTorch samp/s" ratio target
printf '%-18s %5s %16.0f %16.0f %7sx  >= 10x: %s\n' $A 32 "$mt_a" "$pt_a" "$ra" "$(verdict "$ra" 10 '>=')"
printf '%-18s %5s %16.0f %16.0f %7sx  >= 1.1x: %s\n' $B 256 "$mt_b" "$pt_b" "$rb" "$(verdict "$rb" 1.1 '>=')"
printf '(b) step / its 8 GEMMs alone (%.0f us, %.1f GFLOP/s): %.3f  <= 1.15: %s' "$g_us" "$g_fl" \
  "$sg" "$(verdict "$sg" 1.15 '<=')"
printf '   (over all 9 GEMMs incl. fc1 dx: %.3f)\n' "$sg_all"
echo "(a) through mt_module_fit (iterator copy + acc metric + per-epoch work, $(field "$OUT"/fit-tutorial-1.out fit $A step_us | head -1) us/step):" \
  "$(field "$OUT"/fit-tutorial-*.out fit $A samples_per_s | med | awk '{printf "%.0f", $1}') samples/s"
echo "peak RSS (MiB): modtrain (a) $(rss_mib "$OUT"/mt-tutorial-*.time), (b) $(rss_mib "$OUT"/mt-mlp-*.time);" \
  "PyTorch (a) $(rss_mib "$OUT"/pt-tutorial-*.time), (b) $(rss_mib "$OUT"/pt-mlp-*.time)"
echo "loss on batch 0 after training: modtrain (a) $(field "$OUT"/mt-tutorial-1.out check $A loss)" \
  "(b) $(field "$OUT"/mt-mlp-1.out check $B loss); PyTorch (a) $(field "$OUT"/pt-tutorial-1.out check $A loss)" \
  "(b) $(field "$OUT"/pt-mlp-1.out check $B loss)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
