"""Searching sorted rows and the distinct elements of a tensor, PyTorch's names and
rules: ``searchsorted``, ``bucketize``, ``unique`` and ``unique_consecutive``.

* ``searchsorted``/``bucketize`` run ``topi.searchsorted``: PyTorch's binary search step
  for step (so a NaN goes where PyTorch puts it), int64 indices (int32 with
  ``out_int32``); the sequence and the values are converted to their common dtype
  first, as PyTorch compares them. A Python number as the values gives a 0-d result.
* ``unique`` sorts the flattened input (``sort``, stable), marks where runs of equal
  elements start (``topi.consecutive_starts``: a NaN is unequal to everything, so every
  NaN is an element of its own, as PyTorch's) and reads that mask on the host to size
  the result, as ``nonzero`` does (a synchronisation, as PyTorch's on a GPU); the
  distinct values are then taken by a kernel, the inverse indices are the running
  count of run starts (``cumsum``) scattered back through the sort's permutation, the
  counts the distances between run starts. ``sorted=False`` gives them sorted too
  (PyTorch leaves that order unspecified). ``unique_consecutive`` is the same without
  the sort.
* With ``dim``, the elements are the slices along ``dim``: the input is viewed as rows
  (``dim`` first, the rest flattened), sorted lexicographically by one stable ``argsort``
  per column from the last to the first (numpy's ``lexsort``; the permutations compose
  through ``take``), and a run starts where a row differs from the one before in any
  column. A row holding a NaN is unequal to every row, as in PyTorch; where such rows
  go in the order is left unspecified there and differs here (they sort last).
"""
import numpy as np

from ..errors import DTypeError, ShapeError, TVMiniError
from ..runtime import ndarray as nd
from . import axes as check_axes, ops
from .gather_ops import scatter, take
from .creation import full
from .index_ops import take as take_along
from .join_ops import cat
from .reorder_ops import movedim
from .sort_ops import argsort, cumsum, sort
from .tensor import Tensor, add_methods, method_of


def _int64(values, device):
    return Tensor._wrap(nd.array(np.ascontiguousarray(values, dtype="int64"), device=device))


def _tensor(x, op, what):
    if not isinstance(x, Tensor):
        raise DTypeError(f"{op}: {what} must be a Tensor, got {type(x).__name__}")
    return x


def _values(values, like, op):
    """``values`` as a Tensor (a Python number: a 0-d one of ``like``'s device)."""
    if isinstance(values, Tensor):
        return values
    if isinstance(values, (bool, int, float, np.number)):
        dtype = "float32" if isinstance(values, (float, np.floating)) else ("bool" if isinstance(values, bool)
                                                                            else "int64")
        return Tensor._wrap(nd.array(np.asarray(values, dtype=dtype), device=like.device))
    raise DTypeError(f"{op}: values must be a Tensor or a number, got {type(values).__name__}")


def _search(op, sequence, values, right, out_int32, sorter):
    if sequence.dtype == "bool" or values.dtype == "bool":
        raise DTypeError(f"{op}: not implemented for bool tensors (sequence {sequence.dtype}, values "
                         f"{values.dtype}), as in PyTorch")
    if sequence.ndim == 0:
        raise ShapeError(f"{op}: the sorted sequence must have at least one dimension, got a 0-d tensor")
    if sequence.ndim > 1 and (values.ndim != sequence.ndim or values.shape[:-1] != sequence.shape[:-1]):
        raise ShapeError(f"{op}: the sorted sequence must be 1-D or share its first N-1 dimensions with the "
                         f"values, got sequence of shape {sequence.shape} and values of shape {values.shape}")
    sequence, values = ops.promote(op, sequence, values)
    inputs = [sequence, values]
    if sorter is not None:
        _tensor(sorter, op, "sorter")
        if sorter.dtype != "int64" or sorter.shape != sequence.shape:
            raise ShapeError(f"{op}: sorter must be an int64 tensor of the sequence's shape {sequence.shape}, got "
                             f"{sorter.dtype} of shape {sorter.shape}")
        inputs.append(sorter)
    flat = values.ndim == 0
    if flat:
        values = inputs[1] = ops.reshape(values, (1,))
    attrs = {"right": bool(right), "dtype": "int32" if out_int32 else "int64"}
    if sorter is None:
        out = ops._kernel(op, "searchsorted", *inputs, **attrs)
    else:
        out = ops._kernel(f"{op}_sorter", _searchsorted_through, *inputs, **attrs)
    return ops.reshape(out, ()) if flat else out


def _searchsorted_through(sequence, values, sorter, right, dtype):
    """``topi.searchsorted`` reading the sequence through ``sorter`` (a kernel definition)."""
    from .. import topi
    return topi.searchsorted(sequence, values, right=right, sorter=sorter, dtype=dtype)


def searchsorted(sorted_sequence, values, *, out_int32=False, right=False, side=None, sorter=None):
    """Indices into the last dimension of ``sorted_sequence`` (1-D, or sharing the
    values' leading dimensions) where the ``values`` would be inserted to keep it
    sorted: before equal elements, or after them with ``right=True`` / ``side="right"``.
    ``sorter``: int64 indices sorting an unsorted sequence (as ``argsort`` gives)."""
    op = "searchsorted"
    _tensor(sorted_sequence, op, "sorted_sequence")
    if side is not None:
        if side not in ("left", "right"):
            raise TVMiniError(f"{op}: side must be 'left' or 'right', got {side!r}")
        if side == "left" and right:
            raise TVMiniError(f"{op}: side and right can't be set to opposites, got side='left' and right=True")
        right = side == "right"
    return _search(op, sorted_sequence, _values(values, sorted_sequence, op), right, out_int32, sorter)


