"""Reads outside a tensor (``lower.reads``): refused when built where certain, checked
at each call where they depend on the call's extents or scalars, never where the
definition guards them or proves them inside."""
import numpy as np
import pytest

import tvmini as tm
from tvmini import te
from strategies import unique


def shifted(shift):
    """``B[i] = A[i + shift]`` over ``i < n`` for an ``(n,)`` A."""
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i + shift], name="B")
    return tm.build(te.create_schedule(B.op), [A, B], name=unique("shifted"))


def test_a_read_certainly_outside_is_a_build_error():
    A = te.placeholder((16,), name="A")
    C = te.compute((4,), lambda i: A[i + 20], name="C")
    with pytest.raises(tm.BuildError, match="C reads A outside it: along axis 0 its index i \\+ 20 runs from 20 to "
                                            "23, but A has extent 16 there"):
        tm.build(te.create_schedule(C.op), [A, C])
    with pytest.raises(tm.BuildError, match="along axis 1 its index j - 1 runs from -1 to 2"):
        X = te.placeholder((3, 4), name="X")
        Y = te.compute((3, 4), lambda i, j: X[i, j - 1], name="Y")
        tm.build(te.create_schedule(Y.op), [X, Y])


def test_a_read_outside_at_some_extents_is_refused_when_called_with_them():
    f = shifted(1)
    with pytest.raises(tm.ShapeError, match="at n=5 its B reads A at indices 1..5 along axis 0, outside its extent 5"):
        f(np.ones(5, "float32"), np.zeros(5, "float32"))
    f(np.ones(0, "float32"), np.zeros(0, "float32"))        # no element: nothing is read


def test_a_read_at_a_scalar_offset_is_checked_with_the_scalar():
    off = te.var("off")
    A = te.placeholder((16,), name="A")
    C = te.compute((4,), lambda i: A[i + off], name="C")
    g = tm.build(te.create_schedule(C.op), [A, C, off], name=unique("offset"))
    a, c = np.arange(16, dtype="float32"), np.zeros(4, "float32")
    g(a, c, 12)
    np.testing.assert_array_equal(c, [12, 13, 14, 15])
    for bad, span in ((13, "13..16"), (-1, "-1..2"), (10**8, "100000000..100000003")):
        with pytest.raises(tm.ShapeError, match=f"off={bad} its C reads A at indices {span} along axis 0, outside "
                                                "its extent 16"):
            g(a, c, bad)


def test_guarded_reads_and_reads_proven_inside_cost_nothing_at_call_time():
    """Reads inside an if_then_else branch or under a where condition are guarded by
    the definition; reads proven inside (constant shapes, a valid 1-D convolution over
    symbolic extents) need no check: the kernels keep the fast argument path."""
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n,), name="A")
    P = te.compute((n,), lambda i: te.if_then_else(i >= 1, A[i - 1], 0.0), name="P")
    k = te.reduce_axis((0, n), name="k")
    S = te.compute((1,), lambda z: te.sum(A[k - 1], axis=k, where=k >= 1), name="S")
    M = te.placeholder((n, m), name="M")
    r = te.reduce_axis((0, m), name="r")
    R = te.compute((n,), lambda i: te.sum(M[i, r], axis=r), name="R")
    X, W = te.placeholder((10,), name="X"), te.placeholder((3,), name="W")
    q = te.reduce_axis((0, 3), name="q")
    Y = te.compute((8,), lambda i: te.sum(X[i + q] * W[q], axis=q), name="Y")
    for out, args in ((P, [A, P]), (S, [A, S]), (R, [M, R]), (Y, [X, W, Y])):
        f = tm.build(te.create_schedule(out.op), args, name=unique("inside"))
        assert f.limits == (), (out.name, f.limits)
    f = tm.build(te.create_schedule(P.op), [A, P], name=unique("padded"))
    p = np.zeros(4, "float32")
    f(np.arange(1, 5, dtype="float32"), p)
    np.testing.assert_array_equal(p, [0, 1, 2, 3])
