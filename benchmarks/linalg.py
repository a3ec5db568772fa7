"""tm.linalg's solvers against torch.linalg (and numpy.linalg), side by side: the median
time of one call of ``solve`` (8 right-hand sides), ``inv``, ``det``, ``cholesky`` and
``lu_factor`` (of the matrices and of their left halves, tall n x n/2: tvmini factors
those as the zero-padded n x n matrices; numpy has no LU) on a batch of 64 matrices of
64 x 64 and on one 512 x 512 matrix, float32, after a warm-up call that builds
tvmini's kernels.

tvmini's LU runs one step kernel per column, and Cholesky and the substitutions do
too below ``linalg_kernels.BLOCKED_MIN`` columns (each call rewrites the whole batch of
matrices); from there Cholesky factors panels of ``BLOCK`` columns (the step kernels on
the panel only) and updates the rest by GEMM, and a substitution solves a block of rows
at a time by GEMMs with the inverse of its diagonal block (``topi.linalg_blocked``).
The step loops call their kernel natively after checking its arguments once
(``dispatch.run_inplace_steps``). The ratios show what the remaining calls cost.

    python benchmarks/linalg.py [--repeat 5] [--cases 64x64,1x512] [--best] [--cpu]

On cores shared with other busy processes, a parallel loop waits for its slowest
thread at every kernel call (and tvmini makes n calls per factorization), so the
figures are steadier with one thread everywhere:
``TVMINI_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/linalg.py`` (torch then
gets one thread too); with one thread, ``--cpu --best`` (the fastest call in CPU time)
leaves out the time spent waiting for a core and is the steadiest figure.
"""
import argparse
import os
import statistics
import time

import numpy as np

import tvmini as tm
from common import torch_or_none


def _seconds(fn, repeat, best, clock=time.perf_counter):
    """The median (``best``: the fastest) of ``repeat`` calls of ``fn`` timed by ``clock``."""
    fn()                                    # build the kernels (tvmini) / warm up
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    return min(times) if best else statistics.median(times)


def cases(batch, n, torch):
    """(name, tvmini call, numpy call or None, torch call or None) for ``batch`` matrices
    of n x n."""
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((batch, n, n)) / n ** 0.5 + np.eye(n)).astype("float32")    # log |det| ~ 0
    b = rng.standard_normal((batch, n, 8)).astype("float32")
    m = rng.standard_normal((batch, n, n)).astype("float32")
    spd = (m @ m.transpose(0, 2, 1) / n + np.eye(n)).astype("float32")
    tall = np.ascontiguousarray(a[..., : n // 2])
    ta, tb, ts, tt = tm.tensor(a), tm.tensor(b), tm.tensor(spd), tm.tensor(tall)
    out = [("solve (8 rhs)", lambda: tm.linalg.solve(ta, tb), lambda: np.linalg.solve(a, b)),
           ("inv", lambda: tm.linalg.inv(ta), lambda: np.linalg.inv(a)),
           ("det", lambda: tm.linalg.det(ta), lambda: np.linalg.det(a)),
           ("cholesky", lambda: tm.linalg.cholesky(ts), lambda: np.linalg.cholesky(spd)),
           ("lu_factor", lambda: tm.linalg.lu_factor(ta), None),
           (f"lu_factor ({n} x {n // 2})", lambda: tm.linalg.lu_factor(tt), None)]
    if torch is None:
        return [(name, ours, ref, None) for name, ours, ref in out]
    pa, pb, ps, pt = (torch.tensor(x) for x in (a, b, spd, tall))
    theirs = [lambda: torch.linalg.solve(pa, pb), lambda: torch.linalg.inv(pa), lambda: torch.linalg.det(pa),
              lambda: torch.linalg.cholesky(ps), lambda: torch.linalg.lu_factor(pa),
              lambda: torch.linalg.lu_factor(pt)]
    return [(name, ours, ref, t) for (name, ours, ref), t in zip(out, theirs)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cases", default="64x64,1x512", help="batch x n, comma-separated")
    parser.add_argument("--best", action="store_true",
                        help="report the fastest call instead of the median (on cores other processes share)")
    parser.add_argument("--cpu", action="store_true",
                        help="time the process's CPU time instead of the wall clock: on loaded cores it leaves out "
                             "the time the process waits for one; meaningful with one thread everywhere")
    args = parser.parse_args()
    torch = torch_or_none(threads=int(os.environ.get("TVMINI_NUM_THREADS", "2")))
    stat = "fastest" if args.best else "median"
    clock = time.process_time if args.cpu else time.perf_counter
    print(f"float32; {'CPU ' if args.cpu else ''}milliseconds per call ({stat} of {args.repeat}); "
          "ratio = tvmini / other")
    print(f"{'op':24} {'tvmini':>10} {'numpy':>10} {'torch':>10} {'x numpy':>8} {'x torch':>8}")
    for case in args.cases.split(","):
        batch, n = (int(v) for v in case.split("x"))
        print(f"-- {batch} x ({n} x {n})")
        for name, ours, ref, theirs in cases(batch, n, torch):
            ms = {"tvmini": _seconds(ours, args.repeat, args.best, clock) * 1e3}
            if ref is not None:
                ms["numpy"] = _seconds(ref, args.repeat, args.best, clock) * 1e3
            if theirs is not None:
                ms["torch"] = _seconds(theirs, args.repeat, args.best, clock) * 1e3
            cells = [f"{ms[k]:10.3f}" if k in ms else f"{'-':>10}" for k in ("tvmini", "numpy", "torch")]
            ratios = [f"{ms['tvmini'] / ms[k]:8.1f}" if k in ms else f"{'-':>8}" for k in ("numpy", "torch")]
            print(f"{name:24} {' '.join(cells)} {' '.join(ratios)}", flush=True)


if __name__ == "__main__":
    main()
