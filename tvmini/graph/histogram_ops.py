"""``torch.histogram``: counts (or summed weights) of the elements falling in each bin,
with the bin edges, as ``(hist, bin_edges)``.

Each element's bin is ``searchsorted(edges, x, right=True) - 1`` (one kernel), the
rightmost edge belonging to the last bin, as PyTorch's (its linear guess is corrected
against the same edges); elements outside the edges and NaNs go to an extra bin that
is dropped. The weights are then summed per bin by ``scatter_add`` (their gradient is
its gather). With ``bins`` a count and no ``range``, the range is the data's minimum and
maximum, read on the host (a synchronisation, as in PyTorch) and widened by 0.5 on each
side when they are equal ([0, 1] for no data). The edges are numpy's ``linspace`` (PyTorch's may differ in
the last place, so an element lying exactly on an inner edge can fall on its other side).
"""
from collections import namedtuple

import numpy as np

from ..errors import ArgumentError, DTypeError, ShapeError
from ..runtime import ndarray as nd
from . import ops
from .creation import zeros
from .gather_ops import scatter_add
from .logic_ops import where
from .reductions import amax, amin
from .search_ops import searchsorted
from .tensor import Tensor, add_methods, method_of

#: What ``histogram`` returns, as PyTorch's ``torch.return_types.histogram``.
histogram_result = namedtuple("histogram", ["hist", "bin_edges"])


def _edges(input, bins, range):  # noqa: A002  (torch's argument name)
    """The bin edges, a 1-D tensor of ``input``'s dtype and device."""
    if isinstance(bins, Tensor):
        if range is not None:
            raise ArgumentError("histogram: range must not be given with a tensor of bin edges")
        ops.check_same("histogram", input, bins)
        if bins.ndim != 1 or bins.shape[0] < 2:
            raise ShapeError(f"histogram: bins must be a 1-D tensor of at least 2 edges, got shape {bins.shape}")
        if (bins[1:] < bins[:-1]).any().item():
            raise ShapeError("histogram: bin edges must be non-decreasing")
        return bins
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins <= 0:
        raise ArgumentError(f"histogram: bins must be a positive int or a 1-D tensor of edges, got {bins!r}")
    if range is not None:
        low, high = (float(v) for v in range)
        if low > high:
            raise ArgumentError(f"histogram: min should not exceed max, got range ({low}, {high})")
    elif input.numel():
        low, high = float(amin(input).item()), float(amax(input).item())
    else:
        low, high = 0.0, 1.0                    # no data: [0, 1], as PyTorch and numpy
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ArgumentError(f"histogram: range of [{low}, {high}] is not finite")
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, int(bins) + 1).astype(input.dtype)
    return Tensor._wrap(nd.array(edges, device=input.device))


def histogram(input, bins, *, range=None, weight=None, density=False):  # noqa: A002
    """``(hist, bin_edges)`` of the float tensor ``input`` (all its elements): ``bins``
    equal bins over ``range`` (default: the data's extent), or the bins between the
    edges of a 1-D tensor; ``weight`` (``input``'s shape) sums weights instead of
    counting; ``density`` divides by the total and the bin widths."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"histogram: takes a Tensor, got {type(input).__name__}")
    if input.dtype not in ("float32", "float64"):
        raise DTypeError(f"histogram: input must be a float32 or float64 tensor, got {input.dtype}")
    edges = _edges(input, bins, range)
    count = edges.shape[0] - 1
    flat = ops.reshape(input, (input.numel(),))
    if weight is None:
        weight = ops._as_tensor(1.0, flat).expand(flat.shape)
    else:
        if not isinstance(weight, Tensor):
            raise DTypeError(f"histogram: weight must be a tensor, got {type(weight).__name__}")
        ops.check_same("histogram", input, weight)
        if weight.shape != input.shape:
            raise ShapeError(f"histogram: weight of shape {weight.shape} must have the input's shape {input.shape}")
        weight = ops.reshape(weight, flat.shape)
    if not flat.shape[0]:
        hist = zeros(count, dtype=flat.dtype, device=flat.device)
    else:
        index = searchsorted(edges, flat, right=True) - 1
        index = where(flat == edges[-1], count - 1, index)                 # the last edge closes the last bin
        index = where((index < 0) | (index >= count), count, index)        # outside, NaN: the dropped bin
        sums = scatter_add(zeros(count + 1, dtype=flat.dtype, device=flat.device), 0, index, weight)
        hist = sums[:count]
    if density:
        hist = hist / (hist.sum() * (edges[1:] - edges[:-1]))
    return histogram_result(hist, edges)


add_methods({"histogram": method_of(histogram)})
