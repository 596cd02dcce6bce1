#!/bin/sh
# test_timeline.sh — the timeline (issue 19 item 3, docs/design.md §11): a
# 2-rank job with [train] timeline (and one with MODTRAIN_TIMELINE, the
# node-shared update off) writes one Trace Event Format file per rank; each
# is parsed (python3 json) and checked: both ranks present with their
# process name, every "X" span of a (pid, tid) lane nested in or disjoint
# from the others (no partial overlap), spans of every kind (each operator's
# forward and backward, gradient buckets, update, optimizer, data waits,
# epochs, the checkpoint on rank 0), one batch span per batch (20: 2 epochs
# of 320 samples in global batches of 32), the clocks aligned (no rank's
# bucket of batch k completes before the other rank started it), the merged
# file holds both; without the key or the variable nothing is written.
#
#   tests/test_timeline.sh BUILD/modtrain SOURCE_DIR
set -u
M=${1:?usage: test_timeline.sh MODTRAIN SOURCE_DIR}
SRC=${2:?usage: test_timeline.sh MODTRAIN SOURCE_DIR}
PY=/usr/bin/python3
JOB="$SRC/jobs/configs/tutorial.ini"
T=$(mktemp -d /tmp/mt_test_timeline.XXXXXX)
trap 'rm -rf "$T"' EXIT
export OPENBLAS_NUM_THREADS=1 MODTRAIN_NO_PROGRESS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader,tcp} OMPI_MCA_pml=${OMPI_MCA_pml:-ob1}
export OMPI_MCA_rmaps_base_oversubscribe=1
unset OMPI_COMM_WORLD_SIZE PMI_SIZE PMIX_SIZE MODTRAIN_LOG MODTRAIN_TIMELINE
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
SETS="--set train.num_epoch=2 --set checkpoint.prefix=$T/ck/m"

# a: the config key, default update; b: the environment knob, every rank
# updating all parameters (the bucket start/wait path)
timeout 120 mpirun -n 2 "$M" "$JOB" $SETS --set train.timeline="$T/a.json" >"$T/a.out" 2>"$T/a.err" ||
  fail "run a: $(cat "$T/a.err")"
timeout 120 mpirun -n 2 -x MODTRAIN_TIMELINE="$T/b.json" -x MODTRAIN_SHARED_UPDATE=0 \
  "$M" "$JOB" $SETS >"$T/b.out" 2>"$T/b.err" || fail "run b: $(cat "$T/b.err")"
grep -q "timeline written to $T/a.rank0.json" "$T/a.err" || fail "run a: no 'timeline written' line"

for r in a b; do
  $PY - "$T/$r" <<'PY' || fail "run $r: the timeline"
import json, sys
from collections import Counter, defaultdict

