"""What ``tm.linalg`` computes from singular values and eigenvalues, PyTorch's:
``matrix_rank``, ``pinv`` and ``cond``, compositions of ``svd``/``eigh``
(graph/linalg_spectral.py), ``inv_ex`` (graph/linalg_solve.py, ``cond``'s norms other
than 2) and graph ops, so their gradients are those ops'.

Tolerances as torch's: a singular value counts (rank) or is inverted (pinv) when it
exceeds ``max(atol, rtol * largest)``; with neither given ``rtol`` is
``eps(dtype) * max(m, n)``, with ``atol`` alone (positive) it is 0. ``hermitian``
takes ``|eigenvalues|`` of ``eigh`` (the lower triangle) instead of the SVD.
"""
import math

import numpy as np

from ..errors import ArgumentError, DTypeError, ShapeError
from . import ops
from .linalg_solve import inv_ex
from .linalg_spectral import eigh, eigvalsh, svd, svdvals
from .logic_ops import where
from .norm_ops import matrix_norm
from .reductions import amax
from .tensor import Tensor


def _tolerance(op, A, values, atol, rtol):
    """The threshold (..., 1) per matrix for ``values`` (..., k) (see the module docstring)."""
    for name, value in (("atol", atol), ("rtol", rtol)):
        if value is not None and not isinstance(value, (int, float, np.integer, np.floating, Tensor)):
            raise ArgumentError(f"{op}: {name} must be a number or a Tensor, got {type(value).__name__}")
    if rtol is None:
        given = atol is not None and (isinstance(atol, Tensor) or atol > 0)
        rtol = 0.0 if given else float(np.finfo(A.dtype).eps) * max(A.shape[-2:])
    largest = amax(values, -1, keepdim=True).detach()
    threshold = largest * rtol if not isinstance(rtol, Tensor) else largest * ops.reshape(rtol, rtol.shape + (1,))
    if atol is not None:
        floor = atol if not isinstance(atol, Tensor) else ops.reshape(atol, atol.shape + (1,))
        threshold = ops.maximum(threshold, floor)
    return threshold


def _spectrum(op, A, hermitian):
    if not isinstance(A, Tensor):
        raise DTypeError(f"{op}: takes a Tensor, got {type(A).__name__}")
    return eigvalsh(A).abs() if hermitian else svdvals(A)


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    """The number (int64) of singular values (``hermitian``: ``|eigenvalues|``) of each
    matrix above the tolerance (module docstring)."""
    values = _spectrum("linalg.matrix_rank", A, hermitian).detach()
    threshold = _tolerance("linalg.matrix_rank", A, values, atol, rtol)
    return ops.cast(values > threshold, "int64").sum(dim=-1)


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """The Moore-Penrose pseudo-inverse (n, m) of each matrix: ``V diag(1/S) U^T`` over
    the singular values above the tolerance (``hermitian``: ``V diag(1/w) V^T`` of
    ``eigh``), differentiable through the factorization."""
    op = "linalg.pinv"
    if not isinstance(A, Tensor):
        raise DTypeError(f"{op}: takes a Tensor, got {type(A).__name__}")
    if hermitian:
        w, V = eigh(A)
        kept = w.abs() > _tolerance(op, A, w.abs().detach(), atol, rtol)
        inverse = where(kept, 1.0 / where(kept, w, 1.0), 0.0)
        return ops.matmul(V * ops.reshape(inverse, inverse.shape[:-1] + (1, inverse.shape[-1])), V.mT)
    U, S, Vh = svd(A, full_matrices=False)
    kept = S > _tolerance(op, A, S.detach(), atol, rtol)
    inverse = where(kept, 1.0 / where(kept, S, 1.0), 0.0)
    return ops.matmul(Vh.mT * ops.reshape(inverse, inverse.shape[:-1] + (1, inverse.shape[-1])), U.mT)


_NORM_ORDS = ("fro", "nuc", math.inf, -math.inf, 1, -1)


def cond(A, p=None):
    """The condition number: for ``p`` None, 2 or -2 the ratio of the largest to the
    smallest singular value (-2: its inverse; any shape); for "fro", "nuc", inf, -inf,
    1, -1 (square matrices) ``norm(A, p) * norm(A^-1, p)`` (``linalg.inv_ex``), inf for
    a singular matrix, as torch's."""
    op = "linalg.cond"
    if not isinstance(A, Tensor):
        raise DTypeError(f"{op}: takes a Tensor, got {type(A).__name__}")
    if p is None or (not isinstance(p, str) and p in (2, -2)):
        S = svdvals(A)
        k = S.shape[-1]
        big, small = ops.reshape(S[..., 0:1], S.shape[:-1]), ops.reshape(S[..., k - 1:k], S.shape[:-1])
        return small / big if p == -2 else big / small
    if p not in _NORM_ORDS:
        raise ArgumentError(f"{op}: got an invalid norm type {p!r}; p must be None, 'fro', 'nuc', inf, -inf, 1, -1, "
                            "2 or -2")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ShapeError(f"{op}: A must be batches of square matrices for p={p!r}, got shape {A.shape}")
    inverse, info = inv_ex(A)
    return where(info > 0, math.inf, matrix_norm(A, p) * matrix_norm(inverse, p))
