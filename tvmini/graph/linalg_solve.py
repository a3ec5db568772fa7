"""``torch.linalg``'s LU-based solvers, under PyTorch's names, defaults and errors:
``lu_factor`` (``_ex``) and ``lu`` of any m x n matrices, ``lu_solve``, ``solve``
(``_ex``), ``inv`` (``_ex``), ``det``, ``slogdet`` and the top-level ``det``,
``logdet``, ``inverse``, ``lu_unpack`` and the older ``lu(A)`` and ``lu_solve(b, LU,
pivots)`` (also methods of ``A`` and of the right-hand side).

Matrices are the last two axes, batched over the leading ones (broadcast between
operands as PyTorch does); float32 and float64. Every op factors with partial pivoting
(``linalg_kernels.lu``: one step kernel per column, the matrices of a batch in
parallel) and solves by forward and back substitution. A singular matrix raises
:class:`LinAlgError` naming the batch element (PyTorch's messages); the ``_ex``
variants return ``info`` instead (PyTorch's: ``k`` when ``U[k-1, k-1]`` is zero), and
so does a solver inside ``tm.jit``, which cannot stop on a value it computes.

Gradients are PyTorch's formulas, built from the same kernels (so ``tm.jit`` records
them): ``X = A^{-1} B`` sends ``gB = A^{-T} g`` and ``gA = -gB X^T``; ``inv``: ``-X^T g
X^T``; ``det``: ``g det A^{-T}``; ``logabsdet``: ``g A^{-T}``; ``lu_factor``: ``P L^{-T}
(tril(L^T gL, -1) + triu(gU U^T)) U^{-T}`` for a square matrix, the square part of a
rectangular one taking it after the rest's contribution (the gradients of ``det`` and ``logabsdet``
at a singular matrix are not finite here; PyTorch's go through an SVD there).
"""
import math
from collections import namedtuple

from ..errors import ArgumentError, DTypeError, ShapeError
from . import linalg_kernels as K
from . import ops
from .autograd import Function
from .creation import arange, eye, ones, zeros
from .join_ops import cat, pad
from .tensor import Tensor, add_methods, method_of

LUFactor = namedtuple("LUFactor", ["LU", "pivots"])
LUFactorEx = namedtuple("LUFactorEx", ["LU", "pivots", "info"])
PLU = namedtuple("PLU", ["P", "L", "U"])
SolveEx = namedtuple("SolveEx", ["result", "info"])
InvEx = namedtuple("InvEx", ["inverse", "info"])
SlogDet = namedtuple("SlogDet", ["sign", "logabsdet"])

_FLOATS = ("float32", "float64")


def check_matrices(op, a, name="A", empty=False, square=True):
    """Refuse anything but a float32/float64 tensor of square matrices on its last two
    axes (PyTorch's messages; any m x n with ``square=False``); with ``empty``, no
    matrices or matrices with no elements are let through (the caller answers them
    without a kernel)."""
    if not isinstance(a, Tensor):
        raise DTypeError(f"{op}: {name} must be a Tensor, got {type(a).__name__}")
    if a.dtype not in _FLOATS:
        raise DTypeError(f"{op}: Expected a floating point tensor as input ({name}, float32 or float64). "
                         f"Got {a.dtype}")
    if a.ndim < 2:
        raise ShapeError(f"{op}: The input tensor {name} must have at least 2 dimensions, got shape {a.shape}")
    if square and a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"{op}: {name} must be batches of square matrices, but they are {a.shape[-2]} by "
                         f"{a.shape[-1]} matrices")
    if not empty and not math.prod(a.shape):
        raise ShapeError(f"{op}: {name} of shape {a.shape} is empty; tvmini's solvers need at least one 1 x 1 "
                         "matrix")


def check_operand(op, a, b, name="B"):
    """``b`` must be a tensor of ``a``'s dtype on its device (PyTorch's wording)."""
    if not isinstance(b, Tensor):
        raise DTypeError(f"{op}: {name} must be a Tensor, got {type(b).__name__}")
    ops.check_device(op, a, b)
    if a.dtype != b.dtype:
        raise DTypeError(f"{op}: Expected A and {name} to have the same dtype, but found A of type {a.dtype} and "
                         f"{name} of type {b.dtype} instead")


