"""Norms and distances, PyTorch's: ``tm.linalg.vector_norm``, ``tm.linalg.matrix_norm``,
``tm.linalg.norm``, ``tm.norm``, ``tm.dist``, ``tm.pdist`` and ``renorm`` (``tm.cdist``: ``cdist_ops``).

All are compositions of reductions (``sum``, ``amax``, ``amin``) of ``|x|`` or its
powers, so gradients are those ops'; the 2-norm's square root is zero-safe (gradient 0,
not NaN, where the norm is 0, as PyTorch's) and so is the root of a general ``p``-norm.
The matrix norms of singular values ("nuc", 2, -2) are their sum, largest and
smallest, from ``linalg.svdvals`` (graph/linalg_spectral.py), gradients included.
"""
import math

import numpy as np

from ..errors import ArgumentError, DTypeError, ShapeError
from . import axes as check_axes
from . import indexing, ops
from .cdist_ops import pair_distances
from .creation import zeros
from .linalg_spectral import svdvals
from .logic_ops import where
from .reductions import amax, amin
from .stat_ops import _sqrt_zero_safe
from .tensor import Tensor, add_methods


def _float_input(op, x, dtype):
    if not isinstance(x, Tensor):
        raise DTypeError(f"{op}: takes a Tensor, got {type(x).__name__}")
    if dtype is not None:
        x = ops.cast(x, dtype)
    if not x.dtype.startswith("float"):
        raise DTypeError(f"{op}: needs a floating-point tensor, got {x.dtype} of shape {x.shape} (or pass dtype=)")
    return x


def _ord(op, ord):  # noqa: A002  (torch's argument name)
    if isinstance(ord, bool) or not isinstance(ord, (int, float, np.integer, np.floating)):
        raise ArgumentError(f"{op}: ord must be a number (inf and -inf included), got {ord!r}")
    return float(ord)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """The ``ord``-norm of ``x`` over ``dim`` (None: every element, as one vector):
    ``(sum |x|^ord)^(1/ord)``; ``inf``/``-inf`` the largest/smallest ``|x|``; 0 the
    count of non-zeros."""
    x = _float_input("vector_norm", x, dtype)
    p = _ord("vector_norm", ord)
    axes = check_axes.axes("vector_norm", dim, x.shape)
    if not x.ndim:
        axes = ()
    if p == math.inf or p == -math.inf:
        if not x.numel():
            raise ShapeError(f"vector_norm: the {ord}-norm of an empty tensor (shape {x.shape}) is undefined")
        return (amax if p > 0 else amin)(x.abs(), axes, keepdim) if axes else x.abs()
    if p == 0:
        # the indicator of non-zeros, built so that it is differentiable with a zero
        # gradient (PyTorch's): the unselected ``x * 0`` is 0 exactly where x is
        nonzero = where(x != 0, ops._as_tensor(1.0, x), x * 0.0)
        return nonzero.sum(dim=axes, keepdim=keepdim) if axes else nonzero
    absx = x.abs()
    if p == 1:
        return absx.sum(dim=axes, keepdim=keepdim) if axes else absx
    if p == 2:
        return _sqrt_zero_safe((x * x).sum(dim=axes, keepdim=keepdim)) if axes else absx
    total = (absx ** p).sum(dim=axes, keepdim=keepdim) if axes else absx ** p
    if p < 0:
        return total ** (1.0 / p)
    positive = total > 0
    one = ops._as_tensor(1.0, total)
    return where(positive, where(positive, total, one) ** (1.0 / p), total * 0.0)


def _matrix_axes(op, x, dim):
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise ShapeError(f"{op}: dim must be a pair of axes, got {dim!r}")
    rows, cols = (check_axes.axis(op, d, x.shape) for d in dim)
    if x.ndim < 2 or rows == cols:
        raise ShapeError(f"{op}: needs two distinct axes of a tensor of at least 2 dimensions, got dim={dim} "
                         f"for shape {x.shape}")
    return rows, cols


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):  # noqa: A002
    """The matrix norm over the axes ``dim``: "fro" (the 2-norm of the entries), 1/-1
    (the largest/smallest column sum of ``|A|``), inf/-inf (row sums), "nuc" (the sum
    of the singular values), 2/-2 (the largest/smallest singular value)."""
    A = _float_input("matrix_norm", A, dtype)
    rows, cols = _matrix_axes("matrix_norm", A, dim)
    if ord == "fro":
        return vector_norm(A, 2, (rows, cols), keepdim)
    if ord == "nuc" or (not isinstance(ord, str) and _ord("matrix_norm", ord) in (2.0, -2.0)):
        return _singular_value_norm(A, ord, rows, cols, keepdim)
    if isinstance(ord, str):
        raise ArgumentError(f"matrix_norm: ord must be 'fro', 'nuc' or a number, got {ord!r}")
    p = _ord("matrix_norm", ord)
    if p not in (1.0, -1.0, math.inf, -math.inf):
        raise ArgumentError(f"matrix_norm: ord must be one of 'fro', 'nuc', inf, -inf, 1, -1, 2, -2, got {ord!r}")
    summed, over = (rows, cols) if abs(p) == 1 else (cols, rows)
    if not A.shape[summed] or not A.shape[over]:
        raise ShapeError(f"matrix_norm: the {ord}-norm of empty matrices (shape {A.shape}) is undefined")
    sums = A.abs().sum(dim=summed, keepdim=True)
    out = (amax if p > 0 else amin)(sums, over, True)
    return out if keepdim else ops.reshape(out, tuple(n for k, n in enumerate(A.shape) if k not in (rows, cols)))


