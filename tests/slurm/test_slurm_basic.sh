#!/usr/bin/env bash
# tests/slurm/test_slurm_basic.sh — jobs/train.sbatch under a real Slurm on
# this machine (tests/slurm/slurm_up.sh starts it, slurm_down.sh stops it on
# every exit path).
#
#   bash tests/slurm/test_slurm_basic.sh [MODTRAIN [SOURCE_DIR]]
#     MODTRAIN    the modtrain binary (default SOURCE_DIR/build/modtrain)
#     SOURCE_DIR  the repository (default: two levels above this script)
#
# Checks, each a numbered step whose failure names what went wrong:
#   1. a trivial job (hostname) completes and its output names this host;
#   2. train.sbatch with 2 tasks and a stand-in for modtrain, under mpirun and
#      under srun --mpi=pmix: the job completes, the stand-in ran as ranks 0
#      and 1 of 2, got the config as its first argument and the extra
#      arguments after it, and the log sits where --output said;
#   3. train.sbatch with 2 tasks on jobs/configs/tutorial.ini with the real
#      modtrain: JobState COMPLETED, ExitCode 0:0, and the log has the
#      Epoch[0..N-1] lines of rank 0 only (each line once).
# Step 3 needs modtrain to train under 2 ranks. While the command answers
# "not implemented yet" to 2 ranks, the test ends with exit 77 (ctest: skipped)
# after steps 1–2 passed, saying so; MT_SLURM_REQUIRE_TRAIN=1 makes that a
# failure instead.
#
# Job states come from `scontrol show job` (no accounting here; MinJobAge keeps
# finished jobs for an hour). Each job is waited for at most
# MT_SLURM_JOB_TIMEOUT s (default 120). Exit: 0 pass, 1 fail, 77 skip (not
# root, or step 3 as above). About 15 s in all on the 2-core machines.
set -uo pipefail
MT_ME=test_slurm_basic
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${2:-$(cd "$here/../.." && pwd)}
modtrain=${1:-$src/build/modtrain}
# the jobs run in the test's temp dir: an absolute path
[[ $modtrain == /* ]] || modtrain=$PWD/$modtrain
job_timeout=${MT_SLURM_JOB_TIMEOUT:-120}
t0=$SECONDS

# work dir, lib.sh, clean-up on exit, fail, step, show_log, start_slurm
. "$here/testlib.sh"

# run_job NAME EXPECT_OUT SBATCH_ARGS...: submits, waits, prints the final
# state; sets JOB (its id). Fails the test when sbatch or the wait fails.
run_job() {
  local name=$1 out=$2 state
  shift 2
  JOB=$(sbatch --parsable "$@") || fail "$name: sbatch $* failed"
  JOB=${JOB%%;*}
  state=$(mt_wait_job "$JOB" "$job_timeout")
  if [ "$state" = TIMEOUT_WAITING ]; then
    show_log "$out"
    scontrol show job "$JOB" >&2
    fail "$name: job $JOB not finished after ${job_timeout} s"
  fi
  JOB_STATE=$state
  JOB_EXIT=$(mt_job_field "$JOB" ExitCode)
}

[ -x "$modtrain" ] || fail "no modtrain binary at $modtrain (build it, or pass its path)"
[ -r "$src/jobs/train.sbatch" ] || fail "no $src/jobs/train.sbatch"

start_slurm

# ---- 1. trivial job --------------------------------------------------------
run_job hostname "$work/hostname.out" -o "$work/hostname.out" -J mt-hostname --wrap hostname
[ "$JOB_STATE" = COMPLETED ] || { show_log "$work/hostname.out"; fail "hostname job $JOB: $JOB_STATE (exit $JOB_EXIT)"; }
grep -qx "$(hostname)" "$work/hostname.out" || { show_log "$work/hostname.out"; fail "hostname job output lacks $(hostname)"; }
step "1. trivial job $JOB COMPLETED"

# ---- 2. train.sbatch with a stand-in ---------------------------------------
# Prints what it was started as; PMIX_RANK is set by both mpirun and srun --mpi=pmix.
cat >"$work/standin.sh" <<'EOF'
#!/bin/sh
echo "standin rank=${PMIX_RANK:-none} size=${OMPI_COMM_WORLD_SIZE:-${SLURM_STEP_NUM_TASKS:-none}} args=$*"
EOF
chmod +x "$work/standin.sh"
for launcher in mpirun srun; do
  out=$work/standin-$launcher.out
  MODTRAIN=$work/standin.sh MT_LAUNCHER=$launcher run_job "standin/$launcher" "$out" \
    --ntasks-per-node=2 -o "$out" "$src/jobs/train.sbatch" my.ini --set a.b=c
  [ "$JOB_STATE" = COMPLETED ] && [ "$JOB_EXIT" = 0:0 ] ||
    { show_log "$out"; fail "stand-in job $JOB ($launcher): $JOB_STATE, exit $JOB_EXIT"; }
  for r in 0 1; do
    grep -qx "standin rank=$r size=2 args=my.ini --set a.b=c" "$out" ||
      { show_log "$out"; fail "stand-in job $JOB ($launcher): no line from rank $r of 2 with the config and arguments"; }
  done
  n=$(grep -c '^standin ' "$out")
  [ "$n" -eq 2 ] || { show_log "$out"; fail "stand-in job $JOB ($launcher): $n rank lines, want 2"; }
  step "2. train.sbatch, $launcher, 2 tasks, stand-in: job $JOB COMPLETED, ranks 0 and 1 of 2"
done

# ---- 3. train.sbatch with modtrain on the tutorial -------------------------
config=$src/jobs/configs/tutorial.ini
[ -r "$config" ] || fail "no $config"
epochs=$("$modtrain" "$config" --check 2>/dev/null | sed -n 's/^ *num_epoch *= *\([0-9]*\).*/\1/p' | head -n 1)
epochs=${epochs:-5}
out=$work/train.out
MODTRAIN=$modtrain run_job train "$out" --ntasks-per-node=2 -o "$out" "$src/jobs/train.sbatch" "$config"
if [ "$JOB_STATE" != COMPLETED ] && grep -q 'not implemented yet' "$out" 2>/dev/null; then
  show_log "$out"
  if [ "${MT_SLURM_REQUIRE_TRAIN:-0}" = 1 ]; then
    fail "modtrain does not train under 2 ranks yet (MT_SLURM_REQUIRE_TRAIN=1)"
  fi
  echo "$MT_ME: SKIP: steps 1-2 passed; step 3 needs modtrain to train under 2 ranks (it says: not implemented yet)"
  exit 77
fi
[ "$JOB_STATE" = COMPLETED ] && [ "$JOB_EXIT" = 0:0 ] ||
  { show_log "$out"; fail "training job $JOB: $JOB_STATE, exit $JOB_EXIT"; }
for ((e = 0; e < epochs; e++)); do
  n=$(grep -c "^Epoch\[$e\] Train-" "$out")
  [ "$n" -eq 1 ] || { show_log "$out"; fail "training job $JOB: $n 'Epoch[$e] Train-' lines (want 1: rank 0 only)"; }
done
grep -q "^Epoch\[$((epochs - 1))\] Validation-" "$out" ||
  { show_log "$out"; fail "training job $JOB: no Epoch[$((epochs - 1))] Validation- line"; }
step "3. train.sbatch, mpirun, 2 tasks, tutorial.ini: job $JOB COMPLETED, Epoch[0..$((epochs - 1))] logged once each"
grep '^Epoch' "$out" | tail -n 3 | sed 's/^/    | /'

echo "$MT_ME: PASS ($((SECONDS - t0)) s)"
