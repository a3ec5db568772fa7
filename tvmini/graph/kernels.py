"""te definitions the graph layer needs beyond the operator library.

These computations exist only as gradients (spreading a reduction's gradient back over
the reduced axes, scaled, in one pass; sending it to one index of the reduced axis), so
they live next to the gradient rules that use them. Each is one compute tagged
"broadcast" (its loads are not one-to-one with its output), so ``topi.default_schedule``
treats it like the library's own broadcasting kernels.
"""
from .. import te

BROADCAST = "broadcast"


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


def scatter_to_index(g, index, *, shape, axis, keepdims):
    """``g`` at position ``index`` of ``axis`` and 0 elsewhere, in ``shape``: the gradient
    of ``max(dim)``/``min(dim)``, which PyTorch sends whole to the index it returned
    (``index`` and ``g`` have the reduced shape, ``axis`` kept as 1 with ``keepdims``)."""
    def value(*i):
        if keepdims:
            src = tuple(0 if a == axis else idx for a, idx in enumerate(i))
        else:
            src = tuple(idx for a, idx in enumerate(i) if a != axis)
        hit = i[axis].astype(index.dtype) == index[src]
        return te.if_then_else(hit, g[src], te.const(0, g.dtype))
    return te.compute(shape, value, name="scatter_to_index", tag=BROADCAST)
