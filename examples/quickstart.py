"""tvmini in one page: define a matmul, schedule it, read the loop IR, build, run, time.

Run: python examples/quickstart.py [--size N]
"""
import argparse
import time

import numpy as np

import tvmini as tm
from tvmini import te


def matmul(n):
    A = te.placeholder((n, n), name="A")
    B = te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), name="k")
    C = te.compute((n, n), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C


def blocked_schedule(A, B, C, block=32):
    """Tile the output, accumulate each tile in a local buffer, split k, vectorize j."""
    s = te.create_schedule(C.op)
    CC = s.cache_write(C, "local")
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], block, block)
    s[CC].compute_at(s[C], jo)
    i, j = s[CC].op.axis
    ko, ki = s[CC].split(s[CC].op.reduce_axis[0], factor=4)
    s[CC].reorder(ko, i, ki, j)
    s[CC].vectorize(j)
    s[C].parallel(io)
    return s


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    n = parser.parse_args().size

    A, B, C = matmul(n)
    s = blocked_schedule(A, B, C)
    print(tm.lower(s, [A, B, C], name="matmul"))

    start = time.perf_counter()
    f = tm.build(s, [A, B, C], target="llvm", name="matmul")
    print(f"\nbuilt in {1e3 * (time.perf_counter() - start):.0f} ms")

    a = tm.nd.array(np.random.rand(n, n).astype("float32"))
    b = tm.nd.array(np.random.rand(n, n).astype("float32"))
    c = tm.nd.empty((n, n), "float32")
    f(a, b, c)
    np.testing.assert_allclose(c.numpy(), a.numpy() @ b.numpy(), rtol=1e-4, atol=1e-3)
    print("result matches numpy")

    seconds = f.time_evaluator(number=3, repeat=3)(a, b, c).median
    an, bn = a.numpy(), b.numpy()
    np_seconds = min(_time(lambda: an @ bn) for _ in range(3))
    flops = 2 * n ** 3
    print(f"tvmini {flops / seconds / 1e9:7.1f} GFLOP/s   numpy {flops / np_seconds / 1e9:7.1f} GFLOP/s   "
          f"ratio {np_seconds / seconds:.2f}x")


def _time(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
