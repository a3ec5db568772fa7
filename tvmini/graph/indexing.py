"""Basic indexing of graph Tensors: ints, slices with positive steps, ``...`` and ``None``.

``x[index]`` is one strided-slice kernel (and a reshape for the dropped and new axes);
its gradient scatters back into zeros of ``x``'s shape. Indices PyTorch does not take
as basic indices are refused with an :class:`~tvmini.errors.IndexingError` (also an
``IndexError``) naming the index and the shape: a bool (``x[True]`` must not mean
``x[1]``), a float, a second ``...``, an integer out of range.
"""
import numpy as np

from ..errors import IndexingError, ShapeError
from .autograd import Function
from .dispatch import run
from .ops import _kernel, reshape
from .tensor import Tensor


class _Slice(Function):
    saved = ()
    def forward(self, x):
        return run("strided_slice", "strided_slice", [x],
                   attrs=(("begin", self.begin), ("end", self.end), ("strides", self.strides)))

    def backward(self, g):
        x, = self.inputs
        return (_kernel("strided_slice_grad", "strided_slice_grad", g, x_shape=x.shape, begin=self.begin,
                        end=self.end, strides=self.strides),)


def _check_index(x, index):
    """Refuse what basic indexing does not mean here: arrays (advanced indexing), bools
    and floats (``x[True]`` is not ``x[1]``; PyTorch refuses ``x[1.0]``) and a second
    ``...``; each with an IndexingError naming the index and the shape."""
    for i in index:
        if isinstance(i, (Tensor, np.ndarray, list)):
            raise ShapeError(f"indexing a tensor of shape {x.shape}: only ints, slices, ... and None are "
                             "supported (use take/one_hot style ops for integer-array indexing)")
        if isinstance(i, (bool, np.bool_)) or not (i is None or i is Ellipsis or isinstance(i, (slice, int, np.integer))):
            raise IndexingError(f"indexing a tensor of shape {x.shape}: only ints, slices, ... and None are valid "
                                f"indices, got {type(i).__name__} {i!r}")
    if sum(i is Ellipsis for i in index) > 1:
        raise IndexingError(f"indexing a tensor of shape {x.shape}: an index can have only one ellipsis (...)")


def getitem(x, index):
    """Basic indexing: ints, slices (positive steps), ``...`` and ``None``."""
    index = index if isinstance(index, tuple) else (index,)
    _check_index(x, index)
    n_real = len([i for i in index if i is not None and i is not Ellipsis])
    if n_real > x.ndim:
        raise IndexingError(f"too many indices ({n_real}) for a tensor of shape {x.shape}")
    if Ellipsis in index:
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (x.ndim - n_real) + index[at + 1:]
    else:
        index = index + (slice(None),) * (x.ndim - n_real)
    begin, end, strides, out_shape, axis = [], [], [], [], 0
    for i in index:
        if i is None:
            out_shape.append(1)
            continue
        n = x.shape[axis]
        if isinstance(i, slice):
            start, stop, step = i.indices(n)
            if step <= 0:
                raise ShapeError(f"slice step must be positive, got {step} (tensor of shape {x.shape})")
            length = len(range(start, stop, step))
            if length == 0:
                raise ShapeError(f"slice {i} of axis {axis} (extent {n}) is empty")
            begin.append(start), end.append(start + (length - 1) * step + 1), strides.append(step)
            out_shape.append(length)
        else:
            k = int(i)
            if not -n <= k < n:
                raise IndexingError(f"index {k} is out of range for axis {axis} with extent {n} "
                                    f"(tensor of shape {x.shape})")
            k %= n
            begin.append(k), end.append(k + 1), strides.append(1)
        axis += 1
    out = x
    if tuple(begin) != (0,) * x.ndim or tuple(end) != x.shape or any(s != 1 for s in strides):
        out = _Slice.apply(x, begin=tuple(begin), end=tuple(end), strides=tuple(strides))
    return reshape(out, tuple(out_shape))
