"""1-D convolution (plain and transposed), pooling and adaptive average pooling over
(N, C, L) or unbatched (C, L) inputs: the 2-D kernels over a height of one
(``(N, C, 1, L)`` with ``(1, k)`` windows), so every 1-D op runs the tuned
conv2d/pooling kernels and their gradients."""
from ..errors import ShapeError
from . import conv_ops, ops
from .max_pool_ops import max_pool_nd


def _single(value, what, op):
    """An int or a 1-tuple of a 1-D geometry as an int."""
    if isinstance(value, int):
        return value
    value = tuple(value)
    if len(value) != 1 or not isinstance(value[0], int):
        raise ShapeError(f"{op}: {what} must be an int or a 1-tuple of ints, got {value!r}")
    return value[0]


def _as_2d(op, x, fn, *args):
    """``fn`` (a 2-D op) on ``x`` (N, C, L) or (C, L) seen with a height of one."""
    if x.ndim not in (2, 3):
        raise ShapeError(f"{op}: input must be (N, C, L) or unbatched (C, L), got shape {x.shape}")
    height = x.ndim - 1
    out = fn(ops.reshape(x, x.shape[:height] + (1, x.shape[-1])), *args)
    return ops.reshape(out, out.shape[:height] + out.shape[height + 1:])


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation: x (N, C, L), weight (F, C/groups, K), bias (F,) -> (N, F, OL);
    PyTorch's arguments (``padding`` an int or "same"/"valid")."""
    if weight.ndim != 3:
        raise ShapeError(f"conv1d: weight of shape {weight.shape} is not (F, C/groups, K)")
    pad = padding if isinstance(padding, str) else (0, _single(padding, "padding", "conv1d"))
    geometry = [(1, _single(v, what, "conv1d")) for v, what in ((stride, "stride"), (dilation, "dilation"))]
    return _as_2d("conv1d", x, conv_ops.conv2d, ops.reshape(weight, weight.shape[:2] + (1, weight.shape[2])), bias,
                  geometry[0], pad, geometry[1], groups)


def _pool_geometry(op, kernel_size, stride, padding):
    kernel = _single(kernel_size, "kernel_size", op)
    stride = kernel if stride is None or stride == () else _single(stride, "stride", op)
    return (1, kernel), (1, stride), (0, _single(padding, "padding", op))


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Window maxima over (N, C, L) or (C, L), PyTorch's arguments in its order; a
    ``dilation`` or ``return_indices`` (then (values, int64 positions)) take
    ``max_pool_ops``' kernel."""
    if _single(dilation, "dilation", "max_pool1d") != 1 or return_indices:
        return max_pool_nd("max_pool1d", x, 1, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    return _as_2d("max_pool1d", x, conv_ops.max_pool2d, *_pool_geometry("max_pool1d", kernel_size, stride, padding),
                  1, ceil_mode)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Window means over (N, C, L) or (C, L), with PyTorch's ``ceil_mode`` and
    ``count_include_pad``."""
    return _as_2d("avg_pool1d", x, conv_ops.avg_pool2d, *_pool_geometry("avg_pool1d", kernel_size, stride, padding),
                  ceil_mode, count_include_pad)


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 1-D convolution: x (N, C, L) or (C, L), weight (C, F/groups, K), bias
    (F,) -> (N, F, OL), ``OL = (L - 1) * stride - 2 * padding + dilation * (K - 1) +
    output_padding + 1``; PyTorch's arguments in its order."""
    if weight.ndim != 3:
        raise ShapeError(f"conv_transpose1d: weight of shape {weight.shape} is not (C, F/groups, K)")
    geometry = [(0 if what in ("padding", "output_padding") else 1, _single(v, what, "conv_transpose1d"))
                for v, what in ((stride, "stride"), (padding, "padding"), (output_padding, "output_padding"),
                                (dilation, "dilation"))]
    return _as_2d("conv_transpose1d", x, conv_ops.conv_transpose2d,
                  ops.reshape(weight, weight.shape[:2] + (1, weight.shape[2])), bias, *geometry[:3], groups,
                  geometry[3])


def adaptive_avg_pool1d(x, output_size):
    """Means over PyTorch's adaptive windows: (N, C, L) -> (N, C, output_size), or
    (C, L) -> (C, output_size)."""
    return _as_2d("adaptive_avg_pool1d", x, conv_ops.adaptive_avg_pool2d,
                  (1, _single(output_size, "output_size", "adaptive_avg_pool1d")))
