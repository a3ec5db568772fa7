"""The tensor functions of the tensorops modules (sampling, index updates, running
reductions, order statistics, distances) with tvmini, numpy (where it has the function)
and PyTorch (when installed), side by side: the steady time of one call, after a
warm-up call that builds tvmini's kernels.

Several of these are reductions over a whole line per output (cummax, logcumsumexp,
scatter_reduce: n^2 per line, no atomics) or compare every pair (mode, histc, isin), so
they are meant for the moderate sizes used here; the ratios show where that costs.
Two fixed-shape rows time layers that were slow when new: adaptive max pooling
(8x64x32x32 -> 7x7, forward with indices) and the CTC loss (T=50, N=8, C=20, S=10,
forward and backward).

    python benchmarks/tensorops.py [--n 256]
"""
import argparse

import numpy as np

import tvmini as tm
import tvmini.nn.functional as F
from common import print_call_table, torch_or_none


def _ctc_case(rng, steps=50, batch=8, classes=20, longest=10):
    """(log-probabilities, padded targets, input lengths, target lengths) as numpy arrays."""
    log_probs = np.log(rng.dirichlet(np.ones(classes), (steps, batch))).astype("float32")
    return (log_probs, rng.integers(1, classes, (batch, longest)), np.full(batch, steps),
            rng.integers(3, longest + 1, batch))


def _ctc_step(lib, functional, case):
    """The mean CTC loss and its gradient with ``lib`` (tvmini or torch)."""
    log_probs, targets, lengths, counts = case
    leaf = lib.tensor(log_probs, requires_grad=True)
    functional.ctc_loss(leaf, lib.tensor(targets), lib.tensor(lengths), lib.tensor(counts)).backward()
    return leaf.grad


def cases(n, torch):
    """(name, tvmini call, numpy call or None, torch call or None)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, n)).astype("float32")
    weights = rng.random((n // 4, n)).astype("float32")
    index = rng.integers(0, n // 8, (n, n))
    values = rng.integers(1, 10 ** 6, (n, n)).astype("int64")
    tx, tw, ti, tv = tm.tensor(x), tm.tensor(weights), tm.tensor(index), tm.tensor(values)
    pool = rng.standard_normal((8, 64, 32, 32)).astype("float32")
    tpool = tm.tensor(pool)
    ctc = _ctc_case(rng)
    out = [
        ("normal_ (n x n)", lambda: tm.zeros(n, n).normal_(), lambda: rng.standard_normal((n, n)), None),
        ("multinomial 16 of n, no repl.", lambda: tm.multinomial(tw, 16), None, None),
        ("scatter_reduce amax (dim 0)", lambda: tm.zeros(n // 8, n).scatter_reduce(0, ti, tx, "amax"), None, None),
        ("cummax (dim 1)", lambda: tm.cummax(tx, 1), lambda: np.maximum.accumulate(x, 1), None),
        ("logcumsumexp (dim 1)", lambda: tm.logcumsumexp(tx, 1), lambda: np.logaddexp.accumulate(x, 1), None),
        ("quantile 0.3 (dim 1)", lambda: tm.quantile(tx, 0.3, 1), lambda: np.quantile(x, 0.3, 1), None),
        ("cdist p=2 (n/4 x n rows)", lambda: tm.cdist(tx[: n // 4, :32], tx[:, :32]), None, None),
        ("gcd int64 (n x n)", lambda: tm.gcd(tv, tv.flip(0)), lambda: np.gcd(values, values[::-1]), None),
        ("histc 64 bins", lambda: tm.histc(tx, 64), lambda: np.histogram(x, 64), None),
        ("adaptive_max_pool2d ->7x7", lambda: F.adaptive_max_pool2d(tpool, 7, True), None, None),
        ("ctc_loss fwd+bwd", lambda: _ctc_step(tm, F, ctc), None, None),
    ]
    if torch is not None:
        px, pw, pi, pv, ppool = (torch.tensor(a) for a in (x, weights, index, values, pool))
        with_torch = {
            "normal_ (n x n)": lambda: torch.zeros(n, n).normal_(),
            "multinomial 16 of n, no repl.": lambda: torch.multinomial(pw, 16),
            "scatter_reduce amax (dim 0)": lambda: torch.zeros(n // 8, n).scatter_reduce(0, pi, px, "amax"),
            "cummax (dim 1)": lambda: torch.cummax(px, 1),
            "logcumsumexp (dim 1)": lambda: torch.logcumsumexp(px, 1),
            "quantile 0.3 (dim 1)": lambda: torch.quantile(px, 0.3, 1),
            "cdist p=2 (n/4 x n rows)": lambda: torch.cdist(px[: n // 4, :32], px[:, :32]),
            "gcd int64 (n x n)": lambda: torch.gcd(pv, pv.flip(0)),
            "histc 64 bins": lambda: torch.histc(px, 64),
            "adaptive_max_pool2d ->7x7": lambda: torch.nn.functional.adaptive_max_pool2d(ppool, 7, True),
            "ctc_loss fwd+bwd": lambda: _ctc_step(torch, torch.nn.functional, ctc),
        }
        out = [(name, ours, ref, with_torch[name]) for name, ours, ref, _ in out]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256)
    args = parser.parse_args()
    torch = torch_or_none()
    print(f"n = {args.n}; microseconds per call (fastest of 5, alternating rounds); ratio = tvmini / other")
    print_call_table(cases(args.n, torch), calls=5, rounds=2, width=32)


if __name__ == "__main__":
    main()
