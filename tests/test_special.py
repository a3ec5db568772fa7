"""tm.special and the special-function ops against torch.special (and scipy where torch
is less accurate), on dense grids with their edges (0, ±0, poles, negative arguments,
huge values, ±inf, NaN), in float64 and float32; gradients against torch and central
differences; methods, in-place variants, jit, errors, the emulated GPU and PTX."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tvmini as tm
from tvmini.errors import AutogradError, DTypeError, ShapeError, TVMiniError
from tvmini.topi.special import ERFINV_REGIONS

from graph_gradcheck import check_grad

torch = pytest.importorskip("torch")

EDGES = [0.0, -0.0, 1.0, 2.0, -1.0, -2.0, -0.5, 0.5, 1e-300, -1e-300, 1e-8, 1e10, -1e10 + 0.5, 1e300, math.inf,
         -math.inf, math.nan, 170.5, 171.7, -170.5, 30.0, -30.0, 700.0, 720.0, -26.0, -27.0]
GRID = np.concatenate([np.linspace(-12, 12, 961), EDGES])
PROBABILITIES = np.concatenate([np.linspace(-0.01, 1.01, 409), [0.0, 1.0, 1e-300, 5e-324, 1 - 1e-16, 1e-16, math.nan,
                                                                0.25, 0.75, 0.5, -0.0]])
UNITS = np.concatenate([PROBABILITIES * 2 - 1, [1 - 1e-16, -1 + 1e-16, 1e-300, -1e-300, math.inf, -math.inf]])

#: name -> (torch function, grid)
UNARY = {
    "gammaln": (torch.special.gammaln, GRID), "digamma": (torch.special.digamma, GRID),
    "erfc": (torch.special.erfc, GRID), "erfcx": (torch.special.erfcx, GRID), "ndtr": (torch.special.ndtr, GRID),
    "log_ndtr": (torch.special.log_ndtr, GRID), "i0": (torch.special.i0, GRID), "i0e": (torch.special.i0e, GRID),
    "i1": (torch.special.i1, GRID), "i1e": (torch.special.i1e, GRID), "entr": (torch.special.entr, GRID),
    "erfinv": (torch.special.erfinv, UNITS), "ndtri": (torch.special.ndtri, PROBABILITIES),
}


def _same(got, want, rtol, atol=0.0):
    """Equal within tolerance, NaN where NaN, infinities of the same sign."""
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


def _scipy_ndtr(t):
    """scipy's ndtr: PyTorch's CPU ndtr is 0.5 (1 + erf(x/√2)), 0 below about -8.3 where
    the true value (and tvmini's) is still ~1e-16 and less."""
    scipy = pytest.importorskip("scipy.special")
    return torch.from_numpy(np.asarray(scipy.ndtr(t.numpy())))


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_torch_in_float64_and_float32(name):
    reference, grid = UNARY[name]
    if name == "ndtr":
        reference = _scipy_ndtr
    with np.errstate(all="ignore"):
        got = getattr(tm.special, name)(tm.tensor(grid)).numpy()
    want = reference(torch.tensor(grid)).numpy()
    # lgamma: ~1e-15 absolute near its roots at 1 and 2 (relative elsewhere)
    _same(got, want, rtol=1e-13, atol=1e-14 if name == "gammaln" else 0.0)
    with np.errstate(over="ignore"):
        small = grid.astype("float32")
    got32 = getattr(tm.special, name)(tm.tensor(small)).numpy()
    assert got32.dtype == np.float32
    # computed in float64 and rounded once: within an ulp of the float64 value (PyTorch's
    # float32 kernels, computing in float32, are ~1e-7 off near the roots)
    rounded = reference(torch.tensor(small.astype("float64"))).numpy().astype("float32")
    _same(got32, rounded, rtol=1.2e-7, atol=1e-45 if name != "gammaln" else 1e-7)


def test_lgamma_and_digamma_edges_exactly_as_torch():
    x = np.array([0.0, -0.0, -1.0, -3.0, math.inf, -math.inf, math.nan])
    assert np.array_equal(tm.lgamma(tm.tensor(x)).numpy(), torch.lgamma(torch.tensor(x)).numpy(), equal_nan=True)
    got = tm.digamma(tm.tensor(x)).numpy()
    assert np.array_equal(got, torch.digamma(torch.tensor(x)).numpy(), equal_nan=True)
    assert got[0] == -math.inf and got[1] == math.inf and np.isnan(got[2])


def test_polygamma_against_torch_and_scipy():
    """n = 1 in PyTorch is a short series (~1e-9); scipy's zeta-based values are tighter."""
    scipy = pytest.importorskip("scipy.special")
    x = np.concatenate([np.linspace(-6.25, 8, 229), [0.0, -1.0, 1e-8, 1e5, math.inf, math.nan, -2.5]])
    for n in (1, 2, 3, 6):
        got = tm.polygamma(n, tm.tensor(x)).numpy()
        # PyTorch's n = 1 is finite (~1e31) at the poles x = 0, -1, ... where scipy's and tvmini's are inf
        # (and 0 at +inf, where its zeta-based n >= 2 and tvmini's are NaN)
        away = ((x > 0) | (x != np.round(x))) & (x != math.inf) if n == 1 else np.ones(x.shape, bool)
        _same(got[away], torch.polygamma(n, torch.tensor(x)).numpy()[away], rtol=1e-8 if n == 1 else 1e-12, atol=1e-10)
        finite = np.isfinite(x)
        # below 0: the reflected sum's absolute error ~1e-16 of its largest term (|x - pole|^-(n+1))
        _same(got[finite], scipy.polygamma(n, x[finite]), rtol=1e-12, atol=1e-10)
    assert np.array_equal(tm.special.psi(tm.tensor(x)).numpy(), tm.digamma(tm.tensor(x)).numpy(), equal_nan=True)
    assert np.array_equal(tm.polygamma(0, tm.tensor(x)).numpy(), tm.digamma(tm.tensor(x)).numpy(), equal_nan=True)


def test_zeta_on_a_grid_with_its_edges():
    s = np.array([1, 0.5, 2, 3, 2.5, 4, 10, 50, math.inf, math.nan, 1.5])[:, None]
    q = np.array([-3.5, -2, -1, -0.5, -0.0, 0.3, 1, 2, 7.5, 100, math.inf, math.nan, -1e5 + 0.25, 1e-10, -7.25])[None]
    got = tm.special.zeta(tm.tensor(s), tm.tensor(q)).numpy()
    _same(got, torch.special.zeta(torch.tensor(s), torch.tensor(q)).numpy(), rtol=1e-12)
    # a number for either operand
    _same(tm.special.zeta(2.0, tm.tensor(np.array([1.0, 2.0]))).numpy(), [math.pi ** 2 / 6, math.pi ** 2 / 6 - 1],
          rtol=1e-14)


def test_mvlgamma_and_its_domain():
    for p in (1, 2, 5):
        x = np.linspace((p - 1) / 2 + 0.01, 25, 97)
        _same(tm.special.multigammaln(tm.tensor(x), p).numpy(), torch.mvlgamma(torch.tensor(x), p).numpy(), rtol=1e-13,
              atol=1e-13)
    with pytest.raises(ShapeError, match=r"greater than \(p-1\)/2"):
        tm.mvlgamma(tm.tensor([0.4, 3.0]), 2)
    with pytest.raises(ShapeError, match="p must be"):
        tm.mvlgamma(tm.tensor([3.0]), 0)


def test_xlog1py_and_incomplete_gamma_against_torch():
    a = np.array([0, 0, 1, -2, 3, math.nan, 0, 2.5])[:, None]
    b = np.array([-1, -2, 0, 3, math.nan, math.inf, -0.5, 1e-20])[None]
    assert np.array_equal(tm.special.xlog1py(tm.tensor(a), tm.tensor(b)).numpy(),
                          torch.special.xlog1py(torch.tensor(a), torch.tensor(b)).numpy(), equal_nan=True)
    shape = np.concatenate([np.logspace(-3, math.log10(200), 23), [0, 1, math.inf, -1, math.nan]])[:, None]
    x = np.concatenate([np.logspace(-4, 2.6, 41), [0, math.inf, -1, math.nan]])[None]
    scipy = pytest.importorskip("scipy.special")
    for name in ("gammainc", "gammaincc"):
        got = getattr(tm.special, name)(tm.tensor(shape), tm.tensor(x)).numpy()
        # PyTorch's uniform asymptotic series (20 < a < 200, x near a) is ~2e-9 off; scipy's is not
        _same(got, getattr(torch.special, name)(torch.tensor(shape), torch.tensor(x)).numpy(), rtol=1e-8, atol=1e-300)
        inside = (slice(0, -5), slice(0, -4))           # scipy's edges differ from PyTorch's (a = x = 0 ...)
        # Q = 1 - P where the series serves: ~1e-11 relative when Q is small (a tiny, x < 1)
        _same(got[inside], getattr(scipy, name)(shape, x)[inside], rtol=1e-12 if name == "gammainc" else 3e-11,
              atol=1e-300)



@settings(max_examples=6, deadline=None)
@given(st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=40), st.integers(1, 53))
def test_erfinv_erfc_and_ndtri_on_drawn_values_and_region_edges(values, depth):
    """erfinv (a polynomial per region of w = -log(1 - x²)), ndtri through it, and erfc
    (exp(-x²) erfcx(|x|), down to 0) on drawn values, values 2^-depth from ±1 and the
    regions' edges: float64 within a few ulp of scipy (to ~4e-16, as torch is), float32
    within one ulp of the float64 value rounded."""
    scipy = pytest.importorskip("scipy.special")
    edges = [np.sqrt(-np.expm1(-(b if v == "w" else b * b))) for _, v, lo, hi in ERFINV_REGIONS for b in (lo, hi)]
    x = np.concatenate([values, np.negative(values), [1 - 2.0 ** -depth, -1 + 2.0 ** -depth], edges])
    x = x[np.abs(x) < 1]
    _same(tm.special.erfinv(tm.tensor(x)).numpy(), scipy.erfinv(x), rtol=2e-15, atol=1e-300)
    p = np.abs(x)
    _same(tm.special.ndtri(tm.tensor(p)).numpy(), scipy.ndtri(p), rtol=4e-15, atol=1e-300)
    small = 3 * x                      # erfc around 0, where it is ~1, and out to |x| = 3
    _same(tm.special.erfc(tm.tensor(small)).numpy(), scipy.erfc(small), rtol=2e-15)
    x32 = x.astype("float32")
    x32 = x32[np.abs(x32) < 1]
    for name in ("erfinv", "erfc"):
        got = getattr(tm.special, name)(tm.tensor(x32)).numpy()
        want = getattr(scipy, name)(x32.astype("float64")).astype("float32")
        np.testing.assert_array_max_ulp(got, want, maxulp=1)

