"""Reductions over any set of axes: sum, prod, mean, max, min, argmax/argmin, and ``sum_to``.

``axis`` is an int, a tuple of ints (negative counts from the end) or None (every axis);
``keepdims`` keeps reduced axes as extent 1, as in numpy. Each reduction is one compute
tagged "reduce" whose body reads the input with its reduce axes created in the input's
axis order, so the CPU rule can find the contiguous axis (see ``schedule_cpu``).
``mean`` scales each element by ``1/n`` inside the sum (one kernel, no second pass).
``argmax`` is two reductions: the maximum, then the smallest index reaching it (numpy's
first-index rule for ties).
"""
from .. import te
from ..errors import ShapeError, TVMiniError
from ..tir import dtype as dt
from ..tir import expr as E
from .broadcast import is_one, same_extent, shape_str

__all__ = ["sum", "prod", "mean", "max", "min", "argmax", "argmin", "sum_to", "normalize_axes"]


def normalize_axes(x, axis, op="reduce"):
    """``axis`` (int, tuple, list or None) as a sorted tuple of non-negative axes of ``x``."""
    if axis is None:
        return tuple(range(x.ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, int) or not -x.ndim <= a < x.ndim:
            raise ShapeError(f"{op}: axis {a!r} is out of range for {x.name} of shape {shape_str(x.shape)}")
        a %= x.ndim
        if a in out:
            raise ShapeError(f"{op}: axis {a} repeated in {axis!r} for {x.name}")
        out.append(a)
    return tuple(sorted(out))


def _check(x, op):
    if not isinstance(x, te.Tensor):
        raise TVMiniError(f"{op}: expects a te tensor, got {type(x).__name__} {x!r}")


def _reduce(x, axis, keepdims, op, combine, transform=None, dtype=None):
    """``combine`` (te.sum/max/min) of ``transform(x[...])`` over ``axis``."""
    _check(x, op)
    axes = normalize_axes(x, axis, op)
    raxes = {a: te.reduce_axis((0, x.shape[a]), name=f"k{a}") for a in axes}
    out_shape = [1 if a in raxes else n for a, n in enumerate(x.shape) if keepdims or a not in raxes]

    def body(*idx):
        idx = list(idx)
        index = []
        for a in range(x.ndim):
            if a in raxes:
                index.append(raxes[a].var)
                if keepdims:
                    idx.pop(0)
            else:
                index.append(idx.pop(0))
        value = x[tuple(index)]
        if transform is not None:
            value = transform(value)
        if dtype is not None:
            value = value.astype(dtype)
        if not raxes:
            return value
        return combine(value, axis=list(raxes.values()))
    return te.compute(out_shape, body, name=op, tag="reduce" if raxes else "elemwise")


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis``; the dtype is kept (unlike numpy, int32 does not widen to
    int64); bool inputs sum as int32."""
    return _reduce(x, axis, keepdims, "sum", te.sum, dtype="int32" if x.dtype == "bool" else None)


def prod(x, axis=None, keepdims=False):
    """Product over ``axis``; the dtype is kept as by ``sum`` (int32 does not widen), bool
    inputs multiply as int32."""
    return _reduce(x, axis, keepdims, "prod", te.prod, dtype="int32" if x.dtype == "bool" else None)


def mean(x, axis=None, keepdims=False):
    """Arithmetic mean over ``axis`` (integers give float32)."""
    _check(x, "mean")
    axes = normalize_axes(x, axis, "mean")
    dtype = x.dtype if dt.is_float(x.dtype) else "float32"
    count = E.const(1, "int32")
    for a in axes:
        count = count * x.shape[a]
    inv = E.const(1.0, dtype) / count.astype(dtype)
    return _reduce(x, axes, keepdims, "mean", te.sum, transform=lambda v: v.astype(dtype) * inv)


def max(x, axis=None, keepdims=False):
    """Maximum over ``axis``."""
    return _reduce(x, axis, keepdims, "max", te.max)


def min(x, axis=None, keepdims=False):
    """Minimum over ``axis``."""
    return _reduce(x, axis, keepdims, "min", te.min)


def _arg_extreme(x, axis, keepdims, dtype, op, extreme):
    _check(x, op)
    if axis is None:
        raise ShapeError(f"{op}: give the axis of {x.name} (flatten with reshape for a global {op})")
    (axis,) = normalize_axes(x, axis, op)
    dtype = dt.canonical(dtype)
    if dtype not in ("int32", "int64"):
        raise TVMiniError(f"{op}: index dtype must be int32 or int64, got {dtype}")
    best = extreme(x, axis, keepdims=False)
    k = te.reduce_axis((0, x.shape[axis]), name=f"k{axis}")
    none = E.max_value(dtype)
    out_shape = [1 if a == axis else n for a, n in enumerate(x.shape) if keepdims or a != axis]

    def body(*idx):
        idx = list(idx)
        if keepdims:
            idx.pop(axis)
        index = idx[:axis] + [k.var] + idx[axis:]
        hit = x[tuple(index)] == best[tuple(idx)]
        return te.min(te.if_then_else(hit, k.var.astype(dtype), none), axis=k)
    return te.compute(out_shape, body, name=op, tag="reduce")


def argmax(x, axis, keepdims=False, dtype="int64"):
    """Index of the maximum along ``axis`` (the first one on ties, like numpy)."""
    return _arg_extreme(x, axis, keepdims, dtype, "argmax", max)


def argmin(x, axis, keepdims=False, dtype="int64"):
    """Index of the minimum along ``axis`` (the first one on ties, like numpy)."""
    return _arg_extreme(x, axis, keepdims, dtype, "argmin", min)


def sum_to(x, shape):
    """Sum ``x`` down to ``shape``, undoing numpy broadcasting from ``shape``.

    Leading axes of ``x`` that ``shape`` lacks are summed away; axes where ``shape``
    has 1 and ``x`` does not are summed with keepdims. The graph layer uses it for the
    gradient of a broadcast operand. Raises ShapeError when ``shape`` does not broadcast
    to ``x``'s shape.
    """
    _check(x, "sum_to")
    shape = tuple(E.convert(s) for s in shape)
    lead = x.ndim - len(shape)
    if lead < 0:
        raise ShapeError(f"sum_to: cannot sum {x.name} of shape {shape_str(x.shape)} to the longer shape "
                         f"{shape_str(shape)}")
    axes = list(range(lead))
    for k, n in enumerate(shape):
        xn = x.shape[lead + k]
        if is_one(n) and not is_one(xn):
            axes.append(lead + k)
        elif not same_extent(n, xn):
            raise ShapeError(f"sum_to: shape {shape_str(shape)} does not broadcast to {x.name}'s shape "
                             f"{shape_str(x.shape)} (axis {k}: {n} vs {xn})")
    raxes = {a: te.reduce_axis((0, x.shape[a]), name=f"k{a}") for a in axes}

    def body(*idx):
        index = [raxes[a].var if a in raxes else idx[a - lead] for a in range(x.ndim)]
        value = x[tuple(index)]
        return te.sum(value, axis=list(raxes.values())) if raxes else value
    return te.compute(shape, body, name="sum_to", tag="reduce" if raxes else "elemwise")
