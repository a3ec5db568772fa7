"""Fused elementwise relu(a*b + c) on 2^24 floats: memory bandwidth against numpy.

Prints GB/s (bytes read + written by the kernel) for tvmini's fused kernel, numpy's
unfused expression and a numpy copy moving the same number of bytes, plus the per-launch
overhead of a parallel loop (an empty-ish kernel with a parallel outer loop).
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


if __name__ == "__main__":
    main()
