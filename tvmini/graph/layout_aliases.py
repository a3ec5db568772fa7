"""More of PyTorch's spellings, each a composition of ops tvmini has (same kernels,
gradients and jit tracing): joins (``concat``, ``hstack``, ``vstack``, ``dstack``,
``atleast_1d/2d/3d``), flips (``fliplr``, ``flipud``), diagonals (``diagonal`` of any two
axes, ``trace``, ``diag_embed``), ``take_along_dim``, ``isfinite``/``isposinf``/
``isneginf``, and the Tensor conveniences ``reshape_as``, ``unflatten``, ``mT``,
``nelement``, ``new_tensor``, ``new_empty`` and ``tm.as_tensor``."""
import math

import numpy as np

from ..errors import DTypeError, ShapeError
from ..runtime import ndarray as nd
from . import axes as check_axes
from . import ops
from .creation import empty
from .einsum_ops import einsum
from .gather_ops import gather
from .index_ops import check_indices, from_end, index_select
from .logic_ops import where
from .join_ops import cat
from .reorder_ops import flip, movedim
from .tensor import Tensor, add_methods, tensor


def atleast_1d(*tensors):
    """Each tensor with at least one axis (a 0-d one becomes shape (1,))."""
    return _atleast(tensors, lambda t: ops.reshape(t, (1,)) if t.ndim == 0 else t)


def atleast_2d(*tensors):
    """Each tensor with at least two axes: shape (n,) becomes (1, n)."""
    return _atleast(tensors, lambda t: ops.reshape(t, (1,) * (2 - t.ndim) + t.shape) if t.ndim < 2 else t)


def atleast_3d(*tensors):
    """Each tensor with at least three axes: (n,) becomes (1, n, 1), (m, n) (m, n, 1)."""
    def widen(t):
        shape = {0: (1, 1, 1), 1: (1,) + t.shape + (1,), 2: t.shape + (1,)}.get(t.ndim, t.shape)
        return ops.reshape(t, shape) if shape != t.shape else t
    return _atleast(tensors, widen)


def _atleast(tensors, widen):
    """PyTorch's convention: one tensor gives a tensor, several (or a sequence) a tuple."""
    single = len(tensors) == 1 and isinstance(tensors[0], Tensor)
    if len(tensors) == 1 and not single:
        tensors = tuple(tensors[0])
    widened = tuple(widen(t) for t in tensors)
    return widened[0] if single else widened


def hstack(tensors):
    """Concatenated along the columns (axis 1; 1-D tensors end to end)."""
    tensors = atleast_1d(tuple(tensors))
    return cat(tensors, 0 if tensors and tensors[0].ndim == 1 else 1)     # cat refuses an empty list


def vstack(tensors):
    """Stacked as rows (axis 0, 1-D tensors made rows first)."""
    return cat(atleast_2d(tuple(tensors)), 0)


def dstack(tensors):
    """Stacked along the depth axis (axis 2, after ``atleast_3d``)."""
    return cat(atleast_3d(tuple(tensors)), 2)


def fliplr(input):
    """Reversed left to right (axis 1 of a tensor with at least 2 axes)."""
    if input.ndim < 2:
        raise ShapeError(f"fliplr: the tensor must have at least 2 dimensions, got shape {input.shape}")
    return flip(input, (1,))


