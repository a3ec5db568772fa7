"""Numerical integration and differentiation of sampled functions, PyTorch's
``trapezoid`` (``trapz``), ``cumulative_trapezoid`` and ``gradient``.

All are slices of the samples combined elementwise, then a sum or a running sum along
the axis (``trapezoid``: ``sum(dx * (y[1:] + y[:-1]) / 2)``), so their gradients, with
respect to the samples and to the coordinates alike, are those ops'. ``gradient`` uses
second-order central differences inside and first- or second-order one-sided ones at
the two ends (``edge_order``), with numpy's weights for unevenly spaced coordinates.
Integer samples give float32 results, as PyTorch's.
"""
import numpy as np

from ..errors import ArgumentError, DTypeError, ShapeError
from . import axes as check_axes
from . import ops
from .join_ops import cat
from .reorder_ops import narrow
from .sort_ops import cumsum
from .tensor import Tensor


def _float(op, y):
    if not isinstance(y, Tensor):
        raise DTypeError(f"{op}: takes a Tensor, got {type(y).__name__}")
    if y.dtype == "bool":
        raise DTypeError(f"{op}: bool tensors are not supported")
    return y if y.dtype.startswith("float") else ops.cast(y, "float32")


def _along(values, axis, ndim):
    """The 1-D ``values`` shaped to run along ``axis`` of an ``ndim``-axis tensor."""
    return ops.reshape(values, tuple(values.shape[0] if k == axis else 1 for k in range(ndim)))


