"""LU of rectangular and empty matrices (``tm.linalg.lu_factor``, ``lu_factor_ex``,
``lu``, ``tm.lu_unpack``) and the older ``tm.lu`` / ``Tensor.lu`` and
``tm.lu_solve(b, LU, pivots)`` / ``Tensor.lu_solve``, against PyTorch: factors,
pivots, ``info``, shapes of empty results, gradients against torch's and central
differences (float64), a ``tm.jit`` step, the emulated GPU and the errors."""
import warnings

import numpy as np
import pytest

import tvmini as tm
from graph_gradcheck import check_grad

torch = pytest.importorskip("torch")

SHAPES = [(1, 1), (1, 4), (4, 1), (2, 3, 4), (2, 4, 3)]


def _close(ours, theirs, tol=1e-12):
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("shape", SHAPES)
def test_rectangular_factors_match_torch(shape):
    rng = np.random.default_rng(sum(shape))
    for dtype, tol in (("float64", 1e-12), ("float32", 1e-5)):
        a = rng.standard_normal(shape).astype(dtype)
        A, tA = tm.tensor(a), torch.tensor(a)
        LU, pivots = tm.linalg.lu_factor(A)
        tLU, tpivots = torch.linalg.lu_factor(tA)
        _close(LU, tLU, tol)
        np.testing.assert_array_equal(pivots.numpy(), tpivots.numpy())
        assert pivots.dtype == "int32" and LU.dtype == dtype
        for ours, theirs in zip(tm.linalg.lu(A), torch.linalg.lu(tA)):
            assert ours.shape == tuple(theirs.shape)
            _close(ours, theirs, tol)
        for ours, theirs in zip(tm.lu_unpack(LU, pivots), torch.lu_unpack(tLU, tpivots)):
            _close(ours, theirs, tol)
        P, L, U = tm.linalg.lu(A)
        np.testing.assert_allclose((P @ L @ U).numpy(), a, rtol=tol, atol=tol)


def test_rectangular_singular_info_and_errors_as_torch():
    for rows in ([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]], [[1.0, 2.0], [2.0, 4.0], [0.0, 0.0]]):
        a = np.array(rows)
        ours, theirs = tm.linalg.lu_factor_ex(tm.tensor(a)), torch.linalg.lu_factor_ex(torch.tensor(a))
        for x, y in zip(ours, theirs):
            _close(x, y)
        with pytest.raises(tm.linalg.LinAlgError, match=r"U\[2,2\] is zero and using it on lu_solve"):
            tm.linalg.lu_factor(tm.tensor(a))
        with pytest.raises(tm.linalg.LinAlgError, match=r"U\[2,2\] is zero, singular U"):
            tm.linalg.lu_factor_ex(tm.tensor(a), check_errors=True)
    # the padding a wide or tall matrix is factored with is never reported as singular
    assert int(tm.linalg.lu_factor_ex(tm.tensor(np.eye(2, 5))).info) == 0
    assert int(tm.linalg.lu_factor_ex(tm.tensor(np.eye(5, 2))).info) == 0


@pytest.mark.parametrize("shape", [(3, 0), (0, 3), (0, 0), (0, 2, 3), (2, 0, 0)])
def test_empty_matrices_as_torch(shape):
    a = np.zeros(shape)
    A = tm.tensor(a, requires_grad=True)
    for ours, theirs in zip(tm.linalg.lu_factor_ex(A), torch.linalg.lu_factor_ex(torch.tensor(a))):
        assert ours.shape == tuple(theirs.shape) and ours.dtype == str(theirs.dtype).split(".")[1]
    for ours, theirs in zip(tm.linalg.lu(A), torch.linalg.lu(torch.tensor(a))):
        assert ours.shape == tuple(theirs.shape)
        _close(ours, theirs)
    LU, pivots = tm.linalg.lu_factor(A)
    LU.sum().backward()                               # an empty gradient flows
    assert A.grad.shape == shape
    for ours, theirs in zip(tm.lu_unpack(LU, pivots), torch.lu_unpack(*torch.linalg.lu_factor(torch.tensor(a)))):
        assert ours.shape == tuple(theirs.shape)


def test_lu_solve_of_empty_systems_as_torch():
    cases = [((0, 0), (0,), (0, 2)), ((0, 3, 3), (0, 3), (3, 2)), ((2, 2), (2,), (2, 0))]
    for lu_shape, pivot_shape, b_shape in cases:
        LU = np.eye(*lu_shape[-2:]) + np.zeros(lu_shape)
        pivots = np.ones(pivot_shape, dtype="int32") * np.arange(1, pivot_shape[-1] + 1, dtype="int32")
        b = np.ones(b_shape)
        ours = tm.linalg.lu_solve(tm.tensor(LU), tm.tensor(pivots), tm.tensor(b))
        theirs = torch.linalg.lu_solve(torch.tensor(LU), torch.tensor(pivots), torch.tensor(b))
        assert ours.shape == tuple(theirs.shape)


