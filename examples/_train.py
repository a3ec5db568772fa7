"""The training step both examples run (forward, cross-entropy, backward, optimizer update)
and the profiling of a few of them."""
import os

import tvmini as tm
from tvmini import nn


def make_train_step(model, optimizer, jit=False):
    """``train_step(inputs, labels) -> loss`` for ``model`` and ``optimizer``; compiled by
    ``tm.jit`` when ``jit`` (the same results as eager, with far fewer Python calls)."""
    def train_step(x, y):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    return tm.jit(train_step) if jit else train_step


def profile_steps(model, optimizer, batches, steps, device="cpu", trace=None):
    """Train ``model`` one step on the first of ``batches`` (numpy (inputs, labels) pairs;
    building the kernels), then ``steps`` more under ``tm.profiler``; print the per-kernel
    table and, if ``trace`` is a path, write a Chrome trace there. Returns the profiler."""
    train_step = make_train_step(model, optimizer)

    def step(inputs, labels):
        train_step(tm.tensor(inputs, device=device), tm.tensor(labels, device=device))
    batches = iter(batches)
    step(*next(batches))
    with tm.profiler() as prof:
        for _, batch in zip(range(steps), batches):
            step(*batch)
    print(prof.table())
    if trace:
        os.makedirs(os.path.dirname(os.path.abspath(trace)), exist_ok=True)
        print(f"Chrome trace (chrome://tracing, ui.perfetto.dev): {prof.export_chrome_trace(trace)}")
    return prof
