"""Window gathers: im2col and col2im, the kernels behind ``F.unfold`` and ``F.fold``,
and the two kernels of adaptive max pooling (forward and gradient, ``F.adaptive_max_pool2d``).

``im2col`` reads each column entry from the input pixel its (channel, kernel offset,
window position) maps to, or 0 in the padding: an injective gather. ``col2im`` is its
adjoint, written as a gather with no atomics: each output pixel sums the column entries
of the ``kh * kw`` kernel offsets whose window puts that offset on it (the window row
``(h + pad - ki * dilation) / stride`` must be a whole number inside the output grid), a
reduction whose extent is the kernel, not the number of windows (tag "reduce").
Geometry is given as pairs: ``kernel``, ``dilation``, ``padding``, ``stride`` (height,
width).

``adaptive_max`` finds each adaptive window's maximum and where it is, in one kernel;
``adaptive_max_grad`` sends each output gradient back to the pixel its maximum came
from, again a gather with no atomics: input row ``h`` lies in the adaptive windows
``floor(h * OH / H)`` up to ``ceil((h + 1) * OH / H) - 1``, at most ``ceil(OH / H) + 1``
of them (the same along the columns), so each pixel sums the gradients of those few
windows whose maximum it was: a reduction over the window overlap (tag "reduce").

Every read index is clamped inside its buffer, a clamped read being masked off.
"""
from .. import te
from ..errors import ShapeError
from ..tir import expr as E
from .pool import _adaptive_bounds
from .schedule import register
from .schedule_nn import _parallel_outer, _work
from .transform import _check, _const

__all__ = ["im2col", "col2im", "window_counts", "adaptive_max", "adaptive_max_grad"]


def window_counts(size, kernel, dilation, padding, stride, op):
    """The (rows, columns) of window positions over a (H, W) ``size``."""
    out = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, d, p, s in zip(size, kernel, dilation, padding,
                                                                                 stride))
    if min(out) < 1:
        raise ShapeError(f"{op}: a {kernel} window (dilation {dilation}) does not fit the spatial shape {size} with "
                         f"padding {padding}: the output would be {out}")
    return out


def _clamp(i, n):
    return te.min(te.max(i, 0), n - 1)


def _static(x, op):
    shape = tuple(_const(E.convert(n)) for n in x.shape)
    if None in shape:
        raise ShapeError(f"{op}: needs a static shape, got {x.shape}")
    return shape