def is_empty(A):
    """Whether ``A`` (checked) holds no element: no matrix, or matrices with no rows or
    no columns."""
    return not math.prod(A.shape)


def tied(value, *inputs):
    """``value``, computed without reading ``inputs`` (which hold no elements), recorded
    as a function of them: the result on empty matrices requires grad as PyTorch's does,
    and their (empty) gradients flow."""
    for t in inputs:
        if t.requires_grad:
            value = value + ops.sum(t) * 0.0
    return value


def as_batch(a, batch):
    """``a`` (..., r, c) broadcast to ``batch + (r, c)`` and flattened to (B, r, c)."""
    full = ops.broadcast_to(a, batch + a.shape[-2:])
    return ops.reshape(full, (math.prod(batch),) + a.shape[-2:])


def _unbatch(x, batch):
    return ops.reshape(x, batch + x.shape[1:])


def _identity(batch, n, like):
    return ops.expand(eye(n, dtype=like.dtype, device=like.device), (batch, n, n))


# ------------------------------------------------------------------------ the Functions

class _LUFactor(Function):
    """(B, m, n) -> packed ``L U`` (precomputed: ``packed``, ``perm``, (B, m))."""
    saved = ()

    def forward(self, a):
        self.out = self.packed._data        # read by backward: an in-place edit is refused there
        return self.out

    def backward(self, g):
        m, n = self.packed.shape[-2:]
        if m == n:
            return (_lu_backward(self.packed, self.perm, g.tril(-1), g.triu()),)
        return (K.unpermute_rows(_wide_backward(self.packed, g) if m < n else _tall_backward(self.packed, g),
                                 self.perm),)


def _factors(packed):
    """(L, U) of packed ``L U``: the unit-lower and the upper triangle."""
    return packed.tril(-1) + _identity(packed.shape[0], packed.shape[-1], packed), packed.triu()


def _lu_backward(packed, perm, gl, gu):
    """The gradient of ``A = P L U`` reaching ``A`` from ``gl`` (strictly lower) and ``gu``
    (upper), PyTorch's square-case formula."""
    return K.unpermute_rows(_square_backward(packed, gl, gu), perm)


def _square_backward(packed, gl, gu):
    """``L^{-T} (tril(L^T gl, -1) + triu(gu U^T)) U^{-T}``: the gradient reaching ``P^T A
    = L U`` (square) from ``gl`` and ``gu``."""
    lower, upper = _factors(packed)
    phi = ops.matmul(lower.transpose(-2, -1), gl).tril(-1) + ops.matmul(gu, upper.transpose(-2, -1)).triu()
    return _solve_lt(packed, _right_solve_ut(packed, phi))


def _solve_lt(packed, x):
    """``L^{-T} x`` for the unit-lower ``L`` of square packed factors."""
    return K.trsm(packed.transpose(-2, -1), x, lower=False, unit=True)


def _right_solve_ut(packed, x):
    """``x U^{-T}`` for the upper ``U`` of square packed factors."""
    return K.trsm(packed, x.transpose(-2, -1), lower=False).transpose(-2, -1)


def _wide_backward(packed, g):
    """The gradient reaching ``P^T A = L [U1 U2]`` (m < n) from ``g`` on the packed
    factors: ``U2 = L^{-1} A2`` sends ``gA2 = L^{-T} gU2`` and adds ``-L^{-T} gU2 U2^T``
    to the gradient of ``L``; the square part ``A1 = L U1`` takes the square formula."""
    m = packed.shape[-2]
    square, rest, g_square, g_rest = packed[..., :m], packed[..., m:], g[..., :m], g[..., m:]
    g_a2 = _solve_lt(square, g_rest)
    gl = (g_square - ops.matmul(g_a2, rest.transpose(-2, -1))).tril(-1)
    return cat([_square_backward(square, gl, g_square.triu()), g_a2], -1)


