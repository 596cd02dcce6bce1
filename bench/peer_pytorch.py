#!/usr/bin/env python3
"""peer_pytorch.py — the PyTorch side of bench/run_train_bench.sh: training
throughput (samples/s) of the same nets, batch, optimizer and thread count as
bench/bench_train.c.

Nets: nn.Linear layers with nn.ReLU between them, nn.CrossEntropyLoss (mean
over the batch: the gradient of modtrain's SoftmaxOutput with rescale_grad =
1/batch), torch.optim.SGD(lr=0.1, momentum=0.9); weights Xavier-uniform with
MXNet's Xavier(magnitude=2) bound sqrt(2 / ((fan_in + fan_out) / 2)) (gain
sqrt(2/3)), biases zero.
  tutorial  128-64-10         batch 32
  mlp       784-1024-1024-10  batch 256
A training step = zero_grad + forward + loss + backward + optimizer.step on one
of --nbatches batches made before timing (the tutorial's synthetic data: 10
classes, class means U(0,1), samples N(mean, 0.1), rows shuffled), as float32
and int64 tensors. Each repetition times --steps steps after --warmup; the
figure is the median over --reps repetitions.

Threads: torch.set_num_threads(--threads) (1). OPENBLAS_NUM_THREADS and
OMP_NUM_THREADS must be set by the caller before Python starts (the script
does); this program warns when they are not 1.

Prints which torch ran (version, file, BLAS, CPU capability) and one
"RESULT key=value ..." line per figure, as bench_train does."""
import argparse
import math
import os
import statistics
import sys
import time

NETS = {
    "tutorial": ([128, 64, 10], 32, 3000, 300),
    "mlp": ([784, 1024, 1024, 10], 256, 300, 20),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--net", choices=sorted(NETS), default="tutorial")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--nbatches", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ftz", action="store_true",
                    help="torch.set_flush_denormal(True) (as bench_train --ftz)")
    ap.add_argument("--source", default="",
                    help="where this torch came from (printed in the RESULT line)")
    a = ap.parse_args()
    widths, batch, steps, warmup = NETS[a.net]
    batch = a.batch or batch
    steps = a.steps or steps
    warmup = warmup if a.warmup is None else a.warmup

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var) not in (None, str(a.threads)):
            print(f"peer_pytorch: warning: {var}={os.environ[var]}", file=sys.stderr)
    import torch
    import torch.nn as nn

    torch.set_num_threads(a.threads)
    if a.ftz and not torch.set_flush_denormal(True):
        print("peer_pytorch: warning: set_flush_denormal not supported", file=sys.stderr)
    cfg = torch.__config__.show()
    blas = next((l.split("=", 1)[1].split(",")[0] for l in cfg.split()
                 if l.startswith("BLAS_INFO=")), "?")
    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        cap = "?"
    netstr = "-".join(str(w) for w in widths)
    print(f"torch {torch.__version__} from {os.path.dirname(torch.__file__)}"
          f" ({a.source or 'unknown source'}), BLAS {blas}, CPU capability {cap},"
          f" {torch.get_num_threads()} thread(s), OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")

    # data: the tutorial's synthetic distribution, rows shuffled once
    g = torch.Generator().manual_seed(0)
    classes, feat, rows = widths[-1], widths[0], a.nbatches * batch
    mu = torch.rand(classes, feat, generator=g)
    y = torch.arange(rows) * classes // rows
    x = mu[y] + 0.1 * torch.randn(rows, feat, generator=g)
    perm = torch.randperm(rows, generator=g)
    x, y = x[perm].contiguous(), y[perm].contiguous()
    batches = [(x[i * batch:(i + 1) * batch].clone(), y[i * batch:(i + 1) * batch].clone())
               for i in range(a.nbatches)]

    layers = []
    for i in range(len(widths) - 1):
        fc = nn.Linear(widths[i], widths[i + 1])
        nn.init.xavier_uniform_(fc.weight, gain=math.sqrt(2.0 / 3.0))
        nn.init.zeros_(fc.bias)
        layers.append(fc)
        if i + 2 < len(widths):
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    model.train()
    crit = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    nxt = [0]

    def run(n):
        t0 = time.perf_counter()
        for _ in range(n):
            xb, yb = batches[nxt[0]]
            nxt[0] = (nxt[0] + 1) % len(batches)
            opt.zero_grad(set_to_none=True)
            loss = crit(model(xb), yb)
            loss.backward()
            opt.step()
        return time.perf_counter() - t0

    run(warmup)
    sps = [batch * steps / run(steps) for _ in range(a.reps)]
    med = statistics.median(sps)
    print(f"{netstr} batch {batch}: training step (zero_grad + forward + loss + backward + step),"
          f" {a.reps} reps of {steps} steps after {warmup} warm-up: median {med:.0f} samples/s"
          f" ({1e6 * batch / med:.2f} us/step; min {min(sps):.0f}, max {max(sps):.0f})")
    src = (a.source or "unknown").replace(" ", "_")
    print(f"RESULT impl=pytorch what=step net={netstr} batch={batch} samples_per_s={med:.1f}"
          f" step_us={1e6 * batch / med:.3f} min={min(sps):.1f} max={max(sps):.1f}"
          f" torch={torch.__version__} source={src} blas={blas}")

    with torch.no_grad():
        xb, yb = batches[0]
        out = model(xb)
        loss = crit(out, yb).item()
        acc = (out.argmax(1) == yb).float().mean().item()
    print(f"after {warmup + a.reps * steps} steps: batch 0 loss {loss:.4f}, accuracy {acc:.3f}")
    print(f"RESULT impl=pytorch what=check net={netstr} batch={batch} loss={loss:.5f} acc={acc:.4f}")


if __name__ == "__main__":
    main()
