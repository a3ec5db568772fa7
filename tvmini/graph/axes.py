"""Axis arguments of the graph layer, checked in one place.

Every op that takes an axis (reductions, softmax, transpose/permute, flatten, expand,
``max(dim)`` ...) normalises it here: a negative axis counts from the end, anything out
of range raises :class:`~tvmini.errors.IndexingError` (an ``IndexError``, as PyTorch's
"Dimension out of range") naming the op, the axis and the tensor's shape, instead of
wrapping around silently. A 0-d tensor accepts axis 0 and -1, as PyTorch's does.
"""
import numpy as np

from ..errors import IndexingError, ShapeError


def axis(op, value, shape):
    """``value`` (an int, negative from the end) as an axis in ``0 .. len(shape)-1``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise IndexingError(f"{op}: an axis must be an int, got {value!r} (tensor of shape {shape})")
    n = max(len(shape), 1)
    if not -n <= value < n:
        raise IndexingError(f"{op}: axis {value} is out of range for a tensor of shape {shape} "
                            f"(dimension out of range: expected an axis in [{-n}, {n - 1}])")
    return int(value) % n


def axes(op, value, shape):
    """``value`` (None, an int or a sequence of ints) as a sorted tuple of distinct axes.
    None and an empty sequence both mean every axis (PyTorch's ``sum(())``); a 0-d
    tensor has none."""
    if value is None:
        return tuple(range(len(shape)))
    values = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if not values:
        return tuple(range(len(shape)))
    out = [axis(op, a, shape) for a in values]
    if not shape:                   # a 0-d tensor: axis 0 / -1 name no real axis
        return ()
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {value} for a tensor of shape {shape}")
    return tuple(sorted(out))


def permutation(op, values, shape):
    """``values`` as a permutation of the axes of ``shape`` (each axis checked)."""
    perm = tuple(axis(op, a, shape) for a in values)
    if sorted(perm) != list(range(len(shape))):
        raise ShapeError(f"{op}: {tuple(values)} is not a permutation of the axes of a tensor of shape {shape}")
    return perm