def _tall_backward(packed, g):
    """The gradient reaching ``P^T A = [L1; L2] U`` (m > n) from ``g`` on the packed
    factors: ``L2 = A2 U^{-1}`` sends ``gA2 = gL2 U^{-T}`` and adds ``-L2^T gL2 U^{-T}``
    to the gradient of ``U``; the square part ``A1 = L1 U`` takes the square formula."""
    n = packed.shape[-1]
    square, rest, g_square, g_rest = packed[..., :n, :], packed[..., n:, :], g[..., :n, :], g[..., n:, :]
    g_a2 = _right_solve_ut(square, g_rest)
    gu = (g_square - ops.matmul(rest.transpose(-2, -1), g_a2)).triu()
    return cat([_square_backward(square, g_square.tril(-1), gu), g_a2], -2)


class _LUSolve(Function):
    """(packed (B, n, n), b (B, n, m)) -> ``A^{-1} b`` (``adjoint``: ``A^{-T} b``)."""
    saved = (0,)

    def forward(self, packed, b):
        self.x = K.lu_solve(Tensor._wrap(packed), self.perm, Tensor._wrap(b), self.adjoint)
        self.out = self.x._data
        return self.out

    def backward(self, g):
        packed = self.inputs[0]
        gb = K.lu_solve(packed, self.perm, g, not self.adjoint)
        if not self.inputs[0].requires_grad:
            return None, gb
        ga = -ops.matmul(self.x, gb.transpose(-2, -1)) if self.adjoint else -ops.matmul(gb, self.x.transpose(-2, -1))
        pga = K.permute_rows(ga, self.perm)                                                  # P^T gA
        lower, upper = _factors(packed)
        return (ops.matmul(pga, upper.transpose(-2, -1)).tril(-1)
                + ops.matmul(lower.transpose(-2, -1), pga).triu()), gb


class _Solve(Function):
    """(a (B, n, n), b (B, n, m)) -> ``a^{-1} b`` (factors precomputed: ``packed``, ``perm``)."""
    saved = ()

    def forward(self, a, b):
        self.x = K.lu_solve(self.packed, self.perm, Tensor._wrap(b))
        self.out = self.x._data
        return self.out

    def backward(self, g):
        gb = K.lu_solve(self.packed, self.perm, g, adjoint=True)
        ga = -ops.matmul(gb, self.x.transpose(-2, -1)) if self.inputs[0].requires_grad else None
        return ga, gb


class _Inverse(Function):
    """(B, n, n) -> its inverses (factors precomputed)."""
    saved = ()

    def forward(self, a):
        self.x = K.lu_solve(self.packed, self.perm, _identity(a.shape[0], a.shape[-1], Tensor._wrap(a)))
        self.out = self.x._data
        return self.out

    def backward(self, g):
        xt = self.x.transpose(-2, -1)
        return (-ops.matmul(ops.matmul(xt, g), xt),)


def _inverse_transposed(packed, perm, scale):
    """``A^{-T}`` scaled per matrix by ``scale`` (B,)."""
    batch, n = packed.shape[0], packed.shape[-1]
    return K.lu_solve(packed, perm, _identity(batch, n, packed) * ops.reshape(scale, (batch, 1, 1)), adjoint=True)


class _Det(Function):
    """(B, n, n) -> (B,) determinants: the sign of the pivots times the product of
    ``U``'s diagonal (factors precomputed)."""
    saved = ()

    def forward(self, a):
        self.det = K.pivots_sign(self.pivots, a.dtype) * self.packed.diagonal(0, -2, -1).prod(-1)
        self.out = self.det._data
        return self.out

    def backward(self, g):
        return (_inverse_transposed(self.packed, self.perm, g * self.det),)


class _LogAbsDet(Function):
    """(B, n, n) -> (B,) ``log |det|`` (factors precomputed)."""
    saved = ()

    def forward(self, a):
        return self.packed.diagonal(0, -2, -1).abs().log().sum(-1)._data

    def backward(self, g):
        return (_inverse_transposed(self.packed, self.perm, g),)


# ---------------------------------------------------------------------- factorizations

