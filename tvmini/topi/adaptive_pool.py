"""The kernels of adaptive max pooling's gradient path (``F.adaptive_max_pool2d``):
reading the maxima at their recorded flat positions, and sending each output gradient
back to the input pixel its maximum came from.

``adaptive_max_grad`` is a gather with no atomics: input row ``h`` lies in the adaptive
windows ``floor(h * OH / H)`` up to ``ceil((h + 1) * OH / H) - 1``, at most
``ceil(OH / H) + 1`` of them (the same along the columns), so each input pixel sums the
gradients of those few windows whose recorded maximum is that pixel: a reduction over
the window overlap, not over the output (tag "reduce").
"""
from .. import te
from ..tir import expr as E
from .fold import _clamp, _static
from .transform import _check

__all__ = ["adaptive_max_take", "adaptive_max_grad"]


def adaptive_max_take(x, indices):
    """(N, C, H, W) read at ``indices`` (N, C, OH, OW) of flat positions ``h * W + w``."""
    _check(x, "adaptive_max_take")
    _check(indices, "adaptive_max_take")
    _, _, h, w = _static(x, "adaptive_max_take")

    def body(n, c, i, j):
        at = indices[n, c, i, j]
        return x[n, c, _clamp(at // w, h), _clamp(at % w, w)]
    return te.compute(indices.shape, body, name="adaptive_max_take", tag="injective")


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
