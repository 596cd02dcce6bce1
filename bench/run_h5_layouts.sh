#!/bin/sh
# run_h5_layouts.sh [BUILD_DIR] — issue 18's benchmark: a 60,000 x 784 dataset
# written by h5py in the ordinary ways (contiguous; chunks of 1000 rows;
# gzip-compressed chunks of 1000 rows; uint8 in gzip chunks), then
# bench_h5_layouts on each, shuffled, 1 rank and 2 ranks side by side
# (bench/README.md). Files go to $H5L_DIR (default /tmp/h5l), kept.
set -eu
B=${1:-build-cpu}
D=${H5L_DIR:-/tmp/h5l}
PY=${PYTHON:-/usr/bin/python3}
mkdir -p "$D"
"$PY" - "$D" <<'PY'
import sys, os, h5py, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
n = 60000
x = rng.random((n, 784), dtype=np.float32)
y = (np.arange(n) % 10).astype("f4")
def w(name, **kw):
    p = f"{d}/{name}.h5"
    if os.path.exists(p): return
    with h5py.File(p, "w") as f:
        f.create_dataset("data", data=kw.pop("x", x), **kw)
        f.create_dataset("label", data=y)
w("contiguous")
w("chunk1000", chunks=(1000, 784))
w("gzip1000", chunks=(1000, 784), compression="gzip")
w("uint8_gzip", x=(x * 255).astype("u1"), chunks=(1000, 784), compression="gzip")
PY
echo "load: $(uptime)"
F="$D/contiguous.h5 $D/chunk1000.h5 $D/gzip1000.h5"
"$B/bench_h5_layouts" --epochs 3 $F
"$B/bench_h5_layouts" --epochs 3 --scale 0.00392156862745098 "$D/uint8_gzip.h5"
echo "--- 2 ranks side by side (world 2, each its shard, no gradient exchange)"
for f in $F; do
  "$B/bench_h5_layouts" --epochs 3 --rank 0 --world 2 "$f" >"$D/r0.log" &
  "$B/bench_h5_layouts" --epochs 3 --rank 1 --world 2 "$f" >"$D/r1.log"
  wait
  cat "$D/r0.log" "$D/r1.log"
done
echo "load: $(uptime)"
