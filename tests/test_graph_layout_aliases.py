"""PyTorch spellings composed of tvmini's ops (graph/layout_aliases.py): joins, flips,
diagonals of any two axes, trace, isfinite & co, and Tensor conveniences — against numpy
(and PyTorch when installed), with gradients where they differentiate."""
import numpy as np
import pytest

import tvmini as tm
from graph_gradcheck import check_grad


def _same(got, want):
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_array_equal(got.numpy(), want)


def test_joins_and_flips_match_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    v, w = rng.normal(size=3), rng.normal(size=3)
    ta, tb, tv, tw = (tm.tensor(x) for x in (a, b, v, w))
    _same(tm.hstack([ta, tb]), np.hstack([a, b]))
    _same(tm.hstack([tv, tw]), np.hstack([v, w]))
    _same(tm.vstack([tv, tw]), np.vstack([v, w]))
    _same(tm.vstack((ta, tb)), np.vstack([a, b]))
    _same(tm.dstack([ta, tb]), np.dstack([a, b]))
    _same(tm.concat([ta, tb], dim=1), np.concatenate([a, b], 1))
    _same(tm.concatenate([ta, tb]), np.concatenate([a, b]))
    _same(tm.fliplr(ta), np.fliplr(a))
    _same(tm.flipud(tv), np.flipud(v))
    assert tm.atleast_1d(tm.tensor(2.0)).shape == (1,) and tm.atleast_2d(tv).shape == (1, 3)
    assert [t.shape for t in tm.atleast_3d(tm.tensor(1.0), tv, ta)] == [(1, 1, 1), (1, 3, 1), (2, 3, 1)]
    check_grad(lambda x, y: tm.vstack([x, y]) * tm.hstack([x, y]).sum(), v, w)
    with pytest.raises(tm.ShapeError, match="fliplr: the tensor must have at least 2"):
        tm.fliplr(tv)


@pytest.mark.parametrize("shape,offset,dims", [((3, 4), 0, (0, 1)), ((3, 4), 1, (0, 1)), ((3, 4), -2, (0, 1)),
                                               ((3, 4), 5, (0, 1)), ((2, 3, 4), 0, (0, 2)), ((2, 3, 4), -1, (2, 1)),
                                               ((2, 5, 5), 2, (-2, -1))])
def test_diagonal_of_any_two_axes(shape, offset, dims):
    x = np.random.default_rng(1).normal(size=shape)
    got = tm.tensor(x).diagonal(offset, *dims)
    _same(got, np.diagonal(x, offset, *dims))
    if got.numel():
        check_grad(lambda t: tm.diagonal(t, offset, *dims), x)


def test_trace_isfinite_and_tensor_conveniences():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    t = tm.tensor(x, requires_grad=True)
    t.trace().backward()
    assert t.grad.numpy().tolist() == [[1.0, 0.0], [0.0, 1.0]]
    special = tm.tensor([1.0, np.inf, -np.inf, np.nan])
    assert tm.isfinite(special).numpy().tolist() == [True, False, False, False]
    assert special.isposinf().numpy().tolist() == [False, True, False, False]
    assert special.isneginf().numpy().tolist() == [False, False, True, False]
    assert tm.isfinite(tm.tensor([1, 2])).numpy().tolist() == [True, True]
    batch = tm.tensor(np.arange(24.0).reshape(2, 3, 4))
    _same(batch.mT, np.swapaxes(np.arange(24.0).reshape(2, 3, 4), -1, -2))
    assert batch.unflatten(-1, (2, -1)).shape == (2, 3, 2, 2) and batch.reshape_as(tm.ones(6, 4)).shape == (6, 4)
    assert batch.nelement() == 24
    made = batch.new_tensor([1, 2])
    assert made.dtype == batch.dtype and batch.new_empty(2, 3).shape == (2, 3)
    assert tm.as_tensor(batch) is batch and tm.as_tensor([1.0, 2.0], dtype="float64").dtype == "float64"
    with pytest.raises(tm.ShapeError, match="mT: the tensor must have at least 2"):
        tm.ones(3).mT


def test_match_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).normal(size=(3, 4, 5))
    t, T = tm.tensor(x), torch.tensor(x)
    for got, want in [(t.diagonal(1, 0, 2), T.diagonal(1, 0, 2)), (t.diagonal(-1, 2, 1), T.diagonal(-1, 2, 1)),
                      (tm.hstack([t, t]), torch.hstack([T, T])), (tm.dstack([t[0], t[1]]), torch.dstack([T[0], T[1]])),
                      (t[0].trace(), T[0].trace()), (t.mT, T.mT), (t.unflatten(1, (2, 2)), T.unflatten(1, (2, 2)))]:
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
