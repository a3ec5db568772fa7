"""Max pooling over any number of spatial axes that also says where each maximum is:
the kernels behind PyTorch's ``return_indices=True``, dilated max pooling and 3-D max
pooling (plain and adaptive), and their gradient.

The windows are described axis by axis (``windows``, one tuple per spatial axis):
``("regular", kernel, stride, padding, dilation, outputs)``, the window ``o`` reading
positions ``o * stride - padding + t * dilation`` for taps ``t < kernel`` (those outside
the input are skipped, as -inf padding would be), or ``("adaptive", outputs)``, PyTorch's
adaptive window ``floor(o * S / O)`` .. ``ceil((o + 1) * S / O) - 1`` (its taps run to the
widest window, those past a window's end skipped).

``max_pool_nd`` gives ``[values, indices]``: each window's maximum and the int64 flat
position of its first maximum in the (N, C) plane (row-major over the spatial axes;
the last NaN where the window holds one, PyTorch's rule). Three stages: the window
maxima, the position search (the smallest key: ``-1 - p`` for a NaN at ``p``, else ``p``
where the value equals the maximum), and the value read at the position found.

``max_pool_nd_grad`` sends each output gradient to that position, as a gather with no
atomics: each input position sums the gradients of the windows that can hold it and
whose index is that position. Along a regular axis those are the windows ``(p + padding
- t * dilation) / stride`` for each tap ``t`` where the division is exact, along an
adaptive one at most ``ceil(O / S) + 1`` windows from ``floor(p * O / S)`` (as
``windows.adaptive_max_grad``): a reduction over the product of those counts.
"""
import math

from .. import te
from ..errors import ShapeError
from ..tir import expr as E
from .pool import _adaptive_bounds
from .transform import _check
from .windows import _clamp, _static

__all__ = ["max_pool_nd", "max_pool_nd_grad", "window_output_size"]


def window_output_size(extent, kernel, stride, padding, dilation, ceil_mode):
    """PyTorch's pooling output length along one axis: with ``ceil_mode`` a last partial
    window counts when it starts inside the input or its left padding."""
    span = extent + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= extent + padding:
        out -= 1
    return out


def _axis_reader(window, extent):
    """(taps, position(o, t), valid(o, t)) of one spatial axis of ``extent`` positions."""
    if window[0] == "regular":
        _, kernel, stride, padding, dilation, _ = window
        def position(o, t):
            return o * stride - padding + t * dilation
        return kernel, position, lambda o, t: te.all(position(o, t) >= 0, position(o, t) < extent)
    start, end, widest = _adaptive_bounds(extent, window[1])
    return widest, (lambda o, t: te.min(start(o) + t, extent - 1)), (lambda o, t: start(o) + t < end(o))


def _outputs(windows):
    return tuple(w[-1] if w[0] == "regular" else w[1] for w in windows)


def _check_windows(op, windows, size):
    if len(windows) != len(size):
        raise ShapeError(f"{op}: {len(windows)} window descriptions for {len(size)} spatial axes {size}")
    for window, extent in zip(windows, size):
        if window[0] not in ("regular", "adaptive") or min(window[1:]) < (0 if window[0] == "regular" else 1):
            raise ShapeError(f"{op}: bad window description {window!r}")
        if extent < 1:
            raise ShapeError(f"{op}: empty spatial axis in {size}")


def _flat(position, size):
    """Row-major flat position (int64) of the spatial ``position`` in ``size``."""
    at = position[0].astype("int64")
    for p, extent in zip(position[1:], size[1:]):
        at = at * extent + p.astype("int64")
    return at