def _singular_value_norm(A, ord, rows, cols, keepdim):  # noqa: A002
    """"nuc" (sum), 2 (largest) or -2 (smallest) of the singular values of the matrices
    on axes ``rows``, ``cols`` of ``A``."""
    if not A.shape[rows] or not A.shape[cols]:
        raise ShapeError(f"matrix_norm: the {ord}-norm of empty matrices (shape {A.shape}) is undefined")
    others = [k for k in range(A.ndim) if k not in (rows, cols)]
    values = svdvals(ops.transpose(A, tuple(others) + (rows, cols)))
    out = values.sum(dim=-1) if ord == "nuc" else (amax if ord > 0 else amin)(values, -1)
    if not keepdim:
        return out
    return ops.reshape(out, tuple(1 if k in (rows, cols) else n for k, n in enumerate(A.shape)))


def linalg_norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """``tm.linalg.norm``: a vector norm when ``dim`` is an int (or ``A`` is 1-D and
    ``ord`` given), a matrix norm when ``dim`` is a pair (or ``A`` is 2-D and ``ord``
    given); with neither, the 2-norm of all the entries."""
    if isinstance(dim, (int, np.integer)) or (isinstance(dim, (tuple, list)) and len(dim) == 1):
        return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    if dim is not None:
        return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype)
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.ndim == 1:
        return vector_norm(A, ord, None, keepdim, dtype=dtype)
    if A.ndim == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    raise ShapeError(f"linalg.norm: with ord={ord!r} and no dim the input must be 1-D or 2-D, got shape {A.shape}")


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """``tm.norm``: the ``p``-norm of ``input`` over ``dim`` (None: all its entries,
    as one vector; a tuple: those axes as one vector); "fro" is the 2-norm; "nuc" is
    refused (no SVD in tvmini)."""
    if p == "nuc":
        return matrix_norm(input, "nuc", (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
    if p == "fro":
        p = 2
    elif isinstance(p, str):
        raise ArgumentError(f"norm: p must be 'fro', 'nuc' or a number, got {p!r}")
    return vector_norm(input, p, dim, keepdim, dtype=dtype)


def dist(input, other, p=2):
    """The ``p``-norm of ``input - other`` (broadcast), as one vector."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise DTypeError("dist: takes two Tensors")
    return vector_norm(input - other, p)


def pdist(input, p=2.0):
    """The ``p``-norm distance between every two rows ``i < j`` of the matrix ``input``
    (N, M), in row-major order of the pairs: shape (N * (N - 1) / 2,). The upper
    triangle of ``cdist(input, input)`` by one kernel over the pairs (every pair's
    difference, never the matrix product, so nearly equal rows keep their precision,
    as PyTorch's ``pdist``); a zero distance gets a zero gradient, as there."""
    _float_input("pdist", input, None)
    if input.ndim != 2:
        raise ShapeError(f"pdist: only supports 2-D tensors, got shape {input.shape}")
    if _ord("pdist", p) < 0:
        raise ArgumentError(f"pdist: only supports non-negative p values, got {p}")
    n = input.shape[0]
    if n < 2 or not input.shape[1]:
        return zeros(n * (n - 1) // 2, dtype=input.dtype, device=input.device)
    return pair_distances(input, p)


def renorm(input, p, dim, maxnorm):
    """``input`` with each slice along ``dim`` (all the other axes as one vector) whose
    ``p``-norm exceeds ``maxnorm`` scaled down to norm ``maxnorm`` (PyTorch's factor
    ``maxnorm / (norm + 1e-7)``); the others unchanged."""
    x = _float_input("renorm", input, None)
    if x.ndim < 2:
        raise ShapeError(f"renorm: input needs at least 2 dimensions, got shape {x.shape}")
    axis = check_axes.axis("renorm", dim, x.shape)
    if _ord("renorm", p) <= 0:
        raise ArgumentError(f"renorm: p must be positive, got {p}")
    if maxnorm < 0:
        raise ArgumentError(f"renorm: maxnorm must be non-negative, got {maxnorm}")
    norms = vector_norm(x, p, tuple(k for k in range(x.ndim) if k != axis), True)
    factor = where(norms > maxnorm, maxnorm / (norms + 1e-7), ops._as_tensor(1.0, norms))
    return x * factor


def _renorm_(self, p, dim, maxnorm):
    """``renorm`` in place; returns self."""
    return indexing.update(self, lambda old, _: renorm(old, p, dim, maxnorm), None, "renorm_")


add_methods({
    "renorm": lambda self, p, dim, maxnorm: renorm(self, p, dim, maxnorm),
    "renorm_": _renorm_,
    "dist": lambda self, other, p=2: dist(self, other, p),
})
