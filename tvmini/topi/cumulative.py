"""Running extremes and running log-sum-exp along one axis (PyTorch's ``cummax``,
``cummin``, ``logcumsumexp``), written as ``topi.scan`` writes its scans: masked
reductions (te has no sequential scan), blocked for long lines (:func:`_scan`), so
every target computes them with the same code and no carried state.

``cumextreme`` gives the indices (the values are ``x`` gathered there): the running
maximum (minimum), NaN once a NaN has been seen (numpy's and PyTorch's propagation),
then the last position up to ``i`` holding that value (a NaN: the last NaN), PyTorch's
index. ``logcumsumexp`` reduces with ``log(exp(a) + exp(b))`` written stably
(``max + log1p(exp(-|a - b|))``), so no ``exp`` overflows whatever the values.
"""
import math

from .. import te
from ..tir import dtype as dt
from ..tir import expr as E
from ..errors import ShapeError, TVMiniError
from .broadcast import shape_str


def _check(x, op):
    if not isinstance(x, te.Tensor):
        raise TVMiniError(f"{op}: expects a te tensor, got {type(x).__name__}")


def _axis(x, axis, op):
    """``axis`` of ``x`` as a non-negative int (a ShapeError naming ``op`` otherwise)."""
    if isinstance(axis, bool) or not isinstance(axis, int) or not -x.ndim <= axis < x.ndim:
        raise ShapeError(f"{op}: axis {axis!r} is out of range for {x.name} of shape {shape_str(x.shape)}")
    return axis % x.ndim


def _at(idx, axis, value):
    """The index tuple ``idx`` with position ``axis`` replaced by ``value``."""
    return tuple(idx[:axis]) + (value,) + tuple(idx[axis + 1:])

__all__ = ["cumextreme", "logcumsumexp"]


def _same(a, b, is_float):
    """``a == b``, a NaN equal to a NaN."""
    return te.any(a == b, te.all(te.isnan(a), te.isnan(b))) if is_float else a == b


#: Lines shorter than this are scanned by one masked reduction per output.
BLOCKED_MIN = 32


def _scan(x, axis, reducer, combine, reverse, name):
    """The inclusive scan of ``x`` along ``axis`` under ``reducer`` (a te reduction;
    ``combine`` its elementwise form). A line of ``n`` elements is cut into blocks of
    about ``sqrt(n)``: each element reduces the elements of its own block up to it,
    each block the totals of the blocks before it (its carry), and the two are
    combined: about ``2 sqrt(n)`` operations per element instead of ``n`` (te has no
    sequential scan: every stage is a reduction masked by a condition)."""
    n = x.shape[axis]
    length = n.value if isinstance(n, E.Const) else None
    if length is None or length < BLOCKED_MIN:
        k = te.reduce_axis((0, n), name="k")
        return te.compute(x.shape, lambda *i: reducer(x[_at(i, axis, k.var)], axis=k, where=(
            k.var >= i[axis] if reverse else k.var <= i[axis])), name=name, tag="reduce")
    b = int(math.ceil(math.sqrt(length)))
    nb = -(-length // b)
    t = te.reduce_axis((0, b), name="t")

    def total(*i):
        pos = i[axis] * b + t.var
        return reducer(x[_at(i, axis, pos)], axis=t, where=pos < length)
    totals = te.compute(_at(x.shape, axis, nb), total, name=f"{name}.blocks", tag="reduce")
    c = te.reduce_axis((0, nb), name="c")
    carry = te.compute(totals.shape, lambda *i: reducer(totals[_at(i, axis, c.var)], axis=c, where=(
        c.var > i[axis] if reverse else c.var < i[axis])), name=f"{name}.carry", tag="reduce")
    u = te.reduce_axis((0, b), name="u")

    def within(*i):
        pos = i[axis] // b * b + u.var
        inside = te.all(pos >= i[axis], pos < length) if reverse else pos <= i[axis]
        return reducer(x[_at(i, axis, pos)], axis=u, where=inside)
    inner = te.compute(x.shape, within, name=f"{name}.within", tag="reduce")
    return te.compute(x.shape, lambda *i: combine(carry[_at(i, axis, i[axis] // b)], inner[i]), name=name,
                      tag="broadcast")


def cumextreme(x, axis, largest=True, dtype="int64"):
    """The indices of the running maximum (``largest``) or minimum along ``axis``: at
    ``i`` the last ``k <= i`` where ``x[k]`` equals the extreme ``v[i]`` of the line's
    ``x[:i+1]``. The running extreme never goes back, so that ``k`` is the last position
    up to ``i`` where ``x[k]`` reached the running extreme of its own time: the
    running maximum of ``k if x[k] == v[k] else -1`` (two scans)."""
    op = "cummax" if largest else "cummin"
    _check(x, op)
    axis = _axis(x, axis, op)
    reducer, combine = (te.max, te.max) if largest else (te.min, te.min)
    values = _scan(x, axis, reducer, combine, False, f"{op}_values")
    is_float = dt.is_float(x.dtype)
    reached = te.compute(x.shape, lambda *i: te.if_then_else(_same(x[i], values[i], is_float),
                                                             i[axis].astype(dtype), E.const(-1, dtype)),
                         name=f"{op}_reached", tag="injective")
    return _scan(reached, axis, te.max, te.max, False, f"{op}_indices")


def _log_add_exp(a, b):
    """``log(exp(a) + exp(b))`` without overflow; -inf is the identity (-inf with -inf
    gives -inf, not the NaN of ``-inf - -inf``)."""
    top = te.max(a, b)
    low = te.min(a, b)
    inf = E.const(float("inf"), a.dtype)
    return te.if_then_else(low == -inf, top,
                           te.if_then_else(top == inf, top, top + te.log1p(te.exp(low - top))))


_LOG_ADD_EXP = te.comm_reducer(_log_add_exp, lambda dtype: E.const(float("-inf"), dtype), name="logaddexp")


def logcumsumexp(x, axis, reverse=False):
    """``log(cumsum(exp(x)))`` along ``axis`` (a float ``x``), stably; ``reverse`` sums
    from the end of the line instead."""
    _check(x, "logcumsumexp")
    axis = _axis(x, axis, "logcumsumexp")
    return _scan(x, axis, _LOG_ADD_EXP, _log_add_exp, reverse, "logcumsumexp")
