"""Sliding and adaptive windows read by index: PyTorch's ``F.unfold`` (im2col),
``F.fold`` (col2im) and ``F.adaptive_max_pool1d/2d``.

Each is a gather from or a scatter-add into the flattened spatial plane with an index
table computed here on the host from the geometry: ``unfold`` is ``index_select`` of the
(zero-padded) plane, ``fold`` ``index_add`` into a zero plane with the same table. As
``index_select``'s gradient is an ``index_add`` and ``index_add``'s (for its source) an
``index_select`` with the same index, unfold's gradient is fold and fold's is unfold,
and ``tm.jit`` traces both. Adaptive max pooling gathers each output's window (padded
to the widest window by repeating an in-window element), takes the first maximum with
``argmax`` and reads it with ``take_along_dim``, so the gradient goes to that element.
"""
import numpy as np

from ..errors import ShapeError
from . import join_ops, ops
from .conv_ops import _pair
from .creation import zeros
from .gather_ops import index_add
from .index_ops import index_select
from .layout_aliases import take_along_dim
from .nn_ops import _check_float
from .tensor import tensor


def _geometry(op, spatial, kernel_size, dilation, padding, stride):
    """(kernel, dilation, padding, stride, output extents) of a window over ``spatial``
    (H, W), checked as PyTorch checks them."""
    kernel, dilation, padding, stride = (_pair(v, name, op) for v, name in (
        (kernel_size, "kernel_size"), (dilation, "dilation"), (padding, "padding"), (stride, "stride")))
    if min(kernel + dilation + stride) < 1 or min(padding) < 0:
        raise ShapeError(f"{op}: kernel_size {kernel}, dilation {dilation} and stride {stride} must be positive and "
                         f"padding {padding} non-negative")
    out = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, d, p, s in zip(spatial, kernel, dilation, padding,
                                                                                 stride))
    if min(out) < 1:
        raise ShapeError(f"{op}: a {kernel} window (dilation {dilation}) does not fit the spatial shape {spatial} "
                         f"with padding {padding}: the output would be {out}")
    return kernel, dilation, padding, stride, out


def _column_index(padded_width, kernel, dilation, stride, out, device):
    """Flat positions in the padded (Hp * Wp) plane of every (ki, kj, oi, oj), in
    PyTorch's column order (kernel offset major, output position minor)."""
    ki, kj, oi, oj = np.meshgrid(*(np.arange(n) for n in kernel + out), indexing="ij")
    flat = (oi * stride[0] + ki * dilation[0]) * padded_width + oj * stride[1] + kj * dilation[1]
    return tensor(flat.reshape(-1).astype("int64"), device=device)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002  (torch's argument name)
    """im2col: the sliding ``kernel_size`` windows of ``input`` (N, C, H, W) as columns,
    (N, C * kh * kw, L) with L the number of window positions; (C, H, W) gives
    (C * kh * kw, L). Zero ``padding`` on both sides of each spatial axis."""
    if input.ndim == 3:
        out = unfold(ops.reshape(input, (1,) + input.shape), kernel_size, dilation, padding, stride)
        return ops.reshape(out, out.shape[1:])
    if input.ndim != 4:
        raise ShapeError(f"unfold: input must be (N, C, H, W) or unbatched (C, H, W), got shape {input.shape}")
    n, c, h, w = input.shape
    kernel, dilation, padding, stride, out = _geometry("unfold", (h, w), kernel_size, dilation, padding, stride)
    plane = join_ops.pad(input, (padding[1], padding[1], padding[0], padding[0])) if any(padding) else input
    height, width = h + 2 * padding[0], w + 2 * padding[1]
    index = _column_index(width, kernel, dilation, stride, out, input.device)
    cols = index_select(ops.reshape(plane, (n, c, height * width)), 2, index)
    return ops.reshape(cols, (n, c * kernel[0] * kernel[1], out[0] * out[1]))


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """col2im, unfold's adjoint: columns (N, C * kh * kw, L) summed back into an
    (N, C, *output_size) image, overlapping windows adding up; (C * kh * kw, L) gives
    (C, *output_size)."""
    if input.ndim == 2:
        out = fold(ops.reshape(input, (1,) + input.shape), output_size, kernel_size, dilation, padding, stride)
        return ops.reshape(out, out.shape[1:])
    if input.ndim != 3:
        raise ShapeError(f"fold: input must be (N, C * kh * kw, L) or unbatched (C * kh * kw, L), got shape "
                         f"{input.shape}")
    size = _pair(output_size, "output_size", "fold")
    kernel, dilation, padding, stride, out = _geometry("fold", size, kernel_size, dilation, padding, stride)
    n, rows, length = input.shape
    area = kernel[0] * kernel[1]
    if rows % area or length != out[0] * out[1]:
        raise ShapeError(f"fold: input of shape {input.shape} must be (N, C * {area}, {out[0] * out[1]}) for a "
                         f"{kernel} kernel over output_size {size} (dilation {dilation}, padding {padding}, "
                         f"stride {stride})")
    c = rows // area
    height, width = size[0] + 2 * padding[0], size[1] + 2 * padding[1]
    index = _column_index(width, kernel, dilation, stride, out, input.device)
    canvas = zeros(n, c, height * width, dtype=input.dtype, device=input.device)
    plane = ops.reshape(index_add(canvas, 2, index, ops.reshape(input, (n, c, area * length))), (n, c, height, width))
    if not any(padding):
        return plane
    return plane[:, :, padding[0]:padding[0] + size[0], padding[1]:padding[1] + size[1]]


def _adaptive_windows(extent, size):
    """(size, widest) input positions of PyTorch's adaptive windows over ``extent``:
    window i covers floor(i * extent / size) .. ceil((i + 1) * extent / size) - 1, a
    shorter one padded by repeating its last position."""
    i = np.arange(size)
    starts, ends = i * extent // size, -(-(i + 1) * extent // size)
    widest = int((ends - starts).max())
    return np.minimum(starts[:, None] + np.arange(widest), ends[:, None] - 1)


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
    rows, cols = _adaptive_windows(h, sizes[0]), _adaptive_windows(w, sizes[1])
    kh, kw = rows.shape[1], cols.shape[1]
    windows = index_select(input, 2, tensor(rows.reshape(-1), device=input.device))
    windows = index_select(windows, 3, tensor(cols.reshape(-1), device=input.device))
    windows = ops.reshape(windows, (n, c, sizes[0], kh, sizes[1], kw)).permute(0, 1, 2, 4, 3, 5)
    windows = ops.reshape(windows, (n, c, sizes[0], sizes[1], kh * kw))
    best = ops.argmax(windows, -1, keepdims=True)
    values = ops.reshape(take_along_dim(windows, best, -1), (n, c) + sizes)
    if not return_indices:
        return values
    table = (rows[:, None, :, None] * w + cols[None, :, None, :]).reshape(sizes[0], sizes[1], kh * kw)
    table = ops.broadcast_to(tensor(table.astype("int64"), device=input.device), windows.shape)
    return values, ops.reshape(take_along_dim(table, best, -1), (n, c) + sizes)


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