stem = sys.argv[1]
ns = lambda x: int(round(float(x) * 1000))  # microseconds with 3 decimals -> ns
ranks = {}
for rank in (0, 1):
    with open("%s.rank%d.json" % (stem, rank)) as f:
        t = json.load(f)
    assert t["otherData"]["rank"] == rank and t["otherData"]["world"] == 2, t["otherData"]
    assert t["otherData"]["dropped"] == 0
    ev = t["traceEvents"]
    assert {e["pid"] for e in ev} == {rank}, "pid is not the rank"
    names = [e for e in ev if e["ph"] == "M" and e["name"] == "process_name"]
    assert names and names[0]["args"]["name"] == "rank %d" % rank, names
    lanes = {e["tid"]: e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    X = [e for e in ev if e["ph"] == "X"]
    for e in X:
        assert e["dur"] >= 0 and e["tid"] in lanes, e
    # nesting per lane: sorted by start (longer first), a stack of open spans
    by = defaultdict(list)
    for e in X:
        by[e["tid"]].append((ns(e["ts"]), -ns(e["dur"]), e))
    for tid, spans in by.items():
        spans.sort(key=lambda s: (s[0], s[1]))
        stack = []
        for s, negd, e in spans:
            end = s - negd
            while stack and stack[-1][0] <= s:
                stack.pop()
            if stack:
                assert end <= stack[-1][0], "partial overlap on tid %d: %s inside %s" % (
                    tid, e, stack[-1][1])
            stack.append((end, e))
    cats = Counter(e["cat"] for e in X)
    want = ["forward", "backward", "bucket", "update", "optimizer", "data", "batch", "epoch",
            "executor", "validation"]
    if rank == 0:
        want.append("checkpoint")
    missing = [c for c in want if cats[c] == 0]
    assert not missing, "no %s spans (have %s)" % (missing, dict(cats))
    assert cats["batch"] == 20, "batch spans: %d, expected 20" % cats["batch"]
    assert cats["epoch"] == 2, cats["epoch"]
    starts = [e for e in ev if e["ph"] == "i" and e["name"] == "epoch start"]
    assert len(starts) == 2, starts
    ops = {(e["cat"], e["name"], e["args"]["op"]) for e in X if e["cat"] in ("forward", "backward")}
    for n, op in (("fc1", "FullyConnected"), ("relu1", "Activation"), ("fc2", "FullyConnected"),
                  ("softmax", "SoftmaxOutput")):
        for c in ("forward", "backward"):
            assert (c, n, op) in ops, "no %s span of %s (%s)" % (c, n, op)
    fwd_fc1 = sum(1 for e in X if e["cat"] == "forward" and e["name"] == "fc1")
    assert fwd_fc1 >= 20 + 2 * 10 // 2, fwd_fc1  # training batches + validation
    buckets = [e for e in X if e["cat"] == "bucket"]
    assert all(e["tid"] >= 1000 and lanes[e["tid"]].startswith("bucket") for e in buckets)
    assert len(buckets) >= 20, len(buckets)
    # every batch span holds its update span, and data waits lie outside batches
    batches = sorted((ns(e["ts"]), ns(e["ts"]) + ns(e["dur"])) for e in X if e["cat"] == "batch")
    for e in X:
        if e["cat"] == "update" and e["name"] == "update":
            s = ns(e["ts"])
            assert any(b0 <= s and s + ns(e["dur"]) <= b1 for b0, b1 in batches), e
    ranks[rank] = (t["otherData"], X, buckets)

# the clocks: an allreduce completes only once both ranks started it, so
# rank A's bucket spans of a batch end after rank B's of that batch began
err = sum(abs(ranks[r][0]["clock_error_ns"]) for r in ranks) + 200000  # + 0.2 ms
def batch_buckets(X, buckets):
    b = sorted((ns(e["ts"]), ns(e["ts"]) + ns(e["dur"])) for e in X if e["cat"] == "batch")
    out = []
    for b0, b1 in b:
        inb = [(ns(e["ts"]), ns(e["ts"]) + ns(e["dur"])) for e in buckets if b0 <= ns(e["ts"]) < b1]
        if inb:
            out.append((min(s for s, _ in inb), max(x for _, x in inb)))
    return out
bb = [batch_buckets(ranks[r][1], ranks[r][2]) for r in (0, 1)]
assert len(bb[0]) == len(bb[1]) == 20, (len(bb[0]), len(bb[1]))
for k in range(20):
    for a, b in ((0, 1), (1, 0)):
        assert bb[a][k][1] + err >= bb[b][k][0], (
            "batch %d: rank %d's buckets completed before rank %d started them" % (k, a, b))
print("%s: ranks 0, 1; %d and %d spans nest; clock error bound %d ns" % (
    stem.rsplit("/", 1)[1], len(ranks[0][1]), len(ranks[1][1]), ranks[1][0]["clock_error_ns"]))
PY
done

# merged: one file, both processes
$PY "$SRC/jobs/merge_timeline.py" "$T/a.json" -o "$T/all.json" >"$T/merge.out" 2>&1 ||
  fail "merge: $(cat "$T/merge.out")"
$PY -c "
import json, sys
t = json.load(open(sys.argv[1]))
pids = {e['pid'] for e in t['traceEvents']}
assert pids == {0, 1}, pids
" "$T/all.json" || fail "merged file"

# one process: the file itself; off: no file
MODTRAIN_TIMELINE="$T/one.json" "$M" "$JOB" --set train.num_epoch=1 >/dev/null 2>"$T/one.err" ||
  fail "one process: $(cat "$T/one.err")"
$PY -c "
import json, sys
t = json.load(open(sys.argv[1]))
assert sum(1 for e in t['traceEvents'] if e.get('cat') == 'batch') == 10
" "$T/one.json" || fail "one process timeline"
MODTRAIN_LOG=info "$M" "$JOB" --set train.num_epoch=1 --set checkpoint.prefix="$T/off/m" \
  >/dev/null 2>"$T/off.err" || fail "run without timeline: $(cat "$T/off.err")"
grep -q "timeline written" "$T/off.err" && fail "a timeline written when off"
[ "$(find "$T/off" -name '*.json' ! -name 'm-symbol.json')" = "" ] || fail "a JSON file when off"
# a run that fails in epoch 1 still writes the timeline up to there
MODTRAIN_FAULT="rank=0,epoch=1,batch=3,kind=error" "$M" "$JOB" --set train.num_epoch=2 \
  --set train.timeline="$T/err.json" >/dev/null 2>"$T/err.err" && fail "the fault did not fail the run"
$PY -c "
import json, sys
t = json.load(open(sys.argv[1]))
n = sum(1 for e in t['traceEvents'] if e.get('cat') == 'batch')
assert n == 14, n  # epoch 0: 10 batches; epoch 1: 0-2 and 3, the one that failed
" "$T/err.json" || fail "timeline of a failed run: $(cat "$T/err.err")"
# a directory that does not exist: a config error naming the key
"$M" "$JOB" --set train.timeline=/nonexistent/dir/t.json >/dev/null 2>"$T/bad.err" &&
  fail "timeline in a missing directory accepted"
grep -q "timeline" "$T/bad.err" || fail "bad path message: $(cat "$T/bad.err")"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "test_timeline: all passed"