def test_tables_are_the_fits_they_claim():
    pytest.importorskip("mpmath")
    from special_fit import tables
    from tvmini.topi import special_coefficients
    for name, coefficients in tables().items():
        np.testing.assert_allclose(getattr(special_coefficients, name), coefficients, rtol=1e-12, atol=1e-20)


# ----------------------------------------------------------------------------- gradients

GRADIENT_POINTS = {
    "gammaln": [-2.5, -0.3, 0.7, 3.2, 11.5], "digamma": [-1.5, 0.4, 2.0, 12.5], "erfc": [-1.5, 0.2, 0.9, 3.0],
    "erfcx": [-2.0, 0.3, 1.0, 5.0], "ndtr": [-3.0, 0.1, 2.0], "log_ndtr": [-8.0, -1.5, 0.5, 3.0],
    "i0": [-3.0, 0.0, 1.0, 9.0], "i0e": [-3.0, 0.5, 9.0], "i1": [-3.0, 0.0, 2.0, 10.0], "i1e": [-3.0, 0.0, 0.5, 9.0],
    "entr": [0.2, 1.0, 3.0], "erfinv": [-0.9, -0.2, 0.0, 0.5, 0.99], "ndtri": [0.01, 0.3, 0.5, 0.8, 0.999],
}


@pytest.mark.parametrize("name", sorted(GRADIENT_POINTS))
def test_gradients_match_torch_and_finite_differences(name):
    points = np.array(GRADIENT_POINTS[name])
    x = tm.tensor(points, requires_grad=True)
    getattr(tm.special, name)(x).sum().backward()
    ref = torch.tensor(points, requires_grad=True)
    UNARY[name][0](ref).sum().backward()
    _same(x.grad.numpy(), ref.grad.numpy(), rtol=1e-8 if name == "digamma" else 1e-10)     # PyTorch's trigamma: ~1e-9
    check_grad(getattr(tm.special, name), points, rtol=1e-6)


