#!/usr/bin/env bash
# jobs/run-main.sh — the project's main command (README): installs what is
# missing, builds, and runs the main job: `mpirun -n 2 modtrain
# jobs/configs/tutorial.ini` — MXNet's Module tutorial (the 128-64-10 MLP on
# the built-in synthetic data), data parallel over 2 MPI ranks.
# Environment: BUILD_DIR (default build), passed on to jobs/build.sh; extra
# arguments go to modtrain (e.g. --set train.num_epoch=10).
set -euo pipefail
cd "$(dirname "$0")/.."

bash jobs/setup.sh
bash jobs/build.sh

BUILD_DIR=${BUILD_DIR:-build}
bin="$BUILD_DIR/modtrain"
[ -x "$bin" ] || { echo "run-main: $bin was not built" >&2; exit 1; }
# Open MPI as root and on small machines (docs/platform.md)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader,tcp} OMPI_MCA_pml=${OMPI_MCA_pml:-ob1}
echo "run-main: mpirun -n 2 $bin jobs/configs/tutorial.ini $*"
exec mpirun -n 2 --oversubscribe "$bin" jobs/configs/tutorial.ini "$@"
