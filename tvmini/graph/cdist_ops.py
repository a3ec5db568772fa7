"""``tm.cdist``: the ``p``-norm distance between every row of ``x1`` (..., P, M) and
every row of ``x2`` (..., R, M), PyTorch's, by its two methods.

* The matrix product (``p=2`` with more than 25 rows on either side, or always with
  ``compute_mode="use_mm_for_euclid_dist"``): PyTorch's ``_euclidean_dist``, ``sqrt(max(
  |a|^2 + |b|^2 - 2 a.b, 0))``, the ``a.b`` of all pairs one (batched) matrix product and
  the rest one kernel. Fast, but it loses precision for nearly equal rows, as PyTorch's.
* Every pair's difference, otherwise: one reduction kernel over the columns per output,
  ``(sum |a - b|^p)^(1/p)`` (``p=0``: the count of differences, ``inf``: the largest),
  the (P, R, M) differences never stored. ``pdist`` (:func:`pair_distances`) is the
  same reduction over the pairs ``i < j`` only, each output finding its two rows from
  its position.

Both are ops of their own with PyTorch's gradients (``_euclidean_dist_backward``,
``_cdist_backward``): the product's through two more matrix products, the pairs' through
one reduction per input over the other's rows, each term PyTorch's for its ``p`` (the
subgradient 0 where a distance is 0, ``sign(0) = 0``; for ``inf``, the columns that
reach the largest difference).
"""
import math

import numpy as np

from .. import te, topi
from ..topi.schedule import MATERIALIZED
from ..errors import ArgumentError, DTypeError, ShapeError
from . import ops
from .autograd import Function, no_grad
from .dispatch import run
from .tensor import Tensor

#: PyTorch's ``compute_mode`` values for ``cdist`` (None: the first)
CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")
#: rows on either side above which "use_mm_for_euclid_dist_if_necessary" takes the product
CDIST_MM_ROWS = 25


def _zero(dtype):
    return te.const(0, dtype)


# ------------------------------------------------------------------ the matrix product

def _distance_kernel(square1, square2, product):
    return topi.broadcast.elementwise("cdist_mm", [square1, square2, product], lambda a, b, c: te.sqrt(
        te.max(a + b - c * 2.0, _zero(c.dtype))))


def _ratio_kernel(g, distance):
    return topi.broadcast.elementwise("cdist_mm_ratio", [g, distance], lambda h, d: te.if_then_else(
        d == _zero(d.dtype), _zero(d.dtype), h / te.if_then_else(d == _zero(d.dtype), 1.0, d)))


class _EuclideanByProduct(Function):
    """PyTorch's ``_euclidean_dist`` on rows of one batch shape. Its gradient is
    PyTorch's too: with ``r = g / d`` (0 where ``d`` is 0), ``x1 * rowsum(r) - r @ x2``
    and ``x2 * colsum(r) - r^T @ x1``."""
    def forward(self, x1, x2):
        with no_grad():
            a, b = Tensor._wrap(x1), Tensor._wrap(x2)
            square1 = (a * a).sum(dim=-1, keepdim=True)                        # (..., P, 1)
            square2 = (b * b).sum(dim=-1, keepdim=True).transpose(-1, -2)      # (..., 1, R)
            product = a @ b.transpose(-1, -2)                                  # (..., P, R)
        self.out = run("cdist_mm", _distance_kernel, [square1._data, square2._data, product._data])
        return self.out

    def backward(self, g):
        x1, x2 = self.inputs
        ratio = ops._kernel("cdist_mm_ratio", _ratio_kernel, g, Tensor._wrap(self.out))
        return (x1 * ratio.sum(dim=-1, keepdim=True) - ratio @ x2,
                x2 * ratio.sum(dim=-2, keepdim=True).transpose(-1, -2) - ratio.transpose(-1, -2) @ x1)


# ------------------------------------------------------------------ every pair's difference

def _norm_terms(d, k, p):
    """The reduction over ``k`` of the differences ``d`` before the root of the
    ``p``-norm (``p=0``: their count, ``inf``: the largest)."""
    if p == math.inf:
        return te.max(te.abs(d), axis=k)
    if p == 0:
        return te.sum((d != _zero(d.dtype)).astype(d.dtype), axis=k)
    if p == 1:
        return te.sum(te.abs(d), axis=k)
    if p == 2:
        return te.sum(d * d, axis=k)
    return te.sum(te.power(te.abs(d), te.const(p, d.dtype)), axis=k)


def _rooted(total, p, name):
    """``total`` (of :func:`_norm_terms`) taken to the power ``1 / p``, as a stage."""
    if p in (0, 1, math.inf):
        return total
    root = te.sqrt if p == 2 else (lambda s: te.power(s, te.const(1.0 / p, total.dtype)))
    return te.compute(total.shape, lambda *i: root(total[i]), name=name, tag="elemwise")


