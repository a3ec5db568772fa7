"""Data-dependent selections (nonzero, one-argument where, masked_select, bincount),
count_nonzero, and the binary math spellings logaddexp/logit/xlogy/copysign/floor_divide/
true_divide: against numpy formulas, finite differences and PyTorch when installed."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tvmini as tm
from graph_gradcheck import check_grad


@settings(max_examples=10, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3), seed=st.integers(0, 99))
def test_selections_match_numpy(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-1, 2, size=shape).astype("float64")
    t = tm.tensor(x)
    want = np.argwhere(x) if x.ndim else np.zeros((int(x != 0), 0), "int64")
    np.testing.assert_array_equal(tm.nonzero(t).numpy(), want)
    for got, axis in zip(tm.where(t != 0), np.nonzero(x.reshape(x.shape or (1,)))):
        np.testing.assert_array_equal(got.numpy(), axis)
    np.testing.assert_array_equal(tm.masked_select(t, t > 0).numpy(), x[x > 0])
    assert tm.count_nonzero(t).item() == np.count_nonzero(x)
    if x.ndim:
        np.testing.assert_array_equal(t.count_nonzero(-1).numpy(), np.count_nonzero(x, -1))


def test_masked_select_broadcasts_and_keeps_its_gradient():
    x = np.random.default_rng(0).normal(size=(3, 4))
    mask = np.array([True, False, True, True])
    np.testing.assert_array_equal(tm.tensor(x).masked_select(tm.tensor(mask)).numpy(), x[:, mask].reshape(-1))
    check_grad(lambda t: tm.masked_select(t, tm.tensor(mask)) * 2, x)


def test_bincount_counts_and_weighs():
    values = np.array([1, 3, 1, 0, 3, 3])
    weights = np.random.default_rng(1).normal(size=6)
    np.testing.assert_array_equal(tm.bincount(tm.tensor(values)).numpy(), np.bincount(values))
    np.testing.assert_allclose(tm.tensor(values).bincount(tm.tensor(weights), minlength=6).numpy(),
                               np.bincount(values, weights, minlength=6))
    check_grad(lambda w: tm.bincount(tm.tensor(values), w), weights)
    assert tm.bincount(tm.tensor(np.zeros(0, "int64")), minlength=2).numpy().tolist() == [0, 0]
    with pytest.raises(tm.ShapeError, match="bincount: input must be non-negative"):
        tm.bincount(tm.tensor([1, -1]))
    with pytest.raises(tm.ShapeError, match="bincount: input must be a 1-D integer tensor"):
        tm.bincount(tm.tensor([1.0]))


def test_where_needs_both_operands_or_neither():
    with pytest.raises(tm.ShapeError, match="where: give both input and other"):
        tm.where(tm.tensor([True]), 1.0)


def test_binary_math_spellings_follow_their_formulas_and_gradients():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4,))
    np.testing.assert_allclose(tm.logaddexp(tm.tensor(a), tm.tensor(b)).numpy(), np.logaddexp(a, b), rtol=1e-12)
    check_grad(tm.logaddexp, a, b)
    big = tm.logaddexp(tm.tensor([1000.0, -np.inf]), tm.tensor([999.0, -np.inf])).numpy()
    np.testing.assert_allclose(big, [np.logaddexp(1000.0, 999.0), -np.inf])
    p = rng.uniform(0.05, 0.95, size=5)
    np.testing.assert_allclose(tm.logit(tm.tensor(p)).numpy(), np.log(p / (1 - p)), rtol=1e-12)
    check_grad(lambda t: t.logit(0.1), p)
    x, y = np.array([0.0, 2.0, 0.0, 1.5]), np.array([0.0, 3.0, np.nan, 0.5])
    np.testing.assert_allclose(tm.xlogy(tm.tensor(x), tm.tensor(y)).numpy(), [0.0, 2 * np.log(3.0), np.nan,
                                                                              1.5 * np.log(0.5)])
    check_grad(tm.xlogy, np.array([0.5, 2.0]), np.array([0.3, 3.0]))
    np.testing.assert_array_equal(tm.copysign(tm.tensor([1.0, -2.0, 3.0]), tm.tensor([-0.0, 1.0, -5.0])).numpy(),
                                  np.copysign([1.0, -2.0, 3.0], [-0.0, 1.0, -5.0]))
    np.testing.assert_array_equal(tm.floor_divide(tm.tensor([-7, 7]), 2).numpy(), [-4, 3])
    assert tm.true_divide(tm.tensor([3]), 2).numpy().tolist() == [1.5]


def test_match_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    x = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    t, T = tm.tensor(x), torch.tensor(x)
    np.testing.assert_array_equal(t.nonzero().numpy(), T.nonzero().numpy())
    np.testing.assert_array_equal(tm.masked_select(t, t > 0).numpy(), torch.masked_select(T, T > 0).numpy())
    for mine, theirs in [(tm.logaddexp, torch.logaddexp), (tm.copysign, torch.copysign), (tm.xlogy, torch.xlogy),
                         (tm.floor_divide, torch.floor_divide)]:
        np.testing.assert_allclose(mine(t, t.flip(1) - 0.5).numpy(), theirs(T, T.flip(1) - 0.5).numpy(), rtol=1e-12)
