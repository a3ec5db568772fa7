"""Gather and scatter along one axis (PyTorch's ``gather``, ``scatter``, ``scatter_add``)
and ``index_add``: te definitions with no atomics, the same code on every target.

``gather`` reads ``x`` at the positions an index tensor of the same rank gives along
``axis``. The scatters are written as gathers over the index tensor: output element
``j`` looks through the ``index.shape[axis]`` entries of its line of ``index`` for those
equal to ``j[axis]`` — a reduction over one axis (tag "reduce"), summing the matching
``src`` entries (``scatter_add``, and ``gather``'s gradient) or taking the last one
(``scatter``: of duplicate indices the last along ``axis`` wins, deterministically,
where PyTorch leaves the result unspecified). An index may be smaller than ``x`` on
every other axis (PyTorch's rule); output elements beyond it keep ``x``'s value.

Index values are clipped into the axis: a kernel never reads or writes outside a
buffer (the graph layer checks them where it can, see ``graph.index_ops``).
"""
from .. import te
from ..errors import ShapeError
from ..tir import expr as E
from .broadcast import shape_str
from .transform import _check, _check_index, _const, _take_axis, take_grad

__all__ = ["gather", "gather_grad", "scatter", "scatter_add", "scatter_src_grad", "index_add"]


def _fits(index, shape, axis, op):
    """Refuse an ``index`` of another rank than ``shape`` or larger on an axis other
    than ``axis``."""
    if index.ndim != len(shape) or any(
            k != axis and _larger(m, n)
            for k, (m, n) in enumerate(zip(index.shape, shape))):
        raise ShapeError(f"{op}: index {index.name} {shape_str(index.shape)} must have the rank of "
                         f"{shape_str(shape)} and be no larger on its other axes (axis {axis})")


def _larger(m, n):
    """Whether extent ``m`` is provably larger than ``n`` (both constants)."""
    m, n = _const(E.convert(m)), _const(E.convert(n))
    return m is not None and n is not None and m > n


def _clip(i, n):
    return te.min(te.max(i, 0), n - 1)


def gather(x, index, axis):
    """``out[i] = x[i with axis replaced by index[i]]``: the shape of ``index``."""
    _check(x, "gather")
    _check_index(index, "gather")
    axis = _take_axis(x.ndim, axis, f"{x.name} {shape_str(x.shape)}", "gather")
    _fits(index, x.shape, axis, "gather")

    def body(*i):
        pos = _clip(index[i].astype("int32"), x.shape[axis])
        return x[i[:axis] + (pos,) + i[axis + 1:]]
    return te.compute(index.shape, body, name="gather", tag="injective")


def _lines(index, shape, axis, name):
    """(reduce axis over ``index``'s ``axis``, ``hit(j, r)``, ``at(j, r)``): whether
    entry ``r`` of output element ``j``'s line of ``index`` points at ``j`` (False for
    ``j`` beyond ``index`` on another axis), and that entry's position in ``index``
    (clamped, so that a load there is always inside)."""
    r = te.reduce_axis((0, index.shape[axis]), name=name)

    def at(j, rv):
        return tuple(rv if k == axis else te.min(jk, m - 1) if _larger(n, m) else jk
                     for k, (jk, m, n) in enumerate(zip(j, index.shape, shape)))

    def hit(j, rv):
        inside = [jk < m for k, (jk, m, n) in enumerate(zip(j, index.shape, shape))
                  if k != axis and _larger(n, m)]
        pos = _clip(index[at(j, rv)].astype("int32"), shape[axis])
        return te.all(pos == j[axis], *inside)
    return r, hit, at


def _src(src, position):
    """``src`` at ``position`` (a 0-d ``src`` is one value for every position)."""
    return src[()] if src.ndim == 0 else src[position]


def _scatter_sum(index, src, shape, axis, name):
    """``out[j]``: the sum of the ``src`` entries whose index points at ``j`` (zeros of
    ``shape`` elsewhere)."""
    r, hit, at = _lines(index, shape, axis, "r")
    zero = E.const(0, src.dtype)

    def body(*j):
        return te.sum(te.if_then_else(hit(j, r.var), _src(src, at(j, r.var)), zero), axis=r)
    return te.compute(list(shape), body, name=name, tag="reduce")


def _check_src(index, src, op):
    _check(src, op)
    if src.ndim and (src.ndim != index.ndim or any(_larger(m, n) for m, n in
                                                   zip(index.shape, src.shape))):
        raise ShapeError(f"{op}: src {src.name} {shape_str(src.shape)} must be 0-d or of the rank of index "
                         f"{index.name} {shape_str(index.shape)} and no smaller on any axis")


