"""Sliding and adaptive windows: PyTorch's ``F.unfold`` (im2col), ``F.fold`` (col2im)
and ``F.adaptive_max_pool1d/2d``.

``unfold`` and ``fold`` are one kernel each (``topi.windows``); fold is unfold's adjoint, so
the gradient of each is the other applied to the output's gradient (and ``tm.jit``
traces both). Adaptive max pooling is one kernel giving each window's maximum and the
position of its first maximum (``topi.windows.adaptive_max``); the gradient goes back to
that position alone (``adaptive_max_grad``, a gather over the few windows holding each
pixel). It replaced an ``index_select`` of every window, an ``argmax`` and a read at the
argmax (8x64x32x32 -> 7x7 forward on 2 shared cores: 13-43 -> 1.0-1.3 ms, torch 0.8-1.2
ms; see benchmarks/tensorops.py).
"""

from ..errors import ShapeError
from ..topi.windows import adaptive_max, adaptive_max_grad, col2im, im2col, window_counts
from . import ops
from .autograd import Function
from .conv_ops import _pair
from .dispatch import run
from .ops import _kernel
from .nn_ops import _check_float, _check_tensor
from .tensor import Tensor


def _geometry(op, kernel_size, dilation, padding, stride):
    """(kernel, dilation, padding, stride) as pairs, checked as PyTorch checks them."""
    kernel, dilation, padding, stride = (_pair(v, name, op) for v, name in (
        (kernel_size, "kernel_size"), (dilation, "dilation"), (padding, "padding"), (stride, "stride")))
    if min(kernel + dilation + stride) < 1 or min(padding) < 0:
        raise ShapeError(f"{op}: kernel_size {kernel}, dilation {dilation} and stride {stride} must be positive and "
                         f"padding {padding} non-negative")
    return kernel, dilation, padding, stride


class _Unfold(Function):
    """im2col (``topi.windows.im2col``); the gradient is col2im of the output's gradient."""
    saved = ()

    def forward(self, x):
        return run("im2col", im2col, [x], attrs=self.geometry)

    def backward(self, g):
        return (_Fold.apply(g, size=self.inputs[0].shape[2:], geometry=self.geometry),)


class _AdaptiveMax(Function):
    """Adaptive max pooling's values, found with their flat positions ``indices`` by one
    kernel before the op is recorded (attribute ``values``: the kernel gives both, and
    the positions are an output of their own); the gradient goes back to those
    positions (``topi.windows``)."""
    nondiff = (1,)
    saved = (1,)

    def forward(self, x, indices):
        return self.values

    def backward(self, g):
        x, indices = self.inputs
        return _kernel("adaptive_max_grad", adaptive_max_grad, g, indices, size=x.shape[2:]), None


class _Fold(Function):
    """col2im (``topi.windows.col2im``); the gradient is im2col of the output's gradient."""
    saved = ()

    def forward(self, cols):
        return run("col2im", col2im, [cols], attrs=(("size", self.size),) + self.geometry)

    def backward(self, g):
        return (_Unfold.apply(g, geometry=self.geometry),)


