"""Norms (``graph/norm_ops.py``, ``tm.linalg``) and products/constructions
(``graph/linalg_ops.py``): values against numpy and PyTorch on drawn shapes (size-1 and
odd axes, broadcasting), gradients against central differences, errors, and the
emulated GPU."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from graph_gradcheck import check_grad
from strategies import examples

EXTENT = st.sampled_from([1, 2, 3, 5])
ORDS = st.sampled_from([1, 2, 3, 0.5, math.inf, -math.inf, 0, -1])


def _torch():
    return pytest.importorskip("torch")


def _close(got, want, rtol=1e-10):
    want = want.detach().numpy() if hasattr(want, "detach") else want
    assert got.shape == tuple(np.shape(want))
    np.testing.assert_allclose(got.numpy(), want, rtol=rtol, atol=1e-12)


@given(st.lists(EXTENT, min_size=1, max_size=3).map(tuple), ORDS, st.integers(0, 2 ** 16), st.booleans())
@examples(20)
def test_vector_norm_matches_numpy_and_torch(shape, ord, seed, keepdim):
    torch = _torch()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    dim = tuple(sorted(set(int(d) for d in rng.integers(0, len(shape), 2))))
    got = tm.linalg.vector_norm(tm.tensor(x), ord, dim, keepdim)
    _close(got, torch.linalg.vector_norm(torch.tensor(x), ord, dim, keepdim))
    if len(dim) == 1:
        _close(got, np.linalg.norm(x, ord, dim[0], keepdim))
    _close(tm.norm(tm.tensor(x), ord, dim), torch.norm(torch.tensor(x), ord, dim))
    _close(tm.dist(tm.tensor(x), tm.tensor(x[..., :1]), ord),
           torch.dist(torch.tensor(x), torch.tensor(x[..., :1]), ord))
    if ord not in (0, -1, -math.inf, 0.5):      # smooth where x has no zeros and no ties
        check_grad(lambda a: tm.linalg.vector_norm(a, ord, dim, keepdim), x)


@given(st.tuples(EXTENT, EXTENT, EXTENT), st.sampled_from(["fro", 1, -1, math.inf, -math.inf]),
       st.integers(0, 2 ** 16))
@examples(15)
def test_matrix_norms_match_numpy_and_torch(shape, ord, seed):
    torch = _torch()
    x = np.random.default_rng(seed).standard_normal(shape)
    got = tm.linalg.matrix_norm(tm.tensor(x), ord)
    _close(got, torch.linalg.matrix_norm(torch.tensor(x), ord))
    _close(got, np.linalg.norm(x, ord, (-2, -1)))
    _close(tm.linalg.norm(tm.tensor(x[0]), ord), torch.linalg.norm(torch.tensor(x[0]), ord))
    _close(tm.linalg.norm(tm.tensor(x), dim=(0, 2), keepdim=True),
           torch.linalg.norm(torch.tensor(x), dim=(0, 2), keepdim=True))
    _close(tm.linalg.norm(tm.tensor(x)), torch.linalg.norm(torch.tensor(x)))
    check_grad(lambda a: tm.linalg.matrix_norm(a, "fro"), x)
    check_grad(lambda a: tm.linalg.matrix_norm(a, 1), x)


def test_norm_gradient_is_zero_at_zero_as_torch():
    x = tm.zeros(3, dtype="float64", requires_grad=True)
    (tm.linalg.vector_norm(x) + tm.linalg.vector_norm(x, 3) + tm.norm(x)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(3))


def test_the_order_0_norm_counts_non_zeros_with_a_zero_gradient_as_torch():
    torch = _torch()
    values = [[1.0, 0.0, math.inf], [-0.0, 2.0, math.nan]]
    x = tm.tensor(values, dtype="float64", requires_grad=True)
    u = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    got, want = tm.linalg.vector_norm(x, 0, dim=1), torch.linalg.vector_norm(u, 0, dim=1)
    _close(got, want)
    assert got.requires_grad
    got.sum().backward()
    want.sum().backward()
    assert u.grad is None           # PyTorch's backward gives no gradient: zeros here
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))


@given(st.integers(1, 2), EXTENT, EXTENT, st.integers(1, 4), st.sampled_from([1.0, 2.0, 3.0, math.inf, 0.0]),
       st.integers(0, 2 ** 16))
@examples(15)
def test_cdist_matches_torch(batch, p_rows, r_rows, m, p, seed):
    torch = _torch()
    rng = np.random.default_rng(seed)
    x1, x2 = rng.standard_normal((batch, p_rows, m)), rng.standard_normal((1, r_rows, m))
    got = tm.cdist(tm.tensor(x1), tm.tensor(x2), p)
    _close(got, torch.cdist(torch.tensor(x1), torch.tensor(x2), p))
    want = np.linalg.norm(x1[:, :, None, :] - x2[:, None, :, :], p if p else 0, axis=-1)
    _close(got, want)
    if p in (1.0, 2.0, 3.0):
        check_grad(lambda a, b: tm.cdist(a, b, p), x1, x2)


MODES = ["use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"]


@given(st.sampled_from([(), (2, 1)]), st.sampled_from([1, 26, 31]), EXTENT, st.sampled_from([1, 3]),
       st.sampled_from(MODES + [None]), st.integers(0, 2 ** 16))
@examples(8)
def test_cdist_compute_modes_match_torch(batch, p_rows, r_rows, m, mode, seed):
    """p=2 through the matrix product (more than 25 rows, or asked) or per pair, as
    PyTorch picks: values and gradients against its own, and central differences."""
    torch = _torch()
    rng = np.random.default_rng(seed)
    x1, x2 = rng.standard_normal(batch + (p_rows, m)), rng.standard_normal((r_rows, m))
    a, b = tm.tensor(x1, requires_grad=True), tm.tensor(x2, requires_grad=True)
    ta, tb = torch.tensor(x1, requires_grad=True), torch.tensor(x2, requires_grad=True)
    got, want = tm.cdist(a, b, compute_mode=mode), torch.cdist(ta, tb, compute_mode=mode or MODES[0])
    _close(got, want, rtol=1e-7)
    head = rng.uniform(0.5, 1.5, want.shape)
    got.backward(tm.tensor(head))
    want.backward(torch.tensor(head))
    _close(a.grad, ta.grad, rtol=1e-6)
    _close(b.grad, tb.grad, rtol=1e-6)
    check_grad(lambda u, v: tm.cdist(u, v, compute_mode=mode), x1, x2, rtol=1e-4)


@given(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, math.inf]), st.sampled_from([(), (2, 1)]), EXTENT, EXTENT,
       st.integers(0, 2 ** 16))
@examples(10)
def test_cdist_pairs_gradients_match_torch_with_ties(p, batch, p_rows, r_rows, seed):
    """Every pair's difference (one reduction kernel) and PyTorch's ``_cdist_backward``
    terms (one reduction per input) on small integers: equal rows (distance 0), equal
    columns (a difference of 0, ``sign(0) = 0``) and ties for the largest difference."""
    torch = _torch()
    rng = np.random.default_rng(seed)
    x1 = rng.integers(-2, 3, batch + (p_rows, 3)).astype("float64")
    x2 = rng.integers(-2, 3, (r_rows, 3)).astype("float64")
    x1[..., 0, :] = x2[0]
    a, b = tm.tensor(x1, requires_grad=True), tm.tensor(x2, requires_grad=True)
    ta, tb = torch.tensor(x1, requires_grad=True), torch.tensor(x2, requires_grad=True)
    mode = "donot_use_mm_for_euclid_dist"
    got, want = tm.cdist(a, b, p, mode), torch.cdist(ta, tb, p, mode)
    _close(got, want)
    head = rng.uniform(0.5, 1.5, want.shape)
    got.backward(tm.tensor(head))
    want.backward(torch.tensor(head))
    _close(a.grad, ta.grad)
    _close(b.grad, tb.grad)


def test_cdist_by_product_clamps_equal_rows_as_torch():
    """Rows of small integers: an equal pair's squared distance is exactly 0 (a
    distance of 0, whose gradient is the subgradient 0, as PyTorch's); float32 at a
    size where the product path pays; ``tm.jit`` equals eager."""
    torch = _torch()
    x1 = np.random.default_rng(0).integers(-3, 4, (27, 4)).astype("float64")
    x2 = x1[::-2].copy()
    a, b = tm.tensor(x1, requires_grad=True), tm.tensor(x2, requires_grad=True)
    ta, tb = torch.tensor(x1, requires_grad=True), torch.tensor(x2, requires_grad=True)
    got, want = tm.cdist(a, b), torch.cdist(ta, tb)
    np.testing.assert_array_equal(got.numpy() == 0, want.detach().numpy() == 0)
    assert (got.numpy() == 0).sum() >= len(x2)
    got.sum().backward()
    want.sum().backward()
    _close(a.grad, ta.grad, rtol=1e-9)
    _close(b.grad, tb.grad, rtol=1e-9)
    f1, f2 = (np.random.default_rng(1).standard_normal(s).astype("float32") for s in ((40, 16), (33, 16)))
    fast = tm.cdist(tm.tensor(f1), tm.tensor(f2))
    np.testing.assert_allclose(fast.numpy(), torch.cdist(torch.tensor(f1), torch.tensor(f2)).numpy(), rtol=1e-4,
                               atol=1e-4)
    step = tm.jit(lambda u, v: tm.cdist(u, v) * 2.0)
    for _ in range(2):
        np.testing.assert_array_equal(step(tm.tensor(f1), tm.tensor(f2)).numpy(), fast.numpy() * 2.0)
    with pytest.raises(tm.ArgumentError, match="cdist: compute_mode must be None or one of"):
        tm.cdist(tm.tensor(f1), tm.tensor(f2), compute_mode="fast")


@given(st.lists(EXTENT, min_size=2, max_size=3).map(tuple), st.sampled_from([1.0, 2.0, 3.0]), st.integers(0, 2 ** 16))
@examples(12)
def test_renorm_matches_torch(shape, p, seed):
    torch = _torch()
    x = np.random.default_rng(seed).standard_normal(shape)
    dim = len(shape) - 1
    got = tm.tensor(x).renorm(p, dim, 0.8)
    _close(got, torch.tensor(x).renorm(p, dim, 0.8))
    check_grad(lambda a: a.renorm(p, dim, 0.8), x)
    y = tm.tensor(x.copy())
    assert y.renorm_(p, dim, 0.8) is y
    _close(y, got.numpy())


@given(st.lists(EXTENT, min_size=0, max_size=2).map(tuple), st.integers(0, 2 ** 16))
@examples(12)
def test_cross_and_kron_match_numpy_and_torch(shape, seed):
    torch = _torch()
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shape + (3,)), rng.standard_normal((3,))      # b broadcasts
    got = tm.cross(tm.tensor(a), tm.tensor(b), dim=-1)
    _close(got, np.cross(a, b))
    _close(got, torch.cross(torch.tensor(a), torch.tensor(b).expand(a.shape), dim=-1))
    _close(tm.linalg.cross(tm.tensor(a), tm.tensor(b)),
           torch.linalg.cross(torch.tensor(a), torch.tensor(b).expand(a.shape)))
    check_grad(lambda x, y: tm.cross(x, y, dim=-1), a, b)
    k1, k2 = rng.standard_normal(shape), rng.standard_normal(shape[::-1] + (2,))
    got = tm.kron(tm.tensor(k1), tm.tensor(k2))
    _close(got, np.kron(k1, k2))
    _close(got, torch.kron(torch.tensor(k1), torch.tensor(k2)))
    check_grad(tm.kron, k1, k2)


@given(st.lists(EXTENT, min_size=1, max_size=3).map(tuple), st.integers(0, 3), st.integers(0, 2 ** 16))
@examples(15)
def test_tensordot_and_inner_match_numpy_and_torch(shape, extra, seed):
    torch = _torch()
    rng = np.random.default_rng(seed)
    k = int(rng.integers(0, len(shape) + 1))
    a = rng.standard_normal(shape)
    b = rng.standard_normal(shape[len(shape) - k:] + (extra,) if extra else shape[len(shape) - k:])
    got = tm.tensordot(tm.tensor(a), tm.tensor(b), k)
    _close(got, np.tensordot(a, b, k))
    _close(got, torch.tensordot(torch.tensor(a), torch.tensor(b), k))
    check_grad(lambda x, y: tm.tensordot(x, y, k), a, b)
    perm = rng.permutation(len(shape))
    c = np.transpose(a, perm)
    pairs = ([int(d) for d in range(len(shape))][:k], [int(np.flatnonzero(perm == d)[0]) for d in range(k)])
    _close(tm.tensordot(tm.tensor(a), tm.tensor(c), pairs), np.tensordot(a, c, pairs))
    other = rng.standard_normal((2, shape[-1]))
    _close(tm.inner(tm.tensor(a), tm.tensor(other)), np.inner(a, other))
    _close(tm.inner(tm.tensor(a), tm.tensor(other)), torch.inner(torch.tensor(a), torch.tensor(other)))
    check_grad(tm.inner, a, other)


@given(st.integers(0, 6), EXTENT, st.integers(0, 2 ** 16))
@examples(12)
def test_matrix_power_matches_numpy_and_torch(n, size, seed):
    torch = _torch()
    m = np.random.default_rng(seed).standard_normal((2, size, size)) * 0.7
    got = tm.matrix_power(tm.tensor(m), n)
    _close(got, np.linalg.matrix_power(m, n), rtol=1e-9)
    _close(got, torch.linalg.matrix_power(torch.tensor(m), n), rtol=1e-9)
    if n:
        check_grad(lambda a: tm.linalg.matrix_power(a, n), m)


def test_negative_matrix_powers_invert_first():
    torch = _torch()
    m = np.random.default_rng(0).standard_normal((2, 3, 3)) + 3 * np.eye(3)
    for n in (-1, -3):
        got = tm.linalg.matrix_power(tm.tensor(m), n)
        _close(got, torch.linalg.matrix_power(torch.tensor(m), n), rtol=1e-9)
    check_grad(lambda a: tm.matrix_power(a, -2), m)


@given(st.lists(st.tuples(st.integers(0, 2), EXTENT, EXTENT), min_size=1, max_size=3), st.integers(0, 2 ** 16))
@examples(12)
def test_block_diag_matches_torch(specs, seed):
    torch = _torch()
    rng = np.random.default_rng(seed)
    blocks = [rng.standard_normal((r, c)[2 - rank:] if rank else ()) for rank, r, c in specs]
    got = tm.block_diag(*(tm.tensor(b) for b in blocks))
    _close(got, torch.block_diag(*(torch.tensor(b) for b in blocks)))
    check_grad(lambda *xs: tm.block_diag(*xs), *blocks)
    mixed = tm.block_diag(tm.tensor(np.arange(2)), tm.tensor(np.ones((1, 1), "float32")))
    assert mixed.dtype == "float32"


@given(st.integers(1, 5), st.one_of(st.none(), st.integers(0, 5)), st.booleans(), st.integers(0, 2 ** 16))
@examples(12)
def test_vander_matches_numpy_and_torch(n, columns, increasing, seed):
    torch = _torch()
    x = np.random.default_rng(seed).standard_normal(n)
    x[0] = 0.0
    got = tm.vander(tm.tensor(x), columns, increasing)
    _close(got, np.vander(x, columns, increasing))
    _close(got, torch.vander(torch.tensor(x), columns, increasing))
    ints = tm.vander(tm.tensor(np.arange(n)), columns)
    assert ints.dtype == "int64"
    np.testing.assert_array_equal(ints.numpy(), np.vander(np.arange(n), columns))
    if n > 1:
        _close(tm.linalg.vander(tm.tensor(x)), torch.linalg.vander(torch.tensor(x)))
    else:
        with pytest.raises(tm.ArgumentError, match="linalg.vander: N must be greater than 1"):
            tm.linalg.vander(tm.tensor(x))
    if (n if columns is None else columns) > 1:          # one column: ones, not a function of x
        check_grad(lambda a: tm.vander(a, columns, increasing), x)


@given(st.integers(1, 3), st.integers(2, 6), st.integers(0, 2), st.booleans(), st.integers(0, 2 ** 16))
@examples(15)
def test_cov_corrcoef_match_numpy_and_torch(variables, observations, correction, weighted, seed):
    torch = _torch()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((variables, observations))
    fw, aw = rng.integers(1, 4, observations), rng.uniform(0.5, 2.0, observations)
    kw = {"fweights": fw, "aweights": aw} if weighted else {}
    got = tm.cov(tm.tensor(x), correction=correction, **{k: tm.tensor(v) for k, v in kw.items()})
    _close(got, np.cov(x, ddof=correction, **kw))
    _close(got, torch.cov(torch.tensor(x), correction=correction, **{k: torch.tensor(v) for k, v in kw.items()}))
    _close(tm.cov(tm.tensor(x[0])), torch.cov(torch.tensor(x[0])))
    _close(tm.corrcoef(tm.tensor(x)), np.corrcoef(x).reshape(got.shape))
    _close(tm.corrcoef(tm.tensor(x)), torch.corrcoef(torch.tensor(x)))
    check_grad(lambda a: tm.cov(a, correction=correction), x)
    if variables > 1:
        check_grad(tm.corrcoef, x)


def test_errors_as_pytorch():
    x = tm.zeros(2, 3)
    with pytest.raises(tm.ArgumentError, match="matrix_norm: ord must be 'fro', 'nuc' or a number, got 'nucl'"):
        tm.linalg.matrix_norm(x, "nucl")
    with pytest.raises(tm.DTypeError, match="vector_norm: needs a floating-point tensor"):
        tm.linalg.vector_norm(tm.tensor(np.arange(3)))
    with pytest.raises(tm.ShapeError, match="cross: axis -1 must have extent 3"):
        tm.cross(tm.zeros(3, 4), tm.zeros(3, 4), dim=-1)
    with pytest.raises(tm.ShapeError, match=r"cross: no axis of extent 3 in the broadcast shape \(2, 4\)"):
        tm.cross(tm.zeros(2, 4), tm.zeros(2, 4))
    with pytest.raises(tm.ShapeError, match="tensordot: axis 1 of shape"):
        tm.tensordot(x, x, 1)
    with pytest.raises(tm.ShapeError, match="matrix_power: expects square matrices"):
        tm.matrix_power(x, 2)
    with pytest.raises(tm.ShapeError, match="cdist: x1 of shape"):
        tm.cdist(x, tm.zeros(2, 2))
    with pytest.raises(tm.ShapeError, match="renorm: input needs at least 2 dimensions"):
        tm.renorm(tm.zeros(3), 2, 0, 1.0)
    with pytest.raises(tm.ShapeError, match="cov: expects a tensor of at most 2 dimensions"):
        tm.cov(tm.zeros(1, 2, 3))


def test_on_the_emulated_gpu(emulated_gpu):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)).astype("float32"), rng.standard_normal((4, 3)).astype("float32")
    for op in (lambda x, y: tm.linalg.vector_norm(x, 3, 1), lambda x, y: tm.cdist(x, y.transpose(0, 1)),
               lambda x, y: tm.cdist(x, y.transpose(0, 1), compute_mode="use_mm_for_euclid_dist"),
               lambda x, y: tm.tensordot(x, y, 1), lambda x, y: tm.cross(x[:, :3], y[:3], dim=1),
               lambda x, y: tm.kron(x, y), lambda x, y: tm.cov(x), lambda x, y: tm.matrix_power(x @ y, 3)):
        got = op(tm.tensor(a, device="cuda"), tm.tensor(b, device="cuda"))
        assert got.device.kind == "cuda"
        np.testing.assert_allclose(got.numpy(), op(tm.tensor(a), tm.tensor(b)).numpy(), rtol=1e-5, atol=1e-5)
    assert emulated_gpu.launches


@pytest.mark.parametrize("shapes", [((0, 3), (2, 3)), ((2, 0), (3, 0)), ((2, 3), (0, 3))])
def test_cdist_of_empty_rows_or_no_rows(shapes):
    """No pairs give an empty result, pairs of empty rows are 0 apart; both backward."""
    torch = _torch()
    for p in (1.0, 2.0):
        a, b = (tm.tensor(np.ones(s), requires_grad=True) for s in shapes)
        got = tm.cdist(a, b, p)
        _close(got, torch.cdist(*(torch.ones(s, dtype=torch.float64) for s in shapes), p))
        got.sum().backward()
        assert a.grad.shape == shapes[0] and not a.grad.numpy().any()


def test_cdist_gradients_on_the_emulated_gpu(emulated_gpu):
    """The pairs' reduction kernels, forward and backward, as CUDA kernels."""
    rng = np.random.default_rng(1)
    x1, x2 = rng.integers(-2, 3, (3, 2)).astype("float32"), rng.integers(-2, 3, (4, 2)).astype("float32")
    for p in (1.0, math.inf):
        grads = []
        for device in ("cpu", "cuda"):
            a = tm.tensor(x1, device=device, requires_grad=True)
            b = tm.tensor(x2, device=device, requires_grad=True)
            tm.cdist(a, b, p).sum().backward()
            grads.append((a.grad.numpy(), b.grad.numpy()))
        np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-6)
        np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-6)
    assert emulated_gpu.launches
