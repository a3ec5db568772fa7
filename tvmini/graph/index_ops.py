"""Gathering rows by integer index tensors: ``index_select``, ``take_along``-style
embedding lookups (``F.embedding``), as ``topi.take`` kernels whose gradient is
``topi.take_grad`` (repeated indices accumulate, as PyTorch's), or for a large table's
rows ``topi.segment_sum.take_rows_grad`` (the indices sorted on the device).

Indices are checked against the extent on the host before the kernel runs where they
can be read — CPU index tensors, eagerly and as guards of a ``tm.jit`` step (a replay
with other indices checks them again) — and an index out of range raises an error
naming it, as PyTorch does. For CUDA tensors (where PyTorch stops at a device-side
assert) and indices a jitted step computes itself, the kernel clamps an out-of-range
index to the nearest row instead: it never reads outside the tensor.
"""
import numpy as np

from ..errors import ArgumentError, DeviceError, DTypeError, IndexingError, ShapeError
from ..runtime import ndarray as nd
from ..topi import segment_sum
from . import axes as check_axes
from . import dispatch, ops
from .autograd import Function, no_grad
from .creation import arange, ones
from .dispatch import run
from .tensor import Tensor

#: A table's gradient along axis 0 (``F.embedding``'s) is a segment sum over the indices
#: sorted by row (``topi.segment_sum``) once rows * indices reaches this; below it, the
#: gather that compares every index for every row (``topi.take_grad``) costs little
#: and builds without the sort's kernels. (benchmarks/embedding_bag.py, one thread,
#: 1280 indices, dim 64, 10000 rows: ``F.embedding`` then a mean, forward + backward,
#: 48 ms with the gather, 0.33 ms with the segment sum.)
SEGMENTED_MIN = 1 << 14


def check_indices(op, index, extent, negative=False):
    """Refuse non-integer indices, and values outside ``[0, extent)`` (``negative``:
    ``[-extent, extent)``, negatives counting from the end) wherever they can be read
    (:func:`.dispatch.host_check`: CPU tensors, also as guards of a ``tm.jit`` step),
    naming ``op`` and the bad value."""
    if index.dtype not in ("int32", "int64"):
        raise DTypeError(f"{op}: indices must be an int32 or int64 tensor, got {index.dtype} of shape {index.shape}")
    low = -extent if negative else 0
    found = dispatch.host_range(index, low, extent)
    if found is not None:
        bad = found[0] if found[0] < low else found[1]
        raise IndexingError(f"{op}: index {bad} is out of range for an axis of extent {extent}")


def from_end(index, extent):
    """``index`` with its negative positions counted from the end (``+ extent``), as
    PyTorch reads them: one small kernel, left out where the indices are read and none
    is negative (eager CPU tensors)."""
    if dispatch.thread.tracer is None and index.device.kind == "cpu":
        values = index._data._storage.host_view()
        if not values.size or values.min() >= 0:
            return index
    return ops.where(ops.compare(index, 0, "lt"), index + extent, index)


class _Take(Function):
    nondiff = (1,)
    saved = (1,)        # the gradient reads the indices, not the table
    def forward(self, x, index):
        return run("take", "take", [x, index], attrs=(("axis", self.axis),))

    def backward(self, g):
        x, index = self.inputs
        grad = self._gather_back(g, index, x.shape)
        if self.scale_grad_by_freq:              # each row divided by its count among the indices
            counts = self._gather_back(ones(index.shape + (1,), dtype=g.dtype, device=g.device), index,
                                       (x.shape[0], 1))
            grad = grad / ops.maximum(counts, 1.0)
        return grad, None

    def _gather_back(self, g, index, shape):
        """The sums of ``g``'s slices into a zero tensor of ``shape`` at ``index``."""
        if self.axis == 0 and len(shape) == 2 and index.numel() and shape[0] * index.numel() >= SEGMENTED_MIN:
            return ops._kernel("take_rows_grad", segment_sum.take_rows_grad, g, index, rows=shape[0])
        return ops._kernel("take_grad", "take_grad", g, index, x_shape=shape, axis=self.axis)


def take(x, index, axis, scale_grad_by_freq=False):
    """``x`` indexed by the integer tensor ``index`` along ``axis``: the output has
    ``index``'s shape in place of that axis (numpy's ``take``). ``scale_grad_by_freq``
    (``F.embedding``'s, axis 0 of a 2-D ``x``): the gradient of each row of ``x`` is
    divided by the number of times ``index`` holds it."""
    if not isinstance(index, Tensor):
        index = Tensor._wrap(nd.array(np.asarray(index, dtype="int64"), device=x.device))
    if index.device != x.device:
        raise DeviceError(f"take: indices on {index.device} but the tensor of shape {x.shape} on {x.device}")
    axis = check_axes.axis("take", axis, x.shape)
    check_indices("take", index, x.shape[axis])
    return _Take.apply(x, index, axis=axis, scale_grad_by_freq=bool(scale_grad_by_freq))


def index_select(x, dim, index):
    """PyTorch's ``index_select``: the entries ``index`` (1-D) of axis ``dim``."""
    if isinstance(index, Tensor) and index.ndim != 1:
        raise ShapeError(f"index_select: index must be 1-D, got shape {index.shape}")
    return take(x, index, dim)


def _renorm_rows(input, weight, max_norm, norm_type):
    """PyTorch's ``max_norm``: the rows of ``weight`` that ``input`` picks and whose
    ``norm_type``-norm exceeds ``max_norm`` are scaled in place to ``max_norm / (norm +
    1e-7)`` of themselves, recording no gradient (``torch.embedding_renorm_``)."""
    with no_grad():
        rows = arange(weight.shape[0], dtype=input.dtype, device=weight.device)
        picked = ops.compare(ops.reshape(input, (-1, 1)), rows, "eq").any(0)
        norm = weight.norm(norm_type, 1)
        scale = ops.where(picked & (norm > max_norm), max_norm / (norm + 1e-7), 1.0)
        weight.copy_(weight * ops.reshape(scale, (-1, 1)))


def check_dense(op, sparse):
    """Refuse ``sparse=True``: tvmini has no sparse tensors, so a weight's gradient is
    always a dense tensor (PyTorch would return a sparse one)."""
    if sparse:
        raise ArgumentError(f"{op}: sparse=True asks for a sparse gradient, but tvmini has no sparse tensors; "
                            "use sparse=False (the weight's gradient is then a dense tensor)")


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of ``weight`` (num_embeddings, dim) picked by the integer tensor ``input``:
    shape ``input.shape + (dim,)``. Rows at ``padding_idx`` get no gradient, as PyTorch.
    ``max_norm``: the picked rows are first renormalized in place (see
    :func:`_renorm_rows`), as PyTorch's. ``scale_grad_by_freq``: each row's gradient is
    divided by the number of times ``input`` holds its index; ``sparse=True`` is refused
    (tvmini has no sparse tensors)."""
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be (num_embeddings, embedding_dim), got shape {weight.shape}")
    check_dense("embedding", sparse)
    if max_norm is not None:
        check_indices("embedding", input, weight.shape[0])
        _renorm_rows(input, weight, float(max_norm), norm_type)
    out = take(weight, input, 0, scale_grad_by_freq)
    if padding_idx is not None and out.requires_grad:
        keep = ops.compare(input, padding_idx % weight.shape[0], "ne")
        out = ops.where(ops.reshape(keep, input.shape + (1,)), out, out.detach())
    return out
