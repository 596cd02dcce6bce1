"""peer_pytorch_gpu.py — PyTorch eager on the same MLP, batch and optimizer as
bench_gpu_train.c: forward + backward + SGD(momentum 0.9) step, data on the
GPU. usage: peer_pytorch_gpu.py BATCH DIM HIDDEN... CLASSES [--steps N]"""
import sys
import time

import torch

args = [a for a in sys.argv[1:]]
steps = 300
if "--steps" in args:
    i = args.index("--steps")
    steps = int(args[i + 1])
    del args[i:i + 2]
dims = [int(a) for a in args]
batch, dim, layers = dims[0], dims[1], dims[2:]
dev = torch.device("cuda")
mods = []
prev = dim
for i, h in enumerate(layers):
    mods.append(torch.nn.Linear(prev, h))
    if i < len(layers) - 1:
        mods.append(torch.nn.ReLU())
    prev = h
net = torch.nn.Sequential(*mods).to(dev)
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
lossf = torch.nn.CrossEntropyLoss()
xs = [torch.rand(batch, dim, device=dev) for _ in range(8)]
ys = [torch.randint(0, layers[-1], (batch,), device=dev) for _ in range(8)]


def step(k):
    opt.zero_grad(set_to_none=True)
    loss = lossf(net(xs[k % 8]), ys[k % 8])
    loss.backward()
    opt.step()


for k in range(30):
    step(k)
torch.cuda.synchronize()
best = 1e30
for rep in range(5):
    t0 = time.perf_counter()
    for k in range(steps):
        step(k)
    torch.cuda.synchronize()
    best = min(best, (time.perf_counter() - t0) / steps)
net_s = "-".join(str(d) for d in [dim] + layers)
print("pytorch-gpu %s batch %d: %.0f samples/s (%.1f us/step, best of 5 x %d steps, torch %s)"
      % (net_s, batch, batch / best, best * 1e6, steps, torch.__version__))
