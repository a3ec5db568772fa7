"""tm.special against torch.special (and scipy.special, when installed) on 2^20 elements,
side by side: the steady time of one call after a warm-up call that builds tvmini's
kernel. tvmini computes every function in float64 (a float32 tensor is rounded once at
the end), with fixed iteration counts (no early exit), so the ratios show what that
costs against PyTorch's per-dtype loops.

    python benchmarks/special.py [--n 1048576] [--dtype float32] [--only erfc,erfinv,ndtri]
"""
import argparse

import numpy as np

import tvmini as tm
from common import best_of_rounds, best_seconds, torch_or_none

#: name -> (argument maker from a rng and n, torch call name, scipy call name or None)
UNARY = {
    "gammaln": (lambda rng, n: rng.uniform(-20, 50, n), "gammaln", "gammaln"),
    "digamma": (lambda rng, n: rng.uniform(-20, 50, n), "digamma", "psi"),
    "erfc": (lambda rng, n: rng.uniform(-6, 6, n), "erfc", "erfc"),
    "erfcx": (lambda rng, n: rng.uniform(-6, 30, n), "erfcx", "erfcx"),
    "erfinv": (lambda rng, n: rng.uniform(-1, 1, n), "erfinv", "erfinv"),
    "ndtri": (lambda rng, n: rng.uniform(0, 1, n), "ndtri", "ndtri"),
    "log_ndtr": (lambda rng, n: rng.uniform(-20, 5, n), "log_ndtr", "log_ndtr"),
    "i0e": (lambda rng, n: rng.uniform(-30, 30, n), "i0e", "i0e"),
    "i1": (lambda rng, n: rng.uniform(-30, 30, n), "i1", "i1"),
    "entr": (lambda rng, n: rng.uniform(0, 5, n), "entr", "entr"),
}


def _timer(fn):
    fn()                                    # build the kernels (tvmini) / warm up
    return lambda: best_seconds(fn, repeat=3)


def cases(n, dtype, torch, scipy):
    """(name, tvmini call, torch call or None, scipy call or None)."""
    rng = np.random.default_rng(0)
    out = []
    for name, (make, torch_name, scipy_name) in UNARY.items():
        values = make(rng, n).astype(dtype)
        t = tm.tensor(values)
        out.append((name, lambda t=t, name=name: getattr(tm.special, name)(t).numpy(),
                    torch and (lambda v=torch.from_numpy(values), f=getattr(torch.special, torch_name): f(v)),
                    scipy and (lambda v=values, f=getattr(scipy, scipy_name): f(v))))
    x = rng.uniform(-5, 8, n).astype(dtype)
    out.append(("polygamma(2, x)", lambda t=tm.tensor(x): tm.polygamma(2, t).numpy(),
                torch and (lambda v=torch.from_numpy(x): torch.polygamma(2, v)),
                scipy and (lambda v=x: scipy.polygamma(2, v))))
    a, b = rng.uniform(0.1, 50, n).astype(dtype), rng.uniform(0, 60, n).astype(dtype)
    out.append(("gammainc", lambda u=tm.tensor(a), v=tm.tensor(b): tm.special.gammainc(u, v).numpy(),
                torch and (lambda u=torch.from_numpy(a), v=torch.from_numpy(b): torch.special.gammainc(u, v)),
                scipy and (lambda u=a, v=b: scipy.gammainc(u, v))))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1 << 20)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--only", default="", help="comma-separated op names to run (default: all)")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    torch = torch_or_none()
    try:
        import scipy.special as scipy
    except ImportError:
        scipy = None
    print(f"n = {args.n} {args.dtype}; milliseconds per call (fastest of 3, alternating rounds); "
          "ratio = tvmini / other")
    print(f"{'op':18} {'tvmini':>9} {'torch':>9} {'scipy':>9} {'x torch':>8} {'x scipy':>8}")
    for name, ours, theirs, scipys in cases(args.n, args.dtype, torch, scipy):
        if only and name not in only:
            continue
        timers = {"tvmini": _timer(ours)}
        for label, fn in (("torch", theirs), ("scipy", scipys)):
            if fn is not None:
                timers[label] = _timer(fn)
        best = best_of_rounds(timers, rounds=2, settle=0.05)
        cells = [f"{best[k] * 1e3:9.2f}" if k in best else f"{'-':>9}" for k in ("tvmini", "torch", "scipy")]
        ratios = [f"{best['tvmini'] / best[k]:8.2f}" if k in best else f"{'-':>8}" for k in ("torch", "scipy")]
        print(f"{name:18} {' '.join(cells)} {' '.join(ratios)}", flush=True)


if __name__ == "__main__":
    main()
