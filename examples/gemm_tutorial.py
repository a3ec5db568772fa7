"""How to optimize GEMM on the CPU with tvmini, one schedule primitive at a time.

Each step prints the lowered loop IR (so you can see what the primitive did) and the
speed of the built kernel next to numpy's BLAS. benchmarks/gemm.py runs the same
recipe at several sizes.
Run: python examples/gemm_tutorial.py [--size 1024] [--no-ir] [--rounds 3]
     python examples/gemm_tutorial.py --explain [STEP]   (the loop IR after each primitive
     of one step, default the last one; see tm.explain)

Each step is timed in alternating rounds with numpy (benchmarks/common.py's
best_of_rounds), and its ratio uses numpy's fastest time from the same rounds, so that a
burst of outside load on shared cores does not land on one side only. Like the other
examples it sets ``OMP_WAIT_POLICY=PASSIVE`` unless it is set already: libgomp's worker
threads otherwise spin while waiting for work, and while other processes loaded the two
cores of the test machine that made the parallel steps 1-4 GFLOP/s instead of 65-100.
On an idle machine the sleeping workers cost the parallel steps some speed (n=512 on 2
cores: 120-150 instead of 180-220 GFLOP/s); run with ``OMP_WAIT_POLICY=ACTIVE`` there.
"""
import argparse
import os
import sys

# libgomp reads this when it is loaded, i.e. with the first parallel kernel.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

import tvmini as tm  # noqa: E402
from tvmini import te  # noqa: E402
from tvmini.codegen.llvm_target import vector_bits, vector_registers  # noqa: E402
from _cli import positive_int  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
from common import best_of_rounds, best_seconds  # noqa: E402

BLOCK = 32


def definition(n, pack=None):
    """C = A @ B; with ``pack`` columns, B is first re-laid out as [ceil(n/pack)][n][pack].

    When ``pack`` does not divide ``n``, the last column block is padded with zeros (the
    packing reads B only where the column exists), so that C's last, partial column
    block reads packed values that exist."""
    A = te.placeholder((n, n), name="A")
    B = te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), name="k")
    if not pack:
        return A, B, te.compute((n, n), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C"), None
    blocks = (n + pack - 1) // pack
    PB = te.compute((blocks, n, pack),
                    lambda x, y, z: te.if_then_else(x * pack + z < n, B[y, x * pack + z], 0.0), name="packedB")
    C = te.compute((n, n), lambda i, j: te.sum(A[i, k] * PB[j // pack, k, j % pack], axis=k), name="C")
    return A, B, C, PB


def naive(n):
    """Step 0: the default schedule, three nested loops."""
    A, B, C, _ = definition(n)
    return te.create_schedule(C.op), [A, B, C]


def blocked(n, vectorize=False, parallel=False):
    """Step 1: tile i and j by 32 and split k by 4, so a block of C stays in cache.
    Step 2 (vectorize): the innermost j loop becomes SIMD lanes.
    Step 3 (parallel): the outer row-block loop runs on all cores."""
    A, B, C, _ = definition(n)
    s = te.create_schedule(C.op)
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], BLOCK, BLOCK)
    ko, ki = s[C].split(C.op.reduce_axis[0], factor=4)
    s[C].reorder(io, jo, ko, ii, ki, ji)
    if vectorize:
        s[C].vectorize(ji)
    if parallel:
        s[C].parallel(io)
    return s, [A, B, C]


def packed(n):
    """Step 4: pack B so the inner loop reads it contiguously, and accumulate each
    32x32 block of C in a local buffer (cache_write) computed at the tile."""
    A, B, C, PB = definition(n, pack=BLOCK)
    s = te.create_schedule(C.op)
    CC = s.cache_write(C, "local")
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], BLOCK, BLOCK)
    s[CC].compute_at(s[C], jo)
    i, j = s[CC].op.axis
    ko, ki = s[CC].split(s[CC].op.reduce_axis[0], factor=4)
    s[CC].reorder(ko, i, ki, j)
    s[CC].vectorize(j)
    s[C].parallel(io)
    schedule_packing(s, PB)
    return s, [A, B, C]


