#!/usr/bin/env bash
# bench/gpu-prepare.sh — builds what bench/gpu-check.sh runs and packs it with
# its run-time libraries (bench/gpu-bundle-runtime.sh) into gpu-pack/
# (git-ignored, ~25 MiB): the one folder to send to a GPU machine that has
# the NVIDIA driver, CUDA and PyTorch but none of Debian's libraries.
# usage: bench/gpu-prepare.sh [CUDA_ARCH]   (default 90: H100/H200)
# Then, on the GPU machine, in the project root (the `device` tool: carry
# ["gpu-pack"]):
#   tar xzf gpu-pack/gpu-rt.tar.gz -C gpu-pack && . gpu-pack/gpu-rt/env.sh &&
#     bash bench/gpu-check.sh gpu-pack/build
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${1:-90}
B=build-gpu-check
BUNDLE=${BUNDLE:-bench/gpu-bundle-runtime.sh}
[ -x "$BUNDLE" ] || { echo "gpu-prepare: $BUNDLE not found (set BUNDLE=)" >&2; exit 2; }
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DMT_BUILD_TESTS=ON
grep -q 'MT_HAVE_CUDA=1' "$B/CMakeFiles/mt_core.dir/flags.make" ||
  { echo "gpu-prepare: this build has no CUDA (nvcc or NCCL missing)" >&2; exit 2; }
# every tests/test_gpu_*.c, and test_checkpoint
mapfile -t tests < <(cd tests && ls test_gpu_*.c | sed 's/\.c$//')
tests+=(test_checkpoint)
cmake --build "$B" -j"$(nproc)" --target modtrain_cmd bench_gpu_train bench_cnn "${tests[@]}"
rm -rf gpu-pack
mkdir -p gpu-pack/build/tests
cp "$B/modtrain" "$B/bench_gpu_train" "$B/bench_cnn" gpu-pack/build/
for t in "${tests[@]}"; do cp "$B/tests/$t" gpu-pack/build/tests/; done
# h5diff, to compare the 1- and 2-rank checkpoints there (no h5py there)
cp "$(command -v h5diff)" gpu-pack/build/
"$BUNDLE" "$PWD/gpu-pack/gpu-rt" gpu-pack/build/modtrain gpu-pack/build/bench_gpu_train gpu-pack/build/bench_cnn \
  gpu-pack/build/h5diff gpu-pack/build/tests/*
rm -rf gpu-pack/gpu-rt # the tarball travels; unpacked there
du -sh gpu-pack
echo "gpu-prepare: send gpu-pack/; there: tar xzf gpu-pack/gpu-rt.tar.gz -C gpu-pack &&" \
  ". gpu-pack/gpu-rt/env.sh && bash bench/gpu-check.sh gpu-pack/build"
