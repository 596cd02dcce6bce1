#!/bin/sh
# test_mxnet_cli.sh — MXNet models in and out of the `modtrain` command
# (issue 19), against files real MXNet 1.9.1 wrote (tests/fixtures/mxnet,
# README there; CI needs no MXNet):
#   in:  predict / score with an MXNet checkpoint (--symbol, --params) give
#        MXNet's outputs; training from [model] params = mlp-0000.params
#        starts from exactly those parameters (its BatchNorm statistics after
#        the first batch are MXNet's); allow_missing fine-tunes a changed
#        network; a shape that differs is one error naming the parameter,
#        the file and the config's line.
#   out: `modtrain export` of a committed modtrain checkpoint is, byte for
#        byte, the file MXNet wrote after loading it (make_export_fixture.py),
#        and MXNet's forward of it is modtrain's prediction; the exported
#        arrays are the checkpoint's bit for bit; also_params writes the same
#        file beside each checkpoint.
#
#   tests/test_mxnet_cli.sh BUILD/modtrain SOURCE_DIR
set -u
M=${1:?usage: test_mxnet_cli.sh MODTRAIN SOURCE_DIR}
SRC=${2:?usage: test_mxnet_cli.sh MODTRAIN SOURCE_DIR}
F="$SRC/tests/fixtures/mxnet"
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mt_test_mxnet_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
export OPENBLAS_NUM_THREADS=1 PYTHONPATH="$SRC/tests"
unset OMPI_COMM_WORLD_SIZE PMI_SIZE PMIX_SIZE MODTRAIN_LOG
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
expect() {
  want=$1
  shift
  "$@" >"$T/out" 2>"$T/err"
  got=$?
  [ "$got" -eq "$want" ] || fail "exit $got, expected $want: $* ($(head -c 600 "$T/err"))"
}
has() { grep -q -- "$2" "$1" || fail "no '$2' in $1: $(head -c 600 "$1")"; }

# MXNet's batch of a fixture as an HDF5 dataset file: /data, /label
batch_h5() { # NET-io.params OUT.h5 [label key]
  $PY - "$1" "$2" "${3:-softmax_label}" <<'PY' || fail "cannot write $2 from $1"
import sys, h5py, numpy as np
from mxnet_params import load
io = load(sys.argv[1])
with h5py.File(sys.argv[2], "w") as f:
    f["data"] = io["data"]
    f["label"] = io[sys.argv[3]] if sys.argv[3] in io else np.zeros(len(io["data"]), "f4")
PY
}
# max |pred - MXNet's out_eval:0| <= tol
close_to_mxnet() { # PRED.h5 NET-io.params TOL WHAT
  $PY - "$@" <<'PY' || fail "$4: modtrain's prediction differs from MXNet's out_eval:0"
import sys, h5py, numpy as np
from mxnet_params import load
with h5py.File(sys.argv[1]) as f:
    p = f["pred/softmax_output"][()]
want = load(sys.argv[2])["out_eval:0"]
d = float(np.abs(p - want).max()) if p.shape == want.shape else float("inf")
print("%s: max |modtrain - MXNet| = %g" % (sys.argv[4], d))
sys.exit(0 if d <= float(sys.argv[3]) else 1)
PY
}

# ---------------------------------------------------------------- in
batch_h5 "$F/mlp-io.params" "$T/mlp.h5"
cat >"$T/ft.ini" <<EOF
[data]
train = $T/mlp.h5
val = $T/mlp.h5
batch_size = 4
shuffle = false
[model]
symbol = $F/mlp-symbol.json
params = $F/mlp-0000.params
[train]
num_epoch = 1
learning_rate = 1e-30   ; no visible step: the weights stay the file's
[checkpoint]
prefix = $T/ck/ft
also_params = true
EOF

# predict / score with MXNet's checkpoint: the network of --symbol, or the config's
expect 0 "$M" predict "$T/ft.ini" --symbol "$F/mlp-symbol.json" --params "$F/mlp-0000.params" \
  --out "$T/p1.h5"
