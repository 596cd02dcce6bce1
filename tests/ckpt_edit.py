"""ckpt_edit.py FILE [v1|strip|keep] [NAME=INT]... [del=PATH]... -- edits a
checkpoint with h5py, as a user or a probe would (tests/test_checkpoint.c,
tests/test_resume.sh):
  v1      removes the digests (xxh3, attrs_xxh3; xxh64, attrs_xxh64 in a
          format 2 file) and sets format_version 1:
          the file as modtrain wrote it before digests (format 1);
  strip   removes the digests, keeping format_version;
  keep    leaves the digests (which then no longer match what is changed);
  NAME=INT  sets the root attribute NAME to the int64 INT;
  del=PATH  deletes the link PATH (e.g. arg/fc1_bias)."""
import sys

import h5py
import numpy as np


DIGESTS = ("xxh3", "attrs_xxh3", "xxh64", "attrs_xxh64")


def strip(h):
    def visit(name, obj):
        for a in DIGESTS:
            if a in obj.attrs:
                del obj.attrs[a]

    h.visititems(visit)
    for a in DIGESTS:
        if a in h.attrs:
            del h.attrs[a]


def main():
    path, args = sys.argv[1], sys.argv[2:]
    with h5py.File(path, "r+") as h:
        for a in args:
            if a in ("v1", "strip"):
                strip(h)
                if a == "v1":
                    h.attrs["format_version"] = np.int64(1)
            elif a == "keep":
                pass
            elif a.startswith("del="):
                del h[a[4:]]
            else:
                name, value = a.split("=", 1)
                h.attrs[name] = np.int64(int(value))


if __name__ == "__main__":
    main()
