"""``reshape`` (and ``flatten``) and ``transpose``: one kernel each, whose gradient is
the inverse op. Both return copies where PyTorch returns views (``aliases``: writing
into the result raises, see ``graph.indexing``)."""
import math

import numpy as np

from ..errors import ShapeError
from . import axes as check_axes
from .autograd import Function
from .dispatch import run


class _Reshape(Function):
    aliases = True
    saved = ()
    def forward(self, x):
        return run("reshape", "reshape", [x], attrs=(("newshape", self.shape),))

    def backward(self, g):
        return (reshape(g, self.inputs[0].shape),)


def reshape(x, shape):
    """``x`` with a new shape of the same size (one extent may be -1)."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(map(int, shape))
    size, free = x._data.size, shape.count(-1)
    if free:
        if free > 1:
            raise ShapeError(f"reshape: at most one -1 in {shape} (tensor of shape {x.shape})")
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or size % known:
            raise ShapeError(f"reshape: cannot reshape tensor of shape {x.shape} into {shape}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    if math.prod(shape) != size:
        raise ShapeError(f"reshape: cannot reshape tensor of shape {x.shape} ({size} elements) into {shape}")
    return x if shape == x.shape else _Reshape.apply(x, shape=shape)


def flatten(x, start_dim=0, end_dim=-1):
    """``x`` with the axes ``start_dim`` .. ``end_dim`` (inclusive) collapsed into one
    (a 0-d tensor becomes shape (1,), as PyTorch)."""
    start = check_axes.axis("flatten", start_dim, x.shape)
    end = check_axes.axis("flatten", end_dim, x.shape)
    if start > end:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                         f"(tensor of shape {x.shape})")
    if not x.shape:
        return reshape(x, (1,))
    return reshape(x, x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:])


class _Transpose(Function):
    aliases = True
    saved = ()
    def forward(self, x):
        return run("transpose", "transpose", [x], attrs=(("axes", self.axes),))

    def backward(self, g):
        return (transpose(g, tuple(np.argsort(self.axes).tolist())),)


def transpose(x, axes=None):
    """Permute the axes (None reverses them)."""
    axes = tuple(reversed(range(x.ndim))) if axes is None else check_axes.permutation("transpose", axes, x.shape)
    return x if axes == tuple(range(x.ndim)) else _Transpose.apply(x, axes=axes)
