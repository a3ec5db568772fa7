"""cummax / cummin / logcumsumexp / diff (``graph/cumulative_ops.py``): values against
numpy and PyTorch on drawn shapes (size-1 and odd axes, negative dims, ties, NaN),
gradients against central differences, errors, and the emulated GPU."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from graph_gradcheck import check_grad
from strategies import examples


@st.composite
def arrays(draw, ties=False):
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    shape = tuple(draw(st.lists(st.sampled_from([1, 2, 3, 5, 7]), min_size=1, max_size=3)))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    x = rng.integers(-3, 4, shape).astype("float64") if ties else rng.standard_normal(shape) * 3
    return x, dim


def _running(x, axis, pick):
    """numpy's running extreme and PyTorch's index (the last position reaching it)."""
    values, indices = np.empty_like(x), np.empty(x.shape, "int64")
    for pos in np.ndindex(*x.shape):
        line = x[pos[:axis] + (slice(None),) + pos[axis + 1:]][:pos[axis] + 1]
        best = pick(line)
        values[pos] = best
        indices[pos] = np.flatnonzero((line == best) | (np.isnan(line) & np.isnan(best)))[-1]
    return values, indices


@given(arrays(ties=True), st.booleans())
@examples(15)
def test_cummax_cummin_match_numpy_and_torch(case, with_nan):
    torch = pytest.importorskip("torch")
    x, dim = case
    if with_nan:
        x.flat[::4] = np.nan
    axis = dim % x.ndim
    for name, pick in (("cummax", np.max), ("cummin", np.min)):
        got = getattr(tm, name)(tm.tensor(x), dim)
        values, indices = _running(x, axis, pick)
        np.testing.assert_array_equal(got.values.numpy(), values)
        np.testing.assert_array_equal(got.indices.numpy(), indices)
        want = getattr(torch, name)(torch.tensor(x), dim)
        np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    ints = tm.tensor(x.astype("int32") if not with_nan else np.zeros(x.shape, "int32")).cummax(dim)
    assert ints.values.dtype == "int32" and ints.indices.dtype == "int64"


@given(arrays())
@examples(12)
def test_cummax_and_logcumsumexp_gradients(case):
    x, dim = case
    check_grad(lambda a: tm.cummax(a, dim).values, x)
    check_grad(lambda a: a.cummin(dim)[0], x)
    check_grad(lambda a: tm.logcumsumexp(a, dim), x)


@given(arrays())
@examples(12)
def test_logcumsumexp_matches_numpy_and_torch(case):
    torch = pytest.importorskip("torch")
    x, dim = case
    got = tm.tensor(x).logcumsumexp(dim).numpy()
    np.testing.assert_allclose(got, np.logaddexp.accumulate(x, axis=dim), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, torch.logcumsumexp(torch.tensor(x), dim).numpy(), rtol=1e-12, atol=1e-12)


def test_logcumsumexp_is_stable_at_extremes():
    torch = pytest.importorskip("torch")
    x = np.array([-1000.0, 0.0, float("-inf"), 1000.0, 1000.0], "float32")
    got = tm.logcumsumexp(tm.tensor(x), 0).numpy()
    np.testing.assert_allclose(got, torch.logcumsumexp(torch.tensor(x), 0).numpy(), rtol=1e-6)
    a = tm.tensor(x[[0, 1, 3]].astype("float64"), requires_grad=True)
    b = torch.tensor(x[[0, 1, 3]].astype("float64"), requires_grad=True)
    head = np.array([1.0, -2.0, 0.5])
    (tm.logcumsumexp(a, 0) * tm.tensor(head)).sum().backward()
    (torch.logcumsumexp(b, 0) * torch.tensor(head)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-300)


@given(arrays(), st.integers(0, 3), st.booleans(), st.booleans())
@examples(15)
def test_diff_matches_numpy_and_torch(case, n, prepend, append):
    torch = pytest.importorskip("torch")
    x, dim = case
    axis = dim % x.ndim
    side = x.shape[:axis] + (2,) + x.shape[axis + 1:]
    pre = np.full(side, 0.5) if prepend else None
    post = np.full(side, -1.5) if append else None
    kw = {k: v for k, v in (("prepend", pre), ("append", post)) if v is not None}
    got = tm.diff(tm.tensor(x), n, dim, **{k: tm.tensor(v) for k, v in kw.items()}).numpy()
    np.testing.assert_allclose(got, np.diff(x, n, axis, **kw), rtol=1e-12)
    want = torch.diff(torch.tensor(x), n, dim, **{k: torch.tensor(v) for k, v in kw.items()}).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12)
    if got.size:
        check_grad(lambda a: a.diff(n, dim), x)
    flags = x > 0
    np.testing.assert_array_equal(tm.tensor(flags).diff(dim=dim).numpy(), torch.tensor(flags).diff(dim=dim).numpy())


@pytest.mark.parametrize("n", [63, 64, 100, 521])
def test_long_lines_scan_in_blocks(n):
    """Lines from 64 elements are scanned in blocks of 8 (``topi.scan``), the block
    totals in blocks again from 64 blocks (521): ties, NaNs and values far apart, in
    both directions of the gradient's reversed scan."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(n)
    x = rng.integers(-5, 6, (3, n)).astype("float64")
    x[1, n // 2], x[1, -1], x[2, 0] = np.nan, np.nan, np.nan
    for name in ("cummax", "cummin"):
        got, want = getattr(tm, name)(tm.tensor(x), 1), getattr(torch, name)(torch.tensor(x), 1)
        np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    y = rng.standard_normal((n, 2)) * 40
    a, b = tm.tensor(y, requires_grad=True), torch.tensor(y, requires_grad=True)
    head = rng.standard_normal((n, 2))
    got = tm.logcumsumexp(a, 0)
    (got * tm.tensor(head)).sum().backward()
    want = torch.logcumsumexp(b, 0)
    (want * torch.tensor(head)).sum().backward()
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12)
    # an element 1e-65 next to ones is the difference of two sums (n=521: 1e-8 relative)
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-60)


