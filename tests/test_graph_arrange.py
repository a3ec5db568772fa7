"""rot90 / tensor_split / meshgrid / cartesian_prod / combinations
(``graph/arrange_ops.py``): values against numpy and PyTorch on drawn shapes (size-1
and odd axes), gradients against central differences, errors, and the emulated GPU."""
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from graph_gradcheck import check_grad
from strategies import examples

SHAPES = st.lists(st.sampled_from([1, 2, 3, 5]), min_size=2, max_size=3).map(tuple)


@given(SHAPES, st.integers(-5, 5), st.integers(0, 2 ** 16))
@examples(15)
def test_rot90_matches_numpy_and_torch(shape, k, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    dims = tuple(int(d) for d in rng.choice(len(shape), 2, replace=False))
    got = tm.rot90(tm.tensor(x), k, dims)
    np.testing.assert_array_equal(got.numpy(), np.rot90(x, k, dims))
    np.testing.assert_array_equal(got.numpy(), torch.rot90(torch.tensor(x), k, dims).numpy())
    check_grad(lambda a: a.rot90(k, dims), x)


@given(st.lists(st.sampled_from([1, 2, 3, 5, 7]), min_size=1, max_size=3).map(tuple), st.integers(0, 2 ** 16),
       st.booleans())
@examples(15)
def test_tensor_split_matches_numpy_and_torch(shape, seed, by_count):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    dim = int(rng.integers(-len(shape), len(shape)))
    spec = int(rng.integers(1, 6)) if by_count else sorted(int(v) for v in rng.integers(-3, 9, 3))
    got = tm.tensor_split(tm.tensor(x), spec, dim)
    want = torch.tensor_split(torch.tensor(x), spec, dim)
    ref = np.array_split(x, spec, axis=dim) if by_count else None
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(g.numpy(), w.numpy())
        if ref is not None:
            np.testing.assert_array_equal(g.numpy(), ref[k])
    as_tensor = tm.tensor(np.asarray(spec, "int64"))
    for g, w in zip(tm.tensor(x).tensor_split(as_tensor, dim), want):
        np.testing.assert_array_equal(g.numpy(), w.numpy())
    check_grad(lambda a: tm.cat([p * (i + 1.0) for i, p in enumerate(tm.tensor_split(a, spec, dim))], dim), x)


@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.sampled_from(["ij", "xy"]), st.integers(0, 2 ** 16))
@examples(15)
def test_meshgrid_and_cartesian_prod_match_numpy_and_torch(lengths, indexing, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(n) for n in lengths]
    got = tm.meshgrid(*(tm.tensor(x) for x in xs), indexing=indexing)
    for g, n, w in zip(got, np.meshgrid(*xs, indexing=indexing),
                       torch.meshgrid(*(torch.tensor(x) for x in xs), indexing=indexing)):
        np.testing.assert_array_equal(g.numpy(), n)
        np.testing.assert_array_equal(g.numpy(), w.numpy())
    prod = tm.cartesian_prod(*(tm.tensor(x) for x in xs))
    np.testing.assert_array_equal(prod.numpy(), torch.cartesian_prod(*(torch.tensor(x) for x in xs)).numpy())
    if len(xs) > 1:
        np.testing.assert_array_equal(prod.numpy(), np.array(list(itertools.product(*xs))))
    check_grad(lambda *ts: tm.stack(tm.meshgrid(*ts, indexing=indexing)), *xs)
    check_grad(lambda *ts: tm.cartesian_prod(*ts), *xs)


@given(st.integers(1, 5), st.integers(0, 4), st.booleans(), st.integers(0, 2 ** 16))
@examples(15)
def test_combinations_match_itertools_and_torch(n, r, with_replacement, seed):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(seed).standard_normal(n)
    got = tm.combinations(tm.tensor(x), r, with_replacement)
    want = torch.combinations(torch.tensor(x), r, with_replacement)
    assert got.shape == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    if r:
        make = itertools.combinations_with_replacement if with_replacement else itertools.combinations
        np.testing.assert_array_equal(got.numpy(), np.array(list(make(x, r))).reshape(-1, r))
        if got.numel():
            check_grad(lambda a: tm.combinations(a, r, with_replacement), x)


def test_errors_as_pytorch():
    with pytest.raises(tm.ShapeError, match="rot90: the two axes must differ"):
        tm.rot90(tm.zeros(2, 2), 1, (1, 1))
    with pytest.raises(tm.ShapeError, match="rot90: expects at least 2 dimensions"):
        tm.rot90(tm.zeros(2))
    with pytest.raises(tm.ArgumentError, match="tensor_split: number of sections must be larger than 0"):
        tm.tensor_split(tm.zeros(3), 0)
    with pytest.raises(tm.ShapeError, match="meshgrid: expects 0-d or 1-D tensors"):
        tm.meshgrid(tm.zeros(2, 2))
    with pytest.raises(tm.ArgumentError, match="meshgrid: indexing must be"):
        tm.meshgrid(tm.zeros(2), indexing="ji")
    with pytest.raises(tm.ShapeError, match="combinations: expects a 1-D tensor"):
        tm.combinations(tm.zeros(2, 2))


def test_on_the_emulated_gpu(emulated_gpu):
    x = np.arange(12.0, dtype="float32").reshape(3, 4)
    for op in (lambda t: tm.rot90(t), lambda t: tm.tensor_split(t, 3, 1)[1],
               lambda t: tm.cartesian_prod(t[0], t[1]), lambda t: tm.combinations(t[0], 3)):
        got = op(tm.tensor(x, device="cuda"))
        assert got.device.kind == "cuda"
        np.testing.assert_array_equal(got.numpy(), op(tm.tensor(x)).numpy())
    assert emulated_gpu.launches
