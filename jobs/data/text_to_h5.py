#!/usr/bin/python3
"""text_to_h5.py — a plain-text corpus as modtrain token-sequence files
(docs/design.md section 6, "Token sequences") for the bucketed LSTM language
model (MXNet's example/rnn/bucketing/lstm_bucketing.py).

The corpus: any plain-text file, or with --kjv the King James Bible (public
domain) as Debian ships it: apt-get install bible-kjv (jobs/setup.sh), whose
`bible` program prints its 31,102 verses.

Tokens: the text lowercased, words (letters, with an inner apostrophe) and
numbers, and every other non-space character (punctuation) as a token of
its own. Sentences end after ".", "?" or "!" (with --kjv each verse is cut
the same way; verse numbers and book/chapter headings are dropped).
Every 20th sentence (i % 20 == 19) goes to the validation file, the rest to
training. Vocabulary: id 0 "<pad>" (the invalid label: lstm_bucketing.py's
invalid_label = 0), id 1 "<unk>", then the --vocab most frequent training
words (ties by word), ids 2...; other words are <unk>.

Written: OUT/train.h5, OUT/valid.h5, each /tokens int32, /offsets int64,
/vocab strings, attributes format_version = 1, vocab_size. It prints the
counts and the unigram baseline: the perplexity on the validation set of the
training set's unigram distribution (add-one smoothed over the vocabulary),
over the tokens the language model predicts (every token but each
sentence's first, the labels the bucketed iterator makes) — a language
model must get well below it.

    /usr/bin/python3 jobs/data/text_to_h5.py --kjv data/kjv
    /usr/bin/python3 jobs/data/text_to_h5.py --vocab 5000 book.txt data/book
"""
import argparse
import collections
import math
import os
import re
import subprocess
import sys

import h5py
import numpy as np

TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*|[0-9]+|[^\sa-z0-9]")
ENDS = {".", "?", "!"}
VERSE = re.compile(r"^\s+[0-9]+ (.*)$")


def read_text(args):
    if args.kjv:
        out = subprocess.run(["bible", "-l100000", "gen1:1-rev22:21"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, check=True, text=True).stdout
        verses = [m.group(1) for m in map(VERSE.match, out.splitlines()) if m]
        if len(verses) != 31102:
            sys.exit("text_to_h5: `bible` printed %d verses, not 31102" % len(verses))
        return verses
    with open(args.input, encoding="utf-8", errors="replace") as f:
        return [f.read()]


def sentences(blocks):
    """Token lists, cut after . ? ! (a block's rest is a sentence too)."""
    out = []
    for block in blocks:
        cur = []
        for t in TOKEN.findall(block.lower()):
            cur.append(t)
            if t in ENDS:
                out.append(cur)
                cur = []
        if cur:
            out.append(cur)
    return out


def write(path, sents, ids, vocab):
    offsets = np.zeros(len(sents) + 1, np.int64)
    offsets[1:] = np.cumsum([len(s) for s in sents])
    tokens = np.fromiter((ids.get(w, 1) for s in sents for w in s), np.int32, int(offsets[-1]))
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with h5py.File(tmp, "w") as f:
        f.attrs["format_version"] = np.int64(1)
        f.attrs["vocab_size"] = np.int64(len(vocab))
        f.create_dataset("tokens", data=tokens, chunks=True, fletcher32=True)
        f.create_dataset("offsets", data=offsets, chunks=True, fletcher32=True)
        f.create_dataset("vocab", data=vocab, dtype=h5py.string_dtype("utf-8"))
    os.replace(tmp, path)
    return tokens, offsets


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", nargs="?", help="a UTF-8 text file (not with --kjv)")
    ap.add_argument("out", help="the output directory (train.h5, valid.h5)")
    ap.add_argument("--kjv", action="store_true", help="the King James Bible (bible-kjv)")
    ap.add_argument("--vocab", type=int, default=10000, help="words kept (default 10000)")
    args = ap.parse_args()
    if args.kjv == (args.input is not None):
        ap.error("give a text file or --kjv")
    sents = sentences(read_text(args))
    train = [s for i, s in enumerate(sents) if i % 20 != 19]
    valid = [s for i, s in enumerate(sents) if i % 20 == 19]
    counts = collections.Counter(w for s in train for w in s)
    words = sorted(counts, key=lambda w: (-counts[w], w))[:args.vocab]
    vocab = ["<pad>", "<unk>"] + words
    ids = {w: i + 2 for i, w in enumerate(words)}
    os.makedirs(args.out, exist_ok=True)
    tt, to = write(os.path.join(args.out, "train.h5"), train, ids, vocab)
    vt, vo = write(os.path.join(args.out, "valid.h5"), valid, ids, vocab)
    # unigram baseline over the predicted tokens (all but each sentence's first)
    first = np.zeros(len(tt), bool)
    first[to[:-1][to[:-1] < to[1:]]] = True
    c = np.bincount(tt[~first], minlength=len(vocab)).astype(np.float64)
    c[0] = 0  # <pad> is never a label
    p = (c + 1) / (c.sum() + len(vocab) - 1)
    vfirst = np.zeros(len(vt), bool)
    vfirst[vo[:-1][vo[:-1] < vo[1:]]] = True
    lab = vt[~vfirst]
    ppl = math.exp(-np.log(p[lab]).mean())
    lens = np.diff(to)
    print("text_to_h5: %d sentences (train %d, valid %d), %d + %d tokens, vocabulary %d "
          "(%d words + <pad>, <unk>; %.2f%% of training tokens <unk>)"
          % (len(sents), len(train), len(valid), len(tt), len(vt), len(vocab), len(words),
             100.0 * float((tt == 1).mean())))
    print("text_to_h5: sentence length: median %d, 90%% <= %d, max %d"
          % (np.median(lens), np.percentile(lens, 90), lens.max()))
    print("text_to_h5: unigram baseline perplexity (valid) = %.2f" % ppl)


if __name__ == "__main__":
    main()
