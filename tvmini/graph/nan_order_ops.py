"""``msort`` and ``nanmedian``, PyTorch's: sorting along the first axis, and the lower
median of the values that are not NaN.

``nanmedian`` sorts each line once (``topi`` argsort: NaN above every number, stable),
counts the line's numbers ``k`` and reads position ``(k - 1) // 2`` of the order (0 for
an all-NaN line: its first NaN), as PyTorch's. Along ``dim`` the values are a gather
at the found indices (the gradient goes to that element); over all elements the
gradient is shared evenly by the elements equal to the median, PyTorch's rule for
``median()``/``nanmedian()``.
"""
import math
from collections import namedtuple

from ..errors import DTypeError, ShapeError
from . import ops
from .autograd import Function
from .gather_ops import gather
from .sort_ops import _drop_axis, _scalar_pair, _sort_axis, _values_at, argsort, sort
from .tensor import Tensor, add_methods, method_of

#: What ``nanmedian(dim)`` returns, as PyTorch's ``torch.return_types.nanmedian``.
nanmedian_result = namedtuple("nanmedian", ["values", "indices"])


def msort(input):
    """``input`` sorted along its first axis (ascending; NaN last)."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"msort: takes a Tensor, got {type(input).__name__}")
    return sort(input, 0).values


def _median_index(x, axis):
    """int64 positions (keeping ``axis``, of extent 1) of each line's NaN-skipping lower
    median in ``x``."""
    order = argsort(x, axis)
    count = ops.sum(ops.cast(x == x, "int64"), axis, keepdims=True)
    rank = ops.maximum(count - 1, 0) // 2
    return gather(order, axis, rank)


class _NanMedianAll(Function):
    """The NaN-skipping lower median of a 1-D tensor, shape (1,), with PyTorch's
    gradient: shared evenly by the elements equal to it (by the NaNs when it is NaN)."""

    def forward(self, x):
        flat = Tensor._wrap(x)
        self.out = gather(flat, 0, _median_index(flat, 0))._data
        return self.out

    def backward(self, g):
        x, = self.inputs
        value = Tensor._wrap(self.out)
        mask = (x == value) | ((x != x) & (value != value))
        return (ops.where(mask, g / ops.sum(ops.cast(mask, x.dtype)), 0.0),)


def nanmedian(input, dim=None, keepdim=False):
    """The lower median of the values that are not NaN: over all elements (a 0-d
    tensor; NaN when all are NaN or there are none), or ``(values, indices)`` along
    ``dim`` (an all-NaN line gives NaN at its first position)."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"nanmedian: takes a Tensor, got {type(input).__name__}")
    if input.dtype == "bool":
        raise DTypeError(f"nanmedian: not implemented for bool (tensor of shape {input.shape}), as in PyTorch")
    if dim is None:
        if not input.numel():
            if not input.dtype.startswith("float"):
                raise ShapeError(f"nanmedian: an empty {input.dtype} tensor of shape {input.shape} has no median")
            return ops.sum(input) * math.nan
        flat = ops.reshape(input, (input.numel(),))
        return ops.reshape(_NanMedianAll.apply(flat), ())
    axis = _sort_axis("nanmedian", input, dim)
    if not input.ndim:
        return nanmedian_result(*_scalar_pair(input))
    if not input.shape[axis]:
        raise ShapeError(f"nanmedian: reducing axis {axis} of extent 0 of a tensor of shape {input.shape}; the "
                         "median of no elements is undefined")
    indices = _median_index(input, axis)
    values = _values_at(input, indices, axis)
    return nanmedian_result(_drop_axis(values, axis, keepdim), _drop_axis(indices, axis, keepdim))


add_methods({"msort": method_of(msort), "nanmedian": method_of(nanmedian)})
