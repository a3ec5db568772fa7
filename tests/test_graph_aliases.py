"""PyTorch's other spellings (``graph/aliases.py``): each is the op it names, with its
values, dtypes and gradients."""
import numpy as np
import pytest

import tvmini as tm


def _x(requires_grad=False):
    return tm.tensor(np.array([[1.0, -2.0, 3.0], [4.0, np.nan, -6.0]], "float32"), requires_grad=requires_grad)


def test_comparison_and_arithmetic_methods_are_the_operators():
    x, y = _x(), tm.tensor(np.full((2, 3), 3.0, "float32"))
    a, b = x.numpy(), y.numpy()
    with np.errstate(invalid="ignore"):
        for name, want in (("eq", a == b), ("ne", a != b), ("lt", a < b), ("le", a <= b), ("gt", a > b),
                           ("ge", a >= b)):
            got = getattr(x, name)(y)
            assert got.dtype == "bool"
            np.testing.assert_array_equal(got.numpy(), want, err_msg=name)
    np.testing.assert_array_equal(x.add(y, alpha=2).numpy(), a + 2 * b)
    np.testing.assert_array_equal(x.sub(1.5).numpy(), a - 1.5)
    np.testing.assert_array_equal(x.mul(y).numpy(), a * b)
    np.testing.assert_array_equal(x.div(y).numpy(), a / b)
    np.testing.assert_array_equal(x.div(y, rounding_mode="floor").numpy(), a // b)
    np.testing.assert_array_equal(x.pow(2).numpy(), a ** 2)
    np.testing.assert_array_equal(x.neg().numpy(), -a)
    np.testing.assert_array_equal(x.isnan().numpy(), np.isnan(a))
    np.testing.assert_array_equal(tm.tensor(np.array([np.inf, -np.inf, 1.0], "float32")).isinf().numpy(),
                                  [True, True, False])
    assert not tm.tensor(np.arange(3)).isinf().numpy().any()
    with pytest.raises(tm.TVMiniError, match="rounding_mode='trunc' is not supported"):
        x.div(y, rounding_mode="trunc")


def test_shape_and_creation_spellings():
    x = _x()
    assert x.contiguous() is x
    assert x.t().shape == (3, 2) and x.t().t().shape == (2, 3)
    assert tm.tensor(np.ones(3, "float32")).t().shape == (3,)
    with pytest.raises(tm.ShapeError, match="at most 2 dimensions"):
        tm.zeros(2, 2, 2).t()
    assert x.type_as(tm.tensor(np.arange(2))).dtype == "int64"
    z = x.new_zeros(2, 4)
    assert z.shape == (2, 4) and z.dtype == "float32" and not z.numpy().any()
    assert x.new_ones((3,)).numpy().tolist() == [1, 1, 1]
    np.testing.assert_array_equal(x.new_full((2,), 7).numpy(), [7, 7])


def test_softmax_methods_and_module_level_functions_with_gradients():
    x = tm.tensor(np.random.default_rng(0).standard_normal((3, 4)).astype("float32"), requires_grad=True)
    a = x.numpy()
    e = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(x.softmax(1).numpy(), e / e.sum(1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(x.log_softmax(1).numpy(), np.log(e / e.sum(1, keepdims=True)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tm.sum(x, 1).numpy(), a.sum(1), rtol=1e-6)
    np.testing.assert_allclose(tm.mean(x).item(), a.mean(), rtol=1e-6)
    np.testing.assert_allclose(tm.exp(x).numpy(), np.exp(a), rtol=1e-6)
    assert tm.max(x).item() == a.max() and tm.min(x).item() == a.min()
    np.testing.assert_array_equal(tm.max(x, tm.zeros(3, 4)).numpy(), np.maximum(a, 0))
    np.testing.assert_array_equal(tm.min(x, tm.zeros(3, 4)).numpy(), np.minimum(a, 0))
    assert tm.flatten(x).shape == (12,) and tm.reshape(x, (4, 3)).shape == (4, 3)
    assert tm.transpose(x, 0, 1).shape == (4, 3)
    (tm.sum(tm.exp(x)) + x.mul(3).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(a) + 3, rtol=1e-6)
    assert tm.allclose(x, x) and tm.equal(x, x) and not tm.equal(x, x.mul(2))
    with pytest.raises(tm.DTypeError, match="tm.sum takes a Tensor first, got ndarray"):
        tm.sum(a)


def test_grad_modes_and_devices():
    assert tm.is_grad_enabled()
    with tm.set_grad_enabled(False):
        assert not tm.is_grad_enabled()
        with tm.set_grad_enabled(True):
            assert tm.is_grad_enabled()
        assert not tm.is_grad_enabled()
    assert tm.is_grad_enabled()
    tm.set_grad_enabled(False)                 # a call, as PyTorch's: the mode holds from now on
    try:
        assert not tm.is_grad_enabled()
    finally:
        tm.set_grad_enabled(True)
    with tm.inference_mode():
        y = _x(requires_grad=True).mul(2)
        assert not y.requires_grad
    with tm.inference_mode(False):
        assert tm.is_grad_enabled()
    assert tm.device("cpu") == tm.cpu(0) and tm.device("cpu", 0) == tm.cpu(0)
    assert _x().to(tm.device("cpu")).device == tm.cpu(0)
