"""gcd/lcm, cdist, histc and quantile with tvmini and PyTorch side by side: the median
time of one eager call in milliseconds (after a warm-up call that builds tvmini's
kernels) and the ratio tvmini / torch, plus the cold build time of the gcd kernels.

Cases: ``gcd``/``lcm`` of 1M int32 and int64 pairs drawn from [-10^6, 10^6] (about a
tenth zero-free Euclid chains of ~12 steps: the data torch's while loop sees), ``cdist``
of 512x64 against 1024x64 rows for p=2 in each compute mode, p=1 and p=inf, and a
batched 8x128x64 against 8x256x64 (p=2), ``histc`` of 1M float32 normals into 100
bins, and ``quantile`` of a 64x1024 float32 matrix along the last axis and over all
elements, with a scalar q and a tensor of 5 q's.

The cold build column runs ``tm.gcd`` on 8 elements in a fresh process whose
``TVMINI_CACHE_DIR`` is an empty temporary folder, after one tiny kernel has paid LLVM's
one-time start-up: the seconds that the first gcd of a dtype costs a user.

    python benchmarks/numeric.py [--rounds 3] [--only gcd,cdist,histc,quantile]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import tvmini as tm
from common import torch_or_none

COLD_CHILD = """
import time, numpy as np, tvmini as tm
tm.tensor(np.ones(4, "float32")).exp()                     # LLVM's one-time start-up
a, b = tm.tensor(np.arange(8).astype({dtype!r})), tm.tensor(np.arange(8, 0, -1).astype({dtype!r}))
start = time.perf_counter()
tm.{op}(a, b)
print(time.perf_counter() - start)
"""


GROUPS = ("gcd", "cdist", "histc", "quantile")


def cold_build_seconds(op, dtype):
    """Seconds of the first ``tm.<op>`` on ``dtype`` in a fresh process with an empty kernel cache."""
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, TVMINI_CACHE_DIR=folder)
        out = subprocess.run([sys.executable, "-c", COLD_CHILD.format(op=op, dtype=dtype)], env=env, cwd=folder,
                             capture_output=True, text=True, check=True)     # cwd: import the parent's tvmini
    return float(out.stdout.split()[-1])


def median_ms(fn, repeat):
    """The median of ``repeat`` timed calls of ``fn`` (after one untimed call), in ms."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def cases(torch, only):
    """(group, name, tvmini call, torch call)."""
    rng = np.random.default_rng(0)
    out = []
    if "gcd" in only:
        for dtype in ("int32", "int64"):
            a, b = (rng.integers(-10 ** 6, 10 ** 6, 1 << 20).astype(dtype) for _ in range(2))
            ta, tb, pa, pb = tm.tensor(a), tm.tensor(b), torch.tensor(a), torch.tensor(b)
            out.append(("gcd", f"gcd {dtype} 1M", lambda ta=ta, tb=tb: tm.gcd(ta, tb),
                        lambda pa=pa, pb=pb: torch.gcd(pa, pb)))
            out.append(("gcd", f"lcm {dtype} 1M", lambda ta=ta, tb=tb: tm.lcm(ta, tb),
                        lambda pa=pa, pb=pb: torch.lcm(pa, pb)))
    if "cdist" in only:
        x1, x2 = rng.standard_normal((512, 64), "float32"), rng.standard_normal((1024, 64), "float32")
        b1, b2 = rng.standard_normal((8, 128, 64), "float32"), rng.standard_normal((8, 256, 64), "float32")
        t1, t2, tb1, tb2 = (tm.tensor(v) for v in (x1, x2, b1, b2))
        p1, p2, pb1, pb2 = (torch.tensor(v) for v in (x1, x2, b1, b2))
        for mode in ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"):
            out.append(("cdist", f"cdist p=2 {mode.replace('_for_euclid_dist', '')}",
                        lambda mode=mode: tm.cdist(t1, t2, 2.0, mode),
                        lambda mode=mode: torch.cdist(p1, p2, 2.0, mode)))
        for p in (1.0, float("inf")):
            out.append(("cdist", f"cdist p={p:g}", lambda p=p: tm.cdist(t1, t2, p),
                        lambda p=p: torch.cdist(p1, p2, p)))
        out.append(("cdist", "cdist p=2 batched 8x128 / 8x256", lambda: tm.cdist(tb1, tb2),
                    lambda: torch.cdist(pb1, pb2)))
    if "histc" in only:
        x = rng.standard_normal(1 << 20).astype("float32")
        tx, px = tm.tensor(x), torch.tensor(x)
        out.append(("histc", "histc 1M 100 bins (data range)", lambda: tm.histc(tx, 100),
                    lambda: torch.histc(px, 100)))
        out.append(("histc", "histc 1M 100 bins [-2, 2]", lambda: tm.histc(tx, 100, -2, 2),
                    lambda: torch.histc(px, 100, -2, 2)))
    if "quantile" in only:
        x = rng.standard_normal((64, 1024)).astype("float32")
        q = np.array([0.1, 0.25, 0.5, 0.75, 0.9], "float32")
        tx, px, tq, pq = tm.tensor(x), torch.tensor(x), tm.tensor(q), torch.tensor(q)
        out += [("quantile", "quantile 0.3 dim=-1", lambda: tm.quantile(tx, 0.3, -1),
                 lambda: torch.quantile(px, 0.3, -1)),
                ("quantile", "quantile 5 q dim=-1", lambda: tm.quantile(tx, tq, -1),
                 lambda: torch.quantile(px, pq, -1)),
                ("quantile", "quantile 0.3 all", lambda: tm.quantile(tx, 0.3), lambda: torch.quantile(px, 0.3)),
                ("quantile", "quantile 5 q all", lambda: tm.quantile(tx, tq), lambda: torch.quantile(px, pq))]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of timed calls")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per round")
    parser.add_argument("--only", default=",".join(GROUPS), help="comma-separated groups to run")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if only - set(GROUPS):
        parser.error(f"--only {args.only!r}: unknown groups {sorted(only - set(GROUPS))}; the groups are "
                     f"{', '.join(GROUPS)}")
    torch = torch_or_none()
    if torch is None:
        sys.exit("benchmarks/numeric.py compares with PyTorch: install torch")
    if "gcd" in only:
        for op in ("gcd", "lcm"):
            for dtype in ("int32", "int64"):
                print(f"cold build of tm.{op} {dtype}: {cold_build_seconds(op, dtype):.2f} s")
    print(f"median ms per call ({args.rounds} alternating rounds x {args.repeat} calls, "
          f"the best round's median); ratio = tvmini / torch")
    print(f"{'case':44} {'tvmini':>9} {'torch':>9} {'ratio':>7}")
    for _, name, ours, theirs in cases(torch, only):
        best = {"tvmini": float("inf"), "torch": float("inf")}
        for _ in range(args.rounds):
            best["tvmini"] = min(best["tvmini"], median_ms(ours, args.repeat))
            best["torch"] = min(best["torch"], median_ms(theirs, args.repeat))
        print(f"{name:44} {best['tvmini']:9.3f} {best['torch']:9.3f} {best['tvmini'] / best['torch']:7.2f}", flush=True)


if __name__ == "__main__":
    main()
