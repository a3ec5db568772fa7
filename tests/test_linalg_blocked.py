"""The blocked Cholesky and triangular solves (``graph.linalg_kernels`` from
``BLOCKED_MIN`` columns, the kernels of ``topi.linalg_blocked`` and the Cholesky panel
step of ``topi.linalg_lu``) against torch.linalg: the block size is lowered to 2 (and
the threshold to 0) so that 5 x 5 matrices run three blocks, the last one narrower (1
column; a substitution blocks with at least BLOCK right-hand sides). Values (solve and
inv substitute blocked after the LU), info, gradients (float64, central differences
and torch's), a tm.jit step, the emulated GPU, the kernels' own errors and the step
loop's checks.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from graph_gradcheck import check_grad
from strategies import examples
from tvmini import te
from tvmini.graph import linalg_kernels
from tvmini.topi import linalg_blocked, linalg_lu

torch = pytest.importorskip("torch")

N = 5
TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-4, atol=1e-4)}


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(linalg_kernels, "BLOCK", 2)
    monkeypatch.setattr(linalg_kernels, "BLOCKED_MIN", 0)


def _spd(rng, shape, dtype="float64"):
    m = rng.standard_normal(shape)
    return (m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def _close(got, want, dtype="float64"):
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_blocked_factorizations_and_solves_match_torch(dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, N, N)).astype(dtype)            # general matrices: pivoting across blocks
    b = rng.standard_normal((2, N, 3)).astype(dtype)
    s = _spd(rng, (2, N, N), dtype)
    A, B, S = tm.tensor(a), tm.tensor(b), tm.tensor(s)
    tA, tB, tS = torch.tensor(a), torch.tensor(b), torch.tensor(s)
    lu, pivots = tm.linalg.lu_factor(A)
    tlu, tpivots = torch.linalg.lu_factor(tA)
    _close(lu, tlu, dtype)
    np.testing.assert_array_equal(pivots.numpy(), tpivots.numpy())
    _close(tm.linalg.solve(A, B), torch.linalg.solve(tA, tB), dtype)
    _close(tm.linalg.inv(A), torch.linalg.inv(tA), dtype)
    _close(tm.linalg.det(A), torch.linalg.det(tA), dtype)
    _close(tm.linalg.cholesky(S), torch.linalg.cholesky(tS), dtype)
    _close(tm.linalg.cholesky(S, upper=True), torch.linalg.cholesky(tS, upper=True), dtype)
    for upper in (True, False):
        for unit in (True, False):
            t = np.triu(a) if upper else np.tril(a)
            t = t + np.eye(N, dtype=dtype) * 3 * np.sign(np.diagonal(t, 0, -2, -1))[..., None]    # well away from 0
            _close(tm.linalg.solve_triangular(tm.tensor(t), B, upper=upper, unitriangular=unit),
                   torch.linalg.solve_triangular(torch.tensor(t), tB, upper=upper, unitriangular=unit), dtype)


@given(seed=st.integers(0, 2 ** 31), columns=st.sampled_from([1, 4]))
@examples(4)
def test_blocked_solvers_on_drawn_matrices(seed, columns):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((2, N, N)) + 2 * N * np.eye(N) * rng.choice([-1, 1], (2, N))[..., None]
    a[0, :, 0] = rng.standard_normal(N) * 10      # column 0 dominated elsewhere: pivots move rows
    b = rng.standard_normal((2, N, columns))
    _close(tm.linalg.solve(tm.tensor(a), tm.tensor(b)), torch.linalg.solve(torch.tensor(a), torch.tensor(b)))
    np.testing.assert_array_equal(tm.linalg.lu_factor(tm.tensor(a)).pivots.numpy(),
                                  torch.linalg.lu_factor(torch.tensor(a)).pivots.numpy())


def test_blocked_factorizations_report_info_as_torch():
    singular = np.stack([np.eye(N), np.eye(N)])
    singular[1, 3] = singular[1, 2]                                  # rows 2 and 3 equal: U[3, 3] == 0
    info = tm.linalg.lu_factor_ex(tm.tensor(singular)).info
    np.testing.assert_array_equal(info.numpy(), torch.linalg.lu_factor_ex(torch.tensor(singular)).info.numpy())
    with pytest.raises(tm.TVMiniError, match=r"\(Batch element 1\): The solver failed"):
        tm.linalg.solve(tm.tensor(singular), tm.tensor(np.ones((2, N, 1))))
    indefinite = _spd(np.random.default_rng(1), (2, N, N))
    indefinite[0, 3, 3] = -50.0                                      # fails in the second block
    got = tm.linalg.cholesky_ex(tm.tensor(indefinite)).info
    np.testing.assert_array_equal(got.numpy(), torch.linalg.cholesky_ex(torch.tensor(indefinite)).info.numpy())


GRADIENTS = {
    "solve": (lambda a, b: tm.linalg.solve(a, b), lambda a, b: torch.linalg.solve(a, b)),
    "inv_det": (lambda a, b: tm.linalg.inv(a) * tm.linalg.det(a).reshape(2, 1, 1),
                lambda a, b: torch.linalg.inv(a) * torch.linalg.det(a).reshape(2, 1, 1)),
    "cholesky": (lambda a, b: tm.linalg.cholesky(a @ a.mT + 5.0 * tm.eye(N, dtype="float64")),
                 lambda a, b: torch.linalg.cholesky(a @ a.mT + 5.0 * torch.eye(N, dtype=torch.float64))),
    "solve_triangular": (lambda a, b: tm.linalg.solve_triangular(a, b, upper=True),
                         lambda a, b: torch.linalg.solve_triangular(a, b, upper=True)),
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_blocked_gradients_match_torch_and_finite_differences(name):
    fn, torch_fn = GRADIENTS[name]
    rng = np.random.default_rng(len(name))
    a = rng.standard_normal((2, N, N)) + 2 * N * np.eye(N)
    b = rng.standard_normal((2, N, 2))
    wrapped = (lambda x: fn(x, tm.tensor(b))) if name in ("inv_det", "cholesky") else fn
    arrays = [a] if name in ("inv_det", "cholesky") else [a, b]
    out = check_grad(wrapped, *arrays)
    head = np.random.default_rng(0).uniform(0.5, 1.5, size=out.shape)
    leaves = [tm.tensor(x, requires_grad=True) for x in (a, b)]
    fn(*leaves).backward(tm.tensor(head))
    theirs = [torch.tensor(x, requires_grad=True) for x in (a, b)]
    torch_fn(*theirs).backward(torch.tensor(head))
    for leaf, want in zip(leaves, theirs):
        if want.grad is not None:
            np.testing.assert_allclose(leaf.grad.numpy(), want.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_blocked_jitted_step_equals_eager():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, N, N)) + 2 * N * np.eye(N), rng.standard_normal((2, N, 2))

    def step(A, B):
        A.grad = B.grad = None
        loss = (tm.linalg.solve(A, B) ** 2).sum() + tm.linalg.slogdet(A).logabsdet.sum() \
            + tm.linalg.cholesky(A @ A.mT).sum()
        loss.backward()
        return loss, A.grad, B.grad

    jitted = tm.jit(step)
    for k in range(2):
        arrays = (a + k, b * (k + 1))
        eager = step(*(tm.tensor(x, requires_grad=True) for x in arrays))
        traced = jitted(*(tm.tensor(x, requires_grad=True) for x in arrays))
        for got, want in zip(traced, eager):
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)


def test_blocked_solvers_on_the_emulated_gpu(emulated_gpu):
    rng = np.random.default_rng(4)
    a = (rng.standard_normal((2, N, N)) + 2 * N * np.eye(N)).astype("float32")
    b = rng.standard_normal((2, N, 2)).astype("float32")
    s = _spd(rng, (2, N, N), "float32")
    ops = [lambda A, B, S: tm.linalg.solve(A, B), lambda A, B, S: tm.linalg.cholesky(S)]
    for op in ops:
        got = op(*(tm.tensor(x, device="cuda") for x in (a, b, s)))
        assert got.device.kind == "cuda"
        np.testing.assert_allclose(got.numpy(), op(*(tm.tensor(x) for x in (a, b, s))).numpy(), rtol=1e-5,
                                   atol=1e-5)
    assert emulated_gpu.launches


# --------------------------------------------------------------------------- the kernels

@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("unit", [True, False])
@pytest.mark.parametrize("w", [1, 5])
def test_triangular_inverse_matches_numpy(lower, unit, w):
    rng = np.random.default_rng(w)
    t = rng.standard_normal((2, w, w)) + 3 * np.eye(w)
    got = linalg_kernels.triangular_inverse(tm.tensor(t), lower, unit).numpy()
    tri = np.tril(t) if lower else np.triu(t)
    if unit:
        tri = tri - np.diagonal(tri, 0, -2, -1)[..., None] * np.eye(w) + np.eye(w)
    np.testing.assert_allclose(got, np.linalg.inv(tri), rtol=1e-10, atol=1e-10)


def test_block_kernels_match_their_definitions():
    a = te.placeholder((2, 5, 4), dtype="float64", name="a")
    row, col = te.var("row"), te.var("col")
    x = np.random.default_rng(0).standard_normal((2, 5, 4))
    take = linalg_blocked.take_block(a, row, col, 2, 3)
    got = tm.testing.reference([take], {a: x, row: 3, col: 2})[0]
    np.testing.assert_array_equal(got, x[:, [3, 4], :][:, :, [2, 3, 3]])       # past the edge: clamped
    block = te.placeholder((2, 2, 2), dtype="float64", name="block")
    put = linalg_blocked.put_block(a, block, row, col)
    ones = np.ones((2, 2, 2))
    want = x.copy()
    want[:, 1:3, 2:4] = 1
    np.testing.assert_array_equal(tm.testing.reference([put], {a: x, block: ones, row: 1, col: 2})[0], want)


def test_kernels_refuse_bad_operands():
    square = te.placeholder((2, 3, 3), name="square")
    with pytest.raises(tm.TVMiniError, match="triangular_parts: expects square blocks"):
        linalg_blocked.triangular_parts(te.placeholder((2, 3, 4), name="wide"))
    with pytest.raises(tm.TVMiniError, match="take_block: expects a batch of matrices"):
        linalg_blocked.take_block(te.placeholder((3, 3), name="flat"), 0, 0, 1, 1)
    with pytest.raises(tm.TVMiniError, match="cholesky_panel_step: expects a batch of floating-point panels"):
        linalg_lu.cholesky_panel_step(te.placeholder((2, 3, 3), dtype="int32", name="ints"),
                                      te.placeholder((2,), dtype="int32"), 0, 0)
    with pytest.raises(tm.TVMiniError, match="cholesky_panel_step: expects a te tensor"):
        linalg_lu.cholesky_panel_step(square, "info", 0, 0)


# ------------------------------------------------------------------- the step loop

def test_the_step_loop_checks_every_scalar_and_shows_every_call_to_observers():
    from tvmini.graph import dispatch
    from tvmini.runtime import module
    a = tm.tensor(np.eye(3)[None] * 4.0)
    info = tm.tensor(np.zeros(1, dtype="int32"))
    args = ("cholesky_step", linalg_lu.cholesky_step, [a._data, info._data], (0, 1))
    with pytest.raises(tm.TVMiniError, match="does not fit in int32"):
        dispatch.run_inplace_steps(*args, [(0,), (2 ** 40,)], ("int32",))
    seen = []
    observer = lambda mod, call_args, start, end: seen.append(call_args[2])  # noqa: E731
    module.add_call_observer(observer)
    try:
        dispatch.run_inplace_steps(*args, [(1,), (2,)], ("int32",))
    finally:
        module.remove_call_observer(observer)
    assert seen == [1, 2]
    np.testing.assert_allclose(a.numpy(), np.eye(3)[None] * 2.0)      # the diagonal's roots, every step run
