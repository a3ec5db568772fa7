"""The kernels of the dense solvers and factorizations (``tm.linalg.lu_factor``,
``solve``, ``inv``, ``det``, ``cholesky``, ``solve_triangular``): LU with partial
pivoting, Cholesky, and forward/back substitution, on batches of matrices laid out
(B, n, n) (right-hand sides (B, n, m)); the batch axis is an ordinary axis of every
compute, so matrices run in parallel.

te has no loop-carried state, so each algorithm is written as its step: a kernel that
takes the matrix after steps ``0 .. k-1`` and the step ``k`` as a runtime scalar and
returns the matrix after step ``k`` (one build serves every step of a shape). What a
step's update reads away from the element it writes (the pivot row, the column of
multipliers, row ``k`` before the swap) is gathered into a small stage first, so the
kernel may write its matrix in place (``tvmini.lower.inplace``'s rule). A step past
the last one returns its input unchanged, and every index read from data (a pivot
row) or derived from ``k`` is clamped into its axis, so no step reads outside a
buffer. (:func:`pivots_to_perm`, a few instructions per row, runs ``count`` steps per
kernel, each a stage of its own.)

* :func:`lu_step`: step ``k`` of right-looking LU (LAPACK's ``getf2``): the pivot is
  the first row ``p >= k`` of largest ``|a[p, k]|``; rows ``k`` and ``p`` swap, the
  entries below the diagonal of column ``k`` become the multipliers ``a[i, k] /
  a[p, k]`` and the trailing block takes the rank-1 update. A zero pivot (a singular
  matrix) skips the division as LAPACK does (the column below it is zero then). The
  pivots are LAPACK's and PyTorch's: 1-based, ``pivots[k] = p + 1``.
* :func:`cholesky_step`: step ``k`` of right-looking Cholesky on the lower triangle
  (the upper one is never read for it): ``l[k, k] = sqrt(a[k, k])``, the column below
  divided by it, the trailing block updated; ``info`` (B,) keeps ``k + 1`` of the first
  step whose ``a[k, k]`` is not positive (PyTorch's ``info``: the leading minor of that
  order is not positive-definite). :func:`cholesky_panel_step` is the same step on a
  panel of columns of the matrix (the blocked Cholesky of ``topi.linalg_blocked``).
* :func:`trsm_step`: step ``i`` of column-oriented substitution for ``T x = b`` (T
  lower or upper triangular, unit diagonal or not): row ``i`` of ``x``, holding ``b[i]``
  minus the contributions of the rows solved before it, is final once divided by
  ``T[i, i]``; every row still to solve (``r > i`` lower, ``r < i`` upper) subtracts
  ``T[r, i]`` times it. ``x`` starts as ``b``. Each step is an elementwise update
  along the contiguous columns of ``x`` (a row-oriented step, a dot product down a
  column of ``x`` per output, strides through memory).
* :func:`pivots_to_perm` runs the pivots' row swaps on the identity permutation
  (``perm[i]``: the row of ``A`` that is row ``i`` of ``L U``); :func:`permute_rows`,
  :func:`inverse_perm` and :func:`perm_matrix` use it; :func:`pivots_sign` is the
  permutation's sign (one transposition per pivot that moves a row), and
  :func:`lu_info` finds the first exactly-zero diagonal entry of ``U`` (getrf's info).
"""
from .. import te
from ..errors import DTypeError, ShapeError
from ..tir import expr as E
from .schedule import MATERIALIZED
from .transform import _check

__all__ = ["lu_step", "cholesky_step", "cholesky_panel_step", "trsm_step", "pivots_to_perm", "permute_rows",
           "inverse_perm", "perm_matrix", "pivots_sign", "lu_info"]


def _extent(x, axis):
    extent = x.shape[axis]
    if not isinstance(extent, E.Const):
        raise ShapeError(f"{x.name}: the linalg kernels need constant shapes, got {x.shape}")
    return int(extent.value)


def _square(a, op):
    _check(a, op)
    if len(a.shape) != 3 or _extent(a, 1) != _extent(a, 2):
        raise ShapeError(f"{op}: expects a batch of square matrices (B, n, n), got {a.name} of shape {a.shape}")
    if not a.dtype.startswith("float"):
        raise DTypeError(f"{op}: expects floating-point matrices, got {a.name} of dtype {a.dtype}")
    return _extent(a, 1)


