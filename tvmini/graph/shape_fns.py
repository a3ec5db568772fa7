"""PyTorch's small shape and index functions that tvmini composes from its own ops:
``broadcast_shapes``/``broadcast_tensors``, ``ravel``, ``t``, ``select``,
``narrow_copy``, ``unflatten``, ``column_stack``, ``hsplit``/``vsplit``/``dsplit``,
``diagflat``, ``argwhere``, ``tril_indices``/``triu_indices`` and ``unravel_index``.

Each is a reshape, a broadcast, basic indexing or a join of existing ops, so its gradient
and its tracing under ``tm.jit`` are theirs. The index lists of ``tril_indices``/
``triu_indices`` depend on the sizes only and are made on the host; ``unravel_index`` is
integer floor division and remainder kernels.
"""
import numpy as np

from ..errors import DTypeError, IndexingError, ShapeError
from ..runtime import ndarray as nd
from . import axes as check_axes
from . import ops
from .arrange_ops import tensor_split
from .layout_aliases import _unflatten, hstack
from .reorder_ops import diag, narrow
from .select_ops import nonzero
from .tensor import Tensor, add_methods, method_of


def _shape_of(value):
    """A shape argument: an int (a 1-D shape) or a sequence of non-negative ints."""
    shape = (value,) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else tuple(value)
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ShapeError(f"broadcast_shapes: a shape holds non-negative ints, got {value!r}")
    return tuple(int(n) for n in shape)


def broadcast_shapes(*shapes):
    """The shape the given shapes broadcast to (numpy's rules), as a tuple: an int stands
    for a 1-D shape, as in PyTorch; shapes that do not broadcast raise a ShapeError."""
    out = ()
    for shape in shapes:
        out = ops.broadcast_shapes("broadcast_shapes", out, _shape_of(shape))
    return out


def broadcast_tensors(*tensors):
    """The tensors broadcast to their common shape (a tuple; each gradient is summed back
    to its tensor's shape)."""
    for t in tensors:
        if not isinstance(t, Tensor):
            raise DTypeError(f"broadcast_tensors: expected tensors, got {type(t).__name__}")
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(t if t.shape == shape else ops.broadcast_to(t, shape) for t in tensors)


def ravel(input):
    """The elements of ``input`` as a 1-D tensor, in row-major order."""
    return ops.reshape(input, (input.numel(),))


def t(input):
    """A matrix transposed; a 1-D or 0-d tensor as it is (PyTorch's ``t``)."""
    return input.t()


def select(input, dim, index):
    """The slice at position ``index`` (negative: from the end) along ``dim``, which it
    drops: ``input[..., index]`` on that axis."""
    if input.ndim == 0:
        raise IndexingError("select: cannot be applied to a 0-d tensor")
    axis = check_axes.axis("select", dim, input.shape)
    n = input.shape[axis]
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise IndexingError(f"select: index must be an int, got {index!r}")
    if not -n <= index < n:
        raise IndexingError(f"select: index {index} out of range for axis {dim} of extent {n} "
                            f"(tensor of shape {input.shape})")
    return input[(slice(None),) * axis + (int(index),)]


def narrow_copy(input, dim, start, length):
    """``narrow`` as a new tensor (not sharing ``input``'s memory)."""
    return ops.clone(narrow(input, dim, start, length))


def unflatten(input, dim, sizes):
    """Axis ``dim`` of ``input`` split into axes of ``sizes`` (one may be -1)."""
    return _unflatten(input, dim, sizes)


def column_stack(tensors):
    """The tensors side by side as columns: each 0-d or 1-D tensor of n elements made an
    (n, 1) column, then ``hstack``."""
    tensors = tuple(tensors)
    if not tensors:
        raise ShapeError("column_stack: expects a non-empty sequence of tensors")
    return hstack([ops.reshape(t, (t.numel(), 1)) if t.ndim < 2 else t for t in tensors])