def im2col(x, kernel, dilation, padding, stride):
    """(N, C, H, W) -> (N, C * kh * kw, L): entry ``[n, (c * kh + ki) * kw + kj, i * OW + j]``
    is ``x[n, c, i * sh + ki * dh - ph, j * sw + kj * dw - pw]`` (0 in the padding)."""
    _check(x, "im2col")
    n, c, h, w = _static(x, "im2col")
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel, dilation, padding, stride
    oh, ow = window_counts((h, w), kernel, dilation, padding, stride, "im2col")
    zero = E.const(0, x.dtype)

    def body(b, r, col):
        ch, tap = r // (kh * kw), r % (kh * kw)
        row, column = (col // ow) * sh + (tap // kw) * dh - ph, (col % ow) * sw + (tap % kw) * dw - pw
        inside = te.all(row >= 0, row < h, column >= 0, column < w)
        return te.if_then_else(inside, x[b, ch, _clamp(row, h), _clamp(column, w)], zero)
    return te.compute((n, c * kh * kw, oh * ow), body, name="im2col", tag="injective")


def col2im(cols, size, kernel, dilation, padding, stride):
    """(N, C * kh * kw, L) -> (N, C, *size): each pixel the sum of the column entries
    ``im2col`` would have read from it (overlapping windows add up)."""
    _check(cols, "col2im")
    n, rows, length = _static(cols, "col2im")
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel, dilation, padding, stride
    oh, ow = window_counts(size, kernel, dilation, padding, stride, "col2im")
    if rows % (kh * kw) or length != oh * ow:
        raise ShapeError(f"col2im: columns {cols.name} of shape ({n}, {rows}, {length}) must be (N, C * {kh * kw}, "
                         f"{oh * ow}) for a {kernel} kernel over {size}")
    ki, kj = te.reduce_axis((0, kh), name="ki"), te.reduce_axis((0, kw), name="kj")
    zero = E.const(0, cols.dtype)

    def body(b, ch, y, x):
        row, column = y + ph - ki.var * dh, x + pw - kj.var * dw       # i * sh and j * sw if some window hits
        i, j = _clamp(row // sh, oh), _clamp(column // sw, ow)
        hit = te.all(row >= 0, column >= 0, row == i * sh, column == j * sw)
        value = cols[b, (ch * kh + ki.var) * kw + kj.var, i * ow + j]
        return te.sum(te.if_then_else(hit, value, zero), axis=[ki, kj])
    return te.compute((n, rows // (kh * kw)) + tuple(size), body, name="col2im", tag="reduce")


def adaptive_max(x, output_size):
    """Adaptive max pooling of ``x`` (N, C, H, W) to (N, C, *output_size) in one kernel:
    ``[values, indices]``, each window's maximum and the int64 flat position ``h * W + w``
    of its first maximum (of its last NaN where the window holds one, as PyTorch).

    Window ``i`` covers rows ``floor(i * H / OH)`` .. ``ceil((i + 1) * H / OH) - 1`` (the
    same along the columns); the window loops run to the widest window, a read past a
    window's end being clamped onto its last position, which changes neither the
    maximum nor the first position holding it. Four stages: the window maxima, the
    position search (tag "adaptive_argmax", whose CPU rule
    :func:`schedule_adaptive_argmax` computes each window's maximum right before it),
    the position decoded from the search's key, and the value read there (so that a
    NaN window gives NaN)."""
    _check(x, "adaptive_max")
    n, c, h, w = _static(x, "adaptive_max")
    oh, ow = output_size
    (y0, y1, kh), (x0, x1, kw) = _adaptive_bounds(h, oh), _adaptive_bounds(w, ow)

    def position(oy, ox, ky, kx):
        return te.min(y0(oy) + ky, y1(oy) - 1), te.min(x0(ox) + kx, x1(ox) - 1)

    ky, kx = te.reduce_axis((0, kh), name="ky"), te.reduce_axis((0, kw), name="kx")
    maxima = te.compute((n, c, oh, ow), lambda b, ch, oy, ox: te.max(
        x[(b, ch) + position(oy, ox, ky.var, kx.var)], axis=[ky, kx]), name="adaptive_max.maxima",
        tag="adaptive_max_window")
    ay, ax = te.reduce_axis((0, kh), name="ay"), te.reduce_axis((0, kw), name="ax")
    last = E.const(h * w, "int64")

    def key(b, ch, oy, ox):
        # the smallest key: -1 - p for a NaN at p (the last NaN, as PyTorch's loop, which
        # takes every NaN it meets), else p where the maximum is (the first of them)
        row, col = position(oy, ox, ay.var, ax.var)
        value, at = x[b, ch, row, col], (row * w + col).astype("int64")
        return te.min(te.if_then_else(value != value, -1 - at,
                                      te.if_then_else(value == maxima[b, ch, oy, ox], at, last)), axis=[ay, ax])
    keys = te.compute((n, c, oh, ow), key, name="adaptive_max.keys", tag="adaptive_argmax")
    indices = te.compute((n, c, oh, ow), lambda *i: te.if_then_else(keys[i] < 0, -1 - keys[i], keys[i]),
                         name="adaptive_max.indices", tag="injective")
    values = te.compute((n, c, oh, ow), lambda b, ch, oy, ox: x[b, ch, _clamp(indices[b, ch, oy, ox] // w, h),
                                                              _clamp(indices[b, ch, oy, ox] % w, w)],
                        name="adaptive_max", tag="injective")
    return [values, indices]


@register("adaptive_argmax", target="llvm")
def schedule_adaptive_argmax(sch, keys, target):
    """CPU: (image, channel) planes parallel; each window's maximum computed right before
    the search for its first position, so a window is read twice from L1 and the maxima
    never reach memory. Both stay scalar: window starts are divisions, so vector lanes
    could only gather (the windows of a 7-wide row are not a whole vector either)."""
    stage = sch[keys]
    n, c, oy, ox = stage.op.axis
    _parallel_outer(stage, [n, c], _work(*keys.shape, *(iv.dom.extent for iv in stage.op.reduce_axis)))
    (maxima,) = (t for t in keys.op.input_tensors if getattr(t.op, "tag", None) == "adaptive_max_window")
    sch[maxima].compute_at(stage, ox)


def adaptive_max_grad(g, indices, size):
    """The gradient for an (N, C, *size) input: each pixel the sum of ``g`` over the
    windows whose maximum (``indices``) it was."""
    _check(g, "adaptive_max_grad")
    n, c, oh, ow = _static(g, "adaptive_max_grad")
    h, w = size
    ri = te.reduce_axis((0, -(-oh // h) + 1), name="ri")
    rj = te.reduce_axis((0, -(-ow // w) + 1), name="rj")
    zero = E.const(0, g.dtype)

    def body(b, ch, y, x):
        i, j = y * oh // h + ri.var, x * ow // w + rj.var
        at_i, at_j = _clamp(i, oh), _clamp(j, ow)
        hit = te.all(i == at_i, j == at_j, indices[b, ch, at_i, at_j] == (y * w + x).astype(indices.dtype))
        return te.sum(te.if_then_else(hit, g[b, ch, at_i, at_j], zero), axis=[ri, rj])
    return te.compute((n, c, h, w), body, name="adaptive_max_grad", tag="reduce")
