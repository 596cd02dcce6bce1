#!/usr/bin/env python3
"""peer_pytorch_h5.py FILE [--epochs 10] [--batch 100] [--scale S] — the
PyTorch side of issue 18's whole-job comparison (bench/README.md): the same
job as bench/h5_mlp.ini (784-256-10 MLP, ReLU, cross-entropy, SGD lr 0.1,
batch 100, shuffled every epoch, 10 epochs), the HDF5 file read whole into
memory with h5py (as a user would), one thread. Time it as a whole process:
/usr/bin/time python3 bench/peer_pytorch_h5.py FILE."""
import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import subprocess
import sys

import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument("file")
ap.add_argument("--epochs", type=int, default=10)
ap.add_argument("--batch", type=int, default=100)
ap.add_argument("--scale", type=float, default=1.0)
a = ap.parse_args()
torch.set_num_threads(1)
torch.manual_seed(0)
# bench-venv's numpy and Debian's h5py do not mix: h5py (/usr/bin/python3)
# reads the file whole and pipes it here (inside this process's wall time).
READ = '''import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    x = f["data"][...]; y = f["label"][...].astype("i8")
sys.stdout.buffer.write(np.array(x.shape, "i8").tobytes().ljust(64, b"\\0"))
sys.stdout.buffer.write(np.ascontiguousarray(x, "f4").tobytes()); sys.stdout.buffer.write(y.tobytes())
'''
raw = subprocess.run(["/usr/bin/python3", "-c", READ, a.file], check=True, stdout=subprocess.PIPE).stdout
hdr = np.frombuffer(raw[:64], "i8")
shape = tuple(int(v) for v in hdr[: len([v for v in hdr if v > 0])])
nx = int(np.prod(shape))
x = torch.from_numpy(np.frombuffer(raw, "f4", nx, 64).reshape(shape).copy() * a.scale)
y = torch.from_numpy(np.frombuffer(raw, "i8", shape[0], 64 + 4 * nx).copy())
x = x.reshape(x.shape[0], -1)
net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.1)
loss = torch.nn.CrossEntropyLoss()
for e in range(a.epochs):
    t0 = time.time()
    perm = torch.randperm(x.shape[0])
    correct = 0
    for i in range(0, x.shape[0], a.batch):
        idx = perm[i : i + a.batch]
        xb, yb = x[idx], y[idx]
        opt.zero_grad()
        out = net(xb)
        l = loss(out, yb)
        l.backward()
        opt.step()
        correct += (out.argmax(1) == yb).sum().item()
    print(f"Epoch[{e}] Train-accuracy={correct / x.shape[0]:.6f} Time cost={time.time() - t0:.3f}")
