"""Fused elementwise relu(a*b + c) on 2^24 floats: memory bandwidth against numpy.

Prints GB/s (bytes read + written by the kernel) for tvmini's fused kernel, numpy's
unfused expression and a numpy copy moving the same number of bytes, plus the per-launch
overhead of a parallel loop (an empty-ish kernel with a parallel outer loop).

Then a plain ``te.sum`` over the same 2^24 floats (default schedule, one loop) built
strict (the default: the sum runs in the schedule's order, one scalar add after the
other) and with ``fastmath=True`` (LLVM reassociates it into vector partial sums),
against ``numpy.sum``; the relative error of each against a float64 sum is printed too.
Run: python benchmarks/elementwise.py [--log2n 24]
"""
import argparse

import numpy as np

import tvmini as tm
from tvmini import te

from common import best_seconds


def fused(n, lanes=8, parallel=True):
    A, B, C = (te.placeholder((n,), name=x) for x in "ABC")
    D = te.compute((n,), lambda i: te.max(A[i] * B[i] + C[i], 0.0), name="D")
    s = te.create_schedule(D.op)
    xo, xi = s[D].split(D.op.axis[0], factor=lanes * 64)
    xio, xii = s[D].split(xi, factor=lanes)
    s[D].vectorize(xii)
    if parallel:
        s[D].parallel(xo)
    return tm.build(s, [A, B, C, D], name="relu_fma")


def total(n, fastmath):
    """``B[0] = sum_k A[k]`` with the default schedule (a single scalar loop)."""
    A = te.placeholder((n,), name="A")
    k = te.reduce_axis((0, n), name="k")
    B = te.compute((1,), lambda _: te.sum(A[k], axis=k), name="B")
    return tm.build(te.create_schedule(B.op), [A, B], name="sum_fast" if fastmath else "sum_strict",
                    fastmath=fastmath)


def sum_rows(a):
    """Time ``numpy.sum`` and the strict and fast-math sums of ``a``; print a table."""
    exact = a.sum(dtype="float64")
    out = np.empty(1, "float32")
    rows = [("numpy sum", best_seconds(lambda: a.sum(), repeat=10), float(a.sum()))]
    for label, fastmath in (("tvmini sum, strict", False), ("tvmini sum, fastmath", True)):
        f = total(a.size, fastmath)
        f(a, out)
        rows.append((label, f.time_evaluator(number=1, repeat=10)(a, out).min, float(out[0])))
    print(f"\nsum of {a.size} floats (best of 10)")
    print(f"{'kernel':<28} {'ms':>8} {'GB/s':>8} {'x numpy':>8} {'rel. error':>11}")
    for label, seconds, value in rows:
        print(f"{label:<28} {1e3 * seconds:8.2f} {a.nbytes / seconds / 1e9:8.1f} {rows[0][1] / seconds:8.2f} "
              f"{abs(value - exact) / abs(exact):11.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log2n", type=int, default=24)
    n = 1 << parser.parse_args().log2n
    a, b, c = (np.random.rand(n).astype("float32") - 0.5 for _ in range(3))
    d = np.empty(n, "float32")
    kernel_bytes = 4 * n * 4                       # 3 reads + 1 write
    copy_src = np.random.rand(2 * n).astype("float32")
    copy_dst = np.empty_like(copy_src)             # a copy of 2n floats moves the same 4n*4 bytes

    rows = []
    copy_s = best_seconds(lambda: np.copyto(copy_dst, copy_src))
    rows.append(("numpy copy (same bytes)", copy_s))
    unfused_s = best_seconds(lambda: np.maximum(a * b + c, 0.0, out=d))
    rows.append(("numpy relu(a*b+c) unfused", unfused_s))
    for label, parallel in (("tvmini fused, 1 loop", False), ("tvmini fused, parallel", True)):
        f = fused(n, parallel=parallel)
        f(a, b, c, d)
        np.testing.assert_allclose(d, np.maximum(a * b + c, 0), rtol=1e-5, atol=1e-6)
        rows.append((label, f.time_evaluator(number=1, repeat=10)(a, b, c, d).min))
    print(f"{'kernel':<28} {'ms':>8} {'GB/s':>8} {'x copy':>8} {'x unfused':>10}")
    for label, seconds in rows:
        print(f"{label:<28} {1e3 * seconds:8.2f} {kernel_bytes / seconds / 1e9:8.1f} "
              f"{copy_s / seconds:8.2f} {unfused_s / seconds:10.2f}")

    tiny = fused(1024, parallel=True)
    small = np.zeros(1024, "float32")
    launch = tiny.time_evaluator(number=1000, repeat=5)(small, small.copy(), small.copy(), np.empty_like(small))
    serial = fused(1024, parallel=False).time_evaluator(number=1000, repeat=5)(
        small, small.copy(), small.copy(), np.empty_like(small))
    print(f"\nparallel launch overhead (1024 elements, parallel minus serial): "
          f"{1e6 * (launch.median - serial.median):.1f} us per call")
    sum_rows(copy_src[:n])          # positive values: a relative error means something


if __name__ == "__main__":
    main()
