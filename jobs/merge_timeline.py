#!/usr/bin/python3
"""merge_timeline.py — one trace from the per-rank timeline files.

    jobs/merge_timeline.py trace.json -o trace-all.json

With several ranks, `[train] timeline = trace.json` (or MODTRAIN_TIMELINE)
makes each rank write trace.rank<N>.json (docs/design.md §11). This joins
them, every rank one process ("pid" = rank, already on rank 0's clock), into
one Trace Event Format file for https://ui.perfetto.dev (Open trace file) or
chrome://tracing (Load). The arguments may also be the rank files
themselves.
"""
import argparse
import glob
import json
import re
import sys


def rank_files(args):
    files = []
    for a in args:
        if re.search(r"\.rank\d+\.json$", a):
            files.append(a)
            continue
        stem = a[:-5] if a.endswith(".json") else a
        found = glob.glob(glob.escape(stem) + ".rank*.json")
        found = [f for f in found if re.search(r"\.rank\d+\.json$", f)]
        files.extend(found if found else [a])
    key = lambda f: int(m.group(1)) if (m := re.search(r"\.rank(\d+)\.json$", f)) else -1
    return sorted(set(files), key=key)


def main(argv=None):
    p = argparse.ArgumentParser(description="merge modtrain's per-rank timelines")
    p.add_argument("timeline", nargs="+", help="the [train] timeline path, or rank files")
    p.add_argument("-o", "--output", required=True, help="the merged trace")
    a = p.parse_args(argv)
    files = rank_files(a.timeline)
    events, ranks = [], []
    for f in files:
        with open(f) as fh:
            t = json.load(fh)
        events.extend(t["traceEvents"])
        ranks.append(t.get("otherData", {}))
    with open(a.output, "w") as fh:
        json.dump({"displayTimeUnit": "ms", "otherData": {"ranks": ranks},
                   "traceEvents": events}, fh, separators=(",", ":"))
    print("merge_timeline: %s: %d ranks, %d events" % (a.output, len(files), len(events)))


if __name__ == "__main__":
    sys.exit(main())
