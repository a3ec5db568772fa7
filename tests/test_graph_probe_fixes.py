"""Defects a PyTorch user found in the graph layer, each checked against PyTorch (when it
is installed) and against formulas or finite differences (always):

- an in-place logical op / heaviside_ on a tensor autodiff tracks (a write of a value with
  no history) crashed inside ``autograd.rebase``;
- ``retain_grad()`` was lost by an in-place op; ``Tensor.retains_grad``;
- the older ops had no in-place forms (``exp_``, ``relu_``, ``pow_``, ``clamp_min_`` ...);
- maximum/minimum/relu gave a zero gradient at NaN where PyTorch passes it;
- ``hypot`` refused int with float; bool tensors: ``square`` stayed bool, and
  ``abs``/``relu``/``argmax``/``argmin``/``bool ** bool`` returned values PyTorch refuses.
"""
import numpy as np
import pytest

import tvmini as tm
from graph_gradcheck import check_grad

NAN = float("nan")


def _torch():
    return pytest.importorskip("torch")


# ------------------------------------------------ 1. writes of values with no history

LOGICAL = [("logical_and_", lambda y: (y > 1,)), ("logical_or_", lambda y: (y > 1,)),
           ("logical_xor_", lambda y: (y > 1,)), ("logical_not_", lambda y: ())]


def _logical_on_tracked(lib, name, other):
    x = lib.tensor([1.0, -2.0, 0.0], requires_grad=True)
    y = x * 1.5
    getattr(y, name)(*other(y))
    return x, y


@pytest.mark.parametrize("name, other", LOGICAL)
def test_in_place_logical_op_on_a_tracked_tensor(name, other):
    x, y = _logical_on_tracked(tm, name, other)
    expected = {"logical_and_": [1, 0, 0], "logical_or_": [1, 1, 0], "logical_xor_": [0, 1, 0],
                "logical_not_": [0, 0, 1]}[name]
    np.testing.assert_array_equal(y.numpy(), expected)
    assert y.dtype == "float32" and y.requires_grad and not y.is_leaf
    # the written values are not a function of y's old ones: no gradient flows back through them
    (y.sum() + (x * 2).sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2, 2])


@pytest.mark.parametrize("name, other", LOGICAL)
def test_in_place_logical_op_values_as_pytorch(name, other):
    torch = _torch()
    x, y = _logical_on_tracked(tm, name, other)
    tx, ty = _logical_on_tracked(torch, name, other)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    assert y.requires_grad == ty.requires_grad
    # (torch keeps y's old grad_fn, so its backward sends 1.5 to x through the overwritten
    # values; tvmini sends nothing, as the values written do not depend on x)


def test_history_free_write_into_an_untracked_tensor_leaves_it_untracked():
    w = tm.tensor([1.0, 0.0], requires_grad=True)
    z = tm.tensor([1.0, 1.0])
    z.logical_and_(w * 1)
    assert z.numpy().tolist() == [1, 0] and not z.requires_grad
    n = tm.tensor([1, 2])
    n[0] = (w * 3)[0]               # a float value cast into an integer tensor: nothing to differentiate
    assert n.numpy().tolist() == [3, 2] and not n.requires_grad


def test_overwriting_a_value_an_op_saved_is_reported_at_backward():
    x = tm.tensor([1.0, -2.0], requires_grad=True)
    y = x * 1.5
    z = y * y                       # saves y
    y.logical_not_()
    with pytest.raises(tm.AutogradError, match="modified by an inplace operation"):
        (z.sum() + y.sum()).backward()


def test_heaviside_is_recorded_and_its_backward_raises_as_pytorch():
    x = tm.tensor([1.0, -2.0, 0.0], requires_grad=True)
    h = tm.heaviside(x, tm.tensor([0.5]))
    assert h.numpy().tolist() == [1, 0, 0.5] and h.requires_grad
    with pytest.raises(tm.AutogradError, match="derivative of heaviside is not implemented"):
        h.sum().backward()
    y = x * 1
    y.heaviside_(tm.tensor([0.5]))
    assert y.numpy().tolist() == [1, 0, 0.5] and y.requires_grad
    with pytest.raises(tm.AutogradError, match="heaviside"):
        y.sum().backward()
    assert not tm.isclose(x, x).requires_grad          # a bool result is never tracked


def test_heaviside_raises_where_pytorch_does():
    torch = _torch()
    ty = torch.tensor([1.0, -2.0, 0.0], requires_grad=True) * 1
    ty.heaviside_(torch.tensor([0.5]))
    assert ty.requires_grad
    with pytest.raises(RuntimeError, match="heaviside_? is not implemented"):
        ty.sum().backward()


