#!/usr/bin/python3
"""digits_to_h5.py — scikit-learn's handwritten digits as modtrain dataset files.

The data: 1797 grey images of 8x8 pixels, values 0..16, ten classes (the
UCI "Optical Recognition of Handwritten Digits" test set), shipped with
scikit-learn as sklearn/datasets/data/digits.csv.gz: one image a line, its
64 pixels row by row, then its class. Debian: apt-get install python3-sklearn.

Written (docs/design.md section 6, the layout modtrain reads):
  OUT/train.h5  1500 images
  OUT/test.h5   297 images
The split is fixed: scikit-learn's train_test_split(X, y, test_size=297,
random_state=0), computed here the way it does (numpy's legacy
RandomState(0).permutation(1797): its first 297 positions are the test
set, the rest the training set, each in that permuted order). (The last 297
images of the file as test set would be harder than the rest: other writers.)
each with /data float32 [N, 1, 8, 8] (pixel / 16, in [0, 1]), /label float32
[N] (the class, 0..9) and the attributes format_version = 1, num_classes =
10, seed = 0, generator.

The CSV is read with gzip and csv (no scikit-learn import: only numpy and
h5py are needed), found in scikit-learn's package directory, or given
with --csv.

    /usr/bin/python3 jobs/data/digits_to_h5.py data/digits
    modtrain jobs/configs/digits-mlp.ini
"""
import argparse
import csv
import gzip
import importlib.util
import os
import sys

import h5py
import numpy as np

N_TEST = 297


def find_csv():
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("digits_to_h5: scikit-learn is not installed (Debian: apt-get install "
                 "python3-sklearn), or give --csv PATH/digits.csv.gz")
    for d in spec.submodule_search_locations:
        p = os.path.join(d, "datasets", "data", "digits.csv.gz")
        if os.path.exists(p):
            return p
    sys.exit("digits_to_h5: no datasets/data/digits.csv.gz in scikit-learn's directory "
             f"{list(spec.submodule_search_locations)}; give --csv")


def read_csv(path):
    with gzip.open(path, "rt", newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    a = np.asarray(rows, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 65:
        sys.exit(f"digits_to_h5: {path}: expected 65 columns (64 pixels and the class), "
                 f"got shape {a.shape}")
    x, y = a[:, :64], a[:, 64]
    if x.min() < 0 or x.max() > 16 or np.any(y != np.round(y)) or y.min() < 0 or y.max() > 9:
        sys.exit(f"digits_to_h5: {path}: pixels must be in 0..16 and classes in 0..9")
    return x, y


def write(path, x, y, what):
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f["data"] = (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
        f["label"] = y.astype(np.float32)
        f.attrs["format_version"] = np.int64(1)
        f.attrs["num_classes"] = np.int64(10)
        f.attrs["seed"] = np.uint64(0)
        f.attrs["generator"] = f"jobs/data/digits_to_h5.py: scikit-learn digits, {what}"
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="directory for train.h5 and test.h5 (created if missing)")
    ap.add_argument("--csv", help="digits.csv.gz (default: scikit-learn's copy)")
    a = ap.parse_args()
    path = a.csv or find_csv()
    x, y = read_csv(path)
    if len(x) <= N_TEST:
        sys.exit(f"digits_to_h5: {path}: {len(x)} images, need more than {N_TEST}")
    os.makedirs(a.out, exist_ok=True)
    n = len(x) - N_TEST
    # sklearn's ShuffleSplit: permutation = RandomState(random_state).permutation(n_samples),
    # test = permutation[:n_test], train = permutation[n_test:]
    perm = np.random.RandomState(0).permutation(len(x))
    te, tr = perm[:N_TEST], perm[N_TEST:]
    split = "train_test_split(test_size=297, random_state=0)"
    write(os.path.join(a.out, "train.h5"), x[tr], y[tr], f"{n} training images of {split}")
    write(os.path.join(a.out, "test.h5"), x[te], y[te], f"{N_TEST} test images of {split}")
    print(f"digits_to_h5: {path}: {n} training and {N_TEST} test images of 1x8x8 "
          f"into {a.out}/train.h5, {a.out}/test.h5")


if __name__ == "__main__":
    main()
