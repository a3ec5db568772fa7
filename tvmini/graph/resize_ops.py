"""``F.interpolate`` with PyTorch's arguments and index rules, modes "nearest" (3-D and
4-D inputs), "linear" (3-D) and "bilinear" (4-D), ``align_corners`` for the linear
ones: one ``topi.resize`` kernel, and ``topi.resize_grad`` for the gradient. A 3-D
input runs as 4-D with a height of one (copied as it is).

The per-axis ``scale`` follows PyTorch: ``(in - 1) / (out - 1)`` with
``align_corners`` (0 for an output of one), else ``1 / scale_factor`` when a scale
factor was given (and not ``recompute_scale_factor``), else ``in / out``; an output
extent from a scale factor is ``floor(in * scale_factor)``.
"""
import math

import numpy as np

from ..errors import DTypeError, ShapeError
from . import ops
from .autograd import Function
from .dispatch import run

#: mode -> (the input ranks it takes, the per-axis rule)
_MODES = {"nearest": ((3, 4), "nearest"), "linear": ((3,), "linear"), "bilinear": ((4,), "linear")}


class _Resize(Function):
    saved = ()          # the gradient needs the input's shape only

    def forward(self, x):
        return run("resize", "resize", [x], attrs=(("out_size", self.out_size), ("rules", self.rules)))

    def backward(self, g):
        x, = self.inputs
        return (ops._kernel("resize_grad", "resize_grad", g, x_shape=x.shape, rules=self.rules),)


def _per_axis(value, count, what):
    """``value`` (a number or a sequence of ``count``) as a tuple of ``count``."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * count
    if len(values) != count:
        raise ShapeError(f"interpolate: {what} {value!r} must have {count} entries, one per spatial axis")
    return values


def _sizes(x, size, scale_factor, recompute_scale_factor):
    """(output extents, scale factors the index rules use, None each where ``in / out``)."""
    spatial = x.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ShapeError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        out = tuple(int(s) for s in _per_axis(size, len(spatial), "size"))
        factors = (None,) * len(spatial)
    else:
        factors = tuple(float(f) for f in _per_axis(scale_factor, len(spatial), "scale_factor"))
        if not all(f > 0 and math.isfinite(f) for f in factors):
            raise ShapeError(f"interpolate: scale_factor {scale_factor!r} must be positive and finite")
        out = tuple(math.floor(n * f) for n, f in zip(spatial, factors))
        if recompute_scale_factor:
            factors = (None,) * len(spatial)
    if not all(n > 0 for n in out):
        raise ShapeError(f"interpolate: the output size {out} of an input of shape {x.shape} must be positive")
    return out, factors


def _scale(n_in, n_out, rule, align_corners, factor):
    if rule == "nearest":
        # PyTorch's float32 arithmetic: 1 / scale_factor, or in / out
        return float(np.float32(1.0 / factor)) if factor else float(np.float32(n_in) / np.float32(n_out))
    if align_corners:
        return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return 1.0 / factor if factor else n_in / n_out


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """``input`` (N, C, L) or (N, C, H, W) resized to ``size`` or by ``scale_factor`` (a
    number or one per spatial axis), PyTorch's ``F.interpolate``: ``mode`` "nearest",
    "linear" (3-D) or "bilinear" (4-D); ``align_corners`` (linear modes only, default
    False) maps the corner pixels' centres onto each other. ``antialias`` is not
    supported."""
    if mode not in _MODES:
        raise ShapeError(f"interpolate: mode {mode!r} is not supported (use one of {tuple(_MODES)})")
    ranks, rule = _MODES[mode]
    if input.ndim not in ranks:
        raise ShapeError(f"interpolate: mode {mode!r} takes a {' or '.join(map(str, ranks))}-D input "
                         f"(N, C, *spatial), got shape {input.shape}")
    if align_corners is not None and rule == "nearest":
        raise ShapeError("interpolate: align_corners can only be set with the linear modes (linear, bilinear)")
    if antialias:
        raise ShapeError("interpolate: antialias=True is not supported")
    if not input.dtype.startswith("float"):
        raise DTypeError(f"interpolate: expects a floating-point tensor, got {input.dtype} of shape {input.shape}")
    out, factors = _sizes(input, size, scale_factor, recompute_scale_factor)
    rules = tuple((rule, bool(align_corners), _scale(n, m, rule, align_corners, f))
                  for n, m, f in zip(input.shape[2:], out, factors))
    x = input
    if input.ndim == 3:         # a height of one, copied as it is
        x, out, rules = ops.reshape(input, input.shape[:2] + (1, input.shape[2])), (1,) + out, \
            (("nearest", False, 1.0),) + rules
    y = _Resize.apply(x, out_size=out, rules=rules)
    return ops.reshape(y, y.shape[:2] + y.shape[3:]) if input.ndim == 3 else y
