#!/usr/bin/env bash
# run_cnn_bench.sh — training samples/s of convolutional nets: modtrain
# (bench/bench_cnn.c) against PyTorch (bench/peer_pytorch_cnn.py) on the same
# nets, batch, optimizer, thread count and machine, in the same run.
#
#   lenet  MXNet's LeNet, 1x28x28, batch 64              target modtrain >= 1.2x PyTorch
#   cifar  3x32x32, conv3x3 64/128/128 + BN + relu,      target modtrain >= 1.2x PyTorch
#          batch 128
# and, per Convolution layer (bench_cnn --conv), the conv layers' share of the
# step and how close modtrain's kernels run to oneDNN's own primitives
# (closeness = oneDNN's time / modtrain's, target >= 0.9).
#
# The peer as in bench/run_train_bench.sh: a venv at $BENCH_VENV (default
# build/bench-venv) with `pip install torch` from PyPI (its CPU kernels are
# oneDNN's). One thread everywhere. Each round runs both sides once per net,
# alternating; the summary takes the median over rounds.
#
# Environment: BUILD_DIR (build), BENCH_VENV, REPS (5), ROUNDS (1),
# STEPS_LENET (100), STEPS_CIFAR (10), OUT (folder for raw outputs). Run on an
# otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
BENCH_VENV=${BENCH_VENV:-build/bench-venv}
REPS=${REPS:-5}
ROUNDS=${ROUNDS:-1}
STEPS_LENET=${STEPS_LENET:-100}
STEPS_CIFAR=${STEPS_CIFAR:-10}
OUT=${OUT:-$(mktemp -d /tmp/cnn-bench.XXXXXX)}
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

die() {
  echo "run_cnn_bench: $*" >&2
  exit 1
}

if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake.log" 2>&1 ||
    die "cmake configure failed, see $OUT/cmake.log"
fi
cmake --build "$BUILD_DIR" --target bench_cnn -j "$(getconf _NPROCESSORS_ONLN)" >"$OUT/build.log" 2>&1 ||
  die "building bench_cnn failed, see $OUT/build.log"
MT="$BUILD_DIR/bench_cnn"

torch_ok() { "$1" -c 'import torch; a = torch.ones(4, 4); assert float((a @ a).sum()) == 64.0' \
  >/dev/null 2>&1; }
if ! torch_ok "$BENCH_VENV/bin/python"; then
  echo "run_cnn_bench: installing torch from PyPI into $BENCH_VENV (large download)"
  { python3 -m venv "$BENCH_VENV" && "$BENCH_VENV/bin/pip" install torch; } \
    >"$OUT/pip.log" 2>&1 || die "pip install torch failed, see $OUT/pip.log"
  torch_ok "$BENCH_VENV/bin/python" || die "no usable torch in $BENCH_VENV"
fi
PY="$BENCH_VENV/bin/python" SOURCE="PyPI wheel (venv $BENCH_VENV)"

run() {
  local name=$1
  shift
  "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || die "$name failed: $(tail -3 "$OUT/$name.err")"
  grep -v '^RESULT' "$OUT/$name.out" | sed 's/^/  /'
}
echo "== $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(getconf _NPROCESSORS_ONLN) cores," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg); raw outputs in $OUT"
for r in $(seq 1 "$ROUNDS"); do
  for net in lenet cifar; do
    steps=$STEPS_LENET
    [ $net = cifar ] && steps=$STEPS_CIFAR
    echo "== round $r, net $net: modtrain"
    run "mt-$net-$r" "$MT" --net $net --steps "$steps" --reps "$REPS" --phases --conv
    echo "== round $r, net $net: PyTorch"
    run "pt-$net-$r" "$PY" bench/peer_pytorch_cnn.py --net $net --steps "$steps" --reps "$REPS" \
      --source "$SOURCE"
  done
done

field() { # FILES... WHAT NET KEY
  local what=${*: -3:1} net=${*: -2:1} key=${*: -1}
  awk -v what="$what" -v net="$net" -v key="$key" '
    /^RESULT/ { ok = 0; v = ""
      for (i = 2; i <= NF; i++) { split($i, kv, "=")
        if (kv[1] == "what" && kv[2] == what) ok++
        if (kv[1] == "net" && kv[2] == net) ok++
        if (kv[1] == key) v = kv[2] }
      if (ok == 2 && v != "") print v }' "${@:1:$#-3}"
}
med() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo
echo "== summary ($ROUNDS round(s) x $REPS reps; 1 thread)"
printf '%-6s %5s %16s %16s %8s  %s\n' net batch "modtrain samp/s" "PyTorch samp/s" ratio target
for net in lenet cifar; do
  b=64
  [ $net = cifar ] && b=128
  m=$(field "$OUT"/mt-$net-*.out step $net samples_per_s | med)
  p=$(field "$OUT"/pt-$net-*.out step $net samples_per_s | med)
  ratio=$(awk -v a="$m" -v b="$p" 'BEGIN {printf "%.2f", a / b}')
  ok=$(awk -v x="$ratio" 'BEGIN {print (x >= 1.2) ? "met" : "MISSED"}')
  printf '%-6s %5s %16.1f %16.1f %7sx  >= 1.2x: %s\n' $net $b "$m" "$p" "$ratio" "$ok"
done
echo
echo "== convolution layers (bench_cnn --conv; medians over rounds): share of the modtrain step,"
echo "   closeness = oneDNN's own primitives' time / modtrain's kernels' time (target >= 0.9)"
printf '%-6s %-6s %12s %12s %10s\n' net layer "modtrain us" "oneDNN us" closeness
for net in lenet cifar; do
  for layer in $(field "$OUT"/mt-$net-1.out conv $net layer); do
    m=$(awk -v l="$layer" '$0 ~ "layer=" l " " {print}' "$OUT"/mt-$net-*.out | grep 'what=conv ' |
      sed 's/.* us=\([^ ]*\).*/\1/' | med)
    d=$(awk -v l="$layer" '$0 ~ "layer=" l " " {print}' "$OUT"/mt-$net-*.out | grep 'what=conv ' |
      sed 's/.* dnnl_us=\([^ ]*\).*/\1/' | med)
    printf '%-6s %-6s %12.1f %12.1f %10.3f\n' $net "$layer" "$m" "$d" "$(awk -v a="$d" -v b="$m" 'BEGIN {print a / b}')"
  done
  share=$(field "$OUT"/mt-$net-*.out convsum $net share | med)
  close=$(field "$OUT"/mt-$net-*.out convsum $net closeness | med)
  ok=$(awk -v x="$close" 'BEGIN {print (x >= 0.9) ? "met" : "MISSED"}')
  printf '%-6s %-6s conv share of the step %.3f, closeness %.3f (>= 0.9: %s)\n' $net all "$share" "$close" "$ok"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
