"""nn activations added beside GELU/SiLU (hardtanh, relu6, mish, logsigmoid, softsign,
hardsigmoid, hardswish: functional forms and modules) and F.normalize,
F.cosine_similarity, F.pairwise_distance: values against numpy formulas and PyTorch on
hypothesis-drawn shapes, gradients against central finite differences in float64 (and
PyTorch's at the kinks), numerical stability, errors, and the kernels on CUDA."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
import tvmini.nn.functional as F
from tvmini import nn
from tvmini.errors import DTypeError, ShapeError
from graph_gradcheck import check_grad
from strategies import examples


def _torch():
    return pytest.importorskip("torch")


def _softplus(v):
    return np.logaddexp(0, v)


# name -> (tvmini function, numpy formula, module, extra arguments)
ACTIVATIONS = {
    "hardtanh": (lambda v: np.clip(v, -0.5, 2.0), nn.Hardtanh(-0.5, 2.0), (-0.5, 2.0)),
    "relu6": (lambda v: np.clip(v, 0, 6), nn.ReLU6(), ()),
    "mish": (lambda v: v * np.tanh(_softplus(v)), nn.Mish(), ()),
    "logsigmoid": (lambda v: -_softplus(-v), nn.LogSigmoid(), ()),
    "softsign": (lambda v: v / (1 + np.abs(v)), nn.Softsign(), ()),
    "hardsigmoid": (lambda v: np.clip(v / 6 + 0.5, 0, 1), nn.Hardsigmoid(), ()),
    "hardswish": (lambda v: v * np.clip(v + 3, 0, 6) / 6, nn.Hardswish(), ()),
}
SHAPES = st.lists(st.sampled_from([1, 2, 3, 5]), min_size=0, max_size=3).map(tuple)
RTOL = {"float32": 2e-6, "float64": 1e-12}


@examples(4)
@given(shape=SHAPES, dtype=st.sampled_from(["float32", "float64"]))
def test_activations_match_their_formulas_and_pytorch(shape, dtype):
    torch = _torch()
    v = np.asarray(np.random.default_rng(len(shape)).uniform(-8, 8, shape), dtype=dtype)
    for name, (formula, module, args) in sorted(ACTIVATIONS.items()):
        got = getattr(F, name)(tm.tensor(v), *args)
        assert got.dtype == dtype and got.shape == shape, name
        np.testing.assert_allclose(got.numpy(), formula(v), rtol=RTOL[dtype], atol=RTOL[dtype], err_msg=name)
        np.testing.assert_array_equal(module(tm.tensor(v)).numpy(), got.numpy(), err_msg=name)
        want = getattr(torch.nn.functional, name)(torch.from_numpy(v), *args).numpy()
        np.testing.assert_allclose(got.numpy(), want, rtol=RTOL[dtype], atol=RTOL[dtype], err_msg=name)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradients_match_finite_differences(name):
    args = ACTIVATIONS[name][2]
    # points away from the kinks (-3, 3, 0, 6, -0.5, 2)
    check_grad(lambda t: getattr(F, name)(t, *args), np.array([[-7.1, -2.2, -0.3, 0.4], [1.1, 2.6, 4.7, 9.3]]))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_gradients_at_the_kinks_follow_pytorch(name):
    torch = _torch()
    v = np.array([-3.0, -0.5, 0.0, 2.0, 3.0, 6.0, -60.0, 60.0])
    args = ACTIVATIONS[name][2]
    x = tm.tensor(v, requires_grad=True)
    getattr(F, name)(x, *args).sum().backward()
    t = torch.tensor(v, requires_grad=True)
    getattr(torch.nn.functional, name)(t, *args).sum().backward()
    # PyTorch's hardsigmoid gradient is 1/6 rounded to float32 even in float64; tvmini's is exact
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_logsigmoid_and_mish_are_stable_far_out():
    v = np.array([-1e4, -100.0, 100.0, 1e4])
    x = tm.tensor(v.astype("float32"), requires_grad=True)
    y = F.logsigmoid(x)
    np.testing.assert_allclose(y.numpy(), -np.logaddexp(0, -v), rtol=1e-6, atol=1e-45)     # -exp(-100) at 100
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0, 0.0, 0.0], atol=1e-30)
    np.testing.assert_allclose(F.mish(tm.tensor([-1e4, 1e4])).numpy(), [0.0, 1e4])


def test_modules_repr_and_hardtanh_bounds():
    assert repr(nn.ReLU6()) == "ReLU6()" and isinstance(nn.ReLU6(), nn.Hardtanh)
    assert "inplace=True" in repr(nn.Hardswish(inplace=True))
    with pytest.raises(DTypeError, match="hardtanh"):
        F.hardtanh(tm.tensor([1.0]), 2.0, 1.0)
    assert F.relu6(tm.tensor([-1, 3, 9])).dtype == "float32"       # integers compute in float32


@examples(4)
@given(shape=st.lists(st.sampled_from([1, 2, 3, 5]), min_size=1, max_size=3).map(tuple), data=st.data())
def test_normalize_and_similarities_match_pytorch(shape, data):
    torch = _torch()
    rng = np.random.default_rng(len(shape))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    other = tuple(1 if data.draw(st.booleans()) else n for n in shape)
    a, b = rng.standard_normal(shape), rng.standard_normal(other)
    for p in (2, 1, 3.5):
        np.testing.assert_allclose(F.normalize(tm.tensor(a), p=p, dim=dim).numpy(),
                                   torch.nn.functional.normalize(torch.from_numpy(a), p=p, dim=dim).numpy(),
                                   rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(F.cosine_similarity(tm.tensor(a), tm.tensor(b), dim=dim).numpy(),
                               torch.nn.functional.cosine_similarity(torch.from_numpy(a), torch.from_numpy(b),
                                                                     dim=dim).numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(F.pairwise_distance(tm.tensor(a), tm.tensor(b), keepdim=True).numpy(),
                               torch.nn.functional.pairwise_distance(torch.from_numpy(a), torch.from_numpy(b),
                                                                     keepdim=True).numpy(), rtol=1e-12)


def test_normalize_and_similarity_gradients_match_finite_differences():
    a = np.array([[0.5, -1.2, 2.0], [0.3, 0.1, -0.7]])
    b = np.array([[1.5, 0.2, -0.4]])
    check_grad(lambda t: F.normalize(t, dim=1), a)
    check_grad(lambda t: F.normalize(t, p=1, dim=0), a)
    check_grad(lambda s, t: F.cosine_similarity(s, t, dim=1), a, b)
    check_grad(lambda s, t: F.pairwise_distance(s, t), a, b)


def test_normalize_floors_the_norm_and_errors_name_the_op():
    zeros = tm.tensor(np.zeros((2, 3)))
    np.testing.assert_array_equal(F.normalize(zeros).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(F.cosine_similarity(zeros, zeros).numpy(), [0.0, 0.0])
    with pytest.raises(ShapeError, match="cosine_similarity"):
        F.cosine_similarity(tm.tensor(np.ones((2, 3))), tm.tensor(np.ones((2, 4))))
    with pytest.raises(ShapeError, match="norm"):
        F.normalize(zeros, dim=2)


def test_activation_kernels_on_cuda_match_the_cpu(emulated_gpu):
    v = np.linspace(-7, 7, 15).reshape(3, 5).astype("float32")
    results = []
    for device in ("cpu", "cuda"):
        x = tm.tensor(v, device=device, requires_grad=True)
        out = sum(getattr(F, name)(x, *args) for name, (_, _, args) in sorted(ACTIVATIONS.items()))
        out.sum().backward()
        results.append((out.numpy(), x.grad.numpy()))
    for cpu, cuda in zip(*results):
        np.testing.assert_allclose(cuda, cpu, rtol=1e-5, atol=1e-6)
