#!/usr/bin/env bash
# jobs/setup.sh — installs the Debian 12 packages modtrain needs to build,
# test and run, only those missing (idempotent: a second run installs nothing
# and does not touch the network). CUDA is not installed here: it is
# preinstalled under /usr/local/cuda where a GPU path is wanted, and the build
# turns CUDA on only when nvcc exists.
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config
  # libraries (docs/platform.md)
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools libopenblas-dev
  libcmocka-dev libinih-dev libjansson-dev
  # xxhash.h, inlined: the XXH3 digests of checkpoints (io/xxh3.h; no link dependency)
  libxxhash-dev
  # oneDNN: the GEMMs (faster than OpenBLAS's sgemm on AVX-512; kernels/cpu/blas.c)
  libdnnl-dev
  # style check
  clang-format
  # the fuzz stage: clang with libFuzzer and the sanitizers (fuzz/README.md)
  clang libclang-rt-14-dev
  # tests: reference computations, HDF5 file checks, memory checks
  python3-numpy python3-h5py valgrind
  # tests: training curves as pictures (jobs/plot_metrics.py, tests/test_plot.sh)
  python3-matplotlib
  # tests: real images (scikit-learn's digits.csv.gz, tests/test_digits.sh)
  python3-sklearn
  # a real text corpus: the King James Bible (public domain) and its reader,
  # `bible`, for the language model (jobs/data/text_to_h5.py --kjv)
  bible-kjv
  # tests: two "nodes" on one machine (network namespaces, tests/mpi/two_nodes.sh)
  iproute2 util-linux
  # tests: a real one-node Slurm (tests/slurm/slurm_up.sh)
  slurmctld slurmd slurm-client slurm-wlm-basic-plugins munge
)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${PKGS[@]}"; do
  installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  SUDO="sudo env DEBIAN_FRONTEND=noninteractive"
fi
export DEBIAN_FRONTEND=noninteractive
# a mirror hiccup should not fail a CI run: up to 3 tries
for try in 1 2 3; do
  if $SUDO apt-get update -q && $SUDO apt-get install -y -q "${missing[@]}" </dev/null; then
    break
  fi
  [ "$try" -lt 3 ] || { echo "setup: apt-get failed 3 times" >&2; exit 1; }
  echo "setup: apt-get failed, retrying in 10 s" >&2
  sleep 10
done
echo "setup: done"