def _factor(op, A):
    """(A as (B, n, n), batch shape, packed, pivots, perm, info) of square ``A``."""
    check_matrices(op, A)
    batch = A.shape[:-2]
    a = as_batch(A, batch)
    packed, pivots = K.lu(a.detach())
    return a, batch, packed, pivots, K.permutation(pivots), K.lu_info(packed)


def _factor_any(op, A):
    """(A as (B, m, n), batch shape, packed (B, m, n), pivots (B, k), perm (B, m), info
    (B,)) of non-empty ``A`` of any m x n, k = min(m, n). A rectangular matrix is factored
    as the square one of zeros it is the corner of: its first k steps are the matrix's
    own (a zero row never wins a pivot search, a zero column takes no update), the
    later ones move no row (every candidate pivot is 0) and write only the padding."""
    m, n = A.shape[-2:]
    if m == n:
        return _factor(op, A)
    batch, k, size = A.shape[:-2], min(m, n), max(m, n)
    a = as_batch(A, batch)
    full, pivots = K.lu(pad(a.detach(), (0, size - n, 0, size - m)))
    packed = full[:, :m, :n].clone()
    return a, batch, packed, pivots[:, :k].clone(), K.permutation(pivots)[:, :m].clone(), \
        K.lu_info(packed[:, :k, :k].clone())


def _empty_factors(A):
    """(LU, pivots, info) of ``A`` holding no element, as PyTorch's: zeros of ``A``'s shape
    (recorded as a function of ``A``), no pivots, info 0."""
    batch, k = A.shape[:-2], min(A.shape[-2:])
    return (tied(zeros(A.shape, dtype=A.dtype, device=A.device), A),
            zeros(batch + (k,), dtype="int32", device=A.device), zeros(batch, dtype="int32", device=A.device))


def _check_pivot(op, pivot):
    if pivot is not True:
        raise ArgumentError(f"{op}: LU without pivoting is not implemented on the CPU (pivot={pivot!r})")


def lu_factor_ex(A, *, pivot=True, check_errors=False):
    """(LU, pivots, info) of ``A`` (..., m, n): ``A = P L U`` packed in one (m, n) tensor,
    LAPACK's 1-based int32 pivots (min(m, n) of them), and ``info`` (0, or ``k`` where
    ``U[k-1, k-1]`` is zero); ``check_errors`` raises for such a matrix instead."""
    op = "torch.linalg.lu_factor_ex"
    _check_pivot(op, pivot)
    check_matrices(op, A, empty=True, square=False)
    if is_empty(A):
        return LUFactorEx(*_empty_factors(A))
    a, batch, packed, pivots, perm, info = _factor_any(op, A)
    if check_errors:
        K.raise_failure(op, info, bool(batch), lambda k: f"U[{k},{k}] is zero, singular U.")
    lu = _LUFactor.apply(a, packed=packed, perm=perm)
    return LUFactorEx(_unbatch(lu, batch), ops.reshape(pivots, batch + pivots.shape[1:]), ops.reshape(info, batch))


def lu_factor(A, *, pivot=True):
    """(LU, pivots) of ``A`` (..., m, n), raising where a diagonal entry of ``U`` is zero
    (PyTorch's message: ``lu_solve`` would divide by it)."""
    op = "torch.linalg.lu_factor"
    _check_pivot(op, pivot)
    check_matrices(op, A, empty=True, square=False)
    if is_empty(A):
        return LUFactor(*_empty_factors(A)[:2])
    a, batch, packed, pivots, perm, info = _factor_any(op, A)
    K.raise_failure(op, info, bool(batch), lambda k: (
        f"U[{k},{k}] is zero and using it on lu_solve would result in a division by zero. If you still want to "
        "perform the factorization, consider calling linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)"))
    lu = _LUFactor.apply(a, packed=packed, perm=perm)
    return LUFactor(_unbatch(lu, batch), ops.reshape(pivots, batch + pivots.shape[1:]))


def _unpacked(packed, k):
    """(L, U) of packed factors (..., m, n): the unit-lower trapezoid (m, k) and the upper
    one (k, n)."""
    m = packed.shape[-2]
    lower = packed[..., :k].tril(-1) + eye(m, k, dtype=packed.dtype, device=packed.device)
    return lower, packed[..., :k, :].triu()