def test_older_lu_solve_and_the_method_as_torch():
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((2, 4, 4)) + 4 * np.eye(4), rng.standard_normal((2, 4, 3))
    LU, pivots = tm.linalg.lu_factor(tm.tensor(a))
    tLU, tpivots = torch.linalg.lu_factor(torch.tensor(a))
    theirs = torch.linalg.lu_solve(tLU, tpivots, torch.tensor(b))
    _close(tm.lu_solve(tm.tensor(b), LU, pivots), theirs)
    _close(tm.tensor(b).lu_solve(LU, pivots), theirs)


def test_older_lu_and_the_method_as_torch():
    for a in (np.random.default_rng(8).standard_normal((2, 3, 5)), np.zeros((2, 2))):     # a singular one too
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")        # torch.lu is deprecated in favour of linalg.lu_factor
            theirs = torch.lu(torch.tensor(a), get_infos=True)
        for ours in (tm.lu(tm.tensor(a), get_infos=True), tm.tensor(a).lu(get_infos=True)):
            assert len(ours) == 3
            for x, y in zip(ours, theirs):
                _close(x, y)
        assert len(tm.lu(tm.tensor(a))) == 2


# --------------------------------------------------------------------------- gradients

GRADIENTS = {
    "lu_factor": (lambda a: tm.linalg.lu_factor(a).LU, lambda a: torch.linalg.lu_factor(a).LU),
    "lu": (lambda a: (lambda P, L, U: (L ** 2).sum() * 2 + (U ** 3).sum())(*tm.linalg.lu(a)),
           lambda a: (lambda P, L, U: (L ** 2).sum() * 2 + (U ** 3).sum())(*torch.linalg.lu(a))),
}


@pytest.mark.parametrize("shape", [(1, 3), (3, 1), (2, 3, 4), (2, 4, 3)])
@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_match_torch_and_finite_differences(name, shape):
    fn, torch_fn = GRADIENTS[name]
    a = np.random.default_rng(len(name) + sum(shape)).standard_normal(shape) + np.eye(*shape[-2:]) * 3
    out = check_grad(fn, a)
    head = np.random.default_rng(0).uniform(0.5, 1.5, size=out.shape)
    leaf, tleaf = tm.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    fn(leaf).backward(tm.tensor(head))
    torch_fn(tleaf).backward(torch.tensor(head))
    np.testing.assert_allclose(leaf.grad.numpy(), tleaf.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_older_lu_solve_gradients_match_torch():
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((3, 3)) + 3 * np.eye(3), rng.standard_normal((3, 2))

    def ours(A, B):
        return tm.lu_solve(B, *tm.linalg.lu_factor(A))
    check_grad(ours, a, b)
    A, B = tm.tensor(a, requires_grad=True), tm.tensor(b, requires_grad=True)
    tA, tB = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (ours(A, B) ** 2).sum().backward()
    (torch.linalg.lu_solve(*torch.linalg.lu_factor(tA), tB) ** 2).sum().backward()
    np.testing.assert_allclose(A.grad.numpy(), tA.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(B.grad.numpy(), tB.grad.numpy(), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------ jit and GPU

def test_jitted_step_with_rectangular_lu_equals_eager():
    rng = np.random.default_rng(11)

    def step(A):
        A.grad = None
        P, L, U = tm.linalg.lu(A)
        loss = (L ** 2).sum() + (U ** 3).sum()
        loss.backward()
        return loss, A.grad

    jitted = tm.jit(step)
    for k in range(2):
        a = rng.standard_normal((2, 3, 5)) + k
        eager = step(tm.tensor(a, requires_grad=True))
        traced = jitted(tm.tensor(a, requires_grad=True))
        for got, want in zip(traced, eager):
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)


def test_rectangular_lu_on_the_emulated_gpu(emulated_gpu):
    a = np.random.default_rng(12).standard_normal((2, 3, 4)).astype("float32")
    for ours, host in zip(tm.linalg.lu_factor(tm.tensor(a, device="cuda")), tm.linalg.lu_factor(tm.tensor(a))):
        assert ours.device.kind == "cuda"
        np.testing.assert_allclose(ours.numpy(), host.numpy(), rtol=1e-5, atol=1e-6)
    assert emulated_gpu.launches


def test_bad_arguments_raise_tvmini_errors():
    LU, pivots = tm.linalg.lu_factor(tm.tensor(np.eye(3, 4)))
    with pytest.raises(tm.ShapeError, match="LU_pivots of shape \\(2,\\) do not match LU_data of shape"):
        tm.lu_unpack(LU, pivots[:2])
    with pytest.raises(tm.DTypeError, match="LU_pivots must be an int32 tensor"):
        tm.lu_unpack(LU, tm.tensor(np.ones(3)))
    with pytest.raises(tm.ShapeError, match="must have at least 2 dimensions"):
        tm.linalg.lu_factor(tm.tensor(np.ones(3)))
    with pytest.raises(tm.DTypeError, match="Expected a floating point tensor"):
        tm.linalg.lu(tm.tensor(np.ones((2, 3), dtype="int64")))
    with pytest.raises(tm.ShapeError, match="LU must be batches of square matrices"):
        tm.lu_solve(tm.tensor(np.ones((3, 1))), LU, pivots)
