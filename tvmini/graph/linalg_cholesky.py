"""``torch.linalg.cholesky`` (``_ex``), ``torch.linalg.solve_triangular`` and the
top-level ``cholesky_solve``, ``cholesky_inverse`` and ``triangular_solve``, under
PyTorch's names, defaults and errors (batched over leading axes, float32/float64).

The factorization is ``linalg_kernels.cholesky`` (one step kernel per column, reading
the lower triangle; ``upper=True`` factors the transpose, so it reads the upper one); a
matrix that is not positive-definite raises :class:`LinAlgError` with the order of the
first leading minor that is not (``cholesky_ex`` returns it as ``info``). Triangular
solves are forward/back substitution, one row per kernel call.

Gradients are PyTorch's: ``cholesky`` sends ``L^{-T} Phi(L^T gL) L^{-1}``, symmetrized
(``Phi``: the lower triangle with its diagonal halved); ``solve_triangular`` sends ``gB
= A^{-T} g`` and ``gA = -gB X^T`` restricted to the triangle the solve read (the strict
one when ``unitriangular``). ``cholesky_solve`` and ``cholesky_inverse`` are two
triangular solves, differentiable through them.
"""
from collections import namedtuple

from ..errors import ArgumentError, ShapeError
from . import linalg_kernels as K
from . import ops
from .autograd import Function
from .creation import eye, zeros
from .linalg_solve import is_empty, tied, as_batch, check_matrices, check_operand
from .tensor import Tensor, add_methods, method_of

CholeskyEx = namedtuple("CholeskyEx", ["L", "info"])
TriangularSolve = namedtuple("TriangularSolve", ["solution", "cloned_coefficient"])


class _Cholesky(Function):
    """(B, n, n) -> ``L`` (computed beforehand: ``factor``)."""
    saved = ()

    def forward(self, a):
        self.out = self.factor._data        # read by backward: an in-place edit is refused there
        return self.out

    def backward(self, g):
        lower = self.factor
        phi = ops.matmul(lower.transpose(-2, -1), g).tril()
        phi = (phi + phi.tril(-1).transpose(-2, -1)) * 0.5
        flipped = lower.transpose(-2, -1)
        left = K.trsm(flipped, phi, lower=False)                                             # L^{-T} phi
        return (K.trsm(flipped, left.transpose(-2, -1), lower=False).transpose(-2, -1),)     # ... L^{-1}


class _SolveTriangular(Function):
    """(t (B, n, n), b (B, n, m)) -> ``t^{-1} b`` for the ``upper`` or lower triangle of
    ``t`` (``unit``: ones on its diagonal)."""
    saved = (0,)

    def forward(self, t, b):
        self.x = K.trsm(Tensor._wrap(t), Tensor._wrap(b), lower=not self.upper, unit=self.unit)
        self.out = self.x._data
        return self.out

    def backward(self, g):
        t = self.inputs[0]
        gb = K.trsm(t.transpose(-2, -1), g, lower=self.upper, unit=self.unit)
        if not t.requires_grad:
            return None, gb
        ga = -ops.matmul(gb, self.x.transpose(-2, -1))
        shift = 1 if self.unit else 0
        return (ga.triu(shift) if self.upper else ga.tril(-shift)), gb


# ---------------------------------------------------------------------------- Cholesky

def _cholesky(op, A, upper, check_errors):
    check_matrices(op, A, empty=True)
    if not isinstance(upper, bool):
        raise ArgumentError(f"{op}: upper must be a bool, got {upper!r}")
    batch = A.shape[:-2]
    if is_empty(A):                            # no matrix, or 0 x 0 ones: an empty factor, as PyTorch's
        return CholeskyEx(tied(zeros(A.shape, dtype=A.dtype, device=A.device), A),
                          zeros(batch, dtype="int32", device=A.device))
    a = as_batch(A.mT if upper else A, batch)
    factor, info = K.cholesky(a.detach())
    if check_errors:
        K.raise_failure(op, info, bool(batch), lambda k: (
            "The factorization could not be completed because the input is not positive-definite (the leading "
            f"minor of order {k} is not positive-definite)."))
    lower = ops.reshape(_Cholesky.apply(a, factor=factor), A.shape)
    return CholeskyEx(lower.mT if upper else lower, ops.reshape(info, batch))


