"""tm.linalg's solvers and factorizations against torch.linalg: LU (lu_factor, lu,
lu_solve), solve, inv, det/slogdet/logdet, Cholesky (cholesky, cholesky_solve,
cholesky_inverse) and triangular solves; batched and broadcast, float64 and float32,
1 x 1 and odd sizes; PyTorch's errors for singular and non-positive-definite input;
gradients against torch's and central differences; a tm.jit step; the emulated GPU.

Kernels are built per shape, so the tests share a few shapes: batches of 2 matrices of
3 x 3 with 2 right-hand sides, one 5 x 5 and one 1 x 1."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tvmini as tm
from graph_gradcheck import check_grad
from strategies import examples
from tvmini.graph import linalg_kernels
from tvmini.graph.linalg import LinAlgError

torch = pytest.importorskip("torch")

N = 3
TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-4, atol=1e-4)}


def _well_conditioned(rng, shape, dtype="float64"):
    """Random matrices with a dominant diagonal (condition numbers of a few units)."""
    n = shape[-1]
    return (rng.standard_normal(shape) + 2 * n * np.eye(n) * rng.choice([-1, 1], shape[:-1])[..., None]).astype(dtype)


def _spd(rng, shape, dtype="float64"):
    m = rng.standard_normal(shape)
    return (m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def _close(got, want, dtype="float64"):
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else want
    np.testing.assert_allclose(got.numpy(), want, equal_nan=True, **TOL[dtype])


# ------------------------------------------------------------------------ forward values

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_factorizations_and_inverses_match_torch(dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, N, N)).astype(dtype)         # general matrices: pivoting matters
    A, tA = tm.tensor(a), torch.tensor(a)
    lu, pivots = tm.linalg.lu_factor(A)
    tlu, tpivots = torch.linalg.lu_factor(tA)
    assert pivots.dtype == "int32" and lu.dtype == dtype
    _close(lu, tlu, dtype)
    np.testing.assert_array_equal(pivots.numpy(), tpivots.numpy())
    for got, want in zip(tm.linalg.lu(A), torch.linalg.lu(tA)):
        _close(got, want, dtype)
    _close(tm.linalg.inv(A), torch.linalg.inv(tA), dtype)
    _close(tm.linalg.det(A), torch.linalg.det(tA), dtype)
    for got, want in zip(tm.linalg.slogdet(A), torch.linalg.slogdet(tA)):
        _close(got, want, dtype)
    _close(tm.logdet(A), torch.logdet(tA), dtype)             # NaN where det < 0, as torch
    s = _spd(rng, (2, N, N), dtype)
    for upper in (False, True):
        _close(tm.linalg.cholesky(tm.tensor(s), upper=upper), torch.linalg.cholesky(torch.tensor(s), upper=upper),
               dtype)


@given(hnp.arrays("float64", (2, N, N), elements=st.floats(-1, 1)),
       hnp.arrays("float64", (2, N, 2), elements=st.floats(-4, 4)))
@examples(4)
def test_solvers_match_torch_on_drawn_matrices(noise, b):
    a = noise + 4 * np.eye(N)                # diagonally dominant: well conditioned
    A, B, tA, tB = tm.tensor(a), tm.tensor(b), torch.tensor(a), torch.tensor(b)
    _close(tm.linalg.solve(A, B), torch.linalg.solve(tA, tB))
    _close(tm.linalg.solve(A, B.mT, left=False), torch.linalg.solve(tA, tB.mT, left=False))
    lu, pivots = tm.linalg.lu_factor(A)
    tlu, tpivots = torch.linalg.lu_factor(tA)
    for adjoint in (False, True):
        _close(tm.linalg.lu_solve(lu, pivots, B, adjoint=adjoint), torch.linalg.lu_solve(tlu, tpivots, tB,
                                                                                         adjoint=adjoint))
        _close(tm.linalg.lu_solve(lu, pivots, B.mT, left=False, adjoint=adjoint),
               torch.linalg.lu_solve(tlu, tpivots, tB.mT, left=False, adjoint=adjoint))
    for upper in (False, True):
        for unit in (False, True):
            _close(tm.linalg.solve_triangular(A, B, upper=upper, unitriangular=unit),
                   torch.linalg.solve_triangular(tA, tB, upper=upper, unitriangular=unit))
        _close(tm.linalg.solve_triangular(A, B.mT, upper=upper, left=False),
               torch.linalg.solve_triangular(tA, tB.mT, upper=upper, left=False))
    s = a @ np.swapaxes(a, -1, -2)
    L, tL = tm.linalg.cholesky(tm.tensor(s)), torch.linalg.cholesky(torch.tensor(s))
    _close(tm.cholesky_solve(B, L), torch.cholesky_solve(tB, tL))
    _close(tm.cholesky_solve(B, L.mT, upper=True), torch.cholesky_solve(tB, tL.mT, upper=True))
    _close(tm.cholesky_inverse(L), torch.cholesky_inverse(tL))
    with warnings.catch_warnings():         # torch's deprecation notice
        warnings.simplefilter("ignore")
        want = torch.triangular_solve(tB, tA, upper=False, transpose=True)
    got = tm.triangular_solve(B, A, upper=False, transpose=True)
    _close(got.solution, want.solution)
    _close(got.cloned_coefficient, want.cloned_coefficient)


def test_vectors_and_broadcast_batches_as_torch():
    rng = np.random.default_rng(1)
    a, b = _well_conditioned(rng, (N, N)), rng.standard_normal((2, N, 2))
    A, tA = tm.tensor(a), torch.tensor(a)
    _close(tm.linalg.solve(A, tm.tensor(b)), torch.linalg.solve(tA, torch.tensor(b)))      # A broadcast over B
    _close(tm.linalg.solve_triangular(A, tm.tensor(b), upper=True),
           torch.linalg.solve_triangular(tA, torch.tensor(b), upper=True))
    a2 = _well_conditioned(rng, (2, N, N))
    for v in (b[0, :, 0], b[:, :, 0]):         # 1-D, and A.shape[:-1]: vectors (torch's rule)
        got = tm.linalg.solve(tm.tensor(a2), tm.tensor(v))
        assert got.shape == (2, N)
        _close(got, torch.linalg.solve(torch.tensor(a2), torch.tensor(v)))
        with pytest.raises(tm.ShapeError, match=r"equation XA = B \(3x3 and 3x1\)"):      # as torch's
            tm.linalg.solve(tm.tensor(a2), tm.tensor(v), left=False)
    rows = rng.standard_normal((2, N))        # not a vector for an unbatched A: rows of X A = B
    _close(tm.linalg.solve(A, tm.tensor(rows), left=False), torch.linalg.solve(tA, torch.tensor(rows), left=False))
    lu, pivots = tm.linalg.lu_factor(A)
    tlu, tpivots = torch.linalg.lu_factor(tA)
    _close(tm.linalg.lu_solve(lu, pivots, tm.tensor(b)), torch.linalg.lu_solve(tlu, tpivots, torch.tensor(b)))


@pytest.mark.parametrize("n", [1, 5])
def test_one_by_one_and_odd_sizes(n):
    rng = np.random.default_rng(n)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, 2))
    A, tA = tm.tensor(a), torch.tensor(a)
    _close(tm.linalg.solve(A, tm.tensor(b)), torch.linalg.solve(tA, torch.tensor(b)))
    _close(tm.linalg.inv(A), torch.linalg.inv(tA))
    _close(tm.linalg.det(A), torch.linalg.det(tA))
    lu, pivots = tm.linalg.lu_factor(A)
    np.testing.assert_array_equal(pivots.numpy(), torch.linalg.lu_factor(tA).pivots.numpy())
    s = _spd(rng, (n, n))
    _close(tm.linalg.cholesky(tm.tensor(s)), torch.linalg.cholesky(torch.tensor(s)))


def test_pivots_replayed_over_several_kernel_calls():
    """More rows than one permutation kernel swaps (``SWAPS``): the last call's steps
    past the end change nothing."""
    n = linalg_kernels.SWAPS + 2
    rng = np.random.default_rng(7)
    pivots = np.stack([rng.integers(k, n, 2) for k in range(n)], axis=1).astype("int32") + 1
    want = np.tile(np.arange(n), (2, 1))
    for b in range(2):
        for k in range(n):
            p = pivots[b, k] - 1
            want[b, [k, p]] = want[b, [p, k]]
    np.testing.assert_array_equal(linalg_kernels.permutation(tm.tensor(pivots)).numpy(), want)


# ------------------------------------------------------------------------------ errors

def test_singular_and_indefinite_input_raise_as_torch():
    singular = np.stack([np.eye(N), np.zeros((N, N))])
    S, b = tm.tensor(singular), tm.tensor(np.ones((2, N, 2)))
    with pytest.raises(LinAlgError, match=r"torch.linalg.solve: \(Batch element 1\): The solver failed because "
                                          r"the input matrix is singular."):
        tm.linalg.solve(S, b)
    with pytest.raises(tm.TVMiniError, match=r"linalg.inv: \(Batch element 1\): The diagonal element 1 is zero"):
        tm.linalg.inv(S)
    with pytest.raises(LinAlgError, match=r"lu_factor: \(Batch element 1\): U\[1,1\] is zero"):
        tm.linalg.lu_factor(S)
    with pytest.raises(LinAlgError, match=r"^torch.linalg.solve: The solver failed"):      # unbatched: no element
        tm.linalg.solve(tm.tensor(np.zeros((N, N))), tm.tensor(np.ones((N, 2))))
    indefinite = np.stack([np.eye(N), np.diag([1.0, -1.0, 1.0])])
    with pytest.raises(LinAlgError, match=r"linalg.cholesky: \(Batch element 1\): The factorization could not be "
                                          r"completed because the input is not positive-definite \(the leading "
                                          r"minor of order 2 is not positive-definite\)."):
        tm.linalg.cholesky(tm.tensor(indefinite))
    # the _ex variants report info instead, as torch's
    tS, tb = torch.tensor(singular), torch.ones(2, N, 2, dtype=torch.float64)
    for got, want in [(tm.linalg.lu_factor_ex(S).info, torch.linalg.lu_factor_ex(tS).info),
                      (tm.linalg.solve_ex(S, b).info, torch.linalg.solve_ex(tS, tb).info),
                      (tm.linalg.inv_ex(S).info, torch.linalg.inv_ex(tS).info),
                      (tm.linalg.cholesky_ex(tm.tensor(indefinite)).info,
                       torch.linalg.cholesky_ex(torch.tensor(indefinite)).info)]:
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    with pytest.raises(LinAlgError, match="lu_factor_ex"):
        tm.linalg.lu_factor_ex(S, check_errors=True)
    np.testing.assert_array_equal(tm.linalg.det(S).numpy(), [1.0, 0.0])
    sign, logabs = tm.linalg.slogdet(S)
    np.testing.assert_array_equal(sign.numpy(), [1.0, 0.0])
    np.testing.assert_array_equal(logabs.numpy(), [0.0, -np.inf])


def test_bad_arguments_raise_tvmini_errors():
    a = tm.tensor(np.eye(N))
    with pytest.raises(tm.DTypeError, match="Expected a floating point tensor"):
        tm.linalg.inv(tm.tensor(np.eye(N, dtype="int64")))
    with pytest.raises(tm.ShapeError, match="batches of square matrices, but they are 2 by 3"):
        tm.linalg.solve(tm.tensor(np.ones((2, 3))), tm.tensor(np.ones(2)))
    with pytest.raises(tm.ShapeError, match="at least 2 dimensions"):
        tm.linalg.det(tm.tensor(np.ones(3)))
    with pytest.raises(tm.DTypeError, match="Expected A and B to have the same dtype"):
        tm.linalg.solve(a, tm.tensor(np.ones((N, 1), dtype="float32")))
    with pytest.raises(tm.ShapeError, match="Incompatible shapes of A and B"):
        tm.linalg.solve(a, tm.tensor(np.ones((N + 1, 2))))
    with pytest.raises(tm.ShapeError, match="Incompatible shapes"):
        tm.linalg.solve_triangular(a, tm.tensor(np.ones((2, N))), upper=True)
    with pytest.raises(tm.TVMiniError, match="LU without pivoting"):
        tm.linalg.lu_factor(a, pivot=False)
    with pytest.raises(tm.TVMiniError, match="upper must be a bool"):
        tm.linalg.solve_triangular(a, tm.tensor(np.ones((N, 1))), upper=None)
    with pytest.raises(tm.TVMiniError, match="pivots"):
        tm.linalg.lu_solve(a, tm.tensor(np.ones(N)), tm.tensor(np.ones((N, 1))))
    with pytest.raises(tm.ShapeError, match="LU must be batches of square matrices"):
        tm.linalg.lu_solve(*tm.linalg.lu_factor(tm.tensor(np.ones((2, 3)) + np.eye(2, 3))), tm.tensor(np.ones((2, 1))))


# --------------------------------------------------------------------------- gradients

def _torch_grads(fn, arrays, head):
    leaves = [torch.tensor(x, requires_grad=True) for x in arrays]
    fn(*leaves).backward(torch.tensor(head))
    return [t.grad.numpy() for t in leaves]


def _spd_of(m):
    """A symmetric positive-definite function of ``m`` (both libraries)."""
    eye = tm.eye(N, dtype="float64") if isinstance(m, tm.Tensor) else torch.eye(N, dtype=torch.float64)
    return m @ m.mT + N * eye


# name -> (tvmini function, torch function, input shapes)
GRADIENTS = {
    "solve": (tm.linalg.solve, torch.linalg.solve, [(2, N, N), (2, N, 2)]),
    "inv": (tm.linalg.inv, torch.linalg.inv, [(2, N, N)]),
    "det": (tm.linalg.det, torch.linalg.det, [(2, N, N)]),
    "slogdet": (lambda a: tm.linalg.slogdet(a).logabsdet, lambda a: torch.linalg.slogdet(a).logabsdet,
                [(2, N, N)]),
    "lu": (lambda a: tm.linalg.lu(a).L * 2 + tm.linalg.lu(a).U, lambda a: torch.linalg.lu(a).L * 2 +
           torch.linalg.lu(a).U, [(2, N, N)]),
    "lu_solve": (lambda a, b: tm.linalg.lu_solve(*tm.linalg.lu_factor(a), b, adjoint=True),
                 lambda a, b: torch.linalg.lu_solve(*torch.linalg.lu_factor(a), b, adjoint=True), [(2, N, N),
                                                                                                 (2, N, 2)]),
    "cholesky": (lambda m: tm.linalg.cholesky(_spd_of(m)), lambda m: torch.linalg.cholesky(_spd_of(m)),
                 [(2, N, N)]),
    "cholesky_solve": (lambda m, b: tm.cholesky_solve(b, tm.linalg.cholesky(_spd_of(m), upper=True), upper=True),
                       lambda m, b: torch.cholesky_solve(b, torch.linalg.cholesky(_spd_of(m), upper=True),
                                                         upper=True), [(2, N, N), (2, N, 2)]),
    "solve_triangular": (lambda a, b: tm.linalg.solve_triangular(a, b, upper=True, left=False, unitriangular=True),
                         lambda a, b: torch.linalg.solve_triangular(a, b, upper=True, left=False,
                                                                    unitriangular=True), [(2, N, N), (2, 2, N)]),
    "solve_triangular_lower": (lambda a, b: tm.linalg.solve_triangular(a, b, upper=False),
                               lambda a, b: torch.linalg.solve_triangular(a, b, upper=False),
                               [(2, N, N), (2, N, 2)]),
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_match_torch_and_finite_differences(name):
    fn, torch_fn, shapes = GRADIENTS[name]
    rng = np.random.default_rng(len(name))
    arrays = [_well_conditioned(rng, s) if s[-1] == s[-2] == N and k == 0 else rng.standard_normal(s)
              for k, s in enumerate(shapes)]
    out = check_grad(fn, *arrays)            # seeds the head gradient as below
    head = np.random.default_rng(0).uniform(0.5, 1.5, size=out.shape)
    leaves = [tm.tensor(x, requires_grad=True) for x in arrays]
    fn(*leaves).backward(tm.tensor(head))
    for leaf, want in zip(leaves, _torch_grads(torch_fn, arrays, head)):
        np.testing.assert_allclose(leaf.grad.numpy(), want, rtol=1e-9, atol=1e-10)


# ------------------------------------------------------------------------ jit and GPU

def test_jitted_step_equals_eager():
    rng = np.random.default_rng(3)
    a, b = _well_conditioned(rng, (2, N, N)), rng.standard_normal((2, N, 2))

    def step(A, B):
        A.grad = B.grad = None
        loss = (tm.linalg.solve(A, B) ** 2).sum() + tm.linalg.slogdet(A).logabsdet.sum() \
            + tm.linalg.cholesky(_spd_of(A)).sum() + tm.linalg.inv(A).sum()
        loss.backward()
        return loss, A.grad, B.grad

    jitted = tm.jit(step)
    for k in range(2):
        arrays = (a + k, b * (k + 1))
        eager = step(*(tm.tensor(x, requires_grad=True) for x in arrays))
        traced = jitted(*(tm.tensor(x, requires_grad=True) for x in arrays))
        for got, want in zip(traced, eager):
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)


def test_a_jitted_solver_reports_info_instead_of_raising():
    """A step cannot stop on a value it computes: inside tm.jit, solve and cholesky
    return what their _ex variants would (non-finite values where the matrix fails)."""
    singular = np.stack([np.eye(N), np.zeros((N, N))])

    @tm.jit
    def step(a, b):
        return tm.linalg.solve_ex(a, b).info, tm.linalg.solve(a, b)

    info, x = step(tm.tensor(singular), tm.tensor(np.ones((2, N, 2))))
    np.testing.assert_array_equal(info.numpy(), [0, 1])
    np.testing.assert_allclose(x.numpy()[0], np.ones((N, 2)))
    assert not np.isfinite(x.numpy()[1]).all()


def test_tensor_methods_as_torch():
    a = _well_conditioned(np.random.default_rng(6), (2, N, N))
    A, tA = tm.tensor(a), torch.tensor(a)
    _close(A.det(), tA.det())
    _close(A.inverse(), tA.inverse())
    _close(A.logdet(), tA.logdet())
    _close(A.slogdet().logabsdet, tA.slogdet().logabsdet)
    _close(tm.linalg.matrix_power(A, -2), torch.linalg.matrix_power(tA, -2))


def test_solvers_on_the_emulated_gpu(emulated_gpu):
    rng = np.random.default_rng(4)
    a, b = _well_conditioned(rng, (2, N, N), "float32"), rng.standard_normal((2, N, 2)).astype("float32")
    s = _spd(rng, (2, N, N), "float32")
    # solve runs the LU, info, permutation and substitution kernels (inv and
    # solve_triangular add none); cholesky its step kernel
    ops = [lambda A, B, S: tm.linalg.solve(A, B), lambda A, B, S: tm.linalg.cholesky(S)]
    for op in ops:
        got = op(*(tm.tensor(x, device="cuda") for x in (a, b, s)))
        assert got.device.kind == "cuda"
        np.testing.assert_allclose(got.numpy(), op(*(tm.tensor(x) for x in (a, b, s))).numpy(), rtol=1e-5,
                                   atol=1e-5)
    assert emulated_gpu.launches
    assert tm.tensor(a, device="cuda").clone().device.kind == "cuda"     # the solvers' copies stay on the GPU


def test_editing_a_saved_result_in_place_is_refused_at_backward():
    a = tm.tensor(_well_conditioned(np.random.default_rng(5), (2, N, N)), requires_grad=True)
    x = tm.linalg.inv(a)
    x.mul_(2.0)
    with pytest.raises(tm.TVMiniError, match="modified by an inplace operation"):
        x.sum().backward()
