"""Padding layers, PyTorch's ``ZeroPad``, ``ConstantPad``, ``ReflectionPad``,
``ReplicationPad`` and ``CircularPad`` in 1, 2 and 3 dimensions: each holds its widths
``padding`` as a tuple (left, right[, top, bottom[, front, back]]) and calls ``F.pad``."""
from ..errors import ShapeError
from . import functional as F
from .module import Module


class _Pad(Module):
    """A fixed ``F.pad`` of the last ``axes`` axes in ``mode``."""

    axes = 1
    mode = "constant"

    def __init__(self, padding):
        super().__init__()
        widths = (padding,) * (2 * self.axes) if isinstance(padding, int) else tuple(padding)
        if len(widths) != 2 * self.axes or not all(isinstance(v, int) for v in widths):
            raise ShapeError(f"{type(self).__name__}: padding must be an int or {2 * self.axes} ints, got "
                             f"{padding!r}")
        self.padding = widths

    def forward(self, x):
        return F.pad(x, self.padding, mode=self.mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPad(_Pad):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, x):
        return F.pad(x, self.padding, value=self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


def _layer(name, base, axes, mode, doc):
    return type(name, (base,), {"axes": axes, "mode": mode, "__doc__": doc, "__module__": __name__})


_AXES = {1: "the last axis", 2: "the last two axes", 3: "the last three axes"}

ConstantPad1d, ConstantPad2d, ConstantPad3d = (
    _layer(f"ConstantPad{d}d", _ConstantPad, d, "constant", f"Pad {_AXES[d]} with ``value``.") for d in (1, 2, 3))


class _ZeroPad(_ConstantPad):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


ZeroPad1d, ZeroPad2d, ZeroPad3d = (
    _layer(f"ZeroPad{d}d", _ZeroPad, d, "constant", f"Pad {_AXES[d]} with zeros.") for d in (1, 2, 3))
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = (
    _layer(f"ReflectionPad{d}d", _Pad, d, "reflect",
           f"Pad {_AXES[d]} with their mirror image about the edge element (widths below the extent).")
    for d in (1, 2, 3))
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = (
    _layer(f"ReplicationPad{d}d", _Pad, d, "replicate", f"Pad {_AXES[d]} by repeating the edge element.")
    for d in (1, 2, 3))
CircularPad1d, CircularPad2d, CircularPad3d = (
    _layer(f"CircularPad{d}d", _Pad, d, "circular",
           f"Pad {_AXES[d]} by wrapping around (widths at most the extent).") for d in (1, 2, 3))