def max_pool_nd(x, windows):
    """``[values, indices]`` of the window maxima of ``x`` (N, C, *S) over ``windows``
    (see the module docstring), each (N, C, *outputs)."""
    _check(x, "max_pool_nd")
    n, c, *size = _static(x, "max_pool_nd")
    _check_windows("max_pool_nd", windows, size)
    readers = [_axis_reader(w, s) for w, s in zip(windows, size)]
    shape = (n, c) + _outputs(windows)
    lowest = E.const(float("-inf"), x.dtype)

    def taps(name):
        return [te.reduce_axis((0, r[0]), name=f"{name}{a}") for a, r in enumerate(readers)]

    def read(b, ch, o, t):
        position = tuple(r[1](oa, ta) for r, oa, ta in zip(readers, o, t))
        valid = te.all(*(r[2](oa, ta) for r, oa, ta in zip(readers, o, t)))
        clamped = tuple(_clamp(p, extent) for p, extent in zip(position, size))
        return position, valid, x[(b, ch) + clamped]

    window_taps = taps("k")

    def window_max(*index):
        b, ch, o = index[0], index[1], index[2:]
        _, valid, value = read(b, ch, o, [t.var for t in window_taps])
        return te.max(te.if_then_else(valid, value, lowest), axis=window_taps)
    maxima = te.compute(shape, window_max, name="max_pool_nd.maxima", tag="reduce")
    search_taps = taps("a")
    missing = E.const(math.prod(size), "int64")

    def key(*index):
        b, ch, o = index[0], index[1], index[2:]
        position, valid, value = read(b, ch, o, [t.var for t in search_taps])
        at = _flat(position, size)
        found = te.if_then_else(value != value, -1 - at, te.if_then_else(value == maxima[(b, ch) + o], at, missing))
        return te.min(te.if_then_else(valid, found, missing), axis=search_taps)
    keys = te.compute(shape, key, name="max_pool_nd.keys", tag="reduce")
    # no valid tap at all (a window wholly in the padding): index -1, value -inf
    indices = te.compute(shape, lambda *i: te.if_then_else(
        keys[i] < 0, -1 - keys[i], te.if_then_else(keys[i] == missing, E.const(-1, "int64"), keys[i])),
        name="max_pool_nd.indices", tag="injective")

    def value(*index):
        b, ch, o = index[0], index[1], index[2:]
        at = indices[(b, ch) + o]
        position, stride = [], 1
        for extent in reversed(size):
            position.insert(0, _clamp(((at // stride) % extent).astype("int32"), extent))
            stride *= extent
        return te.if_then_else(at >= 0, x[(b, ch) + tuple(position)], lowest)
    values = te.compute(shape, value, name="max_pool_nd", tag="injective")
    return [values, indices]


def _axis_windows(window, extent):
    """(count, window(p, r), valid(p, r)) of one axis: the ``count`` candidate windows
    ``r`` that may hold input position ``p``, and whether candidate ``r`` exists."""
    if window[0] == "regular":
        _, kernel, stride, padding, dilation, outputs = window

        def offset(p, r):
            return p + padding - r * dilation

        def window_of(p, r):
            return _clamp(offset(p, r) // stride, outputs)
        return kernel, window_of, lambda p, r: te.all(offset(p, r) >= 0, offset(p, r) == window_of(p, r) * stride)
    outputs = window[1]
    return (-(-outputs // extent) + 1, lambda p, r: _clamp(p * outputs // extent + r, outputs),
            lambda p, r: p * outputs // extent + r < outputs)


def max_pool_nd_grad(g, indices, size, windows):
    """The gradient for the (N, C, *size) input of :func:`max_pool_nd`: each position
    the sum of ``g`` over the windows whose maximum (``indices``) it was."""
    _check(g, "max_pool_nd_grad")
    n, c, *outputs = _static(g, "max_pool_nd_grad")
    size = tuple(size)
    _check_windows("max_pool_nd_grad", windows, size)
    if tuple(outputs) != _outputs(windows) or tuple(_static(indices, "max_pool_nd_grad")) != (n, c, *outputs):
        raise ShapeError(f"max_pool_nd_grad: gradient {g.name} {[n, c, *outputs]} and indices {indices.name} "
                         f"{list(indices.shape)} do not match the windows' outputs {_outputs(windows)}")
    finders = [_axis_windows(w, s) for w, s in zip(windows, size)]
    axes = [te.reduce_axis((0, f[0]), name=f"r{a}") for a, f in enumerate(finders)]
    zero = E.const(0, g.dtype)

    def body(*index):
        b, ch, p = index[0], index[1], index[2:]
        window = tuple(f[1](pa, r.var) for f, pa, r in zip(finders, p, axes))
        hit = te.all(*(f[2](pa, r.var) for f, pa, r in zip(finders, p, axes)),
                     indices[(b, ch) + window] == _flat(p, size).astype(indices.dtype))
        return te.sum(te.if_then_else(hit, g[(b, ch) + window], zero), axis=axes)
    return te.compute((n, c) + size, body, name="max_pool_nd_grad", tag="reduce")