def _pairwise_kernel(x1, x2, *, p):
    """``dist[..., i, j]``: the ``p``-norm of ``x1[..., i, :] - x2[..., j, :]``."""
    *batch, rows, cols = x1.shape
    k = te.reduce_axis((0, cols), name="k")
    total = te.compute(tuple(batch) + (rows, x2.shape[-2]), lambda *i: _norm_terms(
        x1[i[:-1] + (k,)] - x2[i[:-2] + (i[-1], k)], k, p), name="cdist.sum", tag="reduce")
    return _rooted(total, p, "cdist")


def _sign(d):
    one = te.const(1, d.dtype)
    return te.if_then_else(d > _zero(d.dtype), one, te.if_then_else(d < _zero(d.dtype), -one, _zero(d.dtype)))


def _term(p, d, g, dist):
    """PyTorch's ``_cdist_backward`` term of one difference ``d`` (of the input's row
    minus the other's) to the input's gradient, for the pair's distance ``dist`` and
    its gradient ``g``."""
    zero, dtype = _zero(d.dtype), d.dtype
    nonzero = dist != zero
    safe = te.if_then_else(nonzero, dist, te.const(1, dtype))
    if p == 1:
        return g * _sign(d)
    if p == math.inf:
        reaches = te.const(1, dtype) - te.min(te.const(1, dtype), te.ceil(te.abs(te.abs(d) - dist)))
        return g * _sign(d) * reaches
    if p == 2:
        return te.if_then_else(nonzero, g * d / safe, zero)
    down = te.const(p - 1, dtype)
    if p < 2:
        value = _sign(d) * te.power(te.abs(d), down) * g / te.power(safe, down)
        dropped = ~nonzero | (d == zero) if p < 1 else ~nonzero
        return te.if_then_else(dropped, zero, value)
    value = d * te.power(te.abs(d), te.const(p - 2, dtype)) * g / te.power(safe, down)
    return te.if_then_else(nonzero, value, zero)


def _pairwise_grad_kernel(x, other, g, dist, *, p, first):
    """The gradient of ``x`` (x1 when ``first``, else x2): for each of its elements the
    sum over the other's rows of :func:`_term`."""
    *batch, rows, cols = x.shape
    r = te.reduce_axis((0, other.shape[-2]), name="r")

    def body(*i):
        lead, row, col = i[:-2], i[-2], i[-1]
        pair = lead + ((row, r) if first else (r, row))
        return te.sum(_term(p, x[i] - other[lead + (r, col)], g[pair], dist[pair]), axis=r)
    return te.compute(tuple(batch) + (rows, cols), body, name="cdist_grad", tag="reduce")


class _Pairwise(Function):
    """The ``p``-norm distance of every row pair from its differences (rows of one
    batch shape), one reduction kernel; PyTorch's gradient, one reduction per input."""
    def forward(self, x1, x2):
        self.out = run("cdist", _pairwise_kernel, [x1, x2], attrs=(("p", self.p),))
        return self.out

    def backward(self, g):
        x1, x2 = self.inputs
        if self.p == 0:
            return x1 * 0.0, x2 * 0.0
        dist = Tensor._wrap(self.out)
        return tuple(ops._kernel("cdist_grad", _pairwise_grad_kernel, x, other, g, dist, p=self.p, first=first)
                     for x, other, first in ((x1, x2, True), (x2, x1, False)))


# ------------------------------------------------------------------ pdist: the pairs i < j only

def _pair_offset(i, n):
    """Position of pair ``(i, i + 1)`` among the pairs ``i < j`` of ``n`` rows in
    row-major order (int32 expressions; ``i (2n - i - 1)`` is even)."""
    return te.floordiv(i * (2 * n - i - 1), 2)


def _pair_row(k, n):
    """The first row ``i`` of pair ``k`` (the second is ``k - offset(i) + i + 1``): the
    root of ``offset(i) = k`` in float64, corrected by one either way with exact integer
    tests, kept inside ``[0, n - 2]``."""
    b = float(2 * n - 1)
    guess = te.floor((te.const(b, "float64") - te.sqrt(te.const(b * b, "float64") - k.astype("float64") * 8.0))
                     * 0.5).astype("int32")
    one, zero = te.const(1, "int32"), te.const(0, "int32")
    i = guess + te.if_then_else(_pair_offset(guess + 1, n) <= k, one, zero) - \
        te.if_then_else(_pair_offset(guess, n) > k, one, zero)
    return te.min(te.max(i, zero), te.const(n - 2, "int32"))


def _pdist_kernel(x, *, p):
    """``dist[k]``: the ``p``-norm of ``x[i] - x[j]`` for the ``k``-th pair ``i < j``.
    The pairs' first rows are a stage of their own (computed whole, in vectors, before
    the reduction), so the root that finds them is not recomputed inside it."""
    n, cols = (int(e.value) for e in x.shape)
    pairs = n * (n - 1) // 2
    first = te.compute((pairs,), lambda k: _pair_row(k, n), name="pdist.row", tag=MATERIALIZED)
    c = te.reduce_axis((0, cols), name="c")

    def term(k):
        i = first[k]
        j = k - _pair_offset(i, n) + i + 1
        return _norm_terms(x[i, c] - x[j, c], c, p)
    total = te.compute((pairs,), term, name="pdist.sum", tag="reduce")
    return _rooted(total, p, "pdist")


