"""Scans along one axis: ``cumsum`` and ``cumprod`` (inclusive, forward or reversed),
``cumprod_grad``, and :func:`running`, the same scan under any :class:`Monoid` (the
running maximum and minimum of ``topi.cumulative``).

te has no scan primitive (``te.scan`` is one of the TVM features tvmini refuses), so a
scan is written as reductions. A row of ``n < BLOCKED_MIN`` (64) elements is one:
element ``i`` of ``cumsum`` is ``te.sum(x[k], axis=k, where=k <= i)`` over a reduce
axis ``k`` of extent ``n``, ``O(n^2)`` work per row against a sequential scan's
``O(n)``. A longer row (of constant extent) is cut into ``nb`` blocks of
``SCAN_BLOCK`` (8; the last one shorter) and scanned in three reductions: each
block's total, each block's carry (the exclusive scan of the totals: a masked sum
while they are fewer than 64, else the same blocked scan of the totals, shifted),
and each element's sum inside its block up to it; the output adds the carry. That is
about ten operations per element at every length (1024x1024 along the outer axis:
0.25 ms on 2 cores; with blocks of ~sqrt(n), the first version, 1.25 ms). In
exchange for the extra work, every output element is an independent
reduction, so rows and elements run in parallel and on the GPU like any other
reduction, with every schedule and target as they are. What the default CPU
schedule makes of it (``schedule_cpu``'s "reduce" rule):

* scanning a non-innermost axis: the lowering turns ``where=k <= i`` into the loop
  bound ``for k in range(i + 1)`` (``range(min(b, ...))`` inside a block), and the
  inner loop runs over the contiguous innermost axis (vector lanes of outputs);
* scanning the innermost axis in blocks (``schedule_cpu.schedule_scan_last``): one
  parallel loop over rows computes each row's stages in turn; the in-block scans
  (their mask a select on the term, ``WITHIN_TAG``) run a block's elements as vector
  lanes, one input element added per step, and a block's total is read from its
  in-block scan (the same terms in the same order): 1024x1024 float32 along rows,
  2 cores, 2.2 -> 0.3 ms (one core: 0.67 ms);
* a short row along the innermost axis (one reduction): its lanes of partial sums are
  ``rfactor``-ed when its extent splits into vector lanes, the condition a lane mask.

Conditions only mask terms (and a block's end is masked at ``n``), so the
definitions need no special case for any extent: 1 (each element is its own
prefix), 0 (an empty output), or a last block shorter than the others. Integer and bool inputs accumulate in ``dtype``
(default: the input's, bool counted as int32 as ``topi.sum`` does); the graph layer
passes int64 for PyTorch's rule.
"""
from .. import te
from ..errors import DTypeError, ShapeError, TVMiniError
from ..tir import dtype as dt
from ..tir import expr as E
from .broadcast import shape_str

__all__ = ["cumsum", "cumprod", "cumprod_grad", "running"]


def _check(x, op):
    if not isinstance(x, te.Tensor):
        raise TVMiniError(f"{op}: expects a te tensor, got {type(x).__name__} {x!r}")


def scan_axis(x, axis, op):
    """``axis`` of ``x`` as a non-negative int (ShapeError naming ``op`` otherwise)."""
    if isinstance(axis, bool) or not isinstance(axis, int) or not -x.ndim <= axis < max(x.ndim, 1):
        raise ShapeError(f"{op}: axis {axis!r} is out of range for {x.name} of shape {shape_str(x.shape)}")
    if not x.ndim:
        raise ShapeError(f"{op}: {x.name} is 0-d; scan a tensor with an axis (reshape it to (1,))")
    return axis % x.ndim


def _accumulate_dtype(x, dtype):
    if dtype is not None:
        return dt.canonical(dtype)
    return "int32" if dt.is_bool(x.dtype) else x.dtype


def _at(idx, axis, value):
    """The index tuple ``idx`` with position ``axis`` replaced by ``value``."""
    idx = list(idx)
    idx[axis] = value
    return tuple(idx)


#: Rows of at least this many elements are scanned in blocks (see :func:`_blocked`).
BLOCKED_MIN = 64


class Monoid:
    """An associative operation a scan runs: ``reducer`` (the te reduction), ``combine``
    (its elementwise form, joining a carry and a partial scan) and ``identity(dtype)``
    (the value a masked-out term takes, which changes no result)."""

    def __init__(self, reducer, combine, identity):
        self.reducer, self.combine, self.identity = reducer, combine, identity


SUM = Monoid(te.sum, lambda p, q: p + q, lambda dtype: te.const(0, dtype))
PROD = Monoid(te.prod, lambda p, q: p * q, lambda dtype: te.const(1, dtype))
#: running extremes (``cummax``/``cummin``): NaN-propagating, -inf (+inf) or the
#: integer type's lowest (highest) value as identity
MAX = Monoid(te.max, te.max, E.min_value)
MIN = Monoid(te.min, te.min, E.max_value)


