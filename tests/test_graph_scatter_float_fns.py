"""``select_scatter``/``slice_scatter``/``diagonal_scatter`` (``graph/scatter_view_ops.py``)
and ``fmax fmin logaddexp2 frexp nextafter positive isreal`` (``graph/float_fns.py``):
values against PyTorch on drawn shapes (size-1, odd, broadcasting; NaN, infinities,
subnormals and the ends of the float range), gradients against PyTorch's and central
differences in float64, errors, jit and the emulated GPU."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from graph_gradcheck import check_grad, grads_match_torch
from strategies import examples

torch = pytest.importorskip("torch")
SHAPES = st.lists(st.sampled_from([1, 2, 3, 5]), min_size=1, max_size=3).map(tuple)


@given(SHAPES, st.integers(0, 2 ** 16))
@examples(10)
def test_select_and_slice_scatter(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    dim = int(rng.integers(-len(shape), len(shape)))
    n = shape[dim]
    index = int(rng.integers(-n, n))
    src = rng.standard_normal(torch.select(torch.tensor(x), dim, index).shape)
    got = tm.select_scatter(tm.tensor(x), tm.tensor(src), dim, index)
    want = torch.select_scatter(torch.tensor(x), torch.tensor(src), dim, index)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(tm.tensor(x).select_scatter(tm.tensor(src), dim, index).numpy(), want.numpy())
    check_grad(lambda a, b: tm.select_scatter(a, b, dim, index), x, src)
    grads_match_torch(lambda a, b: tm.select_scatter(a, b, dim, index),
                      lambda a, b: torch.select_scatter(a, b, dim, index), x, src, rtol=1e-12)
    start, end, step = int(rng.integers(-n, n + 1)), [None, int(rng.integers(-n, n + 2))][seed % 2], \
        int(rng.integers(1, 3))
    view = torch.tensor(x).narrow(0, 0, x.shape[0]).transpose(0, dim)[start:end:step].transpose(0, dim)
    src = rng.standard_normal(view.shape)
    got = tm.slice_scatter(tm.tensor(x), tm.tensor(src), dim, start, end, step)
    want = torch.slice_scatter(torch.tensor(x), torch.tensor(src), dim, start, end, step)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    if not src.size:        # an empty slice: src gets no gradient (PyTorch: an empty one)
        check_grad(lambda a: tm.slice_scatter(a, tm.tensor(src), dim, start, end, step), x)
        return
    check_grad(lambda a, b: tm.slice_scatter(a, b, dim, start, end, step), x, src)
    grads_match_torch(lambda a, b: tm.slice_scatter(a, b, dim, start, end, step),
                      lambda a, b: torch.slice_scatter(a, b, dim, start, end, step), x, src, rtol=1e-12)


@given(st.lists(st.sampled_from([1, 2, 3, 4]), min_size=2, max_size=3).map(tuple), st.integers(-3, 3),
       st.integers(0, 2 ** 16))
@examples(10)
def test_diagonal_scatter(shape, offset, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    dim1, dim2 = (int(d) - len(shape) * int(rng.integers(0, 2)) for d in rng.choice(len(shape), 2, replace=False))
    src = rng.standard_normal(torch.tensor(x).diagonal(offset, dim1, dim2).shape)
    got = tm.diagonal_scatter(tm.tensor(x), tm.tensor(src), offset, dim1, dim2)
    want = torch.diagonal_scatter(torch.tensor(x), torch.tensor(src), offset, dim1, dim2)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(tm.tensor(x).diagonal_scatter(tm.tensor(src), offset, dim1, dim2).numpy(),
                                  want.numpy())
    if not src.size:
        check_grad(lambda a: tm.diagonal_scatter(a, tm.tensor(src), offset, dim1, dim2), x)
        return
    check_grad(lambda a, b: tm.diagonal_scatter(a, b, offset, dim1, dim2), x, src)
    grads_match_torch(lambda a, b: tm.diagonal_scatter(a, b, offset, dim1, dim2),
                      lambda a, b: torch.diagonal_scatter(a, b, offset, dim1, dim2), x, src, rtol=1e-12)


def _special(dtype):
    info = np.finfo(dtype)
    return np.array([0.0, -0.0, 1.0, -1.0, 3.0, 0.7, info.tiny, info.tiny / 2, info.smallest_subnormal, info.max,
                     -info.max, np.inf, -np.inf, np.nan, 2.0 ** -100, 123456.7, -info.smallest_subnormal * 3], dtype)


def _same(got, want):
    """Equal elementwise, NaN where NaN and with the same sign (of zeros too)."""
    got, want = np.asarray(got), np.asarray(want)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got[~np.isnan(got)]), np.signbit(want[~np.isnan(want)]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_frexp_and_nextafter_bit_exact(dtype):
    x = _special(dtype)
    mantissa, exponent = tm.frexp(tm.tensor(x))
    ref = torch.frexp(torch.tensor(x))
    assert mantissa.dtype == dtype and exponent.dtype == "int32"
    _same(mantissa.numpy(), ref.mantissa.numpy())
    np.testing.assert_array_equal(exponent.numpy(), ref.exponent.numpy())
    finite = np.isfinite(x)
    np.testing.assert_array_equal(np.ldexp(mantissa.numpy()[finite].astype("float64"), exponent.numpy()[finite]),
                                  x[finite])
    rows = x[:, None]
    for towards in (x[None, :], np.array([np.inf, -np.inf, 0.0, 1.0], dtype)[None, :]):
        got = tm.nextafter(tm.tensor(rows), tm.tensor(towards))
        _same(got.numpy(), torch.nextafter(torch.tensor(rows), torch.tensor(towards)).numpy())
        _same(got.numpy(), np.nextafter(rows, towards))
    _same(tm.tensor(x).nextafter(tm.tensor(x[::-1].copy())).numpy(), np.nextafter(x, x[::-1]))


def _binade_edges(dtype):
    """Every power of two of ``dtype`` (subnormal to largest), its neighbours and three
    times it: where the spacing of floats changes, and the scaled and subnormal paths
    of the nextafter kernel meet the regular one."""
    info = np.finfo(dtype)
    powers = np.ldexp(np.ones(info.maxexp - info.minexp + info.nmant), np.arange(info.minexp - info.nmant,
                                                                                      info.maxexp)).astype(dtype)
    with np.errstate(over="ignore"):
        values = np.concatenate([powers, np.nextafter(powers, np.inf), np.nextafter(powers, 0), powers * 3])
    return np.concatenate([values, -values])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nextafter_exact_at_every_binade_edge(dtype):
    x = _binade_edges(dtype)
    for towards in (np.inf, -np.inf, 0.0, -0.0, np.nan):
        y = np.full_like(x, towards)
        with np.errstate(over="ignore"):
            _same(tm.nextafter(tm.tensor(x), tm.tensor(y)).numpy(), np.nextafter(x, y))


@given(st.sampled_from(["float32", "float64"]), st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1,
       max_size=7), st.integers(0, 2 ** 16))
@examples(10)
def test_nextafter_matches_torch_on_drawn_floats(dtype, values, seed):
    """Drawn values (hypothesis favours the awkward ones: subnormals, the float range's
    ends, signed zeros) towards a shuffled copy of themselves and towards drawn ones."""
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore"):
        x = np.array(values).astype(dtype)
    for y in (rng.permutation(x), (rng.standard_normal(x.size) * 2.0 ** rng.integers(-150, 130, x.size)).astype(dtype)):
        got = tm.nextafter(tm.tensor(x), tm.tensor(y)).numpy()
        _same(got, torch.nextafter(torch.tensor(x), torch.tensor(y)).numpy())


def test_frexp_gradient():
    x = np.array([[0.3, -5.0, 1e-3], [7.5, 1.3, -0.3]])     # away from powers of two (jumps)
    check_grad(lambda a: tm.frexp(a)[0], x)
    grads_match_torch(lambda a: a.frexp()[0], lambda a: torch.frexp(a)[0], x, rtol=1e-12)


@given(SHAPES, SHAPES, st.integers(0, 2 ** 16))
@examples(10)
def test_fmax_fmin_logaddexp2(a_shape, b_shape, seed):
    if not all(p == q or 1 in (p, q) for p, q in zip(a_shape[::-1], b_shape[::-1])):
        return
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    a[rng.random(a_shape) < 0.2] = np.nan
    b[rng.random(b_shape) < 0.2] = np.nan
    b.flat[0] = a.flat[0]                                  # a tie
    for name in ("fmax", "fmin", "logaddexp2"):
        got = getattr(tm, name)(tm.tensor(a), tm.tensor(b))
        want = getattr(torch, name)(torch.tensor(a), torch.tensor(b)).numpy()
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-13, atol=0)
        np.testing.assert_allclose(getattr(tm.tensor(a), name)(tm.tensor(b)).numpy(), want, rtol=1e-13)
    a, b = np.nan_to_num(a, nan=0.5), np.nan_to_num(b, nan=-0.5)
    b.flat[0] = a.flat[0] + 0.1
    for name in ("fmax", "fmin", "logaddexp2"):
        check_grad(lambda p, q: getattr(tm, name)(p, q), a, b)
        grads_match_torch(lambda p, q: getattr(tm, name)(p, q), lambda p, q: getattr(torch, name)(p, q), a, b, rtol=1e-12)
    ints = rng.integers(-3, 3, a_shape)
    np.testing.assert_array_equal(tm.fmax(tm.tensor(ints), tm.tensor(ints[::-1].copy())).numpy(),
                                  torch.fmax(torch.tensor(ints), torch.tensor(ints[::-1].copy())).numpy())


def test_nan_gradients_follow_pytorch():
    a, b = np.array([np.nan, 1.0, 2.0, np.nan]), np.array([1.0, np.nan, 2.0, np.nan])
    grads_match_torch(lambda p, q: tm.fmax(p, q), lambda p, q: torch.fmax(p, q), a, b, rtol=1e-12)
    grads_match_torch(lambda p, q: tm.fmin(p, q), lambda p, q: torch.fmin(p, q), a, b, rtol=1e-12)


def test_positive_and_isreal():
    x = tm.tensor([[1.0, -2.0, np.nan]], requires_grad=True)
    assert tm.positive(x) is x and x.positive() is x
    assert tm.positive(tm.tensor([1, 2])).dtype == "int64"
    got = tm.isreal(x)
    assert got.dtype == "bool" and got.shape == (1, 3)
    np.testing.assert_array_equal(got.numpy(), torch.isreal(torch.tensor(x.numpy())).numpy())
    assert tm.tensor(3).isreal().numpy().all()


def test_errors_as_pytorch():
    with pytest.raises(tm.ShapeError, match=r"select_scatter: src must have shape \(2,\)"):
        tm.select_scatter(tm.zeros(3, 2), tm.zeros(3), 0, 0)
    with pytest.raises(tm.IndexingError, match="select_scatter: index 3 out of range"):
        tm.select_scatter(tm.zeros(3, 2), tm.zeros(2), 0, 3)
    with pytest.raises(tm.ShapeError, match="slice_scatter: step must be a positive int"):
        tm.slice_scatter(tm.zeros(3), tm.zeros(3), 0, None, None, 0)
    with pytest.raises(tm.ShapeError, match=r"slice_scatter: src must have shape \(2,\)"):
        tm.slice_scatter(tm.zeros(3), tm.zeros(3), 0, 1)
    with pytest.raises(tm.ShapeError, match=r"diagonal_scatter: src must have shape \(2,\)"):
        tm.diagonal_scatter(tm.zeros(2, 3), tm.zeros(3))
    with pytest.raises(tm.ShapeError, match="diagonal_scatter: dim1 and dim2 are the same axis"):
        tm.diagonal_scatter(tm.zeros(2, 3), tm.zeros(2), 0, 1, -1)
    with pytest.raises(tm.DTypeError, match="frexp: only supports float32 and float64"):
        tm.frexp(tm.tensor([1, 2]))
    with pytest.raises(tm.DTypeError, match="nextafter: only supports float32 and float64"):
        tm.nextafter(tm.tensor([1]), tm.tensor([2]))
    with pytest.raises(tm.ShapeError, match="nextafter: shapes"):
        tm.nextafter(tm.zeros(2), tm.zeros(3))
    with pytest.raises(tm.DTypeError, match="positive: the `\\+` operator on a bool tensor"):
        tm.positive(tm.tensor([True]))


def test_jit_step_equals_eager():
    rng = np.random.default_rng(0)
    x, s = rng.standard_normal((3, 4)), rng.standard_normal(3)

    def step(a, b):
        out = tm.diagonal_scatter(a, b, 1) + tm.fmax(a, a.flip(1))
        return (tm.select_scatter(out, b, 1, 2) * tm.frexp(a)[0]).sum() + tm.logaddexp2(a, 1.0 - a).sum() \
            + (tm.nextafter(a, 0.0) * a).sum()
    eager = step(tm.tensor(x), tm.tensor(s))
    jitted = tm.jit(step)
    for _ in range(2):
        np.testing.assert_allclose(jitted(tm.tensor(x), tm.tensor(s)).numpy(), eager.numpy(), rtol=1e-12)


def test_on_the_emulated_gpu(emulated_gpu):
    x = _special("float32")[None, :].repeat(2, 0)
    for op in (lambda t: tm.slice_scatter(t, t[:, ::2] * 2, 1, None, None, 2), lambda t: tm.fmin(t, t.flip(1)),
               lambda t: tm.diagonal_scatter(t, t[0, :2] + 1.0, 3), lambda t: tm.frexp(t)[0],
               lambda t: tm.frexp(t)[1], lambda t: tm.nextafter(t, t.flip(1))):
        got = op(tm.tensor(x, device="cuda"))
        assert got.device.kind == "cuda"
        _same(got.numpy(), op(tm.tensor(x)).numpy())
    assert emulated_gpu.launches
