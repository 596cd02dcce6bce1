#!/usr/bin/env python3
"""triage.py LOG - says whose bug a libFuzzer finding is, from the report in
LOG (fuzz/run.sh calls it after each finding):

    modtrain  <summary>   the report's first own frame is modtrain's (or the
                          harness's), a UBSan report, a leak (libhdf5's own
                          are suppressed, fuzz/lsan.supp), a harness check,
                          or a report without a stack: a finding
    libhdf5   <summary>   the fault, the hang or the huge allocation is
                          inside libhdf5 itself (and, for an ASan report on
                          a heap block, libhdf5 allocated the block too)

"Own frame": the first stack frame in libhdf5 or in code with a source
file (modtrain, the harness), skipping the sanitizer and libFuzzer runtime
(interceptors: memcpy, strdup) and libc (the signal trampoline).
"""
import re
import sys

FRAME = re.compile(r"^\s*#\d+ 0x[0-9a-f]+")
# modtrain's and the harness's code is built with debug info: its frames
# name a source file; the sanitizer and libFuzzer runtime (interceptors such
# as memcpy or strdup included) and libc name only a module
SOURCE = re.compile(r" /\S+\.[ch]:\d+")


def first_own(frames):
    for f in frames:
        if "libhdf5" in f:
            return f
        if SOURCE.search(f) and "sysdeps/" not in f and "compiler-rt" not in f:
            return f
    return None


def main():
    text = open(sys.argv[1], errors="replace").read().splitlines()
    summary = next((l for l in text if l.startswith("SUMMARY:")), "")
    if any("fuzz: check failed" in l for l in text):
        print("modtrain", next(l for l in text if "fuzz: check failed" in l)[:300])
        return
    if any("runtime error:" in l for l in text) or any("LeakSanitizer" in l for l in text):
        print("modtrain", summary)
        return
    start = next((i for i, l in enumerate(text)
                  if re.search(r"==\d+==\s*ERROR|ERROR: libFuzzer", l)), None)
    if start is None:
        print("modtrain", summary or "no sanitizer report")
        return
    # the access (or hang / allocation) stack, and ASan's "allocated by" one
    stacks, cur = [], None
    for l in text[start:]:
        if FRAME.match(l):
            if cur is None:
                cur = []
                stacks.append(cur)
            cur.append(l)
        elif cur is not None and l.strip() == "":
            cur = None
        elif l.startswith("SUMMARY:"):
            break
        elif re.match(r"^(freed|previously allocated|allocated) by thread", l):
            cur = None
    own = [first_own(s) for s in stacks[:2]]
    if own and own[0] and "libhdf5" in own[0] and (len(own) < 2 or own[1] is None
                                                    or "libhdf5" in own[1]):
        print("libhdf5", summary)
    else:
        print("modtrain", summary or "no stack")


if __name__ == "__main__":
    main()