def gather_grad(grad, index, x_shape, axis):
    """The gradient of ``gather(x, index, axis)`` for ``x`` of ``x_shape``: each entry of
    ``grad`` added at the element it was read from (repeated indices accumulate)."""
    _check_index(index, "gather_grad")
    _check_src(index, grad, "gather_grad")
    x_shape = [E.convert(n) for n in x_shape]
    axis = _take_axis(len(x_shape), axis, f"x of shape {shape_str(x_shape)}", "gather_grad")
    _fits(index, x_shape, axis, "gather_grad")
    return _scatter_sum(index, grad, x_shape, axis, "gather_grad")


def _scatter_args(x, index, src, axis, op):
    _check(x, op)
    _check_index(index, op)
    _check_src(index, src, op)
    axis = _take_axis(x.ndim, axis, f"{x.name} {shape_str(x.shape)}", op)
    _fits(index, x.shape, axis, op)
    return axis


def scatter_add(x, index, src, axis):
    """``x`` plus, at each position ``index`` points at along ``axis``, the ``src``
    entries pointing there (PyTorch's ``scatter_add``)."""
    axis = _scatter_args(x, index, src, axis, "scatter_add")
    added = _scatter_sum(index, src, x.shape, axis, "scatter_sum")
    return te.compute(x.shape, lambda *j: x[j] + added[j], name="scatter_add", tag="injective")


def scatter(x, index, src, axis):
    """``x`` with the ``src`` entries written where ``index`` points along ``axis``
    (PyTorch's ``scatter``; a 0-d ``src`` is its ``value=``). Of several entries
    pointing at one element, the last along ``axis`` wins."""
    axis = _scatter_args(x, index, src, axis, "scatter")
    r, hit, at = _lines(index, x.shape, axis, "r")
    last = te.compute(x.shape, lambda *j: te.max(te.if_then_else(hit(j, r.var), r.var.astype("int32"),
                                                                 E.const(-1, "int32")), axis=r),
                      name="scatter_last", tag="reduce")

    def body(*j):
        k = last[j]
        return te.if_then_else(k >= 0, _src(src, at(j, te.max(k, 0))), x[j])
    return te.compute(x.shape, body, name="scatter", tag="injective")


def scatter_src_grad(grad, index, src_shape, axis, last_only):
    """The gradient of ``scatter``/``scatter_add`` for ``src`` of ``src_shape`` (no
    smaller than ``index``): ``grad`` read where each ``index`` entry wrote, and 0 for
    the ``src`` entries beyond ``index``; with ``last_only`` (``scatter``) also 0 for an
    entry a later one along ``axis`` overwrote (its value never reached the output)."""
    _check(grad, "scatter_src_grad")
    _check_index(index, "scatter_src_grad")
    src_shape = [E.convert(n) for n in src_shape]
    axis = _take_axis(grad.ndim, axis, f"{grad.name} {shape_str(grad.shape)}", "scatter_src_grad")
    _fits(index, grad.shape, axis, "scatter_src_grad")
    if index.ndim != len(src_shape) or any(_larger(m, n) for m, n in zip(index.shape, src_shape)):
        raise ShapeError(f"scatter_src_grad: index {index.name} {shape_str(index.shape)} is larger than src "
                         f"{shape_str(src_shape)}")
    n = grad.shape[axis]

    def target(q):
        return _clip(index[q].astype("int32"), n)
    if last_only:
        r = te.reduce_axis((0, index.shape[axis]), name="r")

        def overwritten(*q):
            later = q[:axis] + (r.var,) + q[axis + 1:]
            hit = te.all(r.var > q[axis], target(later) == target(q))
            return te.max(te.if_then_else(hit, E.const(1, "int32"), E.const(0, "int32")), axis=r)
        lost = te.compute(index.shape, overwritten, name="scatter_lost", tag="reduce")
    zero = E.const(0, grad.dtype)

    def body(*p):
        q = tuple(te.min(pk, m - 1) if _larger(sk, m) else pk for pk, m, sk in zip(p, index.shape, src_shape))
        keep = [pk < m for pk, m, sk in zip(p, index.shape, src_shape) if _larger(sk, m)]
        if last_only:
            keep.append(lost[q] == 0)
        value = grad[q[:axis] + (target(q),) + q[axis + 1:]]
        return te.if_then_else(te.all(*keep), value, zero) if keep else value
    return te.compute(src_shape, body, name="scatter_src_grad", tag="injective")


def index_add(x, index, source, axis):
    """``x`` plus the slices of ``source`` along ``axis`` added at the positions the 1-D
    ``index`` gives (PyTorch's ``index_add`` with alpha 1; repeats accumulate): the sum
    is ``take_grad``'s."""
    _check(x, "index_add")
    added = take_grad(source, index, x.shape, axis)
    return te.compute(x.shape, lambda *j: x[j] + added[j], name="index_add", tag="injective")
