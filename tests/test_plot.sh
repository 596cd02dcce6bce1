#!/bin/sh
# test_plot.sh — training curves as a picture (issue 19 item 4): a real
# short run writes [train] metrics_file, jobs/plot_metrics.py draws it with
# matplotlib, and the PNG is checked: the PNG signature and IHDR size, then
# its pixels through matplotlib's image reader: not blank (pixel variance),
# the epoch-mean dots' colour (tab:red) and the first metric's line colour
# (tab:blue) present; a metrics file that is not JSON is an error.
#
#   tests/test_plot.sh BUILD/modtrain SOURCE_DIR
set -u
M=${1:?usage: test_plot.sh MODTRAIN SOURCE_DIR}
SRC=${2:?usage: test_plot.sh MODTRAIN SOURCE_DIR}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mt_test_plot.XXXXXX)
trap 'rm -rf "$T"' EXIT
export OPENBLAS_NUM_THREADS=1 MODTRAIN_NO_PROGRESS=1
unset OMPI_COMM_WORLD_SIZE PMI_SIZE PMIX_SIZE MODTRAIN_LOG
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

"$M" "$SRC/jobs/configs/tutorial.ini" --set train.num_epoch=4 --set train.speedometer=3 \
  --set train.eval_metric=acc,ce --set train.metrics_file="$T/m.jsonl" >"$T/out" 2>"$T/err" ||
  fail "training run: $(cat "$T/err")"
n=$(grep -c '"event": "train_epoch"' "$T/m.jsonl")
[ "$n" -eq 4 ] || fail "metrics file: $n train_epoch lines, expected 4"

$PY "$SRC/jobs/plot_metrics.py" "$T/m.jsonl" -o "$T/curves.png" --title "tutorial" >"$T/plot.out" 2>&1 ||
  fail "plot_metrics.py: $(cat "$T/plot.out")"
grep -q "metrics accuracy, cross-entropy" "$T/plot.out" || fail "plot summary: $(cat "$T/plot.out")"

$PY - "$T/curves.png" <<'PY' || fail "the PNG"
import struct, sys
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.image as mpimg

path = sys.argv[1]
raw = open(path, "rb").read()
assert raw[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
assert raw[12:16] == b"IHDR", "no IHDR chunk"
w, h = struct.unpack(">II", raw[16:24])
# 8 x 2.8*3 inches at 100 dpi: three panels (accuracy, cross-entropy, speed)
assert w == 800 and 830 <= h <= 850, (w, h)
img = mpimg.imread(path)  # floats in [0, 1], H x W x 4
assert img.shape[:2] == (h, w), img.shape
rgb = (img[:, :, :3] * 255).round().astype(int)
var = rgb.astype(float).var()
assert var > 100, "blank picture: pixel variance %.1f" % var
white = (rgb == 255).all(axis=2).mean()
assert 0.3 < white < 0.98, "white share %.3f" % white

def count(hexcol, tol=12):
    c = np.array([int(hexcol[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb - c).max(axis=2) <= tol).sum())

red, blue = count("#d62728"), count("#1f77b4")  # tab:red dots, tab:blue accuracy lines
assert red > 50, "no epoch-mean dots (tab:red pixels: %d)" % red
assert blue > 200, "no accuracy curves (tab:blue pixels: %d)" % blue
print("png %dx%d, variance %.0f, white %.2f, red %d, blue %d" % (w, h, var, white, red, blue))
PY

# a line that is not JSON: an error naming the file and line, exit non-zero
printf '{"event": "train_epoch"}\nnot json\n' >"$T/bad.jsonl"
if $PY "$SRC/jobs/plot_metrics.py" "$T/bad.jsonl" -o "$T/bad.png" >"$T/bad.out" 2>&1; then
  fail "a bad metrics file was plotted"
fi
grep -q "bad.jsonl:2: not a JSON line" "$T/bad.out" || fail "bad file message: $(cat "$T/bad.out")"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "test_plot: all passed"
