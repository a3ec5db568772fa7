"""Rearranging and combining tensors, PyTorch's: ``rot90``, ``tensor_split``,
``meshgrid``, ``cartesian_prod`` and ``combinations``.

Compositions of existing graph ops (flip and transpose; narrow; reshape and expand;
stack; an index gather), so their gradients are those ops'. ``combinations`` lists
the index tuples on the host (they depend on the length and ``r`` only) and gathers
the elements at them.
"""
import itertools

import numpy as np

from ..errors import ArgumentError, DTypeError, ShapeError
from ..runtime import ndarray as nd
from . import axes as check_axes
from . import ops
from .index_ops import take
from .join_ops import stack
from .reorder_ops import flip, narrow
from .tensor import Tensor, add_methods


def rot90(input, k=1, dims=(0, 1)):
    """``input`` rotated by 90 degrees ``k`` times in the plane of ``dims``, from the
    first axis towards the second (negative ``k``: the other way)."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"rot90: takes a Tensor, got {type(input).__name__}")
    if len(dims) != 2:
        raise ShapeError(f"rot90: dims must name 2 axes, got {dims!r}")
    if input.ndim < 2:
        raise ShapeError(f"rot90: expects at least 2 dimensions, got shape {input.shape}")
    first, second = (check_axes.axis("rot90", d, input.shape) for d in dims)
    if first == second:
        raise ShapeError(f"rot90: the two axes must differ, got dims={tuple(dims)}")
    k = int(k) % 4
    if k == 0:
        return ops.clone(input)
    if k == 2:
        return flip(input, (first, second))
    flipped = flip(input, (second,) if k == 1 else (first,))
    return flipped.transpose(first, second)


def tensor_split(input, indices_or_sections, dim=0):
    """``input`` split along ``dim`` into ``n`` nearly equal parts (an int: the first
    ``extent % n`` one longer) or at the given indices (a sequence, or a 1-D integer
    tensor; a 0-d one is a section count), as a tuple of tensors."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"tensor_split: takes a Tensor, got {type(input).__name__}")
    if input.ndim == 0:
        raise ShapeError("tensor_split: expects at least a 1-dimensional tensor, got a 0-d one")
    axis = check_axes.axis("tensor_split", dim, input.shape)
    n = input.shape[axis]
    spec = indices_or_sections
    if isinstance(spec, Tensor):
        if spec.dtype not in ("int32", "int64") or spec.ndim > 1:
            raise DTypeError(f"tensor_split: a tensor of indices_or_sections must be a 0-d or 1-D integer tensor, "
                             f"got {spec.dtype} of shape {spec.shape}")
        spec = spec.item() if spec.ndim == 0 else [int(v) for v in spec.numpy()]
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if spec <= 0:
            raise ArgumentError(f"tensor_split: number of sections must be larger than 0, got {spec}")
        size, extra = divmod(n, int(spec))
        bounds = list(itertools.accumulate([size + 1] * extra + [size] * (int(spec) - extra), initial=0))
    else:
        cuts = [int(v) for v in spec]
        bounds = [0] + [min(max(c + n if c < 0 else c, 0), n) for c in cuts] + [n]
    return tuple(narrow(input, axis, start, max(stop, start) - start) for start, stop in zip(bounds, bounds[1:]))


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids of the 1-D (or 0-d) tensors: each broadcast over the others'
    lengths. ``indexing="ij"``: the grid has the inputs' lengths in order; "xy"
    swaps the first two (numpy's default, and PyTorch's only other)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ArgumentError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if not tensors:
        raise ShapeError("meshgrid: expects at least one tensor")
    for t in tensors:
        if not isinstance(t, Tensor) or t.ndim > 1:
            raise ShapeError(f"meshgrid: expects 0-d or 1-D tensors, got "
                             f"{t.shape if isinstance(t, Tensor) else type(t).__name__}")
        ops.check_device("meshgrid", tensors[0], t)
        if t.dtype != tensors[0].dtype:
            raise DTypeError(f"meshgrid: expects all tensors to have the same dtype, got {tensors[0].dtype} and "
                             f"{t.dtype}")
    lengths = [t.numel() for t in tensors]
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        order[0], order[1] = 1, 0
    shape = tuple(lengths[k] for k in order)
    grids = []
    for k, t in enumerate(tensors):
        at = order.index(k)
        grids.append(ops.expand(ops.reshape(t, tuple(lengths[k] if j == at else 1 for j in range(len(shape)))),
                                shape))
    return tuple(grids)


def cartesian_prod(*tensors):
    """Every tuple of one element of each 1-D tensor, in order (the rows of a
    (product of lengths, number of tensors) matrix; one tensor: itself)."""
    if len(tensors) == 1:
        t = tensors[0]
        if not isinstance(t, Tensor) or t.ndim != 1:
            raise ShapeError("cartesian_prod: expects 1-D tensors")
        return t
    for t in tensors:
        if not isinstance(t, Tensor) or t.ndim != 1:
            raise ShapeError(f"cartesian_prod: expects 1-D tensors, got "
                             f"{t.shape if isinstance(t, Tensor) else type(t).__name__}")
    grids = meshgrid(*tensors, indexing="ij")
    return stack([ops.reshape(g, (g.numel(),)) for g in grids], 1)


def combinations(input, r=2, with_replacement=False):
    """Every ``r``-element combination of the 1-D ``input``'s elements, as rows, in
    lexicographic order of positions (``with_replacement``: positions may repeat);
    ``r = 0``: an empty tensor."""
    if not isinstance(input, Tensor) or input.ndim != 1:
        raise ShapeError(f"combinations: expects a 1-D tensor, got "
                         f"{input.shape if isinstance(input, Tensor) else type(input).__name__}")
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 0:
        raise ArgumentError(f"combinations: r must be a non-negative int, got {r!r}")
    if r == 0:
        return ops.reshape(narrow(input, 0, 0, 0), (0,))
    make = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = np.array(list(make(range(input.shape[0]), int(r))), dtype="int64").reshape(-1, int(r))
    index = Tensor._wrap(nd.array(rows, device=input.device))
    return take(input, index, 0)


add_methods({
    "rot90": lambda self, k=1, dims=(0, 1): rot90(self, k, dims),
    "tensor_split": lambda self, indices_or_sections, dim=0: tensor_split(self, indices_or_sections, dim),
})
