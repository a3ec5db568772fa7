"""fp32 GEMM, the classic "optimize GEMM on CPU" recipe step by step, against numpy (and torch).

Each row is one schedule; every schedule is checked against numpy before it is timed.
Run: python benchmarks/gemm.py [--sizes 512 1024 2048] [--skip-naive]
"""
import argparse
import time

import numpy as np

import tvmini as tm
from tvmini import te

BN = 32


def definition(n, packed):
    A = te.placeholder((n, n), name="A")
    B = te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), name="k")
    if not packed:
        C = te.compute((n, n), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
        return A, B, C, None
    PB = te.compute((n // BN, n, BN), lambda x, y, z: B[y, x * BN + z], name="packedB")
    C = te.compute((n, n), lambda i, j: te.sum(A[i, k] * PB[j // BN, k, j % BN], axis=k), name="C")
    return A, B, C, PB


def naive(n):
    A, B, C, _ = definition(n, False)
    return te.create_schedule(C.op), [A, B, C]


def blocked(n, vectorize=False, parallel=False):
    A, B, C, _ = definition(n, False)
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], BN, BN)
    ko, ki = s[C].split(C.op.reduce_axis[0], factor=4)
    s[C].reorder(io, jo, ko, ii, ki, ji)
    if vectorize:
        s[C].vectorize(ji)
    if parallel:
        s[C].parallel(io)
    return s, [A, B, C]


def packed(n):
    """Packed B + cache_write to a local accumulator block, computed at the tile."""
    A, B, C, PB = definition(n, True)
    s = te.create_schedule(C.op)
    CC = s.cache_write(C, "local")
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], BN, BN)
    s[CC].compute_at(s[C], jo)
    i, j = s[CC].op.axis
    ko, ki = s[CC].split(s[CC].op.reduce_axis[0], factor=4)
    s[CC].reorder(ko, i, ki, j)
    s[CC].unroll(ki)
    s[CC].vectorize(j)
    s[C].parallel(io)
    x, y, z = s[PB].op.axis
    s[PB].vectorize(z)
    s[PB].parallel(x)
    return s, [A, B, C]


STEPS = [("naive", naive), ("blocked", blocked), ("blocked+vectorize", lambda n: blocked(n, True)),
         ("+parallel", lambda n: blocked(n, True, True)), ("+packing+cache_write", packed)]


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


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
        np_s = best_of(lambda: a @ b, args.repeat)
        print(f"{n:>5} {'numpy.matmul':<22} {'':>9} {flops / np_s / 1e9:9.1f} {1.0:8.2f}")
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            t_s = best_of(lambda: ta @ tb, args.repeat)
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
