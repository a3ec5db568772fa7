"""``histc``'s counts (PyTorch's ``histc``): ``bins`` equal-width bins over ``[low,
high]``, in one reduction kernel.

te has no scatter, so bin ``b`` counts the elements whose bin is ``b``: a reduction
over the elements per bin (``bins * n`` integer comparisons, run as vector lanes of
elements by the CPU "reduce" rule). Each element's bin is computed once, by a stage of
the same kernel (materialised: inlined, every bin would compute every element's bin
again), which also widens the range and marks elements outside it and NaNs with -1;
the kernel replaces ten passes of separate kernels over the data.

An element's bin is PyTorch's: ``(x - low) * bins / (high - low)`` truncated (the
operations in that order, in the input's dtype), ``high`` itself in the last bin. When
``low == high`` the range is widened by 1 either side, as there.
"""
from .. import te
from ..errors import DTypeError, ShapeError
from ..tir import dtype as dt
from .broadcast import shape_str
from .schedule import MATERIALIZED

__all__ = ["histc"]


def histc(x, low, high, bins):
    """Counts (in ``x``'s float dtype) of the 1-D ``x``'s elements per bin; ``low`` and
    ``high`` are 0-d tensors of its dtype (the range before widening)."""
    if not isinstance(x, te.Tensor) or x.ndim != 1 or not dt.is_float(x.dtype):
        raise ShapeError(f"histc: expects a 1-D float te tensor, got {x.name if isinstance(x, te.Tensor) else x!r}"
                         f"{' ' + shape_str(x.shape) + ' ' + x.dtype if isinstance(x, te.Tensor) else ''}")
    for name, t in (("low", low), ("high", high)):
        if not isinstance(t, te.Tensor) or t.ndim or t.dtype != x.dtype:
            raise DTypeError(f"histc: {name} must be a 0-d {x.dtype} te tensor")
    dtype = x.dtype
    zero, one = te.const(0, dtype), te.const(1, dtype)
    wide = low[()] == high[()]
    lo = te.if_then_else(wide, low[()] - one, low[()])
    hi = te.if_then_else(wide, high[()] + one, high[()])

    def position(i):
        v = x[i]
        inside = (v >= lo) & (v <= hi)                                   # False for NaN
        scaled = te.if_then_else(inside, (v - lo) * te.const(bins, dtype) / (hi - lo), zero)   # no NaN cast
        return te.if_then_else(inside, te.min(scaled.astype("int32"), bins - 1), -1)   # high: the last bin
    where = te.compute(x.shape, position, name="histc.bin", tag=MATERIALIZED)
    e = te.reduce_axis((0, x.shape[0]), name="e")
    return te.compute((bins,), lambda b: te.sum(te.if_then_else(where[e] == b, one, zero), axis=e), name="histc",
                      tag="reduce")
