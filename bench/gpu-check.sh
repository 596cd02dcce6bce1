#!/usr/bin/env bash
# bench/gpu-check.sh — the GPU checks in one go, for a machine with a GPU
# (also one with only the NVIDIA driver, CUDA and PyTorch: build here, send the
# build with bench/gpu-bundle-runtime.sh's run-time libraries):
#   1. the gpu-labelled tests (every CUDA kernel against the CPU path, executor
#      and Module on gpu(0), contexts {gpu(0), gpu(0)}, the cuDNN kernels
#      against naive loops);
#   2. the modtrain command on the tutorial config with context = gpu, on 1
#      rank and on 2 ranks sharing gpu(0) (dist_sync and hier), compared;
#   3. training samples/s of modtrain vs PyTorch eager on the same card and
#      run: the tutorial MLP (128-64-10, batch 32) and 784-1024-1024-10
#      (batch 256), with the ratio;
#   4. contexts gpu:0,0 (two executors on one GPU), each executor on its own
#      stream against both on the legacy stream (MODTRAIN_GPU_STREAMS=0);
#   5. convolutional nets (cuDNN): MXNet's LeNet through the command on
#      gpu(0), and training samples/s of bench_cnn (LeNet batch 64, the small
#      CIFAR-style net batch 128) against PyTorch eager on the same card.
# usage: bench/gpu-check.sh [BUILD_DIR]   (default build-cuda)
# Prepare here:  bash bench/gpu-prepare.sh   (builds and packs gpu-pack/)
# There:  tar xzf gpu-pack/gpu-rt.tar.gz -C gpu-pack && . gpu-pack/gpu-rt/env.sh &&
#   bash bench/gpu-check.sh gpu-pack/build
# Every step runs under `timeout` (STEP_TIMEOUT seconds, default 120), so one hang
# cannot eat the lent machine's whole budget; the summary at the end lists
# each step's exit status (124: timed out).
set -uo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-cuda}
T_STEP=${STEP_TIMEOUT:-120}
export OPENBLAS_NUM_THREADS=1 CMOCKA_MESSAGE_OUTPUT=STDOUT
fail=0
summary=""
# step NAME CMD...: runs CMD under the timeout, records its status
step() {
  local name=$1 rc
  shift
  echo "== $name"
  timeout "$T_STEP" "$@"
  rc=$?
  summary+="$(printf '%-28s rc=%d' "$name" "$rc")"$'\n'
  [ $rc -eq 0 ] || fail=1
  return $rc
}
nvidia-smi -L || { echo "gpu-check: no GPU visible"; exit 77; }
# every gpu test gpu-prepare.sh packed (each tests/test_gpu_*.c), then test_checkpoint
for t in $(cd "$B/tests" && ls test_gpu_* 2>/dev/null) test_checkpoint; do
  step "$t" "$B/tests/$t"
done
step "test_gpu_memory, no cache" env MODTRAIN_GPU_CACHE=0 "$B/tests/test_gpu_memory"
step "modtrain tutorial gpu(0)" "$B"/modtrain jobs/configs/tutorial.ini --set train.context=gpu
echo "== 2 ranks on gpu(0) (dist_sync, MPI staged through pinned memory) vs 1 rank"
T=$(mktemp -d)
A="--set train.context=gpu --set train.momentum=0.9 --set train.num_epoch=3"
step "1 rank gpu(0)" "$B"/modtrain jobs/configs/tutorial.ini $A --set checkpoint.prefix=$T/one/m
step "2 ranks gpu(0) dist_sync" mpirun -n 2 "$B"/modtrain jobs/configs/tutorial.ini $A \
  --set checkpoint.prefix=$T/two/m
# hier: both ranks on one GPU, so NCCL's node stage must step aside (it
# refuses duplicate GPUs) and the staged path must give the same result
step "2 ranks gpu(0) hier" mpirun -n 2 "$B"/modtrain jobs/configs/tutorial.ini $A \
  --set train.kvstore=hier --set checkpoint.prefix=$T/hier/m
# compared with h5diff (gpu-prepare.sh packs one) where there is one, else h5py
H5DIFF=$([ -x "$B/h5diff" ] && echo "$B/h5diff" || command -v h5diff || true)
for run in two hier; do
  if [ -n "$H5DIFF" ]; then
    # the parameters' digests (xxh3) differ whenever their elements do: not compared
    X=""
    for a in fc1_weight fc1_bias fc2_weight fc2_bias; do X="$X --exclude-attribute /arg/$a"; done
    if "$H5DIFF" -d 1e-5 $X "$T/one/m-0003.h5" "$T/$run/m-0003.h5" /arg /arg >"$T/$run.diff" 2>&1; then
      echo "2 ranks ($run) vs 1 rank on gpu(0): every parameter within 1e-5 (h5diff)"
    else
      echo "2 ranks ($run) vs 1 rank on gpu(0): DIFFER beyond 1e-5 (h5diff):"
      head -20 "$T/$run.diff"
      summary+="2 ranks ($run) vs 1 rank: differ"$'\n'
      fail=1
    fi
    continue
  fi
  python3 - "$T/one/m-0003.h5" "$T/$run/m-0003.h5" "$run" <<'PY' || fail=1
