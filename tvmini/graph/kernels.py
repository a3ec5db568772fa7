"""te definitions the graph layer needs beyond the operator library.

These computations exist only as gradients (spreading a reduction's gradient back over
the reduced axes, scaled, in one pass), so they live next to the gradient rules that use
them. Each is one compute tagged "broadcast" (its loads are not one-to-one with its
output), so ``topi.default_schedule`` treats it like the library's own broadcasting
kernels.
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
