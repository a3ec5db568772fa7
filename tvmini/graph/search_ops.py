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
  the sort. Only ``dim=None`` (the flattened input) is implemented.
"""
import numpy as np

from ..errors import DTypeError, ShapeError, TVMiniError
from ..runtime import ndarray as nd
from . import ops
from .gather_ops import scatter, take
from .sort_ops import cumsum, sort
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


def _dim_none(op, dim):
    if dim is not None:
        raise TVMiniError(f"{op}: dim={dim!r} is not implemented in tvmini; only dim=None (the flattened input)")


def _runs(op, sorted_flat, size, input, return_inverse, return_counts, order=None):
    """``(output[, inverse][, counts])`` of the runs of equal elements of ``sorted_flat``
    (``order``: the permutation that sorted the flattened ``input``, None when it is
    not sorted)."""
    device = input.device
    starts = ops._kernel("consecutive_starts", "consecutive_starts", sorted_flat)
    first = np.flatnonzero(starts.numpy())
    results = [take(sorted_flat, _int64(first, device))]
    if return_inverse:
        running = cumsum(starts, 0) - 1
        if order is not None:
            running = scatter(running, 0, order, running)
        results.append(ops.reshape(running, input.shape))
    if return_counts:
        results.append(_int64(np.diff(np.append(first, size)), device))
    return results[0] if len(results) == 1 else tuple(results)


def _empty(input, return_inverse, return_counts):
    device = input.device
    results = [Tensor._wrap(nd.array(np.zeros(0, input._data.numpy().dtype), device=device))]
    if return_inverse:
        results.append(_int64(np.zeros(input.shape), device))
    if return_counts:
        results.append(_int64(np.zeros(0), device))
    return results[0] if len(results) == 1 else tuple(results)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """The distinct elements of ``input`` (flattened), ascending; with ``return_inverse``
    also where each element of ``input`` went (its shape), with ``return_counts`` how
    many times each occurs. Every NaN is distinct, as in PyTorch."""
    op = "unique"
    _tensor(input, op, "input")
    _dim_none(op, dim)
    size = input._data.size
    if not size:
        return _empty(input, return_inverse, return_counts)
    flat = ops.reshape(input, (size,))
    values, order = sort(flat)
    return _runs(op, values, size, input, return_inverse, return_counts, order)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """The first element of every run of equal consecutive elements of ``input``
    (flattened); ``return_inverse``: the run of each element (``input``'s shape);
    ``return_counts``: each run's length."""
    op = "unique_consecutive"
    _tensor(input, op, "input")
    _dim_none(op, dim)
    size = input._data.size
    if not size:
        return _empty(input, return_inverse, return_counts)
    return _runs(op, ops.reshape(input, (size,)), size, input, return_inverse, return_counts)


add_methods({name: method_of(function) for name, function in (
    ("unique", unique), ("unique_consecutive", unique_consecutive))})
