#!/usr/bin/env bash
# tests/slurm/test_slurm_requeue.sh — preemption under a real Slurm:
# jobs/train-requeue.sbatch gets SIGUSR1, the ranks checkpoint and exit with
# the "requeue me" status, the script requeues the job, and the second start
# resumes and finishes with the same parameters as an uninterrupted run.
#
#   bash tests/slurm/test_slurm_requeue.sh [MODTRAIN [SOURCE_DIR]]
#     MODTRAIN    the modtrain binary (default SOURCE_DIR/build/modtrain)
#     SOURCE_DIR  the repository (default: two levels above this script)
#
# A real --time limit with --signal=B:USR1@90 would take minutes; the test
# sends the same signal the same way (to the batch shell only) with
# `scancel --signal=USR1 --batch JOBID` once Epoch[0] is in the log.
#
# Steps:
#   1. the plumbing, with a stand-in for modtrain (2 ranks under mpirun; one
#      epoch per 0.4 s, 8 epochs; on SIGUSR1 each rank saves its epoch and exits 3, on
#      a new start it continues from the saved epoch): the job is requeued
#      (Restarts=1, SLURM_RESTART_COUNT=1 in the log), the trap ran, the
#      script saw status 3 and requeued, the second start resumed (no epoch
#      logged twice), the job ends COMPLETED with exit 0:0;
#   2. the same with the real modtrain, 2 ranks, on jobs/configs/tutorial.ini
#      made long enough (data.num_samples=MT_SLURM_RQ_SAMPLES, default 65536,
#      train.num_epoch=MT_SLURM_RQ_EPOCHS, default 6) with kvstore dist_sync
#      and checkpoints under the test's temp dir, resume=auto; then an
#      uninterrupted run of the same config (train.sbatch, 2 ranks), and the
#      final checkpoints' /arg and /aux compared with h5diff (exact: bit for
#      bit, as the issue asks for the same world size).
# Step 2 needs the command's preemption support: it runs when `modtrain
# --help` lists exit status 3 among its exit codes. Until then the test ends
# with exit 77 (ctest: skipped) after step 1 passed, saying so;
# MT_SLURM_REQUIRE_TRAIN=1 makes that a failure.
#
# Exit: 0 pass, 1 fail, 77 skip. Each job is waited for at most
# MT_SLURM_JOB_TIMEOUT s (default 180). MT_SLURM_KEEP=1 keeps the temp dir.
set -uo pipefail
MT_ME=test_slurm_requeue
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${2:-$(cd "$here/../.." && pwd)}
modtrain=${1:-$src/build/modtrain}
# the jobs run in the test's temp dir: an absolute path
[[ $modtrain == /* ]] || modtrain=$PWD/$modtrain
job_timeout=${MT_SLURM_JOB_TIMEOUT:-180}
rq_samples=${MT_SLURM_RQ_SAMPLES:-65536}
rq_epochs=${MT_SLURM_RQ_EPOCHS:-6}
MT_EXIT_REQUEUE=3 # as in jobs/train-requeue.sbatch
t0=$SECONDS

show_log_lines=80
# work dir, lib.sh, clean-up on exit, fail, step, show_log, start_slurm
. "$here/testlib.sh"

# wait_for_line FILE REGEX JOBID TIMEOUT_S: until FILE has a line matching
# REGEX; fails the test when the job ends or the time runs out first
wait_for_line() {
  local file=$1 re=$2 id=$3 timeout_s=$4 start=$SECONDS state
  while ! grep -q -- "$re" "$file" 2>/dev/null; do
    state=$(mt_job_field "$id" JobState)
    case $state in
      COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY)
        show_log "$file"
        fail "job $id ended ($state) before its log showed /$re/"
        ;;
      PENDING) mt_job_unrunnable "$id" && fail "job $id cannot start" ;;
    esac
    ((SECONDS - start < timeout_s)) || { show_log "$file"; fail "job $id: no /$re/ in its log after ${timeout_s} s"; }
    sleep 0.1
  done
}

# requeue_job NAME OUT EXPECT_LAST_EPOCH SBATCH_ARGS...: submits
# train-requeue.sbatch, sends SIGUSR1 to the batch shell after Epoch[0], waits
# for the end, and checks the requeue cycle in the log; sets JOB.
requeue_job() {
  local name=$1 out=$2 last=$3 state restarts first n e
  shift 3
  JOB=$(sbatch --parsable -o "$out" "$@") || fail "$name: sbatch failed"
  JOB=${JOB%%;*}
  wait_for_line "$out" '^Epoch\[0\] ' "$JOB" "$job_timeout"
  scancel --signal=USR1 --batch "$JOB" || fail "$name: scancel --signal=USR1 --batch $JOB failed"
  step "$name: job $JOB: Epoch[0] logged, sent SIGUSR1 to its batch shell"
  state=$(mt_wait_job "$JOB" "$job_timeout")
  restarts=$(mt_job_field "$JOB" Restarts)
  if [ "$state" != COMPLETED ] || [ "$(mt_job_field "$JOB" ExitCode)" != 0:0 ]; then
    show_log "$out"
    scontrol show job "$JOB" >&2
    fail "$name: job $JOB ended $state, exit $(mt_job_field "$JOB" ExitCode) (want COMPLETED 0:0)"
  fi
  # the first start's part of the log: up to the restart line
  first=$(sed '/SLURM_RESTART_COUNT=1/,$d' "$out")
  grep -q 'got SIGUSR1' <<<"$first" || { show_log "$out"; fail "$name: the batch script's USR1 trap did not run"; }
  grep -q "modtrain exited with status $MT_EXIT_REQUEUE after SIGUSR1" <<<"$first" || {
    show_log "$out"
    grep -q "^Epoch\[$last\] " <<<"$first" &&
      fail "$name: training ended before SIGUSR1 took effect: make the run longer"
    fail "$name: the first start did not end with status $MT_EXIT_REQUEUE after SIGUSR1"
  }
  grep -q "requeueing job $JOB" <<<"$first" || { show_log "$out"; fail "$name: the script did not requeue"; }
  [ "$restarts" = 1 ] || { show_log "$out"; fail "$name: job $JOB Restarts=$restarts (want 1)"; }
  grep -q 'SLURM_RESTART_COUNT=1' "$out" || { show_log "$out"; fail "$name: no SLURM_RESTART_COUNT=1 in the log: not restarted"; }
  grep -q 'SLURM_RESTART_COUNT=2' "$out" && { show_log "$out"; fail "$name: restarted twice"; }
  # resumed, not started over: every epoch's first line appears once
  for ((e = 0; e <= last; e++)); do
    n=$(grep -c "^Epoch\[$e\] Train-" "$out")
    [ "$n" -eq 1 ] || { show_log "$out"; fail "$name: $n 'Epoch[$e] Train-' lines (want 1: resumed, rank 0 only)"; }
  done
}

[ -x "$modtrain" ] || fail "no modtrain binary at $modtrain (build it, or pass its path)"
[ -r "$src/jobs/train-requeue.sbatch" ] || fail "no $src/jobs/train-requeue.sbatch"

start_slurm

# ---- 1. the requeue plumbing with a stand-in --------------------------------
# Each rank: epochs from the saved one (file $STANDIN_STATE, written by rank 0)
# to 7; SIGUSR1 -> rank 0 saves the current epoch, every rank exits 3.
cat >"$work/standin.sh" <<'EOF'
#!/usr/bin/env bash
state=$STANDIN_STATE
rank=${PMIX_RANK:-0}
start=0
[ -s "$state" ] && start=$(cat "$state")
[ "$rank" = 0 ] && echo "standin: rank $rank of ${OMPI_COMM_WORLD_SIZE:-?} starts at epoch $start"
stop=0
trap 'stop=1' USR1
for ((e = start; e < 8; e++)); do
  sleep 0.4 &
  wait $!
  if [ $stop = 1 ]; then
    [ "$rank" = 0 ] && { echo "$e" >"$state"; echo "standin: checkpoint at epoch $e"; }
    # the others exit a little later, as after a barrier: the first rank to
    # exit non-zero makes mpirun kill the rest
    [ "$rank" = 0 ] || sleep 0.5
    exit 3
  fi
  [ "$rank" = 0 ] && echo "Epoch[$e] Train-accuracy=1.0"
done
exit 0
EOF
chmod +x "$work/standin.sh"
out=$work/standin.out
STANDIN_STATE=$work/standin.state MODTRAIN=$work/standin.sh \
  requeue_job stand-in "$out" 7 --ntasks-per-node=2 "$src/jobs/train-requeue.sbatch" cfg.ini
grep -q "^standin: rank 0 of 2 starts at epoch [1-9]" "$out" ||
  { show_log "$out"; fail "stand-in: the second start did not continue from the saved epoch"; }
step "1. stand-in: job $JOB signalled, exited $MT_EXIT_REQUEUE, requeued (Restarts=1), resumed, COMPLETED"

# ---- 2. the real modtrain ---------------------------------------------------
if ! "$modtrain" --help 2>/dev/null | sed -n '/^exit codes/,$p' | grep -qE "^ +$MT_EXIT_REQUEUE "; then
  if [ "${MT_SLURM_REQUIRE_TRAIN:-0}" = 1 ]; then
    fail "modtrain --help lists no exit status $MT_EXIT_REQUEUE (requeue): no preemption support yet"
  fi
  echo "$MT_ME: SKIP: step 1 passed; step 2 needs modtrain's preemption support (exit status $MT_EXIT_REQUEUE in --help)"
  exit 77
fi
command -v h5diff >/dev/null || fail "h5diff not found (hdf5-tools)"
config=$src/jobs/configs/tutorial.ini
[ -r "$config" ] || fail "no $config"
common=(--set "data.num_samples=$rq_samples" --set "train.num_epoch=$rq_epochs"
  --set train.kvstore=dist_sync --set checkpoint.period=1)
last=$((rq_epochs - 1))
final=$(printf '%04d' "$rq_epochs")

mkdir -p "$work/rq" "$work/ref"
out=$work/requeue.out
MODTRAIN=$modtrain requeue_job modtrain "$out" "$last" --ntasks-per-node=2 \
  "$src/jobs/train-requeue.sbatch" "$config" "${common[@]}" \
  --set "checkpoint.prefix=$work/rq/ckpt" --set checkpoint.resume=auto
[ -s "$work/rq/ckpt-$final.h5" ] || { show_log "$out"; ls -l "$work/rq" >&2; fail "no final checkpoint rq/ckpt-$final.h5"; }
step "2a. modtrain: job $JOB checkpointed on SIGUSR1, requeued, resumed, COMPLETED"

ref=$work/ref.out
JOB=$(MODTRAIN=$modtrain sbatch --parsable -o "$ref" --ntasks-per-node=2 "$src/jobs/train.sbatch" \
  "$config" "${common[@]}" --set "checkpoint.prefix=$work/ref/ckpt") || fail "sbatch (reference run) failed"
JOB=${JOB%%;*}
state=$(mt_wait_job "$JOB" "$job_timeout")
[ "$state" = COMPLETED ] && [ "$(mt_job_field "$JOB" ExitCode)" = 0:0 ] ||
  { show_log "$ref"; fail "reference job $JOB: $state, exit $(mt_job_field "$JOB" ExitCode)"; }
[ -s "$work/ref/ckpt-$final.h5" ] || { show_log "$ref"; fail "no final checkpoint ref/ckpt-$final.h5"; }
step "2b. uninterrupted reference run: job $JOB COMPLETED"

for grp in /arg /aux; do
  # h5diff without -d/-p compares exactly; exit 1 = differences, 2 = error
  h5diff -r "$work/ref/ckpt-$final.h5" "$work/rq/ckpt-$final.h5" "$grp" "$grp" >"$work/h5diff$(tr / _ <<<"$grp").txt" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    # /aux may be absent from both (no BatchNorm): not a difference
    if [ "$grp" = /aux ] && ! h5ls "$work/ref/ckpt-$final.h5/aux" >/dev/null 2>&1 &&
      ! h5ls "$work/rq/ckpt-$final.h5/aux" >/dev/null 2>&1; then
      continue
    fi
    head -n 40 "$work/h5diff$(tr / _ <<<"$grp").txt" >&2
    fail "final $grp of the requeued run differs from the uninterrupted run's (h5diff status $rc)"
  fi
done
step "2c. final parameters (/arg, /aux of ckpt-$final.h5) bit for bit equal to the uninterrupted run's"

echo "$MT_ME: PASS ($((SECONDS - t0)) s)"