def _attrs(kernel, dilation, padding, stride):
    return ("kernel", kernel), ("dilation", dilation), ("padding", padding), ("stride", stride)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002  (torch's argument name)
    """im2col: the sliding ``kernel_size`` windows of ``input`` (N, C, H, W) as columns,
    (N, C * kh * kw, L) with L the number of window positions, PyTorch's column order;
    (C, H, W) gives (C * kh * kw, L). Zero ``padding`` on both sides of each spatial axis."""
    _check_tensor("unfold", input)
    if input.ndim == 3:
        out = unfold(ops.reshape(input, (1,) + input.shape), kernel_size, dilation, padding, stride)
        return ops.reshape(out, out.shape[1:])
    if input.ndim != 4:
        raise ShapeError(f"unfold: input must be (N, C, H, W) or unbatched (C, H, W), got shape {input.shape}")
    geometry = _geometry("unfold", kernel_size, dilation, padding, stride)
    window_counts(input.shape[2:], *geometry, "unfold")
    return _Unfold.apply(input, geometry=_attrs(*geometry))


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """col2im, unfold's adjoint: columns (N, C * kh * kw, L) summed back into an
    (N, C, *output_size) image, overlapping windows adding up; (C * kh * kw, L) gives
    (C, *output_size)."""
    _check_tensor("fold", input)
    if input.ndim == 2:
        out = fold(ops.reshape(input, (1,) + input.shape), output_size, kernel_size, dilation, padding, stride)
        return ops.reshape(out, out.shape[1:])
    if input.ndim != 3:
        raise ShapeError(f"fold: input must be (N, C * kh * kw, L) or unbatched (C * kh * kw, L), got shape "
                         f"{input.shape}")
    size = _pair(output_size, "output_size", "fold")
    geometry = _geometry("fold", kernel_size, dilation, padding, stride)
    out = window_counts(size, *geometry, "fold")
    kernel, dilation, padding, stride = geometry
    area = kernel[0] * kernel[1]
    if input.shape[1] % area or input.shape[2] != out[0] * out[1]:
        raise ShapeError(f"fold: input of shape {input.shape} must be (N, C * {area}, {out[0] * out[1]}) for a "
                         f"{kernel} kernel over output_size {size} (dilation {dilation}, padding {padding}, "
                         f"stride {stride})")
    return _Fold.apply(input, size=size, geometry=_attrs(*geometry))


def adaptive_max_pool2d(input, output_size, return_indices=False):  # noqa: A002
    """Maxima over PyTorch's adaptive windows: (N, C, H, W) -> (N, C, *output_size)
    (an entry None keeps that extent; (C, H, W) works too); ``return_indices``: also the
    int64 position ``h * W + w`` of each maximum in its plane (the first, on ties)."""
    if input.ndim == 3:
        out = adaptive_max_pool2d(ops.reshape(input, (1,) + input.shape), output_size, return_indices)
        if return_indices:
            return tuple(ops.reshape(t, t.shape[1:]) for t in out)
        return ops.reshape(out, out.shape[1:])
    _check_float("adaptive_max_pool2d", input)
    if input.ndim != 4:
        raise ShapeError(f"adaptive_max_pool2d: expects an (N, C, H, W) or (C, H, W) input, got shape {input.shape}")
    n, c, h, w = input.shape
    sizes = (output_size, output_size) if isinstance(output_size, int) or output_size is None else tuple(output_size)
    if len(sizes) != 2:
        raise ShapeError(f"adaptive_max_pool2d: output_size must be an int or a pair, got {output_size!r}")
    sizes = tuple(input.shape[2 + a] if s is None else s for a, s in enumerate(sizes))
    if not all(isinstance(s, int) and s >= 1 for s in sizes) or min(h, w) < 1:
        raise ShapeError(f"adaptive_max_pool2d: output_size {output_size!r} must be positive ints and the input "
                         f"{input.shape} non-empty")
    values, indices = run("adaptive_max", adaptive_max, [input._data], attrs=(("output_size", sizes),))
    indices = Tensor._wrap(indices)
    values = _AdaptiveMax.apply(input, indices, values=values)
    return (values, indices) if return_indices else values


def adaptive_max_pool1d(input, output_size, return_indices=False):  # noqa: A002
    """Maxima over adaptive windows of (N, C, L) or (C, L) to length ``output_size``;
    ``return_indices``: also each maximum's int64 position along L."""
    if input.ndim not in (2, 3):
        raise ShapeError(f"adaptive_max_pool1d: expects an (N, C, L) or (C, L) input, got shape {input.shape}")
    if not isinstance(output_size, int) and not (isinstance(output_size, (tuple, list)) and len(output_size) == 1):
        raise ShapeError(f"adaptive_max_pool1d: output_size must be an int or a 1-tuple, got {output_size!r}")
    size = output_size if isinstance(output_size, int) else output_size[0]
    out = adaptive_max_pool2d(input.unsqueeze(-2), (1, size), return_indices)
    if return_indices:
        return tuple(t.squeeze(-2) for t in out)
    return out.squeeze(-2)
