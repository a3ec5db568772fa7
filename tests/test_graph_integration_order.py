"""``trapezoid trapz cumulative_trapezoid gradient`` (``graph/integration_ops.py``),
``msort nanmedian`` (``graph/nan_order_ops.py``), ``logspace randint_like``
(``graph/creation.py``): values against PyTorch (and numpy) on drawn shapes (size-1,
odd, NaN lines), gradients against PyTorch's and central differences in float64,
errors, jit and the emulated GPU."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from graph_gradcheck import check_grad, grads_match_torch
from strategies import examples

torch = pytest.importorskip("torch")
SHAPES = st.lists(st.sampled_from([1, 2, 3, 5]), min_size=1, max_size=3).map(tuple)


@given(SHAPES, st.sampled_from(["dx", "x1d", "xfull"]), st.integers(0, 2 ** 16))
@examples(6)
def test_trapezoid_and_cumulative(shape, spacing, seed):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(shape)
    dim = int(rng.integers(-len(shape), len(shape)))
    if spacing == "dx":
        x, kwargs = None, {"dx": float(rng.uniform(0.1, 2))}
    else:
        x = np.cumsum(rng.uniform(0.1, 1, shape[dim] if spacing == "x1d" else shape), axis=0 if spacing == "x1d"
                      else dim)
        kwargs = {}
    for name in ("trapezoid", "trapz", "cumulative_trapezoid"):
        def ours(p, q=None):
            return getattr(tm, name)(p, q, dim=dim, **kwargs)

        def theirs(p, q=None):
            if name == "trapz" and q is None:
                return torch.trapz(p, dx=kwargs["dx"], dim=dim)
            return getattr(torch, name)(p, q, dim=dim, **kwargs) if q is not None else \
                getattr(torch, name)(p, dim=dim, **kwargs)
        arrays = (y,) if x is None else (y, x)
        got, want = ours(*map(tm.tensor, arrays)), theirs(*map(torch.tensor, arrays))
        assert got.shape == tuple(want.shape)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
        if got.numel():
            check_grad(ours, *arrays)
            grads_match_torch(ours, theirs, *arrays)
    ints = rng.integers(-3, 4, shape)
    got = tm.trapezoid(tm.tensor(ints), dim=dim)
    assert got.dtype == "float32"
    np.testing.assert_allclose(got.numpy(), torch.trapezoid(torch.tensor(ints), dim=dim).numpy(), rtol=1e-6)


@given(st.lists(st.sampled_from([2, 3, 4, 6]), min_size=1, max_size=3).map(tuple), st.sampled_from([1, 2]),
       st.sampled_from(["one", "each", "coords"]), st.integers(0, 2 ** 16))
@examples(6)
def test_gradient_matches_torch_and_numpy(shape, edge_order, spacing, seed):
    rng = np.random.default_rng(seed)
    f = rng.standard_normal(shape)
    if min(shape) <= edge_order:
        with pytest.raises(tm.ShapeError, match="gradient: expected each dimension size to be at least"):
            tm.gradient(tm.tensor(f), edge_order=edge_order)
        return
    dims = sorted(int(d) for d in rng.choice(len(shape), int(rng.integers(1, len(shape) + 1)), replace=False))
    if spacing == "one":
        ours, theirs, numpy_args = 0.7, 0.7, [0.7] * len(dims)
    elif spacing == "each":
        ours = theirs = numpy_args = [float(v) for v in rng.uniform(0.2, 2, len(dims))]
    else:
        numpy_args = [np.cumsum(rng.uniform(0.2, 1.5, shape[d])) for d in dims]
        ours, theirs = [tm.tensor(c) for c in numpy_args], [torch.tensor(c) for c in numpy_args]
    got = tm.gradient(tm.tensor(f), spacing=ours, dim=dims, edge_order=edge_order)
    want = torch.gradient(torch.tensor(f), spacing=theirs, dim=dims, edge_order=edge_order)
    reference = np.gradient(f, *numpy_args, axis=tuple(dims), edge_order=edge_order)
    reference = reference if isinstance(reference, (list, tuple)) else [reference]
    assert len(got) == len(want) == len(dims)
    for g, w, n in zip(got, want, reference):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g.numpy(), n, rtol=1e-10, atol=1e-12)
    check_grad(lambda p: tm.stack(tm.gradient(p, spacing=ours, dim=dims, edge_order=edge_order)), f)
    if spacing == "coords":
        check_grad(lambda p, *cs: tm.stack(tm.gradient(p, spacing=list(cs), dim=dims, edge_order=edge_order)), f,
                   *numpy_args)


def test_gradient_of_integers_and_one_spacing_per_call():
    x = np.array([1, 2, 4, 8])
    got = tm.gradient(tm.tensor(x))
    assert got[0].dtype == "float32"
    np.testing.assert_allclose(got[0].numpy(), torch.gradient(torch.tensor(x))[0].numpy())
    f = np.arange(6.0).reshape(2, 3) ** 2
    np.testing.assert_allclose(tm.gradient(tm.tensor(f), spacing=[2.0], dim=1)[0].numpy(),
                               torch.gradient(torch.tensor(f), spacing=[2.0], dim=1)[0].numpy())


@given(SHAPES, st.integers(0, 2 ** 16), st.booleans())
@examples(6)
def test_nanmedian_and_msort(shape, seed, keepdim):
    rng = np.random.default_rng(seed)
    x = rng.permutation(np.prod(shape)).reshape(shape).astype("float64")          # distinct: one answer
    x[rng.random(shape) < 0.3] = np.nan
    x[(0,) * len(shape)] = np.nan
    tx, rx = tm.tensor(x), torch.tensor(x)
    np.testing.assert_array_equal(tm.msort(tx).numpy(), torch.msort(rx).numpy())
    np.testing.assert_array_equal(tx.msort().numpy(), torch.msort(rx).numpy())
    np.testing.assert_array_equal(tm.nanmedian(tx).numpy(), torch.nanmedian(rx).numpy())
    dim = int(rng.integers(-len(shape), len(shape)))
    got, want = tm.nanmedian(tx, dim, keepdim), torch.nanmedian(rx, dim, keepdim)
    np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    values, indices = tx.nanmedian(dim, keepdim)
    np.testing.assert_array_equal(indices.numpy(), want.indices.numpy())
    finite = np.nan_to_num(x, nan=100.0) + rng.uniform(0, 0.1, shape)
    check_grad(lambda p: tm.nanmedian(p, dim, keepdim).values, finite)
    grads_match_torch(lambda p: tm.nanmedian(p), lambda p: torch.nanmedian(p), x)
    grads_match_torch(lambda p: tm.nanmedian(p, dim).values, lambda p: torch.nanmedian(p, dim).values, x)
    check_grad(lambda p: tm.msort(p), finite)


def test_nanmedian_ties_share_the_gradient_and_all_nan():
    x = np.array([[2.0, 1.0, 2.0, np.nan], [np.nan, np.nan, np.nan, np.nan]])
    grads_match_torch(lambda p: tm.nanmedian(p[:1]), lambda p: torch.nanmedian(p[:1]), x)
    grads_match_torch(lambda p: tm.nanmedian(p[1:]), lambda p: torch.nanmedian(p[1:]), x)
    assert np.isnan(tm.nanmedian(tm.zeros(0)).item())
    ints = np.array([[3, 1, 2], [5, 5, 4]])
    np.testing.assert_array_equal(tm.nanmedian(tm.tensor(ints), 1).values.numpy(),
                                  torch.nanmedian(torch.tensor(ints), 1).values.numpy())


@pytest.mark.parametrize("args", [(0, 2, 3), (-1.5, 3, 7, 2.0), (2, 0, 1), (1, 1, 0), (0, 3, 4, 0.5)])
def test_logspace(args):
    got = tm.logspace(*args)
    want = torch.logspace(*args)
    assert got.dtype == "float32"
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    np.testing.assert_allclose(tm.logspace(*args, dtype="float64").numpy(),
                               torch.logspace(*args, dtype=torch.float64).numpy(), rtol=1e-13)


def test_randint_like():
    tm.manual_seed(3)
    x = tm.zeros(40, 50, dtype="int32")
    got = tm.randint_like(x, 3, 7)
    assert got.shape == x.shape and got.dtype == "int32"
    values = got.numpy()
    assert values.min() == 3 and values.max() == 6
    high = tm.randint_like(tm.zeros(2000), 4)
    assert high.dtype == "float32" and set(np.unique(high.numpy())) == {0.0, 1.0, 2.0, 3.0}
    tm.manual_seed(3)
    np.testing.assert_array_equal(tm.randint_like(x, 3, 7).numpy(), values)
    assert tm.randint_like(x, 10, dtype="int64").dtype == "int64"


def test_errors_as_pytorch():
    with pytest.raises(tm.ShapeError, match="trapezoid: x of shape"):
        tm.trapezoid(tm.zeros(3), tm.zeros(4))
    with pytest.raises(tm.ArgumentError, match="trapezoid: give x or dx, not both"):
        tm.trapezoid(tm.zeros(3), tm.zeros(3), dx=1.0)
    with pytest.raises(tm.ShapeError, match="cumulative_trapezoid: expects a tensor with at least one dimension"):
        tm.cumulative_trapezoid(tm.zeros(()))
    with pytest.raises(tm.ArgumentError, match="gradient: edge_order must be 1 or 2"):
        tm.gradient(tm.zeros(4), edge_order=3)
    with pytest.raises(tm.ShapeError, match="gradient: expected spacing to have one entry per dimension"):
        tm.gradient(tm.zeros(4, 4), spacing=[1.0, 2.0, 3.0])
    with pytest.raises(tm.ShapeError, match="gradient: the coordinates of dimension 0 must be a 1-D tensor of 4"):
        tm.gradient(tm.zeros(4), spacing=[tm.zeros(3)])
    with pytest.raises(tm.DTypeError, match="nanmedian: not implemented for bool"):
        tm.nanmedian(tm.tensor([True]))
    with pytest.raises(tm.ShapeError, match="nanmedian: reducing axis 1 of extent 0"):
        tm.nanmedian(tm.zeros(2, 0), 1)
    with pytest.raises(tm.ShapeError, match="logspace: steps must be a non-negative int"):
        tm.logspace(0, 1, -1)
    with pytest.raises(tm.ShapeError, match="randint_like: expected low < high"):
        tm.randint_like(tm.zeros(2), 3, 3)


def test_jit_step_equals_eager():
    rng = np.random.default_rng(0)
    y, x = rng.standard_normal((3, 5)), np.cumsum(rng.uniform(0.1, 1, 5))

    def step(a, b):
        area = tm.trapezoid(a, b) + tm.cumulative_trapezoid(a, dx=0.5).sum(1)
        slope = tm.gradient(a, spacing=[b], dim=1, edge_order=2)[0]
        return area.sum() + slope.sum() + tm.nanmedian(a, 1).values.sum() + tm.nanmedian(a)
    eager = step(tm.tensor(y), tm.tensor(x))
    jitted = tm.jit(step)
    for _ in range(2):
        np.testing.assert_allclose(jitted(tm.tensor(y), tm.tensor(x)).numpy(), eager.numpy(), rtol=1e-12)


def test_on_the_emulated_gpu(emulated_gpu):
    x = np.array([[1.0, np.nan, 3.0, 0.5], [4.0, 2.0, np.nan, np.nan]], "float32")
    for op in (lambda t: tm.gradient(t, dim=1)[0], lambda t: tm.nanmedian(t, 1).indices):
        got = op(tm.tensor(x, device="cuda"))
        assert got.device.kind == "cuda"
        np.testing.assert_array_equal(got.numpy(), op(tm.tensor(x)).numpy())
    assert emulated_gpu.launches