def _clamp(i, n):
    return te.min(te.max(i, 0), n - 1)


def _step_tag(k, count):
    """Tag of step ``k`` of ``count``: intermediate steps are materialized (never inlined
    into the next step, which reads each of their elements several times)."""
    return "injective" if k == count - 1 else MATERIALIZED


# ------------------------------------------------------------------------------- LU

def _lu_step(a, pivots, k, name):
    n = _extent(a, 1)
    kk = _clamp(k, n)
    active = k < n
    i = te.reduce_axis((0, n), name="i")
    size = te.compute((a.shape[0],), lambda b: te.max(te.if_then_else(i.var >= kk, te.abs(a[b, i.var, kk]),
                                                                      E.const(-1, a.dtype)), axis=i),
                      name=f"{name}_size", tag="reduce")
    r = te.reduce_axis((0, n), name="r")
    first = te.compute((a.shape[0],), lambda b: te.min(te.if_then_else(
        te.all(r.var >= kk, te.abs(a[b, r.var, kk]) == size[b]), r.var, E.const(n, "int32")), axis=r),
        name=f"{name}_first", tag="reduce")
    # no row matched (a NaN in the column): keep row k, as the steps after it only spread the NaN
    pivot = te.compute((a.shape[0],), lambda b: _clamp(te.if_then_else(first[b] < n, first[b], kk), n),
                       name=f"{name}_pivot", tag=MATERIALIZED)
    zero = E.const(0, a.dtype)
    # the new row k (the pivot row) and each row's multiplier, gathered once: the update
    # below then reads only rows at affine indices, contiguous along the columns
    head_row = te.compute((a.shape[0], n), lambda b, col: a[b, pivot[b], col], name=f"{name}_head_row",
                          tag=MATERIALIZED)

    def multiplier(b, row):
        below = te.if_then_else(row == pivot[b], a[b, kk, kk], a[b, row, kk])
        head = head_row[b, kk]
        return te.if_then_else(head == zero, below, below / head)
    factor = te.compute((a.shape[0], n), multiplier, name=f"{name}_factor", tag=MATERIALIZED)

    old_row = te.compute((a.shape[0], n), lambda b, col: a[b, kk, col], name=f"{name}_old_row", tag=MATERIALIZED)

    def body(b, row, col):
        value = te.if_then_else(row == pivot[b], old_row[b, col], a[b, row, col])
        below = te.if_then_else(col == kk, factor[b, row],
                                te.if_then_else(col > kk, value - factor[b, row] * head_row[b, col], value))
        new = te.if_then_else(row == kk, head_row[b, col], te.if_then_else(row > kk, below, a[b, row, col]))
        return te.if_then_else(active, new, a[b, row, col])
    out = te.compute(a.shape, body, name=name, tag="injective")
    piv = te.compute(pivots.shape, lambda b, m: te.if_then_else(te.all(active, m == kk), pivot[b] + 1, pivots[b, m]),
                     name=f"{name}_pivots", tag="injective")
    return out, piv


def lu_step(a, pivots, k):
    """Step ``k`` of LU with partial pivoting of ``a`` (B, n, n) (the matrix after steps
    ``0 .. k-1``: the multipliers below the diagonal, ``U`` on and above it, in the
    columns before ``k``) and ``pivots`` (B, n) int32 (entries ``< k`` set): returns
    [a, pivots] after it."""
    _square(a, "lu_step")
    _check(pivots, "lu_step")
    return list(_lu_step(a, pivots, k, "lu_step"))


def lu_info(lu):
    """(B,) int32: ``j + 1`` for the first ``j`` with ``U[j, j]`` exactly zero, else 0."""
    n = _square(lu, "lu_info")
    j = te.reduce_axis((0, n), name="j")
    first = te.compute((lu.shape[0],), lambda b: te.min(te.if_then_else(
        lu[b, j.var, j.var] == E.const(0, lu.dtype), j.var + 1, E.const(n + 1, "int32")), axis=j),
        name="lu_first_zero", tag="reduce")
    return te.compute((lu.shape[0],), lambda b: te.if_then_else(first[b] > n, 0, first[b]), name="lu_info",
                      tag="injective")