import sys
try:
    import h5py, numpy as np
except ImportError:
    print("2 ranks (%s): not compared, no h5diff and this machine's Python has no h5py" % sys.argv[3])
    sys.exit(0)
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
d = max(float(np.abs(a["arg"][k][()] - b["arg"][k][()]).max()) for k in a["arg"])
print("2 ranks (%s) vs 1 rank on gpu(0): max |param difference| = %g" % (sys.argv[3], d))
sys.exit(0 if d < 1e-5 else 1)
PY
done
echo "== training throughput, same card, same run"
for net in "32 128 64 10" "256 784 1024 1024 10"; do
  m=$(timeout "$T_STEP" "$B"/bench_gpu_train $net) || {
    echo "bench_gpu_train $net failed"
    summary+="bench_gpu_train $net: failed"$'\n'
    fail=1
    continue
  }
  echo "$m"
  if command -v python3 >/dev/null && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    p=$(timeout "$T_STEP" python3 bench/peer_pytorch_gpu.py $net) || { echo "peer failed"; continue; }
    echo "$p"
    ms=$(echo "$m" | sed -E 's/.*: ([0-9]+) samples.*/\1/'); ps=$(echo "$p" | sed -E 's/.*: ([0-9]+) samples.*/\1/')
    awk -v a="$ms" -v b="$ps" -v n="$net" 'BEGIN { printf "ratio modtrain/pytorch (batch, net %s): %.2fx\n", n, a / b }'
  else
    echo "gpu-check: PyTorch with CUDA not available: no peer figure"
  fi
done
echo "== contexts gpu:0,0: each executor on its own stream vs both on the legacy stream"
for net in "32 128 64 10" "256 784 1024 1024 10"; do
  on=$(timeout "$T_STEP" "$B"/bench_gpu_train $net --contexts 0,0) &&
    off=$(MODTRAIN_GPU_STREAMS=0 timeout "$T_STEP" "$B"/bench_gpu_train $net --contexts 0,0) || {
    echo "bench_gpu_train $net --contexts 0,0 failed"
    summary+="bench_gpu_train $net --contexts 0,0: failed"$'\n'
    fail=1
    continue
  }
  echo "$on"
  echo "$off"
  a=$(echo "$on" | sed -E 's/.*: ([0-9]+) samples.*/\1/'); b=$(echo "$off" | sed -E 's/.*: ([0-9]+) samples.*/\1/')
  awk -v a="$a" -v b="$b" -v n="$net" 'BEGIN { printf "ratio streams on/off (batch, net %s): %.2fx\n", n, a / b }'
done
echo "== convolutional nets on gpu(0) (cuDNN)"
step "modtrain lenet gpu(0)" "$B"/modtrain jobs/configs/lenet.ini --set train.context=gpu
for net in lenet cifar; do
  steps=200
  [ $net = cifar ] && steps=50
  m=$(timeout "$T_STEP" "$B"/bench_cnn --gpu 0 --net $net --steps $steps --reps 5) || {
    echo "bench_cnn --gpu 0 --net $net failed"
    summary+="bench_cnn --gpu 0 --net $net: failed"$'\n'
    fail=1
    continue
  }
  echo "$m" | grep -v '^RESULT'
  if command -v python3 >/dev/null && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    p=$(timeout "$T_STEP" python3 bench/peer_pytorch_cnn.py --device cuda --net $net --steps $steps \
      --reps 5) || { echo "peer failed"; continue; }
    echo "$p" | grep -v '^RESULT'
    ms=$(echo "$m" | sed -n 's/^RESULT.*what=step.* samples_per_s=\([0-9.]*\).*/\1/p')
    ps=$(echo "$p" | sed -n 's/^RESULT.*what=step.* samples_per_s=\([0-9.]*\).*/\1/p')
    awk -v a="$ms" -v b="$ps" -v n="$net" 'BEGIN { printf "ratio modtrain/pytorch (%s, cuDNN): %.2fx\n", n, a / b }'
  else
    echo "gpu-check: PyTorch with CUDA not available: no peer figure"
  fi
done
echo "== summary"
printf '%s' "$summary"
echo "gpu-check: $([ $fail -eq 0 ] && echo OK || echo FAILED)"
exit $fail
