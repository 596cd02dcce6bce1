#!/usr/bin/env python3
"""peer_pytorch_lstm.py — the PyTorch side of bench/run_lstm_bench.sh:
training throughput (tokens/s) of MXNet's lstm_bucketing.py language model
on the same bucketed batches as bench/bench_lstm.c (its --keys file: the
bucket key, a sequence length, of each batch in order), with the same sizes,
batch, optimizer and thread count.

Network: nn.Embedding(vocab, embed) - a 2-layer LSTM(embed -> hidden) over
the sequence - nn.Linear(hidden, vocab) on every step - cross entropy summed
over every position, padding included, divided by the batch (MXNet's
SoftmaxOutput with normalization null and Module's rescale_grad 1/batch).
--impl lstm: nn.LSTM(batch_first=True) (PyTorch's fused CPU LSTM);
--impl cells: nn.LSTMCell per layer unrolled step by step, as MXNet's
LSTMCell.unroll builds it. torch.optim.SGD(lr=0.01, momentum=0, weight decay
1e-5 on the weights, lstm_bucketing.py's defaults). A training step =
zero_grad + forward + loss + backward + step on the batch of that key's
length (random tokens, made before timing). Each repetition runs every key of
the file once after --warmup batches; the figure is the median over --reps,
of wall-clock tokens/s and of tokens per CPU second of the process (one
thread: the work done, whatever else a shared machine runs).

Threads: torch.set_num_threads(--threads); the caller sets OMP_NUM_THREADS.
Prints one "RESULT key=value ..." line per figure."""
import argparse
import os
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keys", required=True, help="one bucket key per line (bench_lstm --keys-out)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=10002)
    ap.add_argument("--embed", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--impl", choices=("lstm", "cells"), default="lstm")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--source", default="", help="where this torch came from")
    a = ap.parse_args()
    keys = [int(x) for x in open(a.keys).read().split()]
    if not keys:
        sys.exit("peer_pytorch_lstm: no keys in " + a.keys)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var) not in (None, str(a.threads)):
            print(f"peer_pytorch_lstm: warning: {var}={os.environ[var]}", file=sys.stderr)
    import torch
    import torch.nn as nn

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    V, E, H, L, B = a.vocab, a.embed, a.hidden, a.layers, a.batch

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, E)
            if a.impl == "lstm":
                self.rnn = nn.LSTM(E, H, num_layers=L, batch_first=True)
            else:
                self.cells = nn.ModuleList(nn.LSTMCell(E if i == 0 else H, H) for i in range(L))
            self.pred = nn.Linear(H, V)

        def forward(self, x):
            e = self.embed(x)  # (B, T, E)
            if a.impl == "lstm":
                out, _ = self.rnn(e)
            else:
                seq = list(e.unbind(1))
                for cell in self.cells:
                    h = c = e.new_zeros(e.shape[0], H)
                    outs = []
                    for xt in seq:
                        h, c = cell(xt, (h, c))
                        outs.append(h)
                    seq = outs
                out = torch.stack(seq, 1)
            return self.pred(out.reshape(-1, H))

    model = LM()
    decay = [p for n, p in model.named_parameters() if "weight" in n]
    rest = [p for n, p in model.named_parameters() if "weight" not in n]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 1e-5},
                           {"params": rest, "weight_decay": 0.0}], lr=0.01, momentum=0.0)
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    g = torch.Generator().manual_seed(1)
    batches = {}
    for k in sorted(set(keys)):
        x = torch.randint(1, V, (B, k), generator=g)
        y = torch.cat([x[:, 1:], torch.zeros(B, 1, dtype=x.dtype)], 1)
        batches[k] = (x, y.reshape(-1))

    def step(k):
        x, y = batches[k]
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y) / B
        loss.backward()
        opt.step()
        return loss

    for i in range(a.warmup):
        step(keys[i % len(keys)])
    tokens = B * sum(keys)
    rates, crates = [], []
    for _ in range(a.reps):
        t0, c0 = time.perf_counter(), time.process_time()
        for k in keys:
            step(k)
        rates.append(tokens / (time.perf_counter() - t0))
        crates.append(tokens / (time.process_time() - c0))
    med, cmed = statistics.median(rates), statistics.median(crates)
    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        cap = "?"
    print(f"PyTorch {torch.__version__} ({a.source or 'torch'}, CPU capability {cap}), "
          f"{a.threads} thread(s), impl {a.impl}: {len(keys)} batches of {B}, "
          f"{tokens} tokens per pass: median {med:.0f} tokens/s "
          f"(min {min(rates):.0f}, max {max(rates):.0f}); {cmed:.0f} tokens per CPU second")
    print(f"RESULT impl=pytorch-{a.impl} what=train tokens_per_s={med:.3f} "
          f"min={min(rates):.3f} max={max(rates):.3f} tokens_per_cpu_s={cmed:.3f} "
          f"batches={len(keys)} threads={a.threads}")


if __name__ == "__main__":
    main()