def _panel(a, state, op):
    """Check a panel (B, m, w) of constant extents and its state tensor."""
    _check(a, op)
    _check(state, op)
    if len(a.shape) != 3 or not a.dtype.startswith("float"):
        raise ShapeError(f"{op}: expects a batch of floating-point panels (B, m, w), got {a.name} of shape "
                         f"{a.shape} and dtype {a.dtype}")
    for axis in (1, 2):
        _extent(a, axis)


# ------------------------------------------------------------------------- Cholesky

def _cholesky_step(a, info, row, col, name):
    """Step of Cholesky on ``a`` (B, m, w): diagonal entry ``a[row, col]`` (both ``k`` for
    a square matrix, ``j + t`` and ``t`` in the panel of columns ``j ..``)."""
    m, w = _extent(a, 1), _extent(a, 2)
    kk, kc = _clamp(row, m), _clamp(col, w)
    active = te.all(row < m, col < w)
    zero = E.const(0, a.dtype)
    # column k of L (the diagonal's root, the entries below divided by it), once: the
    # update reads it along both axes and divides nothing
    root = te.compute((a.shape[0],), lambda b: te.sqrt(a[b, kk, kc]), name=f"{name}_root", tag=MATERIALIZED)
    column = te.compute((a.shape[0], m), lambda b, r: te.if_then_else(r == kk, root[b], a[b, r, kc] / root[b]),
                        name=f"{name}_column", tag=MATERIALIZED)

    # the entries of the column in the rows of the panel's columns (row j + c for the
    # panel of columns j ..), gathered once: the update reads them contiguously
    across = te.compute((a.shape[0], w), lambda b, c: column[b, _clamp(c - kc + kk, m)], name=f"{name}_across",
                        tag=MATERIALIZED)

    def body(b, r, c):
        value = a[b, r, c]
        new = te.if_then_else(te.all(c == kc, r >= kk), column[b, r],
                              te.if_then_else(te.all(r > kk, c > kc), value - column[b, r] * across[b, c], value))
        return te.if_then_else(active, new, value)
    out = te.compute(a.shape, body, name=name, tag="injective")
    failed = te.compute(info.shape, lambda b: te.if_then_else(
        te.all(active, info[b] == 0, ~(root[b] > zero)), kk + 1, info[b]), name=f"{name}_info", tag="injective")
    return out, failed


def cholesky_step(a, info, k):
    """Step ``k`` of the Cholesky factorization of the lower triangle of ``a`` (B, n, n),
    with ``info`` (B,) int32 (0 while every step succeeded): returns [a, info] after
    it. After all ``n`` steps the lower triangle of ``a`` is ``L`` (where ``info`` is 0);
    above it is whatever the updates left there."""
    _square(a, "cholesky_step")
    _check(info, "cholesky_step")
    return list(_cholesky_step(a, info, k, k, "cholesky_step"))


def cholesky_panel_step(panel, info, row, col):
    """Step ``col`` of Cholesky restricted to the panel (B, m, w) of the ``w`` columns
    from ``row - col`` of an m x m matrix (its lower part: rows ``>= row``): the
    column of ``L`` below ``a[row, col]`` and the rank-1 update of the panel's columns
    after it; ``info`` (B,) as :func:`cholesky_step`'s, ``row + 1`` at a failure."""
    _panel(panel, info, "cholesky_panel_step")
    return list(_cholesky_step(panel, info, row, col, "cholesky_panel_step"))


# ---------------------------------------------------------------------- substitution

def _trsm_step(t, x, i, lower, unit, name):
    n = _extent(t, 1)
    ii = _clamp(i, n)
    active = te.all(i >= 0, i < n)
    # row i of the solution, final now; the rows still to solve subtract its multiples
    solved = te.compute((x.shape[0], x.shape[2]), lambda b, c: x[b, ii, c] if unit else x[b, ii, c] / t[b, ii, ii],
                        name=f"{name}_row", tag=MATERIALIZED)

    def body(b, row, c):
        later = (row > ii) if lower else (row < ii)
        value = te.if_then_else(row == ii, solved[b, c],
                                te.if_then_else(later, x[b, row, c] - t[b, row, ii] * solved[b, c], x[b, row, c]))
        return te.if_then_else(active, value, x[b, row, c])
    return te.compute(x.shape, body, name=name, tag="injective")


