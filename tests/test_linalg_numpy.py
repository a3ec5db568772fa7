"""tm.linalg's factorizations and tm.special against numpy and the standard library,
so that they are checked where PyTorch is not installed (CI): the torch comparisons,
gradients and edge cases are in test_linalg_solve.py, test_linalg_spectral.py and
test_special.py."""
import math

import numpy as np
import pytest

import tvmini as tm


def _matrices(seed=0, batch=3, n=4):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((batch, n, n))
    return a + n * np.eye(n), rng.standard_normal((batch, n, 2))


def test_solvers_match_numpy():
    a, b = _matrices()
    A, B = tm.tensor(a), tm.tensor(b)
    np.testing.assert_allclose(tm.linalg.solve(A, B).numpy(), np.linalg.solve(a, b), rtol=1e-10)
    np.testing.assert_allclose(tm.linalg.inv(A).numpy(), np.linalg.inv(a), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tm.linalg.det(A).numpy(), np.linalg.det(a), rtol=1e-10)
    sign, logabs = tm.linalg.slogdet(A)
    want_sign, want_logabs = np.linalg.slogdet(a)
    np.testing.assert_array_equal(sign.numpy(), want_sign)
    np.testing.assert_allclose(logabs.numpy(), want_logabs, rtol=1e-10)
    spd = a @ np.swapaxes(a, -1, -2)
    np.testing.assert_allclose(tm.linalg.cholesky(tm.tensor(spd)).numpy(), np.linalg.cholesky(spd), rtol=1e-10)
    lower = np.tril(a)
    np.testing.assert_allclose(tm.linalg.solve_triangular(tm.tensor(lower), B, upper=False).numpy(),
                               np.linalg.solve(lower, b), rtol=1e-10)
    with pytest.raises(tm.TVMiniError, match="singular"):
        tm.linalg.solve(tm.tensor(np.zeros((2, 2))), tm.tensor(np.ones((2, 1))))


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 5, 3), (1, 4), (4, 1), (0, 3)])
def test_rectangular_lu_reconstructs_its_matrix(shape):
    """P @ L @ U is A for wide, tall and empty matrices; L is unit lower trapezoidal (m x
    k), U upper (k x n), k = min(m, n); lu_unpack of lu_factor gives the same factors."""
    a = np.random.default_rng(2).standard_normal(shape)
    P, L, U = (t.numpy() for t in tm.linalg.lu(tm.tensor(a)))
    k = min(shape[-2:])
    assert L.shape == shape[:-1] + (k,) and U.shape == shape[:-2] + (k, shape[-1])
    np.testing.assert_allclose(P @ L @ U, a, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(np.triu(L, 1), 0)
    np.testing.assert_array_equal(np.diagonal(L, axis1=-2, axis2=-1), 1)
    np.testing.assert_array_equal(np.tril(U, -1), 0)
    LU, pivots = tm.linalg.lu_factor(tm.tensor(a))
    for got, want in zip(tm.lu_unpack(LU, pivots), (P, L, U)):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_spectral_factorizations_match_numpy():
    a, _ = _matrices(seed=1, n=5)
    q, r = tm.linalg.qr(tm.tensor(a))
    np.testing.assert_allclose((q.numpy() @ r.numpy()), a, atol=1e-12)
    np.testing.assert_allclose(np.abs(r.numpy()), np.abs(np.linalg.qr(a)[1]), atol=1e-12)
    sym = a + np.swapaxes(a, -1, -2)
    w, v = tm.linalg.eigh(tm.tensor(sym))
    np.testing.assert_allclose(w.numpy(), np.linalg.eigvalsh(sym), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(v.numpy() @ (w.numpy()[..., None] * np.swapaxes(v.numpy(), -1, -2)), sym, atol=1e-10)
    u, s, vh = tm.linalg.svd(tm.tensor(a[:, :, :3]), full_matrices=False)
    np.testing.assert_allclose(s.numpy(), np.linalg.svd(a[:, :, :3], compute_uv=False), rtol=1e-10)
    np.testing.assert_allclose(u.numpy() @ (s.numpy()[..., None] * vh.numpy()), a[:, :, :3], atol=1e-10)
    np.testing.assert_allclose(tm.linalg.matrix_norm(tm.tensor(a), "nuc").numpy(),
                               np.linalg.norm(a, "nuc", axis=(-2, -1)), rtol=1e-10)


def test_special_functions_match_the_standard_library():
    x = np.array([0.1, 0.5, 1.0, 2.5, 7.0, 30.0])
    t = tm.tensor(x)
    np.testing.assert_allclose(tm.lgamma(t).numpy(), [math.lgamma(v) for v in x], rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(tm.erfc(t).numpy(), [math.erfc(v) for v in x], rtol=1e-13)
    y = np.array([-0.9, -0.3, 0.0, 0.4, 0.95])
    np.testing.assert_allclose(tm.erf(tm.erfinv(tm.tensor(y))).numpy(), y, rtol=1e-13, atol=1e-15)
    # digamma(n) = H(n-1) - Euler's gamma; digamma(x + 1) = digamma(x) + 1/x
    n = np.arange(1, 7)
    harmonic = np.array([sum(1.0 / k for k in range(1, m)) for m in n])
    np.testing.assert_allclose(tm.digamma(tm.tensor(n.astype("float64"))).numpy(), harmonic - 0.5772156649015329,
                               rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose((tm.digamma(tm.tensor(x + 1)) - tm.digamma(t)).numpy(), 1 / x, rtol=1e-12)


def test_multi_dot_matches_numpy_takes_the_cheapest_order_and_has_gradients():
    from graph_gradcheck import check_grad
    from tvmini.graph.linalg_ops import _chain_order
    rng = np.random.default_rng(2)
    a, b, c, d = rng.standard_normal(3), rng.standard_normal((3, 7)), rng.standard_normal((7, 2)), rng.standard_normal(2)
    for arrays in ([a, b, c, d], [b, c], [b, c, d], [a, b], [b, c, c.T, b.T]):
        got = tm.linalg.multi_dot([tm.tensor(x) for x in arrays])
        want = np.linalg.multi_dot(arrays)
        assert got.shape == np.shape(want)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    # (10x100)(100x5)(5x50): ((AB)C) costs 7500 multiply-adds, (A(BC)) 75000
    assert _chain_order([10, 100, 5, 50])[0][2] == 1
    assert _chain_order([50, 5, 100, 10])[0][2] == 0
    check_grad(lambda x, y, z: tm.linalg.multi_dot([x, y, z]), a, b, c)
    with pytest.raises(tm.TVMiniError, match="at least 2 tensors"):
        tm.linalg.multi_dot([tm.tensor(b)])
    with pytest.raises(tm.TVMiniError, match=r"tensors 0 and 1 with shapes \(3, 7\) and \(2,\) cannot be multiplied"):
        tm.linalg.multi_dot([tm.tensor(b), tm.tensor(d)])
    with pytest.raises(tm.TVMiniError, match="tensor 1 must be 2D but got 1D"):
        tm.linalg.multi_dot([tm.tensor(b), tm.tensor(c[:, 0]), tm.tensor(d)])
    with pytest.raises(tm.TVMiniError, match="same dtype"):
        tm.linalg.multi_dot([tm.tensor(b), tm.tensor(c.astype("float32"))])