def flipud(input):
    """Reversed upside down (axis 0 of a tensor with at least 1 axis)."""
    if input.ndim < 1:
        raise ShapeError("flipud: the tensor must have at least 1 dimension, got a 0-d tensor")
    return flip(input, (0,))


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal ``offset`` (above the main one when positive) of the matrices on axes
    ``dim1``/``dim2``, as a last axis after the others (PyTorch's ``diagonal``): the two
    axes moved last and cropped to the diagonal's square, then einsum's ``...ii->...i``."""
    if input.ndim < 2:
        raise ShapeError(f"diagonal: the tensor must have at least 2 dimensions, got shape {input.shape}")
    a, b = (check_axes.axis("diagonal", d, input.shape) for d in (dim1, dim2))
    if a == b:
        raise ShapeError(f"diagonal: dim1 and dim2 are the same axis ({dim1}, {dim2})")
    x = movedim(input, (a, b), (-2, -1))
    rows, cols = x.shape[-2:]
    start_row, start_col = max(-offset, 0), max(offset, 0)
    length = max(min(rows - start_row, cols - start_col), 0)
    x = x[..., start_row:start_row + length, start_col:start_col + length]
    if length == 0:
        return ops.reshape(x, x.shape[:-2] + (0,))
    return einsum("...ii->...i", x)


def trace(input):
    """The sum of the main diagonal of a matrix."""
    if input.ndim != 2:
        raise ShapeError(f"trace: expected a matrix, got shape {input.shape}")
    return ops.sum(diagonal(input))


def _constant(values, like):
    """The numpy array ``values`` as a tensor (no history) on ``like``'s device."""
    return Tensor._wrap(nd.array(np.ascontiguousarray(values), device=like.device))


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """The last axis of ``input`` (length n) put on diagonal ``offset`` of square matrices
    of side ``n + |offset|`` whose two axes are ``dim1``/``dim2`` of the result (one axis
    more than ``input``), zeros elsewhere, as PyTorch's ``diag_embed``: the vector read at
    each matrix position (``index_select``), then the off-diagonal ones zeroed (``where``),
    so the gradient reads the diagonal back."""
    if input.ndim < 1:
        raise ShapeError("diag_embed: the tensor must have at least 1 dimension, got a 0-d tensor")
    n = input.shape[-1]
    side = n + abs(offset)
    out_shape = input.shape[:-1] + (side, side)
    a, b = (check_axes.axis("diag_embed", d, out_shape) for d in (dim1, dim2))
    if a == b:
        raise ShapeError(f"diag_embed: dim1 and dim2 are the same axis ({dim1}, {dim2})")
    rows, cols = np.indices((side, side))
    source = rows - max(-offset, 0)                     # the vector's entry on each diagonal position
    on = (cols - rows == offset) & (source >= 0) & (source < n)
    if n == 0:
        matrices = _constant(np.zeros(out_shape, input.dtype), input)
    else:
        picked = index_select(input, -1, _constant(np.clip(source, 0, n - 1).reshape(-1).astype("int64"), input))
        zero = _constant(np.zeros((), input.dtype), input)
        matrices = where(_constant(on, input), ops.reshape(picked, out_shape), zero)
    return movedim(matrices, (-2, -1), (a, b))


def take_along_dim(input, indices, dim=None):
    """``input`` read at ``indices`` along ``dim`` (PyTorch's ``take_along_dim``): both
    broadcast to each other off ``dim`` (same rank required), then ``gather``; negative
    indices count from the end of the axis. With ``dim=None`` both are flattened first."""
    if indices.dtype not in ("int32", "int64"):
        raise DTypeError(f"take_along_dim: indices must be an int32 or int64 tensor, got {indices.dtype}")
    if dim is None:
        return gather(ops.reshape(input, (input.numel(),)), 0, ops.reshape(indices, (indices.numel(),)))
    if input.ndim != indices.ndim:
        raise ShapeError(f"take_along_dim: input of shape {input.shape} and indices of shape {indices.shape} must "
                         "have the same number of dimensions")
    axis = check_axes.axis("take_along_dim", dim, input.shape)
    check_indices("take_along_dim", indices, input.shape[axis], negative=True)
    shape = ops.broadcast_shapes("take_along_dim", input.shape[:axis] + (1,) + input.shape[axis + 1:],
                                 indices.shape[:axis] + (1,) + indices.shape[axis + 1:])
    input = ops.broadcast_to(input, shape[:axis] + input.shape[axis:axis + 1] + shape[axis + 1:])
    indices = ops.broadcast_to(indices, shape[:axis] + indices.shape[axis:axis + 1] + shape[axis + 1:])
    return gather(input, axis, from_end(indices, input.shape[axis]))


def isfinite(input):
    """Elementwise: neither infinite nor NaN (integers and bools always are)."""
    if not input.dtype.startswith("float"):
        return input == input
    return (input == input) & (input.abs() != math.inf)


def isposinf(input):
    return input == math.inf if input.dtype.startswith("float") else input != input


def isneginf(input):
    return input == -math.inf if input.dtype.startswith("float") else input != input


def as_tensor(data, dtype=None, device=None):
    """``data`` as a tensor: a Tensor of that dtype and device itself, else a new one."""
    if isinstance(data, Tensor):
        return data.to(device or data.device).to(dtype or data.dtype)
    return tensor(data, dtype=dtype, device=device)


def _unflatten(self, dim, sizes):
    """Axis ``dim`` split into ``sizes`` (one entry may be -1)."""
    axis = check_axes.axis("unflatten", dim, self.shape)
    try:
        return self.reshape(self.shape[:axis] + tuple(sizes) + self.shape[axis + 1:])
    except ShapeError as error:
        raise ShapeError(f"unflatten: sizes {tuple(sizes)} do not fit axis {axis} of a tensor of shape {self.shape} "
                         f"({error})") from None


add_methods({
    "diagonal": lambda self, offset=0, dim1=0, dim2=1: diagonal(self, offset, dim1, dim2),
    "trace": lambda self: trace(self),
    "diag_embed": lambda self, offset=0, dim1=-2, dim2=-1: diag_embed(self, offset, dim1, dim2),
    "take_along_dim": lambda self, indices, dim=None: take_along_dim(self, indices, dim),
    "fliplr": lambda self: fliplr(self),
    "flipud": lambda self: flipud(self),
    "isfinite": lambda self: isfinite(self),
    "isposinf": lambda self: isposinf(self),
    "isneginf": lambda self: isneginf(self),
    "reshape_as": lambda self, other: self.reshape(other.shape),
    "unflatten": _unflatten,
    "nelement": lambda self: self.numel(),
    "new_tensor": lambda self, data, dtype=None, device=None, requires_grad=False: tensor(
        data, requires_grad, device or self.device, dtype or self.dtype),
    "new_empty": lambda self, *size, dtype=None, device=None, requires_grad=False: empty(
        *size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad),
})


def _matrix_transpose(self):
    """The transpose of the last two axes (PyTorch's ``mT``: batched matrices)."""
    if self.ndim < 2:
        raise ShapeError(f"mT: the tensor must have at least 2 dimensions, got shape {self.shape}")
    return self.transpose(-2, -1)


Tensor.mT = property(_matrix_transpose)
concat = concatenate = cat
