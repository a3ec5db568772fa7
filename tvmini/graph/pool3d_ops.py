"""3-D pooling, unpooling and power-average (LP) pooling, with PyTorch's functional names.

Max pooling (plain and adaptive, with or without indices) is ``max_pool_ops``' kernel
over three spatial axes. Average pooling over a box is separable: the mean over a
(KD, KH, KW) window is the mean over KD planes of the (KH, KW) means, and each of
PyTorch's divisors (the whole window, the part inside the input with
``count_include_pad=False``, the part inside the padded input with ``ceil_mode``) is a
product of one count per axis, so ``avg_pool3d`` is ``avg_pool2d`` over (H, W) and then
over (D, 1) of the planes seen as (N, C, D, OH * OW), each with the same options. Adaptive
average pooling is separable the same way.

LP pooling is PyTorch's formula, ``(sum over the window of x^p)^(1/p)``, computed as it
does: an average pool of ``x^p`` times the window size, to the power ``1/p``.
"""
from ..errors import ShapeError
from .conv_ops import adaptive_avg_pool2d, avg_pool2d
from .conv1d_ops import avg_pool1d
from .max_pool_ops import adaptive_max_pool_nd, batched, geometry, max_pool_nd, max_unpool
from .nn_ops import _check_float
from .shape_ops import reshape
from .window_ops import adaptive_max_pool1d, adaptive_max_pool2d


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002 (torch's)
               return_indices=False):
    """Window maxima over (N, C, D, H, W) or (C, D, H, W), PyTorch's arguments in its order;
    ``return_indices``: also each maximum's int64 position ``(d * H + h) * W + w``."""
    return max_pool_nd("max_pool3d", input, 3, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
                            return_indices=False):
    """``max_pool1d`` returning (values, indices) (PyTorch's alias; ``return_indices`` ignored)."""
    return max_pool_nd("max_pool1d", input, 1, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
                            return_indices=False):
    """``max_pool2d`` returning (values, indices) (PyTorch's alias; ``return_indices`` ignored)."""
    return max_pool_nd("max_pool2d", input, 2, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
                            return_indices=False):
    """``max_pool3d`` returning (values, indices) (PyTorch's alias; ``return_indices`` ignored)."""
    return max_pool_nd("max_pool3d", input, 3, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool3d(input, output_size, return_indices=False):  # noqa: A002
    """Maxima over PyTorch's adaptive windows: (N, C, D, H, W) -> (N, C, *output_size) (an
    entry None keeps that extent); ``return_indices``: also each maximum's flat position."""
    return adaptive_max_pool_nd("adaptive_max_pool3d", input, 3, output_size, return_indices)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):  # noqa: A002
    """``adaptive_max_pool1d`` returning (values, indices) (PyTorch's alias)."""
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):  # noqa: A002
    """``adaptive_max_pool2d`` returning (values, indices) (PyTorch's alias)."""
    return adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):  # noqa: A002
    """``adaptive_max_pool3d`` returning (values, indices) (PyTorch's alias)."""
    return adaptive_max_pool_nd("adaptive_max_pool3d", input, 3, output_size, True)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,  # noqa: A002
               divisor_override=None):
    """Window means over (N, C, D, H, W) or (C, D, H, W) with PyTorch's options (see
    ``avg_pool2d``): ``count_include_pad``, ``ceil_mode`` and ``divisor_override``."""
    if divisor_override is not None and (not isinstance(divisor_override, int) or divisor_override == 0):
        raise ShapeError(f"avg_pool3d: divisor_override must be a nonzero int, got {divisor_override!r}")

    def pool(x):
        _check_float("avg_pool3d", x)
        kernel = geometry("avg_pool3d", kernel_size, "kernel_size", 3, 1)
        strides = kernel if stride is None or stride == () else geometry("avg_pool3d", stride, "stride", 3, 1)
        pads = geometry("avg_pool3d", padding, "padding", 3, 0)
        n, c, d, h, w = x.shape
        # sums (divisor 1) when the divisor is overridden, else each stage's own means
        divisor = None if divisor_override is None else 1
        planes = avg_pool2d(reshape(x, (n, c * d, h, w)), kernel[1:], strides[1:], pads[1:], ceil_mode,
                            count_include_pad, divisor)
        oh, ow = planes.shape[2:]
        out = avg_pool2d(reshape(planes, (n, c, d, oh * ow)), (kernel[0], 1), (strides[0], 1), (pads[0], 0),
                         ceil_mode, count_include_pad, divisor)
        out = reshape(out, (n, c, out.shape[2], oh, ow))
        return out if divisor_override is None else out * (1.0 / divisor_override)
    return batched("avg_pool3d", input, 3, pool)


