"""``tm.linalg``'s factorizations (graph/linalg_spectral.py, topi/linalg_spectral.py) and
what is built on them (graph/spectral_functions.py, matrix norms "nuc", 2, -2): values
against torch, the defining identities (A = QR, U diag(S) Vh, V diag(w) V^T,
orthogonality), batched, size-1, tall, wide and rank-deficient matrices, gradients
against central differences and torch's, a ``tm.jit`` step and the emulated GPU.

Few distinct shapes, shared between the tests: each shape builds its own kernels."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from graph_gradcheck import check_grad
from strategies import examples

torch = pytest.importorskip("torch")

SHAPES = [(2, 5, 3), (3, 5), (4, 4), (1, 1)]


def _rand(shape, seed=0, dtype="float64"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _eye_like(x, k):
    return np.broadcast_to(np.eye(k), x.shape[:-2] + (k, k))


def _orthonormal_columns(x, tol):
    np.testing.assert_allclose(np.swapaxes(x, -1, -2) @ x, _eye_like(x, x.shape[-1]), atol=tol)


def _same_up_to_column_signs(got, want, tol):
    """Columns equal up to sign (torch's signs are LAPACK's, undefined)."""
    signs = np.sign(np.sum(got * want, axis=-2, keepdims=True))
    np.testing.assert_allclose(got * signs, want, atol=tol)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr_matches_torch_exactly(shape, mode):
    """Householder with LAPACK's signs: Q and R equal torch's, not only up to signs."""
    a = _rand(shape)
    q, r = tm.linalg.qr(tm.tensor(a), mode=mode)
    qt, rt = torch.linalg.qr(torch.tensor(a), mode=mode)
    assert q.shape == tuple(qt.shape) and r.shape == tuple(rt.shape)
    np.testing.assert_allclose(r.numpy(), rt.numpy(), atol=1e-10)
    if mode != "r":
        np.testing.assert_allclose(q.numpy(), qt.numpy(), atol=1e-10)
        np.testing.assert_allclose(q.numpy() @ r.numpy(), a, atol=1e-12)
        _orthonormal_columns(q.numpy(), 1e-12)
        assert np.allclose(np.tril(r.numpy(), -1), 0)


def test_qr_float32_and_legacy_spelling():
    a = _rand((3, 4, 3), 1, "float32")
    q, r = tm.qr(tm.tensor(a), some=False)
    qt, rt = torch.linalg.qr(torch.tensor(a), mode="complete")   # torch.qr (some=) is gone from torch 2.13
    assert q.dtype == "float32" and q.shape == (3, 4, 4)
    np.testing.assert_allclose(q.numpy(), qt.numpy(), atol=1e-4)
    np.testing.assert_allclose(r.numpy(), rt.numpy(), atol=1e-4)


@pytest.mark.parametrize("shape", [(2, 4, 4), (1, 1), (5, 5)])
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_matches_torch(shape, uplo):
    a = _rand(shape, 2)
    w, v = tm.linalg.eigh(tm.tensor(a), UPLO=uplo)
    wt, vt = torch.linalg.eigh(torch.tensor(a), UPLO=uplo)
    np.testing.assert_allclose(w.numpy(), wt.numpy(), atol=1e-10)
    np.testing.assert_allclose(tm.linalg.eigvalsh(tm.tensor(a), UPLO=uplo).numpy(), wt.numpy(), atol=1e-10)
    _same_up_to_column_signs(v.numpy(), vt.numpy(), 1e-8)
    sym = np.tril(a) + np.swapaxes(np.tril(a, -1), -1, -2) if uplo == "L" else \
        np.triu(a) + np.swapaxes(np.triu(a, 1), -1, -2)
    vn = v.numpy()
    np.testing.assert_allclose(vn * w.numpy()[..., None, :] @ np.swapaxes(vn, -1, -2), sym, atol=1e-12)
    _orthonormal_columns(vn, 1e-12)
    top = np.take_along_axis(vn, np.abs(vn).argmax(-2)[..., None, :], -2)
    assert (top > 0).all()      # the deterministic sign: each eigenvector's largest entry positive


def test_eigh_float32_and_repeated_eigenvalues():
    a = np.diag([2.0, 2.0, -1.0, 2.0]).astype("float32") + np.float32(1e-3) * _rand((4, 4), 3, "float32")
    a = a + a.T
    w, v = tm.linalg.eigh(tm.tensor(a))
    np.testing.assert_allclose(w.numpy(), torch.linalg.eigvalsh(torch.tensor(a)).numpy(), atol=1e-4)
    np.testing.assert_allclose((v.numpy() * w.numpy()) @ v.numpy().T, a, atol=1e-4)
    w, v = tm.linalg.eigh(tm.eye(3, dtype="float64"))
    np.testing.assert_allclose(w.numpy(), [1, 1, 1])
    np.testing.assert_allclose(v.numpy(), np.eye(3))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("full", [True, False])
def test_svd_matches_torch(shape, full):
    a = _rand(shape, 4)
    u, s, vh = tm.linalg.svd(tm.tensor(a), full_matrices=full)
    ut, st_, vht = torch.linalg.svd(torch.tensor(a), full_matrices=full)
    assert (u.shape, s.shape, vh.shape) == (tuple(ut.shape), tuple(st_.shape), tuple(vht.shape))
    np.testing.assert_allclose(s.numpy(), st_.numpy(), atol=1e-10)
    k = s.shape[-1]
    un, vn = u.numpy(), np.swapaxes(vh.numpy(), -1, -2)
    np.testing.assert_allclose((un[..., :k] * s.numpy()[..., None, :]) @ vh.numpy()[..., :k, :], a, atol=1e-12)
    _orthonormal_columns(un, 1e-12)
    _orthonormal_columns(vn, 1e-12)
    _same_up_to_column_signs(un[..., :k], ut.numpy()[..., :k], 1e-8)
    _same_up_to_column_signs(vn[..., :k], np.swapaxes(vht.numpy(), -1, -2)[..., :k], 1e-8)
    u1, s1, v1 = tm.svd(tm.tensor(a), some=not full)
    np.testing.assert_allclose(v1.numpy(), vn)


def test_svdvals_rank_deficient_and_float32():
    a = _rand((4, 2), 5) @ _rand((2, 5), 6)
    u, s, vh = tm.linalg.svd(tm.tensor(a), full_matrices=False)
    np.testing.assert_allclose(s.numpy(), torch.linalg.svdvals(torch.tensor(a)).numpy(), atol=1e-12)
    _orthonormal_columns(u.numpy(), 1e-12)       # completed past the zero singular values
    np.testing.assert_allclose((u.numpy() * s.numpy()) @ vh.numpy(), a, atol=1e-12)
    b = _rand((3, 5, 3), 7, "float32")
    np.testing.assert_allclose(tm.linalg.svdvals(tm.tensor(b)).numpy(),
                               torch.linalg.svdvals(torch.tensor(b)).numpy(), rtol=1e-4, atol=1e-5)
    assert tm.linalg.svdvals(tm.zeros(3, 3, dtype="float64")).numpy().tolist() == [0, 0, 0]


@given(st.sampled_from([(1, 3), (3, 1), (4, 4), (5, 3)]), st.integers(0, 2 ** 16))
@examples(6)
def test_drawn_matrices(shape, seed):
    a = _rand(shape, seed)
    np.testing.assert_allclose(tm.linalg.svdvals(tm.tensor(a)).numpy(), np.linalg.svd(a, compute_uv=False),
                               atol=1e-10)
    q, r = tm.linalg.qr(tm.tensor(a))
    np.testing.assert_allclose(q.numpy() @ r.numpy(), a, atol=1e-12)


# ------------------------------------------------------------------------------ gradients

def _torch_grad(fn, a):
    x = torch.tensor(a, requires_grad=True)
    fn(x).backward()
    return x.grad.numpy()


def _grads_agree(tm_fn, torch_fn, a, differences=True):
    """check_grad's finite differences (unless not ``differences``), then the same
    loss's gradient against torch's."""
    if differences:
        check_grad(tm_fn, a)
    x = tm.tensor(a, requires_grad=True)
    tm_fn(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), _torch_grad(lambda t: torch_fn(t).sum(), a), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4)])
def test_qr_gradients(shape):
    a = _rand(shape, 8)
    _grads_agree(lambda x: tm.cat([v.reshape(-1) for v in tm.linalg.qr(x)]),
                 lambda x: torch.cat([v.reshape(-1) for v in torch.linalg.qr(x)]), a)


def test_eigh_gradients():
    a = _rand((2, 4, 4), 9)

    def ours(x):
        w, v = tm.linalg.eigh((x + x.mT) * 0.5)
        return tm.cat([w.reshape(-1), (v * v).reshape(-1)])     # v*v: independent of the sign

    def theirs(x):
        w, v = torch.linalg.eigh((x + x.mT) * 0.5)
        return torch.cat([w.reshape(-1), (v * v).reshape(-1)])
    _grads_agree(ours, theirs, a)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4)])
def test_svd_gradients(shape):
    a = _rand(shape, 10)

    def ours(x):
        u, s, vh = tm.linalg.svd(x, full_matrices=False)
        return tm.cat([s, (u * u).reshape(-1), (vh * vh).reshape(-1), (u[:, :1] * vh[:1].mT.sum()).reshape(-1)])

    def theirs(x):
        u, s, vh = torch.linalg.svd(x, full_matrices=False)
        return torch.cat([s, (u * u).reshape(-1), (vh * vh).reshape(-1), (u[:, :1] * vh[:1].mT.sum()).reshape(-1)])
    _grads_agree(ours, theirs, a)


def test_norms_rank_pinv_cond():
    a = _rand((2, 4, 3), 11)
    for ord in ("nuc", 2, -2):
        want = torch.linalg.matrix_norm(torch.tensor(a), ord)
        np.testing.assert_allclose(tm.linalg.matrix_norm(tm.tensor(a), ord).numpy(), want.numpy(), atol=1e-10)
        np.testing.assert_allclose(tm.linalg.norm(tm.tensor(a), ord, dim=(-2, -1)).numpy(),
                                   torch.linalg.norm(torch.tensor(a), ord, dim=(-2, -1)).numpy(), atol=1e-10)
        _grads_agree(lambda x: tm.linalg.matrix_norm(x, ord), lambda x: torch.linalg.matrix_norm(x, ord), a,
                     differences=ord == "nuc")
    kept = tm.linalg.matrix_norm(tm.tensor(a), 2, dim=(-2, -1), keepdim=True)
    np.testing.assert_allclose(kept.numpy(), torch.linalg.matrix_norm(torch.tensor(a), 2, dim=(-2, -1),
                                                                      keepdim=True).numpy(), atol=1e-10)
    low = _rand((3, 4, 2), 12) @ _rand((3, 2, 4), 13)
    sym = low @ np.swapaxes(low, -1, -2)
    for kw in ({}, {"atol": 1.0}, {"rtol": 0.5}, {"atol": 1e-3, "rtol": 0.1}):
        assert tm.linalg.matrix_rank(tm.tensor(low), **kw).numpy().tolist() == \
            torch.linalg.matrix_rank(torch.tensor(low), **kw).numpy().tolist()
        assert tm.linalg.matrix_rank(tm.tensor(sym), hermitian=True, **kw).numpy().tolist() == \
            torch.linalg.matrix_rank(torch.tensor(sym), hermitian=True, **kw).numpy().tolist()
    assert tm.linalg.matrix_rank(tm.tensor(low)).dtype == "int64"
    np.testing.assert_allclose(tm.linalg.pinv(tm.tensor(low)).numpy(), torch.linalg.pinv(torch.tensor(low)).numpy(),
                               atol=1e-10)
    np.testing.assert_allclose(tm.linalg.pinv(tm.tensor(sym), hermitian=True).numpy(),
                               torch.linalg.pinv(torch.tensor(sym), hermitian=True).numpy(), atol=1e-8)
    _grads_agree(tm.linalg.pinv, torch.linalg.pinv, a)
    square = np.stack([_rand((4, 4), 14), np.ones((4, 4))])        # the second one singular: inf
    for p in (None, 2, -2, "fro", "nuc", 1, -1, np.inf, -np.inf):
        got, want = tm.linalg.cond(tm.tensor(square), p).numpy(), torch.linalg.cond(torch.tensor(square), p).numpy()
        np.testing.assert_allclose(got[0], want[0], rtol=1e-10)
        assert got[1] == want[1] or want[1] > 1e15 and got[1] > 1e15, (p, got, want)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (2, 0, 0), (0, 2, 2)])
def test_empty_matrices_as_torch(shape):
    a = np.zeros(shape)
    for mode in ("reduced", "complete", "r"):
        for got, want in zip(tm.linalg.qr(tm.tensor(a), mode=mode), torch.linalg.qr(torch.tensor(a), mode=mode)):
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    for full in (True, False):
        for got, want in zip(tm.linalg.svd(tm.tensor(a), full), torch.linalg.svd(torch.tensor(a), full)):
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    if shape[-1] == shape[-2]:
        for got, want in zip(tm.linalg.eigh(tm.tensor(a)), torch.linalg.eigh(torch.tensor(a))):
            np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_errors_as_torch():
    with pytest.raises(tm.DTypeError, match="linalg.qr: Expected a floating point"):
        tm.linalg.qr(tm.tensor(np.ones((3, 3), dtype="int64")))
    with pytest.raises(tm.ShapeError, match="linalg.eigh: A must be batches of square matrices, but they are 3 by 4"):
        tm.linalg.eigh(tm.zeros(3, 4))
    with pytest.raises(tm.ShapeError, match="linalg.svd: The input tensor A must have at least 2 dimensions"):
        tm.linalg.svd(tm.zeros(3))
    with pytest.raises(tm.ArgumentError, match="qr received unrecognized mode 'foo'"):
        tm.linalg.qr(tm.zeros(3, 3), mode="foo")
    with pytest.raises(tm.ArgumentError, match="Expected UPLO argument to be 'L' or 'U', but got 'X'"):
        tm.linalg.eigh(tm.zeros(3, 3), UPLO="X")
    with pytest.raises(tm.ArgumentError, match="linalg.cond: got an invalid norm type 3"):
        tm.linalg.cond(tm.zeros(3, 3), 3)
    with pytest.raises(tm.ShapeError, match="square matrices for p='fro'"):
        tm.linalg.cond(tm.zeros(3, 4), "fro")
    x = tm.tensor(_rand((5, 3)), requires_grad=True)
    q, _ = tm.linalg.qr(x, mode="complete")
    with pytest.raises(tm.AutogradError, match="not differentiable when mode='complete' and nrows > ncols"):
        q.sum().backward()


def test_jit_step_equals_eager():
    """Inside tm.jit the sweeps are a fixed count (no host test): the same values and
    gradients as eager, which stops on convergence."""
    a = _rand((2, 4, 3), 15)

    def step(x):
        u, s, vh = tm.linalg.svd(x, full_matrices=False)
        w = tm.linalg.eigvalsh(tm.matmul(x.mT, x))
        q, r = tm.linalg.qr(x)
        loss = s.sum() + (u * u)[..., 0].sum() + w.sum() + (r * r).sum() + q.sum()
        loss.backward()
        return loss
    eager_x = tm.tensor(a, requires_grad=True)
    want = step(eager_x).numpy()
    jitted = tm.jit(step)
    for _ in range(2):
        x = tm.tensor(a, requires_grad=True)
        got = jitted(x).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12)
        np.testing.assert_allclose(x.grad.numpy(), eager_x.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_emulated_gpu_runs_the_kernels(emulated_gpu):
    """The SVD (Jacobi rounds, then a Householder QR of U) and eigh on CUDA, emulated."""
    a = _rand((2, 3, 2), 16, "float32")
    results = []
    for device in ("cuda", "cpu"):
        x = tm.tensor(a, device=device)
        u, s, vh = tm.linalg.svd(x, full_matrices=False)
        w, v = tm.linalg.eigh(x[:, :2])
        results.append([t.numpy() for t in (u, s, vh, w, v)])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    launched = " ".join(name for name, _, _ in emulated_gpu.launches)
    for kernel in ("householder_step", "householder_apply_step", "jacobi_svd_round", "jacobi_eigh_round",
                   "svd_finish", "eigh_finish"):
        assert f"{kernel}_" in launched