def _number(op, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DTypeError(f"{op}: {name} must be a number, got {value!r}")
    return float(value)


def _trapezoids(op, y, x, dx, dim):
    """The float samples, the axis, and the area of each of the ``n - 1`` trapezoids."""
    y = _float(op, y)
    if y.ndim == 0:
        raise ShapeError(f"{op}: expects a tensor with at least one dimension, got a 0-d tensor")
    axis = check_axes.axis(op, dim, y.shape)
    n = y.shape[axis]
    heights = (narrow(y, axis, min(n, 1), max(n - 1, 0)) + narrow(y, axis, 0, max(n - 1, 0))) * 0.5
    if x is None:
        return y, axis, heights * _number(op, "dx", 1.0 if dx is None else dx)
    if dx is not None:
        raise ArgumentError(f"{op}: give x or dx, not both")
    if not isinstance(x, Tensor):
        raise DTypeError(f"{op}: x must be a tensor, got {type(x).__name__}")
    ops.check_device(op, y, x)
    x = _float(op, x)
    if x.ndim == 1:
        if x.shape[0] != n:
            raise ShapeError(f"{op}: x of shape {x.shape} must have as many points as axis {axis} of y "
                             f"(shape {y.shape})")
        x = _along(x, axis, y.ndim)
    elif x.ndim != y.ndim:
        raise ShapeError(f"{op}: x of shape {x.shape} must be 1-D or have as many dimensions as y (shape {y.shape})")
    m = x.shape[axis]
    widths = narrow(x, axis, min(m, 1), max(m - 1, 0)) - narrow(x, axis, 0, max(m - 1, 0))
    return y, axis, heights * widths


def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The trapezoidal rule along ``dim``: the samples ``y`` at the points ``x`` (1-D,
    or broadcasting with ``y``), or spaced ``dx`` apart (1 by default)."""
    y, axis, areas = _trapezoids("trapezoid", y, x, dx, dim)
    return ops.sum(areas, axis)


def trapz(y, x=None, *, dx=None, dim=-1):
    """PyTorch's older name of :func:`trapezoid`."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """The running trapezoidal integral along ``dim``: one entry fewer than the samples."""
    y, axis, areas = _trapezoids("cumulative_trapezoid", y, x, dx, dim)
    return cumsum(areas, axis) if areas.shape[axis] else areas


def _spacings(input, spacing, axes):
    """One spacing per axis: a float (even steps) or a 1-D float tensor of coordinates."""
    if isinstance(spacing, Tensor):
        spacing = [spacing]
    if not isinstance(spacing, (list, tuple)):
        return [_number("gradient", "spacing", spacing)] * len(axes)
    if len(spacing) == 1 and len(axes) > 1 and not isinstance(spacing[0], Tensor):
        return [_number("gradient", "spacing", spacing[0])] * len(axes)
    if len(spacing) != len(axes):
        raise ShapeError(f"gradient: expected spacing to have one entry per dimension ({len(axes)}), "
                         f"got {len(spacing)}")
    out = []
    for axis, s in zip(axes, spacing):
        if not isinstance(s, Tensor):
            out.append(_number("gradient", "spacing", s))
            continue
        ops.check_device("gradient", input, s)
        if s.ndim != 1 or s.shape[0] != input.shape[axis]:
            raise ShapeError(f"gradient: the coordinates of dimension {axis} must be a 1-D tensor of "
                             f"{input.shape[axis]} points, got shape {s.shape}")
        out.append(ops.cast(s, input.dtype) if s.dtype != input.dtype else s)
    return out


def _even(f, axis, h, edge_order):
    """The derivative along ``axis`` of samples ``h`` apart."""
    n = f.shape[axis]

    def at(start, length):
        return narrow(f, axis, start % n, length)
    inner = (at(2, n - 2) - at(0, n - 2)) * (0.5 / h)
    if edge_order == 1:
        first = (at(1, 1) - at(0, 1)) * (1.0 / h)
        last = (at(-1, 1) - at(-2, 1)) * (1.0 / h)
    else:
        first = (at(0, 1) * -3.0 + at(1, 1) * 4.0 - at(2, 1)) * (0.5 / h)
        last = (at(-1, 1) * 3.0 - at(-2, 1) * 4.0 + at(-3, 1)) * (0.5 / h)
    return cat([first, inner, last], axis)


def _uneven(f, axis, x, edge_order):
    """The derivative along ``axis`` of samples at the 1-D coordinates ``x`` (numpy's
    second-order weights: exact for quadratics)."""
    n = f.shape[axis]

    def at(start, length):
        return narrow(f, axis, start % n, length)

    def along(w):
        return _along(w, axis, f.ndim)
    d = x[1:] - x[:-1]
    d1, d2 = d[:-1], d[1:]
    inner = at(0, n - 2) * along(-d2 / (d1 * (d1 + d2))) + at(1, n - 2) * along((d2 - d1) / (d1 * d2)) \
        + at(2, n - 2) * along(d1 / (d2 * (d1 + d2)))
    if edge_order == 1:
        first = (at(1, 1) - at(0, 1)) / along(d[:1])
        last = (at(-1, 1) - at(-2, 1)) / along(d[-1:])
    else:
        a, b = d[0:1], d[1:2]
        first = at(0, 1) * along(-(a * 2.0 + b) / (a * (a + b))) + at(1, 1) * along((a + b) / (a * b)) \
            + at(2, 1) * along(-a / (b * (a + b)))
        a, b = d[-2:-1], d[-1:]
        last = at(-3, 1) * along(b / (a * (a + b))) - at(-2, 1) * along((a + b) / (a * b)) \
            + at(-1, 1) * along((b * 2.0 + a) / (b * (a + b)))
    return cat([first, inner, last], axis)


def gradient(input, *, spacing=1, dim=None, edge_order=1):
    """The derivative of the samples ``input`` along each axis of ``dim`` (all by
    default), a tuple with one tensor per axis, as PyTorch's ``torch.gradient``:
    ``spacing`` is one step for every axis, one per axis, or one 1-D tensor of
    coordinates per axis; ``edge_order`` (1 or 2) is the accuracy at the two ends."""
    f = _float("gradient", input)
    if edge_order not in (1, 2) or isinstance(edge_order, bool):
        raise ArgumentError(f"gradient: edge_order must be 1 or 2, got {edge_order!r}")
    if f.ndim == 0:
        raise ShapeError("gradient: expects a tensor with at least one dimension, got a 0-d tensor")
    if dim is None:
        axes = tuple(range(f.ndim))
    else:
        named = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        axes = tuple(check_axes.axis("gradient", d, f.shape) for d in named)
        if len(set(axes)) != len(axes):
            raise ShapeError(f"gradient: dim {dim!r} names an axis twice")
    for axis in axes:
        if f.shape[axis] < edge_order + 1:
            raise ShapeError(f"gradient: expected each dimension size to be at least edge_order+1 "
                             f"({edge_order + 1}), got {f.shape[axis]} on axis {axis} (shape {f.shape})")
    steps = _spacings(f, spacing, axes)
    return tuple(_uneven(f, axis, h, edge_order) if isinstance(h, Tensor) else _even(f, axis, h, edge_order)
                 for axis, h in zip(axes, steps))