def lu(A, *, pivot=True):
    """(P, L, U) with ``A = P @ L @ U`` for ``A`` (..., m, n): a permutation matrix (m, m),
    unit lower trapezoidal ``L`` (m, k) and upper trapezoidal ``U`` (k, n), k = min(m,
    n) (a singular ``A`` is factored too)."""
    op = "torch.linalg.lu"
    _check_pivot(op, pivot)
    check_matrices(op, A, empty=True, square=False)
    m, n = A.shape[-2:]
    if is_empty(A):
        batch = A.shape[:-2]
        lower, upper = _unpacked(_empty_factors(A)[0], min(m, n))
        return PLU(ops.expand(eye(m, dtype=A.dtype, device=A.device), batch + (m, m)), lower, upper)
    a, batch, packed, pivots, perm, _ = _factor_any(op, A)
    lower, upper = _unpacked(_LUFactor.apply(a, packed=packed, perm=perm), min(m, n))
    return PLU(_unbatch(K.perm_matrix(perm, A.dtype), batch), _unbatch(lower, batch), _unbatch(upper, batch))


def lu_unpack(LU_data, LU_pivots, unpack_data=True, unpack_pivots=True):
    """(P, L, U) of ``lu_factor``'s ``(LU, pivots)`` (PyTorch's ``torch.lu_unpack``), for
    any m x n; ``unpack_data=False`` leaves L and U empty, ``unpack_pivots=False`` P."""
    op = "torch.lu_unpack"
    check_matrices(op, LU_data, "LU_data", empty=True, square=False)
    m, n = LU_data.shape[-2:]
    k = min(m, n)
    if not isinstance(LU_pivots, Tensor) or LU_pivots.dtype not in ("int32", "int64"):
        raise DTypeError(f"{op}: LU_pivots must be an int32 tensor, got "
                         f"{LU_pivots.dtype if isinstance(LU_pivots, Tensor) else type(LU_pivots).__name__}")
    if LU_pivots.shape != LU_data.shape[:-2] + (k,):
        raise ShapeError(f"{op}: LU_pivots of shape {LU_pivots.shape} do not match LU_data of shape "
                         f"{LU_data.shape} (expected {LU_data.shape[:-2] + (k,)})")
    nothing = zeros((0,), dtype=LU_data.dtype, device=LU_data.device)
    lower, upper = _unpacked(LU_data, k) if unpack_data else (nothing, nothing)
    if not unpack_pivots:
        return PLU(nothing, lower, upper)
    batch = LU_data.shape[:-2]
    if not m or not math.prod(batch):
        return PLU(ops.expand(eye(m, dtype=LU_data.dtype, device=LU_data.device), batch + (m, m)), lower, upper)
    pivots = ops.reshape(ops.cast(LU_pivots, "int32"), (math.prod(batch), k)).detach()
    if k < m:           # the rows past the k-th never move: their pivots are themselves
        rest = arange(k + 1, m + 1, dtype="int32", device=pivots.device)
        pivots = cat([pivots, ops.expand(rest, (pivots.shape[0], m - k))], -1)
    return PLU(_unbatch(K.perm_matrix(K.permutation(pivots), LU_data.dtype), batch), lower, upper)


