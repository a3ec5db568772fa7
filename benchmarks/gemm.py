"""fp32 GEMM, the classic "optimize GEMM on CPU" recipe step by step, against numpy (and torch).

Each row is one schedule; every schedule is checked against numpy before it is timed.
Run: python benchmarks/gemm.py [--sizes 512 1024 2048] [--skip-naive]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

import tvmini as tm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from gemm_tutorial import STEPS  # noqa: E402  (the recipe lives in the tutorial)

from common import best_seconds  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--skip-naive", action="store_true", help="skip the (slow) naive schedule")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    try:
        import torch
        torch.set_num_threads(2)
    except ImportError:
        torch = None
    print(f"{'n':>5} {'schedule':<22} {'build ms':>9} {'GFLOP/s':>9} {'x numpy':>8}")
    for n in args.sizes:
        a = np.random.rand(n, n).astype("float32")
        b = np.random.rand(n, n).astype("float32")
        flops = 2.0 * n ** 3
        np_s = best_seconds(lambda: a @ b, args.repeat)
        print(f"{n:>5} {'numpy.matmul':<22} {'':>9} {flops / np_s / 1e9:9.1f} {1.0:8.2f}")
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            t_s = best_seconds(lambda: ta @ tb, args.repeat)
            print(f"{n:>5} {'torch.matmul':<22} {'':>9} {flops / t_s / 1e9:9.1f} {np_s / t_s:8.2f}")
        expected = a @ b
        for label, make in STEPS:
            if label == "naive" and (args.skip_naive or n > 1024):
                continue
            s, tensors = make(n)
            start = time.perf_counter()
            f = tm.build(s, tensors, name="gemm")
            build_ms = 1e3 * (time.perf_counter() - start)
            c = np.zeros((n, n), "float32")
            f(a, b, c)
            np.testing.assert_allclose(c, expected, rtol=1e-3, atol=1e-2 * n / 512)
            repeat = 1 if label == "naive" else args.repeat
            seconds = f.time_evaluator(number=1, repeat=repeat)(a, b, c).min
            print(f"{n:>5} {label:<22} {build_ms:9.0f} {flops / seconds / 1e9:9.1f} {np_s / seconds:8.2f}")


if __name__ == "__main__":
    main()
