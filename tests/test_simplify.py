"""tir.simplify keeps every integer expression's value: random expressions over two
variables (sums, constant multiples, floor division and modulo by positive constants,
min/max) evaluated at random points, negative ones included, before and after."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te
from tvmini.tir.expr import Const
from tvmini.tir.functor import substitute
from tvmini.tir.simplify import simplify
from strategies import examples

X, Y = te.var("x"), te.var("y")


def expressions():
    leaves = st.sampled_from([X, Y]) | st.integers(-20, 20).map(lambda v: Const(v, "int32"))

    def extend(inner):
        constant = st.integers(1, 24)
        return st.one_of(
            st.tuples(inner, inner).map(lambda ab: ab[0] + ab[1]),
            st.tuples(inner, inner).map(lambda ab: ab[0] - ab[1]),
            st.tuples(inner, st.integers(-6, 6)).map(lambda ab: ab[0] * ab[1]),
            st.tuples(inner, constant).map(lambda ab: ab[0] // ab[1]),
            st.tuples(inner, constant).map(lambda ab: ab[0] % ab[1]),
            st.tuples(inner, inner).map(lambda ab: te.min(ab[0], ab[1])),
            st.tuples(inner, inner).map(lambda ab: te.max(ab[0], ab[1])))
    return st.recursive(leaves, extend, max_leaves=8)


def value(e, x, y):
    folded = simplify(substitute(e, {X: Const(x, "int32"), Y: Const(y, "int32")}))
    assert isinstance(folded, Const), folded
    return folded.value


@examples(300)
@given(expressions(), st.lists(st.tuples(st.integers(-100, 100), st.integers(-100, 100)), min_size=1, max_size=8))
def test_simplify_keeps_values(e, points):
    simple = simplify(e)
    for x, y in points:
        assert value(simple, x, y) == value(e, x, y), f"{e} -> {simple} at x={x}, y={y}"


def test_a_common_factor_of_divisor_and_coefficients_is_divided_out():
    """An unrolled copy of a block of four filters, ``(4*f + 1) // 16``, is the same group
    as the block's first, ``f // 4``; its remainder is ``4 * (f % 4) + 1``."""
    f = te.var("f")
    assert str(simplify((f * 4 + 1) // 16)) == "f // 4"
    assert str(simplify((f * 4 + 1) % 16)) == "f % 4 * 4 + 1"
    assert str(simplify((f * 4 + 6) // 16)) == "(f + 1) // 4"


def test_a_bounded_remainder_term_leaves_the_group_of_the_others():
    """A GPU thread's column ``4*tx + j`` of a block of 32 (``0 <= j < 4`` from its loop)
    is in group ``tx // 8`` at ``4 * (tx % 8) + j``: its four columns share the group, so
    their loads are consecutive (one vector load)."""
    tx, j = te.var("tx"), te.var("j")
    bounds = {j: (0, 3)}
    assert str(simplify((tx * 4 + j) // 32, bounds)) == "tx // 8"
    assert str(simplify((tx * 4 + j) % 32, bounds)) == "tx % 8 * 4 + j"
    assert str(simplify((tx * 4 + j) // 32, {j: (0, 4)})) == "(tx * 4 + j) // 32"   # j may reach the next group


@examples(200)
@given(st.integers(1, 8), st.integers(1, 8), st.integers(-3, 3), st.integers(0, 9), st.integers(1, 64),
       st.lists(st.tuples(st.integers(-200, 200), st.integers(0, 9)), min_size=1, max_size=8))
def test_division_with_a_bounded_term_keeps_its_value(k, big, small, hi, c, points):
    """``(k*big*x + small*y + const) // c`` and ``% c`` with ``y`` in ``[0, hi]``: whatever
    the rule finds, the value at every point inside the bounds is kept."""
    bounds = {Y: (0, hi)}
    e = X * (k * big) + Y * small + k // 2
    for op in (lambda v: v // c, lambda v: v % c):
        simple = simplify(op(e), bounds)
        for x, y in points:
            y = min(y, hi)
            assert value(simple, x, y) == value(op(e), x, y), f"{op(e)} -> {simple} at x={x}, y={y}"


@examples(100)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 12), st.integers(-6, 6),
       st.lists(st.integers(-300, 300), min_size=1, max_size=8))
def test_a_reshaped_index_recombines(a, b, m, scale, points):
    """A row-major index read back through a reshape, ``k // (a*b) * (a*b) + k % (a*b) //
    b * b + k % b``, is ``k`` (times any scale): each ``n // c * c + x % c`` with ``n``
    being ``x`` or ``x % m`` for ``c | m`` merges into ``n``. With a modulus the divisor
    does not divide, the terms stay and keep their value."""
    k = X
    flat = (k // (a * b) * (a * b) + k % (a * b) // b * b + k % b) * scale
    assert str(simplify(flat)) == str(simplify(k * scale))
    kept = k % m // b * b + k % b
    for x in points:
        assert value(simplify(kept), x, 0) == value(kept, x, 0)
        assert value(simplify(flat), x, 0) == x * scale


EIGHT_BIT = {   # expression of x -> its numpy value (wrapping at 8 bits)
    "(x*2)//2": (lambda x: (x * 2) // 2, lambda a: (a * 2) // 2),
    "max(x+100, x)": (lambda x: te.max(x + 100, x), lambda a: np.maximum(a + 100, a)),
    "x < x+1": (lambda x: (x < x + 1).astype(x.dtype), lambda a: (a < a + 1).astype(a.dtype)),
    "(x*4)%4 + (x*3)//3": (lambda x: (x * 4) % 4 + (x * 3) // 3, lambda a: (a * 4) % 4 + (a * 3) // 3),
    "abs(x)": (lambda x: te.abs(x), np.abs),
}


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("which", sorted(EIGHT_BIT))
def test_8_bit_data_keeps_its_wrapping(dtype, which):
    """The no-overflow algebra holds for int32/int64 indices, not for 8-bit data: it
    turned int8 (x * 2) // 2 at 100 into 100 (numpy: -28) and uint8 x < x + 1 into 1.
    uint8 abs compared signed (200 -> 56)."""
    expr, want = EIGHT_BIT[which]
    info = np.iinfo(dtype)
    a = np.array([info.min, info.min + 1, -1 if info.min else 1, 0, 100, info.max - 1, info.max], dtype)
    A = te.placeholder((7,), name="A", dtype=dtype)
    B = te.compute((7,), lambda i: expr(A[i]), name="B")
    out = np.zeros(7, dtype)
    tm.build(te.create_schedule(B.op), [A, B], name=f"wrap_{dtype}")(a, out)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(out, want(a).astype(dtype))


def test_folding_computes_in_the_constants_dtype():
    """A float16/float32 constant holds its dtype's value, so folded arithmetic and casts
    are the kernel's (0.1 as float16 is 0.0999755859375; 70000 is inf; float32's
    16777217 + 1 is 16777216), and a folded max/min with a NaN gives NaN as at run time."""
    assert simplify(te.const(0.1, "float16").astype("float32")).value == float(np.float16(0.1))
    assert simplify(te.const(70000.0, "float16").astype("float32")).value == np.inf
    assert simplify(te.const(16777217.0, "float32") + te.const(1.0, "float32")).value == 16777216.0
    nan, one = te.const(float("nan"), "float32"), te.const(1.0, "float32")
    for folded in (te.max(one, nan), te.min(one, nan), te.max(nan, one)):
        out = simplify(folded)
        assert isinstance(out, Const) and np.isnan(out.value)


def test_zero_sign_survives_simplification_and_negation():
    """``x + 0.0`` is not ``x`` for x = -0.0 (IEEE gives +0.0), ``x + (-0.0)`` and
    ``x - 0.0`` are; ``-x`` is ``-0.0 - x`` (``0 - x`` made -(0.0) +0.0)."""
    x = te.var("x", "float32")
    assert simplify(x + te.const(0.0, "float32")) is not x
    assert simplify(x + te.const(-0.0, "float32")) is x and simplify(x - te.const(0.0, "float32")) is x
    n = te.var("n")
    assert simplify(n + 0) is n
    A = te.placeholder((4,), name="A")
    B = te.compute((4,), lambda i: 1.0 / -A[i] + (A[i] + 0.0) * 0.0, name="B")
    f = tm.build(te.create_schedule(B.op), [A, B], name="signed_zero")
    a, b = np.array([0.0, -0.0, 2.0, -2.0], "float32"), np.zeros(4, "float32")
    f(a, b)
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(b, 1.0 / -a + (a + 0.0) * 0.0)
    assert np.signbit(b[:2]).tolist() == [True, False]


def test_an_integer_fold_past_the_dtype_is_left_to_run_time():
    """``2^31 * 2^31`` in int32 is not folded (it crashed converting 2^93, the bound of a
    fused loop over three symbolic extents): the expression stays and wraps at run time."""
    big = te.const(2**30, "int32")
    e = simplify(big * big)
    assert not isinstance(e, Const)
    d0, d1, d2 = te.var("d0"), te.var("d1"), te.var("d2")
    A = te.placeholder((d0, d1, d2), name="A", dtype="int32")
    C = te.compute((d0, d1, d2), lambda i, j, k: A[i, j, k] + 1, name="C")
    s = te.create_schedule(C.op)
    s[C].fuse(C.op.axis[0], s[C].fuse(C.op.axis[1], C.op.axis[2]))
    f = tm.build(s, [A, C], name="fused_three_symbolic")
    a = np.arange(60, dtype="int32").reshape(3, 4, 5)
    c = np.zeros_like(a)
    f(a, c)
    np.testing.assert_array_equal(c, a + 1)