def lu_solve(LU, pivots, B, *, left=True, adjoint=False):
    """The solution ``X`` of ``A X = B`` (``adjoint``: ``A^T X = B``; ``left=False``:
    ``X A = B``, ``X A^T = B``) from ``lu_factor``'s ``(LU, pivots)``; batch axes of
    ``LU`` and ``B`` broadcast; empty matrices give an empty solution."""
    op = "linalg.lu_solve"
    check_matrices(op, LU, "LU", empty=True)
    check_operand(op, LU, B)
    if not isinstance(pivots, Tensor) or pivots.dtype not in ("int32", "int64"):
        raise DTypeError(f"{op}: pivots must be an int32 tensor, got "
                         f"{pivots.dtype if isinstance(pivots, Tensor) else type(pivots).__name__}")
    n = LU.shape[-1]
    if pivots.shape != LU.shape[:-1]:
        raise ShapeError(f"{op}: pivots of shape {pivots.shape} do not match LU of shape {LU.shape} (expected "
                         f"{LU.shape[:-1]})")
    if B.ndim < 2 or B.shape[-2 if left else -1] != n:
        raise ShapeError(f"{op}: Incompatible shapes of A and B for the equation "
                         f"{'AX = B' if left else 'XA = B'} ({LU.shape[-2]}x{n} and {B.shape[-2:]})")
    if not left:
        return lu_solve(LU, pivots, B.mT, adjoint=not adjoint).mT
    batch = ops.broadcast_shapes(op, LU.shape[:-2], B.shape[:-2])
    if not n or not math.prod(batch) or not B.shape[-1]:     # nothing to solve: an empty solution, as PyTorch's
        return tied(zeros(batch + B.shape[-2:], dtype=B.dtype, device=B.device), LU, B)
    piv = ops.reshape(ops.broadcast_to(ops.cast(pivots, "int32"), batch + (n,)), (math.prod(batch), n))
    x = _LUSolve.apply(as_batch(LU, batch), as_batch(B, batch), perm=K.permutation(piv.detach()), adjoint=adjoint)
    return _unbatch(x, batch)


def legacy_lu(A, pivot=True, get_infos=False):
    """PyTorch's older ``torch.lu(A)`` and ``A.lu()``: ``(LU, pivots)`` of any m x n ``A``
    (a singular matrix is factored without an error), with ``get_infos`` also ``info``."""
    factors = lu_factor_ex(A, pivot=pivot)
    return tuple(factors) if get_infos else tuple(factors[:2])


def legacy_lu_solve(b, LU_data, LU_pivots):
    """PyTorch's older ``torch.lu_solve(b, LU_data, LU_pivots)`` and ``b.lu_solve(LU_data,
    LU_pivots)``: ``linalg.lu_solve(LU_data, LU_pivots, b)``, the arguments reordered."""
    return lu_solve(LU_data, LU_pivots, b)


# ------------------------------------------------------------------------------ solve

def _is_vector(A, B):
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape == A.shape[:-1])


def solve_ex(A, B, *, left=True, check_errors=False):
    """(result, info): the solution of ``A X = B`` (``left=False``: ``X A = B``) for
    square ``A`` and ``B`` a matrix or a vector (PyTorch's rule: 1-D, or ``A.shape[:-1]``),
    batch axes broadcast; ``info`` as :func:`lu_factor_ex`'s."""
    return _solve("linalg.solve_ex", A, B, left, check_errors)


def solve(A, B, *, left=True):
    """The solution of ``A X = B`` (``left=False``: ``X A = B``); a singular ``A`` raises
    :class:`LinAlgError` naming its batch element."""
    return _solve("torch.linalg.solve", A, B, left, True).result


def _solve(op, A, B, left, check_errors):
    check_matrices(op, A, empty=True)
    check_operand(op, A, B)
    vector, n = _is_vector(A, B), A.shape[-1]
    if not left:                    # X A = B  <=>  A^T X^T = B^T
        if vector and n != 1:       # a vector is a column, which X A = B cannot take (PyTorch's rule)
            raise ShapeError(f"{op}: Incompatible shapes of A and B for the equation XA = B ({n}x{n} and {n}x1)")
        result, info = _solve(op, A.mT, B if vector or B.ndim < 2 else B.mT, True, check_errors)
        return SolveEx(result if vector else result.mT, info)
    if vector:
        B = ops.reshape(B, B.shape + (1,))
    if B.ndim < 2 or B.shape[-2] != n:
        raise ShapeError(f"{op}: Incompatible shapes of A and B for the equation AX = B ({A.shape[-2]}x{n} and "
                         f"{B.shape[:-1] if vector else B.shape[-2:]})")
    batch = ops.broadcast_shapes(op, A.shape[:-2], B.shape[:-2])
    if not n or not math.prod(batch):           # no equations: an empty solution, as PyTorch's
        x = tied(zeros(batch + B.shape[-2:], dtype=A.dtype, device=A.device), A, B)
        return SolveEx(ops.reshape(x, x.shape[:-1]) if vector else x,
                       zeros(A.shape[:-2], dtype="int32", device=A.device))
    a = as_batch(A, batch)
    packed, pivots = K.lu(a.detach())
    info = K.lu_info(packed)
    if check_errors:
        K.raise_failure(op, info, bool(batch), lambda k: "The solver failed because the input matrix is singular.")
    x = _unbatch(_Solve.apply(a, as_batch(B, batch), packed=packed, perm=K.permutation(pivots)), batch)
    return SolveEx(ops.reshape(x, x.shape[:-1]) if vector else x, _own_batch(ops.reshape(info, batch), A))