def _split(op, input, spec, dim, least):
    """``tensor_split`` along ``dim`` for ``hsplit``/``vsplit``/``dsplit``: an int must
    divide the axis evenly, as PyTorch requires."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"{op}: takes a Tensor, got {type(input).__name__}")
    if input.ndim < least:
        raise ShapeError(f"{op}: requires a tensor with at least {least} dimension(s), got shape {input.shape}")
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if spec <= 0 or input.shape[dim] % spec:
            raise ShapeError(f"{op}: cannot split axis {dim} of extent {input.shape[dim]} into {spec} equal parts "
                             f"(tensor of shape {input.shape})")
    return tensor_split(input, spec, dim)


def hsplit(input, indices_or_sections):
    """Split along the columns (axis 1; axis 0 of a 1-D tensor)."""
    return _split("hsplit", input, indices_or_sections, 0 if getattr(input, "ndim", 2) == 1 else 1, 1)


def vsplit(input, indices_or_sections):
    """Split along the rows (axis 0) of a tensor of at least 2 dimensions."""
    return _split("vsplit", input, indices_or_sections, 0, 2)


def dsplit(input, indices_or_sections):
    """Split along the depth (axis 2) of a tensor of at least 3 dimensions."""
    return _split("dsplit", input, indices_or_sections, 2, 3)


def diagflat(input, offset=0):
    """The flattened ``input`` put on diagonal ``offset`` of a square matrix of zeros."""
    return diag(ravel(input), offset)


def argwhere(input):
    """The indices of the non-zero elements, one row each (``nonzero``)."""
    return nonzero(input)


def _triangle_indices(op, row, col, offset, dtype, device, upper):
    for name, value in (("row", row), ("col", col), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise DTypeError(f"{op}: {name} must be an int, got {value!r}")
    if row < 0 or col < 0:
        raise ShapeError(f"{op}: row and col must be non-negative, got {row} and {col}")
    if dtype not in ("int32", "int64"):
        raise DTypeError(f"{op}: dtype must be int32 or int64, got {dtype}")
    rows, cols = np.indices((int(row), int(col))).reshape(2, -1)
    keep = cols - rows >= offset if upper else cols - rows <= offset
    pairs = np.stack([rows[keep], cols[keep]]).astype(dtype)
    return Tensor._wrap(nd.array(np.ascontiguousarray(pairs), device=device))


def tril_indices(row, col, offset=0, *, dtype="int64", device="cpu"):
    """The (2, N) coordinates of the lower triangle (``j - i <= offset``) of a ``row`` x
    ``col`` matrix, row by row."""
    return _triangle_indices("tril_indices", row, col, offset, dtype, device, upper=False)


def triu_indices(row, col, offset=0, *, dtype="int64", device="cpu"):
    """The (2, N) coordinates of the upper triangle (``j - i >= offset``), row by row."""
    return _triangle_indices("triu_indices", row, col, offset, dtype, device, upper=True)


def unravel_index(indices, shape):
    """The flat ``indices`` as a tuple of coordinate tensors into ``shape`` (row-major);
    like PyTorch's, positions wrap modulo each extent (floor division and remainder)."""
    if not isinstance(indices, Tensor):
        raise DTypeError(f"unravel_index: indices must be a tensor, got {type(indices).__name__}")
    if indices.dtype not in ("int32", "int64"):
        raise DTypeError(f"unravel_index: indices must be an int32 or int64 tensor, got {indices.dtype}")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0 for n in shape):
        raise ShapeError(f"unravel_index: shape must hold non-negative ints, got {shape!r}")
    if 0 in shape and indices.numel():
        raise ShapeError(f"unravel_index: cannot index into shape {shape}, which has no elements")
    indices = ops.cast(indices, "int64")
    coords, stride = [], 1
    for n in reversed(shape):
        coords.append((indices // stride) % int(n))
        stride *= int(n)
    return tuple(reversed(coords))


add_methods({
    "ravel": method_of(ravel),
    "select": method_of(select),
    "narrow_copy": method_of(narrow_copy),
    "hsplit": method_of(hsplit),
    "vsplit": method_of(vsplit),
    "dsplit": method_of(dsplit),
    "diagflat": method_of(diagflat),
    "argwhere": method_of(argwhere),
})
