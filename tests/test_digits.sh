#!/bin/sh
# test_digits.sh — real images someone else made: scikit-learn's handwritten
# digits (1797 images of 1x8x8) converted by jobs/data/digits_to_h5.py into
# HDF5 files /data [N, 1, 8, 8], trained with jobs/configs/digits-NET.ini
# (NET = mlp or cnn), and the test accuracy checked: the one the command
# reports (its last Validation-accuracy line and the metrics_file's last
# validation event, which must agree) must be >= 0.95, and the accuracy
# computed here from `modtrain predict`'s outputs of the last checkpoint on
# the 297 test images must equal it.
#
#   tests/test_digits.sh BUILD/modtrain SOURCE_DIR mlp|cnn
set -u
M=${1:?usage: test_digits.sh MODTRAIN SOURCE_DIR mlp|cnn}
SRC=${2:?usage: test_digits.sh MODTRAIN SOURCE_DIR mlp|cnn}
NET=${3:?usage: test_digits.sh MODTRAIN SOURCE_DIR mlp|cnn}
CFG="$SRC/jobs/configs/digits-$NET.ini"
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mt_test_digits.XXXXXX)
trap 'rm -rf "$T"' EXIT
export OPENBLAS_NUM_THREADS=1
unset OMPI_COMM_WORLD_SIZE PMI_SIZE PMIX_SIZE

die() {
  echo "FAIL: $*"
  exit 1
}

[ -f "$CFG" ] || die "no config $CFG"
"$PY" -c 'import h5py, numpy' 2>/dev/null || die "$PY lacks h5py or numpy (jobs/setup.sh installs them)"

# the data: the converter finds digits.csv.gz in scikit-learn's package
"$PY" "$SRC/jobs/data/digits_to_h5.py" "$T/data/digits" >"$T/conv.log" 2>&1 ||
  die "digits_to_h5.py failed (python3-sklearn ships the images; jobs/setup.sh installs it): $(cat "$T/conv.log")"
"$PY" - "$T/data/digits" <<'PY' || die "the converted files are not the expected layout"
import sys, h5py, numpy as np
d = sys.argv[1]
n = {"train": 1500, "test": 297}
for part in n:
    with h5py.File(f"{d}/{part}.h5", "r") as f:
        x, y = f["data"][:], f["label"][:]
        assert x.shape == (n[part], 1, 8, 8) and x.dtype == np.float32, x.shape
        assert y.shape == (n[part],) and y.dtype == np.float32, y.shape
        assert 0 <= x.min() and x.max() <= 1 and x.max() == 1, (x.min(), x.max())
        assert set(np.unique(y)) == set(range(10)), np.unique(y)
        assert f.attrs["num_classes"] == 10 and f.attrs["format_version"] == 1
PY

cd "$T" || die "cd $T"
if ! "$M" "$CFG" --check >"$T/check.out" 2>"$T/check.err"; then
  die "--check of $CFG: $(cat "$T/check.err")"
fi
grep -q "1500 samples of (1, 8, 8)" "$T/check.err" || die "--check does not show the 4-D data: $(cat "$T/check.err")"

start=$(date +%s)
"$M" "$CFG" --set train.metrics_file="$T/m.jsonl" --set checkpoint.prefix="$T/ck/digits" \
  >"$T/out" 2>"$T/err" || die "training failed: $(tail -c 600 "$T/err")"
secs=$(($(date +%s) - start))
acc=$(sed -n 's/^Epoch\[[0-9]*\] Validation-accuracy=//p' "$T/out" | tail -n 1)
[ -n "$acc" ] || die "no Validation-accuracy line: $(tail -c 600 "$T/out")"
epochs=$(grep -c '^Epoch\[[0-9]*\] Validation-accuracy=' "$T/out")
ckpt=$(printf '%04d' "$epochs")
[ -f "$T/ck/digits-$ckpt.h5" ] || die "no checkpoint $T/ck/digits-$ckpt.h5 after $epochs epochs"
"$M" predict "$CFG" --epoch "$epochs" --set checkpoint.prefix="$T/ck/digits" --out "$T/pred.h5" \
  >"$T/pred.out" 2>"$T/pred.err" || die "predict failed: $(cat "$T/pred.err")"

"$PY" - "$T" "$acc" <<'PY' || exit 1
import json, sys, h5py, numpy as np
t, printed = sys.argv[1], float(sys.argv[2])
ev = [json.loads(l) for l in open(f"{t}/m.jsonl")]
val = [e for e in ev if e["event"] == "validation"]
reported = val[-1]["metrics"]["accuracy"]
with h5py.File(f"{t}/pred.h5", "r") as f:
    p = f["pred/softmax_output"][:]
with h5py.File(f"{t}/data/digits/test.h5", "r") as f:
    y = f["label"][:]
assert p.shape == (297, 10), p.shape
computed = float(np.mean(p.argmax(axis=1) == y))
print(f"test accuracy: printed {printed:.6f}, metrics_file {reported:.6f}, "
      f"from predict {computed:.6f} ({int(round(computed * 297))}/297)")
ok = True
if abs(reported - printed) > 1e-6:
    print("FAIL: the metrics_file and the Validation-accuracy line disagree"); ok = False
if abs(computed - reported) > 1e-6:
    print("FAIL: the reported accuracy is not the predictions' accuracy"); ok = False
if reported < 0.95:
    print(f"FAIL: test accuracy {reported:.4f} < 0.95"); ok = False
sys.exit(0 if ok else 1)
PY
echo "digits-$NET: $epochs epochs in ${secs}s, test accuracy $acc"
