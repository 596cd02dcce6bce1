#!/usr/bin/env bash
# run_mpi_bench.sh — runs the MPI benchmarks (bench_kvstore, bench_scaling)
# under mpirun with the settings docs/platform.md records as best on these machines:
#   OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM)=1   mpirun refuses root otherwise
#   OMPI_MCA_btl=self,vader,tcp          shared memory between the ranks;
#   OMPI_MCA_pml=ob1                     skips btl/ofi (1.2 s per start-up)
#   OPENBLAS_NUM_THREADS=1               1 BLAS thread per rank
#   --bind-to none                       on the 2-core VM, `core` and `none` gave
#                                        the same figures (weak scaling 1.615x vs
#                                        1.620x); none also suits other rank
#                                        counts and shared machines
#   --oversubscribe                      only when there are more ranks than cores
# After each benchmark the share of the CPUs that other processes used during
# the run is printed: other work on the 2 cores distorts every figure, so
# rerun when it is more than a few percent.
#
# usage: bench/run_mpi_bench.sh [kvstore|scaling|all] [-- extra arguments of that benchmark]
#   BUILD=dir   build directory holding the benchmarks (default: build)
#   NP=n        ranks (default 2)
#   BIND=none|core  the binding (default none)
#   ONE=1       also run bench_scaling under `mpirun -n 1` (its "N ranks" line
#               is then 1 rank with the dist_sync kvstore: the cost of the
#               kvstore code alone) — scaling only
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD:-$here/build}"
NP="${NP:-2}"
what="${1:-all}"
[[ $# -gt 0 ]] && shift
[[ "${1:-}" == "--" ]] && shift

case "$what" in
  kvstore | scaling) ;;
  all)
    if (($# > 0)); then
      echo "run_mpi_bench.sh: extra arguments need one benchmark (kvstore or scaling)" >&2
      exit 2
    fi
    ;;
  -h | --help)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
    ;;
  *)
    echo "run_mpi_bench.sh: unknown benchmark '$what' (kvstore, scaling, all)" >&2
    exit 2
    ;;
esac

for b in bench_kvstore bench_scaling; do
  if [[ ! -x "$BUILD/$b" ]]; then
    echo "run_mpi_bench.sh: $BUILD/$b not built: cmake --build $BUILD --target $b" \
      "(a Release build: -DCMAKE_BUILD_TYPE=Release)" >&2
    exit 2
  fi
done

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl="${OMPI_MCA_btl:-self,vader,tcp}" OMPI_MCA_pml="${OMPI_MCA_pml:-ob1}"
export OPENBLAS_NUM_THREADS=1

cores="$(nproc)"
BIND="${BIND:-none}"
bindargs=(--bind-to "$BIND")
((NP > cores)) && bindargs+=(--oversubscribe)

# Busy and total jiffies of all CPUs (/proc/stat), and the CPU time of this
# shell's finished children (/proc/$$/stat cutime + cstime, same unit): the
# difference over a run is what other processes took from the benchmark.
cpu_jiffies() {
  local a b c d e f g h
  read -r _ a b c d e f g h _ </proc/stat
  local stat
  stat="$(cat /proc/$$/stat)"
  stat="${stat##*) }" # fields from 3 on
  local -a s
  read -r -a s <<<"$stat"
  echo "$((a + b + c + f + g + h)) $((a + b + c + d + e + f + g + h)) $((s[13] + s[14]))"
}

# Share of all CPUs busy over one second.
cpu_busy() {
  local b1 t1 b2 t2
  read -r b1 t1 _ < <(cpu_jiffies)
  sleep 1
  read -r b2 t2 _ < <(cpu_jiffies)
  echo "$((100 * (b2 - b1) / (t2 - t1)))%"
}

run() {
  echo "## $(date -u +%FT%TZ) CPUs busy in the second before: $(cpu_busy)"
  echo "## $(env | grep '^OMPI_MCA_' | sort | tr '\n' ' ')OPENBLAS_NUM_THREADS=1 mpirun $*"
  local b1 t1 c1 b2 t2 c2
  read -r b1 t1 c1 < <(cpu_jiffies)
  mpirun "$@"
  read -r b2 t2 c2 < <(cpu_jiffies)
  local other=$(((b2 - b1) - (c2 - c1)))
  ((other < 0)) && other=0
  echo "## done: other processes used $((100 * other / (t2 - t1)))% of the CPUs during the run" \
    "(rerun if this is more than a few %); load:$(uptime | sed 's/.*load average://')"
}

if [[ "$what" == kvstore || "$what" == all ]]; then
  run -n "$NP" "${bindargs[@]}" "$BUILD/bench_kvstore" "$@"
fi
if [[ "$what" == scaling || "$what" == all ]]; then
  run -n "$NP" "${bindargs[@]}" "$BUILD/bench_scaling" "$@"
  if [[ "${ONE:-0}" == 1 ]]; then
    run -n 1 --bind-to "$BIND" "$BUILD/bench_scaling" --no-overlap "$@"
  fi
fi
