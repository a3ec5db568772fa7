"""quantile / nanquantile / mode (``graph/order_ops.py``): values against numpy and
PyTorch on drawn shapes (size-1 and odd axes, every interpolation, NaNs, ties),
gradients against central differences, errors, and the emulated GPU."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from graph_gradcheck import check_grad
from strategies import examples

INTERPOLATIONS = st.sampled_from(["linear", "lower", "higher", "midpoint", "nearest"])
SHAPES = st.lists(st.sampled_from([1, 2, 3, 5, 6]), min_size=1, max_size=3).map(tuple)


@st.composite
def cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    shape = draw(SHAPES)
    dim = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    q = draw(st.one_of(st.floats(0, 1), st.lists(st.floats(0, 1), min_size=1, max_size=4)))
    return rng.standard_normal(shape), dim, q


@given(cases(), INTERPOLATIONS, st.booleans(), st.booleans())
@examples(25)
def test_quantile_matches_numpy_and_torch(case, interpolation, keepdim, with_nan):
    torch = pytest.importorskip("torch")
    x, dim, q = case
    if with_nan:
        x.flat[::3] = np.nan
    qs = (tm.tensor(np.asarray(q)), torch.tensor(np.asarray(q))) if isinstance(q, list) else (q, q)
    for name in ("quantile", "nanquantile"):
        got = getattr(tm, name)(tm.tensor(x), qs[0], dim, keepdim, interpolation=interpolation).numpy()
        want = getattr(torch, name)(torch.tensor(x), qs[1], dim, keepdim, interpolation=interpolation).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
        with warnings.catch_warnings():            # numpy warns of all-NaN lines
            warnings.simplefilter("ignore")
            ref = getattr(np, name)(x, np.asarray(q), axis=dim, keepdims=keepdim, method=interpolation)
        np.testing.assert_allclose(got, ref, rtol=1e-12, equal_nan=True)


@given(cases(), st.sampled_from(["linear", "lower", "midpoint"]))
@examples(12)
def test_quantile_gradients(case, interpolation):
    x, dim, q = case
    qs = tm.tensor(np.asarray(q, "float64")) if isinstance(q, list) else q
    check_grad(lambda a: tm.quantile(a, qs, dim, interpolation=interpolation), x)
    x = x.copy()
    x.flat[0] = np.nan
    leaf = tm.tensor(x, requires_grad=True)
    tm.nanquantile(leaf, qs, dim, interpolation=interpolation).sum().backward()
    alone = x.size == 1 or dim is not None and x.shape[dim] == 1       # an all-NaN line reads its NaN
    assert (leaf.grad.numpy().flat[0] == 0) != alone                   # else no gradient to the skipped NaN


@given(cases(), st.sampled_from(["linear", "lower", "higher", "midpoint", "nearest"]), st.booleans())
@examples(10)
def test_quantile_gradients_match_torch(case, interpolation, nan):
    """The gradient reaches the elements the order puts at the ranks (gathered from the
    input through the argsort, no sorted copy), as PyTorch's; a line holding a NaN sends
    it all to the NaN (one per line here: among several, PyTorch's unstable sort picks
    which)."""
    torch = pytest.importorskip("torch")
    x, dim, q = case
    if nan:
        x.flat[0] = np.nan
    for name in ("quantile", "nanquantile"):
        leaf, ref = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        qs = (tm.tensor(np.asarray(q)), torch.tensor(np.asarray(q))) if isinstance(q, list) else (q, q)
        got = getattr(tm, name)(leaf, qs[0], dim, interpolation=interpolation)
        want = getattr(torch, name)(ref, qs[1], dim, interpolation=interpolation)
        head = np.random.default_rng(0).uniform(0.5, 1.5, tuple(want.shape))
        got.backward(tm.tensor(head))
        want.backward(torch.tensor(head))
        np.testing.assert_allclose(leaf.grad.numpy(), ref.grad.numpy(), rtol=1e-12, atol=1e-12, equal_nan=True)


@given(SHAPES, st.integers(0, 2 ** 16), st.booleans(), st.sampled_from(["int64", "float32"]))
@examples(15)
def test_mode_matches_torch(shape, seed, keepdim, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, shape).astype(dtype)
    dim = int(rng.integers(-len(shape), len(shape)))
    got = tm.mode(tm.tensor(x), dim, keepdim)
    want = torch.mode(torch.tensor(x), dim, keepdim)
    np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    axis = dim % len(shape)
    for pos in np.ndindex(*got.values.shape):          # numpy: the smallest of the most frequent values
        line = x[pos[:axis] + (slice(None),) + pos[axis + 1:]] if keepdim else \
            np.moveaxis(x, axis, -1)[pos]
        values, counts = np.unique(line, return_counts=True)
        assert got.values.numpy()[pos] == values[np.argmax(counts)]
    leaf = tm.tensor(x.astype("float64"), requires_grad=True)
    tm.mode(leaf, dim).values.sum().backward()
    assert leaf.grad.numpy().sum() == np.prod(got.values.shape)


def test_errors_as_pytorch():
    x = tm.zeros(3, 4)
    with pytest.raises(tm.ArgumentError, match=r"quantile: q values must be in the range \[0, 1\]"):
        tm.quantile(x, 1.5)
    with pytest.raises(tm.ArgumentError, match="interpolation must be one of"):
        tm.quantile(x, 0.5, interpolation="cubic")
    with pytest.raises(tm.DTypeError, match="quantile: needs a float tensor"):
        tm.quantile(tm.tensor(np.arange(3)), 0.5)
    with pytest.raises(tm.DTypeError, match=r"quantile: q \(float64\) and the input \(float32\)"):
        tm.quantile(x, tm.tensor(np.array([0.5])))
    with pytest.raises(tm.ShapeError, match="nanquantile: the input of shape"):
        tm.nanquantile(tm.zeros(0), 0.5)


def test_on_the_emulated_gpu(emulated_gpu):
    x = np.random.default_rng(0).standard_normal((3, 7)).astype("float32")
    for op in (lambda t: tm.quantile(t, 0.3, 1), lambda t: tm.nanquantile(t, 0.9, 0, interpolation="nearest"),
               lambda t: tm.mode(t.round(), 1).values):
        got = op(tm.tensor(x, device="cuda"))
        assert got.device.kind == "cuda"
        np.testing.assert_allclose(got.numpy(), op(tm.tensor(x)).numpy(), rtol=1e-6)
    assert emulated_gpu.launches
