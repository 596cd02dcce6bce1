#!/bin/sh
# test_gpu_ranks.sh BIN SRCDIR — the modtrain command with GPU contexts, 1
# and 2 ranks, against one rank (registered in the -DMT_CUDA_EMU=ON build,
# where the CPU emulation of CUDA gives every rank two devices; on a real GPU
# bench/gpu-check.sh does the same). After 3 epochs of the tutorial with
# momentum, every parameter agrees with 1 rank on gpu(0) to 1e-5 (h5diff -d):
#   - 2 ranks with context = gpu, which puts node rank r on GPU r (the log
#     says rank 1 took gpu(1)), with dist_sync (GPU buckets staged through
#     pinned host memory into MPI) and with hier (the node's sum through
#     NCCL across the two ranks' GPUs, which the log must say);
#   - 1 rank with contexts gpu:0,1 (peer copies), and gpu:0,0;
#   - 2 ranks with contexts gpu:0,1 and the nccl kvstore (NCCL across each
#     rank's devices, then MPI);
#   - 1 rank on cpu (the GPU path against the CPU path).
# And failures on GPU contexts end the whole 2-rank job promptly, saying why:
#   - a NaN injected into rank 0's gradients (MODTRAIN_FAULT kind=nan): the
#     error names epoch and batch and "NaN or Inf";
#   - rank 1 failing with an error (kind=error): the job ends, no hang.
# h5diff options leaving out each parameter's attributes (its xxh3 digest
# differs whenever its elements do, within the tolerance or not)
noattrs() { h5ls "$1/arg" | awk '{printf " --exclude-attribute /arg/%s", $1}'; }
set -u
BIN=$1
CFG=$2/jobs/configs/tutorial.ini
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader,tcp \
  OMPI_MCA_pml=ob1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1 MODTRAIN_LOG=debug
T=$(mktemp -d /tmp/mt_gpu_ranks.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
failed=0
passed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
A="--set train.momentum=0.9 --set train.num_epoch=3"
# run NAME NP CONTEXT KVSTORE: trains into NAME/
run() {
  timeout 300 mpirun -n "$2" "$BIN" "$CFG" $A --set train.context="$3" --set train.kvstore="$4" \
    --set checkpoint.prefix="$1/m" >"$1.log" 2>&1
}
if ! run one 1 gpu dist_sync; then
  echo "FAIL: 1 rank on gpu(0)"
  cat one.log
  exit 1
fi
for c in "two 2 gpu dist_sync" "hier 2 gpu hier" "ctx01 1 gpu:0,1 local" "ctx00 1 gpu:0,0 local" \
  "nccl 2 gpu:0,1 nccl" "cpu 1 cpu dist_sync"; do
  set -- $c
  if ! run "$@"; then
    bad "$1 ($2 ranks, context $3, kvstore $4) did not finish"
    tail -5 "$1.log"
  elif h5diff -d 1e-5 $(noattrs one/m-0003.h5) one/m-0003.h5 "$1/m-0003.h5" /arg /arg >"$1.diff" 2>&1; then
    ok "$2 rank(s), context $3, kvstore $4: the parameters of 1 rank on gpu(0) to 1e-5"
  else
    bad "$1 ($2 ranks, context $3, kvstore $4) differs from 1 rank on gpu(0)"
    head -20 "$1.diff"
  fi
done
# fault KIND EXPECT: 2 ranks on GPUs, rank R fails at epoch 0 batch 2
fault() {
  MODTRAIN_FAULT="rank=$1,epoch=0,batch=2,kind=$2" timeout 60 mpirun -n 2 "$BIN" "$CFG" \
    --set train.context=gpu --set train.num_epoch=50 --set checkpoint.prefix=f$2/m >"f$2.log" 2>&1
  rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "$3" "f$2.log"; then
    ok "kind=$2 on rank $1 ends the GPU job (exit $rc) with '$3'"
  else
    bad "kind=$2 on rank $1: exit $rc (124: hung), or no '$3' in the log"
    tail -5 "f$2.log"
  fi
}
fault 0 nan "Epoch\[0\] Batch\[2\]: a gradient on gpu(0) has NaN or Inf"
fault 1 error "injected"

# expect NAME TEXT WHAT: NAME's log holds TEXT
expect() {
  if grep -qF "$2" "$1.log"; then ok "$3"; else bad "$3: no '$2' in $1.log"; fi
}
expect two "rank 1 (node rank 1): contexts gpu(1)" "context = gpu puts node rank 1 on gpu(1)"
expect hier "their sum goes through NCCL" "hier sums the node through NCCL across distinct GPUs"
echo "test_gpu_ranks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
