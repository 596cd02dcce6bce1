#!/usr/bin/env python3
"""peer_pytorch_cnn.py — the PyTorch side of bench/run_cnn_bench.sh: training
throughput (samples/s) of the convolutional nets of bench/bench_cnn.c, same
shapes, batch, optimizer and thread count.

Nets (NCHW float32, 10 classes):
  lenet  1x28x28, batch 64: conv 5x5x20 - tanh - maxpool 2/2 - conv 5x5x50 -
         tanh - maxpool 2/2 - flatten - fc 500 - tanh - fc 10
  cifar  3x32x32, batch 128: [conv 3x3 pad 1 - BatchNorm2d - relu - maxpool
         2/2] x (64, 128, 128) - flatten - fc 10
Weights Xavier-uniform with MXNet's Xavier(magnitude=2) bound (gain
sqrt(2/3)), biases zero; BatchNorm2d(eps=1e-3, momentum=0.1) (= MXNet's
momentum 0.9), affine; nn.CrossEntropyLoss (mean over the batch);
torch.optim.SGD(lr=0.05, momentum=0.9). A training step = zero_grad + forward
+ loss + backward + step on one of --nbatches batches made before timing (the
tutorial's synthetic distribution over C*H*W features). Each repetition times
--steps steps after --warmup; the figure is the median over --reps.

Threads: torch.set_num_threads(--threads); the caller sets OMP_NUM_THREADS
and friends. Prints one "RESULT key=value ..." line per figure."""
import argparse
import math
import os
import statistics
import sys
import time

NETS = {  # (c, h, w), batch, steps, warmup
    "lenet": ((1, 28, 28), 64, 100, 10),
    "cifar": ((3, 32, 32), 128, 10, 2),
}


def build(net, nn):
    if net == "lenet":
        layers = [nn.Conv2d(1, 20, 5), nn.Tanh(), nn.MaxPool2d(2, 2),
                  nn.Conv2d(20, 50, 5), nn.Tanh(), nn.MaxPool2d(2, 2),
                  nn.Flatten(), nn.Linear(50 * 4 * 4, 500), nn.Tanh(), nn.Linear(500, 10)]
    else:
        layers, cin = [], 3
        for cout in (64, 128, 128):
            layers += [nn.Conv2d(cin, cout, 3, padding=1),
                       nn.BatchNorm2d(cout, eps=1e-3, momentum=0.1), nn.ReLU(),
                       nn.MaxPool2d(2, 2)]
            cin = cout
        layers += [nn.Flatten(), nn.Linear(128 * 4 * 4, 10)]
    for m in layers:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight, gain=math.sqrt(2.0 / 3.0))
            nn.init.zeros_(m.bias)
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--net", choices=sorted(NETS), default="lenet")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--nbatches", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (eager; cuDNN)")
    ap.add_argument("--source", default="", help="where this torch came from")
    a = ap.parse_args()
    (c, h, w), batch, steps, warmup = NETS[a.net]
    batch = a.batch or batch
    steps = a.steps or steps
    warmup = warmup if a.warmup is None else a.warmup
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var) not in (None, str(a.threads)):
            print(f"peer_pytorch_cnn: warning: {var}={os.environ[var]}", file=sys.stderr)
    import torch
    import torch.nn as nn

    torch.set_num_threads(a.threads)
    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        cap = "?"
    mkldnn = torch.backends.mkldnn.is_available()
    print(f"torch {torch.__version__} from {os.path.dirname(torch.__file__)}"
          f" ({a.source or 'unknown source'}), oneDNN {mkldnn}, CPU capability {cap},"
          f" {torch.get_num_threads()} thread(s)")

    g = torch.Generator().manual_seed(0)
    feat, rows = c * h * w, a.nbatches * batch
    mu = torch.rand(10, feat, generator=g)
    y = torch.arange(rows) * 10 // rows
    x = mu[y] + 0.1 * torch.randn(rows, feat, generator=g)
    perm = torch.randperm(rows, generator=g)
    x, y = x[perm].reshape(rows, c, h, w).contiguous(), y[perm].contiguous()
    dev = torch.device(a.device)
    batches = [(x[i * batch:(i + 1) * batch].clone().to(dev),
                y[i * batch:(i + 1) * batch].clone().to(dev)) for i in range(a.nbatches)]

    model = build(a.net, nn).to(dev)
    model.train()
    crit = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
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
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    run(warmup)
    sps = [batch * steps / run(steps) for _ in range(a.reps)]
    med = statistics.median(sps)
    print(f"{a.net} batch {batch}: training step (zero_grad + forward + loss + backward + step),"
          f" {a.reps} reps of {steps} steps after {warmup} warm-up: median {med:.1f} samples/s"
          f" ({1e6 * batch / med:.1f} us/step; min {min(sps):.1f}, max {max(sps):.1f})")
    src = (a.source or "unknown").replace(" ", "_")
    print(f"RESULT impl=pytorch what=step net={a.net} device={a.device} batch={batch} samples_per_s={med:.1f}"
          f" step_us={1e6 * batch / med:.3f} min={min(sps):.1f} max={max(sps):.1f}"
          f" torch={torch.__version__} source={src}")
    model.eval()
    with torch.no_grad():
        xb, yb = batches[0]
        out = model(xb)
        loss = crit(out, yb).item()
        acc = (out.argmax(1) == yb).float().mean().item()
    print(f"after {warmup + a.reps * steps} steps: batch 0 loss {loss:.4f}, accuracy {acc:.3f}")
    print(f"RESULT impl=pytorch what=check net={a.net} batch={batch} loss={loss:.5f} acc={acc:.4f}")


if __name__ == "__main__":
    main()