def _scan(x, axis, dtype, reverse, monoid, op):
    _check(x, op)
    axis = scan_axis(x, axis, op)
    dtype = _accumulate_dtype(x, dtype)
    n = x.shape[axis]
    if isinstance(n, E.Const) and n.value >= BLOCKED_MIN:
        return _blocked(x, axis, dtype, reverse, monoid, op, n.value)
    k = te.reduce_axis((0, n), name="k")

    def body(*i):
        inside = k.var >= i[axis] if reverse else k.var <= i[axis]
        return monoid.reducer(x[_at(i, axis, k.var)].astype(dtype), axis=k, where=inside)
    return te.compute(x.shape, body, name=op, tag="reduce")


def running(x, axis, monoid, op, reverse=False):
    """The inclusive scan of ``x`` along ``axis`` under ``monoid`` (:data:`MAX`,
    :data:`MIN`, or any :class:`Monoid`) in ``x``'s dtype, blocked as :func:`cumsum`;
    its stages are named after ``op``."""
    return _scan(x, axis, x.dtype, reverse, monoid, op)


#: Elements per block of a blocked scan (see :func:`_blocked`).
SCAN_BLOCK = 8
#: Tags of a blocked scan along the innermost axis: the in-block scans and the output
#: (``attrs["block"]``: the block); the CPU rule (``schedule_cpu.schedule_scan_last``)
#: runs a row's stages inside one parallel loop over rows, vector lanes across a block.
WITHIN_TAG, LAST_TAG = "scan_within", "scan_last"


