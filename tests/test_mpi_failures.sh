#!/bin/sh
# test_mpi_failures.sh BIN SRCDIR — one rank failing ends the whole job
# promptly, never a hang (docs/design.md §3, §4): config mismatch between ranks,
# an error on one rank, a rank dying abruptly, SIGKILL of a rank, SIGTERM to
# mpirun, a hung rank caught by the watchdog, NaN in the gradients, a batch
# that does not divide by the ranks. Each case must end within LIMIT seconds
# with the right status and message, and leave no modtrain process behind.
# Faults are injected with MODTRAIN_FAULT (docs/failures.md).
set -u
BIN=$1
SRC=$2
CFG=$SRC/jobs/configs/tutorial.ini
LIMIT=15
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader,tcp \
  OMPI_MCA_pml=ob1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
T=$(mktemp -d /tmp/mt_failures.XXXXXX)
trap 'pkill -9 -f "seed=4242" 2>/dev/null; rm -rf "$T"' EXIT
failed=0
passed=0
# a long run: 40k samples x 500 epochs; the seed marks our processes
LONG="--set data.num_samples=40000 --set train.num_epoch=500 --set data.seed=4242"

now() { date +%s.%N; }
elapsed() { echo "$(now) $1" | awk '{printf "%.1f", $1 - $2}'; }
no_orphans() {
  sleep 0.5
  if pgrep -f "seed=4242" >/dev/null; then
    echo "FAIL: $1: modtrain processes left behind:"; pgrep -af "seed=4242"; return 1
  fi
  return 0
}
check() { # name expected-status(any-nonzero|N) pattern start rc
  name=$1 want=$2 pat=$3 t0=$4 rc=$5
  dt=$(elapsed "$t0")
  ok=1
  if [ "$want" = nonzero ]; then [ "$rc" -ne 0 ] || ok=0; else [ "$rc" -eq "$want" ] || ok=0; fi
  [ $ok -eq 1 ] || echo "FAIL: $name: exit status $rc, want $want"
  if [ -n "$pat" ] && ! grep -q -- "$pat" "$T/err"; then
    ok=0; echo "FAIL: $name: no '$pat' in stderr:"; tail -5 "$T/err"
  fi
  if awk -v d="$dt" -v l="$LIMIT" 'BEGIN { exit !(d > l) }'; then ok=0; echo "FAIL: $name: took $dt s (limit $LIMIT)"; fi
  no_orphans "$name" || ok=0
  if [ $ok -eq 1 ]; then passed=$((passed + 1)); echo "ok: $name (status $rc, $dt s)"; else failed=$((failed + 1)); fi
}

# 1. ranks started with different configs: an error, not a hang
t0=$(now)
timeout 60 mpirun -n 1 "$BIN" "$CFG" --set data.seed=4242 : -n 1 "$BIN" "$CFG" --set data.seed=4242 \
  --set train.num_epoch=6 >"$T/out" 2>"$T/err"
check "config differs between ranks" 2 "rank 1's differs from rank 0's" "$t0" $?

# 2. an error on one rank ends every rank
t0=$(now)
MODTRAIN_FAULT="rank=1,epoch=0,batch=3,kind=error" timeout 60 mpirun -n 2 "$BIN" "$CFG" $LONG \
  >"$T/out" 2>"$T/err"
check "error on rank 1" nonzero "error (rank 1 of 2)" "$t0" $?

# 3. a rank that dies without a word
t0=$(now)
MODTRAIN_FAULT="rank=1,epoch=0,batch=5,kind=exit" timeout 60 mpirun -n 2 "$BIN" "$CFG" $LONG \
  >"$T/out" 2>"$T/err"
check "rank 1 exits abruptly" nonzero "" "$t0" $?

# 4. SIGKILL of a rank mid-training
t0=$(now)
timeout 60 mpirun -n 2 "$BIN" "$CFG" $LONG >"$T/out" 2>"$T/err" &
job=$!
for i in $(seq 1 200); do grep -q "Epoch\[1\]" "$T/out" 2>/dev/null && break; sleep 0.1; done
victim=$(pgrep -f "modtrain.*seed=4242" | tail -1)
t0=$(now)
[ -n "$victim" ] && kill -9 "$victim"
wait $job
check "SIGKILL of a rank" nonzero "" "$t0" $?

# 5. SIGTERM to mpirun ends all ranks
t0=$(now)
timeout 60 mpirun -n 2 "$BIN" "$CFG" $LONG >"$T/out" 2>"$T/err" &
job=$!
for i in $(seq 1 200); do grep -q "Epoch\[1\]" "$T/out" 2>/dev/null && break; sleep 0.1; done
mp=$(pgrep -f "^mpirun.*seed=4242" | head -1)
t0=$(now)
[ -n "$mp" ] && kill -TERM "$mp"
wait $job
check "SIGTERM to mpirun" nonzero "" "$t0" $?

# 6. a hung rank: the watchdog of the waiting rank ends the job
t0=$(now)
MODTRAIN_FAULT="rank=1,epoch=0,batch=2,kind=hang" timeout 60 mpirun -n 2 "$BIN" "$CFG" $LONG \
  --set train.watchdog=3 >"$T/out" 2>"$T/err"
check "hung rank, watchdog 3 s" nonzero "no progress for" "$t0" $?

# 7. NaN in the gradients stops training, naming epoch and batch
t0=$(now)
MODTRAIN_FAULT="rank=0,epoch=0,batch=2,kind=nan" timeout 60 mpirun -n 2 "$BIN" "$CFG" $LONG \
  >"$T/out" 2>"$T/err"
check "NaN gradient" nonzero "Epoch\[0\] Batch\[2\]" "$t0" $?
grep -q "NaN or Inf" "$T/err" || { echo "FAIL: NaN gradient: no 'NaN or Inf' in stderr"; failed=$((failed + 1)); }

# 8. a batch that does not divide by the ranks: a config error with a hint
t0=$(now)
timeout 60 mpirun -n 3 "$BIN" "$CFG" --set data.seed=4242 >"$T/out" 2>"$T/err"
check "batch 32 over 3 ranks" 2 "not divisible by 3 ranks; use a multiple of 3" "$t0" $?

echo "test_mpi_failures: $passed passed, $failed failed"
[ $failed -eq 0 ]