def test_polygamma_zeta_and_gamma_gradients():
    points = np.array([-1.5, 0.4, 2.0, 12.5])
    for n in (1, 2):
        x = tm.tensor(points, requires_grad=True)
        tm.polygamma(n, x).sum().backward()
        ref = torch.tensor(points, requires_grad=True)
        torch.polygamma(n, ref).sum().backward()
        _same(x.grad.numpy(), ref.grad.numpy(), rtol=1e-7)
    check_grad(lambda q: tm.special.zeta(3.0, q), [0.5, 2.0, 7.0], rtol=1e-6)
    check_grad(lambda a, b: tm.special.xlog1py(a, b), [[0.5, -2.0], [1.5, 3.0]], [2.0, 0.25], rtol=1e-6)
    a = tm.tensor([0.5, 2.0, 30.0])
    check_grad(lambda x: tm.special.gammainc(a, x), [0.7, 1.5, 28.0], rtol=1e-6)
    check_grad(lambda x: tm.special.gammaincc(a, x), [0.7, 1.5, 28.0], rtol=1e-6)
    s = tm.tensor([3.0], requires_grad=True)
    out = tm.special.zeta(s, tm.tensor([2.0]))
    with pytest.raises(AutogradError, match="not implemented"):
        out.sum().backward()


