"""fp32 GEMM, the classic "optimize GEMM on CPU" recipe step by step, against numpy (and torch).

Each row is one schedule; every schedule is checked against numpy before it is timed.
Columns: milliseconds and GFLOP/s of the fastest call, the speed relative to numpy and to
torch (above 1: faster), and the fraction of the machine's fp32 FMA peak, measured by
``common.fma_probe`` (every core running independent vector FMA chains; the nominal
peak from /proc/cpuinfo's clock is printed beside it). numpy, torch, the peak probe and
the schedules are timed in alternating rounds (``--rounds``), each taking its fastest of
``--repeat`` calls; the naive schedule is timed once. Build (compile) times: benchmarks/build_time.py.
Run: python benchmarks/gemm.py [--sizes 512 1024 2048] [--skip-naive] [--repeat 3] [--rounds 3]
"""
import argparse
import sys
from pathlib import Path

import numpy as np

import tvmini as tm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from gemm_tutorial import STEPS  # noqa: E402  (the recipe lives in the tutorial)

from common import best_of_rounds, best_seconds, fma_probe, nominal_peak, torch_or_none  # noqa: E402

NAIVE_MAX = 1024        # the naive schedule takes ~1 min per call at 2048


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--skip-naive", action="store_true", help="skip the (slow) naive schedule")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per contender per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds over all contenders")
    args = parser.parse_args()
    torch = torch_or_none()
    probe, probe_flop = fma_probe()
    nominal, how = nominal_peak()
    print("fp32 FMA peak: nominal " + (f"{nominal / 1e9:.1f} GFLOP/s ({how})" if nominal else how))
    print(f"{'n':>5} {'schedule':<22} {'ms':>9} {'GFLOP/s':>8} {'x numpy':>8} {'x torch':>8} {'% peak':>7}")
    for n in args.sizes:
        a = np.random.rand(n, n).astype("float32")
        b = np.random.rand(n, n).astype("float32")
        expected = a @ b
        timers = {"fma peak": lambda: best_seconds(probe, 20),
                  "numpy.matmul": lambda: best_seconds(lambda: a @ b, args.repeat)}
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            timers["torch.matmul"] = lambda: best_seconds(lambda: ta @ tb, args.repeat)
        naive = None
        for label, make in STEPS:
            if label == "naive" and (args.skip_naive or n > NAIVE_MAX):
                continue
            s, tensors = make(n)
            f = tm.build(s, tensors, name="gemm")
            c = np.zeros((n, n), "float32")
            f(a, b, c)
            np.testing.assert_allclose(c, expected, rtol=1e-3, atol=1e-2 * n / 512)
            timer = f.time_evaluator(number=1, repeat=args.repeat)
            if label == "naive":
                naive = f.time_evaluator(number=1, repeat=1)(a, b, c).min
            else:
                timers[label] = lambda timer=timer, c=c: timer(a, b, c).min
        seconds = best_of_rounds(timers, args.rounds)
        if naive is not None:
            seconds["naive"] = naive
        peak = probe_flop / seconds.pop("fma peak")
        print(f"{n:>5} {'(measured FMA peak)':<22} {'':>9} {peak / 1e9:8.1f}")
        flops = 2.0 * n ** 3
        order = [k for k in ("numpy.matmul", "torch.matmul") if k in seconds]
        order += [label for label, _ in STEPS if label in seconds]
        for label in order:
            t = seconds[label]
            vs_torch = f"{seconds['torch.matmul'] / t:8.2f}" if "torch.matmul" in seconds else f"{'n/a':>8}"
            print(f"{n:>5} {label:<22} {t * 1e3:9.2f} {flops / t / 1e9:8.1f} {seconds['numpy.matmul'] / t:8.2f} "
                  f"{vs_torch} {100 * flops / t / peak:6.1f}%", flush=True)


if __name__ == "__main__":
    main()
