"""``tm.poisson`` (``graph/random_ops.py``, ``topi/poisson.py``): frequencies against the
Poisson pmf (chi-square) on both samplers and at their boundary, mean and variance of
large draws, reproducibility from ``tm.manual_seed`` and a generator, redraws under
``tm.jit``, the host equal to the emulated GPU, rate 0, PyTorch's zero gradient,
shapes and dtypes, and the errors."""
import math

import numpy as np
import pytest

import tvmini as tm
from tvmini import te, topi
from tvmini.topi import poisson as kernels
from test_cuda import needs_nvcc
from test_topi_cuda import compile_together, cuda_source

N = 20000


def _pmf(k, lam):
    return np.exp(-lam + k * math.log(lam) - np.array([math.lgamma(v + 1.0) for v in k]))


def _chi_square_ok(draws, lam):
    """Pearson's statistic over the values expected at least 5 times (the rest pooled)
    below the 1e-4 quantile of its chi-square law (Wilson-Hilferty)."""
    top = int(lam + 12 * math.sqrt(lam) + 12)
    k = np.arange(top)
    want = _pmf(k, lam) * draws.size
    keep = want >= 5
    got = np.bincount(draws.astype(np.int64), minlength=top)[:top][keep]
    want = want[keep]
    got, want = np.append(got, draws.size - got.sum()), np.append(want, draws.size - want.sum())
    stat = ((got - want) ** 2 / np.maximum(want, 1e-12)).sum()
    dof = keep.sum()
    bound = dof * (1 - 2 / (9 * dof) + 3.72 * math.sqrt(2 / (9 * dof))) ** 3
    assert stat < bound, (lam, stat, bound)


def test_frequencies_follow_the_pmf_on_both_samplers_and_their_boundary():
    tm.manual_seed(3)
    rates = [0.05, 1.0, 4.5, 9.999, 10.0, 23.7, 150.0]
    draws = tm.poisson(tm.tensor(np.repeat(rates, N).reshape(len(rates), N))).numpy()
    for lam, row in zip(rates, draws):
        assert np.all(row >= 0) and np.all(row == np.round(row))
        _chi_square_ok(row, lam)


@pytest.mark.parametrize("lam", [0.3, 7.0, 12.0, 2.5e5])
def test_mean_and_variance_of_large_draws(lam):
    tm.manual_seed(int(lam))
    x = tm.poisson(tm.full((N,), lam, dtype="float64")).numpy()
    assert abs(x.mean() - lam) <= 5 * math.sqrt(lam / N)
    # the sample variance's standard error: sqrt((mu4 - var^2) / n), mu4 = lam (1 + 3 lam)
    assert abs(x.var() - lam) <= 5 * math.sqrt((lam * (1 + 3 * lam) - lam ** 2) / N)


def test_rate_zero_shapes_dtypes_and_reproducibility():
    tm.manual_seed(5)
    for shape, dtype in (((1,), "float32"), ((3, 1, 5), "float64"), ((7, 3), "float16")):
        rates = tm.full(shape, 2.0, dtype=dtype)
        y = tm.poisson(rates)
        assert y.shape == shape and y.dtype == dtype and not y.requires_grad
    assert np.all(tm.poisson(tm.zeros(33)).numpy() == 0)
    assert tm.poisson(tm.zeros(0, 4)).shape == (0, 4)
    rates = tm.tensor(np.linspace(0.0, 40.0, 101))
    tm.manual_seed(8)
    first = tm.poisson(rates).numpy()
    tm.manual_seed(8)
    np.testing.assert_array_equal(tm.poisson(rates).numpy(), first)
    assert not np.array_equal(tm.poisson(rates).numpy(), first)
    a = tm.poisson(rates, generator=np.random.default_rng(1)).numpy()
    np.testing.assert_array_equal(tm.poisson(rates, generator=np.random.default_rng(1)).numpy(), a)


def test_kernel_edges_nan_and_inf_rates():
    """What the kernel gives where the graph layer cannot look (device tensors, jit):
    NaN for a negative or NaN rate, +inf for an infinite one."""
    rates = te.placeholder((4,), name="rates", dtype="float64")
    seed = topi.random.seed_var()
    out = kernels.poisson(rates, seed)
    f = tm.build(topi.default_schedule(out), [rates, seed, out], name="poisson_edges")
    got = np.empty(4)
    f(np.array([-1.0, np.nan, np.inf, 0.0]), 3, got)
    assert np.isnan(got[0]) and np.isnan(got[1]) and got[2] == np.inf and got[3] == 0


def test_zero_gradient_as_torch_and_jit_redraws():
    torch = pytest.importorskip("torch")
    x = tm.tensor(np.array([0.5, 3.0, 30.0]), requires_grad=True)
    t = torch.tensor([0.5, 3.0, 30.0], dtype=torch.float64, requires_grad=True)
    y, ty = tm.poisson(x), torch.poisson(t)
    assert y.requires_grad == ty.requires_grad
    (y * 2).sum().backward()
    (ty * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())

    @tm.jit
    def step(rates):
        return tm.poisson(rates) + 1.0
    rates = tm.full((256,), 6.0)
    outs = [step(rates).numpy() for _ in range(3)]          # the trace, then two replays
    assert not np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[1], outs[2])
    assert all(o.min() >= 1 for o in outs)
    tm.manual_seed(4)
    again = [step(rates).numpy() for _ in range(2)]
    tm.manual_seed(4)
    np.testing.assert_array_equal([step(rates).numpy() for _ in range(2)], again)


def test_errors_as_pytorch():
    with pytest.raises(tm.TVMiniError, match="poisson: invalid Poisson rate, expected rate to be non-negative"):
        tm.poisson(tm.tensor([1.0, -0.5]))
    with pytest.raises(tm.TVMiniError, match="invalid Poisson rate"):
        tm.poisson(tm.tensor([float("nan")]))
    with pytest.raises(tm.TVMiniError, match="invalid Poisson rate"):
        tm.poisson(tm.tensor([float("inf")]))
    with pytest.raises(tm.TVMiniError, match="poisson: draws floating-point numbers"):
        tm.poisson(tm.tensor([1, 2]))
    with pytest.raises(tm.TVMiniError, match="poisson: takes a Tensor"):
        tm.poisson([1.0])
    with pytest.raises(tm.TVMiniError, match="generator must be a numpy.random.Generator"):
        tm.poisson(tm.ones(2), generator=3)


def test_poisson_on_the_emulated_gpu_equals_the_host(emulated_gpu):
    rates = np.array([[0.0, 0.2, 3.0, 9.5], [10.0, 11.0, 64.0, 1e4]], dtype="float32")
    tm.manual_seed(9)
    device = tm.poisson(tm.tensor(rates, device="cuda"))
    assert device.device.kind == "cuda"
    tm.manual_seed(9)
    np.testing.assert_array_equal(device.numpy(), tm.poisson(tm.tensor(rates)).numpy())
    assert emulated_gpu.launches


@needs_nvcc
def test_poisson_kernel_compiles_to_ptx():
    class Case:
        args = [te.placeholder((15,), name="rates", dtype="float32"), topi.random.seed_var()]
        outs = [kernels.poisson(args[0], args[1])]
    source, names = cuda_source(Case, "poisson_kernel")
    assert all(f".entry {name}" in compile_together([source], "poisson_kernel") for name in names)