def test_errors_as_pytorch():
    with pytest.raises(tm.DTypeError, match="logcumsumexp: needs a float tensor"):
        tm.logcumsumexp(tm.tensor(np.arange(3)), 0)
    with pytest.raises(tm.ShapeError, match="diff: expects input to be at least one-dimensional"):
        tm.diff(tm.tensor(1.0))
    with pytest.raises(tm.ShapeError, match="cummax"):
        tm.cummax(tm.zeros(2, 3), 2)


def test_kernels_on_the_emulated_gpu(emulated_gpu):
    x = np.random.default_rng(0).standard_normal((3, 40)).astype("float32")     # rows scanned in blocks
    for op in (lambda t: tm.cummax(t, 1).values, lambda t: tm.cummin(t, 0).indices,
               lambda t: tm.logcumsumexp(t, 1), lambda t: tm.diff(t, 2)):
        got = op(tm.tensor(x, device="cuda"))
        assert got.device.kind == "cuda"
        np.testing.assert_allclose(got.numpy(), op(tm.tensor(x)).numpy(), rtol=1e-5, atol=1e-6)
    assert emulated_gpu.launches


def test_cummax_in_a_jitted_step_equals_eager():
    """The values come from the scan kernel with the indices; traced, a step replays
    them and their gradient (gather's) for new data."""
    rng = np.random.default_rng(3)

    def step(a):
        out = tm.cummax(a, 1)
        (out.values * out.values).sum().backward()
        return out.values, out.indices, a.grad
    jitted = tm.jit(step)
    for _ in range(2):
        x = rng.integers(-5, 6, (3, 100)).astype("float64")
        leaves = [tm.tensor(x, requires_grad=True) for _ in range(2)]
        for got, want in zip(jitted(leaves[0]), step(leaves[1])):
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert jitted.variants == 1
