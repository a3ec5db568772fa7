"""The tensor functions added with ``graph/shape_fns.py``, ``scatter_view_ops.py``,
``float_fns.py``, ``integration_ops.py``, ``nan_order_ops.py``, ``histogram_ops.py``,
``index_reduce``, ``pdist``, ``addbmm`` and ``nn.RReLU``/``F.gumbel_softmax`` with
tvmini, numpy (where it has the function) and PyTorch (when installed), side by side:
the steady time of one eager call, after a warm-up call that builds tvmini's kernels.

Most are compositions of a few kernels, so the per-call overhead of the eager graph
layer shows at the moderate sizes used here.

    python benchmarks/tensor_fns.py [--n 256] [--threads 2]

``--threads`` sets both libraries' threads (tvmini's parallel loops: TVMINI_NUM_THREADS,
read when its kernels are built; torch's intra-op threads).
"""
import argparse
import os

import numpy as np

import tvmini as tm
import tvmini.nn.functional as F
from common import print_call_table, torch_or_none


def cases(n, torch):
    """(name, tvmini call, numpy call or None, torch call or None)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, n)).astype("float32")
    y = rng.standard_normal((n, n)).astype("float32")
    x[rng.random((n, n)) < 0.1] = np.nan
    b1 = rng.standard_normal((8, n, 64)).astype("float32")
    b2 = rng.standard_normal((8, 64, n)).astype("float32")
    rows = rng.standard_normal((n // 2, 32)).astype("float32")
    index = rng.integers(0, n // 4, n)
    clean = np.nan_to_num(x)
    tx, ty, tc, tb1, tb2, trows = (tm.tensor(a) for a in (x, y, clean, b1, b2, rows))
    tindex, small = tm.tensor(index), tm.zeros(n // 4, n)
    out = [
        ("addbmm (8 x n x 64 @ 8 x 64 x n)", lambda: tm.addbmm(tc, tb1, tb2), lambda: clean + np.einsum(
            "bij,bjk->ik", b1, b2), lambda p: p.addbmm(p.c, *p.b)),
        ("fmax (n x n, NaNs)", lambda: tm.fmax(tx, ty), lambda: np.fmax(x, y), lambda p: p.fmax(p.x, p.y)),
        ("frexp (n x n)", lambda: tm.frexp(ty), lambda: np.frexp(y), lambda p: p.frexp(p.y)),
        ("nextafter (n x n)", lambda: tm.nextafter(ty, tc), lambda: np.nextafter(y, clean),
         lambda p: p.nextafter(p.y, p.c)),
        ("diagonal_scatter (n x n)", lambda: tm.diagonal_scatter(tc, ty[0], 0), None,
         lambda p: p.diagonal_scatter(p.c, p.y[0], 0)),
        ("trapezoid (dim 1)", lambda: tm.trapezoid(tc), lambda: np.trapezoid(clean), lambda p: p.trapezoid(p.c)),
        ("gradient edge_order 2", lambda: tm.gradient(tc, edge_order=2), lambda: np.gradient(clean, edge_order=2),
         lambda p: p.gradient(p.c, edge_order=2)),
        ("nanmedian (dim 1)", lambda: tm.nanmedian(tx, 1), lambda: np.nanmedian(x, 1),
         lambda p: p.nanmedian(p.x, 1)),
        ("histogram 64 bins", lambda: tm.histogram(tc, 64), lambda: np.histogram(clean, 64),
         lambda p: p.histogram(p.c, 64)),
        ("index_reduce amax (dim 0)", lambda: tm.index_reduce(small, 0, tindex, tc, "amax"), None,
         lambda p: p.zeros(n // 4, n).index_reduce(0, p.i, p.c, "amax")),
        ("pdist (n/2 rows of 32)", lambda: tm.pdist(trows), None, lambda p: p.pdist(p.rows)),
        ("rrelu training", lambda: F.rrelu(tc, training=True), None,
         lambda p: p.nn.functional.rrelu(p.c, training=True)),
        ("gumbel_softmax hard (dim 1)", lambda: F.gumbel_softmax(tc, hard=True), None,
         lambda p: p.nn.functional.gumbel_softmax(p.c, hard=True)),
    ]
    if torch is None:
        return [(name, ours, ref, None) for name, ours, ref, _ in out]
    p = _Operands(torch, x=x, y=y, c=clean, rows=rows, i=index)
    p.b = (torch.tensor(b1), torch.tensor(b2))
    return [(name, ours, ref, (lambda call: (lambda: call(p)))(call)) for name, ours, ref, call in out]


class _Operands:
    """PyTorch's functions (``p.fmax``) beside the benchmark's operands as torch tensors
    (``p.x``), for the torch calls of :func:`cases`."""

    def __init__(self, torch, **arrays):
        self._torch = torch
        self.__dict__.update({name: torch.tensor(a) for name, a in arrays.items()})

    def __getattr__(self, name):
        return getattr(self._torch, name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ["TVMINI_NUM_THREADS"] = str(args.threads)
    torch = torch_or_none(args.threads)
    print(f"n = {args.n}, {args.threads} thread(s) each; microseconds per call (fastest of 15 calls in each of 3 alternating rounds: the cores are "
          "shared); ratio = tvmini / other")
    print_call_table(cases(args.n, torch), calls=15, rounds=3, width=34)


if __name__ == "__main__":
    main()