def adaptive_avg_pool3d(input, output_size):  # noqa: A002
    """Means over PyTorch's adaptive windows: (N, C, D, H, W) -> (N, C, *output_size) (an
    entry None keeps that extent), as adaptive means over (H, W) and then over D."""
    def pool(x):
        _check_float("adaptive_avg_pool3d", x)
        sizes = (output_size,) * 3 if isinstance(output_size, int) or output_size is None else tuple(output_size)
        if len(sizes) != 3:
            raise ShapeError(f"adaptive_avg_pool3d: output_size must be an int or a 3-tuple, got {output_size!r}")
        sizes = tuple(x.shape[2 + a] if s is None else s for a, s in enumerate(sizes))
        if not all(isinstance(s, int) and s >= 1 for s in sizes):
            raise ShapeError(f"adaptive_avg_pool3d: output_size {output_size!r} must be positive ints")
        n, c, d, h, w = x.shape
        planes = adaptive_avg_pool2d(reshape(x, (n, c * d, h, w)), sizes[1:])
        out = adaptive_avg_pool2d(reshape(planes, (n, c, d, sizes[1] * sizes[2])), (sizes[0], sizes[1] * sizes[2]))
        return reshape(out, (n, c) + sizes)
    return batched("adaptive_avg_pool3d", input, 3, pool)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):  # noqa: A002
    """The inverse of ``max_pool1d``: (N, C, L) values at their ``indices`` in zeros of
    length ``(L - 1) * stride - 2 * padding + kernel_size`` (or ``output_size``)."""
    return max_unpool("max_unpool1d", input, indices, 1, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):  # noqa: A002
    """The inverse of ``max_pool2d`` over (N, C, H, W) or (C, H, W) (see ``max_unpool1d``)."""
    return max_unpool("max_unpool2d", input, indices, 2, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):  # noqa: A002
    """The inverse of ``max_pool3d`` over (N, C, D, H, W) or (C, D, H, W) (see ``max_unpool1d``)."""
    return max_unpool("max_unpool3d", input, indices, 3, kernel_size, stride, padding, output_size)


def _lp_pool(op, x, norm_type, kernel, pool):
    """PyTorch's LP pooling: ``sign(s) * relu(|s|) * window`` to the power ``1/norm_type``,
    ``s`` the average pool of ``x ** norm_type`` (``pool``)."""
    _check_float(op, x)
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)) or norm_type == 0:
        raise ShapeError(f"{op}: norm_type must be a nonzero number, got {norm_type!r}")
    area = 1
    for k in kernel:
        area *= k
    out = pool(x ** float(norm_type))
    return (out.sign() * out.abs().relu() * float(area)) ** (1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):  # noqa: A002
    """Power-average pooling over (N, C, L) or (C, L): ``(sum of x^p over each window)^(1/p)``."""
    kernel = geometry("lp_pool1d", kernel_size, "kernel_size", 1, 1)
    return _lp_pool("lp_pool1d", input, norm_type, kernel,
                    lambda x: avg_pool1d(x, kernel, stride, 0, ceil_mode))


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):  # noqa: A002
    """Power-average pooling over (N, C, H, W) or (C, H, W) (see ``lp_pool1d``)."""
    kernel = geometry("lp_pool2d", kernel_size, "kernel_size", 2, 1)
    return _lp_pool("lp_pool2d", input, norm_type, kernel,
                    lambda x: avg_pool2d(x, kernel, stride, 0, ceil_mode))


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):  # noqa: A002
    """Power-average pooling over (N, C, D, H, W) or (C, D, H, W) (see ``lp_pool1d``)."""
    kernel = geometry("lp_pool3d", kernel_size, "kernel_size", 3, 1)
    return _lp_pool("lp_pool3d", input, norm_type, kernel,
                    lambda x: avg_pool3d(x, kernel, stride, 0, ceil_mode))
