#!/usr/bin/python3
"""plot_metrics.py — training curves as a picture from `[train] metrics_file`.

    jobs/plot_metrics.py METRICS.jsonl -o curves.png [--title TEXT] [--dpi N]

(docs/img/curves.png in the README was made this way.)

Reads the JSON lines modtrain appends to `metrics_file` (docs/config.md:
"train_batch", "train_epoch" and "validation" events) and draws one PNG
(or SVG/PDF, by the -o suffix) with matplotlib (Debian: python3-matplotlib):

  * top panel, one per metric name (accuracy, cross-entropy, ...): the
    training value of every epoch (solid line, circles) and the validation
    value (dashed line, squares) against the epoch number (1-based, as
    MXNet's logs count from 0: epoch 0 is drawn at 1);
  * bottom panel: samples/s against seconds since the start of the run:
    every `train_batch` line (thin line, the Speedometer interval's speed)
    (a line per epoch) and every epoch's mean (large dots).

A file that several runs appended to (a resume) is drawn as one run: a later
line for the same epoch replaces the earlier one, and the time axis goes on
from the previous run's last time.
"""
import argparse
import json
import sys


def read_events(path):
    """The events of PATH in order; a line that is not JSON is an error naming it."""
    events = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
            except ValueError as e:
                sys.exit("plot_metrics: %s:%d: not a JSON line: %s" % (path, n, e))
            if not isinstance(ev, dict) or "event" not in ev:
                sys.exit("plot_metrics: %s:%d: no \"event\" key" % (path, n))
            events.append(ev)
    return events


def curves(events):
    """(train, val, speed_batch, speed_epoch): train/val: {metric: {epoch: value}};
    speed_batch: (time, samples_per_sec, epoch); speed_epoch: (time, samples_per_sec);
    time continued across runs."""
    train, val = {}, {}
    sb, se = [], []
    offset, last = 0.0, None
    for ev in events:
        t = float(ev.get("time", 0.0))
        if last is not None and t + offset < last:  # a new run appended: continue the axis
            offset = last
        t += offset
        last = t
        kind = ev["event"]
        epoch = int(ev.get("epoch", 0))
        metrics = ev.get("metrics") or {}
        if kind == "train_epoch":
            for k, v in metrics.items():
                if v is not None:
                    train.setdefault(k, {})[epoch] = float(v)
            se.append((t, float(ev.get("samples_per_sec", 0.0))))
        elif kind == "validation":
            for k, v in metrics.items():
                if v is not None:
                    val.setdefault(k, {})[epoch] = float(v)
        elif kind == "train_batch":
            sb.append((t, float(ev.get("samples_per_sec", 0.0)), epoch))
    return train, val, sb, se


def plot(events, out, title=None, dpi=100):
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    train, val, sb, se = curves(events)
    names = sorted(set(train) | set(val))
    if not names and not sb and not se:
        sys.exit("plot_metrics: no train_epoch, validation or train_batch events")
    rows = max(1, len(names)) + 1
    fig, axes = plt.subplots(rows, 1, figsize=(8, 2.8 * rows), squeeze=False)
    axes = [a[0] for a in axes]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, name in enumerate(names):
        ax = axes[i]
        c = colours[i % len(colours)]
        if name in train:
            ep = sorted(train[name])
            ax.plot([e + 1 for e in ep], [train[name][e] for e in ep], "-o", color=c,
                    label="train " + name)
        if name in val:
            ep = sorted(val[name])
            ax.plot([e + 1 for e in ep], [val[name][e] for e in ep], "--s", color=c,
                    alpha=0.8, label="validation " + name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best")
        ax.xaxis.get_major_locator().set_params(integer=True)
    if not names:
        axes[0].text(0.5, 0.5, "no epoch metrics", ha="center", va="center")
    ax = axes[-1]
    # one line per epoch (validation and checkpoints lie between them)
    segs = []
    for p in sb:
        if not segs or segs[-1][-1][2] != p[2]:
            segs.append([])
        segs[-1].append(p)
    for i, seg in enumerate(segs):
        ax.plot([p[0] for p in seg], [p[1] for p in seg], "-", lw=1, color="tab:gray",
                label="per Speedometer interval" if i == 0 else None)
    if se:
        ax.plot([p[0] for p in se], [p[1] for p in se], "o", ms=7, color="tab:red",
                label="epoch mean")
    ax.set_xlabel("seconds since the start")
    ax.set_ylabel("samples/s")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if sb or se:
        ax.legend(loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return names


def main(argv=None):
    p = argparse.ArgumentParser(description="training curves from modtrain's metrics_file")
    p.add_argument("metrics", help="the metrics_file (JSON lines)")
    p.add_argument("-o", "--output", default="curves.png",
                   help="the picture (.png, .svg, .pdf; default curves.png)")
    p.add_argument("--title", default=None, help="a title above the panels")
    p.add_argument("--dpi", type=int, default=100, help="dots per inch for PNG (default 100)")
    a = p.parse_args(argv)
    events = read_events(a.metrics)
    names = plot(events, a.output, a.title, a.dpi)
    print("plot_metrics: %s: %d events, metrics %s" % (a.output, len(events),
                                                       ", ".join(names) or "none"))


if __name__ == "__main__":
    main()
