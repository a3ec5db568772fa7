"""Running extremes and running log-sum-exp along one axis (PyTorch's ``cummax``,
``cummin``, ``logcumsumexp``), written as ``topi.scan`` writes its scans: output
``i`` is a reduction over the positions ``k <= i`` of its line (a ``where``
condition), so every target computes it with the same code and no carried state.

``cumextreme`` is two reductions, as ``topi.argmax``: the running maximum (minimum),
NaN once a NaN has been seen (numpy's and PyTorch's propagation), then the last
position up to ``i`` holding that value (a NaN: the last NaN) — PyTorch's index.
``logcumsumexp`` reduces with ``log(exp(a) + exp(b))`` written stably
(``max + log1p(exp(-|a - b|))``), so no ``exp`` overflows whatever the values.
"""
from .. import te
from ..tir import dtype as dt
from ..tir import expr as E
from .scan import _at, _check, scan_axis

__all__ = ["cumextreme", "logcumsumexp"]


def _same(a, b, is_float):
    """``a == b``, a NaN equal to a NaN."""
    return te.any(a == b, te.all(te.isnan(a), te.isnan(b))) if is_float else a == b


def cumextreme(x, axis, largest=True, dtype="int64"):
    """(values, indices) of the running maximum (``largest``) or minimum along ``axis``:
    ``values[i]`` the extreme of the line's ``x[k]`` for ``k <= i``, ``indices[i]`` the
    last such ``k`` where ``x[k]`` equals it."""
    op = "cummax" if largest else "cummin"
    _check(x, op)
    axis = scan_axis(x, axis, op)
    n = x.shape[axis]
    k = te.reduce_axis((0, n), name="k")
    reducer = te.max if largest else te.min
    values = te.compute(x.shape, lambda *i: reducer(x[_at(i, axis, k.var)], axis=k, where=k.var <= i[axis]),
                        name=f"{op}_values", tag="reduce")
    j = te.reduce_axis((0, n), name="j")
    is_float = dt.is_float(x.dtype)

    def last(*i):
        hit = te.all(j.var <= i[axis], _same(x[_at(i, axis, j.var)], values[i], is_float))
        return te.max(te.if_then_else(hit, j.var.astype(dtype), E.const(0, dtype)), axis=j)
    indices = te.compute(x.shape, last, name=f"{op}_indices", tag="reduce")
    return [values, indices]


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
    axis = scan_axis(x, axis, "logcumsumexp")
    k = te.reduce_axis((0, x.shape[axis]), name="k")

    def body(*i):
        inside = k.var >= i[axis] if reverse else k.var <= i[axis]
        return _LOG_ADD_EXP(x[_at(i, axis, k.var)], axis=k, where=inside)
    return te.compute(x.shape, body, name="logcumsumexp", tag="reduce")