has "$T/err" "predictions written to $T/p1.h5"
close_to_mxnet "$T/p1.h5" "$F/mlp-io.params" 1e-6 "predict --symbol --params (mlp)"
expect 0 "$M" predict "$T/ft.ini" --params "$F/mlp-0000.params" --out "$T/p2.h5"
close_to_mxnet "$T/p2.h5" "$F/mlp-io.params" 1e-6 "predict --params, the config's network (mlp)"
expect 0 "$M" score "$T/ft.ini" --symbol "$F/mlp-symbol.json" --params "$F/mlp-0000.params"
want=$($PY -c "
from mxnet_params import load
io = load('$F/mlp-io.params')
print('accuracy=%f' % (io['out_eval:0'].argmax(1) == io['softmax_label']).mean())")
has "$T/out" "^$want\$"
# LeNet (convolutions, pooling), MXNet's own symbol file
batch_h5 "$F/lenet-io.params" "$T/lenet.h5"
printf '[data]\ntrain = %s\nbatch_size = 4\n[model]\nsymbol = %s\n' "$T/lenet.h5" \
  "$F/lenet-symbol.json" >"$T/lenet.ini"
expect 0 "$M" predict "$T/lenet.ini" --data train --symbol "$F/lenet-symbol.json" \
  --params "$F/lenet-0000.params" --out "$T/pl.h5"
close_to_mxnet "$T/pl.h5" "$F/lenet-io.params" 1e-5 "predict --symbol --params (lenet)"
# usage: --epoch or --params, --symbol only with --params
expect 2 "$M" predict "$T/ft.ini" --epoch 1 --params "$F/mlp-0000.params"
has "$T/err" "usage"
expect 2 "$M" score "$T/ft.ini" --symbol "$F/mlp-symbol.json"
# another network's parameters: the first name it lacks, with the file
expect 1 "$M" predict "$T/lenet.ini" --data train --params "$F/mlp-0000.params"
has "$T/err" "^modtrain: error: --params: '$F/mlp-0000.params' holds parameter 'fc1_weight', which the network does not have"

# fine-tuning from MXNet's parameters: every one taken (listed at debug
# level), the weights unchanged by a 1e-30 step, and BatchNorm's moving
# statistics after the first training batch MXNet's (aux_after:)
expect 0 env MODTRAIN_LOG=debug "$M" "$T/ft.ini"
has "$T/err" "^modtrain: initial parameters from $F/mlp-0000.params: 8 of 8 taken$"
for p in fc1_weight fc1_bias bn1_gamma bn1_beta fc2_weight fc2_bias bn1_moving_mean bn1_moving_var; do
  has "$T/err" "\[modtrain DEBUG params\] $p (.*): taken from $F/mlp-0000.params"
done
has "$T/out" "^Saved MXNet parameters to \"$T/ck/ft-0001.params\"$"
$PY - "$T/ck/ft-0001.h5" "$F/mlp-0000.params" "$F/mlp-io.params" <<'PY' || fail "fine-tuning did not start from mlp-0000.params"
import sys, h5py, numpy as np
from mxnet_params import load
p0, io = load(sys.argv[2]), load(sys.argv[3])
with h5py.File(sys.argv[1]) as f:
    for k in f["arg"]:
        assert np.array_equal(f["arg"][k][()], p0["arg:" + k]), k
    for k in f["aux"]:
        d = np.abs(f["aux"][k][()] - io["aux_after:" + k]).max()
        print("%s after the first batch: max |modtrain - MXNet| = %g" % (k, d))
        assert d <= 1e-6, k
PY
# also_params: P-0001.params beside P-0001.h5 holds its arrays bit for bit,
# and `export` writes the same bytes
$PY - "$T/ck/ft-0001.h5" "$T/ck/ft-0001.params" <<'PY' || fail "also_params: ft-0001.params differs from ft-0001.h5"
import sys, h5py, numpy as np
from mxnet_params import load
p = load(sys.argv[2])
with h5py.File(sys.argv[1]) as f:
    want = ["arg:" + k for k in f["arg"]] + ["aux:" + k for k in f["aux"]]
    assert sorted(p) == sorted(want), (sorted(p), want)
    for k, v in p.items():
        g, n = k.split(":")
        assert v.dtype == np.float32 and np.array_equal(v, f[g][n][()]), k
PY
expect 0 "$M" export "$T/ft.ini" --epoch 1 --out "$T/exp/ft"
has "$T/err" "wrote $T/exp/ft-symbol.json and $T/exp/ft-0001.params (6 arg, 2 aux arrays)"
cmp -s "$T/exp/ft-0001.params" "$T/ck/ft-0001.params" || fail "export and also_params wrote different bytes"
# the exported checkpoint predicts as the HDF5 one, bit for bit (mt_params_load vs the checkpoint)
expect 0 "$M" predict "$T/ft.ini" --epoch 1 --out "$T/pe.h5"
expect 0 "$M" predict "$T/ft.ini" --symbol "$T/exp/ft-symbol.json" --params "$T/exp/ft-0001.params" \
  --out "$T/pp.h5"
$PY -c "
import h5py, numpy as np, sys
a = h5py.File('$T/pe.h5')['pred/softmax_output'][()]
b = h5py.File('$T/pp.h5')['pred/softmax_output'][()]
sys.exit(0 if np.array_equal(a, b) else 1)" || fail "predict from the export differs from predict --epoch 1"
# a modtrain checkpoint .h5 as [model] params
expect 0 "$M" "$T/ft.ini" --set model.params="$T/ck/ft-0001.h5" --set checkpoint.prefix=none \
  --set checkpoint.also_params=false
has "$T/err" "initial parameters from $T/ck/ft-0001.h5: 8 of 8 taken"
expect 2 "$M" "$T/ft.ini" --set checkpoint.prefix=none
has "$T/err" "\[checkpoint\] also_params: also_params writes PREFIX-EEEE.params beside each checkpoint: set \[checkpoint\] prefix"

# allow_missing: a changed network (fc2 replaced by fc3) takes fc1 and bn1,
# initializes fc3, ignores the file's fc2
cat >"$T/chg.ini" <<EOF
[data]
train = $T/mlp.h5
batch_size = 4
[model]
layers = FullyConnected fc1 num_hidden=16
         BatchNorm bn1 fix_gamma=false
         Activation relu1 act_type=relu
         FullyConnected fc3 num_hidden=5
         SoftmaxOutput softmax
params = $F/mlp-0000.params
[train]
num_epoch = 1
EOF
expect 2 "$M" "$T/chg.ini" --set model.allow_missing=true --set model.params=none
has "$T/err" "\[model\] allow_missing: allow_missing applies to \[model\] params, which is not set"
expect 1 "$M" "$T/chg.ini"
has "$T/err" "^modtrain: error: $T/chg.ini:10: \[model\] params: '$F/mlp-0000.params' holds parameter 'fc2_weight', which the network does not have (set \[model\] allow_missing = true"
expect 0 env MODTRAIN_LOG=debug "$M" "$T/chg.ini" --set model.allow_missing=true
has "$T/err" "initial parameters from $F/mlp-0000.params: 6 of 8 taken (the others: xavier magnitude=2)"
has "$T/err" "\[modtrain DEBUG params\] fc3_weight (5, 16): initialized by xavier magnitude=2"
has "$T/err" "\[modtrain DEBUG params\] fc1_weight (16, 12): taken from"
has "$T/err" "parameter 'fc2_weight' of '$F/mlp-0000.params' is not in the network: ignored"
# a shape that differs: the parameter, both shapes, the file, the config's line
sed 's/fc1 num_hidden=16/fc1 num_hidden=8/' "$T/chg.ini" >"$T/shape.ini"
expect 1 "$M" "$T/shape.ini" --set model.allow_missing=true
has "$T/err" "^modtrain: error: $T/shape.ini:10: \[model\] params: parameter 'fc1_weight' has shape (16, 12) in '$F/mlp-0000.params', but the network's is (8, 12)$"

# the README's example: MXNet's LeNet with a new classifier, run from the
# repository's root (its params path is relative), one short epoch
(cd "$SRC" && "$M" jobs/configs/lenet-finetune.ini --set train.num_epoch=1 \
  --set data.num_samples=100 >"$T/out" 2>"$T/err") || fail "lenet-finetune.ini: $(cat "$T/err")"
has "$T/err" "^modtrain: initial parameters from tests/fixtures/mxnet/lenet-0000.params: 6 of 8 taken (the others: xavier magnitude=2)$"
has "$T/out" "^Epoch\[0\] Validation-accuracy="

# --------------------------------------------------------------- out
# a committed modtrain checkpoint of the tutorial MLP, exported: the bytes
# MXNet 1.9.1 wrote after loading modtrain's export, and MXNet's forward
printf '[data]\ntrain = synthetic\nfeature_dim = 16\n[model]\nlayers = FullyConnected fc1 num_hidden=64\n  Activation relu1 act_type=relu\n  FullyConnected fc2 num_hidden=10\n  SoftmaxOutput softmax\n[checkpoint]\nprefix = %s\n' \
  "$F/export" >"$T/exp.ini"
expect 0 "$M" export "$T/exp.ini" --epoch 1 --out "$T/mx/export"
cmp "$T/mx/export-0001.params" "$F/export-mxnet-0001.params" ||
  fail "modtrain export differs from the file MXNet wrote (export-mxnet-0001.params)"
cmp "$T/mx/export-0001.params" "$F/export-0001.params" ||
  fail "modtrain export differs from the committed modtrain export (export-0001.params)"
batch_h5 "$F/export-io.params" "$T/exp.h5"
printf '[data]\ntrain = %s\nbatch_size = 8\n[model]\nsymbol = %s\n' "$T/exp.h5" "$T/mx/export-symbol.json" \
  >"$T/expp.ini"
expect 0 "$M" predict "$T/expp.ini" --data train --symbol "$T/mx/export-symbol.json" \
  --params "$T/mx/export-0001.params" --out "$T/px.h5"
close_to_mxnet "$T/px.h5" "$F/export-io.params" 1e-6 "MXNet's forward of modtrain's export"
expect 2 "$M" export "$T/exp.ini"
has "$T/err" "usage: modtrain export CONFIG --epoch E"
expect 1 "$M" export "$T/exp.ini" --epoch 7 --out "$T/mx/none"
has "$T/err" "export-0007.h5"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "test_mxnet_cli: all passed"
