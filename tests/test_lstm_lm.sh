#!/bin/sh
# test_lstm_lm.sh — MXNet's lstm_bucketing.py language model learns a real
# corpus through the command: the King James Bible (Debian's bible-kjv)
# converted by jobs/data/text_to_h5.py (vocabulary cut to 2,000 words to fit
# the CI budget), trained with jobs/configs/lstm-bucketing.ini at a small
# size (embed and hidden 64, buckets 10 and 20: the sentences of up to 20
# tokens) for 2 epochs on one thread. Checked:
#   - --check reads the token-sequence files and prints their buckets' rows
#   - the validation perplexity falls from the first epoch to the last, and
#     ends below the unigram baseline the converter prints (the perplexity
#     of the training set's word frequencies on the validation set)
#   - the metrics_file's validation events agree with the printed lines
#   - `modtrain score` of the last checkpoint gives the same perplexity
#   - bad [model] lstm_lm / [data] buckets values are one-line errors
#     naming the file, line and key (or --set), exit 2
#
#   tests/test_lstm_lm.sh BUILD/modtrain SOURCE_DIR
set -u
M=${1:?usage: test_lstm_lm.sh MODTRAIN SOURCE_DIR}
SRC=${2:?usage: test_lstm_lm.sh MODTRAIN SOURCE_DIR}
CFG="$SRC/jobs/configs/lstm-bucketing.ini"
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mt_test_lstm_lm.XXXXXX)
trap 'rm -rf "$T"' EXIT
export OPENBLAS_NUM_THREADS=1 MODTRAIN_NO_PROGRESS=1
unset OMPI_COMM_WORLD_SIZE PMI_SIZE PMIX_SIZE
BUCKETS=${MT_TEST_LM_BUCKETS:-10,20}

die() {
  echo "FAIL: $*"
  exit 1
}

[ -f "$CFG" ] || die "no config $CFG"
command -v bible >/dev/null || die "no 'bible' program (apt-get install bible-kjv; jobs/setup.sh does)"
"$PY" "$SRC/jobs/data/text_to_h5.py" --kjv --vocab 2000 "$T/data/kjv" >"$T/conv.log" 2>&1 ||
  die "text_to_h5.py --kjv failed: $(cat "$T/conv.log")"
base=$(sed -n 's/^text_to_h5: unigram baseline perplexity (valid) = //p' "$T/conv.log")
[ -n "$base" ] || die "the converter printed no unigram baseline: $(cat "$T/conv.log")"

cd "$T" || die "cd $T"
# the job's config at the test's size
sed -e 's/^lstm_lm = .*/lstm_lm = num_layers=2 num_embed=64 num_hidden=64/' \
  -e "s/^buckets  *= .*/buckets       = $BUCKETS/" -e 's/^num_epoch  *= .*/num_epoch     = 2/' \
  "$CFG" >"$T/lm.ini"
grep -q "^buckets       = $BUCKETS\$" "$T/lm.ini" || die "could not set the buckets in $T/lm.ini"

# errors: one line naming the place and the key, exit 2
expect_err() { # WHAT PATTERN ARGS...
  what=$1 pat=$2
  shift 2
  "$M" "$T/lm.ini" --check "$@" >"$T/e.out" 2>"$T/e.err"
  rc=$?
  [ $rc -eq 2 ] || die "$what: exit $rc, not 2: $(cat "$T/e.err")"
  grep -q "$pat" "$T/e.err" || die "$what: no '$pat' in: $(cat "$T/e.err")"
}
expect_err "bucket > 64" "^modtrain: error: --set: \[data\] buckets: bucket 70 is out of range" \
  --set data.buckets=10,70
expect_err "unknown lstm_lm setting" "\[model\] lstm_lm: unknown setting 'hidden'" \
  --set model.lstm_lm=hidden=3
expect_err "vocab too small" "lm.ini:[0-9]*: \[data\] train: .*vocab_size 2002 is larger than the network's vocabulary 100" \
  --set model.lstm_lm=vocab=100
expect_err "two models" "lm.ini:[0-9]*: \[model\] lstm_lm: give one of symbol, layers and lstm_lm" \
  --set "model.layers=SoftmaxOutput softmax"
expect_err "synthetic data" "\[data\] train: \[model\] lstm_lm reads token-sequence files" \
  --set data.train=synthetic --set data.val=none

if ! "$M" "$T/lm.ini" --check >"$T/check.out" 2>"$T/check.err"; then
  die "--check: $(cat "$T/check.err")"
fi
grep -q "^buckets = $BUCKETS\$" "$T/check.out" || die "--check's effective config lacks the buckets"
grep -q "data/kjv/train.h5: [0-9]* samples of (20,)" "$T/check.err" ||
  die "--check does not show the token-sequence rows: $(cat "$T/check.err")"

start=$(date +%s)
"$M" "$T/lm.ini" --set train.metrics_file="$T/m.jsonl" --set checkpoint.prefix="$T/ck/lm" \
  >"$T/out" 2>"$T/err" || die "training failed: $(tail -c 800 "$T/err")"
secs=$(($(date +%s) - start))
grep -q "network lstm_lm (2 LSTM layers, embed 64, hidden 64, vocab 2002; buckets $BUCKETS" "$T/err" ||
  die "the banner does not name the network: $(head -c 800 "$T/err")"
sed -n 's/^Epoch\[[0-9]*\] Validation-perplexity=//p' "$T/out" >"$T/ppl"
[ "$(wc -l <"$T/ppl")" -eq 2 ] || die "not 2 Validation-perplexity lines: $(cat "$T/out")"
"$M" score "$T/lm.ini" --epoch 2 --set checkpoint.prefix="$T/ck/lm" >"$T/score.out" 2>"$T/score.err" ||
  die "score failed: $(cat "$T/score.err")"

"$PY" - "$T" "$base" <<'PY' || exit 1
import json, sys
t, base = sys.argv[1], float(sys.argv[2])
ppl = [float(x) for x in open(f"{t}/ppl")]
ev = [json.loads(l) for l in open(f"{t}/m.jsonl")]
val = [e["metrics"]["perplexity"] for e in ev if e["event"] == "validation"]
score = [l.split("=", 1) for l in open(f"{t}/score.out") if "=" in l]
print(f"validation perplexity per epoch {ppl} (unigram baseline {base}), score {score}")
ok = True
if len(val) != len(ppl) or any(abs(a - b) > 1e-3 * b for a, b in zip(val, ppl)):
    print(f"FAIL: the metrics_file's validation events {val} are not the printed {ppl}"); ok = False
if not ppl[-1] < ppl[0]:
    print("FAIL: the validation perplexity did not fall"); ok = False
if not ppl[-1] < base:
    print(f"FAIL: validation perplexity {ppl[-1]} is not below the unigram baseline {base}"); ok = False
if len(score) != 1 or score[0][0] != "perplexity" or abs(float(score[0][1]) - ppl[-1]) > 1e-3 * ppl[-1]:
    print(f"FAIL: score of the last checkpoint {score} is not the last validation perplexity"); ok = False
sys.exit(0 if ok else 1)
PY
echo "lstm-bucketing (small): 2 epochs in ${secs}s, validation perplexity $(tr '\n' ' ' <"$T/ppl")(baseline $base)"