def _blocked(x, axis, dtype, reverse, monoid, op, n):
    """The scan of rows of ``n`` elements cut into blocks of ``SCAN_BLOCK`` (the last one
    shorter): each block's total; the exclusive scan of the totals (its carry: the
    blocks before it, after it when ``reverse``), itself blocked while the totals are
    many; for each element the scan inside its block, combined with its block's carry.
    About ``SCAN_BLOCK + 2`` operations per element at every length, each stage still a
    reduction masked by a condition (te has no sequential scan)."""
    b = SCAN_BLOCK
    nb = -(-n // b)
    blocks = _at(x.shape, axis, nb)
    last = axis == x.ndim - 1
    u = te.reduce_axis((0, b), name="u")
    reducer, identity = monoid.reducer, monoid.identity(dtype)

    def inner(*i):
        pos = i[axis] // b * b + u.var
        inside = (pos >= i[axis]) & (pos < n) if reverse else pos <= i[axis]
        term = x[_at(i, axis, pos)].astype(dtype)
        if last:
            # the mask on the term, not the step: the CPU rule's vector lanes select
            # instead of guarding each step (the identity changes no sum or product)
            return reducer(te.if_then_else(inside, term, identity), axis=u)
        return reducer(term, axis=u, where=inside)
    within = te.compute(x.shape, inner, name=f"{op}.within", tag=WITHIN_TAG if last else "reduce",
                        attrs={"block": b})
    if last:
        # a block's total is its scan at its last element (first, reversed): the
        # same terms summed in the same order
        def total(*i):
            end = i[axis] * b if reverse else te.min(i[axis] * b + b - 1, n - 1)
            return within[_at(i, axis, end)]
        totals = te.compute(blocks, total, name=f"{op}.blocks", tag="injective")
    else:
        t = te.reduce_axis((0, b), name="t")

        def total(*i):
            pos = i[axis] * b + t.var
            return reducer(x[_at(i, axis, pos)].astype(dtype), axis=t, where=pos < n)
        totals = te.compute(blocks, total, name=f"{op}.blocks", tag="reduce")
    carry = _exclusive(totals, axis, dtype, reverse, monoid, op, nb)
    return te.compute(x.shape, lambda *i: monoid.combine(carry[_at(i, axis, i[axis] // b)], within[i]), name=op,
                      tag=LAST_TAG if last else "broadcast", attrs={"block": b})


def _exclusive(totals, axis, dtype, reverse, monoid, op, nb):
    """The exclusive scan of the ``nb`` block totals along ``axis``: a masked reduction
    over the blocks when they are few, else the inclusive blocked scan shifted by one
    (the first block's carry the reducer's identity)."""
    if nb < BLOCKED_MIN:
        c = te.reduce_axis((0, nb), name="c")
        return te.compute(totals.shape, lambda *i: monoid.reducer(totals[_at(i, axis, c.var)], axis=c,
                                                           where=c.var > i[axis] if reverse else c.var < i[axis]),
                          name=f"{op}.carry", tag="reduce")
    inclusive = _blocked(totals, axis, dtype, reverse, monoid, f"{op}.totals", nb)
    identity = monoid.identity(dtype)
    edge, step = (nb - 1, 1) if reverse else (0, -1)
    return te.compute(totals.shape, lambda *i: te.if_then_else(
        i[axis] == edge, identity, inclusive[_at(i, axis, te.min(te.max(i[axis] + step, 0), nb - 1))]),
        name=f"{op}.carry", tag="injective")


def cumsum(x, axis, dtype=None, reverse=False):
    """Inclusive prefix sums along ``axis``: ``out[..., i, ...] = sum(x[..., :i+1, ...])``
    (``reverse``: the suffix sums ``sum(x[..., i:, ...])``), accumulated in ``dtype``
    (default ``x``'s; bool as int32): reductions masked to ``k <= i``, see the module
    docstring."""
    return _scan(x, axis, dtype, reverse, SUM, "cumsum")


def cumprod(x, axis, dtype=None, reverse=False):
    """Inclusive prefix products along ``axis`` (``reverse``: suffix products), in
    ``dtype`` (default ``x``'s; bool as int32); computed as :func:`cumsum`."""
    return _scan(x, axis, dtype, reverse, PROD, "cumprod")


def cumprod_grad(x, out, grad, axis):
    """The gradient of ``out = cumprod(x, axis)`` given ``grad`` (``out``'s gradient),
    exact where ``x`` holds zeros (PyTorch's rule).

    ``d out[i] / d x[k]`` is the product of ``x[j]`` over ``j <= i, j != k`` (for
    ``i >= k``). Along each row, with ``z`` the position of the first zero (``n`` when
    there is none):

    * ``k < z``: ``x[k] != 0`` and every product over ``j <= i`` that includes a zero is
      0, so the gradient is ``sum_{i >= k} grad[i] out[i] / x[k]`` (PyTorch's formula
      without zeros: a reversed cumsum of ``grad * out``, divided by ``x``);
    * ``k == z``: ``sum_{i >= z} grad[i] cumprod(x')[i]`` with ``x'`` the row with
      ``x[z]`` replaced by 1 (no division by the zero);
    * ``k > z``: 0 (each product keeps the zero at ``z``).

    Stages: the first zero per row, ``cumprod(x')``, the reversed cumsum and the sum
    at ``z``: reductions of ``O(n)`` work per row, and two scans.
    """
    for t in (x, out, grad):
        _check(t, "cumprod_grad")
    axis = scan_axis(x, axis, "cumprod_grad")
    if not dt.is_float(x.dtype) or out.dtype != x.dtype or grad.dtype != x.dtype:
        raise DTypeError(f"cumprod_grad: x {x.name}, out {out.name} and grad {grad.name} must share one float dtype, "
                         f"got {x.dtype}, {out.dtype} and {grad.dtype}")
    if len(out.shape) != x.ndim or len(grad.shape) != x.ndim:
        raise ShapeError(f"cumprod_grad: x {shape_str(x.shape)}, out {shape_str(out.shape)} and grad "
                         f"{shape_str(grad.shape)} must have one shape")
    n = x.shape[axis]
    rows = [e for a, e in enumerate(x.shape) if a != axis]
    zero, one = E.const(0, x.dtype), E.const(1, x.dtype)

    def full(row, position):
        return tuple(row[:axis]) + (position,) + tuple(row[axis:])

    kz = te.reduce_axis((0, n), name="kz")
    first_zero = te.compute(rows, lambda *r: te.min(
        te.if_then_else(x[full(r, kz.var)] == zero, kz.var, n), axis=kz), name="cumprod_grad.first_zero",
        tag="reduce")

    def drop_zero(*i):
        row = i[:axis] + i[axis + 1:]
        return te.if_then_else(i[axis] == first_zero[row], one, x[i])
    x_after = te.compute(x.shape, drop_zero, name="cumprod_grad.without_zero", tag="broadcast")
    after = cumprod(x_after, axis)
    weighted = te.compute(x.shape, lambda *i: grad[i] * out[i], name="cumprod_grad.weighted", tag="elemwise")
    suffix = cumsum(weighted, axis, reverse=True)
    kt = te.reduce_axis((0, n), name="kt")
    at_zero = te.compute(rows, lambda *r: te.sum(grad[full(r, kt.var)] * after[full(r, kt.var)], axis=kt,
                                                 where=kt.var >= first_zero[r]), name="cumprod_grad.at_zero",
                         tag="reduce")

    def value(*i):
        row = i[:axis] + i[axis + 1:]
        z = first_zero[row]
        return te.if_then_else(i[axis] < z, suffix[i] / x[i], te.if_then_else(i[axis] == z, at_zero[row], zero))
    return te.compute(x.shape, value, name="cumprod_grad", tag="broadcast")
