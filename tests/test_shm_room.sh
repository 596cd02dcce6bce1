#!/bin/sh
# test_shm_room.sh BIN SRCDIR — a node whose shared-memory file system is
# too small (Docker's default /dev/shm is 64 MiB) must not hang the job.
# Open MPI's shared-window allocation fails on the rank that creates the
# backing file while the others wait in it for that rank; so the kvstore
# looks for room first (kvstore/shm_room.c, mt_shm_room), warns, and the ranks
# reduce through MPI messages instead.
#
# Windows go to a 64 KiB tmpfs (OMPI_MCA_osc_sm_backing_directory), smaller
# than the tutorial's gradient window of 2 x 37 KB: without the check the
# job hangs in MPI_Win_allocate_shared (seen: killed after 60 s). The
# 2-rank tutorial job must finish in time, print the warning, and end with the
# same parameters, bit for bit, as the same job with room (the
# shared-memory path and MPI's sum 2 ranks alike). mount needs root:
# otherwise the test is skipped (exit 77).
set -u
BIN=$1
CFG=$2/jobs/configs/tutorial.ini
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader,tcp \
  OMPI_MCA_pml=ob1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
T=$(mktemp -d /tmp/mt_shm_room.XXXXXX)
MNT=""
cleanup() {
  [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$T/tiny"
if ! mount -t tmpfs -o size=64k tmpfs "$T/tiny" 2>/dev/null; then
  echo "SKIP: cannot mount a tmpfs here (needs root)"
  exit 77
fi
MNT=$T/tiny
failed=0
A="--set train.momentum=0.9 --set train.num_epoch=3"

timeout 60 mpirun -n 2 "$BIN" "$CFG" $A --set checkpoint.prefix="$T/room/m" >"$T/room.log" 2>&1
st=$?
[ $st -eq 0 ] || { echo "FAIL: the job with room: status $st"; cat "$T/room.log"; failed=1; }

start=$(date +%s)
OMPI_MCA_osc_sm_backing_directory=$MNT timeout 60 mpirun -n 2 "$BIN" "$CFG" $A \
  --set checkpoint.prefix="$T/small/m" >"$T/small.log" 2>&1
st=$?
took=$(($(date +%s) - start))
if [ $st -eq 124 ]; then
  echo "FAIL: the job on a full shared-memory file system hung (killed after 60 s)"
  failed=1
elif [ $st -ne 0 ]; then
  echo "FAIL: the job on a full shared-memory file system: status $st"
  cat "$T/small.log"
  failed=1
else
  echo "ok: the job on a 64 KiB shared-memory file system finished in ${took} s"
fi
if grep -q "reduce through MPI messages instead" "$T/small.log"; then
  echo "ok: it said why it does not use shared memory"
else
  echo "FAIL: no warning about the shared-memory file system"
  cat "$T/small.log"
  failed=1
fi
if h5diff -q "$T/room/m-0003.h5" "$T/small/m-0003.h5" /arg /arg >/dev/null 2>&1; then
  echo "ok: the same parameters, bit for bit, as with room"
else
  echo "FAIL: the parameters differ from the job with room"
  failed=1
fi
exit $failed
