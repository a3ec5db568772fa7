"""2-D max and average pooling over NCHW tensors, and their gradients.

Padding (``-inf`` for max, zero for average, whose divisor is always the full window:
PyTorch's ``count_include_pad=True``) is a stage of its own (tag ``pool_pad``): the
padded input, which the CPU schedules compute plane by plane right before the windows
read it, so the window reads need no guard and run as vector code where guarded reads
kept them scalar (3x3 stride-2 padding-1 max pooling on Zen 5, A/B: 64x64x28x28
3.6 -> 0.5 ms, 64x64x14x14 1.1 -> 0.2 ms, 8x64x112x112 1.5 -> 0.9 ms). The CUDA
schedules inline it. Their gradients, computed by phase (:func:`_gather_by_phase`), went
12-14 -> 3.4-4.1, 4.0 -> 0.7-1.0 and 11-14 -> 3.5 ms (torch 1.9, 0.3, 3.3 ms).

``max_pool2d_grad`` sends each output gradient to the first position of its window that
holds the maximum (the same element the forward pass picked): an argmax stage
(tag ``pool_argmax``, recomputing the window maxima) and a gather over the windows that
contain each input position (tag ``pool_grad``), found by division (at most
``ceil(kernel / stride)`` per axis, one where windows do not overlap).
"""
from .. import te
from ..errors import ShapeError
from .conv_common import conv2d_output_size, pair
from .nn import check_float, check_rank, shape_of

__all__ = ["max_pool2d", "avg_pool2d", "max_pool2d_grad", "avg_pool2d_grad", "adaptive_avg_pool2d",
           "adaptive_avg_pool2d_grad"]


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


def _padded(x, padding, fill):
    """``x`` with ``padding`` rows/columns of ``fill`` on each side (``x`` itself when
    there is none): the only stage of a pooling that tests for the border."""
    (ph, pw) = padding
    if ph == 0 and pw == 0:
        return x
    _, _, H, W = shape_of(x)
    return _framed(x, padding, (H + 2 * ph, W + 2 * pw), fill, "pool_pad")


def _framed(t, offset, shape, fill, suffix):
    """(N, C, OH, OW) tensor ``t`` at ``offset`` (rows, columns) in a (N, C, *shape)
    tensor of ``fill`` (tag ``pool_pad``: computed where its one reader needs it)."""
    N, C, OH, OW = shape_of(t)
    (rows, cols), value = offset, te.const(fill, t.dtype)
    return te.compute((N, C, *shape),
                      lambda n, c, i, j: te.if_then_else(te.all(i >= rows, i < OH + rows, j >= cols, j < OW + cols),
                                                         t[n, c, i - rows, j - cols], value),
                      name=f"{t.name}.{suffix}", tag="pool_pad")


def _window(padded, kernel, stride):
    """``(read(n, c, oy, ox, ky, kx), reduce axes)``: the window element of ``padded``."""
    (sh, sw) = stride
    ky = te.reduce_axis((0, kernel[0]), name="ky")
    kx = te.reduce_axis((0, kernel[1]), name="kx")

    def read(n, c, oy, ox, ky, kx):
        return padded[n, c, oy * sh + ky, ox * sw + kx]
    return read, ky, kx


def _window_maxima(padded, out_shape, kernel, stride, name="max_pool2d"):
    """Window maxima of ``padded``: ``max_pool2d``'s output (tag ``pool``)."""
    read, ky, kx = _window(padded, kernel, stride)
    return te.compute(out_shape, lambda n, c, oy, ox: te.max(read(n, c, oy, ox, ky, kx), axis=[ky, kx]),
                      name=name, tag="pool")


def _clamp(index, extent):
    return te.min(te.max(index, 0), extent - 1)


def max_pool2d(x, kernel, stride=None, padding=0):
    """Window maxima of ``x`` (N, C, H, W); ``stride`` defaults to ``kernel``, padding is -inf."""
    N, C, H, W = _input_dims("max_pool2d", x)
    kernel, stride, padding = _attrs("max_pool2d", kernel, stride, padding)
    OH, OW = _out_hw("max_pool2d", (H, W), kernel, stride, padding)
    return _window_maxima(_padded(x, padding, float("-inf")), (N, C, OH, OW), kernel, stride)


