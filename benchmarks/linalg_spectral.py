"""``tm.linalg.qr``, ``eigh`` and ``svd`` against numpy (LAPACK) and PyTorch, side by
side: milliseconds per call (the fastest of a few, after a call that builds tvmini's
kernels) on a batch of 64 matrices of 32x32 and on one 256x256 matrix (``--shapes``
for others, e.g. ``1x8x8 1x64x64``), float32 (``--dtype float64``).

tvmini runs one kernel per Householder reflection and per Jacobi round (a 256x256
sweep is 255 rounds, after the first two of a sweep each the native call alone; eigh
and the SVD stop after the first sweep that leaves the matrix diagonal, resp. its
columns orthogonal, to the dtype's precision), so the per-call overhead of the kernels
and the Jacobi method's extra arithmetic and memory passes against LAPACK's
tridiagonal/bidiagonal methods show in the ratios.

    python benchmarks/linalg_spectral.py [--rounds 2] [--torch-threads 2] [--dtype float32] [--shapes 64x32x32 ...]

On cores shared with other work, one thread each is the steadier comparison, and
``--cpu-time`` times each call by the CPU time of the process (all its threads), which
other processes' load does not inflate as it does the wall clock:
``TVMINI_NUM_THREADS=1 python benchmarks/linalg_spectral.py --torch-threads 1 --cpu-time``.
"""
import argparse
import time

import numpy as np

import tvmini as tm
from common import best_of_rounds, best_seconds, torch_or_none

SHAPES = ((64, 32, 32), (1, 256, 256))


def shape_name(shape):
    return "x".join(str(d) for d in shape)


def _timer(fn, repeat, cpu_time=False):
    fn()                                    # build the kernels (tvmini) / warm up
    clock = time.process_time if cpu_time else time.perf_counter
    return lambda: best_seconds(fn, repeat=repeat, clock=clock)


def cases(shape, torch, dtype="float32"):
    """(name, tvmini call, numpy call, torch call or None) for matrices of ``shape``."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape).astype(dtype)
    sym = (a + np.swapaxes(a, -1, -2)) / 2
    ours, ours_sym = tm.tensor(a), tm.tensor(sym)
    out = [("qr", lambda: tm.linalg.qr(ours), lambda: np.linalg.qr(a)),
           ("eigh", lambda: tm.linalg.eigh(ours_sym), lambda: np.linalg.eigh(sym)),
           ("svd (full_matrices=False)", lambda: tm.linalg.svd(ours, full_matrices=False),
            lambda: np.linalg.svd(a, full_matrices=False))]
    if torch is None:
        return [(name, mine, ref, None) for name, mine, ref in out]
    theirs, theirs_sym = torch.tensor(a), torch.tensor(sym)
    calls = [lambda: torch.linalg.qr(theirs), lambda: torch.linalg.eigh(theirs_sym),
             lambda: torch.linalg.svd(theirs, full_matrices=False)]
    return [(name, mine, ref, call) for (name, mine, ref), call in zip(out, calls)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--shapes", nargs="+", metavar="BxMxN", default=[shape_name(s) for s in SHAPES],
                        help="batch x rows x columns of the matrices")
    parser.add_argument("--cpu-time", action="store_true", help="time by the process's CPU time, not the wall clock")
    args = parser.parse_args()
    torch = torch_or_none(args.torch_threads)
    clock = "CPU" if args.cpu_time else "wall-clock"
    print(f"{args.dtype}: {clock} milliseconds per call (fastest of 3, alternating rounds); ratio = tvmini / other")
    print(f"{'op':34} {'tvmini':>10} {'numpy':>10} {'torch':>10} {'x numpy':>8} {'x torch':>8}")
    for shape in (tuple(int(d) for d in text.split("x")) for text in args.shapes):
        for name, ours, ref, theirs in cases(shape, torch, args.dtype):
            timers = {"tvmini": _timer(ours, 3, args.cpu_time), "numpy": _timer(ref, 3, args.cpu_time)}
            if theirs is not None:
                timers["torch"] = _timer(theirs, 3, args.cpu_time)
            ms = {k: v * 1e3 for k, v in best_of_rounds(timers, rounds=args.rounds, settle=0.05).items()}
            cells = [f"{ms[k]:10.2f}" if k in ms else f"{'-':>10}" for k in ("tvmini", "numpy", "torch")]
            ratios = [f"{ms['tvmini'] / ms[k]:8.1f}" if k in ms else f"{'-':>8}" for k in ("numpy", "torch")]
            label = f"{name} {shape[0]}x({shape[1]}x{shape[2]})"
            print(f"{label:34} {' '.join(cells)} {' '.join(ratios)}", flush=True)


if __name__ == "__main__":
    main()
