"""Median milliseconds per training step (forward + backward + optimizer) of the models
tvmini trains — eager, compiled by ``tm.jit`` (one native call per step; "calls" is the
kernel calls in the compiled program, every lane's counted where the batch is split
between the cores: ``graph/jit/passes/lanes.py``) — next to PyTorch CPU (2 threads) when
torch is importable. ``--device cuda`` trains both on the GPU instead (each step timed
until the device is done: ``Device.sync()``, ``torch.cuda.synchronize()``).

Models: the OVERFIT MLP (2-64-256-64-2, ReLU, batch 1024, Adam), the same with
BatchNorm1d after each hidden Linear, the MNIST MLP (784-256-128-10, batch 128, SGD with
momentum), the same with Dropout(0.5) after each hidden ReLU, and LeNet (conv 1->6 5x5, pool, conv 6->16 5x5, pool, 256-120-84-10, batch 64,
SGD with momentum). Random data of the right shapes; kernels are built (or loaded from
the disk cache) during the warm-up steps, which are not timed.

Each round times eager and jit steps in alternating blocks of a few steps and takes
each one's median; the table shows the round with the smaller sum, the least
disturbed on a shared machine, so jit/eager compares steps run under the same
conditions. Torch runs in a block of its own after them in each round (its fastest
median is shown): torch's OpenMP threads and tvmini's spin for a while after each
parallel region, so steps of the two interleaved would slow each other down.
TVMINI_NUM_THREADS sets tvmini's threads.

Run: python benchmarks/train_step.py [--steps 30] [--warmup 5] [--rounds 3] [--torch-threads 2] [--device cuda]
    [--models SUBSTRING]
"""
import argparse
import statistics
import time

import numpy as np

import tvmini as tm

from common import torch_or_none


def overfit_mlp(nn, batchnorm):
    layers, sizes = [], [2, 64, 256, 64]
    for a, b in zip(sizes, sizes[1:]):
        layers.append(nn.Linear(a, b))
        if batchnorm:
            layers.append(nn.BatchNorm1d(b))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers, nn.Linear(64, 2))


def mnist_mlp(nn, dropout=0.0):
    drop = [nn.Dropout(dropout)] if dropout else []
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), *drop, nn.Linear(256, 128), nn.ReLU(), *drop,
                         nn.Linear(128, 10))


def lenet(nn):
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, 10))


# name -> (model builder, input shape, classes, optimizer name, optimizer kwargs)
CASES = {
    "OVERFIT MLP b1024 Adam": (lambda nn: overfit_mlp(nn, False), (1024, 2), 2, "Adam", dict(lr=1e-3)),
    "OVERFIT MLP+BN b1024 Adam": (lambda nn: overfit_mlp(nn, True), (1024, 2), 2, "Adam", dict(lr=1e-3)),
    "MNIST MLP b128 SGD-momentum": (mnist_mlp, (128, 784), 10, "SGD", dict(lr=0.01, momentum=0.9)),
    "MNIST MLP+Dropout b128 SGD-m": (lambda nn: mnist_mlp(nn, 0.5), (128, 784), 10, "SGD",
                                     dict(lr=0.01, momentum=0.9)),
    "LeNet b64 SGD-momentum": (lenet, (64, 1, 28, 28), 10, "SGD", dict(lr=0.01, momentum=0.9)),
}