def avg_pool2d(x, kernel, stride=None, padding=0):
    """Window means of ``x`` (N, C, H, W), padding counted as zeros in every window."""
    N, C, H, W = _input_dims("avg_pool2d", x)
    kernel, stride, padding = _attrs("avg_pool2d", kernel, stride, padding)
    OH, OW = _out_hw("avg_pool2d", (H, W), kernel, stride, padding)
    read, ky, kx = _window(_padded(x, padding, 0.0), kernel, stride)
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


def _windows_of(position, stride, pad, kernel, outputs):
    """The window along one axis that holds input ``position`` when windows do not
    overlap: ``(window clamped into [0, outputs), tap, whether it holds it)``. Window
    ``o = (position + pad) // stride`` holds it at tap ``position + pad - o * stride``
    (never negative) when the tap is inside the kernel and the window exists; the
    clamped index lets ``term`` be read whatever the guard."""
    o = (position + pad) // stride
    tap = position + pad - o * stride
    return _clamp(o, outputs), tap, te.all(o < outputs, tap < kernel)


def _gather_windows(name, shape, out_hw, kernel, stride, padding, fills, term, dtype):
    """``grad_in[n, c, h, w] = sum of term(at, ky, kx)`` over the windows (oy, ox) whose
    tap (ky, kx) lands on (h, w), ``at(t)`` being window tensor ``t`` (one of ``fills``,
    which maps each to the value it has outside the windows) at that window.

    Along an axis a position lies in at most ``ceil(kernel / stride)`` windows.
    Non-overlapping windows (stride >= kernel, as in the usual 2x2 stride-2 pooling)
    leave one candidate, found by division (:func:`_windows_of`): no reduction at all
    (LeNet's 64x6x24x24 max-pool gradient 890 -> 95 us). Overlapping windows go by phase
    (:func:`_gather_by_phase`)."""
    (OH, OW), (sh, sw), (ph, pw) = out_hw, stride, padding
    if sh < kernel[0] or sw < kernel[1]:
        return _gather_by_phase(name, shape, out_hw, kernel, stride, padding, fills, term, dtype)
    zero = te.const(0, dtype)

    def value(n, c, h, w):
        oy, ky, in_y = _windows_of(h, sh, ph, kernel[0], OH)
        ox, kx, in_x = _windows_of(w, sw, pw, kernel[1], OW)
        return te.if_then_else(te.all(in_y, in_x), term(lambda t: t[n, c, oy, ox], ky, kx), zero)
    return te.compute(shape, value, name=name, tag="pool_grad")


