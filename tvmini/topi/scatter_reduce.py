"""PyTorch's ``scatter_reduce``: each ``src`` entry combined, by a reduction, into the
element of ``x`` its index points at along ``axis``.

As the scatters of ``topi.gather`` it is written as a gather over the index, with no
atomics: output element ``j`` reduces the entries of its line of ``index`` that point
at ``j`` (a reduction over the index axis with a ``where`` condition), then combines
the result with ``x[j]`` (``include_self``) or, where nothing points at ``j``, keeps
``x[j]``. Two reductions per output: the matching count (for ``mean`` and to tell
untouched elements apart) and the reduced value.
"""
from .. import te
from ..errors import ShapeError
from ..tir import dtype as dt
from ..tir import expr as E
from .gather import _lines, _scatter_args

__all__ = ["scatter_reduce", "scatter_count"]

#: reduce -> the te reduction over the matching src entries
_REDUCERS = {"sum": te.sum, "mean": te.sum, "prod": te.prod, "amax": te.max, "amin": te.min}


def scatter_count(x, index, axis):
    """int32, of ``x``'s shape: how many ``index`` entries along ``axis`` point at each
    element (``x``'s values are not read)."""
    axis = _scatter_args(x, index, index, axis, "scatter_count")
    r, hit, _ = _lines(index, x.shape, axis, "r")
    one, zero = E.const(1, "int32"), E.const(0, "int32")
    return te.compute(x.shape, lambda *j: te.sum(te.if_then_else(hit(j, r.var), one, zero), axis=r),
                      name="scatter_count", tag="reduce")


def scatter_reduce(x, index, src, axis, reduce, include_self=True):
    """``x`` with the ``src`` entries pointing at each element (``index`` along ``axis``)
    reduced into it by ``reduce`` ("sum", "prod", "mean", "amax", "amin"), counting
    ``x``'s own value as one of them when ``include_self``; elements nothing points at
    keep ``x``'s value. ``mean`` of integers rounds down (PyTorch's)."""
    if reduce not in _REDUCERS:
        raise ShapeError(f"scatter_reduce: reduce must be one of {sorted(_REDUCERS)}, got {reduce!r}")
    axis = _scatter_args(x, index, src, axis, "scatter_reduce")
    count = scatter_count(x, index, axis)
    r, hit, at = _lines(index, x.shape, axis, "q")
    reducer = _REDUCERS[reduce]
    total = te.compute(x.shape, lambda *j: reducer(src[at(j, r.var)], axis=r, where=hit(j, r.var)),
                       name=f"scatter_{reduce}", tag="reduce")
    integral = not dt.is_float(x.dtype)

    def divide(a, n):
        return te.floordiv(a, n.astype(x.dtype)) if integral else a / n.astype(x.dtype)

    def body(*j):
        n, value, own = count[j], total[j], x[j]
        if include_self:
            if reduce in ("sum", "mean"):
                value = own + value
            elif reduce == "prod":
                value = own * value
            else:
                value = (te.max if reduce == "amax" else te.min)(own, value)
            if reduce == "mean":
                value = divide(value, n + 1)
            return te.if_then_else(n > 0, value, own)
        if reduce == "mean":
            value = divide(value, te.max(n, E.const(1, "int32")))
        return te.if_then_else(n > 0, value, own)
    return te.compute(x.shape, body, name="scatter_reduce", tag="injective")
