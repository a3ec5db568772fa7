"""The out-of-place writes into a view, PyTorch's ``select_scatter``, ``slice_scatter``
and ``diagonal_scatter``: a copy of ``input`` whose ``select``/slice/``diagonal`` view
holds ``src``.

Each is one ``where`` between ``input`` and ``src`` read at every position of the
result (``take`` at a host-made index map; ``select_scatter``: ``src`` broadcast along
the axis), under a host-made mask of the view's positions: elementwise work in the
size of ``input`` (a scatter kernel would compare every element with every written
position). Gradients are those ops': ``src`` gets the view of the head gradient,
``input`` the rest.
"""
import functools

import numpy as np

from ..errors import DTypeError, IndexingError, ShapeError
from ..runtime import ndarray as nd
from . import axes as check_axes
from . import ops
from .index_ops import take
from .logic_ops import where
from .reorder_ops import movedim
from .tensor import Tensor, add_methods, method_of


def _operands(op, input, src):
    """``src`` checked to be a tensor on ``input``'s device and converted to ``input``'s
    dtype (PyTorch copies it into the view, so any dtype is written as the input's)."""
    if not isinstance(input, Tensor) or not isinstance(src, Tensor):
        raise DTypeError(f"{op}: input and src must be tensors, got {type(input).__name__} and "
                         f"{type(src).__name__}")
    ops.check_device(op, input, src)
    return ops.cast(src, input.dtype)


def _constant(values, device, dtype="int64"):
    """A host-made index map or mask as a tensor (no history) on ``device``."""
    return Tensor._wrap(nd.array(np.ascontiguousarray(values, dtype=dtype), device=device))


def _along(values, axis, ndim):
    """The 1-D ``values`` shaped to run along ``axis`` of ``ndim`` axes."""
    return values.reshape(tuple(values.shape[0] if k == axis else 1 for k in range(ndim)))


def _check_src(op, src, want, what):
    if src.shape != want:
        raise ShapeError(f"{op}: src must have shape {want} ({what}), got {src.shape}")


def select_scatter(input, src, dim, index):
    """``input`` with its slice at ``index`` along ``dim`` replaced by ``src`` (whose
    shape is ``input``'s without ``dim``)."""
    src = _operands("select_scatter", input, src)
    if input.ndim == 0:
        raise IndexingError("select_scatter: cannot be applied to a 0-d tensor")
    axis = check_axes.axis("select_scatter", dim, input.shape)
    n = input.shape[axis]
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -n <= index < n:
        raise IndexingError(f"select_scatter: index {index!r} out of range for axis {dim} of extent {n} "
                            f"(tensor of shape {input.shape})")
    _check_src("select_scatter", src, input.shape[:axis] + input.shape[axis + 1:], f"input's without axis {axis}")
    widened = ops.reshape(src, input.shape[:axis] + (1,) + input.shape[axis + 1:])
    mask = _along(np.arange(n) == int(index) % n, axis, input.ndim)
    return where(_constant(mask, input.device, "bool"), widened, input)


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    """``input`` with its slice ``start:end:step`` along ``dim`` replaced by ``src``
    (whose shape is that slice's); ``step`` must be positive, as in PyTorch."""
    src = _operands("slice_scatter", input, src)
    if input.ndim == 0:
        raise IndexingError("slice_scatter: cannot be applied to a 0-d tensor")
    axis = check_axes.axis("slice_scatter", dim, input.shape)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step <= 0:
        raise ShapeError(f"slice_scatter: step must be a positive int, got {step!r}")
    for name, value in (("start", start), ("end", end)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
            raise DTypeError(f"slice_scatter: {name} must be an int or None, got {value!r}")
    at = range(input.shape[axis])[slice(start, end, step)]
    _check_src("slice_scatter", src, input.shape[:axis] + (len(at),) + input.shape[axis + 1:],
               f"the slice {start}:{end}:{step} of axis {axis}")
    if not len(at):
        return ops.clone(input)
    source = np.zeros(input.shape[axis], "int64")          # which slice of src lands at each position
    source[list(at)] = np.arange(len(at))
    mask = np.zeros(input.shape[axis], bool)
    mask[list(at)] = True
    picked = take(src, _constant(source, input.device), axis)
    return where(_constant(_along(mask, axis, input.ndim), input.device, "bool"), picked, input)


def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    """``input`` with its diagonal ``offset`` of the matrices on axes ``dim1``/``dim2``
    replaced by ``src`` (shaped as ``input.diagonal(offset, dim1, dim2)``: the other
    axes, then the diagonal)."""
    src = _operands("diagonal_scatter", input, src)
    if input.ndim < 2:
        raise ShapeError(f"diagonal_scatter: the tensor must have at least 2 dimensions, got shape {input.shape}")
    a, b = (check_axes.axis("diagonal_scatter", d, input.shape) for d in (dim1, dim2))
    if a == b:
        raise ShapeError(f"diagonal_scatter: dim1 and dim2 are the same axis ({dim1}, {dim2})")
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
        raise DTypeError(f"diagonal_scatter: offset must be an int, got {offset!r}")
    rows, cols = input.shape[a], input.shape[b]
    start_row, start_col = max(-offset, 0), max(offset, 0)
    length = max(min(rows - start_row, cols - start_col), 0)
    others = tuple(n for k, n in enumerate(input.shape) if k not in (a, b))
    _check_src("diagonal_scatter", src, others + (length,), f"the diagonal {offset} of axes {a} and {b}")
    if not length:
        return ops.clone(input)
    moved = movedim(input, (a, b), (-2, -1))
    entries, on = _diagonal_map(rows, cols, int(offset), input.device)
    out = where(on, take(src, entries, src.ndim - 1), moved)
    return movedim(out, (-2, -1), (a, b))


@functools.lru_cache(maxsize=64)
def _diagonal_map(rows, cols, offset, device):
    """(the diagonal's entry read at each position of a ``rows`` x ``cols`` matrix, the
    mask of the diagonal's positions), made once per geometry and device (constants no
    op writes: building them on the host took longer than the two kernels)."""
    start_row, start_col = max(-offset, 0), max(offset, 0)
    length = max(min(rows - start_row, cols - start_col), 0)
    row, col = np.indices((rows, cols))
    step = row - start_row
    on = (col - row == offset) & (step >= 0) & (step < length)
    return _constant(np.clip(step, 0, length - 1), device), _constant(on, device, "bool")


add_methods({name: method_of(function) for name, function in
             (("select_scatter", select_scatter), ("slice_scatter", slice_scatter),
              ("diagonal_scatter", diagonal_scatter))})
