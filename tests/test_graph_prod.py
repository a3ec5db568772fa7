"""Tensor.prod: forward against numpy on hypothesis shapes and axes, and its gradient
(topi.prod_grad, the product of the other elements) against central finite differences
in float64, with no zero, one zero and several zeros in a reduced group."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from graph_gradcheck import check_grad
from strategies import examples

AXES = [None, 0, -1, (0, 2), (1,), (0, 1, 2)]


@examples(15)
@given(st.data())
def test_prod_forward_matches_numpy(data):
    shape = tuple(data.draw(st.lists(st.sampled_from([1, 2, 3, 5, 8]), min_size=1, max_size=3), label="shape"))
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)), label="axis")
    keepdims = data.draw(st.booleans(), label="keepdims")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    x = rng.uniform(0.7, 1.3, shape).astype("float32")
    got = tm.tensor(x).prod(axis=axis, keepdims=keepdims)
    want = np.prod(x, axis=axis, keepdims=keepdims)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("zeros", [0, 1, 2])
def test_prod_gradient_matches_finite_differences(axis, zeros):
    """``zeros`` zeros in the first group of every reduction (the products are
    multilinear, so central differences are exact up to rounding, also at a zero)."""
    rng = np.random.default_rng(zeros)
    x = rng.uniform(0.5, 1.5, (2, 3, 4)) * rng.choice([-1, 1], (2, 3, 4))
    x.reshape(-1)[[0, 12][:zeros]] = 0           # (0, 0, 0) and (1, 0, 0): together in groups over axis 0
    for keepdims in (False, True):
        check_grad(lambda t: t.prod(axis=axis, keepdims=keepdims), x)


def test_prod_gradient_composes():
    """prod inside a larger expression: the chain rule through prod_grad and broadcasting."""
    x = np.random.default_rng(5).uniform(0.5, 1.5, (3, 4))
    x[1, 2] = 0
    check_grad(lambda t: (t.prod(axis=1, keepdims=True) * t).sum(axis=0), x)


def test_prod_gradient_with_a_zero_is_the_product_of_the_rest():
    x = tm.tensor(np.array([3.0, 0.0, 2.0, 5.0]), requires_grad=True)
    x.prod().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 30.0, 0.0, 0.0])