def paired_medians(steps_fns, steps, warmup, block=10, settle=5):
    """Median milliseconds of each of ``steps_fns``, timed in alternating blocks of
    ``block`` steps, each block after ``settle`` untimed steps. Blocks of a few
    milliseconds alternate far faster than a shared host's speed drifts (tens of percent
    over seconds), so every function sees the same state of the machine; timing each in
    one block of its own made their ratios swing by as much. The untimed steps let a
    step reach the speed it has in training, where steps run back to back: right after
    the other function's block a step runs slower for several steps (measured on the
    MNIST MLP: jit steps 0.69, 0.54, 0.50, 0.46 ms, then 0.42-0.44 from the fifth;
    eager steps 0.83, 0.75, then 0.72-0.73), which timing from the second step on
    counted against whichever step is faster."""
    for _ in range(warmup):
        for step in steps_fns:
            step()
    times = [[] for _ in steps_fns]
    for _ in range(-(-steps // block)):
        for step, record in zip(steps_fns, times):
            for _ in range(settle):
                step()
            for _ in range(block):
                start = time.perf_counter()
                step()
                record.append(time.perf_counter() - start)
    return [1e3 * statistics.median(t) for t in times]


def make_step(lib, case, jit=False, device="cpu"):
    """One training step of ``case`` written once for both frameworks: ``lib`` is
    ``tvmini`` or ``torch``, whose ``nn``, ``optim``, ``tensor``, ``.to(device)`` and
    ``nn.functional.cross_entropy`` take the same arguments; ``jit`` compiles tvmini's
    step with ``tm.jit`` (the function gets ``.compiled``, the JitFunction). On CUDA a
    step waits for the device at its end, so it is timed to its last kernel."""
    build, shape, classes, opt_name, kwargs = case
    rng = np.random.default_rng(0)
    model = build(lib.nn).to(device)
    opt = getattr(lib.optim, opt_name)(model.parameters(), **kwargs)
    x = lib.tensor(rng.normal(size=shape).astype("float32"), device=device)
    y = lib.tensor(rng.integers(0, classes, size=shape[0]), device=device)
    sync = (lib.cuda.synchronize if lib is not tm else tm.cuda(0).sync) if device == "cuda" else (lambda: None)

    def train_step(x, y):
        opt.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    compiled = tm.jit(train_step) if jit else train_step

    def step():
        compiled(x, y)
        sync()
    step.compiled = compiled
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where both frameworks train (cuda: against PyTorch on the same GPU)")
    parser.add_argument("--models", default="", help="only the models whose name contains this")
    args = parser.parse_args()
    if not any(args.models in name for name in CASES):
        parser.error(f"--models {args.models!r} matches no model; the models are: " + ", ".join(CASES))
    torch = torch_or_none(args.torch_threads)
    if torch is not None and args.device == "cuda" and not torch.cuda.is_available():
        torch = None
    print(f"{'model':28s} {'eager ms':>9s} {'calls':>6s} {'jit ms':>8s} {'calls':>6s} {'jit/eager':>10s} "
          f"{'torch ms':>9s} {'eager/torch':>12s} {'jit/torch':>10s}")
    for name, case in CASES.items():
        if args.models not in name:
            continue
        eager, jitted = make_step(tm, case, device=args.device), make_step(tm, case, jit=True, device=args.device)
        ref_step = make_step(torch, case, device=args.device) if torch is not None else None
        rounds, ref = [], float("inf")
        for _ in range(args.rounds):
            rounds.append(paired_medians([eager, jitted], args.steps, args.warmup))
            if ref_step is not None:
                ref = min(ref, paired_medians([ref_step], args.steps, args.warmup)[0])
        ms, jit_ms = min(rounds, key=sum)           # the least disturbed round
        jit_calls = len(jitted.compiled.graph.calls())
        line = (f"{name:28s} {ms:9.2f} {count_kernel_calls(eager):6d} {jit_ms:8.2f} {jit_calls:6d} "
                f"{jit_ms / ms:10.2f}")
        if ref_step is not None:
            line += f" {ref:9.2f} {ms / ref:12.2f} {jit_ms / ref:10.2f}"
        else:
            line += f" {'n/a':>9s}  (torch not installed{' or without CUDA' if args.device == 'cuda' else ''})"
        print(line, flush=True)


def count_kernel_calls(step):
    """Kernel calls made by one step (counted by a kernel-call observer)."""
    from tvmini.runtime.module import add_call_observer, remove_call_observer
    calls = []

    def count(module, args, start_ns, end_ns):
        calls.append(module)
    add_call_observer(count)
    try:
        step()
    finally:
        remove_call_observer(count)
    return len(calls)


if __name__ == "__main__":
    main()