def cholesky_ex(A, *, upper=False, check_errors=False):
    """(L, info): the Cholesky factor of symmetric positive-definite ``A`` (``upper``:
    ``U = L^T``, from ``A``'s upper triangle) and ``info``, 0 or the order of the first
    leading minor that is not positive-definite (where ``L`` is not meaningful)."""
    return _cholesky("linalg.cholesky_ex", A, upper, check_errors)


def cholesky(A, *, upper=False):
    """Lower triangular ``L`` with ``A = L L^T`` (``upper``: ``U`` with ``A = U^T U``);
    raises :class:`LinAlgError` for a matrix that is not positive-definite."""
    return _cholesky("linalg.cholesky", A, upper, True).L


# ------------------------------------------------------------------ triangular solves

def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    """The solution ``X`` of ``A X = B`` (``left=False``: ``X A = B``) for triangular
    ``A``: only its upper (``upper=True``) or lower triangle is read, and with
    ``unitriangular`` not its diagonal either (taken as ones). Batch axes broadcast."""
    op = "linalg.solve_triangular"
    check_matrices(op, A)
    check_operand(op, A, B)
    for name, flag in (("upper", upper), ("left", left), ("unitriangular", unitriangular)):
        if not isinstance(flag, bool):
            raise ArgumentError(f"{op}: {name} must be a bool, got {flag!r}")
    n = A.shape[-1]
    if B.ndim < 2 or B.shape[-2 if left else -1] != n:
        raise ShapeError(f"{op}: Incompatible shapes of A and B for the equation "
                         f"{'AX = B' if left else 'XA = B'} ({A.shape[-2]}x{n} and "
                         f"{B.shape[-2:] if B.ndim >= 2 else B.shape})")
    if not left:                    # X A = B  <=>  A^T X^T = B^T, the other triangle
        return solve_triangular(A.mT, B.mT, upper=not upper, unitriangular=unitriangular).mT
    batch = ops.broadcast_shapes(op, A.shape[:-2], B.shape[:-2])
    x = _SolveTriangular.apply(as_batch(A, batch), as_batch(B, batch), upper=upper, unit=unitriangular)
    return ops.reshape(x, batch + x.shape[1:])


def triangular_solve(b, A, upper=True, transpose=False, unitriangular=False):
    """PyTorch's older ``torch.triangular_solve``: (solution of ``A X = b``, or ``A^T X =
    b`` with ``transpose``; a copy of ``A``)."""
    coefficient = A.mT if transpose else A
    solution = solve_triangular(coefficient, b, upper=upper != transpose, unitriangular=unitriangular)
    return TriangularSolve(solution, ops.clone(A))


def cholesky_solve(B, L, upper=False):
    """The solution of ``A X = B`` for ``A = L L^T`` given its Cholesky factor ``L``
    (``upper``: ``A = U^T U`` given ``U``)."""
    op = "cholesky_solve"
    check_matrices(op, L, "L")
    check_operand(op, L, B)
    if B.ndim < 2 or B.shape[-2] != L.shape[-1]:
        raise ShapeError(f"{op}: Incompatible matrix sizes for cholesky_solve: each L matrix is {L.shape[-1]} by "
                         f"{L.shape[-1]} but B of shape {B.shape} needs matrices of {L.shape[-1]} rows (B is "
                         "(..., n, k))")
    lower = L.mT if upper else L
    y = solve_triangular(lower, B, upper=False)
    return solve_triangular(lower.mT, y, upper=True)


def cholesky_inverse(L, upper=False):
    """The inverse of ``A = L L^T`` from its Cholesky factor ``L`` (``upper``: ``A = U^T
    U`` given ``U``)."""
    check_matrices("cholesky_inverse", L, "L")
    identity = ops.expand(eye(L.shape[-1], dtype=L.dtype, device=L.device), L.shape)
    return cholesky_solve(identity, L, upper)


add_methods({"cholesky_solve": method_of(cholesky_solve), "cholesky_inverse": method_of(cholesky_inverse),
             "triangular_solve": method_of(triangular_solve)})
