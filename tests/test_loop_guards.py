"""A reduction's ``where`` condition placed on the loop it restricts (``lower.nest`` with
``tir.loop_guards``): under random schedules the results equal numpy's masked sums, a
unit-coefficient bound on a serial loop becomes that loop's bounds (no test left inside
it), the FLOP count is the number of points summed, and the convolution data gradients
that use it (LeNet's second layer's border rows, a strided one's kernel taps per phase)
match a direct computation."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tvmini as tm
from tvmini import te, topi
from tvmini.tir.expr import Const
from tvmini.tir.functor import walk
from tvmini.tir.stmt import For, IfThenElse

from strategies import examples, random_schedule, unique
from test_topi_conv import np_conv2d, np_conv2d_grads, out_size

RNG = np.random.default_rng(0)


def _loops_over(func, name):
    found = []
    walk(func.body, lambda n: found.append(n) if isinstance(n, For) and n.var.name == name else None)
    return found


def _ifs_inside(loop):
    found = []
    walk(loop.body, lambda n: found.append(n) if isinstance(n, IfThenElse) else None)
    return found


@examples(40)
@given(data=st.data(), m=st.integers(1, 20), n=st.integers(1, 30), p=st.sampled_from([-1, 0, 1, 2]),
       q=st.sampled_from([-2, -1, 1, 2]), offset=st.integers(-25, 25), width=st.integers(0, 30),
       extra=st.booleans())
def test_where_sums_match_numpy_under_random_schedules(data, m, n, p, q, offset, width, extra):
    """``out[i] = sum_k x[i, k] where lo <= p*i + q*k + offset < lo + width`` (and, with
    ``extra``, ``k`` even: a conjunct that is not a bound)."""
    x = te.placeholder((m, n), name="x")
    k = te.reduce_axis((0, n), name="k")
    out = te.compute((m,), lambda i: te.sum(x[i, k], axis=k, where=te.all(
        i * p + k * q + offset >= 0, i * p + k * q + offset < width, *([k % 2 == 0] if extra else []))), name="out")
    sch = te.create_schedule(out.op)
    random_schedule(data, sch[out], parallel=True)
    f = tm.build(sch, [x, out], name=unique("where_sum"))
    X = RNG.standard_normal((m, n)).astype("float32")
    got = np.full(m, np.nan, "float32")
    f(X, got)
    i, kk = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    value = i * p + kk * q + offset
    mask = (value >= 0) & (value < width) & ((kk % 2 == 0) if extra else True)
    np.testing.assert_allclose(got, np.where(mask, X, 0).sum(axis=1), rtol=1e-5, atol=1e-5)
    assert f.flops == int(mask.sum())


def test_a_unit_bound_becomes_the_loop_bounds():
    """A bound on ``k`` with coefficient 1 or -1 leaves no test in the ``k`` loop; with
    coefficient 2 the test stays, inside the loop."""
    x = te.placeholder((12, 20), name="x")
    for q, tightened in ((1, True), (-1, True), (2, False)):
        k = te.reduce_axis((0, 20), name="k")
        out = te.compute((12,), lambda i: te.sum(x[i, k], axis=k, where=te.all(i + k * q >= 4, i + k * q < 15)),
                         name="out")
        (loop,) = _loops_over(tm.lower(te.create_schedule(out.op), [x, out]), "k")
        assert (not _ifs_inside(loop)) == tightened
        assert isinstance(loop.extent, Const) != tightened


def _two_axis_sum(m, n, q, a, b):
    """``out[i] = sum_{k, l} x[i, k, l] where i + a <= k < i + a + 4 and l >= b - i``."""
    x = te.placeholder((m, n, q), name="x")
    k, l = te.reduce_axis((0, n), name="k"), te.reduce_axis((0, q), name="l")
    return x, te.compute((m,), lambda i: te.sum(x[i, k, l], axis=[k, l], where=te.all(
        k >= i + a, k < i + a + 4, l >= b - i)), name="out")


@examples(20)
@given(data=st.data(), m=st.integers(1, 9), n=st.integers(1, 12), q=st.integers(1, 12), a=st.integers(-6, 6),
       b=st.integers(-6, 6))
def test_two_axis_where_sums_match_numpy_under_random_schedules(data, m, n, q, a, b):
    x, out = _two_axis_sum(m, n, q, a, b)
    sch = te.create_schedule(out.op)
    random_schedule(data, sch[out], parallel=True)
    f = tm.build(sch, [x, out], name=unique("two_axis_where"))
    X = RNG.standard_normal((m, n, q)).astype("float32")
    got = np.full(m, np.nan, "float32")
    f(X, got)
    i, kk, ll = np.meshgrid(np.arange(m), np.arange(n), np.arange(q), indexing="ij")
    mask = (kk >= i + a) & (kk < i + a + 4) & (ll >= b - i)
    np.testing.assert_allclose(got, np.where(mask, X, 0).sum(axis=(1, 2)), rtol=1e-5, atol=1e-5)
    assert f.flops == int(mask.sum())


def test_conditions_on_two_axes_bound_both_loops():
    """Each conjunct of a ``where`` is placed on the loop it bounds: with conditions on
    ``k`` and on ``l``, both loops get bounds from ``i`` and no test is left inside."""
    x, out = _two_axis_sum(5, 7, 9, 1, 2)
    func = tm.lower(te.create_schedule(out.op), [x, out])
    for name in ("k", "l"):
        (loop,) = _loops_over(func, name)
        assert not _ifs_inside(loop) and not isinstance(loop.min, Const), func


def test_lenet_conv2_data_gradient_skips_border_rows():
    """LeNet's second convolution (64x6x12x12 input, 16 5x5 filters): the data gradient
    bounds its kernel-row loop and equals the transposed convolution computed directly."""
    N, C, H, F, K = 4, 6, 12, 16, 5
    OH = H - K + 1
    g, w = te.placeholder((N, F, OH, OH), name="g"), te.placeholder((F, C, K, K), name="w")
    out = topi.conv2d_grad_input(g, w, (N, C, H, H))
    sch = topi.default_schedule(out)
    (ky,) = _loops_over(tm.lower(sch, [g, w, out]), "ky")
    assert not _ifs_inside(ky) and "max(" in str(ky.min)
    G, W = RNG.standard_normal((N, F, OH, OH)).astype("float32"), RNG.standard_normal((F, C, K, K)).astype("float32")
    got = np.full((N, C, H, H), np.nan, "float32")
    tm.build(sch, [g, w, out], name=unique("lenet_grad_input"))(G, W, got)
    padded = np.pad(G, ((0, 0), (0, 0), (K - 1, K - 1), (K - 1, K - 1)))
    want = np_conv2d(padded, W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3), (1, 1), (0, 0), (1, 1))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", [((2, 3, 16, 16), (4, 3, 3, 3), (2, 2), (1, 1)),
                                  ((1, 2, 15, 16), (3, 2, 5, 4), (3, 2), (2, 0)),
                                  ((1, 2, 28, 8), (2, 2, 5, 5), (2, 1), (2, 2))])
def test_strided_grad_input_sums_only_kernel_taps(case):
    """A strided data gradient sums, for each input pixel, only the kernel taps that
    reach it (the forward pass's multiply-adds, not the stride^2 times as many of a
    correlation with the gradient spread out by zeros): its FLOP count is exactly that,
    its kernel-tap loops are bounded with no test inside, and the result equals numpy's.
    (Each phase has as many positions as the first: the last ones of a size the stride
    does not divide are computed and dropped. The shapes keep the accumulator rows
    whole vectors and the zero border under ``SKIPPED_ROWS_MIN_SHARE``, so the count is
    exact.)"""
    xs, ws, s, p = case
    (N, C, H, W), (F, _, KH, KW) = xs, ws
    g = te.placeholder((N, F) + out_size(xs, ws, s, p, (1, 1)), name="g")
    w = te.placeholder(ws, name="w")
    out = topi.conv2d_grad_input(g, w, xs, s, p)
    sch = topi.default_schedule(out)
    func = tm.lower(sch, [g, w, out])
    for name in ("ky", "kx"):
        loops = _loops_over(func, name)
        assert loops and not any(_ifs_inside(loop) for loop in loops), func

    def reaching(size, kernel, stride, pad):     # (position, tap) pairs of one axis
        return sum((h + pad - k) % stride == 0 for h in range(-(-size // stride) * stride) for k in range(kernel))
    f = tm.build(sch, [g, w, out], name=unique("strided_grad_input"))
    assert f.flops == 2 * N * C * F * reaching(H, KH, s[0], p[0]) * reaching(W, KW, s[1], p[1])
    g_np = RNG.standard_normal([e.value for e in g.shape]).astype("float32")
    w_np = RNG.standard_normal(ws).astype("float32")
    got = np.full(xs, np.nan, "float32")
    f(g_np, w_np, got)
    np.testing.assert_allclose(got, np_conv2d_grads(g_np, np.zeros(xs, "float32"), w_np, s, p, (1, 1))[0],
                               rtol=1e-4, atol=1e-4)


def test_splits_of_extents_near_the_int32_limit_keep_their_loops():
    """``ceil(n / f)`` of a constant extent near 2^31 is computed exactly (the int32
    ``n + f - 1`` wrapped, the loop's extent became negative and the kernel did
    nothing); a split whose last rounded-up index would pass the int32 range is refused."""
    for n, f, outer in [(2**31 - 1, 64, 2**25), (2**30 + 5, 2**30, 2)]:
        B = te.compute((n,), lambda i: (i % 7).astype("int8"), name="B")
        s = te.create_schedule(B.op)
        s[B].split(B.op.axis[0], factor=f)
        assert f"for i.outer in range({outer}):" in str(tm.lower(s, [B]))
    B = te.compute((2**31 - 1,), lambda i: (i % 7).astype("int8"), name="B")
    s = te.create_schedule(B.op)
    s[B].split(B.op.axis[0], factor=3)
    with pytest.raises(tm.ScheduleError, match="split of axis i .* past the int32 range .* power of two"):
        tm.lower(s, [B])
