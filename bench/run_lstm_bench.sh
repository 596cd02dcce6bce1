#!/usr/bin/env bash
# run_lstm_bench.sh — training tokens/s of MXNet's lstm_bucketing.py language
# model (2 LSTM layers, embed 200, hidden 200, vocabulary 10,002, buckets
# 10..60, batch 32): modtrain's BucketingModule (bench/bench_lstm.c) against
# PyTorch (bench/peer_pytorch_lstm.py: nn.LSTM, and nn.LSTMCell unrolled as
# MXNet unrolls) on the same batches — the first NBATCHES batches of the King
# James Bible's bucketed training epoch (their keys written by bench_lstm,
# read by the peer) — same optimizer, one thread, in the same run.
# Target: modtrain >= 1.0x PyTorch. Both sides also report tokens per CPU
# second of their one thread, the steadier figure on a shared machine.
# bench_lstm --phases also reports the share of a pass in the recurrent (h2h)
# GEMMs and in all GEMMs (CPU time).
#
# The data: data/kjv/train.h5 (made here with jobs/data/text_to_h5.py --kjv
# when missing; needs Debian's bible-kjv). The peer: a venv at $BENCH_VENV
# (default build/bench-venv) with torch from PyPI, as bench/run_cnn_bench.sh.
# Each round runs modtrain, then PyTorch nn.LSTM, then PyTorch cells; the
# summary takes the median over rounds.
#
# Environment: BUILD_DIR (build), BENCH_VENV, DATA (data/kjv/train.h5),
# NBATCHES (60), REPS (3), ROUNDS (1), OUT (folder for raw outputs). Run on
# an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
BENCH_VENV=${BENCH_VENV:-build/bench-venv}
DATA=${DATA:-data/kjv/train.h5}
NBATCHES=${NBATCHES:-60}
REPS=${REPS:-3}
ROUNDS=${ROUNDS:-1}
OUT=${OUT:-$(mktemp -d /tmp/lstm-bench.XXXXXX)}
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

die() {
  echo "run_lstm_bench: $*" >&2
  exit 1
}

if [ ! -f "$DATA" ]; then
  /usr/bin/python3 jobs/data/text_to_h5.py --kjv "$(dirname "$DATA")" >"$OUT/conv.log" 2>&1 ||
    die "no $DATA, and text_to_h5.py --kjv failed (apt-get install bible-kjv), see $OUT/conv.log"
fi
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake.log" 2>&1 ||
    die "cmake configure failed, see $OUT/cmake.log"
fi
cmake --build "$BUILD_DIR" --target bench_lstm -j "$(getconf _NPROCESSORS_ONLN)" >"$OUT/build.log" 2>&1 ||
  die "building bench_lstm failed, see $OUT/build.log"
MT="$BUILD_DIR/bench_lstm"

torch_ok() { "$1" -c 'import torch; a = torch.ones(4, 4); assert float((a @ a).sum()) == 64.0' \
  >/dev/null 2>&1; }
if ! torch_ok "$BENCH_VENV/bin/python"; then
  echo "run_lstm_bench: installing torch from PyPI into $BENCH_VENV (large download)"
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
  echo "== round $r: modtrain"
  run "mt-$r" "$MT" --data "$DATA" --nbatches "$NBATCHES" --reps "$REPS" --phases \
    --keys-out "$OUT/keys"
  for impl in lstm cells; do
    echo "== round $r: PyTorch $impl"
    run "pt-$impl-$r" "$PY" bench/peer_pytorch_lstm.py --keys "$OUT/keys" --reps "$REPS" \
      --impl $impl --source "$SOURCE"
  done
done

field() { # FILES... IMPL WHAT KEY
  local impl=${*: -3:1} what=${*: -2:1} key=${*: -1}
  awk -v impl="$impl" -v what="$what" -v key="$key" '
    /^RESULT/ { ok = 0; v = ""
      for (i = 2; i <= NF; i++) { split($i, kv, "=")
        if (kv[1] == "impl" && kv[2] == impl) ok++
        if (kv[1] == "what" && kv[2] == what) ok++
        if (kv[1] == key) v = kv[2] }
      if (ok == 2 && v != "") print v }' "${@:1:$#-3}"
}
med() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo
echo "== summary ($ROUNDS round(s) x $REPS reps; $NBATCHES batches of 32; 1 thread)"
m=$(field "$OUT"/mt-*.out modtrain train tokens_per_s | med)
mc=$(field "$OUT"/mt-*.out modtrain train tokens_per_cpu_s | med)
rec=$(field "$OUT"/mt-*.out modtrain phases recurrent_share | med)
gemm=$(field "$OUT"/mt-*.out modtrain phases gemm_share | med)
printf '%-24s %12s %8s %14s %8s  %s\n' impl tokens/s ratio "tokens/CPU-s" ratio target
printf '%-24s %12.0f %8s %14.0f\n' "modtrain BucketingModule" "$m" "" "$mc"
for impl in lstm cells; do
  p=$(field "$OUT"/pt-$impl-*.out pytorch-$impl train tokens_per_s | med)
  pc=$(field "$OUT"/pt-$impl-*.out pytorch-$impl train tokens_per_cpu_s | med)
  ratio=$(awk -v a="$m" -v b="$p" 'BEGIN {printf "%.2f", a / b}')
  cratio=$(awk -v a="$mc" -v b="$pc" 'BEGIN {printf "%.2f", a / b}')
  ok=$(awk -v x="$ratio" 'BEGIN {print (x >= 1.0) ? "met" : "MISSED"}')
  printf '%-24s %12.0f %7sx %14.0f %7sx  modtrain >= 1.0x (wall): %s\n' "PyTorch $impl" "$p" \
    "$ratio" "$pc" "$cratio" "$ok"
done
echo "modtrain's pass: $(awk -v x="$rec" 'BEGIN {printf "%.1f", 100 * x}')% in the recurrent (h2h) GEMMs," \
  "$(awk -v x="$gemm" 'BEGIN {printf "%.1f", 100 * x}')% in all GEMMs"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