def test_second_derivative_of_lgamma_is_trigamma():
    x = tm.tensor([0.5, 3.0], requires_grad=True)
    check_grad(lambda t: tm.lgamma(t), [0.5, 3.0])
    check_grad(lambda t: tm.digamma(t), [0.5, 3.0], rtol=1e-6)
    assert x.lgamma().requires_grad


# ----------------------------------------------------------------------------- API

def test_methods_in_place_variants_and_aliases():
    values = np.array([0.3, 1.7, 4.0])
    x = tm.tensor(values)
    _same(x.lgamma().numpy(), torch.tensor(values).lgamma().numpy(), rtol=1e-13, atol=1e-14)
    _same(x.polygamma(2).numpy(), torch.tensor(values).polygamma(2).numpy(), rtol=1e-12)
    _same(x.igamma(tm.tensor(2.0)).numpy(), torch.tensor(values).igamma(torch.tensor(2.0)).numpy(), rtol=1e-12)
    y = tm.tensor(values / 5)
    assert y.erfinv_() is y
    _same(y.numpy(), torch.special.erfinv(torch.tensor(values / 5)).numpy(), rtol=1e-14)
    _same(tm.special.expit(x).numpy(), torch.special.expit(torch.tensor(values)).numpy(), rtol=1e-14)
    _same(tm.special.logit(tm.tensor(values / 5)).numpy(), torch.special.logit(torch.tensor(values / 5)).numpy(),
          rtol=1e-14)
    integers = tm.special.i0(tm.tensor([1, 2], dtype="int32"))          # integers compute in float32
    assert integers.dtype == "float32"


def test_bad_arguments_raise_tvmini_errors():
    x = tm.tensor([1.0])
    with pytest.raises(ShapeError, match="n must be non-negative"):
        tm.polygamma(-1, x)
    with pytest.raises(DTypeError, match="n must be an int"):
        tm.polygamma(1.5, x)
    with pytest.raises(DTypeError, match="expects a Tensor"):
        tm.special.erfcx([1.0])
    with pytest.raises(TVMiniError, match="broadcast"):
        tm.special.zeta(tm.tensor([2.0, 3.0]), tm.tensor([1.0, 2.0, 3.0]))


def test_jitted_step_equals_eager():
    def step(x, p):
        return tm.special.gammaln(x) + tm.special.erfinv(p) * tm.special.i0e(x)
    x, p = tm.tensor(np.linspace(0.5, 4, 7)), tm.tensor(np.linspace(-0.9, 0.9, 7))
    jitted = tm.jit(step)
    for _ in range(2):
        _same(jitted(x, p).numpy(), step(x, p).numpy(), rtol=1e-15)


@settings(max_examples=6, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=0, max_size=3), seed=st.integers(0, 2 ** 16))
def test_drawn_shapes(shape, seed):
    values = np.random.default_rng(seed).uniform(-5, 5, size=shape)
    _same(tm.special.i1e(tm.tensor(values)).numpy(), torch.special.i1e(torch.tensor(values)).numpy(), rtol=1e-13)


# ----------------------------------------------------------------------------- GPU

def test_on_the_emulated_gpu(emulated_gpu):
    values = np.array([-2.5, -0.5, 0.0, 0.75, 3.0, 40.0])
    x = tm.tensor(values, device="cuda")
    for name in ("gammaln", "digamma", "erfc", "i0e"):
        _same(getattr(tm.special, name)(x).numpy(), UNARY[name][0](torch.tensor(values)).numpy(), rtol=1e-13,
              atol=1e-14)
    p = tm.tensor(np.array([0.001, 0.3, 0.5, 0.99]), device="cuda")
    _same(tm.special.ndtri(p).numpy(), torch.special.ndtri(torch.tensor(p.numpy())).numpy(), rtol=1e-13)


def test_cuda_c_compiles_to_ptx():
    from test_cuda import HAS_NVCC
    from test_topi_cuda import compile_together
    from tvmini import te, topi
    from tvmini.codegen import cuda
    from tvmini.graph import special_ops
    sources = []
    for function in ("lgamma", "erfcx", "i1", "erfinv", "polygamma"):
        x = te.placeholder((37,), dtype="float64", name="x")
        scalars = [te.var(f"s{i}", dtype="float64") for i in range(2 if function == "polygamma" else 0)]
        out = special_ops._unary_kernel(x, *scalars, function=function, static=())
        sch = topi.default_schedule([out], "cuda")
        func = tm.lower(sch, [x, *scalars, out], name=f"special_{function}")
        kernels, _ = cuda.split_kernels(func, sch)
        sources.append(cuda.module_source([cuda.CudaPrinter(k, func.may_alias).source() for k in kernels]))
    assert all("__global__" in s for s in sources)
    if HAS_NVCC:
        assert ".entry" in compile_together(sources, "special")