def _gather_by_phase(name, shape, out_hw, kernel, stride, padding, fills, term, dtype):
    """:func:`_gather_windows` for overlapping windows, one phase at a time.

    Padded input row ``h + ph = qy * sh + ry`` lies in windows ``oy = qy - a`` at tap
    ``ky = ry + a * sh`` (``a < ceil(kh / sh)``, ``ky < kh``): for a fixed phase ``ry``
    the taps do not depend on ``qy``, and the windows ``qy - a`` of consecutive ``qy``
    are consecutive. So a stage (tag ``pool_grad_phases``) sums, per phase (ry, rx), over
    window tensors bordered by their ``fills`` (:func:`_framed`: no window index is
    clamped or tested), with plain vector loads along ``qx``; the gradient
    interleaves the phases back (``h + ph = qy * sh + ry``). 3x3 stride-2 padding-1 max
    pooling gradient (Zen 5, A/B against candidate windows found by division and
    gathered): 64x64x28x28 7.3 -> 3.4-4.1 ms, 64x64x14x14 2.0 -> 0.7-1.0 ms; in AVX2 code
    6.0 -> 2.6 ms and 1.9 -> 0.9 ms. Most of what is left is the argmax (its window
    maxima, then the first tap holding them: 3x the forward pass)."""
    N, C, H, W = shape
    (OH, OW), (sh, sw), (ph, pw) = out_hw, stride, padding
    cy, cx = -(-kernel[0] // sh), -(-kernel[1] // sw)
    QH, QW = -(-(H + ph) // sh), -(-(W + pw) // sw)
    PH, PW = max(QH, OH) + cy - 1, max(QW, OW) + cx - 1
    bordered = {t: _framed(t, (cy - 1, cx - 1), (PH, PW), fill, "bordered") for t, fill in fills.items()}
    a, b = te.reduce_axis((0, cy), name="a"), te.reduce_axis((0, cx), name="b")
    zero = te.const(0, dtype)

    def phase(n, c, ry, rx, qy, qx):
        ky, kx = ry + a.var * sh, rx + b.var * sw
        i, j = qy - a.var + (cy - 1), qx - b.var + (cx - 1)
        share = term(lambda t: bordered[t][n, c, i, j], ky, kx)
        return te.sum(te.if_then_else(te.all(ky < kernel[0], kx < kernel[1]), share, zero), axis=[a, b])
    phases = te.compute((N, C, sh, sw, QH, QW), phase, name=f"{name}.phases", tag="pool_grad_phases")
    return te.compute(shape, lambda n, c, h, w: phases[n, c, (h + ph) % sh, (w + pw) % sw, (h + ph) // sh,
                                                       (w + pw) // sw], name=name, tag="pool_grad")


def max_pool2d_grad(grad_out, x, kernel, stride=None, padding=0):
    """Gradient of ``max_pool2d`` with respect to ``x`` (ties: the first maximum in the window)."""
    N, C, H, W = _input_dims("max_pool2d_grad", x)
    check_float("max_pool2d_grad", grad_out, x)
    kernel, stride, padding = _attrs("max_pool2d_grad", kernel, stride, padding)
    out_hw = _out_hw("max_pool2d_grad", (H, W), kernel, stride, padding)
    _check_grad_out("max_pool2d_grad", grad_out, N, C, out_hw)
    # The maxima and the argmax each read a padded copy of their own, so that each copy
    # can be computed right where its one reader needs it (a row of windows at a time).
    maxima = _window_maxima(_padded(x, padding, float("-inf")), (N, C, *out_hw), kernel, stride,
                            name="max_pool2d_grad.maxima")
    read, ky, kx = _window(_padded(x, padding, float("-inf")), kernel, stride)
    # The argmax is a tap number. Where windows overlap it is held in a float, so that
    # the gradient's tests of it are float comparisons, which x86 selects on without a
    # branch; a float select on an integer comparison becomes a branch, mispredicted on
    # data (3x3 stride-2 windows: 1.7x faster so). A single candidate window per
    # position tests once, and int32 measured faster there (2x2 stride 2: 68 vs 100 us).
    overlapping = stride[0] < kernel[0] or stride[1] < kernel[1]
    dtype = x.dtype if overlapping else "int32"

    def tap(ky, kx):
        return (ky * kernel[1] + kx).astype(dtype)
    def is_max(n, c, oy, ox, ky, kx):   # a NaN is the maximum (as in PyTorch): it takes the gradient
        value = read(n, c, oy, ox, ky, kx)
        return (value == maxima[n, c, oy, ox]) | (value != value)
    first = te.compute(
        (N, C, *out_hw),
        lambda n, c, oy, ox: te.min(te.if_then_else(is_max(n, c, oy, ox, ky, kx), tap(ky, kx),
                                                    te.const(kernel[0] * kernel[1], dtype)), axis=[ky, kx]),
        name="max_pool2d_grad.argmax", tag="pool_argmax")
    # outside the windows the argmax is -1, a tap no window position has
    return _gather_windows(
        "max_pool2d_grad", (N, C, H, W), out_hw, kernel, stride, padding, {first: -1, grad_out: 0},
        lambda at, ky, kx: te.if_then_else(at(first) == tap(ky, kx), at(grad_out), te.const(0, x.dtype)), x.dtype)


def avg_pool2d_grad(grad_out, input_shape, kernel, stride=None, padding=0):
    """Gradient of ``avg_pool2d`` with respect to its input, shape ``input_shape``."""
    check_rank("avg_pool2d_grad", grad_out, 4)
    check_float("avg_pool2d_grad", grad_out)
    N, C, H, W = input_shape
    kernel, stride, padding = _attrs("avg_pool2d_grad", kernel, stride, padding)
    out_hw = _out_hw("avg_pool2d_grad", (H, W), kernel, stride, padding)
    _check_grad_out("avg_pool2d_grad", grad_out, N, C, out_hw)
    scale = te.const(1.0 / (kernel[0] * kernel[1]), grad_out.dtype)
    return _gather_windows("avg_pool2d_grad", (N, C, H, W), out_hw, kernel, stride, padding, {grad_out: 0},
                           lambda at, ky, kx: at(grad_out) * scale, grad_out.dtype)


def _adaptive_bounds(extent, outputs):
    """PyTorch's adaptive windows: output ``i`` averages ``[floor(i*n/o), ceil((i+1)*n/o))``;
    returns (start(i), end(i)) as te expressions and the widest window."""
    widest = max(-(-(i + 1) * extent // outputs) - (i * extent // outputs) for i in range(outputs))
    return (lambda i: (i * extent) // outputs), (lambda i: ((i + 1) * extent + outputs - 1) // outputs), widest


def _adaptive_attrs(op, input_shape, output_size):
    N, C, H, W = input_shape
    OH, OW = pair(output_size, "output_size", op, 1)
    return N, C, H, W, OH, OW


def adaptive_avg_pool2d(x, output_size):
    """Means of ``x`` (N, C, H, W) over PyTorch's adaptive windows, giving (N, C, *output_size):
    windows of ``H/OH`` x ``W/OW`` rounded outwards, so they cover the input and may overlap."""
    N, C, H, W, OH, OW = _adaptive_attrs("adaptive_avg_pool2d", _input_dims("adaptive_avg_pool2d", x), output_size)
    (y0, y1, kh), (x0, x1, kw) = _adaptive_bounds(H, OH), _adaptive_bounds(W, OW)
    ky, kx = te.reduce_axis((0, kh), name="ky"), te.reduce_axis((0, kw), name="kx")
    zero = te.const(0, x.dtype)

    def window_sum(n, c, oy, ox):
        inside = te.all(y0(oy) + ky < y1(oy), x0(ox) + kx < x1(ox))
        row, col = te.min(y0(oy) + ky, H - 1), te.min(x0(ox) + kx, W - 1)
        return te.sum(te.if_then_else(inside, x[n, c, row, col], zero), axis=[ky, kx])
    total = te.compute((N, C, OH, OW), window_sum, name="adaptive_avg_pool2d.sum", tag="pool")
    return te.compute((N, C, OH, OW), lambda n, c, oy, ox: total[n, c, oy, ox] / (
        ((y1(oy) - y0(oy)) * (x1(ox) - x0(ox))).astype(x.dtype)), name="adaptive_avg_pool2d", tag="injective")


def adaptive_avg_pool2d_grad(grad_out, input_shape, output_size):
    """Gradient of ``adaptive_avg_pool2d`` with respect to its input (shape
    ``input_shape``): each input position sums ``grad / window size`` over the windows
    that hold it (a gather over the output positions, no scatter)."""
    check_rank("adaptive_avg_pool2d_grad", grad_out, 4)
    check_float("adaptive_avg_pool2d_grad", grad_out)
    N, C, H, W, OH, OW = _adaptive_attrs("adaptive_avg_pool2d_grad", input_shape, output_size)
    _check_grad_out("adaptive_avg_pool2d_grad", grad_out, N, C, (OH, OW))
    (y0, y1, _), (x0, x1, _) = _adaptive_bounds(H, OH), _adaptive_bounds(W, OW)
    oy, ox = te.reduce_axis((0, OH), name="oy"), te.reduce_axis((0, OW), name="ox")
    zero = te.const(0, grad_out.dtype)

    def gathered(n, c, h, w):
        inside = te.all(y0(oy) <= h, h < y1(oy), x0(ox) <= w, w < x1(ox))
        share = grad_out[n, c, oy, ox] / ((y1(oy) - y0(oy)) * (x1(ox) - x0(ox))).astype(grad_out.dtype)
        return te.sum(te.if_then_else(inside, share, zero), axis=[oy, ox])
    return te.compute((N, C, H, W), gathered, name="adaptive_avg_pool2d_grad", tag="pool")