def bucketize(input, boundaries, *, out_int32=False, right=False):  # noqa: A002  (PyTorch's argument name)
    """The index of the bucket of 1-D ``boundaries`` each element of ``input`` falls in:
    ``i`` with ``boundaries[i-1] < x <= boundaries[i]`` (``right``: ``boundaries[i-1] <=
    x < boundaries[i]``), i.e. ``searchsorted(boundaries, input)`` (right: ``side="right"``)."""
    op = "bucketize"
    _tensor(boundaries, op, "boundaries")
    if boundaries.ndim != 1:
        raise ShapeError(f"{op}: boundaries must be 1-D, got shape {boundaries.shape}")
    return _search(op, boundaries, _values(input, boundaries, op), right, out_int32, None)


def _runs(op, sorted_rows, starts, input, inverse_shape, return_inverse, return_counts, order=None):
    """``(output[, inverse][, counts])`` of the runs of equal rows (axis 0) of
    ``sorted_rows``, where ``starts`` (bool, one per row) marks the first row of each
    (``order``: the permutation that sorted the rows, None when they were not sorted)."""
    device = input.device
    first = np.flatnonzero(starts.numpy())
    results = [take_along(sorted_rows, _int64(first, device), 0)]
    if return_inverse:
        running = cumsum(starts, 0) - 1
        if order is not None:
            running = scatter(running, 0, order, running)
        results.append(ops.reshape(running, inverse_shape))
    if return_counts:
        results.append(_int64(np.diff(np.append(first, starts.shape[0])), device))
    return results[0] if len(results) == 1 else tuple(results)


def _empty(input, return_inverse, return_counts):
    device = input.device
    results = [Tensor._wrap(nd.array(np.zeros(0, input._data.numpy().dtype), device=device))]
    if return_inverse:
        results.append(_int64(np.zeros(input.shape), device))
    if return_counts:
        results.append(_int64(np.zeros(0), device))
    return results[0] if len(results) == 1 else tuple(results)


def _flat(op, input, sort_elements, return_inverse, return_counts):
    """unique/unique_consecutive of the flattened ``input``."""
    size = input._data.size
    if not size:
        return _empty(input, return_inverse, return_counts)
    flat = ops.reshape(input, (size,))
    order = None
    if sort_elements:
        flat, order = sort(flat)
    starts = ops._kernel("consecutive_starts", "consecutive_starts", flat)
    return _runs(op, flat, starts, input, input.shape, return_inverse, return_counts, order)


def _lexicographic_order(rows):
    """The stable permutation sorting the rows of 2-D ``rows`` lexicographically: one
    stable argsort per column, the last column first (numpy's ``lexsort``)."""
    order = None
    for column in reversed(range(rows.shape[1])):
        key = rows[:, column]
        if key.dtype == "bool":
            key = ops.cast(key, "int8")
        if order is None:
            order = argsort(key, stable=True)
        else:
            order = take(order, argsort(take(key, order), stable=True))
    return order


def _slices(op, input, dim, sort_rows, return_inverse, return_counts):
    """unique/unique_consecutive of the slices of ``input`` along ``dim``."""
    axis = check_axes.axis(op, dim, input.shape)
    n = input.shape[axis]
    moved = movedim(input, axis, 0)
    if not input._data.size:
        if n:
            raise ShapeError(f"{op}: there are 0-sized dimensions in shape {input.shape} other than dim={dim}, "
                             f"so the slices along it cannot be compared (as in PyTorch)")
        results = [input.detach()] + [_int64(np.zeros(0), input.device)] * (return_inverse + return_counts)
        return results[0] if len(results) == 1 else tuple(results)
    rows = ops.reshape(moved, (n, input._data.size // n))
    order = _lexicographic_order(rows) if sort_rows and n > 1 else None
    if order is not None:
        rows = take_along(rows, order, 0)
    starts = full((1,), True, device=input.device)
    if n > 1:
        starts = cat([starts, (rows[1:] != rows[:-1]).any(1)])
    results = _runs(op, rows, starts, input, (n,), return_inverse, return_counts, order)
    output = results[0] if isinstance(results, tuple) else results
    output = movedim(ops.reshape(output, (output.shape[0],) + moved.shape[1:]), 0, axis)
    return (output,) + results[1:] if isinstance(results, tuple) else output


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """The distinct elements of ``input`` (flattened), ascending; with ``dim``, the
    distinct slices along ``dim``, in lexicographic order. ``return_inverse``: where each
    element (slice) of ``input`` went; ``return_counts``: how many times each occurs.
    Every NaN (every slice holding a NaN) is distinct, as in PyTorch."""
    _tensor(input, "unique", "input")
    if dim is None:
        return _flat("unique", input, True, return_inverse, return_counts)
    return _slices("unique", input, dim, True, return_inverse, return_counts)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """The first element (slice along ``dim``) of every run of equal consecutive ones of
    ``input`` (flattened when ``dim`` is None); ``return_inverse``: the run of each;
    ``return_counts``: each run's length."""
    _tensor(input, "unique_consecutive", "input")
    if dim is None:
        return _flat("unique_consecutive", input, False, return_inverse, return_counts)
    return _slices("unique_consecutive", input, dim, False, return_inverse, return_counts)


add_methods({name: method_of(function) for name, function in (
    ("unique", unique), ("unique_consecutive", unique_consecutive))})
