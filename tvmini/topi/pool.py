"""2-D max and average pooling over NCHW tensors, and their gradients.

Padding is applied inside the window reduction (``-inf`` for max, zero for average,
whose divisor is always the full window: PyTorch's ``count_include_pad=True``); the
window reads sit in a ``select`` so nothing outside the input is ever read.

``max_pool2d_grad`` sends each output gradient to the first position of its window that
holds the maximum (the same element the forward pass picked): an argmax stage
(tag ``pool_argmax``, recomputing the window maxima) and a gather over the windows that
contain each input position (tag ``pool_grad``).
"""
from .. import te
from ..errors import ShapeError
from .conv import conv2d_output_size, pair
from .nn import check_float, check_rank, shape_of

__all__ = ["max_pool2d", "avg_pool2d", "max_pool2d_grad", "avg_pool2d_grad"]


def _attrs(op, kernel, stride, padding):
    kernel = pair(kernel, "kernel", op, 1)
    stride = kernel if stride is None else pair(stride, "stride", op, 1)
    padding = pair(padding, "padding", op, 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ShapeError(f"{op}: padding {list(padding)} must be at most half the kernel {list(kernel)}")
    return kernel, stride, padding


def _out_hw(op, in_hw, kernel, stride, padding):
    out = tuple(conv2d_output_size(s, k, st, p, 1) for s, k, st, p in zip(in_hw, kernel, stride, padding))
    if min(out) < 1:
        raise ShapeError(f"{op}: kernel {list(kernel)} does not fit input {list(in_hw)} with padding {list(padding)}")
    return out


def _input_dims(op, x):
    check_rank(op, x, 4)
    check_float(op, x)
    dims = shape_of(x)
    if not all(isinstance(d, int) for d in dims):
        raise ShapeError(f"{op}: {x.name} has symbolic shape {list(dims)}; pooling needs constant shapes")
    return dims


def _window(x, kernel, stride, padding, fill):
    """``(read(n, c, oy, ox, ky, kx), reduce axes)``: the padded window element."""
    _, _, H, W = shape_of(x)
    (sh, sw), (ph, pw) = stride, padding
    ky = te.reduce_axis((0, kernel[0]), name="ky")
    kx = te.reduce_axis((0, kernel[1]), name="kx")

    def read(n, c, oy, ox, ky, kx):
        h, w = oy * sh + ky - ph, ox * sw + kx - pw
        if ph == 0 and pw == 0:
            return x[n, c, h, w]
        return te.if_then_else(te.all(h >= 0, h < H, w >= 0, w < W), x[n, c, h, w], te.const(fill, x.dtype))
    return read, ky, kx


def max_pool2d(x, kernel, stride=None, padding=0):
    """Window maxima of ``x`` (N, C, H, W); ``stride`` defaults to ``kernel``, padding is -inf."""
    N, C, H, W = _input_dims("max_pool2d", x)
    kernel, stride, padding = _attrs("max_pool2d", kernel, stride, padding)
    OH, OW = _out_hw("max_pool2d", (H, W), kernel, stride, padding)
    read, ky, kx = _window(x, kernel, stride, padding, float("-inf"))
    return te.compute((N, C, OH, OW), lambda n, c, oy, ox: te.max(read(n, c, oy, ox, ky, kx), axis=[ky, kx]),
                      name="max_pool2d", tag="pool")


def avg_pool2d(x, kernel, stride=None, padding=0):
    """Window means of ``x`` (N, C, H, W), padding counted as zeros in every window."""
    N, C, H, W = _input_dims("avg_pool2d", x)
    kernel, stride, padding = _attrs("avg_pool2d", kernel, stride, padding)
    OH, OW = _out_hw("avg_pool2d", (H, W), kernel, stride, padding)
    read, ky, kx = _window(x, kernel, stride, padding, 0.0)
    total = te.compute((N, C, OH, OW), lambda n, c, oy, ox: te.sum(read(n, c, oy, ox, ky, kx), axis=[ky, kx]),
                       name="avg_pool2d.sum", tag="pool")
    scale = te.const(1.0 / (kernel[0] * kernel[1]), x.dtype)
    return te.compute((N, C, OH, OW), lambda n, c, oy, ox: total[n, c, oy, ox] * scale,
                      name="avg_pool2d", tag="pool_scale")


def _check_grad_out(op, grad_out, N, C, out_hw):
    check_rank(op, grad_out, 4)
    expected = (N, C, *out_hw)
    if tuple(shape_of(grad_out)) != expected:
        raise ShapeError(f"{op}: grad_out {grad_out.name} has shape {list(shape_of(grad_out))}; the forward "
                         f"output shape is {list(expected)}")


def _gather_windows(name, shape, out_hw, kernel, stride, padding, term, dtype):
    """``grad_in[n, c, h, w] = sum of term(n, c, oy, ox, ky, kx)`` over the windows
    (oy, ox) whose tap (ky, kx) lands on (h, w)."""
    (OH, OW), (sh, sw), (ph, pw) = out_hw, stride, padding
    ky = te.reduce_axis((0, kernel[0]), name="ky")
    kx = te.reduce_axis((0, kernel[1]), name="kx")
    zero = te.const(0, dtype)

    def value(n, c, h, w):
        ty, tx = h + ph - ky, w + pw - kx
        oy, ox = ty // sh, tx // sw
        hit = te.all(ty >= 0, tx >= 0, ty % sh == 0, tx % sw == 0, oy < OH, ox < OW)
        return te.sum(te.if_then_else(hit, term(n, c, oy, ox, ky, kx), zero), axis=[ky, kx])
    return te.compute(shape, value, name=name, tag="pool_grad")


def max_pool2d_grad(grad_out, x, kernel, stride=None, padding=0):
    """Gradient of ``max_pool2d`` with respect to ``x`` (ties: the first maximum in the window)."""
    N, C, H, W = _input_dims("max_pool2d_grad", x)
    check_float("max_pool2d_grad", grad_out, x)
    kernel, stride, padding = _attrs("max_pool2d_grad", kernel, stride, padding)
    out_hw = _out_hw("max_pool2d_grad", (H, W), kernel, stride, padding)
    _check_grad_out("max_pool2d_grad", grad_out, N, C, out_hw)
    maxima = max_pool2d(x, kernel, stride, padding)
    read, ky, kx = _window(x, kernel, stride, padding, float("-inf"))
    taps = kernel[0] * kernel[1]
    first = te.compute(
        (N, C, *out_hw),
        lambda n, c, oy, ox: te.min(te.if_then_else(read(n, c, oy, ox, ky, kx) == maxima[n, c, oy, ox],
                                                    ky * kernel[1] + kx, taps), axis=[ky, kx]),
        name="max_pool2d_grad.argmax", tag="pool_argmax")
    return _gather_windows(
        "max_pool2d_grad", (N, C, H, W), out_hw, kernel, stride, padding,
        lambda n, c, oy, ox, ky, kx: te.if_then_else(first[n, c, oy, ox] == ky * kernel[1] + kx,
                                                     grad_out[n, c, oy, ox], te.const(0, x.dtype)),
        x.dtype)


def avg_pool2d_grad(grad_out, input_shape, kernel, stride=None, padding=0):
    """Gradient of ``avg_pool2d`` with respect to its input, shape ``input_shape``."""
    check_rank("avg_pool2d_grad", grad_out, 4)
    check_float("avg_pool2d_grad", grad_out)
    N, C, H, W = input_shape
    kernel, stride, padding = _attrs("avg_pool2d_grad", kernel, stride, padding)
    out_hw = _out_hw("avg_pool2d_grad", (H, W), kernel, stride, padding)
    _check_grad_out("avg_pool2d_grad", grad_out, N, C, out_hw)
    scale = te.const(1.0 / (kernel[0] * kernel[1]), grad_out.dtype)
    return _gather_windows("avg_pool2d_grad", (N, C, H, W), out_hw, kernel, stride, padding,
                           lambda n, c, oy, ox, ky, kx: grad_out[n, c, oy, ox] * scale, grad_out.dtype)