def _own_batch(info, A):
    """``info`` over the broadcast batch narrowed to ``A``'s own batch shape, as
    PyTorch's (``A`` is factored once, whatever ``B`` broadcasts it to)."""
    own = A.shape[:-2]
    lead = info.ndim - len(own)
    return info[(0,) * lead + tuple(slice(0, 1) if d == 1 else slice(None) for d in own)]


# --------------------------------------------------------------------------- inverses

def inv_ex(A, *, check_errors=False):
    """(inverse, info) of square ``A`` (``info`` as :func:`lu_factor_ex`'s)."""
    return _inv("linalg.inv_ex", A, check_errors)


def inv(A):
    """The inverse of square ``A``; a singular one raises :class:`LinAlgError`."""
    return _inv("linalg.inv", A, True).inverse


def _inv(op, A, check_errors):
    check_matrices(op, A, empty=True)
    if is_empty(A):                            # the inverse of no matrix, or of 0 x 0 ones
        return InvEx(tied(zeros(A.shape, dtype=A.dtype, device=A.device), A),
                     zeros(A.shape[:-2], dtype="int32", device=A.device))
    a, batch, packed, pivots, perm, info = _factor(op, A)
    if check_errors:
        K.raise_failure(op, info, bool(batch), lambda k: (
            f"The diagonal element {k} is zero, the inversion could not be completed because the input matrix "
            "is singular."))
    return InvEx(_unbatch(_Inverse.apply(a, packed=packed, perm=perm), batch), ops.reshape(info, batch))


# ------------------------------------------------------------------------ determinants

def det(A):
    """The determinant of square ``A`` (0 for a singular matrix; 1 for a 0 x 0 one, the
    empty product, as PyTorch's)."""
    check_matrices("linalg.det", A, empty=True)
    if is_empty(A):
        return tied(ones(A.shape[:-2], dtype=A.dtype, device=A.device), A)
    a, batch, packed, pivots, perm, _ = _factor("linalg.det", A)
    return ops.reshape(_Det.apply(a, packed=packed, pivots=pivots, perm=perm), batch)


def slogdet(A):
    """(sign, logabsdet): ``det(A) = sign * exp(logabsdet)``; a singular matrix gives
    sign 0 and ``-inf``; a 0 x 0 one sign 1 and 0. Only ``logabsdet`` has a gradient."""
    check_matrices("linalg.slogdet", A, empty=True)
    if is_empty(A):
        batch = A.shape[:-2]
        return SlogDet(ones(batch, dtype=A.dtype, device=A.device),
                       tied(zeros(batch, dtype=A.dtype, device=A.device), A))
    a, batch, packed, pivots, perm, _ = _factor("linalg.slogdet", A)
    diagonal = packed.diagonal(0, -2, -1)
    sign = K.pivots_sign(pivots, A.dtype) * diagonal.sign().prod(-1)
    logabs = _LogAbsDet.apply(a, packed=packed, perm=perm)
    return SlogDet(ops.reshape(sign, batch), ops.reshape(logabs, batch))


def logdet(input):
    """``log(det(input))``: NaN for a negative determinant, ``-inf`` for zero."""
    sign, logabs = slogdet(input)
    return ops.where(ops.compare(sign, 0.0, "lt"), float("nan"), logabs)


add_methods({"det": method_of(det), "logdet": method_of(logdet), "inverse": method_of(inv),
             "slogdet": method_of(slogdet), "lu_solve": method_of(legacy_lu_solve),
             "lu": method_of(legacy_lu)})