# ------------------------------------------------------------- 2. retain_grad in place

def _retained(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y += 1
    (y * y).sum().backward()
    return x, y


def test_retain_grad_survives_an_in_place_op():
    x, y = _retained(tm)
    np.testing.assert_allclose(y.grad.numpy(), 2 * (2 * np.array([1.0, 2.0]) + 1))      # d(y²)/dy = 2y
    np.testing.assert_allclose(x.grad.numpy(), 2 * 2 * (2 * np.array([1.0, 2.0]) + 1))
    assert y.retains_grad and not x.retains_grad


def test_retain_grad_survives_an_in_place_op_as_pytorch():
    torch = _torch()
    (x, y), (tx, ty) = _retained(tm), _retained(torch)
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy())
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    assert y.retains_grad == ty.retains_grad and x.retains_grad == tx.retains_grad


def test_retains_grad_property():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert not y.retains_grad and not x.retains_grad
    y.retain_grad()
    assert y.retains_grad
    y.logical_not_()                # onto a history-free write too
    assert y.retains_grad
    (y * 3).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [3, 3])
    with pytest.raises(AttributeError):
        y.retains_grad = False


# -------------------------------------------------------- 3. in-place forms of older ops

#: name, arguments, input values (inside every op's domain)
IN_PLACE = [("exp", ()), ("log", ()), ("sqrt", ()), ("abs", ()), ("neg", ()), ("relu", ()), ("sigmoid", ()),
            ("tanh", ()), ("cos", ()), ("sin", ()), ("pow", (3,)), ("pow", (1.5,)), ("square", ()),
            ("reciprocal", ()), ("rsqrt", ()), ("erf", ()), ("tan", ()), ("atan", ()), ("expm1", ()),
            ("log1p", ()), ("clamp", (0.5, 0.8)), ("clip", (None, 0.8)), ("clamp_min", (0.5,)),
            ("clamp_max", (0.5,)), ("tril", ()), ("triu", (1,))]
VALUES = np.array([[0.3, 0.7, 0.45], [0.9, 0.2, 0.6]])


def _in_place(name, args):
    def fn(x):
        y = x * 1.0
        out = getattr(y, name + "_")(*args)
        assert out is y
        return y
    return fn


@pytest.mark.parametrize("name, args", IN_PLACE)
def test_in_place_form_matches_the_op_and_finite_differences(name, args):
    x = tm.tensor(VALUES)
    np.testing.assert_allclose(_in_place(name, args)(x).numpy(), getattr(x, name)(*args).numpy(), rtol=1e-12)
    check_grad(_in_place(name, args), VALUES)


@pytest.mark.parametrize("name, args", IN_PLACE)
def test_in_place_form_as_pytorch(name, args):
    torch = _torch()
    x, tx = tm.tensor(VALUES, requires_grad=True), torch.tensor(VALUES, requires_grad=True)
    y, ty = _in_place(name, args)(x), _in_place(name, args)(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-6)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)


def test_in_place_forms_follow_the_write_rules():
    with pytest.raises(tm.DTypeError, match="sqrt_"):
        tm.tensor([4, 9]).sqrt_()                     # float result into an int tensor (PyTorch refuses too)
    ints = tm.tensor([-4, 9])
    assert ints.abs_().numpy().tolist() == [4, 9] and ints.dtype == "int64"
    with pytest.raises(tm.AutogradError):
        tm.tensor([1.0], requires_grad=True).exp_()   # a leaf that requires grad
    with pytest.raises(tm.DTypeError, match="abs"):
        tm.tensor([True]).abs_()


def test_clamp_min_and_clamp_max():
    x = tm.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    assert tm.clamp_min(x, 0.0).numpy().tolist() == [0, 0.5, 2]
    assert x.clamp_max(1.0).numpy().tolist() == [-1, 0.5, 1]
    assert tm.clamp_max(tm.tensor([1, 5]), 2).numpy().tolist() == [1, 2]
    check_grad(lambda v: tm.clamp_min(v, 0.0) * tm.clamp_max(v, 1.0), [-1.0, 0.5, 2.0])
    torch = _torch()
    t = torch.tensor([-1.0, 0.5, 2.0])
    np.testing.assert_array_equal(tm.clamp_min(x, 0.0).numpy(), torch.clamp_min(t, 0.0).numpy())
    np.testing.assert_array_equal(tm.clamp_max(x, 1.0).numpy(), torch.clamp_max(t, 1.0).numpy())


# ------------------------------------------------------------- 4. gradients at NaN

