"""Resizing the spatial axes of (N, C, *spatial) tensors by PyTorch's ``F.interpolate``
index rules, one rule per axis: "nearest" (``floor(o * scale)`` in float32, exact for
equal and doubled sizes) and "linear" (the two neighbours of ``scale * (o + 0.5) - 0.5``,
or ``scale * o`` with ``align_corners``, clamped at 0, with weights ``1 - l`` and ``l``).

An axis is described by ``(mode, align_corners, scale)``, ``scale`` being what PyTorch
multiplies output indices by (see ``graph.resize_ops``). ``resize`` sums the taps of
every axis; ``resize_grad`` adds each output gradient back to the inputs it was read
from, written as a gather with no atomics: input index ``i`` of an axis looks at a
window of the outputs that can read it (from the inverse of the rule, widened by two
for rounding) and weighs each by its taps that land on ``i`` — a reduction over the
window (tag "reduce"), whose extent is about ``2 / scale``, not the axis.
"""
import itertools
import math

from .. import te
from ..errors import ShapeError
from ..tir import expr as E
from .broadcast import shape_str
from .transform import _check, _const

__all__ = ["resize", "resize_grad"]


def _compute_dtype(dtype):
    """PyTorch's opmath type: float64 for float64, float32 for the other floats."""
    return "float64" if dtype == "float64" else "float32"


def _taps(o, n_in, n_out, rule, dtype):
    """[(input index, weight or None for 1)] that output index ``o`` of one axis reads."""
    mode, align_corners, scale = rule
    if mode == "nearest":
        if n_out == n_in:
            return [(o, None)]
        if n_out == 2 * n_in:
            return [(o // 2, None)]
        src = te.floor(o.astype("float32") * te.const(scale, "float32")).astype("int32")
        return [(te.min(src, n_in - 1), None)]
    zero = te.const(0, dtype)
    real = o.astype(dtype) * scale if align_corners else te.max((o.astype(dtype) + 0.5) * scale - 0.5, zero)
    i0 = te.min(te.floor(real).astype("int32"), n_in - 1)
    lam = te.min(te.max(real - i0.astype(dtype), zero), te.const(1, dtype))
    return [(i0, 1 - lam), (te.min(i0 + 1, n_in - 1), lam)]


def _check_rules(x_shape, out_size, rules, op):
    if len(x_shape) != 2 + len(out_size) or len(rules) != len(out_size):
        raise ShapeError(f"{op}: {len(out_size)} output sizes and {len(rules)} rules for a tensor of shape "
                         f"{shape_str(x_shape)} (need (N, C, *spatial))")
    for rule in rules:
        if rule[0] not in ("nearest", "linear"):
            raise ShapeError(f"{op}: mode must be 'nearest' or 'linear' per axis, got {rule[0]!r}")
    spatial = [_const(E.convert(n)) for n in x_shape[2:]]
    if any(n is None for n in spatial):
        raise ShapeError(f"{op}: spatial extents must be constants, got {shape_str(x_shape)}")
    return spatial


def resize(x, out_size, rules):
    """``x`` (N, C, *spatial) resized to (N, C, *out_size), axis k by ``rules[k]``."""
    _check(x, "resize")
    spatial = _check_rules(x.shape, out_size, rules, "resize")
    dtype = _compute_dtype(x.dtype)

    def body(*idx):
        (n, c), o = idx[:2], idx[2:]
        taps = [_taps(ok, n_in, n_out, rule, dtype) for ok, n_in, n_out, rule in zip(o, spatial, out_size, rules)]
        total = None
        for combo in itertools.product(*taps):
            term = x[(n, c) + tuple(index for index, _ in combo)].astype(dtype)
            for _, weight in combo:
                term = term if weight is None else term * weight
            total = term if total is None else total + term
        return total.astype(x.dtype)
    return te.compute(list(x.shape[:2]) + list(out_size), body, name="resize", tag="injective")


def _window(n_in, n_out, rule):
    """(first output, count) that can read input index ``i``: a function of ``i``, and
    an int. The whole axis when the window would be as long."""
    mode, align_corners, scale = rule
    if mode == "nearest":
        reach, lo = 1, lambda i: i.astype("float64") / scale
    elif scale == 0:
        reach, lo = math.inf, None
    else:
        shift = 0.0 if align_corners else 0.5
        reach, lo = 2, lambda i: ((i - 1).astype("float64") + shift) / scale - shift
    count = math.ceil(reach / scale) + 3 if scale else math.inf
    if count >= n_out:
        return (lambda i: te.const(0, "int32")), n_out
    return (lambda i: te.floor(lo(i)).astype("int32") - 1), count


def resize_grad(g, x_shape, rules):
    """The gradient of :func:`resize` for an input of ``x_shape``: each element of ``g``
    added to the inputs it was read from, times its weight."""
    _check(g, "resize_grad")
    x_shape = [E.convert(n) for n in x_shape]
    out_size = [int(_const(E.convert(n))) for n in g.shape[2:]]
    spatial = _check_rules(x_shape, out_size, rules, "resize_grad")
    dtype = _compute_dtype(g.dtype)
    windows = [_window(n_in, n_out, rule) for n_in, n_out, rule in zip(spatial, out_size, rules)]
    raxes = [te.reduce_axis((0, count), name=f"r{k}") for k, (_, count) in enumerate(windows)]
    zero = te.const(0, dtype)

    def body(*idx):
        (n, c), i = idx[:2], idx[2:]
        at, valid, weight = [], [], None
        for ik, (start, _), r, n_in, n_out, rule in zip(i, windows, raxes, spatial, out_size, rules):
            want = start(ik) + r.var
            o = te.min(te.max(want, 0), n_out - 1)          # read inside g; a clamped one is no hit
            at.append(o)
            valid.append(want == o)
            share = None
            for index, w in _taps(o, n_in, n_out, rule, dtype):
                term = te.if_then_else(index == ik, te.const(1, dtype) if w is None else w, zero)
                share = term if share is None else share + term
            weight = share if weight is None else weight * share
        value = te.if_then_else(te.all(*valid), g[(n, c) + tuple(at)].astype(dtype) * weight, zero)
        return te.sum(value if dtype == g.dtype else value.astype(g.dtype), axis=raxes)
    return te.compute(list(x_shape), body, name="resize_grad", tag="reduce")
