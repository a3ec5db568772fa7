"""Scans and recursions over time against PyTorch, side by side: the CTC loss forward
and backward at a speech-like shape (T=50, N=16, C=20, targets of 10 to 30 labels,
``log_softmax`` input), eager and under ``tm.jit``, and the running reductions
``cummax``, ``cummin`` and ``cumsum`` along the last axis (64x1024, 1x65536) and along
axis 0 (1024x64). Steady time of one call (median of several, after a warm-up call that
builds tvmini's kernels), in milliseconds, and the ratio tvmini / torch.

    python benchmarks/scans.py [--repeat 15] [--only ctc|cum] [--threads 2] [--clock wall|cpu]

``--threads`` sets both libraries' threads (tvmini's parallel loops: TVMINI_NUM_THREADS;
torch's intra-op threads). On cores shared with other busy processes wall time counts
the waits for a core, longer for a call that outlasts a time slice than for a short
one; ``--clock cpu`` times the process's CPU time instead (all its threads together,
so with several threads it is the work done, not the latency).
"""
import argparse
import os
import statistics
import time

import numpy as np

import tvmini as tm
import tvmini.nn.functional as F
from common import torch_or_none


def median_ms(fn, repeat, clock=time.perf_counter):
    """The median of ``repeat`` calls of ``fn`` timed by ``clock``, in ms, after one
    warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times) * 1e3


def ctc_case(rng, steps=50, batch=16, classes=20, shortest=10, longest=30):
    """(logits, padded targets, input lengths, target lengths) as numpy arrays; inputs
    shorter than T for a quarter of the batch."""
    logits = rng.standard_normal((steps, batch, classes)).astype("float32")
    counts = rng.integers(shortest, longest + 1, batch)
    targets = rng.integers(1, classes, (batch, longest))
    lengths = np.full(batch, steps)
    lengths[: batch // 4] = rng.integers(longest + 10, steps + 1, batch // 4)
    return logits, targets, lengths, counts


def ctc_step(lib, functional, case):
    """One mean CTC loss of ``log_softmax(logits)`` and its gradient with ``lib``."""
    logits, targets, lengths, counts = case
    leaf = lib.tensor(logits, requires_grad=True)
    loss = functional.ctc_loss(functional.log_softmax(leaf, 2), targets, lengths, counts)
    loss.backward()
    return loss, leaf.grad


def ctc_rows(rng, torch):
    """(name, tvmini call, torch call or None) for the CTC loss."""
    case = ctc_case(rng)
    ours = (case[0], tm.tensor(case[1]), tm.tensor(case[2]), tm.tensor(case[3]))

    def jit_body(logits, targets, lengths, counts):
        loss = F.ctc_loss(F.log_softmax(logits, 2), targets, lengths, counts)
        loss.backward()
        return loss, logits.grad
    leaf = tm.tensor(case[0], requires_grad=True)
    jitted = tm.jit(jit_body)

    def jit_step():
        leaf.grad = None                    # outside the step: one variant, for a leaf without .grad
        return jitted(leaf, *ours[1:])
    theirs = None
    if torch is not None:
        ref = (case[0], *(torch.tensor(a) for a in case[1:]))
        theirs = lambda: ctc_step(torch, torch.nn.functional, ref)  # noqa: E731
    rows = [("ctc_loss fwd+bwd T50 N16 C20 S10-30", lambda: ctc_step(tm, F, ours), theirs)]
    try:
        jit_step()
        rows.append(("ctc_loss fwd+bwd, tm.jit", jit_step, theirs))
    except tm.TVMiniError as err:
        print(f"(ctc_loss under tm.jit: {err})")
    return rows


def cum_rows(rng, torch):
    """(name, tvmini call, torch call or None) for cummax, cummin and cumsum."""
    rows = []
    for shape, dim in (((64, 1024), 1), ((1, 65536), 1), ((1024, 64), 0)):
        x = rng.standard_normal(shape).astype("float32")
        ours, ref = tm.tensor(x), torch.tensor(x) if torch is not None else None
        label = f"{shape[0]}x{shape[1]} dim {dim}"
        for op in ("cummax", "cummin", "cumsum"):
            theirs = (lambda op=op, ref=ref, dim=dim: getattr(torch, op)(ref, dim)) if torch is not None else None
            rows.append((f"{op} {label}", lambda op=op, ours=ours, dim=dim: getattr(tm, op)(ours, dim), theirs))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--only", choices=("ctc", "cum"), default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    os.environ["TVMINI_NUM_THREADS"] = str(args.threads)
    torch = torch_or_none(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    if args.only in (None, "ctc"):
        rows += ctc_rows(rng, torch)
    if args.only in (None, "cum"):
        rows += cum_rows(rng, torch)
    print(f"median {args.clock} ms of {args.repeat} calls, {args.threads} thread(s) each; ratio = tvmini / torch")
    print(f"{'op':40} {'tvmini':>9} {'torch':>9} {'ratio':>7}")
    for name, ours, theirs in rows:
        mine = median_ms(ours, args.repeat, clock)
        if theirs is None:
            print(f"{name:40} {mine:9.3f} {'-':>9} {'-':>7}")
            continue
        ref = median_ms(theirs, args.repeat, clock)
        print(f"{name:40} {mine:9.3f} {ref:9.3f} {mine / ref:7.2f}")


if __name__ == "__main__":
    main()