def trsm_step(t, x, i, lower=True, unit=False):
    """Step ``i`` of the substitution solving ``t x = b`` for triangular ``t`` (B, n, n)
    (only its ``lower`` or upper triangle is read; ``unit``: its diagonal is taken as
    ones), ``x`` (B, n, m) the right-hand sides after the steps before ``i`` (``0 ..
    i-1`` lower, ``n-1 .. i+1`` upper). Returns the new ``x``."""
    n = _square(t, "trsm_step")
    _check(x, "trsm_step")
    if len(x.shape) != 3 or _extent(x, 1) != n or _extent(x, 0) != _extent(t, 0):
        raise ShapeError(f"trsm_step: right-hand sides {x.name} of shape {x.shape} do not match {t.name} of "
                         f"shape {t.shape}")
    return _trsm_step(t, x, i, lower, unit, "trsm_step")


# ---------------------------------------------------------------------- permutations

def _swap_step(perm, pivots, step, n, name, tag):
    kk = _clamp(step, n)
    active = step < n

    def body(b, m):
        p = _clamp(pivots[b, kk].astype("int32") - 1, n)
        swapped = te.if_then_else(m == kk, perm[b, p], te.if_then_else(m == p, perm[b, kk], perm[b, m]))
        return te.if_then_else(active, swapped, perm[b, m])
    return te.compute(perm.shape, body, name=name, tag=tag)


def pivots_to_perm(perm, pivots, k, count=1):
    """The swaps ``k .. k+count-1`` of LAPACK ``pivots`` (B, n) (row ``k`` with row
    ``pivots[k] - 1``) applied to ``perm`` (B, n) int32 (the permutation after swaps
    ``0 .. k-1``; the identity before the first)."""
    _check(perm, "pivots_to_perm")
    _check(pivots, "pivots_to_perm")
    n = _extent(perm, 1)
    for s in range(count):
        perm = _swap_step(perm, pivots, k + s, n, f"perm_step{s}", _step_tag(s, count))
    return perm


def permute_rows(x, perm):
    """``out[b, i, c] = x[b, perm[b, i], c]``: rows of ``x`` (B, n, m) in the order of
    ``perm`` (B, n) (``P^T x`` for ``A = P L U``)."""
    _check(x, "permute_rows")
    _check(perm, "permute_rows")
    n = _extent(x, 1)
    return te.compute(x.shape, lambda b, i, c: x[b, _clamp(perm[b, i], n), c], name="permute_rows",
                      tag="injective")


def inverse_perm(perm):
    """The inverse permutation (B, n) of ``perm``: ``inv[b, perm[b, i]] = i``."""
    _check(perm, "inverse_perm")
    n = _extent(perm, 1)
    i = te.reduce_axis((0, n), name="i")
    return te.compute(perm.shape, lambda b, j: te.sum(te.if_then_else(perm[b, i.var] == j, i.var, 0), axis=i),
                      name="inverse_perm", tag="reduce")


def perm_matrix(perm, dtype="float32"):
    """The permutation matrices ``P`` (B, n, n) of ``A = P L U``: ``P[b, perm[b, c], c] = 1``."""
    _check(perm, "perm_matrix")
    n = _extent(perm, 1)
    one, zero = E.const(1, dtype), E.const(0, dtype)
    return te.compute((perm.shape[0], n, n), lambda b, r, c: te.if_then_else(perm[b, c] == r, one, zero),
                      name="perm_matrix", tag="injective")


def pivots_sign(pivots, dtype="float32"):
    """The sign (B,) of the permutation of LAPACK ``pivots`` (B, n): each ``k`` with
    ``pivots[k] != k + 1`` is one transposition, so the sign is -1 for an odd count."""
    _check(pivots, "pivots_sign")
    n = _extent(pivots, 1)
    k = te.reduce_axis((0, n), name="k")
    swaps = te.compute((pivots.shape[0],), lambda b: te.sum(te.if_then_else(
        pivots[b, k.var].astype("int32") != k.var + 1, 1, 0), axis=k), name="pivot_swaps", tag="reduce")
    one = E.const(1, dtype)
    return te.compute((pivots.shape[0],), lambda b: te.if_then_else(swaps[b] % 2 == 0, one, -one),
                      name="pivots_sign", tag="injective")
