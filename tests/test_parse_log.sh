#!/bin/sh
# test_parse_log.sh — modtrain's log is what MXNet's tools read (issue 19
# item 5, docs/design.md §7): training lines (Epoch[N] Train-/Validation-
# metric, Time cost, Speedometer, Saved ...) on stdout and nothing else there;
# the start banner and every `modtrain:` message (and the library's
# [modtrain LEVEL] lines) on stderr; and MXNet 1.x's tools/parse_log.py,
# whose regexes and loop are below, extracts every epoch's train and
# validation accuracy and time from stdout alone and from stdout and stderr
# together (2>&1, a Slurm job's one output file), equal to the printed values.
#
#   tests/test_parse_log.sh BUILD/modtrain SOURCE_DIR
set -u
M=${1:?usage: test_parse_log.sh MODTRAIN SOURCE_DIR}
SRC=${2:?usage: test_parse_log.sh MODTRAIN SOURCE_DIR}
JOB="$SRC/jobs/configs/tutorial.ini"
T=$(mktemp -d /tmp/mt_test_parse_log.XXXXXX)
trap 'rm -rf "$T"' EXIT
export OPENBLAS_NUM_THREADS=1 MODTRAIN_NO_PROGRESS=1
unset OMPI_COMM_WORLD_SIZE PMI_SIZE PMIX_SIZE MODTRAIN_LOG
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# runs with every kind of line: Speedometer, checkpoints and MXNet
# parameters files, a resume (its message on stderr), two metrics (as with
# MXNet, parse_log.py averages the Train-* lines of an epoch into one column)
SETS="--set train.speedometer=3 --set checkpoint.prefix=$T/ck/m --set checkpoint.also_params=true"
"$M" "$JOB" $SETS --set train.num_epoch=3 >"$T/a.out" 2>"$T/a.err" || fail "training run: $(cat "$T/a.err")"
"$M" "$JOB" $SETS --set train.num_epoch=4 --resume >"$T/b.out" 2>"$T/b.err" ||
  fail "resumed run: $(cat "$T/b.err")"
grep -q "^modtrain: resuming from" "$T/b.err" || fail "no resume message on stderr: $(cat "$T/b.err")"
"$M" "$JOB" $SETS --set train.num_epoch=4 --set train.eval_metric=acc,ce >"$T/c.out" 2>"$T/c.err" ||
  fail "acc,ce run: $(cat "$T/c.err")"
grep -q "^modtrain 0\.\|^modtrain [0-9]" "$T/a.err" || fail "no start banner on stderr: $(cat "$T/a.err")"

TAB=$(printf '\t')
for r in a b c; do
  # stdout: training lines only
  bad=$(grep -Ev "^Epoch\[[0-9]+\] (Train|Validation)-[a-z-]+=[0-9.]+$|^Epoch\[[0-9]+\] Time cost=[0-9.]+$|^Epoch\[[0-9]+\] Batch \[[0-9]+-[0-9]+\]${TAB}Speed: [0-9.]+ samples/sec(${TAB}[a-z-]+=[0-9.]+)+$|^Saved checkpoint to \"[^\"]*\"$|^Saved MXNet parameters to \"[^\"]*\"$" "$T/$r.out")
  [ -z "$bad" ] || fail "run $r: stdout lines that are not training lines: $bad"
  grep -q "^Epoch\[0\] Batch \[0-3\]" "$T/$r.out" || [ "$r" = b ] || fail "run $r: no Speedometer line"
  # stderr: the banner, modtrain: messages, the library's [modtrain LEVEL] lines
  bad=$(grep -Ev "^modtrain( [0-9][^:]*)?: |^\[modtrain (ERROR|WARN|INFO|DEBUG) " "$T/$r.err")
  [ -z "$bad" ] || fail "run $r: stderr lines that are not modtrain messages: $bad"
  grep -q "Epoch\[" "$T/$r.err" && fail "run $r: a training line on stderr"
  cat "$T/$r.out" "$T/$r.err" >"$T/$r.both"
  cat "$T/$r.err" "$T/$r.out" >"$T/$r.both2"
done

# MXNet's parse_log.py on stdout and on both streams: each epoch's values
# are the ones modtrain printed (read here with sed, independently)
for r in a b c; do
  for log in "$T/$r.out" "$T/$r.both" "$T/$r.both2"; do
    /usr/bin/python3 - "$log" "$T/$r.out" "$r" <<'PY' || fail "parse_log.py's extraction of $log"
import re, sys

# The regexes and the loop of MXNet 1.x's tools/parse_log.py (Apache
# License 2.0, https://github.com/apache/mxnet/blob/v1.x/tools/parse_log.py),
# copied as data: the tool itself is Python 2 and not part of this repository.
res = [re.compile(r'.*Epoch\[(\d+)\] Train.*=([.\d]+)'),
       re.compile(r'.*Epoch\[(\d+)\] Valid.*=([.\d]+)'),
       re.compile(r'.*Epoch\[(\d+)\] Time.*=([.\d]+)')]
data = {}
for l in open(sys.argv[1]).readlines():
    i = 0
    for r in res:
        m = r.match(l)
        if m is not None:
            break
        i += 1
    if m is None:
        continue
    assert len(m.groups()) == 2
    epoch = int(m.groups()[0])
    val = float(m.groups()[1])
    if epoch not in data:
        data[epoch] = [0] * len(res) * 2
    data[epoch][i * 2] += val
    data[epoch][i * 2 + 1] += 1

# what modtrain printed, read without those regexes
want = {}
for l in open(sys.argv[2]):
    l = l.rstrip("\n")
    if not l.startswith("Epoch[") or "] Batch [" in l:
        continue
    ep = int(l[6:l.index("]")])
    kind, value = l[l.index("] ") + 2:].split("=")
    col = 0 if kind.startswith("Train-") else 1 if kind.startswith("Validation-") else 2
    w = want.setdefault(ep, [[], [], []])
    w[col].append(float(value))
assert want, "no epoch lines in " + sys.argv[2]
assert sorted(data) == sorted(want), (sorted(data), sorted(want))
for ep, cols in want.items():
    for c in range(3):
        assert data[ep][2 * c + 1] == len(cols[c]) >= 1, (ep, c, data[ep], cols)
        got = data[ep][2 * c] / data[ep][2 * c + 1]
        exp = sum(cols[c]) / len(cols[c])
        assert abs(got - exp) < 1e-12, (ep, c, got, exp)
print("run %s, %s: %d epochs parsed (%s)" % (sys.argv[3], sys.argv[1].rsplit("/", 1)[1],
      len(data), ", ".join("%d: %.6f %.6f %.3f" % (k + 1, v[0] / v[1], v[2] / v[3], v[4] / v[5])
                         for k, v in sorted(data.items()))))
PY
  done
done
# the resumed run parses as epoch 4 alone (epochs 1-3 were the first run's)
n=$(grep -c "Train-accuracy" "$T/b.out")
[ "$n" -eq 1 ] || fail "resumed run: $n Train-accuracy lines, expected 1 (epoch 4)"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "test_parse_log: all passed"