def _square_kernel(values, *, n, mirror):
    """The (n, n) matrix of the pairs' ``values`` above the diagonal, and below it the
    same (``mirror``) or zeros; zeros on the diagonal."""
    zero = _zero(values.dtype)

    def at(i, j):
        low, high = te.min(i, j), te.max(i, j)
        kept = (i != j) if mirror else (i < j)
        pos = te.min(_pair_offset(low, n) + high - low - 1, te.const(n * (n - 1) // 2 - 1, "int32"))
        return te.if_then_else(kept, values[te.max(pos, te.const(0, "int32"))], zero)
    return te.compute((n, n), at, name="pdist_square", tag="injective")


class _PairDistances(Function):
    """``pdist``: the distance of every pair of rows ``i < j``, one reduction kernel
    over the pairs (no square matrix, no index). The gradient is that of
    ``cdist(x, x)`` at the upper triangle: the pairs' gradients and distances laid out
    as (n, n) matrices, then cdist's reductions for both sides."""
    def forward(self, x):
        self.out = run("pdist", _pdist_kernel, [x], attrs=(("p", self.p),))
        return self.out

    def backward(self, g):
        (x,) = self.inputs
        if self.p == 0:
            return (x * 0.0,)
        n = x.shape[0]
        head = ops._kernel("pdist_square", _square_kernel, g, n=n, mirror=False)
        dist = ops._kernel("pdist_square", _square_kernel, Tensor._wrap(self.out), n=n, mirror=True)
        first, second = (ops._kernel("cdist_grad", _pairwise_grad_kernel, x, x, head, dist, p=self.p, first=side)
                         for side in (True, False))
        return (first + second,)


def pair_distances(x, p):
    """The ``p``-norm distances of the pairs ``i < j`` of rows of the 2-D float ``x``
    (at least two rows and one column; checked by ``pdist``), row-major."""
    return _PairDistances.apply(x, p=float(p))


# ------------------------------------------------------------------ the function

def _check(x1, x2, p, compute_mode):
    for name, t in (("x1", x1), ("x2", x2)):
        if not isinstance(t, Tensor):
            raise DTypeError(f"cdist: {name} must be a Tensor, got {type(t).__name__}")
        if not t.dtype.startswith("float"):
            raise DTypeError(f"cdist: needs floating-point tensors, got {name} {t.dtype} of shape {t.shape}")
        if t.ndim < 2:
            raise ShapeError(f"cdist: {name} must have at least 2 dimensions, got shape {t.shape}")
    if x1.shape[-1] != x2.shape[-1]:
        raise ShapeError(f"cdist: x1 of shape {x1.shape} and x2 of shape {x2.shape} must have the same number of "
                         "columns")
    if x1.dtype != x2.dtype:
        raise DTypeError(f"cdist: x1 ({x1.dtype}) and x2 ({x2.dtype}) must have the same dtype")
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or math.isnan(p):
        raise ArgumentError(f"cdist: p must be a number (inf included), got {p!r}")
    if p < 0:
        raise ArgumentError(f"cdist: only supports non-negative p, got {p}")
    if compute_mode is not None and compute_mode not in CDIST_MODES:
        raise ArgumentError(f"cdist: compute_mode must be None or one of {', '.join(CDIST_MODES)}, "
                            f"got {compute_mode!r}")
    ops.check_device("cdist", x1, x2)


def cdist(x1, x2, p=2.0, compute_mode=None):
    """The ``p``-norm distance between each row of ``x1`` (..., P, M) and each row of
    ``x2`` (..., R, M): shape (..., P, R), batch axes broadcast. ``compute_mode`` (one of
    :data:`CDIST_MODES`) picks, for ``p=2`` only, as PyTorch's: the matrix product when
    asked or when either side has more than 25 rows, else every pair's difference."""
    _check(x1, x2, p, compute_mode)
    p = float(p)
    batch = ops.broadcast_shapes("cdist", x1.shape[:-2], x2.shape[:-2])
    x1 = ops.broadcast_to(x1, batch + x1.shape[-2:])
    x2 = ops.broadcast_to(x2, batch + x2.shape[-2:])
    if not x1.numel() or not x2.numel():                 # no pairs, or pairs of empty rows: 0 apart
        return (x1.unsqueeze(-2) - x2.unsqueeze(-3)).sum(dim=-1) * 0.0
    rows = max(x1.shape[-2], x2.shape[-2])
    if p == 2 and (compute_mode == CDIST_MODES[1] or compute_mode in (None, CDIST_MODES[0]) and rows > CDIST_MM_ROWS):
        return _EuclideanByProduct.apply(x1, x2)
    return _Pairwise.apply(x1, x2, p=p)