def _nan_grads(lib):
    a = lib.tensor([1.0, NAN, 2.0, NAN, 0.0, 3.0], requires_grad=True)
    b = lib.tensor([NAN, 1.0, 2.0, NAN, 1.0, -1.0], requires_grad=True)
    grads = []
    for op in (lib.maximum, lib.minimum):
        a.grad = b.grad = None
        op(a, b).sum().backward()
        grads += [a.grad.numpy().copy(), b.grad.numpy().copy()]
    a.grad = None
    lib.relu(a).sum().backward()
    return grads + [a.grad.numpy()]


def test_gradients_at_nan_pass_as_pytorch_formulas():
    max_a, max_b, min_a, min_b, relu_a = _nan_grads(tm)
    # g to both at a NaN, halves at a tie, g to the winner only elsewhere
    np.testing.assert_array_equal(max_a, [1, 1, 0.5, 1, 0, 1])
    np.testing.assert_array_equal(max_b, [1, 1, 0.5, 1, 1, 0])
    np.testing.assert_array_equal(min_a, [1, 1, 0.5, 1, 1, 0])
    np.testing.assert_array_equal(min_b, [1, 1, 0.5, 1, 0, 1])
    np.testing.assert_array_equal(relu_a, [1, 1, 1, 1, 0, 1])       # 0 only where x <= 0
    check_grad(lambda a, b: tm.maximum(a, b) + tm.minimum(a, b).relu(), [1.0, -2.0, 0.5], [0.5, -1.0, 2.0])


def test_gradients_at_nan_as_pytorch():
    torch = _torch()
    for got, want in zip(_nan_grads(tm), _nan_grads(torch)):
        np.testing.assert_array_equal(got, want)


def test_gradients_at_nan_on_the_emulated_gpu(emulated_gpu):
    a = tm.tensor([1.0, NAN, 0.0], device="cuda", requires_grad=True)
    b = tm.tensor([NAN, 1.0, 0.0], device="cuda", requires_grad=True)
    (tm.maximum(a, b) + a.relu()).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2, 2, 0.5])
    np.testing.assert_array_equal(b.grad.numpy(), [1, 1, 0.5])
    assert emulated_gpu.launches


# ---------------------------------------------------------- 5./6. dtypes as PyTorch's

PROMOTING = [("hypot", lambda m, a, b: m.hypot(a, b)), ("atan2", lambda m, a, b: m.atan2(a, b)),
             ("fmod", lambda m, a, b: m.fmod(a, b)), ("addcmul", lambda m, a, b: m.addcmul(a, b, a)),
             ("addcdiv", lambda m, a, b: m.addcdiv(a, a, b))]


@pytest.mark.parametrize("name, op", PROMOTING)
def test_binary_ops_promote_int_with_float(name, op):
    for a, b in (([3, 4], [4.0, 3.0]), ([3.0, 4.0], [4, 3])):
        got = op(tm, tm.tensor(a), tm.tensor(b))
        want = op(tm, tm.tensor(a, dtype="float32"), tm.tensor(b, dtype="float32"))
        assert got.dtype == "float32"
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    assert tm.hypot(tm.tensor([3, 4]), tm.tensor([4.0, 3.0])).numpy().tolist() == [5, 5]


@pytest.mark.parametrize("name, op", PROMOTING)
def test_binary_ops_promote_as_pytorch(name, op):
    torch = _torch()
    a, b = [3, 4], [4.0, 2.0]
    got, want = op(tm, tm.tensor(a), tm.tensor(b)), op(torch, torch.tensor(a), torch.tensor(b))
    assert got.dtype == str(want.dtype).replace("torch.", "")
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_hypot_of_two_integer_tensors_is_refused_as_pytorch():
    with pytest.raises(tm.DTypeError, match="hypot"):
        tm.hypot(tm.tensor([3]), tm.tensor([4]))


BOOL_REFUSED = [("abs", lambda b: b.abs()), ("relu", lambda b: b.relu()), ("argmax", lambda b: b.argmax()),
                ("argmin", lambda b: b.argmin()), ("pow", lambda b: b.pow(b))]


@pytest.mark.parametrize("name, op", BOOL_REFUSED)
def test_bool_tensors_are_refused_where_pytorch_refuses_them(name, op):
    with pytest.raises(tm.DTypeError, match=name):
        op(tm.tensor([True, False]))
    torch = _torch()
    with pytest.raises((RuntimeError, NotImplementedError)):
        op(torch.tensor([True, False]))


def test_bool_square_is_int64():
    b = tm.tensor([True, False])
    for got in (b.square(), tm.square(b)):
        assert got.dtype == "int64" and got.numpy().tolist() == [1, 0]
    assert b.pow(2).dtype == "int64" and b.max(0).indices.item() == 0
    torch = _torch()
    assert str(torch.tensor([True, False]).square().dtype) == "torch.int64"
