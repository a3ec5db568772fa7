"""Reductions over any set of axes: sum, prod, mean, max, min, argmax/argmin, and ``sum_to``.

``axis`` is an int, a tuple of ints (negative counts from the end) or None (every axis);
``keepdims`` keeps reduced axes as extent 1, as in numpy. Each reduction is one compute
tagged "reduce" whose body reads the input with its reduce axes created in the input's
axis order, so the CPU rule can find the contiguous axis (see ``schedule_cpu``).
``mean`` scales each element by ``1/n`` inside the sum (one kernel, no second pass).
``argmax`` is two reductions: the maximum, then the smallest index reaching it (numpy's
first-index rule for ties). ``prod_grad`` is the gradient of ``prod``: the product of
the other elements of each group, without dividing (exact with zeros).
"""
import math

from .. import te
from ..errors import ShapeError, TVMiniError
from ..tir import dtype as dt
from ..tir import expr as E
from .broadcast import is_one, same_extent, shape_str
from .nn import check_float

__all__ = ["sum", "prod", "prod_grad", "mean", "max", "min", "argmax", "argmin", "sum_to", "normalize_axes"]


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


def _reduce(x, axis, keepdims, op, combine, transform=None, dtype=None, name=None):
    """``combine`` (te.sum/max/min) of ``transform(x[...])`` over ``axis``, a compute
    named ``name`` (default: ``op``, which errors name)."""
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
    return te.compute(out_shape, body, name=name or op, tag="reduce" if raxes else "elemwise")


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis``; the dtype is kept (unlike numpy, int32 does not widen to
    int64); bool inputs sum as int32."""
    return _reduce(x, axis, keepdims, "sum", te.sum, dtype="int32" if x.dtype == "bool" else None)


def prod(x, axis=None, keepdims=False):
    """Product over ``axis``; the dtype is kept as by ``sum`` (int32 does not widen), bool
    inputs multiply as int32."""
    return _reduce(x, axis, keepdims, "prod", te.prod, dtype="int32" if x.dtype == "bool" else None)


def prod_grad(x, grad, axis=None, keepdims=False):
    """Gradient of ``prod(x, axis, keepdims)`` given ``grad`` (its output's gradient):
    ``grad`` times the product of the *other* elements of each reduced group, shape of ``x``.

    No element is divided out, so zeros are exact: with one zero in a group only the
    zero gets a gradient (the product of the rest), with several every gradient is 0.
    The reduced axes of a group are flattened into ``m`` elements (padded with ones to
    ``nb`` blocks of ``b``, ``b`` about ``m ** (1/3)``); the product of the others of
    element ``(B, t)`` is the product of the other blocks' products times the product
    of the other elements of its block, ``O(m ** (4/3))`` multiplications per group
    instead of ``O(m ** 2)``. The reduced extents must be constants.
    """
    _check(x, "prod_grad")
    _check(grad, "prod_grad")
    check_float("prod_grad", x, grad)
    axes = normalize_axes(x, axis, "prod_grad")
    want = [1 if a in axes else n for a, n in enumerate(x.shape) if keepdims or a not in axes]
    if len(grad.shape) != len(want) or not all(same_extent(g, w) for g, w in zip(grad.shape, want)):
        raise ShapeError(f"prod_grad: grad {grad.name} has shape {shape_str(grad.shape)}; prod of {x.name} "
                         f"{shape_str(x.shape)} over axes {list(axes)} (keepdims={keepdims}) has shape "
                         f"{shape_str(want)}")
    extents = [x.shape[a] for a in axes]
    if not all(isinstance(e, E.Const) for e in extents):
        raise ShapeError(f"prod_grad: the reduced axes {list(axes)} of {x.name} {shape_str(x.shape)} must have "
                         "constant extents")
    extents = [e.value for e in extents]
    kept = [a for a in range(x.ndim) if a not in axes]
    m = 1
    for e in extents:
        m *= e
    b = 1
    while b ** 3 < m:
        b += 1
    nb = -(-m // b)
    one = E.const(1, x.dtype)

    def unflatten(k):
        """Indices along the reduced axes of flat position ``k`` (row-major)."""
        out = []
        for e in reversed(extents):
            out.append(k % e)
            k = k // e
        return out[::-1]

    def gather(*idx):
        *group, k = idx
        full = [None] * x.ndim
        for a, v in zip(kept, group):
            full[a] = v
        for a, v in zip(axes, unflatten(k)):
            full[a] = v
        return te.if_then_else(k < m, x[tuple(full)], one)
    group_shape = [x.shape[a] for a in kept]
    flat = te.compute((*group_shape, nb * b), gather, name="prod_grad.flat", tag="injective")
    t = te.reduce_axis((0, b), name="t")
    blocks = te.compute((*group_shape, nb), lambda *i: te.prod(flat[(*i[:-1], i[-1] * b + t)], axis=t),
                        name="prod_grad.blocks", tag="reduce")
    other = te.reduce_axis((0, nb), name="other")
    outside = te.compute((*group_shape, nb), lambda *i: te.prod(
        te.if_then_else(other == i[-1], one, blocks[(*i[:-1], other)]), axis=other),
        name="prod_grad.outside", tag="reduce")
    u = te.reduce_axis((0, b), name="u")
    inside = te.compute((*group_shape, nb * b), lambda *i: te.prod(
        te.if_then_else(u == i[-1] % b, one, flat[(*i[:-1], i[-1] // b * b + u)]), axis=u),
        name="prod_grad.inside", tag="reduce")

    def value(*i):
        group = tuple(i[a] for a in kept)
        k = E.const(0, "int32")
        for a, e in zip(axes, extents):
            k = k * e + i[a]
        g_index = tuple(0 if a in axes else i[a] for a in range(x.ndim)) if keepdims else group
        return grad[g_index] * outside[(*group, k // b)] * inside[(*group, k)]
    return te.compute(x.shape, value, name="prod_grad", tag="broadcast")


def mean(x, axis=None, keepdims=False):
    """Arithmetic mean over ``axis`` (integers give float32); the mean over no elements
    is NaN, as numpy's and PyTorch's: over an axis of constant extent 0 at build time,
    over a symbolic extent bound to 0 at call time (see :func:`_nan_if_none`)."""
    _check(x, "mean")
    axes = normalize_axes(x, axis, "mean")
    dtype = x.dtype if dt.is_float(x.dtype) else "float32"
    count = E.const(1, "int32")
    for a in axes:
        count = count * x.shape[a]
    if any(isinstance(x.shape[a], E.Const) and x.shape[a].value == 0 for a in axes):
        out_shape = [1 if a in axes else n for a, n in enumerate(x.shape) if keepdims or a not in axes]
        return te.compute(out_shape, lambda *i: E.const(math.nan, dtype), name="mean", tag="elemwise")
    inv = E.const(1.0, dtype) / count.astype(dtype)
    constant = all(isinstance(x.shape[a], E.Const) for a in axes)
    total = _reduce(x, axes, keepdims, "mean", te.sum, transform=lambda v: v.astype(dtype) * inv,
                    name="mean" if constant else "mean.sum")
    return total if constant else _nan_if_none(total, count)


def _nan_if_none(total, count):
    """``total`` (a mean, each term already divided by ``count``), or NaN where the
    symbolic ``count`` is 0 at call time: the sum of no terms is 0, not the mean's NaN.
    Only means over a symbolic extent get this second stage; constant extents are
    decided when the mean is defined."""
    nan = E.const(math.nan, total.dtype)
    return te.compute(total.shape, lambda *i: te.if_then_else(count == 0, nan, total[i]), name="mean",
                      tag="elemwise")


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
    none = E.max_value("int32")
    out_shape = [1 if a == axis else n for a, n in enumerate(x.shape) if keepdims or a != axis]

    def body(*idx):
        idx = list(idx)
        if keepdims:
            idx.pop(axis)
        index = idx[:axis] + [k.var] + idx[axis:]
        value = x[tuple(index)]
        # a NaN is the extreme, as in numpy: the max/min of a row holding one is NaN,
        # which equals nothing, so the search takes the first NaN instead
        hit = (value == best[tuple(idx)]) | (value != value) if x.dtype.startswith("float") else \
            value == best[tuple(idx)]
        return te.min(te.if_then_else(hit, k.var.astype("int32"), none), axis=k)
    # The search runs on int32 indices (extents are int32): AVX2 compares and takes the
    # minimum of 8 of them per instruction, where int64 needs emulation (1024x1024: 2x).
    first = te.compute(out_shape, body, name=op if dtype == "int32" else f"{op}.int32", tag="reduce")
    if dtype == "int32":
        return first
    return te.compute(out_shape, lambda *i: first[i].astype(dtype), name=op, tag="elemwise")


def argmax(x, axis, keepdims=False, dtype="int64"):
    """Index of the maximum along ``axis`` (the first one on ties, and the first NaN
    where there is one, like numpy)."""
    return _arg_extreme(x, axis, keepdims, dtype, "argmax", max)


def argmin(x, axis, keepdims=False, dtype="int64"):
    """Index of the minimum along ``axis`` (the first one on ties, and the first NaN
    where there is one, like numpy)."""
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
