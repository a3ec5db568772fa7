"""te definitions the graph layer needs beyond the operator library.

These computations exist only as gradients (scattering a slice's gradient back into
zeros, spreading a reduction's gradient back over the reduced axes), so they live next to
the gradient rules that use them. Each is one compute tagged "broadcast" (its loads are
not one-to-one with its output), so ``topi.default_schedule`` treats it like the
library's own broadcasting kernels.
"""
from .. import te

BROADCAST = "broadcast"


def slice_scatter(g, *, shape, begin, strides):
    """The gradient of a strided slice: ``g`` placed at ``begin + strides*j`` in zeros of
    ``shape``. Indices into ``g`` are clamped so no lane ever reads outside it."""
    def value(*i):
        conds, src = [], []
        for axis, (idx, b, s) in enumerate(zip(i, begin, strides)):
            n = int(g.shape[axis].value)
            offset = idx - b
            conds += [offset >= 0, offset < n * s]
            if s != 1:
                conds.append(offset % s == 0)
            src.append(te.min(te.max(offset // s, 0), n - 1))
        return te.if_then_else(te.all(*conds), g[tuple(src)], te.const(0, g.dtype))
    return te.compute(shape, value, name="slice_scatter", tag=BROADCAST)


def expand_reduced(g, s, *, shape, axes, keepdims):
    """``s · g`` broadcast back over the ``axes`` a reduction removed (or kept as size 1):
    the gradient of sum (``s`` = 1) and mean (``s`` = 1/count) in one kernel."""
    def value(*i):
        if keepdims:
            src = tuple(0 if axis in axes else idx for axis, idx in enumerate(i))
        else:
            src = tuple(idx for axis, idx in enumerate(i) if axis not in axes)
        return g[src] * s if src else g[()] * s
    return te.compute(shape, value, name="expand_reduced", tag=BROADCAST)
