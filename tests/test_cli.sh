#!/bin/sh
# test_cli.sh — the `modtrain` command end to end: --help/--version, the
# tutorial job trains (validation accuracy >= 0.9 after 5 epochs), --set,
# --check (its output reads back), Speedometer lines, config errors (exit 2,
# one line naming FILE:LINE or --set and the key), viz (DOT; rendered with
# `dot` when Graphviz is installed), synth, predict and score, the hostile-input blocks of issue 14,
# and image data (issue 15: [N, 1, 8, 8] files, synthetic_shape, tuples in layer lines).
#
#   tests/test_cli.sh BUILD/modtrain SOURCE_DIR
set -u
M=${1:?usage: test_cli.sh MODTRAIN SOURCE_DIR}
SRC=${2:?usage: test_cli.sh MODTRAIN SOURCE_DIR}
JOB="$SRC/jobs/configs/tutorial.ini"
T=$(mktemp -d /tmp/mt_test_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
export OPENBLAS_NUM_THREADS=1
unset OMPI_COMM_WORLD_SIZE PMI_SIZE PMIX_SIZE
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# expect CODE CMD...: runs CMD, stdout in $T/out, stderr in $T/err
expect() {
  want=$1
  shift
  "$@" >"$T/out" 2>"$T/err"
  got=$?
  [ "$got" -eq "$want" ] || fail "exit $got, expected $want: $* ($(head -c 400 "$T/err"))"
}

has() { grep -q -- "$2" "$1" || fail "no '$2' in $1: $(head -c 400 "$1")"; }

# --help: every option and subcommand, the exit codes; --version
expect 0 "$M" --help
for w in --set --resume --check --help --version viz synth predict score export --params --symbol "exit codes" \
  "0  success" "1  runtime error" "2  usage or config error" default; do
  has "$T/out" "$w"
done
expect 0 "$M" --version
grep -Eq '^modtrain [0-9]+\.[0-9]+\.[0-9]+$' "$T/out" || fail "--version: $(cat "$T/out")"
expect 2 "$M"
has "$T/err" "no CONFIG given"
expect 2 "$M" --no-such-option "$JOB"

# the tutorial job: MXNet's lines, the banner, and it learns
expect 0 "$M" "$JOB"
has "$T/err" "world size 1"
has "$T/err" "BLAS kernel"
has "$T/err" "kvstore dist_sync (1 process: local)"
for e in 0 1 2 3 4; do
  has "$T/out" "^Epoch\[$e\] Train-accuracy=[0-9.]*$"
  has "$T/out" "^Epoch\[$e\] Time cost=[0-9.]*$"
  has "$T/out" "^Epoch\[$e\] Validation-accuracy=[0-9.]*$"
done
acc=$(sed -n 's/^Epoch\[4\] Validation-accuracy=//p' "$T/out")
awk -v a="$acc" 'BEGIN { exit !(a >= 0.9) }' || fail "validation accuracy $acc < 0.9"

# --set and Speedometer lines (MXNet's format: tabs between the fields)
expect 0 "$M" "$JOB" --set train.num_epoch=1 --set train.speedometer=5
grep -q '^Epoch\[1\]' "$T/out" && fail "num_epoch=1 ran a second epoch"
grep -Eq "^Epoch\[0\] Batch \[0-5\]	Speed: [0-9.]+ samples/sec	accuracy=[0-9.]+$" "$T/out" ||
  fail "no Speedometer line: $(cat "$T/out")"

# --check: the effective config, which reads back
expect 0 "$M" "$JOB" --check --set data.batch_size=64
has "$T/out" "batch_size = 64"
has "$T/out" "layers = FullyConnected fc1"
cp "$T/out" "$T/effective.ini"
expect 0 "$M" "$T/effective.ini" --check
has "$T/out" "batch_size = 64"

# config errors: exit 2 before training, one line naming file, line and key
printf '[data]\ntrain = synthetic\nbatch_size = -4\n[model]\nlayers = FullyConnected fc num_hidden=10\n  SoftmaxOutput sm\n' >"$T/bad.ini"
expect 2 "$M" "$T/bad.ini"
has "$T/err" "^modtrain: error: $T/bad.ini:3: \[data\] batch_size: -4 is negative"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "the error is not one line: $(cat "$T/err")"
[ -s "$T/out" ] && fail "a bad config trained: $(cat "$T/out")"
printf '[data]\ntrain = synthetic\n[model]\nlayers = FullyConected fc num_hidden=10\n  SoftmaxOutput sm\n' >"$T/bad2.ini"
expect 2 "$M" "$T/bad2.ini"
has "$T/err" "bad2.ini:4: \[model\] layers: unknown op 'FullyConected' (did you mean FullyConnected?)"
expect 2 "$M" "$JOB" --set train.optimizer=adamw
has "$T/err" "^modtrain: error: --set: \[train\] optimizer: unknown optimizer 'adamw'"
expect 2 "$M" "$JOB" --set nosuch.key=1
has "$T/err" "unknown section"
expect 2 "$M" "$T/missing.ini"
has "$T/err" "cannot open the config"
expect 2 "$M" "$JOB" --resume=3
has "$T/err" "needs \[checkpoint\] prefix"

# viz: DOT with the node names and shapes; Graphviz renders it
expect 0 "$M" viz "$JOB"
for w in "digraph" '"data" -> "fc1" \[label="128"\]' '"fc1"' '"relu1"' '"fc2"' '"softmax"' \
  '"softmax_label"'; do
  has "$T/out" "$w"
done
grep -q fc1_weight "$T/out" && fail "viz shows the weights"
if command -v dot >/dev/null 2>&1; then
  dot -Tsvg "$T/out" >"$T/net.svg" || fail "dot -Tsvg rejects the viz output"
  grep -q "<svg" "$T/net.svg" || fail "dot made no SVG"
fi
expect 2 "$M" viz "$T/bad.ini"
has "$T/err" "bad.ini:3"

# synth: usage errors exit 2; a dataset file trains like the in-memory data
expect 2 "$M" synth
has "$T/err" "--classes is required"
expect 0 "$M" synth --classes 10 --dim 128 --samples 320 --seed 0 "$T/train.h5"
expect 0 "$M" synth --classes 10 --dim 128 --samples 320 --seed 0 --part 1 "$T/val.h5"
expect 0 "$M" "$JOB"
grep -v "Time cost" "$T/out" >"$T/mem.log"
expect 0 "$M" "$JOB" --set data.train="$T/train.h5" --set data.val="$T/val.h5"
grep -v "Time cost" "$T/out" >"$T/h5.log"
cmp -s "$T/mem.log" "$T/h5.log" || fail "training from synth files differs from in-memory synthetic data"

# metrics_file: JSON lines with the train_batch, train_epoch and validation events
expect 0 "$M" "$JOB" --set train.metrics_file="$T/m.jsonl" --set train.speedometer=5
if command -v python3 >/dev/null; then
  python3 - "$T/m.jsonl" <<'PY' || fail "metrics_file is not the expected JSON lines"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
kinds = [e["event"] for e in ev]
assert kinds.count("train_epoch") == 5 and kinds.count("validation") == 5, kinds
assert kinds.count("train_batch") == 10, kinds
last = [e for e in ev if e["event"] == "validation"][-1]
assert last["epoch"] == 4 and last["metrics"]["accuracy"] > 0.9, last
PY
fi

# checkpoints, then score and predict from one
expect 0 "$M" "$JOB" --set checkpoint.prefix="$T/ck/m" --set train.num_epoch=2
has "$T/out" "Saved checkpoint to \"$T/ck/m-0002.h5\""
expect 0 "$M" score "$JOB" --epoch 2 --set checkpoint.prefix="$T/ck/m"
has "$T/out" "accuracy="
score_h5=$(cat "$T/out")
expect 0 "$M" predict "$JOB" --epoch 2 --set checkpoint.prefix="$T/ck/m" --out "$T/p.h5"
h5ls "$T/p.h5/pred/softmax_output" 2>/dev/null | grep -q "{320, 10}" || fail "predict: no (320, 10) /pred/softmax_output"
expect 1 "$M" score "$JOB" --epoch 7 --set checkpoint.prefix="$T/ck/m"
has "$T/err" "m-0007.h5"
expect 2 "$M" score "$JOB"
# export (issue 19): the checkpoint as MXNet's P-symbol.json and P-EEEE.params,
# which score reads back to the same metric (tests/test_mxnet_cli.sh: against MXNet)
expect 0 "$M" export "$JOB" --epoch 2 --set checkpoint.prefix="$T/ck/m"
has "$T/err" "wrote $T/ck/m-symbol.json and $T/ck/m-0002.params (4 arg, 0 aux arrays)"
expect 0 "$M" score "$JOB" --symbol "$T/ck/m-symbol.json" --params "$T/ck/m-0002.params"
[ "$(cat "$T/out")" = "$score_h5" ] || fail "score of the export: $(cat "$T/out"), of the checkpoint: $score_h5"
expect 2 "$M" export "$JOB" --epoch 2
has "$T/err" "\[checkpoint\] prefix is not set: no checkpoints to export"
expect 2 "$M" export "$JOB"
has "$T/err" "usage: modtrain export"

# issue 14: hostile data files and output locations. --check opens what it
# cheaply can (data files as datasets, every label once, output locations);
# a training start checks the same before epoch 0; a FIFO never blocks
# (timeout turns a regression into a failure, not a hang).
mkfifo "$T/fifo.h5"
expect 2 timeout -s KILL 20 "$M" "$JOB" --check --set data.train="$T/fifo.h5" --set data.val=none
has "$T/err" "\[data\] train: $T/fifo.h5: is a FIFO (named pipe), not a regular file"
expect 2 timeout -s KILL 20 "$M" "$JOB" --set data.train="$T/train.h5" --set data.val="$T/fifo.h5"
has "$T/err" "\[data\] val: $T/fifo.h5: is a FIFO"
# a FIFO as [model] symbol or [model] params: refused, never a hang
mkfifo "$T/fifo-symbol.json"
expect 2 timeout -s KILL 20 "$M" "$JOB" --check --set model.symbol="$T/fifo-symbol.json" --set model.layers=none
has "$T/err" "symbol file '$T/fifo-symbol.json': not a regular file"
expect 1 timeout -s KILL 20 "$M" "$JOB" --set model.params="$T/fifo-symbol.json" --set train.num_epoch=1
has "$T/err" "not a regular file"
printf 'time,value\n1,2\n' >"$T/text.h5"
expect 2 "$M" "$JOB" --check --set data.train="$T/text.h5" --set data.val=none
has "$T/err" "\[data\] train: $T/text.h5: not an HDF5 file"
PYH5=""
for py in python3 /usr/bin/python3; do
  "$py" -c 'import h5py, numpy' >/dev/null 2>&1 && PYH5=$py && break
done
if [ -n "$PYH5" ]; then
  "$PYH5" - "$T" <<'PY' || fail "h5py could not write the test files"
import sys, h5py, numpy as np
t = sys.argv[1]
x = np.random.default_rng(0).standard_normal((64, 128)).astype("f4")
y = (np.arange(64) % 10).astype("f4")
def w(name, data, label):
    with h5py.File(f"{t}/{name}.h5", "w") as f:
        f["data"] = data
        f["label"] = label
w("f64", x.astype("f8"), y)
w("f16", x.astype("f2"), y)
w("rows", x, y[:60])
for name, v in [("l15", 1.5), ("lnan", np.nan), ("lneg", -1), ("l10", 10)]:
    bad = y.copy()
    bad[37] = v
    w(name, x, bad)
with h5py.File(f"{t}/huge.h5", "w") as f:  # 2^40 rows declared, none written
    f.create_dataset("data", shape=(2**40, 2), dtype="f4")
    f.create_dataset("label", shape=(2**40,), dtype="f4")
with h5py.File(f"{t}/hugec.h5", "w") as f:
    f.create_dataset("data", shape=(2**40, 2), dtype="f4", chunks=(1024, 2))
    f.create_dataset("label", shape=(2**40,), dtype="f4", chunks=(1024,))
PY
  for c in "f16:/data is float16, expected float32" \
    "rows:/data has 64 samples but /label has 60" \
    "l15:/label row 37 is 1.5, not a class index in \[0, 10)" \
    "lnan:/label row 37 is nan: labels must be finite" \
    "lneg:/label row 37 is -1, not a class index in \[0, 10)" \
    "l10:/label row 37 is 10, not a class index in \[0, 10)" \
    "huge:/data declares shape (1099511627776, 2) (8796093022208 bytes) but holds no data" \
    "hugec:/data declares shape (1099511627776, 2) but the chunk holding its last row"; do
    f=${c%%:*}
    expect 2 timeout -s KILL 60 "$M" "$JOB" --check --set data.train="$T/$f.h5" --set data.val=none
    has "$T/err" "^modtrain: error: --set: \[data\] train: $T/$f.h5: ${c#*:}"
  done
  # a training start: the same error, before epoch 0; val's labels too
  expect 2 "$M" "$JOB" --set data.train="$T/l10.h5" --set data.val=none
  has "$T/err" "\[data\] train: $T/l10.h5: /label row 37 is 10"
  grep -q '^Epoch' "$T/out" && fail "trained on a bad label: $(head -c 300 "$T/out")"
  expect 2 "$M" "$JOB" --set data.train="$T/train.h5" --set data.val="$T/lnan.h5"
  has "$T/err" "\[data\] val: $T/lnan.h5: /label row 37 is nan"
  grep -q '^Epoch' "$T/out" && fail "trained with a bad validation label"
  expect 2 "$M" "$JOB" --set data.train="$T/huge.h5" --set data.val=none
  has "$T/err" "$T/huge.h5: /data declares shape (1099511627776, 2)"
else
  echo "SKIP the h5py part of the hostile-file checks: no python3 with h5py"
fi
# output locations: a checkpoint prefix where a directory cannot be, the
# update count past 2^53 (both --check errors naming the key), and a
# metrics_file whose writes fail (exit 1 naming it, the checkpoint written)
expect 2 "$M" "$JOB" --check --set checkpoint.prefix="$T/text.h5/ck/mlp"
has "$T/err" "^modtrain: error: --set: \[checkpoint\] prefix: .*Not a directory"
expect 2 "$M" "$JOB" --check --set train.begin_num_update=9223372036854775807
has "$T/err" "\[train\] begin_num_update: 9223372036854775807 is too large (at most 9007199254740992)"
expect 0 "$M" "$JOB" --check --set train.begin_num_update=9007199254740992
if [ -w /dev/full ]; then
  expect 1 "$M" "$JOB" --set train.metrics_file=/dev/full --set train.num_epoch=2 \
    --set checkpoint.prefix="$T/full/m"
  has "$T/err" "metrics_file /dev/full: writing the train_epoch line failed: No space left on device"
  [ -f "$T/full/m-0001.h5" ] || fail "no checkpoint of the epoch whose metrics line failed"
  grep -q '^Epoch\[1\]' "$T/out" && fail "went on after the metrics_file write failed"
fi

# ---- issue 14, shapes: sizes past the limit (docs/design.md §2), deep
# networks, repeated attributes; each a config error naming the layer
# F1: num_hidden = 2^63 - 1 passed --check and crashed training (SIGSEGV)
sed 's/num_hidden=64/num_hidden=9223372036854775807/' "$JOB" >"$T/f1.ini"
expect 2 "$M" "$T/f1.ini" --check
has "$T/err" "layers: FullyConnected 'fc1': num_hidden=9223372036854775807 is past the largest dim"
expect 2 "$M" "$T/f1.ini"
# a dim that fits, but a weight (2^31 - 1, 128) past the element limit
sed 's/num_hidden=64/num_hidden=2147483647/' "$JOB" >"$T/f1b.ini"
expect 2 "$M" "$T/f1b.ini" --check
has "$T/err" "FullyConnected 'fc1': weight 'fc1_weight': shape (2147483647, 128) has more than"
# the same in a symbol file
cat >"$T/f1.json" <<'JSON'
{"nodes": [{"op": "null", "name": "data", "inputs": []},
 {"op": "null", "name": "fc1_weight", "inputs": []},
 {"op": "null", "name": "fc1_bias", "inputs": []},
 {"op": "FullyConnected", "name": "fc1", "attrs": {"num_hidden": "1152921504606846976"},
  "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
 {"op": "null", "name": "softmax_label", "inputs": []},
 {"op": "SoftmaxOutput", "name": "softmax", "inputs": [[3, 0, 0], [4, 0, 0]]}],
 "arg_nodes": [0, 1, 2, 4], "heads": [[5, 0, 0]]}
JSON
awk '/^layers/ {print "symbol = '"$T"'/f1.json"; skip = 1; next}
     skip && /^ / {next} {skip = 0; print}' "$JOB" >"$T/f1c.ini"
expect 2 "$M" "$T/f1c.ini" --check
has "$T/err" "num_hidden=1152921504606846976 is past the largest dim"
# F11: an attribute given twice
sed 's/num_hidden=64/num_hidden=64 num_hidden=8/' "$JOB" >"$T/f11.ini"
expect 2 "$M" "$T/f11.ini" --check
has "$T/err" "FullyConnected 'fc1': attribute 'num_hidden' is given twice (num_hidden=64, then num_hidden=8"
# F4: 10,000 layers check in well under a second (it took over 10 minutes:
# cubic in the layers); no timing here, the test's timeout is the bound
awk 'BEGIN {
  print "[data]\ntrain = synthetic\nval = none\nnum_classes = 4\nfeature_dim = 4"
  print "num_samples = 32\nbatch_size = 8\n[model]"
  print "layers = FullyConnected fc0 num_hidden=4"
  for (i = 1; i < 9999; i++)
    if (i % 2) print "         Activation a" i " act_type=relu"
    else print "         FullyConnected fc" i " num_hidden=4"
  print "         SoftmaxOutput softmax\n[train]\nnum_epoch = 1"
}' >"$T/deep.ini"
expect 0 "$M" "$T/deep.ini" --check
has "$T/err" "config OK"
grep -q "fc9998 num_hidden=4" "$T/out" || fail "deep.ini: --check does not print its 10,000 layers"

# F12: context = gpu where no GPU can be used is a config error at --check,
# naming the key and why (a CPU-only build, or no visible CUDA device); on a
# machine with a GPU there is nothing to refuse
if ! (command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'); then
  expect 2 "$M" "$JOB" --check --set train.context=gpu
  has "$T/err" "\[train\] context: 'gpu': gpu(0): "
  grep -Eq "no CUDA support|no CUDA device is visible" "$T/err" || fail "context=gpu: no reason given"
fi

# ---- issue 15: image data. A [N, 1, 8, 8] file written by h5py the
# ordinary way: --check and the banner show its shape, viz draws it, a
# Flatten MLP learns from it, a layer that cannot take it is named at its
# line. Synthetic images (synthetic_shape) train the same way; LeNet's
# config checks but for the conv ops while they are missing.
/usr/bin/python3 - "$T" <<'PY' || fail "h5py could not write the image file"
import sys, h5py, numpy as np
t = sys.argv[1]
rng = np.random.default_rng(0)
y = (np.arange(200) % 4).astype("f4")
x = rng.standard_normal((200, 1, 8, 8)).astype("f4") * 0.3
for k in range(4):  # class k: a bright k-th quadrant
    x[y == k, 0, 4 * (k // 2):4 * (k // 2) + 4, 4 * (k % 2):4 * (k % 2) + 4] += 1
with h5py.File(f"{t}/img.h5", "w") as f:
    f["data"] = x
    f["label"] = y
PY
printf '[data]\ntrain = %s\nval = %s\nbatch_size = 20\n[model]\n%s\n%s\n%s\n%s\n%s\n[train]\nnum_epoch = 5\n' \
  "$T/img.h5" "$T/img.h5" "layers = Flatten flat" "  FullyConnected fc1 num_hidden=16" \
  "  Activation relu1 act_type=relu" "  FullyConnected fc2 num_hidden=4" "  SoftmaxOutput softmax" \
  >"$T/img.ini"
expect 0 "$M" "$T/img.ini" --check
has "$T/err" "data $T/img.h5: 200 samples of (1, 8, 8) (validation $T/img.h5: 200 samples of (1, 8, 8))"
expect 0 "$M" "$T/img.ini"
has "$T/err" "200 samples of (1, 8, 8)"
acc=$(sed -n 's/^Epoch\[4\] Validation-accuracy=//p' "$T/out")
awk -v a="$acc" 'BEGIN { exit !(a >= 0.95) }' || fail "image MLP: validation accuracy '$acc' < 0.95"
expect 0 "$M" viz "$T/img.ini"
has "$T/out" '"data" -> "flat" \[label="1x8x8"\]'
has "$T/out" '"flat" -> "fc1" \[label="64"\]'
sed 's/^  FullyConnected fc2 num_hidden=4$/  elemwise_add add inputs=relu1,data\n&/' "$T/img.ini" >"$T/img_bad.ini"
expect 2 "$M" "$T/img_bad.ini" --check
has "$T/err" "^modtrain: error: $T/img_bad.ini:9: \[model\] layers: elemwise_add 'add': .*(a batch of \[data\] train '$T/img.h5' is (20, 1, 8, 8))$"
# synthetic images (tutorial.ini writes feature_dim: it must agree), and a
# tuple written with a space
SYN="--set data.synthetic_shape=(1,8,8) --set data.feature_dim=64 --set data.num_samples=200 --set data.batch_size=20"
expect 0 "$M" "$JOB" $SYN --check
has "$T/out" "synthetic_shape = (1,8,8)"
has "$T/out" "feature_dim = 64"
has "$T/err" "synthetic data (10 classes x samples of (1, 8, 8), 200 samples per set)"
expect 0 "$M" viz "$JOB" $SYN
has "$T/out" '"data" -> "fc1" \[label="1x8x8"\]'
expect 0 "$M" "$JOB" $SYN
acc=$(sed -n 's/^Epoch\[4\] Validation-accuracy=//p' "$T/out")
awk -v a="$acc" 'BEGIN { exit !(a >= 0.9) }' || fail "synthetic images: validation accuracy '$acc' < 0.9"
expect 2 "$M" "$JOB" --check --set data.synthetic_shape=1,8,8 --set data.feature_dim=10
has "$T/err" "\[data\] synthetic_shape: '1,8,8' is 64 features per sample but feature_dim = 10"
sed 's/^\( *\)Activation *relu1 *act_type=relu.*$/&\n\1Dropout drop1 p=0.5 axes=(0, 1)/' "$JOB" >"$T/tuple.ini"
expect 2 "$M" "$T/tuple.ini" --check
has "$T/err" "tuple.ini:[0-9]*: \[model\] layers: Dropout 'drop1': axes='(0,1)' is not supported"
# LeNet (synthetic 1x28x28 out of the box) checks
expect 0 "$M" "$SRC/jobs/configs/lenet.ini" --check
has "$T/err" "synthetic data (10 classes x samples of (1, 28, 28), 1000 samples per set)"

# ---- issue 18 item 4: augmentation keys. Random 7x7 crops of the 8x8
# images padded by 1 (the validation set: the center 7x7), then mirrored.
AUG="--set data.data_shape=1,7,7 --set data.pad=1 --set data.rand_crop=true --set data.rand_mirror=true --set train.num_epoch=2"
expect 0 "$M" "$T/img.ini" $AUG
has "$T/err" "samples cut to 1x7x7 (pad 1, random crop, random mirror)"
grep -q '^Epoch\[1\] Validation-accuracy=' "$T/out" || fail "augmented run: no validation line"
expect 0 "$M" "$T/img.ini" $AUG --check
has "$T/out" "data_shape = 1,7,7"
has "$T/out" "rand_mirror = true"
expect 2 "$M" "$T/img.ini" --check --set data.data_shape=1,7
has "$T/err" "\[data\] data_shape: '1,7' is not 3 whole numbers >= 1"
expect 2 "$M" "$T/img.ini" --check --set data.data_shape=3,7,7
has "$T/err" "\\[data\\] data_shape: 3,7,7 does not fit the samples (1, 8, 8) of '$T/img.h5'"
expect 2 "$M" "$T/img.ini" --check --set data.data_shape=1,9,9 --set data.pad=1
has "$T/err" "(1, 8, 8) of '$T/img.h5' (validation: no pad)"
/usr/bin/python3 -c "import h5py, numpy as np
with h5py.File('$T/flat.h5', 'w') as f:
    f['data'] = np.ones((40, 16), 'f4'); f['label'] = (np.arange(40) % 10).astype('f4')" || fail "h5py: flat.h5"
expect 2 "$M" "$JOB" --check --set data.train=$T/flat.h5 --set data.val=none --set data.rand_mirror=true
has "$T/err" "\\[data\\] rand_mirror: needs images: /data of '$T/flat.h5' must be \\[N, C, H, W\\], it has 2 dimensions"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
