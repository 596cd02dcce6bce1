#!/usr/bin/env bash
# jobs/build.sh — configures and builds modtrain into build/ (Release).
# CUDA is built when nvcc exists (the CMakeLists finds /usr/local/cuda/bin/nvcc);
# -DMT_CUDA=OFF or any other cache option can be passed as arguments, e.g.
#   bash jobs/build.sh -DMT_CUDA=OFF
# Environment: BUILD_DIR (default build), JOBS (default nproc). Under CI
# (CI=true) warnings are errors.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
opts=(-DCMAKE_BUILD_TYPE=Release)
if [ "${CI:-}" = true ]; then
  opts+=(-DMT_WERROR=ON)
fi

echo "build: cmake -S . -B $BUILD_DIR ${opts[*]} $*"
cmake -S . -B "$BUILD_DIR" "${opts[@]}" "$@"
cmake --build "$BUILD_DIR" -j "$JOBS"
