"""PyTorch's ``scatter_reduce``: each ``src`` entry combined, by a reduction, into the
element of ``x`` its index points at along ``axis``.

As the scatters of ``topi.gather`` it is written as a gather over the index, with no
atomics: output element ``j`` reduces the entries of its line of ``index`` that point
at ``j`` (a reduction over the index axis with a ``where`` condition), then combines
the result with ``x[j]`` (``include_self``) or, where nothing points at ``j``, keeps
``x[j]``. Two reductions per output: the matching count (for ``mean`` and to tell
untouched elements apart) and the reduced value.

``index_reduce`` (PyTorch's ``index_reduce``: whole slices of ``src`` along an axis,
one 1-D index entry per slice) has its own kernel: the index is read once per (output
slice, entry) pair, not once per element, so a
non-matching entry costs one integer compare instead of a pass over its slice, and
the count of entries per output slice is a 1-D reduction. The matching entries are
reduced in index order, as in ``scatter_reduce``, so the results are the same.
"""
from .. import te
from ..errors import ShapeError
from ..tir import dtype as dt
from ..tir import expr as E
from .broadcast import same_extent
from .gather import _clip, _lines, _scatter_args
from .schedule import register, rule_for
from .schedule_cpu import _const, _cpu, _large, _main_load, _product, _untouched, _vector_split

__all__ = ["scatter_reduce", "scatter_count", "index_reduce"]

#: Tag of index_reduce's reduction over the index entries (scheduled by
#: :func:`schedule_index_reduce` on the CPU, as any reduction on CUDA).
INDEX_TAG = "index_reduce"

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
    return te.compute(x.shape, lambda *j: _combine(x, count[j], total[j], x[j], reduce, include_self),
                      name="scatter_reduce", tag="injective")


def _combine(x, n, value, own, reduce, include_self):
    """An output element: ``value`` (the reduction of the ``n`` entries pointing at it)
    combined with ``own`` (``x``'s element) as ``reduce`` and ``include_self`` say;
    ``own`` where nothing points at it."""
    integral = not dt.is_float(x.dtype)

    def divide(a, count):
        return te.floordiv(a, count.astype(x.dtype)) if integral else a / count.astype(x.dtype)
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


def index_reduce(x, index, src, axis, reduce, include_self=True):
    """``x`` with each slice of ``src`` along ``axis`` reduced by ``reduce`` into the
    slice of ``x`` at the matching entry of the 1-D integer ``index`` (its entries in
    ``[0, n)``, checked by the caller); ``src`` is ``x``'s shape with ``axis`` of the
    index's length. Otherwise as :func:`scatter_reduce`."""
    if reduce not in _REDUCERS:
        raise ShapeError(f"index_reduce: reduce must be one of {sorted(_REDUCERS)}, got {reduce!r}")
    want = None if not 0 <= axis < x.ndim or index.ndim != 1 else \
        list(x.shape[:axis]) + [index.shape[0]] + list(x.shape[axis + 1:])
    if want is None or src.dtype != x.dtype or src.ndim != x.ndim or \
            not all(same_extent(a, b) for a, b in zip(src.shape, want)):
        raise ShapeError(f"index_reduce: expects a 1-D index and src of x's dtype and shape with axis {axis} of the "
                         f"index's length, got x {x.name} {tuple(x.shape)} {x.dtype}, index {index.name} "
                         f"{tuple(index.shape)}, src {src.name} {tuple(src.shape)} {src.dtype}")

    def slot(r):                    # clipped as scatter_reduce's (the caller refuses others)
        return _clip(index[r].astype("int32"), x.shape[axis])
    c = te.reduce_axis((0, index.shape[0]), name="c")
    one, zero = E.const(1, "int32"), E.const(0, "int32")
    count = te.compute((x.shape[axis],), lambda j: te.sum(te.if_then_else(slot(c) == j, one, zero), axis=c),
                       name="index_reduce.count", tag="reduce")
    r = te.reduce_axis((0, index.shape[0]), name="r")

    def reduced(*j):
        at = tuple(r if k == axis else jk for k, jk in enumerate(j))
        return _REDUCERS[reduce](src[at], axis=r, where=slot(r) == j[axis])
    total = te.compute(x.shape, reduced, name=f"index_{reduce}", tag=INDEX_TAG)
    return te.compute(x.shape, lambda *j: _combine(x, count[j[axis]], total[j], x[j], reduce, include_self),
                      name="index_reduce", tag="injective")


@register(INDEX_TAG)
def schedule_index_reduce(sch, tensor, target="llvm"):
    """CPU: output slice ``j`` (the outer axes up to the index's), then the index
    entries, then the slice's elements in vectors: the entry's test ``index[r] == j``
    runs once per slice and entry, and a matching entry's slice is one vector pass."""
    stage = sch[tensor]
    if not _cpu(target) or not _untouched(stage):
        return
    (r,) = stage.op.reduce_axis
    load = _main_load(stage.op.body.source)                 # src, read at r on the index's axis
    axis = next(k for k, i in enumerate(load.indices) if i is r.var)
    row = stage.fuse(*stage.op.axis[:axis + 1])
    inner = stage.op.axis[axis + 1:]
    if inner:
        lane = stage.fuse(*inner) if len(inner) > 1 else inner[0]
        stage.reorder(row, r, lane)
        _vector_split(stage, lane, _product(iv.dom.extent for iv in inner))
    if _large(_product(list(stage.op.shape) + [r.dom.extent])) and (_const(row.dom.extent) or 0) >= 4:
        stage.parallel(row)


@register(INDEX_TAG, target="cuda")
def schedule_index_reduce_cuda(sch, tensor, target="cuda"):
    """CUDA: as any reduction."""
    rule_for("reduce", target)[0](sch, tensor, target)
