"""signbit, float_power, ldexp, deg2rad/rad2deg, sinc, bitwise_*, isin, nansum/nanmean,
histc, tm.clone (``graph/numeric_ops.py``): values against numpy and PyTorch on drawn
shapes (size-1 and odd axes, broadcasting), gradients against central differences,
errors, and the emulated GPU."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from graph_gradcheck import check_grad
from strategies import examples

SHAPES = st.lists(st.sampled_from([1, 2, 3, 5]), min_size=0, max_size=3).map(tuple)


def _torch():
    return pytest.importorskip("torch")


@given(SHAPES, st.integers(0, 2 ** 16))
@examples(15)
def test_float_functions_match_numpy_and_torch(shape, seed):
    torch = _torch()
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 2).astype("float32")
    x.flat[::3] = 0.0
    if x.size > 1:
        x.flat[1] = -0.0
    e = rng.integers(-3, 4, shape[-1:] if shape else ())
    t, tt = tm.tensor(x), torch.tensor(x)
    cases = ((tm.signbit(t), np.signbit(x), torch.signbit(tt)),
             (tm.sinc(t), np.sinc(x), torch.sinc(tt)),
             (tm.deg2rad(t), np.deg2rad(x), torch.deg2rad(tt)),
             (t.rad2deg(), np.rad2deg(x), tt.rad2deg()),
             (tm.ldexp(t, tm.tensor(e)), np.ldexp(x, e), torch.ldexp(tt, torch.tensor(e))),
             (tm.float_power(t.abs(), 1.5), np.float_power(np.abs(x), 1.5), torch.float_power(tt.abs(), 1.5)),
             (tm.float_power(2, tm.tensor(e)), np.float_power(2, e), torch.float_power(2, torch.tensor(e))))
    for got, want_np, want_torch in cases:
        assert got.dtype == str(want_torch.dtype).replace("torch.", "")
        assert got.shape == want_np.shape
        np.testing.assert_allclose(got.numpy(), want_np, rtol=2e-6, atol=1e-6)
        np.testing.assert_allclose(got.numpy(), want_torch.numpy(), rtol=2e-6, atol=1e-6)
    ints = rng.integers(-40, 40, shape)
    np.testing.assert_array_equal(tm.deg2rad(tm.tensor(ints)).numpy(), torch.deg2rad(torch.tensor(ints)).numpy())
    np.testing.assert_array_equal(tm.signbit(tm.tensor(ints)).numpy(), np.signbit(ints))


@given(SHAPES, st.integers(0, 2 ** 16))
@examples(10)
def test_gradients(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) + 0.1
    check_grad(tm.sinc, x)
    check_grad(lambda a: tm.float_power(a.abs() + 0.5, 1.7), x)
    check_grad(lambda a, b: tm.ldexp(a, b), x, rng.standard_normal(shape))
    check_grad(lambda a: tm.deg2rad(a) + a.rad2deg(), x)
    check_grad(lambda a: tm.sinc(a * 0), x)         # the removable singularity: gradient 0, as PyTorch's


@given(SHAPES, st.integers(0, 2 ** 16), st.sampled_from(["int32", "int64", "bool"]))
@examples(15)
def test_bitwise_match_numpy_and_torch(shape, seed, dtype):
    torch = _torch()
    rng = np.random.default_rng(seed)
    a = rng.integers(-50, 50, shape).astype(dtype)
    b = rng.integers(-50, 50, shape[1:]).astype(dtype)          # broadcasts against a
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        got = getattr(tm, name)(tm.tensor(a), tm.tensor(b))
        np.testing.assert_array_equal(got.numpy(), getattr(np, name)(a, b))
        np.testing.assert_array_equal(got.numpy(), getattr(torch, name)(torch.tensor(a), torch.tensor(b)).numpy())
    np.testing.assert_array_equal(tm.tensor(a).bitwise_not().numpy(), np.invert(a))
    if dtype != "bool":
        shift = rng.integers(0, 5, shape)
        for name in ("bitwise_left_shift", "bitwise_right_shift"):
            got = getattr(tm, name)(tm.tensor(a), tm.tensor(shift.astype(dtype)))
            want = getattr(torch, name)(torch.tensor(a), torch.tensor(shift.astype(dtype)))
            np.testing.assert_array_equal(got.numpy(), want.numpy())
        np.testing.assert_array_equal(tm.bitwise_and(tm.tensor(a), 6).numpy(), a & 6)


@given(SHAPES, st.integers(0, 2 ** 16), st.booleans())
@examples(15)
def test_isin_matches_numpy_and_torch(shape, seed, invert):
    torch = _torch()
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 6, shape)
    tests = rng.integers(0, 6, int(rng.integers(0, 5)))
    got = tm.isin(tm.tensor(a), tm.tensor(tests), invert=invert)
    np.testing.assert_array_equal(got.numpy(), np.isin(a, tests, invert=invert))
    np.testing.assert_array_equal(got.numpy(), torch.isin(torch.tensor(a), torch.tensor(tests), invert=invert).numpy())
    np.testing.assert_array_equal(tm.isin(tm.tensor(a), 3).numpy(), np.isin(a, 3))
    np.testing.assert_array_equal(tm.isin(2, tm.tensor(tests)).numpy(), np.isin(2, tests))


@given(st.lists(st.sampled_from([1, 2, 3, 5]), min_size=1, max_size=3).map(tuple), st.integers(0, 2 ** 16),
       st.booleans())
@examples(15)
def test_nansum_nanmean_match_numpy_and_torch(shape, seed, keepdim):
    torch = _torch()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    x[rng.random(shape) < 0.3] = np.nan
    dim = int(rng.integers(-len(shape), len(shape)))
    for name in ("nansum", "nanmean"):
        for kw in ({}, {"dim": dim, "keepdim": keepdim}):
            got = getattr(tm, name)(tm.tensor(x), **kw).numpy()
            np_kw = {"axis": kw["dim"], "keepdims": kw["keepdim"]} if kw else {}
            with warnings.catch_warnings():            # numpy warns of all-NaN slices
                warnings.simplefilter("ignore")
                want = getattr(np, name)(x, **np_kw)
            np.testing.assert_allclose(got, want, rtol=1e-12)
            np.testing.assert_allclose(got, getattr(torch, name)(torch.tensor(x), **kw).numpy(), rtol=1e-12)
    mask = np.isnan(x)
    grads = check_grad(lambda a: tm.nansum(a, dim=dim, keepdim=keepdim), np.where(mask, 0.0, x))
    assert grads.shape == np.nansum(x, axis=dim, keepdims=keepdim).shape
    leaf = tm.tensor(x, requires_grad=True)
    tm.nanmean(leaf).backward()
    np.testing.assert_allclose(leaf.grad.numpy(), np.where(mask, 0.0, 1.0 / max(1, (~mask).sum())))


@given(st.integers(1, 40), st.integers(1, 9), st.integers(0, 2 ** 16), st.booleans())
@examples(15)
def test_histc_matches_numpy_and_torch(n, bins, seed, data_range):
    torch = _torch()
    x = np.random.default_rng(seed).standard_normal(n).astype("float32")
    low, high = (0, 0) if data_range else (-1.0, 0.5)
    got = tm.histc(tm.tensor(x), bins, low, high)
    want = torch.histc(torch.tensor(x), bins, low, high).numpy()
    assert got.dtype == "float32"
    np.testing.assert_array_equal(got.numpy(), want)
    if not data_range:
        inside = x[(x >= low) & (x <= high)]
        np.testing.assert_array_equal(got.numpy(), np.histogram(inside, bins, (low, high))[0])
    same = tm.histc(tm.full((3,), 2.0), 4).numpy()           # one value: the range widened by 1 either side
    np.testing.assert_array_equal(same, torch.histc(torch.full((3,), 2.0), 4).numpy())


@given(st.sampled_from(["float32", "float64"]), st.sampled_from([1, 7, 301]), st.sampled_from([1, 3, 100]),
       st.sampled_from([(-1.0, 1.0), (-1.25, 0.5), (0.5, 0.5), (0, 0)]), st.integers(0, 2 ** 16))
@examples(10)
def test_histc_counts_edges_and_nans_as_torch(dtype, n, bins, bounds, seed):
    """The counting kernel (``topi.histogram``): values exactly on bin edges and on
    the range's ends, NaNs (skipped with a given range), an equal pair of bounds (the
    data's range, as PyTorch's for any equal pair), one element (a range of one value,
    widened by 1)."""
    torch = _torch()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n).astype(dtype)
    x[::3] = np.round(x[::3] * 4) / 4                              # quarter steps: bin edges and both ends
    low, high = bounds
    if low != high and n > 1:
        x[1] = np.nan
    got = tm.histc(tm.tensor(x), bins, low, high)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.numpy(), torch.histc(torch.tensor(x), bins, low, high).numpy())


def test_histc_under_jit_equals_eager():
    x = tm.tensor(np.linspace(-3, 3, 50).astype("float32"))
    step = tm.jit(lambda t: tm.histc(t * 2.0, 10, -4, 4) + 1.0)
    for _ in range(2):
        np.testing.assert_array_equal(step(x).numpy(), (tm.histc(x * 2.0, 10, -4, 4) + 1.0).numpy())


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8"])
def test_gcd_lcm_match_numpy_and_torch(dtype):
    """One shape per dtype (each unrolled Euclid kernel takes seconds to build): random
    values with zeros, broadcasting, the dtype's extremes and Fibonacci pairs (Euclid's
    worst case)."""
    torch = _torch()
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype)
    a = rng.integers(max(info.min, -300), min(info.max, 300), (4, 9)).astype(dtype)
    b = rng.integers(max(info.min, -300), min(info.max, 300), (9,)).astype(dtype)
    a[0, :3], b[:2] = 0, 0
    fib = [1, 1]
    while fib[-1] + fib[-2] <= info.max:
        fib.append(fib[-1] + fib[-2])
    a[1, :] = [fib[-1], fib[-2], info.max, info.max, fib[-3], 1, info.max - 1, 6, 1]
    a[2, :] = [fib[-2], fib[-1], info.max - 1, 1, fib[-3], info.max, 2, 4, 3]
    got = tm.gcd(tm.tensor(a), tm.tensor(b))
    np.testing.assert_array_equal(got.numpy(), np.gcd(a, b))
    np.testing.assert_array_equal(got.numpy(), torch.gcd(torch.tensor(a), torch.tensor(b)).numpy())
    fibs = tm.gcd(tm.tensor(a[1]), tm.tensor(a[2]))
    np.testing.assert_array_equal(fibs.numpy(), np.gcd(a[1], a[2]))
    small = (a % 50).astype(dtype)
    np.testing.assert_array_equal(tm.lcm(tm.tensor(small), tm.tensor(b)).numpy(),
                                  torch.lcm(torch.tensor(small), torch.tensor(b)).numpy())
    x = tm.tensor(a.copy())
    assert x.gcd_(tm.tensor(b)) is x
    np.testing.assert_array_equal(x.numpy(), got.numpy())


def test_in_place_forms():
    torch = _torch()
    x = np.array([-1.5, 0.0, 0.25, 3.0])
    for name, args in (("sinc_", ()), ("deg2rad_", ()), ("rad2deg_", ()), ("ldexp_", (np.array([1, 0, 2, -1]),)),
                       ("float_power_", (2.0,))):
        got, want = tm.tensor(x.copy()), torch.tensor(x.copy())
        assert getattr(got, name)(*(tm.tensor(v) if isinstance(v, np.ndarray) else v for v in args)) is got
        getattr(want, name)(*(torch.tensor(v) if isinstance(v, np.ndarray) else v for v in args))
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, err_msg=name)
    ints = np.array([5, 12, -7])
    for name in ("bitwise_and_", "bitwise_or_", "bitwise_xor_", "bitwise_left_shift_", "bitwise_right_shift_"):
        got, want = tm.tensor(ints.copy()), torch.tensor(ints.copy())
        getattr(got, name)(tm.tensor(np.array([3, 1, 2])))
        getattr(want, name)(torch.tensor(np.array([3, 1, 2])))
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=name)
    np.testing.assert_array_equal(tm.tensor(ints.copy()).bitwise_not_().numpy(), ~ints)
    with pytest.raises(tm.DTypeError, match="float32, which cannot be stored"):
        tm.tensor(ints.copy()).sinc_()


def test_clone_and_errors():
    x = tm.tensor(np.arange(3.0), requires_grad=True)
    y = tm.clone(x)
    assert y is not x and y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(3))
    assert tm.tensor(np.arange(3)).type_as(x).dtype == "float64"
    with pytest.raises(tm.DTypeError, match="bitwise_and: needs bool or integer"):
        tm.bitwise_and(tm.zeros(2), 1)
    with pytest.raises(tm.DTypeError, match="nanmean: needs a float tensor"):
        tm.nanmean(tm.tensor(np.arange(3)))
    with pytest.raises(tm.ArgumentError, match=r"histc: the range of the data, \[nan, nan\], is not finite"):
        tm.histc(tm.tensor(np.array([1.0, np.nan])), 2)
    with pytest.raises(tm.ArgumentError, match="histc: bins must be a positive int"):
        tm.histc(tm.zeros(2), 0)
    with pytest.raises(tm.DTypeError, match="float_power: takes a Tensor"):
        tm.float_power(2, 3)
    with pytest.raises(tm.DTypeError, match="gcd: needs integer tensors"):
        tm.gcd(tm.zeros(2), tm.zeros(2))


def test_on_the_emulated_gpu(emulated_gpu):
    x = np.linspace(-2, 2, 9).astype("float32")
    for op in (tm.sinc, tm.signbit, lambda t: tm.nansum(t), lambda t: tm.histc(t, 3),
               lambda t: tm.isin(t, t[:3]), lambda t: tm.ldexp(t, tm.tensor(np.arange(9), device=t.device))):
        got = op(tm.tensor(x, device="cuda"))
        assert got.device.kind == "cuda"
        np.testing.assert_allclose(got.numpy(), op(tm.tensor(x)).numpy(), rtol=1e-6, atol=1e-7)
    a, b = np.array([12, -18, 0, 7, 1071], "int32"), np.array([8, 24, 5, 0, 462], "int32")
    got = tm.gcd(tm.tensor(a, device="cuda"), tm.tensor(b, device="cuda"))     # the unrolled steps' CUDA kernels
    np.testing.assert_array_equal(got.numpy(), np.gcd(a, b))
    np.testing.assert_array_equal(tm.lcm(tm.tensor(a, device="cuda"), tm.tensor(b, device="cuda")).numpy(),
                                  np.lcm(a, b))
    assert emulated_gpu.launches
