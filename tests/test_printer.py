"""Golden tests of the loop-IR printer: ``str(tm.lower(...))`` for small schedules.

The expected text is written out here; it must be readable (one statement per line,
loop kinds and allocations visible) and stable (the same schedule prints the same
text every time, also when the definitions are rebuilt from scratch).
"""
import textwrap

import pytest

import tvmini as tm
from tvmini import te


def elementwise_split():
    A = te.placeholder((10,), name="A")
    B = te.compute((10,), lambda i: A[i] * 2.0 + 1.0, name="B")
    s = te.create_schedule(B.op)
    s[B].split(B.op.axis[0], factor=4)
    return s, [A, B], "scale"


def elementwise_split_divisible():
    A = te.placeholder((12,), name="A")
    B = te.compute((12,), lambda i: A[i] - 1.0, name="B")
    s = te.create_schedule(B.op)
    s[B].split(B.op.axis[0], factor=4)
    return s, [A, B], "dec"


def rowsum():
    n = te.var("n")
    A = te.placeholder((n, 8), name="A")
    k = te.reduce_axis((0, 8), name="k")
    R = te.compute((n,), lambda i: te.sum(A[i, k], axis=k), name="R")
    s = te.create_schedule(R.op)
    return s, [A, R], "rowsum"


def square_compute_at():
    A = te.placeholder((8, 8), name="A")
    B = te.compute((8, 8), lambda i, j: A[i, j] + 1.0, name="B")
    C = te.compute((8, 8), lambda i, j: B[i, j] * B[i, j], name="C")
    s = te.create_schedule(C.op)
    s[B].compute_at(s[C], C.op.axis[0])
    return s, [A, C], "square"


def annotated_transpose():
    A = te.placeholder((64, 64), name="A")
    B = te.compute((64, 64), lambda i, j: A[j, i], name="B")
    s = te.create_schedule(B.op)
    io, ii = s[B].split(B.op.axis[0], factor=16)
    jo, ji = s[B].split(B.op.axis[1], factor=8)
    s[B].reorder(io, jo, ii, ji)
    s[B].parallel(io)
    s[B].unroll(ii)
    s[B].vectorize(ji)
    return s, [A, B], "transpose"


def cache_write_sum():
    A = te.placeholder((4, 6), name="A")
    k = te.reduce_axis((0, 6), name="k")
    M = te.compute((4,), lambda i: te.sum(A[i, k], axis=k), name="M")
    s = te.create_schedule(M.op)
    ML = s.cache_write(M, "local")
    s[ML].compute_at(s[M], M.op.axis[0])
    return s, [A, M], "rowsum_local"


GOLDEN = {
    elementwise_split: """
        def scale(A: float32[10], B: float32[10]):
          for i.outer in range(3):
            for i.inner in range(4):
              if i.outer * 4 + i.inner < 10:
                B[i.outer * 4 + i.inner] = A[i.outer * 4 + i.inner] * 2.0f + 1.0f
        """,
    elementwise_split_divisible: """
        def dec(A: float32[12], B: float32[12]):
          for i.outer in range(3):
            for i.inner in range(4):
              B[i.outer * 4 + i.inner] = A[i.outer * 4 + i.inner] - 1.0f
        """,
    rowsum: """
        def rowsum(A: float32[n, 8], R: float32[n], n: int32):
          for i in range(n):
            R[i] = 0.0f
            for k in range(8):
              R[i] = R[i] + A[i * 8 + k]
        """,
    square_compute_at: """
        def square(A: float32[8, 8], C: float32[8, 8]):
          for i in range(8):
            allocate B: float32[1, 8] in global
            for j in range(8):
              B[j] = A[i * 8 + j] + 1.0f
            for j_1 in range(8):
              C[i * 8 + j_1] = B[j_1] * B[j_1]
        """,
    annotated_transpose: """
        def transpose(A: float32[64, 64], B: float32[64, 64]):
          parallel for i.outer in range(4):
            for j.outer in range(8):
              unrolled for i.inner in range(16):
                vectorized for j.inner in range(8):
                  B[i.outer * 1024 + i.inner * 64 + j.outer * 8 + j.inner] = A[j.outer * 512 + j.inner * 64 + i.outer * 16 + i.inner]
        """,
    cache_write_sum: """
        def rowsum_local(A: float32[4, 6], M: float32[4]):
          for i in range(4):
            allocate M.local: float32[1] in local
            M.local[0] = 0.0f
            for k in range(6):
              M.local[0] = M.local[0] + A[i * 6 + k]
            M[i] = M.local[0]
        """,
}


@pytest.mark.parametrize("make", list(GOLDEN), ids=lambda f: f.__name__)
def test_golden(make):
    s, args, name = make()
    text = str(tm.lower(s, args, name=name))
    expected = textwrap.dedent(GOLDEN[make]).strip("\n")
    assert text.rstrip("\n") == expected, f"printed IR:\n{text}"


@pytest.mark.parametrize("make", list(GOLDEN), ids=lambda f: f.__name__)
def test_stable(make):
    """The same schedule lowered twice, and a rebuilt identical schedule, print alike."""
    s, args, name = make()
    first = str(tm.lower(s, args, name=name))
    second = str(tm.lower(s, args, name=name))
    s2, args2, _ = make()
    third = str(tm.lower(s2, args2, name=name))
    assert first == second == third


def test_build_does_not_change_the_printed_schedule():
    s, args, name = elementwise_split()
    before = str(tm.lower(s, args, name=name))
    tm.build(s, args, name=name)
    assert str(tm.lower(s, args, name=name)) == before


def test_one_statement_per_line_and_two_space_indent():
    s, args, name = square_compute_at()
    lines = str(tm.lower(s, args, name=name)).splitlines()
    assert lines[0].startswith("def square(")
    for line in lines[1:]:
        indent = len(line) - len(line.lstrip(" "))
        assert indent % 2 == 0 and indent >= 2, line
        assert ";" not in line


def test_infinite_constants_print_readably():
    """The identity of a max reduction is -inf; it must not print as '-inff'."""
    A = te.placeholder((4, 6), name="A")
    k = te.reduce_axis((0, 6), name="k")
    M = te.compute((4,), lambda i: te.max(A[i, k], axis=k), name="M")
    s = te.create_schedule(M.op)
    text = str(tm.lower(s, [A, M], name="rowmax"))
    assert "max(M[i], A[i * 6 + k])" in text
    assert "inf" in text
    assert "inff" not in text and "nanf" not in text, text


def test_bound_thread_loops_print_their_tag():
    A = te.placeholder((64,), name="A")
    B = te.compute((64,), lambda i: A[i] + 1.0, name="B")
    s = te.create_schedule(B.op)
    bx, tx = s[B].split(B.op.axis[0], factor=16)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    text = str(tm.lower(s, [A, B], name="bound"))
    assert "bound to blockIdx.x" in text and "bound to threadIdx.x" in text, text
