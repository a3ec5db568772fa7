"""Pointwise activations (GELU exact and tanh, SiLU, LeakyReLU, ELU, Softplus) and math
functions (erf, tan, atan, asin, acos, exp2, expm1, log2, log10, log1p) of the graph
layer: values against their formulas in numpy, gradients against central finite
differences in float64, modules and PyTorch (when installed) as a cross-check."""
import math

import numpy as np
import pytest

import tvmini as tm
import tvmini.nn.functional as F
from tvmini import nn
from graph_gradcheck import check_grad

ERF = np.vectorize(math.erf)


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


FORMULAS = {
    "gelu": (lambda t: F.gelu(t), lambda v: 0.5 * v * (1 + ERF(v / math.sqrt(2)))),
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"),
                  lambda v: 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))),
    "silu": (F.silu, lambda v: v * _sigmoid(v)),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.2), lambda v: np.where(v > 0, v, 0.2 * v)),
    "elu": (lambda t: F.elu(t, 1.5), lambda v: np.where(v > 0, v, 1.5 * np.expm1(v))),
    "softplus": (lambda t: F.softplus(t, beta=2.0, threshold=3.0),
                 lambda v: np.where(2 * v > 3, v, np.log1p(np.exp(2 * v)) / 2)),
    "erf": (lambda t: t.erf(), ERF),
    "tan": (lambda t: t.tan(), np.tan),
    "atan": (lambda t: t.atan(), np.arctan),
    "asin": (lambda t: (t * 0.5).asin(), lambda v: np.arcsin(v * 0.5)),
    "acos": (lambda t: (t * 0.5).acos(), lambda v: np.arccos(v * 0.5)),
    "exp2": (lambda t: t.exp2(), np.exp2),
    "expm1": (lambda t: t.expm1(), np.expm1),
    "log2": (lambda t: (t * t + 0.5).log2(), lambda v: np.log2(v * v + 0.5)),
    "log10": (lambda t: (t * t + 0.5).log10(), lambda v: np.log10(v * v + 0.5)),
    "log1p": (lambda t: (t * t).log1p(), lambda v: np.log1p(v * v)),
}
# points away from kinks (0 for leaky_relu and elu, 1.5 for softplus' threshold)
X = np.array([[-1.7, -0.9, -0.31, 0.23], [0.61, 1.13, 1.6, -1.2]])


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_values_match_the_formula(name):
    fn, formula = FORMULAS[name]
    for dtype, rtol in (("float32", 2e-6), ("float64", 1e-13)):
        got = fn(tm.tensor(X.astype(dtype)))
        assert got.dtype == dtype
        np.testing.assert_allclose(got.numpy(), formula(X), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_gradients_match_finite_differences(name):
    check_grad(FORMULAS[name][0], X)


def test_gradients_at_the_kinks_follow_pytorch():
    """At 0 LeakyReLU's and ELU's derivatives are the negative side's (slope, alpha)."""
    for fn, want in ((lambda t: F.leaky_relu(t, 0.2), 0.2), (lambda t: F.elu(t, 1.5), 1.5)):
        t = tm.tensor(np.zeros(3), requires_grad=True)
        fn(t).sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), want)


def test_parameters_are_runtime_scalars_and_integers_compute_in_float32():
    x = tm.tensor(X.astype("float32"))
    F.leaky_relu(x, 0.1)
    built = tm.graph.kernel_count()
    F.leaky_relu(x, 0.3)
    assert tm.graph.kernel_count() == built
    assert F.silu(tm.tensor(np.array([1, -2]))).dtype == "float32"
    with pytest.raises(tm.DTypeError, match="approximate"):
        F.gelu(x, approximate="erf")


def test_parameters_past_any_float_are_a_value_overflow_error():
    """F.leaky_relu(x, 10**400) raised a raw OverflowError from float(); it is the
    ValueOverflowError naming the op that ``x * 10**400`` gives."""
    x = tm.tensor(X.astype("float32"))
    for fn in (lambda: F.leaky_relu(x, 10**400), lambda: F.elu(x, -10**400), lambda: nn.Softplus(10**400)(x)):
        with pytest.raises(tm.ValueOverflowError, match="an int of 1329 bits is past the range of float32"):
            fn()


def test_modules():
    x = tm.tensor(X.astype("float32"))
    for module, fn in ((nn.GELU(), F.gelu), (nn.SiLU(), F.silu), (nn.LeakyReLU(0.3), lambda t: F.leaky_relu(t, 0.3)),
                       (nn.ELU(0.5), lambda t: F.elu(t, 0.5)), (nn.Softplus(2.0), lambda t: F.softplus(t, 2.0)),
                       (nn.GELU("tanh"), lambda t: F.gelu(t, "tanh"))):
        np.testing.assert_array_equal(module(x).numpy(), fn(x).numpy())


TORCH = [("gelu", "gelu", {}), ("gelu", "gelu", {"approximate": "tanh"}), ("silu", "silu", {}),
         ("leaky_relu", "leaky_relu", {"negative_slope": 0.05}), ("elu", "elu", {"alpha": 0.7}),
         ("softplus", "softplus", {"beta": 1.5, "threshold": 2.0})]


@pytest.mark.parametrize("mine,theirs,kwargs", TORCH)
def test_activations_match_pytorch_when_installed(mine, theirs, kwargs):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(0, 2, (5, 7))
    t = tm.tensor(x, requires_grad=True)
    q = torch.tensor(x, requires_grad=True)
    getattr(F, mine)(t, **kwargs).sum().backward()
    getattr(torch.nn.functional, theirs)(q, **kwargs).sum().backward()
    np.testing.assert_allclose(getattr(F, mine)(t, **kwargs).numpy(),
                               getattr(torch.nn.functional, theirs)(q, **kwargs).detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.grad.numpy(), q.grad.numpy(), rtol=1e-12)