def schedule_packing(s, PB):
    """The packing of B: column blocks in parallel, each block's columns as SIMD lanes."""
    x, y, z = s[PB].op.axis
    s[PB].vectorize(z)
    s[PB].parallel(x)


def register_blocked(n, rows=None, cols=None):
    """Step 5 (beyond the classic recipe): shrink the local block of C to what the
    host's vector registers hold, so it never leaves them while k runs over the whole
    row. With AVX2 (16 ymm registers) 4 x 16: 8 accumulators, per k 4 broadcasts of A
    and 2 vector loads of B (packed by 16 columns) feed 8 FMAs. With AVX-512 (32 zmm
    registers of 16 floats) 8 x 32: 16 accumulators (measured on Zen 5: 410-430 GFLOP/s
    against 210 for 4 x 16). The 32 x 32 block of step 4 (128 AVX2 vectors) fits no
    register file: its machine code loads and stores every accumulator vector again
    after each 4 FMAs."""
    lanes = vector_bits() // 32
    rows = rows or (8 if vector_registers() >= 32 else 4)
    cols = cols or 2 * lanes
    A, B, C, PB = definition(n, pack=cols)
    s = te.create_schedule(C.op)
    CC = s.cache_write(C, "local")
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], rows, cols)
    s[C].vectorize(ji)
    s[C].parallel(io)
    s[CC].compute_at(s[C], jo)
    i, j = s[CC].op.axis
    (k,) = s[CC].op.reduce_axis
    s[CC].reorder(k, i, j)
    s[CC].unroll(i)
    s[CC].vectorize(j)
    schedule_packing(s, PB)
    return s, [A, B, C]


STEPS = [("naive", naive), ("blocked", blocked), ("blocked+vectorize", lambda n: blocked(n, True)),
         ("+parallel", lambda n: blocked(n, True, True)), ("+packing+cache_write", packed),
         ("+register blocking", register_blocked)]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=positive_int, default=1024)
    parser.add_argument("--no-ir", action="store_true", help="do not print the loop IR of each step")
    parser.add_argument("--rounds", type=positive_int, default=3,
                        help="alternating rounds of numpy and each step (the naive step: one round)")
    parser.add_argument("--explain", nargs="?", const=STEPS[-1][0], choices=[label for label, _ in STEPS],
                        metavar="STEP", help="print the loop IR after each primitive of STEP and exit; STEP is one of "
                        + ", ".join(label for label, _ in STEPS) + f" (default {STEPS[-1][0]})")
    args = parser.parse_args()
    n = args.size
    if args.explain:
        s, tensors = dict(STEPS)[args.explain](n)
        tm.explain(s, tensors, name="gemm")
        return
    a = np.random.rand(n, n).astype("float32")
    b = np.random.rand(n, n).astype("float32")
    expected = a @ b
    flops = 2.0 * n ** 3
    print(f"C = A @ B at n={n}, each step timed in alternation with numpy's a @ b\n")
    for label, make in STEPS:
        s, tensors = make(n)
        print(f"== {label}: {(make.__doc__ or '').strip() or ''}")
        if not args.no_ir:
            print(tm.lower(s, tensors, name="gemm"))
        f = tm.build(s, tensors, name="gemm")
        c = np.zeros((n, n), "float32")
        f(a, b, c)
        np.testing.assert_allclose(c, expected, rtol=1e-3, atol=1e-2 * n / 512)
        timer = f.time_evaluator(number=1, repeat=1 if label == "naive" else 5)
        # numpy gets 20 calls per round: on two shared cores OpenBLAS's first ~10 calls
        # after an idle pause measured 10-15x slower (13 instead of 190 GFLOP/s at 512).
        seconds = best_of_rounds({"numpy": lambda: best_seconds(lambda: a @ b, 20),
                                  label: lambda: timer(a, b, c).min}, 1 if label == "naive" else args.rounds)
        print(f"-> {flops / seconds[label] / 1e9:.1f} GFLOP/s, {seconds['numpy'] / seconds[label]:.2f}x numpy "
              f"({flops / seconds['numpy'] / 1e9:.1f} GFLOP/s in the same rounds)\n")


if __name__ == "__main__":
    main()
